"""Scratch (session 6): step time of the spectral vs spectral2d generator.

Arm D of the z-diversity recipe on synth-spectral, the Trainer's compiled step on a
fixed random batch, the two timed alternately (condgan.benchmarks.interleaved).

  python experiments/scratch/time_generators.py   (from the repository's root)
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
steps = {}
for generator in ("spectral", "spectral2d"):
    cfg = apply_overrides(arm_config(spec, "D", 0, "unused", "unused", None),
                          recipe + [f"model.generator={generator}"])
    steps[generator], _ = benchmarks.make_train_step(cfg)
result = benchmarks.interleaved(steps, rounds=20)
for name, r in result.items():
    print(f"{name}: {r['median_ms']:.1f} ms/step")
print(f"spectral2d / spectral: {result['spectral2d']['median_ms'] / result['spectral']['median_ms']:.2f}x")
