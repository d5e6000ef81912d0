"""The training loop's resume path: learning rates, config.json, fallback, non-finite, seeds."""

import json
import re
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base

from condgan.config import Config
from condgan.training import loop, preemption
from condgan.training.run import data_seed
from condgan.training.trainer import Trainer, build_gan

TEXT_DIM = 16


def tiny_config() -> Config:
    """A tiny run of the first base (the library's defaults are the spectral recipe) with
    WGAN-GP and learning rates of 1e-4."""
    cfg = base("wavegan")
    cfg.objective.adversarial = "wgan_gp"
    cfg.objective.d["gradient_penalty"] = 10.0
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, TEXT_DIM, 8, 8
    m.replay_capacity, m.replay_prob = 16, 1.0
    t = cfg.train
    t.batch_size, t.n_critic, t.steps, t.checkpoint_every, t.summary_every = 4, 1, 4, 2, 2
    t.g_learning_rate = t.d_learning_rate = 1e-4
    return cfg.validate()


def tiny_batches(n=8, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-0.5, 0.5, (n * batch, 1024, 1)).astype("float32")
    text = rng.normal(size=(n * batch, TEXT_DIM)).astype("float32")
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return tf.data.Dataset.from_tensor_slices((audio, text)).batch(batch, drop_remainder=True)


def new_trainer(cfg, seed=0):
    keras.utils.set_random_seed(seed)
    return Trainer(build_gan(cfg), skip_nonfinite=cfg.train.skip_nonfinite)


def train(cfg, model_dir, stop_after=None, iterator=None, log=None, stop=None, trainer=None):
    trainer = trainer or new_trainer(cfg)
    make = (lambda start: iterator) if iterator is not None else (
        lambda start: iter(tiny_batches().repeat()))
    out = loop.train(trainer, make, cfg, str(model_dir), 8000, log=log or (lambda s: None),
                     stop_after=stop_after, stop=stop)
    return trainer, out


def ckpt_dir(model_dir):
    return str(model_dir / loop.CHECKPOINT_SUBDIR)


def latest(model_dir):
    return tf.train.latest_checkpoint(ckpt_dir(model_dir))


# --- (a) learning rates ---------------------------------------------------------------

def test_a_changed_learning_rate_replaces_the_one_in_the_checkpoint(tmp_path):
    cfg = tiny_config()
    train(cfg, tmp_path, stop_after=2)
    cfg.train.g_learning_rate, cfg.train.d_learning_rate = 3e-4, 5e-5
    lines = []
    trainer, out = train(cfg, tmp_path, log=lines.append)
    assert out["step"] == 4
    assert float(trainer.gan.g_optimizer.learning_rate) == pytest.approx(3e-4, rel=1e-6)
    assert float(trainer.gan.d_optimizer.learning_rate) == pytest.approx(5e-5, rel=1e-6)
    assert any("train.g_learning_rate: 0.0001 in the checkpoint, 0.0003 now" in s for s in lines)
    assert any("train.d_learning_rate: 0.0001 in the checkpoint, 5e-05 now" in s for s in lines)
    # ... and the new rates are what the next checkpoint holds.
    again = new_trainer(cfg, seed=3)
    again.checkpoint().restore(latest(tmp_path)).assert_existing_objects_matched()
    assert float(again.gan.g_optimizer.learning_rate) == pytest.approx(3e-4, rel=1e-6)


def test_an_unchanged_learning_rate_is_not_reported(tmp_path):
    cfg = tiny_config()
    train(cfg, tmp_path, stop_after=2)
    lines = []
    train(cfg, tmp_path, log=lines.append)
    assert not [s for s in lines if "learning_rate" in s]


# --- (b) config.json ---------------------------------------------------------------------

def test_config_json_is_kept_when_the_resume_fails(tmp_path):
    cfg = tiny_config()
    train(cfg, tmp_path)  # checkpoints at steps 2 and 4
    before = (tmp_path / "config.json").read_text()
    for name in ("ckpt-2", "ckpt-4"):
        (tmp_path / loop.CHECKPOINT_SUBDIR / f"{name}.data-00000-of-00001").write_bytes(b"\0" * 64)
    cfg.train.steps, cfg.train.g_learning_rate = 10, 1e-3
    with pytest.raises(loop.CheckpointError, match=r"no checkpoint of this run can be restored "
                                                   r"\(.*ckpt-4: .*; .*ckpt-2: "):
        train(cfg, tmp_path)
    assert (tmp_path / "config.json").read_text() == before
    assert json.loads(before)["train"]["steps"] == 4


# --- fallback to the newest valid checkpoint --------------------------------------------

def _state(trainer):
    return [v.numpy().copy() for v in trainer.training_state() + trainer.rng_states()]


@pytest.mark.parametrize("damage", ["zeroed", "truncated", "index_missing", "nonfinite"])
def test_a_bad_newest_checkpoint_falls_back_to_the_one_before(tmp_path, damage):
    cfg = tiny_config()
    trainer2, _ = train(cfg, tmp_path, stop_after=2)
    at_two = _state(trainer2)
    train(cfg, tmp_path)  # now ckpt-2 and ckpt-4
    prefix = tmp_path / loop.CHECKPOINT_SUBDIR / "ckpt-4"
    data = prefix.parent / "ckpt-4.data-00000-of-00001"
    if damage == "zeroed":
        data.write_bytes(b"\0" * data.stat().st_size)
    elif damage == "truncated":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif damage == "index_missing":
        (prefix.parent / "ckpt-4.index").unlink()
    else:  # a NaN state written by an older condgan
        t = new_trainer(cfg)
        t.checkpoint().restore(str(prefix)).assert_existing_objects_matched()
        t.gan.generator.trainable_variables[0].assign(
            np.full(t.gan.generator.trainable_variables[0].shape, np.nan, np.float32))
        tf.train.CheckpointManager(t.checkpoint(), ckpt_dir(tmp_path), 3).save(checkpoint_number=4)
    lines = []
    fresh = new_trainer(cfg, seed=7)
    manager = tf.train.CheckpointManager(fresh.checkpoint(), ckpt_dir(tmp_path), 3)
    assert loop.restore_latest(fresh, manager, lines.append) == 2
    assert any(s.startswith(f"skipping checkpoint {prefix}: ") for s in lines), lines
    if damage == "nonfinite":
        assert any("non-finite values" in s for s in lines), lines
    assert any("resuming from" in s and s.endswith("ckpt-2, the newest valid checkpoint")
               for s in lines), lines
    for a, b in zip(at_two, _state(fresh)):  # weights, optimizers, replay buffer, RNG states
        np.testing.assert_array_equal(a, b)
    # Training on from the fallback overwrites the bad checkpoint and reaches the end.
    _, out = train(cfg, tmp_path, trainer=fresh)
    assert out["step"] == 4 and latest(tmp_path).endswith("ckpt-4")
    manager = tf.train.CheckpointManager(new_trainer(cfg).checkpoint(), ckpt_dir(tmp_path), 3)
    assert loop.restore_latest(new_trainer(cfg), manager) == 4


# --- (c) an interrupt never checkpoints a non-finite state ------------------------------

class _PoisonThenInterrupt:
    """Good batches; before the batch of step `at` it sets a weight to NaN and raises."""

    def __init__(self, trainer, at, exc):
        self.trainer, self.at, self.exc = trainer, at, exc
        self.inner = iter(tiny_batches().repeat())

    def __iter__(self):
        return self

    def __next__(self):
        if int(self.trainer.step.numpy()) == self.at - 1:
            w = self.trainer.gan.generator.trainable_variables[0]
            w.assign(np.full(w.shape, np.nan, np.float32))
            raise self.exc
        return next(self.inner)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), preemption.Stopped(15)])
def test_an_interrupt_does_not_checkpoint_a_nonfinite_state(tmp_path, exc):
    cfg = tiny_config()
    cfg.train.summary_every = 100
    trainer = new_trainer(cfg)
    lines = []
    poison = _PoisonThenInterrupt(trainer, at=4, exc=exc)
    if isinstance(exc, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            train(cfg, tmp_path, iterator=poison, log=lines.append, trainer=trainer)
    else:
        _, out = train(cfg, tmp_path, iterator=poison, log=lines.append, trainer=trainer)
        assert out["stopped"] == 15
    assert latest(tmp_path).endswith("ckpt-2")  # not ckpt-3, whose weights are NaN
    assert any("not saving step 3: its weights are not finite" in s for s in lines), lines


def test_an_interrupt_checkpoints_a_finite_state(tmp_path):
    cfg = tiny_config()
    trainer = new_trainer(cfg)
    it = iter(tiny_batches().repeat())

    class Interrupt:
        def __next__(self):
            if int(trainer.step.numpy()) == 3:
                raise KeyboardInterrupt
            return next(it)

    lines = []
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path, iterator=Interrupt(), log=lines.append, trainer=trainer)
    assert latest(tmp_path).endswith("ckpt-3")
    assert "interrupted at step 3: saving a checkpoint at step 3" in lines


# --- stop requests (SIGTERM) -------------------------------------------------------------

def test_a_stop_request_during_training_checkpoints_and_returns(tmp_path):
    cfg = tiny_config()
    cfg.train.steps = 100
    trainer = new_trainer(cfg)
    stop = preemption.StopRequest()
    it = iter(tiny_batches().repeat())

    class SignalAtStep3:
        def __next__(self):
            if int(trainer.step.numpy()) == 3:
                stop.request(15)  # deferred: the loop has state to save by now
            return next(it)

    lines = []
    _, out = train(cfg, tmp_path, iterator=SignalAtStep3(), log=lines.append, stop=stop,
                   trainer=trainer)
    assert out["stopped"] == 15 and out["step"] == 4  # the step in flight completes
    assert latest(tmp_path).endswith("ckpt-4")
    assert any(s.startswith("stopped by SIGTERM at step 4; the newest checkpoint is at step 4")
               for s in lines), lines


def test_a_stop_request_right_after_a_periodic_save_says_that_step_is_saved(tmp_path):
    cfg = tiny_config()
    cfg.train.steps, cfg.train.checkpoint_every = 100, 4
    trainer = new_trainer(cfg)
    stop = preemption.StopRequest()
    it = iter(tiny_batches().repeat())

    class SignalAtStep3:  # step 4 completes, is saved periodically, then the stop is seen
        def __next__(self):
            if int(trainer.step.numpy()) == 3:
                stop.request(15)
            return next(it)

    lines = []
    _, out = train(cfg, tmp_path, iterator=SignalAtStep3(), log=lines.append, stop=stop,
                   trainer=trainer)
    assert out["step"] == 4 and latest(tmp_path).endswith("ckpt-4")
    assert any("the checkpoint of step 4 is already saved" in s for s in lines), lines
    assert not any("saving a checkpoint at step 4" in s for s in lines), lines


def test_a_stop_request_before_the_first_step_saves_nothing(tmp_path):
    cfg = tiny_config()
    stop = preemption.StopRequest()

    def make(start):
        stop.request(15)  # immediate mode: raises Stopped (e.g. while the pipeline starts)
        return iter(tiny_batches())

    out = loop.train(new_trainer(cfg), make, cfg, str(tmp_path), 8000, log=lambda s: None,
                     stop=stop)
    assert out["stopped"] == 15 and out["step"] == 0
    assert latest(tmp_path) is None
    with pytest.raises(KeyboardInterrupt, match="second signal"):
        stop.request(15)


# --- (d) data seed ---------------------------------------------------------------------

def test_the_data_seed_of_a_resume_is_not_another_seeds_fresh_run():
    assert data_seed(0, 0) == 0 and data_seed(5, 0) == 5  # fresh runs keep their order
    assert data_seed(0, 1) != data_seed(1, 0)
    seeds = {data_seed(s, k) for s in range(20) for k in range(20)}
    assert len(seeds) == 400
    # A value recorded from the reference implementation of the hash (tests/test_seeds.py).
    assert data_seed(3, 200) == 319665505
    assert all(0 <= s < 2**32 for s in seeds)


# --- non-finite losses --------------------------------------------------------------------

def _nan_from(at):
    """Batches whose audio turns NaN from the batch of step `at` on (1-based)."""
    def make(start):
        def gen():
            for i, (a, t) in enumerate(tiny_batches().repeat()):
                step = start + i + 1
                yield (a * np.nan if step >= at else a), t
        return gen()
    return make


def test_a_nonfinite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config()
    cfg.train.steps, cfg.train.summary_every = 10, 100
    trainer = new_trainer(cfg)
    with pytest.raises(FloatingPointError, match=r"non-finite \[.*'d_adversarial'.*\] at step 3; the "
                                                 r"state was saved to .*nonfinite-3.*skip_nonfinite"):
        loop.train(trainer, _nan_from(3), cfg, str(tmp_path), 8000, log=lambda s: None)
    assert latest(tmp_path).endswith("ckpt-2")
    assert (tmp_path / "nonfinite-3").is_dir()


def test_skip_nonfinite_undoes_and_counts_the_bad_steps(tmp_path):
    cfg = tiny_config()
    cfg.train.steps, cfg.train.summary_every, cfg.train.skip_nonfinite = 6, 1, True
    trainer = new_trainer(cfg)
    reference = new_trainer(cfg)
    good = iter(tiny_batches().repeat())
    for _ in range(2):
        reference.train_step(next(good))
    make_nan_at = {3, 4}

    def make(start):
        def gen():
            for i, (a, t) in enumerate(tiny_batches().repeat()):
                yield (a * np.nan if start + i + 1 in make_nan_at else a), t
        return gen()

    lines = []
    before = None

    class Spy:
        def __init__(self):
            self.it = make(0)

        def __next__(self):
            nonlocal before
            if int(trainer.step.numpy()) == 2:
                before = [v.numpy().copy() for v in trainer.training_state()]
            return next(self.it)

    out = loop.train(trainer, lambda start: Spy(), cfg, str(tmp_path), 8000, log=lines.append)
    assert out["step"] == 6 and out["skipped"] == 2
    assert any("step 3: non-finite" in s and "undone (1 skipped so far)" in s for s in lines)
    assert "2 step(s) had non-finite values and were undone (train.skip_nonfinite)" in lines
    assert all(np.isfinite(v.numpy()).all() for v in trainer.training_state()
               if np.issubdtype(v.numpy().dtype, np.floating))
    # The two undone steps left the state of step 2 untouched: the first good step after
    # them starts from it (same weights, optimizers, replay buffer).
    for a, b in zip(before, [v.numpy() for v in reference.training_state()]):
        np.testing.assert_array_equal(a, b)
    restored = new_trainer(cfg, seed=4)
    manager = tf.train.CheckpointManager(restored.checkpoint(), ckpt_dir(tmp_path), 3)
    assert loop.restore_latest(restored, manager) == 6
    assert int(restored.skipped.numpy()) == 2
    tags = _scalar_values(tmp_path, "train/skipped_nonfinite")
    assert tags[6] == 2 and tags[2] == 0


def test_a_skipped_step_leaves_the_state_as_before(tmp_path):
    cfg = tiny_config()
    cfg.train.skip_nonfinite = True
    trainer = new_trainer(cfg)
    audio, text = next(iter(tiny_batches()))
    trainer.train_step((audio, text))
    before = [v.numpy().copy() for v in trainer.training_state()]
    rng_before = [v.numpy().copy() for v in trainer.rng_states()]
    values = trainer.train_step((audio * np.nan, text))
    assert float(values["skipped"]) == 1.0 and int(trainer.skipped.numpy()) == 1
    for a, v in zip(before, trainer.training_state()):
        np.testing.assert_array_equal(a, v.numpy())
    assert int(trainer.step.numpy()) == 2  # the step counter and random streams advance
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(rng_before, trainer.rng_states()))
    assert float(trainer.train_step((audio, text))["skipped"]) == 0.0


def _scalar_values(run_dir, tag):
    import os

    out = {}
    for name in os.listdir(run_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(run_dir, name)):
                for v in event.summary.value:
                    if v.tag == tag:
                        out[event.step] = float(tf.make_ndarray(v.tensor))
    return out


# --- progress: the time left -------------------------------------------------------------

def test_the_eta_is_the_steps_left_at_the_measured_speed():
    assert loop.format_eta(21, 3000, 6.5) == "step 21/3000, ~7.6 min left"  # 2,979 / 6.5 s
    for step, total, rate in ((0, 3000, 6.557), (1999, 2000, 0.25), (200, 100_000, 12.0)):
        line = loop.format_eta(step, total, rate)
        minutes = float(re.fullmatch(rf"step {step}/{total}, ~([\d.]+) min left", line)[1])
        assert minutes == pytest.approx((total - step) / rate / 60, abs=0.05)
    # The same steps at half the speed take twice as long.
    fast, slow = (float(re.search(r"~([\d.]+) min", loop.format_eta(0, 3000, r))[1])
                  for r in (1 / 0.0816, 1 / 0.1525))
    assert (fast, slow) == (4.1, 7.6)
    assert loop.format_eta(3000, 3000, 6.5) == "step 3000/3000, done"
    assert loop.format_eta(3001, 3000, 0.0) == "step 3001/3000, done"  # a resumed longer run
    for rate in (0.0, -1.0, float("inf"), float("nan")):
        assert loop.format_eta(5, 10, rate) == "step 5/10, ? min left"


def test_the_eta_says_where_a_time_budget_stops_the_run():
    # 2,979 steps need 7.6 min; 354 s of budget hold 354 x 6.5 = 2,301 of them.
    assert loop.format_eta(21, 3000, 6.5, budget_left_s=354.0) == (
        "step 21/3000, ~7.6 min left; the time budget stops it in ~5.9 min, near step 2322")
    assert loop.format_eta(21, 3000, 6.5, budget_left_s=-3.0) == (
        "step 21/3000, ~7.6 min left; the time budget stops it in ~0.0 min, near step 21")
    assert loop.format_eta(21, 3000, 6.5, budget_left_s=459.0) == "step 21/3000, ~7.6 min left"


def test_the_progress_line_leads_with_the_eta():
    values = {"d_total": 1.9, "d_adversarial": 1.6, "d_real": 0.3, "g_total": 2.1, "z_spread": 0.7}
    assert loop.format_progress(100, 6000, 4.0, values) == (  # 5,900 steps / 4 per s = 24.6 min
        "step 100/6000, ~24.6 min left (4.00 steps/s) d_total=1.9 (adversarial=1.6) g_total=2.1 "
        "z_spread=0.7")
    assert loop.format_progress(100, 6000, 4.0, {}, budget_left_s=60.0) == (
        "step 100/6000, ~24.6 min left; the time budget stops it in ~1.0 min, near step 340 "
        "(4.00 steps/s)")


def test_the_first_eta_comes_after_the_first_timed_steps(tmp_path, monkeypatch):
    # The first ETA once 2 steps after the first (which traces) have run: step 3 of 4, which
    # is no summary step (summaries every 2). A budget that never runs out on a clock that
    # stands still is in the line; the progress lines carry the ETA too.
    monkeypatch.setattr(loop, "ETA_FIRST_STEPS", 2)
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: 0.0,
                                                            perf_counter=time.perf_counter))
    cfg = tiny_config()
    lines = []
    trainer = new_trainer(cfg)
    out = loop.train(trainer, lambda start: iter(tiny_batches().repeat()), cfg, str(tmp_path),
                     8000, log=lines.append, max_seconds=0.001)
    assert out["step"] == 4
    steps = [line for line in lines if line.startswith("step ")]
    assert len(steps) == 3, lines
    assert re.fullmatch(r"step 2/4, ~[\d.]+ min left; the time budget stops it in ~0\.0 min, "
                        r"near step 2 \([\d.]+ steps/s\) d_total=.*", steps[0]), steps[0]
    assert re.fullmatch(r"step 3/4, ~[\d.]+ min left; the time budget stops it in ~0\.0 min, "
                        r"near step 3 \([\d.]+ steps/s over steps 2-3\)", steps[1]), steps[1]
    assert re.fullmatch(r"step 4/4, done \([\d.]+ steps/s\) d_total=.*", steps[2]), steps[2]
