"""The on-disk format of a prepared dataset: TFRecord example schema and card.

A prepared dataset directory holds

  dataset.json                       the card (see `DatasetCard`), written last
  train-00000-of-00004.tfrecord ...  shards of `tf.train.Example`
  test-00000-of-00001.tfrecord ...

Each example has the features in `FEATURES`:

  audio        bytes   mono 16-bit little-endian PCM, `num_samples` samples
  num_samples  int64
  sample_rate  int64
  caption      bytes   UTF-8 caption, non-empty
  label        int64   class index into card.classes, or -1 when unknown
  id           bytes   stable clip id (source-relative path or generator id)
  group        bytes   UTF-8 condition group (optional; see below)

The *condition group* of a clip is the set of clips its caption could
describe: the facts the caption names, and nothing more. `condgan-prepare`
sets it per source (FSDD: the digit and the speaker facts the caption names;
synth and folders: the class; manifests: the label column where a row has
one, else the normalised caption) and lists the groups in the card. The
evaluation measures a caption's spread over z against the real clips of its
group (`condgan.evaluation.evaluate`).

Datasets prepared before groups existed have no `group` feature: it parses
as "" and `condition_group` falls back to the clip's class name when it has
a class, else to its normalised caption. For every source but FSDD that is
the rule `condgan-prepare` applies now; FSDD clips then fall back to their
digit (prepare the dataset again to get the finer groups; the scoring
classifier stays valid, as its fingerprint covers only classes and captions).

This module is the one place that knows the schema: writers call
`serialize_example`, readers `parse_example`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import unicodedata
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

CARD_NAME = "dataset.json"
SPLITS = ("train", "test")
FORMAT_VERSION = 1

FEATURES = {
    "audio": tf.io.FixedLenFeature([], tf.string),
    "num_samples": tf.io.FixedLenFeature([], tf.int64),
    "sample_rate": tf.io.FixedLenFeature([], tf.int64),
    "caption": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.string),
    # Absent from records written before condition groups: parses as "".
    "group": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


class DatasetError(ValueError):
    """A directory is not a usable prepared dataset."""


def float_to_pcm16(audio: np.ndarray) -> bytes:
    """float32[num_samples] in [-1, 1] -> little-endian int16 PCM bytes (clipped)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D (mono), got shape {audio.shape}")
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    return pcm.tobytes()


def serialize_example(audio: np.ndarray, sample_rate: int, caption: str, label: int,
                      clip_id: str, group: str | None = None) -> bytes:
    """Returns one serialized `tf.train.Example` in the schema above.

    Args:
      audio: float32[num_samples] mono clip in [-1, 1] (clipped to 16 bits).
      sample_rate: Hz.
      caption: non-empty caption.
      label: class index, or -1 when unknown.
      clip_id: stable clip id.
      group: the clip's condition group; None writes no `group` feature (readers
        then fall back as `condition_group` says).

    Raises:
      ValueError: empty caption or group, or non-finite audio.
    """
    if not caption or not caption.strip():
        raise ValueError(f"clip {clip_id!r}: empty caption")
    if group is not None and not group.strip():
        raise ValueError(f"clip {clip_id!r}: empty condition group (pass None for none)")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"clip {clip_id!r}: audio has NaN or Inf samples")
    pcm = float_to_pcm16(audio)
    feature = {
        "audio": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pcm])),
        "num_samples": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(pcm) // 2])),
        "sample_rate": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(sample_rate)])),
        "caption": tf.train.Feature(bytes_list=tf.train.BytesList(value=[caption.encode("utf-8")])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[clip_id.encode("utf-8")])),
    }
    if group is not None:
        feature["group"] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[group.encode("utf-8")]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses one serialized example into tensors; `audio` becomes float32[num_samples] in [-1, 1]."""
    ex = tf.io.parse_single_example(serialized, FEATURES)
    audio = tf.io.decode_raw(ex["audio"], tf.int16, little_endian=True)
    ex["audio"] = tf.cast(audio, tf.float32) / 32768.0
    return ex


def normalize_caption(caption: str) -> str:
    """The form of a caption that names its condition group: "A dog  barks." -> "a dog barks".

    Unicode NFKC, case-folded, runs of whitespace collapsed to one space, and
    leading / trailing whitespace and sentence punctuation (. , ; : ! ?) removed.
    """
    text = " ".join(unicodedata.normalize("NFKC", str(caption)).casefold().split())
    return text.strip(" .,;:!?")


def condition_group(group: str, caption: str, label: int, classes: Sequence[str]) -> str:
    """A clip's condition group as stored, or the fallback for records without one.

    Args:
      group: the record's `group` feature ("" when the record has none).
      caption: the clip's caption.
      label: its class index, -1 when unknown.
      classes: the card's class names.

    Returns:
      `group` when set; else `classes[label]` when the clip has a class; else
      `normalize_caption(caption)`.
    """
    if group:
        return group
    if 0 <= label < len(classes):
        return str(classes[label])
    return normalize_caption(caption)


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


@dataclasses.dataclass
class DatasetCard:
    """What `dataset.json` says about a prepared dataset.

    Attributes:
      source: importer name ("synth", "fsdd", "folder", "manifest").
      sample_rate: Hz of every clip.
      length: samples of every clip.
      classes: class names; `label` indexes this list. Empty when unknown.
      captions: every unique caption in the dataset, sorted.
      groups: every condition group of the dataset, sorted (see the module
        docstring); empty for datasets prepared before groups existed.
      counts: examples per split, e.g. {"train": 2700, "test": 300}.
      shards: file names per split, relative to the dataset directory.
      license: license note of the source material.
      skipped: [{"path": ..., "reason": ...}] for inputs left out with --skip_bad.
      extra: importer-specific facts (seed, speakers, input path, ...).
    """

    source: str
    sample_rate: int
    length: int
    classes: list[str]
    captions: list[str]
    counts: dict[str, int]
    shards: dict[str, list[str]]
    license: str = ""
    groups: list[str] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, ensure_ascii=False)

    def files(self, data_dir: str | os.PathLike, split: str) -> list[str]:
        if split not in self.shards:
            raise DatasetError(f"{data_dir}: no split {split!r}; the card lists {sorted(self.shards)}")
        return [os.path.join(os.fspath(data_dir), name) for name in self.shards[split]]


def load_card(data_dir: str | os.PathLike) -> DatasetCard:
    """Reads and checks `dataset.json` of a prepared dataset directory.

    Raises:
      DatasetError: the directory is missing, is not a prepared dataset (no card,
        e.g. an interrupted prepare), or a shard the card lists is missing.
    """
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DatasetError(f"{data_dir}: no such directory; make one with condgan-prepare")
    path = os.path.join(data_dir, CARD_NAME)
    if not os.path.isfile(path):
        raise DatasetError(
            f"{data_dir} is not a prepared dataset (no {CARD_NAME}); make one with condgan-prepare")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: unreadable dataset card: {e}") from e
    names = {f.name for f in dataclasses.fields(DatasetCard)}
    missing = {"source", "sample_rate", "length", "classes", "captions", "counts", "shards"} - set(d)
    if missing:
        raise DatasetError(f"{path}: dataset card lacks {sorted(missing)}")
    card = DatasetCard(**{k: v for k, v in d.items() if k in names})
    if card.format_version != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format_version {card.format_version}, this condgan reads {FORMAT_VERSION}")
    for _split, files in card.shards.items():
        for name in files:
            if not os.path.isfile(os.path.join(data_dir, name)):
                raise DatasetError(f"{data_dir}: shard {name} listed in {CARD_NAME} is missing")
    return card


def write_shards(out_dir: str | os.PathLike, split: str, examples: Sequence[bytes],
                 examples_per_shard: int = 1024) -> list[str]:
    """Writes serialized examples into `split-i-of-n.tfrecord` shards; returns the names."""
    out_dir = os.fspath(out_dir)
    count = max(1, -(-len(examples) // examples_per_shard))
    names = []
    for i in range(count):
        name = shard_name(split, i, count)
        with tf.io.TFRecordWriter(os.path.join(out_dir, name)) as w:
            for ex in examples[i * examples_per_shard:(i + 1) * examples_per_shard]:
                w.write(ex)
        names.append(name)
    return names
