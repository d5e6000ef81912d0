"""condgan.pitch_warp against numpy, and model.pitch_warp in the spectral generator."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_gan import tiny_config

from condgan import pitch_warp, spectral
from condgan.config import ConfigError
from condgan.models import build_generator


def numpy_warp(frames, shift, floor):
    """out[b, t, k] = frames[b, t] read at k * 2^-shift[b, t] (np.interp), floor past the end."""
    bins = frames.shape[-1]
    out = np.empty_like(frames, dtype=np.float64)
    for b in range(frames.shape[0]):
        for t in range(frames.shape[1]):
            pos = np.arange(bins) * 2.0 ** -shift[b, t]
            out[b, t] = np.interp(pos, np.arange(bins), frames[b, t])
            out[b, t, pos > bins - 1] = floor
    return out


def test_matches_numpy_for_random_frames_and_shifts():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(2, 5, 33)).astype("float32")
    shift = rng.uniform(-1.5, 1.5, size=(2, 5, 1)).astype("float32")
    got = pitch_warp.warp_frequency(frames, shift, floor=-9.0).numpy()
    np.testing.assert_allclose(got, numpy_warp(frames, shift[..., 0], -9.0), atol=1e-5)


def test_zero_shift_is_the_identity_and_an_octave_doubles_a_peak_s_bin():
    frames = np.full((1, 3, 129), -9.0, np.float32)
    frames[0, :, 20] = 4.0
    shift = np.array([[[0.0], [1.0], [-1.0]]], np.float32)
    out = pitch_warp.warp_frequency(frames, shift, floor=-9.0).numpy()[0]
    np.testing.assert_allclose(out[0], frames[0, 0])
    assert out[1].argmax() == 40 and out[1].max() == pytest.approx(4.0)
    assert out[2].argmax() == 10 and out[2].max() == pytest.approx(4.0)


def test_the_shift_gets_a_gradient_from_a_peaked_frame():
    frames = tf.constant(np.exp(-0.5 * ((np.arange(65) - 20.0) / 2.0) ** 2)[None, None], tf.float32)
    target = tf.constant(np.exp(-0.5 * ((np.arange(65) - 24.0) / 2.0) ** 2)[None, None], tf.float32)
    shift = tf.Variable([[[0.0]]])
    layer = pitch_warp.PitchWarp(1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(frames, shift) - target))
    grad = float(tape.gradient(loss, shift)[0, 0, 0])
    assert grad < 0  # moving up (towards bin 24) lowers the loss


@pytest.mark.parametrize("shift", [2.0, 1.5, 0.8, -0.7])
def test_an_off_bin_tone_lands_at_its_shifted_pitch(shift):
    # A tone between bins, analysed into frames, warped (magnitude as is, IF scaled by
    # 2^shift) and synthesised back: its spectral peak sits at 2^shift x its frequency.
    length, frame, hop = 2048, 256, 64
    f = 10.3 if shift > 0 else 40.3  # in bins of the 256-point frame
    t = np.arange(length)
    tone = (0.3 * np.sin(2 * np.pi * f / frame * t)).astype("float32")
    logmag, inst = spectral.analysis(tone, frame, hop)
    s = np.full((1, logmag.shape[0], 1), shift, np.float32)
    floor = math.log(spectral.LOG_FLOOR)
    mag = pitch_warp.warp_frequency(logmag[None], s, floor)
    ifr = pitch_warp.warp_frequency(inst[None], s, 0.0, scale_by_shift=True)
    out = spectral.SpectralSynthesis(length, frame, hop, squash=False)(mag, ifr).numpy()[0, :, 0]
    spectrum = np.abs(np.fft.rfft(out * np.hanning(length)))
    k = spectrum.argmax()
    peak = k + 0.5 * (spectrum[k - 1] - spectrum[k + 1]) / (
        spectrum[k - 1] - 2 * spectrum[k] + spectrum[k + 1])  # parabolic interpolation
    assert peak * frame / length == pytest.approx(f * 2 ** shift, abs=0.05)


def test_layer_bounds_the_shift_and_refuses_a_bad_range():
    frames = np.zeros((1, 1, 17), np.float32)
    frames[0, 0, 2] = 1.0
    out = pitch_warp.PitchWarp(1.0)(frames, np.full((1, 1, 1), 50.0, np.float32)).numpy()
    assert out[0, 0].argmax() == 4  # tanh(50) = 1: exactly one octave
    with pytest.raises(ValueError, match="max_octaves must be > 0 and finite"):
        pitch_warp.PitchWarp(0.0)
    with pytest.raises(ValueError, match="max_octaves must be > 0 and finite"):
        pitch_warp.PitchWarp(float("inf"))


def spectral_config(warp):
    cfg = tiny_config(generator="spectral", film=True, film_input="zc")
    cfg.model.pitch_warp = warp
    return cfg.validate()


def test_config_refuses_a_negative_range_and_the_wavegan_generator():
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="model.pitch_warp must be >= 0 and finite"):
            spectral_config(bad)
    cfg = tiny_config()
    cfg.model.pitch_warp = 1.0
    with pytest.raises(ConfigError, match="model.pitch_warp needs the frames generator"):
        cfg.validate()


def test_generator_starts_as_the_unwarped_one_and_its_head_moves_the_spectrum():
    keras.utils.set_random_seed(0)
    plain = build_generator(spectral_config(0.0).model)
    keras.utils.set_random_seed(0)
    warped = build_generator(spectral_config(1.5).model)
    assert warped.get_layer("pitch_shift") is not None
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 8)).astype("float32")
    c = rng.normal(size=(2, 8)).astype("float32")
    np.testing.assert_allclose(warped([z, c]).numpy(), plain([z, c]).numpy(), atol=1e-5)
    # A head that shifts every frame up by one octave (bias atanh(1 / 1.5)).
    head = warped.get_layer("pitch_shift")
    head.bias.assign([math.atanh(1.0 / 1.5)])
    sub = keras.Model(warped.inputs, [warped.get_layer("log_magnitude").output,
                                      warped.get_layer("pitch_warp_magnitude").output])
    before, after = (x.numpy() for x in sub([z, c]))
    np.testing.assert_allclose(after, numpy_warp(before, np.ones(before.shape[:2]),
                                                 math.log(spectral.LOG_FLOOR)), atol=1e-4)
