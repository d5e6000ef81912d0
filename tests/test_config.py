"""Config dataclasses: JSON round trip and validation messages."""

import json

import pytest

from condgan.config import Config, ConfigError


def test_json_round_trip_keeps_every_field(tmp_path):
    cfg = Config()
    cfg.model.cond_dim = 256
    cfg.model.cond_augment = False
    cfg.train.loss = "hinge"
    path = tmp_path / "config.json"
    cfg.save(path)
    again = Config.load(path)
    assert again == cfg
    assert json.loads(path.read_text())["model"]["cond_dim"] == 256


@pytest.mark.parametrize("section,key,value,needle", [
    ("model", "length", 1000, "model.length=1000"),
    ("train", "loss", "wasserstein", "train.loss='wasserstein'"),
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
