"""Seeds: one check of a seed argument, one way to derive independent seeds from one,
and random draws that differ per tf.distribute replica.

`seed + k` is not a safe derivation: a run with seed 0 would give its
discriminator seed 1, the same seed another run (seed 1) gives its
conditioner, and their streams would coincide. `derive_seed` hashes
(seed, *path) with numpy's SeedSequence instead, so neighbouring seeds and
neighbouring paths give unrelated streams.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf


def check_seed(owner: str, seed) -> None:
    """Raises ValueError unless `seed` is an int (not a bool) or None; `owner` names the caller."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{owner}: seed must be an int or None, got {seed!r}")


def derive_seed(seed: int, *path: int) -> int:
    """A non-negative int seed (< 2**31) for the stream named by `path` under `seed`.

    Args:
      seed: the parent seed (any int; negative ones are taken modulo 2**64).
      *path: ints naming the child stream, e.g. (1,) for a model's discriminator.

    Returns:
      int in [0, 2**31), a deterministic function of (seed, *path) (for non-negative
      seeds the same as the discriminator's per-layer seeds always were).
    """
    entropy = [int(x) % 2**64 for x in (seed, *path)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


# --- Random draws under tf.distribute ----------------------------------------------------
#
# A Keras SeedGenerator created in `strategy.scope()` holds one mirrored state, and
# every replica advances it by the same amount, so `keras.random.normal(..., seed=gen)`
# gives every replica the same numbers. The draws below take the seed the generator
# produces (advancing its state exactly as Keras does, so checkpoints of the state are
# unchanged) and, with more than one replica in sync, fold the replica's id into it
# (`tf.random.experimental.stateless_fold_in`) before a stateless draw: each replica gets
# its own stream, and a resumed run (same state, same replica ids) continues all of them.
# With one replica they are exactly the Keras calls they replace (same numbers).

# Test hook (see `global_batch_streams`): read when a step function is traced.
_GLOBAL_BATCH_STREAMS = False


@contextlib.contextmanager
def global_batch_streams() -> Iterator[None]:
    """Within it, replicas draw the rows one device would draw for the global batch.

    A reference mode for tests of tf.distribute: each replica draws the whole
    global batch's numbers (seed not folded) and keeps its own rows, so a step
    over R replicas of b rows uses the same z, noise, masks and shifts as one
    device with R * b rows. Draws that are not per row (a scalar) are the
    single device's. Costs R times the random numbers; functions must be traced
    inside the context for it to apply.
    """
    global _GLOBAL_BATCH_STREAMS
    previous, _GLOBAL_BATCH_STREAMS = _GLOBAL_BATCH_STREAMS, True
    try:
        yield
    finally:
        _GLOBAL_BATCH_STREAMS = previous


def replica_context():
    """The current replica context if more than one replica is in sync, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def _seed_tensor(seed_generator):
    """The generator's next seed as Keras' TensorFlow backend casts it: int32[2]."""
    seed = seed_generator.next()
    if seed.dtype == tf.int32:
        return seed
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def _draw(keras_fn, tf_fn, shape, seed_generator, per_row: bool, shared: bool):
    ctx = replica_context()
    if ctx is None or shared:
        return keras_fn(shape, seed_generator)
    seed = _seed_tensor(seed_generator)
    if not _GLOBAL_BATCH_STREAMS:
        return tf_fn(shape, tf.random.experimental.stateless_fold_in(
            seed, ctx.replica_id_in_sync_group))
    if not per_row:
        return tf_fn(shape, seed)
    rows = shape[0]
    full = tf_fn([rows * ctx.num_replicas_in_sync, *shape[1:]], seed)
    start = ctx.replica_id_in_sync_group * rows
    return full[start:start + rows]


def normal(shape, seed_generator, dtype="float32", per_row: bool = True, shared: bool = False):
    """N(0, 1) draws: `keras.random.normal(shape, dtype=dtype, seed=seed_generator)` per replica.

    Args:
      shape: the replica's shape, rows first (ints or scalar int tensors).
      seed_generator: a `keras.random.SeedGenerator` (advanced by one per call).
      dtype: float dtype.
      per_row: the first axis is the batch (only matters for `global_batch_streams`).
      shared: every replica draws the same numbers (no fold-in), e.g. for a state
        update that must stay identical across replicas.

    Returns:
      Tensor of `shape`; different on each replica unless `shared`.
    """
    return _draw(lambda s, g: keras.random.normal(s, dtype=dtype, seed=g),
                 lambda s, seed: tf.random.stateless_normal(s, seed=seed, dtype=dtype),
                 shape, seed_generator, per_row, shared)


def truncated_normal(shape, seed_generator, dtype="float32", per_row: bool = True,
                     shared: bool = False):
    """Standard normal truncated to [-2, 2], per replica (as `normal`)."""
    return _draw(lambda s, g: keras.random.truncated_normal(s, dtype=dtype, seed=g),
                 lambda s, seed: tf.random.stateless_truncated_normal(s, seed=seed, dtype=dtype),
                 shape, seed_generator, per_row, shared)


def uniform(shape, seed_generator, dtype="float32", per_row: bool = True, shared: bool = False):
    """Uniform in [0, 1), per replica (as `normal`)."""
    return _draw(lambda s, g: keras.random.uniform(s, dtype=dtype, seed=g),
                 lambda s, seed: tf.random.stateless_uniform(
                     s, seed=seed, minval=tf.cast(0.0, dtype), maxval=tf.cast(1.0, dtype),
                     dtype=dtype),
                 shape, seed_generator, per_row, shared)


def randint(shape, minval: int, maxval: int, seed_generator, per_row: bool = True,
            shared: bool = False):
    """int32 uniform in [minval, maxval), per replica (as `normal`)."""
    return _draw(lambda s, g: keras.random.randint(s, minval, maxval, dtype="int32", seed=g),
                 lambda s, seed: tf.random.stateless_uniform(
                     s, seed=seed, minval=minval, maxval=maxval, dtype=tf.int32),
                 shape, seed_generator, per_row, shared)


def dropout(x, rate: float, seed_generator):
    """Inverted dropout of `x` (rows first), with a mask of its own on each replica.

    With one replica it is `keras.random.dropout(x, rate, seed=seed_generator)`,
    which is what `keras.layers.Dropout` computes in training.

    Args:
      x: float[batch, ...].
      rate: share of units dropped, in [0, 1).
      seed_generator: a `keras.random.SeedGenerator`; unused (not advanced) when rate is 0.

    Returns:
      Tensor like `x`: kept units scaled by 1 / (1 - rate), dropped ones 0.
    """
    if rate == 0:
        return x
    ctx = replica_context()
    if ctx is None:
        return keras.random.dropout(x, rate, seed=seed_generator)
    seed = _seed_tensor(seed_generator)
    if not _GLOBAL_BATCH_STREAMS:
        seed = tf.random.experimental.stateless_fold_in(seed, ctx.replica_id_in_sync_group)
        return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seed)
    shape = tf.shape(x)
    rows = shape[0]
    full = tf.nn.experimental.stateless_dropout(
        tf.ones(tf.concat([[rows * ctx.num_replicas_in_sync], shape[1:]], 0), x.dtype),
        rate=rate, seed=seed)
    start = ctx.replica_id_in_sync_group * rows
    return x * full[start:start + rows]
