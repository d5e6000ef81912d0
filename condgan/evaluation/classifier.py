"""The scoring classifier: a small log-mel CNN trained on a dataset's real clips.

Like WaveGAN's SC09 scoring classifier, it reads the WaveGAN log-mel image of a
clip (`features.log_mel`, float32[frames, 128]) and predicts its class:

  log-mel [frames, 128]
  -> per-mel-bin standardisation (mean / std of the training split, stored in the model)
  -> 4 x (3x3 conv + ReLU, 2x2 max pool), 16 / 32 / 64 / 128 channels
  -> flatten, dropout
  -> dense 128 + ReLU          "features": the penultimate activations scored by
                               FD, d_self, d_train, z-diversity and NDB
  -> dropout, dense K + softmax "probs": conditional accuracy and IS

It trains on the training split (light augmentation: random time shift and
gain of the waveform) with a stratified part held out to pick the best epoch,
and reports its accuracy on the test split. For 128-frame clips it has 1.1 M
parameters (most in the first dense layer) and trains in about five minutes on
two CPU cores for a few thousand clips (FSDD: 98-99 % test accuracy).

This module is the network (`build_model`) and its training recipe
(`train_classifier`). The trained classifier it produces -- `Classifier`: how
it is saved (model.keras + classifier.json, atomically) and loaded, the dataset
fingerprint that makes it refuse a dataset it was not trained on, and scoring --
is `condgan.evaluation.trained_classifier`; its names are re-exported here.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

import condgan
from condgan import records
from condgan.data import load_split_arrays
from condgan.evaluation import features as features_lib
from condgan.evaluation.trained_classifier import (
    _INFERENCE_BATCH,
    DEFAULT_SUBDIR,
    FEATURE_DIM,
    FORMAT_VERSION,
    METADATA_FILE,
    MODEL_FILE,
    Classifier,
    ClassifierError,
    DatasetMismatchError,
    UnlabelledDatasetError,
    check_labelled,
    check_split_labels,
    dataset_fingerprint,
    default_path,
)

__all__ = [
    # The trained classifier (condgan.evaluation.trained_classifier).
    "DEFAULT_SUBDIR", "FEATURE_DIM", "FORMAT_VERSION", "METADATA_FILE", "MODEL_FILE",
    "Classifier", "ClassifierError", "DatasetMismatchError", "UnlabelledDatasetError",
    "check_labelled", "check_split_labels", "dataset_fingerprint", "default_path",
    # Its network and training.
    "CHANNELS", "MAX_GAIN_DB", "MAX_SHIFT_FRACTION",
    "accuracy_report", "augment", "build_model", "stratified_split", "train_classifier",
]

CHANNELS = (16, 32, 64, 128)
# Waveform augmentation while training: shift by up to this share of the clip
# (zeros enter at the edge) and scale by up to +-this many dB.
MAX_SHIFT_FRACTION = 0.1
MAX_GAIN_DB = 6.0
# Keeps per-bin std away from 0 in bins that are constant over the training
# set (e.g. above the band of a low sample rate's content).
_MIN_STD = 1e-3


def build_model(frames: int, num_classes: int, mean: np.ndarray, variance: np.ndarray,
                dropout: float = 0.3) -> keras.Model:
    """The classifier network, with the input standardisation built in.

    Args:
      frames: log-mel frames per clip (`features.num_frames(length, rate)`).
      num_classes: size of the softmax, >= 2.
      mean: float[128] per-mel-bin mean of the training log-mels.
      variance: float[128] per-mel-bin variance (floored at _MIN_STD**2).
      dropout: rate of both dropout layers.

    Returns:
      A functional `keras.Model` mapping log-mel float32[batch, frames, 128] to
      [features float32[batch, 128], probs float32[batch, num_classes]].
    """
    inputs = keras.Input((frames, features_lib.NUM_MEL_BINS), name="log_mel")
    x = keras.layers.Normalization(axis=-1, mean=np.asarray(mean, np.float32),
                                   variance=np.asarray(variance, np.float32),
                                   name="standardize")(inputs)
    x = keras.layers.Reshape((frames, features_lib.NUM_MEL_BINS, 1))(x)
    for i, channels in enumerate(CHANNELS):
        # No batch norm: with most frames of short clips at the silence floor it
        # slowed training several-fold and its moving statistics lagged behind.
        x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        # "same" keeps short clips (fewer than 16 frames) at >= 1 frame.
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    feats = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    x = keras.layers.Dropout(dropout)(feats)
    probs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, [feats, probs], name="scoring_classifier")


def augment(audio: tf.Tensor, seed: tf.Tensor, max_shift: int,
            max_gain_db: float = MAX_GAIN_DB) -> tf.Tensor:
    """Random time shift (zero fill) and gain per clip, stateless.

    Args:
      audio: float32[batch, length].
      seed: int32/int64[2] stateless seed.
      max_shift: shifts are uniform integers in [-max_shift, max_shift] samples.
      max_gain_db: gains are uniform in [-max_gain_db, max_gain_db] dB.

    Returns:
      float32[batch, length]: clip b is `gain_b * audio[b, t - shift_b]`, zero
      where t - shift_b falls outside the clip.
    """
    batch, length = tf.shape(audio)[0], tf.shape(audio)[1]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    shift = tf.random.stateless_uniform([batch, 1], seeds[0], -max_shift, max_shift + 1,
                                        dtype=tf.int32)
    gain_db = tf.random.stateless_uniform([batch, 1], seeds[1], -max_gain_db, max_gain_db)
    source = tf.range(length)[tf.newaxis, :] - shift
    inside = (source >= 0) & (source < length)
    shifted = tf.gather(audio, tf.clip_by_value(source, 0, length - 1), batch_dims=1)
    return tf.where(inside, shifted, 0.0) * tf.pow(10.0, gain_db / 20.0)

def train_classifier(data_dir: str | os.PathLike,
                     output_dir: str | os.PathLike | None = None,
                     epochs: int = 20,
                     batch_size: int = 32,
                     seed: int = 0,
                     *,
                     learning_rate: float = 1e-3,
                     validation_fraction: float = 0.1,
                     augmentation: bool = True,
                     overwrite: bool = False,
                     progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Trains the scoring classifier on a dataset's training split and saves it.

    A stratified `validation_fraction` of the training split is held out; the
    weights of the epoch with the best validation accuracy (lowest validation
    loss among ties) are kept. Adam with a cosine-decayed learning rate. Test accuracy is
    measured on the test split, which training never sees.

    Args:
      data_dir: a prepared dataset with class labels and a test split.
      output_dir: where to save; default `<data_dir>/classifier`.
      epochs: passes over the training part, >= 1.
      batch_size: clips per step, >= 1.
      seed: seed of the weights, the validation split, batch order and augmentation.
      learning_rate: initial Adam learning rate, > 0.
      validation_fraction: share of each class held out for epoch selection, in (0, 0.5].
      augmentation: random time shift (+-10 % of the clip) and gain (+-6 dB).
      overwrite: replace an existing classifier at `output_dir`.
      progress: receives one line per epoch; None is silent.

    Returns:
      The report (also stored in classifier.json under "report"):
        path, test_accuracy, per_class_test_accuracy {class: accuracy},
        test_count, validation_accuracy, train_count, validation_count,
        best_epoch (1-based), epochs, wall_time_s, confusion (int[K][K],
        rows true class, columns predicted).

    Raises:
      records.DatasetError: `data_dir` is not a prepared dataset or its splits
        are empty / inconsistent.
      UnlabelledDatasetError: the dataset has no labels.
      FileExistsError: a classifier exists at `output_dir` and not `overwrite`.
      ValueError: a bad argument.
    """
    started = time.perf_counter()
    data_dir = os.fspath(data_dir)
    _check_int("epochs", epochs)
    _check_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if not 0.0 < validation_fraction <= 0.5:
        raise ValueError(f"validation_fraction must be in (0, 0.5], got {validation_fraction}")
    output_dir = os.path.abspath(os.fspath(output_dir) if output_dir is not None
                                 else default_path(data_dir))
    if (os.path.exists(output_dir) and not overwrite):
        raise FileExistsError(f"{output_dir} exists; pass overwrite=True (--overwrite) to "
                              "replace the classifier there")
    say = progress or (lambda line: None)

    card = records.load_card(data_dir)
    check_labelled(card, data_dir)
    num_classes = len(card.classes)
    if num_classes < 2:
        raise UnlabelledDatasetError(f"{data_dir}: the card lists {num_classes} class "
                                     f"({card.classes}); a classifier needs at least 2")
    for split in records.SPLITS:
        if not card.counts.get(split):
            raise records.DatasetError(
                f"{data_dir}: the {split!r} split is empty; the classifier trains on 'train' and "
                "reports its accuracy on 'test' (prepare with --test_fraction > 0)")
    train = load_split_arrays(data_dir, "train")
    test = load_split_arrays(data_dir, "test")
    check_split_labels(train["labels"], num_classes, data_dir, "train")
    check_split_labels(test["labels"], num_classes, data_dir, "test")
    rate, length = int(card.sample_rate), int(card.length)
    frames = features_lib.num_frames(length, rate)

    fit_idx, val_idx = stratified_split(train["labels"], validation_fraction, seed)
    fit_audio, fit_labels = train["audio"][fit_idx], train["labels"][fit_idx]
    val_audio, val_labels = train["audio"][val_idx], train["labels"][val_idx]
    say(f"training on {len(fit_idx)} clips, selecting the epoch on {len(val_idx)}, "
        f"testing on {len(test['labels'])}; {num_classes} classes, {frames}x"
        f"{features_lib.NUM_MEL_BINS} log-mel")

    mean, variance = _bin_stats(fit_audio, rate)
    keras.utils.set_random_seed(int(seed))
    model = build_model(frames, num_classes, mean, variance)
    # Trains through the probabilities only; shares every layer with `model`.
    trainable = keras.Model(model.inputs, model.outputs[1])
    steps_per_epoch = -(-len(fit_idx) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch)
    trainable.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    max_shift = int(round(MAX_SHIFT_FRACTION * length)) if augmentation else 0
    gain_db = MAX_GAIN_DB if augmentation else 0.0

    # Named functions, not lambdas: AutoGraph cannot read the source of a
    # lambda that shares its line with others.
    def fit_features(batch, aug_seed):
        audio, labels = batch
        if augmentation:
            audio = augment(audio, aug_seed, max_shift, gain_db)
        return features_lib.log_mel(audio, rate), labels

    def val_features(audio, labels):
        return features_lib.log_mel(audio, rate), labels

    # Per-batch augmentation seeds from a seeded stream, new every epoch.
    aug_seeds = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True).batch(2)
    fit_ds = (tf.data.Dataset.zip(
        tf.data.Dataset.from_tensor_slices((fit_audio, fit_labels))
        .shuffle(len(fit_idx), seed=int(seed), reshuffle_each_iteration=True)
        .batch(batch_size), aug_seeds)
        .map(fit_features, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2))
    val_ds = (tf.data.Dataset.from_tensor_slices((val_audio, val_labels)).batch(_INFERENCE_BATCH)
              .map(val_features).cache())

    best = _BestEpoch(say, epochs)
    history = trainable.fit(fit_ds, validation_data=val_ds, epochs=epochs, verbose=0, shuffle=False,
                            callbacks=[best]).history

    metadata = {
        "format_version": FORMAT_VERSION,
        "condgan_version": condgan.__version__,
        "keras_version": keras.__version__,
        "classes": list(card.classes),
        "sample_rate": rate,
        "length": length,
        "frames": frames,
        "feature_dim": FEATURE_DIM,
        "dataset": {**dataset_fingerprint(card), "data_dir": os.path.abspath(data_dir)},
        "training": {
            "epochs": epochs, "batch_size": batch_size, "seed": int(seed),
            "learning_rate": learning_rate, "validation_fraction": validation_fraction,
            "augmentation": ({"max_shift_samples": max_shift, "max_gain_db": gain_db}
                             if augmentation else None),
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        },
    }
    classifier = Classifier(model, metadata)
    test_probs = classifier.probs(test["audio"])
    report = {
        "path": output_dir,
        **accuracy_report(test_probs, test["labels"], card.classes),
        "validation_accuracy": best.best_accuracy,
        "train_count": int(len(fit_idx)),
        "validation_count": int(len(val_idx)),
        "best_epoch": best.best_epoch,
        "epochs": epochs,
    }
    report["wall_time_s"] = round(time.perf_counter() - started, 1)
    metadata["report"] = report
    classifier.save(output_dir, overwrite=overwrite)
    say(f"test accuracy {report['test_accuracy']:.4f} on {report['test_count']} clips "
        f"(best epoch {best.best_epoch}, {report['wall_time_s']:.0f} s); saved {output_dir}")
    return report


def accuracy_report(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, per-class accuracy and confusion matrix of predictions.

    Args:
      probs: float[N, K] class probabilities.
      labels: int[N] true classes in [0, K).
      classes: K class names.

    Returns:
      dict with test_accuracy (float), per_class_test_accuracy {name: float or
      None when the class has no clip}, test_count (int) and confusion
      (int[K][K], rows true, columns predicted).
    """
    predicted = np.argmax(probs, axis=1)
    k = len(classes)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for i, name in enumerate(classes):
        total = int(confusion[i].sum())
        per_class[name] = float(confusion[i, i] / total) if total else None
    return {
        "test_accuracy": float(np.mean(predicted == labels)),
        "per_class_test_accuracy": per_class,
        "test_count": int(labels.size),
        "confusion": confusion.tolist(),
    }


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into (fit, held-out) with `fraction` of every class held out.

    A class with at least 2 clips gives round(fraction * count) of them, at
    least 1, to the held-out part; a class of 1 clip stays in the fit part.

    Args:
      labels: int[N] class labels.
      fraction: share held out, in (0, 1).
      seed: seed of the draw.

    Returns:
      (fit int64[N - M], held_out int64[M]), each sorted.
    """
    rng = np.random.default_rng([int(seed), 1])
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        take = min(idx.size - 1, max(1, int(round(fraction * idx.size))))
        held.append(rng.choice(idx, size=take, replace=False))
    held_out = np.sort(np.concatenate(held)) if held else np.zeros([0], np.int64)
    fit = np.setdiff1d(np.arange(labels.size), held_out)
    return fit.astype(np.int64), held_out.astype(np.int64)


class _BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best validation accuracy; logs epochs."""

    def __init__(self, say: Callable[[str], None], epochs: int):
        super().__init__()
        self._say = say
        self._epochs = epochs
        self.best_accuracy = -1.0
        self.best_loss = np.inf
        self.best_epoch = 0
        self.weights = None
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        acc = float(logs.get("val_accuracy", -1.0))
        loss = float(logs.get("val_loss", np.inf))
        # Accuracy saturates on easy sets; the loss breaks ties.
        if (acc, -loss) > (self.best_accuracy, -self.best_loss) or self.weights is None:
            self.best_accuracy, self.best_loss, self.best_epoch = acc, loss, epoch + 1
            # The two-output model shares every layer with the trained one.
            self.weights = [w.numpy().copy() for w in self.model.weights]
        self._say(f"epoch {epoch + 1}/{self._epochs} loss {logs.get('loss', float('nan')):.4f} "
                  f"accuracy {logs.get('accuracy', float('nan')):.4f} "
                  f"val_accuracy {acc:.4f} ({time.perf_counter() - self._start:.1f} s)")

    def on_train_end(self, logs=None):
        self.model.set_weights(self.weights)


def _bin_stats(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """float64[128] mean and variance of the log-mel of `audio` over clips and frames."""
    total = np.zeros(features_lib.NUM_MEL_BINS, np.float64)
    total_sq = np.zeros(features_lib.NUM_MEL_BINS, np.float64)
    count = 0
    for start in range(0, audio.shape[0], 256):
        mel = features_lib.log_mel(audio[start:start + 256], sample_rate).numpy().astype(np.float64)
        total += mel.sum(axis=(0, 1))
        total_sq += np.square(mel).sum(axis=(0, 1))
        count += mel.shape[0] * mel.shape[1]
    mean = total / count
    variance = np.maximum(total_sq / count - np.square(mean), _MIN_STD ** 2)
    return mean, variance


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
