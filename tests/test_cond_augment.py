"""Tests for condgan.method.cond_augment against numpy / scipy references."""

import keras
import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import tensorflow as tf
from absl.testing import parameterized

from condgan.method.cond_augment import CondAugment, kl_divergence

EMB = 12
DIM = 8


def _np_leaky_relu(x, slope=0.2):
    return np.where(x >= 0, x, slope * x)


def _np_mean_log_sigma(layer, x):
    """The layer's Gaussian parameters recomputed in numpy from its Dense weights."""
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.projection.weights)
    h = _np_leaky_relu(x.astype(np.float64) @ kernel + bias)
    return h[:, :layer.dim], h[:, layer.dim:]


def _np_kl(mean, log_sigma):
    """Independent StackGAN KL: mean over elements of KL(N(mu, s^2) || N(0, 1))."""
    sigma2 = np.exp(2.0 * log_sigma.astype(np.float64))
    mean = mean.astype(np.float64)
    return np.mean(0.5 * (sigma2 + mean ** 2 - 1.0 - np.log(sigma2)))


def _inputs(batch=5, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, EMB)).astype(np.float32)


class KlDivergenceTest(tf.test.TestCase):

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(1)
        mean = rng.normal(size=(6, DIM)).astype(np.float32)
        log_sigma = rng.normal(scale=0.5, size=(6, DIM)).astype(np.float32)
        self.assertAllClose(kl_divergence(mean, log_sigma), _np_kl(mean, log_sigma), rtol=1e-5)

    def test_is_multivariate_gaussian_kl_per_element(self):
        # KL of the diagonal Gaussian (closed form with trace / log det), summed over the
        # batch, then divided by batch * dim: the formula averages the per-element KL.
        rng = np.random.default_rng(2)
        mean = rng.normal(size=(4, DIM))
        log_sigma = rng.normal(scale=0.3, size=(4, DIM))
        total = 0.0
        for mu, ls in zip(mean, log_sigma):
            cov = np.diag(np.exp(2 * ls))
            total += 0.5 * (np.trace(cov) + mu @ mu - DIM - np.log(np.linalg.det(cov)))
        got = kl_divergence(mean.astype(np.float32), log_sigma.astype(np.float32))
        self.assertAllClose(got, total / mean.size, rtol=1e-5)

    def test_is_the_gaussian_kl_by_numerical_integration(self):
        # Integrate p log(p / q) directly, with no closed form involved.
        for mu, sigma in [(0.0, 1.0), (1.5, 0.4), (-0.7, 2.5)]:
            p = scipy.stats.norm(mu, sigma)
            q = scipy.stats.norm(0.0, 1.0)
            integral, _ = scipy.integrate.quad(
                lambda x, p=p, q=q: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), mu - 12 * sigma, mu + 12 * sigma)
            got = kl_divergence(np.float32([[mu]]), np.float32([[np.log(sigma)]]))
            self.assertAllClose(got, integral, atol=1e-5)

    def test_zero_only_at_standard_normal(self):
        zeros = np.zeros((2, 3), np.float32)
        self.assertAllClose(kl_divergence(zeros, zeros), 0.0)
        self.assertGreater(
            float(kl_divergence(np.full((1, 1), 0.1, np.float32), np.zeros((1, 1), np.float32))), 0.0)


class CondAugmentTest(tf.test.TestCase, parameterized.TestCase):

    def _layer(self, **kwargs):
        kwargs.setdefault("dim", DIM)
        kwargs.setdefault("seed", 0)
        layer = CondAugment(**kwargs)
        layer.build((None, EMB))
        return layer

    @parameterized.named_parameters(("false", False), ("none", None))
    def test_inference_returns_mean_exactly(self, training):
        layer = self._layer(dropout=0.5)
        x = _inputs()
        c = layer(x, training=training).numpy()
        mean, _ = layer.mean_log_sigma(x)
        self.assertAllEqual(c, mean.numpy())
        self.assertAllEqual(layer(x, training=training).numpy(), c)  # never re-sampled
        np_mean, _ = _np_mean_log_sigma(layer, x)
        self.assertAllClose(c, np_mean, rtol=1e-5, atol=1e-6)
        self.assertEqual(c.shape, (5, DIM))
        self.assertEqual(c.dtype, np.float32)
        self.assertEmpty(layer.losses)

    def test_training_samples_truncated_unit_normal(self):
        layer = self._layer(dim=16)
        x = _inputs(batch=4096, seed=3)
        c = layer(x, training=True).numpy()
        mean, log_sigma = (t.numpy() for t in layer.mean_log_sigma(x))
        self.assertFalse(np.allclose(c, mean))
        eps = (c - mean) / np.exp(log_sigma)
        self.assertLessEqual(np.abs(eps).max(), 2.0 + 1e-4)
        self.assertGreater(np.abs(eps).max(), 1.5)  # the tails are actually used
        truncated = scipy.stats.truncnorm(-2.0, 2.0)
        self.assertAllClose(eps.std(), truncated.std(), atol=0.02)  # 0.88: unit normal cut at 2
        self.assertAllClose(eps.mean(), 0.0, atol=0.02)

    def test_dropout_acts_on_the_mean_only_and_only_in_training(self):
        layer = self._layer(dropout=0.5)
        x = _inputs(batch=64)
        # Make sigma ~ 0 so that, in training, c is the dropped-out mean alone.
        kernel, bias = layer.projection.get_weights()
        kernel[:, DIM:] = 0.0
        bias[DIM:] = -3000.0  # LeakyReLU(0.2) -> log_sigma = -600: exp underflows to 0
        layer.projection.set_weights([kernel, bias])
        np_mean, _ = _np_mean_log_sigma(layer, x)
        self.assertAllClose(layer(x, training=False).numpy(), np_mean, rtol=1e-5, atol=1e-6)
        c = layer(x, training=True).numpy()
        dropped = c == 0.0
        self.assertBetween(dropped.mean(), 0.4, 0.6)
        # Kept units are rescaled by 1 / (1 - rate).
        self.assertAllClose(c[~dropped], 2.0 * np_mean[~dropped], rtol=1e-5, atol=1e-5)

    def test_dropout_does_not_change_the_kl(self):
        # The KL term sees the parameters before dropout; log_sigma is never dropped.
        x = _inputs(batch=256, seed=4)
        plain = self._layer(dim=16, dropout=0.0, seed=1)
        dropped = self._layer(dim=16, dropout=0.5, seed=1)
        dropped.set_weights(plain.get_weights())
        plain(x, training=True)
        dropped(x, training=True)
        self.assertAllClose(plain.losses[0], dropped.losses[0], rtol=1e-6)
        self.assertAllClose(dropped.losses[0], 2.0 * _np_kl(*_np_mean_log_sigma(dropped, x)),
                            rtol=1e-5)

    @parameterized.named_parameters(("half", 0.5), ("stackgan", 2.0))
    def test_kl_loss_added_in_training_scaled_by_weight(self, kl_weight):
        layer = self._layer(kl_weight=kl_weight)
        x = _inputs()
        layer(x, training=True)
        self.assertLen(layer.losses, 1)
        expected = kl_weight * _np_kl(*_np_mean_log_sigma(layer, x))
        self.assertAllClose(layer.losses[0], expected, rtol=1e-5)
        layer(x, training=False)
        self.assertEmpty(layer.losses)

    def test_no_loss_when_kl_weight_zero(self):
        layer = self._layer(kl_weight=0.0)
        x = _inputs()
        c = layer(x, training=True)
        self.assertEmpty(layer.losses)
        self.assertFalse(np.allclose(c, layer(x).numpy()))  # still samples

    def test_gradients_through_c_and_kl(self):
        layer = self._layer()
        x = _inputs(batch=16)
        with tf.GradientTape(persistent=True) as tape:
            c = layer(x, training=True)
            c_loss = tf.reduce_sum(c)
            kl_loss = layer.losses[0]
        kernel, bias = layer.projection.kernel, layer.projection.bias
        for loss in (c_loss, kl_loss):
            for grad in tape.gradient(loss, [kernel, bias]):
                self.assertIsNotNone(grad)
                self.assertGreater(float(tf.reduce_max(tf.abs(grad))), 0.0)
        # d sum(c) / d bias, derived by hand: the mean half passes leaky'(pre), the
        # log-sigma half passes leaky'(pre) * sigma * eps, with eps fixed by the draw.
        kernel_np, bias_np = kernel.numpy(), bias.numpy()
        pre = x @ kernel_np + bias_np
        slope = np.where(pre >= 0, 1.0, 0.2)
        mean, log_sigma = (t.numpy() for t in layer.mean_log_sigma(x))
        eps = (c.numpy() - mean) / np.exp(log_sigma)
        expected = np.concatenate([
            slope[:, :DIM].sum(0), (slope[:, DIM:] * np.exp(log_sigma) * eps).sum(0)])
        self.assertAllClose(tape.gradient(c_loss, bias), expected, rtol=1e-4, atol=1e-5)

    def test_same_seed_same_eps(self):
        x = _inputs()
        a = self._layer(seed=7)
        b = self._layer(seed=7)
        b.set_weights(a.get_weights())
        first = a(x, training=True).numpy()
        self.assertAllEqual(first, b(x, training=True).numpy())
        self.assertNotAllClose(first, a(x, training=True).numpy())  # the stream advances
        other = self._layer(seed=8)
        other.set_weights(a.get_weights())
        self.assertNotAllClose(first, other(x, training=True).numpy())

    def test_config_round_trip(self):
        layer = self._layer(dim=16, kl_weight=0.5, dropout=0.25, seed=3, name="ca")
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        self.assertIsInstance(restored, CondAugment)
        self.assertEqual(restored.get_config(), layer.get_config())
        self.assertEqual((restored.dim, restored.kl_weight, restored.dropout, restored.seed),
                         (16, 0.5, 0.25, 3))

    def test_functional_model_save_load(self):
        inputs = keras.Input((EMB,))
        model = keras.Model(inputs, CondAugment(dim=DIM, seed=1, name="ca")(inputs))
        x = _inputs()
        model(x, training=True)
        self.assertLen(model.losses, 1)
        model(x)
        self.assertEmpty(model.losses)
        path = self.get_temp_dir() + "/m.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded.get_layer("ca"), CondAugment)
        self.assertAllEqual(loaded(x).numpy(), model(x).numpy())

    def test_tf_function_unknown_batch(self):
        layer = self._layer()

        @tf.function(input_signature=[tf.TensorSpec([None, EMB], tf.float32)])
        def step(x):
            c = layer(x, training=True)
            return c, layer.losses[0], layer(x, training=False)

        x = _inputs(batch=3)
        c1, kl, mean = step(x)
        c2, _, _ = step(x)
        self.assertEqual(c1.shape, (3, DIM))
        self.assertAllClose(kl, 2.0 * _np_kl(*_np_mean_log_sigma(layer, x)), rtol=1e-5)
        self.assertNotAllClose(c1, c2)  # the seed generator state advances inside the graph
        self.assertAllEqual(mean, layer(x).numpy())
        self.assertEqual(step(_inputs(batch=7))[0].shape, (7, DIM))

    @parameterized.named_parameters(
        ("dim_zero", dict(dim=0), "dim"),
        ("dim_float", dict(dim=4.0), "dim"),
        ("kl_negative", dict(kl_weight=-1.0), "kl_weight"),
        ("dropout_one", dict(dropout=1.0), "dropout"),
        ("seed_str", dict(seed="1"), "seed"),
    )
    def test_bad_arguments(self, kwargs, name):
        with self.assertRaisesRegex(ValueError, name):
            CondAugment(**kwargs)

    def test_bad_input_rank(self):
        with self.assertRaisesRegex(ValueError, "text_embedding"):
            CondAugment(dim=4)(np.zeros((2, 3, EMB), np.float32))


if __name__ == "__main__":
    pytest.main([__file__])
