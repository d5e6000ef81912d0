"""Importers: turn a source of sounds into captioned, labelled, split entries.

Each importer returns an `Import`: the entries to prepare, the problems found
in the input (a missing file, an empty caption, a badly named recording), the
class list and the license note. Problems are collected, not raised, so that
`condgan-prepare` can report all of them at once (or skip them with
--skip_bad); a source that is unusable as a whole (no such folder, a manifest
without a caption column, a non-UTF-8 manifest) raises `SourceError`.

Sources:
- `synth`: the embedded procedural set, `condgan.data_prep.synth_sfx`.
- `fsdd`: the Free Spoken Digit Dataset folder (recordings/ + speakers.json).
- `folder`: any folder of audio files; captions read off the file names.
- `manifest`: a CSV or JSONL file of (path, caption[, split, label]) rows, the
  AudioCaps / Clotho shape.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import zlib
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from condgan import audio as audio_lib
from condgan import records
from condgan.data_prep import synth_sfx

SOURCES = ("synth", "fsdd", "folder", "manifest")
TRAIN, TEST = "train", "test"

# Audio formats a folder may hold that `condgan.audio` cannot decode: reported
# as problems rather than ignored like README.md or cover.jpg.
UNSUPPORTED_AUDIO_EXTENSIONS = (".aif", ".aiff", ".aifc", ".au", ".snd", ".m4a", ".aac",
                                ".wma", ".opus", ".caf", ".amr", ".ape", ".wv", ".mka",
                                ".webm", ".mp4", ".mid", ".midi")


class SourceError(ValueError):
    """The input as a whole cannot be imported (not a per-file problem)."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One clip to prepare.

    Attributes:
      clip_id: stable id, unique within the import (source-relative path, or
        the generator's id).
      caption: non-empty caption.
      label: class index into `Import.classes`, or None when unknown.
      class_name: `Import.classes[label]`, or None.
      split: "train" or "test".
      path: the audio file to decode; None when `audio` is given.
      audio: float32[length] at the target rate (generated sources); None for files.
      group: the condition group (see `condgan.records`): what the caption
        names, so that the clips of a group are those one caption could
        describe. None: `records.condition_group`'s fallback (class, else
        normalised caption).
    """

    clip_id: str
    caption: str
    label: int | None
    class_name: str | None
    split: str
    path: str | None = None
    audio: np.ndarray | None = None
    group: str | None = None


@dataclasses.dataclass(frozen=True)
class Problem:
    """A bad input: `path` is the file (or `manifest:line`), `reason` what is wrong."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclasses.dataclass
class Import:
    """What an importer found.

    Attributes:
      entries: the usable entries, in a deterministic order; may be a lazy
        iterable (generated sources), `count` long.
      count: number of entries.
      problems: bad inputs, excluded from `entries`.
      classes: class names `Entry.label` indexes; empty when unknown.
      license: license note of the source material.
      extra: importer-specific facts for the dataset card.
      group_rule: how the entries' condition groups are made, for the card.
    """

    entries: Iterable[Entry]
    count: int
    problems: list[Problem]
    classes: list[str]
    license: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    group_rule: str = ""


def split_by_hash(key: str, test_fraction: float) -> str:
    """Deterministic split of one item: "test" for about `test_fraction` of keys.

    Uses SHA-1 of the key rather than Python's salted `hash`, so the split is
    the same in every process and on every machine.
    """
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return TEST if int.from_bytes(digest[:8], "big") / 2.0 ** 64 < test_fraction else TRAIN


def license_note(folder: str) -> tuple[str, str | None]:
    """Finds a license statement beside a source.

    Reads what follows "License:" in a README*, up to the end of its paragraph,
    else points at a LICENSE* / COPYING* file.

    Returns:
      (note, file it came from or None).
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return "", None
    for name in names:
        if name.lower().startswith("readme") and os.path.isfile(os.path.join(folder, name)):
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    text = f.read(100_000)
            except (OSError, UnicodeDecodeError):
                continue
            match = re.search(r"\blicen[sc]e(?:\*\*)?\s*:(?:\*\*)?\s*(.+?)(?:\n\s*\n|\Z)", text,
                              flags=re.I | re.S)
            if match:
                return " ".join(match.group(1).split()), name
    for name in names:
        if name.lower().startswith(("license", "licence", "copying")):
            return f"see {name} in {folder}", name
    return "", None


def _unknown_license(folder: str) -> str:
    return (f"unknown: no license note found in {folder}; check the source's terms "
            "before redistributing")


# ----------------------------------------------------------------------------
# synth


def import_synth(num_examples: int, sample_rate: int, length: int, seed: int,
                 test_fraction: float, classes: Sequence[str] | None = None) -> Import:
    """The embedded procedural set, generated lazily.

    Clip i is in the test split when floor((i + 1) * f) > floor(i * f) for
    f = test_fraction: spread evenly, every 10th clip at f = 0.1.

    Args:
      classes: a subset of `synth_sfx.CLASSES` to generate, in this order (the
        import's classes, which labels index); None: all of them. A proper
        subset is recorded in `extra["class_subset"]`.

    Raises:
      ValueError: a bad subset (`synth_sfx.check_classes`), before any clip is made.
    """
    clips = synth_sfx.generate(num_examples, sample_rate=sample_rate, length=length, seed=seed,
                               classes=classes)
    classes = synth_sfx.check_classes(classes)

    def entries() -> Iterator[Entry]:
        for i, clip in enumerate(clips):
            test = int((i + 1) * test_fraction) > int(i * test_fraction)
            yield Entry(clip_id=clip.clip_id, caption=clip.caption, label=int(clip.label),
                        class_name=classes[clip.label], split=TEST if test else TRAIN,
                        audio=clip.audio, group=classes[clip.label])

    description = synth_sfx.describe(classes)
    extra = {"generator": {k: v for k, v in description.items() if k != "captions"}, "seed": seed}
    if "subset_of" in description:
        extra["class_subset"] = list(classes)  # beside generator.subset_of, the full list
    return Import(entries=entries(), count=num_examples, problems=[], classes=classes,
                  license=str(description.get("license", "CC0, generated procedurally")),
                  extra=extra,
                  group_rule="the class: a synth caption names its class only")


# ----------------------------------------------------------------------------
# fsdd

FSDD_LICENSE = ("CC BY-SA 4.0. Free Spoken Digit Dataset by Zohar Jackson (Jakobovski) and "
                "contributors, https://github.com/Jakobovski/free-spoken-digit-dataset; "
                "credit them wherever the data or a derivative is used or redistributed")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Takes 0-4 of every speaker and digit are FSDD's official test set.
FSDD_TEST_TAKES = 5
FSDD_PHRASINGS = (
    "the digit {digit} spoken by {speaker}",
    "{speaker} says {digit}",
    "{digit}, said by {speaker}",
    "the number {digit} in the voice of {speaker}",
    "{speaker} saying the word {digit}",
)
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z][A-Za-z0-9-]*)_(\d+)\.wav$")
_GENDER_NOUNS = {"male": "man", "female": "woman"}
# Countries whose "neutral" accent is named by the country's adjective.
_COUNTRY_ADJECTIVES = {"USA": "American", "GBR": "British", "AUS": "Australian",
                       "CAN": "Canadian", "IRL": "Irish", "IND": "Indian", "NZL": "New Zealand"}


def speaker_phrase(gender: str | None, accent: str | None) -> str:
    """speakers.json facts -> "a man with a German accent".

    `accent` is FSDD's "COUNTRY/accent" ("DEU/German", "USA/neutral"); a
    neutral accent is named by its country ("an American accent").
    """
    noun = _GENDER_NOUNS.get((gender or "").strip().lower(), "speaker")
    phrase = f"a {noun}"
    accent = (accent or "").strip()
    if accent:
        country, _, name = accent.rpartition("/")
        if name.lower() in ("neutral", "native", ""):
            name = _COUNTRY_ADJECTIVES.get(country.upper(), country)
        if name:
            article = "an" if name[0].lower() in "aeiou" else "a"
            phrase += f" with {article} {name} accent"
    return phrase


def fsdd_group(digit: int, gender: str | None, accent: str | None) -> str:
    """The condition group of a recording: "seven, a man with a German accent".

    The digit and the speaker facts its captions name (`speaker_phrase`), so
    the group holds every recording any of its captions could describe: the
    takes of one or more speakers who share gender and accent.
    """
    return f"{DIGITS[digit]}, {speaker_phrase(gender, accent)}"


def fsdd_caption(digit: int, gender: str | None, accent: str | None, clip_id: str) -> str:
    """One caption of a recording; the phrasing is picked by a hash of `clip_id`."""
    phrasing = FSDD_PHRASINGS[zlib.crc32(clip_id.encode("utf-8")) % len(FSDD_PHRASINGS)]
    return phrasing.format(digit=DIGITS[digit], speaker=speaker_phrase(gender, accent))


def import_fsdd(input_dir: str) -> Import:
    """The Free Spoken Digit Dataset: recordings/{digit}_{speaker}_{take}.wav + speakers.json.

    Label = digit, classes = digit words, split = FSDD's official one (takes
    0-4 test, the rest train).

    Raises:
      SourceError: no recordings/ folder, or speakers.json missing or malformed.
    """
    recordings = os.path.join(input_dir, "recordings")
    speakers_path = os.path.join(input_dir, "speakers.json")
    if not os.path.isdir(recordings):
        raise SourceError(f"{input_dir}: not an FSDD folder: no recordings/ subfolder "
                          "(expected recordings/{digit}_{speaker}_{take}.wav and speakers.json)")
    try:
        with open(speakers_path, encoding="utf-8") as f:
            speakers = json.load(f)
    except FileNotFoundError:
        raise SourceError(f"{speakers_path}: missing; FSDD's speakers.json maps each speaker "
                          'to {"gender": ..., "accent": ...}') from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"{speakers_path}: unreadable: {e}") from None
    if not isinstance(speakers, dict) or not all(isinstance(v, dict) for v in speakers.values()):
        raise SourceError(f"{speakers_path}: expected an object of speaker -> "
                          '{"gender": ..., "accent": ...}')

    entries, problems = [], []
    for name in sorted(os.listdir(recordings)):
        if name.startswith("."):
            continue
        path = os.path.join(recordings, name)
        clip_id = f"recordings/{name}"
        match = _FSDD_NAME.match(name)
        if not match:
            problems.append(Problem(path, "not an FSDD recording name "
                                          "({digit}_{speaker}_{take}.wav)"))
            continue
        digit, speaker, take = int(match.group(1)), match.group(2), int(match.group(3))
        if speaker not in speakers:
            problems.append(Problem(path, f"speaker {speaker!r} is not in speakers.json"))
            continue
        facts = speakers[speaker]
        entries.append(Entry(
            clip_id=clip_id,
            caption=fsdd_caption(digit, facts.get("gender"), facts.get("accent"), clip_id),
            label=digit, class_name=DIGITS[digit],
            split=TEST if take < FSDD_TEST_TAKES else TRAIN, path=path,
            group=fsdd_group(digit, facts.get("gender"), facts.get("accent"))))
    return Import(entries=entries, count=len(entries), problems=problems, classes=list(DIGITS),
                  license=FSDD_LICENSE,
                  extra={"speakers": speakers, "phrasings": list(FSDD_PHRASINGS),
                         "split": f"takes 0-{FSDD_TEST_TAKES - 1} test, the rest train"},
                  group_rule="the digit and the speaker's gender and accent, as the captions "
                             "name them (fsdd_group); speakers who share both share a group")


# ----------------------------------------------------------------------------
# folder


def caption_from_name(relative_path: str) -> str:
    """A caption read off a file name: `wolf-growl-1.ogg` -> "wolf growl".

    Lower-cased, "-" and "_" become spaces, take numbers (number-only words and
    digits ending the last word: `birds1`) are dropped so numbered takes share a
    caption. A name that leaves nothing (`001.wav`) takes its folder's name
    (`dog/001.wav` -> "dog"); "" when that is empty too.
    """
    parts = relative_path.replace("\\", "/").split("/")
    for name in [os.path.splitext(parts[-1])[0]] + parts[-2::-1]:
        words = [w for w in re.split(r"[\s_\-]+", name.lower()) if w and not w.isdigit()]
        if words:
            words[-1] = words[-1].rstrip("0123456789") or words[-1]
            return " ".join(words)
    return ""


def import_folder(input_dir: str, test_fraction: float) -> Import:
    """Every audio file under `input_dir`, recursively; caption = class = name.

    Hidden files and folders are skipped; files that are not audio (README.md)
    are ignored; audio formats that cannot be decoded (.aiff, .m4a, ...) are
    problems. The split is `split_by_hash` of the relative path.

    Raises:
      SourceError: `input_dir` holds no audio files.
    """
    found, problems, ignored = [], [], 0
    for root, dirs, files in os.walk(input_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, input_dir).replace(os.sep, "/")
            ext = os.path.splitext(name)[1].lower()
            if ext in UNSUPPORTED_AUDIO_EXTENSIONS:
                problems.append(Problem(path, f"unsupported audio format {ext!r}; supported: "
                                              f"{', '.join(audio_lib.SUPPORTED_EXTENSIONS)}"))
                continue
            if ext not in audio_lib.SUPPORTED_EXTENSIONS:
                ignored += 1
                continue
            caption = caption_from_name(rel)
            if not caption:
                problems.append(Problem(path, "cannot read a caption off the file or folder "
                                              "name; rename it or use a manifest"))
                continue
            found.append((rel, path, caption))
    if not found and not problems:
        raise SourceError(f"{input_dir}: no audio files "
                          f"({', '.join(audio_lib.SUPPORTED_EXTENSIONS)}) found")
    classes = sorted({caption for _, _, caption in found})
    index = {c: i for i, c in enumerate(classes)}
    entries = [Entry(clip_id=rel, caption=caption, label=index[caption], class_name=caption,
                     split=split_by_hash(rel, test_fraction), path=path, group=caption)
               for rel, path, caption in found]
    note, note_file = license_note(input_dir)
    return Import(entries=entries, count=len(entries), problems=problems, classes=classes,
                  license=note or _unknown_license(input_dir),
                  extra={"ignored_files": ignored, "license_from": note_file,
                         "split": f"sha1(relative path) < {test_fraction} -> test"},
                  group_rule="the caption read off the file name (which is also the class)")


# ----------------------------------------------------------------------------
# manifest

PATH_COLUMNS = ("path", "file_name", "filename")
SPLIT_ALIASES = {
    "train": TRAIN, "training": TRAIN, "development": TRAIN, "dev": TRAIN,
    "test": TEST, "testing": TEST, "eval": TEST, "evaluation": TEST,
    "val": TEST, "valid": TEST, "validation": TEST,
}
_CAPTION_N = re.compile(r"^caption_(\d+)$")


def _decode_utf8(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SourceError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at "
                          f"column {column}); save the manifest as UTF-8") from None


_Row = tuple[int, "dict | None", "str | None"]  # (line, fields or None, error or None)


def _manifest_rows(path: str) -> tuple[Iterator[_Row], list[str] | None]:
    """(line, row or None, error or None) per data row; the CSV header (None for JSONL)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SourceError(f"{path}: cannot read the manifest: {e.strerror or e}") from None
    text = _decode_utf8(path, data)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jsonl", ".ndjson", ".json"):
        def jsonl():
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    yield n, None, f"invalid JSON: {e.msg} at column {e.colno}"
                    continue
                if not isinstance(row, dict):
                    yield n, None, f"expected a JSON object, got {type(row).__name__}"
                    continue
                yield n, row, None
        return jsonl(), None
    if ext not in (".csv", ".tsv"):
        raise SourceError(f"{path}: unknown manifest type {ext!r}; use .csv, .tsv or .jsonl")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if ext == ".tsv" else ",")
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError(f"{path}: empty manifest (no header line)") from None
    header = [h.strip() for h in header]

    def rows():
        for fields in reader:
            n = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                yield n, None, f"{len(fields)} fields, the header has {len(header)}"
                continue
            yield n, dict(zip(header, fields)), None
    return rows(), header


def _caption_columns(keys: Iterable[str]) -> list[str]:
    keys = list(keys)
    if "caption" in keys:
        return ["caption"]
    numbered = sorted((int(m.group(1)), k) for k in keys if (m := _CAPTION_N.match(k)))
    return [k for _, k in numbered]


def import_manifest(manifest: str, test_fraction: float) -> Import:
    """Rows of (path, caption[, split, label]) from a CSV/TSV (with header) or JSONL file.

    - path: column `path` (or `file_name`, Clotho's, or `filename`), relative to
      the manifest's folder or absolute.
    - caption: column `caption`, or `caption_1`, `caption_2`, ... (Clotho): one
      entry per caption, ids `path`, `path#2`, ...
    - split (optional): train/test, with Clotho's and AudioCaps' names mapped
      (development -> train; validation, evaluation -> test); rows without one
      are split by `split_by_hash` of the path.
    - label (optional): integer class indices, or class names (indexed in sorted
      order); empty = unknown.

    The condition group of a row is its class name where it has a label, else
    its normalised caption (`condgan.records.normalize_caption`): rows whose
    captions differ only in case, spacing or final punctuation share a group.

    Raises:
      SourceError: unreadable or non-UTF-8 manifest, unknown file type, a CSV
        header without path or caption columns, no rows.
    """
    base = os.path.dirname(os.path.abspath(manifest))
    rows, header = _manifest_rows(manifest)
    if header is not None:
        path_col = next((c for c in PATH_COLUMNS if c in header), None)
        if path_col is None or not _caption_columns(header):
            raise SourceError(
                f"{manifest}:1: the header has columns {header}; a manifest needs a "
                f"{' / '.join(repr(c) for c in PATH_COLUMNS)} column and a 'caption' "
                "(or 'caption_1', 'caption_2', ...) column")

    pending, problems = [], []
    seen_rows = 0
    for line, row, error in rows:
        seen_rows += 1
        where = f"{manifest}:{line}"
        if error:
            problems.append(Problem(where, error))
            continue
        path_col = next((c for c in PATH_COLUMNS if c in row), None)
        caption_cols = _caption_columns(row)
        if path_col is None or not caption_cols:
            problems.append(Problem(where, f"needs a 'path' (or 'file_name') and a 'caption' "
                                           f"field; has {sorted(row)}"))
            continue
        value = row[path_col]
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(where, f"empty {path_col!r}"))
            continue
        value = value.strip()
        path = os.path.normpath(os.path.join(base, value))
        reason = _file_problem(path)
        if reason:
            problems.append(Problem(path, f"{reason} (manifest line {line}: {value!r})"))
            continue
        split_value = row.get("split")
        split_value = split_value.strip().lower() if isinstance(split_value, str) else split_value
        if split_value in (None, ""):
            split = split_by_hash(value, test_fraction)
        elif isinstance(split_value, str) and split_value in SPLIT_ALIASES:
            split = SPLIT_ALIASES[split_value]
        else:
            problems.append(Problem(path, f"unknown split {row.get('split')!r} (manifest line "
                                          f"{line}); use train or test"))
            continue
        label = row.get("label")
        label = label.strip() if isinstance(label, str) else label
        for k, column in enumerate(caption_cols, 1):
            caption = row.get(column)
            if not isinstance(caption, str) or not caption.strip():
                problems.append(Problem(path, f"empty or missing caption in {column!r} "
                                              f"(manifest line {line})"))
                continue
            pending.append((value, k, " ".join(caption.split()), split, label, path, line))
    if not seen_rows:
        raise SourceError(f"{manifest}: no entries")

    classes, to_index = _label_classes([p[4] for p in pending])
    entries, ids = [], collections.Counter()
    for value, k, caption, split, label, path, _line in pending:
        index = to_index(label)
        clip_id = value.replace(os.sep, "/") + (f"#{k}" if k > 1 else "")
        ids[clip_id] += 1
        if ids[clip_id] > 1:  # the same file captioned on several rows (AudioCaps)
            clip_id = f"{clip_id}#r{ids[clip_id]}"
        class_name = None if index is None else classes[index]
        entries.append(Entry(clip_id=clip_id, caption=caption, label=index,
                             class_name=class_name, split=split, path=path,
                             group=class_name or records.normalize_caption(caption)))
    note, note_file = license_note(base)
    return Import(entries=entries, count=len(entries), problems=problems, classes=classes,
                  license=note or _unknown_license(base),
                  extra={"manifest": os.path.abspath(manifest), "license_from": note_file},
                  group_rule="the row's label where it has one, else the normalised caption "
                             "(condgan.records.normalize_caption)")


def _label_classes(labels: list) -> tuple[list[str], Callable[[Any], int | None]]:
    """Class list and a label -> index function from a manifest's label values.

    All integers: they are the indices, classes "0".."max". Otherwise names,
    indexed in sorted order. None, "" and -1 (records' "unknown") map to None.
    """
    known = [label for label in labels if not _unknown_label(label)]
    if not known:
        return [], lambda label: None
    as_ints = [_as_int(label) for label in known]
    if all(v is not None for v in as_ints):
        classes = [str(i) for i in range(max(as_ints) + 1)]
        return classes, lambda label: None if _unknown_label(label) else _as_int(label)
    names = sorted({str(label) for label in known})
    index = {name: i for i, name in enumerate(names)}
    return names, lambda label: None if _unknown_label(label) else index[str(label)]


def _unknown_label(label) -> bool:
    return label is None or (isinstance(label, str) and label.strip() in ("", "-1")) or (
        isinstance(label, int) and not isinstance(label, bool) and label == -1)


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        return int(value)
    return None


def _file_problem(path: str) -> str | None:
    if not os.path.exists(path):
        return "file not found"
    if os.path.isdir(path):
        return "is a directory, not an audio file"
    if not os.access(path, os.R_OK):
        return "file not readable (permission denied)"
    ext = os.path.splitext(path)[1].lower()
    if ext not in audio_lib.SUPPORTED_EXTENSIONS:
        return (f"unsupported extension {ext or '(none)'!r}; supported: "
                f"{', '.join(audio_lib.SUPPORTED_EXTENSIONS)}")
    return None
