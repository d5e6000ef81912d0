"""Tests for condgan.data_prep.synth_sfx: the procedural captioned sound-effects set."""

import collections
import re
import time

import numpy as np
from absl.testing import absltest, parameterized

from condgan.data_prep import synth_sfx

N_CLASSES = len(synth_sfx.CLASSES)
TONAL = [name for name in synth_sfx.CLASSES if synth_sfx.fundamental_range(name, 16000)]


def _by_class(clips):
    out = collections.defaultdict(list)
    for clip in clips:
        out[clip.label].append(clip)
    return out


def _dominant_hz(audio: np.ndarray, sample_rate: int) -> float:
    """Frequency (Hz) of the largest Hann-windowed FFT magnitude."""
    spec = np.abs(np.fft.rfft(audio.astype(np.float64) * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1.0 / sample_rate)[np.argmax(spec)])


def _envelope(audio: np.ndarray, sample_rate: int, window_s: float = 0.005) -> np.ndarray:
    """Max |x| over consecutive windows of `window_s`, normalised to peak 1."""
    w = max(1, int(window_s * sample_rate))
    x = np.abs(audio[: len(audio) // w * w]).reshape(-1, w).max(axis=1)
    return x / x.max()


def _events(audio: np.ndarray, sample_rate: int,
            threshold: float = 0.3) -> tuple[int, float, float]:
    """(number of bursts above `threshold` of the peak, first onset s, last offset s)."""
    env = _envelope(audio, sample_rate)
    on = env > threshold
    count = int(on[0]) + int(np.sum(np.diff(on.astype(int)) == 1))
    idx = np.flatnonzero(on)
    return count, idx[0] * 0.005, (idx[-1] + 1) * 0.005


def _pitch_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(times s, log2 Hz of the strongest STFT bin) over frames within 20 dB of the loudest."""
    nfft, hop = 512, 128
    x = np.pad(audio.astype(np.float64), (nfft // 2, nfft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(x, nfft)[::hop] * np.hanning(nfft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy_db = 10 * np.log10(power.sum(axis=1) + 1e-12)
    active = energy_db > energy_db.max() - 20
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    return (np.flatnonzero(active) * hop / sample_rate,
            np.log2(np.maximum(freqs[np.argmax(power[active], axis=1)], 20.0)))


def _features(audio: np.ndarray, sample_rate: int, bands: int = 24) -> np.ndarray:
    """A hand-made clip descriptor: what a trivial classifier can tell classes apart by.

    Log band energies of the active frames (the timbre and register), plus the
    pitch slope (rising vs falling), pitch turns (siren), number of onsets
    (beeps, clicks, heartbeats), active share (sustained vs short) and spectral
    flatness (noise vs tone).
    """
    nfft = max(64, int(2 ** round(np.log2(0.032 * sample_rate))))
    hop = nfft // 4
    x = np.pad(audio.astype(np.float64), (nfft // 2, nfft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(x, nfft)[::hop] * np.hanning(nfft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    energy_db = 10 * np.log10(power.sum(axis=1))
    active = energy_db > energy_db.max() - 20
    edges = np.geomspace(40.0, sample_rate / 2, bands + 1)
    band_of = np.clip(np.searchsorted(edges, freqs) - 1, 0, bands - 1)
    band_power = np.stack(
        [power[:, band_of == b].sum(axis=1) if np.any(band_of == b) else np.full(len(power), 1e-12)
         for b in range(bands)], axis=1)
    spectrum = 10 * np.log10(band_power[active]).mean(axis=0)
    spectrum -= spectrum.max()
    flatness = np.mean(np.exp(np.log(power[active]).mean(axis=1)) / power[active].mean(axis=1))
    log_pitch = np.log2(np.maximum(freqs[np.argmax(power[active], axis=1)], 20.0))
    t = np.flatnonzero(active) * hop / sample_rate
    slope = np.polyfit(t, log_pitch, 1)[0] if np.ptp(t) > 0 else 0.0
    moves = np.diff(log_pitch)
    moves = moves[np.abs(moves) > 1e-3]
    turns = np.sum(np.diff(np.sign(moves)) != 0) if len(moves) > 1 else 0
    onsets = int(active[0]) + np.sum(np.diff(active.astype(int)) == 1)
    return np.concatenate([spectrum / 10, [np.clip(slope, -8, 8), np.log1p(turns), np.log1p(onsets),
                                           5 * active.mean(), 5 * flatness, np.std(log_pitch)]])


class SynthSfxTest(parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Six clips per class at 16 kHz, shared by the read-only tests below.
        cls.clips = list(synth_sfx.generate(6 * N_CLASSES, sample_rate=16000, length=16384, seed=3))

    def test_classes_and_captions(self):
        self.assertGreaterEqual(N_CLASSES, 10)
        self.assertLen(set(synth_sfx.CLASSES), N_CLASSES)
        self.assertEqual(set(synth_sfx.CAPTIONS), set(synth_sfx.CLASSES))
        all_captions = []
        for name in synth_sfx.CLASSES:
            phrasings = synth_sfx.CAPTIONS[name]
            self.assertGreaterEqual(len(phrasings), 3, name)
            for caption in phrasings:
                self.assertEqual(caption, caption.strip())
                self.assertNotEmpty(caption)
            all_captions += phrasings
        # A caption must name exactly one class, or conditional accuracy is ill-defined.
        self.assertLen(set(all_captions), len(all_captions))

    def test_describe(self):
        card = synth_sfx.describe()
        self.assertEqual(card["classes"], synth_sfx.CLASSES)
        self.assertEqual(card["captions"], synth_sfx.CAPTIONS)
        self.assertIn("CC0", card["license"])
        self.assertIn("condgan", card["license"])
        # The card is a copy: editing it must not change the module's tables.
        card["classes"].append("oops")
        card["captions"]["beep"].append("oops")
        self.assertNotIn("oops", synth_sfx.CLASSES)
        self.assertNotIn("oops", synth_sfx.CAPTIONS["beep"])

    def test_same_seed_is_bit_identical(self):
        a = list(synth_sfx.generate(15, 8000, 2048, seed=11))
        b = list(synth_sfx.generate(15, 8000, 2048, seed=11))
        for x, y in zip(a, b):
            self.assertEqual(x.audio.tobytes(), y.audio.tobytes())
            self.assertEqual((x.caption, x.label, x.clip_id), (y.caption, y.label, y.clip_id))

    def test_clip_does_not_depend_on_count(self):
        many = list(synth_sfx.generate(30, 16000, 4096, seed=2))
        few = list(synth_sfx.generate(17, 16000, 4096, seed=2))
        for x, y in zip(few, many):
            np.testing.assert_array_equal(x.audio, y.audio)
            self.assertEqual((x.caption, x.label, x.clip_id), (y.caption, y.label, y.clip_id))

    def test_different_seeds_differ(self):
        a = list(synth_sfx.generate(24, 16000, 4096, seed=0))
        b = list(synth_sfx.generate(24, 16000, 4096, seed=1))
        for x, y in zip(a, b):
            self.assertGreater(np.max(np.abs(x.audio - y.audio)), 0.1, x.clip_id)
        self.assertNotEqual([x.label for x in a], [y.label for y in b])

    def test_classes_balanced_in_every_prefix(self):
        labels = [c.label for c in synth_sfx.generate(5 * N_CLASSES + 5, 16000, 64, seed=4)]
        for k in range(1, len(labels) + 1):
            counts = collections.Counter(labels[:k])
            per_class = [counts.get(c, 0) for c in range(N_CLASSES)]
            self.assertLessEqual(max(per_class) - min(per_class), 1, f"prefix {k}: {per_class}")
        self.assertEqual(set(labels), set(range(N_CLASSES)))
        # Not a fixed round-robin: the order within blocks is shuffled.
        self.assertNotEqual(labels[:N_CLASSES], labels[N_CLASSES:2 * N_CLASSES])

    @parameterized.named_parameters(
        ("8k_1024", 8000, 1024),
        ("16k_16384", 16000, 16384),
        ("22k_4096", 22050, 4096),
        ("16k_65536", 16000, 65536),
        ("1k_minimum_rate", 1000, 3000),
        ("one_sample", 16000, 1),
        ("odd_length", 11025, 777),
    )
    def test_clip_format(self, sample_rate, length):
        clips = list(synth_sfx.generate(N_CLASSES, sample_rate, length, seed=5))
        self.assertEqual({c.label for c in clips}, set(range(N_CLASSES)))
        lo, hi = synth_sfx.PEAK_RANGE
        for i, clip in enumerate(clips):
            name = synth_sfx.CLASSES[clip.label]
            self.assertEqual(clip.audio.dtype, np.float32)
            self.assertEqual(clip.audio.shape, (length,))
            self.assertTrue(np.all(np.isfinite(clip.audio)), clip.clip_id)
            peak = float(np.max(np.abs(clip.audio)))
            self.assertBetween(peak, lo - 1e-6, hi + 1e-6)
            self.assertIn(clip.caption, synth_sfx.CAPTIONS[name])
            self.assertEqual(clip.clip_id, f"synth-{name.replace(' ', '-')}-{i:06d}")
            self.assertRegex(clip.clip_id, r"^synth-[a-z-]+-\d{6}$")

    def test_peaks_and_captions_vary(self):
        peaks = [float(np.max(np.abs(c.audio))) for c in self.clips]
        self.assertGreater(np.std(peaks), 0.05)
        for label, clips in _by_class(self.clips).items():
            self.assertGreater(len({c.caption for c in clips}), 1, synth_sfx.CLASSES[label])

    @parameterized.named_parameters(
        ("8k", 8000, 16384), ("16k", 16000, 16384), ("22k", 22050, 16384),
        ("16k_short", 16000, 4096))
    def test_tonal_classes_sit_in_their_range_below_nyquist(self, sample_rate, length):
        for name in TONAL:
            low, high = synth_sfx.fundamental_range(name, sample_rate)
            # Below the band where partials fade out, so the fundamental is never damped.
            limit = synth_sfx.FUNDAMENTAL_HEADROOM * synth_sfx.MAX_FREQ_FRACTION * sample_rate
            self.assertLessEqual(high, limit + 1e-9, name)
        bins = 2 * sample_rate / length   # two FFT bins of tolerance
        for clip in synth_sfx.generate(3 * N_CLASSES, sample_rate, length, seed=6):
            name = synth_sfx.CLASSES[clip.label]
            if name not in TONAL:
                continue
            low, high = synth_sfx.fundamental_range(name, sample_rate)
            f = _dominant_hz(clip.audio, sample_rate)
            self.assertBetween(f, low * 0.97 - bins, high * 1.03 + bins,
                               f"{clip.clip_id}: {f:.0f} Hz")
            self.assertLess(f, sample_rate / 2)

    def test_pitch_ranges_scale_down_at_8k(self):
        for name in TONAL:
            low16, high16 = synth_sfx.fundamental_range(name, 16000)
            low8, high8 = synth_sfx.fundamental_range(name, 8000)
            self.assertLess(high8, 4000.0, name)
            self.assertLessEqual(high8, high16, name)
            # A class is rescaled as a whole, keeping its pitch span.
            self.assertAlmostEqual(high8 / low8, high16 / low16, places=6)

    @parameterized.named_parameters(("8k", 8000), ("16k", 16000), ("22k", 22050))
    def test_no_energy_near_nyquist(self, sample_rate):
        # Partials, clicks and the noise floor are all faded out above
        # MAX_FREQ_FRACTION * rate; this catches a harmonic or impulse that is not.
        for clip in synth_sfx.generate(2 * N_CLASSES, sample_rate, 8192, seed=7):
            power = np.abs(np.fft.rfft(clip.audio.astype(np.float64))) ** 2
            freqs = np.fft.rfftfreq(len(clip.audio), 1.0 / sample_rate)
            share = power[freqs > 0.46 * sample_rate].sum() / power.sum()
            self.assertLess(share, 1e-3, clip.clip_id)

    def test_within_class_variation_is_real(self):
        for label, clips in _by_class(self.clips).items():
            name = synth_sfx.CLASSES[label]
            feats = np.stack([_features(c.audio, 16000) for c in clips])
            spectra = np.stack([np.log10(np.abs(np.fft.rfft(c.audio.astype(np.float64))) + 1e-3)
                                for c in clips])
            envelopes = np.stack([_envelope(c.audio, 16000) for c in clips])
            for i in range(len(clips)):
                for j in range(i):
                    self.assertGreater(np.sqrt(np.mean((spectra[i] - spectra[j]) ** 2)), 0.1, name)
                    self.assertGreater(np.sqrt(np.mean((envelopes[i] - envelopes[j]) ** 2)), 0.01,
                                       name)
                    self.assertGreater(np.linalg.norm(feats[i] - feats[j]), 0.05, name)

    def test_onsets_durations_and_pitches_vary(self):
        sustained = {"siren", "hum"}
        for label, clips in _by_class(self.clips).items():
            name = synth_sfx.CLASSES[label]
            events = [_events(c.audio, 16000) for c in clips]
            if name not in sustained:
                self.assertGreater(np.std([e[1] for e in events]), 0.02, f"{name} onsets")
            self.assertGreater(np.std([e[2] - e[1] for e in events]), 0.005, f"{name} durations")
            if name in TONAL and name not in ("heartbeat", "drum hit"):
                pitches = [_dominant_hz(c.audio, 16000) for c in clips]
                self.assertGreater(np.std(np.log2(pitches)), 0.1, f"{name} pitches {pitches}")
        # Sustained classes fill the clip.
        for clip in self.clips:
            if synth_sfx.CLASSES[clip.label] in sustained:
                _, start, end = _events(clip.audio, 16000)
                self.assertLess(start, 0.1, clip.clip_id)
                self.assertGreater(end, 0.9, clip.clip_id)

    @parameterized.named_parameters(("8k", 8000), ("16k", 16000))
    def test_pitch_contours_keep_each_class_trait(self, sample_rate):
        # The defining trait of the pitched classes must survive every draw.
        for clip in synth_sfx.generate(4 * N_CLASSES, sample_rate, 16384, seed=10):
            name = synth_sfx.CLASSES[clip.label]
            t, pitch = _pitch_track(clip.audio, sample_rate)
            slope = np.polyfit(t, pitch, 1)[0]   # octaves per second
            if name == "rising whistle":
                self.assertGreater(slope, 1.0, clip.clip_id)
                self.assertGreater(np.ptp(pitch), 0.8, clip.clip_id)
            elif name == "falling whistle":
                self.assertLess(slope, -1.0, clip.clip_id)
                self.assertGreater(np.ptp(pitch), 0.8, clip.clip_id)
            elif name == "beep":
                self.assertLess(np.ptp(pitch), 0.15, clip.clip_id)
            elif name == "siren":
                middle = 0.5 * (pitch.max() + pitch.min())
                side = np.sign(pitch - middle)[np.abs(pitch - middle) > 0.05]
                self.assertGreater(np.ptp(pitch), 0.5, clip.clip_id)
                # Up and down at least one and a half times.
                self.assertGreaterEqual(np.sum(np.diff(side) != 0), 3, clip.clip_id)

    @parameterized.named_parameters(("beep", "beep", 1, 4), ("clicks", "clicks", 3, 12))
    def test_event_count_varies_within_bounds(self, name, fewest, most):
        label = synth_sfx.CLASSES.index(name)
        clips = [c for c in synth_sfx.generate(12 * N_CLASSES, 16000, 16384, seed=8)
                 if c.label == label]
        counts = [_events(c.audio, 16000)[0] for c in clips]
        self.assertGreaterEqual(min(counts), fewest, counts)
        self.assertLessEqual(max(counts), most, counts)
        self.assertGreaterEqual(len(set(counts)), 3, counts)

    @parameterized.named_parameters(
        ("8k", 8000, 16384), ("16k", 16000, 16384), ("16k_short", 16000, 4096))
    def test_classes_separable_by_nearest_centroid(self, sample_rate, length):
        # Guards the >= 95% goal of the log-mel CNN: a crude nearest-centroid on
        # hand-made features already separates the classes on held-out clips.
        train = list(synth_sfx.generate(16 * N_CLASSES, sample_rate, length, seed=0))
        test = list(synth_sfx.generate(10 * N_CLASSES, sample_rate, length, seed=1))
        x = np.stack([_features(c.audio, sample_rate) for c in train])
        y = np.array([c.label for c in train])
        x_test = np.stack([_features(c.audio, sample_rate) for c in test])
        y_test = np.array([c.label for c in test])
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
        x, x_test = (x - mean) / std, (x_test - mean) / std
        centroids = np.stack([x[y == k].mean(axis=0) for k in range(N_CLASSES)])
        pred = np.argmin(((x_test[:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)
        self.assertGreaterEqual(np.mean(pred == y_test), 0.85)
        for k in range(N_CLASSES):
            # Loose per class (10 clips each): catches a class that merged into another.
            self.assertGreaterEqual(np.mean(pred[y_test == k] == k), 0.3, synth_sfx.CLASSES[k])

    def test_many_clips_are_fast_enough(self):
        # CPU time, not wall time, so other jobs on the machine do not make it flaky.
        # 120 clips of 16384 samples (~0.2 s); 1,000 take ~10x as long.
        start = time.process_time()
        for _ in synth_sfx.generate(120, 16000, 16384, seed=9):
            pass
        self.assertLess(time.process_time() - start, 3.0)

    @parameterized.named_parameters(
        ("count_zero", dict(count=0), "count"),
        ("count_float", dict(count=2.0), "count"),
        ("count_bool", dict(count=True), "count"),
        ("length_zero", dict(count=1, length=0), "length"),
        ("rate_too_low", dict(count=1, sample_rate=999), "sample_rate"),
        ("rate_float", dict(count=1, sample_rate=16000.0), "sample_rate"),
        ("seed_negative", dict(count=1, seed=-1), "seed"),
        ("seed_string", dict(count=1, seed="0"), "seed"),
    )
    def test_bad_arguments_fail_at_call(self, kwargs, name):
        # Raised by the call itself, not lazily at the first next().
        with self.assertRaisesRegex(ValueError, rf"^{name} must"):
            synth_sfx.generate(**kwargs)

    def test_numpy_integers_accepted(self):
        clips = list(synth_sfx.generate(np.int64(2), np.int32(8000), np.int64(256), np.uint8(1)))
        self.assertLen(clips, 2)
        self.assertEqual(clips[0].audio.shape, (256,))

    # The full set as it was before subsets existed (HEAD 88b5a01): labels, caption
    # indices and peaks of clips 0-23 at seed 0. Integers and rng draws, not libm output.
    FULL_SET_LABELS = [0, 7, 1, 11, 3, 10, 4, 6, 9, 8, 2, 5, 7, 2, 4, 11, 0, 6, 1, 8, 9, 3, 5, 10]
    FULL_SET_PHRASINGS = [3, 3, 3, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 2, 1, 1, 0, 2, 1, 3, 3]
    FULL_SET_PEAKS = [0.8797, 0.7513, 0.8923, 0.6852, 0.7685, 0.612, 0.5454, 0.7527, 0.7794, 0.6951,
                      0.8412, 0.6205, 0.5256, 0.865, 0.8948, 0.846, 0.5527, 0.822, 0.7449, 0.9336,
                      0.7701, 0.901, 0.868, 0.691]

    def test_the_full_set_is_unchanged_by_subsets(self):
        default = list(synth_sfx.generate(24, 8000, 256, seed=0))
        named = list(synth_sfx.generate(24, 8000, 256, seed=0, classes=list(synth_sfx.CLASSES)))
        self.assertEqual([c.label for c in default], self.FULL_SET_LABELS)
        self.assertEqual([synth_sfx.CAPTIONS[synth_sfx.CLASSES[c.label]].index(c.caption)
                          for c in default], self.FULL_SET_PHRASINGS)
        np.testing.assert_allclose([np.max(np.abs(c.audio)) for c in default], self.FULL_SET_PEAKS,
                                   atol=6e-5)
        for x, y in zip(default, named):
            self.assertEqual(x.audio.tobytes(), y.audio.tobytes())
            self.assertEqual((x.caption, x.label, x.clip_id), (y.caption, y.label, y.clip_id))
        self.assertEqual(synth_sfx.describe(synth_sfx.CLASSES), synth_sfx.describe())
        self.assertNotIn("subset_of", synth_sfx.describe())

    def test_a_subset_has_its_labels_balance_and_captions(self):
        names = ["siren", "beep", "rising whistle", "falling whistle"]  # not CLASSES' order
        k = len(names)
        clips = list(synth_sfx.generate(5 * k + 3, 8000, 1024, seed=4, classes=names))
        labels = [c.label for c in clips]
        for block in range(5):  # each block a permutation of the subset
            self.assertCountEqual(labels[block * k:(block + 1) * k], range(k))
        counts = collections.Counter(labels)
        self.assertLessEqual(max(counts.values()) - min(counts.values()), 1)
        self.assertEqual(set(labels), set(range(k)))
        self.assertNotEqual(labels[:k], labels[k:2 * k])  # shuffled, not round-robin
        for i, clip in enumerate(clips):
            name = names[clip.label]  # labels index the subset, in the order given
            self.assertIn(clip.caption, synth_sfx.CAPTIONS[name])
            self.assertEqual(clip.clip_id, f"synth-{name.replace(' ', '-')}-{i:06d}")
            self.assertEqual(clip.audio.shape, (1024,))
        for name in names:  # every phrasing of a class can be drawn
            drawn = {c.caption for c in synth_sfx.generate(12 * k, 8000, 64, seed=1, classes=names)
                     if names[c.label] == name}
            self.assertEqual(drawn, set(synth_sfx.CAPTIONS[name]), name)

    def test_a_subsets_clips_keep_their_class_trait(self):
        # A subset clip is a clip of its class: the pitch contours of the pitch subset.
        names = ["beep", "rising whistle", "falling whistle", "siren"]
        for clip in synth_sfx.generate(8, 8000, 16384, seed=2, classes=names):
            t, pitch = _pitch_track(clip.audio, 8000)
            slope = np.polyfit(t, pitch, 1)[0]
            name = names[clip.label]
            if name == "rising whistle":
                self.assertGreater(slope, 1.0, clip.clip_id)
            elif name == "falling whistle":
                self.assertLess(slope, -1.0, clip.clip_id)
            elif name == "beep":
                self.assertLess(np.ptp(pitch), 0.15, clip.clip_id)
            else:
                self.assertGreater(np.ptp(pitch), 0.5, clip.clip_id)

    def test_a_subset_depends_on_its_order_and_seed_only(self):
        names = ["bell", "hum"]
        a = list(synth_sfx.generate(9, 8000, 512, seed=3, classes=names))
        b = list(synth_sfx.generate(5, 8000, 512, seed=3, classes=names))
        for x, y in zip(b, a):
            self.assertEqual(x.audio.tobytes(), y.audio.tobytes())
            self.assertEqual((x.caption, x.label, x.clip_id), (y.caption, y.label, y.clip_id))
        # Reversed: the same block permutations of indices, so each label names the other class.
        swapped = list(synth_sfx.generate(9, 8000, 512, seed=3, classes=names[::-1]))
        self.assertEqual([c.label for c in swapped], [c.label for c in a])
        self.assertEqual([names[::-1][c.label] for c in swapped], [names[1 - c.label] for c in a])

    def test_one_class_is_a_subset(self):
        clips = list(synth_sfx.generate(3, 8000, 256, seed=0, classes=("chirp",)))
        self.assertEqual([c.label for c in clips], [0, 0, 0])
        self.assertTrue(all(c.clip_id.startswith("synth-chirp-") for c in clips))

    def test_describe_a_subset(self):
        names = ["siren", "beep"]
        card = synth_sfx.describe(names)
        self.assertEqual(card["classes"], names)
        self.assertEqual(card["captions"], {n: synth_sfx.CAPTIONS[n] for n in names})
        self.assertEqual(list(card["captions"]), names)
        self.assertEqual(card["subset_of"], synth_sfx.CLASSES)
        self.assertEqual(card["license"], synth_sfx.LICENSE)
        card["classes"].append("oops")
        card["captions"]["beep"].append("oops")
        self.assertEqual(names, ["siren", "beep"])
        self.assertNotIn("oops", synth_sfx.CAPTIONS["beep"])

    @parameterized.named_parameters(
        ("unknown", ["beep", "kazoo", "gong"], r"unknown class\(es\) \['kazoo', 'gong'\]"),
        ("repeated", ["siren", "beep", "siren"], r"repeated class\(es\) \['siren'\]"),
        ("empty", [], r"classes is empty"),
        ("a_string", "beep", r"a list of class names, not the string 'beep'"),
        ("not_a_name", ["beep", 3], r"unknown class\(es\) \[3\]"),
    )
    def test_bad_subsets_are_refused_at_call(self, classes, pattern):
        known = re.escape(f"known: {synth_sfx.CLASSES}")
        for call in (lambda: synth_sfx.generate(4, classes=classes),
                     lambda: synth_sfx.describe(classes),
                     lambda: synth_sfx.check_classes(classes)):
            with self.assertRaisesRegex(ValueError, pattern) as raised:
                call()
            self.assertRegex(str(raised.exception), known)

    def test_fundamental_range_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown class 'kazoo'"):
            synth_sfx.fundamental_range("kazoo", 16000)
        with self.assertRaisesRegex(ValueError, "sample_rate"):
            synth_sfx.fundamental_range("beep", 10)
        self.assertIsNone(synth_sfx.fundamental_range("noise burst", 16000))


if __name__ == "__main__":
    absltest.main()
