"""Issue 8, session 7: does the critic tell the synth classes apart on real clips?

  python experiments/scratch/critic_separation.py <run dir> <step>

Cosines between class centroids of D's contrastive audio vectors (a) and caption
vectors (u) over the 240 real test clips, nearest-centroid accuracy, and audio ->
caption-centroid accuracy (rising and falling whistle shown apart).
"""
import sys

import numpy as np

from condgan import data, records
from condgan.training.loop import load_for_inference
from condgan.training.run import cached_caption_embeddings

run, step = sys.argv[1], sys.argv[2]
config, gan, _ = load_for_inference(run, f"{run}/checkpoints/ckpt-{step}")
dd = "work_data/data/synth"  # ablation setup --dataset=synth-spectral
card = records.load_card(dd)
emb = cached_caption_embeddings(config, card, run)
ds = data.make_dataset(dd, "test", 240, emb, shuffle=False, repeat=False, length=config.model.length)
audio, text, caps, labels = next(iter(ds))
score, a, u = gan.discriminate(audio, text, training=False)
a, u, labels = a.numpy(), u.numpy(), labels.numpy()
classes = card.classes if hasattr(card, "classes") else None
print(classes)
def cent(x, k): v = x[labels == k].mean(0); return v / np.linalg.norm(v)
names = list(classes)
ri, fa, be = names.index("rising whistle"), names.index("falling whistle"), names.index("beep")
for nm, x in (("audio a", a), ("caption u", u)):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    C = np.stack([cent(x, k) for k in range(len(names))])
    S = C @ C.T
    off = S[~np.eye(len(names), dtype=bool)]
    print(nm, "centroid cos rise/fall %.2f rise/beep %.2f fall/beep %.2f; mean off-diag %.2f" % (S[ri, fa], S[ri, be], S[fa, be], off.mean()))
    # nearest-centroid accuracy
    pred = (x @ C.T).argmax(1); print("   nearest-centroid acc %.2f, rising %.2f falling %.2f" % ((pred == labels).mean(), (pred[labels==ri]==ri).mean(), (pred[labels==fa]==fa).mean()))
# cross-modal: audio -> caption centroid
xa = a / np.linalg.norm(a, axis=1, keepdims=True); xu = u / np.linalg.norm(u, axis=1, keepdims=True)
Cu = np.stack([cent(xu, k) for k in range(len(names))])
pred = (xa @ Cu.T).argmax(1); print("audio->caption-centroid acc %.2f rising %.2f falling %.2f" % ((pred == labels).mean(), (pred[labels==ri]==ri).mean(), (pred[labels==fa]==fa).mean()))
