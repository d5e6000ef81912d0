"""Measuring code of `condgan-bench`: matmul peaks, training steps, input pipeline, serving.

Part of the app (`condgan.training`), not of the library: it builds the Trainer's
step (`condgan.training.trainer`). The PyTorch WaveGAN peer it is compared with
lives outside the package, in experiments/bench/torch_wavegan.py (a checkout only).

Everything here measures one thing in the calling process and returns plain
dicts of numbers; `condgan.training.bench_cli` runs each measurement in its own
subprocess (so its peak resident memory is that of the measurement alone),
puts them side by side and writes the files. Conventions:

- Times are wall-clock seconds of `time.perf_counter`; a compiled
  `tf.function` call on the CPU returns when its work is done, so a call's time
  is its step's time. The first `warmup` calls (tracing, oneDNN primitive
  creation, allocator growth) are excluded; medians are reported.
- FLOPs are counted analytically (`layer_forward_flops`, `train_step_flops`):
  one multiply-add is 2 FLOPs, only dense layers, convolutions and FFTs are
  counted (bias adds, activations, phase shuffle, the optimizer's updates are
  left out; on WaveGAN's networks they are under 1 % of the count, see
  tests/test_bench.py, which checks the count against the TF profiler).
"""

from __future__ import annotations

import collections
import glob
import json
import math
import os
import platform
import resource
import statistics
import tempfile
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401 (registers the tokenizer ops of the exported text encoder)
from keras import ops
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from condgan import data, precision, records, seeds
from condgan.config import Config
from condgan.export import export_generator
from condgan.method import CondAugment, TextProjection, build_conditioner
from condgan.nets import build_discriminator, build_generator
from condgan.nets.film import FiLM
from condgan.nets.phase_shuffle import PhaseShuffle
from condgan.nets.projection import InnerProduct
from condgan.nets.spectral import LogMagnitudeSTFT, SpectralSynthesis
from condgan.seeds import derive_seed
from condgan.training.trainer import Trainer, build_gan

# --- the machine -------------------------------------------------------------------------


def other_runnable_processes(samples: int = 20, interval: float = 0.05) -> float | None:
    """Mean count of runnable processes besides this one, from /proc/stat's procs_running.

    Returns None where /proc/stat is unreadable (not Linux).
    """
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/stat", encoding="utf-8") as f:
                running = next(int(line.split()[1]) for line in f
                               if line.startswith("procs_running"))
        except (OSError, StopIteration, ValueError):
            return None
        counts.append(max(running - 1, 0))  # this process is running while it reads
        time.sleep(interval)
    return sum(counts) / len(counts)


def machine_info() -> dict:
    """CPU count, load average, CPU model and flags of interest, library versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = precision.cpu_flags()
    load1, load5, load15 = os.getloadavg()
    others = other_runnable_processes()
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "bf16_flags": sorted(flags & {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f"}),
        "loadavg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        # Mean number of other runnable processes at the start (None off Linux): the
        # 1-minute load average still counts a job that ended a minute ago.
        "other_runnable": None if others is None else round(others, 2),
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def set_threads(intra: int, inter: int) -> None:
    """TensorFlow's intra- and inter-op thread pools (before this process runs an op)."""
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def summarize(seconds: list[float]) -> dict:
    """Median, 10th and 90th percentile of call times, in milliseconds."""
    ms = sorted(1000.0 * s for s in seconds)
    return {"median_ms": statistics.median(ms), "p10_ms": ms[int(0.1 * (len(ms) - 1))],
            "p90_ms": ms[int(math.ceil(0.9 * (len(ms) - 1)))], "calls": len(ms)}


def time_calls(fn: Callable[[], object], calls: int, warmup: int) -> list[float]:
    """Seconds of each of `calls` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved(variants: dict[str, Callable[[], object]], rounds: int,
                warmup: int = 2) -> dict[str, dict]:
    """Times several variants of one thing alternately (A B A B ...), so that a
    shared machine's load hits all of them alike.

    Returns:
      {name: summarize(times)} plus, for every name after the first,
      "ratio_to_first": median(first) / median(this) (> 1: faster than the first).
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    out = {name: summarize(t) for name, t in times.items()}
    first = out[next(iter(variants))]["median_ms"]
    for name in list(variants)[1:]:
        out[name]["speedup_vs_first"] = first / out[name]["median_ms"]
    return out


# --- matmul peaks ------------------------------------------------------------------------


def matmul_peak(dtype: str = "float32", n: int = 2048, calls: int = 10, warmup: int = 3) -> dict:
    """GFLOP/s of an n x n by n x n `tf.matmul` (2 n^3 FLOPs) in `dtype`, compiled.

    Returns:
      {"gflops": at the median time, "median_ms": ..., "n": n, "dtype": dtype}.
    """
    rng = np.random.default_rng(0)
    a = tf.cast(tf.constant(rng.normal(size=(n, n)).astype(np.float32)), dtype)
    b = tf.cast(tf.constant(rng.normal(size=(n, n)).astype(np.float32)), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)[:1, :1]))
    stats = summarize(time_calls(lambda: matmul(a, b).numpy(), calls, warmup))
    return {"gflops": 2 * n ** 3 / (stats["median_ms"] / 1000.0) / 1e9, "n": n, "dtype": dtype,
            **stats}


# --- analytic FLOP count -----------------------------------------------------------------


def _fft_flops(n: int) -> float:
    """FLOPs of one real FFT (or inverse) of length n: 2.5 n log2 n (half a complex FFT's
    5 n log2 n, the usual radix-2 count)."""
    return 2.5 * n * math.log2(n)


def layer_forward_flops(layer, input_shape, output_shape) -> float:
    """Forward FLOPs of one Keras layer for ONE example (2 per multiply-add).

    Counted: Dense (2 * in * out per position), Conv1D (2 K Cin Cout per output
    step), Conv1DTranspose (2 K Cin Cout per input step), Conv2D (2 kh kw Cin
    Cout per output pixel), the dense layers inside condgan's CondAugment,
    TextProjection and FiLM (FiLM's scale and shift: 2 per element of x),
    InnerProduct (2 per element), `SpectralNormalization` as the layer it
    wraps (its power iteration, two matrix-vector products, is counted too),
    and the FFTs of `condgan.nets.spectral` (2.5 N log2 N per frame; the window and
    the magnitude/phase arithmetic are not counted). Every other layer is 0.

    Args:
      layer: a built Keras layer.
      input_shape: its input shape with the batch axis (a list of shapes for
        several inputs).
      output_shape: its output shape with the batch axis.

    Returns:
      float FLOPs for one example.
    """
    def positions(shape) -> int:
        return int(np.prod([d for d in shape[1:-1]])) if len(shape) > 2 else 1

    if isinstance(layer, keras.layers.SpectralNormalization):
        kernel = layer.layer.kernel.shape
        rows = int(np.prod(kernel[:-1]))
        return layer_forward_flops(layer.layer, input_shape, output_shape) + 4 * rows * kernel[-1]
    if isinstance(layer, keras.layers.Dense):
        return 2.0 * input_shape[-1] * layer.units * positions(input_shape)
    if isinstance(layer, keras.layers.Conv1DTranspose):
        k = layer.kernel_size[0]
        return 2.0 * k * input_shape[-1] * layer.filters * input_shape[1]
    if isinstance(layer, keras.layers.Conv1D):
        k = layer.kernel_size[0]
        return 2.0 * k * input_shape[-1] * layer.filters * output_shape[1] / layer.groups
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return (2.0 * kh * kw * input_shape[-1] * layer.filters * output_shape[1] * output_shape[2]
                / layer.groups)
    if isinstance(layer, CondAugment):
        return 2.0 * input_shape[-1] * 2 * layer.dim
    if isinstance(layer, TextProjection):
        return 2.0 * input_shape[-1] * layer.dim
    if isinstance(layer, FiLM):
        x_shape, c_shape = input_shape
        return 2.0 * c_shape[-1] * 2 * layer.channels + 2.0 * int(np.prod(x_shape[1:]))
    if isinstance(layer, InnerProduct):
        return 2.0 * int(np.prod(input_shape[0][1:]))
    if isinstance(layer, LogMagnitudeSTFT):
        return output_shape[1] * _fft_flops(layer.frame)
    if isinstance(layer, SpectralSynthesis):
        return layer.frames * _fft_flops(layer.frame)
    return 0.0


def model_forward_flops(model) -> float:
    """Forward FLOPs of a functional Keras model for one example (sum of
    `layer_forward_flops` over its layers; nested functional models recurse)."""
    def shape(t):
        if isinstance(t, (list, tuple)):
            return [tuple(x.shape) for x in t]
        return tuple(t.shape)

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            total += model_forward_flops(layer)
            continue
        for node in layer._inbound_nodes:  # pylint: disable=protected-access
            inputs = node.input_tensors
            in_shape = shape(inputs[0]) if len(inputs) == 1 else shape(inputs)
            total += layer_forward_flops(layer, in_shape, shape(node.output_tensors[0]))
    return total


# G terms that make a second fake from a second z (`Step.fake_2`), and those that read the
# critic's view of the real clips (`Step.real_audio_vectors`) in the generator update.
SECOND_FAKE_TERMS = ("mode_seeking", "z_diversity")
REAL_VIEW_TERMS = ("cond_contrastive",)


def train_step_flops(config: Config) -> dict:
    """Analytic FLOPs of one `CondGAN.gan_step` of `config`.

    With C, G, D the forward FLOPs per example of conditioner, generator and
    discriminator (`model_forward_flops`) and B the batch size, a backward pass
    costs twice its forward (input gradients + weight gradients):

    - one critic update: C + G forward (the fake, no gradient), D forward and
      backward on the real and the fake batch: 2 x 3D, plus 3D for the
      mismatched pairs (objective.params.adversarial.mismatch_share > 0), plus
      6D for WGAN-GP's penalty (d term gradient_penalty; its graph, D forward and
      the input gradient = 2D, differentiated again: 3 x 2D);
    - the generator update: C and G forward and backward (3C + 3G, plus 3G for
      the second fake of the terms in `SECOND_FAKE_TERMS`), D forward and its
      input gradient (2D; D's weight gradients are not asked for), plus D
      forward on the real clips for the terms in `REAL_VIEW_TERMS`.

    The terms' own arithmetic (InfoNCE logits, the z-diversity STFTs, the KL)
    is left out.

    Args:
      config: a validated `condgan.config.Config`.

    Returns:
      {"total": FLOPs of one step, "batch_size": B, "per_example": {"conditioner",
      "generator", "discriminator"} forward FLOPs, "critic_update",
      "generator_update"}.
    """
    m, t, objective = config.model, config.train, config.objective
    c = model_forward_flops(build_conditioner(m, seed=0))
    g = model_forward_flops(build_generator(m))
    d = model_forward_flops(build_discriminator(m, seed=derive_seed(0, 1)))
    d_terms, g_terms = objective.weights("d"), objective.weights("g")
    b = t.batch_size
    critic = c + g + 2 * 3 * d
    if "adversarial" in d_terms and objective.params.get("adversarial", {}).get(
            "mismatch_share", 0.0) > 0:
        critic += 3 * d
    if "gradient_penalty" in d_terms:
        critic += 6 * d
    gen = 3 * c + 3 * g + 2 * d
    if any(name in g_terms for name in SECOND_FAKE_TERMS):
        gen += 3 * g
    if any(name in g_terms for name in REAL_VIEW_TERMS):
        gen += d
    return {"total": b * (t.n_critic * critic + gen), "batch_size": b,
            "per_example": {"conditioner": c, "generator": g, "discriminator": d},
            "critic_update": b * critic, "generator_update": b * gen}


# --- training step -----------------------------------------------------------------------


def random_batch(model_config, batch_size: int, seed: int = 0):
    """(audio float32[B, L, 1] uniform in [-1, 1], unit-norm text float32[B, text_dim])."""
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-1, 1, (batch_size, model_config.length, 1)).astype(np.float32)
    text = rng.normal(size=(batch_size, model_config.text_dim)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return tf.constant(audio), tf.constant(text)


def make_train_step(config, jit_compile: bool = False, fused_d_pass: bool | None = None):
    """A zero-argument callable running one compiled training step of `config` on a
    fixed random batch.

    Args:
      config: a `condgan.config.Config`.
      jit_compile: compile with XLA instead of the Trainer's plain `tf.function`.
      fused_d_pass: sets `CondGAN.fused_d_pass` (None: leave the default).

    Returns:
      (step callable returning the step's values, the Trainer).
    """
    gan = build_gan(config)
    if fused_d_pass is not None:
        gan.fused_d_pass = bool(fused_d_pass)
    trainer = Trainer(gan)
    batch = random_batch(config.model, config.train.batch_size)
    if config.model.class_head:  # (audio, text, caption, label), as condgan.data's batches
        labels = np.arange(config.train.batch_size) % max(1, config.model.num_classes)
        batch = (*batch, tf.fill([config.train.batch_size], ""), tf.constant(labels, tf.int32))
    if jit_compile:
        compiled = tf.function(lambda a, t, inputs: gan.gan_step(a, t, **inputs), jit_compile=True)
        return (lambda: compiled(batch[0], batch[1], gan.step_inputs(batch))), trainer
    return (lambda: trainer.train_step(batch)), trainer


def train_step_benchmark(config, calls: int, warmup: int = 2, **step_kwargs) -> dict:
    """Times `make_train_step(config, **step_kwargs)`; adds examples/s and GFLOP/s.

    Returns:
      summarize(...) plus "examples_per_s", "steps_per_s", "gflop_per_step",
      "gflops" (achieved, at the median time) and "losses_finite".
    """
    step, _ = make_train_step(config, **step_kwargs)
    start = time.perf_counter()
    values = step()  # the first call traces: reported apart
    first = time.perf_counter() - start
    times = time_calls(step, calls, max(0, warmup - 1))
    stats = summarize(times)
    flops = train_step_flops(config)["total"]
    seconds = stats["median_ms"] / 1000.0
    values = step()
    return {**stats, "first_call_s": first, "steps_per_s": 1.0 / seconds,
            "examples_per_s": config.train.batch_size / seconds,
            "gflop_per_step": flops / 1e9, "gflops": flops / seconds / 1e9,
            "losses_finite": bool(all(np.isfinite(float(v)) for v in values.values()))}


def where_chain_phase_shuffle(layer, x, training=None):
    """`PhaseShuffle.call` (condgan.nets.phase_shuffle) as it was before issue 9: one
    `where` per possible shift (the A of the phase-shuffle speed attempt; the layer now
    uses one batched gather). Same output, same random stream."""
    if not training or layer.rad == 0:
        return x
    rad = layer.rad
    time_steps = ops.shape(x)[1]
    shifts = seeds.randint((ops.shape(x)[0], 1, 1), -rad, rad + 1, layer.seed_generator)
    padded = ops.pad(x, [[0, 0], [rad, rad], [0, 0]], mode="reflect")
    out = x
    for s in range(-rad, rad + 1):
        if s:
            shifted = ops.slice(padded, [0, rad - s, 0],
                                [ops.shape(x)[0], time_steps, ops.shape(x)[2]])
            out = ops.where(ops.equal(shifts, s), shifted, out)
    return out


def phase_shuffle_comparison(config, rounds: int) -> dict:
    """The step with `PhaseShuffle`'s batched gather against the same step traced with
    `where_chain_phase_shuffle` swapped in, interleaved."""
    gather_step, _ = make_train_step(config)
    gather_step()
    original = PhaseShuffle.call
    where_step, _ = make_train_step(config)
    PhaseShuffle.call = where_chain_phase_shuffle
    try:
        where_step()  # traces with the where chain
    finally:
        PhaseShuffle.call = original
    return interleaved({"where chain (before)": where_step,
                        "one gather (PhaseShuffle)": gather_step}, rounds)


def host_sync_comparison(config, steps: int, rounds: int) -> dict:
    """`steps` steps with the loop's per-step reads (the step counter and every value as
    a Python float, as `condgan.training.loop.train` does) against `steps` steps that
    read nothing, interleaved `rounds` times."""
    step, trainer = make_train_step(config)

    def with_reads():
        for _ in range(steps):
            values = step()
            int(trainer.step.numpy())
            {k: float(v) for k, v in values.items()}  # pylint: disable=expression-not-assigned

    def without_reads():
        for _ in range(steps):
            values = step()
        float(values["d_total"])  # one read at the end

    return interleaved({"read every step": with_reads, "no reads": without_reads}, rounds, 1)


def profile_train_step(config, calls: int = 3, top: int = 15) -> dict:
    """Op-type breakdown of `config`'s compiled training step from the TF profiler.

    Runs `calls` steps under `tf.profiler.experimental` (after two untraced
    warm-up steps) and sums the durations of the TensorFlow ops executed on
    the compute threads, by op type.

    Returns:
      {"step_ms": wall ms per profiled step, "op_ms_per_step": summed op time
      of all threads per step, "ops": [(op type, share of op time, ms per step)]
      for the `top` largest}.
    """
    step, _ = make_train_step(config)
    step()
    step()
    with tempfile.TemporaryDirectory(prefix="condgan_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(calls):
            step()
        wall = (time.perf_counter() - start) / calls
        tf.profiler.experimental.stop()
        paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        if not paths:
            raise RuntimeError(f"the TF profiler wrote no trace under {logdir}")
        space = xplane_pb2.XSpace()
        with open(paths[0], "rb") as f:
            space.ParseFromString(f.read())
    per_op = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute") and "Eigen" not in line.name:
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and "::" not in name:  # "op_name:OpType", not "Executor::Process"
                    per_op[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9 / calls
    total = sum(per_op.values())
    ops = [(op, ms / total, ms) for op, ms in per_op.most_common(top)] if total else []
    return {"step_ms": 1000.0 * wall, "op_ms_per_step": total, "ops": ops}


# --- input pipeline ----------------------------------------------------------------------


def write_synthetic_dataset(out_dir: str, num_clips: int, clip_length: int, num_captions: int,
                            examples_per_shard: int, seed: int = 0, sample_rate: int = 16000):
    """Writes a train split of random clips with `num_captions` captions to `out_dir`.

    Returns:
      Its `condgan.records.DatasetCard` (also written to out_dir).
    """
    rng = np.random.default_rng(seed)
    captions = [f"synthetic sound number {i}" for i in range(num_captions)]
    examples = []
    for i in range(num_clips):
        audio = rng.uniform(-1.0, 1.0, clip_length).astype(np.float32)
        examples.append(records.serialize_example(
            audio, sample_rate, captions[i % num_captions], i % num_captions, f"synth-{i:06d}"))
    names = records.write_shards(out_dir, "train", examples, examples_per_shard)
    card = records.DatasetCard(
        source="bench", sample_rate=sample_rate, length=clip_length, classes=captions,
        captions=sorted(captions), counts={"train": num_clips}, shards={"train": names})
    with open(os.path.join(out_dir, records.CARD_NAME), "w", encoding="utf-8") as f:
        f.write(card.to_json())
    return card


def time_dataset(ds, batch_size: int, warmup_batches: int, seconds: float) -> dict:
    """Iterates `ds` for `seconds` after a warm-up; returns throughput and CPU use."""
    it = iter(ds)
    t0 = time.perf_counter()
    for _ in range(warmup_batches):
        next(it)
    warmup = time.perf_counter() - t0
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    batches = 0
    while time.perf_counter() - start < seconds:
        batch = next(it)
        batches += 1
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    if batch[0].shape[0] != batch_size:
        raise RuntimeError(f"the dataset gave batches of {batch[0].shape[0]}, not {batch_size}")
    clips = batches * batch_size
    return {"clips_per_s": clips / elapsed, "batches": batches, "seconds": elapsed,
            "warmup_seconds": warmup,
            # CPU-seconds of this process per wall second: < nproc when the machine is shared.
            "process_cpu_per_wall_s": cpu / elapsed, "cpu_ms_per_clip": 1000.0 * cpu / clips}


def input_pipeline_benchmark(work_dir: str, length: int, batch_size: int, num_clips: int,
                             seconds: float, warmup_batches: int = 10, embedding_dim: int = 512,
                             num_captions: int = 50) -> dict:
    """clips/s of `condgan.data.make_dataset` in its training configuration (shuffled,
    repeated, non-deterministic order) over synthetic shards written to `work_dir`
    (in the page cache: parsing, cropping, embedding lookup and batching, not disk)."""
    card = write_synthetic_dataset(work_dir, num_clips, length, num_captions,
                                   examples_per_shard=max(1, num_clips // 8))
    rng = np.random.default_rng(1)
    embeddings = data.caption_embeddings(
        card, lambda c: rng.normal(size=(len(c), embedding_dim)).astype(np.float32))
    ds = data.make_dataset(work_dir, "train", batch_size, embeddings, length=length, seed=None,
                           deterministic=False)
    return time_dataset(ds, batch_size, warmup_batches, seconds)


# --- serving -----------------------------------------------------------------------------

CAPTIONS = ("a dog barks", "a door slams", "thunder rumbles", "glass shatters",
            "the digit seven spoken by a woman", "birds chirp in the distance", "a bell rings twice",
            "an engine starts", "swords clash", "rain on a tin roof")


def export_for_benchmark(config, text_encoder: str, output_dir: str) -> str:
    """Exports an untrained CondGAN of `config` with `text_encoder` (as condgan-export
    does for a run): the SavedModel's speed does not depend on its weights' values."""
    gan = build_gan(config)
    return export_generator(gan, text_encoder, config.model.sample_rate, output_dir,
                            config.to_dict())


def savedmodel_benchmark(export_dir: str, calls: int, warmup: int = 3,
                         large_batch: int = 64) -> dict:
    """Load time, batch-1 caption -> audio latency (text encoding included) and batch-64
    throughput of an exported SavedModel's `serving_default`.

    Returns:
      {"load_s", "first_call_s", "batch1": summarize(...), "batch64": summarize(...),
      "clip_seconds", "realtime_batch1", "realtime_batch64" (seconds of audio per wall
      second)}.
    """
    start = time.perf_counter()
    model = tf.saved_model.load(export_dir)
    serve = model.signatures["serving_default"]
    load_s = time.perf_counter() - start
    with open(os.path.join(export_dir, "assets", "condgan_export.json"), encoding="utf-8") as f:
        info = json.load(f)
    clip_seconds = info["length"] / info["sample_rate"]
    seed = tf.constant(0, tf.int64)
    start = time.perf_counter()
    serve(captions=tf.constant(CAPTIONS[:1]), seed=seed)["audio"].numpy()
    first = time.perf_counter() - start
    counter = iter(range(10 ** 9))

    def one():  # a different caption each call, cycling (the encoder has no cache in-graph)
        caption = CAPTIONS[next(counter) % len(CAPTIONS)]
        serve(captions=tf.constant([caption]), seed=seed)["audio"].numpy()

    many = tf.constant([CAPTIONS[i % len(CAPTIONS)] for i in range(large_batch)])
    batch1 = summarize(time_calls(one, calls, warmup))
    batchn = summarize(time_calls(lambda: serve(captions=many, seed=seed)["audio"].numpy(),
                                  max(3, calls // 4), 1))
    return {"load_s": load_s, "first_call_s": first, "batch1": batch1,
            f"batch{large_batch}": batchn, "clip_seconds": clip_seconds,
            "realtime_batch1": clip_seconds / (batch1["median_ms"] / 1000.0),
            f"realtime_batch{large_batch}":
                large_batch * clip_seconds / (batchn["median_ms"] / 1000.0)}


# --- a peer ------------------------------------------------------------------------------


def peer_comparison(config: Config, peer_step: Callable[[], object], rounds: int,
                    peer_name: str = "pytorch peer") -> dict:
    """Another implementation's training step (e.g. the PyTorch WaveGAN of
    experiments/bench/torch_wavegan.py) against condgan's step of `config`, interleaved
    in this process.

    Args:
      config: condgan's config (give the peer the same width, length and batch).
      peer_step: a zero-argument callable running one step of the peer.
      rounds: alternations of the two.
      peer_name: the peer's key in the result.

    Returns:
      `interleaved` of {peer_name, "condgan"}: condgan's "speedup_vs_first" is how many
      times faster than the peer it is.
    """
    ours, _ = make_train_step(config)
    return interleaved({peer_name: peer_step, "condgan": ours}, rounds)
