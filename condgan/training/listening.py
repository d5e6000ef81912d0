"""The listening page: a self-contained index.html to hear and see generated clips.

One row per caption (or class), one cell per seed (or z, or real clip); each
cell is its label, an `<audio controls>` player and, below it, the clip's
labelled spectrogram (time and frequency axes, dB colour bar;
`condgan.evaluation.plots`).
The page is self-contained: inline CSS, no script, no font or anything else
from the network, only relative links to files beside it, so it opens from the
file system, from a zip or from any static web server.

Used by condgan-generate --grid and the demo (`write_samples_page`, through
`condgan.training.inference.write_outputs`) and by condgan-eval
(`write_eval_page`, with the real reference clips and the metrics table). The
clips' files are named and written here too (`slug`, `write_wav`).
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
import urllib.parse
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from condgan import fileio
from condgan.evaluation import plots
from condgan.evaluation.evaluate import METRIC_ORDER

PAGE_NAME = "index.html"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em;
       color: #222; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; }
p.intro, p.note { max-width: 60em; line-height: 1.4; }
table { border-collapse: collapse; }
table.metrics td, table.metrics th { border: 1px solid #ccc; padding: 0.25em 0.6em;
                                     text-align: right; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
table.clips th { text-align: right; vertical-align: middle; max-width: 14em; padding-right: 0.8em;
                 font-weight: normal; }
table.clips th .kind { display: block; font-size: 0.8em; color: #777; }
table.clips tr.real th { color: #555; font-style: italic; }
table.clips td { vertical-align: top; padding: 0.3em 0.3em 0.8em; }
figure { margin: 0; }
figure audio { display: block; width: 260px; height: 32px; }
figure img { display: block; width: 260px; }
figcaption { font-size: 0.85em; color: #444; text-align: center; }
img.grid { max-width: 100%; border: 1px solid #eee; }
"""


@dataclasses.dataclass
class Cell:
    """One clip: its wav, its spectrogram picture (paths) and its column label."""
    audio: str
    image: str
    label: str


@dataclasses.dataclass
class Row:
    """One caption (or class): its label and its cells, left to right."""
    label: str
    cells: list[Cell]
    kind: str = ""        # e.g. "generated" / "real test clips": shown under the label
    real: bool = False    # drawn as a reference row


@dataclasses.dataclass
class Section:
    """A titled table of rows, optionally followed by a labelled grid picture."""
    title: str
    rows: list[Row]
    note: str = ""
    grid: str | None = None


def write_page(path: str | os.PathLike, title: str, sections: Sequence[Section],
               intro: str = "", metrics_table: tuple[list[str], list[list[str]]] | None = None
               ) -> str:
    """Writes the listening page; every linked file must exist under the page's directory.

    Args:
      path: the .html file to write (atomically; its directory must hold, or
        be a parent of, every linked file).
      title: page title and heading.
      sections: the tables of clips.
      intro: a paragraph under the heading (plain text).
      metrics_table: optional (header, rows) of plain-text cells, drawn before
        the sections.

    Returns:
      `path` as a string.

    Raises:
      ValueError: a linked file is missing or lies outside the page's
        directory (the page would not open from a zip); nothing is written.
    """
    path = os.fspath(path)
    base = os.path.dirname(os.path.abspath(path))
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
             f"<h1>{esc(title)}</h1>"]
    if intro:
        parts.append(f'<p class="intro">{esc(intro)}</p>')
    if metrics_table is not None:
        header, rows = metrics_table
        parts.append('<table class="metrics">')
        parts.append("<tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in header) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    for section in sections:
        parts.append(f"<section><h2>{esc(section.title)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{esc(section.note)}</p>')
        parts.append('<table class="clips">')
        for row in section.rows:
            kind = f'<span class="kind">{esc(row.kind)}</span>' if row.kind else ""
            tr = '<tr class="real">' if row.real else "<tr>"
            parts.append(f"{tr}<th>{esc(row.label)}{kind}</th>")
            for cell in row.cells:
                alt = f"spectrogram of {row.label}, {cell.label}"
                parts.append(
                    f"<td><figure><figcaption>{esc(cell.label)}</figcaption>"
                    f'<audio controls preload="metadata" src="{_href(cell.audio, base)}"></audio>'
                    f'<img src="{_href(cell.image, base)}" alt="{esc(alt)}" loading="lazy">'
                    "</figure></td>")
            parts.append("</tr>")
        parts.append("</table>")
        if section.grid:
            src = _href(section.grid, base)
            parts.append(f'<p><a href="{src}"><img class="grid" src="{src}" '
                         f'alt="{esc(section.title)}: labelled spectrogram grid"></a></p>')
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    fileio.atomic_write_text(path, "\n".join(parts))
    return path


def slug(caption: str, limit: int = 40) -> str:
    """A file-name part for `caption`: lower case, runs of non-word characters as "-",
    at most `limit` characters ("caption" if nothing is left)."""
    s = re.sub(r"[^\w]+", "-", caption.lower(), flags=re.UNICODE).strip("-")
    return (s[:limit].rstrip("-") or "caption")


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """Writes float[length] audio in [-1, 1] (clipped) as a 16-bit PCM wav, atomically."""
    data = tf.audio.encode_wav(np.clip(audio, -1, 1).astype(np.float32)[:, None], sample_rate)
    fileio.atomic_write_bytes(path, data.numpy())


def write_samples_page(path: str | os.PathLike, captions: Sequence[str], seeds: Sequence[int],
                       wav_paths: Sequence[Sequence[str]], image_paths: Sequence[Sequence[str]],
                       grid_path: str | None, sample_rate: int, length: int,
                       title: str = "condgan samples", intro: str = "") -> str:
    """The page of condgan-generate --grid and the demo: rows captions, columns seeds.

    Args:
      path: the index.html to write.
      captions: the R captions.
      seeds: the C seeds.
      wav_paths, image_paths: [R][C] paths of each clip's wav and spectrogram.
      grid_path: the labelled grid picture of all clips, or None.
      sample_rate, length: of the clips (for the note).
      title, intro: page heading and first paragraph.
    """
    rows = [Row(caption, [Cell(wav_paths[i][j], image_paths[i][j], f"seed {seed}")
                          for j, seed in enumerate(seeds)])
            for i, caption in enumerate(captions)]
    note = (f"{len(captions)} captions x {len(seeds)} seeds, {sample_rate} Hz, {length} samples "
            f"({length / sample_rate:.2f} s). The same caption and seed always give the same "
            "clip. Spectrograms: log-mel, one dB scale (0 dB = the loudest bin of the page).")
    return write_page(path, title, [Section("Generated clips", rows, note, grid_path)], intro)


def write_eval_page(output_dir: str | os.PathLike, results: dict[str, Any],
                    report_paths: dict[str, str]) -> str:
    """condgan-eval's page: the metrics table and, per class, generated clips beside real ones.

    Writes the clips of `results["grids"]` (those of generated_grid.png and
    real_grid.png) as wavs and spectrogram pictures under
    `output_dir/listen/`, then `output_dir/index.html`.

    Args:
      output_dir: where `condgan.evaluation.evaluate.write_report` wrote.
      results: what `evaluate` returned (with "grids", "metrics", "dataset").
      report_paths: what `write_report` returned (grid pictures, reports).

    Returns:
      The path of index.html.
    """
    output_dir = os.fspath(output_dir)
    listen = os.path.join(output_dir, "listen")
    rate = int(results["dataset"]["sample_rate"])
    grids = results["grids"]
    all_clips = np.concatenate([np.asarray(grids[k]["clips"]).reshape(
        -1, np.asarray(grids[k]["clips"]).shape[-1]) for k in ("generated", "real")])
    ref = plots.db_reference(plots.log_mel_db(all_clips, rate))
    rows_of = {}
    for kind in ("generated", "real"):
        grid = grids[kind]
        clips = np.asarray(grid["clips"])
        wavs, images, titles, rows = [], [], [], []
        for i, label in enumerate(grid["row_labels"]):
            cells = []
            for j, col in enumerate(grid["col_labels"]):
                stem = os.path.join(listen, f"{kind}-{i:02d}-{slug(str(label))}-{j}")
                write_wav(stem + ".wav", clips[i, j], rate)
                wavs.append(stem + ".wav")
                images.append(stem + ".png")
                titles.append("")
                cells.append(Cell(stem + ".wav", stem + ".png", str(col)))
            rows.append(Row(str(label), cells, kind="generated" if kind == "generated"
                            else "real test clips", real=kind == "real"))
        plots.spectrogram_figures(images, clips.reshape(-1, clips.shape[-1]), rate, titles,
                                  ref_db=ref)
        rows_of[kind] = rows
    sections = _class_sections(rows_of["generated"], rows_of["real"],
                               list(results["dataset"]["classes"]))
    metrics = results["metrics"]
    table = (["metric", "generated", "real reference", "ratio"],
             [[name, _fmt(metrics[name]["generated"]), _fmt(metrics[name]["real"]),
               _fmt(metrics[name]["ratio"])] for name in METRIC_ORDER if name in metrics])
    d = results["dataset"]
    intro = (f"Model {results.get('model') or '?'} on {d['data_dir']} ({len(d['classes'])} classes, "
             f"{rate} Hz, {d['length']} samples). Ratio = generated / real reference; about 1 is "
             "like the data. Every class shows its generated captions (columns: z) with real "
             "test clips of the same class below (one dB scale for the whole page). Full "
             "report: results.md.")
    page_sections = sections + [
        Section(f"Grid of the {name} clips", [], grid=report_paths[key])
        for key, name in (("generated_grid", "generated"), ("real_grid", "real"))
        if report_paths.get(key)]
    return write_page(os.path.join(output_dir, PAGE_NAME), "condgan evaluation", page_sections,
                      intro, table)


def _class_sections(generated: list[Row], real: list[Row], classes: list[str]) -> list[Section]:
    """One section per class: its generated rows, then its real row (beside each other).

    Generated row labels end in " [class]" (condgan.evaluation.evaluate); rows
    of a class that cannot be matched are kept in a last section.
    """
    by_class: dict[str, list[Row]] = {c: [] for c in classes}
    unmatched = []
    for row in generated:
        name = row.label.rsplit(" [", 1)[-1][:-1] if row.label.endswith("]") else None
        (by_class[name] if name in by_class else unmatched).append(row)
    real_of = {row.label: row for row in real}
    sections = []
    for c in classes:
        rows = by_class[c] + ([real_of[c]] if c in real_of else [])
        if rows:
            sections.append(Section(f"Class: {c}", rows))
    if unmatched:
        sections.append(Section("Other generated captions", unmatched))
    return sections


def _fmt(x) -> str:
    return "—" if x is None else f"{float(x):.4g}"


def _href(target: str, base: str) -> str:
    """URL of `target` relative to the page directory `base`; checks it exists inside it."""
    target = os.path.abspath(target)
    if not os.path.isfile(target):
        raise ValueError(f"listening page: linked file {target} does not exist")
    rel = os.path.relpath(target, base)
    if rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        raise ValueError(f"listening page: {target} is outside the page's directory {base} "
                         "(the page must only link files beside or below it)")
    return urllib.parse.quote(rel.replace(os.sep, "/"))
