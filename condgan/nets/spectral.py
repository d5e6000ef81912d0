"""Spectral representations inside the graph: what the spectral G emits and the spectral D sees.

Raw-waveform transposed convolutions struggle to make narrowband sounds (tones,
sweeps, sirens): a 10,000-step WaveGAN run on the procedural set made none
(issue 8). GANSynth (Engel et al. 2019) showed that a generator of
log-magnitude and instantaneous frequency (IF) frames, inverted to audio,
fixes phase coherence; multi-resolution STFT discriminators (MelGAN, HiFi-GAN,
UnivNet) learn fast because a tone is one bright line in a spectrogram. Two
Keras layers carry that here:

- `LogMagnitudeSTFT`: audio float32[B, L, 1] -> log |STFT| float32[B, T, F, 1]
  (Hann window, no padding: T = 1 + (L - frame) // hop, F = frame // 2 + 1).
- `LogMelSTFT`: the same |STFT| on M mel bands, log(|STFT| @ W + 1e-4) float32[B, T, M, 1]
  (`mel_weights`; the critic's input with `model.d_frequency_scale="mel"`, issue 19: the
  mel axis is nearly logarithmic above 700 Hz, where an exponential glide is a straight line
  and a pitch change is a shift; an octave from 1 or 1.5 kHz spans 17 or 19 of 64 bands at
  8 kHz, 32 or 48 linear bins of a 256 frame).
- `SpectralSynthesis`: (log-magnitude, IF) frames float32[B, T, F] each ->
  audio float32[B, L, 1]. IF in [-1, 1] is the phase advance per hop over pi
  (GANSynth's representation), counted from the advance of the bin's own centre
  frequency, 2 pi f hop / frame (the phase-vocoder convention): the phase of
  bin f at frame t is sum_{t' <= t} (pi IF[t', f] + 2 pi f hop / frame). So an
  IF of 0 everywhere is a set of phase-coherent sinusoids at the bin centres,
  and a generator whose IF head starts at zero makes clean partials from its
  first step; with the plain convention it had to learn each bin's alternating
  advance (0, pi/2, pi, 3 pi/2 at hop = frame / 4) through a tanh first (on the
  procedural set: conditional accuracy 0.26 vs 0.14 after 500 steps, issue 8
  notes). The complex frames are inverted with
  `tf.signal.inverse_stft` and its dual window, and the `L` samples that every
  frame overlaps fully are kept: the generator makes T = L / hop + frame / hop
  frames. The waveform is squashed by tanh, so the export's contract (audio in
  [-1, 1]) holds.

Both are differentiable, so the export still maps captions to waveforms.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from condgan.config import D_MEL_LOWER_HERTZ, ModelConfig
from condgan.nets.film import FiLM, generator_inputs

# log(|X| + LOG_FLOOR): -9.2 for silence, about +4 for a loud tone at frame 256.
LOG_FLOOR = 1e-4
# exp() of larger log-magnitudes would only saturate the tanh.
MAX_LOG_MAGNITUDE = 6.0


def _check_frame_hop(layer: str, frame: int, hop: int) -> None:
    for name, value in (("frame", frame), ("hop", hop)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{layer}: {name} must be an integer >= 1, got {value!r}")
    if frame % hop:
        raise ValueError(f"{layer}: frame ({frame}) must be a multiple of hop ({hop})")


def synthesis_frames(length: int, frame: int, hop: int) -> int:
    """Frames `SpectralSynthesis` needs for `length` samples: length / hop + frame / hop.

    Raises:
      ValueError: `length` is not a multiple of `hop`, or frame is not a multiple of hop.
    """
    _check_frame_hop("synthesis_frames", frame, hop)
    if length % hop:
        raise ValueError(f"length ({length}) must be a multiple of hop ({hop})")
    return length // hop + frame // hop


def log_magnitude(audio, frame: int = 256, hop: int = 64, floor: float = LOG_FLOOR) -> tf.Tensor:
    """log(|STFT(audio)| + floor) with a periodic Hann window and no padding, in float32.

    Args:
      audio: float[batch, length] or float[batch, length, 1], length >= frame.
      frame: frame (= FFT) length in samples.
      hop: hop in samples.
      floor: added to the magnitude before the log, > 0.

    Returns:
      float32[batch, 1 + (length - frame) // hop, frame // 2 + 1].
    """
    return tf.math.log(_magnitude(audio, frame, hop) + floor)


def _magnitude(audio, frame: int, hop: int) -> tf.Tensor:
    """|STFT(audio)|, periodic Hann, no padding: float32[batch, frames, frame // 2 + 1]."""
    x = tf.cast(tf.convert_to_tensor(audio), tf.float32)
    if x.shape.rank == 3:
        x = x[..., 0]
    spec = tf.signal.stft(x, frame, hop, frame, window_fn=tf.signal.hann_window, pad_end=False)
    return tf.abs(spec)


def mel_weights(frame: int, sample_rate: float, bands: int,
                lower_hertz: float = D_MEL_LOWER_HERTZ) -> np.ndarray:
    """The STFT-bin -> mel-band matrix of `LogMelSTFT`: float32[frame // 2 + 1, bands].

    `tf.signal.linear_to_mel_weight_matrix`, whose conventions are HTK's:
    mel(f) = 1127 ln(1 + f / 700) (= 2595 log10(1 + f / 700)); `bands + 2` edges equally
    spaced in mel from `lower_hertz` to the Nyquist, sample_rate / 2; band m is the
    triangle, linear in mel, from edge m through edge m + 1 (weight 1 there) to edge
    m + 2, sampled at the bins' frequencies k sample_rate / frame; the DC bin has weight 0
    in every band. The triangles are not area-normalised: a band's weights sum to about
    the spacing of the band centres there, in bins (0.6-1 in the lowest bands, 4.1 in the
    highest at 8 kHz, frame 256, 64 bands), so broadband noise reads louder in the wide high
    bands, and a tone reads its whole Hann main lobe (4 bins) there but one or two bins
    low down. The lowest bands are narrower than a bin: neighbouring bands read the same
    one or two bins with different weights, and a band that falls between two bins reads
    only the floor (none does at 8 kHz with frame 256 and 64 or 80 bands, nor at 16 kHz
    with 64; 2 of 80 do at 16 kHz, and 2-12 with frame 128).

    Raises:
      ValueError: `bands` is not in [1, frame // 2 + 1], or the Nyquist is not above
        `lower_hertz`.
    """
    bins = frame // 2 + 1
    if isinstance(bands, bool) or not isinstance(bands, int) or not 1 <= bands <= bins:
        raise ValueError(f"mel bands must be an integer in [1, frame // 2 + 1 = {bins}], "
                         f"got {bands!r}")
    if not sample_rate / 2 > lower_hertz >= 0:
        raise ValueError(f"the lowest mel band starts at {lower_hertz} Hz: it must be >= 0 and "
                         f"below the Nyquist of sample_rate={sample_rate}")
    # Eager even inside a tf.function (a layer built in a traced function keeps an array).
    with tf.init_scope():
        return tf.signal.linear_to_mel_weight_matrix(
            bands, bins, float(sample_rate), float(lower_hertz), sample_rate / 2.0).numpy()


@keras.saving.register_keras_serializable(package="condgan")
class LogMagnitudeSTFT(keras.layers.Layer):
    """log(|STFT(audio)| + 1e-4) with a periodic Hann window and no padding.

    Args:
      frame: frame (= FFT) length in samples.
      hop: hop in samples.

    Call args:
      audio: float32[batch, length, 1] with length >= frame.

    Returns:
      float32[batch, 1 + (length - frame) // hop, frame // 2 + 1, 1].
    """

    def __init__(self, frame: int = 256, hop: int = 64, **kwargs):
        # tf.signal's FFTs take complex64 / complex128 only: float32 under any policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _check_frame_hop("LogMagnitudeSTFT", frame, hop)
        self.frame, self.hop = frame, hop

    def call(self, audio):
        return log_magnitude(audio, self.frame, self.hop)[..., None]

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        frames = None if length is None else 1 + (length - self.frame) // self.hop
        return (input_shape[0], frames, self.frame // 2 + 1, 1)

    def get_config(self):
        return {**super().get_config(), "frame": self.frame, "hop": self.hop}


@keras.saving.register_keras_serializable(package="condgan")
class LogMelSTFT(keras.layers.Layer):
    """log(|STFT(audio)| @ W + 1e-4): `LogMagnitudeSTFT`'s frames on mel bands.

    W = `mel_weights(frame, sample_rate, bands, lower_hertz)` (HTK mel, triangles of peak
    1 from `lower_hertz` to the Nyquist), a constant: the layer has no weights.

    Args:
      frame: frame (= FFT) length in samples.
      hop: hop in samples.
      sample_rate: the clip's sample rate in Hz (places the bins on the mel axis).
      bands: mel bands M, in [1, frame // 2 + 1].
      lower_hertz: lower edge of the lowest band in Hz.

    Call args:
      audio: float32[batch, length, 1] with length >= frame.

    Returns:
      float32[batch, 1 + (length - frame) // hop, bands, 1], bands from low to high.
    """

    def __init__(self, frame: int = 256, hop: int = 64, sample_rate: float = 16000,
                 bands: int = 64, lower_hertz: float = D_MEL_LOWER_HERTZ, **kwargs):
        # tf.signal's FFTs take complex64 / complex128 only: float32 under any policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _check_frame_hop("LogMelSTFT", frame, hop)
        self.mel_matrix = mel_weights(frame, sample_rate, bands, lower_hertz)
        self.frame, self.hop, self.sample_rate = frame, hop, sample_rate
        self.bands, self.lower_hertz = bands, lower_hertz

    def call(self, audio):
        mel = tf.tensordot(_magnitude(audio, self.frame, self.hop), self.mel_matrix, 1)
        return tf.math.log(mel + LOG_FLOOR)[..., None]

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        frames = None if length is None else 1 + (length - self.frame) // self.hop
        return (input_shape[0], frames, self.bands, 1)

    def get_config(self):
        return {**super().get_config(), "frame": self.frame, "hop": self.hop,
                "sample_rate": self.sample_rate, "bands": self.bands,
                "lower_hertz": self.lower_hertz}


@keras.saving.register_keras_serializable(package="condgan")
class SpectralSynthesis(keras.layers.Layer):
    """(log-magnitude, instantaneous frequency) frames -> waveform in [-1, 1].

    Args:
      length: output samples L, a multiple of `hop`.
      frame: frame (= FFT) length; a multiple of `hop`.
      hop: hop in samples.

    Call args:
      log_magnitude: float[batch, T, frame // 2 + 1], T = `synthesis_frames(L, frame, hop)`;
        natural log of the magnitude (clipped at 6 before exp).
      inst_freq: float[batch, T, frame // 2 + 1] in [-1, 1]: phase advance per hop / pi,
        minus the advance of the bin's centre frequency.

    Returns:
      float32[batch, length, 1].
    """

    def __init__(self, length: int, frame: int = 256, hop: int = 64, **kwargs):
        # float32 under any policy: the inverse FFT is complex64, the phase a long cumsum.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _check_frame_hop("SpectralSynthesis", frame, hop)
        self.frames = synthesis_frames(length, frame, hop)
        self.length, self.frame, self.hop = length, frame, hop

    def call(self, log_magnitude, inst_freq):
        log_magnitude = tf.cast(log_magnitude, tf.float32)
        inst_freq = tf.cast(inst_freq, tf.float32)
        magnitude = tf.exp(tf.minimum(log_magnitude, MAX_LOG_MAGNITUDE))
        advance = math.pi * inst_freq + centre_advance(self.frame, self.hop)
        phase = tf.cumsum(advance, axis=1)
        spec = tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))
        audio = tf.signal.inverse_stft(
            spec, self.frame, self.hop, self.frame,
            window_fn=tf.signal.inverse_stft_window_fn(self.hop, tf.signal.hann_window))
        # The first frame - hop samples are covered by fewer than frame / hop frames.
        start = self.frame - self.hop
        audio = audio[:, start:start + self.length][..., None]
        return tf.tanh(audio)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length, 1)

    def get_config(self):
        return {**super().get_config(), "length": self.length, "frame": self.frame,
                "hop": self.hop}


def centre_advance(frame: int, hop: int) -> np.ndarray:
    """float32[frame // 2 + 1]: the phase advance per hop of each bin's centre frequency,
    2 pi f hop / frame, wrapped to [-pi, pi)."""
    bins = np.arange(frame // 2 + 1)
    return _wrap(2 * np.pi * bins * hop / frame).astype(np.float32)


def _wrap(phase):
    return np.mod(phase + np.pi, 2 * np.pi) - np.pi


def analysis(audio: np.ndarray, frame: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Numpy (log-magnitude, IF) frames of a waveform, the inverse of `SpectralSynthesis`.

    Frames start at -(frame - hop) (zero padding before and after), so that
    `SpectralSynthesis` of the result gives back `audio` (before its tanh).
    Used by the tests and handy for seeing what the generator must emit.

    Args:
      audio: float[L], L a multiple of `hop`.

    Returns:
      (log_magnitude float32[T, F], inst_freq float32[T, F]) with T =
      `synthesis_frames(L, frame, hop)` and F = frame // 2 + 1.
    """
    audio = np.asarray(audio, np.float64)
    frames = synthesis_frames(len(audio), frame, hop)
    pad = frame - hop
    padded = np.concatenate([np.zeros(pad), audio, np.zeros(frames * hop + frame - pad - len(audio))])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)  # periodic Hann
    spec = np.stack([np.fft.rfft(window * padded[t * hop:t * hop + frame]) for t in range(frames)])
    phase = np.angle(spec)
    advance = np.diff(phase, axis=0, prepend=0.0)
    inst_freq = _wrap(advance - centre_advance(frame, hop)) / np.pi
    log_magnitude = np.log(np.maximum(np.abs(spec), 1e-30))
    return log_magnitude.astype(np.float32), inst_freq.astype(np.float32)


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
    F = stft_frame // 2 + 1 bins -> `SpectralSynthesis`.
    T = length / stft_hop + stft_frame / stft_hop frames.

    Args:
      cfg: the model config (`length`, `latent_dim`, `cond_dim`, `model_dim`,
        `stft_frame`, `stft_hop`, `film`, `film_input` are used).

    Returns:
      keras.Model "generator": [z float32[batch, latent_dim],
      c float32[batch, cond_dim]] -> audio float32[batch, length, 1] in [-1, 1].
    """
    frames = synthesis_frames(cfg.length, cfg.stft_frame, cfg.stft_hop)
    bins = cfg.stft_frame // 2 + 1
    width = 8 * cfg.model_dim
    z, c, zc, film_in = generator_inputs(cfg)
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
    audio = SpectralSynthesis(cfg.length, cfg.stft_frame, cfg.stft_hop,
                              name="synthesis")(log_magnitude, inst_freq)
    return keras.Model([z, c], audio, name="generator")


def spectral_features(cfg: ModelConfig, audio, sn):
    """The spectral critic's features: four 3x3 stride-2 convolutions over the clip's
    log-|STFT| (2, 4, 8, 16 x model_dim channels, leaky ReLU), globally average-pooled.

    With `cfg.d_frequency_scale="mel"` the frequency axis is `cfg.d_mel_bands` mel bands of
    the same |STFT| (`LogMelSTFT`, 40 Hz to the Nyquist of `cfg.sample_rate`) in place of
    the stft_frame // 2 + 1 linear bins; the rescaling and convolutions are the same.

    Args:
      cfg: the model config (`model_dim`, `stft_frame`, `stft_hop`, `d_frequency_scale`,
        and with mel `d_mel_bands`, `sample_rate` are used).
      audio: Keras tensor float32[batch, length, 1].
      sn: wraps a layer in spectral normalisation when `cfg.spectral_norm`.

    Returns:
      Keras tensor float[batch, 16 * model_dim].
    """
    if cfg.d_frequency_scale == "mel":
        x = LogMelSTFT(cfg.stft_frame, cfg.stft_hop, cfg.sample_rate, cfg.d_mel_bands,
                       name="log_mel_stft")(audio)
    else:
        x = LogMagnitudeSTFT(cfg.stft_frame, cfg.stft_hop, name="log_stft")(audio)
    # log|X| spans about [-9, 4] (mel bands: up to about +1.6 more in the wide high bands,
    # whose weights sum to 4-5 bins): centre and scale it near [-1, 2].
    x = keras.layers.Rescaling(0.25, offset=1.0, name="log_stft_scale")(x)
    for i in range(4):
        x = sn(keras.layers.Conv2D(2 * cfg.model_dim * 2 ** i, 3, strides=2, padding="same",
                                   name=f"conv2d_{i}"))(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"conv2d_{i}_lrelu")(x)
    return keras.layers.GlobalAveragePooling2D(name="pool")(x)
