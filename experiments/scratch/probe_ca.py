"""Does the generator take its variety from CondAugment's eps instead of z? (issue 8, session 5)

  python -m experiments.scratch.probe_ca <run dir> [<step>] [--data_root=work_data/data]

Loads a run (the newest checkpoint, or <step>), prints the conditioner's caption signal
(spread of `mean` across captions) against its noise (sigma), then scores 240 clips
(4 z per caption, 2 captions per class, seed 1) three ways: c = mean (generation, the
method), c = mean + sigma * eps with a new eps per clip (training's distribution), and
one fixed z per caption with eps varied. Reads the networks generation reads (the
weight averages with model.ema_decay; the runs quoted had none).

docs/second-base.md, third search (and README), quotes it on D-seed0,
D-seed0-zc_g05, D-seed2-zc_g05 and D-seed0-zc_g05_zd2 (e.g. with z fixed, eps alone
spreads a caption's clips 0.55 / 0.70 / 0.85 against 0.28 / 0.53 / 0.55 from z alone).
It needs those trained run directories (work_data/runs/synth-spectral/<name>), which
are not committed.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from condgan.evaluation.evaluate import evaluate
from experiments.scratch import _common

MODES = ("mean", "eps", "fixz")


def main(argv=None) -> None:
    p = _common.parser(__doc__, step=False)
    p.add_argument("step", type=int, nargs="?", default=None,
                   help="read checkpoints/ckpt-<step> instead of the newest")
    args = p.parse_args(argv)
    data_dir = os.path.join(args.data_root, "synth")
    config, gan = _common.load_run(args.run, args.step)
    _, emb = _common.caption_embeddings(config, args.run, data_dir)
    caps = sorted(emb)
    conditioner, generator = gan.eval_conditioner, gan.eval_generator
    mean, log_sigma = _common.cond_gaussian(conditioner, np.stack([emb[c] for c in caps]))
    sigma = np.exp(log_sigma)
    print(f"mean: rms over captions & dims {np.sqrt((mean**2).mean()):.3f}; std across captions "
          f"(per dim, averaged) {mean.std(0).mean():.3f}; sigma mean {sigma.mean():.3f} "
          f"(min {sigma.min():.3f}, max {sigma.max():.3f})")
    latent = config.model.latent_dim

    def make(mode):
        def gen(captions, seed):
            e = np.stack([emb[c] for c in captions]).astype(np.float32)
            if mode == "fixz":  # one z per caption, the same in every column
                z = tf.stack([tf.random.stateless_normal([latent], seed=[7, caps.index(c)])
                              for c in captions])
            else:
                z = tf.stack([tf.random.stateless_normal([latent], seed=[seed, i])
                              for i in range(len(captions))])
            m, ls = _common.cond_gaussian(conditioner, e)
            if mode == "mean":
                c = tf.constant(m)
            else:
                eps = tf.random.stateless_truncated_normal(m.shape, seed=[seed, 99])
                c = m + tf.exp(ls) * eps
            return generator([z, c], training=False)[..., 0].numpy(), config.model.sample_rate

        return gen

    for mode in MODES:
        r = evaluate(make(mode), data_dir, os.path.join(args.data_root, "synth-classifier"),
                     num_clips=240, z_per_caption=4, captions_per_class=2, seed=1, ndb_bins=10)
        mm = r["metrics"]
        print(mode, {k: round(float(mm[k]["generated"]), 3) for k in
                     ("conditional_accuracy", "z_diversity_caption", "frechet_distance")}, flush=True)


if __name__ == "__main__":
    main()
