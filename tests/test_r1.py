"""Lazy R1 (condgan.objective.r1): the penalty against a closed-form gradient, its laziness,
its gradient for the critic's weights, and that it trains the critic only."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base
from test_gan import TEXT_DIM

from condgan.config import ConfigError
from condgan.objective import TERMS, Objective, Step
from condgan.objective.r1 import r1_penalty, r1_term
from condgan.training.trainer import build_gan


def _quadratic(a, b):
    """D(x) = sum(a * x^2 / 2 + b * x) per clip: grad_x D = a * x + b."""
    a, b = tf.constant(a), tf.constant(b)
    return lambda x: tf.reduce_sum(a * tf.square(x) / 2 + b * x, axis=[1, 2])[:, None]


def _np_r1(x, a, b):
    grad = a.astype(np.float64) * x + b
    return (grad ** 2).sum(axis=(1, 2)).mean()


def test_the_penalty_is_the_mean_squared_norm_of_the_input_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 64, 1)).astype(np.float32)
    a = rng.normal(size=(64, 1)).astype(np.float32)
    b = rng.normal(size=(64, 1)).astype(np.float32)
    np.testing.assert_allclose(float(r1_penalty(_quadratic(a, b), x)), _np_r1(x, a, b), rtol=1e-5)
    with pytest.raises(ValueError, match="does not depend on its input"):
        r1_penalty(lambda x: tf.ones([5, 1]), x)


def test_it_is_every_times_the_penalty_on_the_due_updates_and_not_computed_on_the_others():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 16, 1)).astype(np.float32)
    a, b = rng.normal(size=(2, 16, 1)).astype(np.float32)
    calls = []

    def critic(audio):
        calls.append(1)
        return _quadratic(a, b)(audio)

    gamma, every = 0.5, 4
    for updates in range(9):
        calls.clear()
        step = Step("d", "hinge", values={"audio": x, "critic": critic, "d_updates": updates})
        got = float(r1_term(step, gamma=gamma, every=every))
        due = updates % every == 0
        want = every * gamma / 2 * _np_r1(x, a, b) if due else 0.0
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=str(updates))
        assert len(calls) == int(due), updates  # eager: the critic runs on due updates only
    # Compiled, both branches are traced once; the critic's pass runs on the due updates only.
    runs = tf.Variable(0)

    def counted(audio):
        runs.assign_add(1)
        return _quadratic(a, b)(audio)

    @tf.function
    def term(updates):
        return r1_term(Step("d", "hinge", values={"audio": x, "critic": counted,
                                                  "d_updates": updates}), gamma=gamma, every=every)

    values = [float(term(tf.constant(u, tf.int64))) for u in range(8)]
    assert int(runs.numpy()) == 2 and [v > 0 for v in values] == [u % 4 == 0 for u in range(8)]


def test_its_gradient_for_the_critics_weight_is_the_closed_form_one():
    # D(x) = w * sum(x^2) / 2: R1 = w^2 * mean ||x||^2, dR1/dw = 2 w mean ||x||^2 (x every).
    x = np.random.default_rng(2).normal(size=(4, 8, 1)).astype(np.float32)
    w = tf.Variable(1.5)

    @tf.function
    def loss_and_grad(updates):
        with tf.GradientTape() as tape:
            step = Step("d", "hinge", values={
                "audio": x, "d_updates": updates,
                "critic": lambda v: w * tf.reduce_sum(tf.square(v), axis=[1, 2]) / 2})
            loss = r1_term(step, gamma=2.0, every=3)
        return loss, tape.gradient(loss, w)

    sq = (x.astype(np.float64) ** 2).sum(axis=(1, 2)).mean()
    loss, grad = loss_and_grad(tf.constant(0, tf.int64))
    np.testing.assert_allclose(float(loss), 3 * 1.5 ** 2 * sq, rtol=1e-5)
    np.testing.assert_allclose(float(grad), 3 * 2 * 1.5 * sq, rtol=1e-5)
    loss, grad = loss_and_grad(tf.constant(1, tf.int64))
    assert float(loss) == 0.0 and float(grad) == 0.0


def config(every=2, **d):
    cfg = base("spectral")
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, TEXT_DIM, 8, 8
    m.replay_capacity = 16
    cfg.objective.d.update(r1=1.0, **d)
    cfg.objective.params["r1"] = {"gamma": 1.0, "every": every}
    cfg.train.batch_size = 4
    return cfg.validate()


def test_the_critic_step_reports_it_on_due_updates_and_trains_the_critic_only():
    assert ("d", "r1") in TERMS and ("g", "r1") not in TERMS
    keras.utils.set_random_seed(0)
    gan = build_gan(config(every=2, adversarial=0.0, contrastive=0.0))
    rng = np.random.default_rng(0)
    audio = tf.constant(rng.uniform(-0.5, 0.5, (4, 1024, 1)).astype(np.float32))
    text = tf.constant(rng.normal(size=(4, TEXT_DIM)).astype(np.float32))
    step = tf.function(gan.discriminator_step)
    g_before = [v.numpy().copy() for v in gan.g_variables]
    d_before = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    values = [float(step(audio, text)["d_r1"]) for _ in range(4)]
    assert values[0] > 0 and values[2] > 0 and values[1] == values[3] == 0.0, values
    assert int(gan.d_optimizer.iterations.numpy()) == 4
    assert max(np.abs(v.numpy() - b).max()
               for v, b in zip(gan.discriminator.trainable_variables, d_before)) > 0
    for v, b in zip(gan.g_variables, g_before):
        np.testing.assert_array_equal(v.numpy(), b)


@pytest.mark.parametrize("params, needle", [
    ({"every": 0}, "every must be a whole number >= 1"),
    ({"every": 2.5}, "every must be a whole number >= 1"),
    ({"gamma": -1.0}, "gamma must be >= 0"),
])
def test_bad_parameters_are_refused(params, needle):
    cfg = config()
    cfg.objective.params["r1"] = params
    with pytest.raises(ConfigError, match=f"objective.params.r1.{needle}"):
        Objective(cfg.objective, cfg.model)
