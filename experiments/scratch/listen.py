"""Scratch (session 5): the clips of a run as numbers, for reading what it makes.

For some captions and three z, prints each clip's peak and its dominant
frequency per 32 ms frame (frames below a quarter of the clip's loudest RMS
shown as '.'): a sweep shows as a rising or falling run, a beep as a steady one.

  python experiments/scratch/listen.py <run dir>   (from a snapshot of the repository)
"""
import os
import sys

sys.path.insert(0, os.environ.get("CODE", "."))
import numpy as np  # noqa: E402

from condgan.training.inference import load_generator  # noqa: E402

CAPTIONS = ["a short beeping tone", "a tone sweeping upwards", "an upward sliding whistle",
            "a tone sweeping downwards", "a siren wailing", "a bell ringing", "a laser zap",
            "a bird chirping"]
FRAME = 256

gen = load_generator(sys.argv[1])
for caption in CAPTIONS:
    print(caption)
    for seed in range(3):
        audio, sr = gen([caption], seed)
        x = audio[0]
        frames = np.stack([x[i * FRAME:(i + 1) * FRAME] for i in range(len(x) // FRAME - 1)])
        spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1))
        rms = np.sqrt((frames ** 2).mean(1))
        loud = rms > 0.25 * rms.max()
        peak_hz = spec.argmax(1) * sr / FRAME
        trajectory = " ".join(f"{int(p):4d}" if on else "   ." for p, on in zip(peak_hz, loud))
        print(f"  z{seed} peak {np.abs(x).max():.2f} Hz per 32 ms (loud frames): {trajectory}")
