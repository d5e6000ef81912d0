"""Tests for condgan.nets.phase_shuffle (WaveGAN's critic regulariser) against numpy."""

import json

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from condgan.method import TextProjection
from condgan.nets.phase_shuffle import PhaseShuffle


def _np_shift_reflect(row, shift):
    """y[t] = row[t - shift], indices outside [0, T) reflected without repeating the edge."""
    length = row.shape[0]
    idx = np.arange(length) - shift
    idx = np.where(idx < 0, -idx, idx)
    idx = np.where(idx > length - 1, 2 * (length - 1) - idx, idx)
    return row[idx]


def _drawn_shifts(x, y, rad):
    """For each example, the one shift in [-rad, rad] that maps x to y (asserts uniqueness)."""
    shifts = []
    for xi, yi in zip(x, y):
        matches = [s for s in range(-rad, rad + 1) if np.array_equal(_np_shift_reflect(xi, s), yi)]
        assert len(matches) == 1, f"row matches shifts {matches}, expected exactly one"
        shifts.append(matches[0])
    return np.array(shifts)


class PhaseShuffleTest(tf.test.TestCase, parameterized.TestCase):

    def _x(self, batch=6, time=20, channels=3, seed=0):
        # Continuous random values: distinct shifts give distinct outputs.
        return np.random.default_rng(seed).normal(size=(batch, time, channels)).astype(np.float32)

    @parameterized.parameters(1, 2, 3)
    def test_each_row_is_a_reflected_shift(self, rad):
        x = self._x(batch=64)
        y = PhaseShuffle(rad, seed=rad)(x, training=True).numpy()
        self.assertEqual(y.shape, x.shape)
        shifts = _drawn_shifts(x, y, rad)
        # Per-example shifts: one batch covers every shift in [-rad, rad].
        self.assertEqual(set(shifts.tolist()), set(range(-rad, rad + 1)))

    def test_shift_distribution_is_uniform(self):
        rad = 2
        x = self._x(batch=500, time=8, channels=1)
        shifts = _drawn_shifts(x, PhaseShuffle(rad, seed=11)(x, training=True).numpy(), rad)
        counts = np.bincount(shifts + rad, minlength=2 * rad + 1)
        # 100 expected per bin; a 5-sigma band around it.
        self.assertAllInRange(counts, 50, 150)

    def test_identity_at_inference_and_rad_zero(self):
        x = self._x()
        layer = PhaseShuffle(2, seed=0)
        self.assertAllEqual(layer(x), x)
        self.assertAllEqual(layer(x, training=False), x)
        self.assertAllEqual(PhaseShuffle(0)(x, training=True), x)

    def test_shuffles_in_training(self):
        x = self._x(batch=32)
        self.assertNotAllEqual(PhaseShuffle(2, seed=0)(x, training=True), x)

    def test_same_seed_same_shifts(self):
        x = self._x(batch=32)
        a = PhaseShuffle(2, seed=5)(x, training=True)
        b = PhaseShuffle(2, seed=5)(x, training=True)
        self.assertAllEqual(a, b)

    def test_in_functional_model_with_unknown_batch(self):
        inputs = keras.Input((20, 3))
        model = keras.Model(inputs, PhaseShuffle(2, seed=1)(inputs))
        x = self._x(batch=16)
        y = model(x, training=True).numpy()
        _drawn_shifts(x, y, 2)
        self.assertAllEqual(model(x, training=False), x)

    def test_in_tf_function_draws_new_shifts_each_call(self):
        layer = PhaseShuffle(2, seed=2)
        fn = tf.function(lambda x: layer(x, training=True))
        x = self._x(batch=16)
        a, b = fn(x).numpy(), fn(x).numpy()
        self.assertNotAllEqual(_drawn_shifts(x, a, 2), _drawn_shifts(x, b, 2))

    def test_gradient_is_the_shift_transpose(self):
        # d sum(w * y) / dx is w shifted back (reflected samples add up at their source).
        x = self._x(batch=4, time=10, channels=1)
        w = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
        layer = PhaseShuffle(2, seed=4)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=True)
            loss = tf.reduce_sum(w * y)
        grad = tape.gradient(loss, xt).numpy()
        for b, s in enumerate(_drawn_shifts(x, y.numpy(), 2)):
            # The shift is a linear map y = P x; its gradient is P^T w.
            p = np.stack([_np_shift_reflect(e, s) for e in np.eye(10)], axis=1)
            self.assertAllClose(grad[b, :, 0], p.T @ w[b, :, 0], rtol=1e-5, atol=1e-6)

    def test_config_round_trip(self):
        clone = PhaseShuffle.from_config(PhaseShuffle(3, seed=9, name="ps").get_config())
        self.assertEqual((clone.rad, clone.seed, clone.name), (3, 9, "ps"))

    def test_bad_arguments(self):
        for kwargs in ({"rad": -1}, {"rad": 1.5}, {"seed": 1.0}):
            with self.assertRaisesRegex(ValueError, "PhaseShuffle"):
                PhaseShuffle(**kwargs)
        with self.assertRaisesRegex(ValueError, "more than 2 time steps"):
            PhaseShuffle(2)(np.zeros((1, 2, 1), np.float32), training=True)
        with self.assertRaisesRegex(ValueError, r"\[batch, time, channels\]"):
            PhaseShuffle(2)(np.zeros((1, 8), np.float32))


class SerializationTest(tf.test.TestCase):

    def test_registered_for_serialization(self):
        inputs = keras.Input((5,))
        x = TextProjection(6, dropout=0.1, name="proj")(inputs)
        x = keras.layers.Reshape((6, 1))(x)
        model = keras.Model(inputs, PhaseShuffle(1, name="ps")(x))
        clone = keras.models.model_from_json(model.to_json())
        self.assertIsInstance(clone.get_layer("proj"), TextProjection)
        self.assertIsInstance(clone.get_layer("ps"), PhaseShuffle)
        self.assertEqual(json.loads(model.to_json()), json.loads(clone.to_json()))
