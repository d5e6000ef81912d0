"""Tests for condgan.objective.adversarial against numpy / closed-form references."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from scipy import stats

from condgan import config
from condgan.objective import adversarial as losses


def _softplus(x):
    return np.logaddexp(0.0, x)


def _np_d_loss(kind, real, fake):
    if kind == "wgan_gp":
        return fake.mean() - real.mean()
    if kind == "hinge":
        return np.maximum(0.0, 1.0 - real).mean() + np.maximum(0.0, 1.0 + fake).mean()
    return _softplus(-real).mean() + _softplus(fake).mean()


def _np_g_loss(kind, fake):
    if kind == "non_saturating":
        return _softplus(-fake).mean()
    return -fake.mean()


class AdversarialLossTest(tf.test.TestCase, parameterized.TestCase):

    @parameterized.parameters(*config.LOSSES)
    def test_losses_match_numpy(self, kind):
        rng = np.random.default_rng(0)
        # Scale 3 puts logits on both sides of the hinge margins and into the
        # softplus tails.
        real = (rng.normal(size=(16, 1)) * 3 + 0.5).astype(np.float32)
        fake = (rng.normal(size=(16, 1)) * 3 - 0.5).astype(np.float32)
        self.assertAllClose(losses.discriminator_loss(kind, real, fake),
                            _np_d_loss(kind, real.astype(np.float64), fake.astype(np.float64)),
                            rtol=1e-5, atol=1e-6)
        self.assertAllClose(losses.generator_loss(kind, fake),
                            _np_g_loss(kind, fake.astype(np.float64)), rtol=1e-5, atol=1e-6)

    @parameterized.product(kind=config.LOSSES, weight=[0.25, 0.5])
    def test_matching_aware_loss_matches_numpy(self, kind, weight):
        rng = np.random.default_rng(2)
        real, fake, wrong = (rng.normal(size=(16, 1)) * 3 for _ in range(3))
        # The negative term of the plain loss, evaluated on fake and on mismatched logits.
        neg_fake = _np_d_loss(kind, np.full(1, np.inf if kind != "wgan_gp" else 0.0), fake)
        neg_wrong = _np_d_loss(kind, np.full(1, np.inf if kind != "wgan_gp" else 0.0), wrong)
        pos = _np_d_loss(kind, real, np.full(1, -np.inf if kind != "wgan_gp" else 0.0))
        expected = pos + (1 - weight) * neg_fake + weight * neg_wrong
        got = losses.discriminator_loss(kind, real.astype(np.float32), fake.astype(np.float32),
                                        wrong.astype(np.float32), mismatch_weight=weight)
        self.assertAllClose(got, expected, rtol=1e-5, atol=1e-6)
        # Weight 0 ignores the mismatched logits: the plain loss.
        self.assertAllClose(
            losses.discriminator_loss(kind, real, fake, wrong * 100, mismatch_weight=0.0),
            _np_d_loss(kind, real, fake), rtol=1e-5, atol=1e-6)

    def test_matching_aware_loss_bad_arguments(self):
        real = np.zeros((4, 1), np.float32)
        with self.assertRaisesRegex(ValueError, r"mismatch_weight must be in \[0, 1\), got 1.0"):
            losses.discriminator_loss("hinge", real, real, real, mismatch_weight=1.0)
        with self.assertRaisesRegex(ValueError, "needs mismatch_logits"):
            losses.discriminator_loss("hinge", real, real, None, mismatch_weight=0.5)
        with self.assertRaisesRegex(ValueError, "mismatch_logits must be logits"):
            losses.discriminator_loss("hinge", real, real, np.zeros((4, 3)), mismatch_weight=0.5)

    @parameterized.parameters(*config.LOSSES)
    def test_rank1_logits_and_float16(self, kind):
        rng = np.random.default_rng(1)
        real = rng.normal(size=8).astype(np.float16)
        fake = rng.normal(size=8).astype(np.float16)
        d = losses.discriminator_loss(kind, real, fake)
        self.assertEqual(d.dtype, tf.float32)
        self.assertAllClose(d, _np_d_loss(kind, real.astype(np.float64), fake.astype(np.float64)),
                            rtol=1e-5, atol=1e-6)

    def test_non_saturating_is_stable_for_large_logits(self):
        big = np.array([[80.0], [-80.0]], np.float32)
        d = losses.discriminator_loss("non_saturating", big, -big)
        g = losses.generator_loss("non_saturating", big)
        self.assertTrue(np.isfinite(d.numpy()) and np.isfinite(g.numpy()))
        self.assertAllClose(g, _np_g_loss("non_saturating", big.astype(np.float64)))

    def test_unknown_kind(self):
        for fn in (lambda: losses.discriminator_loss("lsgan", [[0.0]], [[0.0]]),
                   lambda: losses.generator_loss("lsgan", [[0.0]])):
            with self.assertRaisesRegex(ValueError, r"'lsgan'.*wgan_gp.*hinge.*non_saturating"):
                fn()

    def test_logits_with_wrong_shape(self):
        with self.assertRaisesRegex(ValueError, r"fake_logits.*\[batch, 1\]"):
            losses.generator_loss("hinge", np.zeros((4, 16, 1), np.float32))


class SampleAlphaTest(tf.test.TestCase):

    def test_uniform_on_unit_interval(self):
        alpha = losses.sample_alpha(20000, keras.random.SeedGenerator(0)).numpy()
        self.assertEqual(alpha.shape, (20000,))
        self.assertEqual(alpha.dtype, np.float32)
        self.assertGreaterEqual(alpha.min(), 0.0)
        self.assertLessEqual(alpha.max(), 1.0)
        self.assertGreater(stats.kstest(alpha, "uniform").pvalue, 1e-3)
        # A standard normal draw (the keras-io example's choice) must fail the
        # same test, or the test could not tell the two apart.
        normal = np.random.default_rng(0).normal(size=20000)
        self.assertLess(stats.kstest(normal, "uniform").pvalue, 1e-3)

    def test_reproducible_for_a_seed(self):
        a = losses.sample_alpha(64, 7)
        self.assertAllEqual(a, losses.sample_alpha(64, 7))
        self.assertAllEqual(a, losses.sample_alpha(64, np.int64(7)))
        self.assertNotAllClose(a, losses.sample_alpha(64, 8))
        g1, g2 = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
        first = losses.sample_alpha(64, g1)
        self.assertAllEqual(first, losses.sample_alpha(64, g2))
        # A generator advances: the next draw is a new one.
        self.assertNotAllClose(first, losses.sample_alpha(64, g1))

    def test_dynamic_batch_size_in_tf_function(self):
        gen = keras.random.SeedGenerator(0)

        @tf.function(input_signature=[tf.TensorSpec([None, 32, 1], tf.float32)])
        def draw(x):
            return losses.sample_alpha(tf.shape(x)[0], gen)

        self.assertEqual(draw(tf.zeros([5, 32, 1])).shape, (5,))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "batch_size must be >= 1, got 0"):
            losses.sample_alpha(0, 1)
        with self.assertRaisesRegex(TypeError, "seed must be an int or a keras.random"):
            losses.sample_alpha(4, 1.5)
        with self.assertRaisesRegex(TypeError, "got bool"):
            losses.sample_alpha(4, True)


class InterpolateTest(tf.test.TestCase):

    def test_endpoints_and_midpoint(self):
        rng = np.random.default_rng(0)
        real = rng.normal(size=(3, 16, 1)).astype(np.float32)
        fake = rng.normal(size=(3, 16, 1)).astype(np.float32)
        x = losses.interpolate(real, fake, np.array([0.0, 1.0, 0.25], np.float32)).numpy()
        self.assertAllClose(x[0], real[0])  # alpha = 0 -> real
        self.assertAllClose(x[1], fake[1])  # alpha = 1 -> fake
        self.assertAllClose(x[2], 0.75 * real[2] + 0.25 * fake[2])

    def test_shape_errors(self):
        real = np.zeros((3, 16, 1), np.float32)
        with self.assertRaisesRegex(ValueError, "same shape"):
            losses.interpolate(real, np.zeros((3, 8, 1), np.float32), np.zeros(3, np.float32))
        with self.assertRaisesRegex(ValueError, "alpha has 2 weights but real has batch size 3"):
            losses.interpolate(real, real, np.zeros(2, np.float32))
        with self.assertRaisesRegex(ValueError, r"alpha must be float\[batch\]"):
            losses.interpolate(real, real, np.zeros((3, 1), np.float32))


def _linear_critic(w):
    """f(x) = sum(w * x) per example; its input gradient is w everywhere."""
    return lambda x: tf.reduce_sum(w * x, axis=[1, 2])[:, None]


def _quadratic_critic(w):
    """f(x) = sum(w * x^2) per example; its input gradient is 2 w x."""
    return lambda x: tf.reduce_sum(w * tf.square(x), axis=[1, 2])[:, None]


class GradientPenaltyTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.real = rng.normal(size=(6, 32, 1)).astype(np.float32)
        self.fake = rng.normal(size=(6, 32, 1)).astype(np.float32)
        self.alpha = rng.uniform(size=6).astype(np.float32)
        self.w = rng.normal(size=(32, 1)).astype(np.float32) * 0.3

    def test_linear_critic_is_closed_form(self):
        w = tf.constant(self.w)
        gp = losses.gradient_penalty(_linear_critic(w), self.real, self.fake, self.alpha)
        self.assertAllClose(gp, (np.linalg.norm(self.w) - 1.0) ** 2, rtol=1e-5)

    def test_quadratic_critic_matches_numpy(self):
        w = tf.constant(self.w)
        gp = losses.gradient_penalty(_quadratic_critic(w), self.real, self.fake, self.alpha)
        a = self.alpha.astype(np.float64)[:, None, None]
        x_hat = self.real + a * (self.fake - self.real)
        grads = 2.0 * self.w.astype(np.float64) * x_hat
        norms = np.sqrt((grads ** 2).sum(axis=(1, 2)))
        self.assertAllClose(gp, ((norms - 1.0) ** 2).mean(), rtol=1e-5)

    def test_differentiable_wrt_critic_weights(self):
        # For the linear critic d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||:
        # this needs the second-order gradient through the inner tape.
        w = tf.Variable(self.w)
        with tf.GradientTape() as tape:
            gp = losses.gradient_penalty(_linear_critic(w), self.real, self.fake, self.alpha)
        grad = tape.gradient(gp, w)
        norm = np.linalg.norm(self.w)
        self.assertIsNotNone(grad)
        self.assertAllClose(grad, 2.0 * (norm - 1.0) * self.w / norm, rtol=1e-4, atol=1e-6)

    def test_second_order_matches_finite_differences_for_quadratic_critic(self):
        w = tf.Variable(self.w)
        critic = _quadratic_critic(w)
        with tf.GradientTape() as tape:
            gp = losses.gradient_penalty(critic, self.real, self.fake, self.alpha)
        grad = tape.gradient(gp, w).numpy()
        h, idx = 1e-2, (5, 0)
        values = []
        for sign in (1.0, -1.0):
            w_h = self.w.astype(np.float64).copy()
            w_h[idx] += sign * h
            values.append(losses.gradient_penalty(
                _quadratic_critic(tf.constant(w_h, tf.float32)), self.real, self.fake,
                self.alpha).numpy())
        self.assertAllClose(grad[idx], (values[0] - values[1]) / (2 * h), rtol=1e-2, atol=1e-4)

    def test_in_tf_function_with_sampled_alpha(self):
        w = tf.Variable(self.w)
        gen = keras.random.SeedGenerator(1)

        @tf.function
        def step(real, fake):
            alpha = losses.sample_alpha(tf.shape(real)[0], gen)
            with tf.GradientTape() as tape:
                gp = losses.gradient_penalty(_linear_critic(w), real, fake, alpha)
            return gp, tape.gradient(gp, w)

        gp, grad = step(tf.constant(self.real), tf.constant(self.fake))
        self.assertAllClose(gp, (np.linalg.norm(self.w) - 1.0) ** 2, rtol=1e-5)
        self.assertEqual(grad.shape, (32, 1))

    def test_zero_gradient_stays_finite(self):
        # A critic that is flat at x_hat: the penalty is 1 and its weight
        # gradient must not be NaN (sqrt at 0).
        w = tf.Variable(np.zeros((32, 1), np.float32))
        with tf.GradientTape() as tape:
            gp = losses.gradient_penalty(_linear_critic(w), self.real, self.fake, self.alpha)
        grad = tape.gradient(gp, w)
        self.assertAllClose(gp, 1.0, atol=1e-5)
        self.assertTrue(np.all(np.isfinite(grad.numpy())))

    def test_critic_errors(self):
        with self.assertRaisesRegex(ValueError, "does not depend on x_hat"):
            losses.gradient_penalty(lambda x: tf.zeros([6, 1]), self.real, self.fake, self.alpha)
        with self.assertRaisesRegex(ValueError, r"critic_fn\(x_hat\) must be logits"):
            losses.gradient_penalty(lambda x: 2.0 * x, self.real, self.fake, self.alpha)
