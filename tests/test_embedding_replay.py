"""Tests for condgan.method.embedding_replay against a pure-Python ring model."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from condgan.method.embedding_replay import EmbeddingReplay

EMB = 6
COND = 4


class RingModel:
    """The ring buffer written one pair at a time: the reference for the layer's writes."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.slots = [None] * capacity
        self.count = 0
        self.write_index = 0

    def write(self, text, c):
        for pair in zip(text, c):
            self.slots[self.write_index] = pair
            self.write_index = (self.write_index + 1) % self.capacity
            self.count = min(self.count + 1, self.capacity)

    def arrays(self):
        filled = [p if p is not None else (np.zeros(EMB), np.zeros(COND)) for p in self.slots]
        return np.stack([p[0] for p in filled]), np.stack([p[1] for p in filled])


def _batch(rng, size):
    """Distinct random pairs, so every stored row identifies its slot."""
    return (rng.normal(size=(size, EMB)).astype(np.float32),
            rng.normal(size=(size, COND)).astype(np.float32))


def _layer(**kwargs):
    kwargs.setdefault("seed", 0)
    layer = EmbeddingReplay(**kwargs)
    layer.build((None, EMB), (None, COND))
    return layer


def _state(layer):
    return (layer.text_buffer.numpy().copy(), layer.c_buffer.numpy().copy(),
            int(layer.count.numpy()), int(layer.write_index.numpy()))


class EmbeddingReplayTest(tf.test.TestCase, parameterized.TestCase):

    def test_ring_order_wrap_and_clamp(self):
        layer = _layer(capacity=7, replay_prob=0.0)
        ring = RingModel(7)
        rng = np.random.default_rng(0)
        # 3 + 5 wraps once, 9 > capacity clamps, then small writes wrap again.
        for size in (3, 5, 9, 1, 6, 2, 7, 4):
            text, c = _batch(rng, size)
            layer(text, c, training=True)
            ring.write(text, c)
            text_buffer, c_buffer, count, write_index = _state(layer)
            ring_text, ring_c = ring.arrays()
            self.assertAllEqual(text_buffer, ring_text)
            self.assertAllEqual(c_buffer, ring_c)
            self.assertEqual(count, ring.count)
            self.assertEqual(write_index, ring.write_index)

    def test_count_grows_then_saturates(self):
        layer = _layer(capacity=10, replay_prob=0.0)
        rng = np.random.default_rng(1)
        seen = []
        for _ in range(4):
            layer(*_batch(rng, 4), training=True)
            seen.append((int(layer.count.numpy()), int(layer.write_index.numpy())))
        self.assertEqual(seen, [(4, 4), (8, 8), (10, 2), (10, 6)])

    def test_replay_prob_zero_never_replays(self):
        layer = _layer(capacity=16, replay_prob=0.0, replay_fraction=1.0)
        rng = np.random.default_rng(2)
        for _ in range(20):
            text, c = _batch(rng, 5)
            text_out, c_out, replayed = layer(text, c, training=True)
            self.assertFalse(np.any(replayed.numpy()))
            self.assertAllEqual(text_out, text)
            self.assertAllEqual(c_out, c)

    @parameterized.named_parameters(
        ("quarter_of_8", 8, 0.25, 2),
        ("round_half_to_even", 10, 0.25, 2),  # 2.5 -> 2, as Python's round
        ("at_least_one", 3, 0.1, 1),
        ("whole_batch", 5, 1.0, 5),
        ("python_round_not_float32", 50, 0.59, 30),  # float32 arithmetic gives 29
    )
    def test_replay_prob_one_replaces_exactly_k_rows(self, batch, fraction, k):
        self.assertEqual(k, max(1, round(fraction * batch)))
        layer = _layer(capacity=32, replay_prob=1.0, replay_fraction=fraction)
        rng = np.random.default_rng(3)
        text, c = _batch(rng, batch)
        _, _, replayed = layer(text, c, training=True)
        self.assertFalse(np.any(replayed.numpy()))  # nothing stored yet
        chosen_rows = set()
        for _ in range(10):
            text, c = _batch(rng, batch)
            _, _, replayed = layer(text, c, training=True)
            self.assertEqual(int(np.sum(replayed.numpy())), k)
            chosen_rows |= set(np.flatnonzero(replayed.numpy()))
        if k < batch:
            self.assertGreater(len(chosen_rows), k)  # the replaced rows vary

    def test_replay_prob_half_replays_about_half_the_steps(self):
        layer = _layer(capacity=64, replay_prob=0.5)
        rng = np.random.default_rng(4)
        step = tf.function(lambda text, c: layer(text, c, training=True)[2])
        step(*_batch(rng, 8))
        steps = [bool(np.any(step(*_batch(rng, 8)).numpy())) for _ in range(200)]
        self.assertBetween(np.mean(steps), 0.38, 0.62)  # binomial(200, 0.5): > 3 sigma

    def test_replayed_pairs_are_stored_pairs_bit_exact(self):
        layer = _layer(capacity=6, replay_prob=1.0, replay_fraction=0.5)
        rng = np.random.default_rng(5)
        used_slots = set()
        for step in range(25):
            before_text, before_c, count, _ = _state(layer)
            text, c = _batch(rng, 4)
            text_out, c_out, replayed = (t.numpy() for t in layer(text, c, training=True))
            for row in range(4):
                if not replayed[row]:
                    self.assertAllEqual(text_out[row], text[row])
                    self.assertAllEqual(c_out[row], c[row])
                    continue
                # The stored c identifies one filled slot, whose text must come with it.
                slots = np.flatnonzero(np.all(before_c[:count] == c_out[row], axis=1))
                self.assertLen(slots, 1, msg=f"step {step} row {row}: c is not a stored c")
                self.assertAllEqual(text_out[row], before_text[slots[0]])
                used_slots.add(int(slots[0]))
        self.assertEqual(used_slots, set(range(6)))  # every filled slot can be drawn

    def test_draws_only_filled_slots(self):
        layer = _layer(capacity=50, replay_prob=1.0, replay_fraction=1.0)
        rng = np.random.default_rng(6)
        text, c = _batch(rng, 3)
        layer(text, c, training=True)
        _, c_out, replayed = layer(*_batch(rng, 40), training=True)
        self.assertTrue(np.all(replayed.numpy()))
        slots = []
        for row in c_out.numpy():
            match = np.flatnonzero(np.all(c == row, axis=1))
            self.assertLen(match, 1, msg="replayed an empty slot")
            slots.append(match[0])
        # Uniform over the 3 filled slots: 40 draws, each slot expected 13.3 times.
        self.assertAllInRange(np.bincount(slots, minlength=3), 5, 22)

    def test_gradients_pass_only_through_fresh_rows(self):
        layer = _layer(capacity=8, replay_prob=1.0, replay_fraction=0.5)
        rng = np.random.default_rng(7)
        layer(*_batch(rng, 6), training=True)
        text = tf.Variable(_batch(rng, 6)[0])
        c = tf.Variable(_batch(rng, 6)[1])
        w_text = rng.normal(size=(6, EMB)).astype(np.float32)
        w_c = rng.normal(size=(6, COND)).astype(np.float32)
        with tf.GradientTape() as tape:
            text_out, c_out, replayed = layer(text, c, training=True)
            loss = tf.reduce_sum(text_out * w_text) + tf.reduce_sum(c_out * w_c)
        grad_text, grad_c = tape.gradient(loss, [text, c])
        keep = ~replayed.numpy()[:, None]
        self.assertEqual(int(np.sum(~keep)), 3)
        self.assertAllEqual(grad_text, np.where(keep, w_text, 0.0))
        self.assertAllEqual(grad_c, np.where(keep, w_c, 0.0))

    @parameterized.named_parameters(("false", False), ("none", None))
    def test_inference_is_identity_and_leaves_buffer(self, training):
        layer = _layer(capacity=8, replay_prob=1.0, replay_fraction=1.0)
        rng = np.random.default_rng(8)
        layer(*_batch(rng, 5), training=True)
        before = _state(layer)
        text, c = _batch(rng, 5)
        text_out, c_out, replayed = layer(text, c, training=training)
        self.assertAllEqual(text_out, text)
        self.assertAllEqual(c_out, c)
        self.assertEqual(replayed.dtype, tf.bool)
        self.assertAllEqual(replayed, np.zeros(5, bool))
        after = _state(layer)
        for a, b in zip(before, after):
            self.assertAllEqual(a, b)

    def test_state_is_non_trainable_and_tracked(self):
        layer = _layer(capacity=9)
        self.assertEmpty(layer.trainable_weights)
        names = sorted(w.name for w in layer.non_trainable_weights)
        self.assertEqual(names, ["c_buffer", "count", "text_buffer", "write_index"])
        self.assertEqual(tuple(layer.text_buffer.shape), (9, EMB))
        self.assertEqual(tuple(layer.c_buffer.shape), (9, COND))

    def test_checkpoint_round_trip_into_fresh_layer(self):
        layer = _layer(capacity=5, replay_prob=0.0)
        rng = np.random.default_rng(9)
        for size in (3, 4):
            layer(*_batch(rng, size), training=True)
        saved = _state(layer)
        self.assertEqual(saved[2:], (5, 2))
        path = tf.train.Checkpoint(layer=layer).save(os.path.join(self.get_temp_dir(), "ckpt"))

        fresh = _layer(capacity=5, replay_prob=0.0)
        tf.train.Checkpoint(layer=fresh).restore(path).assert_existing_objects_matched()
        for a, b in zip(saved, _state(fresh)):
            self.assertAllEqual(a, b)
        # The restored ring continues where the saved one stopped.
        text, c = _batch(rng, 1)
        fresh(text, c, training=True)
        self.assertAllEqual(fresh.text_buffer.numpy()[2], text[0])
        self.assertEqual(int(fresh.write_index.numpy()), 3)

    def test_config_round_trip(self):
        layer = EmbeddingReplay(capacity=33, replay_prob=0.3, replay_fraction=0.5, seed=4, name="er")
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        self.assertIsInstance(restored, EmbeddingReplay)
        self.assertEqual(restored.get_config(), layer.get_config())
        self.assertEqual((restored.capacity, restored.replay_prob, restored.replay_fraction,
                          restored.seed), (33, 0.3, 0.5, 4))

    def test_functional_model_save_load_keeps_buffer(self):
        text_in, c_in = keras.Input((EMB,)), keras.Input((COND,))
        model = keras.Model([text_in, c_in], EmbeddingReplay(capacity=4, seed=1, name="er")(text_in, c_in))
        rng = np.random.default_rng(10)
        model(list(_batch(rng, 3)), training=True)
        path = os.path.join(self.get_temp_dir(), "replay.keras")
        model.save(path)
        loaded = keras.saving.load_model(path).get_layer("er")
        for a, b in zip(_state(model.get_layer("er")), _state(loaded)):
            self.assertAllEqual(a, b)

    def test_tf_function_unknown_batch_matches_eager(self):
        graph_layer = _layer(capacity=6, replay_prob=0.7, replay_fraction=0.5, seed=11)
        eager_layer = _layer(capacity=6, replay_prob=0.7, replay_fraction=0.5, seed=11)

        @tf.function(input_signature=[tf.TensorSpec([None, EMB], tf.float32),
                                      tf.TensorSpec([None, COND], tf.float32)])
        def step(text, c):
            return graph_layer(text, c, training=True)

        ring = RingModel(6)
        rng = np.random.default_rng(11)
        any_replayed = False
        for size in (4, 3, 5, 8, 2, 4, 4):
            text, c = _batch(rng, size)
            graph_out = step(text, c)
            eager_out = eager_layer(text, c, training=True)
            for g, e in zip(graph_out, eager_out):
                self.assertAllEqual(g, e)
            self.assertEqual(graph_out[0].shape, (size, EMB))
            any_replayed |= bool(np.any(graph_out[2].numpy()))
            ring.write(text, c)
            ring_text, ring_c = ring.arrays()
            self.assertAllEqual(graph_layer.text_buffer.numpy(), ring_text)
            self.assertAllEqual(graph_layer.c_buffer.numpy(), ring_c)
        self.assertTrue(any_replayed)
        self.assertEqual(step.experimental_get_tracing_count(), 1)  # one graph for all sizes
        self.assertIsNone(step.get_concrete_function().structured_outputs[0].shape[0])

    def test_deterministic_for_a_seed(self):
        def run(seed):
            layer = _layer(capacity=8, replay_prob=0.5, replay_fraction=0.5, seed=seed)
            rng = np.random.default_rng(12)
            return np.stack([layer(*_batch(rng, 6), training=True)[2].numpy() for _ in range(20)])

        first = run(5)
        self.assertAllEqual(first, run(5))
        self.assertNotAllEqual(first, run(6))

    @parameterized.named_parameters(
        ("capacity_zero", dict(capacity=0), "capacity"),
        ("capacity_float", dict(capacity=2.0), "capacity"),
        ("prob_above_one", dict(replay_prob=1.5), "replay_prob"),
        ("fraction_zero", dict(replay_fraction=0.0), "replay_fraction"),
        ("seed_float", dict(seed=1.5), "seed"),
    )
    def test_bad_arguments(self, kwargs, name):
        with self.assertRaisesRegex(ValueError, name):
            EmbeddingReplay(**kwargs)

    def test_bad_shapes(self):
        with self.assertRaisesRegex(ValueError, "c must have shape"):
            EmbeddingReplay()(np.zeros((2, EMB), np.float32), np.zeros((2, 3, COND), np.float32))
        with self.assertRaisesRegex(ValueError, "same batch size"):
            EmbeddingReplay()(np.zeros((2, EMB), np.float32), np.zeros((3, COND), np.float32))


if __name__ == "__main__":
    pytest.main([__file__])


class ReservoirTest(tf.test.TestCase):
    """memory="reservoir": a uniform sample of every pair seen (algorithm R)."""

    def _layer(self, capacity, seed=0):
        layer = EmbeddingReplay(capacity=capacity, replay_prob=0.0, seed=seed, memory="reservoir")
        layer.build((None, EMB), (None, COND))
        return layer

    def test_fills_in_order_then_counts_every_pair(self):
        layer = self._layer(capacity=10)
        rng = np.random.default_rng(0)
        text, c = _batch(rng, 7)
        layer(text, c, training=True)
        self.assertEqual(int(layer.count.numpy()), 7)
        self.assertAllClose(layer.text_buffer.numpy()[:7], text)
        self.assertAllClose(layer.c_buffer.numpy()[:7], c)
        text2, c2 = _batch(rng, 7)
        layer(text2, c2, training=True)
        self.assertEqual(int(layer.count.numpy()), 10)
        self.assertEqual(int(layer.seen.numpy()), 14)
        # Rows 7..9 of the stream (text2[:3]) filled slots 7..9; rows 10..13 may replace any slot.
        stored = {tuple(np.round(r, 5)) for r in layer.text_buffer.numpy()}
        offered = {tuple(np.round(r, 5)) for r in np.concatenate([text, text2])}
        self.assertTrue(stored <= offered)

    def test_keeps_a_uniform_sample_of_the_whole_stream(self):
        # 4,000 pairs through 100 slots: a ring keeps the last 100 (indices >= 3,900);
        # the reservoir keeps each pair with probability 100 / 4,000, whatever its age.
        from scipy import stats

        capacity, batch, steps = 100, 40, 100
        layers = [self._layer(capacity, seed=s) for s in range(8)]
        kept = []
        n = batch * steps
        for layer in layers:
            for step in range(steps):
                index = np.arange(step * batch, (step + 1) * batch, dtype=np.float32)
                text = np.repeat(index[:, None], EMB, axis=1)
                layer(text, np.zeros((batch, COND), np.float32), training=True)
            stored = layer.text_buffer.numpy()[:, 0]
            self.assertEqual(len(np.unique(stored)), capacity)  # no pair stored twice...
            kept.append(stored)
        kept = np.concatenate(kept)
        self.assertLess(np.mean(kept >= n - capacity), 0.1)
        # ... and the kept indices are uniform over the stream (KS against U[0, n)).
        self.assertGreater(stats.kstest(kept / n, "uniform").pvalue, 1e-3)

    def test_ring_default_is_unchanged_and_reservoir_saves_seen(self):
        ring = EmbeddingReplay(capacity=4)
        ring.build((None, EMB), (None, COND))
        self.assertFalse(hasattr(ring, "seen"))
        layer = self._layer(capacity=4)
        rng = np.random.default_rng(1)
        layer(*_batch(rng, 9), training=True)
        ckpt = tf.train.Checkpoint(replay=layer)
        path = ckpt.save(os.path.join(self.get_temp_dir(), "ckpt"))
        other = self._layer(capacity=4, seed=5)
        tf.train.Checkpoint(replay=other).restore(path).assert_consumed()
        self.assertEqual(int(other.seen.numpy()), 9)
        self.assertAllClose(other.text_buffer.numpy(), layer.text_buffer.numpy())

    def test_rejects_an_unknown_memory(self):
        with self.assertRaisesRegex(ValueError, "memory must be one of"):
            EmbeddingReplay(memory="fifo")

    def test_config_round_trip(self):
        layer = EmbeddingReplay(capacity=8, memory="reservoir")
        self.assertEqual(EmbeddingReplay.from_config(layer.get_config()).memory, "reservoir")
