"""Tests of the WaveGAN base (condgan.nets.wavegan, condgan.nets.discriminator) and the conditioner:
shapes, conditioning, gradients, serialization, WaveGAN sizes."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from _configs import base
from absl.testing import parameterized

from condgan.config import SUPPORTED_LENGTHS, ConfigError
from condgan.method import CondAugment, TextProjection, build_conditioner
from condgan.nets import build_discriminator, build_generator, wavegan
from condgan.nets.phase_shuffle import PhaseShuffle

BATCH = 3


# The first base (experiments/configs/bases/wavegan.json) at WaveGAN's published size.
WAVEGAN = dataclasses.replace(base("wavegan").model, model_dim=64, length=16384)


def _tiny(**overrides):
    kwargs = dict(length=1024, text_dim=16, latent_dim=8, model_dim=4, cond_dim=8,
                  text_dropout=0.0, phase_shuffle=2)
    kwargs.update(overrides)
    cfg = dataclasses.replace(WAVEGAN, **kwargs)
    cfg.validate()
    return cfg


def _inputs(cfg, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(BATCH, cfg.latent_dim)).astype(np.float32)
    c = rng.normal(size=(BATCH, cfg.cond_dim)).astype(np.float32)
    text = rng.normal(size=(BATCH, cfg.text_dim)).astype(np.float32)
    audio = rng.uniform(-1, 1, size=(BATCH, cfg.length, 1)).astype(np.float32)
    # Tensors, not arrays: Keras refuses a list input that mixes the two.
    return tuple(tf.constant(a) for a in (z, c, text, audio))


def _conv_params(kernel, widths):
    """Weights + biases of a chain of 1-D convolutions through the given channel widths."""
    return sum(kernel * a * b + b for a, b in zip(widths[:-1], widths[1:]))


class LayerStridesTest(tf.test.TestCase):

    def test_reach_every_supported_length_from_16_steps(self):
        for length in SUPPORTED_LENGTHS:
            self.assertEqual(16 * np.prod(wavegan.layer_strides(length)), length)
        self.assertEqual(wavegan.layer_strides(16384), (4,) * 5)
        self.assertEqual(wavegan.layer_strides(32768), (4,) * 5 + (2,))
        self.assertEqual(wavegan.layer_strides(8192), (4,) * 4 + (2,))
        self.assertEqual(wavegan.layer_strides(512), (4, 4, 2))
        self.assertEqual(wavegan.layer_strides(65536), (4,) * 6)

    def test_unsupported_length(self):
        with self.assertRaisesRegex(ValueError, "length=1000"):
            wavegan.layer_strides(1000)


class ShapesTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.named_parameters(
        [(str(length), length, 4) for length in SUPPORTED_LENGTHS if length < 65536]
        + [("65536", 65536, 2)])
    def test_generator_and_discriminator_shapes(self, length, model_dim):
        cfg = _tiny(length=length, model_dim=model_dim)
        z, c, text, audio = _inputs(cfg)
        g = build_generator(cfg)
        d = build_discriminator(cfg)
        self.assertEqual(g.name, "generator")
        self.assertEqual(d.name, "discriminator")
        fake = g([z, c], training=True)
        self.assertEqual(fake.shape, (BATCH, length, 1))
        self.assertEqual(fake.dtype, tf.float32)
        score = d([fake, text], training=True)
        self.assertEqual(score.shape, (BATCH, 1))
        self.assertAllInRange(fake, -1.0, 1.0)
        self.assertGreater(np.std(fake.numpy()), 0.0)
        # The hidden layer next to the audio has model_dim channels at every length.
        self.assertEqual(g.get_layer(f"upconv_{len(wavegan.layer_strides(length)) - 2}")
                         .output.shape[-1], model_dim)
        self.assertEqual(d.get_layer("downconv_0").output.shape[-1], model_dim)

    def test_conditioner_shape(self):
        for cond_augment in (True, False):
            cfg = _tiny(cond_augment=cond_augment)
            _, _, text, _ = _inputs(cfg)
            cond = build_conditioner(cfg)
            self.assertEqual(cond.name, "conditioner")
            self.assertEqual(cond(text).shape, (BATCH, cfg.cond_dim))

    def test_invalid_config(self):
        with self.assertRaisesRegex(ConfigError, "model.length=1000"):
            _tiny(length=1000)


class WaveGANSizeTest(tf.test.TestCase):
    """The first base at d=64, 16384 is WaveGAN plus exactly the conditioning weights."""

    def test_generator_params(self):
        cfg = WAVEGAN
        d, k = cfg.model_dim, cfg.kernel_len
        wavegan = (cfg.latent_dim * 16 * 16 * d + 16 * 16 * d
                   + _conv_params(k, [16 * d, 8 * d, 4 * d, 2 * d, d, 1]))
        self.assertAlmostEqual(wavegan / 1e6, 19.1, delta=0.1)  # WaveGAN's published size.
        self.assertEqual(build_generator(cfg).count_params(),
                         wavegan + cfg.cond_dim * 16 * 16 * d)

    def test_discriminator_params(self):
        cfg = WAVEGAN
        d, k = cfg.model_dim, cfg.kernel_len
        wavegan = _conv_params(k, [1, d, 2 * d, 4 * d, 8 * d, 16 * d]) + 16 * 16 * d + 1
        self.assertAlmostEqual(wavegan / 1e6, 17.4, delta=0.1)
        conditioning = (cfg.text_dim * cfg.cond_dim + cfg.cond_dim
                        + _conv_params(1, [16 * d + cfg.cond_dim, 16 * d]))
        self.assertEqual(build_discriminator(cfg).count_params(), wavegan + conditioning)

    def test_phase_shuffle_placement(self):
        # WaveGAN shuffles after its first four down-convolutions (v2 lengths included).
        for length, expected in ((256, 1), (4096, 3), (16384, 4), (65536, 4)):
            d = build_discriminator(_tiny(length=length, model_dim=2))
            shuffles = [layer for layer in d.layers if isinstance(layer, PhaseShuffle)]
            self.assertLen(shuffles, expected, msg=f"length {length}")
        d = build_discriminator(_tiny(phase_shuffle=0))
        self.assertFalse(any(isinstance(layer, PhaseShuffle) for layer in d.layers))

    def test_no_batch_norm(self):
        cfg = _tiny()
        for model in (build_generator(cfg), build_discriminator(cfg)):
            self.assertFalse(any("normalization" in type(layer).__name__.lower() for layer in model.layers))


class ConditioningTest(tf.test.TestCase):

    def test_discriminator_depends_on_text_and_audio(self):
        cfg = _tiny(text_dropout=0.5)
        d = build_discriminator(cfg, seed=0)
        _, _, text, audio = _inputs(cfg, seed=0)
        _, _, other_text, other_audio = _inputs(cfg, seed=1)
        score = d([audio, text], training=False).numpy()
        # Deterministic at inference: no phase shuffle, no dropout.
        self.assertAllEqual(d([audio, text], training=False), score)
        self.assertTrue(np.all(np.abs(d([audio, other_text]).numpy() - score) > 0))
        self.assertTrue(np.all(np.abs(d([other_audio, text]).numpy() - score) > 0))
        # Phase shuffle and dropout make training calls stochastic.
        self.assertNotAllClose(d([audio, text], training=True), score)

    def test_generator_depends_on_z_and_c(self):
        cfg = _tiny()
        g = build_generator(cfg)
        z, c, _, _ = _inputs(cfg, seed=0)
        z2, c2, _, _ = _inputs(cfg, seed=1)
        base = g([z, c]).numpy()
        self.assertAllEqual(g([z, c]), base)
        self.assertNotAllClose(g([z2, c]), base)
        self.assertNotAllClose(g([z, c2]), base)

    def test_conditioner_with_cond_augment(self):
        cfg = _tiny(cond_augment=True, text_dropout=0.0, kl_weight=2.0)
        cond = build_conditioner(cfg, seed=0)
        _, _, text, _ = _inputs(cfg)
        layer = cond.get_layer("cond_augment")
        self.assertIsInstance(layer, CondAugment)
        inference = cond(text, training=False).numpy()
        self.assertAllEqual(cond(text, training=False), inference)
        self.assertAllClose(inference, layer.mean_log_sigma(text)[0])
        self.assertEmpty(cond.losses)
        sampled = cond(text, training=True)
        self.assertNotAllClose(sampled, inference)
        self.assertLen(cond.losses, 1)
        self.assertGreater(float(cond.losses[0]), 0.0)

    def test_conditioner_without_cond_augment(self):
        cfg = _tiny(cond_augment=False, text_dropout=0.5)
        cond = build_conditioner(cfg, seed=0)
        _, _, text, _ = _inputs(cfg)
        self.assertIsInstance(cond.get_layer("text_projection"), TextProjection)
        inference = cond(text, training=False)
        self.assertAllEqual(cond(text, training=False), inference)
        self.assertNotAllClose(cond(text, training=True), inference)  # dropout
        self.assertEmpty(cond.losses)
        cond_no_dropout = build_conditioner(_tiny(cond_augment=False), seed=0)
        self.assertAllClose(cond_no_dropout(text, training=True), cond_no_dropout(text))


    def test_seeded_discriminator_is_reproducible_in_training(self):
        cfg = _tiny(text_dropout=0.5)
        _, _, text, audio = _inputs(cfg)
        a = build_discriminator(cfg, seed=3)
        b = build_discriminator(cfg, seed=3)
        b.set_weights(a.get_weights())
        self.assertAllEqual(a([audio, text], training=True), b([audio, text], training=True))
        seeds = [layer.seed for layer in a.layers if isinstance(layer, (PhaseShuffle, TextProjection))]
        self.assertLen(set(seeds), len(seeds))  # every layer its own stream

class GradientTest(tf.test.TestCase):

    def test_gradients_reach_every_trainable_weight(self):
        cfg = _tiny(cond_augment=True, text_dropout=0.25)
        cond = build_conditioner(cfg, seed=0)
        g = build_generator(cfg)
        d = build_discriminator(cfg, seed=0)
        z, _, text, audio = _inputs(cfg)
        weights = cond.trainable_weights + g.trainable_weights + d.trainable_weights
        with tf.GradientTape() as tape:
            fake = g([z, cond(text, training=True)], training=True)
            # Not a WGAN difference of means: there the critic's output bias cancels.
            loss = (tf.reduce_mean(d([fake, text], training=True))
                    + 0.5 * tf.reduce_mean(d([audio, text], training=True))
                    + tf.add_n(cond.losses))
        grads = tape.gradient(loss, weights)
        for w, grad in zip(weights, grads):
            self.assertIsNotNone(grad, msg=w.path)
            self.assertTrue(np.all(np.isfinite(grad.numpy())), msg=w.path)
            self.assertGreater(np.abs(grad.numpy()).max(), 0.0, msg=w.path)


    def test_gradient_penalty_double_backprop_through_phase_shuffle(self):
        # WGAN-GP differentiates the critic's input gradient again. In a piecewise-linear
        # critic that gradient is a product of the kernels on the audio path (biases and
        # the text branch only switch activation patterns), so those kernels must get a
        # nonzero second-order gradient through every phase shuffle.
        cfg = _tiny(text_dropout=0.25)
        d = build_discriminator(cfg, seed=0)
        _, _, text, audio = _inputs(cfg)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(audio)
                score = d([audio, text], training=True)
            grad = tf.reshape(inner.gradient(score, audio), [BATCH, -1])
            penalty = tf.reduce_mean(tf.square(tf.norm(grad, axis=1) - 1.0))
        grads = dict(zip((w.path for w in d.trainable_weights),
                         outer.gradient(penalty, d.trainable_weights)))
        audio_path = [f"downconv_{i}/kernel" for i in range(len(wavegan.layer_strides(cfg.length)))]
        audio_path += ["cond_conv/kernel", "output/kernel"]
        for path in audio_path:
            self.assertIsNotNone(grads[path], msg=path)
            self.assertGreater(np.abs(grads[path].numpy()).max(), 0.0, msg=path)
        for path, g in grads.items():
            if g is not None:
                self.assertTrue(np.all(np.isfinite(g.numpy())), msg=path)

class SerializationTest(tf.test.TestCase):

    def _models(self, cfg):
        return (build_conditioner(cfg, seed=1), build_generator(cfg),
                build_discriminator(cfg, seed=1))

    def test_json_round_trip(self):
        for cond_augment in (True, False):
            for model in self._models(_tiny(cond_augment=cond_augment, text_dropout=0.1)):
                clone = keras.models.model_from_json(model.to_json())
                self.assertEqual(clone.name, model.name)
                self.assertEqual(clone.count_params(), model.count_params())
                self.assertEqual(clone.to_json(), model.to_json())

    def test_keras_file_round_trip(self):
        cfg = _tiny(length=256, text_dropout=0.1)
        z, _, text, audio = _inputs(cfg)
        tmp = self.get_temp_dir()
        for model in self._models(cfg):
            inputs = {"conditioner": text, "generator": [z, _inputs(cfg)[1]],
                      "discriminator": [audio, text]}[model.name]
            path = f"{tmp}/{model.name}.keras"
            model.save(path)
            loaded = keras.models.load_model(path)
            self.assertEqual(loaded.name, model.name)
            self.assertAllClose(loaded(inputs, training=False), model(inputs, training=False))
