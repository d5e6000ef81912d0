"""FiLM: the condition scales and shifts every channel of a generator layer.

Feature-wise linear modulation (Perez et al. 2018): y = x * (1 + gamma(c)) +
beta(c), with gamma and beta one dense layer of c each. The WaveGAN generator
sees the caption only at its input, where z and c are concatenated; with FiLM
every up-layer hears it again. The dense layer starts at zero, so at
initialisation FiLM is the identity and the network starts as it would
without it.
"""

from __future__ import annotations

import keras
from keras import ops

from condgan.config import ModelConfig


@keras.saving.register_keras_serializable(package="condgan")
class FiLM(keras.layers.Layer):
    """y = x * (1 + gamma(c)) + beta(c), per channel.

    Args:
      channels: channels of x (the last axis).

    Call args:
      x: float[batch, ..., channels].
      c: float[batch, cond_dim].

    Returns:
      float[batch, ..., channels], x's shape.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"FiLM: channels must be an integer >= 1, got {channels!r}")
        self.channels = channels
        self.dense = keras.layers.Dense(2 * channels, kernel_initializer="zeros", name="dense")

    def build(self, x_shape, c_shape):
        if x_shape[-1] != self.channels:
            raise ValueError(f"FiLM: x has {x_shape[-1]} channels, expected {self.channels}")
        self.dense.build(c_shape)

    def call(self, x, c):
        gamma_beta = self.dense(c)
        shape = [-1] + [1] * (len(x.shape) - 2) + [self.channels]
        gamma = ops.reshape(gamma_beta[:, :self.channels], shape)
        beta = ops.reshape(gamma_beta[:, self.channels:], shape)
        return x * (1.0 + gamma) + beta

    def compute_output_shape(self, x_shape, c_shape):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def generator_inputs(cfg: ModelConfig):
    """The generators' inputs: (z, c, their concatenation, what FiLM reads by
    `cfg.film_input`: c, or [z, c])."""
    z = keras.Input((cfg.latent_dim,), name="z")
    c = keras.Input((cfg.cond_dim,), name="c")
    zc = keras.layers.Concatenate(name="z_c")([z, c])
    return z, c, zc, (zc if cfg.film_input == "zc" else c)
