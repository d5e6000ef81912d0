"""Issue 8, session 8: does the critic's contrastive head hear the generated clips as
their captions, and does its adversarial score tell them from real?

  python experiments/scratch/critic_on_fakes.py <run dir> <step>

For the 240 real test clips and one generated clip per test clip (its caption,
c = mean, seed 1), per class: audio -> caption-centroid accuracy of D's
contrastive audio vectors (centroids of the real clips' caption vectors u), and
the mean critic score. If the fakes of a class the scoring classifier never hears
as itself are heard as their caption by D's head, G's contrastive term is being
met by features that are not the class's sound.
"""
import sys

import numpy as np

from condgan import data, records
from condgan.training.loop import load_for_inference
from condgan.training.run import cached_caption_embeddings

run, step = sys.argv[1], sys.argv[2]
dd = sys.argv[3] if len(sys.argv) > 3 else "work_data/data/synth"
config, gan, _ = load_for_inference(run, f"{run}/checkpoints/ckpt-{step}")
card = records.load_card(dd)
emb = cached_caption_embeddings(config, card, run)
ds = data.make_dataset(dd, "test", 240, emb, shuffle=False, repeat=False, length=config.model.length)
audio, text, caps, labels = next(iter(ds))
labels = labels.numpy()
fake = gan.generate(text, seed=1)[..., None]
names = list(card.classes)


def unit(x):
    x = np.asarray(x)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


score_r, a_r, u = gan.discriminate(audio, text, training=False)
score_f, a_f, _ = gan.discriminate(fake, text, training=False)
u = unit(u)
cu = np.stack([u[labels == k].mean(0) for k in range(len(names))])
cu = unit(cu)
print("class                real: head acc  score | fake: head acc  score  heard as (by D's head)")
for k, nm in enumerate(names):
    m = labels == k
    pr = (unit(a_r)[m] @ cu.T).argmax(1)
    pf = (unit(a_f)[m] @ cu.T).argmax(1)
    top = np.bincount(pf, minlength=len(names)).argmax()
    print(f"{nm:18s} {np.mean(pr == k):9.2f} {np.mean(np.asarray(score_r)[m]):6.2f} | "
          f"{np.mean(pf == k):9.2f} {np.mean(np.asarray(score_f)[m]):6.2f}  {names[top]}")
pr = (unit(a_r) @ cu.T).argmax(1)
pf = (unit(a_f) @ cu.T).argmax(1)
print(f"all: real {np.mean(pr == labels):.2f}, fake {np.mean(pf == labels):.2f}; "
      f"score real {np.mean(score_r):.2f} fake {np.mean(score_f):.2f}")
