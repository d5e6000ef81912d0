"""Lazy R1: a penalty on the critic's gradient at the real clips (Mescheder et al. 2018).

R1 = gamma / 2 * E_real ||grad_x D(x, c)||^2, with x the real clip (the waveform the critic
receives; the spectral critic's STFT is inside D) under its own caption c, through the
critic's training path (dropout, phase shuffle). It flattens D around the data, which keeps
a critic from running away (its hinge loss near 0) without the gradient penalty's pull to a
slope of 1 between real and generated clips.

Lazy regularisation (StyleGAN2, Karras et al. 2020): the penalty is computed on one critic
update in `every` (those where the critic's optimizer has made a multiple of `every`
updates, the first included) and multiplied by `every` there, so its average over the
updates is R1's; on the other updates it is 0 and costs nothing (a `tf.cond`: the critic's
second pass and its second-order gradient run only on the due updates). StyleGAN2 uses
every = 16; 8 here, as issue 19 asks.

The gradient is in the waveform, so for the spectral critic it passes log(|STFT| + 1e-4),
whose slope at a silent bin is 1e4: the penalty is mostly D's slope at the near-silent bins,
and its size is not an image GAN's. On the class-head critic of the pitch subset
E||grad_x D||^2 was 1.8e6-8.2e6 after 300-1,500 steps (3.7e4 untrained), against 0.004-0.03
with respect to its log-|STFT| image (experiments/scratch/r1_scale.py), so the literature's
gamma (10 in Mescheder et al., 0.01-0.1 by StyleGAN2-ADA's rule at this size) would swamp
the loss. The default gamma, 2e-7, puts R1 at 0.2-0.8 there (the hinge loss was 0.3-1.5);
the WaveGAN critic's scale is not measured.

Term (condgan.objective.registry): d "r1", params gamma (2e-7) and every (8). Its mean is
over the batch it is given, as WGAN-GP's penalty, so under tf.distribute the step's 1 / R
loss scale makes it the global batch's.
"""

from __future__ import annotations

import tensorflow as tf

from condgan.config import ConfigError
from condgan.objective.registry import register


def r1_penalty(critic_fn, real) -> tf.Tensor:
    """Mean over the batch of ||d critic_fn(x) / d x||^2 at x = real (no gamma / 2).

    Per-example gradients are taken as the gradient of the sum of the scores, which is
    exact when each example's score depends on that example alone (no batch statistics in
    the critic, as for the gradient penalty). The result is differentiable with respect to
    the critic's weights.

    Args:
      critic_fn: float[B, ...] -> scores float[B, 1] or float[B].
      real: float[B, ...] the real clips.

    Returns:
      float32 scalar.

    Raises:
      ValueError: the scores do not depend on the input.
    """
    real = tf.convert_to_tensor(real)
    with tf.GradientTape() as tape:
        tape.watch(real)
        score = tf.reduce_sum(tf.cast(critic_fn(real), tf.float32))
    grads = tape.gradient(score, real)
    if grads is None:
        raise ValueError("r1_penalty: the critic's score does not depend on its input")
    grads = tf.cast(grads, tf.float32)
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=list(range(1, grads.shape.rank))))


def is_due(updates, every: int) -> tf.Tensor:
    """bool scalar: the critic update after `updates` earlier ones carries the lazy penalty."""
    return tf.equal(tf.math.floormod(tf.cast(updates, tf.int64), int(every)), 0)


@register("d", "r1", params={"gamma": 2e-7, "every": 8.0})
def r1_term(step, gamma, every):
    """Every `every` critic updates (step.d_updates: the updates made before this one):
    every * gamma / 2 * E||grad_x D(x_real, c)||^2 through step.critic; 0 otherwise."""
    every = int(every)

    def penalty():
        return every * 0.5 * gamma * r1_penalty(step.critic, step.audio)

    return tf.cond(is_due(step.d_updates, every), penalty, lambda: tf.constant(0.0))


def _check(adversarial: str, gamma: float, every: float) -> None:
    if not gamma >= 0:
        raise ConfigError(f"objective.params.r1.gamma must be >= 0, got {gamma}")
    if not (every >= 1 and every == int(every)):
        raise ConfigError(f"objective.params.r1.every must be a whole number >= 1 (critic "
                          f"updates per penalty), got {every}")


r1_term.check = _check
