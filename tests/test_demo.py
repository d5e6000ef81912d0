"""condgan-demo end to end on a tiny budget: its stages, a console free of TF/absl noise, its score.

The demo trains its recipe file (experiments/configs/recipes/demo.json); only the step
count, the dataset size and the text encoder are made small through its flags. It trains
a fixed number of steps whatever the machine's speed; a time budget (--max_minutes) is
optional, and a score it cut short says so.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from condgan import records
from condgan.config import Config
from condgan.training import demo as demo_module
from condgan.training import loop
from condgan.training.trainer import Trainer

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


ABSL_PY = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+\.py:\d+\] ")
ABSL_CC = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+\.cc:\d+\] ")


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
    assert re.search(r"^\[3/6\] training 2 steps -> ", r.stderr, re.M), r.stderr  # no budget
    assert re.search(r"^step 2/2, done \([\d.]+ steps/s\) d_total=", r.stderr, re.M), r.stderr
    assert re.search(r"^Done in [\d.]+ min \(2 of 2 training steps\)\.$", r.stdout, re.M), r.stdout
    assert f"samples (wav + grid.png): {out / 'samples'}" in r.stdout
    assert len(lines) <= 40, lines


def test_demo_resume_is_quiet_and_verbosity_brings_the_logs_back(demo_run, text_encoder_dir):
    out, _ = demo_run
    # A re-run resumes from the checkpoint: TF's partial-restore warnings stay hidden.
    resumed = demo(out, text_encoder_dir, 3)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and noise(resumed.stdout + resumed.stderr) == []
    # --verbosity=0 asks for everything: the detector above sees absl's Python lines and
    # TF's C++ lines (TF 2.17 writes those as "2026-12-05 17:22:16.96: E ...", TF >= 2.18
    # through absl's C++ log as "E0000 00:00:1796... util.cc:131] ...").
    loud = demo(out, text_encoder_dir, 4, "--verbosity=0")
    assert loud.returncode == 0, loud.stderr[-3000:]
    found = noise(loud.stdout + loud.stderr)
    assert any(ABSL_PY.search(line) for line in found), loud.stderr[-3000:]
    assert any(NOISE[1].search(line) or ABSL_CC.search(line) for line in found), \
        loud.stderr[-3000:]


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


def slow_machine(monkeypatch, seconds_per_step):
    """A machine where every training step takes `seconds_per_step`: the training loop's
    clock reads the number of steps run so far (no wall time is read)."""
    steps_run = [0]
    step_fn = Trainer.train_step

    def counted(self, batch):
        out = step_fn.__get__(self, Trainer)(batch)
        steps_run[0] += 1
        return out

    monkeypatch.setattr(Trainer, "train_step", counted)
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(
        monotonic=lambda: seconds_per_step * steps_run[0], perf_counter=time.perf_counter))


def test_demo_scores_its_samples_per_class_and_says_when_a_budget_cut_it_short(
        tmp_path, text_encoder_dir, monkeypatch):
    monkeypatch.setattr(demo_module, "CLASSIFIER_EPOCHS", 1)
    monkeypatch.setattr(demo_module, "SCORE_CLIPS", 24)
    slow_machine(monkeypatch, seconds_per_step=40.0)
    out_dir = tmp_path / "demo"

    def demo_in_process(max_minutes):
        out = demo_module.run_demo(str(out_dir), max_minutes=max_minutes, steps=2, num_examples=960,
                                   seed=0, text_encoder=text_encoder_dir)
        with open(out_dir / "score.json", encoding="utf-8") as f:
            score = json.load(f)
        assert score == out["score"]
        return out, score

    # A 30-second budget on this machine ends training after 1 of the 2 steps asked: the
    # score is written, and says plainly that it is not comparable.
    cut, score = demo_in_process(max_minutes=0.5)
    assert cut["step"] == 1
    assert score["training"] == cut["training"] == {
        "steps": 1, "steps_asked": 2, "max_minutes": 0.5, "stopped_by_budget": True}
    printed = demo_module.format_score(score)
    assert printed[0] == ("NOT COMPARABLE: the 0.5-minute time budget (--max_minutes) stopped "
                          "training at step 1 of 2: this score is not comparable with a full "
                          "run's (run the same command again to continue training).")
    assert "(of the 2 asked: a time budget stopped it)" in (out_dir / "index.html").read_text()

    # Without a budget the same slow machine trains every step asked (the re-run continues).
    out, score = demo_in_process(max_minutes=None)
    assert out["step"] == 2
    assert score["training"] == {"steps": 2, "steps_asked": 2, "max_minutes": None,
                                 "stopped_by_budget": False}
    wavs = [f for f in os.listdir(out["samples"]) if f.endswith(".wav")]
    assert len(wavs) == len(demo_module.DEMO_CAPTIONS) * len(demo_module.DEMO_SEEDS)
    for name in ("conditional_accuracy", "z_diversity"):
        assert 0.0 <= score[name]["generated"] <= 1.5
    assert score["conditional_accuracy"]["real"] > 0.2  # the 1-epoch classifier beats chance
    # Accuracy per class, in the dataset's class order: 24 clips over 12 classes are 2 per
    # class, so the overall accuracy is the mean over the classes.
    per_class = score["conditional_accuracy_per_class"]
    classes = list(records.load_card(str(out_dir / "data")).classes)
    assert list(per_class) == classes and len(classes) == 12
    generated = [per_class[c]["generated"] for c in classes]
    assert all(g in (0.0, 0.5, 1.0) for g in generated)
    assert score["conditional_accuracy"]["generated"] == pytest.approx(np.mean(generated))
    # Printed: the overall line, then one line per class (generated / real clips).
    printed = demo_module.format_score(score)
    assert not printed[0].startswith("NOT COMPARABLE")
    assert printed[0].startswith(f"Conditional accuracy {score['conditional_accuracy']['generated']:.2f}"
                                 " (real clips: ") and "chance 1/12 = 0.08" in printed[0]
    rows = printed[-len(classes):]
    for c, row in zip(classes, rows):
        assert row.split() == [*c.split(), f"{per_class[c]['generated']:.2f}", "/",
                               f"{per_class[c]['real']:.2f}"], row
    assert len(printed) == 2 + len(classes)
    # The demo trains its recipe file: the second base with the class head on the mel critic
    # (the number of classes comes from the data's card).
    trained = Config.load(out_dir / "run" / "config.json")
    recipe = Config.load(RECIPE)
    assert trained.objective == recipe.objective
    assert trained.model == dataclasses.replace(recipe.model, num_classes=len(classes))
    assert trained.model.generator == "spectral" and trained.model.class_head
    assert trained.model.d_frequency_scale == "mel" and trained.objective.d["hard_negatives"] == 0.5
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
    # Without --steps the demo trains the recipe's fixed step count.
    default = demo_module.demo_config("/data", "/encoder", None, 3)
    expected.train.steps = Config.load(RECIPE).train.steps
    assert default == expected and default.train.steps == 3000


def test_a_missing_recipe_is_named(monkeypatch):
    monkeypatch.setattr(demo_module, "RECIPE", ("recipes", "nope.json"))
    with pytest.raises(FileNotFoundError, match="recipes/nope.json is not in the installed package "
                                                "condgan.configs"):
        demo_module.demo_config("/data", "/encoder", 1, 0)


def test_only_a_budget_that_cut_training_short_makes_the_score_not_comparable():
    full = demo_module.training_report(3000, 3000, max_minutes=6.0)
    cut = demo_module.training_report(2271, 3000, max_minutes=6.0)
    signalled = demo_module.training_report(2271, 3000, max_minutes=6.0, signalled=True)
    no_budget = demo_module.training_report(3000, 3000, max_minutes=None)
    assert [r["stopped_by_budget"] for r in (full, cut, signalled, no_budget)] == [False, True, False, False]
    assert demo_module.stop_note(full) is demo_module.stop_note(no_budget) is None
    assert demo_module.stop_note(cut).startswith(
        "the 6-minute time budget (--max_minutes) stopped training at step 2271 of 3000: "
        "this score is not comparable")
    score = {"conditional_accuracy": {"generated": 0.25, "real": 1.0},
             "z_diversity": {"generated": 0.3, "real": 0.9},
             "conditional_accuracy_per_class": {"beep": {"generated": 0.5, "real": 1.0},
                                                "rising whistle": {"generated": 0.0, "real": None}},
             "training": cut}
    assert demo_module.format_score(score) == [
        "NOT COMPARABLE: " + demo_module.stop_note(cut) + ".",
        "Conditional accuracy 0.25 (real clips: 1.00; chance 1/2 = 0.50), z-diversity 0.30 "
        "(real: 0.90; 0 = the same sound whatever z).",
        "Per class, the share of its clips heard as their caption's class (generated / real clips):",
        "  beep            0.50 / 1.00",
        "  rising whistle  0.00 / –",
    ]
