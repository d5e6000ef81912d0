"""Embedding replay: re-show the generator conditioning vectors it saw earlier.

A conditional GAN that collapses often does so one caption at a time: while
the batches happen to hold other captions, the generator drifts and forgets
how to serve the ones it no longer sees, and the critic then pulls it back
onto a few easy modes. EmbeddingReplay keeps a ring buffer of recent
`(text_embedding, c)` pairs and, in a random share of training steps, swaps a
few rows of the batch for stored pairs. The generator is therefore trained
again on conditions from earlier steps, and the discriminator judges those rows
against the matching stored text embedding, so the pair stays aligned.

A replayed row is a constant: its `c` is the stored sample itself (no
re-sampling, no gradient into the conditioning network, and no KL for it,
since it was produced and regularised when it was fresh). The layer sits
between CondAugment and the generator.

Distribution: there is one buffer of the global batch, the same on every
replica. Each step every replica all-gathers the replicas' fresh pairs and
writes all of them (in replica order, as one device writes the global batch;
the reservoir's slot draws are shared, not folded per replica), so the copies
never diverge and the buffer is exactly the one a single device would hold at
the same global batch. Replay draws (whether to replay, which rows, which
slots) are each replica's own (`condgan.seeds`), so replicas replay different
stored pairs into their own rows; a replaying replica swaps
k = max(1, round(replay_fraction * b)) of its b rows. The state variables use
`synchronization=ON_READ` with `aggregation=ONLY_FIRST_REPLICA` (each replica
writes its own copy, no merge per step); a checkpoint saves replica 0's copy,
which is every replica's, and a restore writes it into every replica, so a
resumed run has the buffer it saved. Cost per step: one all-gather of the
batch's (text_embedding, c), B x (512 + 128) float32 with the defaults. The
alternative, a buffer per replica of its own shard, needs no gather but cannot
be checkpointed whole (a restore would give every replica replica 0's buffer).
(tests/test_distribute.py.)

Memory: with `memory="ring"` (the default, the method as first built) the
buffer holds the last `capacity` pairs, which at batch 32 and the default 2,048
slots is the last 64 generator steps. With `memory="reservoir"` it is a uniform
sample of every pair seen so far (Vitter's algorithm R, applied row by row), so
its memory spans the whole run: after n pairs each of them is in the buffer
with probability capacity / n. Reservoir mode adds one state variable (`seen`,
the number of pairs offered so far) and one random stream; ring checkpoints are
unchanged. ON_READ variables do not
support `scatter_*`, so writes are `assign(tensor_scatter_nd_update(...))`,
which copies the buffer once per training step (2048 x (512 + 128) float32 =
5 MB with the defaults: negligible next to a WaveGAN step). Keras 3.15's
`add_weight` cannot set `synchronization`, so the variables are created as
`keras.Variable` attributes, which Keras tracks exactly like `add_weight`
(they appear in `layer.non_trainable_weights` and in `tf.train.Checkpoint`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from condgan import seeds
from condgan.seeds import check_seed

# What the buffer remembers: the last `capacity` pairs, or a uniform sample of all of them.
MEMORIES = ("ring", "reservoir")


@keras.saving.register_keras_serializable(package="condgan")
class EmbeddingReplay(keras.layers.Layer):
    """Buffer of (text_embedding, c) pairs replayed into training batches.

    Training step (`training=True`), with B the batch size:
      1. With probability `replay_prob`, and only if the buffer holds at least
         one pair, `k = max(1, round(replay_fraction * B))` distinct random rows
         are replaced by pairs drawn uniformly (with replacement) from the
         filled slots.
      2. The batch's incoming pairs (not the replayed ones) are written into
         the ring at `write_index`, wrapping around; if B > capacity only the
         last `capacity` rows are kept, as if written one by one. With
         `memory="reservoir"` they are offered to the reservoir instead (see
         `_write_reservoir`).
    Inference (`training` False or None) is the identity and leaves the buffer
    untouched.

    `training` must be a Python bool or None (Keras passes it down from the
    enclosing model call).

    Args:
      capacity: number of pairs the ring holds.
      replay_prob: probability that a training step replays, in [0, 1].
      replay_fraction: share of the batch replaced when replaying, in (0, 1].
      seed: optional int seed; with a seed the sequence of replay decisions,
        rows and slots is deterministic.
      memory: "ring" (the last `capacity` pairs) or "reservoir" (a uniform
        sample of all pairs seen, algorithm R).
      **kwargs: passed to `keras.layers.Layer`.

    Raises:
      ValueError: if an argument is out of range.
    """

    def __init__(self, capacity=2048, replay_prob=0.5, replay_fraction=0.25, seed=None,
                 memory="ring", **kwargs):
        super().__init__(**kwargs)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"EmbeddingReplay: capacity must be an integer >= 1, got {capacity!r}")
        if not 0.0 <= replay_prob <= 1.0:
            raise ValueError(f"EmbeddingReplay: replay_prob must be in [0, 1], got {replay_prob!r}")
        if not 0.0 < replay_fraction <= 1.0:
            raise ValueError(
                f"EmbeddingReplay: replay_fraction must be in (0, 1], got {replay_fraction!r}")
        check_seed("EmbeddingReplay", seed)
        if memory not in MEMORIES:
            raise ValueError(f"EmbeddingReplay: memory must be one of {MEMORIES}, got {memory!r}")
        self.capacity = capacity
        self.memory = memory
        self.replay_prob = float(replay_prob)
        self.replay_fraction = float(replay_fraction)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _state_variable(self, name, shape, dtype):
        return keras.Variable(
            initializer="zeros", shape=shape, dtype=dtype, trainable=False, autocast=False,
            synchronization="on_read", aggregation="only_first_replica", name=name)

    def build(self, text_embedding_shape, c_shape):
        for arg, shape in (("text_embedding", text_embedding_shape), ("c", c_shape)):
            if len(shape) != 2 or shape[-1] is None:
                raise ValueError(
                    f"EmbeddingReplay: {arg} must have shape [batch, features] with known "
                    f"features, got {tuple(shape)}")
        if None not in (text_embedding_shape[0], c_shape[0]) and text_embedding_shape[0] != c_shape[0]:
            raise ValueError(
                f"EmbeddingReplay: text_embedding and c must have the same batch size, got "
                f"{tuple(text_embedding_shape)} and {tuple(c_shape)}")
        self.text_buffer = self._state_variable(
            "text_buffer", (self.capacity, text_embedding_shape[-1]), "float32")
        self.c_buffer = self._state_variable("c_buffer", (self.capacity, c_shape[-1]), "float32")
        # Number of filled slots (<= capacity) and the next slot to write.
        self.count = self._state_variable("count", (), "int32")
        self.write_index = self._state_variable("write_index", (), "int32")
        if self.memory == "reservoir":
            # Pairs offered so far (int64: a long run offers more than 2**31).
            self.seen = self._state_variable("seen", (), "int64")

    def call(self, text_embedding, c, training=None):
        """Replays stored pairs into the batch (training only) and stores the fresh ones.

        Args:
          text_embedding: float32[batch, embedding_dim], the caption embeddings.
          c: float32[batch, cond_dim], the conditioning vectors (CondAugment's output).
          training: Python bool or None.

        Returns:
          (text_embedding_out float32[batch, embedding_dim],
           c_out float32[batch, cond_dim],
           replayed bool[batch]): rows where `replayed` is True hold a stored
          pair (constants, no gradient); the other rows are the inputs, unchanged.
        """
        text_embedding = tf.convert_to_tensor(text_embedding)
        c = tf.convert_to_tensor(c)
        batch = tf.shape(text_embedding)[0]
        if not training:
            return text_embedding, c, tf.zeros([batch], tf.bool)
        with tf.control_dependencies([tf.debugging.assert_equal(
                batch, tf.shape(c)[0],
                message="EmbeddingReplay: text_embedding and c must have the same batch size")]):
            batch = tf.identity(batch)
        count = tf.convert_to_tensor(self.count)

        # Always draw the same three streams so the random sequence depends on
        # the seed and the batch sizes only, not on the buffer's state.
        # Under tf.distribute each replica draws its own (condgan.seeds).
        decide = seeds.uniform((), self.seed_generator, per_row=False)
        row_keys = seeds.uniform((batch,), self.seed_generator)
        slot_draws = seeds.uniform((batch,), self.seed_generator)

        # float64 so that round() agrees with Python's for the k the docs promise.
        k = tf.cast(tf.round(self.replay_fraction * tf.cast(batch, tf.float64)), tf.int32)
        k = tf.minimum(tf.maximum(k, 1), batch)
        # The k rows with the smallest random key: k distinct rows, uniformly.
        rank = tf.argsort(tf.argsort(row_keys))
        replay_now = tf.logical_and(decide < self.replay_prob, count > 0)
        replayed = tf.logical_and(rank < k, replay_now)

        slots = tf.cast(tf.floor(slot_draws * tf.cast(count, slot_draws.dtype)), tf.int32)
        slots = tf.clip_by_value(slots, 0, tf.maximum(count - 1, 0))
        stored_text = tf.cast(tf.gather(self.text_buffer, slots), text_embedding.dtype)
        stored_c = tf.cast(tf.gather(self.c_buffer, slots), c.dtype)
        mask = replayed[:, None]
        text_out = tf.where(mask, tf.stop_gradient(stored_text), text_embedding)
        c_out = tf.where(mask, tf.stop_gradient(stored_c), c)

        # Automatic control dependencies order these writes after the gathers above.
        ctx = seeds.replica_context()
        if ctx is not None:
            # One buffer of the global batch, identical on every replica: each writes all
            # replicas' fresh pairs (in replica order, as one device would write the
            # global batch) with the same (shared) random draws.
            text_embedding, c = ctx.all_gather(
                [tf.stop_gradient(text_embedding), tf.stop_gradient(c)], axis=0)
            batch = tf.shape(text_embedding)[0]
        if self.memory == "reservoir":
            self._write_reservoir(text_embedding, c, batch)
        else:
            self._write(text_embedding, c, batch)
        return text_out, c_out, replayed

    def _write(self, text_embedding, c, batch):
        """Writes the fresh pairs as if one by one into the ring (the last `capacity` survive)."""
        n = tf.minimum(batch, self.capacity)
        write_index = tf.convert_to_tensor(self.write_index)
        positions = tf.math.floormod(write_index + (batch - n) + tf.range(n), self.capacity)[:, None]
        fresh_text = tf.cast(tf.stop_gradient(text_embedding[batch - n:]), self.text_buffer.dtype)
        fresh_c = tf.cast(tf.stop_gradient(c[batch - n:]), self.c_buffer.dtype)
        self.text_buffer.assign(tf.tensor_scatter_nd_update(self.text_buffer, positions, fresh_text))
        self.c_buffer.assign(tf.tensor_scatter_nd_update(self.c_buffer, positions, fresh_c))
        self.write_index.assign(tf.math.floormod(write_index + batch, self.capacity))
        self.count.assign(tf.minimum(tf.convert_to_tensor(self.count) + batch, self.capacity))

    def _write_reservoir(self, text_embedding, c, batch):
        """Algorithm R, row by row: row r is the (seen + r)-th pair offered (0-based).

        Pair n goes to slot n while n < capacity; after that it replaces slot j,
        j uniform in [0, n], when j < capacity, and is dropped otherwise. When two
        rows of one batch pick the same slot, the later row wins, as if written
        one at a time.
        """
        # Shared: every replica must pick the same slots for its copy of the buffer.
        draws = seeds.uniform((batch,), self.seed_generator, dtype="float64", shared=True)
        seen = tf.convert_to_tensor(self.seen)
        n = seen + tf.range(tf.cast(batch, tf.int64), dtype=tf.int64)
        j = tf.minimum(tf.cast(tf.floor(draws * tf.cast(n + 1, tf.float64)), tf.int64), n)
        capacity = tf.constant(self.capacity, tf.int64)
        slot = tf.where(n < capacity, n, tf.where(j < capacity, j, tf.constant(-1, tf.int64)))
        rows = tf.range(batch)
        later_same = tf.logical_and(tf.equal(slot[None, :], slot[:, None]),
                                    rows[None, :] > rows[:, None])
        keep = tf.logical_and(slot >= 0, tf.logical_not(tf.reduce_any(later_same, axis=1)))
        positions = tf.cast(tf.boolean_mask(slot, keep), tf.int32)[:, None]
        fresh_text = tf.cast(tf.stop_gradient(tf.boolean_mask(text_embedding, keep)),
                             self.text_buffer.dtype)
        fresh_c = tf.cast(tf.stop_gradient(tf.boolean_mask(c, keep)), self.c_buffer.dtype)
        self.text_buffer.assign(tf.tensor_scatter_nd_update(self.text_buffer, positions, fresh_text))
        self.c_buffer.assign(tf.tensor_scatter_nd_update(self.c_buffer, positions, fresh_c))
        new_seen = seen + tf.cast(batch, tf.int64)
        self.seen.assign(new_seen)
        self.count.assign(tf.cast(tf.minimum(new_seen, capacity), tf.int32))

    def compute_output_spec(self, text_embedding, c, training=None):
        return (
            keras.KerasTensor(text_embedding.shape, dtype=text_embedding.dtype),
            keras.KerasTensor(c.shape, dtype=c.dtype),
            keras.KerasTensor(text_embedding.shape[:1], dtype="bool"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(capacity=self.capacity, replay_prob=self.replay_prob,
                      replay_fraction=self.replay_fraction, seed=self.seed, memory=self.memory)
        return config
