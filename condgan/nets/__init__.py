"""The networks the method sits on: two bases, and the parts they share.

- `wavegan`: the first base, WaveGAN's transposed 1-D convolutions (G) and strided
  1-D convolutions with phase shuffle (D's features).
- `spectral`: the second base, a generator of log-magnitude and instantaneous-
  frequency frames inverted in the graph, and a critic of 2-D convolutions over
  the log-|STFT|.
- `discriminator`: the critic's caption path (concatenation or projection), its
  score, spectral normalisation and the contrastive heads, over either base's features.
- `film`, `projection`, `phase_shuffle`: layers.

`build_generator` and `build_discriminator` pick the base from a validated
`condgan.config.ModelConfig` and build it under `model.precision`.
"""

from __future__ import annotations

import keras

from condgan import precision
from condgan.config import ModelConfig
from condgan.nets.discriminator import discriminator
from condgan.nets.spectral import build_spectral_generator
from condgan.nets.wavegan import build_wavegan_generator


def build_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the generator of `cfg.generator` ("wavegan" or "spectral").

    Args:
      cfg: a validated model config.

    Returns:
      keras.Model "generator": [z float32[batch, latent_dim],
      c float32[batch, cond_dim]] -> audio float32[batch, length, 1] in [-1, 1].
    """
    with precision.policy_scope(cfg.precision):
        if cfg.generator == "spectral":
            return build_spectral_generator(cfg)
        return build_wavegan_generator(cfg)


def build_discriminator(cfg: ModelConfig, seed: int | None = None) -> keras.Model:
    """Builds the critic of `cfg` under `cfg.precision` (`condgan.nets.discriminator`)."""
    with precision.policy_scope(cfg.precision):
        return discriminator(cfg, seed)
