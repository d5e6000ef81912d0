"""Writes `evaluate`'s results: results.json, results.md and the two spectrogram grids.

`write_report(results, out_dir)` writes results.json (`results_for_json`: plain
JSON types, the grids' audio replaced by their file names), results.md
(`markdown_report`: a table generated | real reference | ratio, then per-class
and per-caption tables) and two spectrogram grids: the generated z-diversity
clips (rows captions, columns z) and real test clips (rows classes, columns
clips). `METRIC_ORDER` is the order of the metrics in results and reports.

Every name here is also importable from `condgan.evaluation.evaluate`.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from condgan import fileio
from condgan.evaluation.plots import save_spectrogram_grid

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
GENERATED_GRID = "generated_grid.png"
REAL_GRID = "real_grid.png"

METRIC_ORDER = ("conditional_accuracy", "inception_score", "modified_inception_score",
                "modified_inception_score_within_class", "am_score", "frechet_distance",
                "intra_frechet_distance", "d_self", "d_train", "z_diversity_caption",
                "z_diversity", "ndb_over_k")
_TITLES = {
    "conditional_accuracy": "Conditional accuracy",
    "inception_score": "Inception score",
    "modified_inception_score": "Modified IS (mIS)",
    "modified_inception_score_within_class": "mIS within class",
    "am_score": "AM score",
    "frechet_distance": "Fréchet distance",
    "intra_frechet_distance": "Intra-FD (per class)",
    "d_self": "d_self",
    "d_train": "d_train",
    "z_diversity_caption": "z-diversity (caption group)",
    "z_diversity": "z-diversity (class)",
    "ndb_over_k": "NDB/K",
}


def write_report(results: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, str]:
    """Writes results.json, results.md and the two spectrogram grids into `out_dir`.

    Every file is written atomically (temporary file, then rename).

    Args:
      results: the dict returned by `evaluate`.
      out_dir: output directory (created if needed).

    Returns:
      {"json", "markdown", "generated_grid", "generated_grid_labels",
      "real_grid", "real_grid_labels"} -> path.
    """
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    rate = results["dataset"]["sample_rate"]
    for name, filename in (("generated", GENERATED_GRID), ("real", REAL_GRID)):
        grid = results["grids"][name]
        path = os.path.join(out_dir, filename)
        paths[f"{name}_grid_labels"] = save_spectrogram_grid(
            path, grid["clips"], rate, grid["row_labels"], grid["col_labels"])
        paths[f"{name}_grid"] = path
    paths["json"] = os.path.join(out_dir, RESULTS_JSON)
    fileio.atomic_write_text(paths["json"], json.dumps(
        results_for_json(results), indent=2, sort_keys=False, ensure_ascii=False,
        allow_nan=False) + "\n")
    paths["markdown"] = os.path.join(out_dir, RESULTS_MD)
    fileio.atomic_write_text(paths["markdown"], markdown_report(results))
    return paths


def results_for_json(results: dict[str, Any]) -> dict[str, Any]:
    """`evaluate`'s results as plain JSON types, the grids' audio replaced by their file names.

    This is what results.json holds; use it to store results elsewhere (the
    grids' waveforms alone would be megabytes of JSON).
    """
    plain = {k: v for k, v in results.items() if k != "grids"}
    files = {"generated": GENERATED_GRID, "real": REAL_GRID}
    plain["grids"] = {name: {"file": files.get(name), "row_labels": list(g["row_labels"]),
                             "col_labels": list(g["col_labels"])}
                      for name, g in results.get("grids", {}).items()}
    return _plain(plain)


def markdown_report(results: dict[str, Any]) -> str:
    """The report as markdown: settings, the metric table, per-class and per-caption tables."""
    d, s, m = results["dataset"], results["settings"], results["metrics"]
    lines = [
        f"# Evaluation of {results.get('model') or 'a generator'}",
        "",
        f"Dataset `{d['data_dir']}` ({d['source']}, {len(d['classes'])} classes, "
        f"{d['sample_rate']} Hz, {d['length']} samples; {d['train_count']} train / "
        f"{d['test_count']} test clips). Classifier `{results['classifier']['path']}`. "
        f"{s['num_clips']} generated clips with captions uniform over classes; z-diversity from "
        f"{s['z_per_caption']} z for up to {s['captions_per_class']} captions per class; "
        f"NDB with K = {s['ndb_bins']}; seed {s['seed']}.",
        "",
        "| metric | generated | real reference | ratio | reference |",
        "|---|---|---|---|---|",
    ]
    for name in [n for n in METRIC_ORDER if n in m]:  # older results lack newer metrics
        e = m[name]
        gen, real = _fmt(e["generated"]), _fmt(e["real"])
        if name == "inception_score":
            gen += f" ± {_fmt(e['generated_std'])}"
            real += f" ± {_fmt(e['real_std'])}"
        lines.append(f"| {_TITLES[name]} | {gen} (n={e['n_generated']}) | {real} "
                     f"(n={e['n_real']}) | {_fmt(e['ratio'])} | {e['reference']} |")
    lines += [
        "",
        "Ratio = generated / real reference; about 1 is like the data. Features are the scoring "
        "classifier's penultimate activations; d_self and z-diversity far below 1 mean collapse. "
        "z-diversity (caption group) measures each caption against the real clips it could "
        "describe (its condition group); z-diversity (class) against its whole class. "
        "AM score: lower is better. Definitions: docs/metrics.md.",
        "",
        "## Conditional accuracy per class",
        "",
        "| class | generated | real test | generated clips most often heard as (share) |",
        "|---|---|---|---|",
    ]
    confusion = results["details"].get("generated_confusion", {})
    for name, e in results["details"]["conditional_accuracy_per_class"].items():
        lines.append(f"| {_md_cell(name)} | {_fmt(e['generated'])} | {_fmt(e['real'])} | "
                     f"{_most_confused(confusion.get(name), name)} |")
    intra = results["details"].get("intra_frechet_distance_per_class")
    if intra:
        lines += ["", "## Intra-FD per class", "", "| class | generated | real |", "|---|---|---|"]
        for name, e in intra.items():
            lines.append(f"| {_md_cell(name)} | {_fmt(e['generated'])} | {_fmt(e['real'])} |")
    groups = results["details"].get("condition_groups")
    lines += ["", "## z-diversity per caption", ""]
    if groups:
        lines += [f"{groups['count']} condition groups; source: {groups['source']}.", ""]
    lines += ["| caption | class | group (clips) | caption group: generated | real | "
              "class: generated | real |", "|---|---|---|---|---|---|---|"]
    for e in results["details"]["z_diversity_per_caption"]:
        group = (f"{_md_cell(e['group'])} ({e['group_clips']})" if "group" in e else "—")
        lines.append(f"| {_md_cell(e['caption'])} | {_md_cell(e['class'])} | {group} | "
                     f"{_fmt(e.get('matched_generated'))} | {_fmt(e.get('matched_real'))} | "
                     f"{_fmt(e['generated'])} | {_fmt(e['real'])} |")
    lines += ["", "## Spectrograms", "",
              f"- Generated (rows captions, columns z): ![generated]({GENERATED_GRID})",
              f"- Real test clips (rows classes, columns clips): ![real]({REAL_GRID})",
              "", "Row and column labels are in the `.labels.txt` file beside each PNG.", ""]
    return "\n".join(lines)


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _plain(x):
    """numpy scalars / arrays -> Python, recursively, for json."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _most_confused(row: dict | None, name: str) -> str:
    """The class (other than `name`) a class's generated clips were most often
    classified as, with its share of them; "—" without a confusion row or errors."""
    if not row:
        return "—"
    wrong = {k: v for k, v in row.items() if k != name}
    if not wrong:
        return "—"
    other = max(wrong, key=lambda k: (wrong[k], k))
    return f"{_md_cell(other)} ({wrong[other] / sum(row.values()):.2f})"
