"""Issue 8, session 7: a run's logged training scalars (the cond_contrastive, KL, both
contrastive terms, z spread), about six points over the run.

  python experiments/scratch/scalars.py <run dir>
"""
import sys, glob, tensorflow as tf
vals = {}
for f in sorted(glob.glob(sys.argv[1] + "/events.out.tfevents.*")):
    for e in tf.compat.v1.train.summary_iterator(f):
        for v in e.summary.value:
            if v.tag in ("train/c_contrastive", "train/kl", "train/g_contrastive", "train/d_contrastive", "train/z_spread"):
                vals.setdefault(v.tag, []).append((e.step, float(tf.make_ndarray(v.tensor))))
for k, s in vals.items():
    pts = [s[i] for i in range(0, len(s), max(1, len(s)//6))] + [s[-1]]
    print(k, " ".join(f"{st}:{x:.2f}" for st, x in pts))
