"""The clips of a run as numbers, for reading what it makes (issue 8, session 5).

  python -m experiments.scratch.listen <run dir> [<step>]

For some captions and three z (seeds 0-2), prints each clip's peak and its dominant
frequency per 32 ms frame (frames below a quarter of the clip's loudest RMS shown as
'.'): a sweep shows as a rising or falling run, a beep as a steady one.

README (third search) quotes it on D-seed0-zc_g05_zd2 (seed 0's siren warbling
between about 900 and 1,800 Hz, bells near 300 Hz, whistles as tone bursts at
1.5-2.5 kHz with no sweep). It needs that trained run directory
(work_data/runs/synth-spectral/<name>) and its text encoder, which are not committed.
"""

from __future__ import annotations

import numpy as np

from condgan.training.inference import load_generator
from experiments.scratch import _common

CAPTIONS = ["a short beeping tone", "a tone sweeping upwards", "an upward sliding whistle",
            "a tone sweeping downwards", "a siren wailing", "a bell ringing", "a laser zap",
            "a bird chirping"]
FRAME = 256


def main(argv=None) -> None:
    p = _common.parser(__doc__, step=False, data_root=False)
    p.add_argument("step", type=int, nargs="?", default=None,
                   help="read checkpoints/ckpt-<step> instead of the newest")
    args = p.parse_args(argv)
    gen = load_generator(args.run, checkpoint=_common.checkpoint(args.run, args.step))
    for caption in CAPTIONS:
        print(caption)
        for seed in range(3):
            audio, sr = gen([caption], seed)
            x = audio[0]
            frames = np.stack([x[i * FRAME:(i + 1) * FRAME] for i in range(len(x) // FRAME - 1)])
            spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1))
            rms = np.sqrt((frames**2).mean(1))
            loud = rms > 0.25 * rms.max()
            peak_hz = spec.argmax(1) * sr / FRAME
            trajectory = " ".join(f"{int(p):4d}" if on else "   ." for p, on in zip(peak_hz, loud))
            print(f"  z{seed} peak {np.abs(x).max():.2f} Hz per 32 ms (loud frames): {trajectory}")


if __name__ == "__main__":
    main()
