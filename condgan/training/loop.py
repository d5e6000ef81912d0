"""The training loop: resume, checkpoint cadence, summaries, progress line.

`train()` owns the run directory:

  model_dir/config.json            the operative config (written at start)
  model_dir/caption_embeddings.npz caption -> text embedding used for training
  model_dir/checkpoints/ckpt-N     tf.train.Checkpoint: step, weights, optimizers, replay buffer
  model_dir/events.out.tfevents.*  TensorBoard scalars, audio and spectrogram images
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from condgan.config import Config, ConfigError
from condgan.training import summaries
from condgan.training.trainer import Trainer

CONFIG_NAME = "config.json"
CHECKPOINT_SUBDIR = "checkpoints"


class CheckpointError(RuntimeError):
    """A run directory's checkpoint cannot be used."""


def check_compatible(model_dir: str, config: Config) -> None:
    """Refuses to resume a run directory whose model config differs from `config`.

    Raises:
      ConfigError: naming every model field that differs.
    """
    path = os.path.join(model_dir, CONFIG_NAME)
    if not os.path.exists(path):
        return
    old = Config.load(path)
    diff = {k: (v, getattr(config.model, k)) for k, v in vars(old.model).items()
            if getattr(config.model, k) != v}
    if diff:
        detail = ", ".join(f"{k}: {a!r} in the run dir vs {b!r} now" for k, (a, b) in sorted(diff.items()))
        raise ConfigError(f"{model_dir} holds a run with a different model config ({detail}); "
                          "use a new --model_dir or the same model flags")


def restore_latest(trainer: Trainer, manager: tf.train.CheckpointManager,
                   log: Callable[[str], None] = lambda s: None) -> int:
    """Restores the newest checkpoint if there is one; returns the step it holds (0 if none).

    Weights, optimizers, step and replay buffer must all be in the checkpoint.
    The seed generators' states are restored too when present; a checkpoint
    written before they were saved restores with a note (its random streams
    restart from their seeds).

    Raises:
      CheckpointError: the newest checkpoint is unreadable or does not match the model.
    """
    latest = manager.latest_checkpoint
    if latest is None:
        return 0
    try:
        trainer.checkpoint(include_rng=False).restore(latest).assert_existing_objects_matched()
    except Exception as e:  # the reader raises OpError, IndexError, ValueError... on bad files
        older = [p for p in manager.checkpoints if p != latest]
        hint = (f"; the previous checkpoint {older[-1]} may be intact: delete {latest}.* "
                "(and fix the 'checkpoint' index file) to resume from it") if older else ""
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot restore checkpoint {latest}: {first_line}{hint}") from e
    try:
        tf.train.Checkpoint(rng_states=trainer.rng_states()).restore(
            latest).assert_existing_objects_matched()
    except AssertionError:
        log(f"{latest} holds no random-generator state (older condgan): "
            "the random streams restart from their seeds")
    return int(trainer.step.numpy())


def _check_finite(values: dict[str, float], step: int, checkpoint: tf.train.Checkpoint,
                  model_dir: str) -> None:
    """Stops a run whose losses are no longer finite, before it can checkpoint them.

    The broken state is written beside the run (nonfinite-STEP/), outside the
    checkpoint manager, so the newest regular checkpoint stays the last good one
    and a resume starts from there.

    Raises:
      FloatingPointError: naming the non-finite values, the step and the dump.
    """
    bad = sorted(k for k, v in values.items() if not np.isfinite(v))
    if bad:
        dump = os.path.join(model_dir, f"nonfinite-{step}", "ckpt")
        checkpoint.write(dump)
        raise FloatingPointError(
            f"non-finite {bad} at step {step}; the state was saved to {dump} for inspection; "
            "the run's checkpoints still end at the last finite one")


def format_progress(step: int, total: int, steps_per_s: float, values: dict) -> str:
    eta = (total - step) / steps_per_s if steps_per_s > 0 else float("inf")
    eta_s = f"{int(eta // 60)}m{int(eta % 60):02d}s" if np.isfinite(eta) else "?"
    shown = " ".join(f"{k}={float(values[k]):.4g}" for k in ("d_loss", "g_loss", "gp", "kl") if k in values)
    return f"step {step}/{total} {steps_per_s:.2f} steps/s ETA {eta_s} {shown}"


def train(trainer: Trainer, make_iterator: Callable[[int], Iterator], config: Config,
          model_dir: str, sample_rate: int, summary_batch=None,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
          stop_after: int | None = None, max_seconds: float | None = None) -> dict[str, float]:
    """Trains until `config.train.steps`, resuming from `model_dir` if it holds a run.

    Args:
      trainer: a Trainer over a CondGAN built from `config`.
      make_iterator: start_step -> iterator of batches (audio, text_embedding, ...).
        Called once, after restore, so a resumed run can reseed its data order.
      config: the operative config; written to model_dir/config.json.
      model_dir: run directory (created if needed).
      sample_rate: Hz, for audio summaries.
      summary_batch: optional fixed (audio, text_embedding, captions) for audio /
        spectrogram / z-diversity summaries.
      log: receives progress lines.
      stop_after: stop after this many steps of this call (tests simulate a kill).
      max_seconds: stop (with a checkpoint) once this much wall time has passed; a
        later call resumes. Used by the demo's time budget.

    Returns:
      The last step's values as floats, plus "step".
    """
    os.makedirs(model_dir, exist_ok=True)
    check_compatible(model_dir, config)
    config.save(os.path.join(model_dir, CONFIG_NAME))
    t = config.train
    checkpoint = trainer.checkpoint()
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, CHECKPOINT_SUBDIR),
                                         max_to_keep=t.keep_checkpoints)
    start = restore_latest(trainer, manager, log)
    if start:
        log(f"resumed from {manager.latest_checkpoint} at step {start}")
    writer = tf.summary.create_file_writer(model_dir)
    if start == 0:
        with writer.as_default():
            tf.summary.text("config", "```\n" + config.to_json() + "\n```", step=0)
    iterator = make_iterator(start)
    step, values = start, {}
    last_t, last_step = time.perf_counter(), start
    ran = 0
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    try:
        while step < t.steps and (stop_after is None or ran < stop_after):
            if deadline is not None and time.monotonic() > deadline:
                log(f"time budget of {max_seconds:.0f} s reached at step {step}")
                break
            values = trainer.train_step(next(iterator))
            step = int(trainer.step.numpy())
            ran += 1
            at_summary = step % t.summary_every == 0 or step == t.steps
            at_checkpoint = step % t.checkpoint_every == 0 or step == t.steps
            if at_summary or at_checkpoint:
                values_np = {k: float(v) for k, v in values.items()}
                _check_finite(values_np, step, checkpoint, model_dir)
            if at_summary:
                now = time.perf_counter()
                rate = (step - last_step) / max(now - last_t, 1e-9)
                last_t, last_step = now, step
                with writer.as_default():
                    for k, v in values_np.items():
                        tf.summary.scalar(f"train/{k}", v, step=step)
                    tf.summary.scalar("train/steps_per_s", rate, step=step)
                    if summary_batch is not None:
                        summaries.write_media(trainer.gan, summary_batch, sample_rate, step)
                log(format_progress(step, t.steps, rate, values_np))
            if at_checkpoint:
                manager.save(checkpoint_number=step)
    except KeyboardInterrupt:
        step = int(trainer.step.numpy())
        if step > start:
            log(f"interrupted at step {step}: saving a checkpoint")
            manager.save(checkpoint_number=step)
        raise
    if ran and step % t.checkpoint_every != 0 and step != t.steps:  # stopped between checkpoints
        _check_finite({k: float(v) for k, v in values.items()}, step, checkpoint, model_dir)
        manager.save(checkpoint_number=step)
    writer.flush()
    out = {k: float(v) for k, v in values.items()}
    out["step"] = step
    return out


def load_for_inference(model_dir: str, checkpoint_path: str | None = None):
    """Rebuilds the CondGAN of a run directory from its config and restores its weights.

    Args:
      model_dir: a directory written by `train()`.
      checkpoint_path: a specific checkpoint prefix; default the newest.

    Returns:
      (Config, CondGAN, step).

    Raises:
      CheckpointError: no config or no checkpoint in model_dir, or an unreadable one.
    """
    from condgan.training.trainer import build_gan

    config_path = os.path.join(model_dir, CONFIG_NAME)
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{model_dir} is not a condgan run directory (no {CONFIG_NAME})")
    config = Config.load(config_path)
    gan = build_gan(config)
    trainer = Trainer(gan)
    path = checkpoint_path or tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if path is None:
        raise CheckpointError(f"{model_dir} has no checkpoint yet in {CHECKPOINT_SUBDIR}/")
    try:
        trainer.checkpoint(include_rng=False).restore(path).assert_existing_objects_matched(
        ).expect_partial()
    except Exception as e:  # the reader raises OpError, IndexError, ValueError... on bad files
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot restore checkpoint {path}: {first_line}") from e
    return config, gan, int(trainer.step.numpy())
