"""The exported generator and CondGAN.generate agree on z for the same seed."""

import keras
import numpy as np
import tensorflow as tf

from condgan.config import Config
from condgan.export import GeneratorModule
from condgan.training.trainer import build_gan


def _gan():
    cfg = Config()
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, 16, 8, 8
    m.replay_capacity = 16
    keras.utils.set_random_seed(0)
    return build_gan(cfg.validate())


def test_generate_and_the_export_give_the_same_audio_for_the_same_seed():
    gan = _gan()
    module = GeneratorModule(gan, text_encoder=lambda captions: None, sample_rate=8000)
    text = tf.random.stateless_normal([3, 16], seed=[1, 2])
    for seed in (0, 7):
        exported = module.generate_from_embedding(text, tf.constant(seed, tf.int64))["audio"]
        direct = gan.generate(text, seed=seed)
        np.testing.assert_allclose(direct.numpy(), exported.numpy(), atol=1e-6)
    # Clip i depends on (seed, i) only: not on the other captions of the call.
    np.testing.assert_allclose(gan.generate(text[:1], seed=7).numpy(),
                               gan.generate(text, seed=7).numpy()[:1], atol=1e-6)
    # Clip i's z is stateless_normal([latent_dim], seed=[seed, i]): the same caption
    # twice gives two different clips.
    same = tf.repeat(text[:1], 2, axis=0)
    a = gan.generate(same, seed=7).numpy()
    assert not np.allclose(a[0], a[1])
    expected = gan((tf.random.stateless_normal([1, 8], seed=[7, 1]), text[:1]))[..., 0]
    np.testing.assert_allclose(a[1:], expected.numpy(), atol=1e-6)


def test_generate_of_no_captions_is_empty():
    gan = _gan()
    assert gan.generate(tf.zeros([0, 16]), seed=1).shape == (0, 1024)
