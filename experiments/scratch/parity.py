"""Issue 18's behaviour check: the first 50 steps' losses before and after the house change.

experiments/results/parity/old_50.json holds five configs' resolved configs (old layout) and
their per-step losses over 50 steps on fixed random batches, recorded at commit cf014b5 (tag
retired-ideas-2026-12) by experiments/results/parity/record_old.py: the first base, the second
base, the recommended recipe (c-contrastive, z-diversity, EMA), WaveGAN with WGAN-GP and mode
seeking, and arm A of the second base with mismatched captions. This script upgrades each config
(`Config.from_dict`), trains the same 50 steps on the same batches from the same seeds with
today's code, and prints the largest difference per config over every logged value that exists
in both (old names mapped to the objective's).

  python -m experiments.scratch.parity [--old=experiments/results/parity/old_50.json]

Measured (issue 18): 0 for all five configs, every value of every step (bitwise equal).
"""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import tensorflow as tf

from condgan.config import Config
from condgan.training.trainer import Trainer, build_gan

OLD_NAMES = {"d_loss": "d_adversarial", "g_loss": "g_adversarial", "gp": "d_gradient_penalty",
             "kl": "g_kl", "ms": "g_mode_seeking", "d_contrastive": "d_contrastive",
             "g_contrastive": "g_contrastive", "c_contrastive": "g_cond_contrastive",
             "z_spread": "z_spread", "replayed": "replayed", "d_real": "d_real",
             "d_fake": "d_fake", "d_mismatch": "d_mismatch"}


def replay(record: dict) -> float:
    """Trains the recorded steps with today's code; the largest |new - old| over shared values."""
    cfg = Config.from_dict(record["config"])
    keras.utils.set_random_seed(1234)
    trainer = Trainer(build_gan(cfg))
    rng = np.random.default_rng(7)
    text = rng.normal(size=(12, cfg.model.text_dim)).astype("float32")
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    worst = 0.0
    for old in record["steps"]:
        audio = 0.3 * rng.standard_normal((cfg.train.batch_size, cfg.model.length, 1))
        rows = rng.integers(0, 12, cfg.train.batch_size)
        new = trainer.train_step((tf.constant(audio.astype("float32")), tf.constant(text[rows])))
        for name, value in old.items():
            if OLD_NAMES[name] in new:
                worst = max(worst, abs(float(new[OLD_NAMES[name]]) - value))
            elif value != 0.0:
                raise SystemExit(f"{name}={value} was logged before and has no value now")
    return worst


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="experiments/results/parity/old_50.json")
    args = parser.parse_args(argv)
    tf.config.experimental.enable_op_determinism()
    with open(args.old, encoding="utf-8") as f:
        recorded = json.load(f)
    for name, record in recorded.items():
        print(f"{name}: {len(record['steps'])} steps, max |new - old| = {replay(record):.3g}",
              flush=True)


if __name__ == "__main__":
    main()
