"""Sinusoidal partials for the spectral generator: tones that glide are oscillators.

The spectral generator draws each frame's spectrum with a kernel-1 head over its
bins, so a tone is a bin and a tone that glides is a different bin at every
frame, with the phase relation of a Hann-windowed sinusoid between neighbouring
bins to keep. On the procedural set it never made a whistle or a siren, and in
one run's grid its beeps and whistles all sat in one band near 2 kHz, where the
data's lie at 0.4-2 kHz (issue 8, docs/second-base.md, fifth search).
Additive synthesis (the harmonic part of DDSP, Engel et al. 2020) makes the
pitch a number instead: the generator emits, per frame, K frequencies and
amplitudes, and `PartialSynthesis` renders K oscillators

    audio[n] = sum_k a_k[n] sin(phase_k[n]),  phase_k[n] = sum_{m <= n} 2 pi f_k[m] / sr

with the frame-rate controls linearly interpolated to the sample rate. A whistle
is one frequency control that ramps; a siren one that oscillates; a bell a few
fixed ones. The spectral frames (log-magnitude + IF) stay for what is not a
partial: noise, clicks, thumps. `model.partials` = K switches it on.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

# The frequency of a control of 1, as a fraction of the sample rate: the procedural
# set's ceiling (data_prep.synth_sfx.MAX_FREQ_FRACTION).
MAX_FREQUENCY = 0.45


@keras.saving.register_keras_serializable(package="condgan")
class PartialSynthesis(keras.layers.Layer):
    """Frame-rate (frequency, amplitude) controls of K partials -> their summed waveform.

    Args:
      length: output samples L.
      max_frequency: the frequency of a control of 1, as a fraction of the sample rate
        (< 0.5).

    Call args:
      frequency: float[batch, T, K] in [0, 1]: frequency / (max_frequency x sample rate).
      amplitude: float[batch, T, K] >= 0: each oscillator's peak amplitude.

    Returns:
      float32[batch, length, 1]: not squashed (the generator adds the spectral frames'
      waveform first). Frame t's controls sit at sample t (L - 1) / (T - 1); between
      frames they are interpolated linearly. Every phase starts at 0.
    """

    def __init__(self, length: int, max_frequency: float = MAX_FREQUENCY, **kwargs):
        kwargs.setdefault("dtype", "float32")  # a phase summed over L samples
        super().__init__(**kwargs)
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"PartialSynthesis: length must be an integer >= 2, got {length!r}")
        if not 0.0 < max_frequency < 0.5:
            raise ValueError("PartialSynthesis: max_frequency must be in (0, 0.5) (a fraction of "
                             f"the sample rate, below Nyquist), got {max_frequency!r}")
        self.length = length
        self.max_frequency = float(max_frequency)

    def call(self, frequency, amplitude):
        frequency = tf.cast(frequency, tf.float32)
        amplitude = tf.cast(amplitude, tf.float32)
        f = upsample_linear(frequency, self.length) * self.max_frequency  # cycles per sample
        a = upsample_linear(amplitude, self.length)
        phase = tf.cumsum(2.0 * math.pi * f, axis=1)
        return tf.reduce_sum(a * tf.sin(phase), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length, 1)

    def get_config(self):
        return {**super().get_config(), "length": self.length,
                "max_frequency": self.max_frequency}


def upsample_linear(controls: tf.Tensor, length: int) -> tf.Tensor:
    """float[batch, T, K] -> float32[batch, length, K]: linear interpolation with frame t
    at sample t (length - 1) / (T - 1) (the first and last frames at the clip's ends)."""
    frames = tf.shape(controls)[1]
    position = tf.linspace(0.0, tf.cast(frames - 1, tf.float32), length)
    lower = tf.minimum(tf.cast(tf.floor(position), tf.int32), frames - 2)
    weight = (position - tf.cast(lower, tf.float32))[None, :, None]
    below = tf.gather(controls, lower, axis=1)
    above = tf.gather(controls, lower + 1, axis=1)
    return below + weight * (above - below)
