"""The class-aware adversarial terms: a K+1 head in the critic (issue 19).

The critic's class head (`model.class_head`, `condgan.nets.discriminator`) gives K + 1
logits per clip: one per class of the dataset's card and a last one for "generated".
Trained as in the cross-entropy form of a K+1 GAN (Salimans et al. 2016's semi-supervised
GAN; ReACGAN's critique of AC-GAN, arXiv:2111.01118, is why the fake class is there):

- d "class_head": cross-entropy of the real clips' logits against their classes, plus
  that of the generated clips' logits against "generated" (each a mean over its rows).
  The class scores are trained on generated clips too, so they cannot be met by features
  that only real clips lack: G can satisfy them only with the sound of the class.
- g "class_head": cross-entropy of the generated clips' logits against the class of the
  caption each was made for, over the fresh rows of the batch (rows that embedding replay
  swapped for a stored pair have another caption, whose class the batch does not carry).
  With `objective.params.class_head.margin` > 0 it is instead the multi-class hinge of
  Kavalerov et al. 2019 (arXiv:1910.08617, MHingeGAN's generator loss):
  relu(margin - (logit_y - max_{k != y} logit_k)), the "generated" logit among the k.
  Cross-entropy pulls every clip further towards the most class-like sound for as long
  as the head can be moved (AC-GAN's loss of diversity, TAC-GAN, arXiv:1907.02690); the
  hinge stops pulling a clip once the head puts its caption's class ahead of every other
  class and of "generated" by the margin.

The head reads no caption, so the method's text path and its dropout are untouched.
Labels are the card's class indices (`condgan.data.make_dataset`'s fourth element);
condgan-train refuses the head on a dataset without classes.
"""

from __future__ import annotations

import tensorflow as tf

from condgan.config import ConfigError
from condgan.objective.registry import register


def class_cross_entropy(logits, labels, weights=None) -> tf.Tensor:
    """Mean (or `weights`-weighted mean) sparse softmax cross-entropy, float32.

    Args:
      logits: float[B, K + 1].
      labels: int[B] in [0, K].
      weights: optional float/bool[B]; rows of weight 0 do not count (0.0 when all are 0).

    Returns:
      float32 scalar.
    """
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32))
    if weights is None:
        return tf.reduce_mean(ce)
    w = tf.cast(weights, tf.float32)
    return tf.reduce_sum(ce * w) / tf.maximum(tf.reduce_sum(w), 1.0)


def class_margin_hinge(logits, labels, margin: float, weights=None) -> tf.Tensor:
    """Mean (or `weights`-weighted mean) of relu(margin - (logit_y - max_{k != y} logit_k)).

    Args:
      logits: float[B, K + 1].
      labels: int[B] in [0, K].
      margin: the margin (> 0).
      weights: optional float/bool[B]; rows of weight 0 do not count (0.0 when all are 0).

    Returns:
      float32 scalar.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    own = tf.gather(logits, labels, axis=1, batch_dims=1)
    others = tf.where(tf.one_hot(labels, tf.shape(logits)[-1]) > 0, tf.float32.min, logits)
    hinge = tf.nn.relu(margin - (own - tf.reduce_max(others, axis=-1)))
    if weights is None:
        return tf.reduce_mean(hinge)
    w = tf.cast(weights, tf.float32)
    return tf.reduce_sum(hinge * w) / tf.maximum(tf.reduce_sum(w), 1.0)


def _fake_class(logits) -> tf.Tensor:
    """The "generated" index (the last) for every row of `logits`."""
    return tf.fill([tf.shape(logits)[0]], tf.shape(logits)[-1] - 1)


def _labels(step):
    if step.labels is None:
        raise ValueError("the class_head term needs the clips' class labels: pass labels= to "
                         "the step (condgan.data.make_dataset batches carry them)")
    return step.labels


@register("d", "class_head", needs=("class_head",))
def critic_class_term(step):
    """CE(real clips -> their class) + CE(generated clips -> "generated")."""
    real = class_cross_entropy(step.real_class_logits, _labels(step))
    fake = class_cross_entropy(step.fake_class_logits, _fake_class(step.fake_class_logits))
    return real + fake


@register("g", "class_head", params={"margin": 0.0}, needs=("class_head",))
def generator_class_term(step, margin):
    """CE(generated clips -> their caption's class), or with margin > 0 the multi-class
    hinge towards it, over the rows replay did not swap."""
    if margin > 0:
        return class_margin_hinge(step.fake_class_logits, _labels(step), margin, step.fresh_rows)
    return class_cross_entropy(step.fake_class_logits, _labels(step), step.fresh_rows)


def _check(adversarial, margin=0.0):
    if margin < 0:
        raise ConfigError(f"objective.params.class_head.margin must be >= 0 (0 = cross-entropy), "
                          f"got {margin}")


generator_class_term.check = _check
