"""model.partials: the spectral generators' oscillators (condgan.partials), against numpy."""

import numpy as np
import pytest
import tensorflow as tf

from condgan import models, spectral
from condgan.config import ConfigError, ModelConfig
from condgan.partials import PartialSynthesis, upsample_linear


def numpy_partials(frequency, amplitude, length, max_frequency):
    """One clip, written out: controls float[T, K] interpolated with np.interp, phase by
    np.cumsum, summed sines."""
    frames = frequency.shape[0]
    position = np.linspace(0.0, frames - 1, length)
    grid = np.arange(frames)
    out = np.zeros(length)
    for k in range(frequency.shape[1]):
        f = np.interp(position, grid, frequency[:, k]) * max_frequency
        a = np.interp(position, grid, amplitude[:, k])
        out += a * np.sin(np.cumsum(2 * np.pi * f))
    return out


def test_matches_numpy_oscillators():
    rng = np.random.default_rng(0)
    freq = rng.uniform(0, 1, (2, 9, 3)).astype("float32")
    amp = rng.uniform(0, 1, (2, 9, 3)).astype("float32")
    out = PartialSynthesis(600, 0.4)(tf.constant(freq), tf.constant(amp)).numpy()
    assert out.shape == (2, 600, 1)
    for b in range(2):
        np.testing.assert_allclose(out[b, :, 0], numpy_partials(freq[b], amp[b], 600, 0.4),
                                   atol=2e-3)


def test_a_constant_control_is_a_sine_at_its_frequency():
    rate, length = 8000, 4096
    target = 1000.0  # Hz: control = 1000 / (0.45 * 8000)
    freq = np.full((1, 5, 1), target / (0.45 * rate), "float32")
    out = PartialSynthesis(length, 0.45)(tf.constant(freq), tf.ones((1, 5, 1))).numpy()[0, :, 0]
    spectrum = np.abs(np.fft.rfft(out * np.hanning(length)))
    assert np.fft.rfftfreq(length, 1 / rate)[spectrum.argmax()] == pytest.approx(target, abs=2.0)
    assert np.abs(out).max() == pytest.approx(1.0, abs=1e-3)


def test_a_ramp_is_a_rising_sweep():
    rate, length = 8000, 4096
    freq = np.linspace(500, 2500, 17)[None, :, None] / (0.45 * rate)
    out = PartialSynthesis(length, 0.45)(tf.constant(freq, tf.float32),
                                         tf.ones((1, 17, 1))).numpy()[0, :, 0]
    frames = np.stack([out[i:i + 256] * np.hanning(256) for i in range(0, length - 256, 256)])
    peaks = np.abs(np.fft.rfft(frames, axis=1)).argmax(1) * rate / 256
    assert np.all(np.diff(peaks) >= 0) and peaks[0] < 800 and peaks[-1] > 2200


def test_serialisable():
    import keras

    layer = PartialSynthesis(512, 0.3)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(copy, PartialSynthesis) and (copy.length, copy.max_frequency) == (512, 0.3)


def test_upsampling_puts_the_first_and_last_frames_at_the_ends():
    controls = tf.constant([[[0.0], [1.0], [4.0]]])
    up = upsample_linear(controls, 5).numpy()[0, :, 0]
    np.testing.assert_allclose(up, [0.0, 0.5, 1.0, 2.5, 4.0])


@pytest.mark.parametrize("kwargs, needle", [({"length": 1}, "length must be an integer >= 2"),
                                            ({"length": 64, "max_frequency": 0.5}, "below Nyquist")])
def test_bad_arguments_are_named(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        PartialSynthesis(**kwargs)


def test_config_refuses_negative_partials_and_the_waveform_generator():
    with pytest.raises(ConfigError, match="model.partials must be >= 0"):
        ModelConfig(partials=-1).validate()
    with pytest.raises(ConfigError, match="model.partials needs a spectral generator"):
        ModelConfig(partials=4).validate()


def test_unsquashed_frames_are_the_synthesis_before_its_tanh():
    rng = np.random.default_rng(1)
    lm = tf.constant(rng.normal(-2, 2, (1, 20, 129)), tf.float32)
    inst = tf.constant(rng.uniform(-1, 1, (1, 20, 129)), tf.float32)
    raw = spectral.SpectralSynthesis(1024, 256, 64, squash=False)(lm, inst).numpy()
    squashed = spectral.SpectralSynthesis(1024, 256, 64)(lm, inst).numpy()
    np.testing.assert_allclose(np.tanh(raw), squashed, atol=1e-6)
    assert np.abs(raw).max() > 1.0  # (loud enough that the squash matters)


@pytest.mark.parametrize("generator", ["spectral", "spectral2d"])
def test_generators_add_partials_that_train(generator):
    cfg = ModelConfig(length=1024, sample_rate=8000, model_dim=4, cond_dim=8, latent_dim=8,
                      generator=generator, partials=3)
    g = models.build_generator(cfg)
    z = tf.random.normal((2, 8), seed=0)
    c = tf.random.normal((2, 8), seed=1)
    with tf.GradientTape() as tape:
        audio = g([z, c])
        # A spectral loss: the frequency heads get a gradient through the oscillators.
        loss = tf.reduce_mean(spectral.log_magnitude(audio, 256, 64))
    assert audio.shape == (2, 1024, 1) and np.abs(audio.numpy()).max() <= 1.0
    head = g.get_layer("partial_frequency")
    grads = tape.gradient(loss, head.trainable_variables)
    assert all(float(tf.reduce_max(tf.abs(gr))) > 0 for gr in grads)
    # Silencing the partials changes the clip by exactly their waveform (before the tanh).
    amp = g.get_layer("partial_amplitude")
    amp.bias.assign(tf.fill(amp.bias.shape, -60.0))
    frames_only = g([z, c]).numpy()
    assert np.abs(frames_only - audio.numpy()).max() > 1e-4
