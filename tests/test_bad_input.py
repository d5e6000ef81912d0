"""Every CLI with bad input: a clear message, a non-zero exit, nothing half-written.

The CLIs run in this process (absl's `app.run` on the module's `main`, as the
console scripts do), so a case costs what the CLI itself does, not a Python and
TensorFlow start-up. Flags are defined before each call and removed after it,
because absl flags are global per process. An exception escaping `app.run`
(instead of its exit with a message) fails the test.
"""

from __future__ import annotations

import importlib
import os
import shutil

import pytest
from absl import app, flags

TINY = ["--model_dim=4", "--model_cond_dim=8", "--model_latent_dim=8",
        "--model_replay_capacity=16", "--train_batch_size=4", "--train_n_critic=1",
        "--train_summary_every=1", "--data_shuffle_buffer=16"]


def run_cli(module_name: str, *args: str) -> int:
    """Runs a CLI's main in-process as its console script would; returns the exit code."""
    module = importlib.import_module(module_name)
    before = set(flags.FLAGS)
    module.define_flags()
    try:
        app.run(module.main, argv=[module_name, *args])
    except SystemExit as e:
        return 0 if e.code is None else (e.code if isinstance(e.code, int) else 1)
    finally:
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)
    return 0


def leftovers(*dirs) -> list[str]:
    """Hidden temporaries (atomic writes, exports) left in `dirs`."""
    out = []
    for d in dirs:
        if os.path.isdir(d):
            out += [os.path.join(d, p) for p in os.listdir(d)
                    if p.startswith(".") and ("tmp" in p or "export" in p or "old" in p)]
    return out


def check(capsys, rc, needle, absent=(), dirs=()):
    err = capsys.readouterr().err
    assert rc not in (0, None), err[-2000:]
    assert needle in err, err[-2000:]
    for path in absent:
        assert not os.path.exists(path), f"{path} was left behind"
    assert not leftovers(*dirs)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_data, text_encoder_dir):
    run_dir = str(tmp_path_factory.mktemp("bad") / "run")
    rc = run_cli("condgan.training.train_cli", f"--data_dir={tiny_data}", f"--model_dir={run_dir}",
                 f"--data_text_encoder={text_encoder_dir}", *TINY, "--train_steps=2",
                 "--train_checkpoint_every=1")
    assert rc == 0
    return run_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained_run):
    out = str(tmp_path_factory.mktemp("bad") / "export")
    assert run_cli("condgan.training.export_cli", f"--model_dir={trained_run}",
                   f"--output_dir={out}") == 0
    return out


# --- condgan-prepare -----------------------------------------------------------------------

def test_prepare_bad_flags_and_inputs(tmp_path, capsys):
    out = str(tmp_path / "out")
    rc = run_cli("condgan.data_prep.prepare", "--source=nope", f"--output_dir={out}")
    check(capsys, rc, "--source", absent=[out])
    rc = run_cli("condgan.data_prep.prepare", "--source=folder", f"--input={tmp_path}/absent",
                 f"--output_dir={out}")
    check(capsys, rc, "absent", absent=[out], dirs=[tmp_path])
    bad = tmp_path / "sounds"
    bad.mkdir()
    (bad / "a_dog_barks.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    rc = run_cli("condgan.data_prep.prepare", "--source=folder", f"--input={bad}", f"--output_dir={out}")
    check(capsys, rc, "a_dog_barks.wav", absent=[out], dirs=[tmp_path])
    rc = run_cli("condgan.data_prep.prepare", "--source=synth", "--num_examples=abc", f"--output_dir={out}")
    check(capsys, rc, "num_examples", absent=[out])


# --- condgan-build-text-encoder --------------------------------------------------------------

def test_build_text_encoder_bad_flags(tmp_path, capsys):
    check(capsys, run_cli("condgan.data_prep.build_text_encoder"), "--output_dir is required")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    rc = run_cli("condgan.data_prep.build_text_encoder", f"--output_dir={tmp_path / 'taken'}")
    check(capsys, rc, "exists", dirs=[tmp_path])
    assert os.listdir(tmp_path / "taken") == ["x"]


# --- condgan-train ---------------------------------------------------------------------------

def _train(tiny_data, encoder, model_dir, *extra):
    return run_cli("condgan.training.train_cli", f"--data_dir={tiny_data}",
                   f"--model_dir={model_dir}", f"--data_text_encoder={encoder}", *TINY,
                   "--train_steps=2", *extra)


@pytest.mark.parametrize("extra,needle", [
    (["--train_steps=abc"], "train_steps"),
    (["--train_stepz=3"], "train_stepz"),
    (["--train_g_learning_rate=-1"], "train.g_learning_rate must be > 0"),
    (["--train_checkpoint_every=0"], "train.checkpoint_every must be >= 1"),
    (["--config=/nonexistent/c.json"], "cannot read config /nonexistent/c.json"),
])
def test_train_bad_flags(tmp_path, tiny_data, capsys, extra, needle):
    model_dir = str(tmp_path / "run")
    rc = _train(tiny_data, "unused", model_dir, *extra)
    check(capsys, rc, needle, absent=[model_dir])


@pytest.mark.parametrize("content,needle", [
    ("{not json", "is not valid JSON"),
    ('{"model": {"cond_dims": 3}}', "unknown field(s) in model: ['cond_dims']"),
    ('{"train": {"steps": "many"}}', "train.steps must be an integer"),
    ("[1, 2]", "must be a JSON object, got list"),
])
def test_train_bad_config_files(tmp_path, tiny_data, capsys, content, needle):
    path = tmp_path / "c.json"
    path.write_text(content)
    model_dir = str(tmp_path / "run")
    check(capsys, _train(tiny_data, "unused", model_dir, f"--config={path}"), needle,
          absent=[model_dir])


def test_train_bad_data(tmp_path, tiny_data, text_encoder_dir, capsys):
    model_dir = str(tmp_path / "run")
    check(capsys, _train(str(tmp_path / "absent"), text_encoder_dir, model_dir), "absent")
    (tmp_path / "file").write_text("x")
    check(capsys, _train(str(tmp_path / "file"), text_encoder_dir, model_dir), "file")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_data, broken)
    (broken / "dataset.json").write_text("{")
    check(capsys, _train(str(broken), text_encoder_dir, model_dir), "dataset.json")
    # Shards whose bytes are garbage: named, not a TensorFlow traceback.
    garbage = tmp_path / "garbage"
    shutil.copytree(tiny_data, garbage)
    for name in os.listdir(garbage):
        if "train" in name and not name.endswith(".json"):
            (garbage / name).write_bytes(b"\x00garbage" * 100)
    check(capsys, _train(str(garbage), text_encoder_dir, model_dir), str(garbage))
    for d in (model_dir,):
        assert not os.path.exists(os.path.join(d, "config.json"))
        assert not os.path.exists(os.path.join(d, "checkpoints"))
    assert not leftovers(model_dir, tmp_path)


def test_train_bad_model_dirs(tmp_path, tiny_data, text_encoder_dir, trained_run, capsys):
    (tmp_path / "file").write_text("x")
    check(capsys, _train(tiny_data, text_encoder_dir, str(tmp_path / "file")), "file")
    # A run dir whose checkpoints are all unreadable: refused, config.json untouched.
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = (run / "config.json").read_text()
    for name in os.listdir(run / "checkpoints"):
        if ".data-" in name:
            (run / "checkpoints" / name).write_bytes(b"\0" * 16)
    rc = _train(tiny_data, text_encoder_dir, str(run), "--train_steps=5")
    check(capsys, rc, "no checkpoint of this run can be restored", dirs=[run])
    assert (run / "config.json").read_text() == before
    # A corrupt config.json in the run dir is named.
    (run / "config.json").write_text("{")
    check(capsys, _train(tiny_data, text_encoder_dir, str(run)), "config.json is not valid JSON")
    # Another model's run dir.
    other = tmp_path / "other"
    shutil.copytree(trained_run, other)
    check(capsys, _train(tiny_data, text_encoder_dir, str(other), "--model_cond_dim=16"),
          "cond_dim: 8 in the run dir vs 16 now")


# --- condgan-export --------------------------------------------------------------------------

def test_export_bad_inputs(tmp_path, trained_run, text_encoder_dir, capsys):
    out = str(tmp_path / "export")
    check(capsys, run_cli("condgan.training.export_cli"), "--model_dir and --output_dir")
    rc = run_cli("condgan.training.export_cli", f"--model_dir={tmp_path}", f"--output_dir={out}")
    check(capsys, rc, "not a condgan run directory", absent=[out])
    rc = run_cli("condgan.training.export_cli", f"--model_dir={trained_run}", f"--output_dir={out}",
                 f"--checkpoint={trained_run}/checkpoints/ckpt-99")
    check(capsys, rc, "ckpt-99", absent=[out], dirs=[tmp_path])
    rc = run_cli("condgan.training.export_cli", f"--model_dir={trained_run}", f"--output_dir={out}",
                 f"--text_encoder={tmp_path}/no_encoder")
    check(capsys, rc, "no_encoder", absent=[out], dirs=[tmp_path])
    (tmp_path / "file").write_text("x")
    rc = run_cli("condgan.training.export_cli", f"--model_dir={trained_run}",
                 f"--output_dir={tmp_path / 'file'}", "--overwrite")
    check(capsys, rc, "file", dirs=[tmp_path])
    assert (tmp_path / "file").read_text() == "x"
    broken = tmp_path / "broken_run"
    shutil.copytree(trained_run, broken)
    for name in os.listdir(broken / "checkpoints"):
        if ".index" in name:
            (broken / "checkpoints" / name).write_bytes(b"junk")
    rc = run_cli("condgan.training.export_cli", f"--model_dir={broken}", f"--output_dir={out}")
    check(capsys, rc, "cannot restore checkpoint", absent=[out], dirs=[tmp_path])


# --- condgan-generate ------------------------------------------------------------------------

def _generate(*args):
    return run_cli("condgan.training.generate_cli", *args)


def test_generate_bad_flags_and_captions(tmp_path, exported, capsys):
    out = str(tmp_path / "out")
    check(capsys, _generate(f"--model={exported}", "--caption=a", f"--output_dir={out}",
                            "--seeds=1,x"), "--seeds must be integers", absent=[out])
    check(capsys, _generate(f"--model={exported}", "--caption=a", f"--output_dir={out}",
                            f"--seeds={2**70}"), "--seeds", absent=[out])
    check(capsys, _generate(f"--model={exported}", f"--output_dir={out}"), "no captions given",
          absent=[out])
    check(capsys, _generate(f"--model={exported}", "--caption= \t", f"--output_dir={out}"),
          "empty or whitespace-only", absent=[out])
    check(capsys, _generate(f"--model={exported}", f"--captions_file={tmp_path}/none.txt",
                            f"--output_dir={out}"), "none.txt", absent=[out])
    binary = tmp_path / "caps.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    check(capsys, _generate(f"--model={exported}", f"--captions_file={binary}",
                            f"--output_dir={out}"), "caps.bin", absent=[out])
    (tmp_path / "file").write_text("x")
    check(capsys, _generate(f"--model={exported}", "--caption=a", f"--output_dir={tmp_path}/file"),
          "file")


def test_generate_bad_models(tmp_path, text_encoder_dir, capsys):
    out = str(tmp_path / "out")
    check(capsys, _generate(f"--model={tmp_path}/absent", "--caption=a", f"--output_dir={out}"),
          "no such directory", absent=[out])
    # A SavedModel that is not a condgan export (the text encoder itself).
    check(capsys, _generate(f"--model={text_encoder_dir}", "--caption=a", f"--output_dir={out}"),
          "not a condgan export", absent=[out])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    check(capsys, _generate(f"--model={broken}", "--caption=a", f"--output_dir={out}"),
          str(broken), absent=[out])


# --- condgan-demo, -train-classifier, -eval ----------------------------------------------------

def test_demo_bad_flags(tmp_path, capsys):
    check(capsys, run_cli("condgan.training.demo", "--max_minutes=-1",
                          f"--output_dir={tmp_path}/d"), "--max_minutes must be >= 0 (0: no time budget)",
          absent=[tmp_path / "d"])
    check(capsys, run_cli("condgan.training.demo", "--steps=0", f"--output_dir={tmp_path}/d"),
          "--steps >= 1", absent=[tmp_path / "d"])
    check(capsys, run_cli("condgan.training.demo", "--steps=x", f"--output_dir={tmp_path}/d"),
          "steps", absent=[tmp_path / "d"])


def test_train_classifier_bad_inputs(tmp_path, tiny_data, capsys):
    check(capsys, run_cli("condgan.training.classifier_cli"), "--data_dir is required")
    rc = run_cli("condgan.training.classifier_cli", f"--data_dir={tmp_path}/absent")
    check(capsys, rc, "absent", dirs=[tmp_path])
    out = tmp_path / "cls"
    for extra, needle in ((["--epochs=0"], "epochs"), (["--batch_size=0"], "batch_size"),
                          (["--learning_rate=-1"], "learning_rate")):
        rc = run_cli("condgan.training.classifier_cli", f"--data_dir={tiny_data}",
                     f"--output_dir={out}", *extra)
        check(capsys, rc, needle, absent=[out], dirs=[tmp_path])


def test_eval_bad_inputs(tmp_path, tiny_data, exported, capsys):
    check(capsys, run_cli("condgan.training.eval_cli"), "--model and --data_dir are required")
    out = tmp_path / "eval"
    rc = run_cli("condgan.training.eval_cli", f"--model={exported}", f"--data_dir={tiny_data}",
                 f"--classifier={tmp_path}/no_classifier", f"--output_dir={out}")
    check(capsys, rc, "no_classifier", absent=[out])
    rc = run_cli("condgan.training.eval_cli", f"--model={tmp_path}/absent",
                 f"--data_dir={tiny_data}", f"--output_dir={out}")
    check(capsys, rc, "no such classifier directory", absent=[out])  # checked before --model
    rc = run_cli("condgan.training.eval_cli", f"--model={exported}",
                 f"--data_dir={tmp_path}/no_data", f"--output_dir={out}")
    check(capsys, rc, "no_data", absent=[out])
