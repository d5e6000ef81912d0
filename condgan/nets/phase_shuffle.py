"""WaveGAN's phase shuffle (Donahue et al. 2019, section 3.3), a regulariser of its critic.

It shifts the critic's feature maps in time by a random offset, so that the critic
cannot key on the generator's periodic upsampling artifacts.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from condgan import seeds
from condgan.seeds import check_seed


@keras.saving.register_keras_serializable(package="condgan")
class PhaseShuffle(keras.layers.Layer):
    """WaveGAN phase shuffle: shifts each example in time by a random offset.

    Each example gets its own shift `s` drawn uniformly from [-rad, rad] and its
    output is `y[t] = x[t - s]`, with reflection padding (edge excluded, as
    `tf.pad(mode="REFLECT")`) supplying the samples shifted in from outside.
    WaveGAN's `apply_phaseshuffle` draws one shift for the whole batch; drawing
    one per example is the same regulariser with more variety per step.

    Identity at inference (training falsy) and when `rad == 0`.

    Args:
      rad: maximum absolute shift in time steps, >= 0.
      seed: optional int seed of the shift stream.

    Call args:
      x: float32[batch, time, channels] with time > rad.
      training: bool; the shift applies only when true.

    Returns:
      float32[batch, time, channels], same shape as `x`.

    Raises:
      ValueError: `rad` or `seed` is out of range, or the input is not rank 3
        or has no more than `rad` time steps.
    """

    def __init__(self, rad: int = 2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rad, bool) or not isinstance(rad, int) or rad < 0:
            raise ValueError(f"PhaseShuffle: rad must be an integer >= 0, got {rad!r}")
        check_seed("PhaseShuffle", seed)
        self.rad = rad
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"PhaseShuffle: x must have shape [batch, time, channels], got {tuple(input_shape)}")
        time = input_shape[1]
        # Reflection padding by `rad` needs at least rad + 1 steps.
        if time is not None and self.rad > 0 and time <= self.rad:
            raise ValueError(
                f"PhaseShuffle: rad={self.rad} needs more than {self.rad} time steps, got {time}")

    def call(self, x, training=None):
        if not training or self.rad == 0:
            return x
        rad = self.rad
        time = ops.shape(x)[1]
        shifts = seeds.randint(  # its own shifts on each tf.distribute replica
            (ops.shape(x)[0], 1, 1), -rad, rad + 1, self.seed_generator)
        padded = ops.pad(x, [[0, 0], [rad, rad], [0, 0]], mode="reflect")
        # y[b, t] = padded[b, t + rad - s_b]: one batched gather. A chain of one `where`
        # per possible shift gives the same y and was 1.4x slower for the whole small
        # WaveGAN step on the CPU (BENCHMARKS.md). The gather's gradient (a segment sum)
        # is deterministic on the CPU, and on GPUs under
        # tf.config.experimental.enable_op_determinism().
        index = tf.range(time)[None, :] + rad - shifts[:, :, 0]
        return tf.gather(padded, index, axis=1, batch_dims=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rad": self.rad, "seed": self.seed})
        return config
