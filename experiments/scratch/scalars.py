"""A run's logged training scalars of the cond_contrastive, KL, both contrastive terms and
the z spread, about six points over the run (issue 8, session 7).

  python -m experiments.scratch.scalars <run dir>

Reads the run's TensorBoard event files. Runs logged before the objective's named terms
wrote train/c_contrastive and train/kl for what is now train/g_cond_contrastive and
train/g_kl; both names are read and printed under the new one.

docs/second-base.md, fifth search, quotes it on D-seed0-zc_g05_zd2_ema_cc1 (the
c-contrastive term falls from 3.65 to 1.28, D's contrastive loss 1.24, the KL term
rises from 0.31-0.44 to 0.45-0.48). It needs that run directory's event files
(work_data/runs/synth-spectral/<name>), which are not committed.
"""

from __future__ import annotations

import argparse
import glob
import os

import tensorflow as tf

# Tag read -> name printed (old names of the same terms on the right).
TAGS = {"train/g_cond_contrastive": "g_cond_contrastive", "train/c_contrastive": "g_cond_contrastive",
        "train/g_kl": "g_kl", "train/kl": "g_kl", "train/g_contrastive": "g_contrastive",
        "train/d_contrastive": "d_contrastive", "train/z_spread": "z_spread"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run directory (its events.out.tfevents.* files)")
    args = p.parse_args(argv)
    files = sorted(glob.glob(os.path.join(args.run, "events.out.tfevents.*")))
    if not files:
        raise SystemExit(f"{args.run}: no events.out.tfevents.* files")
    values: dict[str, list[tuple[int, float]]] = {}
    for f in files:
        for e in tf.compat.v1.train.summary_iterator(f):
            for v in e.summary.value:
                if v.tag in TAGS:
                    values.setdefault(TAGS[v.tag], []).append((e.step, float(tf.make_ndarray(v.tensor))))
    for name, series in values.items():
        points = [series[i] for i in range(0, len(series), max(1, len(series) // 6))] + [series[-1]]
        print(name, " ".join(f"{step}:{x:.2f}" for step, x in points))


if __name__ == "__main__":
    main()
