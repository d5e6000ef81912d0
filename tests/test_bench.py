"""condgan-bench: the analytic FLOP count, the PyTorch peer's place (a checkout only), and the
command's plumbing on --quick (not speed)."""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base

from condgan.nets import build_discriminator, build_generator
from condgan.nets.phase_shuffle import PhaseShuffle
from condgan.training import bench_cli, benchmarks

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tiny_config(base_name="wavegan", **model):
    """A base (experiments/configs/bases) at tiny sizes, `model` fields on top, validated."""
    cfg = base(base_name)
    m = cfg.model
    m.length, m.model_dim, m.cond_dim, m.latent_dim, m.replay_capacity = 1024, 4, 8, 8, 16
    for k, v in model.items():
        setattr(m, k, v)
    return cfg.validate()


# --- FLOP count ---------------------------------------------------------------------------


def test_flops_of_hand_computed_layers():
    x = keras.Input((256, 3))
    y = keras.layers.Conv1D(5, 7, strides=4, padding="same")(x)        # 64 steps out
    y = keras.layers.Conv1DTranspose(2, 9, strides=2, padding="same")(y)  # 64 steps in
    y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(10)(y)
    model = keras.Model(x, y)
    conv = 2 * 7 * 3 * 5 * 64
    conv_t = 2 * 9 * 5 * 2 * 64
    dense = 2 * (128 * 2) * 10
    assert benchmarks.model_forward_flops(model) == conv + conv_t + dense

    img = keras.Input((16, 12, 2))
    out = keras.layers.Conv2D(4, 3, strides=2, padding="same")(img)  # 8 x 6 out
    assert benchmarks.model_forward_flops(keras.Model(img, out)) == 2 * 3 * 3 * 2 * 4 * 8 * 6


def _profiler_flops(model, inputs) -> int:
    """Float ops of one forward pass as the TF profiler counts them (registered op costs)."""
    fn = tf.function(lambda *a: model(list(a) if len(a) > 1 else a[0], training=False))
    graph = fn.get_concrete_function(*inputs).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops


@pytest.mark.parametrize("part", ["generator", "discriminator"])
def test_flops_match_tf_profiler(part):
    cfg = tiny_config().model
    if part == "generator":
        model = build_generator(cfg)
        inputs = [tf.TensorSpec([1, cfg.latent_dim]), tf.TensorSpec([1, cfg.cond_dim])]
    else:
        model = build_discriminator(cfg, seed=0)
        inputs = [tf.TensorSpec([1, cfg.length, 1]), tf.TensorSpec([1, cfg.text_dim])]
    ours = benchmarks.model_forward_flops(model)
    theirs = _profiler_flops(model, inputs)
    # The profiler also counts bias adds and activations (one per element), which the
    # analytic count leaves out: it must be a little larger, not different in kind.
    assert theirs > 0 and ours > 0
    assert ours <= theirs <= 1.05 * ours, (ours, theirs)


def test_train_step_flops_composition():
    hinge = tiny_config()  # the WaveGAN base: hinge, adversarial + KL only
    hinge.train.n_critic, hinge.train.batch_size = 1, 8
    f = benchmarks.train_step_flops(hinge)
    c, g, d = (f["per_example"][k] for k in ("conditioner", "generator", "discriminator"))
    assert min(c, g, d) > 0
    assert f["total"] == pytest.approx(8 * ((c + g + 6 * d) + (3 * c + 3 * g + 2 * d)))
    gp = tiny_config()
    gp.objective.adversarial, gp.objective.d["gradient_penalty"] = "wgan_gp", 10.0
    gp.train.n_critic, gp.train.batch_size = 5, 8
    assert benchmarks.train_step_flops(gp)["total"] == pytest.approx(
        8 * (5 * (c + g + 12 * d) + (3 * c + 3 * g + 2 * d)))
    # The mismatched pairs: one more D forward and backward per critic update.
    mismatch = tiny_config()
    mismatch.objective.params["adversarial"] = {"mismatch_share": 0.5}
    mismatch.train.batch_size = 8
    assert benchmarks.train_step_flops(mismatch)["critic_update"] == pytest.approx(
        8 * (c + g + 9 * d))
    # A second fake (mode seeking or z-diversity): G forward and backward again.
    for term in ("mode_seeking", "z_diversity"):
        second = tiny_config()
        second.objective.g[term], second.train.batch_size = 1.0, 8
        assert benchmarks.train_step_flops(second)["generator_update"] == pytest.approx(
            8 * (3 * c + 6 * g + 2 * d)), term


def test_train_step_flops_count_the_critics_view_of_the_real_clips():
    heads = tiny_config(contrastive_dim=8)
    heads.train.batch_size = 8
    off = benchmarks.train_step_flops(heads)
    heads.objective.g["cond_contrastive"] = 1.0
    on = benchmarks.train_step_flops(heads)
    d = on["per_example"]["discriminator"]
    assert on["generator_update"] - off["generator_update"] == pytest.approx(8 * d)
    assert on["critic_update"] == off["critic_update"]


def test_where_chain_phase_shuffle_equals_the_layer():
    """The speed attempt's baseline (the old where chain) and the layer's gather agree."""
    x = tf.random.normal((6, 40, 3), seed=1)
    a = PhaseShuffle(2, seed=5)(x, training=True)
    b = benchmarks.where_chain_phase_shuffle(PhaseShuffle(2, seed=5), x, training=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), x.numpy())


# --- the PyTorch peer: in the checkout, not in the package -------------------------------


def test_the_peer_is_used_from_a_checkout_only(monkeypatch):
    monkeypatch.setattr(bench_cli, "_in_checkout", lambda: False)
    assert bench_cli.torch_peer() == bench_cli.NOT_IN_CHECKOUT
    monkeypatch.undo()
    peer = bench_cli.torch_peer()  # this test runs from the checkout
    if isinstance(peer, str):
        assert peer == bench_cli.TORCH_MISSING
    else:
        assert peer.__name__ == "experiments.bench.torch_wavegan" and peer.torch_available()


def test_the_peer_without_torch_says_how_to_get_it():
    from experiments.bench import torch_wavegan

    if torch_wavegan.torch_available():
        g, d = torch_wavegan.torch_wavegan(2)
        assert d(g(torch_wavegan.torch.zeros(3, 100))).shape == (3, 1)
        return
    with pytest.raises(ImportError, match=r"condgan\[bench\]"):
        torch_wavegan.torch_peer_step(2, 2)


def test_the_package_holds_no_torch_code():
    sources = list((ROOT / "condgan").rglob("*.py"))
    torch_import = re.compile(r"^\s*(import torch|from torch\b)", re.M)
    assert sources and not [p for p in sources if torch_import.search(p.read_text(encoding="utf-8"))]


# --- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory):
    """A directory whose torch.py fails to import, put first on PYTHONPATH."""
    d = tmp_path_factory.mktemp("no_torch")
    (d / "torch.py").write_text("raise ImportError('torch hidden by the test')\n")
    return d


def run_bench(out, *args, pythonpath=()):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([*map(str, pythonpath), str(ROOT)]))
    return subprocess.run(
        [sys.executable, "-m", "condgan.training.bench_cli", "--quick", f"--out={out}", *args],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def test_quick_run_writes_table_json_markdown(tmp_path, no_torch, text_encoder_dir):
    out = tmp_path / "bench"
    proc = run_bench(out, "--only=peaks,train/tiny,attempt/fused_d_pass/small,torch,"
                     "input_pipeline,savedmodel", f"--text_encoder={text_encoder_dir}",
                     pythonpath=[no_torch])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    # The table, the torch-absent line, the pipeline and serving lines.
    assert "ms/step" in text and "GFLOP/s" in text
    assert "tiny" in text and "float32" in text
    assert bench_cli.TORCH_MISSING in text
    assert "input pipeline:" in text and "clips/s" in text
    assert "SavedModel" in text and "real time" in text
    names = {p.name for p in out.iterdir()}
    assert {"peaks.json", "train__tiny__float32.json", "summary.json", "BENCHMARKS.md",
            "torch_peer__small.json", "input_pipeline__small.json", "savedmodel__small.json"} <= names
    step = json.loads((out / "train__tiny__float32.json").read_text())
    assert step["median_ms"] > 0 and step["peak_rss_mb"] > 100 and step["losses_finite"]
    assert step["gflop_per_step"] == pytest.approx(step["flops"]["total"] / 1e9)
    peaks = json.loads((out / "peaks.json").read_text())
    assert peaks["float32"]["gflops"] > 0 and peaks["bfloat16"]["gflops"] > 0
    saved = json.loads((out / "savedmodel__small.json").read_text())
    assert saved["load_s"] > 0 and saved["batch1"]["median_ms"] > 0
    assert saved["realtime_batch64"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True and "train/tiny/float32" in summary["results"]
    md = (out / "BENCHMARKS.md").read_text()
    assert md.startswith("# Benchmarks")
    assert "--quick" in md and "## Training step" in md and "## Speed attempts" in md
    assert "| tiny | float32 |" in md
    assert "fused_d_pass" in md
    assert bench_cli.TORCH_MISSING in md


def test_only_matching_nothing_is_a_usage_error(tmp_path):
    proc = run_bench(tmp_path / "x", "--only=nothing-like-this")
    assert proc.returncode != 0
    assert "matches no benchmark item" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_report_marks_a_shared_machine_and_ratios():
    results = {
        "peaks": {"float32": {"gflops": 200.0}, "bfloat16": {"gflops": 800.0}},
        "train/small/float32": {"median_ms": 400.0, "examples_per_s": 80.0,
                                "gflop_per_step": 40.0, "gflops": 100.0, "peak_rss_mb": 900.0,
                                "flops": {"batch_size": 32, "total": 40e9, "per_example": {
                                    "conditioner": 2.6e5, "generator": 1.1e8,
                                    "discriminator": 1.1e8}}},
        "attempt/fused_d_pass/small": {"fused_d_pass=False": {"median_ms": 400.0},
                                       "fused_d_pass=True": {"median_ms": 320.0,
                                                             "speedup_vs_first": 1.25}},
        "torch_peer/small": {"pytorch peer": {"median_ms": 300.0},
                             "condgan": {"median_ms": 400.0, "speedup_vs_first": 0.75},
                             "threads": 2, "torch": "2.13.0", "peak_rss_mb": 700.0},
        "input_pipeline/small": {"clips_per_s": 800.0, "peak_rss_mb": 500.0},
        "_load_after": [3.0, 3.0, 3.0],
    }
    report = bench_cli.Report(results, {"cpus": 2, "loadavg": [3.5, 3.0, 2.0]}, False, 60.0)
    md = report.markdown()
    assert "shared during this run" in md
    assert "| small | float32 | 400.0 | 80.0 | 40.0 | 100.0 | 50 % | 12 % | 900 |" in md
    assert "1.250x" in md
    lines = "\n".join(report.other_lines())
    assert "condgan is 0.75x the peer's speed" in lines  # 300 ms (peer) / 400 ms (ours)
    assert "| small step >= 3x faster than the PyTorch peer (float32, interleaved) | 0.75x | " \
        "**no** |" in md
    assert "the small step consumes 80 clips/s: 10.0x" in lines
    assert "9% of the small step's FLOPs at most" in md  # 32 * 1.1e8 / 40e9
    idle = bench_cli.Report(results, {"cpus": 2, "loadavg": [0.2, 0.2, 0.2]}, False, 60.0)
    assert "The machine was idle." in idle.markdown()
    # Other runnable processes, when measured, decide over a load average that still
    # counts a job which ended before the run.
    decayed = bench_cli.Report(results, {"cpus": 2, "loadavg": [1.5, 2.0, 2.0],
                                         "other_runnable": 0.1}, False, 60.0)
    assert "The machine was idle." in decayed.markdown()
    busy = bench_cli.Report(results, {"cpus": 2, "loadavg": [0.2, 0.2, 0.2],
                                      "other_runnable": 2.0}, False, 60.0)
    assert "shared during this run" in busy.markdown()


def test_other_runnable_processes_counts_a_busy_process():
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = benchmarks.other_runnable_processes(samples=20, interval=0.02)
    finally:
        spin.kill()
        spin.wait()
    if busy is not None:  # Linux
        assert busy >= 0.5


@pytest.mark.parametrize("base_name", ["wavegan", "spectral"])
def test_fused_d_pass_gives_the_same_critic_update(base_name):
    from condgan.training.trainer import build_gan

    # No spectral normalisation: its power iteration runs once per D call, so two calls
    # (the unfused pass) would move its state twice.
    cfg = tiny_config(base_name, phase_shuffle=0, text_dropout=0.0, spectral_norm=False,
                      contrastive_dim=8 if base_name == "spectral" else 0)
    cfg.train.n_critic, cfg.train.batch_size = 1, 4
    rng = np.random.default_rng(0)
    audio = tf.constant(rng.uniform(-1, 1, (4, 1024, 1)).astype(np.float32))
    text = tf.constant(rng.normal(size=(4, 512)).astype(np.float32))
    gans = [build_gan(cfg), build_gan(cfg)]
    # The same weights and random-stream states in both.
    for mine, theirs in zip(gans[1].variables, gans[0].variables, strict=True):
        mine.assign(theirs)
    before = gans[0].discriminator.get_weights()
    outs, weights = [], []
    for gan, fused in zip(gans, (False, True)):
        gan.fused_d_pass = fused
        # Plain SGD: the weight change is the gradient (Adam's first step is about
        # lr * sign(gradient), which turns float noise on a zero gradient into a full step).
        gan.d_optimizer = keras.optimizers.SGD(learning_rate=1.0)
        outs.append({k: float(v) for k, v in gan.discriminator_step(audio, text).items()})
        weights.append(gan.discriminator.get_weights())
    assert outs[0].keys() == outs[1].keys()
    np.testing.assert_allclose(list(outs[0].values()), list(outs[1].values()), rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(before, weights[0]))
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_render_rewrites_the_report_from_a_summary(tmp_path):
    summary = {"machine": {"cpus": 2, "loadavg": [0.1, 0.1, 0.1], "cpu_model": "test cpu"},
               "quick": False, "seconds": 600.0,
               "results": {"peaks": {"float32": {"gflops": 250.0},
                                     "bfloat16": {"gflops": 1000.0}},
                           "_load_after": [0.2, 0.2, 0.2]}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    assert bench_cli.render(str(path), None) == 0
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "float32 **250 GFLOP/s**, bfloat16 **1,000 GFLOP/s**" in md
    assert "## Notes" in md and "test cpu" in md
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(Exception, match="is not a condgan-bench summary.json"):
        bench_cli.render(str(tmp_path / "bad.json"), None)


def test_report_orders_training_rows_by_size_whatever_the_results_order():
    row = {"median_ms": 10.0, "examples_per_s": 1.0, "gflop_per_step": 1.0, "gflops": 1.0,
           "peak_rss_mb": 1.0}
    names = ["train/small/float32", "train/tiny/mixed_bfloat16", "train/tiny/float32",
             "train/synth/float32"]  # as a summary.json with sorted keys reads back, shuffled
    report = bench_cli.Report({n: dict(row) for n in names}, {"cpus": 2}, False, 1.0)
    assert [r[:2] for r in report.train_rows()] == [
        ["tiny", "float32"], ["tiny", "mixed_bfloat16"], ["synth", "float32"],
        ["small", "float32"]]


def test_the_synth_target_row_names_the_precision_it_reports():
    results = {"train/synth/float32": {"median_ms": 45.4, "steps_per_s": 22.0},
               "train/synth/mixed_bfloat16": {"median_ms": 39.7, "steps_per_s": 25.2}}
    report = bench_cli.Report(results, {"cpus": 2, "loadavg": [0.2, 0.2, 0.2]}, False, 60.0)
    (row,) = [r for r in report.targets() if r[0].startswith("synth step")]
    assert row[1] == "25.2 steps/s = 2.21x (mixed_bfloat16)" and row[2] == "**no**"


def test_two_stacks_table_takes_the_median_of_the_passes_and_the_ratio():
    def r(ms, tf_version):
        return {"median_ms": ms, "tensorflow": tf_version}

    results = {"stack/small/this/pass0": r(100.0, "2.21.0"),
               "stack/small/other/pass0": r(130.0, "2.17.1"),
               "stack/small/this/pass1": r(110.0, "2.21.0"),
               "stack/small/other/pass1": r(120.0, "2.17.1"),
               "stack/synth-spectral/this/pass0": r(80.0, "2.21.0"),
               "stack/synth-spectral/other/pass0": {"error": "exit code 1: boom\nImportError: x"}}
    rows = bench_cli.Report(results, {"cpus": 2}, False, 1.0).stack_rows()
    assert rows[0] == ["small", "TF 2.21.0: 105.0 ms (100.0, 110.0)",
                       "TF 2.17.1: 125.0 ms (130.0, 120.0)", f"{125 / 105:.3f}x"]
    assert rows[1][0] == "synth-spectral" and rows[1][2].startswith("error: ImportError: x")
    assert rows[1][3] == ""
    md = bench_cli.Report(results, {"cpus": 2}, False, 1.0).markdown()
    assert "## Two TensorFlow stacks" in md and "| small | TF 2.21.0: 105.0 ms" in md
    assert "## Two TensorFlow stacks" not in bench_cli.Report({}, {"cpus": 2}, False,
                                                              1.0).markdown()


def test_other_stack_must_be_another_tensorflow(tmp_path):
    missing = run_bench(tmp_path / "x", f"--other_stack={tmp_path / 'no-python'}", "--only=stack")
    assert missing.returncode != 0 and "is not an executable file" in missing.stderr
    same = run_bench(tmp_path / "y", f"--other_stack={sys.executable}", "--only=stack")
    assert same.returncode != 0 and "not another stack" in same.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_other_stack_items_alternate_the_two_pythons():
    todo = bench_cli.items(quick=True, text_encoder=None, other_stack="/other/python")
    stack = [s for s in todo if s["name"].startswith("stack/")]
    assert [s["name"] for s in stack] == ["stack/tiny/this/pass0", "stack/tiny/other/pass0"]
    assert "python" not in stack[0] and stack[1]["python"] == "/other/python"
    assert stack[0]["config"] == stack[1]["config"]
    assert not any(s["name"].startswith("stack/") for s in bench_cli.items(True, None))
