"""The training loop: resume, checkpoint cadence, summaries, progress line.

`train()` owns the run directory:

  model_dir/config.json            the operative config (written once the resume worked)
  model_dir/caption_embeddings.npz caption -> text embedding used for training
  model_dir/checkpoints/ckpt-N     tf.train.Checkpoint: step, weights, optimizers, replay buffer
  model_dir/events.out.tfevents.*  TensorBoard scalars, audio and spectrogram images
  model_dir/worker-N-scratch/      multi-worker only: worker N's (not the chief's) copy of
                                   each save, deleted after the save (see `train`)
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from condgan import distribute
from condgan.config import Config, ConfigError
from condgan.training import summaries
from condgan.training.preemption import StopRequest, signal_name, stop_signum
from condgan.training.trainer import Trainer, build_gan

CONFIG_NAME = "config.json"
CHECKPOINT_SUBDIR = "checkpoints"
# With train.skip_nonfinite, this many undone steps in a row stop the run anyway.
MAX_CONSECUTIVE_SKIPS = 100


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
    """Restores the newest *valid* checkpoint if there is one; returns its step (0 if none).

    Checkpoints are tried newest first. One that cannot be read, does not match
    the model, or holds non-finite weights is skipped with a message naming it
    and the reason, and the one before it is tried: a kill or a full disk while a
    checkpoint was written costs the steps since the previous one, not the run.
    Skipped files are left in place (the next save of that step overwrites them).

    Weights, optimizers, step and replay buffer must all be in the checkpoint.
    The seed generators' states and the skipped-step count are restored too when
    present; a checkpoint written before they were saved restores with a note
    (its random streams restart from their seeds).

    Raises:
      CheckpointError: there are checkpoints but none of them is valid (names
        each one and why).
    """
    candidates = list(reversed(manager.checkpoints))
    if manager.latest_checkpoint and manager.latest_checkpoint not in candidates:
        candidates.insert(0, manager.latest_checkpoint)
    if not candidates:
        return 0
    reasons = []
    for path in candidates:
        reason = _try_restore(trainer, path)
        if reason is None:
            if reasons:
                log(f"resuming from {path}, the newest valid checkpoint")
            break
        reasons.append(f"{path}: {reason}")
        log(f"skipping checkpoint {path}: {reason}")
    else:
        raise CheckpointError(
            "no checkpoint of this run can be restored (" + "; ".join(reasons) + "); move "
            f"{manager.directory} aside to start the run again from step 0")
    optional = trainer.optional_state()
    try:
        tf.train.Checkpoint(rng_states=optional.pop("rng_states")).restore(
            path).assert_existing_objects_matched()
    except AssertionError:
        log(f"{path} holds no random-generator state (older condgan): "
            "the random streams restart from their seeds")
    # Absent from checkpoints of older condgan: the count then starts at 0.
    tf.train.Checkpoint(**optional).restore(path).expect_partial()
    return int(trainer.step.numpy())


def _try_restore(trainer: Trainer, path: str) -> str | None:
    """Restores the required state from `path`; returns None, or why it is unusable."""
    try:
        trainer.checkpoint(include_rng=False).restore(path).assert_existing_objects_matched()
    except Exception as e:  # the reader raises OpError, IndexError, ValueError... on bad files
        return _first_line(e)
    bad = [v.path for v in trainer.training_state() if not _finite(v)]
    if bad:
        return f"non-finite values in {len(bad)} variable(s), e.g. {bad[0]}"
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _finite(variable) -> bool:
    value = np.asarray(variable.numpy())
    return not np.issubdtype(value.dtype, np.floating) or bool(np.isfinite(value).all())


def state_is_finite(trainer: Trainer) -> bool:
    """Whether every variable a step changes (weights, optimizers, replay buffer) is finite."""
    return all(_finite(v) for v in trainer.training_state())


def apply_learning_rates(trainer: Trainer, config: Config,
                         log: Callable[[str], None] = lambda s: None) -> None:
    """Sets both optimizers' learning rates from the config after a restore.

    Adam's learning rate is a variable in its checkpoint, so a restore brings back
    the old one; a resumed run with a new --train_*_learning_rate takes the new
    one, and says so.
    """
    gan = trainer.gan
    for name, optimizer, wanted in (("g", gan.g_optimizer, config.train.g_learning_rate),
                                    ("d", gan.d_optimizer, config.train.d_learning_rate)):
        current = float(np.asarray(optimizer.learning_rate))
        if not np.isclose(current, wanted, rtol=1e-6, atol=0.0):
            log(f"train.{name}_learning_rate: {current:g} in the checkpoint, {wanted:g} now "
                "(the config's value is used)")
        optimizer.learning_rate = wanted  # assigns the variable the checkpoint restored


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
            "the run's checkpoints still end at the last finite one (re-running resumes from "
            "it; --train_skip_nonfinite undoes such steps instead of stopping)")


# The first ETA of a call is printed once this many steps have run after its first step
# (which traces the step function and is left out of the timing): about 3 s of a
# 150 ms step, long before the first summary. Later ETAs come with each progress line.
ETA_FIRST_STEPS = 20


def format_eta(step: int, total: int, steps_per_s: float,
               budget_left_s: float | None = None) -> str:
    """"step N/M, ~X min left": the time the steps still to run take at `steps_per_s`.

    E.g. format_eta(21, 3000, 6.5) == "step 21/3000, ~7.6 min left" (2,979 steps at
    6.5 steps/s). `budget_left_s`: the seconds a time budget still allows; when the steps
    left need more, the line says where the budget stops the run ("...; the time budget
    stops it in ~5.9 min, near step 2322"). At or past the last step: "step M/M, done".
    An unknown speed (not > 0 or not finite) gives "? min left".
    """
    head = f"step {step}/{total}"
    if step >= total:
        return f"{head}, done"
    if not (steps_per_s > 0 and np.isfinite(steps_per_s)):
        return f"{head}, ? min left"
    left_s = (total - step) / steps_per_s
    text = f"{head}, ~{left_s / 60:.1f} min left"
    if budget_left_s is not None and budget_left_s < left_s:
        budget_left_s = max(float(budget_left_s), 0.0)
        text += (f"; the time budget stops it in ~{budget_left_s / 60:.1f} min, "
                 f"near step {step + int(budget_left_s * steps_per_s)}")
    return text


def format_progress(step: int, total: int, steps_per_s: float, values: dict,
                    budget_left_s: float | None = None) -> str:
    """The progress line: step and ETA (`format_eta`), speed, then each player's total and
    its terms.

    E.g. "step 100/6000, ~24.6 min left (4.00 steps/s) d_total=1.9 (adversarial=1.6
    contrastive=0.3) g_total=2.1 (adversarial=0.9 kl=0.05 ...) z_spread=0.7":
    the "<player>_<term>" values (`CondGAN.metric_names`) shown without the
    prefix inside the total's brackets, in the order given; "d_real", "d_fake"
    and the step's other values are left out, except "z_spread".
    """
    parts = []
    for player in ("d", "g"):
        total_key = f"{player}_total"
        if total_key not in values:
            continue
        terms = " ".join(f"{k[2:]}={float(v):.4g}" for k, v in values.items()
                         if k.startswith(player + "_") and k not in (total_key, "d_real", "d_fake"))
        parts.append(f"{total_key}={float(values[total_key]):.4g}" + (f" ({terms})" if terms else ""))
    if "z_spread" in values:
        parts.append(f"z_spread={float(values['z_spread']):.4g}")
    head = f"{format_eta(step, total, steps_per_s, budget_left_s)} ({steps_per_s:.2f} steps/s)"
    return " ".join([head, *parts])


def train(trainer: Trainer, make_iterator: Callable[[int], Iterator], config: Config,
          model_dir: str, sample_rate: int, summary_batch=None,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
          stop_after: int | None = None, max_seconds: float | None = None,
          stop: StopRequest | None = None) -> dict[str, float]:
    """Trains until `config.train.steps`, resuming from `model_dir` if it holds a run.

    Order of events: the model config is checked against the run directory's,
    the newest valid checkpoint is restored (`restore_latest`), the learning
    rates are set from `config` (`apply_learning_rates`), and only then is
    config.json (re)written, so a failed resume leaves the run directory as it
    was. Every step's losses are checked: a non-finite one stops the run
    (FloatingPointError) before anything is checkpointed, unless the trainer
    skips such steps (`Trainer(skip_nonfinite=True)`).

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
      stop: a `StopRequest` set by SIGTERM / SIGINT (see `preemption`). The loop
        puts it in deferred mode once it has unsaved state, stops at the next
        step boundary when it is set, checkpoints and returns.

    Returns:
      The last step's values as floats, plus "step", "skipped" (steps undone by
      skip_nonfinite over the run) and, if a signal stopped the run, "stopped"
      (the signal number).

    Raises:
      ConfigError: the run directory holds another model config.
      CheckpointError: the run directory has checkpoints and none is valid.
      FloatingPointError: a non-finite loss (without skip_nonfinite), or too many
        skipped steps in a row.
      KeyboardInterrupt: after saving a checkpoint of the finite state, if one
        reached the loop (no `stop`, or a second signal).
    """
    os.makedirs(model_dir, exist_ok=True)
    check_compatible(model_dir, config)
    t = config.train
    checkpoint = trainer.checkpoint()
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, CHECKPOINT_SUBDIR),
                                         max_to_keep=t.keep_checkpoints)
    # Multi-worker: every worker restores from the chief's checkpoints (model_dir must be
    # on a file system all workers share) and takes part in every save, but only the
    # chief writes the run directory; the others save into a scratch directory of their
    # own, deleted after each save, and write no config, summaries or dumps.
    chief = distribute.is_chief(trainer.strategy)
    scratch = os.path.join(model_dir, f"worker-{distribute.task_id(trainer.strategy)}-scratch")
    start = restore_latest(trainer, manager, log)
    if chief:
        _remove_partial_writes(manager.directory, log)
    if start:
        log(f"resumed from checkpoint {manager.directory}/ckpt-{start} at step {start}")
    apply_learning_rates(trainer, config, log if start else (lambda s: None))
    if chief:
        config.save(os.path.join(model_dir, CONFIG_NAME))  # only once the resume is known to work
        writer = tf.summary.create_file_writer(model_dir)
    else:
        writer = tf.summary.create_noop_writer()
        summary_batch = None
        manager = tf.train.CheckpointManager(checkpoint, scratch, max_to_keep=1)
    if start == 0:
        with writer.as_default():
            tf.summary.text("config", "```\n" + config.to_json() + "\n```", step=0)
    step, values = start, {}
    saved = start
    ran = 0
    consecutive_skips = 0
    deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def budget_left() -> float | None:
        return None if deadline is None else deadline - time.monotonic()

    def save(reason: str | None = None) -> None:
        nonlocal saved
        if step <= saved:
            if reason:  # e.g. SIGTERM right after a periodic save: say where the state is
                log(f"{reason}: the checkpoint of step {step} is already saved")
            return
        if not state_is_finite(trainer):
            log(f"not saving step {step}: its weights are not finite; the newest checkpoint "
                f"stays at step {saved}")
            return
        if reason:
            log(f"{reason}: saving a checkpoint at step {step}")
        manager.save(checkpoint_number=step)
        if not chief:
            tf.io.gfile.rmtree(scratch)
        saved = step

    stopped = None
    agreement = distribute.StopAgreement(trainer.strategy)
    try:
        iterator = make_iterator(start)
        last_t, last_step = time.perf_counter(), start
        first_t = None  # when this call's first step (which traces) ended
        while step < t.steps and (stop_after is None or ran < stop_after):
            reason, signum = _agreed_stop(agreement, stop, deadline)
            if reason == "signal":
                stopped = signum
                break
            if reason == "budget":
                log(f"time budget of {max_seconds:.0f} s reached at step {step}")
                break
            values = trainer.train_step(next(iterator))
            if stop is not None:
                stop.immediate = False  # from here on there is state to save
            step = int(trainer.step.numpy())
            ran += 1
            values_np = {k: float(v) for k, v in values.items()}
            if values_np.get("skipped", 0.0) > 0:
                consecutive_skips += 1
                log(f"step {step}: non-finite {_nonfinite_names(values_np)}; "
                    f"the update was undone ({int(trainer.skipped.numpy())} skipped so far)")
                if consecutive_skips >= MAX_CONSECUTIVE_SKIPS:
                    save()
                    raise FloatingPointError(
                        f"the last {consecutive_skips} steps were all non-finite and undone "
                        f"(at step {step}); stopping: lower the learning rates or check the data")
            else:
                consecutive_skips = 0
                _check_finite(values_np, step, checkpoint, model_dir if chief else scratch)
            at_summary = step % t.summary_every == 0 or step == t.steps
            at_checkpoint = step % t.checkpoint_every == 0 or step == t.steps
            if at_summary:
                now = time.perf_counter()
                rate = (step - last_step) / max(now - last_t, 1e-9)
                last_t, last_step = now, step
                with writer.as_default():
                    for k, v in values_np.items():
                        if k != "skipped":
                            tf.summary.scalar(f"train/{k}", v, step=step)
                    tf.summary.scalar("train/skipped_nonfinite", int(trainer.skipped.numpy()),
                                      step=step)
                    tf.summary.scalar("train/steps_per_s", rate, step=step)
                    if summary_batch is not None:
                        summaries.write_media(trainer.gan, summary_batch, sample_rate, step)
                log(format_progress(step, t.steps, rate, values_np, budget_left()))
            elif first_t is not None and ran == 1 + ETA_FIRST_STEPS:
                rate = ETA_FIRST_STEPS / max(time.perf_counter() - first_t, 1e-9)
                log(f"{format_eta(step, t.steps, rate, budget_left())} ({rate:.2f} steps/s over "
                    f"steps {step - ETA_FIRST_STEPS + 1}-{step})")
            if at_checkpoint:
                save()
            if ran == 1:  # the first step traced the step function: the speed is timed from here
                first_t = last_t = time.perf_counter()
                last_step = step
        if stopped is None and stop is not None and stop.requested and not agreement.active:
            stopped = stop.signum  # (a multi-worker run ends where all workers agree)
    except KeyboardInterrupt:
        step = int(trainer.step.numpy())
        save(f"interrupted at step {step}")
        raise
    except BaseException as e:
        # Stopped: a signal before this process had unsaved state, or in the race right
        # after the first step (save if there is one). Or the error TensorFlow made of
        # that Stopped while it traced the pipeline or the step (see `preemption`).
        stopped = stop_signum(e, stop)
        if stopped is None:
            raise
        step = int(trainer.step.numpy())
    if stopped is not None:
        save(f"stopped by {signal_name(stopped)} at step {step}")
        log(f"stopped by {signal_name(stopped)} at step {step}; the newest checkpoint is at step "
            f"{saved}; run the same command again to resume")
    else:
        save()  # stopped between checkpoints (stop_after, time budget)
    writer.flush()
    writer.close()
    skipped = int(trainer.skipped.numpy())
    if skipped:
        log(f"{skipped} step(s) had non-finite values and were undone (train.skip_nonfinite)")
    out = {k: float(v) for k, v in values.items()}
    out["step"] = step
    out["skipped"] = skipped
    if stopped is not None:
        out["stopped"] = stopped
    return out


def _agreed_stop(agreement: distribute.StopAgreement, stop: StopRequest | None,
                 deadline: float | None) -> tuple[str | None, int | None]:
    """Whether to stop before the next step: ("signal", signum), ("budget", None) for
    the time budget, or (None, None) to go on. In a multi-worker run the answer is
    the same on every worker (a signal or a spent budget on any worker stops them all
    at this step boundary); the signal reported is this worker's, or the peers' one."""
    requested = stop is not None and stop.requested
    over = deadline is not None and time.monotonic() > deadline
    if agreement.active:
        n_signalled, n_over, signums = agreement(
            [float(requested), float(over), float(stop.signum if requested else 0)])
        if n_signalled and not requested:
            return "signal", int(signums) // int(n_signalled)
        over = bool(n_over)
    if requested:
        return "signal", stop.signum
    return ("budget", None) if over else (None, None)


def _remove_partial_writes(directory: str, log: Callable[[str], None]) -> None:
    """Deletes the `ckpt-N_temp` directories a killed checkpoint write leaves behind
    (TensorFlow writes there, then renames into place; a later save of step N
    would reuse the name)."""
    if not os.path.isdir(directory):
        return
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith("_temp") and os.path.isdir(path):
            log(f"removing {path}, left by an interrupted checkpoint write")
            shutil.rmtree(path, ignore_errors=True)


def _nonfinite_names(values: dict[str, float]) -> str:
    bad = sorted(k for k, v in values.items() if k != "skipped" and not np.isfinite(v))
    return str(bad) if bad else "weights"


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
