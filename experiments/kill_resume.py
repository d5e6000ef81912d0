"""Crash-safe resume: kill -9 a tiny training run at random moments, restart it, repeat.

A child process trains a tiny CondGAN with `condgan.training.loop.train`,
checkpointing every step, on synthetic batches that are a pure function of the
step number (batch k is the same whichever process computes it). The parent
kills it with SIGKILL, at a random moment of one of three kinds, and starts it
again on the same run directory, until `--kills` kills have happened; then lets
it finish. Kinds of kill:

  startup  a random moment in the first seconds (imports, model build, restore,
           first trace), before or around the first step;
  random   1 to 8 steps after the child's first step, plus up to 0.1 s;
  write    while a checkpoint is being written (a `ckpt-N_temp` directory is
           seen in the checkpoint directory).

After every `--corrupt_every`-th kill the newest checkpoint's data file is also
truncated, as a torn write after a power loss would leave it, so the next start
must fall back to the checkpoint before it.

Because the data depend only on the step, and the checkpoint holds the step,
all weights, both optimizers, the replay buffer and the random streams, the
killed-and-resumed run must end with exactly the state of an uninterrupted
reference run (op determinism on). That is the check; the report also lists,
per kill, the step reached, the step resumed from, whether the kill hit a
checkpoint write, and any fallback message.

  python -m experiments.kill_resume [--kills=20] [--out=experiments/results/robustness]

Writes kill_resume.json and kill_resume.md into --out. Run it niced: it starts
kills + 2 TensorFlow processes besides its own (about 10 s each on an idle 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from condgan import fileio
from condgan.config import Config
from condgan.training import loop
from condgan.training.trainer import Trainer, build_gan

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "robustness")
FINAL_STATE = "final_state.npz"
KINDS = ("startup", "random", "write")
# The first base (WaveGAN) with WGAN-GP, the setting these runs were first made with.
WAVEGAN_BASE = os.path.join(HERE, "configs", "bases", "wavegan.json")


# --- the child: a deterministic tiny run ----------------------------------------------

def tiny_config(steps: int) -> Config:
    """A tiny WaveGAN run (1,024 samples, width 4, batch 4, WGAN-GP, 1 critic step) of
    `steps` steps, checkpointing and logging every step."""
    cfg = Config.load(WAVEGAN_BASE)
    cfg.objective.adversarial = "wgan_gp"
    cfg.objective.d["gradient_penalty"] = 10.0
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, 16, 8, 8
    m.replay_capacity, m.replay_prob = 16, 0.5
    t = cfg.train
    t.batch_size, t.n_critic, t.steps = 4, 1, steps
    t.checkpoint_every, t.summary_every, t.keep_checkpoints = 1, 1, 3
    return cfg.validate()


def child(model_dir: str, steps: int) -> int:
    tf.config.experimental.enable_op_determinism()
    cfg = tiny_config(steps)
    keras.utils.set_random_seed(0)
    trainer = Trainer(build_gan(cfg))

    def batch(k):  # batch of step k + 1: a function of k only
        audio = tf.random.stateless_uniform([4, 1024, 1], seed=tf.stack([k, 1]), minval=-0.5,
                                            maxval=0.5)
        text = tf.math.l2_normalize(tf.random.stateless_normal([4, 16], seed=tf.stack([k, 2])), 1)
        return audio, text

    def make_iterator(start):
        return iter(tf.data.Dataset.range(start, steps + 1).map(batch))

    out = loop.train(trainer, make_iterator, cfg, model_dir, 8000, log=_log)
    state = {f"v{i}": v.numpy() for i, v in enumerate(trainer.training_state() + trainer.rng_states())}
    with fileio.atomic_path(os.path.join(model_dir, FINAL_STATE), suffix=".npz") as tmp:
        np.savez(tmp, step=out["step"], **state)
    _log(f"finished at step {out['step']}")
    return 0


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- the parent -------------------------------------------------------------------------

class Child:
    """A child training process whose stderr lines are collected by a thread."""

    def __init__(self, model_dir: str, steps: int):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "experiments.kill_resume", "--child", f"--model_dir={model_dir}",
             f"--steps={steps}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=env, cwd=ROOT)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def steps_seen(self) -> list[int]:
        """Steps this process has logged progress for (loop.format_progress lines)."""
        return [int(s.split()[1].split("/")[0]) for s in list(self.lines)
                if s.startswith("step ") and "/" in s.split()[1]]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=10)

    def wait(self, timeout: float) -> int:
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return rc


def _checkpoint_state(model_dir: str) -> list[str]:
    path = os.path.join(model_dir, "checkpoints", "checkpoint")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.split('"')[1] for line in f if line.startswith("all_model_checkpoint_paths")]


def _temp_dirs(model_dir: str) -> list[str]:
    d = os.path.join(model_dir, "checkpoints")
    return sorted(p for p in os.listdir(d) if "_temp" in p) if os.path.isdir(d) else []


# Steps a "write" kill waits for a checkpoint write in progress before it kills anyway.
_WRITE_WAIT_STEPS = 4


def _kill(proc: Child, kind: str, model_dir: str, rng: random.Random, timeout: float) -> dict:
    """Kills `proc` at a moment of `kind`; returns what was seen."""
    deadline = time.monotonic() + timeout
    stale = set(_temp_dirs(model_dir))  # (the child removes them once it has restored)
    target = None
    if kind == "startup":
        # Up to a random moment of the start-up, and never past its first step: on an
        # idle machine a tiny run trains fast enough to finish before the next kill.
        wait = rng.uniform(0.5, 6.0)
        while (time.monotonic() - proc.started < wait and proc.proc.poll() is None
               and not proc.steps_seen()):
            time.sleep(0.01)
    else:
        target = rng.randint(1, 8)
        while time.monotonic() < deadline and proc.proc.poll() is None:
            seen = proc.steps_seen()
            if seen and seen[-1] - seen[0] + 1 >= target:
                break
            time.sleep(0.01)
        if kind == "random":
            time.sleep(rng.uniform(0.0, 0.1))
        else:  # wait for a checkpoint write in progress (a few steps at most)
            while time.monotonic() < deadline and proc.proc.poll() is None:
                if set(_temp_dirs(model_dir)) - stale:
                    break
                seen = proc.steps_seen()
                if seen and seen[-1] - seen[0] + 1 >= target + _WRITE_WAIT_STEPS:
                    break  # no write caught in time: kill anyway (recorded as not cut)
    finished = proc.proc.poll() is not None
    if not finished:
        proc.kill()
    seen = proc.steps_seen()
    return {"kind": kind, "killed": not finished, "seconds_alive": round(
        time.monotonic() - proc.started, 2), "last_step_logged": seen[-1] if seen else None,
        "write_interrupted": bool(set(_temp_dirs(model_dir)) - stale),
        "checkpoints_after_kill": [os.path.basename(p) for p in _checkpoint_state(model_dir)]}


def _data_size(model_dir: str, name: str) -> int | None:
    path = os.path.join(model_dir, "checkpoints", name + ".data-00000-of-00001")
    return os.path.getsize(path) if os.path.exists(path) else None


def _truncate_newest(model_dir: str) -> str | None:
    paths = _checkpoint_state(model_dir)
    if not paths:
        return None
    prefix = paths[-1] if os.path.isabs(paths[-1]) else os.path.join(model_dir, "checkpoints",
                                                                      paths[-1])
    data = prefix + ".data-00000-of-00001"
    with open(data, "rb") as f:
        content = f.read()
    with open(data, "wb") as f:
        f.write(content[: len(content) // 2])
    return os.path.basename(prefix)


def _resumed_at(lines: list[str]) -> tuple[int | None, list[str]]:
    """(step the process restored, "skipping checkpoint" lines); the step is None when
    the process died before it was known (no "resumed" line and no step logged)."""
    step, skipped = None, []
    for s in lines:
        if s.startswith("skipping checkpoint "):
            skipped.append(s)
        if step is None and s.startswith("resumed from checkpoint ") and " at step " in s:
            step = int(s.rsplit(" at step ", 1)[1])
        if step is None and s.startswith("step ") and "/" in s.split()[1]:
            step = int(s.split()[1].split("/")[0]) - 1  # checkpoints and logs every step
    return step, skipped


def run(work_dir: str, kills: int = 20, corrupt_every: int = 5, seed: int = 0,
        timeout: float = 600.0, progress=print, inline_reference: bool = False) -> dict:
    """Runs the experiment in `work_dir`; returns the report (see the module docstring).

    Args:
      inline_reference: run the uninterrupted reference in this process (saves a
        TensorFlow start-up; tests) instead of in a child like the killed runs.
    """
    rng = random.Random(seed)
    steps = 10 * kills + 10
    t0 = time.monotonic()
    ref_dir, run_dir = os.path.join(work_dir, "reference"), os.path.join(work_dir, "killed")
    if inline_reference:
        child(ref_dir, steps)
    else:
        ref = Child(ref_dir, steps)
        if ref.wait(timeout) != 0:
            raise RuntimeError("reference run failed:\n" + "\n".join(ref.lines[-30:]))
    records, pending, truncated = [], None, {}
    kinds = [KINDS[i % len(KINDS)] for i in range(kills)]
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds):
        proc = Child(run_dir, steps)
        rec = _kill(proc, kind, run_dir, rng, timeout)
        resumed, skipped = _resumed_at(proc.lines)
        if pending is not None:  # what this start restored, for the kill(s) before it
            pending["skipped_checkpoints"] += skipped
            if resumed is not None:
                pending["resumed_at"] = resumed
        rec["index"], rec["resumed_at"], rec["skipped_checkpoints"] = i + 1, None, []
        if rec["killed"] and corrupt_every and (i + 1) % corrupt_every == 0:
            rec["truncated"] = _truncate_newest(run_dir)
            if rec["truncated"]:
                truncated[rec["truncated"]] = _data_size(run_dir, rec["truncated"])
        # The checkpoint the next start must resume from: the newest listed one that is
        # not a truncated file still in place (a later save of that step replaces it).
        valid = [int(c.split("-")[1]) for c in rec["checkpoints_after_kill"]
                 if truncated.get(c) is None or truncated[c] != _data_size(run_dir, c)]
        if rec.get("truncated"):
            valid = [v for v in valid if f"ckpt-{v}" != rec["truncated"]]
        rec["newest_valid"] = valid[-1] if valid else 0
        records.append(rec)
        if pending is not None and pending["resumed_at"] is None:
            # This start died before restoring: the next one answers for both kills.
            rec["skipped_checkpoints"] = pending["skipped_checkpoints"]
            rec["carried_from"] = pending["index"]
        pending = rec
        progress(f"kill {i + 1}/{kills} ({kind}): this start resumed at step {resumed}, was "
                 f"killed after logging step {rec['last_step_logged']}, write interrupted: "
                 f"{rec['write_interrupted']}")
        if not rec["killed"]:
            break
    final = Child(run_dir, steps)
    rc = final.wait(timeout)
    resumed, skipped = _resumed_at(final.lines)
    if pending is not None:
        pending["skipped_checkpoints"] += skipped
        pending["resumed_at"] = resumed
    for rec in reversed(records):  # kills whose next start died before restoring: later answer
        later = [r for r in records if r.get("carried_from") == rec["index"]]
        if rec["resumed_at"] is None and later:
            # Nothing but the parent's truncation changed the files in between: the
            # answer and what it must be are the later kill's.
            rec["resumed_at"] = later[0]["resumed_at"]
            rec["skipped_checkpoints"] = later[0]["skipped_checkpoints"]
            rec["newest_valid"] = later[0]["newest_valid"]
            if later[0].get("truncated"):
                rec["truncated_later"] = later[0]["truncated"]
    identical, final_step = False, None
    if rc == 0:
        with np.load(os.path.join(ref_dir, FINAL_STATE)) as a, \
                np.load(os.path.join(run_dir, FINAL_STATE)) as b:
            final_step = int(b["step"])
            identical = sorted(a.files) == sorted(b.files) and all(
                np.array_equal(a[k], b[k]) for k in a.files)
    for rec in records:  # each kill's next start resumed exactly from the newest valid one
        rec["resume_ok"] = rec["resumed_at"] == rec["newest_valid"]
        if rec.get("truncated"):
            rec["resume_ok"] = rec["resume_ok"] and any(rec["truncated"] + ":" in s
                                                        for s in rec["skipped_checkpoints"])
        logged = rec["last_step_logged"]
        rec["steps_lost"] = (logged - rec["resumed_at"]) if logged is not None and \
            rec["resumed_at"] is not None else None
    done = [r for r in records if r["killed"]]
    return {
        "kills": len(done),
        "kills_by_kind": {k: sum(r["kind"] == k for r in done) for k in KINDS},
        "kills_during_checkpoint_write": sum(r["write_interrupted"] for r in done),
        "truncated_checkpoints": sum(bool(r.get("truncated")) for r in done),
        "fallbacks": sum(bool(r.get("skipped_checkpoints")) for r in done),
        "all_resumes_ok": all(r["resume_ok"] for r in done),
        "max_steps_lost": max((r["steps_lost"] for r in done if r["steps_lost"] is not None),
                              default=0),
        "final_returncode": rc,
        "requested_steps": steps,
        "final_step": final_step,
        "final_state_identical_to_uninterrupted_run": identical,
        "wall_time_s": round(time.monotonic() - t0, 1),
        "records": records,
        "final_log_tail": final.lines[-3:],
    }


def write_report(report: dict, out_dir: str) -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "kill_resume.json")
    md_path = os.path.join(out_dir, "kill_resume.md")
    fileio.atomic_write_text(json_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    rows = ["| # | kind | step logged | write cut | truncated | resumed at | lost | fallback |",
            "|---|---|---|---|---|---|---|---|"]
    for r in report["records"]:
        if r["killed"]:
            rows.append(f"| {r['index']} | {r['kind']} | {r['last_step_logged']} | "
                        f"{'yes' if r['write_interrupted'] else ''} | {r.get('truncated') or ''} | "
                        f"{r.get('resumed_at')} | {r['steps_lost']} | "
                        f"{'yes' if r.get('skipped_checkpoints') else ''} |")
    md = "\n".join([
        "# kill -9 and resume (experiments/kill_resume.py)", "",
        f"{report['kills']} SIGKILLs of a tiny run checkpointing every step "
        f"({report['kills_by_kind']}), {report['kills_during_checkpoint_write']} of them during "
        f"a checkpoint write; {report['truncated_checkpoints']} newest checkpoints truncated on "
        f"purpose afterwards ({report['fallbacks']} fallbacks to the one before).", "",
        f"- every restart resumed from the newest valid checkpoint: {report['all_resumes_ok']}",
        f"- most steps lost by one kill: {report['max_steps_lost']}",
        f"- final step {report['final_step']} of {report['requested_steps']} requested "
        f"(exit status {report['final_returncode']})",
        f"- final weights, optimizers, replay buffer and random streams identical to an "
        f"uninterrupted run: {report['final_state_identical_to_uninterrupted_run']}",
        f"- wall time {report['wall_time_s']} s", "", *rows, ""])
    fileio.atomic_write_text(md_path, md)
    return json_path, md_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--corrupt_every", type=int, default=5,
                        help="truncate the newest checkpoint after every N-th kill (0: never)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--work_dir", default=None, help="default: a temporary directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model_dir", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.model_dir, args.steps)
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
        report = run(work, kills=args.kills, corrupt_every=args.corrupt_every, seed=args.seed)
    paths = write_report(report, args.out)
    print(f"wrote {paths[0]} and {paths[1]}")
    ok = (report["all_resumes_ok"] and report["final_state_identical_to_uninterrupted_run"]
          and report["final_step"] == report["requested_steps"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
