"""The generator's conditioner: caption embedding -> c, where techniques 1-3 meet.

With `model.cond_augment` it is conditioning augmentation (technique 1): a
Gaussian around a learned mean, sampled in training with the KL term added as a
layer loss, and the mean at generation. Otherwise it is a deterministic
`TextProjection` and adds no loss. Either way its input carries the method's
dropout (technique 2), and c has `model.cond_dim` dimensions (technique 3: 128
beside a 100-d z; the collapsing baseline uses 256).
"""

from __future__ import annotations

import keras

from condgan.config import ModelConfig
from condgan.method.cond_augment import CondAugment
from condgan.method.text_projection import TextProjection, normalize_text


def build_conditioner(cfg: ModelConfig, seed: int | None = None) -> keras.Model:
    """Builds the conditioner of a validated model config.

    Args:
      cfg: the model config (`text_dim`, `text_norm`, `cond_augment`, `cond_dim`,
        `kl_weight`, `text_dropout` are used).
      seed: optional int seed of the sampling / dropout streams.

    Returns:
      keras.Model "conditioner": text_embedding float32[batch, text_dim]
      -> c float32[batch, cond_dim].
    """
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    x = normalize_text(text, cfg.text_norm, cfg.text_dim)
    if cfg.cond_augment:
        c = CondAugment(cfg.cond_dim, cfg.kl_weight, dropout=cfg.text_dropout, seed=seed,
                        name="cond_augment")(x)
    else:
        c = TextProjection(cfg.cond_dim, dropout=cfg.text_dropout, seed=seed,
                           name="text_projection")(x)
    return keras.Model(text, c, name="conditioner")
