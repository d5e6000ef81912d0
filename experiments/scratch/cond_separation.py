"""How far apart CondAugment puts the synth classes' captions (issue 8, session 7).

  python -m experiments.scratch.cond_separation <run dir> <step> [--data_root=work_data/data]
      [--dataset=synth|synth-pitch]

For each class of the synth set (or of a subset of it, --dataset=synth-pitch), the
conditioner's means of its four captions; prints
the distance between two classes' mean centroids in units of the noise ball's radius
(mean sigma x sqrt(cond_dim)), and the spread of one class's phrasings in the same
units, for the trained conditioner and (with model.ema_decay) its average.

docs/second-base.md, fifth search, quotes it on D-seed0-zc_g05_zd2_ema at 4,500 steps
(rising vs falling whistle 0.19, one class's phrasings 0.28, whistle vs beep
0.39-0.44, class pairs 0.69, sigma 0.91) and on D-seed0-zc_g05_zd2_ema_cc1 at 1,500 and
6,000 steps. It needs that trained run directory (work_data/runs/synth-spectral/<name>
of `python -m experiments.ablation run`), which is not committed.
"""

from __future__ import annotations

import os

import numpy as np

from condgan.data_prep.synth_sfx import CAPTIONS
from experiments.scratch import _common

PAIRS = (("rising whistle", "falling whistle"), ("rising whistle", "beep"), ("falling whistle", "beep"),
         ("siren", "laser zap"), ("bell", "hum"), ("beep", "hum"))


def main(argv=None) -> None:
    parser = _common.parser(__doc__)
    parser.add_argument("--dataset", default="synth", help="a dataset dir under --data_root "
                        "prepared from the procedural set (default: %(default)s)")
    args = parser.parse_args(argv)
    config, gan = _common.load_run(args.run, args.step)
    card, emb = _common.caption_embeddings(config, args.run, os.path.join(args.data_root, args.dataset))
    names = [n for n in CAPTIONS if n in card.classes]
    conditioners = [("trained", gan.conditioner)]
    if gan.ema is not None:
        conditioners.append(("averaged", gan.ema_conditioner))
    for which, conditioner in conditioners:
        means, sigmas = {}, {}
        for name in names:
            text = np.stack([emb[c] for c in CAPTIONS[name]]).astype(np.float32)
            means[name], log_sigma = _common.cond_gaussian(conditioner, text)
            sigmas[name] = np.exp(log_sigma)
        sigma = np.mean([sigmas[k].mean() for k in names])
        radius = sigma * np.sqrt(config.model.cond_dim)

        def distance(a, b, means=means, radius=radius):  # class-mean centroids, in noise radii
            return np.linalg.norm(means[a].mean(0) - means[b].mean(0)) / radius

        within = np.mean([np.linalg.norm(means[k] - means[k].mean(0), axis=1).mean()
                          for k in names]) / radius
        print(which, "mean sigma", round(float(sigma), 3))
        print(" within-class caption spread", round(float(within), 3))
        for a, b in PAIRS:
            if a in names and b in names:
                print(f"  {a} vs {b}: {distance(a, b):.3f}")
        pairs = {(a, b): distance(a, b) for i, a in enumerate(names) for b in names[i + 1:]}
        closest = min(pairs, key=pairs.get)
        print("  mean over class pairs", round(float(np.mean(list(pairs.values()))), 3))
        print(f"  closest pair: {closest[0]} vs {closest[1]} {pairs[closest]:.3f} (target >= 3)")


if __name__ == "__main__":
    main()
