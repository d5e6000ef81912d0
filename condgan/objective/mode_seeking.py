"""Mode seeking (MSGAN, Mao et al. 2019), a generator term beyond the seed's method.

Term g "mode_seeking": `mode_seeking_loss` of two generated batches from one c
and two independent z (step.fake, step.fake_2, step.z, step.z_2). Under
tf.distribute its two means are global-batch means (step.global_mean), so that
every replica computes the global batch's ratio.
"""

from __future__ import annotations

import tensorflow as tf

from condgan.objective.registry import register


def mode_seeking_loss(fake_1, fake_2, z_1, z_2, eps: float = 1e-5, mean=None) -> tf.Tensor:
    """Mode-seeking regulariser of MSGAN (Mao et al., CVPR 2019).

    As in the reference implementation (HelenMao/MSGAN, e.g.
    DCGAN-Mode-Seeking/model.py):

      ratio = mean(|fake_1 - fake_2|) / mean(|z_1 - z_2|)
      loss  = 1 / (ratio + eps)

    where each mean runs over *all* elements, batch included, so `ratio` is one
    number per batch, not one per example. This keeps a single pair of
    near-identical outputs from contributing ~1/eps on its own. `fake_1` and
    `fake_2` are generated from the same conditions with the independent
    latents `z_1` and `z_2`. Minimising the loss pushes outputs apart in
    proportion to the distance of their latents; a collapsed generator
    (fake_1 == fake_2) scores exactly 1 / eps.

    Args:
      fake_1: float[batch, length, 1] generated from z_1.
      fake_2: float[batch, length, 1] generated from z_2, same conditions.
      z_1: float[batch, latent_dim].
      z_2: float[batch, latent_dim], drawn independently of z_1 (equal
        latents make the ratio 0 / 0).
      eps: keeps the loss finite for a fully collapsed generator.
      mean: optional function tensor -> scalar replacing `tf.reduce_mean` in the
        two means, e.g. a mean over all tf.distribute replicas' rows (then the
        loss is that of the global batch on every replica).

    Returns:
      float32 scalar in (0, 1 / eps], to minimise with respect to the
      generator's weights.

    Raises:
      ValueError: shapes of the pairs differ, or eps <= 0.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    fake_1 = tf.cast(tf.convert_to_tensor(fake_1), tf.float32)
    fake_2 = tf.cast(tf.convert_to_tensor(fake_2), tf.float32)
    z_1 = tf.cast(tf.convert_to_tensor(z_1), tf.float32)
    z_2 = tf.cast(tf.convert_to_tensor(z_2), tf.float32)
    if not fake_1.shape.is_compatible_with(fake_2.shape):
        raise ValueError(
            f"fake_1 and fake_2 must have the same shape, got {fake_1.shape} and {fake_2.shape}")
    if not z_1.shape.is_compatible_with(z_2.shape):
        raise ValueError(f"z_1 and z_2 must have the same shape, got {z_1.shape} and {z_2.shape}")
    mean = mean or tf.reduce_mean
    ratio = mean(tf.abs(fake_1 - fake_2)) / mean(tf.abs(z_1 - z_2))
    return 1.0 / (ratio + eps)


@register("g", "mode_seeking")
def mode_seeking_term(step):
    """`mode_seeking_loss` of the step's two z."""
    return mode_seeking_loss(step.fake, step.fake_2, step.z, step.z_2, mean=step.global_mean)
