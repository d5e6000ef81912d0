"""Resident memory over a 2,000-step tiny run: does the training loop leak?

Runs `condgan.training.loop.train` in this process on a tiny CondGAN (the
kill_resume config: 1,024 samples, width 4) with synthetic batches, media
summaries (audio, spectrograms, z-diversity) every `--summary_every` steps and a
checkpoint every `--checkpoint_every`, and samples the resident set size
(VmRSS of /proc/self/status) at every summary. The baseline is the RSS once
everything has been traced and written once (after the first checkpoint);
the growth is (final - baseline) / baseline, which should stay within 5 %.

  nice -n 15 python -m experiments.memory_growth [--steps=2000]

Writes memory_growth.json and memory_growth.md into --out
(default experiments/results/robustness).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from condgan.fileio import atomic_write_text
from condgan.training import loop
from condgan.training.trainer import Trainer, build_gan
from experiments.kill_resume import tiny_config

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "robustness")
LIMIT = 0.05


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(steps: int, summary_every: int, checkpoint_every: int, work_dir: str) -> dict:
    cfg = tiny_config(steps)
    cfg.train.summary_every, cfg.train.checkpoint_every = summary_every, checkpoint_every
    keras.utils.set_random_seed(0)
    trainer = Trainer(build_gan(cfg))

    def batch(k):
        audio = tf.random.stateless_uniform([4, 1024, 1], seed=tf.stack([k, 1]), minval=-0.5,
                                            maxval=0.5)
        text = tf.math.l2_normalize(tf.random.stateless_normal([4, 16], seed=tf.stack([k, 2])), 1)
        return audio, text

    rng = np.random.default_rng(0)
    summary_text = rng.normal(size=(8, 16)).astype("float32")
    summary_batch = (rng.uniform(-0.5, 0.5, (8, 1024, 1)).astype("float32"),
                     summary_text / np.linalg.norm(summary_text, axis=1, keepdims=True),
                     np.array([f"caption {i % 4}".encode() for i in range(8)]))
    samples = []
    t0 = time.monotonic()

    def log(line: str) -> None:
        if line.startswith("step "):
            step = int(line.split()[1].split("/")[0])
            samples.append((step, round(rss_mib(), 1)))

    loop.train(trainer, lambda start: iter(tf.data.Dataset.range(start, steps + 1).map(batch)),
               cfg, work_dir, 8000, summary_batch=summary_batch, log=log)
    wall = time.monotonic() - t0
    baseline_step = next(s for s, _ in samples if s >= checkpoint_every + summary_every)
    baseline = dict(samples)[baseline_step]
    final = samples[-1][1]
    peak = max(r for s, r in samples if s >= baseline_step)
    return {"steps": steps, "summary_every": summary_every, "checkpoint_every": checkpoint_every,
            "baseline_step": baseline_step, "baseline_rss_mib": baseline, "final_rss_mib": final,
            "peak_rss_mib_after_baseline": peak, "growth": round((final - baseline) / baseline, 4),
            "limit": LIMIT, "within_limit": (final - baseline) / baseline <= LIMIT,
            "wall_time_s": round(wall, 1), "samples": samples}


def write_report(report: dict, out_dir: str) -> tuple[str, str]:
    json_path = os.path.join(out_dir, "memory_growth.json")
    md_path = os.path.join(out_dir, "memory_growth.md")
    atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    every = max(1, len(report["samples"]) // 10)
    rows = ["| step | RSS (MiB) |", "|---|---|"] + [
        f"| {s} | {r} |" for s, r in report["samples"][::every]] + [
        f"| {report['samples'][-1][0]} | {report['samples'][-1][1]} |"]
    atomic_write_text(md_path, "\n".join([
        "# Resident memory over a tiny run (experiments/memory_growth.py)", "",
        f"{report['steps']} steps, media summaries every {report['summary_every']}, a checkpoint "
        f"every {report['checkpoint_every']}; RSS {report['baseline_rss_mib']} MiB at step "
        f"{report['baseline_step']} (baseline, after the first traces and writes), "
        f"{report['final_rss_mib']} MiB at the end (peak after baseline "
        f"{report['peak_rss_mib_after_baseline']} MiB): growth {100 * report['growth']:.2f} % "
        f"(limit {100 * report['limit']:.0f} %, within: {report['within_limit']}); "
        f"{report['wall_time_s']} s.", "", *rows, ""]))
    return json_path, md_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--summary_every", type=int, default=50)
    parser.add_argument("--checkpoint_every", type=int, default=200)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        report = measure(args.steps, args.summary_every, args.checkpoint_every, work)
    os.makedirs(args.out, exist_ok=True)
    paths = write_report(report, args.out)
    print(f"growth {100 * report['growth']:.2f} % ({report['baseline_rss_mib']} -> "
          f"{report['final_rss_mib']} MiB); wrote {paths[0]} and {paths[1]}")
    return 0 if report["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
