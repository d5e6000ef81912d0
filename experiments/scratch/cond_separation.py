"""Issue 8, session 7: how far apart CondAugment puts the synth classes' captions.

  python experiments/scratch/cond_separation.py <run dir> <step>

For each class, the conditioner's means of its four captions; prints the distance
between two classes' mean centroids in units of the noise ball's radius
(mean sigma x sqrt(cond_dim)), and the spread of one class's phrasings in the same
units, for the trained conditioner and (with model.ema_decay) its average.
"""
import sys

import numpy as np
import tensorflow as tf

from condgan import records
from condgan.training.loop import load_for_inference
from condgan.training.run import cached_caption_embeddings

run, step = sys.argv[1], sys.argv[2]
config, gan, _ = load_for_inference(run, f"{run}/checkpoints/ckpt-{step}")
DATA = "work_data/data/synth"  # ablation setup --dataset=synth-spectral
card = records.load_card(DATA)
emb = cached_caption_embeddings(config, card, run)
from condgan.data_prep.synth_sfx import CAPTIONS  # noqa: E402

for which, cond in (("raw", gan.conditioner), ("ema", getattr(gan, "ema_conditioner", None))):
    if cond is None: continue
    ca = cond.get_layer("cond_augment")
    def gaussian(text):
        h = text
        for layer in cond.layers[1:]:
            if layer is ca: break
            h = layer(h)
        return ca.mean_log_sigma(h)
    names = list(CAPTIONS); M = {}; S = {}
    for k in names:
        m, ls = gaussian(tf.constant(np.stack([emb[c] for c in CAPTIONS[k]]).astype(np.float32)))
        M[k] = m.numpy(); S[k] = np.exp(ls.numpy())
    sig = np.mean([S[k].mean() for k in names])
    print(which, "mean sigma", round(float(sig), 3))
    def d(a, b):  # distance between class-mean centroids / (sigma*sqrt(dim))
        return np.linalg.norm(M[a].mean(0) - M[b].mean(0)) / (sig * np.sqrt(M[a].shape[1]))
    within = np.mean([np.linalg.norm(M[k] - M[k].mean(0), axis=1).mean() for k in names]) / (sig*np.sqrt(M[names[0]].shape[1]))
    print(" within-class caption spread", round(float(within), 3))
    for a, b in (("rising whistle", "falling whistle"), ("rising whistle", "beep"), ("falling whistle", "beep"), ("siren", "laser zap"), ("bell", "hum"), ("beep", "hum")):
        print(f"  {a} vs {b}: {d(a, b):.3f}")
    allp = [d(a, b) for i, a in enumerate(names) for b in names[i+1:]]
    print("  mean over class pairs", round(float(np.mean(allp)), 3))
