r"""The ablation: what each step of the method does to mode collapse.

Arms (docs/design.md), same data, steps and seeds:
  A  baseline: 256-d text projection, no CondAugment, no dropout, no replay
  B  A + conditioning augmentation (KL weight 2), still 256-d
  C  B + dropout on the text projection of G and D, 128-d
  D  C + embedding replay
  E  D + mode-seeking regulariser (MSGAN, weight 1)

Each arm is a small override file, experiments/configs/ablation/<arm>.json, put on
top of the dataset spec's base (experiments/configs/<dataset>.json: its "config"
extends a base and adds the clip length and the ablation's budget), or on top of
another recipe with --recipe (the clip length stays, the budget is the recipe's).

Usage (from the project root; data, runs and classifiers go under --work_dir,
results that are committed under experiments/results/<dataset>/):

  python -m experiments.ablation setup --dataset=synth          # data + classifier
  python -m experiments.ablation run --dataset=synth --arm=D --seed=0
  python -m experiments.ablation all --dataset=synth --seeds=0,1,2   # every arm x seed
  python -m experiments.ablation table --dataset=synth           # results.md/json
  python -m experiments.ablation table --dataset=synth --docs    # + docs/results.md

Runs outside the table (another recipe, own budget or settings) carry a --tag;
--recipe, --set and --max_minutes need one. The arms on the recommended recipe,
and the long FSDD run with its learning curve:

  python -m experiments.ablation all --dataset=synth-spectral --seeds=0 --tag=recommended \
      --recipe=recipes/recommended.json
  python -m experiments.ablation run --dataset=fsdd --arm=D --seed=0 --tag=long \
      --steps=100000 --max_minutes=118 --keep_checkpoints=400
  python -m experiments.ablation curve --dataset=fsdd --arm=D --seed=0 --tag=long --every=5000
  python -m experiments.ablation run --dataset=fsdd --arm=D --seed=0 --tag=mismatch \
      --set=objective.params.adversarial.mismatch_share=0.5    # a variant: matching-aware D

`curve` scores the checkpoints a run kept (3 by default: pass --keep_checkpoints).

A finished run (results.json present) is skipped by `run`/`all`, and an
interrupted one resumes from its checkpoint, so `all` can be restarted. Reports
written before the objective section existed keep their config and --set names
as they were recorded (old layout); `table` shows them unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import sys
import time

import numpy as np
import tensorflow as tf

from condgan import records
from condgan.config import PLAYERS, RETIRED_TAG, Config, ConfigError, load_dict, merge, set_value
from condgan.data_prep.build_text_encoder import build_text_encoder
from condgan.data_prep.prepare import prepare
from condgan.evaluation import plots
from condgan.evaluation.classifier import Classifier, train_classifier
from condgan.evaluation.evaluate import evaluate, results_for_json, write_report
from condgan.fileio import atomic_write_text
from condgan.objective import TERMS, Objective
from condgan.training import run as training_run
from condgan.training.inference import load_generator
from condgan.training.loop import CHECKPOINT_SUBDIR, CONFIG_NAME
from condgan.training.run import DEFAULT_TEXT_ENCODER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "results")
RESULTS_JSON = "results.json"  # written by condgan.evaluation.evaluate.write_report
# The TensorFlow of a run whose report does not say: every run before issue 20 (which widened
# the supported stack to TF 2.17-2.21) was trained and scored on TF 2.17.1.
PRE_ISSUE_20_STACK = "2.17.1"
CONFIGS = os.path.join(ROOT, "experiments", "configs")
# The arms' overrides: experiments/configs/ablation/<arm>.json.
ARMS_DIR = os.path.join(CONFIGS, "ablation")
# `table --docs` writes each dataset's table between its marker and the next heading here.
RESULTS_DOC = os.path.join(ROOT, "docs", "results.md")
ARMS = ("A", "B", "C", "D", "E")
ARM_NAMES = {
    "A": "baseline (256-d, no CA, no dropout, no replay)",
    "B": "+ conditioning augmentation",
    "C": "+ dropout in G and D, 128-d",
    "D": "+ embedding replay",
    "E": "+ mode seeking",
}
# --set keys of the layout before the objective section, and today's key for each
# (condgan.config.upgrade maps whole old configs the same way). Refused with the new key:
# applied to a config of today's layout they would be read as an old config.
OLD_SET_KEYS = {
    "train.loss": "objective.adversarial",
    "train.gp_weight": "objective.d.gradient_penalty",
    "train.mode_seeking_weight": "objective.g.mode_seeking",
    "train.mismatch_weight": "objective.params.adversarial.mismatch_share",
    "train.contrastive_weight": "objective.d.contrastive (and objective.g.contrastive)",
    "train.contrastive_temperature": "objective.params.contrastive.temperature (and "
                                     "objective.params.cond_contrastive.temperature)",
    "train.g_contrastive_scale": "objective.g.contrastive (G's weight itself: the old "
                                 "contrastive_weight times this scale)",
    "train.z_diversity_weight": "objective.g.z_diversity",
    "train.z_diversity_cap": "objective.params.z_diversity.cap",
    "train.cond_contrastive_weight": "objective.g.cond_contrastive",
}
# Switches measured and retired (docs/retired.md).
RETIRED_SET_KEYS = ("model.partials", "model.pitch_warp", "model.output_squash",
                    "train.contrastive_fake_negatives")
# Headline numbers of the table: (metric of condgan.evaluation.evaluate, field, label).
# d_self and d_train are reported as ratios to the real test split's own (docs/metrics.md).
# Reports written before a metric existed lack it: their cells show "–".
TABLE_METRICS = (
    ("conditional_accuracy", "generated", "cond. acc."),
    ("inception_score", "generated", "IS"),
    ("modified_inception_score", "generated", "mIS"),
    ("am_score", "generated", "AM"),
    ("frechet_distance", "generated", "FD"),
    ("intra_frechet_distance", "generated", "intra-FD"),
    ("z_diversity_caption", "generated", "z-div. (caption)"),
    ("z_diversity", "generated", "z-div. (class)"),
    ("d_self", "ratio", "d_self / real"),
    ("d_train", "ratio", "d_train / real"),
    ("ndb_over_k", "generated", "NDB/K"),
)
# Conditional accuracy per class: the report's details (condgan.evaluation.evaluate), shown
# under each table as a second table with one column per class.
PER_CLASS = "conditional_accuracy_per_class"


def dataset_spec(name: str) -> dict:
    path = os.path.join(CONFIGS, f"{name}.json")
    if not os.path.isfile(path):
        raise SystemExit(f"unknown dataset {name!r}: no {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def recipe_path(recipe: str) -> str:
    """The file --recipe names: a path from the current directory, or from experiments/configs/."""
    for path in (recipe, os.path.join(CONFIGS, recipe)):
        if os.path.isfile(path):
            return os.path.abspath(path)
    raise SystemExit(f"--recipe={recipe!r}: no such file (looked in {os.getcwd()} and {CONFIGS})")


def recipe_label(path: str) -> str:
    """How a run records its recipe: relative to experiments/configs/ when it is there."""
    rel = os.path.relpath(os.path.abspath(path), CONFIGS)
    return path if rel.startswith("..") else rel.replace(os.sep, "/")


def spec_config(spec: dict, recipe: str | None = None) -> dict:
    """The config dict of a dataset spec, before its arm: the base its "config" extends,
    merged under the spec's own values (model.length, the ablation's budget in "train").

    With `recipe` (a config file: `recipe_path`), the recipe replaces that base and brings its own
    budget: only the spec's "model" values (the data's shape) go on top of it.
    """
    own = spec.get("config")
    if not isinstance(own, dict) or not isinstance(own.get("extends"), str):
        raise SystemExit(f"dataset spec {spec.get('name')!r}: \"config\" must be an object whose "
                         "\"extends\" names a base or recipe file in experiments/configs/")
    own = {k: v for k, v in own.items() if k != "extends"}
    if recipe is None:
        return merge(load_dict(os.path.join(CONFIGS, spec["config"]["extends"])), own)
    return merge(load_dict(recipe_path(recipe)), {"model": own.get("model", {})})


def arm_overrides(arm: str) -> dict:
    """The arm's override file (experiments/configs/ablation/<arm>.json) as a dict."""
    if arm not in ARMS:
        raise SystemExit(f"unknown arm {arm!r}; choose from {ARMS}")
    return load_dict(os.path.join(ARMS_DIR, f"{arm}.json"))


def arm_config(spec: dict, arm: str, seed: int, data_dir: str, text_encoder: str, steps: int | None,
               recipe: str | None = None) -> Config:
    """The operative config of one arm x seed: the spec's base (or `recipe`), the arm's
    overrides, the data, the seed and (unless None) the step target."""
    d = merge(spec_config(spec, recipe), arm_overrides(arm))
    run = {"data": {"data_dir": data_dir, "text_encoder": text_encoder}, "train": {"seed": seed}}
    if steps is not None:
        run["train"]["steps"] = steps
    return Config.from_dict(merge(d, run))


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Returns cfg with "section.key[.sub]=value" overrides (`condgan.config.set_value`).

    Keys of the old layout (train.contrastive_weight, ...) are refused with today's key.
    """
    d = cfg.to_dict()
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key in OLD_SET_KEYS:
            raise SystemExit(f"--set {item!r}: {key} is the old config layout's name (before the "
                             f"objective section); use {OLD_SET_KEYS[key]}")
        if key in RETIRED_SET_KEYS:
            raise SystemExit(f"--set {item!r}: {key} was measured and retired (docs/retired.md); "
                             f"its code is at the git tag {RETIRED_TAG}")
        try:
            set_value(d, item)
        except ConfigError as e:
            raise SystemExit(str(e)) from e
    return Config.from_dict(d)


def check_config(cfg: Config) -> Config:
    """Refuses what the trainer would refuse of the objective (an unknown term, a bad
    hyper-parameter), before any data or training; returns cfg."""
    Objective(cfg.objective, cfg.model)
    return cfg


def paths(args, spec):
    work = os.path.abspath(args.work_dir)
    return {
        # A second base of a dataset ("synth-spectral") shares the dataset's data and classifier.
        "data": os.path.join(work, "data", spec.get("data", spec["name"])),
        "classifier": os.path.join(work, "data", spec.get("data", spec["name"]) + "-classifier"),
        "runs": os.path.join(work, "runs", spec["name"]),
        "results": os.path.join(RESULTS, spec["name"]),
    }


def text_encoder_path() -> str:
    if not os.path.isfile(os.path.join(DEFAULT_TEXT_ENCODER, "saved_model.pb")):
        build_text_encoder(DEFAULT_TEXT_ENCODER)
    return DEFAULT_TEXT_ENCODER


def setup(args, classifier: bool = True) -> None:
    """Prepares the dataset and (unless `classifier` is False) trains its scoring classifier, once."""
    spec = dataset_spec(args.dataset)
    p = paths(args, spec)
    if not os.path.isfile(os.path.join(p["data"], records.CARD_NAME)):
        prep = dict(spec["prepare"])
        source = prep.pop("source")
        src_input = prep.pop("input", None)
        if src_input is not None:
            src_input = os.path.normpath(os.path.join(ROOT, src_input))
        print(f"preparing {spec['name']} -> {p['data']}", flush=True)
        prepare(source, src_input, p["data"], **prep)
    if classifier and not os.path.isdir(p["classifier"]):
        print(f"training the scoring classifier -> {p['classifier']}", flush=True)
        t0 = time.time()
        report = train_classifier(p["data"], p["classifier"], seed=0, progress=print,
                                  **spec.get("classifier", {}))
        report["wall_seconds"] = time.time() - t0
        os.makedirs(p["results"], exist_ok=True)
        _write_json(os.path.join(p["results"], "classifier.json"), report)
    text_encoder_path()


def run_one(args, arm: str, seed: int) -> dict | None:
    """Trains one arm x seed (resuming if interrupted), evaluates it, writes its report (results.json last).

    With args.train_only, stops after training (a later call evaluates).
    """
    spec = dataset_spec(args.dataset)
    p = paths(args, spec)
    tag = getattr(args, "tag", None)
    name = f"{arm}-seed{seed}" + (f"-{tag}" if tag else "")
    out_dir = os.path.join(p["results"], "runs", name)
    metrics_path = os.path.join(out_dir, RESULTS_JSON)
    overrides = list(getattr(args, "set", None) or [])
    recipe = getattr(args, "recipe", None)
    recipe = recipe_label(recipe_path(recipe)) if recipe else None
    cfg = arm_config(spec, arm, seed, p["data"], text_encoder_path(), args.steps, recipe)
    keep = getattr(args, "keep_checkpoints", None)
    if keep is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, keep_checkpoints=keep))
    cfg = apply_overrides(cfg, overrides)
    model_dir = os.path.join(p["runs"], name)
    _check_same_objective(model_dir, cfg, name)
    if os.path.exists(metrics_path) and not args.force:
        print(f"{name}: done already ({metrics_path})", flush=True)
        with open(metrics_path, encoding="utf-8") as f:
            return json.load(f)
    max_minutes = getattr(args, "max_minutes", None)
    t0 = time.time()
    out = training_run.train_from_config(cfg, model_dir,
                                max_seconds=None if max_minutes is None else max_minutes * 60)
    train_seconds = time.time() - t0
    # Wall time summed over every call that trained this run (a resumed run adds up).
    seconds_path = os.path.join(model_dir, "train_seconds.json")
    if os.path.exists(seconds_path):
        with open(seconds_path, encoding="utf-8") as f:
            train_seconds += json.load(f)["train_seconds"]
    _write_json(seconds_path, {"train_seconds": train_seconds})
    if args.train_only:
        return None
    classifier = Classifier.load(p["classifier"])
    t1 = time.time()
    results = evaluate(load_generator(model_dir), p["data"], classifier, seed=1000 + seed,
                       model_name=f"{spec['name']} arm {arm} seed {seed}", progress=print,
                       **spec.get("evaluate", {}))
    results["run"] = {
        "dataset": spec["name"], "arm": arm, "arm_name": ARM_NAMES[arm], "seed": seed,
        "steps": out["step"], "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(time.time() - t1, 1), "config": cfg.to_dict(), "tag": tag,
        "recipe": recipe, "overrides": overrides, "max_minutes": max_minutes,
        "stopped_by_budget": out["step"] < cfg.train.steps, "tensorflow": tf.__version__,
        # A time-budgeted run is reproduced by its step count (the budget depends on the
        # machine). Exactly so only if it was never resumed: a resumed run reseeds its data
        # order with seed + start step.
        "command": " ".join(shlex.quote(part) for part in [
            "python", "-m", "experiments.ablation", "run", f"--dataset={spec['name']}",
            f"--arm={arm}", f"--seed={seed}"] + ([f"--tag={tag}"] if tag else [])
            + ([f"--recipe={recipe}"] if recipe else [])
            + [f"--set={item}" for item in overrides]
            + ([f"--keep_checkpoints={keep}"] if keep is not None else [])
            + ([f"--steps={out['step']}"] if args.steps or max_minutes else [])),
    }
    write_report(results, out_dir)  # results.json (the done-marker) last of all
    flat = _flat(results)
    print(f"{name}: trained {out['step']} steps in {train_seconds / 60:.1f} min; "
          + ", ".join(f"{k}={flat.get(k, float('nan')):.3g}" for k, _, _ in TABLE_METRICS), flush=True)
    return results_for_json(results)


def _check_same_objective(model_dir: str, cfg: Config, name: str) -> None:
    """Refuses to continue (or report) a run directory trained under another config.

    The loop itself only refuses another *model*; here a changed objective
    (loss, weights, --set overrides) would silently mix two trainings. The
    step target and checkpointing may differ (a longer run continues). A run
    directory of the old layout is read through `condgan.config.upgrade`, and the
    objectives are compared as they train (`training_settings`).
    """
    path = os.path.join(model_dir, CONFIG_NAME)
    if not os.path.isfile(path):
        return
    try:
        old = training_settings(Config.load(path))
    except ConfigError as e:  # e.g. a retired switch: not the config asked for now
        raise SystemExit(f"{name}: {model_dir} was trained with settings this code does not train "
                         f"({e}); use another --tag, or delete the run directory to start over") from e
    new = training_settings(cfg)
    changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    if changed:
        raise SystemExit(f"{name}: {model_dir} was trained with other settings ({', '.join(changed)}"
                         "); use another --tag, or delete the run directory to start over")


# Fields that may differ between two trainings of one run directory (a resumed run may
# continue to a later step target, and the data sets the sample rate and text width).
_RESUMABLE = {"train.steps", "train.keep_checkpoints", "train.checkpoint_every",
              "train.summary_every", "model.text_dim", "model.sample_rate"}


def training_settings(cfg: Config) -> dict:
    """What a run trains, flat ("model.cond_dim": 128, "objective.g.kl": 1.0, ...): the
    model and train fields (those a resumed run may change left out) and the objective as
    it trains: the adversarial loss, the active terms of each player in the order they
    are summed with their weights, and their hyper-parameters with the terms' defaults
    filled in (so {} and {"contrastive": {"temperature": 0.1}} are one objective)."""
    out = {f"{section}.{key}": value for section in ("model", "train")
           for key, value in dataclasses.asdict(getattr(cfg, section)).items()}
    out = {k: v for k, v in out.items() if k not in _RESUMABLE}
    out["objective.adversarial"] = cfg.objective.adversarial
    for player in PLAYERS:
        active = cfg.objective.weights(player)
        out[f"objective.{player}"] = list(active)  # the order of the sum
        for term, weight in active.items():
            out[f"objective.{player}.{term}"] = weight
            registered = TERMS.get((player, term))
            defaults = registered.params if registered is not None else {}
            given = cfg.objective.params.get(term, {})
            for key in set(defaults) | set(given):
                out[f"objective.params.{term}.{key}"] = given.get(key, defaults.get(key))
    return out


def curve_steps(steps, every: int) -> list[int]:
    """The checkpoint steps a curve evaluates: multiples of `every`, and the last one."""
    if every < 1:
        raise SystemExit(f"--every must be >= 1, got {every}")
    steps = sorted(steps)
    return [s for s in steps if s % every == 0 or s == steps[-1]]


def curve(args) -> list[dict]:
    """Evaluates the kept checkpoints of one run, every `--every` steps: metrics against steps.

    Writes curve.json and curve.md beside the run's report (the committed results).
    """
    spec = dataset_spec(args.dataset)
    p = paths(args, spec)
    name = f"{args.arm}-seed{args.seed}" + (f"-{args.tag}" if args.tag else "")
    model_dir = os.path.join(p["runs"], name)
    state = tf.train.get_checkpoint_state(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if state is None:
        raise SystemExit(f"{model_dir} has no checkpoints")
    by_step = {int(path.rsplit("-", 1)[1]): path for path in state.all_model_checkpoint_paths
               if os.path.exists(path + ".index")}  # the index may list deleted ones
    if not by_step:
        raise SystemExit(f"{model_dir}: its checkpoint index names no checkpoint that exists")
    chosen = curve_steps(by_step, args.every)
    classifier = Classifier.load(p["classifier"])
    settings = dict(spec.get("evaluate", {}), num_clips=args.num_clips)
    points = []
    for step in chosen:
        res = evaluate(load_generator(model_dir, checkpoint=by_step[step]), p["data"], classifier,
                       seed=1000 + args.seed, model_name=f"{name} step {step}", **settings)
        points.append({"step": step, **_flat(res), PER_CLASS: _per_class(res)})
        print(f"step {step}: " + ", ".join(f"{k}={v:.3g}" for k, v in points[-1].items()
                                          if k not in ("step", PER_CLASS)), flush=True)
    reference = {**_flat(res, "real"), PER_CLASS: _per_class(res, "real")}
    out_dir = os.path.join(p["results"], "runs", name)
    command = (f"python -m experiments.ablation curve --dataset={spec['name']} --arm={args.arm} "
               f"--seed={args.seed}" + (f" --tag={args.tag}" if args.tag else "")
               + f" --every={args.every} --num_clips={args.num_clips}")
    data = {"run": name, "settings": settings, "points": points, "reference": reference,
            "command": command, "classes": list(reference[PER_CLASS])}  # (curve.json sorts keys)
    _write_json(os.path.join(out_dir, "curve.json"), data)
    _write_text(os.path.join(out_dir, "curve.md"),
                curve_markdown(data, spec.get("evaluate", {}).get("num_clips", 1000)))
    return points


def curve_markdown(data: dict, final_clips: int) -> str:
    """curve.md from a curve.json (`curve`): the metrics against steps, then conditional
    accuracy per class against steps (curves scored before curve.json kept the per-class
    numbers say "–"), classes in the order of data["classes"] (the dataset's).
    `final_clips`: the generated clips of the run's final report."""
    points, reference = data["points"], data["reference"]
    lines = [f"# {data['run']}: metrics against training steps", "",
             f"{data['settings']['num_clips']} generated clips per checkpoint (the final report "
             f"uses {final_clips}), same seeds at every step.", "",
             "| step | " + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
             "|---|" + "---|" * len(TABLE_METRICS)]
    for point in points + [dict(reference, step="real test split")]:
        lines.append(f"| {point['step']} | " + " | ".join(
            f"{point[k]:.3g}" if k in point else "–" for k, _, _ in TABLE_METRICS) + " |")
    classes = data.get("classes") or list(dict.fromkeys(
        c for point in points + [reference] for c in point.get(PER_CLASS) or {}))
    if classes:
        lines += ["", "Conditional accuracy per class:", ""] + per_class_table(
            "step", [(str(point["step"]), point.get(PER_CLASS) or {}) for point in points],
            classes, reference.get(PER_CLASS))
    else:
        lines += ["", "Conditional accuracy per class: – (this curve was scored before curve.json "
                  "kept the numbers per class)."]
    lines += ["", "Reproduce:", "", "```bash", data["command"], "```", ""]
    return "\n".join(lines)


CURVES_PNG = "curves.png"


def plot(args) -> str:
    """Draws the learning curves (`curve`'s curve.json) of several runs on one figure.

    Writes experiments/results/<dataset>/curves.png (or --figure): conditional accuracy and
    both z-diversities against steps, one line per run, the real test split dashed.
    """
    spec = dataset_spec(args.dataset)
    runs_dir = os.path.join(RESULTS, spec["name"], "runs")
    names = args.runs.split(",") if args.runs else sorted(
        n for n in os.listdir(runs_dir) if os.path.isfile(os.path.join(runs_dir, n, "curve.json")))
    curves, reference = {}, None
    for name in names:
        path = os.path.join(runs_dir, name, "curve.json")
        if not os.path.isfile(path):
            raise SystemExit(f"{path} does not exist: run `curve` for {name} first")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        curves[name] = data["points"]
        reference = reference or data.get("reference")
    if not curves:
        raise SystemExit(f"no run under {runs_dir} has a curve.json: run `curve` first")
    metrics = [m for m in ("conditional_accuracy", "z_diversity_caption", "z_diversity")
               if any(m in point for points in curves.values() for point in points)]
    figure = getattr(args, "figure", None) or CURVES_PNG
    if os.path.basename(figure) != figure or not figure.endswith(".png"):
        raise SystemExit(f"--figure={figure!r}: give a file name ending in .png (it is written "
                         f"to experiments/results/{spec['name']}/)")
    out = os.path.join(RESULTS, spec["name"], figure)
    plots.plot_curves(out, curves, metrics=metrics, reference=reference,
                      title=f"{spec['name']}: learning curves")
    print(f"wrote {out}", flush=True)
    return out


def _flat(results: dict, field: str | None = None) -> dict:
    """The headline numbers of one evaluation: {metric: value} (field None = the table's)."""
    flat = {}
    for name, table_field, _ in TABLE_METRICS:
        entry = results["metrics"].get(name)
        if entry is None:
            continue  # a report from before the metric existed
        value = entry.get(field or table_field)
        if field == "real" and table_field == "ratio" and entry.get("real") is not None:
            value = 1.0  # the real split's ratio to itself
        if value is not None:
            flat[name] = float(value)
    return flat


def _per_class(results: dict, field: str = "generated") -> dict[str, float | None]:
    """Conditional accuracy per class of one evaluation ({class: value or None}); {} for a
    report without it."""
    entry = (results.get("details") or {}).get(PER_CLASS) or {}
    return {c: None if v.get(field) is None else float(v[field]) for c, v in entry.items()}


def _per_class_mean(runs: list[dict]) -> dict[str, dict]:
    """Per class, the mean of the runs' accuracies and each run's (the runs without the
    class's number left out): {class: {"mean", "values"}}."""
    out: dict[str, dict] = {}
    for r in runs:
        for c, v in _per_class(r).items():
            if v is not None:
                out.setdefault(c, {"values": []})["values"].append(v)
    for entry in out.values():
        entry["mean"] = float(np.mean(entry["values"]))
    return out


def _two(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def per_class_table(first: str, rows: list[tuple[str, dict]], classes: list[str],
                    reference: dict | None) -> list[str]:
    """Markdown lines of a table of conditional accuracy per class: one row per (label,
    {class: value}), one column per class of `classes` (in that order), the real test
    split's row last if `reference` (its {class: value}) is given; "–" where a row has
    no number for the class (a report scored before per-class numbers were kept)."""
    lines = [f"| {first} | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for label, values in rows + ([("real test split (reference)", reference)] if reference else []):
        lines.append(f"| {label} | " + " | ".join(_two(values.get(c)) for c in classes) + " |")
    return lines


def _reference_row(reference: dict, blanks: int) -> str:
    """The real test split's table row: its label, `blanks` empty cells, the metrics."""
    cells = [f"{reference[k]:.3g}" if k in reference else "–" for k, _, _ in TABLE_METRICS]
    return "| real test split (reference) | " + "| " * blanks + " | ".join(cells) + " |"


def _arm_rows(per_arm: dict[str, list[dict]]) -> tuple[dict, list[str]]:
    """Per-arm means ± std over seeds: (summary for results.json, table rows)."""
    summary, lines = {}, []
    for arm in ARMS:
        runs = per_arm.get(arm, [])
        if not runs:
            continue
        flats = [_flat(r) for r in runs]
        stats = {}
        cells = []
        for key, _, _ in TABLE_METRICS:
            vals = [f[key] for f in flats if key in f]
            if vals:
                stats[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals),
                              "values": vals}
                cells.append(f"{np.mean(vals):.3g} ± {np.std(vals):.2g}"
                             + (f" (n={len(vals)})" if len(vals) < len(runs) else ""))
            else:
                cells.append("–")
        steps = sorted({r["run"]["steps"] for r in runs})
        summary[arm] = {"name": ARM_NAMES[arm], "seeds": sorted(r["run"]["seed"] for r in runs),
                        "steps": steps, "metrics": stats, "per_class": _per_class_mean(runs),
                        "train_minutes": float(np.mean([r["run"]["train_seconds"] for r in runs]) / 60)}
        lines.append(f"| {arm} {ARM_NAMES[arm]} | {len(runs)} | {'/'.join(map(str, steps))} | "
                     f"{summary[arm]['train_minutes']:.1f} | " + " | ".join(cells) + " |")
    return summary, lines


def _arm_per_class(summary: dict, classes: list[str], reference: dict) -> list[str]:
    """The per-class table under an arm table (`per_class_table`): each arm's mean over seeds."""
    rows = [(f"{arm} {entry['name']}", {c: v["mean"] for c, v in entry["per_class"].items()})
            for arm, entry in summary.items()]
    return (["Conditional accuracy per class, mean over seeds (each seed's in results.json):", ""]
            + per_class_table("arm", rows, classes, reference))


def _recipe_section(tagged: list[dict], reference: dict, classes: list[str],
                    reference_per_class: dict) -> tuple[dict, list[str]]:
    """Tables of the recipes that were run on more than one arm: tagged runs that
    share a tag, its --recipe and its overrides, averaged per arm like the main table
    (a second set of arms A-E on another recipe). A tag run on one arm only gets no
    table. Overrides are shown as the runs recorded them (reports of the old config
    layout name old keys)."""
    groups: dict[tuple, list[dict]] = {}
    for r in tagged:
        key = (r["run"]["tag"], r["run"].get("recipe") or "", tuple(r["run"].get("overrides") or []))
        groups.setdefault(key, []).append(r)
    out, lines = {}, []
    for (tag, recipe, overrides), runs in sorted(groups.items()):
        per_arm: dict[str, list[dict]] = {}
        for r in runs:
            per_arm.setdefault(r["run"]["arm"], []).append(r)
        if len(per_arm) < 2:
            continue
        summary, rows = _arm_rows(per_arm)
        out[tag] = {"overrides": list(overrides), "arms": summary}
        if recipe:
            out[tag]["recipe"] = recipe
        changes = ([f"--recipe={recipe}"] if recipe else []) + list(overrides)
        lines += [f"**The arms on recipe `{tag}`** (" + ", ".join(changes or ["no overrides"])
                  + "; every run also listed below)", "",
                  "| arm | n | steps | train min | "
                  + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
                  "|---|---|---|---|" + "---|" * len(TABLE_METRICS)] + rows + [
                  _reference_row(reference, blanks=3), ""]
        lines += _arm_per_class(summary, classes, reference_per_class) + [""]
    return out, lines


def table(args) -> str:
    """Aggregates every finished run of a dataset into results.md / results.json."""
    spec = dataset_spec(args.dataset)
    p = paths(args, spec)
    runs_dir = os.path.join(p["results"], "runs")
    per_arm: dict[str, list[dict]] = {}
    tagged: list[dict] = []
    reference = {}
    num_classes = None
    classes: list[str] = []
    reference_per_class: dict = {}
    stacks: dict[str, list[str]] = {}
    for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        path = os.path.join(runs_dir, name, RESULTS_JSON)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            res = json.load(f)
        stack = res["run"].get("tensorflow", PRE_ISSUE_20_STACK)
        stacks.setdefault(stack, []).append(name)
        if getattr(args, "stack", None) and stack != args.stack:
            continue
        # Older reports lack newer metrics: each metric's reference is the first one found.
        reference = {**_flat(res, "real"), **reference}
        num_classes = num_classes or len(res["dataset"]["classes"])
        classes = classes or list(res["dataset"]["classes"])
        reference_per_class = reference_per_class or _per_class(res, "real")
        if res["run"].get("tag"):
            tagged.append(res)  # a run outside the ablation (another budget): listed on its own
            continue
        per_arm.setdefault(res["run"]["arm"], []).append(res)
    if getattr(args, "stack", None):
        if args.stack not in stacks:
            raise SystemExit(f"--stack={args.stack}: no run of {spec['name']} was measured on "
                             f"TensorFlow {args.stack}; its runs' stacks: {sorted(stacks)}")
    elif len(stacks) > 1:
        raise SystemExit(
            f"{runs_dir}: the runs were measured on {len(stacks)} TensorFlow stacks, which one "
            "table must not mix: " + "; ".join(f"TF {v}: {', '.join(names[:3])}"
                                               + (f" and {len(names) - 3} more" if len(names) > 3
                                                  else "") for v, names in sorted(stacks.items()))
            + ". Pass --stack=VERSION to tabulate one stack's runs.")
    stack = args.stack if getattr(args, "stack", None) else next(iter(stacks), None)
    lines = [f"# Ablation on {spec['name']}", "",
             spec.get("description", ""), "",
             "Mean ± std over seeds (n = number of seeds). Reference row: the real test split "
             "scored by the same classifier (ratios are 1 there by definition). Chance level of "
             f"conditional accuracy: 1/{num_classes} = {1 / max(num_classes or 1, 1):.3f}. "
             "z-diversity and d_self / real near 0 mean collapse (the same sound whatever z); "
             "about 1 means as varied as the data. z-div. (caption) measures each caption "
             "against the real clips of its condition group (the clips it could describe), "
             "z-div. (class) against its whole class. mIS (all pairs) and AM (lower is better) "
             "as in DiffWave's SC09 table; intra-FD is the per-class FD. docs/metrics.md "
             "defines them; \"–\": not in that run's report (scored before the metric "
             "existed). Train minutes are wall time on the 2-core "
             "machine, which ran two or three jobs at once."
             + (f" Every run: TensorFlow {stack}." if stack else ""), ""]
    summary, rows = _arm_rows(per_arm)
    if summary:
        lines += ["| arm | n | steps | train min | "
                  + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
                  "|---|---|---|---|" + "---|" * len(TABLE_METRICS)] + rows
        lines.append(_reference_row(reference, blanks=3))
        lines += [""] + _arm_per_class(summary, classes, reference_per_class)
        lines += ["", "Grids (rows captions, columns z; the real reference beside them): "
                  + ", ".join(f"[{arm}](runs/{arm}-seed{per_arm[arm][0]['run']['seed']}/)"
                              for arm in ARMS if arm in per_arm), "",
                  "Reproduce:", "", "```bash",
                  f"python -m experiments.ablation setup --dataset={spec['name']}",
                  f"python -m experiments.ablation all --dataset={spec['name']} --seeds="
                  + ",".join(str(s) for s in sorted({s for a in summary.values() for s in a['seeds']}))
                  + ("" if len(summary) == len(ARMS) else " --arms=" + ",".join(summary)),
                  f"python -m experiments.ablation table --dataset={spec['name']}", "```", ""]
    else:  # every run has its own recipe or budget: the tables below are all there is
        lines += ["No run of the ablation's own budget and base yet: every run below has a tag "
                  "(its own recipe, overrides or budget).", ""]
    recipes, recipe_lines = _recipe_section(tagged, reference, classes, reference_per_class)
    lines += recipe_lines
    lines += _tagged_section(tagged, reference, classes, reference_per_class)
    text = "\n".join(lines)
    os.makedirs(p["results"], exist_ok=True)
    _write_text(os.path.join(p["results"], "results.md"), text)
    _write_json(os.path.join(p["results"], "results.json"),
                {"dataset": spec["name"], "arms": summary, "reference": reference,
                 "recipes": recipes,
                 "classes": classes, "reference_per_class": reference_per_class,
                 "tagged_runs": {r["run"]["arm"] + "-seed" + str(r["run"]["seed"]) + "-" + r["run"]["tag"]:
                                 {"run": {k: v for k, v in r["run"].items() if k != "config"},
                                  "metrics": _flat(r), "per_class": _per_class(r)} for r in tagged}})
    print(text)
    return text


def _tagged_section(tagged: list[dict], reference: dict, classes: list[str],
                    reference_per_class: dict) -> list[str]:
    """Markdown lines for the runs outside the ablation (e.g. a long run), one row each,
    and their conditional accuracy per class."""
    if not tagged:
        return []
    lines = ["**Runs outside the ablation**", "",
             "Single runs with their own budget (not averaged into the table above).", "",
             "| run | steps | train min | " + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
             "|---|---|---|" + "---|" * len(TABLE_METRICS)]
    for r in tagged:
        run = r["run"]
        name = _tagged_name(run)
        flat = _flat(r)
        cells = [f"{flat[k]:.3g}" if k in flat else "–" for k, _, _ in TABLE_METRICS]
        changes = "".join(f", {item}" for item in ([f"--recipe={run['recipe']}"] if run.get("recipe")
                                                   else []) + list(run.get("overrides") or []))
        lines.append(f"| [{name}](runs/{name}/) {ARM_NAMES[run['arm']]}{changes} | {run['steps']} | "
                     f"{run['train_seconds'] / 60:.1f} | " + " | ".join(cells) + " |")
    lines.append(_reference_row(reference, blanks=2))
    lines += ["", "Conditional accuracy per class:", ""] + per_class_table(
        "run", [(_tagged_name(r["run"]), _per_class(r)) for r in tagged], classes,
        reference_per_class)
    lines += ["", "Reproduce:", "", "```bash"] + [r["run"]["command"] for r in tagged] + ["```", ""]
    return lines


def _tagged_name(run: dict) -> str:
    return f"{run['arm']}-seed{run['seed']}-{run['tag']}"


def update_results_doc(dataset: str, table_text: str, path: str | None = None) -> None:
    """Puts a dataset's table (from `table`) into docs/results.md (or `path`): the lines
    after its marker line `<!-- ablation-<dataset>: ... -->`, up to the next heading, are
    replaced; links into the run folders are made relative to the document."""
    path = path or RESULTS_DOC
    if not os.path.isfile(path):
        raise SystemExit(f"{path} does not exist: the tables live there between "
                         f"<!-- ablation-<dataset>: --> markers")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    marker = f"<!-- ablation-{dataset}:"
    start = next((i for i, line in enumerate(lines) if line.startswith(marker)), None)
    if start is None:
        raise SystemExit(f"{path} has no line starting with {marker!r}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    body = table_text.split("\n")[1:]  # without the title
    base = os.path.relpath(os.path.join(RESULTS, dataset), os.path.dirname(os.path.abspath(path)))
    base = base.replace(os.sep, "/") + "/"
    body = [line.replace("](runs/", f"]({base}runs/") for line in body]
    lines[start + 1:end] = body
    _write_text(path, "\n".join(lines))


def _write_json(path: str, obj) -> None:
    _write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _write_text(path: str, text: str) -> None:
    atomic_write_text(path, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "run", "all", "table", "curve", "plot"])
    parser.add_argument("--dataset", default="synth", help="a name in experiments/configs/")
    parser.add_argument("--arm", choices=ARMS, help="arm for `run`")
    parser.add_argument("--seed", type=int, default=0, help="seed for `run`")
    parser.add_argument("--seeds", default="0,1,2", help="seeds for `all`")
    parser.add_argument("--arms", default=",".join(ARMS), help="arms for `all`")
    parser.add_argument("--runs", default=None,
                        help="for `plot`: comma-separated run names whose curve.json to draw "
                             "(e.g. A-seed0,D-seed0); default every run with a curve")
    parser.add_argument("--figure", default=None,
                        help=f"for `plot`: the PNG's file name (default {CURVES_PNG})")
    parser.add_argument("--steps", type=int, default=None, help="override the config's steps")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "work_data"),
                        help="data, classifiers and run directories (not committed)")
    parser.add_argument("--tag", default=None,
                        help="with `run`: a name suffix for a run outside the ablation table "
                             "(e.g. a long run); with `all --recipe` or `all --set`: the name "
                             "of that recipe's arms; `table` lists tagged runs separately")
    parser.add_argument("--recipe", default=None, metavar="PATH",
                        help="with `run`/`all` and --tag: the config file the arm overrides go "
                             "on top of (a path, or one in experiments/configs/, e.g. "
                             "recipes/recommended.json); default: the dataset spec's base")
    parser.add_argument("--max_minutes", type=float, default=None,
                        help="with `run`: stop training (with a checkpoint) after this wall time")
    parser.add_argument("--keep_checkpoints", type=int, default=None,
                        help="with `run`: checkpoints to keep (e.g. to evaluate a learning curve)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="with --tag: override a config value of the arm (repeatable; "
                             "nested keys with dots), e.g. --set=objective.g.z_diversity=2")
    parser.add_argument("--every", type=int, default=5000,
                        help="with `curve`: evaluate the kept checkpoints at multiples of this step")
    parser.add_argument("--num_clips", type=int, default=500,
                        help="with `curve`: generated clips per checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="redo finished runs: train on to the step target (a resumed run), "
                             "then evaluate and report again")
    parser.add_argument("--docs", action="store_true",
                        help="with `table`: also put the table into docs/results.md (after "
                             "the line <!-- ablation-<dataset>: ... -->, up to the next heading)")
    parser.add_argument("--stack", default=None, metavar="VERSION",
                        help="with `table`: only the runs measured on this TensorFlow version "
                             "(a table refuses runs of two stacks); reports that do not say are "
                             f"TF {PRE_ISSUE_20_STACK}'s")
    parser.add_argument("--train_only", action="store_true",
                        help="train (or resume) but do not evaluate; no classifier needed")
    args = parser.parse_args(argv)
    if args.tag is not None and not re.fullmatch(r"[A-Za-z0-9_.]+", args.tag):
        parser.error(f"--tag={args.tag!r}: use letters, digits, '_' and '.' only")
    if (args.set or args.recipe or args.max_minutes is not None) and not args.tag:
        parser.error("--recipe, --set and --max_minutes change the arm's recipe, objective or "
                     "budget: give the run a --tag (it is kept out of the table)")
    if args.command == "all" and args.tag and not (args.recipe or args.set):
        parser.error("--tag names one run: use it with `run` (or `curve`), not `all` (unless "
                     "`all` runs the arms on another --recipe or --set)")
    try:
        return _command(parser, args)
    except ConfigError as e:  # a config file or --set value that cannot be read
        parser.exit(2, f"{parser.prog}: error: {e}\n")


def _command(parser, args) -> int:
    if args.command in ("run", "all"):  # refuse bad --recipe / --set before any data or training
        spec = dataset_spec(args.dataset)
        for arm in ARMS:
            check_config(apply_overrides(arm_config(spec, arm, 0, "", "", args.steps, args.recipe),
                                         args.set))
    if args.command == "setup":
        setup(args)
    elif args.command == "run":
        if args.arm is None:
            parser.error("run needs --arm")
        setup(args)
        run_one(args, args.arm, args.seed)
    elif args.command == "all":
        setup(args, classifier=not args.train_only)
        arms = [a.strip() for a in args.arms.split(",") if a.strip()]
        bad = [a for a in arms if a not in ARMS]
        if bad:
            parser.error(f"unknown arm(s) {bad}; choose from {ARMS}")
        seeds = [int(s) for s in args.seeds.split(",")]
        # Seed-major order: a partial sweep already has every arm once.
        for seed in seeds:
            for arm in arms:
                run_one(args, arm, seed)
        if not args.train_only:
            table(args)
    elif args.command == "curve":
        if args.arm is None:
            parser.error("curve needs --arm")
        curve(args)
    elif args.command == "plot":
        plot(args)
    else:
        text = table(args)
        if args.docs:
            update_results_doc(args.dataset, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
