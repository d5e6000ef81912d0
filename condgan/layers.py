"""Keras 3 building blocks of the conditional WaveGAN.

- `TextProjection`: dense + leaky ReLU + dropout over a caption embedding; the
  conditioning path of the discriminator (and of the generator when
  conditioning augmentation is off).
- `PhaseShuffle`: WaveGAN's discriminator regulariser (Donahue et al. 2019,
  section 3.3): randomly shifts feature maps in time so the critic cannot key on
  the generator's periodic upsampling artifacts.
- `CondAugment` (`condgan.cond_augment`) and `EmbeddingReplay`
  (`condgan.embedding_replay`) are re-exported here (plain imports) so that
  every layer of the method can be found in one place, by readers and tools,
  and is registered with Keras once `condgan.layers` is imported.

Every layer is registered under the "condgan" package, so models holding them
round-trip through `model.to_json()` and `.keras` files.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from condgan import seeds

# Re-exported so that every layer of the method is found (and registered with
# Keras) here; neither module imports this one, so there is no cycle.
from condgan.cond_augment import CondAugment
from condgan.embedding_replay import EmbeddingReplay
from condgan.seeds import check_seed

__all__ = ["CondAugment", "EmbeddingReplay", "PhaseShuffle", "TextProjection"]




@keras.saving.register_keras_serializable(package="condgan")
class TextProjection(keras.layers.Layer):
    """Projects a caption embedding to a conditioning vector.

    Dense(dim) -> LeakyReLU(0.2) -> Dropout(dropout). The dropout is active only
    in training; it is one of the method's anti-collapse switches (it keeps the
    networks from memorising the exact embedding of each caption).

    Args:
      dim: output width.
      dropout: dropout rate in [0, 1); 0 disables it.
      seed: optional int seed of the dropout mask stream.

    Call args:
      text_embedding: float32[batch, text_dim].
      training: bool; dropout applies only when true.

    Returns:
      float32[batch, dim].

    Raises:
      ValueError: `dim`, `dropout` or `seed` is out of range, or the input is
        not rank 2.
    """

    def __init__(self, dim: int, dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"TextProjection: dim must be an integer >= 1, got {dim!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TextProjection: dropout must be in [0, 1), got {dropout!r}")
        check_seed("TextProjection", seed)
        self.dim = dim
        self.dropout = float(dropout)
        self.seed = seed
        self.dense = keras.layers.Dense(self.dim, name="dense")
        self.activation = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky_relu")
        # The dropout mask's stream (what keras.layers.Dropout(dropout, seed) held), drawn
        # through condgan.seeds so that each tf.distribute replica has its own masks.
        if self.dropout > 0:
            self.dropout_seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"TextProjection: text_embedding must have shape [batch, text_dim], "
                f"got {tuple(input_shape)}")
        self.dense.build(input_shape)

    def call(self, text_embedding, training=None):
        x = self.activation(self.dense(text_embedding))
        if not training or self.dropout == 0:
            return x
        return seeds.dropout(x, self.dropout, self.dropout_seed_generator)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "dropout": self.dropout, "seed": self.seed})
        return config


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
