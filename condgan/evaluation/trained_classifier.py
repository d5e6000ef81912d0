"""A trained scoring classifier: what it was trained on, how it is stored, how it scores.

`Classifier` wraps the Keras model built and trained by
`condgan.evaluation.classifier` (log-mel float32[frames, 128] ->
[features float32[128], probs float32[K]]) with the metadata it was trained
with, and scores waveforms at its sample rate and clip length.

A saved classifier is a directory

  model.keras       the Keras model (inputs log-mel, outputs [features, probs])
  classifier.json   classes, sample rate, clip length, the dataset fingerprint,
                    training settings and the test report

written atomically (temporary directory beside it, then rename). The
fingerprint (source, classes, sample rate, length, training count and a hash
of the card's classes and captions) lets `Classifier.check_dataset` refuse to
score a dataset the classifier was not trained on.

Every name here is also importable from `condgan.evaluation.classifier`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from condgan import fileio, records
from condgan.evaluation import features as features_lib

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
METADATA_FILE = "classifier.json"
# Default location of a dataset's classifier: <data_dir>/classifier.
DEFAULT_SUBDIR = "classifier"

# Width of the penultimate ("features") layer.
FEATURE_DIM = 128
# Clips per inference batch: conv activations of 64 clips of 128x128 stay < 100 MB.
_INFERENCE_BATCH = 64


class ClassifierError(ValueError):
    """A path is not a usable saved classifier, or audio does not fit it."""


class DatasetMismatchError(ClassifierError):
    """A classifier is used on a dataset other than the one it was trained on."""


class UnlabelledDatasetError(records.DatasetError):
    """A dataset has no class labels, so nothing can be classified or scored."""


def default_path(data_dir: str | os.PathLike) -> str:
    """Where `train_classifier` saves by default: `<data_dir>/classifier`."""
    return os.path.join(os.fspath(data_dir), DEFAULT_SUBDIR)


def dataset_fingerprint(card: records.DatasetCard) -> dict[str, Any]:
    """What identifies the dataset a classifier is trained on.

    Args:
      card: the dataset's card.

    Returns:
      dict with source, classes, sample_rate, length, train_count and
      content_sha256 (SHA-256 of the JSON of the classes and sorted captions).
    """
    content = json.dumps({"classes": list(card.classes), "captions": sorted(card.captions)},
                         ensure_ascii=False, sort_keys=True).encode("utf-8")
    return {
        "source": card.source,
        "classes": list(card.classes),
        "sample_rate": int(card.sample_rate),
        "length": int(card.length),
        "train_count": int(card.counts.get("train", 0)),
        "content_sha256": hashlib.sha256(content).hexdigest(),
    }


def check_labelled(card: records.DatasetCard, data_dir: str | os.PathLike) -> None:
    """Raises `UnlabelledDatasetError` if the card lists no classes."""
    if not card.classes:
        raise UnlabelledDatasetError(
            f"{os.fspath(data_dir)}: the dataset has no class labels (its card lists no classes; "
            f"source {card.source!r}); the scoring classifier and the class-based metrics need "
            "labelled clips (e.g. a manifest with a label column, FSDD or the synth set)")


def check_split_labels(labels: np.ndarray, num_classes: int, data_dir: str | os.PathLike,
                       split: str) -> None:
    """Raises `UnlabelledDatasetError` if a clip of `split` has no label or a bad one.

    Args:
      labels: int64[N] labels of the split, -1 where unknown.
      num_classes: number of classes in the card.
      data_dir: the dataset directory, for the message.
      split: the split's name, for the message.
    """
    unknown = int(np.sum(labels < 0))
    if unknown:
        raise UnlabelledDatasetError(
            f"{os.fspath(data_dir)}: {unknown} of {labels.size} clips of the {split!r} split have "
            "no class label (label -1); the classifier needs every clip labelled")
    bad = labels >= num_classes
    if np.any(bad):
        raise records.DatasetError(
            f"{os.fspath(data_dir)}: the {split!r} split has label {int(labels[bad][0])}, outside "
            f"the card's {num_classes} classes")

class Classifier:
    """A trained scoring classifier and what it was trained on.

    Attributes:
      classes: list[str], the card's class names; `probs` column k is classes[k].
      sample_rate: Hz of the clips it scores.
      length: samples per clip it scores.
      fingerprint: `dataset_fingerprint` of its training dataset.
      metadata: the whole `classifier.json` content.
      path: the directory it was loaded from or saved to, or None.
    """

    def __init__(self, model: keras.Model, metadata: dict[str, Any], path: str | None = None):
        self._model = model
        self.metadata = metadata
        self.path = path
        self.classes = list(metadata["classes"])
        self.sample_rate = int(metadata["sample_rate"])
        self.length = int(metadata["length"])
        self.fingerprint = dict(metadata["dataset"])
        self._predict = tf.function(
            self._predict_batch,
            input_signature=[tf.TensorSpec([None, self.length], tf.float32)],
            reduce_retracing=True)

    @property
    def model(self) -> keras.Model:
        """The Keras model: log-mel float32[B, frames, 128] -> [features, probs]."""
        return self._model

    @property
    def report(self) -> dict[str, Any]:
        """The test report written at training time (see `train_classifier`)."""
        return dict(self.metadata.get("report", {}))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Classifier:
        """Loads a classifier saved by `save` / `train_classifier`.

        Args:
          path: the classifier directory.

        Returns:
          The `Classifier`.

        Raises:
          ClassifierError: `path` is missing, is not a classifier directory, or
            its files are unreadable or of another format version.
        """
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise ClassifierError(f"{path}: no such classifier directory; train one with "
                                  "condgan-train-classifier")
        meta_path = os.path.join(path, METADATA_FILE)
        model_path = os.path.join(path, MODEL_FILE)
        if not os.path.isfile(meta_path) or not os.path.isfile(model_path):
            raise ClassifierError(f"{path} is not a condgan classifier (needs {METADATA_FILE} and "
                                  f"{MODEL_FILE}); train one with condgan-train-classifier")
        try:
            with open(meta_path, encoding="utf-8") as f:
                metadata = json.load(f)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ClassifierError(f"{meta_path}: unreadable classifier metadata: {e}") from e
        version = metadata.get("format_version") if isinstance(metadata, dict) else None
        if version != FORMAT_VERSION:
            raise ClassifierError(f"{meta_path}: format_version {version!r}, this condgan reads "
                                  f"{FORMAT_VERSION}; retrain with condgan-train-classifier")
        missing = {"classes", "sample_rate", "length", "dataset"} - set(metadata)
        if missing:
            raise ClassifierError(f"{meta_path} lacks {sorted(missing)}")
        try:
            model = keras.saving.load_model(model_path, compile=False)
        except Exception as e:  # Keras raises ValueError, OSError, zipfile errors, ...
            raise ClassifierError(f"{model_path}: cannot load the classifier model: {e}") from e
        return cls(model, metadata, path)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> str:
        """Writes `model.keras` + `classifier.json` into `path`, atomically.

        Args:
          path: target directory; its parent is created if needed.
          overwrite: replace an existing classifier at `path`.

        Returns:
          The absolute path.

        Raises:
          FileExistsError: `path` exists and `overwrite` is False, or it exists
            and is not a classifier directory (never replaced).
        """
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path):
            if not overwrite:
                raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to "
                                      "replace the classifier there")
            if not os.path.isfile(os.path.join(path, METADATA_FILE)):
                raise FileExistsError(f"{path} exists and is not a condgan classifier; "
                                      "refusing to replace it")
        with fileio.atomic_directory(path, prefix=".classifier-", mode=0o777) as tmp:
            self._model.save(os.path.join(tmp, MODEL_FILE))
            with open(os.path.join(tmp, METADATA_FILE), "w", encoding="utf-8") as f:
                json.dump(self.metadata, f, indent=2, sort_keys=True, ensure_ascii=False)
                f.write("\n")
        self.path = path
        return path

    def check_dataset(self, card: records.DatasetCard, data_dir: str | os.PathLike) -> None:
        """Refuses a dataset other than the one the classifier was trained on.

        Args:
          card: the card of the dataset to score.
          data_dir: its directory, for the message.

        Raises:
          DatasetMismatchError: naming every fingerprint field that differs.
        """
        theirs = dataset_fingerprint(card)
        diff = [k for k in sorted(theirs) if self.fingerprint.get(k) != theirs[k]]
        if not diff:
            return
        shown = []
        for k in diff:
            ours, other = self.fingerprint.get(k), theirs[k]
            if k == "classes":
                ours, other = f"{len(ours or [])} classes {ours}", f"{len(other)} classes {other}"
            shown.append(f"{k}: {ours} (classifier) vs {other} (dataset)")
        trained_on = self.fingerprint.get("data_dir", "another dataset")
        raise DatasetMismatchError(
            f"classifier {self.path or '<in memory>'} was trained on {trained_on}, not on "
            f"{os.fspath(data_dir)}: " + "; ".join(shown)
            + ". Train a classifier on this dataset with condgan-train-classifier")

    def probs(self, audio) -> np.ndarray:
        """Class probabilities.

        Args:
          audio: float[N, length] or float[N, length, 1] waveforms at `sample_rate`.

        Returns:
          float32[N, K] softmax probabilities, column k for classes[k].

        Raises:
          ClassifierError: `audio` has the wrong shape or non-finite values.
        """
        return self.predict(audio)[1]

    def features(self, audio) -> np.ndarray:
        """Penultimate activations, the features of FD / d_self / NDB / z-diversity.

        Args:
          audio: float[N, length] or float[N, length, 1] waveforms at `sample_rate`.

        Returns:
          float32[N, 128].

        Raises:
          ClassifierError: `audio` has the wrong shape or non-finite values.
        """
        return self.predict(audio)[0]

    def predict(self, audio) -> tuple[np.ndarray, np.ndarray]:
        """Features and probabilities in one pass.

        Args:
          audio: float[N, length] or float[N, length, 1] waveforms at `sample_rate`.

        Returns:
          (features float32[N, 128], probs float32[N, K]).

        Raises:
          ClassifierError: `audio` has the wrong shape or non-finite values.
        """
        audio = self._check_audio(audio)
        feats, probs = [], []
        for start in range(0, audio.shape[0], _INFERENCE_BATCH):
            f, p = self._predict(tf.constant(audio[start:start + _INFERENCE_BATCH]))
            feats.append(f.numpy())
            probs.append(p.numpy())
        if not feats:
            return (np.zeros([0, FEATURE_DIM], np.float32),
                    np.zeros([0, len(self.classes)], np.float32))
        return np.concatenate(feats), np.concatenate(probs)

    def _predict_batch(self, audio: tf.Tensor):
        feats, probs = self._model(features_lib.log_mel(audio, self.sample_rate), training=False)
        return feats, probs

    def _check_audio(self, audio) -> np.ndarray:
        audio = np.asarray(audio)
        if audio.ndim == 3 and audio.shape[-1] == 1:
            audio = audio[..., 0]
        if audio.ndim != 2:
            raise ClassifierError(f"audio must be float[N, {self.length}] (or [N, {self.length}, 1]), "
                                  f"got shape {audio.shape}")
        if audio.shape[1] != self.length:
            raise ClassifierError(
                f"audio clips have {audio.shape[1]} samples but the classifier scores "
                f"{self.length}-sample clips at {self.sample_rate} Hz")
        if audio.dtype.kind != "f":
            raise ClassifierError(f"audio must be a float waveform in [-1, 1], got dtype {audio.dtype}")
        audio = audio.astype(np.float32, copy=False)
        if not np.all(np.isfinite(audio)):
            bad = int(np.argwhere(~np.isfinite(audio))[0, 0])
            raise ClassifierError(f"audio has non-finite samples (NaN or inf), first in clip {bad}")
        return audio
