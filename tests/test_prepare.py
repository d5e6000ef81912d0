"""Tests of condgan-prepare and its importers, on tiny generated data and the real sets."""

import collections
import io
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from condgan import records
from condgan.data_prep import importers
from condgan.data_prep import prepare as prepare_lib
from condgan.data_prep.prepare import ArgumentError, BadInputError, prepare

ROOT = pathlib.Path(__file__).resolve().parents[1]
RATE, LENGTH = 8000, 1024


def _wav(path, seconds=0.1, rate=RATE, channels=1, freq=440.0):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * freq * t)] * channels, axis=1).astype(np.float32)
    path.write_bytes(tf.audio.encode_wav(x, rate).numpy())
    return path


def _read_split(data_dir, split):
    card = records.load_card(data_dir)
    ds = tf.data.TFRecordDataset(card.files(data_dir, split)).map(records.parse_example)
    return [{k: v.numpy() for k, v in ex.items()} for ex in ds]


def _leftovers(parent):
    """Hidden work directories prepare may leave beside its target."""
    return [p.name for p in pathlib.Path(parent).iterdir() if p.name.startswith(".")]


@pytest.fixture
def sounds(tmp_path):
    """A folder of 6 tiny sounds of 3 kinds, mixed rates and channels, plus a README."""
    d = tmp_path / "sounds"
    _wav(d / "dog-bark-1.wav", rate=16000)
    _wav(d / "dog-bark-2.wav", rate=22050, channels=2)
    _wav(d / "Cat_Meow.wav", rate=44100, freq=880)
    _wav(d / "ambient" / "birds1.wav", seconds=0.3)
    _wav(d / "ambient" / "birds2.wav", seconds=0.05)
    _wav(d / "ambient" / "birds3.WAV", rate=11025, channels=6)
    (d / "README.md").write_text("Test sounds.\n\nLicense: CC0 1.0, made by the test.\n")
    return d


# ----------------------------------------------------------------------------
# Captions and splits.


@pytest.mark.parametrize("name,caption", [
    ("wolf-growl-1.ogg", "wolf growl"),
    ("ambient/birds1.ogg", "birds"),
    ("magic-missile-1-miss.ogg", "magic missile miss"),
    ("Cat_Meow.WAV", "cat meow"),
    ("horn-signals/horn-7.ogg", "horn"),
    ("dog/001.wav", "dog"),
    ("a__b - c.wav", "a b c"),
    ("001.wav", ""),
])
def test_caption_from_name(name, caption):
    assert importers.caption_from_name(name) == caption


def test_split_by_hash_is_deterministic_and_near_the_fraction():
    keys = [f"clip-{i}.wav" for i in range(4000)]
    splits = [importers.split_by_hash(k, 0.1) for k in keys]
    assert splits == [importers.split_by_hash(k, 0.1) for k in keys]
    assert 0.08 < splits.count("test") / len(keys) < 0.12
    assert all(importers.split_by_hash(k, 0.0) == "train" for k in keys[:100])


@pytest.mark.parametrize("gender,accent,phrase", [
    ("male", "DEU/German", "a man with a German accent"),
    ("male", "USA/neutral", "a man with an American accent"),
    ("female", "GRC/Greek", "a woman with a Greek accent"),
    (None, None, "a speaker"),
])
def test_fsdd_speaker_phrase(gender, accent, phrase):
    assert importers.speaker_phrase(gender, accent) == phrase


# ----------------------------------------------------------------------------
# folder


def test_folder_prepare_round_trip(sounds, tmp_path):
    out = tmp_path / "out"
    card = prepare("folder", str(sounds), str(out), sample_rate=RATE, length=LENGTH,
                   test_fraction=0.0, progress=False)
    assert card.classes == ["birds", "cat meow", "dog bark"]
    assert card.captions == ["birds", "cat meow", "dog bark"]
    assert card.counts == {"train": 6, "test": 0}
    assert card.license == "CC0 1.0, made by the test."
    assert card.skipped == []
    assert card.groups == card.classes and "file name" in card.extra["condition_groups"]
    assert records.load_card(out) == card
    examples = _read_split(out, "train")
    assert sorted(ex["id"].decode() for ex in examples) == [
        "Cat_Meow.wav", "ambient/birds1.wav", "ambient/birds2.wav", "ambient/birds3.WAV",
        "dog-bark-1.wav", "dog-bark-2.wav"]
    for ex in examples:
        caption = ex["caption"].decode()
        assert caption == importers.caption_from_name(ex["id"].decode())
        assert card.classes[ex["label"]] == caption
        assert ex["group"].decode() == caption  # a file name names its class only
        assert ex["sample_rate"] == RATE and ex["num_samples"] == LENGTH
        assert ex["audio"].shape == (LENGTH,)
        assert np.max(np.abs(ex["audio"])) == pytest.approx(0.95, abs=1e-4)
    # The 0.05 s clip at 8 kHz is 400 samples, then zeros.
    birds2 = next(ex for ex in examples if ex["id"] == b"ambient/birds2.wav")
    assert np.all(birds2["audio"][420:] == 0) and np.any(birds2["audio"][:380] != 0)
    assert _leftovers(tmp_path) == []


def test_folder_split_follows_test_fraction(sounds, tmp_path):
    card = prepare("folder", str(sounds), str(tmp_path / "out"), sample_rate=RATE,
                   length=LENGTH, test_fraction=0.5, progress=False)
    rels = ["Cat_Meow.wav", "ambient/birds1.wav", "ambient/birds2.wav", "ambient/birds3.WAV",
            "dog-bark-1.wav", "dog-bark-2.wav"]
    want = sum(importers.split_by_hash(r, 0.5) == "test" for r in rels)
    assert card.counts == {"train": 6 - want, "test": want}
    ids = {ex["id"].decode() for ex in _read_split(tmp_path / "out", "test")}
    assert ids == {r for r in rels if importers.split_by_hash(r, 0.5) == "test"}


# ----------------------------------------------------------------------------
# Bad inputs: default stop, --skip_bad.


def _encoded(fmt, subtype, seconds=0.3, rate=RATE):
    """A tone encoded by libsndfile (soundfile), as bytes."""
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * 440 * t), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


# Broken compressed files: name -> (soundfile format and subtype, the damage
# done to the encoded tone, whether the decoders open it). The half MP3 opens
# (its header declares the whole length) and decoding ends early.
BROKEN_COMPRESSED = {
    "cut-header.flac": (("FLAC", "PCM_16"), lambda d: d[:20], False),
    "cut-in-half.ogg": (("OGG", "VORBIS"), lambda d: d[:len(d) // 2], False),
    "cut-in-first-frame.mp3": (("MP3", "MPEG_LAYER_III"), lambda d: d[:200], False),
    "cut-in-half.mp3": (("MP3", "MPEG_LAYER_III"), lambda d: d[:len(d) // 2], True),
}


@pytest.fixture
def bad_sounds(sounds):
    (sounds / "empty.wav").write_bytes(b"")
    (sounds / "noise.ogg").write_bytes(b"this is not an ogg file" * 10)
    (sounds / "short.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    (sounds / "take.aiff").write_bytes(b"FORM")
    bad = {str(sounds / n): w for n, w in [("empty.wav", "empty file"),
                                           ("noise.ogg", "not an audio file"),
                                           ("short.wav", "truncated"),
                                           ("take.aiff", "unsupported audio format")]}
    for name, (codec, damage, _) in BROKEN_COMPRESSED.items():
        (sounds / "broken" / name).parent.mkdir(exist_ok=True)
        (sounds / "broken" / name).write_bytes(damage(_encoded(*codec)))
        bad[str(sounds / "broken" / name)] = "truncated or corrupt"
    return bad


@pytest.mark.parametrize("tfio", ["tfio", "no-tfio"])
def test_bad_files_stop_before_writing(sounds, bad_sounds, tmp_path, monkeypatch, tfio):
    if tfio == "no-tfio":
        # What `import tensorflow_io` does where it is not installed (condgan[tfio]).
        monkeypatch.setitem(sys.modules, "tensorflow_io", None)
    else:
        pytest.importorskip("tensorflow_io", reason="tensorflow-io (condgan[tfio]) not installed")
    out = tmp_path / "out"
    with pytest.raises(BadInputError) as info:
        prepare("folder", str(sounds), str(out), sample_rate=RATE, length=LENGTH, progress=False)
    assert {p.path: p.reason for p in info.value.problems}.keys() == bad_sounds.keys()
    for problem in info.value.problems:
        assert bad_sounds[problem.path] in problem.reason
        assert problem.path in str(info.value)
        # Without tensorflow-io, the files that did not open name the extra.
        name = os.path.basename(problem.path)
        unopened = name in BROKEN_COMPRESSED and not BROKEN_COMPRESSED[name][2]
        assert ("pip install condgan[tfio]" in problem.reason) == (tfio == "no-tfio" and unopened)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_skip_bad_lists_them_in_the_card(sounds, bad_sounds, tmp_path):
    out = tmp_path / "out"
    card = prepare("folder", str(sounds), str(out), sample_rate=RATE, length=LENGTH,
                   test_fraction=0.0, skip_bad=True, progress=False)
    assert card.counts == {"train": 6, "test": 0}
    assert {s["path"] for s in card.skipped} == bad_sounds.keys()
    for item in card.skipped:
        assert bad_sounds[item["path"]] in item["reason"]
    assert json.loads((out / records.CARD_NAME).read_text())["skipped"] == card.skipped


def test_all_bad_is_an_error_even_with_skip_bad(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.wav").write_bytes(b"")
    with pytest.raises(BadInputError, match="no usable clips"):
        prepare("folder", str(tmp_path / "in"), str(tmp_path / "out"), skip_bad=True,
                progress=False)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------
# manifest


def _manifest(tmp_path, text, name="m.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def test_csv_manifest(sounds, tmp_path):
    m = _manifest(sounds, "path,caption,split,label\n"
                          "dog-bark-1.wav,a dog barks twice,train,dog\n"
                          "Cat_Meow.wav,  a cat   meows ,test,cat\n"
                          "ambient/birds1.wav,birds sing at dawn,,\n"
                          f"{sounds / 'dog-bark-2.wav'},a small dog barks,validation,dog\n")
    card = prepare("manifest", m, str(tmp_path / "out"), sample_rate=RATE, length=LENGTH,
                   test_fraction=0.0, progress=False)
    assert card.classes == ["cat", "dog"]
    assert card.counts == {"train": 2, "test": 2}
    assert card.license == "CC0 1.0, made by the test."
    by_id = {ex["id"].decode(): ex
             for s in records.SPLITS for ex in _read_split(tmp_path / "out", s)}
    assert by_id["Cat_Meow.wav"]["caption"] == b"a cat meows"
    assert by_id["Cat_Meow.wav"]["label"] == 0
    assert by_id["dog-bark-1.wav"]["label"] == 1
    assert by_id["ambient/birds1.wav"]["label"] == -1
    assert {ex["id"].decode() for ex in _read_split(tmp_path / "out", "test")} == {
        "Cat_Meow.wav", str(sounds / "dog-bark-2.wav")}
    # Groups: the label where a row has one, else the normalised caption.
    assert {i: ex["group"].decode() for i, ex in by_id.items()} == {
        "dog-bark-1.wav": "dog", "Cat_Meow.wav": "cat", "ambient/birds1.wav": "birds sing at dawn",
        str(sounds / "dog-bark-2.wav"): "dog"}
    assert card.groups == ["birds sing at dawn", "cat", "dog"]


def test_manifest_without_labels_groups_by_normalised_caption(sounds, tmp_path):
    m = _manifest(sounds, "path,caption\n"
                          "dog-bark-1.wav,A dog barks.\n"
                          "dog-bark-2.wav,a dog  BARKS\n"
                          "Cat_Meow.wav,a cat meows\n")
    card = prepare("manifest", m, str(tmp_path / "out"), sample_rate=RATE, length=LENGTH,
                   test_fraction=0.0, progress=False)
    assert card.classes == [] and card.captions == ["A dog barks.", "a cat meows", "a dog BARKS"]
    assert card.groups == ["a cat meows", "a dog barks"]
    groups = {ex["id"].decode(): ex["group"].decode() for ex in _read_split(tmp_path / "out", "train")}
    assert groups == {"dog-bark-1.wav": "a dog barks", "dog-bark-2.wav": "a dog barks",
                      "Cat_Meow.wav": "a cat meows"}


def test_jsonl_and_clotho_manifests(sounds, tmp_path):
    jsonl = _manifest(sounds,
                      '{"path": "dog-bark-1.wav", "caption": "a dog", "label": 3}\n\n'
                      '{"file_name": "Cat_Meow.wav", "caption": "a cat", "split": "test"}\n',
                      name="m.jsonl")
    card = prepare("manifest", jsonl, str(tmp_path / "j"), sample_rate=RATE, length=LENGTH,
                   test_fraction=0.0, progress=False)
    assert card.counts == {"train": 1, "test": 1}
    assert card.classes == ["0", "1", "2", "3"]
    clotho = _manifest(sounds, "file_name,caption_1,caption_2,caption_3\n"
                               "dog-bark-1.wav,a dog barks,barking,a hound yelps\n", name="c.csv")
    card = prepare("manifest", clotho, str(tmp_path / "c"), sample_rate=RATE, length=LENGTH,
                   test_fraction=0.0, progress=False)
    assert card.captions == ["a dog barks", "a hound yelps", "barking"]
    ids = sorted(ex["id"].decode() for ex in _read_split(tmp_path / "c", "train"))
    assert ids == ["dog-bark-1.wav", "dog-bark-1.wav#2", "dog-bark-1.wav#3"]


@pytest.mark.parametrize("text,encoding,pattern", [
    ("path,caption\ndog-bark-1.wav,caf\u00e9 sounds\n", "latin-1", r"m\.csv:2: not valid UTF-8"),
    ("file,text\ndog-bark-1.wav,a dog\n", "utf-8",
     r"m\.csv:1: the header has columns \['file', 'text'\]"),
    ("path\ndog-bark-1.wav\n", "utf-8", r"m\.csv:1: .*'caption'"),
    ("", "utf-8", r"m\.csv: empty manifest"),
    ("path,caption\n", "utf-8", r"m\.csv: no entries"),
])
def test_manifest_errors_that_stop_everything(sounds, tmp_path, text, encoding, pattern):
    m = _manifest(sounds, text, encoding=encoding)
    with pytest.raises(importers.SourceError, match=pattern):
        prepare("manifest", m, str(tmp_path / "out"), skip_bad=True, progress=False)
    assert not (tmp_path / "out").exists()


def test_manifest_bad_entries(sounds, tmp_path, monkeypatch):
    (sounds / "locked.wav").write_bytes((sounds / "dog-bark-1.wav").read_bytes())
    locked = str(sounds / "locked.wav")
    real_access = os.access
    # The tests may run as root, who can read anything: fake the permission.
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == locked
                        else real_access(p, mode))
    m = _manifest(sounds, "path,caption,split\n"
                          "dog-bark-1.wav,a dog barks,train\n"   # 2: fine
                          "missing.wav,a ghost,train\n"           # 3
                          "Cat_Meow.wav,,train\n"                  # 4
                          "Cat_Meow.wav,   ,train\n"               # 5
                          "locked.wav,a locked door,train\n"      # 6
                          "dog-bark-2.wav,a dog,holdout\n"        # 7
                          "README.md,a readme,train\n"            # 8
                          "dog-bark-2.wav,too,many,fields\n"      # 9
                          ",no path,train\n")                     # 10
    expected = {
        (str(sounds / "missing.wav"), "file not found (manifest line 3"),
        (str(sounds / "Cat_Meow.wav"), "empty or missing caption in 'caption' (manifest line 4)"),
        (str(sounds / "Cat_Meow.wav"), "empty or missing caption in 'caption' (manifest line 5)"),
        (locked, "not readable"),
        (str(sounds / "dog-bark-2.wav"), "unknown split 'holdout' (manifest line 7)"),
        (str(sounds / "README.md"), "unsupported extension '.md'"),
        (f"{m}:9", "4 fields, the header has 3"),
        (f"{m}:10", "empty 'path'"),
    }

    def check(problems):
        assert len(problems) == len(expected)
        for path, words in expected:
            assert any(p.path == path and words in p.reason for p in problems), (path, words)

    with pytest.raises(BadInputError) as info:
        prepare("manifest", m, str(tmp_path / "out"), sample_rate=RATE, length=LENGTH,
                progress=False)
    check(info.value.problems)
    assert not (tmp_path / "out").exists()
    card = prepare("manifest", m, str(tmp_path / "out"), sample_rate=RATE, length=LENGTH,
                   skip_bad=True, progress=False)
    check([importers.Problem(**s) for s in card.skipped])
    assert sum(card.counts.values()) == 1


# ----------------------------------------------------------------------------
# synth


def test_synth_count_and_round_trip(tmp_path):
    synth_sfx = pytest.importorskip("condgan.data_prep.synth_sfx")
    card = prepare("synth", None, str(tmp_path / "out"), num_examples=30, seed=3,
                   sample_rate=RATE, length=LENGTH, progress=False)
    assert card.counts == {"train": 27, "test": 3}
    assert card.classes == list(synth_sfx.CLASSES)
    assert "CC0" in card.license
    clips = {c.clip_id: c for c in synth_sfx.generate(30, RATE, LENGTH, seed=3)}
    examples = _read_split(tmp_path / "out", "train") + _read_split(tmp_path / "out", "test")
    assert {ex["id"].decode() for ex in examples} == clips.keys()
    assert card.groups == sorted({synth_sfx.CLASSES[c.label] for c in clips.values()})
    for ex in examples:
        clip = clips[ex["id"].decode()]
        assert ex["caption"].decode() == clip.caption and ex["label"] == clip.label
        assert ex["group"].decode() == synth_sfx.CLASSES[clip.label]
        # Not normalised by default: the generator's levels survive, to 16-bit precision.
        np.testing.assert_allclose(ex["audio"], clip.audio, atol=1.0 / 32767)
    test_ids = {ex["id"].decode() for ex in _read_split(tmp_path / "out", "test")}
    assert test_ids == {c.clip_id for i, c in enumerate(clips.values()) if i % 10 == 9}


PITCH = ["beep", "rising whistle", "falling whistle", "siren"]


def test_synth_subset_is_the_cards_classes_and_recorded(tmp_path):
    synth_sfx = pytest.importorskip("condgan.data_prep.synth_sfx")
    names = ["siren", "rising whistle", "beep"]  # labels index this order
    card = prepare("synth", None, str(tmp_path / "out"), num_examples=24, seed=5,
                   sample_rate=RATE, length=LENGTH, classes=names, progress=False)
    assert card.source == "synth" and card.classes == names
    assert card.extra["class_subset"] == names
    assert card.extra["generator"]["classes"] == names
    assert card.extra["generator"]["subset_of"] == synth_sfx.CLASSES
    assert card.groups == sorted(names)
    assert set(card.captions) <= {c for n in names for c in synth_sfx.CAPTIONS[n]}
    assert records.load_card(tmp_path / "out") == card
    clips = {c.clip_id: c for c in synth_sfx.generate(24, RATE, LENGTH, seed=5, classes=names)}
    examples = _read_split(tmp_path / "out", "train") + _read_split(tmp_path / "out", "test")
    assert {ex["id"].decode() for ex in examples} == clips.keys()
    assert collections.Counter(int(ex["label"]) for ex in examples) == {0: 8, 1: 8, 2: 8}
    for ex in examples:
        clip = clips[ex["id"].decode()]
        assert ex["label"] == clip.label and ex["caption"].decode() == clip.caption
        assert ex["group"].decode() == names[clip.label]
        assert ex["caption"].decode() in synth_sfx.CAPTIONS[names[clip.label]]
        np.testing.assert_allclose(ex["audio"], clip.audio, atol=1.0 / 32767)


def test_synth_all_classes_named_is_the_full_set(tmp_path):
    synth_sfx = pytest.importorskip("condgan.data_prep.synth_sfx")
    args = dict(num_examples=13, seed=1, sample_rate=RATE, length=LENGTH, progress=False)
    full = prepare("synth", None, str(tmp_path / "a"), **args)
    named = prepare("synth", None, str(tmp_path / "b"), classes=list(synth_sfx.CLASSES), **args)
    assert "class_subset" not in full.extra and "subset_of" not in full.extra["generator"]
    assert named == full
    for name in full.shards["train"] + full.shards["test"]:  # the same bytes
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# ----------------------------------------------------------------------------
# Arguments and the output directory.


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(source="synth", length=0), "--length=0 must be >= 1"),
    (dict(source="birdsong"), "--source='birdsong' is unknown"),
    (dict(source="folder"), "--source=folder needs --input=FOLDER"),
    (dict(source="manifest"), "needs --input=MANIFEST_FILE"),
    (dict(source="folder", input="/no/such/dir"), "--input=/no/such/dir: no such folder"),
    (dict(source="manifest", input="/no/such.csv"), "no such manifest file"),
    (dict(source="synth", input="/tmp"), "--input is not used by --source=synth"),
    (dict(source="fsdd", input="/tmp", num_examples=5), "--num_examples is for --source=synth"),
    (dict(source="synth", sample_rate=0), "--sample_rate=0"),
    (dict(source="synth", test_fraction=1.0), "--test_fraction=1.0"),
    (dict(source="synth", examples_per_shard=0), "--examples_per_shard=0"),
    (dict(source="synth", num_examples=0), "--num_examples=0"),
    (dict(source="synth", normalize="loud"), "--normalize='loud'"),
    (dict(source="synth", fit="stretch"), "--fit='stretch'"),
    (dict(source="synth", classes=["beep", "kazoo"]), "--classes: unknown class(es) ['kazoo']"),
    (dict(source="synth", classes=["beep", "beep"]), "--classes: repeated class(es) ['beep']"),
    (dict(source="synth", classes=[]), "--classes: classes is empty"),
    (dict(source="synth", classes="beep,siren"), "not the string 'beep,siren'"),
    (dict(source="folder", input="/tmp", classes=["beep"]),
     "--classes is for --source=synth (a subset of its classes); --source=folder"),
    (dict(source="manifest", input=__file__, classes=PITCH), "--classes is for --source=synth"),
])
def test_impossible_arguments(tmp_path, kwargs, pattern):
    kwargs = {"input": None, **kwargs}
    with pytest.raises(ArgumentError, match=re.escape(pattern)):
        prepare(output_dir=str(tmp_path / "out"), progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_output_dir_rules(sounds, tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # an empty directory is fine
    args = dict(source="folder", input=str(sounds), sample_rate=RATE, length=LENGTH,
                progress=False)
    first = prepare(output_dir=str(out), test_fraction=0.0, **args)
    with pytest.raises(ArgumentError, match="exists and is not empty; pass --overwrite"):
        prepare(output_dir=str(out), **args)
    second = prepare(output_dir=str(out), overwrite=True, test_fraction=0.5, **args)
    assert records.load_card(out) == second != first
    assert sorted(os.listdir(out)) == sorted([records.CARD_NAME] + second.shards["train"]
                                             + second.shards["test"])
    other = tmp_path / "home"
    other.mkdir()
    (other / "notes.txt").write_text("precious")
    with pytest.raises(ArgumentError, match="not a prepared dataset"):
        prepare(output_dir=str(other), overwrite=True, **args)
    assert (other / "notes.txt").read_text() == "precious"
    assert _leftovers(tmp_path) == []


def _fail_after_first_shard(monkeypatch, exception):
    real = records.write_shards

    def write_shards(out_dir, split, examples, examples_per_shard=1024):
        real(out_dir, split, examples, examples_per_shard)
        raise exception
    monkeypatch.setattr(records, "write_shards", write_shards)


@pytest.mark.parametrize("exception", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_write_leaves_nothing(sounds, tmp_path, monkeypatch, exception):
    _fail_after_first_shard(monkeypatch, exception)
    with pytest.raises(type(exception)):
        prepare("folder", str(sounds), str(tmp_path / "out"), sample_rate=RATE, length=LENGTH,
                progress=False)
    assert not (tmp_path / "out").exists()
    assert _leftovers(tmp_path) == []
    assert not list(tmp_path.rglob(records.CARD_NAME))


def test_interrupted_overwrite_keeps_the_old_dataset(sounds, tmp_path, monkeypatch):
    out = tmp_path / "out"
    old = prepare("folder", str(sounds), str(out), sample_rate=RATE, length=LENGTH,
                  progress=False)
    _fail_after_first_shard(monkeypatch, OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        prepare("folder", str(sounds), str(out), sample_rate=RATE, length=2 * LENGTH,
                overwrite=True, progress=False)
    assert records.load_card(out) == old
    assert _leftovers(tmp_path) == []


def test_card_is_written_last(sounds, tmp_path, monkeypatch):
    seen = []
    real = records.write_shards

    def write_shards(out_dir, *args, **kwargs):
        seen.append(os.path.exists(os.path.join(out_dir, records.CARD_NAME)))
        assert pathlib.Path(out_dir).name.startswith(".out.partial-")
        return real(out_dir, *args, **kwargs)
    monkeypatch.setattr(records, "write_shards", write_shards)
    prepare("folder", str(sounds), str(tmp_path / "out"), sample_rate=RATE, length=LENGTH,
            progress=False)
    assert seen == [False, False]


def test_progress_line(capsys):
    bar = prepare_lib._Progress(3000, sys.stderr, delay=0.0, interval=0.0)
    for _ in range(3000):
        bar.update()
    bar.close()
    err = capsys.readouterr().err
    assert re.search(r"condgan-prepare: 3000/3000 clips, \d+ clips/s", err)


# ----------------------------------------------------------------------------
# The CLI, in a subprocess.


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "condgan.data_prep.prepare", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_cli(sounds, bad_sounds, tmp_path):
    out = tmp_path / "out"
    result = _cli("--source=folder", f"--input={sounds}", f"--output_dir={out}",
                  "--sample_rate=8000", "--length=1024", "--skip_bad", "--test_fraction=0")
    assert result.returncode == 0, result.stderr
    assert f"{out}: 6 train, 0 test clips, 8000 Hz x 1024 samples" in result.stdout
    for path in bad_sounds:
        assert path in result.stdout
    assert records.load_card(out).counts == {"train": 6, "test": 0}


def test_cli_classes(sounds, tmp_path):
    out = tmp_path / "pitch"
    result = _cli("--source=synth", "--classes=siren, beep", f"--output_dir={out}",
                  "--num_examples=8", "--sample_rate=8000", "--length=1024")
    assert result.returncode == 0, result.stderr
    assert "2 classes" in result.stdout
    card = records.load_card(out)
    assert card.classes == card.extra["class_subset"] == ["siren", "beep"]
    result = _cli("--source=folder", f"--input={sounds}", "--classes=beep",
                  f"--output_dir={tmp_path / 'out'}")
    assert result.returncode != 0
    assert "--classes is for --source=synth" in result.stderr
    result = _cli("--source=synth", "--classes=beep,kazoo", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode != 0
    assert "--classes: unknown class(es) ['kazoo']; known: ['beep', " in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_errors(sounds, bad_sounds, tmp_path):
    result = _cli("--source=folder", f"--input={sounds}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 1
    assert f"{len(bad_sounds)} bad input(s); nothing was written" in result.stderr
    for path in bad_sounds:
        assert path in result.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------
# The real datasets.


@pytest.fixture(scope="module")
def fsdd_prepared(fsdd_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdd") / "fsdd"
    return out, prepare("fsdd", str(fsdd_dir), str(out), sample_rate=8000, length=4096,
                        progress=False)


def test_fsdd(fsdd_prepared):
    out, card = fsdd_prepared
    assert card.counts == {"train": 2700, "test": 300}
    assert card.classes == list(importers.DIGITS)
    assert "CC BY-SA 4.0" in card.license and "Jakobovski" in card.license
    assert card.skipped == []
    assert "the digit seven spoken by a man with a German accent" in card.captions
    assert "a man with a German accent says seven" in card.captions
    test = _read_split(out, "test")
    assert len(test) == 300
    speakers = card.extra["speakers"]
    groups = collections.defaultdict(set)
    templates = set()
    for ex in test:
        digit, speaker, take = re.match(r"recordings/(\d)_(\w+)_(\d+)\.wav",
                                        ex["id"].decode()).groups()
        caption = ex["caption"].decode()
        assert int(take) < 5
        assert ex["label"] == int(digit)
        # The group is what the caption names: the digit and the speaker phrase.
        group = ex["group"].decode()
        assert group == importers.fsdd_group(int(digit), "male", speakers[speaker]["accent"])
        assert group.split(", ", 1)[1] in caption and group.startswith(importers.DIGITS[int(digit)])
        groups[group].add(speaker)
        assert re.search(rf"\b{importers.DIGITS[int(digit)]}\b", caption)
        assert ex["num_samples"] == 4096 and ex["sample_rate"] == 8000
        templates.add(re.sub(r"zero|one|two|three|four|five|six|seven|eight|nine", "D",
                             re.sub(r"a man with an? \w+ accent", "S", caption)))
    assert len(templates) == len(importers.FSDD_PHRASINGS)
    assert {ex["label"] for ex in test} == set(range(10))
    # 6 speakers, 4 speaker phrases (two American, two German accents): 40 groups.
    assert len(card.groups) == 40 and set(groups) == set(card.groups)
    assert groups["seven, a man with a German accent"] == {"lucas", "yweweler"}
    assert groups["seven, a man with a Greek accent"] == {"george"}


def test_fsdd_captions_are_stable(fsdd_dir):
    first = importers.import_fsdd(str(fsdd_dir))
    again = importers.import_fsdd(str(fsdd_dir))
    assert [e.caption for e in first.entries] == [e.caption for e in again.entries]
    lucas = next(e for e in first.entries if e.clip_id == "recordings/3_lucas_12.wav")
    assert "three" in lucas.caption and "German" in lucas.caption and lucas.split == "train"


def test_wesnoth(wesnoth_dir, tmp_path):
    card = prepare("folder", str(wesnoth_dir), str(tmp_path / "w"), sample_rate=8000,
                   length=1024, progress=False)
    assert sum(card.counts.values()) >= 250
    assert card.counts["test"] > 0
    assert "wolf growl" in card.captions
    assert card.classes == card.captions
    assert "GPL" in card.license
    assert card.skipped == []
