"""Config dataclasses: JSON round trip and validation messages."""

import json

import pytest

from condgan.config import Config, ConfigError, set_value


def test_json_round_trip_keeps_every_field(tmp_path):
    cfg = Config()
    cfg.model.cond_dim = 256
    cfg.model.cond_augment = False
    cfg.objective.adversarial = "wgan_gp"
    cfg.objective.g["mode_seeking"] = 0.5
    path = tmp_path / "config.json"
    cfg.save(path)
    again = Config.load(path)
    assert again == cfg
    assert json.loads(path.read_text())["model"]["cond_dim"] == 256


@pytest.mark.parametrize("section,key,value,needle", [
    ("model", "length", 1000, "model.length=1000"),
    ("objective", "adversarial", "wasserstein", "objective.adversarial='wasserstein'"),
    ("train", "loss", "wasserstein", "objective.adversarial='wasserstein'"),  # old layout
    ("train", "steps", -1, "train.steps must be >= 0"),
    ("model", "text_dropout", 1.0, "model.text_dropout"),
    ("model", "replay_fraction", 0.0, "model.replay_fraction"),
    ("train", "batch_size", 0, "train.batch_size"),
])
def test_impossible_values_are_named(section, key, value, needle):
    with pytest.raises(ConfigError, match=None) as e:
        Config.from_dict({section: {key: value}})
    assert needle in str(e.value)


def test_unknown_and_mistyped_fields_are_named():
    with pytest.raises(ConfigError, match="unknown field.*cond_dims"):
        Config.from_dict({"model": {"cond_dims": 3}})
    with pytest.raises(ConfigError, match="unknown config section"):
        Config.from_dict({"modle": {}})
    with pytest.raises(ConfigError, match="model.cond_augment must be true or false"):
        Config.from_dict({"model": {"cond_augment": 1}})
    with pytest.raises(ConfigError, match="train.steps must be an integer"):
        Config.from_dict({"train": {"steps": 1.5}})


def test_bad_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json is not valid JSON"):
        Config.load(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        Config.load(tmp_path / "absent.json")


def test_objective_weights_merge_onto_the_defaults_and_must_be_finite_and_not_negative():
    cfg = Config.from_dict({"objective": {"g": {"z_diversity": 0, "mode_seeking": 1}}})
    assert cfg.objective.g == {"adversarial": 1.0, "kl": 1.0, "contrastive": 0.5,
                               "z_diversity": 0, "cond_contrastive": 1.0, "mode_seeking": 1}
    assert cfg.objective.weights("g") == {"adversarial": 1.0, "kl": 1.0, "contrastive": 0.5,
                                          "cond_contrastive": 1.0, "mode_seeking": 1.0}
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(ConfigError, match="objective.d.contrastive must be a finite weight"):
            Config.from_dict({"objective": {"d": {"contrastive": bad}}})
    with pytest.raises(ConfigError, match="objective.params.kl must be an object"):
        Config.from_dict({"objective": {"params": {"kl": 3}}})


def test_an_old_layout_config_is_upgraded_term_by_term():
    old = {"model": {"length": 4096, "generator": "spectral", "discriminator": "spectral",
                     "d_conditioning": "projection", "contrastive_dim": 128, "partials": 0,
                     "pitch_warp": 0.0, "output_squash": "tanh"},
           "train": {"loss": "hinge", "n_critic": 1, "contrastive_weight": 1.0,
                     "g_contrastive_scale": 0.5, "z_diversity_weight": 2.0, "z_diversity_cap": 0.7,
                     "cond_contrastive_weight": 1.0, "contrastive_temperature": 0.2,
                     "mismatch_weight": 0.25, "contrastive_fake_negatives": False}}
    cfg = Config.from_dict(old)
    o = cfg.objective
    assert o.adversarial == "hinge"
    assert o.weights("d") == {"adversarial": 1.0, "contrastive": 1.0}  # no penalty off wgan_gp
    assert o.weights("g") == {"adversarial": 1.0, "kl": 1.0, "contrastive": 0.5,
                              "z_diversity": 2.0, "cond_contrastive": 1.0}
    assert o.params["contrastive"] == {"temperature": 0.2}
    assert o.params["z_diversity"] == {"cap": 0.7}
    assert o.params["adversarial"] == {"mismatch_share": 0.25}
    # Fields the old layout left out took the old defaults, not today's.
    assert (cfg.model.film, cfg.model.text_norm, cfg.model.ema_decay) == (False, "none", 0.0)
    assert (cfg.train.batch_size, cfg.train.steps) == (64, 1000)
    wgan = Config.from_dict({"train": {"loss": "wgan_gp", "gp_weight": 10.0, "mode_seeking_weight": 1.0}})
    assert wgan.objective.weights("d") == {"adversarial": 1.0, "gradient_penalty": 10.0}
    assert wgan.objective.weights("g") == {"adversarial": 1.0, "kl": 1.0, "mode_seeking": 1.0}
    assert (wgan.model.generator, wgan.model.model_dim, wgan.train.n_critic) == ("wavegan", 64, 5)


@pytest.mark.parametrize("section, key, value", [
    ("model", "partials", 8), ("model", "pitch_warp", 2.0), ("model", "output_squash", "soft_clip"),
    ("train", "contrastive_fake_negatives", True), ("model", "generator", "spectral2d")])
def test_a_retired_switch_that_is_on_is_refused_with_a_pointer(section, key, value):
    old = {"train": {"loss": "hinge"}}
    old.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError, match=rf"{section}.{key}=.* retired .*docs/retired.md"):
        Config.from_dict(old)


def test_extends_merges_files_key_by_key_and_names_bad_ones(tmp_path):
    (tmp_path / "base.json").write_text(json.dumps(
        {"model": {"cond_dim": 64, "latent_dim": 50}, "objective": {"g": {"z_diversity": 0}}}))
    (tmp_path / "arm.json").write_text(json.dumps(
        {"extends": "base.json", "model": {"cond_dim": 256}, "objective": {"g": {"kl": 0}}}))
    cfg = Config.load(tmp_path / "arm.json")
    assert (cfg.model.cond_dim, cfg.model.latent_dim) == (256, 50)
    assert cfg.objective.g["z_diversity"] == 0 and cfg.objective.g["kl"] == 0
    assert cfg.objective.g["adversarial"] == 1.0
    (tmp_path / "loop.json").write_text(json.dumps({"extends": "loop.json"}))
    with pytest.raises(ConfigError, match="loop.json extends itself"):
        Config.load(tmp_path / "loop.json")
    (tmp_path / "orphan.json").write_text(json.dumps({"extends": "absent.json"}))
    with pytest.raises(ConfigError, match="cannot read config .*absent.json"):
        Config.load(tmp_path / "orphan.json")


def test_set_value_writes_nested_keys_and_parses_json():
    d = Config().to_dict()
    set_value(d, "objective.g.z_diversity=0.5")
    set_value(d, "objective.params.contrastive.temperature=0.2")
    set_value(d, "model.replay_memory=reservoir")
    cfg = Config.from_dict(d)
    assert cfg.objective.g["z_diversity"] == 0.5
    assert cfg.objective.params["contrastive"] == {"temperature": 0.2}
    assert cfg.model.replay_memory == "reservoir"
    for bad in ("objective.g.kl", "steps=3", "model..x=1"):
        with pytest.raises(ConfigError, match="expected section.key=value"):
            set_value(d, bad)


def test_old_loss_keys_beside_an_objective_section_are_refused():
    d = Config().to_dict()
    d["train"]["contrastive_weight"] = 1.0
    with pytest.raises(ConfigError, match="train.contrastive_weight belongs to the layout before"):
        Config.from_dict(d)


def test_a_file_may_describe_itself(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"description": "a note", "model": {"cond_dim": 64}}))
    assert Config.load(tmp_path / "r.json").model.cond_dim == 64


@pytest.mark.parametrize("section, key, value", [
    ("model", "partials", 8), ("model", "pitch_warp", 2.0), ("model", "output_squash", "soft_clip"),
    ("train", "contrastive_fake_negatives", True), ("model", "generator", "spectral2d")])
def test_a_retired_switch_in_todays_layout_is_refused_with_a_pointer(section, key, value):
    with pytest.raises(ConfigError, match=rf"{section}.{key}.* retired .*docs/retired.md"):
        Config.from_dict({section: {key: value}})


@pytest.mark.parametrize("model, needle", [
    ({"d_frequency_scale": "log"}, "model.d_frequency_scale='log' is unknown"),
    ({"d_frequency_scale": "mel", "discriminator": "wavegan", "d_conditioning": "concat"},
     "model.d_frequency_scale='mel' is a switch of the spectral critic; the 'wavegan' "
     "discriminator"),
    ({"d_frequency_scale": "mel", "d_mel_bands": 7}, "model.d_mel_bands must be in [8, "
                                                     "stft_frame // 2 + 1 = 129]"),
    ({"d_frequency_scale": "mel", "d_mel_bands": 130}, "got 130"),
    ({"d_frequency_scale": "mel", "stft_frame": 64, "stft_hop": 16, "d_mel_bands": 34},
     "stft_frame // 2 + 1 = 33]"),
    ({"d_frequency_scale": "mel", "sample_rate": 80}, "Nyquist above the lowest band's 40 Hz"),
])
def test_a_mel_critic_that_cannot_be_built_is_refused(model, needle):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"model": model})
    assert needle in str(e.value)


def test_mel_bands_are_checked_only_for_the_mel_critic():
    assert Config().model.d_frequency_scale == "linear"
    for bands in (8, 64, 80, 129):
        Config.from_dict({"model": {"d_frequency_scale": "mel", "d_mel_bands": bands}})
    # The linear critic ignores the field; the WaveGAN critic takes the linear default.
    Config.from_dict({"model": {"d_mel_bands": 500}})
    Config.from_dict({"model": {"discriminator": "wavegan", "d_conditioning": "concat"}})
