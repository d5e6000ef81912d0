"""Can the spectral generator's representation carry the glides? (issue 8, session 8)

  python -m experiments.scratch.resynth_probe [--data_root=work_data/data]

The real test clips of the synth set, analysed into (log-magnitude, IF) frames of the
generator's 256/64 STFT (`condgan.nets.spectral.analysis`) and synthesised back with
`condgan.nets.spectral.SpectralSynthesis` (the generator's last step, a tanh) three
ways: exact (their own IF), IF = 0 (every bin at its centre frequency: what the
generator emits at initialisation) and random IF. Scored by the synth classifier per
class, beside the real clips and tanh of them. If the IF = 0 clips of the whistles and
sirens are still heard as themselves, the generator's failure to make them is not the
phase part of its output. Also prints how close the exact frames come to the real clips
before the tanh (arctanh of the synthesis) and the median peak of each class.

docs/second-base.md, sixth search (and README), quotes its table (e.g. IF = 0: rising
whistle 1.00, siren 0.10; tanh(real): clicks 0.00, chirps 0.67), "to 2e-5 before the
tanh" and the peaks (0.64-0.82). Needs only the synth data and classifier of `python
-m experiments.ablation setup --dataset=synth`. The table's soft-clip column came from
the retired model.output_squash switch: it lives at the git tag retired-ideas-2026-12.
"""

from __future__ import annotations

import os

import numpy as np

from condgan import data
from condgan.evaluation.classifier import Classifier
from condgan.nets.spectral import SpectralSynthesis, analysis
from experiments.scratch import _common

FRAME, HOP = 256, 64


def main(argv=None) -> None:
    args = _common.parser(__doc__, run=False, step=False).parse_args(argv)
    split = data.load_split_arrays(os.path.join(args.data_root, "synth"), "test")
    clf = Classifier.load(os.path.join(args.data_root, "synth-classifier"))
    audio, labels = split["audio"], split["labels"]
    frames = [analysis(x, FRAME, HOP) for x in audio]
    logmag = np.stack([f[0] for f in frames])
    inst = np.stack([f[1] for f in frames])
    synth = SpectralSynthesis(audio.shape[1], FRAME, HOP)
    rng = np.random.default_rng(0)
    exact = synth(logmag, inst).numpy()[..., 0]
    before_tanh = np.arctanh(exact.astype(np.float64))
    print(f"own IF, before the tanh: max |clip - real| {np.abs(before_tanh - audio).max():.1e}")
    variants = {"real": audio,
                "tanh(real)": np.tanh(audio),
                "exact IF": exact,
                "IF = 0": synth(logmag, np.zeros_like(inst)).numpy()[..., 0],
                "random IF": synth(logmag, rng.uniform(-1, 1, inst.shape).astype("float32")).numpy()[..., 0]}
    names = clf.classes
    peaks = np.abs(audio).max(1)
    print("median peak per class: " + ", ".join(f"{n} {np.median(peaks[labels == c]):.2f}"
                                                for c, n in enumerate(names)))
    print("class             " + "  ".join(f"{k:>9s}" for k in variants))
    preds = {k: clf.predict(v)[1].argmax(1) for k, v in variants.items()}
    for c, name in enumerate(names):
        m = labels == c
        print(f"{name:17s} " + "  ".join(f"{np.mean(p[m] == c):9.2f}" for p in preds.values()))
    print(f"{'all':17s} " + "  ".join(f"{np.mean(p == labels):9.2f}" for p in preds.values()))


if __name__ == "__main__":
    main()
