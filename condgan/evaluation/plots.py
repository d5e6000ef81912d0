"""Labelled pictures: spectrogram grids, single spectrograms and learning curves (matplotlib).

Every picture is drawn on its own `matplotlib.figure.Figure` with the Agg
canvas (no pyplot, no global backend state, safe in threads and on machines
without a display) and written atomically as PNG (`condgan.fileio`).

Spectrograms are the scoring features of `condgan.evaluation.features.log_mel`
(WaveGAN's log-mel of the STFT magnitude, 128 HTK-mel bands), shown in dB:
`20 * log10(mel magnitude)`. One picture uses one dB scale, whose 0 dB is its
loudest bin (so a quiet clip looks quiet beside a loud one) and whose floor is
`dynamic_range_db` below; the colour bar shows it. The frequency axis is the
mel axis, labelled in Hz; the time axis is in seconds.

Functions:
  spectrogram_grid: rows (e.g. captions, wrapped) x columns (e.g. seeds / z)
    (`grid_figure` gives its Figure); `save_spectrogram_grid` adds a sidecar
    text file of the labels.
  spectrogram_figure / spectrogram_figures: one clip per picture (the cells of
    the listening page).
  plot_curves: metrics against training steps, several runs on one figure.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from condgan import fileio
from condgan.evaluation.features import DEFAULT_DYNAMIC_RANGE_DB, NUM_MEL_BINS, log_mel, mel_edges

COLORMAP = "magma"
# Inches per grid cell and for the row captions; DPI of the written PNGs.
CELL_WIDTH, CELL_HEIGHT, CAPTION_WIDTH = 1.7, 1.15, 2.0
DPI = 100
# Captions wrap at this many characters per line, at most this many lines.
WRAP_WIDTH, WRAP_LINES = 26, 3
# Frequencies (Hz) that may label the mel axis, where they fall inside its range.
FREQUENCY_TICKS = (100, 250, 500, 1000, 2000, 4000, 8000)
SPARSE_FREQUENCY_TICKS = (250, 1000, 2000, 4000)
# Metric keys of condgan.evaluation.evaluate -> axis titles of `plot_curves`.
CURVE_TITLES = {
    "conditional_accuracy": "conditional accuracy",
    "inception_score": "inception score",
    "frechet_distance": "Fréchet distance",
    "z_diversity": "z-diversity (class)",
    "z_diversity_caption": "z-diversity (caption-matched)",
    "d_self": "d_self / real",
    "d_train": "d_train / real",
    "ndb_over_k": "NDB / K",
}


def log_mel_db(clips, sample_rate: int) -> np.ndarray:
    """Log-mel spectrograms in dB, `20 * log10(mel magnitude + 1e-6)`.

    Args:
      clips: float32[batch, length] waveforms in [-1, 1].
      sample_rate: Hz.

    Returns:
      float32[batch, 128, frames], lowest mel band in row 0.
    """
    natural = log_mel(np.asarray(clips, np.float32), sample_rate).numpy()
    return np.transpose(natural * (20.0 / math.log(10.0)), (0, 2, 1)).astype(np.float32)


def db_reference(db: np.ndarray, dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> float:
    """0 dB of a picture: its loudest bin, but no lower than the silence floor + range.

    The floor keeps a silent picture black instead of stretching its rounding
    noise over the whole colour scale (as `features.spectrogram_images`).
    """
    silence = 20.0 * math.log10(1e-6)
    return float(max(np.max(db), silence + dynamic_range_db))


def spectrogram_grid(path: str | os.PathLike, clips, sample_rate: int,
                     row_labels: Sequence[str], col_labels: Sequence[str] | None = None,
                     title: str | None = None,
                     dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> str:
    """Writes a labelled PNG grid of spectrograms: one row per caption, one column per seed.

    Each row carries its label (wrapped) at the left, each column its label on
    top; the left column has the frequency axis (Hz, mel scale), the bottom
    row the time axis (s); one colour bar gives the dB scale shared by all
    cells.

    Args:
      path: output .png path (its directory is created if needed).
      clips: float[rows, cols, length] waveforms in [-1, 1].
      sample_rate: Hz of `clips`.
      row_labels: `rows` strings, top to bottom (e.g. the captions).
      col_labels: `cols` strings, left to right (default "z0", "z1", ...).
      title: figure title (default: what the cells show, rate and length).
      dynamic_range_db: > 0, dB shown between the floor and the loudest bin.

    Returns:
      `path` as a string.

    Raises:
      ValueError: if `clips` is not a non-empty [rows, cols, length] float
        array, the labels do not match its rows / columns, or
        `dynamic_range_db` <= 0. Nothing is written then.
    """
    path = os.fspath(path)
    clips = np.asarray(clips)
    if clips.ndim != 3 or min(clips.shape) < 1:
        raise ValueError(f"clips must be float32[rows, cols, length] and non-empty, "
                         f"got shape {clips.shape}")
    if not np.issubdtype(clips.dtype, np.floating):
        raise ValueError(f"clips must be float waveforms in [-1, 1], got dtype {clips.dtype}")
    rows, cols, length = clips.shape
    row_labels = [str(label) for label in row_labels]
    if len(row_labels) != rows:
        raise ValueError(f"row_labels has {len(row_labels)} entries, clips has {rows} rows")
    col_labels = [f"z{j}" for j in range(cols)] if col_labels is None else [str(c) for c in col_labels]
    if len(col_labels) != cols:
        raise ValueError(f"col_labels has {len(col_labels)} entries, clips has {cols} columns")
    _check_range(dynamic_range_db)
    _save(grid_figure(clips, sample_rate, row_labels, col_labels, title, dynamic_range_db), path)
    return path


def save_spectrogram_grid(path: str | os.PathLike, clips, sample_rate: int,
                          row_labels: Sequence[str],
                          col_labels: Sequence[str] | None = None,
                          dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> str:
    """Writes `spectrogram_grid` (rows: captions, columns: z) and a sidecar file of its labels.

    The picture: the row labels (wrapped) at the left, the column labels on
    top, frequency (Hz, mel scale) and time (s) axes, and a dB colour bar; all
    cells share one dB scale, so a quiet or silent clip looks quiet. The
    labels also go to a sidecar text file `<path without .png>.labels.txt`,
    for scripts. Both files are written atomically (`condgan.fileio`; local
    paths only).

    Args:
      path: output .png path (its directory is created if needed).
      clips: float32[rows, cols, length] waveforms.
      sample_rate: Hz of `clips`.
      row_labels: `rows` strings, top to bottom (e.g. the captions).
      col_labels: `cols` strings, left to right (default "z0", "z1", ...).
      dynamic_range_db: > 0, dB of magnitude shown between the floor and the
        loudest bin.

    Returns:
      The path of the sidecar labels file.

    Raises:
      ValueError: if `clips` is not [rows, cols, length] or the labels do not
        match its rows / columns; nothing is written then.
    """
    path = os.fspath(path)
    clips = np.asarray(clips)
    if clips.ndim != 3 or min(clips.shape) < 1:
        raise ValueError(f"clips must be float32[rows, cols, length] and non-empty, "
                         f"got shape {clips.shape}")
    rows, cols, length = clips.shape
    row_labels = [str(label) for label in row_labels]
    if len(row_labels) != rows:
        raise ValueError(f"row_labels has {len(row_labels)} entries, clips has {rows} rows")
    if col_labels is None:
        col_labels = [f"z{j}" for j in range(cols)]
    col_labels = [str(label) for label in col_labels]
    if len(col_labels) != cols:
        raise ValueError(f"col_labels has {len(col_labels)} entries, clips has {cols} columns")

    spectrogram_grid(path, clips, sample_rate, row_labels, col_labels,
                     dynamic_range_db=dynamic_range_db)
    stem = path[:-4] if path.lower().endswith(".png") else path
    labels_path = stem + ".labels.txt"
    lines = [f"{os.path.basename(path)}: log-mel spectrograms, {sample_rate} Hz, "
             f"{length} samples, one dB scale for all cells "
             f"({dynamic_range_db:g} dB range); low frequencies at the bottom of each cell.",
             "", "rows (top to bottom):"]
    lines += [f"  {i}: {label}" for i, label in enumerate(row_labels)]
    lines += ["", "columns (left to right):"]
    lines += [f"  {j}: {label}" for j, label in enumerate(col_labels)]
    fileio.atomic_write_text(labels_path, "\n".join(lines) + "\n")
    return labels_path


def grid_figure(clips: np.ndarray, sample_rate: int, row_labels: Sequence[str],
                col_labels: Sequence[str], title: str | None = None,
                dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB):
    """The `matplotlib.figure.Figure` of `spectrogram_grid` (arguments checked there)."""
    rows, cols, length = clips.shape
    db = log_mel_db(clips.reshape(rows * cols, length), sample_rate)
    ref = db_reference(db, dynamic_range_db)
    bands, frames = db.shape[1:]
    # One image for the whole grid (one matplotlib axes: fast for 24 x 8 cells),
    # cells separated by NaN gaps drawn white.
    gap_y, gap_x = max(2, bands // 12), max(2, frames // 12)
    mosaic = np.full((rows * (bands + gap_y) - gap_y, cols * (frames + gap_x) - gap_x), np.nan,
                     np.float32)
    for index in range(rows * cols):
        i, j = divmod(index, cols)
        top, left = i * (bands + gap_y), j * (frames + gap_x)
        # Row 0 of the mosaic is drawn at the top: flip each cell so low bands are at its bottom.
        mosaic[top:top + bands, left:left + frames] = (db[index] - ref)[::-1]

    left_in, right_in, top_in, bottom_in = CAPTION_WIDTH, 1.45, 0.75, 0.5
    fig = _figure(left_in + cols * CELL_WIDTH + right_in, top_in + rows * CELL_HEIGHT + bottom_in,
                  layout=None)
    width, height = fig.get_size_inches()
    ax = fig.add_axes((left_in / width, bottom_in / height, 1 - (left_in + right_in) / width,
                       1 - (top_in + bottom_in) / height))
    cmap = _colormap()
    image = ax.imshow(mosaic, cmap=cmap, aspect="auto", interpolation="nearest",
                      vmin=-dynamic_range_db, vmax=0.0,
                      extent=(-0.5, mosaic.shape[1] - 0.5, mosaic.shape[0] - 0.5, -0.5))
    for spine in ax.spines.values():
        spine.set_visible(False)
    # Left: the row labels; top: the column labels.
    ax.set_yticks([i * (bands + gap_y) + (bands - 1) / 2 for i in range(rows)],
                  [wrap(label) for label in row_labels], fontsize=9)
    ax.tick_params(axis="y", length=0, pad=6)
    ax.set_xticks([j * (frames + gap_x) + (frames - 1) / 2 for j in range(cols)], col_labels,
                  fontsize=9)
    ax.tick_params(axis="x", length=0, top=True, labeltop=True, bottom=False, labelbottom=False)
    # Right: frequency ticks of every row; bottom: time ticks of every column.
    positions, labels = mel_axis_ticks(sample_rate, sparse=True)
    freq = ax.secondary_yaxis("right")
    freq.set_yticks([i * (bands + gap_y) + (bands - 1) - p for i in range(rows) for p in positions],
                    labels * rows, fontsize=6)
    freq.set_ylabel("frequency (Hz, mel scale)", fontsize=8)
    duration = length / sample_rate
    t_ticks = _time_ticks(duration)
    time_axis = ax.secondary_xaxis("bottom")
    time_axis.set_xticks([j * (frames + gap_x) - 0.5 + t / duration * frames
                          for j in range(cols) for t in t_ticks],
                         [f"{t:g}" for t in t_ticks] * cols, fontsize=6)
    time_axis.set_xlabel("time (s)", fontsize=8)
    for axis in (freq, time_axis):
        for spine in axis.spines.values():
            spine.set_visible(False)
    bar_height = min(height - top_in - bottom_in, 3.0)
    bar = fig.add_axes((1 - 0.6 / width, 1 - (top_in + bar_height) / height, 0.12 / width,
                        bar_height / height))
    colorbar = fig.colorbar(image, cax=bar)
    colorbar.set_label("dB re. loudest bin", fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
    if title is None:
        title = (f"log-mel spectrograms, {sample_rate} Hz, {length} samples "
                 f"({duration:.2f} s), one dB scale for all cells")
    fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
    return fig


def spectrogram_figure(path: str | os.PathLike, clip, sample_rate: int, title: str = "",
                       ref_db: float | None = None,
                       dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB) -> str:
    """Writes one clip's labelled spectrogram (axes, title, dB colour bar) as PNG.

    Args:
      path: output .png path.
      clip: float[length] waveform in [-1, 1].
      sample_rate: Hz.
      title: text above the picture (e.g. "seed 3").
      ref_db: the dB value drawn as 0 dB; pass the same value (e.g.
        `db_reference` of a whole page's clips) so pictures compare by loudness.
        Default: this clip's own loudest bin.
      dynamic_range_db: > 0, dB shown between the floor and 0 dB.

    Returns:
      `path` as a string.

    Raises:
      ValueError: if `clip` is not one non-empty float waveform or
        `dynamic_range_db` <= 0.
    """
    clip = np.asarray(clip)
    if clip.ndim != 1 or clip.size == 0 or not np.issubdtype(clip.dtype, np.floating):
        raise ValueError(f"clip must be one float waveform, float32[length]; got shape "
                         f"{clip.shape}, dtype {clip.dtype}")
    return spectrogram_figures([path], clip[np.newaxis], sample_rate, [title], ref_db,
                               dynamic_range_db)[0]


def spectrogram_figures(paths: Sequence[str | os.PathLike], clips, sample_rate: int,
                        titles: Sequence[str], ref_db: float | None = None,
                        dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB,
                        width: float = 2.6, height: float = 1.9) -> list[str]:
    """Writes one labelled spectrogram PNG per clip (as `spectrogram_figure`), quickly.

    One figure is drawn and its image replaced for each clip, which is several
    times faster than a figure per clip (hundreds of cells of a listening page).

    Args:
      paths: N output .png paths.
      clips: float[N, length] waveforms in [-1, 1].
      sample_rate: Hz.
      titles: N titles.
      ref_db: the dB value drawn as 0 dB for every clip (default: the loudest
        bin of all `clips`, so they compare by loudness).
      dynamic_range_db: > 0, dB shown between the floor and 0 dB.
      width, height: inches of each picture (at `DPI`).

    Returns:
      The paths as strings.

    Raises:
      ValueError: if `clips` is not a non-empty float [N, length] array, the
        paths or titles are not N, or `dynamic_range_db` <= 0.
    """
    clips = np.asarray(clips)
    if clips.ndim != 2 or min(clips.shape) < 1 or not np.issubdtype(clips.dtype, np.floating):
        raise ValueError(f"clips must be float32[N, length] and non-empty; got shape "
                         f"{clips.shape}, dtype {clips.dtype}")
    paths = [os.fspath(p) for p in paths]
    if len(paths) != len(clips) or len(titles) != len(clips):
        raise ValueError(f"{len(clips)} clips need as many paths and titles, got {len(paths)} "
                         f"paths and {len(titles)} titles")
    _check_range(dynamic_range_db)
    db = log_mel_db(clips, sample_rate)
    ref = db_reference(db, dynamic_range_db) if ref_db is None else float(ref_db)
    # A fixed layout (inches): constrained layout would be recomputed at every save.
    fig = _figure(width, height, layout=None)
    left, right, bottom, top = 0.42, 0.72, 0.33, 0.22
    ax = fig.add_axes((left / width, bottom / height, 1 - (left + right) / width,
                       1 - (bottom + top) / height))
    image = _draw(ax, db[0] - ref, sample_rate, clips.shape[1], dynamic_range_db)
    ax.set_xlabel("time (s)", fontsize=7, labelpad=1)
    ax.set_ylabel("Hz", fontsize=7, labelpad=1)
    ax.tick_params(labelsize=6, pad=1)
    bar = fig.add_axes((1 - (right - 0.08) / width, bottom / height, 0.08 / width,
                        1 - (bottom + top) / height))
    colorbar = fig.colorbar(image, cax=bar)
    colorbar.set_label("dB", fontsize=7, labelpad=2)
    colorbar.ax.tick_params(labelsize=6, pad=1)
    for path, cell, title in zip(paths, db, titles):
        image.set_data(cell - ref)
        ax.set_title(str(title), fontsize=8)
        _save(fig, path)
    return paths


def plot_curves(path: str | os.PathLike, curves: Mapping[str, Sequence[Mapping[str, float]]],
                metrics: Sequence[str] = ("conditional_accuracy", "z_diversity"),
                reference: Mapping[str, float] | None = None, title: str | None = None) -> str:
    """Writes learning curves as PNG: one panel per metric, one line per run, against steps.

    The points are what `python -m experiments.ablation curve` stores in
    `curve.json` under "points" (and its "reference", the real test split's
    values, fits `reference`)::

        plot_curves("curves.png",
                    {"D-seed0-long": json.load(open(".../curve.json"))["points"],
                     "A-seed0-long": ...},
                    metrics=("conditional_accuracy", "z_diversity"),
                    reference=json.load(open(".../curve.json"))["reference"])

    Args:
      path: output .png path.
      curves: run name -> its points, each a mapping with "step" and the
        metrics (missing or None values are left out of that run's line);
        points are sorted by step here.
      metrics: the metric keys to plot, one panel each (titles from
        `CURVE_TITLES`, else the key).
      reference: optional metric -> value drawn as a dashed grey line (e.g.
        the real data's own value).
      title: optional figure title.

    Returns:
      `path` as a string.

    Raises:
      ValueError: no runs or metrics, a point without "step", or a metric that
        no run has. Nothing is written then.
    """
    path = os.fspath(path)
    if not curves:
        raise ValueError("curves is empty: give at least one run (name -> list of points)")
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics is empty: name at least one metric key to plot")
    lines = {}
    for run, points in curves.items():
        for k, point in enumerate(points):
            if "step" not in point:
                raise ValueError(f"curves[{run!r}][{k}] has no 'step': {dict(point)}")
        ordered = sorted(points, key=lambda p: p["step"])
        lines[run] = {m: [(p["step"], float(p[m])) for p in ordered if p.get(m) is not None]
                      for m in metrics}
    for m in metrics:
        if not any(lines[run][m] for run in lines):
            raise ValueError(f"no run has values of metric {m!r} "
                             f"(keys of the first point: {sorted(next(iter(curves.values()))[0])})"
                             if any(curves.values()) else f"no run has any point to plot for {m!r}")

    _save(_curves_figure(lines, metrics, reference, title), path)
    return path


def _curves_figure(lines, metrics, reference, title):
    fig = _figure(0.6 + 4.2 * len(metrics), 3.4)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics):
        for run, by_metric in lines.items():
            if by_metric[m]:
                steps, values = zip(*by_metric[m])
                ax.plot(steps, values, marker="o", markersize=3, label=run)
        if reference is not None and reference.get(m) is not None:
            ax.axhline(float(reference[m]), color="0.5", linestyle="--", linewidth=1,
                       label="real data")
        ax.set_title(CURVE_TITLES.get(m, m), fontsize=10)
        ax.set_xlabel("training step", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def wrap(text: str, width: int = WRAP_WIDTH, max_lines: int = WRAP_LINES) -> str:
    """`text` wrapped at `width` characters, at most `max_lines` lines (the last ends in "…")."""
    lines = textwrap.wrap(" ".join(str(text).split()), width=width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:max(1, width - 1)].rstrip() + "…"
    return "\n".join(lines)


def mel_axis_ticks(sample_rate: int, sparse: bool = False) -> tuple[list[float], list[str]]:
    """Positions (in mel-band units) and labels of `FREQUENCY_TICKS` on the log-mel axis.

    Band i of `tf.signal.linear_to_mel_weight_matrix` is centred at the
    (i + 1)-th of `bands + 2` points equally spaced in HTK mel
    (1127 ln(1 + f / 700)) from the lower to the upper edge. `sparse` keeps
    only `SPARSE_FREQUENCY_TICKS` (for small cells).
    """
    lower, upper = mel_edges(sample_rate)
    lo, hi = _hz_to_mel(lower), _hz_to_mel(upper)
    step = (hi - lo) / (NUM_MEL_BINS + 1)
    positions, labels = [], []
    for f in SPARSE_FREQUENCY_TICKS if sparse else FREQUENCY_TICKS:
        if lower <= f <= upper:
            positions.append((_hz_to_mel(f) - lo) / step - 1.0)
            labels.append(f"{f // 1000}k" if f >= 1000 else str(f))
    return positions, labels


def _hz_to_mel(f: float) -> float:
    return 1127.0 * math.log1p(f / 700.0)


def _time_ticks(duration: float) -> list[float]:
    """0 and one round time (s) in the second half of the clip."""
    step = 10 ** math.floor(math.log10(duration))
    for factor in (5, 2, 1):
        if factor * step <= duration and factor * step >= duration / 2:
            return [0.0, factor * step]
    return [0.0, step]


def _colormap():
    cmap = matplotlib.colormaps[COLORMAP].copy()
    cmap.set_bad("white")
    return cmap


def _draw(ax, db_rel: np.ndarray, sample_rate: int, length: int, dynamic_range_db: float):
    bands = db_rel.shape[0]
    image = ax.imshow(db_rel, origin="lower", aspect="auto", cmap=COLORMAP, interpolation="nearest",
                      vmin=-dynamic_range_db, vmax=0.0,
                      extent=(0.0, length / sample_rate, -0.5, bands - 0.5))
    positions, labels = mel_axis_ticks(sample_rate)
    ax.set_yticks(positions, labels)
    return image


def _figure(width: float, height: float, layout: str | None = "constrained"):
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    fileio.atomic_write_bytes(path, buffer.getvalue())


def _check_range(dynamic_range_db: float) -> None:
    if not dynamic_range_db > 0:
        raise ValueError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
