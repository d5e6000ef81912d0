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

The spectral family (`model.generator` / `model.discriminator` = "spectral",
issue 8's second base) works on STFT frames instead: the generator emits
log-magnitude and instantaneous-frequency frames that `condgan.spectral`
inverts to a waveform; the discriminator runs 2-D convolutions over the clip's
log-|STFT|. Either discriminator can read the caption by concatenation or by
projection, with or without spectral normalisation, and optionally carries the
contrastive heads of `condgan.contrastive`.

Lengths: 16 * 4**k samples use k stride-4 layers (k = 5 is WaveGAN's 16384;
the small lengths scale the widest layer down so the last hidden layer still
has `model_dim` channels); 16 * 4**k * 2 samples (512 ... 32768) add a last
layer of stride 2. 32768 and 65536 are WaveGAN v2's: one extra layer of stride
2 or 4 and a widest layer of 32 * model_dim.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from condgan import layers, partials, pitch_warp, precision, spectral, squash
from condgan.config import SUPPORTED_LENGTHS, ConfigError, ModelConfig
from condgan.film import FiLM
from condgan.projection import InnerProduct
from condgan.seeds import derive_seed

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
    x = normalize_text(cfg, text)
    if cfg.cond_augment:
        c = layers.CondAugment(
            cfg.cond_dim, cfg.kl_weight, dropout=cfg.text_dropout, seed=seed,
            name="cond_augment")(x)
    else:
        c = layers.TextProjection(
            cfg.cond_dim, dropout=cfg.text_dropout, seed=seed, name="text_projection")(x)
    return keras.Model(text, c, name="conditioner")


def normalize_text(cfg: ModelConfig, text):
    """`model.text_norm`: "none" passes the caption embedding on; "rms" scales it to unit RMS.

    The text encoder's embeddings are unit-norm (512-d USE: components of about
    0.044), so at the generator's input the caption was about 20x weaker than
    z ~ N(0, 1); "rms" multiplies by sqrt(text_dim) / |t|.
    """
    if cfg.text_norm == "none":
        return text
    x = keras.layers.UnitNormalization(name="text_unit_norm")(text)
    return keras.layers.Rescaling(float(np.sqrt(cfg.text_dim)), name="text_rms_scale")(x)


def _generator_inputs(cfg: ModelConfig):
    """The generators' inputs: (z, c, their concatenation, what FiLM reads by
    `cfg.film_input`: c, or [z, c])."""
    z = keras.Input((cfg.latent_dim,), name="z")
    c = keras.Input((cfg.cond_dim,), name="c")
    zc = keras.layers.Concatenate(name="z_c")([z, c])
    return z, c, zc, (zc if cfg.film_input == "zc" else c)


def build_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the generator of `cfg.generator` ("wavegan" or "spectral"), conditioned on `c`.

    Args:
      cfg: the model config.

    Returns:
      keras.Model "generator": [z float32[batch, latent_dim],
      c float32[batch, cond_dim]] -> audio float32[batch, length, 1] in [-1, 1].

    Raises:
      condgan.config.ConfigError: `cfg` is invalid.
    """
    cfg.validate()
    with precision.policy_scope(cfg.precision):
        if cfg.generator == "spectral":
            return build_spectral_generator(cfg)
        if cfg.generator == "spectral2d":
            return build_spectral2d_generator(cfg)
        return build_wavegan_generator(cfg)


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
    cfg.validate()
    strides = layer_strides(cfg.length)
    n = len(strides)
    d = cfg.model_dim
    widest = d * 2 ** (n - 1)

    z, c, zc, film_in = _generator_inputs(cfg)
    x = keras.layers.Dense(_BASE_STEPS * widest, name="z_project")(zc)
    x = keras.layers.Reshape((_BASE_STEPS, widest), name="z_reshape")(x)
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


# Log-magnitude bias of the spectral generator's output at initialisation: quiet noise
# (e^-4 per bin), so the first clips are not saturated by the final tanh.
_SPECTRAL_INITIAL_LOG_MAGNITUDE = -4.0
# Kernel of the spectral generator's convolutions over frames.
_SPECTRAL_KERNEL = 5


def build_spectral_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the spectral generator: STFT frames from (z, c), inverted in the graph.

    Dense(z, c) -> T/4 frames of 8 * model_dim channels -> two rounds of
    nearest-neighbour upsampling by 2 and a kernel-5 convolution over frames,
    then one more convolution (each followed by FiLM of c, or of [z, c] with
    `cfg.film_input="zc"`, when `cfg.film`, and
    leaky ReLU) -> kernel-1 heads for log-magnitude (linear) and IF (tanh,
    zero-initialised: phase-coherent partials at the bin centres) of
    F = stft_frame // 2 + 1 bins [-> with `cfg.pitch_warp`, both shifted in frequency
    per frame by a third kernel-1 head, `condgan.pitch_warp`] ->
    `condgan.spectral.SpectralSynthesis`.
    T = length / stft_hop + stft_frame / stft_hop frames.

    Args:
      cfg: the model config (`length`, `latent_dim`, `cond_dim`, `model_dim`,
        `stft_frame`, `stft_hop`, `film`, `film_input`, `pitch_warp`, `partials`,
        `output_squash` are used).

    Returns:
      keras.Model "generator": [z float32[batch, latent_dim],
      c float32[batch, cond_dim]] -> audio float32[batch, length, 1] in [-1, 1].
    """
    frames = spectral.synthesis_frames(cfg.length, cfg.stft_frame, cfg.stft_hop)
    bins = cfg.stft_frame // 2 + 1
    width = 8 * cfg.model_dim
    z, c, zc, film_in = _generator_inputs(cfg)
    x = keras.layers.Dense(frames // 4 * width, name="z_project")(zc)
    x = keras.layers.Reshape((frames // 4, width), name="z_reshape")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="z_lrelu")(x)
    for i, upsample in enumerate((2, 2, 1)):
        if upsample > 1:
            x = keras.layers.UpSampling1D(upsample, name=f"upsample_{i}")(x)
        x = keras.layers.Conv1D(width, _SPECTRAL_KERNEL, padding="same", name=f"conv_{i}")(x)
        if cfg.film:
            x = FiLM(width, name=f"conv_{i}_film")(x, film_in)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"conv_{i}_lrelu")(x)
    log_magnitude = keras.layers.Conv1D(
        bins, 1, bias_initializer=keras.initializers.Constant(_SPECTRAL_INITIAL_LOG_MAGNITUDE),
        name="log_magnitude", dtype="float32")(x)
    # IF counts from each bin's centre advance: a zero head starts with coherent partials.
    # Both heads and the synthesis compute in float32 under mixed precision (phase is a sum).
    inst_freq = keras.layers.Conv1D(bins, 1, activation="tanh", kernel_initializer="zeros",
                                    name="inst_freq", dtype="float32")(x)
    if cfg.pitch_warp:
        # One shift per frame; a zero head starts as the identity.
        shift = keras.layers.Conv1D(1, 1, kernel_initializer="zeros", name="pitch_shift",
                                    dtype="float32")(x)
        log_magnitude = pitch_warp.PitchWarp(
            cfg.pitch_warp, floor=math.log(spectral.LOG_FLOOR), name="pitch_warp_magnitude")(
            log_magnitude, shift)
        inst_freq = pitch_warp.PitchWarp(cfg.pitch_warp, scale_by_shift=True,
                                         name="pitch_warp_if")(inst_freq, shift)
    audio = _synthesise(cfg, log_magnitude, inst_freq, x)
    return keras.Model([z, c], audio, name="generator")


# Initial bias of the partials' amplitude head: sigmoid(-3) = 0.05, quiet beside the frames.
_PARTIALS_INITIAL_AMPLITUDE_BIAS = -3.0


def _synthesise(cfg: ModelConfig, log_magnitude, inst_freq, frame_features):
    """The spectral frames' waveform, plus `cfg.partials` oscillators whose per-frame
    frequency and amplitude (sigmoids) are kernel-1 heads over `frame_features`
    float[batch, T, channels] (frame t of the controls = frame t of the spectrum)."""
    if not cfg.partials:
        return spectral.SpectralSynthesis(cfg.length, cfg.stft_frame, cfg.stft_hop,
                                          squash=cfg.output_squash,
                                          name="synthesis")(log_magnitude, inst_freq)
    frames = spectral.SpectralSynthesis(cfg.length, cfg.stft_frame, cfg.stft_hop, squash=False,
                                        name="synthesis")(log_magnitude, inst_freq)
    frequency = keras.layers.Conv1D(cfg.partials, 1, activation="sigmoid", dtype="float32",
                                    name="partial_frequency")(frame_features)
    amplitude = keras.layers.Conv1D(
        cfg.partials, 1, activation="sigmoid", dtype="float32", name="partial_amplitude",
        bias_initializer=keras.initializers.Constant(_PARTIALS_INITIAL_AMPLITUDE_BIAS))(
        frame_features)
    tones = partials.PartialSynthesis(cfg.length, name="partials")(frequency, amplitude)
    audio = keras.layers.Add(name="frames_plus_partials", dtype="float32")([frames, tones])
    return squash.Squash(cfg.output_squash, name="squash")(audio)


# (time, frequency) upsampling and channels (x model_dim) of the spectral2d generator's
# layers, after its dense projection to (frames / 4, bins / 16, 4 x model_dim).
_SPECTRAL2D_LAYERS = (((2, 2), 2), ((2, 2), 1), ((1, 2), 1), ((1, 2), 0.5))


def build_spectral2d_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the spectral generator of 2-D convolutions over (frames, bins), GANSynth style.

    The spectral generator's frames come from kernel-1 heads over a 1-D trunk:
    every frame's spectrum is a mix of a fixed set of basis spectra, so a tone
    that glides across bins (a whistle, a siren) needs a new basis mix at every
    frame. Here the map is 2-D from the start and every layer is a 3x3
    convolution over (time, frequency), so a partial that moves one bin per frame
    is a diagonal line the same kernels draw at any pitch:
    Dense(z, c) -> (T/4, F'/16, 4 * model_dim) -> four rounds of nearest-neighbour
    upsampling (time and frequency by 2, twice; then frequency by 2, twice) and a
    3x3 convolution of 2, 1, 1, 0.5 x model_dim channels (each followed by FiLM
    when `cfg.film`, and leaky ReLU) -> the Nyquist bin padded on -> 3x3 heads for
    log-magnitude (linear) and IF (tanh, zero-initialised), as in
    `build_spectral_generator`. F' = stft_frame / 2, F = F' + 1 bins.

    Args:
      cfg: the model config (as `build_spectral_generator`).

    Returns:
      keras.Model "generator": [z, c] -> audio float32[batch, length, 1] in [-1, 1].
    """
    frames = spectral.synthesis_frames(cfg.length, cfg.stft_frame, cfg.stft_hop)
    coarse_bins = cfg.stft_frame // 2 // 16
    z, c, zc, film_in = _generator_inputs(cfg)
    width = 4 * cfg.model_dim
    x = keras.layers.Dense(frames // 4 * coarse_bins * width, name="z_project")(zc)
    x = keras.layers.Reshape((frames // 4, coarse_bins, width), name="z_reshape")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="z_lrelu")(x)
    for i, (upsample, scale) in enumerate(_SPECTRAL2D_LAYERS):
        width = max(1, int(scale * cfg.model_dim))
        x = keras.layers.UpSampling2D(upsample, name=f"upsample_{i}")(x)
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"conv_{i}")(x)
        if cfg.film:
            x = FiLM(width, name=f"conv_{i}_film")(x, film_in)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"conv_{i}_lrelu")(x)
    x = keras.layers.ZeroPadding2D(((0, 0), (0, 1)), name="nyquist_pad")(x)
    bins = cfg.stft_frame // 2 + 1
    log_magnitude = keras.layers.Conv2D(
        1, 3, padding="same", name="log_magnitude", dtype="float32",
        bias_initializer=keras.initializers.Constant(_SPECTRAL_INITIAL_LOG_MAGNITUDE))(x)
    inst_freq = keras.layers.Conv2D(1, 3, padding="same", activation="tanh",
                                    kernel_initializer="zeros", name="inst_freq",
                                    dtype="float32")(x)
    log_magnitude = keras.layers.Reshape((frames, bins), name="log_magnitude_frames")(
        log_magnitude)
    inst_freq = keras.layers.Reshape((frames, bins), name="inst_freq_frames")(inst_freq)
    frame_features = None
    if cfg.partials:  # per-frame features for the partials' heads: the bins folded in
        frame_features = keras.layers.Reshape((frames, -1), name="partials_features")(x)
    audio = _synthesise(cfg, log_magnitude, inst_freq, frame_features)
    return keras.Model([z, c], audio, name="generator")


def build_discriminator(cfg: ModelConfig, seed: int | None = None) -> keras.Model:
    """Builds the text-conditioned discriminator (critic) of `cfg.discriminator`.

    Features phi(x): WaveGAN's strided 1-D convolutions over the waveform
    ("wavegan": leaky ReLU, phase shuffle (radius `cfg.phase_shuffle`) after
    every down-layer but the last and at most the first four, as in WaveGAN,
    down to 16 steps) or 2-D convolutions over the clip's log-|STFT|
    ("spectral": four 3x3 stride-2 layers of 2, 4, 8, 16 x model_dim channels,
    leaky ReLU, global average pooling). The caption t = TextProjection(cond_dim)
    of the (normalised) embedding enters by `cfg.d_conditioning`:
      - "concat": t tiled over the 16 steps, concatenated as channels, mixed by
        a kernel-1 convolution as wide as the last layer, then a dense logit
        (WaveGAN "wavegan" features only);
      - "projection": logit = Dense(1)(phi) + <V t, phi> (Miyato & Koyama 2018).
    With `cfg.spectral_norm` every convolution and dense layer of the critic
    (not the caption's TextProjection) is wrapped in
    `keras.layers.SpectralNormalization`. With `cfg.contrastive_dim` > 0 the
    model also returns the contrastive heads Dense(K)(phi) and Dense(K)(t).

    Args:
      cfg: the model config.
      seed: optional int; seeds the phase-shuffle and dropout streams (each
        layer gets its own seed derived from it).

    Returns:
      keras.Model "discriminator": [audio float32[batch, length, 1],
      text_embedding float32[batch, text_dim]] -> score float32[batch, 1]
      (an unbounded logit / critic value), or [score, audio_vectors
      float32[batch, K], caption_vectors float32[batch, K]] with contrastive heads.

    Raises:
      condgan.config.ConfigError: `cfg` is invalid, or asks for "concat" with
        spectral features.
    """
    cfg.validate()
    if cfg.discriminator == "spectral" and cfg.d_conditioning == "concat":
        raise ConfigError("the spectral discriminator reads the caption by projection: set "
                          "model.d_conditioning=projection")
    with precision.policy_scope(cfg.precision):
        return _discriminator(cfg, seed)


def _discriminator(cfg: ModelConfig, seed: int | None) -> keras.Model:
    """`build_discriminator` under the dtype policy of `cfg.precision`."""

    def layer_seed(index: int) -> int | None:
        # Hashed, not added: neighbouring integer seeds would make streams coincide.
        return None if seed is None else derive_seed(seed, index)

    def sn(layer):
        return keras.layers.SpectralNormalization(layer, name=layer.name + "_sn",
                                                  dtype=layer.dtype_policy) \
            if cfg.spectral_norm else layer

    # The output layers compute in float32 under mixed precision: logits and heads are float32.
    out32 = "float32"

    audio = keras.Input((cfg.length, 1), name="audio")
    text = keras.Input((cfg.text_dim,), name="text_embedding")

    def caption():
        # Built after the feature layers, as in the first version (checkpoint layout).
        return layers.TextProjection(
            cfg.cond_dim, dropout=cfg.text_dropout, seed=layer_seed(0),
            name="text_projection")(normalize_text(cfg, text))

    if cfg.discriminator == "spectral":
        x = spectral.LogMagnitudeSTFT(cfg.stft_frame, cfg.stft_hop, name="log_stft")(audio)
        # log|X| spans about [-9, 4]: centre and scale it near [-1, 2].
        x = keras.layers.Rescaling(0.25, offset=1.0, name="log_stft_scale")(x)
        for i in range(4):
            x = sn(keras.layers.Conv2D(2 * cfg.model_dim * 2 ** i, 3, strides=2, padding="same",
                                       name=f"conv2d_{i}"))(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"conv2d_{i}_lrelu")(x)
        phi = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        t = caption()
    else:
        strides = layer_strides(cfg.length)
        n = len(strides)
        d = cfg.model_dim
        x = audio
        for i, stride in enumerate(strides):
            x = sn(keras.layers.Conv1D(d * 2 ** i, cfg.kernel_len, strides=stride,
                                       padding="same", name=f"downconv_{i}"))(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"downconv_{i}_lrelu")(x)
            if cfg.phase_shuffle > 0 and i < min(n - 1, _MAX_PHASE_SHUFFLES):
                x = layers.PhaseShuffle(
                    cfg.phase_shuffle, seed=layer_seed(i + 1), name=f"phase_shuffle_{i}")(x)
        t = caption()
        if cfg.d_conditioning == "concat":
            tiled = keras.layers.RepeatVector(_BASE_STEPS, name="text_tile")(t)
            x = keras.layers.Concatenate(name="audio_text")([x, tiled])
            x = sn(keras.layers.Conv1D(d * 2 ** (n - 1), 1, name="cond_conv"))(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2, name="cond_conv_lrelu")(x)
        phi = keras.layers.Flatten(name="flatten")(x)
    score = sn(keras.layers.Dense(1, name="output", dtype=out32))(phi)
    if cfg.d_conditioning == "projection":
        v = sn(keras.layers.Dense(phi.shape[-1], use_bias=False, name="caption_embed",
                                  dtype=out32))(t)
        score = keras.layers.Add(name="score", dtype=out32)(
            [score, InnerProduct(name="projection", dtype=out32)(phi, v)])
    outputs = score
    if cfg.contrastive_dim > 0:
        outputs = [score,
                   keras.layers.Dense(cfg.contrastive_dim, name="audio_head", dtype=out32)(phi),
                   keras.layers.Dense(cfg.contrastive_dim, name="caption_head", dtype=out32)(t)]
    return keras.Model([audio, text], outputs, name="discriminator")
