"""Step time of issue 19's candidates beside today's recipe, measured side by side.

  python -m experiments.scratch.time_issue19 [--rounds=10] [--variants=recipe,lean,...]

The pitch subset's model (experiments/configs/synth-pitch.json: the spectral base at
8 kHz, 4,096 samples, width 16, batch 32, 4 classes), the Trainer's compiled step on a
fixed random batch (`condgan.training.benchmarks.make_train_step`), the variants timed
alternately (`condgan.training.benchmarks.interleaved`) so a shared machine's load hits
them alike. Prints ms/step and the ratio to the recommended recipe's (issue 19 caps a
candidate at 1.3x).
"""

from __future__ import annotations

import argparse
import os

from condgan.config import Config, load_dict, merge
from condgan.training import benchmarks

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
SIZE = {"model": {"length": 4096, "sample_rate": 8000, "num_classes": 4}}
VARIANTS = {  # name: (recipe file under experiments/configs/recipes, overrides)
    "recipe": ("recommended.json", {}),
    "class-head": ("class-head.json", {}),
    "lean": ("class-head-lean.json", {}),
    "lean-mel": ("class-head-lean-mel.json", {}),
    "lean-mel+hn": ("class-head-lean-mel.json", {"objective": {"d": {"hard_negatives": 0.5}}}),
    "lean-mel+r1": ("class-head-lean-mel.json", {"objective": {"d": {"r1": 1.0}}}),
    "lean-mel+zd": ("class-head-lean-mel.json", {"objective": {"g": {"z_diversity": 2.0}}}),
}


def config(name: str) -> Config:
    """The config of variant `name` at the pitch subset's size."""
    path, overrides = VARIANTS[name]
    recipe = load_dict(os.path.join(CONFIGS, "recipes", path))
    recipe.pop("description", None)
    return Config.from_dict(merge(merge(recipe, SIZE), overrides))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10,
                   help="timed rounds of each variant (default: %(default)s)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma-separated names, the first is the reference (default: %(default)s)")
    args = p.parse_args(argv)
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; known: {sorted(VARIANTS)}")
    steps = {name: benchmarks.make_train_step(config(name))[0] for name in names}
    result = benchmarks.interleaved(steps, rounds=args.rounds)
    first = result[names[0]]["median_ms"]
    for name, r in result.items():
        print(f"{name}: {r['median_ms']:.1f} ms/step ({r['median_ms'] / first:.2f}x)")


if __name__ == "__main__":
    main()
