"""Child processes of tests/test_distribute.py (each needs a fresh TensorFlow).

  python _distribute_child.py mirrored OUT.json
      two logical CPU devices; compares MirroredStrategy with one device.
  python _distribute_child.py worker TASK_INDEX MODEL_DIR OUT.npz STEPS [STEP_DELAY_S]
      one worker of a MultiWorkerMirroredStrategy cluster (TF_CONFIG set by the
      parent) training through condgan.training.loop; writes its final weights.
"""

import json
import os
import sys
import time

import numpy as np

TEXT_DIM = 16


def tiny_config(*assignments):
    """A tiny run of the first base (the library's defaults are the spectral recipe) with
    WGAN-GP and a little mode seeking, then "section.key[.sub]=value" assignments (as --set)."""
    from _configs import base  # tests/_configs.py; TensorFlow must not start before the devices

    from condgan.config import Config, set_value

    d = base("wavegan").to_dict()
    d["model"].update(length=1024, model_dim=4, text_dim=TEXT_DIM, cond_dim=8, latent_dim=8,
                      replay=True, replay_capacity=16, replay_prob=1.0, replay_fraction=1.0)
    d["objective"]["adversarial"] = "wgan_gp"
    d["objective"]["d"]["gradient_penalty"] = 10.0
    d["objective"]["g"]["mode_seeking"] = 1e-3
    d["train"].update(batch_size=4, n_critic=1, steps=4, checkpoint_every=2, summary_every=2,
                      g_learning_rate=1e-4, d_learning_rate=1e-4)
    for assignment in assignments:
        set_value(d, assignment)
    return Config.from_dict(d)


def batches(n, batch=4, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    audio = rng.uniform(-0.5, 0.5, (n * batch, 1024, 1)).astype("float32")
    text = rng.normal(size=(n * batch, TEXT_DIM)).astype("float32")
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    text[1] = text[0]  # a repeated caption (the contrastive term's multi-positive case)
    return tf.data.Dataset.from_tensor_slices((audio, text)).batch(batch, drop_remainder=True)


def labelled_batches(n, batch=4, seed=0):
    """`batches` with captions and labels (-1: unknown, grouped by the normalised caption;
    "Beep." and "beep" are one group), as condgan.data.make_dataset's."""
    import tensorflow as tf

    audio, text = (np.concatenate(x) for x in zip(*batches(n, batch, seed).as_numpy_iterator()))
    labels = np.array([0, 0, 1, -1, -1, 1, -1, 0] * n)[:n * batch]
    captions = np.array(["Beep.", "beep", "a", "b", "beep", "c", "d", "e"] * n)[:n * batch]
    return tf.data.Dataset.from_tensor_slices((audio, text, captions, labels)).batch(
        batch, drop_remainder=True)


def build_sgd(cfg, strategy):
    """As trainer.build_gan but with SGD: Adam's update hardly changes when every
    gradient is scaled by R, SGD's is R times larger, so SGD shows a scaling error."""
    import keras

    from condgan.gan import CondGAN
    from condgan.objective import Objective

    keras.utils.set_random_seed(cfg.train.seed)
    t = cfg.train
    with strategy.scope():
        gan = CondGAN(cfg.model, seed=t.seed)
        gan.compile(g_optimizer=keras.optimizers.SGD(0.01), d_optimizer=keras.optimizers.SGD(0.01),
                    objective=Objective(cfg.objective, cfg.model), n_critic=t.n_critic)
        gan.build_optimizers()
    # One critic call over real and fake (2B rows) draws its dropout masks and phase
    # shifts for 2B rows, which global_batch_streams cannot slice into the replicas'
    # shares of one device's draws (it slices a B-row draw). The comparison runs the
    # two calls; the fused call's update equals them on one device (tests/test_bench.py).
    gan.fused_d_pass = False
    return gan


def state(gan):
    """Every model variable (weights, replay buffer, seed states) by position."""
    return [np.asarray(v.numpy()) for v in gan.variables]


def floats(values):
    return [v for v in values if np.issubdtype(v.dtype, np.floating)]


def max_diff(a, b):
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)), initial=0.0))
               for x, y in zip(a, b))


def mirrored(out_path):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.experimental.enable_op_determinism()

    from condgan import seeds
    from condgan.training.trainer import Trainer

    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one = tf.distribute.get_strategy()
    report = {"replicas": mirrored_strategy.num_replicas_in_sync, "configs": {}}
    configs = {
        # GP, KL, mode seeking, dropout, phase shuffle, ring replay, G's weight averages.
        "wgan_gp": tiny_config("model.ema_decay=0.5"),
        # hinge with mismatched captions, both contrastive terms and the c-contrastive
        # term (all_gather paths), reservoir replay.
        "hinge": tiny_config("objective.adversarial=hinge", "objective.d.gradient_penalty=0",
                             "objective.params.adversarial.mismatch_share=0.5",
                             "objective.d.contrastive=1.0", "objective.g.contrastive=1.0",
                             "objective.g.cond_contrastive=1.0", "model.contrastive_dim=4",
                             "model.replay_memory=reservoir"),
        # The critic's hard negatives (global candidates and masked mean; groups from the
        # labels and the captions' py_function) and lazy R1 (due on the first step only).
        "critic": tiny_config("objective.adversarial=hinge", "objective.d.gradient_penalty=0",
                              "objective.d.hard_negatives=0.5", "objective.d.r1=1.0",
                              "objective.params.r1.every=2", "objective.params.r1.gamma=10.0"),
    }
    for name, cfg in configs.items():
        ds = labelled_batches(2) if name == "critic" else batches(2)
        rows = {}
        # Trainer path.
        reference = Trainer(build_sgd(cfg, one))
        ref_values = [{k: float(v) for k, v in reference.train_step(b).items()} for b in ds]
        with seeds.global_batch_streams():
            trainer = Trainer(build_sgd(cfg, mirrored_strategy), mirrored_strategy)
            values = [{k: float(v) for k, v in trainer.train_step(b).items()}
                      for b in trainer.distribute(ds)]
        rows["trainer_loss_max_diff"] = max(abs(a[k] - b[k]) for a, b in zip(ref_values, values)
                                            for k in a)
        rows["trainer_state_max_diff"] = max_diff(state(reference.gan), state(trainer.gan))
        rows["weights_moved"] = max_diff(floats(state(reference.gan)),
                                         floats(state(build_sgd(cfg, one))))
        rows["losses"] = ref_values[-1]
        rows["first_losses"] = ref_values[0]
        # Every replica holds the same replay buffer (the one-device buffer).
        copies = [np.asarray(v) for v in
                  mirrored_strategy.experimental_local_results(trainer.gan.replay.c_buffer.value)]
        rows["replay_copies_max_diff"] = max_diff([copies[0]], [copies[1]])
        rows["replay_count"] = int(trainer.gan.replay.count.numpy())
        if trainer.gan.ema is not None:  # the averages: in sync on both replicas, not a copy
            ema_copies = [np.asarray(v) for v in mirrored_strategy.experimental_local_results(
                trainer.gan.ema_generator.weights[0].value)]
            rows["ema_copies_max_diff"] = max_diff([ema_copies[0]], [ema_copies[1]])
            rows["ema_lag"] = max_diff([w.numpy() for w in trainer.gan.ema_generator.weights],
                                       [w.numpy() for w in trainer.gan.generator.weights])
            rows["ema_updates"] = int(trainer.gan.ema_updates.numpy())
        report["configs"][name] = rows
        if name != "wgan_gp":
            continue
        # Keras fit path (one config: it costs two more traces).
        ref_gan = build_sgd(cfg, one)
        ref_history = ref_gan.fit(ds, epochs=1, verbose=0).history
        with seeds.global_batch_streams():
            gan = build_sgd(cfg, mirrored_strategy)
            history = gan.fit(ds, epochs=1, verbose=0).history
        rows["fit_state_max_diff"] = max_diff(state(ref_gan), state(gan))
        rows["fit_loss_max_diff"] = max(abs(ref_history[k][-1] - history[k][-1])
                                        for k in ref_history)
    report["draws"] = replica_draws(mirrored_strategy)
    try:
        trainer.check_batch_size(3)
        report["batch_error"] = None
    except ValueError as e:
        report["batch_error"] = str(e)
    with open(out_path, "w") as f:
        json.dump(report, f)


def replica_draws(strategy):
    """Per-replica draws in the default (fold-in) mode, from identical inputs."""
    import tensorflow as tf

    from condgan.method.text_projection import TextProjection
    from condgan.nets.phase_shuffle import PhaseShuffle
    from condgan.training.trainer import Trainer

    cfg = tiny_config()
    gan = build_sgd(cfg, strategy)
    trainer = Trainer(gan, strategy)
    with strategy.scope():
        projection = TextProjection(8, dropout=0.5, seed=3)
        projection.build((None, TEXT_DIM))
        shuffle = PhaseShuffle(2, seed=4)
    z_state_before = np.asarray(gan.seed_generator.state.numpy())
    text = tf.ones([2, TEXT_DIM]) / np.sqrt(TEXT_DIM)

    @tf.function
    def draw():
        def fn():
            return {"z": gan._sample_z(2),
                    "c": gan.conditioner(text, training=True),
                    "dropout": projection(text, training=True),
                    "shift": shuffle(tf.reshape(tf.range(2 * 8, dtype=tf.float32), [2, 8, 1]),
                                     training=True)}
        return strategy.run(fn)

    out = draw()
    local = {k: [np.asarray(x) for x in strategy.experimental_local_results(v)]
             for k, v in out.items()}
    # The reference: replica r's z is N(0, 1) seeded by fold_in(state, r).
    seed = tf.cast(tf.math.floormod(tf.constant(z_state_before), tf.int32.max - 1), tf.int32)
    expected = [tf.random.stateless_normal(
        [2, cfg.model.latent_dim], seed=tf.random.experimental.stateless_fold_in(seed, r)).numpy()
        for r in range(2)]
    states = [np.asarray(v) for v in strategy.experimental_local_results(gan.seed_generator.state.value)]
    return {
        "differ": {k: bool(np.max(np.abs(v[0] - v[1])) > 1e-6) for k, v in local.items()},
        "z_matches_fold_in_reference": bool(all(np.allclose(local["z"][r], expected[r])
                                                for r in range(2))),
        "z_state_advanced_by": (states[0] - z_state_before).tolist(),
        "z_states_equal_on_replicas": bool(np.array_equal(states[0], states[1])),
        "rng_states": len(trainer.rng_states()),
    }


class SlowIterator:
    """Batches with a pause before each (so a parent can kill a worker mid-run)."""

    def __init__(self, iterator, delay):
        self.iterator, self.delay = iterator, delay

    def __iter__(self):
        return self

    def __next__(self):
        time.sleep(self.delay)
        return next(self.iterator)


def worker(task_index, model_dir, out_path, steps, delay=0.0):
    from condgan.training import preemption

    # As condgan-train: the SIGTERM handler first, then the strategy (which must give
    # the signal back to it, see distribute.reinstall_signal_handlers).
    with preemption.stop_on_signals() as stop:
        _worker(task_index, model_dir, out_path, steps, delay, stop)


def _worker(task_index, model_dir, out_path, steps, delay, stop):
    from condgan import distribute
    from condgan.training import loop
    from condgan.training.trainer import Trainer, build_gan

    strategy = distribute.make_strategy("multi_worker")
    import tensorflow as tf  # noqa: F401 (after the strategy, as run.py does)

    cfg = tiny_config(f"train.steps={steps}", "train.checkpoint_every=2",
                      "train.summary_every=100", "train.strategy=multi_worker")
    trainer = Trainer(build_gan(cfg, strategy), strategy)

    def make_iterator(start_step):
        return SlowIterator(iter(trainer.distribute(batches(8, seed=start_step).repeat())), delay)

    out = loop.train(trainer, make_iterator, cfg, model_dir, 8000, stop=stop,
                     log=lambda s: print(f"[worker {task_index}] {s}", file=sys.stderr, flush=True))
    np.savez(out_path, step=out["step"], chief=distribute.is_chief(strategy),
             stopped=out.get("stopped", 0),
             replicas=strategy.num_replicas_in_sync,
             **{f"v{i}": v for i, v in enumerate(state(trainer.gan))})
    print(f"[worker {task_index}] done at step {out['step']}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if sys.argv[1] == "mirrored":
        mirrored(sys.argv[2])
    elif sys.argv[1] == "worker":
        worker(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]),
               float(sys.argv[6]) if len(sys.argv) > 6 else 0.0)
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]!r}")
