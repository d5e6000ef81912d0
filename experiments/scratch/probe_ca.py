"""Probe (session 5): does the generator take its variety from CondAugment's eps instead of z?

Loads a run, prints the conditioner's caption signal (spread of `mean` across
captions) against its noise (sigma), then scores 240 clips three ways: c = mean
(generation, the method), c = mean + sigma * eps with a new eps per clip
(training's distribution), and one fixed z per caption with eps varied.
"""
import os, sys
CODE = os.environ.get("CODE", ".")  # the snapshot of the repository it runs from
sys.path.insert(0, CODE)
import numpy as np
import tensorflow as tf
from condgan import records
from condgan.training.loop import load_for_inference
from condgan.training.run import cached_caption_embeddings
from condgan.evaluation.evaluate import evaluate

run = sys.argv[1]
data_dir = "/work/exp/data/synth"
config, gan, _ = load_for_inference(run, None)
card = records.load_card(data_dir)
emb = cached_caption_embeddings(config, card, run)
caps = sorted(emb)
E = tf.constant(np.stack([emb[c] for c in caps]).astype(np.float32))
ca = gan.conditioner.get_layer("cond_augment")


def gaussian(text):
    """CondAugment's (mean, log_sigma): the conditioner's layers before it, then its own."""
    h = text
    for layer in gan.conditioner.layers[1:]:
        if layer is ca:
            break
        h = layer(h)
    return ca.mean_log_sigma(h)


mean, log_sigma = gaussian(E)
mean, sigma = mean.numpy(), np.exp(log_sigma.numpy())
print(f"mean: rms over captions & dims {np.sqrt((mean**2).mean()):.3f}; std across captions "
      f"(per dim, averaged) {mean.std(0).mean():.3f}; sigma mean {sigma.mean():.3f} "
      f"(min {sigma.min():.3f}, max {sigma.max():.3f})")
L = config.model.latent_dim


def make(mode):
    def gen(captions, seed):
        e = tf.constant(np.stack([emb[c] for c in captions]).astype(np.float32))
        n = len(captions)
        z = tf.stack([tf.random.stateless_normal([L], seed=[seed, i]) for i in range(n)])
        if mode == "fixz":  # one z per caption, the same in every column
            z = tf.stack([tf.random.stateless_normal([L], seed=[7, caps.index(c)])
                          for c in captions])
        m, ls = gaussian(e)
        if mode == "mean":
            c = m
        else:
            eps = tf.random.stateless_truncated_normal(m.shape, seed=[seed, 99])
            c = m + tf.exp(ls) * eps
        return gan.generator([z, c], training=False)[..., 0].numpy(), config.model.sample_rate
    return gen


for mode in ("mean", "eps", "fixz"):
    r = evaluate(make(mode), data_dir, "/work/exp/data/synth-classifier", num_clips=240,
                 z_per_caption=4, captions_per_class=2, seed=1, ndb_bins=10)
    mm = r["metrics"]
    print(mode, {k: round(float(mm[k]["generated"]), 3) for k in
                 ("conditional_accuracy", "z_diversity_caption", "frechet_distance")}, flush=True)
