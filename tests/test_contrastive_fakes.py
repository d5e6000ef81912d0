"""train.contrastive_fake_negatives: D's contrastive term takes the generated clips' audio
vectors as negatives of every caption (condgan.contrastive, condgan.gan)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_gan import tiny_batches, tiny_config

from condgan.config import ConfigError
from condgan.training.trainer import build_gan


def config(fakes: bool, weight: float = 1.0):
    cfg = tiny_config(contrastive_dim=8, replay=False, cond_augment=False, text_dropout=0.0)
    cfg.train.loss, cfg.train.contrastive_weight = "hinge", weight
    cfg.train.contrastive_fake_negatives = fakes
    return cfg.validate()


def gan_for(fakes: bool):
    keras.utils.set_random_seed(0)
    return build_gan(config(fakes))


def test_config_and_compile_refuse_it_without_the_contrastive_term():
    with pytest.raises(ConfigError, match="contrastive_fake_negatives needs the contrastive term"):
        config(True, weight=0.0)
    gan = gan_for(False)
    with pytest.raises(ValueError, match="contrastive_fake_negatives needs contrastive_weight"):
        gan.compile(gan.g_optimizer, gan.d_optimizer, loss="hinge", contrastive_weight=0.0,
                    contrastive_fake_negatives=True)


def _own_caption_cosines(gan, audio, text):
    """Mean cosine of the real and of the generated clips' audio vectors with their own
    caption's vector (the fakes from fixed z)."""
    fake = gan.generate(text, seed=5)[..., None]
    _, a_real, u = gan.discriminate(audio, text, training=False)
    _, a_fake, _ = gan.discriminate(fake, text, training=False)

    def cos(a):
        a, b = np.asarray(a), np.asarray(u)
        return float(np.mean(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))

    return cos(a_real), cos(a_fake)


def test_the_critic_learns_to_set_its_captions_apart_from_the_generated_clips():
    # Critic steps only, on one batch, from the same start: with the switch, D's head
    # moves the generated clips' vectors away from their captions relative to the real
    # clips' vectors; without it, the fakes follow the real clips.
    audio, text = next(iter(tiny_batches(n=1)))
    gaps = {}
    for fakes in (False, True):
        gan = gan_for(fakes)
        gan.d_optimizer.learning_rate.assign(1e-3)
        for _ in range(60):
            values = gan.discriminator_step(audio, text)
        assert np.isfinite(float(values[-1]))
        real, fake = _own_caption_cosines(gan, audio, text)
        gaps[fakes] = real - fake
    assert gaps[True] > gaps[False] + 0.3, gaps


@pytest.mark.parametrize("fused", [False, True])
def test_value_is_the_info_nce_with_the_fakes_as_negatives(fused):
    # One critic step's reported term equals the numpy InfoNCE of the same vectors: the
    # step's draws (z, phase shuffles) are replayed from the seed generators' states.
    from test_contrastive import _numpy_info_nce as numpy_info_nce

    gan = gan_for(True)
    gan.fused_d_pass = fused  # real and fake through D in one call or two, as below
    audio, text = next(iter(tiny_batches(n=1)))
    seeds = [v for v in gan.variables if v.path.endswith("seed_generator_state")]
    assert seeds
    state = [v.numpy() for v in seeds]
    z = gan._sample_z(audio.shape[0])
    fake = gan.generator([z, gan.conditioner(text, training=True)], training=True)
    if fused:
        _, a, u = gan.discriminate(tf.concat([audio, fake], 0), tf.concat([text, text], 0))
        a, u, f = a[:4], u[:4], a[4:]
    else:
        _, a, u = gan.discriminate(audio, text)
        _, f, _ = gan.discriminate(fake, text)
    for v, s in zip(seeds, state):
        v.assign(s)
    expected = numpy_info_nce(a.numpy(), u.numpy(), text.numpy(), gan.contrastive_temperature,
                              f.numpy())
    assert float(gan.discriminator_step(audio, text)[-1]) == pytest.approx(expected, rel=1e-4)
