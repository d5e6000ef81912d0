"""Step time of the z-diversity recipe with session 7's switches (issue 8).

  python -m experiments.scratch.time_session7 [--rounds=15]   (an idle machine)

Arm D of the z-diversity recipe on the synth set's second base (spectral G and D at
8 kHz, 4,096 samples, FiLM of [z, c], G's contrastive weight 0.5, the z-diversity term
at weight 2, cap 1), the Trainer's compiled step on a fixed random batch
(`condgan.training.benchmarks.make_train_step`); the variants add the weight averages
(model.ema_decay=0.999), the cond_contrastive term (weight 1) or both (today's
recommended recipe, the config defaults), timed alternately
(`condgan.training.benchmarks.interleaved`). Prints ms/step and the ratio to the recipe's.

docs/second-base.md, fifth search, quotes it (recipe 215 ms, with the averaging 0.99x,
with the term 1.02x, on that session's machine).
"""

from __future__ import annotations

import argparse

from condgan.config import Config, merge
from condgan.training import benchmarks

# Session 7's recipe in today's layout: the defaults (arm D's method, the spectral base)
# without the two switches the variants add.
RECIPE = {"model": {"length": 4096, "sample_rate": 8000, "ema_decay": 0.0},
          "objective": {"g": {"cond_contrastive": 0.0}}}
VARIANTS = {"recipe": {},
            "+ema": {"model": {"ema_decay": 0.999}},
            "+cc": {"objective": {"g": {"cond_contrastive": 1.0}}},
            "+ema+cc": {"model": {"ema_decay": 0.999}, "objective": {"g": {"cond_contrastive": 1.0}}}}


def config(name: str) -> Config:
    """The config of variant `name` (a key of VARIANTS)."""
    return Config.from_dict(merge(RECIPE, VARIANTS[name]))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=15,
                   help="timed rounds of each variant (default: %(default)s)")
    args = p.parse_args(argv)
    steps = {name: benchmarks.make_train_step(config(name))[0] for name in VARIANTS}
    result = benchmarks.interleaved(steps, rounds=args.rounds)
    for name, r in result.items():
        print(f"{name}: {r['median_ms']:.1f} ms/step ({r['median_ms'] / result['recipe']['median_ms']:.2f}x)")


if __name__ == "__main__":
    main()
