"""The critic's K+1 class head (model.class_head) and its terms (condgan.objective.class_head)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base
from test_gan import TEXT_DIM

from condgan.config import ConfigError
from condgan.nets import build_discriminator
from condgan.objective import Objective
from condgan.objective.class_head import class_cross_entropy
from condgan.training.run import resolve
from condgan.training.trainer import Trainer, build_gan

K, B = 3, 6


def _np_ce(logits, labels, weights=None):
    logits = logits.astype(np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    ce = -logp[np.arange(len(labels)), labels]
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64)
    return (ce * w).sum() / max(w.sum(), 1.0)


def config(name="spectral", weight=1.0, **model):
    cfg = base(name)
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, TEXT_DIM, 8, 8
    m.replay_capacity, m.class_head, m.num_classes = 16, True, K
    if name == "spectral":
        m.contrastive_dim = 8
    for key, value in model.items():
        setattr(m, key, value)
    cfg.objective.d["class_head"] = cfg.objective.g["class_head"] = weight
    cfg.train.batch_size = B
    return cfg.validate()


def batch(seed=0):
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-0.5, 0.5, (B, 1024, 1)).astype(np.float32)
    text = rng.normal(size=(B, TEXT_DIM)).astype(np.float32)
    labels = np.arange(B) % K
    return (tf.constant(audio), tf.constant(text), tf.constant(["c"] * B), tf.constant(labels, tf.int64))


def test_cross_entropy_matches_numpy_with_and_without_row_weights():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, K + 1)).astype(np.float32)
    labels = np.array([0, 3, 1, 2, 3])
    np.testing.assert_allclose(float(class_cross_entropy(logits, labels)), _np_ce(logits, labels),
                               rtol=1e-5)
    w = np.array([True, False, True, False, True])
    np.testing.assert_allclose(float(class_cross_entropy(logits, labels, w)),
                               _np_ce(logits, labels, w), rtol=1e-5)
    assert float(class_cross_entropy(logits, labels, np.zeros(5, bool))) == 0.0


@pytest.mark.parametrize("name", ["spectral", "wavegan"])
def test_the_critic_gives_k_plus_1_logits_that_read_no_caption(name):
    cfg = config(name)
    d = build_discriminator(cfg.model, seed=0)
    audio, text, _, _ = batch()
    out = d([audio, text], training=False)
    logits = out[-1].numpy()
    assert logits.shape == (B, K + 1)
    other = d([audio, tf.reverse(text, [0])], training=False)
    np.testing.assert_array_equal(other[-1].numpy(), logits)      # the head reads no caption
    assert not np.allclose(other[0].numpy(), out[0].numpy())      # the score does
    # The head is not spectrally normalised (even with model.spectral_norm): its logits
    # scale with its kernel, where a normalised head would divide the scale out.
    head = d.get_layer("class_head")
    kernel = head.kernel
    kernel.assign(kernel * 10.0)
    scaled = d([audio, text], training=False)[-1].numpy() - head.bias.numpy()
    np.testing.assert_allclose(scaled, 10.0 * (logits - head.bias.numpy()), rtol=1e-4, atol=1e-5)
    # It reads the features layer-normalised per clip (numpy reference; gamma 1, beta 0 at
    # initialisation, Keras' epsilon 1e-3).
    norm = d.get_layer("class_head_norm")
    features, normed = keras.Model(d.inputs, [norm.input, norm.output])([audio, text], training=False)
    f = features.numpy()
    mean, var = f.mean(-1, keepdims=True), f.var(-1, keepdims=True)
    np.testing.assert_allclose(normed.numpy(), (f - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    cfg.model.num_classes = 0
    with pytest.raises(ValueError, match="class_head needs model.num_classes"):
        build_discriminator(cfg.model)


def test_the_steps_report_the_terms_and_the_head_learns_on_them():
    keras.utils.set_random_seed(0)
    gan = build_gan(config(replay=False))
    audio, text, _, labels = batch()
    values = gan.discriminator_step(audio, text, labels=labels)
    assert float(values["d_class_head"]) > 0 and np.isfinite(float(values["d_total"]))
    g = gan.generator_step(text, audio=audio, labels=labels)
    assert float(g["g_class_head"]) > 0
    # The head's loss goes down when the critic trains on it alone for a few steps.
    cfg = config(replay=False)
    cfg.objective.d = {"adversarial": 0.0, "contrastive": 0.0, "class_head": 1.0}
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg)
    gan.d_optimizer.learning_rate.assign(1e-2)
    losses = [float(gan.discriminator_step(audio, text, labels=labels)["d_class_head"])
              for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0], losses


def test_g_term_counts_only_the_rows_replay_did_not_swap():
    keras.utils.set_random_seed(0)
    gan = build_gan(config(replay_prob=1.0, replay_fraction=1.0))
    audio, text, _, labels = batch()
    gan.generator_step(text, audio=audio, labels=labels)       # fills the buffer
    out = gan.generator_step(text, audio=audio, labels=labels)  # every row replayed
    assert float(out["replayed"]) == 1.0 and float(out["g_class_head"]) == 0.0


def test_trainer_passes_labels_and_refuses_batches_without_them():
    keras.utils.set_random_seed(0)
    trainer = Trainer(build_gan(config()))
    values = trainer.train_step(batch())
    assert {"d_class_head", "g_class_head"} <= set(values)
    with pytest.raises(ValueError, match="must carry the clips' class labels"):
        trainer.train_step(batch()[:2])


def test_refused_without_the_head_and_resolved_from_the_card():
    cfg = config()
    cfg.model.class_head = False
    with pytest.raises(ConfigError, match="objective.d.class_head reads the critic's class head"):
        Objective(cfg.objective, cfg.model)

    class Card:
        sample_rate, length, classes = 8000, 1024, ["a", "b"]

    cfg = config(num_classes=0)
    assert resolve(cfg, Card(), TEXT_DIM).model.num_classes == 2
    Card.classes = []
    with pytest.raises(ConfigError, match="model.class_head needs class labels"):
        resolve(config(), Card(), TEXT_DIM)
