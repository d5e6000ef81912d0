"""Tests of condgan.data on tiny shards written here through condgan.records."""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from condgan import data, records

NUM_CLIPS = 10
CLIP_LEN = 64
RATE = 8000
CAPTIONS = ("a dog barks", "rain on a roof", "the digit seven")
EMB_DIM = 5


def _int16_reference(audio: np.ndarray) -> np.ndarray:
    """What the pipeline must return for float audio written as 16-bit PCM (scale 2**15)."""
    return np.clip(np.round(audio * 32768.0), -32768, 32767) / 32768.0


class DataTest(tf.test.TestCase, parameterized.TestCase):

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(1234)
        self.clips = rng.uniform(-1.0, 1.0, size=(NUM_CLIPS, CLIP_LEN)).astype(np.float32)
        # Label i marks clip i so every output row can be traced to what was written.
        self.labels = np.arange(NUM_CLIPS, dtype=np.int64)
        self.captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(NUM_CLIPS)]
        self.embeddings = {c: rng.normal(size=EMB_DIM).astype(np.float32) for c in CAPTIONS}
        self.data_dir = self._write_dataset(self._new_dir())

    def _new_dir(self):
        # tempfile rather than create_tempdir(): the latter needs absl flags parsed,
        # which pytest does not do.
        path = tempfile.mkdtemp(prefix="condgan_test_data_")
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path

    def _write_dataset(self, out_dir, card_captions=None, count=None):
        examples = [
            records.serialize_example(self.clips[i], RATE, self.captions[i], int(self.labels[i]),
                                      f"clip-{i:02d}")
            for i in range(NUM_CLIPS)
        ]
        # 4 per shard -> 3 shards, the last one short, to exercise the interleave.
        names = records.write_shards(out_dir, "train", examples, examples_per_shard=4)
        card = records.DatasetCard(
            source="test", sample_rate=RATE, length=CLIP_LEN,
            classes=[f"c{i}" for i in range(NUM_CLIPS)],
            captions=sorted(CAPTIONS) if card_captions is None else card_captions,
            counts={"train": NUM_CLIPS if count is None else count}, shards={"train": names})
        with open(os.path.join(out_dir, records.CARD_NAME), "w", encoding="utf-8") as f:
            f.write(card.to_json())
        return out_dir

    def _batches(self, ds, n=None):
        if n is not None:
            ds = ds.take(n)
        return list(ds.as_numpy_iterator())

    def _concat(self, batches):
        return [np.concatenate([b[k] for b in batches]) for k in range(4)]

    def test_shapes_and_dtypes(self):
        ds = data.make_dataset(self.data_dir, "train", 4, self.embeddings, length=32, seed=0)
        audio, emb, caption, label = ds.element_spec
        self.assertEqual(audio.shape.as_list(), [4, 32, 1])
        self.assertEqual(emb.shape.as_list(), [4, EMB_DIM])
        self.assertEqual(caption.shape.as_list(), [4])
        self.assertEqual(label.shape.as_list(), [4])
        self.assertEqual([s.dtype for s in ds.element_spec],
                         [tf.float32, tf.float32, tf.string, tf.int64])
        audio, emb, caption, label = self._batches(ds, 1)[0]
        self.assertEqual(audio.shape, (4, 32, 1))
        self.assertEqual(audio.dtype, np.float32)
        self.assertEqual(emb.shape, (4, EMB_DIM))
        self.assertEqual(label.dtype, np.int64)
        self.assertAllInRange(audio, -1.0, 1.0)

    def test_values_match_written_audio_and_embeddings(self):
        ds = data.make_dataset(self.data_dir, "train", 3, self.embeddings, shuffle=False,
                               repeat=False)
        audio, emb, caption, label = self._concat(self._batches(ds))
        # Every clip exactly once.
        self.assertAllEqual(np.sort(label), self.labels)
        for row, i in enumerate(label):
            self.assertAllClose(audio[row, :, 0], _int16_reference(self.clips[i]), atol=1e-7, rtol=0)
            self.assertAllClose(audio[row, :, 0], self.clips[i], atol=0.5 / 32768 + 1e-7, rtol=0)
            self.assertEqual(caption[row].decode(), self.captions[i])
            self.assertAllEqual(emb[row], self.embeddings[self.captions[i]])

    def test_embeddings_as_captions_matrix_pair(self):
        names = list(reversed(CAPTIONS))
        matrix = np.stack([self.embeddings[c] for c in names])
        ds = data.make_dataset(self.data_dir, "train", 5, (names, matrix), shuffle=False,
                               repeat=False)
        _, emb, caption, _ = self._concat(self._batches(ds))
        for row, c in enumerate(caption):
            self.assertAllEqual(emb[row], self.embeddings[c.decode()])

    def test_random_crop_is_a_window_of_the_clip(self):
        length = 16
        ds = data.make_dataset(self.data_dir, "train", 5, self.embeddings, length=length, seed=7)
        audio, _, _, label = self._concat(self._batches(ds, 6))  # 3 epochs
        windows = np.lib.stride_tricks.sliding_window_view
        offsets = []
        for row, i in enumerate(label):
            candidates = windows(_int16_reference(self.clips[i]), length)
            match = np.flatnonzero(np.all(np.abs(candidates - audio[row, :, 0]) < 1e-7, axis=1))
            self.assertLen(match, 1, f"row {row} (clip {i}) is not a window of its clip")
            offsets.append(match[0])
        # 30 crops among 49 offsets: a crop that never moves is a bug, not bad luck.
        self.assertGreater(len(set(offsets)), 10)
        self.assertGreater(max(offsets), 0)

    @parameterized.named_parameters(
        ("eval_default", dict(shuffle=False), False),
        ("random_crop_off", dict(shuffle=True, random_crop=False), False),
        ("random_crop_on_without_shuffle", dict(shuffle=False, random_crop=True), True),
    )
    def test_crop_start(self, kwargs, random):
        ds = data.make_dataset(self.data_dir, "train", 5, self.embeddings, length=16, seed=3,
                               repeat=False, **kwargs)
        audio, _, _, label = self._concat(self._batches(ds))
        at_start = [np.allclose(audio[r, :, 0], _int16_reference(self.clips[i])[:16], atol=1e-7)
                    for r, i in enumerate(label)]
        if random:
            self.assertFalse(all(at_start))
        else:
            self.assertTrue(all(at_start))

    def test_zero_padding(self):
        length = CLIP_LEN + 36
        ds = data.make_dataset(self.data_dir, "train", 5, self.embeddings, length=length, seed=1)
        audio, _, _, label = self._concat(self._batches(ds, 2))
        self.assertEqual(audio.shape[1], length)
        for row, i in enumerate(label):
            self.assertAllClose(audio[row, :CLIP_LEN, 0], _int16_reference(self.clips[i]),
                                atol=1e-7, rtol=0)
            self.assertAllEqual(audio[row, CLIP_LEN:, 0], np.zeros(length - CLIP_LEN))

    @parameterized.named_parameters(
        ("one_pass_keeps_remainder", dict(repeat=False), None, [4, 4, 2]),
        ("one_pass_drop", dict(repeat=False, drop_remainder=True), 4, [4, 4]),
        ("training_drops", dict(repeat=True), 4, [4] * 6),
        # Epochs run into each other before batching, so no batch is partial.
        ("training_keep", dict(repeat=True, drop_remainder=False), None, [4] * 6),
    )
    def test_drop_remainder(self, kwargs, static_batch, sizes):
        ds = data.make_dataset(self.data_dir, "train", 4, self.embeddings, seed=0, **kwargs)
        self.assertEqual(ds.element_spec[0].shape[0], static_batch)
        batches = self._batches(ds, 6)
        # Without deterministic=True the batches may come out of order (the per-batch
        # caption lookup runs in parallel): the partial one can arrive before a full one.
        self.assertEqual(sorted((len(b[3]) for b in batches), reverse=True), sizes)

    def test_deterministic_one_pass_ends_with_the_partial_batch(self):
        ds = data.make_dataset(self.data_dir, "train", 4, self.embeddings, seed=0,
                               repeat=False, deterministic=True)
        self.assertEqual([len(b[3]) for b in self._batches(ds, 6)], [4, 4, 2])

    def test_repeat_covers_every_clip_each_epoch(self):
        ds = data.make_dataset(self.data_dir, "train", 5, self.embeddings, seed=5)
        batches = self._batches(ds, 8)  # 4 epochs of 2 batches
        epochs = [np.concatenate([batches[2 * e][3], batches[2 * e + 1][3]]) for e in range(4)]
        for labels in epochs:
            self.assertAllEqual(np.sort(labels), self.labels)
        # Each epoch is shuffled anew.
        self.assertGreater(len({tuple(e) for e in epochs}), 1)

    def test_no_repeat_is_one_pass(self):
        ds = data.make_dataset(self.data_dir, "train", 3, self.embeddings, seed=2, repeat=False)
        labels = self._concat(self._batches(ds))[3]
        self.assertAllEqual(np.sort(labels), self.labels)

    def test_deterministic_with_seed(self):
        def run(seed):
            ds = data.make_dataset(self.data_dir, "train", 4, self.embeddings, length=16,
                                   seed=seed, deterministic=True)
            return ds, self._batches(ds, 7)

        ds, first = run(11)
        again = self._batches(ds, 7)  # a second iteration of the same dataset
        _, rebuilt = run(11)
        _, other = run(12)
        for a, b, c in zip(first, again, rebuilt):
            for k in range(4):
                self.assertAllEqual(a[k], b[k])
                self.assertAllEqual(a[k], c[k])
        self.assertFalse(all(np.array_equal(a[0], o[0]) for a, o in zip(first, other)))

    def test_unseeded_iterations_differ(self):
        ds = data.make_dataset(self.data_dir, "train", 10, self.embeddings, length=16)
        a = self._batches(ds, 1)[0][0]
        b = self._batches(ds, 1)[0][0]
        self.assertNotAllClose(a, b)

    def test_missing_caption_fails_before_iteration(self):
        partial = {c: v for c, v in self.embeddings.items() if c != "rain on a roof"}
        with self.assertRaisesRegex(ValueError, "rain on a roof"):
            data.make_dataset(self.data_dir, "train", 4, partial)

    def test_caption_missing_from_card_fails_in_graph(self):
        # A card that does not list a caption its shards hold: the up-front check
        # passes, the in-graph lookup must still refuse.
        out = self._write_dataset(self._new_dir(),
                                  card_captions=["a dog barks", "the digit seven"])
        partial = {c: v for c, v in self.embeddings.items() if c != "rain on a roof"}
        ds = data.make_dataset(out, "train", NUM_CLIPS, partial, repeat=False)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "rain on a roof"):
            self._batches(ds)

    def test_not_a_dataset_dir(self):
        empty = self._new_dir()
        with self.assertRaisesRegex(records.DatasetError, f"{empty}.*not a prepared dataset"):
            data.make_dataset(empty, "train", 4, self.embeddings)
        with self.assertRaisesRegex(records.DatasetError, "not a prepared dataset"):
            data.load_split_arrays(empty, "train")

    def test_unknown_split(self):
        with self.assertRaisesRegex(records.DatasetError, "no split 'validation'"):
            data.make_dataset(self.data_dir, "validation", 4, self.embeddings)

    @parameterized.named_parameters(
        ("batch_size", dict(batch_size=0), "batch_size"),
        ("length", dict(length=0), "length"),
        ("shuffle_buffer", dict(shuffle_buffer=0), "shuffle_buffer"),
    )
    def test_bad_arguments(self, kwargs, name):
        args = dict(batch_size=4, **kwargs) if "batch_size" not in kwargs else kwargs
        with self.assertRaisesRegex(ValueError, name):
            data.make_dataset(self.data_dir, "train", embeddings=self.embeddings, **args)

    def test_malformed_embeddings(self):
        ragged = dict(self.embeddings, **{"a dog barks": np.zeros(EMB_DIM + 1, np.float32)})
        with self.assertRaisesRegex(ValueError, "one length"):
            data.make_dataset(self.data_dir, "train", 4, ragged)
        with self.assertRaisesRegex(ValueError, "shape"):
            data.make_dataset(self.data_dir, "train", 4, (list(CAPTIONS), np.zeros([2, EMB_DIM])))
        nan = dict(self.embeddings, **{"a dog barks": np.full(EMB_DIM, np.nan, np.float32)})
        with self.assertRaisesRegex(ValueError, "finite"):
            data.make_dataset(self.data_dir, "train", 4, nan)

    def test_load_split_arrays(self):
        arrays = data.load_split_arrays(self.data_dir, "train")
        # Shard order is write order.
        self.assertAllEqual(arrays["labels"], self.labels)
        self.assertEqual(list(arrays["ids"]), [f"clip-{i:02d}" for i in range(NUM_CLIPS)])
        self.assertEqual(list(arrays["captions"]), self.captions)
        self.assertEqual(arrays["audio"].dtype, np.float32)
        self.assertAllClose(arrays["audio"], _int16_reference(self.clips), atol=1e-7, rtol=0)
        self.assertEqual(arrays["sample_rate"], RATE)

    def test_load_split_arrays_groups_stored_or_fallen_back(self):
        # Records without a group (written before groups existed) fall back to their class.
        arrays = data.load_split_arrays(self.data_dir, "train")
        self.assertEqual(list(arrays["groups"]), [f"c{i}" for i in range(NUM_CLIPS)])
        self.assertEqual(arrays["groups_stored"], 0)
        # Stored groups are read back; unlabelled clips without one take the normalised caption.
        out = self._new_dir()
        groups = [f"g{i % 2}" if i < 6 else None for i in range(NUM_CLIPS)]
        labels = [int(label) if i < 8 else -1 for i, label in enumerate(self.labels)]
        examples = [records.serialize_example(self.clips[i], RATE, self.captions[i].upper() + ".",
                                              labels[i], f"clip-{i:02d}", group=groups[i])
                    for i in range(NUM_CLIPS)]
        names = records.write_shards(out, "train", examples, examples_per_shard=4)
        card = records.DatasetCard(
            source="test", sample_rate=RATE, length=CLIP_LEN,
            classes=[f"c{i}" for i in range(NUM_CLIPS)],
            captions=sorted({c.upper() + "." for c in self.captions}),
            counts={"train": NUM_CLIPS}, shards={"train": names}, groups=["g0", "g1"])
        with open(os.path.join(out, records.CARD_NAME), "w", encoding="utf-8") as f:
            f.write(card.to_json())
        arrays = data.load_split_arrays(out, "train")
        self.assertEqual(list(arrays["groups"]),
                         ["g0", "g1", "g0", "g1", "g0", "g1", "c6", "c7",
                          self.captions[8], self.captions[9]])
        self.assertEqual(arrays["groups_stored"], 6)
        self.assertEqual(records.load_card(out).groups, ["g0", "g1"])

    def test_load_split_arrays_crop_and_pad(self):
        short = data.load_split_arrays(self.data_dir, "train", length=20)["audio"]
        self.assertAllClose(short, _int16_reference(self.clips)[:, :20], atol=1e-7, rtol=0)
        long = data.load_split_arrays(self.data_dir, "train", length=CLIP_LEN + 8)["audio"]
        self.assertAllEqual(long[:, CLIP_LEN:], np.zeros([NUM_CLIPS, 8]))

    def test_load_split_arrays_count_mismatch(self):
        out = self._write_dataset(self._new_dir(), count=NUM_CLIPS + 1)
        with self.assertRaisesRegex(records.DatasetError, "holds 10 examples"):
            data.load_split_arrays(out, "train")

    def test_caption_embeddings(self):
        card = records.load_card(self.data_dir)
        calls = []

        def embed(captions):
            calls.append(list(captions))
            return tf.constant([[len(c), i] for i, c in enumerate(captions)], tf.float32)

        table = data.caption_embeddings(card, embed)
        self.assertEqual(calls, [sorted(CAPTIONS)])
        for i, c in enumerate(sorted(CAPTIONS)):
            self.assertAllEqual(table[c], [len(c), i])
            self.assertEqual(table[c].dtype, np.float32)
        # The result plugs into make_dataset.
        ds = data.make_dataset(self.data_dir, "train", 4, table, seed=0)
        _, emb, caption, _ = self._batches(ds, 1)[0]
        self.assertAllEqual(emb[:, 0], [len(c) for c in caption])

    def test_caption_embeddings_bad_output(self):
        card = records.load_card(self.data_dir)
        with self.assertRaisesRegex(ValueError, r"shape \(2, 4\) for 3 captions"):
            data.caption_embeddings(card, lambda captions: np.zeros([2, 4]))


if __name__ == "__main__":
    tf.test.main()


def test_works_when_the_global_tf_seed_is_zero(tmp_path):
    # Regression: a tensor seed in Dataset.shuffle raised OperatorNotAllowedInGraphError
    # once keras.utils.set_random_seed(0) had set the global seed to 0.
    import keras

    data_dir, emb = _tiny_dataset_for_global_seed(tmp_path)
    keras.utils.set_random_seed(0)
    try:
        ds = data.make_dataset(data_dir, "train", 2, emb, seed=0)
        audio, text, caption, label = next(iter(ds))
        assert audio.shape == (2, 32, 1) and text.shape == (2, 3)
    finally:
        tf.random.set_seed(None)


def _tiny_dataset_for_global_seed(tmp_path):
    path = tmp_path / "ds"
    path.mkdir()
    caps = ["a", "b"]
    examples = [records.serialize_example(np.zeros(32, np.float32), 8000, caps[i % 2], i % 2, f"c{i}")
                for i in range(6)]
    names = records.write_shards(path, "train", examples)
    card = records.DatasetCard(source="t", sample_rate=8000, length=32, classes=caps, captions=caps,
                               counts={"train": 6}, shards={"train": names})
    (path / records.CARD_NAME).write_text(card.to_json())
    return str(path), {"a": np.ones(3, np.float32), "b": np.zeros(3, np.float32)}
