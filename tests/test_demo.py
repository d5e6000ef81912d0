"""The demo end to end on a tiny budget: prepare, train, export, samples, and its own score."""

import json
import os

from condgan.training import demo


def test_demo_runs_every_stage_and_scores_its_samples(tmp_path, text_encoder_dir, monkeypatch):
    monkeypatch.setattr(demo, "CLASSIFIER_EPOCHS", 1)
    monkeypatch.setattr(demo, "SCORE_CLIPS", 24)
    out = demo.run_demo(str(tmp_path / "demo"), max_minutes=2, steps=2, num_examples=480, seed=0,
                        text_encoder=text_encoder_dir)
    assert out["step"] == 2
    wavs = [f for f in os.listdir(out["samples"]) if f.endswith(".wav")]
    assert len(wavs) == len(demo.DEMO_CAPTIONS) * len(demo.DEMO_SEEDS)
    with open(tmp_path / "demo" / "score.json", encoding="utf-8") as f:
        score = json.load(f)
    assert score == out["score"]
    for name in ("conditional_accuracy", "z_diversity"):
        assert 0.0 <= score[name]["generated"] <= 1.5
    assert score["conditional_accuracy"]["real"] > 0.2  # the 1-epoch classifier beats chance
    # The demo trains the second base.
    with open(tmp_path / "demo" / "run" / "config.json", encoding="utf-8") as f:
        model = json.load(f)["model"]
    assert model["generator"] == "spectral" and model["contrastive_dim"] > 0
