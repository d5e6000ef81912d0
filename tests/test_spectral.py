"""Tests for condgan.nets.spectral against numpy FFTs."""

import keras
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


def _htk_mel_matrix(frame, sample_rate, bands, lower_hertz):
    """An independent HTK mel filterbank: triangles linear in mel = 1127 ln(1 + f / 700), peak 1,
    bands + 2 equally spaced edges from lower_hertz to the Nyquist, DC bin left out."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)
    edges = np.linspace(mel(lower_hertz), mel(sample_rate / 2), bands + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    bins = mel(np.arange(frame // 2 + 1) * sample_rate / frame)[:, None]
    weights = np.maximum(0.0, np.minimum((bins - lower) / (centre - lower),
                                         (upper - bins) / (upper - centre)))
    weights[0] = 0.0
    return weights


def _numpy_log_mel(audio, frame, hop, weights):
    frames = 1 + (len(audio) - frame) // hop
    mag = np.stack([np.abs(np.fft.rfft(_hann(frame) * audio[t * hop:t * hop + frame]))
                    for t in range(frames)])
    return np.log(mag @ weights + spectral.LOG_FLOOR)


def _tone(freqs, sample_rate):
    """A sine whose frequency follows freqs (Hz per sample)."""
    return 0.5 * np.sin(2 * np.pi * np.cumsum(freqs) / sample_rate)


@pytest.mark.parametrize("frame, sample_rate, bands", [(256, 8000, 64), (256, 16000, 80),
                                                        (512, 22050, 72)])
def test_mel_weights_are_htk_triangles(frame, sample_rate, bands):
    weights = spectral.mel_weights(frame, sample_rate, bands)
    assert weights.shape == (frame // 2 + 1, bands) and weights.dtype == np.float32
    np.testing.assert_allclose(weights, _htk_mel_matrix(frame, sample_rate, bands, 40.0), atol=2e-5)
    assert np.all(weights[0] == 0) and weights.max() <= 1.0


def test_log_mel_matches_numpy():
    rng = np.random.default_rng(2)
    audio = rng.uniform(-1, 1, size=(2, 2048)).astype(np.float32)
    audio[1] = _tone(np.full(2048, 1234.0), 8000)
    layer = spectral.LogMelSTFT(frame=256, hop=64, sample_rate=8000, bands=64)
    out = layer(audio[..., None]).numpy()
    frames = 1 + (2048 - 256) // 64
    assert out.shape == (2, frames, 64, 1)
    assert layer.compute_output_shape((2, 2048, 1)) == (2, frames, 64, 1)
    weights = _htk_mel_matrix(256, 8000, 64, 40.0)
    expected = np.stack([_numpy_log_mel(a, 256, 64, weights) for a in audio])
    np.testing.assert_allclose(out[0, :, :, 0], expected[0], atol=2e-3)
    # The tone's far bands are FFT leakage near the floor, where float32's error is relative
    # to the peak: compare the magnitudes there.
    np.testing.assert_allclose(np.exp(out[1, :, :, 0]), np.exp(expected[1]),
                               atol=1e-4 * np.exp(expected[1]).max(), rtol=1e-3)
    assert np.argmax(expected[1].mean(axis=0)) == np.argmax(out[1, :, :, 0].mean(axis=0))
    assert not layer.trainable_weights and not layer.weights  # the mel matrix is a constant


def test_a_rising_tone_climbs_the_mel_bands_and_an_octave_is_nearly_a_fixed_shift():
    sample_rate, length, frame, hop, bands = 8000, 4096, 256, 64, 64
    layer = spectral.LogMelSTFT(frame, hop, sample_rate, bands)
    rise = _tone(np.geomspace(200.0, 3500.0, length), sample_rate)
    peak = np.argmax(layer(rise[None, :, None].astype(np.float32)).numpy()[0, :, :, 0], axis=1)
    assert np.all(np.diff(peak) >= 0), peak
    assert peak[-1] - peak[0] > bands // 2, peak

    def band(hz, axis=layer):
        tone = _tone(np.full(length, hz), sample_rate)[None, :, None].astype(np.float32)
        return np.argmax(axis(tone).numpy()[0, :, :, 0].mean(axis=0))

    # 1-2 kHz and 1.5-3 kHz are both an octave: nearly as many mel bands (17 and 19), where
    # the linear axis has 32 and 48 bins.
    low, high = band(2000.0) - band(1000.0), band(3000.0) - band(1500.0)
    assert 0.85 < low / high < 1.0, (low, high)
    linear = spectral.LogMagnitudeSTFT(frame, hop)
    assert (band(2000.0, linear) - band(1000.0, linear), band(3000.0, linear)
            - band(1500.0, linear)) == (32, 48)


def test_log_mel_refuses_bands_outside_the_bins_and_a_nyquist_below_its_lowest_band():
    with pytest.raises(ValueError, match=r"mel bands must be an integer in \[1, frame // 2 \+ 1 = 129\]"):
        spectral.LogMelSTFT(256, 64, 8000, bands=130)
    with pytest.raises(ValueError, match="mel bands"):
        spectral.LogMelSTFT(256, 64, 8000, bands=0)
    with pytest.raises(ValueError, match="below the Nyquist of sample_rate=60"):
        spectral.LogMelSTFT(256, 64, 60, bands=16)
    with pytest.raises(ValueError, match="multiple of hop"):
        spectral.LogMelSTFT(100, 64, 8000, bands=16)


def test_mel_weights_are_an_array_even_when_built_inside_a_tf_function():
    seen = []

    @tf.function
    def trace():
        seen.append(spectral.mel_weights(128, 8000, 16))
        return tf.constant(0)

    trace()
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == (65, 16)


def test_log_mel_round_trips_its_config_and_a_saved_model(tmp_path):
    layer = spectral.LogMelSTFT(128, 32, 16000, 40, lower_hertz=60.0, name="mel")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(again, spectral.LogMelSTFT)
    assert (again.frame, again.hop, again.sample_rate, again.bands, again.lower_hertz) == \
        (128, 32, 16000, 40, 60.0)
    np.testing.assert_array_equal(again.mel_matrix, layer.mel_matrix)
    audio = keras.Input((1024, 1))
    model = keras.Model(audio, layer(audio))
    model.save(tmp_path / "mel.keras")
    loaded = keras.saving.load_model(tmp_path / "mel.keras")
    x = np.random.default_rng(3).normal(size=(2, 1024, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
