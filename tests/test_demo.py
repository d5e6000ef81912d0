"""condgan-demo end to end on a tiny budget: its stages, a console free of TF/absl noise, its score.

The demo trains its recipe file (experiments/configs/recipes/demo.json); only the step
count, the dataset size and the text encoder are made small through its flags.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from condgan.config import Config
from condgan.training import demo as demo_module

RECIPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "experiments", "configs", "recipes", "demo.json")

# Lines that are TensorFlow's or absl's, not the demo's: the glog / absl prefix
# ("I1201 14:52:56.462238 1398 functional_saver.py:440]"), TF's C++ prefix
# ("2026-12-01 14:52:50.484411: E external/..."), and the messages of issue 11.
NOISE = [
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d"),
    re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "),
    re.compile(r"\w\.(py|cc):\d+\]"),
    re.compile(r"Unable to register|oneDNN|cuda|TensorRT|Sharding callback|fingerprint"),
    re.compile(r"^(INFO|WARNING|ERROR):(absl|tensorflow)"),
]


def noise(text):
    return [line for line in text.splitlines() if any(p.search(line) for p in NOISE)]


def demo(out_dir, text_encoder, steps, *extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "condgan.training.demo", f"--output_dir={out_dir}",
         f"--steps={steps}", "--num_examples=24", f"--text_encoder={text_encoder}", "--noscore",
         *extra],
        capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, text_encoder_dir):
    out = tmp_path_factory.mktemp("demo") / "demo"
    first = demo(out, text_encoder_dir, 2)
    assert first.returncode == 0, first.stderr[-3000:]
    return out, first


def test_demo_prints_only_its_own_lines(demo_run):
    out, r = demo_run
    lines = (r.stdout + r.stderr).splitlines()
    assert noise(r.stdout + r.stderr) == []
    for stage in range(1, 6):  # stage 6 (scoring) is off here: test_demo_scores_... below
        assert any(line.startswith(f"[{stage}/6]") for line in lines), r.stderr
    assert re.search(r"^step 2/2 [\d.]+ steps/s ETA ", r.stderr, re.M), r.stderr
    assert f"samples (wav + grid.png): {out / 'samples'}" in r.stdout
    assert len(lines) <= 40, lines


def test_demo_resume_is_quiet_and_verbosity_brings_the_logs_back(demo_run, text_encoder_dir):
    out, _ = demo_run
    # A re-run resumes from the checkpoint: TF's partial-restore warnings stay hidden.
    resumed = demo(out, text_encoder_dir, 3)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and noise(resumed.stdout + resumed.stderr) == []
    # --verbosity=0 asks for everything: the detector above sees TF's C++ and absl INFO lines.
    loud = demo(out, text_encoder_dir, 4, "--verbosity=0")
    assert loud.returncode == 0, loud.stderr[-3000:]
    found = noise(loud.stdout + loud.stderr)
    assert any(NOISE[0].search(line) for line in found), loud.stderr[-3000:]
    assert any(NOISE[1].search(line) for line in found), loud.stderr[-3000:]


def test_demo_writes_a_listening_page_that_plays(demo_run, tmp_path):
    from test_listening import assert_not_blank, assert_self_contained, browse

    out, r = demo_run
    page = out / "index.html"
    assert f"listening page:           {page}" in r.stdout
    wavs = sorted(p for p in os.listdir(out / "samples") if p.endswith(".wav"))
    text = page.read_text(encoding="utf-8")
    assert text.count("<audio controls") == len(wavs) >= 4
    assert_self_contained(str(page))
    probe, shot = browse(page, str(tmp_path / "chrome"))
    assert len(probe["durations"]) == len(wavs) and min(probe["durations"]) > 0
    assert probe["errors"] == [0] * len(wavs) and min(probe["images"]) > 0
    assert_not_blank(shot)


def test_demo_scores_its_samples_and_trains_the_second_base(tmp_path, text_encoder_dir, monkeypatch):
    monkeypatch.setattr(demo_module, "CLASSIFIER_EPOCHS", 1)
    monkeypatch.setattr(demo_module, "SCORE_CLIPS", 24)
    out = demo_module.run_demo(str(tmp_path / "demo"), max_minutes=2, steps=2, num_examples=960, seed=0,
                        text_encoder=text_encoder_dir)
    assert out["step"] == 2
    wavs = [f for f in os.listdir(out["samples"]) if f.endswith(".wav")]
    assert len(wavs) == len(demo_module.DEMO_CAPTIONS) * len(demo_module.DEMO_SEEDS)
    with open(tmp_path / "demo" / "score.json", encoding="utf-8") as f:
        score = json.load(f)
    assert score == out["score"]
    for name in ("conditional_accuracy", "z_diversity"):
        assert 0.0 <= score[name]["generated"] <= 1.5
    assert score["conditional_accuracy"]["real"] > 0.2  # the 1-epoch classifier beats chance
    # The demo trains its recipe file: the second base.
    trained = Config.load(tmp_path / "demo" / "run" / "config.json")
    recipe = Config.load(RECIPE)
    assert trained.objective == recipe.objective and trained.model == recipe.model
    assert trained.model.generator == "spectral" and trained.model.contrastive_dim > 0
    assert (trained.train.steps, trained.train.seed) == (2, 0)
    assert trained.train.summary_every == recipe.train.summary_every == 200


def test_demo_config_is_the_recipe_file_with_the_run_values():
    assert os.path.samefile(demo_module.recipe_path(), RECIPE)  # the installed package's copy
    cfg = demo_module.demo_config("/data", "/encoder", 17, 3)
    expected = Config.load(RECIPE)
    expected.data.data_dir, expected.data.text_encoder = "/data", "/encoder"
    expected.train.steps, expected.train.seed = 17, 3
    assert cfg == expected
    assert (cfg.model.length, cfg.model.sample_rate, cfg.model.model_dim) == (4096, 8000, 16)


def test_a_missing_recipe_is_named(monkeypatch):
    monkeypatch.setattr(demo_module, "RECIPE", ("recipes", "nope.json"))
    with pytest.raises(FileNotFoundError, match="recipes/nope.json is not in the installed package "
                                                "condgan.configs"):
        demo_module.demo_config("/data", "/encoder", 1, 0)
