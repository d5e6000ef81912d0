"""Exponential moving average (EMA) of the generator's weights, used for generation.

GAN training does not converge to a point: the generator's weights orbit an
equilibrium, and a checkpoint is wherever the orbit happens to be. Sampling
from a running average of the weights instead (Yazici et al. 2019, "The
Unusual Effectiveness of Averaging in GAN Training"; ProGAN, StyleGAN and
BigGAN all generate from such a copy) smooths the orbit out. Training is
unchanged: the averaged copy is never trained, it only follows.

`WeightAverage` keeps one average variable per source variable. After every
update of the sources, `update()` moves each average towards its source:

    decay_n = min(decay, (1 + n) / (10 + n))      n = updates so far
    average = decay_n * average + (1 - decay_n) * source

The warm-up (`tf.train.ExponentialMovingAverage`'s `num_updates` rule) keeps
the first averages from clinging to the random initial weights. Variables
that are not trainable floats (random-stream states, counters) are copied, not
averaged.

Under a `tf.distribute` strategy call `update()` in cross-replica context (the
`Trainer` does, after `strategy.run`), or through `merge_call` from a replica:
every replica holds the same weights after the optimizer's all-reduce, so the
averages stay in sync.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

WARMUP_OFFSET = 10.0  # decay_n = (1 + n) / (WARMUP_OFFSET + n) early in training


def warmup_decay(decay: float, num_updates) -> tf.Tensor:
    """The decay used for update number `num_updates` (0-based): min(decay, (1+n)/(10+n))."""
    n = tf.cast(num_updates, tf.float32)
    return tf.minimum(tf.constant(decay, tf.float32), (1.0 + n) / (WARMUP_OFFSET + n))


class WeightAverage:
    """Keeps `averages` as the exponential moving average of `sources`.

    Args:
      sources: the trained variables (e.g. `generator.weights`).
      averages: variables of the same shapes and dtypes in the same order (the
        weights of a second copy of the same network); set to the sources' values
        here.
      decay: in (0, 1); the average's memory is about 1 / (1 - decay) updates.
      counter: an int64 scalar variable counting the updates (checkpoint it with the
        averages so that a resumed run continues the warm-up where it was).

    Raises:
      ValueError: a bad decay, or averages that do not match the sources one to one.
    """

    def __init__(self, sources: Sequence, averages: Sequence, decay: float, counter):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must be in (0, 1), got {decay}")
        sources, averages = list(sources), list(averages)
        if len(sources) != len(averages):
            raise ValueError(f"{len(averages)} average variables for {len(sources)} sources")
        for s, a in zip(sources, averages):
            if tuple(s.shape) != tuple(a.shape) or s.dtype != a.dtype:
                raise ValueError(f"average {a.path} ({a.shape}, {a.dtype}) does not match source "
                                 f"{s.path} ({s.shape}, {s.dtype})")
        self.decay = float(decay)
        self.counter = counter
        self.pairs = list(zip(sources, averages))
        self.copy()

    @staticmethod
    def _averaged(variable) -> bool:
        return bool(variable.trainable) and "float" in str(variable.dtype)

    def copy(self) -> None:
        """Sets every average to its source's value (and leaves the counter alone)."""
        for source, average in self.pairs:
            average.assign(source.value)

    def update(self) -> tf.Tensor:
        """One EMA step; returns the decay it used."""
        decay = warmup_decay(self.decay, self.counter.value)
        for source, average in self.pairs:
            if self._averaged(source):
                d = tf.cast(decay, average.dtype)
                average.assign(d * average.value + (1.0 - d) * source.value)
            else:
                average.assign(source.value)
        self.counter.assign_add(1)
        return decay


def counter_variable(name: str = "ema_updates") -> keras.Variable:
    """An int64 scalar update counter for `WeightAverage` (not trainable)."""
    return keras.Variable(0, dtype="int64", trainable=False, name=name)
