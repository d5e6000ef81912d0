"""The ablation's arms: each adds exactly the step the method names; the driver reads its
arms and recipes from experiments/configs and still reads every report it wrote before."""

import argparse
import glob
import json
import os
import re
import shutil

import numpy as np
import pytest

from condgan import records
from condgan.config import Config, load_dict, merge
from condgan.data_prep.prepare import prepare
from condgan.evaluation.classifier import train_classifier
from condgan.training import run as training_run
from experiments import ablation


def _flat_config(cfg):
    """Every value of a config but its data section: {"model.cond_dim": 128, "objective.g": {...}}."""
    d = cfg.to_dict()
    return {f"{section}.{key}": value for section in ("model", "objective", "train")
            for key, value in d[section].items()}


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
    assert cfg["D"].objective.g["mode_seeking"] == 0 and cfg["E"].objective.g["mode_seeking"] > 0

    def diff(x, y):
        a, b = ablation.training_settings(x), ablation.training_settings(y)
        return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}

    assert diff(cfg["A"], cfg["B"]) == {"model.cond_augment"}
    assert diff(cfg["B"], cfg["C"]) == {"model.cond_dim", "model.text_dropout"}
    assert diff(cfg["C"], cfg["D"]) == {"model.replay"}
    # Mode seeking joins the generator's terms, with weight 1.
    assert diff(cfg["D"], cfg["E"]) == {"objective.g", "objective.g.mode_seeking"}
    assert ablation.training_settings(cfg["E"])["objective.g.mode_seeking"] == 1.0
    # Same data, steps and everything else for every arm.
    assert len({c.train.steps for c in cfg.values()}) == 1
    assert {c.data.data_dir for c in cfg.values()} == {"/data"}


@pytest.mark.parametrize("dataset", ["synth", "fsdd"])
def test_second_base_shares_data_and_classifier_and_differs_only_in_base_switches(dataset):
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


def _fake_result(arm, seed, acc, tag=None, steps=100, per_class=None):
    """A report; `per_class`: {class: generated accuracy} (the real clips' is 1 - class/100)."""
    metrics = {name: {"generated": acc, "real": 0.9, "ratio": acc / 0.9}
               for name, _, _ in ablation.TABLE_METRICS}
    out = {"dataset": {"classes": [str(i) for i in range(10)]}, "metrics": metrics,
           "run": {"arm": arm, "seed": seed, "tag": tag, "steps": steps, "train_seconds": 60.0,
                   "command": f"python -m experiments.ablation run --arm={arm} --tag={tag}"}}
    if per_class is not None:
        out["details"] = {ablation.PER_CLASS: {c: {"generated": v, "real": 1 - int(c) / 100}
                                               for c, v in per_class.items()}}
    return out


def _rows(lines, header):
    """{first cell: [the other cells]} of the table whose header is `header` in `lines`."""
    start = lines.index(header)
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.split("|")[1:-1]]
        rows[cells[0]] = cells[1:]
    return rows


def test_every_table_has_its_accuracy_per_class(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "synth" / "runs"
    rng = np.random.default_rng(0)
    per_class = {name: {str(c): float(rng.uniform()) for c in range(10)}
                 for name in ("A-seed0", "D-seed0", "D-seed1", "D-seed0-long", "A-seed0-zd",
                              "D-seed0-zd", "D-seed1-zd")}
    per_class["D-seed1"]["3"] = None  # no clip of the class: left out of the class's mean
    results = {"A-seed0": _fake_result("A", 0, 0.1, per_class=per_class["A-seed0"]),
               "D-seed0": _fake_result("D", 0, 0.2, per_class=per_class["D-seed0"]),
               "D-seed1": _fake_result("D", 1, 0.4, per_class=per_class["D-seed1"]),
               "E-seed0": _fake_result("E", 0, 0.3),  # scored before per-class numbers were kept
               "D-seed0-long": _fake_result("D", 0, 0.8, tag="long", per_class=per_class["D-seed0-long"]),
               "D-seed0-old": _fake_result("D", 0, 0.7, tag="old")}
    for name in ("A-seed0-zd", "D-seed0-zd", "D-seed1-zd"):
        arm, seed = name[0], int(name[6])
        results[name] = _fake_result(arm, seed, 0.5, tag="zd", per_class=per_class[name])
    for name, res in results.items():
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    text = ablation.table(argparse.Namespace(dataset="synth", work_dir=str(tmp_path / "w")))
    lines = text.splitlines()
    classes = [str(c) for c in range(10)]
    header = "| arm | " + " | ".join(classes) + " |"
    real = [f"{1 - c / 100:.2f}" for c in range(10)]

    def mean_cells(*names):
        return [f"{np.mean([per_class[n][c] for n in names if per_class[n][c] is not None]):.2f}"
                for c in classes]

    # The main table's: each arm's mean over its seeds (numpy), "–" for a report without them.
    main = _rows(lines, header)
    assert list(main) == [f"{a} {ablation.ARM_NAMES[a]}" for a in "ADE"] + ["real test split (reference)"]
    assert main[f"A {ablation.ARM_NAMES['A']}"] == mean_cells("A-seed0")
    d = main[f"D {ablation.ARM_NAMES['D']}"]
    assert d == mean_cells("D-seed0", "D-seed1") and d[3] == f"{per_class['D-seed0']['3']:.2f}"
    assert main[f"E {ablation.ARM_NAMES['E']}"] == ["–"] * 10
    assert main["real test split (reference)"] == real
    # The recipe's arm table has its own, under it.
    zd_start = next(i for i, x in enumerate(lines) if x.startswith("**The arms on recipe `zd`"))
    zd = _rows(lines[zd_start:], header)
    assert zd[f"D {ablation.ARM_NAMES['D']}"] == mean_cells("D-seed0-zd", "D-seed1-zd")
    # Each run outside the ablation has a row: its own numbers.
    tagged = _rows(lines, "| run | " + " | ".join(classes) + " |")
    assert tagged["D-seed0-long"] == mean_cells("D-seed0-long")
    assert tagged["D-seed0-old"] == ["–"] * 10 and tagged["D-seed0-zd"] == mean_cells("D-seed0-zd")
    summary = json.loads((tmp_path / "synth" / "results.json").read_text())
    assert summary["arms"]["D"]["per_class"]["3"] == {"mean": per_class["D-seed0"]["3"],
                                                      "values": [per_class["D-seed0"]["3"]]}
    assert summary["arms"]["E"]["per_class"] == {}
    assert summary["tagged_runs"]["D-seed0-long"]["per_class"] == per_class["D-seed0-long"]
    assert summary["classes"] == classes and sorted(summary["reference_per_class"]) == classes


def test_curve_markdown_shows_per_class_accuracy_or_a_dash_for_old_curves():
    metrics = {name: 0.5 for name, _, _ in ablation.TABLE_METRICS}
    new = {"run": "D-seed0-t", "settings": {"num_clips": 60}, "command": "python -m x",
           "points": [{"step": 300, **metrics, ablation.PER_CLASS: {"beep": 0.25, "siren": None}},
                      {"step": 600, **metrics, ablation.PER_CLASS: {"beep": 1.0, "siren": 0.13}}],
           "reference": {**metrics, ablation.PER_CLASS: {"beep": 1.0, "siren": 0.95}}}
    lines = ablation.curve_markdown(new, 320).splitlines()
    assert lines[2] == ("60 generated clips per checkpoint (the final report uses 320), same seeds "
                        "at every step.")
    assert _rows(lines, "| step | beep | siren |") == {
        "300": ["0.25", "–"], "600": ["1.00", "0.13"], "real test split (reference)": ["1.00", "0.95"]}
    old = dict(new, points=[{k: v for k, v in p.items() if k != ablation.PER_CLASS}
                            for p in new["points"]], reference=metrics)
    text = ablation.curve_markdown(old, 320)
    # The same page, with a dash in place of the per-class table.
    old_lines, k = text.splitlines(), lines.index("Conditional accuracy per class:")
    assert old_lines[:k] == lines[:k]
    assert old_lines[k] == ("Conditional accuracy per class: – (this curve was scored before "
                            "curve.json kept the numbers per class).")
    assert old_lines[k + 1:] == lines[lines.index("Reproduce:") - 1:]


def test_table_keeps_tagged_runs_out_of_the_arm_means(tmp_path, monkeypatch):
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


def test_a_dataset_of_tagged_runs_only_gets_no_empty_arm_table(tmp_path, monkeypatch):
    # The pitch subset's runs all have a tag: the main table once came out empty, with a
    # reproduce command of no seeds and no arms ("--seeds= --arms=").
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "synth" / "runs"
    for name, res in {"A-seed0-rec": _fake_result("A", 0, 0.3, tag="rec"),
                      "D-seed0-rec": _fake_result("D", 0, 0.4, tag="rec")}.items():
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    text = ablation.table(argparse.Namespace(dataset="synth", work_dir=str(tmp_path / "w")))
    assert "--seeds=" not in text and "ablation all" not in text
    assert "No run of the ablation's own budget and base yet" in text
    headers = [line for line in text.splitlines() if line.startswith("| arm | n |")]
    assert len(headers) == 1  # the tagged recipe's arm table only
    assert json.loads((tmp_path / "synth" / "results.json").read_text())["arms"] == {}
    # With an untagged run the main table is back, with its reproduce command.
    res = _fake_result("D", 2, 0.5)
    (runs / "D-seed2").mkdir()
    (runs / "D-seed2" / ablation.RESULTS_JSON).write_text(json.dumps(res))
    text = ablation.table(argparse.Namespace(dataset="synth", work_dir=str(tmp_path / "w")))
    assert "--seeds=2 --arms=D" in text and "No run of the ablation's own" not in text


def test_a_table_never_mixes_two_tensorflow_stacks(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "fsdd" / "runs"
    new = _fake_result("D", 1, 0.4)
    new["run"]["tensorflow"] = "2.21.0"
    for name, res in {"D-seed0": _fake_result("D", 0, 0.2),  # says no stack: TF 2.17.1's
                      "D-seed1": new}.items():
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    args = argparse.Namespace(dataset="fsdd", work_dir=str(tmp_path / "work"))
    with pytest.raises(SystemExit, match=r"2 TensorFlow stacks.*TF 2\.17\.1: D-seed0; "
                                         r"TF 2\.21\.0: D-seed1.*--stack=VERSION"):
        ablation.table(args)
    assert not (tmp_path / "fsdd" / "results.json").exists()
    for stack, acc in (("2.17.1", 0.2), ("2.21.0", 0.4)):
        text = ablation.table(argparse.Namespace(**vars(args), stack=stack))
        summary = json.loads((tmp_path / "fsdd" / "results.json").read_text())
        assert summary["arms"]["D"]["metrics"]["conditional_accuracy"]["n"] == 1
        assert summary["arms"]["D"]["metrics"]["conditional_accuracy"]["mean"] == acc
        assert f"Every run: TensorFlow {stack}." in text
    with pytest.raises(SystemExit, match="--stack=2.19.0: no run"):
        ablation.table(argparse.Namespace(**vars(args), stack="2.19.0"))


def test_overrides_change_only_the_named_field():
    spec = ablation.dataset_spec("fsdd")
    base = ablation.arm_config(spec, "D", 0, "/d", "/e", None)
    sets = ["objective.params.adversarial.mismatch_share=0.5", "model.replay=false",
            "objective.g.z_diversity=2"]
    cfg = ablation.apply_overrides(base, sets)
    before, after = _flat_config(base), _flat_config(cfg)
    assert {k for k in after if after[k] != before[k]} == {"model.replay", "objective.g",
                                                            "objective.params"}
    assert cfg.model.replay is False and cfg.objective.params["adversarial"] == {"mismatch_share": 0.5}
    assert cfg.objective.g == {**base.objective.g, "z_diversity": 2}
    with pytest.raises(Exception, match=r"unknown field\(s\) in train: \['nope'\]"):
        ablation.apply_overrides(base, ["train.nope=1"])
    with pytest.raises(SystemExit, match="expected section.key=value"):
        ablation.apply_overrides(base, ["replay"])
    # A value the objective refuses is refused before any data or training (`check_config`).
    with pytest.raises(Exception, match=r"mismatch_share must be in \[0, 1\)"):
        ablation.check_config(ablation.apply_overrides(base, [
            "objective.params.adversarial.mismatch_share=2"]))
    with pytest.raises(Exception, match=r"objective.g.nope is not a term of the generator"):
        ablation.check_config(ablation.apply_overrides(base, ["objective.g.nope=1"]))


@pytest.mark.parametrize("key,new", [
    ("train.mismatch_weight", "objective.params.adversarial.mismatch_share"),
    ("train.contrastive_weight", "objective.d.contrastive"),
    ("train.g_contrastive_scale", "objective.g.contrastive"),
    ("train.z_diversity_weight", "objective.g.z_diversity"),
    ("train.z_diversity_cap", "objective.params.z_diversity.cap"),
    ("train.cond_contrastive_weight", "objective.g.cond_contrastive"),
    ("train.mode_seeking_weight", "objective.g.mode_seeking"),
    ("train.loss", "objective.adversarial"),
])
def test_old_layout_set_keys_are_refused_with_the_new_key(key, new):
    base = ablation.arm_config(ablation.dataset_spec("synth-spectral"), "D", 0, "/d", "/e", None)
    with pytest.raises(SystemExit, match=f"{key} is the old config layout's name.*use {new}"):
        ablation.apply_overrides(base, [f"{key}=1"])


def test_retired_set_keys_are_refused_with_the_pointer():
    base = ablation.arm_config(ablation.dataset_spec("synth-spectral"), "D", 0, "/d", "/e", None)
    with pytest.raises(SystemExit, match=r"model.partials was measured and retired \(docs/retired.md\)"):
        ablation.apply_overrides(base, ["model.partials=8"])


@pytest.mark.parametrize("flag", ["--set=objective.params.adversarial.mismatch_share=0.5",
                                  "--recipe=recipes/recommended.json"])
def test_set_or_recipe_without_tag_is_refused(flag, capsys):
    with pytest.raises(SystemExit):
        ablation.main(["run", "--arm=D", flag])
    assert "give the run a --tag" in capsys.readouterr().err


@pytest.mark.parametrize("argv,needle", [
    (["run", "--arm=D", "--tag=t", "--set=train.contrastive_weight=1"], "use objective.d.contrastive"),
    (["all", "--tag=t", "--recipe=recipes/nope.json"], "--recipe='recipes/nope.json': no such file"),
])
def test_bad_recipe_or_set_is_refused_before_any_work(argv, needle, tmp_path):
    with pytest.raises(SystemExit, match=needle):  # before setup: no data prepared
        ablation.main(argv + [f"--work_dir={tmp_path}"])
    assert os.listdir(tmp_path) == []


def test_a_bad_value_is_refused_with_the_config_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ablation.main(["run", "--arm=D", "--tag=t", "--set=objective.g.kl=-1",
                       f"--work_dir={tmp_path}"])
    assert "objective.g.kl must be a finite weight >= 0" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


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
    changed = ablation.apply_overrides(cfg, ["objective.params.adversarial.mismatch_share=0.5"])
    with pytest.raises(SystemExit, match=r"other settings \(objective.params.adversarial.mismatch_share\)"):
        ablation._check_same_objective(str(tmp_path), changed, "D-seed0")
    # A term's default written out is the same objective; a term of weight 0 is no term.
    same = ablation.apply_overrides(cfg, ["objective.params.contrastive.temperature=0.1",
                                          "objective.g.cond_contrastive=0"])
    ablation._check_same_objective(str(tmp_path), same, "D-seed0")
    with pytest.raises(SystemExit, match=r"other settings \(model.cond_dim\)"):
        ablation._check_same_objective(str(tmp_path), ablation.apply_overrides(
            cfg, ["model.cond_dim=64"]), "D-seed0")


def _committed_config(dataset, run):
    path = os.path.join(ablation.ROOT, "experiments", "results", dataset, "runs", run, ablation.RESULTS_JSON)
    if not os.path.isfile(path):
        pytest.skip(f"no committed run {dataset}/{run}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["run"]["config"]


def test_a_run_dir_of_the_old_config_layout_continues_and_a_retired_one_is_refused(tmp_path):
    spec = ablation.dataset_spec("fsdd")
    old = _committed_config("fsdd", "D-seed0")  # written before the objective section
    assert "loss" in old["train"] and "objective" not in old
    (tmp_path / "config.json").write_text(json.dumps(old))
    ablation._check_same_objective(str(tmp_path), ablation.arm_config(spec, "D", 0, "/d", "/e", 9000),
                                   "D-seed0")
    with pytest.raises(SystemExit, match=r"other settings \(objective.g, objective.g.mode_seeking\)"):
        ablation._check_same_objective(str(tmp_path), ablation.arm_config(spec, "E", 0, "/d", "/e", None),
                                       "E-seed0")
    retired = _committed_config("synth-spectral", "D-seed0-zc_g05_zd2_ema_cc1_p8")
    (tmp_path / "config.json").write_text(json.dumps(retired))
    with pytest.raises(SystemExit, match=r"settings this code does not train \(model.partials=8 was "
                                         r"measured and retired"):
        ablation._check_same_objective(str(tmp_path), ablation.arm_config(spec, "D", 0, "/d", "/e", None),
                                       "D-seed0")


def _committed_runs():
    out = []
    for path in sorted(glob.glob(os.path.join(ablation.RESULTS, "*", "runs", "*", ablation.RESULTS_JSON))):
        with open(path, encoding="utf-8") as f:
            run = json.load(f)["run"]
        out.append(pytest.param(run, id=f"{run['dataset']}/{os.path.basename(os.path.dirname(path))}"))
    return out


@pytest.mark.parametrize("run", [r for r in _committed_runs() if not r.values[0].get("tag")])
def test_every_committed_ablation_run_is_its_arm_of_the_files(run):
    """The arms and bases as files train what the committed untagged runs trained (their
    configs, recorded in the old layout, read through condgan.config.upgrade)."""
    spec = ablation.dataset_spec(run["dataset"])
    new = ablation.arm_config(spec, run["arm"], run["seed"], "/d", "/e", None)
    old = Config.from_dict(run["config"])
    assert ablation.training_settings(new) == ablation.training_settings(old)
    for key in ("steps", "checkpoint_every", "summary_every", "seed"):
        assert getattr(new.train, key) == getattr(old.train, key), key


RECOMMENDED_TAG = "zc_g05_zd2_ema_cc1"  # the six --set values of the recommended recipe


@pytest.mark.parametrize("run", [r for r in _committed_runs() if r.values[0].get("tag") == RECOMMENDED_TAG])
def test_the_recommended_recipe_runs_are_the_arms_on_the_recipe_file(run):
    assert len(run["overrides"]) == 6
    spec = ablation.dataset_spec(run["dataset"])
    new = ablation.arm_config(spec, run["arm"], run["seed"], "/d", "/e", None,
                              recipe="recipes/recommended.json")
    old = Config.from_dict(run["config"])
    assert ablation.training_settings(new) == ablation.training_settings(old)
    assert new.train.steps == old.train.steps == 6000


@pytest.mark.parametrize("argv,needle", [
    (["run", "--arm=D", "--tag=../x"], "use letters, digits"),
    (["all", "--max_minutes=5"], "give the run a --tag"),
    (["all", "--tag=long"], "not `all`"),
    (["all", "--tag=long", "--max_minutes=5"], "not `all`"),
])
def test_bad_tag_combinations(argv, needle, capsys):
    with pytest.raises(SystemExit):
        ablation.main(argv)
    assert needle in capsys.readouterr().err


def test_curve_evaluates_kept_checkpoints_of_a_tiny_run(tmp_path, monkeypatch, text_encoder_dir):
    work = tmp_path / "work"
    data_dir = work / "data" / "tiny"
    prepare("synth", None, str(data_dir), sample_rate=8000, length=1024, num_examples=240,
            test_fraction=0.3, seed=0, progress=False)
    train_classifier(str(data_dir), str(work / "data" / "tiny-classifier"), epochs=1, seed=0)
    cfg = Config.from_dict(merge(load_dict(os.path.join(ablation.CONFIGS, "bases", "wavegan.json")), {
        "data": {"data_dir": str(data_dir), "text_encoder": text_encoder_dir, "shuffle_buffer": 16},
        "model": {"length": 1024, "model_dim": 4, "cond_dim": 8, "latent_dim": 8,
                  "replay_capacity": 16},
        "train": {"batch_size": 4, "steps": 6, "checkpoint_every": 2, "summary_every": 2,
                  "keep_checkpoints": 10}}))
    training_run.train_from_config(cfg, str(work / "runs" / "tiny" / "D-seed0-t"), log=lambda s: None)
    spec = {"name": "tiny", "evaluate": {"num_clips": 60, "z_per_caption": 2,
                                         "captions_per_class": 1, "ndb_bins": 5}}
    monkeypatch.setattr(ablation, "dataset_spec", lambda name: spec)
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path / "results"))
    os.remove(work / "runs" / "tiny" / "D-seed0-t" / "checkpoints" / "ckpt-2.index")  # deleted one
    args = argparse.Namespace(dataset="tiny", work_dir=str(work), arm="D", seed=0, tag="t",
                              every=4, num_clips=60)
    points = ablation.curve(args)
    assert [p["step"] for p in points] == [4, 6]  # multiples of 4 and the last; 2 is gone
    classes = list(records.load_card(str(data_dir)).classes)
    for p in points:
        assert 0.0 <= p["conditional_accuracy"] <= 1.0 and p["inception_score"] >= 1.0
        # Per class too: 60 clips over the classes, the same number each, so the overall
        # accuracy is the mean over the classes.
        assert list(p[ablation.PER_CLASS]) == classes  # (as returned; curve.json sorts the keys)
        assert p["conditional_accuracy"] == pytest.approx(np.mean(list(p[ablation.PER_CLASS].values())))
    out = json.loads((tmp_path / "results" / "tiny" / "runs" / "D-seed0-t" / "curve.json").read_text())
    assert out["points"] == points and "--every=4" in out["command"]
    assert out["reference"]["conditional_accuracy"] > 0
    assert out["classes"] == classes and sorted(out["reference"][ablation.PER_CLASS]) == sorted(classes)
    md = (tmp_path / "results" / "tiny" / "runs" / "D-seed0-t" / "curve.md").read_text().splitlines()
    steps = list(_rows(md, "| step | " + " | ".join(classes) + " |"))
    assert steps == ["4", "6", "real test split (reference)"]


def test_a_recipe_run_on_several_arms_gets_its_own_arm_table(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    runs = tmp_path / "synth" / "runs"
    sets = ["train.z_diversity_weight=2"]  # recorded in the old layout: shown as recorded
    results = {"D-seed0": _fake_result("D", 0, 0.1),
               "A-seed0-zd": _fake_result("A", 0, 0.2, tag="zd"),
               "D-seed0-zd": _fake_result("D", 0, 0.5, tag="zd"),
               "D-seed1-zd": _fake_result("D", 1, 0.7, tag="zd"),
               "D-seed0-long": _fake_result("D", 0, 0.9, tag="long"),  # one arm: no table
               "A-seed0-rec": _fake_result("A", 0, 0.3, tag="rec"),
               "D-seed0-rec": _fake_result("D", 0, 0.4, tag="rec")}
    for name, res in results.items():
        res["run"]["overrides"] = sets if res["run"]["tag"] == "zd" else []
        if res["run"]["tag"] == "rec":  # the arms on a recipe file (--recipe)
            res["run"].update(recipe="recipes/recommended.json", overrides=["model.ema_decay=0"])
        (runs / name).mkdir(parents=True)
        (runs / name / ablation.RESULTS_JSON).write_text(json.dumps(res))
    text = ablation.table(argparse.Namespace(dataset="synth", work_dir=str(tmp_path / "w")))
    summary = json.loads((tmp_path / "synth" / "results.json").read_text())
    assert sorted(summary["recipes"]) == ["rec", "zd"]
    zd = summary["recipes"]["zd"]
    assert zd["overrides"] == sets and "recipe" not in zd
    assert summary["recipes"]["rec"]["recipe"] == "recipes/recommended.json"
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
    rec = next(line for line in lines if line.startswith("**The arms on recipe `rec`"))
    assert "(--recipe=recipes/recommended.json, model.ema_decay=0;" in rec
    # Every tagged run keeps its own row below, with its recipe and overrides.
    assert any(line.startswith("| [D-seed1-zd]") and ", train.z_diversity_weight=2 |" in line
               for line in lines)
    assert any(line.startswith("| [D-seed0-rec]")
               and ", --recipe=recipes/recommended.json, model.ema_decay=0 |" in line for line in lines)


DOC = """# Results

The text between a `<!-- ablation-<dataset>: ... -->` line and the next heading is generated.

## Tables

<!-- ablation-synth: regenerated -->

old synth table
[A](../experiments/results/synth/runs/A-seed0/)

### Second base

<!-- ablation-synth-spectral: regenerated -->

old second-base table
"""


def test_table_docs_writes_the_dataset_section_of_docs_results(tmp_path, monkeypatch):
    # The repository's layout in tmp_path: docs/results.md beside experiments/results.
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path / "experiments" / "results"))
    doc = tmp_path / "docs" / "results.md"
    doc.parent.mkdir()
    doc.write_text(DOC, encoding="utf-8")
    table = "# Ablation on synth\n\nnew table\n[A](runs/A-seed0/), [B](runs/B-seed0/)\n"
    ablation.update_results_doc("synth", table, str(doc))
    before, after = DOC.split("\n"), doc.read_text(encoding="utf-8").split("\n")
    start = before.index("<!-- ablation-synth: regenerated -->") + 1
    end = before.index("### Second base")
    assert after[:start] == before[:start]
    assert after[start:start + 4] == ["", "new table", "[A](../experiments/results/synth/runs/A-seed0/), "
                                      "[B](../experiments/results/synth/runs/B-seed0/)", ""]
    assert after[start + 4:] == before[end:]  # the rest, the other dataset's section included
    with pytest.raises(SystemExit, match="has no line starting with '<!-- ablation-fsdd:'"):
        ablation.update_results_doc("fsdd", table, str(doc))
    with pytest.raises(SystemExit, match="nope.md does not exist"):
        ablation.update_results_doc("synth", table, str(tmp_path / "nope.md"))


def test_table_docs_rewrites_a_copy_of_the_real_results_page(tmp_path, monkeypatch):
    if not os.path.isfile(ablation.RESULTS_DOC):
        pytest.skip("docs/results.md does not exist yet")
    with open(ablation.RESULTS_DOC, "rb") as f:
        real = f.read()
    committed = os.path.join(ablation.RESULTS, "synth-spectral", "runs")
    shutil.copytree(committed, tmp_path / "experiments" / "results" / "synth-spectral" / "runs")
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path / "experiments" / "results"))
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "results.md"
    shutil.copy(ablation.RESULTS_DOC, doc)
    before = doc.read_text(encoding="utf-8").split("\n")
    monkeypatch.setattr(ablation, "RESULTS_DOC", str(doc))
    ablation.main(["table", "--dataset=synth-spectral", "--docs", f"--work_dir={tmp_path / 'w'}"])
    after = doc.read_text(encoding="utf-8").split("\n")
    marker = next(i for i, line in enumerate(before) if line.startswith("<!-- ablation-synth-spectral:"))
    end = next(i for i in range(marker + 1, len(before)) if before[i].startswith("#"))
    new_end = next(i for i in range(marker + 1, len(after)) if after[i].startswith("#"))
    assert after[:marker + 1] == before[:marker + 1] and after[new_end:] == before[end:]
    section = "\n".join(after[marker + 1:new_end])
    assert "](../experiments/results/synth-spectral/runs/D-seed0/)" in section
    assert "](runs/" not in section
    # The recorded overrides of the old layout, as they were recorded.
    assert "model.film_input=zc, train.g_contrastive_scale=0.5" in section
    with open(os.path.join(ablation.ROOT, "docs", "results.md"), "rb") as f:
        assert f.read() == real  # the page itself is untouched: only the copy was written


def test_table_shows_metrics_missing_from_older_reports_as_a_dash(tmp_path, monkeypatch):
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


@pytest.mark.parametrize("dataset", ["synth", "fsdd", "synth-spectral", "fsdd-spectral"])
def test_table_renders_the_committed_reports(dataset, tmp_path, monkeypatch):
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
    classes = json.loads((tmp_path / dataset / "results.json").read_text())["classes"]
    first = sorted(glob.glob(os.path.join(committed, "*", ablation.RESULTS_JSON)))[0]
    assert classes == json.loads(open(first, encoding="utf-8").read())["dataset"]["classes"]
    for table in tables:  # every row as wide as its header
        assert {row.count("|") for row in table} == {table[0].count("|")}
    # Each table of metrics (its header names every metric) is followed by its table of
    # accuracy per class (one column per class of the dataset, in order), row for row.
    metric_tables, class_tables = tables[0::2], tables[1::2]
    assert len(metric_tables) == len(class_tables)
    for metrics, per_class in zip(metric_tables, class_tables):
        assert all(label in metrics[0] for _, _, label in ablation.TABLE_METRICS)
        assert [c.strip() for c in per_class[0].split("|")[2:-1]] == list(classes)
        labels = [row.split("|")[1].strip() for row in per_class[2:]]
        # (a run outside the ablation is "[name](link) what it is" in the metrics table)
        assert labels == [re.sub(r"^\[([^]]+)\]\(.*", r"\1", row.split("|")[1].strip())
                          for row in metrics[2:]]
        assert labels[-1] == "real test split (reference)"
    if dataset in ("synth", "fsdd"):  # scored before issue 8's metrics existed
        assert any("–" in row for row in tables[0][2:])


@pytest.mark.parametrize("dataset,name", [("synth-spectral", "results.md"),
                                          ("synth-spectral", "results.json"),
                                          ("fsdd-spectral", "results.md")])
def test_table_regenerates_the_committed_summary_byte_for_byte(dataset, name, tmp_path, monkeypatch,
                                                               capsys):
    """The reports of the old config layout (configs and --set names recorded before the
    objective section) give the committed tables unchanged: the second base's, with its
    recipe tables, was last written by this code."""
    committed = os.path.join(ablation.RESULTS, dataset)
    if not os.path.isfile(os.path.join(committed, name)):
        pytest.skip(f"no committed {dataset}/{name}")
    shutil.copytree(os.path.join(committed, "runs"), tmp_path / dataset / "runs")
    monkeypatch.setattr(ablation, "RESULTS", str(tmp_path))
    ablation.table(argparse.Namespace(dataset=dataset, work_dir=str(tmp_path / "w")))
    with open(os.path.join(committed, name), encoding="utf-8") as f:
        expected = f.read()
    assert (tmp_path / dataset / name).read_text(encoding="utf-8") == expected, (
        f"`python -m experiments.ablation table --dataset={dataset}` no longer writes the committed "
        f"{name}: if the change is meant, regenerate it")


def test_plot_draws_the_runs_curves(tmp_path, monkeypatch):
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
