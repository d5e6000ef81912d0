"""The ablation's arms: each adds exactly the step the method names."""

import os

import pytest

from experiments import ablation


@pytest.mark.parametrize("dataset", ["synth", "fsdd", "synth-spectral", "fsdd-spectral"])
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


@pytest.mark.parametrize("dataset", ["synth", "fsdd"])
def test_second_base_shares_data_and_classifier_and_differs_only_in_base_switches(dataset):
    import argparse

    first, second = ablation.dataset_spec(dataset), ablation.dataset_spec(f"{dataset}-spectral")
    args = argparse.Namespace(work_dir="/w")
    p1, p2 = ablation.paths(args, first), ablation.paths(args, second)
    assert (p1["data"], p1["classifier"]) == (p2["data"], p2["classifier"])
    assert p1["results"] != p2["results"] and p1["runs"] != p2["runs"]
    assert second["prepare"] == first["prepare"] and second["evaluate"] == first["evaluate"]
    for arm in ablation.ARMS:
        a = ablation.arm_config(first, arm, 0, "/data", "/enc", None)
        b = ablation.arm_config(second, arm, 0, "/data", "/enc", None)
        changed = {k for k, v in vars(a.model).items() if getattr(b.model, k) != v}
        assert changed == {"generator", "discriminator", "d_conditioning", "spectral_norm", "film",
                           "text_norm", "contrastive_dim"}
        # The seed's switches are the arm's, on both bases.
        for k in ("cond_dim", "cond_augment", "text_dropout", "replay", "kl_weight"):
            assert getattr(a.model, k) == getattr(b.model, k)


def test_seed_and_steps_override():
    spec = ablation.dataset_spec("synth")
    cfg = ablation.arm_config(spec, "D", 7, "/d", "/e", 12)
    assert cfg.train.seed == 7 and cfg.train.steps == 12


def test_unknown_dataset_is_named():
    with pytest.raises(SystemExit, match="unknown dataset 'nope'"):
        ablation.dataset_spec("nope")


def _fake_result(arm, seed, acc, tag=None, steps=100):
    metrics = {name: {"generated": acc, "real": 0.9, "ratio": acc / 0.9}
               for name, _, _ in ablation.TABLE_METRICS}
    return {"dataset": {"classes": [str(i) for i in range(10)]}, "metrics": metrics,
            "run": {"arm": arm, "seed": seed, "tag": tag, "steps": steps, "train_seconds": 60.0,
                    "command": f"python -m experiments.ablation run --arm={arm} --tag={tag}"}}


def test_table_keeps_tagged_runs_out_of_the_arm_means(tmp_path, monkeypatch):
    import argparse
    import json

    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "fsdd" / "runs"
    for name, res in {"D-seed0": _fake_result("D", 0, 0.2), "D-seed1": _fake_result("D", 1, 0.4),
                      "D-seed0-long": _fake_result("D", 0, 0.8, tag="long", steps=9000)}.items():
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    args = argparse.Namespace(dataset="fsdd", work_dir=str(tmp_path / "work"))
    text = ablation.table(args)
    summary = json.loads((tmp_path / "fsdd" / "results.json").read_text())
    # The arm's mean is over the two ablation seeds only, not the long run.
    acc = summary["arms"]["D"]["metrics"]["conditional_accuracy"]
    assert acc["n"] == 2 and acc["mean"] == pytest.approx(0.3)
    assert summary["tagged_runs"]["D-seed0-long"]["metrics"]["conditional_accuracy"] == 0.8
    assert summary["tagged_runs"]["D-seed0-long"]["run"]["steps"] == 9000
    # ... and it has a row (and its reproduce command) of its own, without a markdown heading
    # (README's table block ends at the next heading).
    row = next(line for line in text.splitlines() if line.startswith("| [D-seed0-long]"))
    assert "| 9000 |" in row and "| 0.8 |" in row
    assert "--tag=long" in text
    assert not any(line.startswith("#") for line in text.splitlines()[1:] if "Runs outside" in line)


def test_overrides_change_only_the_named_field():
    spec = ablation.dataset_spec("fsdd")
    base = ablation.arm_config(spec, "D", 0, "/d", "/e", None)
    cfg = ablation.apply_overrides(base, ["train.mismatch_weight=0.5", "model.replay=false"])
    assert cfg.train.mismatch_weight == 0.5 and cfg.model.replay is False
    assert cfg.model.cond_dim == base.model.cond_dim and cfg.train.steps == base.train.steps
    with pytest.raises(SystemExit, match="--set 'train.nope=1': expected section.field=value"):
        ablation.apply_overrides(base, ["train.nope=1"])
    with pytest.raises(Exception, match=r"mismatch_weight must be in \[0, 1\)"):
        ablation.apply_overrides(base, ["train.mismatch_weight=2"])


def test_set_without_tag_is_refused(capsys):
    with pytest.raises(SystemExit):
        ablation.main(["run", "--arm=D", "--set=train.mismatch_weight=0.5"])
    assert "give the run a --tag" in capsys.readouterr().err


def test_curve_steps_are_multiples_and_the_last():
    assert ablation.curve_steps([250, 500, 5000, 7500, 10000, 10250], 5000) == [5000, 10000, 10250]
    assert ablation.curve_steps([10000, 5000], 5000) == [5000, 10000]
    with pytest.raises(SystemExit, match="--every must be >= 1"):
        ablation.curve_steps([1], 0)


def test_a_run_dir_trained_with_another_objective_is_refused(tmp_path):
    spec = ablation.dataset_spec("fsdd")
    cfg = ablation.arm_config(spec, "D", 0, "/d", "/e", None)
    cfg.save(str(tmp_path / "config.json"))
    longer = ablation.arm_config(spec, "D", 0, "/d", "/e", 50000)
    ablation._check_same_objective(str(tmp_path), longer, "D-seed0")  # only the target differs
    changed = ablation.apply_overrides(cfg, ["train.mismatch_weight=0.5"])
    with pytest.raises(SystemExit, match=r"other settings \(train.mismatch_weight\)"):
        ablation._check_same_objective(str(tmp_path), changed, "D-seed0")


@pytest.mark.parametrize("argv,needle", [
    (["run", "--arm=D", "--tag=../x"], "use letters, digits"),
    (["all", "--max_minutes=5"], "give the run a --tag"),
    (["all", "--tag=long"], "not `all`"),
])
def test_bad_tag_combinations(argv, needle, capsys):
    with pytest.raises(SystemExit):
        ablation.main(argv)
    assert needle in capsys.readouterr().err


def test_curve_evaluates_kept_checkpoints_of_a_tiny_run(tmp_path, monkeypatch, text_encoder_dir):
    import argparse
    import json

    from condgan.config import Config
    from condgan.evaluation.classifier import train_classifier
    from condgan.training import run
    from condgan.data_prep.prepare import prepare

    work = tmp_path / "work"
    data_dir = work / "data" / "tiny"
    prepare("synth", None, str(data_dir), sample_rate=8000, length=1024, num_examples=240,
            test_fraction=0.3, seed=0, progress=False)
    train_classifier(str(data_dir), str(work / "data" / "tiny-classifier"), epochs=1, seed=0)
    cfg = Config.from_dict({
        "data": {"data_dir": str(data_dir), "text_encoder": text_encoder_dir, "shuffle_buffer": 16},
        "model": {"length": 1024, "model_dim": 4, "cond_dim": 8, "latent_dim": 8,
                  "replay_capacity": 16},
        "train": {"loss": "hinge", "n_critic": 1, "batch_size": 4, "steps": 6,
                  "checkpoint_every": 2, "summary_every": 2, "keep_checkpoints": 10}})
    run.train_from_config(cfg, str(work / "runs" / "tiny" / "D-seed0-t"), log=lambda s: None)
    spec = {"name": "tiny", "evaluate": {"num_clips": 60, "z_per_caption": 2,
                                         "captions_per_class": 1, "ndb_bins": 5}}
    monkeypatch.setattr(ablation, "dataset_spec", lambda name: spec)
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path / "results"))
    os.remove(work / "runs" / "tiny" / "D-seed0-t" / "checkpoints" / "ckpt-2.index")  # deleted one
    args = argparse.Namespace(dataset="tiny", work_dir=str(work), arm="D", seed=0, tag="t",
                              every=4, num_clips=60)
    points = ablation.curve(args)
    assert [p["step"] for p in points] == [4, 6]  # multiples of 4 and the last; 2 is gone
    for p in points:
        assert 0.0 <= p["conditional_accuracy"] <= 1.0 and p["inception_score"] >= 1.0
    out = json.loads((tmp_path / "results" / "tiny" / "runs" / "D-seed0-t" / "curve.json").read_text())
    assert out["points"] == points and "--every=4" in out["command"]
    assert out["reference"]["conditional_accuracy"] > 0


def test_a_recipe_run_on_several_arms_gets_its_own_arm_table(tmp_path, monkeypatch):
    import argparse
    import json

    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "synth" / "runs"
    sets = ["train.z_diversity_weight=2"]
    results = {"D-seed0": _fake_result("D", 0, 0.1),
               "A-seed0-zd": _fake_result("A", 0, 0.2, tag="zd"),
               "D-seed0-zd": _fake_result("D", 0, 0.5, tag="zd"),
               "D-seed1-zd": _fake_result("D", 1, 0.7, tag="zd"),
               "D-seed0-long": _fake_result("D", 0, 0.9, tag="long")}  # one arm: no table
    for name, res in results.items():
        res["run"]["overrides"] = sets if res["run"]["tag"] == "zd" else []
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    text = ablation.table(argparse.Namespace(dataset="synth", work_dir=str(tmp_path / "w")))
    summary = json.loads((tmp_path / "synth" / "results.json").read_text())
    assert sorted(summary["recipes"]) == ["zd"]
    zd = summary["recipes"]["zd"]
    assert zd["overrides"] == sets
    assert zd["arms"]["D"]["metrics"]["conditional_accuracy"]["mean"] == pytest.approx(0.6)
    assert zd["arms"]["D"]["seeds"] == [0, 1] and zd["arms"]["A"]["seeds"] == [0]
    # The main table still averages the untagged runs only.
    assert summary["arms"]["D"]["metrics"]["conditional_accuracy"]["mean"] == pytest.approx(0.1)
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("**The arms on recipe `zd`")))
    assert "train.z_diversity_weight=2" in lines[start]
    d_row = next(line for line in lines[start:] if line.startswith("| D "))
    assert "| 2 |" in d_row and "0.6 ± 0.1" in d_row
    assert not any(line.startswith("**The arms on recipe `long`") for line in lines)
    # Every tagged run keeps its own row below.
    assert any(line.startswith("| [D-seed1-zd]") for line in lines)


def test_table_shows_metrics_missing_from_older_reports_as_a_dash(tmp_path, monkeypatch):
    import argparse
    import json

    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "fsdd" / "runs"
    old_metrics = ("conditional_accuracy", "inception_score", "frechet_distance", "d_self",
                   "d_train", "z_diversity", "ndb_over_k")  # a report from before issue 8
    old = _fake_result("D", 0, 0.2)
    old["metrics"] = {k: v for k, v in old["metrics"].items() if k in old_metrics}
    new = _fake_result("D", 1, 0.4)
    new["metrics"]["z_diversity_caption"]["real"] = None  # a dataset that cannot give it
    for name, res in {"D-seed0": old, "D-seed1": new}.items():
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    # The first report (sorted by name) is the old one: the reference row is merged.
    text = ablation.table(argparse.Namespace(dataset="fsdd", work_dir=str(tmp_path / "w")))
    summary = json.loads((tmp_path / "fsdd" / "results.json").read_text())
    stats = summary["arms"]["D"]["metrics"]
    assert stats["conditional_accuracy"]["n"] == 2 and stats["am_score"]["n"] == 1
    assert stats["am_score"]["mean"] == 0.4
    row = next(line for line in text.splitlines() if line.startswith("| D "))
    assert "0.4 ± 0 (n=1)" in row and "0.3 ± 0.1 |" in row
    reference = summary["reference"]
    assert reference["am_score"] == 0.9 and "z_diversity_caption" not in reference
    ref_row = next(line for line in text.splitlines() if line.startswith("| real test split"))
    labels = [label for _, _, label in ablation.TABLE_METRICS]
    cells = [c.strip() for c in ref_row.split("|")[5:-1]]
    assert dict(zip(labels, cells))["z-div. (caption)"] == "–"
    assert dict(zip(labels, cells))["d_self / real"] == "1"


@pytest.mark.parametrize("dataset", ["synth", "fsdd"])
def test_table_renders_the_committed_reports(dataset, tmp_path, monkeypatch):
    import argparse
    import shutil

    committed = os.path.join(ablation.ROOT, "experiments", "results", dataset, "runs")
    if not os.path.isdir(committed):
        pytest.skip(f"no committed runs for {dataset}")
    shutil.copytree(committed, tmp_path / dataset / "runs")
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    text = ablation.table(argparse.Namespace(dataset=dataset, work_dir=str(tmp_path / "w")))
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append(block)
            block = []
    assert tables
    for table in tables:  # every row as wide as its header, which names every metric
        assert all(label in table[0] for _, _, label in ablation.TABLE_METRICS)
        assert {row.count("|") for row in table} == {table[0].count("|")}
    assert any("–" in row for row in tables[0][2:])  # metrics the old reports lack


def test_plot_draws_the_runs_curves(tmp_path, monkeypatch):
    import json

    runs = tmp_path / "results" / "synth" / "runs"
    for name, acc in (("A-seed0", [0.2, 0.3]), ("D-seed0", [0.3, 0.6])):
        (runs / name).mkdir(parents=True)
        points = [{"step": 500 * (i + 1), "conditional_accuracy": a, "z_diversity": 0.3}
                  for i, a in enumerate(acc)]
        (runs / name / "curve.json").write_text(json.dumps(
            {"points": points, "reference": {"conditional_accuracy": 1.0, "z_diversity": 1.0}}))
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path / "results"))
    out = ablation.plot(type("Args", (), {"dataset": "synth", "runs": None})())
    assert out.endswith("curves.png") and os.path.getsize(out) > 1000
    with pytest.raises(SystemExit, match="run `curve` for B-seed0 first"):
        ablation.plot(type("Args", (), {"dataset": "synth", "runs": "A-seed0,B-seed0"})())
    named = ablation.plot(type("Args", (), {"dataset": "synth", "runs": "D-seed0",
                                            "figure": "curves-d.png"})())
    assert named == str(tmp_path / "results" / "synth" / "curves-d.png")
    assert os.path.getsize(named) > 1000
    with pytest.raises(SystemExit, match="--figure='../x.png'"):
        ablation.plot(type("Args", (), {"dataset": "synth", "runs": None, "figure": "../x.png"})())
