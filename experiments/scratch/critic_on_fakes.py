"""Does the critic's contrastive head hear the generated clips as their captions, and
does its adversarial score tell them from real? (issue 8, session 8)

  python -m experiments.scratch.critic_on_fakes <run dir> <step> [--data_root=work_data/data]

For the real test clips and one generated clip per test clip (its caption, c = mean,
the z of seed 1), per class: audio -> caption-centroid accuracy of D's contrastive
audio vectors (centroids of the real clips' caption vectors u), and the mean critic
score. If the fakes of a class the scoring classifier never hears as itself are heard
as their caption by D's head, G's contrastive term is being met by features that are
not the class's sound.

docs/second-base.md, sixth search (and README), quotes it on D-seed0-zc_g05_zd2_ema_cc1
at 6,000 steps (generated rising whistles 0.90, sirens 0.97, all 0.87; real 0.98;
mean score 2.5 real, -0.15 generated). It needs that trained run directory
(work_data/runs/synth-spectral/<name>), which is not committed.
"""

from __future__ import annotations

import numpy as np

from experiments.scratch import _common
from experiments.scratch.critic_separation import centroids, unit


def main(argv=None) -> None:
    args = _common.parser(__doc__).parse_args(argv)
    _, gan, card, audio, text, labels = _common.run_and_test_clips(args)
    fake = np.asarray(gan.generate(text, seed=1))[..., None]
    names = list(card.classes)
    score_r, a_r, u = gan.discriminate(audio, text, training=False)
    score_f, a_f, _ = gan.discriminate(fake, text, training=False)
    if u is None:
        raise SystemExit(f"{args.run}: the critic has no contrastive heads (model.contrastive_dim=0)")
    score_r, score_f = np.asarray(score_r), np.asarray(score_f)
    caption_centroids = centroids(unit(u), labels, len(names))
    pred_r = (unit(a_r) @ caption_centroids.T).argmax(1)
    pred_f = (unit(a_f) @ caption_centroids.T).argmax(1)
    print("class                real: head acc  score | fake: head acc  score  heard as (by D's head)")
    for k, name in enumerate(names):
        m = labels == k
        top = np.bincount(pred_f[m], minlength=len(names)).argmax()
        print(f"{name:18s} {np.mean(pred_r[m] == k):9.2f} {np.mean(score_r[m]):6.2f} | "
              f"{np.mean(pred_f[m] == k):9.2f} {np.mean(score_f[m]):6.2f}  {names[top]}")
    print(f"all: real {np.mean(pred_r == labels):.2f}, fake {np.mean(pred_f == labels):.2f}; "
          f"score real {np.mean(score_r):.2f} fake {np.mean(score_f):.2f}")


if __name__ == "__main__":
    main()
