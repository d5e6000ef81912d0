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

Example:

  for clip in generate(count=120, sample_rate=16000, length=16384, seed=0):
      clip.audio    # float32[16384], peak in [0.5, 0.95]
      clip.caption  # e.g. "a bell ringing"
      clip.label    # index into CLASSES
      clip.clip_id  # e.g. "synth-bell-000005"
"""

from __future__ import annotations

import numbers
from typing import Callable, Iterator, NamedTuple

import numpy as np

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

_TWO_PI = 2.0 * np.pi


class SynthClip(NamedTuple):
    """One generated clip.

    Attributes:
      audio: float32[length], mono, peak in `PEAK_RANGE`.
      caption: one of `CAPTIONS[CLASSES[label]]`.
      label: class index into `CLASSES`.
      clip_id: stable id, `synth-<class-with-dashes>-<index:06d>`.
    """

    audio: np.ndarray
    caption: str
    label: int
    clip_id: str


class _Ctx(NamedTuple):
    """What a class synthesiser needs about the clip being made."""

    rng: np.random.Generator
    sample_rate: int
    length: int
    time_scale: float   # multiplies every duration, <= 1
    freq_scale: float   # multiplies the class's fundamental frequencies, <= 1
    fmax: float         # Hz, no component may exceed it


# ----------------------------------------------------------------------------
# Building blocks.


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _samples(ctx: _Ctx, seconds: float) -> int:
    """Nominal seconds -> samples of this clip (time-compressed for short clips), >= 1."""
    return max(1, int(round(seconds * ctx.time_scale * ctx.sample_rate)))


def _onset(ctx: _Ctx, event_len: int, latest: float = 1.0) -> int:
    """A random start sample that keeps an event of `event_len` samples inside the clip.

    `latest` caps the start as a fraction of the room left, for events whose
    tail matters (a bell's ring, a drum's decay) and should mostly fit.
    """
    room = max(0, ctx.length - event_len)
    return int(ctx.rng.uniform(0.0, latest) * room)


def _place(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Adds `event` into `out` from `start`, dropping whatever falls past the end."""
    if start >= len(out):
        return
    end = min(len(out), start + len(event))
    out[start:end] += event[:end - start]


def _fades(m: int, attack: int, release: int) -> np.ndarray:
    """float64[m] envelope: raised-cosine attack and release around a flat middle."""
    env = np.ones(m)
    attack, release = min(attack, m), min(release, m)
    if attack > 0:
        env[:attack] *= np.sin(0.5 * np.pi * np.arange(attack) / attack) ** 2
    if release > 0:
        env[m - release:] *= np.cos(0.5 * np.pi * np.arange(1, release + 1) / release) ** 2
    return env


def _phase(freq: np.ndarray, sample_rate: int, phase0: float) -> np.ndarray:
    """Instantaneous phase (rad) of a tone whose frequency (Hz) varies per sample."""
    return phase0 + _TWO_PI * np.cumsum(freq) / sample_rate


def _harmonic_tone(ctx: _Ctx, freq: np.ndarray, amps, ratios=None) -> np.ndarray:
    """Sum of partials `amps[k] * sin(ratios[k] * phase)` of a tone with fundamental `freq`.

    Partials whose instantaneous frequency approaches `ctx.fmax` fade out
    (linearly over the last 10% below it), so sweeps never alias.

    Args:
      ctx: the clip context.
      freq: float64[m], fundamental frequency (Hz) per sample.
      amps: partial amplitudes.
      ratios: partial frequency ratios; defaults to harmonics 1, 2, 3, ...

    Returns:
      float64[m].
    """
    if ratios is None:
        ratios = np.arange(1, len(amps) + 1)
    phase = _phase(freq, ctx.sample_rate, ctx.rng.uniform(0.0, _TWO_PI))
    out = np.zeros_like(freq)
    for ratio, amp in zip(ratios, amps):
        if amp == 0.0:
            continue
        partial = ratio * freq
        if partial.min() >= ctx.fmax:
            continue
        gate = np.clip((ctx.fmax - partial) / (0.1 * ctx.fmax), 0.0, 1.0)
        out += amp * gate * np.sin(ratio * phase)
    return out


def _exp_sweep(f_from: float, f_to: float, m: int, curve: float = 1.0) -> np.ndarray:
    """float64[m]: exponential glide from f_from to f_to; `curve` > 1 lingers near f_from."""
    u = np.arange(m) / max(1, m - 1)
    return f_from * (f_to / f_from) ** (u ** curve)


def _band_limit(ctx: _Ctx, x: np.ndarray) -> np.ndarray:
    """float64[m]: `x` with content above `ctx.fmax` removed (linear fade over the last 10%)."""
    f = np.fft.rfftfreq(len(x), 1.0 / ctx.sample_rate)
    gate = np.clip((ctx.fmax - f) / (0.1 * ctx.fmax), 0.0, 1.0)
    return np.fft.irfft(np.fft.rfft(x) * gate, n=len(x))


def _shaped_noise(ctx: _Ctx, m: int, lo: float, hi: float, tilt: float) -> np.ndarray:
    """float64[m] noise band-limited to [lo, hi] Hz with spectral slope `tilt` (power ~ f**tilt)."""
    spec = np.fft.rfft(ctx.rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / ctx.sample_rate)
    hi = min(hi, ctx.fmax)
    gain = ((f >= lo) & (f <= hi)) * np.maximum(f, 1.0) ** (0.5 * tilt)
    out = np.fft.irfft(spec * gain, n=m)
    peak = np.max(np.abs(out))
    return out / peak if peak > 0 else out


# ----------------------------------------------------------------------------
# The classes. Each synthesiser returns float64[length], any scale.
# `_RANGES` bounds each class's fundamental frequency (Hz) at full rate; the
# synthesiser draws inside it (times ctx.freq_scale) and the tests hold it to that.

_RANGES: dict[str, tuple[float, float] | None] = {}


def _beep(ctx: _Ctx) -> np.ndarray:
    """1-4 identical constant-pitch electronic tones with short gaps."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    f0 = _loguniform(rng, 400.0, 1600.0) * ctx.freq_scale
    amps = [1.0, rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.15)]
    dur = _samples(ctx, rng.uniform(0.06, 0.2))
    gap = _samples(ctx, rng.uniform(0.05, 0.15))
    count = int(rng.integers(1, 5))
    while count > 1 and count * dur + (count - 1) * gap > ctx.length:
        count -= 1
    fade = _samples(ctx, rng.uniform(0.003, 0.01))
    start = _onset(ctx, count * dur + (count - 1) * gap)
    for k in range(count):
        tone = _harmonic_tone(ctx, np.full(dur, f0), amps)
        beep = rng.uniform(0.75, 1.0) * tone * _fades(dur, fade, fade)
        _place(out, beep, start + k * (dur + gap))
    return out


_RANGES["beep"] = (400.0, 1600.0)


def _whistle(ctx: _Ctx, rising: bool) -> np.ndarray:
    """One pure tone gliding over 1-1.8 octaves, with a little vibrato."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    f_low = _loguniform(rng, 400.0, 1000.0) * ctx.freq_scale
    f_high = f_low * rng.uniform(2.0, 3.5)
    m = _samples(ctx, rng.uniform(0.3, 0.8))
    freq = _exp_sweep(f_low, f_high, m, curve=rng.uniform(0.6, 1.6))
    if not rising:
        freq = freq[::-1]
    # Vibrato stays within 1% so the glide remains monotone on a log-mel scale.
    t = np.arange(m) / (ctx.sample_rate * ctx.time_scale)
    freq = freq * (1.0 + rng.uniform(0.0, 0.01) * np.sin(_TWO_PI * rng.uniform(4.0, 8.0) * t))
    tone = _harmonic_tone(ctx, freq, [1.0, rng.uniform(0.0, 0.1)])
    env = _fades(m, _samples(ctx, rng.uniform(0.01, 0.05)), _samples(ctx, rng.uniform(0.02, 0.1)))
    _place(out, tone * env, _onset(ctx, m))
    return out


_RANGES["rising whistle"] = (400.0, 3535.0)
_RANGES["falling whistle"] = (400.0, 3535.0)


def _noise_burst(ctx: _Ctx) -> np.ndarray:
    """One band-limited noise burst with a sharp attack and a decay."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    m = _samples(ctx, rng.uniform(0.08, 0.5))
    noise = _shaped_noise(ctx, m, lo=_loguniform(rng, 80.0, 800.0),
                          hi=_loguniform(rng, 2000.0, 8000.0), tilt=rng.uniform(-1.0, 0.0))
    t = np.arange(m) / m
    # Exponential decay or a straight fade, the burst's "shape" timbre.
    decay = np.exp(-t / rng.uniform(0.15, 0.5)) if rng.random() < 0.5 else 1.0 - t
    env = _fades(m, _samples(ctx, rng.uniform(0.001, 0.01)), 0) * decay
    _place(out, noise * env, _onset(ctx, m))
    return out


_RANGES["noise burst"] = None


def _clicks(ctx: _Ctx) -> np.ndarray:
    """3-12 very short clicks at a roughly regular rate."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    interval = rng.uniform(0.04, 0.12)
    jitter = rng.uniform(0.0, 0.15)
    step = _samples(ctx, interval)
    m = _samples(ctx, rng.uniform(0.0005, 0.002))
    # As many as fit, but never fewer than three: a train of clicks is the trait.
    count = max(3, min(int(rng.integers(3, 13)), 1 + (ctx.length - m) // step))
    brightness = rng.uniform(0.2, 1.0)
    start = _onset(ctx, (count - 1) * step + m)
    for k in range(count):
        click = rng.standard_normal(m) * np.exp(-np.arange(m) / max(1.0, m / 4))
        # Mixing in the first difference brightens the click, a timbre knob.
        click = (1.0 - brightness) * click + brightness * np.diff(click, prepend=0.0)
        click[0] += 1.0
        offset = int(k * step + rng.uniform(-jitter, jitter) * step * (k > 0))
        _place(out, rng.uniform(0.6, 1.0) * click / np.max(np.abs(click)), start + offset)
    # Impulses are broadband; keep them below fmax like every other class.
    return _band_limit(ctx, out)


_RANGES["clicks"] = None

# Partials of a struck bar / small bell (ratios to the fundamental).
_BELL_RATIOS = np.array([1.0, 2.0, 2.76, 5.40, 8.93])


def _bell(ctx: _Ctx) -> np.ndarray:
    """One or two strikes of an inharmonic bell with a long exponential decay."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    f0 = _loguniform(rng, 300.0, 1200.0) * ctx.freq_scale
    ratios = _BELL_RATIOS * np.concatenate([[1.0], rng.uniform(0.98, 1.02, 4)])
    amps = [1.0, rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.5), rng.uniform(0.05, 0.3),
            rng.uniform(0.02, 0.2)]
    tau = rng.uniform(0.25, 1.2) * ctx.time_scale * ctx.sample_rate   # samples
    # Higher partials die sooner, as in real bells.
    taus = tau / ratios ** rng.uniform(0.3, 0.7)
    m = min(ctx.length, max(1, int(5 * tau)))
    strikes = 2 if rng.random() < 0.3 else 1
    gap = _samples(ctx, rng.uniform(0.25, 0.5))
    start = _onset(ctx, min(ctx.length, m // 3 + (strikes - 1) * gap), latest=0.6)
    attack = _samples(ctx, rng.uniform(0.001, 0.003))
    n = np.arange(m)
    for k in range(strikes):
        freq = np.full(m, f0)
        phase = _phase(freq, ctx.sample_rate, 0.0)
        ring = np.zeros(m)
        for ratio, amp, tk in zip(ratios, amps, taus):
            if ratio * f0 < ctx.fmax:
                ring += amp * np.exp(-n / tk) * np.sin(ratio * phase + rng.uniform(0, _TWO_PI))
        _place(out, (1.0 if k == 0 else rng.uniform(0.5, 0.9)) * ring * _fades(m, attack, 0),
               start + k * gap)
    return out


_RANGES["bell"] = (300.0, 1200.0)


def _siren(ctx: _Ctx) -> np.ndarray:
    """A buzzy tone whose pitch oscillates up and down through the whole clip."""
    rng = ctx.rng
    n = ctx.length
    centre = _loguniform(rng, 600.0, 1100.0) * ctx.freq_scale
    depth = rng.uniform(1.25, 1.6)
    rate = rng.uniform(1.5, 4.0) / ctx.time_scale
    t = np.arange(n) / ctx.sample_rate
    lfo = np.sin(_TWO_PI * rate * t + rng.uniform(0.0, _TWO_PI))
    if rng.random() < 0.3:
        # "Hi-lo" siren: a softened square wave instead of the "wail" sine.
        sharpness = rng.uniform(3.0, 8.0)
        lfo = np.tanh(sharpness * lfo) / np.tanh(sharpness)
    freq = centre * depth ** lfo
    r = rng.uniform(0.1, 0.5)
    tone = _harmonic_tone(ctx, freq, [r ** k for k in range(5)])
    env = _fades(n, _samples(ctx, rng.uniform(0.01, 0.05)), _samples(ctx, rng.uniform(0.01, 0.05)))
    return tone * env


_RANGES["siren"] = (600.0 / 1.6, 1100.0 * 1.6)


def _heartbeat(ctx: _Ctx) -> np.ndarray:
    """Repeated "lub-dub" pairs of soft, very low thumps."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    interval = _samples(ctx, rng.uniform(0.55, 0.95))
    lub_f = rng.uniform(40.0, 70.0) * ctx.freq_scale
    dub_f = lub_f * rng.uniform(1.1, 1.4)
    dub_delay = _samples(ctx, rng.uniform(0.12, 0.2))
    dub_amp = rng.uniform(0.5, 0.9)
    attack = rng.uniform(0.01, 0.025) * ctx.time_scale * ctx.sample_rate
    m = _samples(ctx, 0.15)
    t = np.arange(m)
    # Gamma-shaped bump: a soft onset, unlike a drum's click.
    bump = (t / attack) * np.exp(1.0 - t / attack)
    droop = np.linspace(1.0, rng.uniform(0.8, 0.95), m)
    # The first beat starts early enough that a whole lub-dub fits and the rate shows.
    start = min(ctx.length - 1, int(rng.uniform(0.0, 0.4) * interval))
    for beat_start in range(start, ctx.length, interval):
        amp = rng.uniform(0.8, 1.0)
        for f, a, delay in ((lub_f, 1.0, 0), (dub_f, dub_amp, dub_delay)):
            thump = _harmonic_tone(ctx, f * droop, [1.0, rng.uniform(0.0, 0.2)]) * bump
            _place(out, amp * a * thump, beat_start + delay)
    return out


_RANGES["heartbeat"] = (40.0, 98.0)


def _hum(ctx: _Ctx) -> np.ndarray:
    """A steady low buzzing tone (mains hum, motor) lasting the whole clip."""
    rng = ctx.rng
    n = ctx.length
    f0 = _loguniform(rng, 50.0, 180.0) * ctx.freq_scale
    r = rng.uniform(0.3, 0.7)
    even = rng.uniform(0.3, 1.0)
    amps = [r ** k * (even if k % 2 else 1.0) for k in range(12)]
    freq = f0 * (1.0 + rng.uniform(0.0, 0.003) * np.sin(
        _TWO_PI * rng.uniform(0.2, 1.0) * np.arange(n) / ctx.sample_rate))
    tone = _harmonic_tone(ctx, freq, amps)
    t = np.arange(n) / ctx.sample_rate
    wobble = 1.0 + rng.uniform(0.0, 0.2) * np.sin(
        _TWO_PI * rng.uniform(0.3, 3.0) / ctx.time_scale * t + rng.uniform(0, _TWO_PI))
    env = _fades(n, _samples(ctx, rng.uniform(0.02, 0.1)), _samples(ctx, rng.uniform(0.02, 0.1)))
    return tone * wobble * env


_RANGES["hum"] = (50.0 * 0.997, 180.0 * 1.003)


def _drum_hit(ctx: _Ctx) -> np.ndarray:
    """One drum hit: a click of noise over a low tone whose pitch drops fast."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    f_end = _loguniform(rng, 45.0, 110.0) * ctx.freq_scale
    f_start = max(_loguniform(rng, 120.0, 300.0) * ctx.freq_scale, 1.2 * f_end)
    sr_t = ctx.time_scale * ctx.sample_rate
    tau = rng.uniform(0.06, 0.25) * sr_t
    m = min(ctx.length, max(1, int(6 * tau)))
    t = np.arange(m)
    freq = f_end + (f_start - f_end) * np.exp(-t / (rng.uniform(0.01, 0.05) * sr_t))
    body = _harmonic_tone(ctx, freq, [1.0, rng.uniform(0.0, 0.3)],
                          ratios=[1.0, rng.uniform(1.5, 1.6)])
    body *= np.exp(-t / tau) * _fades(m, _samples(ctx, 0.001), 0)
    click_tau = rng.uniform(0.002, 0.01) * sr_t
    click = np.diff(rng.standard_normal(m), prepend=0.0) * np.exp(-t / click_tau)
    click = _band_limit(ctx, click)
    click /= max(1e-12, np.max(np.abs(click)))
    _place(out, body + rng.uniform(0.1, 0.6) * click, _onset(ctx, m // 2, latest=0.8))
    return out


_RANGES["drum hit"] = (45.0, 300.0)


def _chirp(ctx: _Ctx) -> np.ndarray:
    """2-6 quick high-pitched bird-like chirps, each a small pitch glide."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    centre = _loguniform(rng, 2500.0, 4500.0) * ctx.freq_scale
    half_span = np.sqrt(rng.uniform(1.35, 2.0))
    shape = rng.integers(3)   # 0 up, 1 down, 2 up-then-down
    count = int(rng.integers(2, 7))
    dur = _samples(ctx, rng.uniform(0.03, 0.09))
    gap = _samples(ctx, rng.uniform(0.04, 0.15))
    while count > 2 and count * dur + (count - 1) * gap > ctx.length:
        count -= 1
    start = _onset(ctx, count * dur + (count - 1) * gap)
    u = np.linspace(-1.0, 1.0, dur)
    contour = {0: u, 1: -u, 2: 1.0 - 2.0 * u ** 2}[int(shape)]
    window = np.sin(np.pi * (np.arange(dur) + 0.5) / dur) ** 2
    for k in range(count):
        freq = centre * rng.uniform(0.96, 1.04) * half_span ** contour
        tone = _harmonic_tone(ctx, freq, [1.0])
        _place(out, rng.uniform(0.6, 1.0) * tone * window, start + k * (dur + gap))
    return out


_RANGES["chirp"] = (2500.0 / np.sqrt(2.0) * 0.96, 4500.0 * np.sqrt(2.0) * 1.04)


def _laser_zap(ctx: _Ctx) -> np.ndarray:
    """1-3 "pew" zaps: harmonic-rich tones diving several octaves in a fraction of a second."""
    rng = ctx.rng
    out = np.zeros(ctx.length)
    f_start = _loguniform(rng, 2500.0, 6000.0) * ctx.freq_scale
    f_end = f_start / rng.uniform(6.0, 16.0)
    dur = _samples(ctx, rng.uniform(0.08, 0.25))
    gap = _samples(ctx, rng.uniform(0.05, 0.15))
    count = int(rng.integers(1, 4))
    while count > 1 and count * dur + (count - 1) * gap > ctx.length:
        count -= 1
    # Square-like (odd harmonics) or sawtooth-like timbre.
    odd_only = rng.random() < 0.5
    amps = [0.0 if (odd_only and k % 2 == 0) else 1.0 / k for k in range(1, 10)]
    freq = _exp_sweep(f_start, f_end, dur, curve=rng.uniform(0.5, 1.0))
    decay = np.exp(-np.arange(dur) / (dur * rng.uniform(0.3, 1.0)))
    env = _fades(dur, _samples(ctx, 0.002), 0) * decay
    start = _onset(ctx, count * dur + (count - 1) * gap)
    for k in range(count):
        _place(out, rng.uniform(0.7, 1.0) * _harmonic_tone(ctx, freq, amps) * env,
               start + k * (dur + gap))
    return out


_RANGES["laser zap"] = (2500.0 / 16.0, 6000.0)

_SYNTHS: dict[str, Callable[[_Ctx], np.ndarray]] = {
    "beep": _beep,
    "rising whistle": lambda ctx: _whistle(ctx, rising=True),
    "falling whistle": lambda ctx: _whistle(ctx, rising=False),
    "noise burst": _noise_burst,
    "clicks": _clicks,
    "bell": _bell,
    "siren": _siren,
    "heartbeat": _heartbeat,
    "hum": _hum,
    "drum hit": _drum_hit,
    "chirp": _chirp,
    "laser zap": _laser_zap,
}

CLASSES: list[str] = list(_SYNTHS)

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
    if class_name not in _RANGES:
        raise ValueError(f"unknown class {class_name!r}; known: {CLASSES}")
    bounds = _RANGES[class_name]
    if bounds is None:
        return None
    scale = _freq_scale(class_name, sample_rate)
    return bounds[0] * scale, bounds[1] * scale


def generate(count: int, sample_rate: int = 16000, length: int = 16384,
             seed: int = 0) -> Iterator[SynthClip]:
    """Yields `count` captioned clips, classes balanced.

    Clips come in blocks of `len(CLASSES)`, each block a seeded permutation of
    the classes, so any prefix is balanced to within one clip per class. Clip
    `i` depends only on (seed, i, sample_rate, length), not on `count`.

    Args:
      count: number of clips, >= 1.
      sample_rate: Hz, >= `MIN_SAMPLE_RATE`.
      length: samples per clip, >= 1.
      seed: non-negative integer; equal seeds give bit-identical clips.

    Yields:
      `SynthClip`s with audio float32[length].

    Raises:
      ValueError: a bad argument (checked before the first clip is made).
    """
    _check_int("count", count, 1)
    _check_int("sample_rate", sample_rate, MIN_SAMPLE_RATE)
    _check_int("length", length, 1)
    _check_int("seed", seed, 0)
    return _generate(int(count), int(sample_rate), int(length), int(seed))


def describe() -> dict:
    """Facts about the dataset for its card: classes, captions, license, how it is made."""
    return {
        "name": "synth_sfx",
        "version": VERSION,
        "description": ("Procedurally synthesised sound effects, one caption per clip drawn "
                        "among its class's phrasings, with random pitch, duration, onset, "
                        "event count, envelope, timbre, amplitude and noise floor per clip."),
        "classes": list(CLASSES),
        "captions": {name: list(phrasings) for name, phrasings in CAPTIONS.items()},
        "license": LICENSE,
    }


# ----------------------------------------------------------------------------
# Internals.

# SeedSequence tags separating the two random streams derived from a seed.
_CLIP_STREAM = 0
_ORDER_STREAM = 1


def _generate(count: int, sample_rate: int, length: int, seed: int) -> Iterator[SynthClip]:
    n_classes = len(CLASSES)
    order = None
    for i in range(count):
        block, slot = divmod(i, n_classes)
        if slot == 0:
            order = np.random.default_rng([seed, _ORDER_STREAM, block]).permutation(n_classes)
        label = int(order[slot])
        rng = np.random.default_rng([seed, _CLIP_STREAM, i])
        name = CLASSES[label]
        yield SynthClip(
            audio=_synthesize(name, rng, sample_rate, length),
            caption=CAPTIONS[name][int(rng.integers(len(CAPTIONS[name])))],
            label=label,
            clip_id=f"synth-{name.replace(' ', '-')}-{i:06d}",
        )


def _synthesize(name: str, rng: np.random.Generator, sample_rate: int, length: int) -> np.ndarray:
    """One clip of class `name`: float32[length], peak in PEAK_RANGE, noise floor added."""
    ctx = _Ctx(rng=rng, sample_rate=sample_rate, length=length,
               time_scale=min(1.0, length / sample_rate / NOMINAL_SECONDS),
               freq_scale=_freq_scale(name, sample_rate),
               fmax=MAX_FREQ_FRACTION * sample_rate)
    audio = _SYNTHS[name](ctx)
    peak = np.max(np.abs(audio))
    if peak > 0:
        audio = audio / peak
    snr_db = rng.uniform(*SNR_DB_RANGE)
    floor = _band_limit(ctx, rng.standard_normal(length))
    audio = audio + 10.0 ** (-snr_db / 20.0) * floor
    target = rng.uniform(*PEAK_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
    audio = audio * (target / np.max(np.abs(audio)))
    return audio.astype(np.float32)


def _freq_scale(name: str, sample_rate: int) -> float:
    bounds = _RANGES[name]
    if bounds is None:
        return 1.0
    return min(1.0, FUNDAMENTAL_HEADROOM * MAX_FREQ_FRACTION * sample_rate / bounds[1])


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
