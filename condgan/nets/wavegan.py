"""The WaveGAN base (Donahue et al. 2019, "Adversarial Audio Synthesis"): the first base.

Follows chrisdonahue/wavegan `wavegan.py`, without batch norm (its critic is
trained with WGAN-GP or hinge):

- generator: Dense -> reshape to 16 steps -> ReLU, then transposed 1-D
  convolutions (kernel `kernel_len`, stride 4) that halve the channels while
  multiplying the time steps by 4, ending in 1 channel with tanh.
- critic features: the mirror image, strided 1-D convolutions with leaky ReLU and
  phase shuffle, down to 16 steps (`wavegan_features`); `condgan.nets.discriminator`
  adds the caption and the score.

Lengths: 16 * 4**k samples use k stride-4 layers (k = 5 is WaveGAN's 16384;
the small lengths scale the widest layer down so the last hidden layer still
has `model_dim` channels); 16 * 4**k * 2 samples (512 ... 32768) add a last
layer of stride 2. 32768 and 65536 are WaveGAN v2's: one extra layer of stride
2 or 4 and a widest layer of 32 * model_dim.
"""

from __future__ import annotations

import keras

from condgan.config import SUPPORTED_LENGTHS, ModelConfig
from condgan.nets.film import FiLM, generator_inputs
from condgan.nets.phase_shuffle import PhaseShuffle

# Time steps at the narrow end of both networks, as in WaveGAN.
BASE_STEPS = 16
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
    steps = BASE_STEPS
    while steps * 4 <= length:
        strides.append(4)
        steps *= 4
    if steps < length:  # 16 * 4**k * 2: a last layer of stride 2 (WaveGAN v2's 32768)
        strides.append(2)
    return tuple(strides)


def build_wavegan_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the WaveGAN generator conditioned on `c` (with FiLM after every hidden
    up-layer when `cfg.film`, reading c or [z, c] by `cfg.film_input`).

    Args:
      cfg: the model config (`length`, `latent_dim`, `cond_dim`, `model_dim`,
        `kernel_len` are used).

    Returns:
      keras.Model "generator": [z float32[batch, latent_dim],
      c float32[batch, cond_dim]] -> audio float32[batch, length, 1] in [-1, 1].

    Raises:
      condgan.config.ConfigError: `cfg` is invalid.
    """
    strides = layer_strides(cfg.length)
    n = len(strides)
    d = cfg.model_dim
    widest = d * 2 ** (n - 1)

    z, c, zc, film_in = generator_inputs(cfg)
    x = keras.layers.Dense(BASE_STEPS * widest, name="z_project")(zc)
    x = keras.layers.Reshape((BASE_STEPS, widest), name="z_reshape")(x)
    x = keras.layers.ReLU(name="z_relu")(x)
    for i, stride in enumerate(strides):
        last = i == n - 1
        channels = 1 if last else d * 2 ** (n - 2 - i)
        if cfg.film and not last:
            x = keras.layers.Conv1DTranspose(
                channels, cfg.kernel_len, strides=stride, padding="same", name=f"upconv_{i}")(x)
            x = FiLM(channels, name=f"upconv_{i}_film")(x, film_in)
            x = keras.layers.ReLU(name=f"upconv_{i}_relu")(x)
        else:
            # The last layer computes in float32 (G's audio is float32 under mixed precision).
            x = keras.layers.Conv1DTranspose(
                channels, cfg.kernel_len, strides=stride, padding="same",
                activation="tanh" if last else "relu", name=f"upconv_{i}",
                dtype="float32" if last else None)(x)
    return keras.Model([z, c], x, name="generator")


def wavegan_features(cfg: ModelConfig, audio, sn, layer_seed):
    """The critic's strided 1-D convolutions over the waveform, down to 16 steps.

    Leaky ReLU after every layer, and phase shuffle (radius `cfg.phase_shuffle`)
    after every layer but the last and at most the first four, as in WaveGAN.

    Args:
      cfg: the model config.
      audio: Keras tensor float32[batch, length, 1].
      sn: wraps a layer in spectral normalisation when `cfg.spectral_norm`.
      layer_seed: int -> the seed of the layer of that index (None: unseeded).

    Returns:
      Keras tensor float[batch, 16, model_dim * 2**(n - 1)].
    """
    strides = layer_strides(cfg.length)
    n = len(strides)
    x = audio
    for i, stride in enumerate(strides):
        x = sn(keras.layers.Conv1D(cfg.model_dim * 2 ** i, cfg.kernel_len, strides=stride,
                                   padding="same", name=f"downconv_{i}"))(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"downconv_{i}_lrelu")(x)
        if cfg.phase_shuffle > 0 and i < min(n - 1, _MAX_PHASE_SHUFFLES):
            x = PhaseShuffle(cfg.phase_shuffle, seed=layer_seed(i + 1),
                             name=f"phase_shuffle_{i}")(x)
    return x
