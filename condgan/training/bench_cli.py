r"""condgan-bench: training, input pipeline and serving speed on this machine, in one run.

Usage:
  condgan-bench [--quick] [--out=DIR] [--markdown=PATH] [--only=PREFIX,...]
                [--text_encoder=PATH] [--other_stack=PYTHON]

Runs every measurement in its own subprocess (its peak resident memory is
that measurement's alone), prints a table and writes DIR/<item>.json,
DIR/summary.json and the report BENCHMARKS.md. Run from the repository, DIR
defaults to experiments/results/bench and the report to BENCHMARKS.md at the
root; elsewhere pass --out (the report then goes to DIR/BENCHMARKS.md).

Measured (all in this run): fp32 and bf16 2048x2048 matmul peaks; the training
step of the tiny config (WaveGAN width 4, 1024 samples, batch 4, WGAN-GP, 1 critic
step), the synth configs (experiments/configs/synth.json and synth-spectral.json,
from a checkout), the small config (WaveGAN width 16, 16384 samples,
batch 32, hinge, 1 critic step) in float32 and mixed_bfloat16, and one step of
full WaveGAN size (width 64, batch 64, WGAN-GP, 5 critic steps); the PyTorch
peer at the small config (from a checkout only: it is
experiments/bench/torch_wavegan.py, not part of the package; it needs the
`bench` extra: pip install condgan[bench]); the speed attempts as interleaved
A/B ratios; the input pipeline; the exported SavedModel; a TF-profiler op
breakdown of the small step. --quick shrinks every size and step count (for the
tests; its figures mean nothing).

--other_stack=PYTHON names the Python of another environment with condgan installed
on another TensorFlow (e.g. .ci/run's second leg, .venv-oldest/bin/python). The
float32 steps of the synth-spectral and small configs are then also timed there, in
separate processes alternating with this stack's over two passes, and the report
gives both stacks' medians side by side.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from condgan import _cli as cli
from condgan.config import Config, load_dict, merge
from condgan.fileio import atomic_write_text

FLAGS = flags.FLAGS
RESULT_MARKER = "CONDGAN_BENCH_RESULT "
# The repository's root when this module runs from a checkout (condgan/training/..).
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TORCH_MISSING = ("PyTorch peer: skipped, torch is not installed (pip install 'condgan[bench]' "
                 "installs the pinned torch)")
NOT_IN_CHECKOUT = ("PyTorch peer: skipped, condgan-bench does not run from a condgan checkout (the "
                   "peer, experiments/bench/torch_wavegan.py, is not part of the installed package)")
# Intra-op threads of the PyTorch peer (the machine of record has 2 cores).
TORCH_THREADS = 2
HINGE = {"adversarial": "hinge"}
WGAN_GP = {"adversarial": "wgan_gp", "d": {"gradient_penalty": 10.0}}
# The sizes of --quick (and of the tiny item).
# The configs timed on both stacks by --other_stack (float32).
STACK_CONFIGS = ("synth-spectral", "small")
TINY_MODEL = {"length": 1024, "model_dim": 4, "cond_dim": 8, "latent_dim": 8, "replay_capacity": 16}


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_boolean("quick", False, "Tiny sizes and few steps (tests; figures meaningless).")
    flags.DEFINE_string("out", None, "Directory of the JSON results. Default: "
                        "experiments/results/bench in a checkout (required elsewhere).")
    flags.DEFINE_string("markdown", None, "Report path. Default: BENCHMARKS.md at the "
                        "checkout's root, or OUT/BENCHMARKS.md.")
    flags.DEFINE_list("only", None, "Run only the items whose names start with one of these.")
    flags.DEFINE_string("text_encoder", None, "Text-encoder SavedModel for the export "
                        "benchmark; default: build one (condgan-build-text-encoder) in a temp dir.")
    flags.DEFINE_string("render", None, "Re-write the report (BENCHMARKS.md) from the "
                        "summary.json of an earlier run, measuring nothing.")
    flags.DEFINE_string("other_stack", None, "Python of another environment with condgan on "
                        "another TensorFlow: also time the synth-spectral and small steps there, "
                        "alternating with this stack's (the report's 'Two TensorFlow stacks').")
    flags.DEFINE_string("worker", None, "Internal: run one measurement (JSON spec) and print it.")


# --- configs -----------------------------------------------------------------------------


def _in_checkout() -> bool:
    return (REPO_ROOT / "experiments" / "configs").is_dir() and (REPO_ROOT / "setup.cfg").is_file()


def _wavegan(model: dict, objective: dict, train: dict) -> dict:
    """The first base (condgan.configs: bases/wavegan.json) with `model`, `objective` and
    `train` merged onto it: the tiny, small and full items measure WaveGAN's networks."""
    base = load_dict(importlib.resources.files("condgan.configs") / "bases" / "wavegan.json")
    return merge(base, {"model": model, "objective": objective, "train": train})


def _spec_config(path: pathlib.Path) -> dict:
    """The training config of a dataset spec of experiments/configs: its "config", with
    the files that one "extends" (relative to the spec) merged under it."""
    own = dict(json.loads(path.read_text(encoding="utf-8"))["config"])
    parents = own.pop("extends", [])
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = merge(merged, load_dict(path.parent / parent))
    merged = merge(merged, own)
    return {k: v for k, v in merged.items() if k in ("model", "objective", "train")}


def base_configs(quick: bool) -> dict[str, dict]:
    """name -> Config dict of every training-step item (without precision)."""
    tiny = _wavegan(TINY_MODEL, WGAN_GP, {"batch_size": 4, "n_critic": 1})
    small = _wavegan({"length": 16384, "model_dim": 16}, HINGE, {"batch_size": 32, "n_critic": 1})
    full = _wavegan({"length": 16384, "model_dim": 64}, WGAN_GP, {"batch_size": 64, "n_critic": 5})
    out = {"tiny": tiny}
    for name in ("synth", "synth-spectral"):
        path = REPO_ROOT / "experiments" / "configs" / f"{name}.json"
        if path.is_file():
            out[name] = _spec_config(path)
    out["small"] = small
    out["full"] = full
    if quick:  # every config at the tiny sizes, keeping its loss / critic steps / base
        for name, d in out.items():
            model = dict(d.get("model", {}), **TINY_MODEL)
            resolved = Config.from_dict(d).model
            if "spectral" in (resolved.generator, resolved.discriminator):
                model.update(stft_frame=128, stft_hop=32)
            out[name] = {**d, "model": model, "train": dict(d.get("train", {}), batch_size=4)}
    for d in out.values():
        Config.from_dict(d)  # validated here, before any subprocess starts
    return out


def with_precision(config: dict, precision: str) -> dict:
    return {**config, "model": {**config.get("model", {}), "precision": precision}}


def items(quick: bool, text_encoder: str | None, other_stack: str | None = None) -> list[dict]:
    """The measurements of one run, in order; each is one subprocess (in `other_stack`,
    another environment's Python, for the items that carry it as "python")."""
    from condgan import precision  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    configs = base_configs(quick)
    bf16 = precision.bfloat16_supported()
    calls = 2 if quick else None
    n = {"tiny": 30, "synth": 30, "synth-spectral": 30, "small": 15, "full": 1}
    out = [{"name": "peaks", "kind": "peaks", "n": 256 if quick else 2048,
            "calls": 2 if quick else 10}]
    for name, config in configs.items():
        precisions = ["float32", "mixed_bfloat16"] if bf16 and name != "full" else ["float32"]
        if name == "full" and bf16:
            precisions = ["mixed_bfloat16"]  # the faster one: one step takes a minute or more
        for p in precisions:
            out.append({"name": f"train/{name}/{p}", "kind": "train",
                        "config": with_precision(config, p), "calls": calls or n[name],
                        "warmup": 1 if name == "full" else 2})
    if other_stack:
        for rep in range(1 if quick else 2):  # two alternating passes over the stacks
            for name in (n for n in STACK_CONFIGS if n in configs) if not quick else ["tiny"]:
                for stack in ("this", "other"):
                    out.append({"name": f"stack/{name}/{stack}/pass{rep}", "kind": "train",
                                "config": with_precision(configs[name], "float32"),
                                "calls": calls or n[name], "warmup": 2,
                                **({"python": other_stack} if stack == "other" else {})})
    small, synth = configs["small"], configs.get("synth", configs["tiny"])
    rounds = 2 if quick else 8
    out += [
        {"name": "attempt/precision/small", "kind": "ab_precision", "config": small,
         "rounds": rounds},
        {"name": "attempt/fused_d_pass/small", "kind": "ab_fused", "config": small,
         "rounds": rounds},
        {"name": "attempt/phase_shuffle_gather/small", "kind": "ab_phase_shuffle",
         "config": small, "rounds": rounds},
        {"name": "attempt/host_sync/synth", "kind": "host_sync", "config": synth,
         "steps": 2 if quick else 10, "rounds": rounds},
        {"name": "attempt/xla/small", "kind": "ab_xla", "config": small,
         "rounds": 2 if quick else 3},
    ]
    if "synth-spectral" in configs:
        out.insert(len(out) - 1, {"name": "attempt/fused_d_pass/synth-spectral",
                                  "kind": "ab_fused", "config": configs["synth-spectral"],
                                  "rounds": rounds})
    settings = {"default": {}, "intra1_inter1": {"threads": [1, 1]},
                "intra2_inter1": {"threads": [2, 1]}, "onednn_off": {"env": {
                    "TF_ENABLE_ONEDNN_OPTS": "0"}}}
    for rep in range(1 if quick else 2):  # two alternating passes over the settings
        for name, extra in settings.items():
            out.append({"name": f"attempt/threads/{name}/pass{rep}", "kind": "train",
                        "config": synth, "calls": calls or 20, "warmup": 2, **extra})
    out += [
        {"name": "torch_peer/small", "kind": "torch", "config": small,
         "rounds": 2 if quick else 8},
        {"name": "input_pipeline/small", "kind": "pipeline", "length": small["model"]["length"],
         "batch_size": small["train"]["batch_size"], "num_clips": 64 if quick else 2048,
         "seconds": 0.5 if quick else 6.0},
        {"name": "savedmodel/small", "kind": "savedmodel",
         "config": with_precision(dict(small, model=dict(small["model"], sample_rate=16000)),
                                  "float32"),
         "text_encoder": text_encoder, "calls": 4 if quick else 30},
        {"name": "profile/small/float32", "kind": "profile",
         "config": with_precision(small, "float32"), "calls": 1 if quick else 3},
    ]
    if bf16:
        out.append({"name": "profile/small/mixed_bfloat16", "kind": "profile",
                    "config": with_precision(small, "mixed_bfloat16"),
                    "calls": 1 if quick else 3})
    return out


# --- one measurement (in the worker process) ---------------------------------------------


def measuring_code():
    """`condgan.training.benchmarks`, imported on first use (it loads TensorFlow)."""
    from condgan.training import benchmarks  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    return benchmarks


def run_item(spec: dict) -> dict:
    """Runs one measurement of `items()` in this process; returns its results."""
    bench = measuring_code()
    if "threads" in spec:
        bench.set_threads(*spec["threads"])
    kind = spec["kind"]
    config = Config.from_dict(spec["config"]) if "config" in spec else None

    def variant(p):
        c = Config.from_dict(spec["config"])
        c.model.precision = p
        return c

    if kind == "peaks":
        return {dt: bench.matmul_peak(dt, spec["n"], spec["calls"])
                for dt in ("float32", "bfloat16")}
    if kind == "train":
        return {**bench.train_step_benchmark(config, spec["calls"], spec["warmup"]),
                "flops": bench.train_step_flops(config)}
    if kind == "ab_precision":
        return bench.interleaved({
            p: bench.make_train_step(variant(p))[0] for p in ("float32", "mixed_bfloat16")},
            spec["rounds"])
    if kind == "ab_fused":
        return bench.interleaved({
            f"fused_d_pass={f}": bench.make_train_step(config, fused_d_pass=f)[0]
            for f in (False, True)}, spec["rounds"])
    if kind == "ab_xla":
        plain = bench.make_train_step(config)[0]
        start = time.perf_counter()
        xla = bench.make_train_step(config, jit_compile=True)[0]
        xla()
        compile_s = time.perf_counter() - start
        return {**bench.interleaved({"tf.function": plain, "jit_compile=True": xla},
                                    spec["rounds"], warmup=1), "xla_first_call_s": compile_s}
    if kind == "ab_phase_shuffle":
        return bench.phase_shuffle_comparison(config, spec["rounds"])
    if kind == "host_sync":
        return bench.host_sync_comparison(config, spec["steps"], spec["rounds"])
    if kind == "torch":
        peer = torch_peer()
        if isinstance(peer, str):
            return {"skipped": peer}
        m = config.model
        step = peer.torch_peer_step(m.model_dim, config.train.batch_size, TORCH_THREADS, m.length,
                                    m.latent_dim)
        return {**bench.peer_comparison(config, step, spec["rounds"]), "threads": TORCH_THREADS,
                "torch": peer.torch_version()}
    if kind == "pipeline":
        with tempfile.TemporaryDirectory(prefix="condgan_bench_") as tmp:
            return bench.input_pipeline_benchmark(tmp, spec["length"], spec["batch_size"],
                                                  spec["num_clips"], spec["seconds"])
    if kind == "savedmodel":
        with tempfile.TemporaryDirectory(prefix="condgan_bench_") as tmp:
            encoder = spec.get("text_encoder")
            build_s = 0.0
            if not encoder:
                from condgan.data_prep.build_text_encoder import (  # noqa: PLC0415 - TensorFlow, as above
                    build_text_encoder,
                )

                start = time.perf_counter()
                encoder = build_text_encoder(os.path.join(tmp, "use_m3"))
                build_s = time.perf_counter() - start
            export = bench.export_for_benchmark(config, encoder, os.path.join(tmp, "export"))
            # Loading in this process would find the functions traced already: measure the
            # load (and what follows) in a fresh one.
            result = _subprocess({"kind": "serve", "export_dir": export, "calls": spec["calls"]})
            return {**result, "text_encoder_build_s": build_s}
    if kind == "serve":
        return bench.savedmodel_benchmark(spec["export_dir"], spec["calls"])
    if kind == "profile":
        return bench.profile_train_step(config, spec["calls"])
    raise ValueError(f"unknown benchmark kind {kind!r}")


def _subprocess(spec: dict, env: dict | None = None, python: str | None = None) -> dict:
    """Runs `spec` in a fresh Python (`python`, default this one); returns its result with
    "peak_rss_mb" and "wall_s"."""
    start = time.perf_counter()
    proc = subprocess.run(
        [python or sys.executable, "-m", "condgan.training.bench_cli",
         f"--worker={json.dumps(spec)}"],
        capture_output=True, text=True, env=dict(os.environ, **(env or {})), check=False)
    wall = time.perf_counter() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return {**json.loads(line[len(RESULT_MARKER):]), "wall_s": wall}
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
    return {"error": f"exit code {proc.returncode}: {tail}", "wall_s": wall}


def torch_peer():
    """The PyTorch peer (experiments/bench/torch_wavegan.py), or why it is skipped (a str).

    The peer is not part of the package: it is used only when condgan-bench runs
    from a checkout, and only with torch installed.
    """
    if not _in_checkout():
        return NOT_IN_CHECKOUT
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from experiments.bench import torch_wavegan  # noqa: PLC0415 - not in the wheel: a checkout's file

    return torch_wavegan if torch_wavegan.torch_available() else TORCH_MISSING


def worker(spec_json: str) -> int:
    spec = json.loads(spec_json)
    result = run_item(spec)
    result["peak_rss_mb"] = measuring_code().peak_rss_mb()
    result["tensorflow"] = measuring_code().tf.__version__
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


# --- the report --------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """The results of one run and what the table and BENCHMARKS.md show of them."""

    results: dict
    machine: dict
    quick: bool
    seconds: float

    def peak(self, dtype: str) -> float | None:
        return self.results.get("peaks", {}).get(dtype, {}).get("gflops")

    def train_rows(self) -> list[list[str]]:
        rows = []
        p32, p16 = self.peak("float32"), self.peak("bfloat16")
        order = ("tiny", "synth", "synth-spectral", "small", "full")

        def key(name):  # smallest config first, float32 before bf16, also after --render
            config = name.split("/")[1]
            return (order.index(config) if config in order else len(order), name)

        for name in sorted((n for n in self.results if n.startswith("train/")), key=key):
            r = self.results[name]
            _, config, precision = name.split("/")
            if "error" in r:
                rows.append([config, precision, "error: " + r["error"].splitlines()[-1][:60]]
                            + [""] * 6)
                continue
            rows.append([config, precision, f"{r['median_ms']:,.1f}",
                         f"{r['examples_per_s']:,.1f}", f"{r['gflop_per_step']:,.1f}",
                         f"{r['gflops']:,.1f}",
                         _pct(r["gflops"], p32), _pct(r["gflops"], p16),
                         f"{r['peak_rss_mb']:,.0f}"])
        return rows

    def attempt_rows(self) -> list[list[str]]:
        rows = []
        for name, r in self.results.items():
            if not name.startswith("attempt/") or name.startswith("attempt/threads/"):
                continue
            if "error" in r:
                rows.append([name[len("attempt/"):], "error", r["error"].splitlines()[-1][:80],
                             ""])
                continue
            variants = [k for k in r if isinstance(r[k], dict) and "median_ms" in r[k]]
            # The first variant timed has no speed-up (JSON files list keys sorted).
            base = next(k for k in variants if "speedup_vs_first" not in r[k])
            for v in (k for k in variants if k != base):
                rows.append([name[len("attempt/"):],
                             f"{base}: {r[base]['median_ms']:,.1f} ms",
                             f"{v}: {r[v]['median_ms']:,.1f} ms",
                             f"{r[v]['speedup_vs_first']:.3f}x"])
        threads = self.thread_settings()
        if threads:
            base = threads.get("default")
            for name, ms in threads.items():
                if name != "default" and base:
                    rows.append([f"threads/{name} (synth; separate processes, 2 passes)",
                                 f"default: {base:,.1f} ms", f"{name}: {ms:,.1f} ms",
                                 f"{base / ms:.3f}x"])
        return rows

    def stack_rows(self) -> list[list[str]]:
        """config -> this stack's and the other's median ms (median over the passes)."""
        by: dict[tuple[str, str], list[dict]] = {}
        for name, r in self.results.items():
            if name.startswith("stack/"):
                _, config, stack, _ = name.split("/")
                by.setdefault((config, stack), []).append(r)
        rows = []
        for config in dict.fromkeys(c for c, _ in by):
            cells = []
            for stack in ("this", "other"):
                runs = by.get((config, stack), [])
                ok = [r for r in runs if "median_ms" in r]
                if not ok or len(ok) < len(runs):
                    err = next((r["error"] for r in runs if "error" in r), "not measured")
                    cells.append((None, f"error: {err.splitlines()[-1][:60]}"))
                    continue
                ms = statistics.median(r["median_ms"] for r in ok)
                passes = ", ".join(f"{r['median_ms']:,.1f}" for r in ok)
                cells.append((ms, f"TF {ok[0].get('tensorflow')}: {ms:,.1f} ms ({passes})"))
            (a, a_text), (b, b_text) = cells
            rows.append([config, a_text, b_text, f"{b / a:.3f}x" if a and b else ""])
        return rows

    def thread_settings(self) -> dict[str, float]:
        """setting -> median over its passes of the step's median ms."""
        by = {}
        for name, r in self.results.items():
            if name.startswith("attempt/threads/") and "median_ms" in r:
                by.setdefault(name.split("/")[2], []).append(r["median_ms"])
        return {k: statistics.median(v) for k, v in by.items()}

    def lines(self) -> list[str]:
        """Console lines: the training table, then one line per other measurement."""
        out = [f"machine: {self.machine.get('cpu_model')} x {self.machine.get('cpus')} CPUs, "
               f"load average {self.machine.get('loadavg')}"]
        if self.peak("float32"):
            out.append(f"matmul 2048^2 peak: float32 {self.peak('float32'):,.0f} GFLOP/s, "
                       f"bfloat16 {self.peak('bfloat16'):,.0f} GFLOP/s")
        out += _table(TRAIN_HEADER, self.train_rows(), markdown=False)
        out += ["", "speed attempts (interleaved A/B in one process unless noted):"]
        out += _table(ATTEMPT_HEADER, self.attempt_rows(), markdown=False)
        if self.stack_rows():
            out += ["", "two TensorFlow stacks (float32 step, alternating processes):"]
            out += _table(STACK_HEADER, self.stack_rows(), markdown=False)
        out += [""] + self.other_lines()
        out += ["", "targets (issue 9):"] + _table(["target", "this run", "met"],
                                                   self.targets(), markdown=False)
        return out

    def other_lines(self) -> list[str]:
        out = []
        peer = self.results.get("torch_peer/small", {})
        ours = self.best_small()
        if "skipped" in peer:
            out.append(peer["skipped"])
        elif "condgan" in peer:
            out.append(
                f"PyTorch peer (small config, torch {peer.get('torch')}, {peer['threads']} "
                f"threads), interleaved with condgan's float32 step in one process: peer "
                f"{peer['pytorch peer']['median_ms']:,.1f} ms/step, condgan "
                f"{peer['condgan']['median_ms']:,.1f} ms/step: condgan is "
                f"{peer['condgan']['speedup_vs_first']:.2f}x the peer's speed "
                f"(peak RSS of both {peer['peak_rss_mb']:,.0f} MiB)")
        elif "error" in peer:
            out.append(f"PyTorch peer: error: {peer['error']}")
        pipe = self.results.get("input_pipeline/small", {})
        if "clips_per_s" in pipe:
            line = f"input pipeline: {pipe['clips_per_s']:,.0f} clips/s"
            if ours:
                consumed = 1000.0 * self.small_batch() / ours[1]
                line += (f"; the small step consumes {consumed:,.0f} clips/s: "
                         f"{pipe['clips_per_s'] / consumed:,.1f}x")
            out.append(line + f"; peak RSS {pipe['peak_rss_mb']:,.0f} MiB")
        saved = self.results.get("savedmodel/small", {})
        if "batch1" in saved:
            out.append(f"SavedModel ({saved['clip_seconds']:.2f} s clips): load "
                       f"{saved['load_s']:.2f} s, batch 1 {saved['batch1']['median_ms']:.1f} ms "
                       f"(caption -> audio, text encoding included), batch 64 "
                       f"{saved['batch64']['median_ms']:,.0f} ms = "
                       f"{saved['realtime_batch64']:,.0f}x real time; peak RSS "
                       f"{saved['peak_rss_mb']:,.0f} MiB")
        for name, r in self.results.items():
            if "error" in r and not name.startswith(("train/", "attempt/")):
                out.append(f"{name}: error: {r['error']}")
        return out

    def small_batch(self) -> int:
        r = next((r for n, r in self.results.items() if n.startswith("train/small/")), {})
        return r.get("flops", {}).get("batch_size", 32)

    def best_small(self) -> tuple[str, float] | None:
        best = None
        for name, r in self.results.items():
            if name.startswith("train/small/") and "median_ms" in r:
                if best is None or r["median_ms"] < best[1]:
                    best = (name.split("/")[2], r["median_ms"])
        return best

    def markdown(self) -> str:
        m = self.machine
        out = ["# Benchmarks", "",
               "Written by `condgan-bench`" + (" --quick (tiny sizes: these figures mean "
                                               "nothing)" if self.quick else "")
               + f" in {self.seconds / 60:.1f} min. Every figure below comes from that one run "
               "on one machine; every measurement ran in its own process (peak RSS is its "
               "own). Medians, warm-up excluded. Re-run: `condgan-bench` from the "
               "repository's root (about 10 minutes on an idle 2-core machine).", "",
               f"- Machine: {m.get('cpu_model')}, {m.get('cpus')} CPUs "
               f"(flags: {', '.join(m.get('bf16_flags', [])) or 'none of interest'}), "
               f"TensorFlow {m.get('tensorflow')}, Python {m.get('python')}.",
               f"- Load average before / after the run: {m.get('loadavg')} / "
               f"{self.results.get('_load_after')} (the run's own processes count in the "
               f"second); other runnable processes at the start: {m.get('other_runnable')}. "
               + ("**The machine was shared during this run** (other runnable processes, or "
                  "without that figure the load average, above 0.5 per CPU): "
                  "absolute figures are lower bounds; the interleaved ratios hold better."
                  if self.shared() else "The machine was idle."), ""]
        if self.peak("float32"):
            out += [f"Matmul peaks (2048 x 2048, `tf.matmul`): float32 "
                    f"**{self.peak('float32'):,.0f} GFLOP/s**, bfloat16 "
                    f"**{self.peak('bfloat16'):,.0f} GFLOP/s**.", ""]
        out += ["## Training step", "",
                "Trainer's compiled step on a fixed random batch. GFLOP/step is the "
                "analytic count of `condgan.training.benchmarks.train_step_flops` (dense "
                "layers, convolutions, FFTs; backward = 2x forward; WGAN-GP's penalty 6x D's "
                "forward), achieved GFLOP/s = that count / median time.", ""]
        out += _table(TRAIN_HEADER, self.train_rows(), markdown=True)
        out += ["", "## Speed attempts", "",
                "Each row is one A/B pair timed alternately in one process (the thread and "
                "oneDNN settings need a process each: two alternating passes, medians). "
                "Speed-up > 1: the variant is faster.", ""]
        out += _table(ATTEMPT_HEADER, self.attempt_rows(), markdown=True)
        if self.stack_rows():
            out += ["", "## Two TensorFlow stacks", "",
                    "The float32 training step timed on this run's stack and on another "
                    "environment's (`--other_stack`), each measurement in its own process, "
                    "the two stacks alternating over the passes (per-pass medians in "
                    "brackets; the figure is their median). A ratio > 1: the other stack's "
                    "step takes longer.", ""]
            out += _table(STACK_HEADER, self.stack_rows(), markdown=True)
        out += ["", "## Peer, input pipeline, serving", ""]
        out += [f"- {line}" for line in self.other_lines()]
        out += ["", "## Targets (issue 9)", ""]
        out += _table(["target", "this run", "met"], self.targets(), markdown=True)
        out += ["", "## Where the time goes (TF profiler, small config)", ""]
        out += self.limits() + [""]
        out += ["## Notes", ""] + NOTES + [""]
        for name, r in self.results.items():
            if name.startswith("profile/") and "ops" in r:
                out += [f"{name.split('/')[-1]}: share of the step's op time by op type "
                        f"({r['step_ms']:,.0f} ms/step while profiled):", ""]
                out += _table(["op", "share", "ms/step (all threads)"],
                              [[op, f"{share:.1%}", f"{ms:,.1f}"]
                               for op, share, ms in r["ops"][:12]], markdown=True)
                out.append("")
        return "\n".join(out) + "\n"

    def best(self, config: str) -> dict | None:
        """The faster precision's result of train/<config>/*."""
        rows = [r for n, r in self.results.items()
                if n.startswith(f"train/{config}/") and "median_ms" in r]
        return min(rows, key=lambda r: r["median_ms"]) if rows else None

    def targets(self) -> list[list[str]]:
        """Issue 9's targets: [target, measured, met] rows for what this run measured."""
        rows = []

        def row(target, measured, met):
            rows.append([target, measured, "yes" if met else "**no**"])

        small, synth = self.best("small"), self.best("synth")
        peer = self.results.get("torch_peer/small", {})
        if "condgan" in peer:
            ratio = peer["condgan"]["speedup_vs_first"]
            row("small step >= 3x faster than the PyTorch peer (float32, interleaved)",
                f"{ratio:.2f}x", ratio >= 3)
        if small and self.peak("bfloat16"):
            share = small["gflops"] / self.peak("bfloat16")
            row("small step > 30 % of the bf16 matmul peak", f"{share:.0%}", share > 0.3)
        if synth:
            # Named: the faster precision may be bf16, and float32 is what the defaults run.
            precision = next(n for n, r in self.results.items() if r is synth).rsplit("/", 1)[-1]
            ratio = synth["steps_per_s"] / BASELINE_SYNTH_STEPS_PER_S
            row(f"synth step >= 2.5x today's {BASELINE_SYNTH_STEPS_PER_S} steps/s (idle)",
                f"{synth['steps_per_s']:.1f} steps/s = {ratio:.2f}x ({precision})", ratio >= 2.5)
        pipe = self.results.get("input_pipeline/small", {})
        if small and "clips_per_s" in pipe:
            ratio = pipe["clips_per_s"] / small["examples_per_s"]
            row("input pipeline >= 5x what the small step consumes", f"{ratio:.1f}x", ratio >= 5)
        saved = self.results.get("savedmodel/small", {})
        if "batch1" in saved:
            rt = saved["realtime_batch64"]
            row("SavedModel >= 500x real time at batch 64", f"{rt:,.0f}x", rt >= 500)
            ms = saved["batch1"]["median_ms"]
            row(f"SavedModel batch 1 <= 30 ms ({saved['clip_seconds']:.2f} s clip, text "
                "encoding included)", f"{ms:.1f} ms", ms <= 30)
            row("SavedModel load <= 3 s", f"{saved['load_s']:.2f} s", saved["load_s"] <= 3)
        if small:
            gb = small["peak_rss_mb"] / 1024
            row("small-config training peak memory <= 3 GB (flatness over 2,000 steps: "
                "experiments/memory_growth.py)", f"{gb:.2f} GiB", gb <= 3)
        return rows

    def limits(self) -> list[str]:
        """What the profile says about where the small step's time goes."""
        out = []
        for name, r in self.results.items():
            if not name.startswith("profile/") or "ops" not in r:
                continue
            shares = {op: share for op, share, _ in r["ops"]}
            conv = sum(v for k, v in shares.items() if "Conv" in k)
            shuffle = sum(shares.get(k, 0.0) for k in ("SelectV2", "GatherV2",
                                                         "UnsortedSegmentSum"))
            elementwise = sum(shares.get(k, 0.0) for k in ("LeakyReluGrad", "ReluGrad",
                                                           "BiasAddGrad", "Cast", "AddV2"))
            out.append(
                f"- {name.split('/')[-1]}: convolutions (forward, input and filter gradients) "
                f"take {conv:.0%} of the op time, phase shuffle (its gather and the gather's "
                f"segment-sum gradient) {shuffle:.0%}, bias/activation gradients, casts and "
                f"adds {elementwise:.0%}.")
        small = self.best("small")
        if small:
            f = small["flops"]
            share = f["batch_size"] * f["per_example"]["generator"] / f["total"]
            out.append(
                f"- Reusing the critic update's fake in the generator update would save one G "
                f"forward pass, {share:.0%} of the small step's FLOPs at most. It is not done: "
                "the G update needs gradients through G(z, c), so the fake must be made under "
                "its tape (the critic's fake is made outside any tape and stop-gradiented); "
                "the generator update also draws new CondAugment noise and swaps rows of c "
                "for replayed ones, so its c is not the critic's c.")
        return out

    def shared(self) -> bool:
        cpus = self.machine.get("cpus") or 1
        others = self.machine.get("other_runnable")
        load = others if others is not None else (self.machine.get("loadavg") or [0])[0]
        return load > 0.5 * cpus


NOTES = [
    "- Defaults kept from these attempts: `PhaseShuffle` as one batched gather (the where "
    "chain is gone; same output and random stream), `CondGAN.fused_d_pass` on for the "
    "WaveGAN critic and off for the spectral one (0.95x there), TensorFlow's default thread "
    "pools with oneDNN on, no XLA on the CPU. Precision stays `model.precision=float32` by "
    "default, `mixed_bfloat16` (or `auto`) a switch: the quality check (arm D of the "
    "z-diversity recipe, seed 0, 6,000 steps, tag `zc_g05_zd2_bf16`, README's runs "
    "outside the ablation) gave accuracy 0.51, caption z-diversity 0.71, FD 897 against "
    "0.575, 0.80, 838 in float32, lower on every metric though inside the recipe's "
    "seed-to-seed spread, for a 4 % faster second-base step on this CPU (no AMX). bf16 "
    "pays off on the WaveGAN configs (1.10x on the small step) and on CPUs with AMX.",
    "- Why bf16 gains little here: the matmul peak is several times fp32's, but the step "
    "is not matmul-bound. In the profile, the convolutions' filter gradients "
    "(`Conv2DBackpropFilter`, worst for D's first layer: 1 input channel, 16,384 steps) "
    "are barely faster in bf16, and the element-wise gradients (`LeakyReluGrad`, "
    "`BiasAddGrad`) run in Eigen's emulated bfloat16, many times slower than in float32.",
    "- One D pass over real and fake (2B rows) changes nothing in the logits (D has no "
    "batch norm or other batch statistics; tests/test_bench.py checks the update is the "
    "same); with spectral normalisation its power iteration runs once per critic update "
    "instead of twice.",
    "- Host sync: the loop's per-step reads (the step counter and the losses as floats) "
    "cost nothing measurable: a compiled step on the CPU returns when its work is done, so "
    "there is nothing to overlap; the reads stay (the loop checks every loss for NaN).",
    "- XLA (`jit_compile=True`): measured once above at the small config, where it is "
    "several times slower than the plain `tf.function` on this CPU (XLA's CPU backend runs "
    "the convolutions through Eigen instead of oneDNN's kernels); it only wins at toy sizes, "
    "where fusing the many small ops matters more. Off on CPUs; for GPUs.",
    "- What would move the small step further: the layers at the audio end run far below "
    "the others (a one-off op benchmark at batch 32, shared machine: D's first layer, 1 -> "
    "16 channels, and G's last, 16 -> 1, reach 16-20 GFLOP/s forward + backward where the "
    "inner layers reach about 170, and take about a quarter of G's and D's time for 2-3 % "
    "of their FLOPs). Rewriting D's first layer space-to-depth (the 16,384 x 1 input "
    "reshaped to 4,096 x 4, then a stride-1, 7-tap convolution with the kernel re-arranged: "
    "the same output) made that layer 1.6x faster forward + backward and its weight "
    "gradient alone 2.6x, about 5 % of the small step; the same for G's last layer "
    "(sub-pixel: a 16 -> 4 convolution, then depth-to-space) should give about as much. "
    "An im2col matmul over 25-tap frames was 2.5x slower. Beyond that: the leaky-ReLU and "
    "bias gradients fused into the convolutions' backward, and in bf16 those element-wise "
    "gradients kept in float32.",
]
# Steps/s of the synth config's step before issue 9 (hinge, 1 critic step, idle machine).
BASELINE_SYNTH_STEPS_PER_S = 11.4
TRAIN_HEADER = ["config", "precision", "ms/step", "examples/s", "GFLOP/step", "GFLOP/s",
                "% fp32 peak", "% bf16 peak", "peak RSS MiB"]
ATTEMPT_HEADER = ["attempt", "A", "B", "speed-up of B"]
STACK_HEADER = ["config", "this stack", "other stack", "other / this"]


def _pct(value, peak) -> str:
    return f"{100.0 * value / peak:.0f} %" if peak else "-"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else \
        [len(h) for h in header]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header)] + [fmt.format(*r) for r in rows]


# --- the command -------------------------------------------------------------------------


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.worker:
        return worker(FLAGS.worker)
    if FLAGS.render:
        return render(FLAGS.render, FLAGS.markdown)
    if FLAGS.out:
        out_dir = pathlib.Path(FLAGS.out)
    elif _in_checkout():
        out_dir = REPO_ROOT / "experiments" / "results" / "bench"
    else:
        raise app.UsageError("not run from a condgan checkout: pass --out=DIR")
    markdown = pathlib.Path(FLAGS.markdown) if FLAGS.markdown else (
        REPO_ROOT / "BENCHMARKS.md" if not FLAGS.out and _in_checkout()
        else out_dir / "BENCHMARKS.md")
    if FLAGS.text_encoder and not os.path.isdir(FLAGS.text_encoder):
        raise app.UsageError(f"--text_encoder={FLAGS.text_encoder} is not a directory")
    other_tf = _other_stack_tf(FLAGS.other_stack) if FLAGS.other_stack else None
    bench = measuring_code()
    if other_tf and other_tf == bench.tf.__version__:
        raise app.UsageError(f"--other_stack={FLAGS.other_stack} runs TensorFlow {other_tf}, "
                             f"as this environment does: not another stack")
    todo = items(FLAGS.quick, FLAGS.text_encoder, FLAGS.other_stack)
    if FLAGS.only:
        todo = [s for s in todo if any(s["name"].startswith(p) for p in FLAGS.only)]
        if not todo:
            raise app.UsageError(f"--only={','.join(FLAGS.only)} matches no benchmark item")
    machine = bench.machine_info()
    if "mixed_bfloat16" not in json.dumps(todo):
        print("bfloat16: this machine has no native bf16 (no amx_bf16 / avx512_bf16 flag, no "
              "Ampere GPU): the mixed_bfloat16 rows are skipped")
    start = time.perf_counter()
    results = {}
    for i, spec in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {spec['name']} ...", end=" ", flush=True)
        env, python = spec.pop("env", None), spec.pop("python", None)
        name = spec.pop("name")
        results[name] = _subprocess(spec, env, python)
        status = "error" if "error" in results[name] else (
            "skipped" if "skipped" in results[name] else "ok")
        print(f"{status} ({results[name]['wall_s']:.0f} s)", flush=True)
        if status != "ok":
            print("  " + results[name][status].replace("\n", "\n  "), flush=True)
    results["_load_after"] = [round(x, 2) for x in os.getloadavg()]
    report = Report(results, machine, FLAGS.quick, time.perf_counter() - start)
    print()
    for line in report.lines():
        print(line)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        if not name.startswith("_"):
            atomic_write_text(out_dir / (name.replace("/", "__") + ".json"),
                              json.dumps(r, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out_dir / "summary.json", json.dumps(
        {"machine": machine, "quick": FLAGS.quick, "seconds": report.seconds,
         "results": results}, indent=2, sort_keys=True) + "\n")
    atomic_write_text(markdown, report.markdown())
    print(f"\nwrote {out_dir}/*.json and {markdown}")
    return 0 if not any("error" in r for r in results.values() if isinstance(r, dict)) else 1


def _other_stack_tf(python: str) -> str:
    """The TensorFlow version of `python`, which must also have condgan installed."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise app.UsageError(f"--other_stack={python} is not an executable file (give another "
                             f"environment's python, e.g. .venv-oldest/bin/python)")
    proc = subprocess.run([python, "-c", "import tensorflow as tf, condgan.training.bench_cli; "
                           "print(tf.__version__)"], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise app.UsageError(f"--other_stack={python} cannot import TensorFlow and condgan: "
                             f"{tail}")
    return proc.stdout.strip().splitlines()[-1]


def render(summary_path: str, markdown: str | None) -> int:
    """Writes the report of an earlier run's summary.json (next to it unless `markdown`)."""
    try:
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
        report = Report(summary["results"], summary["machine"], summary["quick"],
                        summary["seconds"])
    except (OSError, ValueError, KeyError) as e:
        raise app.UsageError(f"--render={summary_path} is not a condgan-bench summary.json: "
                             f"{e}") from e
    path = pathlib.Path(markdown) if markdown else (
        REPO_ROOT / "BENCHMARKS.md" if _in_checkout() and pathlib.Path(summary_path).resolve()
        .parent == REPO_ROOT / "experiments" / "results" / "bench"
        else pathlib.Path(summary_path).parent / "BENCHMARKS.md")
    atomic_write_text(path, report.markdown())
    print(f"wrote {path}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
