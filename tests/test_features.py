"""Log-mel features against a numpy reference; spectrogram images."""


import numpy as np
import pytest
import tensorflow as tf

from condgan.evaluation import features


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def _numpy_mel_matrix(num_bins, sample_rate, fft_length, lower, upper):
    """HTK triangles, linear in mel, over rfft bins k * rate / fft_length; DC bin zero."""
    freqs = np.arange(fft_length // 2 + 1) * sample_rate / fft_length
    edges = np.linspace(_hz_to_mel(lower), _hz_to_mel(upper), num_bins + 2)
    weights = np.zeros((len(freqs), num_bins))
    for k in range(1, len(freqs)):
        m = _hz_to_mel(freqs[k])
        for b in range(num_bins):
            lo, centre, hi = edges[b:b + 3]
            weights[k, b] = max(0.0, min((m - lo) / (centre - lo), (hi - m) / (hi - centre)))
    return weights


def _numpy_log_mel(audio, sample_rate, frame, hop, fft_length, upper):
    n = audio.shape[-1]
    frames = -(-n // hop)
    padded = np.pad(audio.astype(np.float64), [(0, 0), (0, (frames - 1) * hop + frame - n)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)  # periodic Hann
    out = []
    for clip in padded:
        stack = np.stack([clip[i * hop:i * hop + frame] * window for i in range(frames)])
        magnitude = np.abs(np.fft.rfft(stack, n=fft_length, axis=-1))
        mel = magnitude @ _numpy_mel_matrix(128, sample_rate, fft_length, 40.0, upper)
        out.append(np.log(mel + 1e-6))
    return np.stack(out)


def _tone(freq, sample_rate, length, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(length) / sample_rate)).astype(np.float32)


@pytest.mark.parametrize("sample_rate, expected", [
    (16000, (2048, 128, 2048)), (8000, (1024, 64, 1024)), (22050, (2822, 176, 4096)),
])
def test_stft_params_keep_durations_and_use_a_power_of_two_fft(sample_rate, expected):
    assert features.stft_params(sample_rate) == expected


def test_mel_edges_and_frames():
    assert features.mel_edges(16000) == (40.0, 7800.0)
    assert features.mel_edges(8000) == (40.0, 3900.0)
    assert features.mel_edges(44100) == (40.0, 7800.0)
    assert features.num_frames(16384, 16000) == 128
    assert features.num_frames(3000, 16000) == 24  # ceil(3000 / 128)


@pytest.mark.parametrize("sample_rate, length, channel_axis", [
    (16000, 3000, False), (16000, 2048, True), (8000, 1500, False),
])
def test_log_mel_matches_numpy_reference(sample_rate, length, channel_axis):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, length)).astype(np.float32)
    audio = np.stack([0.3 * noise[0], _tone(440.0, sample_rate, length) + 0.01 * noise[1]])
    frame, hop, fft_length = features.stft_params(sample_rate)
    expected = _numpy_log_mel(audio, sample_rate, frame, hop, fft_length,
                              features.mel_edges(sample_rate)[1])
    got = features.log_mel(audio[..., np.newaxis] if channel_axis else audio, sample_rate)
    assert got.dtype == tf.float32
    assert got.shape == (2, -(-length // hop), 128) == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-3)


def test_log_mel_in_tf_function_with_dynamic_shapes():
    fn = tf.function(lambda x: features.log_mel(x, 8000),
                     input_signature=[tf.TensorSpec([None, None, 1], tf.float32)])
    audio = np.random.default_rng(1).uniform(-1, 1, (3, 640, 1)).astype(np.float32)
    np.testing.assert_allclose(fn(audio).numpy(), features.log_mel(audio, 8000).numpy(), atol=1e-5)
    assert features.log_mel(np.zeros((1, 16384), np.float32), 16000).shape == (1, 128, 128)


def test_log_mel_of_silence_is_the_log_offset():
    out = features.log_mel(np.zeros((1, 512)), 8000).numpy()
    np.testing.assert_allclose(out, np.log(1e-6), rtol=1e-6)


@pytest.mark.parametrize("audio, rate, message", [
    (np.zeros((2, 100), np.int16), 16000, "float waveform.*int16"),
    (np.zeros(100, np.float32), 16000, r"float32\[batch, length\] or \[batch, length, 1\]"),
    (np.zeros((2, 100, 2), np.float32), 16000, "must be mono"),
    (np.zeros((2, 0), np.float32), 16000, "audio is empty"),
    (np.zeros((2, 100), np.float32), 500, "sample_rate must be >= 1000"),
    (np.zeros((2, 100), np.float32), 16000.0, "sample_rate must be an int"),
])
def test_log_mel_rejects_bad_input(audio, rate, message):
    with pytest.raises(ValueError, match=message):
        features.log_mel(audio, rate)


def test_spectrogram_image_orientation_and_range():
    rate, length = 16000, 4096
    low = features.spectrogram_image(_tone(200.0, rate, length), rate).numpy()
    high = features.spectrogram_image(_tone(6000.0, rate, length)[:, np.newaxis], rate).numpy()
    assert low.dtype == np.uint8 and low.shape == (128, 32)
    assert low.max() == 255 and high.max() == 255
    # Row 0 is the highest band: a low tone is brightest near the bottom.
    assert np.argmax(low.mean(axis=1)) > 100
    assert np.argmax(high.mean(axis=1)) < 40
    np.testing.assert_array_equal(
        features.spectrogram_image(np.zeros(length, np.float32), rate).numpy(), 0)
    with pytest.raises(ValueError, match="one clip"):
        features.spectrogram_image(np.zeros((2, length), np.float32), rate)


def test_shared_scale_keeps_quiet_clips_quiet():
    loud = _tone(1000.0, 8000, 2048)
    batch = np.stack([loud, loud * 1e-3])  # -60 dB
    own = features.spectrogram_images(batch, 8000).numpy()
    shared = features.spectrogram_images(batch, 8000, shared_scale=True).numpy()
    assert own[0].max() == own[1].max() == 255
    # 20 dB of an 80 dB range left above black: about 255 / 4.
    assert shared[0].max() == 255 and 55 <= shared[1].max() <= 75
