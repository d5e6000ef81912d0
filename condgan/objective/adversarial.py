"""The adversarial terms: the critic's and the generator's GAN losses, and WGAN-GP's penalty.

Terms (condgan.objective.registry):

- d "adversarial": `discriminator_loss` of `objective.adversarial` on the critic's
  scores of real and generated clips; with params.adversarial.mismatch_share w > 0,
  real clips under another clip's caption take the share w of the negative term
  (matching-aware D of GAN-INT-CLS / StackGAN, which use 0.5).
- g "adversarial": `generator_loss` on the critic's scores of the generated clips.
- d "gradient_penalty": WGAN-GP's two-sided penalty (weight 10 in WGAN-GP).

Pure TensorFlow functions of logits and tensors. Sign conventions: every function
returns a quantity to *minimise*. Logits are raw critic outputs (no sigmoid),
float[batch, 1] or float[batch]; they are cast to float32 so that a
mixed-precision critic still gets a float32 loss.

Scaling under `tf.distribute`:
  Every function here returns a MEAN OVER THE BATCH IT IS GIVEN. Inside
  `strategy.run` that is the per-replica batch, not the global one. The caller
  (`condgan.gan`) divides each player's total by `strategy.num_replicas_in_sync`
  before taking gradients (the strategy then *sums* gradients across replicas,
  which gives the gradient of the mean over the global batch). For reporting,
  reduce the returned (unscaled) values with `ReduceOp.MEAN` across replicas.
"""

from __future__ import annotations

import numbers
from typing import Callable

import keras
import tensorflow as tf

from condgan.config import LOSSES, ConfigError
from condgan.objective.registry import register

# Inside the square root of the gradient norm: d sqrt(s)/ds is infinite at
# s = 0 (e.g. a critic whose ReLUs are all dead at x_hat), which would make the
# second-order gradient NaN. 1e-12 moves the norm by at most 1e-6.
_NORM_EPS = 1e-12


def _check_kind(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"unknown GAN loss kind {kind!r}; choose one of {LOSSES}")


def _logits(logits, name: str) -> tf.Tensor:
    """Casts logits to float32 and checks they hold one score per example."""
    logits = tf.convert_to_tensor(logits)
    rank = logits.shape.rank
    if rank is not None and not (rank == 1 or (rank == 2 and logits.shape[-1] in (1, None))):
        raise ValueError(
            f"{name} must be logits of shape [batch, 1] or [batch], got shape {logits.shape}")
    return tf.cast(logits, tf.float32)


def discriminator_loss(kind: str, real_logits, fake_logits, mismatch_logits=None,
                       mismatch_weight: float = 0.0) -> tf.Tensor:
    """The discriminator (critic) loss, averaged over the batch.

    - "wgan_gp": mean(D(fake)) - mean(D(real)) (add the gradient penalty
      separately with `gradient_penalty`).
    - "hinge": mean(relu(1 - D(real))) + mean(relu(1 + D(fake))).
    - "non_saturating": mean(softplus(-D(real))) + mean(softplus(D(fake))),
      i.e. binary cross-entropy with labels real = 1, fake = 0.

    Matching-aware discriminator (GAN-INT-CLS, Reed et al. 2016; StackGAN):
    with `mismatch_logits` (critic scores of REAL clips paired with captions of
    other clips) and weight w > 0, the negative term becomes
    (1 - w) * term(fake) + w * term(mismatch), so D must also reject real audio
    under the wrong caption, which is what makes it check the caption at all.
    StackGAN uses w = 0.5. With w = 0 the loss is the plain one above.

    Args:
      kind: one of `LOSSES`.
      real_logits: float[batch, 1] or float[batch], critic scores of real clips.
      fake_logits: float[batch, 1] or float[batch], critic scores of generated clips.
      mismatch_logits: optional float[batch', 1] or float[batch'], critic scores
        of real clips with mismatched captions; required when mismatch_weight > 0.
      mismatch_weight: w in [0, 1), a Python float (not a tensor).

    Returns:
      float32 scalar to minimise with respect to the discriminator's weights.

    Raises:
      ValueError: `kind` is not in `LOSSES`, the logits are not one score
        per example, or mismatch_weight is outside [0, 1) or has no logits.
    """
    _check_kind(kind)
    real = _logits(real_logits, "real_logits")
    fake = _logits(fake_logits, "fake_logits")
    if isinstance(mismatch_weight, numbers.Number) and not 0.0 <= mismatch_weight < 1.0:
        raise ValueError(f"mismatch_weight must be in [0, 1), got {mismatch_weight}")
    negative = _negative_term(kind, fake)
    if mismatch_weight:
        if mismatch_logits is None:
            raise ValueError(f"mismatch_weight={mismatch_weight} needs mismatch_logits")
        mismatch = _negative_term(kind, _logits(mismatch_logits, "mismatch_logits"))
        negative = (1.0 - mismatch_weight) * negative + mismatch_weight * mismatch
    if kind == "wgan_gp":
        return negative - tf.reduce_mean(real)
    if kind == "hinge":
        return tf.reduce_mean(tf.nn.relu(1.0 - real)) + negative
    return tf.reduce_mean(tf.math.softplus(-real)) + negative


def _negative_term(kind: str, logits: tf.Tensor) -> tf.Tensor:
    """The discriminator's loss term for examples it should score as fake: the mean of
    `negative_rows`."""
    return tf.reduce_mean(negative_rows(kind, logits))


def negative_rows(kind: str, logits) -> tf.Tensor:
    """Per example, the discriminator's loss for examples it should score as fake:
    float32[batch] (`_negative_term` is their mean): D for wgan_gp, relu(1 + D) for hinge,
    softplus(D) for non_saturating.

    Raises:
      ValueError: `kind` is not in `LOSSES`, or the logits are not one score per example.
    """
    _check_kind(kind)
    logits = tf.reshape(_logits(logits, "logits"), [-1])
    if kind == "wgan_gp":
        return logits
    if kind == "hinge":
        return tf.nn.relu(1.0 + logits)
    return tf.math.softplus(logits)


def generator_loss(kind: str, fake_logits) -> tf.Tensor:
    """The generator loss, averaged over the batch.

    - "wgan_gp" and "hinge": -mean(D(fake)) (the usual hinge-GAN generator
      loss is the Wasserstein one).
    - "non_saturating": mean(softplus(-D(fake))) = -mean(log sigmoid(D(fake))).

    Args:
      kind: one of `LOSSES`.
      fake_logits: float[batch, 1] or float[batch], critic scores of generated clips.

    Returns:
      float32 scalar to minimise with respect to the generator's weights.

    Raises:
      ValueError: `kind` is not in `LOSSES`, or the logits are not one score
        per example.
    """
    _check_kind(kind)
    fake = _logits(fake_logits, "fake_logits")
    if kind == "non_saturating":
        return tf.reduce_mean(tf.math.softplus(-fake))
    return -tf.reduce_mean(fake)


def sample_alpha(batch_size, seed) -> tf.Tensor:
    """Draws the WGAN-GP interpolation weights, uniform in [0, 1].

    Uniform as in Gulrajani et al. (2017) and WaveGAN; the keras-io WGAN-GP
    example draws them from a normal distribution, which extrapolates outside
    the segment between real and fake and is not the published method.

    Args:
      batch_size: int or int32 scalar tensor (e.g. `tf.shape(real)[0]`), >= 1.
      seed: a `keras.random.SeedGenerator` (a new draw on every call, usable
        inside `tf.function`) or an int (the same draw every call).

    Returns:
      float32[batch_size] in [0, 1).

    Raises:
      ValueError: `batch_size` is a Python int < 1.
    """
    if isinstance(batch_size, int) and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        seed = int(seed)  # numpy integers too; keras.random only takes Python ints.
    elif not isinstance(seed, keras.random.SeedGenerator):
        raise TypeError(
            f"seed must be an int or a keras.random.SeedGenerator, got {type(seed).__name__}")
    return keras.random.uniform((batch_size,), minval=0.0, maxval=1.0, dtype="float32", seed=seed)


def interpolate(real, fake, alpha) -> tf.Tensor:
    """Points on the segments between real and generated clips.

    x_hat = real + alpha * (fake - real), per example, as in WaveGAN: alpha = 0
    gives `real`, alpha = 1 gives `fake` (Gulrajani et al. write the same
    point with the weight on the real side; for uniform alpha the two agree in
    distribution).

    Args:
      real: float[batch, length, 1] (any rank >= 1 with batch first).
      fake: same shape and dtype as `real`.
      alpha: float[batch], one weight per example, broadcast over the
        non-batch axes.

    Returns:
      Tensor of the shape and dtype of `real`.

    Raises:
      ValueError: the shapes of `real`, `fake` and `alpha` do not match.
    """
    real = tf.convert_to_tensor(real)
    fake = tf.convert_to_tensor(fake, dtype=real.dtype)
    alpha = tf.convert_to_tensor(alpha)
    if not real.shape.is_compatible_with(fake.shape):
        raise ValueError(
            f"real and fake must have the same shape, got {real.shape} and {fake.shape}")
    if alpha.shape.rank is not None and alpha.shape.rank != 1:
        raise ValueError(f"alpha must be float[batch], got shape {alpha.shape}")
    if not alpha.shape.is_compatible_with(real.shape[:1]):
        raise ValueError(
            f"alpha has {alpha.shape[0]} weights but real has batch size {real.shape[0]}")
    rank = real.shape.rank
    if rank is None:
        raise ValueError("real must have a known rank")
    alpha = tf.reshape(tf.cast(alpha, real.dtype), [-1] + [1] * (rank - 1))
    return real + alpha * (fake - real)


def gradient_penalty(critic_fn: Callable[[tf.Tensor], tf.Tensor], real, fake, alpha) -> tf.Tensor:
    """WGAN-GP two-sided penalty (Gulrajani et al. 2017), without its weight.

    mean over the batch of (||d critic(x_hat) / d x_hat||_2 - 1)^2, with
    x_hat = interpolate(real, fake, alpha) and the norm over all non-batch
    axes. The result is differentiable with respect to the critic's weights
    (the inner gradient is taken under its own `tf.GradientTape`, so the
    caller's tape records it), which is what training the critic needs.

    The per-example gradients are obtained as the gradient of the *sum* of the
    logits, which is exact only if each example's score depends on that
    example alone: no batch normalisation or minibatch statistics in the
    critic (WGAN-GP forbids them anyway; use layer norm or none).

    Args:
      critic_fn: maps float[batch, ...] to logits float[batch, 1] (or
        float[batch]); the caller closes over the text condition, e.g.
        `lambda x: discriminator([x, text], training=True)`.
      real: float[batch, length, 1] real clips.
      fake: float[batch, length, 1] generated clips.
      alpha: float32[batch] interpolation weights from `sample_alpha`.

    Returns:
      float32 scalar (multiply by the penalty weight, 10 in WGAN-GP).

    Raises:
      ValueError: the critic returns other than one score per example, or
        its output does not depend on its input.
    """
    x_hat = interpolate(real, fake, alpha)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        logits = _logits(critic_fn(x_hat), "critic_fn(x_hat)")
        score = tf.reduce_sum(logits)
    grads = tape.gradient(score, x_hat)
    if grads is None:
        raise ValueError("critic_fn(x_hat) does not depend on x_hat: no gradient to penalise")
    grads = tf.cast(grads, tf.float32)
    axes = list(range(1, grads.shape.rank))
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + _NORM_EPS)
    return tf.reduce_mean(tf.square(norms - 1.0))


@register("d", "adversarial", params={"mismatch_share": 0.0}, reports=("d_mismatch",))
def critic_term(step, mismatch_share):
    """The critic's adversarial loss on step.real_logits and step.fake_logits (and, with a
    mismatch share, step.mismatch_logits: real clips under rolled captions)."""
    mismatch = None
    if mismatch_share:
        mismatch = step.mismatch_logits
        step.report("d_mismatch", tf.reduce_mean(mismatch))
    return discriminator_loss(step.adversarial, step.real_logits, step.fake_logits, mismatch,
                              mismatch_share)


def _check_mismatch(adversarial: str, mismatch_share: float) -> None:
    if not 0.0 <= mismatch_share < 1.0:
        raise ConfigError("objective.params.adversarial.mismatch_share must be in [0, 1), got "
                          f"{mismatch_share}")
    if mismatch_share > 0 and adversarial == "wgan_gp":
        raise ConfigError(
            "objective.params.adversarial.mismatch_share > 0 is not supported with the wgan_gp "
            "loss: the gradient penalty bounds the critic's slope in the audio only, so its gap "
            "between right and wrong captions is unbounded; use hinge or non_saturating")


critic_term.check = _check_mismatch


@register("g", "adversarial")
def generator_term(step):
    """The generator's adversarial loss on step.fake_logits."""
    return generator_loss(step.adversarial, step.fake_logits)


@register("d", "gradient_penalty")
def gradient_penalty_term(step):
    """WGAN-GP's penalty at points between step.audio and step.fake (weights step.alpha)."""
    return gradient_penalty(step.critic, step.audio, step.fake, step.alpha)
