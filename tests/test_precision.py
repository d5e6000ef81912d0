"""model.precision: the full CondGAN step under mixed_bfloat16, and the auto detection."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base

from condgan import precision
from condgan.config import Config, ConfigError
from condgan.training.trainer import Trainer, build_gan

BATCH, LENGTH, TEXT_DIM = 4, 1024, 16


def tiny_config(name: str, mode: str) -> Config:
    cfg = base(name)
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.latent_dim, m.cond_dim = LENGTH, 4, TEXT_DIM, 8, 8
    m.replay_capacity, m.precision = 16, mode
    t = cfg.train
    t.batch_size = BATCH
    o = cfg.objective
    if name == "spectral":
        m.contrastive_dim = 8
        o.g["mode_seeking"] = 1.0
        o.params["adversarial"] = {"mismatch_share": 0.5}
    else:  # WaveGAN with WGAN-GP: the gradient penalty under the policy
        o.adversarial, o.d["gradient_penalty"], t.n_critic = "wgan_gp", 10.0, 2
    return cfg.validate()


def batch(seed=0):
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-1, 1, (BATCH, LENGTH, 1)).astype(np.float32)
    text = rng.normal(size=(BATCH, TEXT_DIM)).astype(np.float32)
    return tf.constant(audio), tf.constant(text)


@pytest.mark.parametrize("base", ["wavegan", "spectral"])
def test_step_under_mixed_bfloat16(base):
    gan = build_gan(tiny_config(base, "mixed_bfloat16"))
    trainer = Trainer(gan)
    for step in range(2):
        values = trainer.train_step(batch(step))
    for name, value in values.items():
        assert value.dtype == tf.float32, name
        assert np.isfinite(value.numpy()), name
    assert values["d_adversarial"].numpy() != 0.0
    # Variables stay float32 (the policy's variable dtype), matmuls run in bfloat16.
    floats = [v for v in gan.variables if v.dtype not in ("int32", "int64")]
    assert floats and all(v.dtype == "float32" for v in floats)
    conv = next(layer for layer in gan.generator.layers if "conv" in layer.name)
    assert conv.compute_dtype == "bfloat16"
    # Replay buffer and conditioner (KL) stay float32.
    assert gan.replay.dtype_policy.compute_dtype == "float32"
    assert all(layer.compute_dtype == "float32" for layer in gan.conditioner.layers)
    # The global policy is back to float32 once the model is built.
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("base", ["wavegan", "spectral"])
def test_bfloat16_generator_close_to_float32(base):
    g32 = build_gan(tiny_config(base, "float32"))
    g16 = build_gan(tiny_config(base, "mixed_bfloat16"))
    # Same weights in both (a random non-zero init of the zero-initialised FiLM / IF layers).
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in g32.get_weights()]
    g32.set_weights(weights)
    g16.set_weights(weights)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(BATCH, 8)).astype(np.float32)
    text = rng.normal(size=(BATCH, TEXT_DIM)).astype(np.float32)
    a32 = g32((z, text)).numpy()
    a16 = g16((z, text))
    assert a16.dtype == tf.float32
    a16 = a16.numpy()
    assert a16.shape == a32.shape == (BATCH, LENGTH, 1)
    # bfloat16 keeps 8 bits of mantissa: about 2 significant digits per product.
    scale = np.abs(a32).max()
    assert scale > 1e-3
    assert np.abs(a16 - a32).max() < 0.1 * scale
    assert np.corrcoef(a16.ravel(), a32.ravel())[0, 1] > 0.98
    assert not np.array_equal(a16, a32)  # it did compute in bfloat16


def test_float32_precision_computes_in_float32():
    gan = build_gan(tiny_config("wavegan", "float32"))
    assert all(layer.compute_dtype == "float32"
               for model in (gan.generator, gan.discriminator) for layer in model.layers)


def test_resolve_and_auto(monkeypatch, tmp_path):
    assert precision.resolve("float32") == "float32"
    assert precision.resolve("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision='fp16' is unknown"):
        precision.resolve("fp16")
    precision.bfloat16_supported.cache_clear()
    monkeypatch.setenv("CONDGAN_BF16", "1")
    assert precision.resolve("auto") == "mixed_bfloat16"
    precision.bfloat16_supported.cache_clear()
    monkeypatch.setenv("CONDGAN_BF16", "0")
    assert precision.resolve("auto") == "float32"
    precision.bfloat16_supported.cache_clear()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    assert {"avx512_bf16", "amx_tile"} <= precision.cpu_flags(str(cpuinfo))
    assert precision.cpu_flags(str(tmp_path / "absent")) == set()


def test_policy_scope_restores_on_error():
    with pytest.raises(RuntimeError):
        with precision.policy_scope("mixed_bfloat16") as name:
            assert name == "mixed_bfloat16"
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


def test_config_refuses_unknown_precision():
    with pytest.raises(ConfigError, match="model.precision='half' is unknown"):
        Config.from_dict({"model": {"precision": "half"}})
