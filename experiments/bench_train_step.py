"""Benchmark: GAN training steps/s for the losses the project uses, on this machine.

Backs the choice of hinge loss with one critic step for the CPU-budget runs
(demo, ablation) over WaveGAN's WGAN-GP with five critic steps: same model
(the first base, experiments/configs/bases/wavegan.json, at the ablation's synth
size: 8 kHz, 4096 samples, width 16, batch 32), random data, the Trainer's
compiled step, warm-up excluded.

  python -m experiments.bench_train_step [--steps=20]

Prints the figures and writes experiments/results/bench/train_step.json.
`condgan-bench` measures these steps and more (BENCHMARKS.md); this script
stays for the one comparison the synth configs cite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import tensorflow as tf

from condgan.config import Config
from condgan.fileio import atomic_write_text
from condgan.training.benchmarks import train_step_benchmark

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "bench", "train_step.json")
WAVEGAN_BASE = os.path.join(HERE, "configs", "bases", "wavegan.json")
SETTINGS = {
    "hinge, 1 critic step": dict(loss="hinge", n_critic=1),
    "wgan_gp, 5 critic steps (WaveGAN)": dict(loss="wgan_gp", n_critic=5),
}


def steps_per_second(loss: str, n_critic: int, steps: int, length=4096, model_dim=16,
                     batch_size=32) -> float:
    """Steps/s of the Trainer's compiled step (`condgan.training.benchmarks.
    train_step_benchmark`, median step time) of the WaveGAN base with `loss`
    (WGAN-GP with its penalty, weight 10)."""
    cfg = Config.load(WAVEGAN_BASE)
    cfg.model.length, cfg.model.model_dim = length, model_dim
    cfg.train.batch_size, cfg.train.n_critic = batch_size, n_critic
    cfg.objective.adversarial = loss
    if loss == "wgan_gp":
        cfg.objective.d["gradient_penalty"] = 10.0
    return train_step_benchmark(cfg.validate(), steps)["steps_per_s"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    args = parser.parse_args(argv)
    results = {name: round(steps_per_second(steps=args.steps, **kw), 2)
               for name, kw in SETTINGS.items()}
    for name, rate in results.items():
        print(f"{name}: {rate} steps/s")
    record = {
        "steps_per_second": results,
        "model": {"sample_rate": 8000, "length": 4096, "model_dim": 16, "batch_size": 32},
        "timed_steps": args.steps,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "tensorflow": tf.__version__, "load_average": os.getloadavg()},
    }
    atomic_write_text(RESULTS, json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
