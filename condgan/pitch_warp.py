"""Per-frame pitch shift of the spectral generator's frames: a glide is one number per frame.

The spectral generator draws each frame's spectrum with a kernel-1 head over its
bins: a pitch is a channel code, and every pitch position has to be learned on
its own. On the procedural set no run with z in use made a rising or falling
whistle or a siren (issue 8, docs/second-base.md), while the one collapsed run
(one glide per caption) did. Oscillators with a frequency head
(`condgan.partials`) lost: the generator muted them.

`PitchWarp` keeps the generator's frames and moves them in frequency instead: a
head emits one shift s_t (in octaves, tanh-bounded) per frame, and bin k of the
output frame reads the input frame at bin position k * 2^-s_t (linear
interpolation between bins; positions past the last bin read `floor`):

    out[t, k] = in[t, k 2^-s_t]

so a fixed spectral shape (a tone and its harmonics) slides up by s_t octaves, its
harmonics staying harmonic. A whistle is a template and a ramp of s; a siren an
oscillating s. The shift head starts at zero (the identity), and its gradient is
the frame's slope along frequency, which a peaked spectrum has where it matters.
The IF frames are read at the same positions and scaled by 2^s_t
(`scale_by_shift`): IF is a tone's offset from its bin's centre, and a tone at
bin position p that moves to 2^s p is 2^s times as far from the centre of the
bin it lands in as it was from the position that bin reads. `model.pitch_warp`
= the largest |s| in octaves switches it on.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


def warp_frequency(frames, shift, floor: float, scale_by_shift: bool = False):
    """Reads every frame at bin positions k * 2^-shift (linear interpolation).

    Args:
      frames: float[batch, T, F] (log-magnitude or IF frames).
      shift: float[batch, T, 1] or [batch, T]: the shift of each frame in octaves
        (> 0 moves the content up).
      floor: the value read at positions past the last bin.
      scale_by_shift: multiply what is read by 2^shift (for IF frames).

    Returns:
      float32[batch, T, F].
    """
    frames = tf.cast(frames, tf.float32)
    shift = tf.cast(shift, tf.float32)
    if shift.shape.rank == 3:
        shift = shift[..., 0]
    bins = tf.shape(frames)[-1]
    k = tf.cast(tf.range(bins), tf.float32)
    factor = tf.exp(math.log(2.0) * shift)[..., None]              # 2^shift, [B, T, 1]
    position = k / factor                                          # [B, T, F]
    last = tf.cast(bins - 1, tf.float32)
    lower = tf.minimum(tf.floor(position), last)
    weight = position - lower                                      # >= 0; > 1 past the end
    lower_i = tf.cast(lower, tf.int32)
    upper_i = tf.minimum(lower_i + 1, bins - 1)
    a = tf.gather(frames, lower_i, batch_dims=2)
    b = tf.gather(frames, upper_i, batch_dims=2)
    value = a + tf.minimum(weight, 1.0) * (b - a)
    if scale_by_shift:
        value = value * factor
    return tf.where(position > last, tf.cast(floor, tf.float32), value)


@keras.saving.register_keras_serializable(package="condgan")
class PitchWarp(keras.layers.Layer):
    """(frames, raw shift) -> frames shifted by max_octaves x tanh(raw shift) octaves per frame.

    Args:
      max_octaves: the largest shift, > 0 and finite.
      floor: the value read past the last bin (for log-magnitude: a quiet bin).
      scale_by_shift: multiply the warped frames by 2^shift (True for IF frames).

    Call args:
      frames: float[batch, T, F].
      shift: float[batch, T, 1], unbounded (the head's linear output).

    Returns:
      float32[batch, T, F].
    """

    def __init__(self, max_octaves: float, floor: float = 0.0, scale_by_shift: bool = False,
                 **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not (max_octaves > 0 and math.isfinite(max_octaves)):
            raise ValueError(f"PitchWarp: max_octaves must be > 0 and finite, got {max_octaves!r}")
        self.max_octaves = float(max_octaves)
        self.floor = float(floor)
        self.scale_by_shift = bool(scale_by_shift)

    def call(self, frames, shift):
        octaves = self.max_octaves * tf.tanh(tf.cast(shift, tf.float32))
        return warp_frequency(frames, octaves, self.floor, self.scale_by_shift)

    def compute_output_shape(self, frames_shape, shift_shape=None):
        return frames_shape

    def get_config(self):
        return {**super().get_config(), "max_octaves": self.max_octaves, "floor": self.floor,
                "scale_by_shift": self.scale_by_shift}
