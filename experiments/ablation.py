r"""The ablation: what each step of the method does to mode collapse.

Arms (docs/design.md), same data, steps and seeds:
  A  baseline: 256-d text projection, no CondAugment, no dropout, no replay
  B  A + conditioning augmentation (KL weight 2), still 256-d
  C  B + dropout on the text projection of G and D, 128-d
  D  C + embedding replay
  E  D + mode-seeking regulariser (MSGAN, weight 1)

Usage (from the project root; data, runs and classifiers go under --work_dir,
results that are committed under experiments/results/<dataset>/):

  python -m experiments.ablation setup --dataset=synth          # data + classifier
  python -m experiments.ablation run --dataset=synth --arm=D --seed=0
  python -m experiments.ablation all --dataset=synth --seeds=0,1,2   # every arm x seed
  python -m experiments.ablation table --dataset=synth           # results.md/json

Runs outside the table (own budget or settings) carry a --tag; --set and
--max_minutes need one. The long FSDD run and its learning curve:

  python -m experiments.ablation run --dataset=fsdd --arm=D --seed=0 --tag=long \
      --steps=100000 --max_minutes=118 --keep_checkpoints=400
  python -m experiments.ablation curve --dataset=fsdd --arm=D --seed=0 --tag=long --every=5000
  python -m experiments.ablation run --dataset=fsdd --arm=D --seed=0 --tag=mismatch \
      --set=train.mismatch_weight=0.5                  # a variant: matching-aware D

`curve` scores the checkpoints a run kept (3 by default: pass --keep_checkpoints).

A finished run (results.json present) is skipped by `run`/`all`, and an
interrupted one resumes from its checkpoint, so `all` can be restarted.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "results")
RESULTS_JSON = "results.json"  # written by condgan.evaluation.evaluate.write_report
CONFIGS = os.path.join(ROOT, "experiments", "configs")
ARMS = ("A", "B", "C", "D", "E")
ARM_NAMES = {
    "A": "baseline (256-d, no CA, no dropout, no replay)",
    "B": "+ conditioning augmentation",
    "C": "+ dropout in G and D, 128-d",
    "D": "+ embedding replay",
    "E": "+ mode seeking",
}
# Model overrides of each arm on top of the dataset's base config.
ARM_OVERRIDES = {
    "A": dict(model=dict(cond_dim=256, cond_augment=False, text_dropout=0.0, replay=False),
              train=dict(mode_seeking_weight=0.0)),
    "B": dict(model=dict(cond_dim=256, cond_augment=True, kl_weight=2.0, text_dropout=0.0,
                         replay=False), train=dict(mode_seeking_weight=0.0)),
    "C": dict(model=dict(cond_dim=128, cond_augment=True, kl_weight=2.0, text_dropout=0.5,
                         replay=False), train=dict(mode_seeking_weight=0.0)),
    "D": dict(model=dict(cond_dim=128, cond_augment=True, kl_weight=2.0, text_dropout=0.5,
                         replay=True), train=dict(mode_seeking_weight=0.0)),
    "E": dict(model=dict(cond_dim=128, cond_augment=True, kl_weight=2.0, text_dropout=0.5,
                         replay=True), train=dict(mode_seeking_weight=1.0)),
}
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


def dataset_spec(name: str) -> dict:
    path = os.path.join(CONFIGS, f"{name}.json")
    if not os.path.isfile(path):
        raise SystemExit(f"unknown dataset {name!r}: no {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def arm_config(spec: dict, arm: str, seed: int, data_dir: str, text_encoder: str, steps: int | None):
    from condgan.config import Config

    d = json.loads(json.dumps(spec["base_config"]))
    for section, values in ARM_OVERRIDES[arm].items():
        d.setdefault(section, {}).update(values)
    d.setdefault("data", {}).update(data_dir=data_dir, text_encoder=text_encoder)
    d.setdefault("train", {})["seed"] = seed
    if steps is not None:
        d["train"]["steps"] = steps
    return Config.from_dict(d)


def apply_overrides(cfg, overrides: list[str]):
    """Returns cfg with "section.field=value" overrides (value parsed as JSON, else a string)."""
    from condgan.config import Config

    d = cfg.to_dict()
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in d or field not in d[section]:
            raise SystemExit(f"--set {item!r}: expected section.field=value with a field of "
                             f"{sorted(d)} (e.g. train.mismatch_weight=0.5)")
        try:
            d[section][field] = json.loads(raw)
        except json.JSONDecodeError:
            d[section][field] = raw
    return Config.from_dict(d)


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
    from condgan.training.run import DEFAULT_TEXT_ENCODER
    from condgan.data_prep.build_text_encoder import build_text_encoder

    if not os.path.isfile(os.path.join(DEFAULT_TEXT_ENCODER, "saved_model.pb")):
        build_text_encoder(DEFAULT_TEXT_ENCODER)
    return DEFAULT_TEXT_ENCODER


def setup(args, classifier: bool = True) -> None:
    """Prepares the dataset and (unless `classifier` is False) trains its scoring classifier, once."""
    from condgan import records
    from condgan.evaluation.classifier import train_classifier
    from condgan.data_prep.prepare import prepare

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
    from condgan.evaluation.classifier import Classifier
    from condgan.evaluation.evaluate import evaluate, results_for_json, write_report
    from condgan.training import run
    from condgan.training.inference import load_generator

    spec = dataset_spec(args.dataset)
    p = paths(args, spec)
    tag = getattr(args, "tag", None)
    name = f"{arm}-seed{seed}" + (f"-{tag}" if tag else "")
    out_dir = os.path.join(p["results"], "runs", name)
    metrics_path = os.path.join(out_dir, RESULTS_JSON)
    overrides = list(getattr(args, "set", None) or [])
    cfg = arm_config(spec, arm, seed, p["data"], text_encoder_path(), args.steps)
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
    out = run.train_from_config(cfg, model_dir,
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
        "overrides": overrides, "max_minutes": max_minutes,
        "stopped_by_budget": out["step"] < cfg.train.steps,
        # A time-budgeted run is reproduced by its step count (the budget depends on the
        # machine). Exactly so only if it was never resumed: a resumed run reseeds its data
        # order with seed + start step.
        "command": " ".join(shlex.quote(part) for part in [
            "python", "-m", "experiments.ablation", "run", f"--dataset={spec['name']}",
            f"--arm={arm}", f"--seed={seed}"] + ([f"--tag={tag}"] if tag else [])
            + [f"--set={item}" for item in overrides]
            + ([f"--keep_checkpoints={keep}"] if keep is not None else [])
            + ([f"--steps={out['step']}"] if args.steps or max_minutes else [])),
    }
    write_report(results, out_dir)  # results.json (the done-marker) last of all
    flat = _flat(results)
    print(f"{name}: trained {out['step']} steps in {train_seconds / 60:.1f} min; "
          + ", ".join(f"{k}={flat.get(k, float('nan')):.3g}" for k, _, _ in TABLE_METRICS), flush=True)
    return results_for_json(results)


def _check_same_objective(model_dir: str, cfg, name: str) -> None:
    """Refuses to continue (or report) a run directory trained under another config.

    The loop itself only refuses another *model*; here a changed objective
    (loss, weights, --set overrides) would silently mix two trainings. The
    step target and checkpointing may differ (a longer run continues).
    """
    from condgan.config import Config
    from condgan.training.loop import CONFIG_NAME

    path = os.path.join(model_dir, CONFIG_NAME)
    if not os.path.isfile(path):
        return
    ignore = {"steps", "keep_checkpoints", "checkpoint_every", "summary_every"}
    old, new = Config.load(path).to_dict(), cfg.to_dict()
    changed = sorted(f"{section}.{key}" for section in ("model", "train") for key in new[section]
                     if key not in ignore and old[section].get(key) != new[section][key]
                     and not (section == "model" and key in ("text_dim", "sample_rate")))
    if changed:
        raise SystemExit(f"{name}: {model_dir} was trained with other settings ({', '.join(changed)}"
                         "); use another --tag, or delete the run directory to start over")


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
    import tensorflow as tf

    from condgan.evaluation.classifier import Classifier
    from condgan.evaluation.evaluate import evaluate
    from condgan.training.inference import load_generator
    from condgan.training.loop import CHECKPOINT_SUBDIR

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
        points.append({"step": step, **_flat(res)})
        print(f"step {step}: " + ", ".join(f"{k}={v:.3g}" for k, v in points[-1].items()
                                          if k != "step"), flush=True)
    reference = _flat(res, "real")
    out_dir = os.path.join(p["results"], "runs", name)
    command = (f"python -m experiments.ablation curve --dataset={spec['name']} --arm={args.arm} "
               f"--seed={args.seed}" + (f" --tag={args.tag}" if args.tag else "")
               + f" --every={args.every} --num_clips={args.num_clips}")
    _write_json(os.path.join(out_dir, "curve.json"),
                {"run": name, "settings": settings, "points": points, "reference": reference,
                 "command": command})
    lines = [f"# {name}: metrics against training steps", "",
             f"{args.num_clips} generated clips per checkpoint (the final report uses "
             f"{spec.get('evaluate', {}).get('num_clips', 1000)}), same seeds at every step.", "",
             "| step | " + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
             "|---|" + "---|" * len(TABLE_METRICS)]
    for point in points + [dict(reference, step="real test split")]:
        lines.append(f"| {point['step']} | " + " | ".join(
            f"{point[k]:.3g}" if k in point else "–" for k, _, _ in TABLE_METRICS) + " |")
    lines += ["", "Reproduce:", "", "```bash", command, "```", ""]
    _write_text(os.path.join(out_dir, "curve.md"), "\n".join(lines))
    return points


CURVES_PNG = "curves.png"


def plot(args) -> str:
    """Draws the learning curves (`curve`'s curve.json) of several runs on one figure.

    Writes experiments/results/<dataset>/curves.png (or --figure): conditional accuracy and
    both z-diversities against steps, one line per run, the real test split dashed.
    """
    from condgan import plots

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
                        "steps": steps, "metrics": stats,
                        "train_minutes": float(np.mean([r["run"]["train_seconds"] for r in runs]) / 60)}
        lines.append(f"| {arm} {ARM_NAMES[arm]} | {len(runs)} | {'/'.join(map(str, steps))} | "
                     f"{summary[arm]['train_minutes']:.1f} | " + " | ".join(cells) + " |")
    return summary, lines


def _recipe_section(tagged: list[dict], reference: dict) -> tuple[dict, list[str]]:
    """Tables of the recipes that were run on more than one arm: tagged runs that
    share a tag and its overrides, averaged per arm like the main table (a second
    set of arms A-E on another recipe). A tag run on one arm only gets no table."""
    groups: dict[tuple, list[dict]] = {}
    for r in tagged:
        key = (r["run"]["tag"], tuple(r["run"].get("overrides") or []))
        groups.setdefault(key, []).append(r)
    out, lines = {}, []
    for (tag, overrides), runs in sorted(groups.items()):
        per_arm: dict[str, list[dict]] = {}
        for r in runs:
            per_arm.setdefault(r["run"]["arm"], []).append(r)
        if len(per_arm) < 2:
            continue
        summary, rows = _arm_rows(per_arm)
        out[tag] = {"overrides": list(overrides), "arms": summary}
        lines += [f"**The arms on recipe `{tag}`** (" + ", ".join(overrides or ["no overrides"])
                  + "; every run also listed below)", "",
                  "| arm | n | steps | train min | "
                  + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
                  "|---|---|---|---|" + "---|" * len(TABLE_METRICS)] + rows + [
                  _reference_row(reference, blanks=3), ""]
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
    for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        path = os.path.join(runs_dir, name, RESULTS_JSON)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            res = json.load(f)
        # Older reports lack newer metrics: each metric's reference is the first one found.
        reference = {**_flat(res, "real"), **reference}
        num_classes = num_classes or len(res["dataset"]["classes"])
        if res["run"].get("tag"):
            tagged.append(res)  # a run outside the ablation (another budget): listed on its own
            continue
        per_arm.setdefault(res["run"]["arm"], []).append(res)
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
             "machine, which ran two or three jobs at once.", "",
             "| arm | n | steps | train min | " + " | ".join(label for _, _, label in TABLE_METRICS)
             + " |",
             "|---|---|---|---|" + "---|" * len(TABLE_METRICS)]
    summary, rows = _arm_rows(per_arm)
    lines += rows
    lines.append(_reference_row(reference, blanks=3))
    lines += ["", "Grids (rows captions, columns z; the real reference beside them): "
              + ", ".join(f"[{arm}](runs/{arm}-seed{per_arm[arm][0]['run']['seed']}/)"
                          for arm in ARMS if arm in per_arm), "",
              "Reproduce:", "", "```bash",
              f"python -m experiments.ablation setup --dataset={spec['name']}",
              f"python -m experiments.ablation all --dataset={spec['name']} --seeds="
              + ",".join(str(s) for s in sorted({s for a in summary.values() for s in a['seeds']}))
              + ("" if len(summary) == len(ARMS) else " --arms=" + ",".join(summary)),
              f"python -m experiments.ablation table --dataset={spec['name']}", "```", ""]
    recipes, recipe_lines = _recipe_section(tagged, reference)
    lines += recipe_lines
    lines += _tagged_section(tagged, reference)
    text = "\n".join(lines)
    os.makedirs(p["results"], exist_ok=True)
    _write_text(os.path.join(p["results"], "results.md"), text)
    _write_json(os.path.join(p["results"], "results.json"),
                {"dataset": spec["name"], "arms": summary, "reference": reference,
                 "recipes": recipes,
                 "tagged_runs": {r["run"]["arm"] + "-seed" + str(r["run"]["seed"]) + "-" + r["run"]["tag"]:
                                 {"run": {k: v for k, v in r["run"].items() if k != "config"},
                                  "metrics": _flat(r)} for r in tagged}})
    print(text)
    return text


def _tagged_section(tagged: list[dict], reference: dict) -> list[str]:
    """Markdown lines for the runs outside the ablation (e.g. a long run), one row each."""
    if not tagged:
        return []
    lines = ["**Runs outside the ablation**", "",
             "Single runs with their own budget (not averaged into the table above).", "",
             "| run | steps | train min | " + " | ".join(label for _, _, label in TABLE_METRICS) + " |",
             "|---|---|---|" + "---|" * len(TABLE_METRICS)]
    for r in tagged:
        run = r["run"]
        name = f"{run['arm']}-seed{run['seed']}-{run['tag']}"
        flat = _flat(r)
        cells = [f"{flat[k]:.3g}" if k in flat else "–" for k, _, _ in TABLE_METRICS]
        changes = "".join(f", {item}" for item in run.get("overrides") or [])
        lines.append(f"| [{name}](runs/{name}/) {ARM_NAMES[run['arm']]}{changes} | {run['steps']} | "
                     f"{run['train_seconds'] / 60:.1f} | " + " | ".join(cells) + " |")
    lines.append(_reference_row(reference, blanks=2))
    lines += ["", "Reproduce:", "", "```bash"] + [r["run"]["command"] for r in tagged] + ["```", ""]
    return lines


def update_readme(dataset: str, table_text: str) -> None:
    """Puts a dataset's table (from `table`) into README.md under its marker line."""
    readme = os.path.join(ROOT, "README.md")
    with open(readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    marker = f"<!-- ablation-{dataset}:"
    start = next((i for i, line in enumerate(lines) if line.startswith(marker)), None)
    if start is None:
        raise SystemExit(f"README.md has no line starting with {marker!r}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    body = table_text.split("\n")[1:]  # without the title
    base = f"experiments/results/{dataset}/"
    body = [line.replace("](runs/", f"]({base}runs/") for line in body]
    lines[start + 1:end] = body
    _write_text(readme, "\n".join(lines))


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
    from condgan.fileio import atomic_write_text

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
                             "(e.g. a long run); `table` lists tagged runs separately")
    parser.add_argument("--max_minutes", type=float, default=None,
                        help="with `run`: stop training (with a checkpoint) after this wall time")
    parser.add_argument("--keep_checkpoints", type=int, default=None,
                        help="with `run`: checkpoints to keep (e.g. to evaluate a learning curve)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="with `run --tag`: override a config field of the arm (repeatable), "
                             "e.g. --set=train.mismatch_weight=0.5")
    parser.add_argument("--every", type=int, default=5000,
                        help="with `curve`: evaluate the kept checkpoints at multiples of this step")
    parser.add_argument("--num_clips", type=int, default=500,
                        help="with `curve`: generated clips per checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="redo finished runs: train on to the step target (a resumed run), "
                             "then evaluate and report again")
    parser.add_argument("--readme", action="store_true",
                        help="with `table`: also put the table into README.md")
    parser.add_argument("--train_only", action="store_true",
                        help="train (or resume) but do not evaluate; no classifier needed")
    args = parser.parse_args(argv)
    if args.tag is not None and not re.fullmatch(r"[A-Za-z0-9_.]+", args.tag):
        parser.error(f"--tag={args.tag!r}: use letters, digits, '_' and '.' only")
    if (args.set or args.max_minutes is not None) and not args.tag:
        parser.error("--set and --max_minutes change the arm's budget or objective: give the "
                     "run a --tag (it is kept out of the table)")
    if args.command == "all" and args.tag:
        parser.error("--tag names one run: use it with `run` (or `curve`), not `all`")
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
        if args.readme:
            update_readme(args.dataset, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
