"""condgan.squash against numpy, and model.output_squash in the spectral generators."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_gan import tiny_config

from condgan import spectral, squash
from condgan.config import ConfigError
from condgan.models import build_generator


def numpy_soft_clip(x, k):
    x = np.asarray(x, np.float64)
    return np.where(np.abs(x) <= k, x, np.sign(x) * (k + (1 - k) * np.tanh((np.abs(x) - k) / (1 - k))))


def test_soft_clip_matches_numpy_is_the_identity_below_the_knee_and_stays_within_one():
    x = np.linspace(-6.0, 6.0, 2001).astype("float32")
    got = squash.soft_clip(x).numpy()
    np.testing.assert_allclose(got, numpy_soft_clip(x, squash.KNEE), atol=1e-6)
    inside = np.abs(x) <= squash.KNEE
    np.testing.assert_array_equal(got[inside], x[inside])
    assert np.all(np.abs(got) <= 1.0) and np.all(np.diff(got) >= -1e-6)  # float32 rounding
    near = np.abs(x) < 1.3  # strictly increasing while float32 resolves the bend
    assert np.all(np.diff(got[near]) > 0) and np.all(np.abs(got[near]) < 1.0)


def test_soft_clip_slope_is_continuous_at_the_knee():
    x = tf.constant([squash.KNEE - 1e-3, squash.KNEE + 1e-3, squash.KNEE + (1 - squash.KNEE)])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = squash.soft_clip(x)
    g = tape.gradient(y, x).numpy()
    assert g[0] == pytest.approx(1.0) and g[1] == pytest.approx(1.0, abs=1e-2)
    assert g[2] == pytest.approx(1.0 / np.cosh(1.0) ** 2, rel=1e-4)  # one knee-width above it


def test_kinds_and_refusals():
    x = np.array([-0.5, 0.0, 0.7], np.float32)
    np.testing.assert_allclose(squash.apply(x, "tanh").numpy(), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(squash.Squash("soft_clip")(x).numpy(), x)
    with pytest.raises(ValueError, match="Squash: squash kind 'clip' is unknown"):
        squash.Squash("clip")
    with pytest.raises(ValueError, match="SpectralSynthesis: squash kind '' is unknown"):
        spectral.SpectralSynthesis(1024, squash="")
    with pytest.raises(ValueError, match="SpectralSynthesis: squash kind 'clip' is unknown"):
        spectral.SpectralSynthesis(1024, squash="clip")


def test_a_real_clip_comes_back_unbent_through_the_soft_clip_not_through_tanh():
    # A 1 kHz tone peaking at 0.75 (the procedural clips' peaks): analysed into frames and
    # synthesised, it comes back exactly with soft_clip and bent by tanh.
    t = np.arange(1024) / 8000.0
    tone = (0.75 * np.sin(2 * np.pi * 1000.0 * t) * np.hanning(1024)).astype("float32")
    logmag, inst = spectral.analysis(tone, 256, 64)
    out = {kind: spectral.SpectralSynthesis(1024, 256, 64, squash=kind)(
        logmag[None], inst[None]).numpy()[0, :, 0] for kind in ("soft_clip", "tanh")}
    np.testing.assert_allclose(out["soft_clip"], tone, atol=1e-4)
    np.testing.assert_allclose(out["tanh"], np.tanh(tone), atol=1e-4)
    assert np.abs(out["tanh"] - tone).max() > 0.1


def spectral_config(kind, generator="spectral", partials=0):
    cfg = tiny_config(generator=generator, film=True)
    cfg.model.output_squash, cfg.model.partials = kind, partials
    return cfg.validate()


def test_config_refuses_an_unknown_kind_and_the_wavegan_generator():
    with pytest.raises(ConfigError, match="model.output_squash='clip' is unknown"):
        spectral_config("clip")
    cfg = tiny_config()
    cfg.model.output_squash = "soft_clip"
    with pytest.raises(ConfigError, match="applies to the spectral generators"):
        cfg.validate()


@pytest.mark.parametrize("generator,partials", [("spectral", 0), ("spectral2d", 0),
                                                ("spectral", 2)])
def test_generators_use_it(generator, partials):
    # Same weights, two squashes, the log-magnitude head's bias raised so that the
    # clips reach the range where tanh bends: the soft-clipped clip is the tanh one's
    # atanh below the knee, and the two differ.
    rng = np.random.default_rng(0)
    z, c = rng.normal(size=(2, 8)).astype("float32"), rng.normal(size=(2, 8)).astype("float32")
    out = {}
    for kind in ("tanh", "soft_clip"):
        keras.utils.set_random_seed(0)
        g = build_generator(spectral_config(kind, generator, partials).model)
        head = g.get_layer("log_magnitude")
        head.bias.assign(np.full(head.bias.shape, -0.5, np.float32))
        out[kind] = g([z, c]).numpy()
    soft = out["soft_clip"]
    below = np.abs(soft) < squash.KNEE
    assert below.mean() > 0.5 and np.abs(soft[below]).max() > 0.5
    np.testing.assert_allclose(np.arctanh(out["tanh"][below]), soft[below], atol=1e-4)
    assert np.abs(out["tanh"] - soft).max() > 0.05
    assert np.all(np.abs(soft) <= 1.0)
