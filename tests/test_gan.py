"""CondGAN step, the Trainer, the loop's checkpoints/resume, and export."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base, compile_gan
from tensorflow.python.framework import config as tf_config

from condgan.config import Config, ConfigError
from condgan.export import export_generator
from condgan.gan import CondGAN, mismatched_captions
from condgan.objective import Objective
from condgan.training import loop
from condgan.training.trainer import Trainer, build_gan

TEXT_DIM = 16


def tiny_config(**model) -> Config:
    """The first base, shrunk, with WaveGAN's WGAN-GP objective."""
    cfg = base("wavegan")
    cfg.objective.adversarial = "wgan_gp"
    cfg.objective.d["gradient_penalty"] = 10.0
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, TEXT_DIM, 8, 8
    m.replay_capacity, m.replay_prob = 16, 1.0
    for k, v in model.items():
        setattr(m, k, v)
    t = cfg.train
    t.batch_size, t.n_critic, t.steps, t.checkpoint_every, t.summary_every = 4, 2, 4, 2, 2
    return cfg.validate()


def tiny_batches(n=4, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-0.5, 0.5, (n * batch, 1024, 1)).astype("float32")
    text = rng.normal(size=(n * batch, TEXT_DIM)).astype("float32")
    text /= np.linalg.norm(text, axis=1, keepdims=True)  # like USE: unit norm
    return tf.data.Dataset.from_tensor_slices((audio, text)).batch(batch, drop_remainder=True)


def fresh_gan(cfg, seed=0):
    keras.utils.set_random_seed(seed)
    return build_gan(cfg)


@pytest.fixture(autouse=True)
def _determinism():
    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    # Back as it was: a later test (in this or another file) must not depend on this one having
    # run. TF 2.17 exports no disable_op_determinism; the framework module has it.
    if not was_on:
        tf_config.disable_op_determinism()


def test_fit_and_trainer_run_the_same_step():
    cfg = tiny_config()
    ds = tiny_batches(n=1)
    gan = fresh_gan(cfg)
    history = gan.fit(ds, epochs=1, verbose=0).history
    trainer = Trainer(fresh_gan(cfg))
    values = trainer.train_step(next(iter(ds)))
    assert set(history) == set(gan.metric_names)
    for name in gan.metric_names:
        got = float(values[name])
        assert np.isfinite(got), name
        np.testing.assert_allclose(history[name][-1], got, rtol=1e-5, atol=1e-6, err_msg=name)
    assert history["d_gradient_penalty"][-1] > 0 and history["g_kl"][-1] > 0
    # Each player's total is its terms' weighted sum (10 x the penalty here).
    np.testing.assert_allclose(
        history["d_total"][-1], history["d_adversarial"][-1] + 10 * history["d_gradient_penalty"][-1],
        rtol=1e-5)


@pytest.mark.parametrize("loss", ["wgan_gp", "hinge", "non_saturating"])
def test_each_loss_trains_finite_and_changes_weights(loss):
    cfg = tiny_config()
    cfg.objective.adversarial = loss
    cfg.objective.d["gradient_penalty"] = 10.0 if loss == "wgan_gp" else 0.0
    cfg.objective.g["mode_seeking"] = 0.5
    trainer = Trainer(fresh_gan(cfg))
    g0 = [w.numpy().copy() for w in trainer.gan.generator.trainable_variables]
    d0 = [w.numpy().copy() for w in trainer.gan.discriminator.trainable_variables]
    for batch in tiny_batches(n=2):
        values = trainer.train_step(batch)
    assert all(np.isfinite(float(v)) for v in values.values())
    assert float(values["g_mode_seeking"]) > 0
    assert ("d_gradient_penalty" in values) == (loss == "wgan_gp")
    g_now = trainer.gan.generator.trainable_variables
    d_now = trainer.gan.discriminator.trainable_variables
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g0, g_now))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(d0, d_now))


def test_switches_off_give_the_baseline():
    cfg = tiny_config(cond_augment=False, text_dropout=0.0, replay=False, cond_dim=16)
    gan = fresh_gan(cfg)
    assert gan.replay is None
    trainer = Trainer(gan)  # keep a reference: tf.function methods hold their instance weakly
    values = trainer.train_step(next(iter(tiny_batches(n=1))))
    assert float(values["g_kl"]) == 0.0 and "replayed" not in values


def test_generation_uses_the_mean_and_z():
    gan = fresh_gan(tiny_config())
    text = next(iter(tiny_batches(n=1)))[1][:2]
    a = gan.generate(text, seed=1).numpy()
    b = gan.generate(text, seed=1).numpy()
    c = gan.generate(text, seed=2).numpy()
    np.testing.assert_array_equal(a, b)  # c = mean: no re-sampling at inference
    assert not np.allclose(a, c)
    assert a.shape == (2, 1024) and np.abs(a).max() <= 1.0


def test_replay_buffer_fills_during_training():
    trainer = Trainer(fresh_gan(tiny_config()))
    for batch in tiny_batches(n=3):
        values = trainer.train_step(batch)
    assert int(trainer.gan.replay.count.numpy()) == 12
    assert float(values["replayed"]) == 0.25  # replay_prob 1, fraction 0.25 of 4


def _train(cfg, model_dir, stop_after=None):
    trainer = Trainer(fresh_gan(cfg))
    batches = tiny_batches(n=8)
    out = loop.train(trainer, lambda start: iter(batches.repeat()), cfg, str(model_dir), 8000,
                     log=lambda s: None, stop_after=stop_after)
    return trainer, out


def _state(trainer):
    gan = trainer.gan
    variables = gan.variables + gan.g_optimizer.variables + gan.d_optimizer.variables
    return [v.numpy().copy() for v in variables]


def test_kill_and_resume_continues_exactly(tmp_path):
    cfg = tiny_config()
    trainer, out = _train(cfg, tmp_path, stop_after=2)  # "killed" after checkpoint at step 2
    assert out["step"] == 2
    saved = _state(trainer)
    batch = next(iter(tiny_batches(n=1, seed=5)))
    resumed = Trainer(fresh_gan(cfg, seed=99))  # different init: restore must overwrite it
    manager = tf.train.CheckpointManager(resumed.checkpoint(), str(tmp_path / loop.CHECKPOINT_SUBDIR), 3)
    assert loop.restore_latest(resumed, manager) == 2
    restored = _state(resumed)
    assert len(restored) == len(saved)
    for a, b in zip(saved, restored):  # weights, both optimizers, replay buffer, RNG states
        np.testing.assert_array_equal(a, b)
    assert int(resumed.gan.replay.count.numpy()) == 8
    # The next step of the resumed trainer is the step the original would have taken.
    expected = trainer.train_step(batch)
    got = resumed.train_step(batch)
    for name in trainer.gan.metric_names:
        np.testing.assert_allclose(float(got[name]), float(expected[name]), rtol=1e-6, err_msg=name)
    _, out = _train(cfg, tmp_path)
    assert out["step"] == cfg.train.steps
    assert json.loads((tmp_path / "config.json").read_text())["model"]["cond_dim"] == 8


def _changed(before, variables):
    return any(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def test_each_update_touches_only_its_own_networks():
    gan = fresh_gan(tiny_config())
    audio, text = next(iter(tiny_batches(n=1)))
    g_vars = gan.g_variables
    d_vars = gan.discriminator.trainable_variables
    g0, d0 = [v.numpy().copy() for v in g_vars], [v.numpy().copy() for v in d_vars]
    gan.discriminator_step(audio, text)
    assert _changed(d0, d_vars) and not _changed(g0, g_vars)
    d1 = [v.numpy().copy() for v in d_vars]
    gan.generator_step(text)
    assert _changed(g0, gan.conditioner.trainable_variables)
    assert _changed(g0[len(gan.conditioner.trainable_variables):], gan.generator.trainable_variables)
    assert not _changed(d1, d_vars)


def test_the_kl_term_trains_the_conditioner_in_the_g_step():
    audio, text = next(iter(tiny_batches(n=1)))
    after = {}
    for kl_weight in (0.0, 100.0):
        gan = fresh_gan(tiny_config(kl_weight=kl_weight, replay=False))
        kl = gan.generator_step(text)["g_kl"]
        assert (float(kl) > 0) == (kl_weight > 0)
        after[kl_weight] = gan.conditioner.trainable_variables[0].numpy()
    assert not np.allclose(after[0.0], after[100.0])


def test_the_gradient_penalty_is_minimised_by_the_d_step():
    cfg = tiny_config()
    cfg.objective.d["gradient_penalty"] = 100.0
    gan = fresh_gan(cfg)
    gan.d_optimizer.learning_rate.assign(1e-3)
    audio, text = next(iter(tiny_batches(n=1)))
    gps = [float(gan.discriminator_step(audio, text)["d_gradient_penalty"]) for _ in range(8)]
    assert gps[-1] < gps[0], gps


def test_a_run_dir_of_another_model_config_is_refused(tmp_path):
    _train(tiny_config(), tmp_path, stop_after=1)
    with pytest.raises(ConfigError, match=r"cond_dim: 8 in the run dir vs 16 now"):
        _train(tiny_config(cond_dim=16), tmp_path)


def test_a_corrupt_latest_checkpoint_is_named(tmp_path):
    cfg = tiny_config()
    _train(cfg, tmp_path)  # checkpoints at steps 2 and 4
    data = tmp_path / loop.CHECKPOINT_SUBDIR / "ckpt-4.data-00000-of-00001"
    data.write_bytes(b"\0" * 100)
    # Falls back to ckpt-2 (tests/test_loop.py has the details).
    resumed = Trainer(fresh_gan(cfg))
    manager = tf.train.CheckpointManager(resumed.checkpoint(), str(tmp_path / loop.CHECKPOINT_SUBDIR), 3)
    lines = []
    assert loop.restore_latest(resumed, manager, lines.append) == 2
    assert "ckpt-4" in lines[0] and "ckpt-2" in lines[-1]


def test_non_finite_losses_stop_the_run_without_replacing_good_checkpoints(tmp_path):
    cfg = tiny_config()
    _train(cfg, tmp_path, stop_after=2)  # a good checkpoint at step 2
    trainer = Trainer(fresh_gan(cfg))
    bad = tiny_batches(n=1).map(lambda a, t: (a * np.nan, t))
    with pytest.raises(FloatingPointError, match="non-finite .* at step 3; the state was saved"):
        loop.train(trainer, lambda s: iter(bad.repeat()), cfg, str(tmp_path), 8000, log=lambda s: None)
    assert tf.train.latest_checkpoint(str(tmp_path / loop.CHECKPOINT_SUBDIR)).endswith("ckpt-2")
    assert (tmp_path / "nonfinite-3").is_dir()


def test_an_unknown_loss_or_critic_steps_are_refused():
    cfg = tiny_config()
    cfg.objective.adversarial = "wgan"
    with pytest.raises(ConfigError, match="objective.adversarial='wgan' is unknown"):
        cfg.validate()
    cfg = tiny_config()
    gan = CondGAN(cfg.model)
    with pytest.raises(ValueError, match="n_critic must be >= 1, got 0"):
        gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(),
                    Objective(cfg.objective, cfg.model), n_critic=0)


EXPORT_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    assert "condgan" not in sys.modules
    m = tf.saved_model.load(sys.argv[1])
    f = m.signatures["serving_default"]
    caps = tf.constant(["a bell rings", "a dog barks twice", "a bell rings"])
    a = f(captions=caps, seed=tf.constant(3, tf.int64))
    b = f(captions=caps, seed=tf.constant(3, tf.int64))
    c = f(captions=caps, seed=tf.constant(4, tf.int64))
    one = f(captions=caps[:1], seed=tf.constant(3, tf.int64))
    audio = a["audio"].numpy()
    try:
        f(captions=tf.constant(["ok", "  "]), seed=tf.constant(0, tf.int64))
        empty = "accepted"
    except tf.errors.InvalidArgumentError as e:
        empty = "non-empty" if "non-empty" in str(e) else str(e)
    e = m.signatures["generate_from_embedding"](
        embeddings=tf.zeros([2, 512]), seed=tf.constant(0, tf.int64))
    print(json.dumps({
        "shape": list(audio.shape), "dtype": str(audio.dtype),
        "max_abs": float(np.abs(audio).max()), "rate": int(a["sample_rate"]),
        "same_seed_same": bool(np.array_equal(audio, b["audio"].numpy())),
        "new_seed_differs": bool(not np.allclose(audio, c["audio"].numpy())),
        "repeat_caption_differs": bool(not np.allclose(audio[0], audio[2])),
        "batch_independent": bool(np.allclose(audio[:1], one["audio"].numpy(), atol=1e-5)),
        "empty": empty, "emb_shape": list(e["audio"].shape)}))
""")


def test_export_loads_without_condgan(tmp_path, text_encoder_dir):
    cfg = tiny_config(text_dim=512)
    gan = fresh_gan(cfg)
    out = export_generator(gan, text_encoder_dir, 8000, str(tmp_path / "export"), cfg.to_dict())
    with pytest.raises(FileExistsError, match="exists"):
        export_generator(gan, text_encoder_dir, 8000, out)
    script = tmp_path / "check.py"
    script.write_text(EXPORT_CHECK)
    env = dict(os.environ, PYTHONPATH="")
    proc = subprocess.run([sys.executable, str(script), out], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["shape"] == [3, 1024] and got["dtype"] == "float32" and got["rate"] == 8000
    assert got["max_abs"] <= 1.0
    assert got["same_seed_same"] and got["new_seed_differs"] and got["repeat_caption_differs"]
    assert got["batch_independent"]
    assert got["empty"] == "non-empty"
    assert got["emb_shape"] == [2, 1024]
    info = json.loads((tmp_path / "export" / "assets" / "condgan_export.json").read_text())
    assert info["config"]["model"]["length"] == 1024
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".export-")]


def test_a_checkpoint_without_rng_state_restores_with_a_note(tmp_path):
    cfg = tiny_config()
    old = Trainer(fresh_gan(cfg))
    old.train_step(next(iter(tiny_batches(n=1))))
    tf.train.CheckpointManager(old.checkpoint(include_rng=False), str(tmp_path), 3).save(1)
    new = Trainer(fresh_gan(cfg, seed=5))
    notes = []
    manager = tf.train.CheckpointManager(new.checkpoint(), str(tmp_path), 3)
    assert loop.restore_latest(new, manager, notes.append) == 1
    assert notes and "no random-generator state" in notes[0]
    for a, b in zip(old.gan.generator.weights, new.gan.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _two_class_batch(batch=8, length=1024):
    """Alternating classes (so the batch rolled by one always pairs a wrong caption):
    class 0 a low sine, class 1 white noise; each class has its own unit caption vector."""
    rng = np.random.default_rng(0)
    t = np.arange(length) / 1024.0
    audio = np.stack([0.5 * np.sin(2 * np.pi * 8 * t + rng.uniform(0, 6)) if i % 2 == 0
                      else rng.uniform(-0.5, 0.5, length) for i in range(batch)])[..., None]
    captions = np.eye(TEXT_DIM, dtype=np.float32)[:2]
    text = captions[np.arange(batch) % 2]
    return tf.constant(audio, tf.float32), tf.constant(text)


def _caption_gap(mismatch_weight, steps=100):
    """Mean D(real, own caption) - mean D(real, other caption) after `steps` D updates."""
    cfg = tiny_config(phase_shuffle=0, text_dropout=0.0)
    cfg.objective.adversarial, cfg.objective.d["gradient_penalty"] = "hinge", 0.0
    cfg.objective.params["adversarial"] = {"mismatch_share": mismatch_weight}
    cfg.train.d_learning_rate = 2e-3
    gan = fresh_gan(cfg)
    audio, text = _two_class_batch()
    step = tf.function(gan.discriminator_step)
    for _ in range(steps - 1):
        step(audio, text)
    # The reported mismatch logit is D's mean score of the real clips under the rolled
    # captions, before the update (no dropout or phase shuffle here, so training=False agrees).
    before = gan.discriminator([audio, tf.roll(text, 1, axis=0)], training=False)
    d_mismatch = step(audio, text)["d_mismatch"]
    expected = float(tf.reduce_mean(before)) if mismatch_weight > 0 else 0.0
    assert float(d_mismatch) == pytest.approx(expected, abs=1e-5)
    right = gan.discriminator([audio, text], training=False)
    wrong = gan.discriminator([audio, text[::-1]], training=False)  # alternating: all swapped
    return float(tf.reduce_mean(right - wrong))


def test_mismatch_weight_teaches_d_to_check_the_caption():
    # Without the term, D has no reason to score a real clip lower under the wrong
    # caption; with it, it must (StackGAN's matching-aware discriminator).
    plain, matching = _caption_gap(0.0), _caption_gap(0.5)
    assert matching > 1.0, (plain, matching)
    assert abs(plain) < 0.3, (plain, matching)


def test_mismatched_captions_rolls_the_batch():
    text = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(mismatched_captions(text).numpy(), text[[3, 0, 1, 2]])


def test_the_objective_refuses_a_mismatch_share_of_one_or_with_wgan_gp():
    cfg = tiny_config()
    cfg.objective.adversarial = "hinge"
    cfg.objective.params["adversarial"] = {"mismatch_share": 1.0}
    with pytest.raises(ConfigError, match=r"mismatch_share must be in \[0, 1\), got 1.0"):
        Objective(cfg.objective, cfg.model)
    cfg.objective.adversarial = "wgan_gp"
    cfg.objective.params["adversarial"] = {"mismatch_share": 0.5}
    with pytest.raises(ConfigError, match="mismatch_share > 0 is not supported with the wgan_gp"):
        Objective(cfg.objective, cfg.model)


def _hinge(cfg, d_contrastive, g_contrastive):
    cfg.objective.adversarial, cfg.train.n_critic = "hinge", 1
    cfg.objective.d.update(gradient_penalty=0.0, contrastive=d_contrastive)
    cfg.objective.g["contrastive"] = g_contrastive
    return cfg


def test_contrastive_term_trains_the_heads_and_is_refused_without_them():
    cfg = _hinge(tiny_config(), 1.0, 1.0)
    with pytest.raises(ConfigError, match="objective.d.contrastive reads the critic's contrastive"):
        Objective(cfg.objective, cfg.model)
    cfg.model.contrastive_dim = 4

    def head_change(weight):
        _hinge(cfg, weight, weight)
        gan = fresh_gan(cfg)
        compile_gan(gan, cfg, keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
        audio, text = _two_class_batch()
        head = gan.discriminator.get_layer("audio_head").kernel
        before = head.numpy().copy()
        values = gan.gan_step(audio, text)
        return np.abs(head.numpy() - before).max(), values

    moved, values = head_change(1.0)
    assert moved > 0
    assert float(values["d_contrastive"]) > 0 and float(values["g_contrastive"]) > 0
    still, values = head_change(0.0)
    assert still == 0 and "d_contrastive" not in values  # off: not computed


def test_the_g_contrastive_weight_weights_only_the_generators_term():
    cfg = tiny_config()
    cfg.model.contrastive_dim = 4
    audio, text = _two_class_batch()

    def g_update(weight):
        _hinge(cfg, 1.0, weight)
        gan = fresh_gan(cfg)
        compile_gan(gan, cfg, keras.optimizers.SGD(1.0), keras.optimizers.SGD(0.0))
        before = [v.numpy().copy() for v in gan.g_variables]
        values = gan.gan_step(audio, text)
        return [v.numpy() - b for v, b in zip(gan.g_variables, before)], values

    # Same seeds: the G update with weight w is the hinge (+ KL) update plus w x the
    # contrastive term's, so it is linear in w.
    d0, _ = g_update(0.0)
    d1, v1 = g_update(1.0)
    d2, _ = g_update(2.0)
    assert float(v1["g_contrastive"]) > 0
    assert any(not np.allclose(a, b) for a, b in zip(d0, d1))
    for a, b, c in zip(d0, d1, d2):
        np.testing.assert_allclose(c - b, b - a, rtol=1e-3, atol=1e-5)
