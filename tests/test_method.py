"""The method's four techniques, each against its switch: on, its property holds; off, it does not.

condgan.method has four techniques against mode collapse, each one switch of
`condgan.config.ModelConfig` (`cond_augment`, `text_dropout`, `cond_dim`, `replay`).
The layers' own tests (test_cond_augment.py, test_text_projection.py,
test_embedding_replay.py) check each layer given its arguments; these tests check that
the switch reaches the networks training builds (`condgan.gan.CondGAN`,
`condgan.training.trainer.build_gan`) and does there what the method says, so each
"on" test fails when that technique alone is switched off, and each "off" test states
what is left without it. Tiny networks (1,024 samples, width 4) of the WaveGAN base
and of the recommended recipe on the spectral base; the method's own sizes (z 100-d,
c 128-d).
"""

import _configs
import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from condgan.config import Config, ModelConfig
from condgan.gan import CondGAN
from condgan.method import CondAugment, EmbeddingReplay, TextProjection
from condgan.training.trainer import Trainer, build_gan

TEXT_DIM = 16
LENGTH = 1024
# The first base, and the recommended recipe (the library's defaults) on the second.
BASES = ("wavegan", "recipe")
# Std of eps, a standard normal truncated to [-2, 2] (CondAugment's draw).
TRUNCATED_STD = float(scipy.stats.truncnorm(-2.0, 2.0).std())


def config(name: str, **model_overrides) -> Config:
    """A validated tiny run config (batch 4) of one of `BASES`, with model fields overridden."""
    cfg = _configs.base("wavegan") if name == "wavegan" else Config()
    cfg.model.length, cfg.model.model_dim, cfg.model.text_dim = LENGTH, 4, TEXT_DIM
    for key, value in model_overrides.items():
        setattr(cfg.model, key, value)
    cfg.train.batch_size, cfg.train.n_critic, cfg.train.seed = 4, 1, 0
    return cfg.validate()


def model_config(name: str, **overrides) -> ModelConfig:
    return config(name, **overrides).model


def captions(n: int, seed: int = 0) -> np.ndarray:
    """n unit-norm caption embeddings (as the text encoder's), float32[n, TEXT_DIM]."""
    text = np.random.default_rng(seed).normal(size=(n, TEXT_DIM))
    return (text / np.linalg.norm(text, axis=1, keepdims=True)).astype(np.float32)


def clips(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (n, LENGTH, 1)).astype(np.float32)


def g_step(gan: CondGAN, text: np.ndarray) -> dict[str, float]:
    """One generator update on captions `text` (tensors, as the input pipeline gives)."""
    values = gan.generator_step(tf.constant(text), audio=tf.constant(clips(len(text))))
    return {name: float(value) for name, value in values.items()}


def np_normalize(text: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """model.text_norm in numpy: "none", or "rms" (unit norm times sqrt(text_dim))."""
    text = text.astype(np.float64)
    if cfg.text_norm == "none":
        return text
    return text / np.linalg.norm(text, axis=1, keepdims=True) * np.sqrt(cfg.text_dim)


def np_mean_log_sigma(conditioner: keras.Model, text: np.ndarray, cfg: ModelConfig):
    """CondAugment's (mean, log_sigma) recomputed in numpy from the conditioner's weights."""
    layer = conditioner.get_layer("cond_augment")
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.projection.weights)
    h = np_normalize(text, cfg) @ kernel + bias
    h = np.where(h >= 0, h, 0.2 * h)
    return h[:, :layer.dim], h[:, layer.dim:]


def np_kl(mean, log_sigma) -> float:
    """Mean over elements of KL(N(mean, sigma^2) || N(0, 1))."""
    sigma2 = np.exp(2.0 * log_sigma)
    return float(np.mean(0.5 * (sigma2 + mean ** 2 - 1.0 - np.log(sigma2))))


class Recorder:
    """Stands in for a CondGAN sub-network and records the inputs and outputs of its calls."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, inputs, training=None):
        out = self.model(inputs, training=training)
        first = out[0] if isinstance(out, (list, tuple)) else out
        self.calls.append(([np.asarray(x) for x in inputs], np.asarray(first)))
        return out

    def __getattr__(self, name):
        return getattr(self.model, name)


def record(gan: CondGAN, monkeypatch) -> tuple[Recorder, Recorder]:
    """Records the generator's and the discriminator's calls of `gan`."""
    g, d = Recorder(gan.generator), Recorder(gan.discriminator)
    monkeypatch.setattr(gan, "generator", g)
    monkeypatch.setattr(gan, "discriminator", d)
    return g, d


# --- 1. Conditioning augmentation (model.cond_augment) ------------------------------------

@pytest.mark.parametrize("base", BASES)
def test_cond_augment_on_samples_c_around_the_mean_with_the_kl_in_the_loss(base):
    # No dropout here: the spread of c must come from the Gaussian alone.
    cfg = config(base, cond_augment=True, text_dropout=0.0)
    gan = build_gan(cfg)
    text = np.repeat(captions(1), 4096, axis=0)  # one caption, many draws
    c1 = gan.conditioner(text, training=True).numpy()
    assert len(gan.conditioner.losses) == 1
    kl = float(gan.conditioner.losses[0])
    c2 = gan.conditioner(text, training=True).numpy()
    assert not np.any(np.all(c1 == c2, axis=1))  # every row drawn again
    assert isinstance(gan.conditioner.get_layer("cond_augment"), CondAugment)
    mean, log_sigma = np_mean_log_sigma(gan.conditioner, text, cfg.model)
    np.testing.assert_allclose(kl, cfg.model.kl_weight * np_kl(mean, log_sigma), rtol=1e-5)
    # c = mean + sigma * eps, eps ~ N(0, 1) cut at +-2: the spread of each unit over the
    # draws of one caption is sigma times the truncated normal's std.
    eps = (np.concatenate([c1, c2]) - mean[0]) / np.exp(log_sigma[0])
    assert np.abs(eps).max() <= 2.0 + 1e-3
    np.testing.assert_allclose(eps.std(axis=0), TRUNCATED_STD, rtol=0.08)
    np.testing.assert_allclose(eps.mean(axis=0), 0.0, atol=0.07)

    # At generation c is the mean (of the averaged weights, with model.ema_decay), every
    # time the same, and no loss.
    for conditioner in (gan.conditioner, gan.eval_conditioner):
        c_eval = conditioner(text[:4], training=False).numpy()
        assert not conditioner.losses
        np.testing.assert_array_equal(conditioner(text[:4], training=False).numpy(), c_eval)
        np.testing.assert_allclose(c_eval, np_mean_log_sigma(conditioner, text[:4], cfg.model)[0],
                                   rtol=1e-5, atol=1e-6)

    # The G step's loss holds the KL term (weights before the step; replay comes after it).
    batch = captions(4, seed=1)
    mean, log_sigma = np_mean_log_sigma(gan.conditioner, batch, cfg.model)
    values = g_step(gan, batch)
    np.testing.assert_allclose(values["g_kl"], cfg.model.kl_weight * np_kl(mean, log_sigma),
                               rtol=1e-5)


@pytest.mark.parametrize("base", BASES)
def test_cond_augment_off_gives_c_without_noise_and_no_kl(base):
    cfg = config(base, cond_augment=False, text_dropout=0.0)
    gan = build_gan(cfg)
    assert not any(isinstance(layer, CondAugment) for layer in gan.conditioner.layers)
    text = captions(64)
    c_eval = gan.conditioner(text, training=False).numpy()
    np.testing.assert_array_equal(gan.conditioner(text, training=True).numpy(), c_eval)
    assert not gan.conditioner.losses
    assert g_step(gan, captions(4, seed=1))["g_kl"] == 0.0
    # With the method's dropout, training changes c only by dropout: each unit is dropped
    # (0) or kept and scaled by 1 / (1 - rate), with no sampling noise.
    gan = build_gan(config(base, cond_augment=False, text_dropout=0.5))
    c_eval = gan.conditioner(text, training=False).numpy()
    c = gan.conditioner(text, training=True).numpy()
    kept = c != 0.0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(c[kept], c_eval[kept] / 0.5, rtol=1e-6)


# --- 2. Dropout on the text layer, in G and D (model.text_dropout) -------------------------

def sigma_to_zero(gan: CondGAN) -> None:
    """Sets CondAugment's log_sigma to -600 (sigma underflows to 0): c in training is then
    the dropped-out mean alone, so dropout's zeros can be seen in it."""
    layer = gan.conditioner.get_layer("cond_augment")
    kernel, bias = layer.projection.get_weights()
    kernel[:, layer.dim:] = 0.0
    bias[layer.dim:] = -3000.0  # LeakyReLU(0.2): log_sigma = -600
    layer.projection.set_weights([kernel, bias])


def d_text_projection(gan: CondGAN) -> keras.Model:
    """D's caption path: text_embedding -> (text_norm) -> TextProjection, sharing D's layers."""
    d = gan.discriminator
    assert isinstance(d.get_layer("text_projection"), TextProjection)
    return keras.Model(d.get_layer("text_embedding").output, d.get_layer("text_projection").output)


def d_twice(gan: CondGAN, audio, text, training):
    """D's scores of two calls on the same inputs. Its weights (and spectral norm's power
    iteration vectors, which a training call updates) are put back before the second,
    so only D's random streams (dropout; phase shuffle, set to 0 here) can differ."""
    d = gan.discriminator
    weights = d.get_weights()  # not the seed generators' states
    first = d([audio, text], training=training)
    d.set_weights(weights)
    second = d([audio, text], training=training)
    d.set_weights(weights)
    if isinstance(first, (list, tuple)):
        first, second = first[0], second[0]
    return first.numpy(), second.numpy()


@pytest.mark.parametrize("rate", [0.25, 0.5])
@pytest.mark.parametrize("base", BASES)
def test_text_dropout_on_makes_g_and_d_random_in_training_at_the_configured_rate(base, rate):
    audio, text = clips(8), captions(8)
    many = captions(512, seed=2)
    # D (phase shuffle off: the WaveGAN critic's other random stream; the spectral critic
    # has none): two training calls differ, two inference calls do not.
    gan = CondGAN(model_config(base, text_dropout=rate, phase_shuffle=0), seed=0)
    first, second = d_twice(gan, audio, text, training=True)
    assert np.abs(first - second).max() > 1e-4
    first, second = d_twice(gan, audio, text, training=False)
    np.testing.assert_array_equal(first, second)
    # D's caption path drops units at the configured rate, and scales the kept ones.
    path = d_text_projection(gan)
    t_eval = path(many, training=False).numpy()
    t = path(many, training=True).numpy()
    kept = t != 0.0
    assert abs((1.0 - kept.mean()) - rate) < 0.015  # 65,536 units: binomial std < 0.002
    np.testing.assert_allclose(t[kept], t_eval[kept] / (1.0 - rate), rtol=1e-5)

    # G's conditioner with CondAugment (the method): dropout acts on the mean.
    sigma_to_zero(gan)
    c_eval = gan.conditioner(many, training=False).numpy()
    c = gan.conditioner(many, training=True).numpy()
    kept = c != 0.0
    assert abs((1.0 - kept.mean()) - rate) < 0.015
    np.testing.assert_allclose(c[kept], c_eval[kept] / (1.0 - rate), rtol=1e-5)
    np.testing.assert_array_equal(gan.conditioner(many, training=False).numpy(), c_eval)
    # G's conditioner without CondAugment: a TextProjection, same rate.
    gan = CondGAN(model_config(base, text_dropout=rate, cond_augment=False), seed=0)
    c_eval = gan.conditioner(many, training=False).numpy()
    c = gan.conditioner(many, training=True).numpy()
    kept = c != 0.0
    assert abs((1.0 - kept.mean()) - rate) < 0.015
    np.testing.assert_allclose(c[kept], c_eval[kept] / (1.0 - rate), rtol=1e-5)


@pytest.mark.parametrize("base", BASES)
def test_text_dropout_off_leaves_g_and_d_deterministic_in_training(base):
    audio, text, many = clips(8), captions(8), captions(512, seed=2)
    gan = CondGAN(model_config(base, text_dropout=0.0, phase_shuffle=0), seed=0)
    first, second = d_twice(gan, audio, text, training=True)
    np.testing.assert_array_equal(first, second)
    path = d_text_projection(gan)
    np.testing.assert_array_equal(path(many, training=True), path(many, training=False))
    sigma_to_zero(gan)
    np.testing.assert_array_equal(gan.conditioner(many, training=True),
                                  gan.conditioner(many, training=False))
    gan = CondGAN(model_config(base, text_dropout=0.0, cond_augment=False), seed=0)
    np.testing.assert_array_equal(gan.conditioner(many, training=True),
                                  gan.conditioner(many, training=False))


# --- 3. A 128-d condition beside a 100-d z (model.cond_dim) --------------------------------

@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("arm, cond_dim, reads", [("method", None, 228),
                                                   ("collapsing_baseline", 256, 356)])
def test_cond_dim_sets_c_and_what_the_generator_reads(base, arm, cond_dim, reads):
    overrides = {} if cond_dim is None else {"cond_dim": cond_dim}
    cfg = model_config(base, **overrides)
    width = reads - 100
    assert (cfg.latent_dim, cfg.cond_dim) == (100, width)  # the method's z and c by default
    gan = CondGAN(cfg, seed=0)
    assert gan.conditioner(captions(3), training=False).shape == (3, width)
    assert gan.conditioner(captions(3), training=True).shape == (3, width)
    z_input, c_input = gan.generator.inputs
    assert (z_input.shape[-1], c_input.shape[-1]) == (100, width)
    # The generator's first layer reads [z, c]: latent_dim + cond_dim inputs.
    assert gan.generator.get_layer("z_project").kernel.shape[0] == reads
    assert gan.generator([np.zeros((2, 100), np.float32), np.zeros((2, width), np.float32)]
                         ).shape == (2, LENGTH, 1)
    # D's caption path and the replay buffer hold c's width too.
    assert gan.discriminator.get_layer("text_projection").dim == width
    assert tuple(gan.replay.c_buffer.shape) == (cfg.replay_capacity, width)


# --- 4. Embedding replay (model.replay) ----------------------------------------------------

def replay_config(base: str, replay: bool) -> Config:
    # One slot, every step replays, every row: step 2 replays step 1's last pair in all rows.
    return config(base, replay=replay, replay_capacity=1, replay_prob=1.0, replay_fraction=1.0)


@pytest.mark.parametrize("base", BASES)
def test_replay_on_g_step_uses_the_stored_c_bitwise_and_only_z_varies(base, monkeypatch):
    gan = build_gan(replay_config(base, replay=True))
    g, d = record(gan, monkeypatch)
    first_text, second_text = captions(4, seed=1), captions(4, seed=2)
    first = g_step(gan, first_text)
    (_, c1), _ = g.calls[0]  # G's first call is the step's (later ones: a second z)
    g.calls.clear()
    d.calls.clear()
    second = g_step(gan, second_text)
    (z2, c2), fake = g.calls[0]
    for row in range(4):  # every row's c is step 1's last c, bit for bit
        np.testing.assert_array_equal(c2[row], c1[3])
    # The critic judges them against the stored caption, not the batch's.
    critic_text = [inputs[1] for inputs, _ in d.calls if np.array_equal(inputs[0], fake)]
    assert len(critic_text) == 1
    np.testing.assert_array_equal(critic_text[0], np.repeat(first_text[3:], 4, axis=0))
    # Four replays of one stored pair differ only through z.
    assert len({row.tobytes() for row in z2}) == 4
    assert len({row.tobytes() for row in fake}) == 4
    assert isinstance(gan.replay, EmbeddingReplay)
    assert first["replayed"] == 0.0 and second["replayed"] == 1.0  # step 1: nothing stored yet
    # The slot now holds step 2's last fresh pair (its replayed c was not stored again).
    np.testing.assert_array_equal(gan.replay.text_buffer.numpy()[0], second_text[3])
    assert not np.array_equal(gan.replay.c_buffer.numpy()[0], c1[3])


@pytest.mark.parametrize("base", BASES)
def test_replay_off_g_step_uses_fresh_c_only(base, monkeypatch):
    gan = build_gan(replay_config(base, replay=False))
    assert gan.replay is None and "replayed" not in gan.metric_names
    assert not [v for v in gan.variables if "buffer" in v.path]
    g, d = record(gan, monkeypatch)
    first_text, second_text = captions(4, seed=1), captions(4, seed=2)
    g_step(gan, first_text)
    (_, c1), _ = g.calls[0]
    g.calls.clear()
    d.calls.clear()
    g_step(gan, second_text)
    (_, c2), fake = g.calls[0]
    seen = {row.tobytes() for row in c1}
    assert not any(row.tobytes() in seen for row in c2)
    critic_text = [inputs[1] for inputs, _ in d.calls if np.array_equal(inputs[0], fake)]
    assert len(critic_text) == 1
    np.testing.assert_array_equal(critic_text[0], second_text)


def test_replay_buffer_is_in_the_checkpoint(tmp_path):
    cfg = config("recipe", replay=True, replay_capacity=6, replay_prob=0.5)
    trainer = Trainer(build_gan(cfg))
    for seed in range(3):  # 12 pairs through a ring of 6: it wraps
        g_step(trainer.gan, captions(4, seed=seed))
    replay = trainer.gan.replay
    saved = [v.numpy().copy() for v in (replay.text_buffer, replay.c_buffer, replay.count,
                                         replay.write_index)]
    assert saved[2] == 6 and saved[3] == 0
    path = trainer.checkpoint().save(str(tmp_path / "ckpt"))

    cfg.train.seed = 5
    fresh = Trainer(build_gan(cfg))
    assert not np.any(fresh.gan.replay.c_buffer.numpy())
    fresh.checkpoint().restore(path).assert_existing_objects_matched()
    restored = fresh.gan.replay
    for a, b in zip(saved, (restored.text_buffer, restored.c_buffer, restored.count,
                            restored.write_index)):
        np.testing.assert_array_equal(a, b.numpy())
