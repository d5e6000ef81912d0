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

The head reads no caption, so the method's text path and its dropout are untouched.
Labels are the card's class indices (`condgan.data.make_dataset`'s fourth element);
condgan-train refuses the head on a dataset without classes.
"""

from __future__ import annotations

import tensorflow as tf

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


@register("g", "class_head", needs=("class_head",))
def generator_class_term(step):
    """CE(generated clips -> their caption's class), over the rows replay did not swap."""
    return class_cross_entropy(step.fake_class_logits, _labels(step), step.fresh_rows)
