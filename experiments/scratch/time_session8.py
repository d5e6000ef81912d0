"""Scratch (session 8): step time of the second base's bare step, the recipe's parts, and arm A.

Arm D (and A) on synth-spectral, the Trainer's compiled step on a fixed random batch,
the variants timed alternately (condgan.benchmarks.interleaved).

  python experiments/scratch/time_session8.py   (from the repository's root, idle machine)
"""
import json, os, sys
sys.path.insert(0, ".")
from condgan import benchmarks
from experiments.ablation import apply_overrides, arm_config
spec = json.load(open("experiments/configs/synth-spectral.json"))
variants = {"base": [], "zc": ["model.film_input=zc"], "zd2": ["train.z_diversity_weight=2", "train.z_diversity_cap=1.0"],
  "recipe": ["model.film_input=zc", "train.g_contrastive_scale=0.5", "train.z_diversity_weight=2", "train.z_diversity_cap=1.0"],
  "A": None}
steps = {}
for name, extra in variants.items():
    arm = "A" if extra is None else "D"
    cfg = apply_overrides(arm_config(spec, arm, 0, "unused", "unused", None), extra or [])
    steps[name], _ = benchmarks.make_train_step(cfg)
result = benchmarks.interleaved(steps, rounds=10)
for name, r in result.items():
    print(f"{name}: {r['median_ms']:.1f} ms/step")
