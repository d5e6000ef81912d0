"""The twelve class synthesisers of `condgan.data_prep.synth_sfx` and their building blocks.

Each synthesiser takes a `Ctx` (the clip's random generator, sample rate,
length and the time / frequency scales and band limit chosen for it by
`synth_sfx`) and returns float64[length] at any scale; `synth_sfx` normalises
it, adds the noise floor and sets the peak. `SYNTHS` maps class names to
synthesisers in label order; `RANGES` bounds each tonal class's fundamental
(Hz, at full rate; None for the noise-based classes). Pure numpy.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

_TWO_PI = 2.0 * np.pi


class Ctx(NamedTuple):
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


def _samples(ctx: Ctx, seconds: float) -> int:
    """Nominal seconds -> samples of this clip (time-compressed for short clips), >= 1."""
    return max(1, int(round(seconds * ctx.time_scale * ctx.sample_rate)))


def _onset(ctx: Ctx, event_len: int, latest: float = 1.0) -> int:
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


def _harmonic_tone(ctx: Ctx, freq: np.ndarray, amps, ratios=None) -> np.ndarray:
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


def band_limit(ctx: Ctx, x: np.ndarray) -> np.ndarray:
    """float64[m]: `x` with content above `ctx.fmax` removed (linear fade over the last 10%)."""
    f = np.fft.rfftfreq(len(x), 1.0 / ctx.sample_rate)
    gate = np.clip((ctx.fmax - f) / (0.1 * ctx.fmax), 0.0, 1.0)
    return np.fft.irfft(np.fft.rfft(x) * gate, n=len(x))


def _shaped_noise(ctx: Ctx, m: int, lo: float, hi: float, tilt: float) -> np.ndarray:
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
# `RANGES` bounds each class's fundamental frequency (Hz) at full rate; the
# synthesiser draws inside it (times ctx.freq_scale) and the tests hold it to that.

RANGES: dict[str, tuple[float, float] | None] = {}


def _beep(ctx: Ctx) -> np.ndarray:
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


RANGES["beep"] = (400.0, 1600.0)


def _whistle(ctx: Ctx, rising: bool) -> np.ndarray:
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


RANGES["rising whistle"] = (400.0, 3535.0)
RANGES["falling whistle"] = (400.0, 3535.0)


def _noise_burst(ctx: Ctx) -> np.ndarray:
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


RANGES["noise burst"] = None


def _clicks(ctx: Ctx) -> np.ndarray:
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
    return band_limit(ctx, out)


RANGES["clicks"] = None

# Partials of a struck bar / small bell (ratios to the fundamental).
_BELL_RATIOS = np.array([1.0, 2.0, 2.76, 5.40, 8.93])


def _bell(ctx: Ctx) -> np.ndarray:
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


RANGES["bell"] = (300.0, 1200.0)


def _siren(ctx: Ctx) -> np.ndarray:
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


RANGES["siren"] = (600.0 / 1.6, 1100.0 * 1.6)


def _heartbeat(ctx: Ctx) -> np.ndarray:
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


RANGES["heartbeat"] = (40.0, 98.0)


def _hum(ctx: Ctx) -> np.ndarray:
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


RANGES["hum"] = (50.0 * 0.997, 180.0 * 1.003)


def _drum_hit(ctx: Ctx) -> np.ndarray:
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
    click = band_limit(ctx, click)
    click /= max(1e-12, np.max(np.abs(click)))
    _place(out, body + rng.uniform(0.1, 0.6) * click, _onset(ctx, m // 2, latest=0.8))
    return out


RANGES["drum hit"] = (45.0, 300.0)


def _chirp(ctx: Ctx) -> np.ndarray:
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


RANGES["chirp"] = (2500.0 / np.sqrt(2.0) * 0.96, 4500.0 * np.sqrt(2.0) * 1.04)


def _laser_zap(ctx: Ctx) -> np.ndarray:
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


RANGES["laser zap"] = (2500.0 / 16.0, 6000.0)

SYNTHS: dict[str, Callable[[Ctx], np.ndarray]] = {
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
