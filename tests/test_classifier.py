"""The scoring classifier: training, save/load, dataset fingerprint, errors, CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from condgan import records
from condgan.evaluation import classifier as clf
from condgan.evaluation import features

RATE, LENGTH = 8000, 1024
CLASSES = ["low tone", "mid tone", "high tone"]
PITCH = {0: 300.0, 1: 900.0, 2: 2200.0}
CAPTIONS = {0: ["a low tone", "a deep hum"], 1: ["a middle beep", "a mid tone"],
            2: ["a high whistle", "a shrill beep"]}


def tone(rng: np.random.Generator, label: int) -> np.ndarray:
    """One clip of class `label`: a jittered sine with random level, onset and noise."""
    t = np.arange(LENGTH) / RATE
    f = PITCH[label] * rng.uniform(0.95, 1.05)
    onset = rng.integers(0, LENGTH // 4)
    env = (t >= onset / RATE) * np.exp(-rng.uniform(2, 8) * np.maximum(t - onset / RATE, 0))
    x = rng.uniform(0.2, 0.8) * env * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return (x + 0.01 * rng.normal(size=LENGTH)).astype(np.float32)


def write_tone_dataset(path, per_class=(40, 20), seed=0, labelled=True, rate=RATE,
                       classes=CLASSES, source="tones") -> str:
    """A prepared dataset of 3 tone classes in the condgan.records format."""
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    shards, counts, captions = {}, {}, set()
    for split, n in zip(records.SPLITS, per_class):
        examples = []
        for i in range(n * len(PITCH)):
            label = i % len(PITCH)
            caption = CAPTIONS[label][i // len(PITCH) % 2]
            captions.add(caption)
            examples.append(records.serialize_example(
                tone(rng, label), rate, caption, label if labelled else -1, f"{split}/{i}"))
        shards[split] = records.write_shards(path, split, examples)
        counts[split] = len(examples)
    card = records.DatasetCard(source=source, sample_rate=rate, length=LENGTH,
                               classes=list(classes) if labelled else [],
                               captions=sorted(captions), counts=counts, shards=shards)
    with open(os.path.join(path, records.CARD_NAME), "w", encoding="utf-8") as f:
        f.write(card.to_json())
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data_dir = write_tone_dataset(tmp_path_factory.mktemp("tones"))
    lines = []
    report = clf.train_classifier(data_dir, None, epochs=8, batch_size=16, seed=0,
                                  progress=lines.append)
    return data_dir, report, lines


def test_trains_on_tones_and_reports_test_accuracy(trained):
    data_dir, report, lines = trained
    assert report["path"] == os.path.abspath(clf.default_path(data_dir))
    assert report["test_accuracy"] >= 0.95
    assert report["test_count"] == 60 and report["train_count"] + report["validation_count"] == 120
    assert set(report["per_class_test_accuracy"]) == set(CLASSES)
    confusion = np.array(report["confusion"])
    assert confusion.sum() == 60 and np.trace(confusion) / 60 == pytest.approx(report["test_accuracy"])
    assert 1 <= report["best_epoch"] <= 8
    assert sum(line.startswith("epoch ") for line in lines) == 8
    # Atomic save: only the final directory, no temporary one left beside it.
    assert sorted(os.listdir(report["path"])) == [clf.METADATA_FILE, clf.MODEL_FILE]
    assert not [p for p in os.listdir(data_dir) if p.startswith(".classifier-")]


def test_loaded_classifier_matches_the_report_and_the_card(trained):
    data_dir, report, _ = trained
    model = clf.Classifier.load(report["path"])
    card = records.load_card(data_dir)
    assert model.classes == CLASSES and model.sample_rate == RATE and model.length == LENGTH
    fingerprint = clf.dataset_fingerprint(card)
    assert {k: model.fingerprint[k] for k in fingerprint} == fingerprint
    model.check_dataset(card, data_dir)  # no error

    from condgan.data import load_split_arrays
    test = load_split_arrays(data_dir, "test")
    feats, probs = model.predict(test["audio"])
    assert feats.shape == (60, clf.FEATURE_DIM) and probs.shape == (60, 3)
    assert feats.dtype == np.float32 and np.all(feats >= 0)  # ReLU features
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # The in-memory model scored the test split before saving; the loaded one agrees.
    assert np.mean(np.argmax(probs, 1) == test["labels"]) == report["test_accuracy"]
    np.testing.assert_array_equal(model.probs(test["audio"]), probs)
    np.testing.assert_array_equal(model.features(test["audio"][:, :, None]), feats)


def test_save_load_round_trip_gives_identical_outputs(trained, tmp_path):
    _, report, _ = trained
    a = clf.Classifier.load(report["path"])
    copy = a.save(tmp_path / "copy")
    b = clf.Classifier.load(copy)
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (5, LENGTH)).astype(np.float32)
    np.testing.assert_array_equal(a.probs(audio), b.probs(audio))
    np.testing.assert_array_equal(a.features(audio), b.features(audio))
    assert b.metadata == a.metadata
    with pytest.raises(FileExistsError, match="overwrite"):
        a.save(copy)
    a.save(copy, overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a condgan classifier"):
        a.save(tmp_path / "other", overwrite=True)
    assert (tmp_path / "other" / "keep.txt").read_text() == "mine"


def test_another_dataset_is_refused_with_the_differences(trained, tmp_path):
    _, report, _ = trained
    model = clf.Classifier.load(report["path"])
    other = write_tone_dataset(tmp_path / "other", classes=["a", "b", "c"], source="elsewhere")
    with pytest.raises(clf.DatasetMismatchError, match=r"classes: 3 classes .*source: tones"):
        model.check_dataset(records.load_card(other), other)
    resampled = write_tone_dataset(tmp_path / "rate", rate=16000)
    with pytest.raises(clf.DatasetMismatchError, match=r"sample_rate: 8000 \(classifier\) vs 16000"):
        model.check_dataset(records.load_card(resampled), resampled)
    more = write_tone_dataset(tmp_path / "more", per_class=(41, 20))
    with pytest.raises(clf.DatasetMismatchError, match=r"train_count: 120 \(classifier\) vs 123"):
        model.check_dataset(records.load_card(more), more)


def test_audio_of_another_length_or_with_nan_is_refused(trained):
    model = clf.Classifier.load(trained[1]["path"])
    with pytest.raises(clf.ClassifierError, match="2048 samples but the classifier scores 1024"):
        model.probs(np.zeros((2, 2048), np.float32))
    with pytest.raises(clf.ClassifierError, match=r"shape \(1024,\)"):
        model.probs(np.zeros(1024, np.float32))
    bad = np.zeros((3, LENGTH), np.float32)
    bad[2, 5] = np.nan
    with pytest.raises(clf.ClassifierError, match="non-finite samples .* clip 2"):
        model.features(bad)


def test_unlabelled_dataset_is_refused(tmp_path):
    data_dir = write_tone_dataset(tmp_path / "nolabels", per_class=(4, 2), labelled=False)
    with pytest.raises(clf.UnlabelledDatasetError, match="no class labels"):
        clf.train_classifier(data_dir, tmp_path / "out", epochs=1)
    assert not (tmp_path / "out").exists()


def test_clips_without_label_are_refused(tmp_path):
    data_dir = write_tone_dataset(tmp_path / "partial", per_class=(4, 2))
    with pytest.raises(clf.UnlabelledDatasetError, match=r"2 of 12 clips of the 'train' split"):
        clf.check_split_labels(np.array([0, 1, -1, 2, -1, 0, 1, 2, 0, 1, 2, 0]), 3, data_dir,
                               "train")


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(clf.ClassifierError, match="no such classifier directory"):
        clf.Classifier.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(clf.ClassifierError, match="is not a condgan classifier"):
        clf.Classifier.load(tmp_path / "empty")


def test_existing_output_is_refused_before_training(trained):
    data_dir, report, _ = trained
    with pytest.raises(FileExistsError, match="overwrite"):
        clf.train_classifier(data_dir, report["path"], epochs=1)


def test_augment_shifts_with_zero_fill_and_scales():
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(16, 200)).astype(np.float32)
    seed = tf.constant([3, 4], tf.int64)
    np.testing.assert_array_equal(clf.augment(audio, seed, 0, 0.0).numpy(), audio)
    shifted = clf.augment(audio, seed, 20, 0.0).numpy()
    shifts = set()
    for x, y in zip(audio, shifted):
        # Reference: the one shift s in [-20, 20] whose zero-filled shift matches.
        match = [s for s in range(-20, 21)
                 if np.allclose(y, np.concatenate([np.zeros(s), x[:200 - s]]) if s >= 0
                                else np.concatenate([x[-s:], np.zeros(-s)]))]
        assert len(match) == 1
        shifts.add(match[0])
    assert len(shifts) > 4  # per-clip shifts, not one for the batch
    scaled = clf.augment(audio, seed, 0, 6.0).numpy()
    gains = scaled[:, 0] / audio[:, 0]
    np.testing.assert_allclose(scaled, audio * gains[:, None], rtol=1e-5)
    assert np.all(gains >= 10 ** (-6 / 20) - 1e-6) and np.all(gains <= 10 ** (6 / 20) + 1e-6)
    assert np.ptp(gains) > 0.1


def test_stratified_split_holds_out_every_class():
    labels = np.repeat([0, 1, 2, 3], [10, 20, 1, 5])
    fit, held = clf.stratified_split(labels, 0.2, seed=0)
    assert np.intersect1d(fit, held).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, held])), np.arange(labels.size))
    np.testing.assert_array_equal(np.bincount(labels[held], minlength=4), [2, 4, 0, 1])
    np.testing.assert_array_equal(clf.stratified_split(labels, 0.2, seed=0)[1], held)


def test_accuracy_report_against_counting():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 1, 2])
    out = clf.accuracy_report(probs, labels, ["a", "b", "c"])
    assert out["test_accuracy"] == 0.75
    assert out["per_class_test_accuracy"] == {"a": 1.0, "b": 0.5, "c": 1.0}
    assert out["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]


def test_model_input_is_the_log_mel_image():
    model = clf.build_model(features.num_frames(LENGTH, RATE), 3, np.zeros(128), np.ones(128))
    assert model.input_shape == (None, 16, 128)
    assert [o.shape for o in model.outputs] == [(None, clf.FEATURE_DIM), (None, 3)]


def cli(module, *args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_trains_and_prints_test_accuracy(tmp_path):
    data_dir = write_tone_dataset(tmp_path / "tones", per_class=(10, 4))
    out = tmp_path / "clf"
    args = [f"--data_dir={data_dir}", f"--output_dir={out}", "--epochs=2", "--batch_size=8"]
    done = cli("condgan.training.classifier_cli", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((out / clf.METADATA_FILE).read_text())
    assert f"test accuracy {saved['report']['test_accuracy']:.4f} on 12 clips" in done.stdout
    assert all(f"  {name}: " in done.stdout for name in CLASSES)
    assert "epoch 2/2" in done.stderr


def test_cli_refuses_stray_arguments_and_a_missing_data_dir():
    done = cli("condgan.training.classifier_cli", "extra")
    assert done.returncode != 0 and "unexpected arguments: extra" in done.stderr
    done = cli("condgan.training.classifier_cli")
    assert done.returncode != 0 and "--data_dir is required" in done.stderr
