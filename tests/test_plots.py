"""condgan.evaluation.plots: labelled spectrogram grids, single spectrograms, learning curves."""

import math
import os

import numpy as np
import pytest

from condgan.evaluation import features, plots

RATE, LENGTH = 8000, 2048


def _tone(freq, amplitude=0.5):
    t = np.arange(LENGTH) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _png(path):
    import matplotlib.image

    return matplotlib.image.imread(os.fspath(path))


def test_log_mel_db_is_20_log10_of_the_mel_magnitude():
    clips = np.stack([_tone(440.0), _tone(1500.0, 0.05)])
    db = plots.log_mel_db(clips, RATE)
    natural = features.log_mel(clips, RATE).numpy()          # ln(mel + 1e-6), [batch, frames, 128]
    np.testing.assert_allclose(db, 20 * np.log10(np.exp(natural)).transpose(0, 2, 1), rtol=1e-4,
                               atol=1e-3)
    assert db.shape == (2, 128, features.num_frames(LENGTH, RATE))


@pytest.mark.parametrize("freq", [250, 1000, 2000])
def test_frequency_ticks_sit_on_the_band_of_a_tone_at_that_frequency(freq):
    db = plots.log_mel_db(_tone(float(freq))[None], RATE)[0]
    loudest_band = int(np.argmax(db[:, db.shape[1] // 2]))
    positions, labels = plots.mel_axis_ticks(RATE)
    label = f"{freq // 1000}k" if freq >= 1000 else str(freq)
    assert abs(positions[labels.index(label)] - loudest_band) <= 1.0


def test_mel_axis_ticks_stay_inside_the_mel_range():
    for rate in (8000, 16000):
        lower, upper = features.mel_edges(rate)
        positions, labels = plots.mel_axis_ticks(rate)
        assert all(-1 <= p <= features.NUM_MEL_BINS for p in positions)
        assert ("4k" in labels) == (upper >= 4000)


def test_db_reference_is_the_loudest_bin_but_not_below_the_silence_floor():
    db = plots.log_mel_db(np.stack([_tone(500.0), np.zeros(LENGTH, np.float32)]), RATE)
    assert plots.db_reference(db) == pytest.approx(float(db.max()))
    silent = plots.log_mel_db(np.zeros((1, LENGTH), np.float32), RATE)
    assert plots.db_reference(silent, 80.0) == pytest.approx(20 * math.log10(1e-6) + 80.0)


def test_grid_figure_labels_rows_columns_axes_and_scale():
    captions = ["a dog barks", "a very long caption about a whistle that rises and falls slowly "
                "over a long time and then stops"]
    clips = np.stack([np.stack([_tone(300.0), _tone(600.0)]), np.zeros((2, LENGTH), np.float32)])
    fig = plots.grid_figure(clips, RATE, captions, ["seed 0", "seed 7"])
    grid_ax, bar_ax = fig.axes[0], fig.axes[-1]
    rows = [t.get_text() for t in grid_ax.get_yticklabels()]
    assert rows[0] == "a dog barks"
    assert rows[1].count("\n") == plots.WRAP_LINES - 1 and rows[1].endswith("…")
    assert [t.get_text() for t in grid_ax.get_xticklabels()] == ["seed 0", "seed 7"]
    secondary = [a for a in grid_ax.child_axes]
    assert any(a.get_ylabel().startswith("frequency (Hz") for a in secondary)
    assert any(a.get_xlabel() == "time (s)" for a in secondary)
    assert "dB" in bar_ax.get_ylabel()
    assert "8000 Hz" in fig._suptitle.get_text()
    # The image holds the cells in dB re. the loudest bin: 0 at the top, -80 floor.
    image = grid_ax.get_images()[0]
    assert image.get_clim() == (-80.0, 0.0)
    data = np.ma.getdata(image.get_array())
    assert np.nanmax(data) == pytest.approx(0.0, abs=1e-4)
    assert np.isnan(data).any()                       # the white gaps between cells


def test_spectrogram_grid_png_shows_loud_cells_bright_and_silence_dark(tmp_path):
    import matplotlib

    top = np.array(matplotlib.colormaps[plots.COLORMAP](1.0)[:3])

    def bright_pixels(clips):
        path = plots.spectrogram_grid(tmp_path / "g.png", clips, RATE, ["a", "b"], ["x", "y"])
        rgb = _png(path)[..., :3]
        cells = rgb[:, :rgb.shape[1] - int(1.45 * plots.DPI)]   # without the colour bar
        return int(np.sum(np.all(np.abs(cells - top) < 0.05, axis=-1)))

    silent = np.zeros((2, 2, LENGTH), np.float32)
    loud = silent.copy()
    loud[1, 1] = _tone(700.0)
    assert bright_pixels(silent) == 0
    assert bright_pixels(loud) > 10
    # Size grows with the grid.
    small = _png(plots.spectrogram_grid(tmp_path / "s.png", silent, RATE, ["a", "b"]))
    big = _png(plots.spectrogram_grid(tmp_path / "b.png", np.zeros((4, 3, LENGTH), np.float32),
                                      RATE, list("abcd")))
    assert big.shape[0] > small.shape[0] and big.shape[1] > small.shape[1]


def test_spectrogram_grid_rejects_bad_input_and_writes_nothing(tmp_path):
    clips = np.zeros((2, 2, 256), np.float32)
    with pytest.raises(ValueError, match="row_labels has 1 entries, clips has 2 rows"):
        plots.spectrogram_grid(tmp_path / "g.png", clips, RATE, ["a"])
    with pytest.raises(ValueError, match="col_labels has 1 entries, clips has 2 columns"):
        plots.spectrogram_grid(tmp_path / "g.png", clips, RATE, ["a", "b"], ["x"])
    with pytest.raises(ValueError, match=r"clips must be float32\[rows, cols, length\]"):
        plots.spectrogram_grid(tmp_path / "g.png", clips[0], RATE, ["a", "b"])
    with pytest.raises(ValueError, match="float waveforms"):
        plots.spectrogram_grid(tmp_path / "g.png", clips.astype(np.int16), RATE, ["a", "b"])
    with pytest.raises(ValueError, match="dynamic_range_db must be > 0"):
        plots.spectrogram_grid(tmp_path / "g.png", clips, RATE, ["a", "b"], dynamic_range_db=0)
    with pytest.raises(ValueError, match="clip must be one float waveform"):
        plots.spectrogram_figure(tmp_path / "c.png", clips, RATE)
    assert os.listdir(tmp_path) == []


def test_spectrogram_figure_writes_a_png(tmp_path):
    path = plots.spectrogram_figure(tmp_path / "sub" / "c.png", _tone(440.0), RATE, "seed 3",
                                    ref_db=0.0)
    assert path == str(tmp_path / "sub" / "c.png")
    assert _png(path).shape[2] in (3, 4)


def test_wrap():
    assert plots.wrap("a  short\ncaption") == "a short caption"
    long = plots.wrap("word " * 40, width=10, max_lines=2)
    assert long.count("\n") == 1 and long.endswith("…") and all(len(x) <= 10 for x in long.split("\n"))


def test_plot_curves_draws_one_line_per_run_sorted_by_step(tmp_path):
    curves = {
        "A": [{"step": 200, "conditional_accuracy": 0.3, "z_diversity": 0.5},
              {"step": 100, "conditional_accuracy": 0.1, "z_diversity": 0.9}],
        "D": [{"step": 100, "conditional_accuracy": 0.2, "z_diversity": None},
              {"step": 300, "conditional_accuracy": 0.4, "z_diversity": 0.7}],
    }
    lines = {run: {m: [(p["step"], p[m]) for p in sorted(pts, key=lambda p: p["step"])
                       if p.get(m) is not None] for m in ("conditional_accuracy", "z_diversity")}
             for run, pts in curves.items()}
    fig = plots._curves_figure(lines, ["conditional_accuracy", "z_diversity"],
                               {"z_diversity": 0.98}, "t")
    acc, zdiv = fig.axes
    assert acc.get_title() == "conditional accuracy" and zdiv.get_title() == "z-diversity (class)"
    got = {line.get_label(): list(zip(*line.get_data())) for line in zdiv.get_lines()}
    assert got["A"] == [(100, 0.9), (200, 0.5)] and got["D"] == [(300, 0.7)]
    assert got["real data"][0][1] == 0.98
    path = plots.plot_curves(tmp_path / "c.png", curves, reference={"z_diversity": 0.98})
    assert _png(path).shape[0] > 100


def test_plot_curves_errors(tmp_path):
    with pytest.raises(ValueError, match="curves is empty"):
        plots.plot_curves(tmp_path / "c.png", {})
    with pytest.raises(ValueError, match="has no 'step'"):
        plots.plot_curves(tmp_path / "c.png", {"A": [{"z_diversity": 1.0}]})
    with pytest.raises(ValueError, match="no run has values of metric 'fd'"):
        plots.plot_curves(tmp_path / "c.png", {"A": [{"step": 1, "z_diversity": 1.0}]}, ["fd"])
    assert os.listdir(tmp_path) == []


def test_save_spectrogram_grid_writes_png_and_labels(tmp_path):
    rate, length, rows, cols = RATE, LENGTH, 2, 3
    rng = np.random.default_rng(2)
    clips = np.stack([np.stack([_tone(300.0 * (i + 1) * (j + 1))
                                for j in range(cols)]) for i in range(rows)])
    clips[1, 2] = 0.1 * rng.standard_normal(length)
    path = tmp_path / "grid.png"
    labels_path = plots.save_spectrogram_grid(path, clips, rate, ["a dog barks", "rain"])
    png = _png(path)
    # A labelled colour picture (`spectrogram_grid`, tested above).
    assert png.ndim == 3 and png.shape[2] in (3, 4) and png.shape[0] > 2 * 100
    text = open(labels_path, encoding="utf-8").read()
    assert labels_path == str(tmp_path / "grid.labels.txt")
    assert "0: a dog barks" in text and "1: rain" in text and "2: z2" in text
    assert sorted(os.listdir(tmp_path)) == ["grid.labels.txt", "grid.png"]


def test_save_spectrogram_grid_rejects_mismatched_labels(tmp_path):
    clips = np.zeros((2, 2, 256), np.float32)
    with pytest.raises(ValueError, match="row_labels has 1 entries, clips has 2 rows"):
        plots.save_spectrogram_grid(tmp_path / "g.png", clips, 8000, ["a"])
    with pytest.raises(ValueError, match="col_labels has 3 entries, clips has 2 columns"):
        plots.save_spectrogram_grid(tmp_path / "g.png", clips, 8000, ["a", "b"], ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"clips must be float32\[rows, cols, length\]"):
        plots.save_spectrogram_grid(tmp_path / "g.png", clips[0], 8000, ["a", "b"])
    assert not os.listdir(tmp_path)
