"""The objective's registry (condgan.objective.registry): one sum of weighted, named terms."""

import numpy as np
import pytest
import tensorflow as tf
from test_contrastive import _numpy_info_nce

from condgan.config import ConfigError, ModelConfig, ObjectiveConfig
from condgan.objective import TERMS, Objective, Step, register

MODEL = ModelConfig(contrastive_dim=4)


def _g_step(rng):
    fake_logits = rng.normal(size=(6, 1)).astype(np.float32)
    fake = rng.normal(size=(6, 64, 1)).astype(np.float32)
    fake_2 = rng.normal(size=(6, 64, 1)).astype(np.float32)
    z, z_2 = rng.normal(size=(2, 6, 5)).astype(np.float32)
    a, u = rng.normal(size=(2, 6, 4)).astype(np.float32)
    text = rng.normal(size=(6, 3)).astype(np.float32)
    kl = [np.float32(0.3), np.float32(0.2)]
    step = Step("g", "hinge", values={
        "fake_logits": fake_logits, "fake": fake, "fake_2": fake_2, "z": z, "z_2": z_2,
        "fake_audio_vectors": a, "fake_caption_vectors": u, "critic_text_embedding": text,
        "conditioner_losses": [tf.constant(x) for x in kl], "global_mean": None})
    ms = 1.0 / (np.abs(fake - fake_2).mean() / np.abs(z - z_2).mean() + 1e-5)
    terms = {"adversarial": -fake_logits.astype(np.float64).mean(), "kl": sum(kl),
             "mode_seeking": ms, "contrastive": _numpy_info_nce(a, u, text, 0.1)}
    return step, terms


def test_each_players_total_is_the_weighted_sum_of_its_terms():
    rng = np.random.default_rng(0)
    step, expected = _g_step(rng)
    weights = {"adversarial": 1.0, "kl": 0.7, "mode_seeking": 0.05, "contrastive": 2.5}
    config = ObjectiveConfig(g=weights, d={"adversarial": 1.0})
    values = Objective(config, MODEL).losses("g", step)
    for name, want in expected.items():
        np.testing.assert_allclose(float(values[f"g_{name}"]), want, rtol=1e-5, err_msg=name)
    total = sum(w * expected[name] for name, w in weights.items())
    np.testing.assert_allclose(float(values["g_total"]), total, rtol=1e-5)
    assert set(values) == {"g_total", "g_adversarial", "g_kl", "g_mode_seeking", "g_contrastive"}


def test_a_term_of_weight_zero_is_not_computed():
    calls = []
    step = Step("g", "hinge", values={"fake_logits": np.ones((2, 1), np.float32)},
                lazy={"fake_2": lambda: calls.append("fake_2")})
    config = ObjectiveConfig(g={"adversarial": 1.0, "kl": 0.0, "contrastive": 0.0,
                                "z_diversity": 0.0, "cond_contrastive": 0.0, "mode_seeking": 0.0})
    values = Objective(config, MODEL).losses("g", step)
    assert set(values) == {"g_total", "g_adversarial"} and calls == []
    assert float(values["g_total"]) == -1.0


def test_step_computes_a_lazy_value_once_and_names_what_it_lacks():
    calls = []
    step = Step("d", "hinge", values={"audio": 1}, lazy={"alpha": lambda: calls.append(1) or 0.5})
    assert step.alpha == 0.5 and step.alpha == 0.5 and calls == [1]
    with pytest.raises(AttributeError, match=r"the d step has no 'fake'; it has \['alpha', 'audio'\]"):
        getattr(step, "fake")  # noqa: B009 - the attribute read is what is tested


def test_a_new_term_is_one_registration():
    @register("g", "test_square", params={"scale": 1.0})
    def square(step, scale):
        return scale * tf.reduce_mean(tf.square(step.fake))

    try:
        fake = np.arange(4, dtype=np.float32).reshape(2, 2)
        config = ObjectiveConfig(g={"test_square": 0.5}, params={"test_square": {"scale": 3.0}})
        values = Objective(config, MODEL).losses("g", Step("g", "hinge", values={"fake": fake}))
        assert float(values["g_test_square"]) == pytest.approx(3.0 * np.mean(fake ** 2))
        assert float(values["g_total"]) == pytest.approx(0.5 * 3.0 * np.mean(fake ** 2))
        with pytest.raises(ValueError, match="registered twice"):
            register("g", "test_square")(square)
    finally:
        TERMS.pop(("g", "test_square"))


def test_unknown_names_and_parameters_are_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"objective.g.gp is not a term of the generator; "
                                          r"known: \['adversarial', 'class_head', 'cond_contrastive'"):
        Objective(ObjectiveConfig(g={"gp": 1.0}), MODEL)
    with pytest.raises(ConfigError, match=r"objective.params.contrastive: unknown \['tau'\]"):
        Objective(ObjectiveConfig(params={"contrastive": {"tau": 0.1}}), MODEL)
    with pytest.raises(ConfigError, match="objective.params.nothing: no term is named 'nothing'"):
        Objective(ObjectiveConfig(params={"nothing": {}}), MODEL)
    with pytest.raises(ConfigError, match="objective.params.contrastive.temperature must be a finite"):
        Objective(ObjectiveConfig(params={"contrastive": {"temperature": "hot"}}), MODEL)


def test_every_registered_term_has_a_docstring_and_numeric_defaults():
    assert {("d", "adversarial"), ("d", "gradient_penalty"), ("d", "contrastive"),
            ("d", "class_head"), ("g", "class_head"), ("g", "adversarial"), ("g", "kl"),
            ("g", "mode_seeking"), ("g", "contrastive"), ("g", "cond_contrastive"),
            ("g", "z_diversity")} <= set(TERMS)
    for key, term in TERMS.items():
        assert term.fn.__doc__, key
        assert all(isinstance(v, float) for v in term.params.values()), key
