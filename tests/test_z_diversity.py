"""The capped spectral z-diversity term (condgan.objective.z_diversity) and its switch in the G step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base

from condgan.config import ConfigError
from condgan.nets import spectral
from condgan.objective import Objective, z_diversity
from condgan.training.trainer import build_gan

TEXT_DIM = 6


def _np_log_magnitude(audio, frame, hop, floor):
    """numpy reference: periodic Hann, frames without padding, rfft."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)
    n = 1 + (audio.shape[-1] - frame) // hop
    frames = np.stack([audio[:, i * hop:i * hop + frame] for i in range(n)], axis=1)
    return np.log(np.abs(np.fft.rfft(frames * window, axis=-1)) + floor)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return (rng.uniform(-0.5, 0.5, (3, 1024)).astype(np.float32),
            rng.uniform(-0.5, 0.5, (3, 1024)).astype(np.float32))


def test_log_magnitude_matches_numpy(pair):
    a, _ = pair
    got = spectral.log_magnitude(a[..., None], 256, 64, 1e-3).numpy()
    np.testing.assert_allclose(got, _np_log_magnitude(a, 256, 64, 1e-3), rtol=1e-4, atol=1e-4)


def test_distance_and_loss_match_numpy_and_stop_at_the_cap(pair):
    a, b = pair
    want = np.abs(_np_log_magnitude(a, 128, 32, 1e-3) - _np_log_magnitude(b, 128, 32, 1e-3)).mean()
    d = float(z_diversity.spectral_distance(a, b, 128, 32))
    np.testing.assert_allclose(d, want, rtol=1e-4)
    np.testing.assert_allclose(float(z_diversity.z_diversity_loss(a, b, 1e6, 128, 32)), -want,
                               rtol=1e-4)
    assert float(z_diversity.z_diversity_loss(a, a, 1.0, 128, 32)) == 0.0  # collapsed: no reward
    assert float(z_diversity.z_diversity_loss(a, b, want / 2, 128, 32)) == pytest.approx(-want / 2)
    # Below the cap the reward has a gradient; above it none (no push to arbitrary noise).
    x = tf.Variable(b)
    for cap, moves in ((10 * want, True), (want / 2, False)):
        with tf.GradientTape() as tape:
            loss = z_diversity.z_diversity_loss(a, x, cap, 128, 32)
        grad = tape.gradient(loss, x)
        assert (grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0) == moves


def test_bad_arguments_are_refused(pair):
    a, b = pair
    with pytest.raises(ValueError, match="cap must be > 0"):
        z_diversity.z_diversity_loss(a, b, 0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        z_diversity.spectral_distance(a, b[:, :512])


def _tiny(weight):
    cfg = base("wavegan")
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, TEXT_DIM, 8, 8
    m.replay_capacity, m.replay_prob = 16, 1.0
    t = cfg.train
    t.n_critic, t.batch_size = 1, 4
    cfg.objective.g["z_diversity"] = weight
    return cfg.validate()


def _g_update(weight):
    keras.utils.set_random_seed(0)
    gan = build_gan(_tiny(weight))
    rng = np.random.default_rng(0)
    audio = tf.constant(rng.uniform(-0.5, 0.5, (4, 1024, 1)).astype(np.float32))
    text = rng.normal(size=(4, TEXT_DIM)).astype(np.float32)
    text = tf.constant(text / np.linalg.norm(text, axis=1, keepdims=True))
    before = [v.numpy().copy() for v in gan.g_variables]
    values = gan.gan_step(audio, text)
    return [v.numpy() - b for v, b in zip(gan.g_variables, before)], values


def test_switch_adds_the_term_to_the_generator_step_only_when_on():
    tf.config.experimental.enable_op_determinism()
    d0, v0 = _g_update(0.0)
    d1, v1 = _g_update(1.0)
    assert "z_spread" not in v0 and "g_z_diversity" not in v0   # off: not computed
    assert float(v1["z_spread"]) > 0.0            # two z, one c: the clips differ
    # The term is the capped reward of the reported distance (cap 1 by default).
    assert float(v1["g_z_diversity"]) == pytest.approx(-min(float(v1["z_spread"]), 1.0))
    assert any(not np.allclose(a, b) for a, b in zip(d0, d1))


def test_config_refuses_bad_values():
    cfg = _tiny(0.0)
    cfg.objective.g["z_diversity"] = -1.0
    with pytest.raises(ConfigError, match="objective.g.z_diversity must be a finite weight >= 0"):
        cfg.validate()
    cfg.objective.g["z_diversity"] = 1.0
    cfg.objective.params["z_diversity"] = {"cap": 0.0}
    with pytest.raises(ConfigError, match="z_diversity.cap must be > 0"):
        Objective(cfg.objective, cfg.model)
