"""How large is R1's E||grad_x D(x_real, c)||^2 for the spectral critic? (issue 19, lazy R1)

  python -m experiments.scratch.r1_scale <run dir> <step>[,<step>...] [--clips=64]

For the first `--clips` test clips of the run's own dataset (config.data.data_dir), under
their own captions, at each checkpoint (step 0: the run's config freshly built, seed 0):
the mean squared norm of the critic's gradient with respect to the waveform (what
`condgan.objective.r1.r1_penalty` computes; inference path, no dropout), its median and
maximum over the clips; for the spectral critic the same mean with respect to its
log-|STFT| image (the output of its first layer, as an image GAN's R1 would see it); and
the mean score and hinge loss of the real clips. It sizes gamma: R1 = gamma / 2 times the
first number.

recipes/class-head-lean-r1.json quotes it on work_data/runs/synth-pitch/D-seed0-class_head
(class-head.json on the pitch subset, 1,500 steps), which is not committed.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf

from condgan.objective.r1 import r1_penalty
from condgan.training.trainer import build_gan
from experiments.scratch import _common


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("steps", help="comma-separated checkpoint steps; 0 is the untrained critic")
    p.add_argument("--clips", type=int, default=64)
    args = p.parse_args(argv)
    print("step   E||g||^2   median    max   image E||g||^2  D(real)  hinge(real)")
    for step in (int(s) for s in args.steps.split(",")):
        if step == 0:
            config, _ = _common.load_run(args.run, None)
            keras.utils.set_random_seed(0)
            gan = build_gan(config)
        else:
            config, gan = _common.load_run(args.run, step)
        card, embeddings = _common.caption_embeddings(config, args.run, config.data.data_dir)
        audio, text, _ = _common.test_clips(config, card, embeddings, config.data.data_dir)
        audio, text = tf.constant(audio[:args.clips]), tf.constant(text[:args.clips])
        per_clip = [clip_r1(gan, audio[i:i + 1], text[i:i + 1]) for i in range(len(audio))]
        score = np.asarray(gan.discriminate(audio, text, training=False).score)[:, 0]
        print(f"{step:5d} {np.mean(per_clip):10.4g} {np.median(per_clip):8.4g} "
              f"{np.max(per_clip):8.4g} {image_r1(gan, audio, text):12.4g} {score.mean():8.3f} "
              f"{np.maximum(0, 1 - score).mean():8.3f}")


def clip_r1(gan, audio, text) -> float:
    """||d D(x, c) / d x||^2 of one clip (a batch of one), in the waveform."""
    return float(r1_penalty(lambda x: gan.discriminate(x, text, training=False).score, audio))


def image_r1(gan, audio, text) -> float:
    """E||d D / d image||^2 at the spectral critic's log-|STFT| image (NaN for WaveGAN's)."""
    d = gan.discriminator
    names = [layer.name for layer in d.layers]
    first = next((n for n in ("log_stft", "log_mel_stft") if n in names), None)
    if first is None:
        return float("nan")
    # The critic from its first layer's output on (Keras builds it from the same layers).
    rest = keras.Model([d.get_layer(first).output, d.inputs[1]], d.outputs)
    image = d.get_layer(first)(audio)
    with tf.GradientTape() as tape:
        tape.watch(image)
        out = rest([image, text], training=False)
        score = tf.reduce_sum(out[0] if isinstance(out, (list, tuple)) else out)
    grads = tape.gradient(score, image)
    return float(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])))


if __name__ == "__main__":
    main()
