r"""Benchmarks the tf.data input pipeline (condgan.data.make_dataset) in clips/s.

Writes synthetic shards (random audio, a few dozen captions) to a temporary
directory, then times iteration over `make_dataset(..., batch_size)` after a
warm-up (which includes filling the shuffle buffer), for the training
configuration (shuffled, repeated, random crops, non-deterministic order) and
its seeded deterministic variant. The shards sit in the page cache, so this
measures parsing, cropping, embedding lookup and batching, not disk reads.

Usage:
  python -m experiments.bench_input_pipeline \
      [--num_clips=4096] [--length=16384] [--seconds=8] \
      [--output=experiments/results/bench/input_pipeline.json]
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from condgan import data
from condgan.training.benchmarks import time_dataset, write_synthetic_dataset

_DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parent / "results" / "bench" / "input_pipeline.json"

_NUM_CLIPS = flags.DEFINE_integer("num_clips", 4096, "Synthetic clips to write into the train split.")
_LENGTH = flags.DEFINE_integer("length", 16384, "Samples per output clip (the L of the batches).")
_CLIP_LENGTH = flags.DEFINE_integer(
    "clip_length", None,
    "Samples per stored clip; defaults to --length. Set it larger to include random cropping.")
_NUM_CAPTIONS = flags.DEFINE_integer("num_captions", 50, "Distinct captions among the clips.")
_EMBEDDING_DIM = flags.DEFINE_integer("embedding_dim", 512, "Text embedding size (USE: 512).")
_EXAMPLES_PER_SHARD = flags.DEFINE_integer("examples_per_shard", 512, "Clips per TFRecord shard.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Batch size given to make_dataset.")
_WARMUP_BATCHES = flags.DEFINE_integer(
    "warmup_batches", 20, "Batches pulled before timing (the first fills the shuffle buffer).")
_SECONDS = flags.DEFINE_float("seconds", 8.0, "Wall-clock seconds of timed iteration per configuration.")
_OUTPUT = flags.DEFINE_string("output", str(_DEFAULT_OUTPUT), "Where to write the JSON result.")


def machine_info() -> dict[str, object]:
    nproc = os.cpu_count() or 1
    load1, load5, _ = os.getloadavg()
    return {
        "nproc": nproc,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else nproc,
        "loadavg_1m": round(load1, 2),
        "loadavg_5m": round(load5, 2),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    clip_length = _CLIP_LENGTH.value or _LENGTH.value
    before = machine_info()
    tmp = tempfile.mkdtemp(prefix="condgan_bench_")
    try:
        t0 = time.perf_counter()
        card = write_synthetic_dataset(tmp, _NUM_CLIPS.value, clip_length, _NUM_CAPTIONS.value,
                                       _EXAMPLES_PER_SHARD.value)
        write_seconds = time.perf_counter() - t0
        rng = np.random.default_rng(1)
        embeddings = data.caption_embeddings(
            card, lambda c: rng.normal(size=(len(c), _EMBEDDING_DIM.value)).astype(np.float32))
        configs = {
            "train": dict(seed=None, deterministic=False),
            "train_seeded_deterministic": dict(seed=0, deterministic=True),
        }
        results = {}
        for name, kwargs in configs.items():
            ds = data.make_dataset(tmp, "train", _BATCH_SIZE.value, embeddings,
                                   length=_LENGTH.value, **kwargs)
            results[name] = dict(
                kwargs, **time_dataset(ds, _BATCH_SIZE.value, _WARMUP_BATCHES.value, _SECONDS.value))
            print(f"{name}: {results[name]['clips_per_s']:.0f} clips/s "
                  f"({results[name]['cpu_ms_per_clip']:.3f} CPU-ms/clip, "
                  f"{results[name]['process_cpu_per_wall_s']:.2f} CPUs busy)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    after = machine_info()
    report = {
        "benchmark": "condgan.data.make_dataset iteration, shards in page cache",
        "command": "python -m experiments.bench_input_pipeline "
                   f"--num_clips={_NUM_CLIPS.value} --length={_LENGTH.value} "
                   f"--clip_length={clip_length} --batch_size={_BATCH_SIZE.value} "
                   f"--seconds={_SECONDS.value}",
        "dataset": {
            "num_clips": _NUM_CLIPS.value, "clip_length": clip_length, "length": _LENGTH.value,
            "num_captions": _NUM_CAPTIONS.value, "embedding_dim": _EMBEDDING_DIM.value,
            "shards": len(card.shards["train"]), "write_seconds": round(write_seconds, 2),
        },
        "batch_size": _BATCH_SIZE.value,
        "results": results,
        "machine": {
            **{k: v for k, v in after.items() if not k.startswith("loadavg")},
            "loadavg_1m_before": before["loadavg_1m"],
            "loadavg_1m_after": after["loadavg_1m"],
            # Load before the run, or load beyond the nproc this benchmark can add by
            # itself, means other jobs competed for the cores: the numbers are lower bounds.
            "shared_or_loaded": bool(before["loadavg_1m"] > 0.5 * before["nproc"]
                                     or after["loadavg_1m"] > 1.5 * after["nproc"]),
        },
        "target_clips_per_s": 1000,
    }
    out = pathlib.Path(_OUTPUT.value)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def console_entry_point():
    app.run(main)


if __name__ == "__main__":
    console_entry_point()
