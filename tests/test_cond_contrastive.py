"""The g term "cond_contrastive" (condgan.objective.contrastive): InfoNCE of the conditioner's c
against D's audio vectors of the real clips, in the G step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_contrastive import _numpy_info_nce as numpy_info_nce
from test_gan import tiny_batches, tiny_config

from condgan.config import ConfigError
from condgan.objective import Objective
from condgan.training.trainer import Trainer, build_gan


def config(weight, **model):
    cfg = tiny_config(contrastive_dim=8, replay=False, **model)
    cfg.objective.adversarial, cfg.objective.d["gradient_penalty"] = "hinge", 0.0
    cfg.objective.d["contrastive"] = cfg.objective.g["contrastive"] = 1.0
    cfg.objective.g["cond_contrastive"] = weight
    return cfg.validate()


def gan_for(weight, **model):
    keras.utils.set_random_seed(0)
    return build_gan(config(weight, **model))


def head(gan):
    return gan.term_layers["g_cond_contrastive"]


def test_refused_at_a_negative_weight_and_without_heads():
    with pytest.raises(ConfigError, match="objective.g.cond_contrastive must be a finite weight >= 0"):
        config(-1.0)
    cfg = tiny_config()
    cfg.objective.g["cond_contrastive"] = 1.0
    with pytest.raises(ConfigError, match="objective.g.cond_contrastive reads the critic's "
                                          "contrastive heads"):
        Objective(cfg.objective, cfg.model)


def test_the_step_needs_the_real_audio():
    gan = gan_for(1.0)
    text = next(iter(tiny_batches(n=1)))[1]
    with pytest.raises(ValueError, match="read the real clips; pass audio="):
        gan.generator_step(text)


def test_value_is_the_info_nce_of_c_against_the_real_clips_audio_vectors():
    # A deterministic conditioner (no CondAugment, no dropout) so c can be recomputed.
    gan = gan_for(1.0, cond_augment=False, text_dropout=0.0)
    audio, text = next(iter(tiny_batches(n=1)))
    text = tf.concat([text[:1], text[:3]], 0)  # a repeated caption: rows 0 and 1
    audio = audio[:4]
    a = gan.discriminate(audio, text, training=False)[1].numpy()
    q = head(gan)(gan.conditioner(text, training=True)).numpy()
    expected = numpy_info_nce(a, q, text.numpy(), 0.1)
    value = float(gan.generator_step(text, audio=audio)["g_cond_contrastive"])
    assert value == pytest.approx(expected, rel=1e-4)


def test_it_trains_the_conditioner_and_its_head_and_not_the_critic():
    audio, text = next(iter(tiny_batches(n=1)))
    runs = {}
    for weight in (0.0, 1.0):
        gan = gan_for(weight)
        before = None if weight == 0 else [v.numpy().copy() for v in head(gan).weights]
        out = gan.generator_step(text, audio=audio)
        runs[weight] = {"c_nce": out.get("g_cond_contrastive"),
                        "conditioner": [v.numpy() for v in gan.conditioner.trainable_variables],
                        "critic": [v.numpy() for v in gan.discriminator.variables]}
        if before is not None:
            assert max(np.abs(h - v.numpy()).max() for h, v in zip(before, head(gan).weights)) > 0
            head_vars = {id(v) for v in head(gan).trainable_variables}
            assert head_vars <= {id(v) for v in gan.g_variables}  # trained by the G optimizer
    assert runs[0.0]["c_nce"] is None and float(runs[1.0]["c_nce"]) > 0  # off: not computed
    assert max(np.abs(a - b).max() for a, b in zip(runs[0.0]["conditioner"],
                                                   runs[1.0]["conditioner"])) > 1e-7
    for a, b in zip(runs[0.0]["critic"], runs[1.0]["critic"]):  # D reads the same in both
        np.testing.assert_array_equal(a, b)


def test_trainer_reports_it_and_checkpoints_the_head(tmp_path):
    gan = gan_for(1.0)
    trainer = Trainer(gan)
    values = trainer.train_step(next(iter(tiny_batches(n=1))))
    assert float(values["g_cond_contrastive"]) > 0
    path = trainer.checkpoint().save(str(tmp_path / "ckpt"))
    other = Trainer(gan_for(1.0))
    other.checkpoint().restore(path).assert_consumed()
    np.testing.assert_array_equal(head(other.gan).weights[0].numpy(), head(gan).weights[0].numpy())
