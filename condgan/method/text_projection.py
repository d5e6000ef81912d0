"""Technique 2 of the method: dropout on the layer that produces the text embedding.

`TextProjection` is Dense -> LeakyReLU(0.2) -> Dropout over a caption embedding.
It is the discriminator's caption path, and the generator's conditioner when
conditioning augmentation is off (with it on, `CondAugment` carries the same
dropout on its input). `model.text_dropout` sets the rate in G and D alike.

`normalize_text` (`model.text_norm`) scales the caption embedding before the first
layer that reads it, in G and D.

Every layer is registered under the "condgan" package, so models holding them
round-trip through `model.to_json()` and `.keras` files.
"""

from __future__ import annotations

import keras
import numpy as np

from condgan import seeds
from condgan.seeds import check_seed

# How caption embeddings are scaled before the first layer that reads them.
TEXT_NORMS = ("none", "rms")


def check_text_layer(owner: str, dim, dropout, seed) -> None:
    """Refuses a text layer's width, dropout rate or seed (ValueError naming `owner`)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{owner}: dim must be an integer >= 1, got {dim!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{owner}: dropout must be in [0, 1), got {dropout!r}")
    check_seed(owner, seed)


def normalize_text(text, mode: str, text_dim: int):
    """`model.text_norm`: "none" passes the caption embedding on; "rms" scales it to unit RMS.

    The text encoder's embeddings are unit-norm (512-d USE: components of about
    0.044), so at the generator's input the caption was about 20x weaker than
    z ~ N(0, 1); "rms" multiplies by sqrt(text_dim) / |t|.

    Args:
      text: a Keras tensor float32[batch, text_dim].
      mode: one of `TEXT_NORMS`.
      text_dim: the embedding's width.

    Returns:
      float32[batch, text_dim].
    """
    if mode not in TEXT_NORMS:
        raise ValueError(f"text_norm={mode!r} is unknown; choose one of {TEXT_NORMS}")
    if mode == "none":
        return text
    x = keras.layers.UnitNormalization(name="text_unit_norm")(text)
    return keras.layers.Rescaling(float(np.sqrt(text_dim)), name="text_rms_scale")(x)


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
        check_text_layer("TextProjection", dim, dropout, seed)
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
