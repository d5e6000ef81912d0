"""Issue 8, session 8: can the spectral generator's representation carry the glides?

  python experiments/scratch/resynth_probe.py [<data root>]

The 240 real test clips of the synth set, analysed into (log-magnitude, IF) frames
of the generator's 256/64 STFT (condgan.spectral.analysis) and synthesised back
with condgan.spectral.SpectralSynthesis three ways: exact (their own IF), IF = 0
(every bin at its centre frequency: what the generator emits at initialisation),
and random IF (all through the generator's tanh), and the exact frames through
the soft clip (`model.output_squash=soft_clip`). Scored by the synth classifier
per class, beside tanh of the real clips. If the IF = 0 clips of
the whistles and sirens are still heard as themselves, the generator's failure
to make them is not the phase part of its output.
"""
import os
import sys

import numpy as np

from condgan import data, spectral
from condgan.evaluation.classifier import Classifier

root = sys.argv[1] if len(sys.argv) > 1 else "work_data/data"
split = data.load_split_arrays(os.path.join(root, "synth"), "test")
clf = Classifier.load(os.path.join(root, "synth-classifier"))
audio, labels = split["audio"], split["labels"]
length = audio.shape[1]
frames = [spectral.analysis(x, 256, 64) for x in audio]
logmag = np.stack([f[0] for f in frames])
inst = np.stack([f[1] for f in frames])
synth = spectral.SpectralSynthesis(length, 256, 64)
rng = np.random.default_rng(0)
raw = spectral.SpectralSynthesis(length, 256, 64, squash=False)(logmag, inst).numpy()[..., 0]
print(f"own IF, before the squash: max |clip - real| {np.abs(raw - audio).max():.1e}")
variants = {"real": audio,
            "tanh(real)": np.tanh(audio),
            "exact IF": synth(logmag, inst).numpy()[..., 0],
            "soft clip": spectral.SpectralSynthesis(length, 256, 64, squash="soft_clip")(
                logmag, inst).numpy()[..., 0],
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
