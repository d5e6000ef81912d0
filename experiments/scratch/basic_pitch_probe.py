"""Does a frozen pitch model's salience separate the pitch subset's classes, and what
would it cost per step? (issue 19 item 5's gate)

  python -m experiments.scratch.basic_pitch_probe --basic_pitch=<wheel or dir>
      [--data_dir=work_data/data/synth-pitch] [--seeds=0,1] [--rounds=5]

The gate of a Projected-GAN style frozen pitch critic (arXiv:2111.01007): go ahead only
if a linear probe on the frozen model's salience features separates the four classes of
the real clips (beep, rising whistle, falling whistle, siren) at 0.95 or better.

The frozen model is Spotify's Basic Pitch (ICASSP 2022, Apache-2.0): the TF SavedModel
inside the PyPI wheel basic-pitch 0.4.0. Nothing is downloaded here: get the wheel with
`pip download basic-pitch==0.4.0 --no-deps -d /tmp/bp` (it pins an old TensorFlow, so do
not install it) and pass the .whl, the directory it was unzipped to, or the SavedModel
directory (basic_pitch/saved_models/icassp_2022/nmp) as --basic_pitch. The SavedModel
loads with this project's TensorFlow (tf.saved_model.load, signature serving_default).

Each clip (8 kHz, 4,096 samples) is resampled to 22,050 Hz (scipy resample_poly, 441/160)
and windowed as basic_pitch/inference.py does: 15 frames (3,840 samples) of zeros before
it, zero-padded to the model's fixed 43,844 samples; the clip's frames are the outputs'
frames 15 ... 15 + floor(samples * 86 / 22,050) (44 frames). Maps: the contour salience
(frames x 264 bins, 3 per semitone from 27.5 Hz) and the note salience (frames x 88); as
the control, the same readouts of the spectral critic's own input, no pretrained model:
log |STFT| 256/64 (`condgan.nets.spectral.log_magnitude`) and its 64-band log-mel
(item 4's `LogMelSTFT`). Readouts of each map: flat (frames x bins); pooled (mean and
max over time per bin, and per frame the argmax bin and the peak); autocorr. (the map's
2-D autocorrelation at time lags 1, 2, 4, 8 frames and bin shifts -24 ... 24, the same
wherever the sound sits in time and pitch: `autocorrelation`). The probe is a softmax
regression (one linear layer, no hidden layer) on standardised features, full-batch
Adam, settings fixed beforehand (L2 1e-3, 600 steps, lr 0.01; none tuned on the test
split), trained on the card's train split (720) and scored on its test split (80), one
run per --seeds init.

The cost: the frozen forward pass's FLOPs per window (TF's profiler) beside the recipe's
analytic step FLOPs (`condgan.training.benchmarks.train_step_flops`), and timed
interleaved with one training step of the pitch subset's recipe
(experiments/configs/synth-pitch.json, `benchmarks.make_train_step`): the frozen
model's forward pass on 1 clip and on a batch of the recipe's size (one clip per window,
as the package pads), and forward + gradient to the input on the batch (what G's step
would add), in a tf.function. The timings are only as good as the machine is idle; the
FLOPs are not.
"""

from __future__ import annotations

import argparse
import fractions
import os
import pathlib
import tempfile
import time
import zipfile

import numpy as np
import tensorflow as tf
from scipy.signal import resample_poly
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from condgan import data, records
from condgan.config import Config
from condgan.nets.spectral import LogMelSTFT, log_magnitude
from condgan.training import benchmarks
from condgan.training.bench_cli import _spec_config
from experiments.scratch import _common

MODEL_IN_PACKAGE = "basic_pitch/saved_models/icassp_2022/nmp"
# basic_pitch/constants.py and inference.py of 0.4.0.
SAMPLE_RATE = 22050
FFT_HOP = 256
FPS = SAMPLE_RATE // FFT_HOP  # 86: the package's ANNOTATIONS_FPS (the true rate is 86.13)
N_SAMPLES = SAMPLE_RATE * 2 - FFT_HOP  # AUDIO_N_SAMPLES, 43,844
OVERLAP_FRAMES = 30  # run_inference's n_overlapping_frames; half of them are zeros before the clip
LEAD_FRAMES = OVERLAP_FRAMES // 2
# The control's maps: the spectral critic's input (condgan.nets.spectral) and item 4's mel axis.
STFT_FRAME, STFT_HOP, MEL_BANDS = 256, 64, 64


def savedmodel_dir(path: str, scratch: str) -> str:
    """The SavedModel directory of `path`: a basic-pitch wheel (extracted into `scratch`),
    a directory it was unzipped to, or the SavedModel directory itself."""
    p = pathlib.Path(path)
    if p.is_file():
        if not zipfile.is_zipfile(p):
            raise SystemExit(f"--basic_pitch={path}: not a wheel (zip) file")
        with zipfile.ZipFile(p) as z:
            members = [n for n in z.namelist() if n.startswith(MODEL_IN_PACKAGE + "/")]
            if not members:
                raise SystemExit(f"--basic_pitch={path}: the wheel holds no {MODEL_IN_PACKAGE}/ "
                                 "(is it basic-pitch 0.4.0?)")
            z.extractall(scratch, members)
        return os.path.join(scratch, MODEL_IN_PACKAGE)
    for cand in (p, p / MODEL_IN_PACKAGE):
        if (cand / "saved_model.pb").is_file():
            return str(cand)
    raise SystemExit(f"--basic_pitch={path}: neither the basic-pitch 0.4.0 wheel, nor a directory holding "
                     f"saved_model.pb or {MODEL_IN_PACKAGE}/saved_model.pb. Get the wheel with "
                     "`pip download basic-pitch==0.4.0 --no-deps -d /tmp/bp` (nothing is downloaded here).")


def dir_bytes(path: str) -> dict[str, int]:
    """Bytes of every file under `path`, by path relative to it."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            out[os.path.relpath(full, path)] = os.path.getsize(full)
    return out


def windows(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """(float32[N, N_SAMPLES, 1] windows as inference.py pads them, frames per clip)."""
    ratio = fractions.Fraction(SAMPLE_RATE, sample_rate)
    y = resample_poly(audio.astype(np.float64), ratio.numerator, ratio.denominator, axis=1)
    start = LEAD_FRAMES * FFT_HOP
    if start + y.shape[1] > N_SAMPLES:
        raise SystemExit(f"clips of {y.shape[1]} samples at {SAMPLE_RATE} Hz do not fit one window")
    out = np.zeros((len(y), N_SAMPLES, 1), np.float32)
    out[:, start:start + y.shape[1], 0] = y
    return out, int(np.floor(y.shape[1] * FPS / SAMPLE_RATE))


def salience(model_fn, audio: np.ndarray, sample_rate: int, batch: int = 32) -> dict[str, np.ndarray]:
    """{"contour": float32[N, T, 264], "note": [N, T, 88], "onset": [N, T, 88]} over each clip's frames."""
    win, frames = windows(audio, sample_rate)
    parts: dict[str, list] = {}
    for i in range(0, len(win), batch):
        for k, v in model_fn(tf.constant(win[i:i + batch])).items():
            parts.setdefault(k, []).append(v.numpy()[:, LEAD_FRAMES:LEAD_FRAMES + frames])
    return {k: np.concatenate(v) for k, v in parts.items()}


def pooled(m: np.ndarray) -> np.ndarray:
    """[N, T, F] -> [N, 2F + 2T]: mean and max over time per bin, argmax bin and peak per frame."""
    return np.concatenate([m.mean(1), m.max(1), m.argmax(2), m.max(2)], axis=1)


def autocorrelation(m: np.ndarray, lags=(1, 2, 4, 8), shifts: int = 24) -> np.ndarray:
    """[N, T, F] -> [N, len(lags) (2 shifts + 1)]: the map's 2-D autocorrelation, sum over t, f of
    m'[t, f] m'[t + lag, f + shift] (m' = m minus its clip's minimum), each lag's row summed to 1.

    The same wherever in time and pitch the sound sits: a glide up puts its weight at positive
    shifts, a glide down at negative ones, a steady tone at 0.
    """
    m = m - m.min((1, 2), keepdims=True)
    n_bins = m.shape[2]
    rows = []
    for lag in lags:
        a, c = m[:, :-lag], m[:, lag:]
        row = np.stack([(a[:, :, :n_bins - s] * c[:, :, s:]).sum((1, 2)) if s >= 0
                        else (a[:, :, -s:] * c[:, :, :n_bins + s]).sum((1, 2))
                        for s in range(-shifts, shifts + 1)], axis=1)
        rows.append(row / row.sum(1, keepdims=True))
    return np.concatenate(rows, axis=1)


def probe(x_train, y_train, x_test, n_classes: int, seed: int, steps: int = 600, lr: float = 0.01,
          l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression (W, b) on standardised features, full-batch Adam, L2 on W.

    Returns:
      (train predictions, test predictions), int[N] each.
    """
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, t = (x_train - mu) / sd, (x_test - mu) / sd
    rng = np.random.default_rng(seed)
    params = [rng.normal(0.0, 0.01, (a.shape[1], n_classes)), np.zeros(n_classes)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    onehot = np.eye(n_classes)[y_train]
    for i in range(1, steps + 1):
        logits = a @ params[0] + params[1]
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(a)
        grads = [a.T @ g + l2 * params[0], g.sum(0)]
        for prm, grd, mom in zip(params, grads, moments):
            mom[0] = 0.9 * mom[0] + 0.1 * grd
            mom[1] = 0.999 * mom[1] + 0.001 * grd ** 2
            prm -= lr * (mom[0] / (1 - 0.9 ** i)) / (np.sqrt(mom[1] / (1 - 0.999 ** i)) + 1e-8)
    return (a @ params[0] + params[1]).argmax(1), (t @ params[0] + params[1]).argmax(1)


def forward_flops(model_fn) -> int:
    """FLOPs of the frozen model's forward pass on one window (TF's profiler on the frozen graph)."""
    concrete = tf.function(model_fn).get_concrete_function(tf.TensorSpec([1, N_SAMPLES, 1], tf.float32))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def timing(model_fn, config: Config, rounds: int) -> dict[str, dict]:
    """Interleaved ms of the pitch subset's training step and of the frozen model."""
    step, _ = benchmarks.make_train_step(config)
    batch_size = config.train.batch_size
    rng = np.random.default_rng(0)
    one = tf.constant(rng.uniform(-0.5, 0.5, (1, N_SAMPLES, 1)).astype(np.float32))
    many = tf.constant(rng.uniform(-0.5, 0.5, (batch_size, N_SAMPLES, 1)).astype(np.float32))
    fwd = tf.function(lambda x: model_fn(x)["contour"])

    @tf.function
    def fwd_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(model_fn(x)["contour"])
        return tape.gradient(loss, x)

    variants = {"train step": step, "frozen fwd, 1 clip": lambda: fwd(one).numpy(),
                f"frozen fwd, {batch_size} clips": lambda: fwd(many).numpy(),
                f"frozen fwd+grad, {batch_size} clips": lambda: fwd_grad(many).numpy()}
    return benchmarks.interleaved(variants, rounds=rounds)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--basic_pitch", required=True,
                   help="the basic-pitch 0.4.0 wheel (.whl), the directory it was unzipped to, or its "
                        f"SavedModel directory ({MODEL_IN_PACKAGE})")
    p.add_argument("--data_dir", default=os.path.join(_common.DATA_ROOT, "synth-pitch"),
                   help="the prepared pitch subset (default: %(default)s)")
    p.add_argument("--seeds", default="0,1", help="probe inits (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds, 0: no timing (default: %(default)s)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]

    with tempfile.TemporaryDirectory() as scratch:
        path = savedmodel_dir(args.basic_pitch, scratch)
        sizes = dir_bytes(path)
        model = tf.saved_model.load(path)
    fn = model.signatures["serving_default"]
    (name, spec), = fn.structured_input_signature[1].items()
    print(f"SavedModel {path}: {sum(sizes.values()):,} bytes ("
          + ", ".join(f"{k} {v:,}" for k, v in sorted(sizes.items())) + "); "
          f"{sum(int(np.prod(v.shape)) for v in model.variables):,} weights")
    print(f"input {name} {spec.shape} {spec.dtype.name}; outputs "
          + ", ".join(f"{k} {v.shape}" for k, v in sorted(fn.structured_outputs.items()))
          + f"; {SAMPLE_RATE / FFT_HOP:.2f} frames/s (hop {FFT_HOP})")
    if tuple(spec.shape[1:]) != (N_SAMPLES, 1):
        raise SystemExit(f"the SavedModel takes {spec.shape}, not [None, {N_SAMPLES}, 1]: "
                         "not basic-pitch 0.4.0?")

    def model_fn(x):
        return fn(**{name: x})

    splits = {s: data.load_split_arrays(args.data_dir, s) for s in ("train", "test")}
    classes = list(records.load_card(args.data_dir).classes)
    sr = splits["train"]["sample_rate"]
    start = time.perf_counter()
    sal = {s: salience(model_fn, d["audio"], sr) for s, d in splits.items()}
    n_clips = sum(len(d["audio"]) for d in splits.values())
    counts = ", ".join(f"{s} {len(d['audio'])}" for s, d in splits.items())
    print(f"{n_clips} clips ({counts}; the card's "
          f"split) at {sr} Hz, {splits['train']['audio'].shape[1]} samples -> "
          f"{sal['train']['contour'].shape[1]} frames each; salience in {time.perf_counter() - start:.0f} s")
    y_train, y_test = splits["train"]["labels"], splits["test"]["labels"]
    for k in ("contour", "note"):
        peak = sal["test"][k].max((1, 2))
        print(f"{k} peak salience per test clip, median by class: "
              + ", ".join(f"{c} {np.median(peak[y_test == i]):.2f}" for i, c in enumerate(classes)))

    # The control: the same readouts of the spectral critic's own input (log |STFT| 256/64, and
    # the 64-band log-mel of item 4), no pretrained model.
    mel_layer = LogMelSTFT(STFT_FRAME, STFT_HOP, sr, MEL_BANDS)
    maps = {"contour": {s: v["contour"] for s, v in sal.items()},
            "note": {s: v["note"] for s, v in sal.items()},
            "log-STFT": {s: log_magnitude(d["audio"], STFT_FRAME, STFT_HOP).numpy()
                         for s, d in splits.items()},
            "log-mel": {s: mel_layer(d["audio"][..., None]).numpy()[..., 0] for s, d in splits.items()}}
    readouts = {"flat": lambda m: m.reshape(len(m), -1), "pooled": pooled, "autocorr.": autocorrelation}
    per_class_n = ", ".join(f"{c} {n}" for c, n in zip(classes, np.bincount(y_test)))
    print(f"\nlinear probe, scored on the test split ({per_class_n})")
    print(f"{'features':20s} {'dim':>6s} seed  train   test  " + "  ".join(f"{c:>15s}" for c in classes))
    for map_name, split_maps in maps.items():
        for readout, fn_ in readouts.items():
            x_train, x_test = fn_(split_maps["train"]), fn_(split_maps["test"])
            for seed in seeds:
                pred_train, pred_test = probe(x_train, y_train, x_test, len(classes), seed)
                per_class = [np.mean(pred_test[y_test == i] == i) for i in range(len(classes))]
                print(f"{map_name + ', ' + readout:20s} {x_train.shape[1]:6d} {seed:4d} "
                      f"{np.mean(pred_train == y_train):6.3f} {np.mean(pred_test == y_test):6.3f}  "
                      + "  ".join(f"{a:15.2f}" for a in per_class))

    config = Config.from_dict(_spec_config(pathlib.Path(_common.ROOT) / "experiments" / "configs"
                                           / "synth-pitch.json"))
    batch = config.train.batch_size
    window = forward_flops(model_fn)
    step_flops = benchmarks.train_step_flops(config)["total"]
    # Frozen: G's step needs the input gradient only (about one more forward); the real clips'
    # features can be cached, so a step needs D's forward on the fakes and G's forward + gradient.
    print(f"\nFLOPs: frozen forward {window / 1e9:.2f} GFLOP per window, "
          f"{batch * window / 1e9:.1f} per batch of {batch}; the recipe's step {step_flops / 1e9:.1f} "
          "GFLOP; 3 forwards a step (D on the fakes, "
          f"G forward + input gradient) = {3 * batch * window / step_flops:.1f}x the step's FLOPs")
    if args.rounds > 0:
        result = timing(model_fn, config, args.rounds)
        base = result["train step"]["median_ms"]
        print(f"cost, interleaved, {args.rounds} rounds (median ms, p10-p90; ratio to the train step):")
        for k, r in result.items():
            print(f"  {k:28s} {r['median_ms']:8.1f}  ({r['p10_ms']:.0f}-{r['p90_ms']:.0f})  "
                  f"{r['median_ms'] / base:5.2f}x")

if __name__ == "__main__":
    main()
