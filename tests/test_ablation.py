"""The ablation's arms: each adds exactly the step the method names."""

import pytest

from experiments import ablation


@pytest.mark.parametrize("dataset", ["synth", "fsdd"])
def test_arms_add_one_step_each(dataset):
    spec = ablation.dataset_spec(dataset)
    cfg = {arm: ablation.arm_config(spec, arm, 0, "/data", "/enc", None) for arm in ablation.ARMS}
    a = cfg["A"].model
    assert (a.cond_dim, a.cond_augment, a.text_dropout, a.replay) == (256, False, 0.0, False)
    assert cfg["B"].model.cond_augment and cfg["B"].model.kl_weight == 2.0
    assert cfg["B"].model.cond_dim == 256 and cfg["B"].model.text_dropout == 0.0
    assert cfg["C"].model.cond_dim == 128 and cfg["C"].model.text_dropout > 0
    assert not cfg["C"].model.replay and cfg["D"].model.replay
    assert cfg["D"].train.mode_seeking_weight == 0 and cfg["E"].train.mode_seeking_weight > 0

    def diff(x, y):
        return {(s, k) for s in ("model", "train") for k, v in vars(getattr(x, s)).items()
                if getattr(getattr(y, s), k) != v}

    assert diff(cfg["A"], cfg["B"]) == {("model", "cond_augment")}
    assert diff(cfg["B"], cfg["C"]) == {("model", "cond_dim"), ("model", "text_dropout")}
    assert diff(cfg["C"], cfg["D"]) == {("model", "replay")}
    assert diff(cfg["D"], cfg["E"]) == {("train", "mode_seeking_weight")}
    # Same data, steps and everything else for every arm.
    assert len({c.train.steps for c in cfg.values()}) == 1
    assert {c.data.data_dir for c in cfg.values()} == {"/data"}


def test_seed_and_steps_override():
    spec = ablation.dataset_spec("synth")
    cfg = ablation.arm_config(spec, "D", 7, "/d", "/e", 12)
    assert cfg.train.seed == 7 and cfg.train.steps == 12


def test_unknown_dataset_is_named():
    with pytest.raises(SystemExit, match="unknown dataset 'nope'"):
        ablation.dataset_spec("nope")
