"""Tests for condgan.nets.spectral against numpy FFTs."""

import numpy as np
import pytest
import tensorflow as tf

from condgan.nets import spectral


def _hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def test_log_magnitude_matches_numpy_rfft():
    rng = np.random.default_rng(0)
    audio = rng.uniform(-1, 1, size=(2, 1024)).astype(np.float32)
    out = spectral.LogMagnitudeSTFT(frame=256, hop=64)(audio[..., None]).numpy()
    frames = 1 + (1024 - 256) // 64
    assert out.shape == (2, frames, 129, 1)
    for b in range(2):
        expected = np.stack([np.log(np.abs(np.fft.rfft(_hann(256) * audio[b, t * 64:t * 64 + 256]))
                                    + spectral.LOG_FLOOR) for t in range(frames)])
        np.testing.assert_allclose(out[b, :, :, 0], expected, atol=2e-3)


def test_synthesis_inverts_the_numpy_analysis():
    # analysis() -> SpectralSynthesis gives the waveform back (through the final tanh).
    rng = np.random.default_rng(1)
    length, frame, hop = 512, 128, 32
    audio = 0.5 * np.sin(2 * np.pi * 440 * np.arange(length) / 8000) + 0.1 * rng.normal(size=length)
    log_mag, inst_freq = spectral.analysis(audio, frame, hop)
    assert log_mag.shape == (spectral.synthesis_frames(length, frame, hop), frame // 2 + 1)
    assert np.all(np.abs(inst_freq) <= 1.0)
    layer = spectral.SpectralSynthesis(length, frame=frame, hop=hop)
    out = layer(log_mag[None], inst_freq[None]).numpy()[0, :, 0]
    np.testing.assert_allclose(out, np.tanh(audio), atol=1e-4)


def test_zero_if_makes_a_steady_tone_at_the_bin_centre():
    # IF counts from the bin's centre advance: IF = 0 in one bin is a sinusoid at its centre.
    length, frame, hop = 1024, 256, 64
    frames = spectral.synthesis_frames(length, frame, hop)
    log_mag = np.full((1, frames, frame // 2 + 1), -30.0, np.float32)
    k = 16
    log_mag[:, :, k] = np.log(20.0)
    inst_freq = np.zeros_like(log_mag)
    out = spectral.SpectralSynthesis(length, frame, hop)(log_mag, inst_freq).numpy()[0, :, 0]
    spectrum = np.abs(np.fft.rfft(out))
    peak_hz = np.argmax(spectrum) * 1.0 / length * frame  # in units of STFT bins
    assert peak_hz == pytest.approx(k, abs=0.1)
    # Steady: the envelope varies little over the clip.
    env = np.abs(out).reshape(16, -1).max(axis=1)
    assert env.min() > 0.8 * env.max()


def test_gradients_reach_both_inputs():
    layer = spectral.SpectralSynthesis(256, frame=64, hop=16)
    frames = spectral.synthesis_frames(256, 64, 16)
    log_mag = tf.Variable(tf.random.normal([2, frames, 33]) - 3.0)
    inst_freq = tf.Variable(tf.random.uniform([2, frames, 33], -1, 1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(log_mag, inst_freq)))
    g_mag, g_if = tape.gradient(loss, [log_mag, inst_freq])
    assert np.all(np.isfinite(g_mag.numpy())) and np.abs(g_mag.numpy()).sum() > 0
    assert np.all(np.isfinite(g_if.numpy())) and np.abs(g_if.numpy()).sum() > 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(frame=100, hop=64), "multiple of hop"),
    (dict(frame=256, hop=0), "hop must be"),
])
def test_bad_frame_or_hop_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spectral.LogMagnitudeSTFT(**kwargs)
    with pytest.raises(ValueError, match=match):
        spectral.SpectralSynthesis(1024, **kwargs)


def test_length_must_be_a_multiple_of_hop():
    with pytest.raises(ValueError, match="multiple of hop"):
        spectral.SpectralSynthesis(1000, frame=256, hop=64)


def test_layers_round_trip_their_config():
    layer = spectral.SpectralSynthesis(4096, frame=256, hop=64)
    again = spectral.SpectralSynthesis.from_config(layer.get_config())
    assert (again.length, again.frame, again.hop) == (4096, 256, 64)
    stft = spectral.LogMagnitudeSTFT.from_config(spectral.LogMagnitudeSTFT(128, 32).get_config())
    assert (stft.frame, stft.hop) == (128, 32)


def test_if_offsets_the_frequency_from_the_bin_centre():
    # A deviation of d (x pi rad per hop) moves the tone by d * frame / (2 hop) bins.
    length, frame, hop = 2048, 256, 64
    frames = spectral.synthesis_frames(length, frame, hop)
    log_mag = np.full((1, frames, frame // 2 + 1), -30.0, np.float32)
    log_mag[:, :, 20] = np.log(20.0)
    inst_freq = np.zeros_like(log_mag)
    inst_freq[:, :, 20] = 0.25  # + 0.5 bin
    out = spectral.SpectralSynthesis(length, frame, hop)(log_mag, inst_freq).numpy()[0, :, 0]
    peak_bin = np.argmax(np.abs(np.fft.rfft(out))) * frame / length
    assert peak_bin == pytest.approx(20.5, abs=0.1)


def test_centre_advance_matches_the_definition():
    adv = spectral.centre_advance(256, 64)
    assert adv[0] == 0 and adv[1] == pytest.approx(np.pi / 2) and adv[3] == pytest.approx(-np.pi / 2)
    assert np.all(np.abs(adv) <= np.pi + 1e-6)
