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
import resource
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from condgan import data, records

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


def write_synthetic_dataset(out_dir: str, num_clips: int, clip_length: int, num_captions: int,
                            examples_per_shard: int, seed: int = 0) -> records.DatasetCard:
    """Writes a train split of random clips with `num_captions` captions; returns its card."""
    rng = np.random.default_rng(seed)
    captions = [f"synthetic sound number {i}" for i in range(num_captions)]
    examples = []
    for i in range(num_clips):
        audio = rng.uniform(-1.0, 1.0, clip_length).astype(np.float32)
        examples.append(records.serialize_example(
            audio, 16000, captions[i % num_captions], i % num_captions, f"synth-{i:06d}"))
    names = records.write_shards(out_dir, "train", examples, examples_per_shard)
    card = records.DatasetCard(
        source="bench", sample_rate=16000, length=clip_length, classes=captions,
        captions=sorted(captions), counts={"train": num_clips}, shards={"train": names})
    with open(os.path.join(out_dir, records.CARD_NAME), "w", encoding="utf-8") as f:
        f.write(card.to_json())
    return card


def time_dataset(ds: tf.data.Dataset, batch_size: int, warmup_batches: int,
                 seconds: float) -> dict[str, float]:
    """Iterates `ds` for `seconds` after a warm-up; returns throughput and CPU use."""
    it = iter(ds)
    t0 = time.perf_counter()
    for _ in range(warmup_batches):
        next(it)
    warmup = time.perf_counter() - t0
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    batches = 0
    while time.perf_counter() - start < seconds:
        batch = next(it)
        batches += 1
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    assert batch[0].shape[0] == batch_size
    clips = batches * batch_size
    return {
        "clips_per_s": clips / elapsed,
        "batches": batches,
        "seconds": elapsed,
        "warmup_seconds": warmup,
        # CPU-seconds of this process per wall second: < nproc when the machine is shared.
        "process_cpu_per_wall_s": cpu / elapsed,
        "cpu_ms_per_clip": 1000.0 * cpu / clips,
    }


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
