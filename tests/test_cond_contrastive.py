"""train.cond_contrastive_weight: InfoNCE of the conditioner's c against D's audio vectors of
the real clips, in the G step (condgan.gan)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_contrastive import _numpy_info_nce as numpy_info_nce
from test_gan import tiny_batches, tiny_config

from condgan.config import ConfigError
from condgan.training.trainer import build_gan


def config(weight, **model):
    cfg = tiny_config(contrastive_dim=8, replay=False, **model)
    cfg.train.loss, cfg.train.contrastive_weight = "hinge", 1.0
    cfg.train.cond_contrastive_weight = weight
    return cfg.validate()


def gan_for(weight, **model):
    keras.utils.set_random_seed(0)
    return build_gan(config(weight, **model))


def test_config_refuses_a_negative_weight_and_a_critic_without_heads():
    with pytest.raises(ConfigError, match="train.cond_contrastive_weight must be >= 0"):
        config(-1.0)
    cfg = tiny_config()
    cfg.train.cond_contrastive_weight = 1.0
    with pytest.raises(ConfigError, match="train.cond_contrastive_weight > 0 needs"):
        cfg.validate()


def test_compile_refuses_it_without_heads_and_the_step_needs_the_real_audio():
    gan = gan_for(0.0)
    with pytest.raises(ValueError, match="cond_contrastive_weight must be >= 0"):
        gan.compile(gan.g_optimizer, gan.d_optimizer, loss="hinge", cond_contrastive_weight=-1)
    plain = build_gan(tiny_config())
    with pytest.raises(ValueError, match="needs a discriminator with contrastive heads"):
        plain.compile(plain.g_optimizer, plain.d_optimizer, cond_contrastive_weight=1.0)
    gan = gan_for(1.0)
    text = next(iter(tiny_batches(n=1)))[1]
    with pytest.raises(ValueError, match="needs the real audio"):
        gan.generator_step(text)


def test_value_is_the_info_nce_of_c_against_the_real_clips_audio_vectors():
    # A deterministic conditioner (no CondAugment, no dropout) so c can be recomputed.
    gan = gan_for(1.0, cond_augment=False, text_dropout=0.0)
    audio, text = next(iter(tiny_batches(n=1)))
    text = tf.concat([text[:1], text[:3]], 0)  # a repeated caption: rows 0 and 1
    audio = audio[:4]
    a = gan.discriminate(audio, text, training=False)[1].numpy()
    q = gan.cond_head(gan.conditioner(text, training=True)).numpy()
    expected = numpy_info_nce(a, q, text.numpy(), gan.contrastive_temperature)
    value = float(gan.generator_step(text, audio=audio)[-1])
    assert value == pytest.approx(expected, rel=1e-4)


def test_it_trains_the_conditioner_and_its_head_and_not_the_critic():
    audio, text = next(iter(tiny_batches(n=1)))
    runs = {}
    for weight in (0.0, 1.0):
        gan = gan_for(weight)
        head = None if weight == 0 else [v.numpy().copy() for v in gan.cond_head.weights]
        out = gan.generator_step(text, audio=audio)
        runs[weight] = {"c_nce": float(out[-1]),
                        "conditioner": [v.numpy() for v in gan.conditioner.trainable_variables],
                        "critic": [v.numpy() for v in gan.discriminator.variables]}
        if head is not None:
            assert max(np.abs(h - v.numpy()).max() for h, v in zip(head, gan.cond_head.weights)) > 0
            head_vars = {id(v) for v in gan.cond_head.trainable_variables}
            assert head_vars <= {id(v) for v in gan.g_variables}  # trained by the G optimizer
    assert runs[0.0]["c_nce"] == 0.0 and runs[1.0]["c_nce"] > 0
    assert max(np.abs(a - b).max() for a, b in zip(runs[0.0]["conditioner"],
                                                   runs[1.0]["conditioner"])) > 1e-7
    for a, b in zip(runs[0.0]["critic"], runs[1.0]["critic"]):  # D reads the same in both
        np.testing.assert_array_equal(a, b)


def test_trainer_reports_it_and_checkpoints_the_head(tmp_path):
    from condgan.training.trainer import Trainer

    gan = gan_for(1.0)
    trainer = Trainer(gan)
    values = trainer.train_step(next(iter(tiny_batches(n=1))))
    assert float(values["c_contrastive"]) > 0
    path = trainer.checkpoint().save(str(tmp_path / "ckpt"))
    other = Trainer(gan_for(1.0))
    other.checkpoint().restore(path).assert_consumed()
    np.testing.assert_array_equal(other.gan.cond_head.weights[0].numpy(),
                                  gan.cond_head.weights[0].numpy())
