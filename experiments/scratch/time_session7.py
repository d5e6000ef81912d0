"""Scratch (session 7): step time of the z-diversity recipe with the session's switches.

Arm D on synth-spectral, the Trainer's compiled step on a fixed random batch, the
variants timed alternately (condgan.benchmarks.interleaved).

  python experiments/scratch/time_session7.py   (from the repository's root)
"""
import json
import os
import sys

sys.path.insert(0, os.environ.get("CODE", "."))
from condgan import benchmarks  # noqa: E402
from experiments.ablation import apply_overrides, arm_config  # noqa: E402

spec = json.load(open("experiments/configs/synth-spectral.json", encoding="utf-8"))
recipe = ["model.film_input=zc", "train.g_contrastive_scale=0.5", "train.z_diversity_weight=2",
          "train.z_diversity_cap=1.0"]
variants = {"recipe": [], "+ema": ["model.ema_decay=0.999"],
            "+cc": ["train.cond_contrastive_weight=1.0"],
            "+ema+cc": ["model.ema_decay=0.999", "train.cond_contrastive_weight=1.0"]}
steps = {}
for name, extra in variants.items():
    cfg = apply_overrides(arm_config(spec, "D", 0, "unused", "unused", None), recipe + extra)
    steps[name], _ = benchmarks.make_train_step(cfg)
result = benchmarks.interleaved(steps, rounds=15)
for name, r in result.items():
    print(f"{name}: {r['median_ms']:.1f} ms/step ({r['median_ms'] / result['recipe']['median_ms']:.2f}x)")
