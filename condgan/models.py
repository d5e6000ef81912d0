"""The conditional WaveGAN: conditioner, generator and discriminator.

Functional Keras models built from a `condgan.config.ModelConfig`, following
chrisdonahue/wavegan `wavegan.py` (Donahue et al. 2019, "Adversarial Audio
Synthesis") without batch norm (the critic is trained with WGAN-GP):

- generator: Dense -> reshape to 16 steps -> ReLU, then transposed 1-D
  convolutions (kernel `kernel_len`, stride 4) that halve the channels while
  multiplying the time steps by 4, ending in 1 channel with tanh.
- discriminator: the mirror image, strided 1-D convolutions with leaky ReLU and
  phase shuffle, down to 16 steps; then the caption's projection is tiled over
  those steps and mixed in by a kernel-1 convolution before the final logit.

Lengths: 16 * 4**k samples use k stride-4 layers (k = 5 is WaveGAN's 16384;
the small lengths scale the widest layer down so the last hidden layer still
has `model_dim` channels); 16 * 4**k * 2 samples (512 ... 32768) add a last
layer of stride 2. 32768 and 65536 are WaveGAN v2's: one extra layer of stride
2 or 4 and a widest layer of 32 * model_dim.
"""

from __future__ import annotations

import keras
import numpy as np

from condgan import layers
from condgan.config import ModelConfig, SUPPORTED_LENGTHS

# Time steps at the narrow end of both networks, as in WaveGAN.
_BASE_STEPS = 16
# WaveGAN applies phase shuffle after its first four discriminator layers only.
_MAX_PHASE_SHUFFLES = 4


def layer_strides(length: int) -> tuple[int, ...]:
    """Strides of the generator's up-layers (= the discriminator's down-layers).

    Args:
      length: output length in samples, one of `config.SUPPORTED_LENGTHS`.

    Returns:
      One stride per layer, ordered from the 16-step end to the audio end for
      the generator. Their product times 16 is `length`.

    Raises:
      ValueError: `length` is not supported.
    """
    if length not in SUPPORTED_LENGTHS:
        raise ValueError(f"length={length} is not supported; choose one of {SUPPORTED_LENGTHS}")
    strides = []
    steps = _BASE_STEPS
    while steps * 4 <= length:
        strides.append(4)
        steps *= 4
    if steps < length:  # 16 * 4**k * 2: a last layer of stride 2 (WaveGAN v2's 32768)
        strides.append(2)
    return tuple(strides)


def build_conditioner(cfg: ModelConfig, seed: int | None = None) -> keras.Model:
    """Builds the generator's conditioning network.

    With `cfg.cond_augment` it is conditioning augmentation (StackGAN): a
    Gaussian around a learned mean, sampled in training with a KL penalty added
    as a layer loss, and the mean at inference. Otherwise it is a deterministic
    `TextProjection` and adds no loss.

    Args:
      cfg: the model config.
      seed: optional int seed of the sampling / dropout streams.

    Returns:
      keras.Model "conditioner": text_embedding float32[batch, text_dim]
      -> c float32[batch, cond_dim].

    Raises:
      condgan.config.ConfigError: `cfg` is invalid.
    """
    cfg.validate()
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    if cfg.cond_augment:
        c = layers.CondAugment(
            cfg.cond_dim, cfg.kl_weight, dropout=cfg.text_dropout, seed=seed,
            name="cond_augment")(text)
    else:
        c = layers.TextProjection(
            cfg.cond_dim, dropout=cfg.text_dropout, seed=seed, name="text_projection")(text)
    return keras.Model(text, c, name="conditioner")


def build_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the WaveGAN generator conditioned on `c`.

    Args:
      cfg: the model config (`length`, `latent_dim`, `cond_dim`, `model_dim`,
        `kernel_len` are used).

    Returns:
      keras.Model "generator": [z float32[batch, latent_dim],
      c float32[batch, cond_dim]] -> audio float32[batch, length, 1] in [-1, 1].

    Raises:
      condgan.config.ConfigError: `cfg` is invalid.
    """
    cfg.validate()
    strides = layer_strides(cfg.length)
    n = len(strides)
    d = cfg.model_dim
    widest = d * 2 ** (n - 1)

    z = keras.Input((cfg.latent_dim,), name="z")
    c = keras.Input((cfg.cond_dim,), name="c")
    x = keras.layers.Concatenate(name="z_c")([z, c])
    x = keras.layers.Dense(_BASE_STEPS * widest, name="z_project")(x)
    x = keras.layers.Reshape((_BASE_STEPS, widest), name="z_reshape")(x)
    x = keras.layers.ReLU(name="z_relu")(x)
    for i, stride in enumerate(strides):
        last = i == n - 1
        x = keras.layers.Conv1DTranspose(
            1 if last else d * 2 ** (n - 2 - i), cfg.kernel_len, strides=stride, padding="same",
            activation="tanh" if last else "relu", name=f"upconv_{i}")(x)
    return keras.Model([z, c], x, name="generator")


def build_discriminator(cfg: ModelConfig, seed: int | None = None) -> keras.Model:
    """Builds the text-conditioned WaveGAN discriminator (critic).

    Phase shuffle (radius `cfg.phase_shuffle`) follows every down-layer but the
    last, and at most the first four, as in WaveGAN (whose v2 lengths shuffle
    neither the 16 * model_dim layer nor the extra one). The caption enters
    after the last down-layer: `TextProjection(cond_dim)` tiled over its 16
    steps, concatenated as channels and mixed by a kernel-1 convolution as wide
    as that layer (16 * model_dim at 16384, 32 * model_dim at the v2 lengths).

    Args:
      cfg: the model config (`length`, `text_dim`, `cond_dim`, `model_dim`,
        `kernel_len`, `phase_shuffle`, `text_dropout` are used).
      seed: optional int; seeds the phase-shuffle and dropout streams (each
        layer gets its own seed derived from it).

    Returns:
      keras.Model "discriminator": [audio float32[batch, length, 1],
      text_embedding float32[batch, text_dim]] -> score float32[batch, 1]
      (an unbounded logit / critic value).

    Raises:
      condgan.config.ConfigError: `cfg` is invalid.
    """
    cfg.validate()
    strides = layer_strides(cfg.length)
    n = len(strides)
    d = cfg.model_dim

    def layer_seed(index: int) -> int | None:
        # Hash (seed, index) rather than add: callers seed other models with seed + 1 etc.,
        # and neighbouring integer seeds would make their streams coincide with ours.
        if seed is None:
            return None
        return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)

    audio = keras.Input((cfg.length, 1), name="audio")
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    x = audio
    for i, stride in enumerate(strides):
        x = keras.layers.Conv1D(
            d * 2 ** i, cfg.kernel_len, strides=stride, padding="same", name=f"downconv_{i}")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"downconv_{i}_lrelu")(x)
        if cfg.phase_shuffle > 0 and i < min(n - 1, _MAX_PHASE_SHUFFLES):
            x = layers.PhaseShuffle(
                cfg.phase_shuffle, seed=layer_seed(i + 1), name=f"phase_shuffle_{i}")(x)

    t = layers.TextProjection(
        cfg.cond_dim, dropout=cfg.text_dropout, seed=layer_seed(0), name="text_projection")(text)
    t = keras.layers.RepeatVector(_BASE_STEPS, name="text_tile")(t)
    x = keras.layers.Concatenate(name="audio_text")([x, t])
    x = keras.layers.Conv1D(d * 2 ** (n - 1), 1, name="cond_conv")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="cond_conv_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    score = keras.layers.Dense(1, name="output")(x)
    return keras.Model([audio, text], score, name="discriminator")
