"""Tests of the second base's switches (condgan.nets, issue 8): spectral G and D,
projection, spectral normalisation, FiLM, text RMS normalisation, contrastive heads."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base

from condgan.config import ConfigError
from condgan.method import build_conditioner
from condgan.nets import build_discriminator, build_generator
from condgan.nets.film import FiLM
from condgan.nets.spectral import LogMagnitudeSTFT, LogMelSTFT

BATCH = 4


def _cfg(**overrides):
    kwargs = dict(length=1024, text_dim=16, latent_dim=8, model_dim=4, cond_dim=8,
                  text_dropout=0.0, stft_frame=128, stft_hop=32, generator="spectral",
                  discriminator="spectral", d_conditioning="projection")
    kwargs.update(overrides)
    # Every other switch off: the first base's values (experiments/configs/bases/wavegan.json).
    return dataclasses.replace(base("wavegan").model, **kwargs)


def _inputs(cfg, seed=0):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.normal(size=(BATCH, cfg.latent_dim)), tf.float32),
            tf.constant(rng.normal(size=(BATCH, cfg.cond_dim)), tf.float32),
            tf.constant(rng.normal(size=(BATCH, cfg.text_dim)), tf.float32),
            tf.constant(rng.uniform(-1, 1, size=(BATCH, cfg.length, 1)), tf.float32))


@pytest.mark.parametrize("length, frame, hop", [(1024, 128, 32), (4096, 256, 64), (256, 64, 16)])
def test_spectral_generator_shape_and_range(length, frame, hop):
    cfg = _cfg(generator="spectral", length=length, stft_frame=frame, stft_hop=hop)
    z, c, _, _ = _inputs(cfg)
    audio = build_generator(cfg)([z, c]).numpy()
    assert audio.shape == (BATCH, length, 1)
    assert np.all(np.abs(audio) <= 1.0) and np.std(audio) > 0


def test_spectral_generator_frames_must_fit_the_upsampling():
    with pytest.raises(ConfigError, match="multiple of 4"):
        _cfg(length=1024, stft_frame=384, stft_hop=128).validate()  # 8 + 3 frames


@pytest.mark.parametrize("disc, cond", [("spectral", "projection"), ("wavegan", "projection"),
                                        ("wavegan", "concat")])
def test_discriminator_reads_the_caption(disc, cond):
    cfg = _cfg(discriminator=disc, d_conditioning=cond)
    _, _, text, audio = _inputs(cfg)
    d = build_discriminator(cfg, seed=0)
    score = d([audio, text]).numpy()
    assert score.shape == (BATCH, 1)
    other = d([audio, tf.reverse(text, [0])]).numpy()
    assert not np.allclose(score, other)  # the caption changes the score


@pytest.mark.parametrize("bands", [8, 64])
def test_mel_critic_reads_mel_bands_and_the_caption(bands):
    cfg = _cfg(d_frequency_scale="mel", d_mel_bands=bands, spectral_norm=True, sample_rate=8000)
    cfg.validate()
    _, _, text, audio = _inputs(cfg)
    d = build_discriminator(cfg, seed=0)
    mel = d.get_layer("log_mel_stft")
    assert isinstance(mel, LogMelSTFT) and (mel.bands, mel.sample_rate) == (bands, 8000)
    assert mel.output.shape == (None, 1 + (cfg.length - 128) // 32, bands, 1)
    assert not any(isinstance(layer, LogMagnitudeSTFT) for layer in d.layers)
    score = d([audio, text]).numpy()
    assert score.shape == (BATCH, 1) and np.all(np.isfinite(score))
    assert not np.allclose(score, d([audio, tf.reverse(text, [0])]).numpy())
    with tf.GradientTape() as tape:
        tape.watch(audio)
        out = tf.reduce_sum(d([audio, text]))
    grad = tape.gradient(out, audio).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_the_linear_critic_is_unchanged_and_mel_swaps_only_its_input_layer():
    linear = build_discriminator(_cfg(), seed=0)
    assert _cfg().d_frequency_scale == "linear"
    stft = linear.get_layer("log_stft")
    assert isinstance(stft, LogMagnitudeSTFT) and stft.output.shape[2] == 128 // 2 + 1
    assert not any(isinstance(layer, LogMelSTFT) for layer in linear.layers)
    mel = build_discriminator(_cfg(d_frequency_scale="mel", d_mel_bands=40), seed=0)

    def layers(model):
        return [(type(layer).__name__, layer.name) for layer in model.layers]

    expected = [("LogMelSTFT", "log_mel_stft") if name == "log_stft" else (kind, name)
                for kind, name in layers(linear)]
    assert layers(mel) == expected
    # Same weights, same shapes: the 3x3 kernels do not depend on the frequency axis's size.
    assert [w.shape for w in mel.weights] == [w.shape for w in linear.weights]


def test_spectral_discriminator_refuses_concat():
    with pytest.raises(ConfigError, match="projection"):
        _cfg(d_conditioning="concat").validate()


def test_contrastive_heads():
    cfg = _cfg(contrastive_dim=6)
    _, _, text, audio = _inputs(cfg)
    score, a, u = build_discriminator(cfg)([audio, text])
    assert score.shape == (BATCH, 1) and a.shape == (BATCH, 6) and u.shape == (BATCH, 6)


@pytest.mark.parametrize("disc", ["spectral", "wavegan"])
def test_spectral_norm_bounds_every_wrapped_kernel(disc):
    cfg = _cfg(discriminator=disc, spectral_norm=True)
    _, _, text, audio = _inputs(cfg)
    d = build_discriminator(cfg, seed=0)
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) >= 5
    opt = keras.optimizers.Adam(1e-2)
    for _ in range(30):  # updates between calls; power iteration converges across calls
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(d([audio, text], training=True))
        opt.apply_gradients(zip(tape.gradient(loss, d.trainable_variables), d.trainable_variables))
    d([audio, text], training=True)
    for layer in wrapped:
        kernel = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
        top = np.linalg.svd(kernel, compute_uv=False)[0]
        assert top == pytest.approx(1.0, abs=0.05), layer.name
    # Without the switch the same kernels are not normalised.
    plain = build_discriminator(_cfg(discriminator=disc), seed=0)
    tops = [np.linalg.svd(layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1]),
                          compute_uv=False)[0]
            for layer in plain.layers if hasattr(layer, "kernel") and "conv" in layer.name]
    assert max(abs(t - 1.0) for t in tops) > 0.05


def test_film_starts_as_identity_and_then_depends_on_c():
    film = FiLM(3)
    x = tf.random.normal([2, 5, 3])
    c = tf.random.normal([2, 4])
    np.testing.assert_allclose(film(x, c).numpy(), x.numpy())
    film.dense.kernel.assign(tf.random.normal(film.dense.kernel.shape))
    y1 = film(x, c).numpy()
    y2 = film(x, -c).numpy()
    assert not np.allclose(y1, y2)
    # Per channel: gamma and beta broadcast over time.
    gb = c.numpy() @ film.dense.kernel.numpy() + film.dense.bias.numpy()
    expected = x.numpy() * (1 + gb[:, None, :3]) + gb[:, None, 3:]
    np.testing.assert_allclose(y1, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("generator", ["spectral", "wavegan"])
def test_film_generator_has_film_layers(generator):
    cfg = _cfg(generator=generator, film=True)
    g = build_generator(cfg)
    assert any(isinstance(layer, FiLM) for layer in g.layers)
    assert not any(isinstance(layer, FiLM) for layer in build_generator(
        _cfg(generator=generator)).layers)


@pytest.mark.parametrize("generator", ["spectral", "wavegan"])
def test_film_input_zc_lets_z_modulate_every_layer(generator):
    cfg = _cfg(generator=generator, film=True, film_input="zc")
    g = build_generator(cfg)
    films = [layer for layer in g.layers if isinstance(layer, FiLM)]
    assert films and all(f.dense.kernel.shape[0] == cfg.latent_dim + cfg.cond_dim for f in films)
    # With the first layer's weights for z zeroed, z reaches the output only through FiLM.
    kernel = g.get_layer("z_project").kernel
    kernel.assign(tf.concat([tf.zeros_like(kernel[:cfg.latent_dim]), kernel[cfg.latent_dim:]], 0))
    for f in films:
        f.dense.kernel.assign(tf.random.normal(f.dense.kernel.shape, stddev=0.3, seed=1))
    z, c, _, _ = _inputs(cfg)
    assert not np.allclose(g([z, c]).numpy(), g([-z, c]).numpy())
    plain = build_generator(_cfg(generator=generator, film=True))
    assert all(layer.dense.kernel.shape[0] == cfg.cond_dim
               for layer in plain.layers if isinstance(layer, FiLM))
    kernel = plain.get_layer("z_project").kernel
    kernel.assign(tf.concat([tf.zeros_like(kernel[:cfg.latent_dim]), kernel[cfg.latent_dim:]], 0))
    np.testing.assert_allclose(plain([z, c]).numpy(), plain([-z, c]).numpy(), atol=1e-6)


def test_film_input_zc_needs_film():
    with pytest.raises(ConfigError, match="film_input.*film=true"):
        _cfg(film_input="zc").validate()


def test_text_rms_norm_makes_the_conditioner_scale_invariant():
    cfg = _cfg(text_norm="rms", cond_augment=False)
    cond = build_conditioner(cfg, seed=0)
    _, _, text, _ = _inputs(cfg)
    np.testing.assert_allclose(cond(text).numpy(), cond(3.0 * text).numpy(), rtol=1e-4, atol=1e-5)
    plain = build_conditioner(_cfg(cond_augment=False), seed=0)
    assert not np.allclose(plain(text).numpy(), plain(3.0 * text).numpy())


@pytest.mark.parametrize("field, value", [("generator", "diffusion"), ("discriminator", "x"),
                                          ("d_conditioning", "film"), ("text_norm", "l1"),
                                          ("replay_memory", "fifo"), ("film_input", "z")])
def test_unknown_choices_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"model.{field}="):
        _cfg(**{field: value}).validate()
