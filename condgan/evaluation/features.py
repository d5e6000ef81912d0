"""Log-mel features for scoring, and spectrogram images for summaries.

(The labelled pictures, grids included, are drawn by `condgan.evaluation.plots`.)

The scoring features are WaveGAN's (chrisdonahue/wavegan, eval/similarity/feats.py):
a Hann-windowed STFT with frame 2048 and hop 128 at 16 kHz, zero-padded at the
end so a clip of L samples gives ceil(L / hop) frames; the *magnitude* (not the
power) spectrum; 128 HTK-mel bands from 40 to 7800 Hz
(`tf.signal.linear_to_mel_weight_matrix`); then log(x + 1e-6).

At other rates the frame and hop keep the same duration in seconds
(1024 / 64 at 8 kHz) and the FFT length is the next power of two at or above the
frame; the upper mel edge becomes min(7800, 0.4875 * rate) so it stays below
Nyquist by the same margin as at 16 kHz. A 16384-sample clip at 16 kHz gives a
float32[128, 128] feature map, the input of WaveGAN's scoring classifier.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

REFERENCE_RATE = 16000
REFERENCE_FRAME_LENGTH = 2048
REFERENCE_HOP_LENGTH = 128
NUM_MEL_BINS = 128
LOWER_EDGE_HERTZ = 40.0
UPPER_EDGE_HERTZ = 7800.0
# 7800 / 16000: the upper mel edge as a share of the sample rate at other rates.
UPPER_EDGE_RATIO = UPPER_EDGE_HERTZ / REFERENCE_RATE
LOG_OFFSET = 1e-6

# Spectrogram images: the floor sits this far below the loudest bin.
DEFAULT_DYNAMIC_RANGE_DB = 80.0


def stft_params(sample_rate: int) -> tuple[int, int, int]:
    """STFT frame, hop and FFT length at `sample_rate` (WaveGAN's 2048 / 128 at 16 kHz).

    Args:
      sample_rate: Hz, a positive int.

    Returns:
      (frame_length, hop_length, fft_length): frame and hop keep their duration in
      seconds; fft_length is the smallest power of two >= frame_length.

    Raises:
      ValueError: if `sample_rate` is not a positive int or too low for a hop of
        one sample and a mel range above 40 Hz.
    """
    _check_rate(sample_rate)
    frame_length = int(round(REFERENCE_FRAME_LENGTH * sample_rate / REFERENCE_RATE))
    hop_length = int(round(REFERENCE_HOP_LENGTH * sample_rate / REFERENCE_RATE))
    fft_length = 1 << (frame_length - 1).bit_length()
    return frame_length, hop_length, fft_length


def mel_edges(sample_rate: int) -> tuple[float, float]:
    """(lower, upper) mel edges in Hz: 40 and min(7800, 0.4875 * sample_rate)."""
    _check_rate(sample_rate)
    return LOWER_EDGE_HERTZ, min(UPPER_EDGE_HERTZ, UPPER_EDGE_RATIO * sample_rate)


def num_frames(length: int, sample_rate: int) -> int:
    """Frames `log_mel` gives for a clip of `length` samples: ceil(length / hop)."""
    _, hop_length, _ = stft_params(sample_rate)
    if length < 1:
        raise ValueError(f"length must be >= 1 sample, got {length}")
    return -(-length // hop_length)


def log_mel(audio, sample_rate: int) -> tf.Tensor:
    """WaveGAN's scoring features: log of the magnitude mel spectrogram.

    Works eagerly and inside `tf.function`; the batch and length may be dynamic.

    Args:
      audio: float32[batch, length] or float32[batch, length, 1] waveform in
        [-1, 1] (a tensor or array; float64 is cast).
      sample_rate: Hz of `audio`, a Python int.

    Returns:
      float32[batch, frames, 128] with frames = ceil(length / hop); log(mel + 1e-6)
      of the STFT magnitude (natural log).

    Raises:
      ValueError: if `audio` is not floating point, has the wrong rank or
        channels, is empty, or `sample_rate` is unusable.
    """
    frame_length, hop_length, fft_length = stft_params(sample_rate)
    lower, upper = mel_edges(sample_rate)
    audio = _as_batch(audio, "audio")
    stft = tf.signal.stft(audio, frame_length, hop_length, fft_length=fft_length,
                          window_fn=tf.signal.hann_window, pad_end=True)
    weights = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=NUM_MEL_BINS, num_spectrogram_bins=fft_length // 2 + 1,
        sample_rate=sample_rate, lower_edge_hertz=lower, upper_edge_hertz=upper,
        dtype=tf.float32)
    mel = tf.tensordot(tf.abs(stft), weights, axes=1)
    mel.set_shape(stft.shape[:-1].concatenate([NUM_MEL_BINS]))
    return tf.math.log(mel + LOG_OFFSET)


def spectrogram_images(audio, sample_rate: int, shared_scale: bool = False,
                       dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> tf.Tensor:
    """Log-mel spectrograms as 8-bit grey images, low frequencies at the bottom.

    Each pixel maps log-mel linearly from [ref - range, ref] to [0, 255] (clipped),
    where ref is the loudest bin of the clip (or of the whole batch when
    `shared_scale`) and range is `dynamic_range_db` of magnitude. ref never
    goes below the silence floor log(1e-6) + range, so a silent clip is black
    instead of being stretched into noise.

    Args:
      audio: float32[batch, length] or float32[batch, length, 1].
      sample_rate: Hz of `audio`.
      shared_scale: one ref for the whole batch, so clips compare by loudness
        (use for grids); otherwise each clip uses its own ref (summaries).
      dynamic_range_db: > 0, dB of magnitude shown between black and white.

    Returns:
      uint8[batch, 128, frames] tensor; add a channel axis for `tf.summary.image`.

    Raises:
      ValueError: as `log_mel`, or if `dynamic_range_db` <= 0.
    """
    if not dynamic_range_db > 0:
        raise ValueError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
    features = log_mel(audio, sample_rate)
    # 20 * log10(x) dB == (20 / ln 10) * ln(x): convert the range to natural-log units.
    span = float(dynamic_range_db) * math.log(10.0) / 20.0
    axes = None if shared_scale else [1, 2]
    ref = tf.reduce_max(features, axis=axes, keepdims=True)
    ref = tf.maximum(ref, math.log(LOG_OFFSET) + span)
    scaled = tf.clip_by_value((features - (ref - span)) / span, 0.0, 1.0)
    pixels = tf.cast(tf.round(scaled * 255.0), tf.uint8)
    # [batch, frames, mels] -> [batch, mels, frames], highest mel band in row 0.
    return tf.reverse(tf.transpose(pixels, [0, 2, 1]), axis=[1])


def spectrogram_image(audio, sample_rate: int,
                      dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> tf.Tensor:
    """One clip's log-mel spectrogram as an 8-bit image (see `spectrogram_images`).

    Args:
      audio: float32[length] or float32[length, 1].
      sample_rate: Hz of `audio`.
      dynamic_range_db: > 0, dB of magnitude shown between black and white.

    Returns:
      uint8[128, frames] tensor, low frequencies at the bottom.

    Raises:
      ValueError: if `audio` is not one mono clip, or as `spectrogram_images`.
    """
    audio = tf.convert_to_tensor(audio)
    rank = audio.shape.rank
    if rank not in (1, 2) or (rank == 2 and audio.shape[-1] != 1):
        raise ValueError(
            f"audio must be one clip, float32[length] or [length, 1]; got shape {audio.shape}")
    return spectrogram_images(audio[tf.newaxis], sample_rate,
                              dynamic_range_db=dynamic_range_db)[0]


def _check_rate(sample_rate) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ValueError(f"sample_rate must be an int (Hz), got {sample_rate!r}")
    # Below ~1 kHz the hop rounds to zero samples and the mel range collapses.
    if sample_rate < 1000:
        raise ValueError(f"sample_rate must be >= 1000 Hz, got {sample_rate}")


def _as_batch(audio, name: str) -> tf.Tensor:
    """float[batch, length] or float[batch, length, 1] -> float32[batch, length]."""
    audio = tf.convert_to_tensor(audio)
    if not audio.dtype.is_floating:
        raise ValueError(f"{name} must be a float waveform in [-1, 1], got dtype {audio.dtype.name} "
                         "(convert integer PCM first)")
    audio = tf.cast(audio, tf.float32)
    shape = audio.shape
    if shape.rank == 3:
        if shape[-1] != 1:
            raise ValueError(f"{name} must be mono, float32[batch, length, 1]; got shape {shape}")
        audio = audio[:, :, 0]
    elif shape.rank != 2:
        raise ValueError(f"{name} must be float32[batch, length] or [batch, length, 1]; "
                         f"got shape {shape}")
    if audio.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {shape}")
    return audio
