"""Tests for condgan.objective.mode_seeking (MSGAN) against numpy."""

import numpy as np
import tensorflow as tf

from condgan.objective import mode_seeking as losses


def _np_mode_seeking(f1, f2, z1, z2, eps=1e-5):
    ratio = np.abs(f1 - f2).mean() / np.abs(z1 - z2).mean()
    return 1.0 / (ratio + eps)


class ModeSeekingTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.f1 = rng.normal(size=(4, 64, 1)).astype(np.float32)
        self.f2 = rng.normal(size=(4, 64, 1)).astype(np.float32)
        self.z1 = rng.normal(size=(4, 10)).astype(np.float32)
        self.z2 = rng.normal(size=(4, 10)).astype(np.float32)

    def test_matches_numpy(self):
        loss = losses.mode_seeking_loss(self.f1, self.f2, self.z1, self.z2)
        args = [a.astype(np.float64) for a in (self.f1, self.f2, self.z1, self.z2)]
        self.assertAllClose(loss, _np_mode_seeking(*args), rtol=1e-5)

    def test_collapsed_generator_scores_one_over_eps(self):
        collapsed = losses.mode_seeking_loss(self.f1, self.f1, self.z1, self.z2, eps=1e-5)
        diverse = losses.mode_seeking_loss(self.f1, self.f2, self.z1, self.z2, eps=1e-5)
        self.assertAllClose(collapsed, 1e5, rtol=1e-6)
        self.assertLess(diverse.numpy(), 10.0)
        # Nearly collapsed outputs are penalised more than diverse ones.
        nearly = losses.mode_seeking_loss(self.f1, self.f1 + 0.01 * self.f2, self.z1, self.z2)
        self.assertGreater(nearly.numpy(), 10 * diverse.numpy())

    def test_gradient_pushes_outputs_apart(self):
        f2 = tf.Variable(self.f1 + 0.1 * self.f2)
        with tf.GradientTape() as tape:
            loss = losses.mode_seeking_loss(self.f1, f2, self.z1, self.z2)
        grad = tape.gradient(loss, f2).numpy()
        # A gradient step (f2 - lr * grad) must move f2 away from f1.
        diff = f2.numpy() - self.f1
        self.assertLess(np.sum(grad * diff), 0.0)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "eps must be > 0"):
            losses.mode_seeking_loss(self.f1, self.f2, self.z1, self.z2, eps=0.0)
        with self.assertRaisesRegex(ValueError, "fake_1 and fake_2 must have the same shape"):
            losses.mode_seeking_loss(self.f1, self.f2[:, :32], self.z1, self.z2)
        with self.assertRaisesRegex(ValueError, "z_1 and z_2 must have the same shape"):
            losses.mode_seeking_loss(self.f1, self.f2, self.z1, self.z2[:, :5])


if __name__ == "__main__":
    tf.test.main()
