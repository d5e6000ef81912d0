"""The embedded default dataset: procedurally generated, captioned sound effects.

Twelve classes of short sound effects (beeps, whistles, bells, a siren, a
heartbeat, ...) are synthesised in pure numpy, so condgan can be trained and
tested without downloading anything. Every clip has a caption drawn among its
class's phrasings and real per-clip variation (pitch, duration, onset, number
of events, envelope, amplitude, timbre, noise floor): a generator can only
match the data by using its latent z, which is what the mode-collapse metrics
measure. Each class keeps one defining trait across that variation (constant
vs rising vs falling vs oscillating pitch, tonal vs noisy, one vs many events,
frequency band) so a small log-mel classifier separates them.

Durations are specified in seconds for a clip of `NOMINAL_SECONDS`. Clips at
least that long use them as they are (longer clips hold the same events, with
more room for the onset); shorter clips are compressed in time by
`length / sample_rate / NOMINAL_SECONDS` so every event still fits. A class's
pitch range is scaled down as a whole when its highest fundamental would
exceed `FUNDAMENTAL_HEADROOM * MAX_FREQ_FRACTION * sample_rate`; partials,
impulses and noise are faded out just below `MAX_FREQ_FRACTION * sample_rate`
(sample by sample for sweeps), so nothing aliases at low rates (at 8 kHz
every component stays below 3.6 kHz).

This module is the dataset: `CLASSES`, `CAPTIONS`, `generate` (all twelve
classes or a subset), `check_classes`, `describe`, `fundamental_range` and the
per-clip normalisation and noise floor. The twelve class synthesisers and their
building blocks are `condgan.data_prep.synth_sounds`.

Example:

  for clip in generate(count=120, sample_rate=16000, length=16384, seed=0):
      clip.audio    # float32[16384], peak in [0.5, 0.95]
      clip.caption  # e.g. "a bell ringing"
      clip.label    # index into CLASSES
      clip.clip_id  # e.g. "synth-bell-000005"

  # A subset (the pitch classes): labels index into the subset, in its order.
  generate(count=800, sample_rate=8000, length=4096,
           classes=["beep", "rising whistle", "falling whistle", "siren"])
"""

from __future__ import annotations

import numbers
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from condgan.data_prep import synth_sounds

# Bump when the synthesis changes, so a dataset card tells which version made it.
VERSION = 1
LICENSE = "generated procedurally by condgan, CC0"
MIN_SAMPLE_RATE = 1000
# No component may reach above this fraction of the sample rate (0.5 is
# Nyquist); the margin keeps partials clear of aliasing.
MAX_FREQ_FRACTION = 0.45
# Fundamentals stay below this share of that limit, clear of the band where
# partials fade out, so a class's main tone is never attenuated.
FUNDAMENTAL_HEADROOM = 0.9
# Clip duration (s) the event durations below are designed for.
NOMINAL_SECONDS = 1.0
# Each clip's peak is drawn uniformly from this range.
PEAK_RANGE = (0.5, 0.95)
# Background noise, dB below the clip's peak.
SNR_DB_RANGE = (35.0, 55.0)


class SynthClip(NamedTuple):
    """One generated clip.

    Attributes:
      audio: float32[length], mono, peak in `PEAK_RANGE`.
      caption: one of `CAPTIONS[name]` for the clip's class `name`.
      label: class index into the classes generated (`CLASSES`, or the subset
        `generate` was given).
      clip_id: stable id, `synth-<class-with-dashes>-<index:06d>`.
    """

    audio: np.ndarray
    caption: str
    label: int
    clip_id: str


CLASSES: list[str] = list(synth_sounds.SYNTHS)

CAPTIONS: dict[str, list[str]] = {
    "beep": [
        "an electronic beep",
        "a short beeping tone",
        "a device beeps",
        "beeps from an electronic alarm",
    ],
    "rising whistle": [
        "a whistle rising in pitch",
        "an upward sliding whistle",
        "a tone sweeping upwards",
        "someone whistles a rising note",
    ],
    "falling whistle": [
        "a whistle falling in pitch",
        "a downward sliding whistle",
        "a tone sweeping downwards",
        "a descending whistle like a falling bomb",
    ],
    "noise burst": [
        "a burst of noise",
        "a short hiss of static",
        "a whoosh of white noise",
        "a sudden blast of noise",
    ],
    "clicks": [
        "a series of clicks",
        "rapid clicking",
        "a clock-like ticking sound",
        "several sharp clicks in a row",
    ],
    "bell": [
        "a bell ringing",
        "a small bell is struck",
        "the ding of a bell",
        "a metallic chime rings out",
    ],
    "siren": [
        "a siren wailing",
        "an emergency siren",
        "a police siren going up and down",
        "an alarm siren oscillating in pitch",
    ],
    "heartbeat": [
        "a heartbeat",
        "a beating heart",
        "the thump of a heartbeat",
        "a slow pulse of heartbeats",
    ],
    "hum": [
        "a low electrical hum",
        "a steady humming drone",
        "the buzz of a machine",
        "a constant low hum",
    ],
    "drum hit": [
        "a drum hit",
        "a single bass drum kick",
        "someone hits a drum once",
        "a low drum thud",
    ],
    "chirp": [
        "a bird chirping",
        "quick high chirps",
        "a bird tweets a few times",
        "short high-pitched chirping",
    ],
    "laser zap": [
        "a laser zap",
        "a sci-fi laser gun firing",
        "a pew pew laser sound",
        "a zapping ray gun",
    ],
}


# ----------------------------------------------------------------------------
# Public API.


def fundamental_range(class_name: str, sample_rate: int) -> tuple[float, float] | None:
    """Hz range that the fundamental of every clip of a tonal class lies in.

    Args:
      class_name: one of `CLASSES`.
      sample_rate: Hz; low rates scale the class's pitch range down.

    Returns:
      (low, high) in Hz, high <= `FUNDAMENTAL_HEADROOM * MAX_FREQ_FRACTION *
      sample_rate`; None for the
      noise-based classes ("noise burst", "clicks").

    Raises:
      ValueError: unknown class or bad sample rate.
    """
    _check_int("sample_rate", sample_rate, MIN_SAMPLE_RATE)
    if class_name not in synth_sounds.RANGES:
        raise ValueError(f"unknown class {class_name!r}; known: {CLASSES}")
    bounds = synth_sounds.RANGES[class_name]
    if bounds is None:
        return None
    scale = _freq_scale(class_name, sample_rate)
    return bounds[0] * scale, bounds[1] * scale


def generate(count: int, sample_rate: int = 16000, length: int = 16384,
             seed: int = 0, classes: Sequence[str] | None = None) -> Iterator[SynthClip]:
    """Yields `count` captioned clips, classes balanced.

    Clips come in blocks of `len(classes)`, each block a seeded permutation of
    the classes, so any prefix is balanced to within one clip per class. Clip
    `i` depends only on (seed, i, sample_rate, length, classes), not on
    `count`; `classes=CLASSES` gives the same clips as `classes=None`.

    Args:
      count: number of clips, >= 1.
      sample_rate: Hz, >= `MIN_SAMPLE_RATE`.
      length: samples per clip, >= 1.
      seed: non-negative integer; equal seeds give bit-identical clips.
      classes: names in `CLASSES` to generate, in this order (labels index
        this list, so a classifier trained on them has len(classes) outputs);
        None: all of `CLASSES`.

    Yields:
      `SynthClip`s with audio float32[length].

    Raises:
      ValueError: a bad argument (checked before the first clip is made), e.g.
        an unknown or repeated class name, or an empty subset.
    """
    _check_int("count", count, 1)
    _check_int("sample_rate", sample_rate, MIN_SAMPLE_RATE)
    _check_int("length", length, 1)
    _check_int("seed", seed, 0)
    names = check_classes(classes)
    return _generate(int(count), int(sample_rate), int(length), int(seed), names)


def check_classes(classes: Sequence[str] | None) -> list[str]:
    """The class names a subset selects, checked: `classes` as a list, or all of `CLASSES`.

    Args:
      classes: names in `CLASSES`, each at most once, at least one; None: every class.

    Returns:
      The names, in the order given (a new list).

    Raises:
      ValueError: `classes` is a string (not a list of names), empty, or has
        unknown or repeated names (named in the message, with the known classes).
    """
    if classes is None:
        return list(CLASSES)
    if isinstance(classes, str):
        raise ValueError(f"classes must be a list of class names, not the string {classes!r}; "
                         f"known: {CLASSES}")
    names = list(classes)
    if not names:
        raise ValueError(f"classes is empty: name at least one; known: {CLASSES}")
    unknown = [name for name in names if name not in CLASSES]
    if unknown:
        raise ValueError(f"unknown class(es) {unknown}; known: {CLASSES}")
    repeated = sorted({name for name in names if names.count(name) > 1}, key=names.index)
    if repeated:
        raise ValueError(f"repeated class(es) {repeated}: name each class once; known: {CLASSES}")
    return names


def describe(classes: Sequence[str] | None = None) -> dict:
    """Facts about the dataset for its card: classes, captions, license, how it is made.

    Args:
      classes: the subset generated (`generate`'s `classes`); None: every class.
        A proper subset (anything but `CLASSES` in its order) is reported as
        "classes" and "captions" of those classes only, plus "subset_of": `CLASSES`.

    Raises:
      ValueError: a bad subset (`check_classes`).
    """
    names = check_classes(classes)
    out = {
        "name": "synth_sfx",
        "version": VERSION,
        "description": ("Procedurally synthesised sound effects, one caption per clip drawn "
                        "among its class's phrasings, with random pitch, duration, onset, "
                        "event count, envelope, timbre, amplitude and noise floor per clip."),
        "classes": names,
        "captions": {name: list(CAPTIONS[name]) for name in names},
        "license": LICENSE,
    }
    if names != CLASSES:
        out["subset_of"] = list(CLASSES)
    return out


# ----------------------------------------------------------------------------
# Internals.

# SeedSequence tags separating the two random streams derived from a seed.
_CLIP_STREAM = 0
_ORDER_STREAM = 1


def _generate(count: int, sample_rate: int, length: int, seed: int,
              names: list[str]) -> Iterator[SynthClip]:
    # With names == CLASSES these are the clips of the full set, bit for bit.
    n_classes = len(names)
    order = None
    for i in range(count):
        block, slot = divmod(i, n_classes)
        if slot == 0:
            order = np.random.default_rng([seed, _ORDER_STREAM, block]).permutation(n_classes)
        label = int(order[slot])
        rng = np.random.default_rng([seed, _CLIP_STREAM, i])
        name = names[label]
        yield SynthClip(
            audio=_synthesize(name, rng, sample_rate, length),
            caption=CAPTIONS[name][int(rng.integers(len(CAPTIONS[name])))],
            label=label,
            clip_id=f"synth-{name.replace(' ', '-')}-{i:06d}",
        )


def _synthesize(name: str, rng: np.random.Generator, sample_rate: int, length: int) -> np.ndarray:
    """One clip of class `name`: float32[length], peak in PEAK_RANGE, noise floor added."""
    ctx = synth_sounds.Ctx(rng=rng, sample_rate=sample_rate, length=length,
               time_scale=min(1.0, length / sample_rate / NOMINAL_SECONDS),
               freq_scale=_freq_scale(name, sample_rate),
               fmax=MAX_FREQ_FRACTION * sample_rate)
    audio = synth_sounds.SYNTHS[name](ctx)
    peak = np.max(np.abs(audio))
    if peak > 0:
        audio = audio / peak
    snr_db = rng.uniform(*SNR_DB_RANGE)
    floor = synth_sounds.band_limit(ctx, rng.standard_normal(length))
    audio = audio + 10.0 ** (-snr_db / 20.0) * floor
    target = rng.uniform(*PEAK_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
    audio = audio * (target / np.max(np.abs(audio)))
    return audio.astype(np.float32)


def _freq_scale(name: str, sample_rate: int) -> float:
    bounds = synth_sounds.RANGES[name]
    if bounds is None:
        return 1.0
    return min(1.0, FUNDAMENTAL_HEADROOM * MAX_FREQ_FRACTION * sample_rate / bounds[1])


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
