r"""condgan-prepare: audio + captions -> TFRecord shards and a dataset card.

Usage:

  # The embedded procedural set (no download):
  condgan-prepare --source=synth --num_examples=1200 --output_dir=data/synth

  # Some of its classes (the pitch subset; labels index the classes in this order):
  condgan-prepare --source=synth --classes="beep,rising whistle,falling whistle,siren" \
      --num_examples=800 --sample_rate=8000 --length=4096 --output_dir=data/synth-pitch

  # The Free Spoken Digit Dataset (recordings/ + speakers.json):
  condgan-prepare --source=fsdd --input=path/to/fsdd --output_dir=data/fsdd

  # A folder of sounds, captions read off the file names:
  condgan-prepare --source=folder --input=path/to/sounds --output_dir=data/sfx

  # A CSV/JSONL manifest of (path, caption[, split, label]):
  condgan-prepare --source=manifest --input=captions.csv --output_dir=data/mine

Every clip is decoded, mixed to mono, resampled to --sample_rate, cut or
padded to --length samples and normalised (see `condgan.audio.load_clip`).
The output directory holds train-*/test-* shards in the schema of
`condgan.records` and `dataset.json`, written last.

Bad inputs (unreadable audio, missing files, empty captions, ...) are all
listed with their path and reason; by default nothing is written and the exit
status is 1. With --skip_bad they are left out and listed in the card's
`skipped`. The output appears atomically: it is written into a hidden
temporary directory beside --output_dir and renamed into place once complete,
so an interrupted run never leaves a directory that looks finished.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import sys
import time
from typing import Callable, Sequence, TextIO

import numpy as np
from absl import app, flags, logging

from condgan import _cli as cli
from condgan import audio as audio_lib
from condgan import fileio, records
from condgan.config import SUPPORTED_LENGTHS
from condgan.data_prep import importers, synth_sfx
from condgan.data_prep.importers import Entry, Problem, SourceError


def define_flags() -> None:
    """Defines the CLI flags; called by the entry point only, so importing this module as a
    library (the demo, notebooks, tests) adds no global absl flags."""
    global _SOURCE, _INPUT, _OUTPUT_DIR, _SAMPLE_RATE, _LENGTH, _NUM_EXAMPLES, _SEED, _SKIP_BAD
    global _OVERWRITE, _NORMALIZE, _NORMALIZE_TARGET, _FIT, _TEST_FRACTION, _EXAMPLES_PER_SHARD
    global _LICENSE, _NUM_WORKERS, _CLASSES
    _SOURCE = flags.DEFINE_enum(
        "source", "synth", list(importers.SOURCES),
        "Where the sounds come from: synth (the embedded procedural set, no --input), fsdd "
        "(--input = the Free Spoken Digit Dataset folder holding recordings/ and speakers.json), "
        "folder (--input = a folder of audio files, searched recursively; captions from the file "
        "names) or manifest (--input = a .csv/.tsv/.jsonl file of path, caption[, split, label]).")
    _INPUT = flags.DEFINE_string(
        "input", None, "Input folder (fsdd, folder) or manifest file (manifest). Not used by synth.")
    _OUTPUT_DIR = flags.DEFINE_string(
        "output_dir", None, "Directory to write the prepared dataset into. Must not exist or be "
        "empty, unless --overwrite.")
    _SAMPLE_RATE = flags.DEFINE_integer(
        "sample_rate", 16000, "Sample rate of the prepared clips, Hz (>= 1000).")
    _LENGTH = flags.DEFINE_integer(
        "length", 16384, "Samples per prepared clip (>= 1); the GAN generates "
        f"{SUPPORTED_LENGTHS}.")
    _NUM_EXAMPLES = flags.DEFINE_integer(
        "num_examples", None, "Clips to generate (synth only; default 1000).")
    _CLASSES = flags.DEFINE_list(
        "classes", None, "Synth only: comma-separated class names to generate, in this order "
        "(the dataset's classes, which labels index), e.g. "
        "--classes=\"beep,rising whistle,falling whistle,siren\". Default: all "
        f"{len(synth_sfx.CLASSES)}: {', '.join(synth_sfx.CLASSES)}.")
    _SEED = flags.DEFINE_integer(
        "seed", 0, "Seed of the synth generator and of the order of examples in the shards.")
    _SKIP_BAD = flags.DEFINE_boolean(
        "skip_bad", False, "Leave out bad inputs (listed in the card's `skipped`) instead of "
        "stopping with the list of problems before anything is written.")
    _OVERWRITE = flags.DEFINE_boolean(
        "overwrite", False, "Replace an existing prepared dataset at --output_dir (a directory "
        "holding dataset.json; other non-empty directories are never replaced).")
    _NORMALIZE = flags.DEFINE_enum(
        "normalize", None, list(audio_lib.NORMALIZE_MODES),
        "Level normalisation per clip: peak, rms (capped so the peak stays <= 1) or none. "
        "Default: peak for decoded files, none for synth (whose clips vary in level on purpose).")
    _NORMALIZE_TARGET = flags.DEFINE_float(
        "normalize_target", None, "Peak or RMS level in (0, 1]; default "
        f"{audio_lib.DEFAULT_TARGETS}.")
    _FIT = flags.DEFINE_enum(
        "fit", "pad", list(audio_lib.FIT_MODES),
        "How a clip is brought to --length: pad (keep the start), center (keep the middle) or "
        "crop (keep the loudest window). Shorter clips are zero-padded in every mode.")
    _TEST_FRACTION = flags.DEFINE_float(
        "test_fraction", 0.1, "Share of clips in the test split, in [0, 1), where the source has "
        "no split of its own (synth, folder, manifest rows without `split`). FSDD uses its "
        "official split.")
    _EXAMPLES_PER_SHARD = flags.DEFINE_integer(
        "examples_per_shard", 1024, "Examples per TFRecord shard (>= 1).")
    _LICENSE = flags.DEFINE_string(
        "license", None, "License note for the card. Default: the source's own (FSDD, synth), or "
        "the 'License:' paragraph of a README beside folder/manifest inputs.")
    _NUM_WORKERS = flags.DEFINE_integer(
        "num_workers", None, "Decoding threads; default min(8, CPUs + 2).")


DEFAULT_NUM_EXAMPLES = 1000
MIN_SAMPLE_RATE = 1000


class ArgumentError(ValueError):
    """An impossible or inconsistent argument (the CLI reports it as a usage error)."""


class BadInputError(ValueError):
    """Bad inputs were found and --skip_bad is off; nothing was written.

    Attributes:
      problems: every bad input found, `importers.Problem`s.
    """

    def __init__(self, problems: list[Problem], message: str | None = None):
        self.problems = list(problems)
        if message is None:
            message = (f"{len(self.problems)} bad input(s); nothing was written. Fix them, or "
                       "pass --skip_bad to leave them out:\n"
                       + "\n".join(f"  {p}" for p in self.problems))
        super().__init__(message)


def prepare(source: str, input: str | None, output_dir: str, *,  # pylint: disable=redefined-builtin
            sample_rate: int = 16000, length: int = 16384, num_examples: int | None = None,
            seed: int = 0, skip_bad: bool = False, overwrite: bool = False,
            normalize: str | None = None, normalize_target: float | None = None,
            fit: str = "pad", test_fraction: float = 0.1, examples_per_shard: int = 1024,
            license: str | None = None,  # pylint: disable=redefined-builtin
            num_workers: int | None = None, classes: Sequence[str] | None = None,
            progress: bool = True) -> records.DatasetCard:
    """Prepares a dataset directory from a source; the library form of condgan-prepare.

    Args:
      source: one of `importers.SOURCES`.
      input: folder (fsdd, folder) or manifest file (manifest); None for synth.
      output_dir: directory to create.
      sample_rate: Hz of the clips.
      length: samples per clip.
      num_examples: clips to generate (synth only; None = 1000).
      seed: synth seed and shuffling seed of the example order.
      skip_bad: leave bad inputs out (listed in `card.skipped`) instead of raising.
      overwrite: replace an existing prepared dataset at `output_dir`.
      normalize: `condgan.audio.NORMALIZE_MODES` entry; None = "peak" for files,
        "none" for synth.
      normalize_target: level for `normalize`; None for its default.
      fit: `condgan.audio.FIT_MODES` entry.
      test_fraction: test share where the source has no split, in [0, 1).
      examples_per_shard: examples per TFRecord shard.
      license: license note for the card; None = the importer's.
      num_workers: decoding threads; None = min(8, CPUs + 2).
      classes: synth only: names in `synth_sfx.CLASSES` to generate, in this
        order (the card's classes; labels index them); None = all. A subset is
        recorded in the card's `extra["class_subset"]`.
      progress: show a progress line on stderr on runs longer than a second.

    Returns:
      The `DatasetCard` written to `output_dir/dataset.json`.

    Raises:
      ArgumentError: impossible arguments, or `output_dir` is in the way.
      importers.SourceError: the input as a whole is unusable.
      BadInputError: bad inputs and not `skip_bad`, or no usable clip at all.
    """
    if normalize is None:
        normalize = "none" if source == "synth" else "peak"
    _check_arguments(source, input, output_dir, sample_rate, length, num_examples, seed,
                     normalize, normalize_target, fit, test_fraction, examples_per_shard,
                     num_workers, classes)
    if source == "synth" and num_examples is None:
        num_examples = DEFAULT_NUM_EXAMPLES
    output_dir = os.path.abspath(output_dir)
    _check_output_dir(output_dir, overwrite)

    imported = _import(source, input, num_examples, sample_rate, length, seed, test_fraction,
                       classes)
    make = _Maker(sample_rate, length, fit, normalize, normalize_target)
    examples, problems = _make_examples(imported, make, num_workers,
                                        sys.stderr if progress else None)
    problems = imported.problems + problems
    if problems and not skip_bad:
        raise BadInputError(problems)
    if problems:
        logging.warning("skipping %d bad input(s); the card lists them under `skipped`",
                        len(problems))
    if not any(examples.values()):
        raise BadInputError(problems, f"no usable clips in {input or source}"
                            + (f"; all {len(problems)} inputs are bad" if problems else ""))

    rng = np.random.default_rng(seed)
    card = records.DatasetCard(
        source=source, sample_rate=sample_rate, length=length, classes=list(imported.classes),
        captions=sorted({ex[1] for split in examples.values() for ex in split}),
        groups=sorted({ex[2] for split in examples.values() for ex in split}),
        counts={split: len(examples[split]) for split in records.SPLITS}, shards={},
        license=license or imported.license,
        skipped=[p.to_dict() for p in problems],
        extra={**imported.extra,
               "condition_groups": imported.group_rule or
               "records.condition_group's fallback: the class, else the normalised caption",
               "input": os.path.abspath(input) if input else None,
               "num_inputs": imported.count,
               "seed": seed, "normalize": normalize, "normalize_target": normalize_target,
               "fit": fit, "test_fraction": test_fraction,
               "order": "shuffled within each split by seed"})
    for split in records.SPLITS:
        if not examples[split]:
            logging.warning("%s: the %s split is empty", output_dir, split)

    def write(tmp: str) -> None:
        for split in records.SPLITS:
            split_examples = examples[split]
            order = rng.permutation(len(split_examples))
            card.shards[split] = records.write_shards(
                tmp, split, [split_examples[i][3] for i in order], examples_per_shard)
        _write_card(tmp, card)

    write_atomically(output_dir, write)
    return card


def _check_arguments(source, input, output_dir, sample_rate, length, num_examples, seed,
                     normalize, normalize_target, fit, test_fraction, examples_per_shard,
                     num_workers, classes=None) -> None:
    if source not in importers.SOURCES:
        raise ArgumentError(f"--source={source!r} is unknown; choose one of "
                            f"{', '.join(importers.SOURCES)}")
    if source == "synth":
        if input:
            raise ArgumentError("--input is not used by --source=synth (it generates its clips)")
    elif not input:
        raise ArgumentError(f"--source={source} needs --input="
                            + ("MANIFEST_FILE" if source == "manifest" else "FOLDER"))
    elif source == "manifest" and not os.path.isfile(input):
        raise ArgumentError(f"--input={input}: no such manifest file")
    elif source != "manifest" and not os.path.isdir(input):
        raise ArgumentError(f"--input={input}: no such folder")
    if source != "synth" and num_examples is not None:
        raise ArgumentError(f"--num_examples is for --source=synth; --source={source} "
                            "prepares every clip of its input")
    if source != "synth" and classes is not None:
        raise ArgumentError(f"--classes is for --source=synth (a subset of its classes); "
                            f"--source={source} takes its classes from its input")
    if source == "synth":
        try:
            synth_sfx.check_classes(classes)
        except ValueError as e:
            raise ArgumentError(f"--classes: {e}") from None
    if not output_dir:
        raise ArgumentError("--output_dir is required")
    checks = [
        (sample_rate >= MIN_SAMPLE_RATE,
         f"--sample_rate={sample_rate} must be >= {MIN_SAMPLE_RATE}"),
        (length >= 1, f"--length={length} must be >= 1"),
        (num_examples is None or num_examples >= 1, f"--num_examples={num_examples} must be >= 1"),
        (seed >= 0, f"--seed={seed} must be >= 0"),
        (normalize in audio_lib.NORMALIZE_MODES,
         f"--normalize={normalize!r} is unknown; choose one of {audio_lib.NORMALIZE_MODES}"),
        (normalize_target is None or 0.0 < normalize_target <= 1.0,
         f"--normalize_target={normalize_target} must be in (0, 1]"),
        (fit in audio_lib.FIT_MODES,
         f"--fit={fit!r} is unknown; choose one of {audio_lib.FIT_MODES}"),
        (0.0 <= test_fraction < 1.0, f"--test_fraction={test_fraction} must be in [0, 1)"),
        (examples_per_shard >= 1, f"--examples_per_shard={examples_per_shard} must be >= 1"),
        (num_workers is None or num_workers >= 1, f"--num_workers={num_workers} must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ArgumentError(message)
    if length not in SUPPORTED_LENGTHS:
        logging.warning("--length=%d: the GAN generates only %s samples; a dataset of this "
                        "length is usable for evaluation only", length, SUPPORTED_LENGTHS)


def _check_output_dir(output_dir: str, overwrite: bool) -> None:
    if not os.path.exists(output_dir):
        return
    if not os.path.isdir(output_dir):
        raise ArgumentError(f"--output_dir={output_dir} exists and is not a directory")
    if not os.listdir(output_dir):
        return
    if not overwrite:
        raise ArgumentError(f"--output_dir={output_dir} exists and is not empty; pass "
                            "--overwrite to replace a prepared dataset there")
    if not os.path.isfile(os.path.join(output_dir, records.CARD_NAME)):
        raise ArgumentError(f"--output_dir={output_dir} is not empty and is not a prepared "
                            f"dataset (no {records.CARD_NAME}); refusing to replace it even "
                            "with --overwrite. Remove it yourself or choose another directory")


def _import(source, input, num_examples, sample_rate, length, seed,
            test_fraction, classes) -> importers.Import:
    if source == "synth":
        return importers.import_synth(num_examples, sample_rate, length, seed, test_fraction,
                                      classes)
    if source == "fsdd":
        return importers.import_fsdd(input)
    if source == "folder":
        return importers.import_folder(input, test_fraction)
    return importers.import_manifest(input, test_fraction)


class _Maker:
    """Entry -> (split, caption, group, serialized example), or the Problem that prevents it."""

    def __init__(self, sample_rate, length, fit, normalize, normalize_target):
        self.sample_rate, self.length, self.fit = sample_rate, length, fit
        self.normalize, self.normalize_target = normalize, normalize_target

    def __call__(self, entry: Entry) -> tuple[str, str, str, bytes] | Problem:
        if entry.audio is not None:
            clip = np.asarray(entry.audio, np.float32)
            if clip.shape != (self.length,) or not np.all(np.isfinite(clip)):
                return Problem(entry.clip_id, f"generated clip has shape {clip.shape} "
                                              f"(want ({self.length},)) or NaN/Inf samples")
            clip = audio_lib.normalize(clip, self.normalize, self.normalize_target)
        else:
            try:
                clip = audio_lib.load_clip(entry.path, self.sample_rate, self.length, self.fit,
                                           self.normalize, self.normalize_target)
            except audio_lib.AudioError as e:
                return Problem(e.path, e.reason)
        label = -1 if entry.label is None else entry.label
        # Every importer sets the group; an entry without one gets the readers' fallback.
        group = entry.group or entry.class_name or records.normalize_caption(entry.caption)
        return entry.split, entry.caption, group, records.serialize_example(
            clip, self.sample_rate, entry.caption, label, entry.clip_id, group=group)


def _make_examples(imported: importers.Import, make: _Maker, num_workers: int | None,
                   progress: TextIO | None
                   ) -> tuple[dict[str, list[tuple[str, str, str, bytes]]], list[Problem]]:
    """Decodes and serialises every entry; returns {split: [(id, caption, group, bytes)]},
    problems."""
    examples = collections.defaultdict(list)
    problems = []
    bar = _Progress(imported.count, progress)
    entries = imported.entries
    if isinstance(entries, list) and entries and entries[0].path is not None:
        # Decoding is numpy and TF kernels that release the GIL: threads scale.
        workers = num_workers or min(8, (os.cpu_count() or 1) + 2)
        with concurrent.futures.ThreadPoolExecutor(workers, "condgan-prepare") as pool:
            results = pool.map(make, entries)
            for entry, result in zip(entries, results):
                _collect(entry, result, examples, problems)
                bar.update()
    else:
        for entry in entries:
            _collect(entry, make(entry), examples, problems)
            bar.update()
    bar.close()
    return {split: examples[split] for split in records.SPLITS}, problems


def _collect(entry, result, examples, problems) -> None:
    if isinstance(result, Problem):
        problems.append(result)
    else:
        split, caption, group, serialized = result
        examples[split].append((entry.clip_id, caption, group, serialized))


def _write_card(directory: str, card: records.DatasetCard) -> None:
    path = os.path.join(directory, records.CARD_NAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write(card.to_json() + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_atomically(output_dir: str, write: Callable[[str], None]) -> None:
    """Runs `write(tmp)` on a fresh hidden directory beside `output_dir`, then swaps it in.

    An existing `output_dir` (the caller has checked it may go) is moved aside
    and deleted only after the new one is in place. If `write` fails or is
    interrupted, the temporary directory is removed and `output_dir` is as before
    (`condgan.fileio.atomic_directory`).
    """
    output_dir = os.path.abspath(output_dir)
    prefix = f".{os.path.basename(output_dir)}.partial-"  # names what a leftover is
    with fileio.atomic_directory(output_dir, prefix=prefix, mode=0o777) as tmp:
        write(tmp)


class _Progress:
    """A one-line progress report on stderr: count/total and clips per second.

    Silent for runs shorter than `delay` seconds; redrawn in place on a
    terminal, one line every `interval` seconds otherwise (logs).
    """

    def __init__(self, total: int, stream: TextIO | None, delay: float = 1.0,
                 interval: float = 1.0):
        self.total, self.stream = total, stream
        self.delay, self.interval = delay, interval
        self.count = 0
        self.start = self.last = time.monotonic()
        self.shown = False
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.stream is None or now - self.start < self.delay or now - self.last < self.interval:
            return
        self.last = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.count / max(now - self.start, 1e-9)
        line = f"condgan-prepare: {self.count}/{self.total} clips, {rate:.0f} clips/s"
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self._draw(time.monotonic())
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        card = prepare(
            _SOURCE.value, _INPUT.value, _OUTPUT_DIR.value, sample_rate=_SAMPLE_RATE.value,
            length=_LENGTH.value, num_examples=_NUM_EXAMPLES.value, seed=_SEED.value,
            skip_bad=_SKIP_BAD.value, overwrite=_OVERWRITE.value, normalize=_NORMALIZE.value,
            normalize_target=_NORMALIZE_TARGET.value, fit=_FIT.value,
            test_fraction=_TEST_FRACTION.value, examples_per_shard=_EXAMPLES_PER_SHARD.value,
            license=_LICENSE.value, num_workers=_NUM_WORKERS.value, classes=_CLASSES.value)
    except ArgumentError as e:
        raise app.UsageError(str(e)) from None
    except (BadInputError, SourceError) as e:
        print(f"condgan-prepare: error: {e}", file=sys.stderr)
        return 1
    out = os.path.abspath(_OUTPUT_DIR.value)
    counts = ", ".join(f"{n} {split}" for split, n in card.counts.items())
    print(f"{out}: {counts} clips, {card.sample_rate} Hz x {card.length} samples, "
          f"{len(card.classes)} classes, {len(card.captions)} captions")
    if card.skipped:
        print(f"skipped {len(card.skipped)} bad input(s) (listed in {records.CARD_NAME}):")
        for item in card.skipped:
            print(f"  {item['path']}: {item['reason']}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
