"""tf.data input pipeline: prepared TFRecord shards -> GAN training batches.

`make_dataset` reads the shards of one split of a directory written by
`condgan-prepare` (format: `condgan.records`) and yields

  (audio float32[batch, length, 1] in [-1, 1],
   text_embedding float32[batch, embedding_dim],
   caption string[batch],
   label int64[batch])

Caption embeddings are computed once per unique caption outside the pipeline
(`caption_embeddings`) and looked up in-graph, so the text encoder never runs
per step.

Determinism. Randomness (file order, example order, crop offsets) is derived
from one stream of per-epoch seeds, `tf.data.Dataset.random(seed)`, and
consumed by seeded shuffles and stateless crop ops. With a `seed`, every
iterator of the dataset, and every dataset built with the same arguments,
therefore yields the same batches, while successive epochs within one
iterator are still shuffled differently. Pass `deterministic=True` as well so
parallel interleave/map keep their order.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from condgan import records

# caption -> float[E] vector, or (captions, float[N, E] matrix) with rows in caption order.
Embeddings = Mapping[str, np.ndarray] | tuple[Sequence[str], np.ndarray]

# Shards interleaved at once: enough to mix examples across shards without
# holding a read buffer open for every shard of a large set.
_MAX_CYCLE_LENGTH = 16
# Bytes of read-ahead per open shard (TFRecordDataset's default is 256 KiB, ~8 clips of 1 s).
_READ_BUFFER_BYTES = 4 << 20


def make_dataset(data_dir: str | os.PathLike,
                 split: str,
                 batch_size: int,
                 embeddings: Embeddings,
                 *,
                 length: int | None = None,
                 shuffle: bool = True,
                 repeat: bool = True,
                 drop_remainder: bool | None = None,
                 random_crop: bool | None = None,
                 shuffle_buffer: int = 4096,
                 seed: int | None = None,
                 deterministic: bool = False,
                 num_parallel_calls: int = tf.data.AUTOTUNE) -> tf.data.Dataset:
    """Builds the batched training (or evaluation) input pipeline of one split.

    Clips longer than `length` are cropped to a window of `length` samples,
    clips shorter are zero-padded at the end.

    Args:
      data_dir: a prepared dataset directory (holds `dataset.json`).
      split: a split listed in the card, e.g. "train" or "test".
      batch_size: examples per batch.
      embeddings: the text embedding of every caption of the dataset: a mapping
        caption -> float[E], or a pair (captions: Sequence[str], matrix:
        float[N, E]) whose row i belongs to captions[i]. See `caption_embeddings`.
      length: samples per output clip; defaults to the card's clip length.
      shuffle: shuffle shard order and examples (buffer of `shuffle_buffer`).
      repeat: repeat the split forever (training) instead of one pass.
      drop_remainder: drop a last partial batch. Defaults to `repeat`, which
        gives a static batch dimension for training and keeps every example
        for a single evaluation pass.
      random_crop: crop clips longer than `length` at a random offset (seeded,
        different per epoch) rather than at their start. Defaults to `shuffle`,
        so evaluation pipelines see fixed windows.
      shuffle_buffer: examples in the shuffle buffer.
      seed: seed of every random choice of the pipeline; None draws fresh
        randomness for each iterator.
      deterministic: keep element order under parallelism (slower). With a
        `seed`, makes two iterations yield identical batches.
      num_parallel_calls: parallelism of shard reads and parsing.

    Returns:
      A `tf.data.Dataset` of tuples (audio float32[batch, length, 1] in [-1, 1],
      text_embedding float32[batch, E], caption string[batch], label int64[batch]);
      `batch` is static when `drop_remainder` is true.

    Raises:
      records.DatasetError: `data_dir` is not a prepared dataset, lacks `split`,
        or the split is empty.
      ValueError: a caption of the card has no embedding, `embeddings` is
        malformed, or an argument is out of range.
    """
    data_dir = os.fspath(data_dir)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("shuffle_buffer", shuffle_buffer)
    card = records.load_card(data_dir)
    files = _split_files(card, data_dir, split)
    length = card.length if length is None else length
    _check_positive_int("length", length)
    captions, matrix = _embedding_matrix(embeddings)
    _check_covered(card.captions, captions, data_dir)
    if drop_remainder is None:
        drop_remainder = repeat
    if random_crop is None:
        random_crop = shuffle
    map_deterministic = True if deterministic else None

    def one_epoch(epoch_seed: tf.Tensor) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            # Stateless, so the epoch's seed may be a tensor: a new file order per epoch
            # that comes from the seed stream, not from hidden per-iterator state.
            ds = tf.data.Dataset.from_tensor_slices(
                tf.random.experimental.stateless_shuffle(tf.constant(files), tf.stack([epoch_seed, 0])))
        ds = ds.interleave(
            lambda path: tf.data.TFRecordDataset(path, buffer_size=_READ_BUFFER_BYTES),
            cycle_length=min(len(files), _MAX_CYCLE_LENGTH),
            block_length=1,
            num_parallel_calls=num_parallel_calls,
            deterministic=map_deterministic)
        if shuffle:
            # Block shuffle of the serialized records (cheaper than shuffling decoded
            # audio): every block of `shuffle_buffer` records is permuted with a
            # stateless op. Unlike `Dataset.shuffle`, it takes the epoch's tensor seed
            # (Dataset.shuffle's seed helper fails on tensor seeds when the global TF
            # seed is 0), and each epoch still covers every clip exactly once.
            ds = ds.batch(shuffle_buffer).enumerate().map(
                lambda block, records_: tf.random.experimental.stateless_shuffle(
                    records_, tf.stack([epoch_seed, block + 1]))).unbatch()
        # Per-example crop seed: (epoch seed, position in epoch) is unique and
        # reproducible whatever the parallelism.
        return ds.enumerate().map(
            lambda index, serialized: (tf.stack([epoch_seed, index]), serialized))

    epoch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=seed is None)
    if not repeat:
        epoch_seeds = epoch_seeds.take(1)
    ds = epoch_seeds.flat_map(one_epoch)

    def parse(crop_seed: tf.Tensor, serialized: tf.Tensor):
        ex = records.parse_example(serialized)
        audio = fit_length(ex["audio"], length, crop_seed if random_crop else None)
        return audio[:, tf.newaxis], ex["caption"], ex["label"]

    ds = ds.map(parse, num_parallel_calls=num_parallel_calls, deterministic=map_deterministic)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    lookup = _CaptionLookup(captions, matrix)
    # Looked up per batch: one vectorised gather instead of one per clip.
    ds = ds.map(lambda audio, caption, label: (audio, lookup(caption), caption, label),
                num_parallel_calls=num_parallel_calls, deterministic=map_deterministic)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options)


def fit_length(audio: tf.Tensor, length: int, crop_seed: tf.Tensor | None = None) -> tf.Tensor:
    """Crops or zero-pads one clip to exactly `length` samples.

    Args:
      audio: float32[num_samples], one mono clip.
      length: samples of the result.
      crop_seed: int32/int64[2] seed of a stateless random crop offset, uniform
        over every window that fits; None crops at the start.

    Returns:
      float32[length]: `audio[start:start + length]`, zero-padded at the end
      when the clip is shorter than `length`.
    """
    excess = tf.maximum(tf.shape(audio)[0] - length, 0)
    if crop_seed is None:
        start = 0
    else:
        start = tf.random.stateless_uniform(
            [], seed=crop_seed, minval=0, maxval=excess + 1, dtype=tf.int32)
    audio = audio[start:start + length]
    audio = tf.pad(audio, [[0, length - tf.shape(audio)[0]]])
    return tf.ensure_shape(audio, [length])


def load_split_arrays(data_dir: str | os.PathLike, split: str,
                      length: int | None = None) -> dict[str, Any]:
    """Reads a whole split into memory, in shard order, for evaluation on small sets.

    Clips are cropped at their start or zero-padded to `length`, as
    `make_dataset(..., shuffle=False)` does.

    Args:
      data_dir: a prepared dataset directory (holds `dataset.json`).
      split: a split listed in the card.
      length: samples per clip; defaults to the card's clip length.

    Returns:
      A dict with
        "audio": float32[N, length] in [-1, 1],
        "captions": object[N] of str,
        "labels": int64[N] (-1 where unknown),
        "ids": object[N] of str, the clip ids,
        "groups": object[N] of str, the condition groups
          (`records.condition_group`: for records written before groups
          existed, the clip's class name, or its normalised caption when it
          has no class),
        "groups_stored": int, how many clips carry a stored group (the rest
          fell back),
        "sample_rate": int, Hz.

    Raises:
      records.DatasetError: `data_dir` is not a prepared dataset, lacks `split`,
        the split is empty, or its shards hold a different number of examples
        than the card says.
      ValueError: `length` is not a positive integer.
    """
    data_dir = os.fspath(data_dir)
    card = records.load_card(data_dir)
    files = _split_files(card, data_dir, split)
    length = card.length if length is None else length
    _check_positive_int("length", length)

    def parse(serialized):
        ex = records.parse_example(serialized)
        return (fit_length(ex["audio"], length), ex["caption"], ex["label"], ex["id"],
                ex["group"])

    ds = (tf.data.TFRecordDataset(files, buffer_size=_READ_BUFFER_BYTES)
          .map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
          .batch(256)
          .prefetch(tf.data.AUTOTUNE))
    audio, captions, labels, ids, stored = [], [], [], [], []
    for a, c, label, i, g in ds.as_numpy_iterator():
        audio.append(a)
        captions.extend(x.decode("utf-8") for x in c)
        labels.append(label)
        ids.extend(x.decode("utf-8") for x in i)
        stored.extend(x.decode("utf-8") for x in g)
    expected = card.counts.get(split)
    if not ids:
        raise records.DatasetError(f"{data_dir}: the shards of split {split!r} hold no examples")
    if expected is not None and expected != len(ids):
        raise records.DatasetError(
            f"{data_dir}: split {split!r} holds {len(ids)} examples but "
            f"{records.CARD_NAME} says {expected}")
    labels = np.concatenate(labels).astype(np.int64, copy=False)
    groups = [records.condition_group(g, c, int(label), card.classes)
              for g, c, label in zip(stored, captions, labels)]
    return {
        "audio": np.concatenate(audio).astype(np.float32, copy=False),
        "captions": np.array(captions, dtype=object),
        "labels": labels,
        "ids": np.array(ids, dtype=object),
        "groups": np.array(groups, dtype=object),
        "groups_stored": sum(1 for g in stored if g),
        "sample_rate": int(card.sample_rate),
    }


def caption_embeddings(card: records.DatasetCard,
                       embed_fn: Callable[[list[str]], Any]) -> dict[str, np.ndarray]:
    """Embeds every caption of a dataset once.

    Args:
      card: the dataset card; `card.captions` lists its unique captions.
      embed_fn: maps list[str] of N captions -> float[N, E] (numpy or tensor),
        e.g. `condgan.text.TextEncoder(handle).embed`. Called exactly once.

    Returns:
      caption -> float32[E], for every caption of the card.

    Raises:
      ValueError: the card lists no captions, or `embed_fn` returns something
        that is not a finite float[N, E] matrix.
    """
    captions = list(card.captions)
    if not captions:
        raise ValueError("the dataset card lists no captions; nothing to embed")
    matrix = embed_fn(captions)
    if hasattr(matrix, "numpy"):
        matrix = matrix.numpy()
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != len(captions):
        raise ValueError(
            f"embed_fn returned shape {matrix.shape} for {len(captions)} captions; "
            f"expected [{len(captions)}, embedding_dim]")
    if not np.issubdtype(matrix.dtype, np.floating) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"embed_fn returned non-finite or non-float ({matrix.dtype}) embeddings")
    matrix = matrix.astype(np.float32, copy=False)
    return {caption: matrix[i] for i, caption in enumerate(captions)}


class _CaptionLookup:
    """caption string[B] -> float32[B, E] via a static hash table and a constant matrix."""

    def __init__(self, captions: Sequence[str], matrix: np.ndarray):
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(captions), tf.string),
                tf.range(len(captions), dtype=tf.int64)),
            default_value=-1)
        self._matrix = tf.constant(matrix, tf.float32)

    def __call__(self, caption: tf.Tensor) -> tf.Tensor:
        rows = self._table.lookup(caption)
        # Reached only when shards hold a caption their card does not list.
        known = tf.debugging.Assert(
            tf.reduce_all(rows >= 0),
            ["captions in the shards without an embedding (not listed in the card):",
             tf.boolean_mask(caption, rows < 0)],
            summarize=10)
        with tf.control_dependencies([known]):
            return tf.gather(self._matrix, rows)


def _embedding_matrix(embeddings: Embeddings) -> tuple[list[str], np.ndarray]:
    """Normalises `embeddings` to (captions, float32[N, E]) and validates it."""
    if isinstance(embeddings, Mapping):
        captions = list(embeddings)
        vectors = [np.asarray(v) for v in embeddings.values()]
        shapes = {v.shape for v in vectors}
        if len(shapes) > 1 or any(len(s) != 1 for s in shapes):
            raise ValueError(
                f"embeddings values must all be 1-D vectors of one length, got shapes {sorted(shapes)}")
        matrix = np.stack(vectors) if vectors else np.zeros([0, 0], np.float32)
    elif isinstance(embeddings, tuple) and len(embeddings) == 2:
        captions = list(embeddings[0])
        matrix = np.asarray(embeddings[1])
        if matrix.ndim != 2 or matrix.shape[0] != len(captions):
            raise ValueError(
                f"embeddings matrix has shape {matrix.shape} for {len(captions)} captions; "
                f"expected [{len(captions)}, embedding_dim]")
        if len(set(captions)) != len(captions):
            dup = sorted({c for c in captions if captions.count(c) > 1})
            raise ValueError(f"embeddings captions repeat: {dup[:5]}")
    else:
        raise ValueError(
            "embeddings must be a mapping caption -> vector or a (captions, matrix) pair, "
            f"got {type(embeddings).__name__}")
    if not captions:
        raise ValueError("embeddings is empty")
    if not all(isinstance(c, str) for c in captions):
        raise ValueError("embeddings captions must be str")
    if matrix.shape[1] == 0:
        raise ValueError("embedding vectors are empty (dimension 0)")
    if not np.issubdtype(matrix.dtype, np.floating) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"embeddings must be finite floats, got dtype {matrix.dtype} "
                         "or non-finite values")
    return captions, matrix.astype(np.float32, copy=False)


def _check_covered(card_captions: Sequence[str], captions: Sequence[str], data_dir: str) -> None:
    missing = sorted(set(card_captions) - set(captions))
    if missing:
        shown = ", ".join(repr(c) for c in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(
            f"{len(missing)} caption(s) of {data_dir} have no text embedding: {shown}{more}; "
            "build embeddings from the card with caption_embeddings(card, embed_fn)")


def _split_files(card: records.DatasetCard, data_dir: str, split: str) -> list[str]:
    files = card.files(data_dir, split)
    if not files or card.counts.get(split, 1) == 0:
        raise records.DatasetError(f"{data_dir}: split {split!r} is empty")
    return files


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
