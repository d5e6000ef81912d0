"""G's weight averages (condgan.ema): the recursion against numpy, and that generation,
checkpoints and export use them."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_gan import fresh_gan, tiny_batches, tiny_config

from condgan import ema
from condgan.config import ConfigError
from condgan.export import GeneratorModule
from condgan.training.trainer import Trainer


def numpy_ema(trajectory, decay):
    """The reference: trajectory[0] is the start, trajectory[k] the source after update k."""
    average = np.array(trajectory[0], np.float64)
    for n, source in enumerate(trajectory[1:]):
        d = min(decay, (1 + n) / (10 + n))
        average = d * average + (1 - d) * np.asarray(source, np.float64)
    return average


def test_warmup_decay_is_min_of_decay_and_the_warmup_rule():
    for n in (0, 1, 5, 50, 5000):
        np.testing.assert_allclose(float(ema.warmup_decay(0.999, n)), min(0.999, (1 + n) / (10 + n)),
                                   rtol=1e-6)
    assert float(ema.warmup_decay(0.9, 10_000)) == pytest.approx(0.9)


def test_update_follows_the_numpy_recursion_and_copies_what_is_not_averaged():
    rng = np.random.default_rng(0)
    source = keras.Variable(rng.normal(size=(3, 2)).astype("float32"))
    frozen = keras.Variable(np.zeros(2, "float32"), trainable=False)
    counter_src = keras.Variable(np.int64(7), dtype="int64", trainable=False)
    averages = [keras.Variable(np.zeros((3, 2), "float32")),
                keras.Variable(np.ones(2, "float32"), trainable=False),
                keras.Variable(np.int64(0), dtype="int64", trainable=False)]
    counter = ema.counter_variable()
    avg = ema.WeightAverage([source, frozen, counter_src], averages, 0.8, counter)
    np.testing.assert_array_equal(averages[0].numpy(), source.numpy())  # starts as a copy
    trajectory = [source.numpy().copy()]
    for step in range(30):
        source.assign(source.numpy() + rng.normal(size=(3, 2)).astype("float32"))
        frozen.assign(np.full(2, step, "float32"))
        counter_src.assign(step)
        trajectory.append(source.numpy().copy())
        avg.update()
    assert int(counter.numpy()) == 30
    np.testing.assert_allclose(averages[0].numpy(), numpy_ema(trajectory, 0.8), rtol=1e-5, atol=1e-6)
    assert np.abs(averages[0].numpy() - source.numpy()).max() > 0.1  # an average, not a copy
    np.testing.assert_array_equal(averages[1].numpy(), frozen.numpy())
    assert int(averages[2].numpy()) == 29


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_bad_decay_is_refused(decay):
    v = keras.Variable(np.zeros(2, "float32"))
    with pytest.raises(ValueError, match="decay must be in"):
        ema.WeightAverage([v], [keras.Variable(np.zeros(2, "float32"))], decay,
                          ema.counter_variable())


def test_averages_that_do_not_match_are_refused():
    v = keras.Variable(np.zeros(2, "float32"))
    with pytest.raises(ValueError, match="does not match"):
        ema.WeightAverage([v], [keras.Variable(np.zeros(3, "float32"))], 0.9, ema.counter_variable())
    with pytest.raises(ValueError, match="1 average variables for 2 sources"):
        ema.WeightAverage([v, v], [keras.Variable(np.zeros(2, "float32"))], 0.9,
                          ema.counter_variable())


@pytest.mark.parametrize("decay", [-0.1, 1.0])
def test_config_refuses_a_bad_ema_decay(decay):
    with pytest.raises(ConfigError, match="model.ema_decay must be in"):
        tiny_config(ema_decay=decay)


def test_off_by_default_generation_uses_the_trained_networks():
    gan = fresh_gan(tiny_config())
    assert gan.ema is None
    assert gan.eval_generator is gan.generator and gan.eval_conditioner is gan.conditioner
    assert not hasattr(gan, "ema_generator")  # old checkpoints have nothing more to restore


def test_training_steps_average_g_and_generation_uses_the_averages(tmp_path):
    cfg = tiny_config(ema_decay=0.6)
    gan = fresh_gan(cfg)
    trainer = Trainer(gan)
    sources = gan.conditioner.trainable_weights + gan.generator.trainable_weights
    trajectory = [[v.numpy().copy() for v in sources]]
    for batch in tiny_batches(n=4):
        trainer.train_step(batch)
        trajectory.append([v.numpy().copy() for v in sources])
    assert int(gan.ema_updates.numpy()) == 4
    averages = gan.ema_conditioner.trainable_weights + gan.ema_generator.trainable_weights
    lag = trained = 0.0
    for i, average in enumerate(averages):
        expected = numpy_ema([step[i] for step in trajectory], 0.6)
        np.testing.assert_allclose(average.numpy(), expected, rtol=1e-4, atol=1e-7)
        lag = max(lag, float(np.abs(average.numpy() - trajectory[-1][i]).max()))
        trained = max(trained, float(np.abs(trajectory[-1][i] - trajectory[0][i]).max()))
    assert trained > 0 and lag > 0.1 * trained  # the averages lag the trained weights

    # Generation (call / generate, and the export module) reads the averaged networks.
    text = tf.constant(np.random.default_rng(1).normal(size=(3, 16)), tf.float32)
    z = tf.random.stateless_normal((3, cfg.model.latent_dim), seed=(0, 0))
    out = gan((z, text)).numpy()
    c = gan.ema_conditioner(text, training=False)
    np.testing.assert_allclose(out, gan.ema_generator([z, c], training=False).numpy(), atol=1e-6)
    raw = gan.generator([z, gan.conditioner(text, training=False)], training=False).numpy()
    assert np.abs(out - raw).max() > 1e-5
    module = GeneratorModule(gan, lambda captions: text, cfg.model.sample_rate)
    np.testing.assert_allclose(module.generate_from_embedding(text, tf.constant(0, tf.int64))["audio"],
                               gan.generate(text, seed=0).numpy(), atol=1e-6)

    # The averages and their counter are in the checkpoint.
    path = trainer.checkpoint().save(str(tmp_path / "ckpt"))
    other = Trainer(fresh_gan(cfg, seed=5))
    other.checkpoint().restore(path).assert_consumed()
    for a, b in zip(gan.ema_generator.weights + gan.ema_conditioner.weights,
                    other.gan.ema_generator.weights + other.gan.ema_conditioner.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(other.gan.ema_updates.numpy()) == 4
    np.testing.assert_allclose(other.gan((z, text)).numpy(), out, atol=1e-6)
