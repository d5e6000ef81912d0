"""TFRecord schema and dataset card."""

import json

import numpy as np
import pytest
import tensorflow as tf

from condgan import records


def _write_dataset(path, clips):
    path.mkdir()
    examples = [records.serialize_example(a, 8000, c, label, f"clip-{i}")
                for i, (a, c, label) in enumerate(clips)]
    names = records.write_shards(path, "train", examples, examples_per_shard=2)
    card = records.DatasetCard(source="test", sample_rate=8000, length=len(clips[0][0]),
                               classes=["a", "b"], captions=sorted({c for _, c, _ in clips}),
                               counts={"train": len(clips)}, shards={"train": names})
    (path / records.CARD_NAME).write_text(card.to_json())
    return card


def test_example_round_trip_to_int16_precision(tmp_path):
    rng = np.random.default_rng(0)
    clips = [(rng.uniform(-1, 1, 64).astype(np.float32), "a beep", i % 2) for i in range(5)]
    card = _write_dataset(tmp_path / "ds", clips)
    assert len(card.shards["train"]) == 3  # 5 examples, 2 per shard
    loaded = records.load_card(tmp_path / "ds")
    ds = tf.data.TFRecordDataset(loaded.files(tmp_path / "ds", "train")).map(records.parse_example)
    got = list(ds.as_numpy_iterator())
    assert [g["id"].decode() for g in got] == [f"clip-{i}" for i in range(5)]
    for (audio, caption, label), g in zip(clips, got):
        np.testing.assert_allclose(g["audio"], audio, atol=0.5 / 32768 + 1e-7)
        assert g["caption"].decode() == caption and g["label"] == label
        assert g["num_samples"] == 64 and g["sample_rate"] == 8000


def test_pcm_clips_out_of_range_values():
    pcm = np.frombuffer(records.float_to_pcm16(np.array([2.0, -2.0, 0.0], np.float32)), "<i2")
    np.testing.assert_array_equal(pcm, [32767, -32768, 0])
    back = np.frombuffer(records.float_to_pcm16(np.array([-1.0, 0.5], np.float32)), "<i2") / 32768.0
    np.testing.assert_array_equal(back, [-1.0, 0.5])


def test_non_finite_audio_is_refused():
    with pytest.raises(ValueError, match="clip 'x': audio has NaN or Inf"):
        records.serialize_example(np.array([0.0, np.nan], np.float32), 8000, "a", 0, "x")


def test_empty_caption_is_refused():
    with pytest.raises(ValueError, match="clip 'x': empty caption"):
        records.serialize_example(np.zeros(4, np.float32), 8000, "  ", 0, "x")


def test_load_card_errors(tmp_path):
    with pytest.raises(records.DatasetError, match="no such directory"):
        records.load_card(tmp_path / "absent")
    (tmp_path / "half").mkdir()
    with pytest.raises(records.DatasetError, match="not a prepared dataset"):
        records.load_card(tmp_path / "half")
    clips = [(np.zeros(8, np.float32), "a", 0)]
    _write_dataset(tmp_path / "ds", clips)
    (tmp_path / "ds" / "train-00000-of-00001.tfrecord").unlink()
    with pytest.raises(records.DatasetError, match="shard train-00000-of-00001.tfrecord .* is missing"):
        records.load_card(tmp_path / "ds")
    (tmp_path / "ds" / records.CARD_NAME).write_text("{")
    with pytest.raises(records.DatasetError, match="unreadable dataset card"):
        records.load_card(tmp_path / "ds")
    (tmp_path / "ds" / records.CARD_NAME).write_text(json.dumps({"source": "x"}))
    with pytest.raises(records.DatasetError, match="lacks"):
        records.load_card(tmp_path / "ds")


def test_condition_group_round_trip_and_fallback(tmp_path):
    path = tmp_path / "ds"
    path.mkdir()
    audio = np.zeros(8, np.float32)
    examples = [records.serialize_example(audio, 8000, "a", 0, "x", group="zero, a man"),
                records.serialize_example(audio, 8000, "a", 1, "y")]  # no group: old records
    names = records.write_shards(path, "train", examples)
    got = list(tf.data.TFRecordDataset([str(path / n) for n in names])
               .map(records.parse_example).as_numpy_iterator())
    assert [g["group"].decode() for g in got] == ["zero, a man", ""]
    # A card without "groups" (written before they existed) loads with none.
    card = records.DatasetCard(source="test", sample_rate=8000, length=8, classes=["a", "b"],
                               captions=["a"], counts={"train": 2}, shards={"train": names})
    d = json.loads(card.to_json())
    del d["groups"]
    (path / records.CARD_NAME).write_text(json.dumps(d))
    assert records.load_card(path).groups == []
    with pytest.raises(ValueError, match="clip 'z': empty condition group"):
        records.serialize_example(audio, 8000, "a", 0, "z", group=" ")


@pytest.mark.parametrize("group, caption, label, expected", [
    ("g", "A Dog", 1, "g"),                     # stored
    ("", "A Dog", 1, "b"),                      # no group: the class
    ("", "  A   Dog  barks. ", -1, "a dog barks"),  # no class either: the normalised caption
    ("", "A Dog", 5, "a dog"),                  # a label outside the classes is no class
])
def test_condition_group(group, caption, label, expected):
    assert records.condition_group(group, caption, label, ["a", "b"]) == expected


def test_normalize_caption():
    assert records.normalize_caption("  A dog\tBARKS!  ") == "a dog barks"
    assert records.normalize_caption("Ｆｕｌｌ width, STRASSE.") == "full width, strasse"
    assert records.normalize_caption("...") == ""
