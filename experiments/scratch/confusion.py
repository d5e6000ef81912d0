"""Which class each class's generated clips are heard as (issue 8, session 6).

  python -m experiments.scratch.confusion <run dir> <seed> [<step>] [--num_clips=960]
      [--data_root=work_data/data]

Scores a run's checkpoint (the newest, or <step>) with the synth classifier under the
ablation's protocol (960 clips, 8 z per caption, 2 captions per class, seed 1000 +
<seed>) and prints the accuracy and the four classes each class is most often heard as.

docs/second-base.md, fourth search, quotes it on D-seed0-zc_g05_zd2 (rising-whistle
captions heard as beeps 0.69 and chirps 0.17, falling ones as beeps 0.45 and chirps
0.44, sirens as laser zaps 0.56), and with <step> 2000 (the default 960 clips) on
A-seed0-zc_g05_zd2 and D-seed0-zc_g05_zd2. It needs those trained run directories
(work_data/runs/synth-spectral/<name>), which are not committed. Its numbers on the
partials run (fifth search) come from a retired switch that main refuses: they are
reproducible at the git tag retired-ideas-2026-12.
"""

from __future__ import annotations

import os

from condgan.evaluation.classifier import Classifier
from condgan.evaluation.evaluate import evaluate
from condgan.training.inference import load_generator
from experiments.scratch import _common


def main(argv=None) -> None:
    p = _common.parser(__doc__, step=False)
    p.add_argument("seed", type=int, help="the run's seed: clips are drawn with seed 1000 + this")
    p.add_argument("step", type=int, nargs="?", default=None,
                   help="score checkpoints/ckpt-<step> instead of the newest")
    p.add_argument("--num_clips", type=int, default=960, help="generated clips (default: %(default)s)")
    args = p.parse_args(argv)
    res = evaluate(load_generator(args.run, checkpoint=_common.checkpoint(args.run, args.step)),
                   os.path.join(args.data_root, "synth"),
                   Classifier.load(os.path.join(args.data_root, "synth-classifier")),
                   seed=1000 + args.seed, num_clips=args.num_clips, z_per_caption=8,
                   captions_per_class=2)
    print("accuracy", round(res["metrics"]["conditional_accuracy"]["generated"], 3))
    for true, row in res["details"]["generated_confusion"].items():
        total = sum(row.values())
        top = sorted(row.items(), key=lambda kv: -kv[1])[:4]
        print(f"{true:16s} " + "  ".join(f"{k} {v / total:.2f}" for k, v in top))


if __name__ == "__main__":
    main()
