"""Tests for condgan.method.text_projection (the method's dropout on the text layer) against numpy."""

import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from condgan.method import TextProjection, normalize_text


def _np_leaky_relu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def _np_text_projection(layer, x):
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.dense.weights)
    return _np_leaky_relu(x.astype(np.float64) @ kernel + bias)


class TextProjectionTest(tf.test.TestCase):

    def test_matches_numpy_dense_leaky_relu(self):
        x = np.random.default_rng(0).normal(size=(7, 12)).astype(np.float32)
        layer = TextProjection(16)
        got = layer(x)
        self.assertEqual(got.shape, (7, 16))
        self.assertEqual(got.dtype, tf.float32)
        want = _np_text_projection(layer, x)
        self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)
        self.assertTrue(np.any(want < 0), "the check must cover the leaky (negative) branch")

    def test_dropout_only_in_training(self):
        x = np.random.default_rng(1).normal(size=(8, 12)).astype(np.float32)
        layer = TextProjection(256, dropout=0.5, seed=3)
        layer.build(x.shape)
        want = _np_text_projection(layer, x)
        for training in (False, None):
            self.assertAllClose(layer(x, training=training), want, rtol=1e-5, atol=1e-6)
        got = layer(x, training=True).numpy()
        # Inverted dropout: every unit is either dropped or scaled by 1 / (1 - rate).
        dropped = got == 0
        self.assertTrue(np.any(dropped & (want != 0)))
        self.assertAllClose(got[~dropped], 2.0 * want[~dropped], rtol=1e-5, atol=1e-6)
        self.assertBetween(dropped.mean(), 0.4, 0.6)

    def test_no_dropout_is_deterministic_in_training(self):
        x = np.random.default_rng(2).normal(size=(4, 12)).astype(np.float32)
        layer = TextProjection(8)
        self.assertAllClose(layer(x, training=True), layer(x, training=False))

    def test_config_round_trip(self):
        layer = TextProjection(16, dropout=0.25, seed=7, name="proj")
        clone = TextProjection.from_config(layer.get_config())
        self.assertEqual((clone.dim, clone.dropout, clone.seed, clone.name), (16, 0.25, 7, "proj"))

    def test_bad_arguments(self):
        for kwargs in ({"dim": 0}, {"dim": 2.5}, {"dim": 4, "dropout": 1.0},
                       {"dim": 4, "dropout": -0.1}, {"dim": 4, "seed": "x"}):
            with self.assertRaisesRegex(ValueError, "TextProjection"):
                TextProjection(**kwargs)
        with self.assertRaisesRegex(ValueError, r"\[batch, text_dim\]"):
            TextProjection(4)(np.zeros((2, 3, 4), np.float32))


class NormalizeTextTest(tf.test.TestCase):

    def test_rms_scales_to_unit_rms_and_none_passes(self):
        x = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
        text = keras.Input((16,))
        rms = keras.Model(text, normalize_text(text, "rms", 16))(x).numpy()
        np.testing.assert_allclose(np.sqrt((rms.astype(np.float64) ** 2).mean(axis=1)), 1.0, rtol=1e-5)
        np.testing.assert_allclose(rms, x / np.linalg.norm(x, axis=1, keepdims=True) * 4.0, rtol=1e-5)
        self.assertIs(normalize_text(text, "none", 16), text)
        with self.assertRaisesRegex(ValueError, "text_norm='l2' is unknown"):
            normalize_text(text, "l2", 16)


class RegistrationTest(tf.test.TestCase):

    def test_importing_the_method_registers_its_layers_with_keras(self):
        # In a fresh process: `import condgan.method` alone makes every layer of the method
        # deserialisable.
        code = ("import keras, condgan.method; "
                "print([keras.saving.get_registered_object('condgan>' + n) is not None "
                "for n in ('CondAugment', 'EmbeddingReplay', 'TextProjection')])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertEqual(out.stdout.strip(), "[True, True, True]")
