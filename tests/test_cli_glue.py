"""condgan._cli: --verbosity read from argv before TensorFlow loads, and the quiet defaults."""

import os
import subprocess
import sys

import pytest

from condgan import _cli


@pytest.mark.parametrize("argv,expected", [
    (["tool"], None),
    (["tool", "--output_dir=x"], None),
    (["tool", "--verbosity=1"], 1),
    (["tool", "--verbosity", "0"], 0),
    (["tool", "-v", "2"], 2),
    (["tool", "-v=-2"], -2),
    (["tool", "--v=0"], 0),
    (["tool", "--verbosity=info"], 0),
    (["tool", "-v", "WARNING"], -1),
    (["tool", "-v=0", "--verbosity=-3"], -3),      # the last one wins, as in absl
    (["tool", "--verbosity=loud"], None),          # absl reports it; we stay quiet
    (["tool", "--", "-v", "1"], None),             # not a flag after --
    (["tool", "--verbose_name=1"], None),          # another flag, not -v
    (["tool", "-v"], None),
])
def test_argv_verbosity(argv, expected):
    assert _cli.argv_verbosity(argv) == expected


@pytest.mark.parametrize("verbosity,level", [(-3, "3"), (-2, "2"), (-1, "1"), (0, "0"), (1, "0")])
def test_tf_cpp_level(verbosity, level):
    assert _cli.tf_cpp_level(verbosity) == level


def test_configure_keeps_the_users_setting_unless_verbosity_is_given(monkeypatch):
    monkeypatch.setenv(_cli.ENV_VAR, "1")
    _cli.configure_tf_cpp_logging(["tool"])
    assert os.environ[_cli.ENV_VAR] == "1"
    _cli.configure_tf_cpp_logging(["tool", "-v", "0"])
    assert os.environ[_cli.ENV_VAR] == "0"
    monkeypatch.delenv(_cli.ENV_VAR)
    _cli.configure_tf_cpp_logging(["tool"])
    assert os.environ[_cli.ENV_VAR] == _cli.QUIET_TF_CPP_LEVEL


def test_importing_condgan_training_sets_the_level_before_tensorflow_loads():
    code = ("import sys, os; import condgan.training; "
            "assert 'tensorflow' not in sys.modules; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for extra, expected in (([], "3"), (["--verbosity=-1"], "1")):
        out = subprocess.run([sys.executable, "-c", code, *extra], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected


def test_config_run_and_the_cli_modules_import_without_tensorflow():
    # condgan-train installs its SIGTERM handler before TensorFlow loads (condgan.training.run
    # imports it inside its functions), and every CLI parses its flags first (fast --help).
    modules = ["condgan.config", "condgan.training.run", "condgan.training.train_cli",
               "condgan.training.bench_cli", "condgan.training.eval_cli",
               "condgan.training.export_cli", "condgan.training.generate_cli",
               "condgan.training.classifier_cli"]
    code = (f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_data_prep_does_not_import_condgan_training():
    # The one upward arrow the house had: data_prep's CLIs used condgan.training.cli.
    code = ("import sys; import condgan.data_prep.prepare, condgan.data_prep.build_text_encoder; "
            "print(sorted(m for m in sys.modules if m.startswith('condgan.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796493423.348311   31595 port.cc:153] oneDNN custom operations are on.\n",
    "I0000 00:00:1796493423.398234   31595 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n",
    "W0000 00:00:1796493423.500000   31595 some_file.cc:12] a warning\n",
    "E0000 00:00:1796493426.841848   31595 cuda_platform.cc:52] failed call to cuInit\n",
    "a line of the user's own\n",
    "F0000 00:00:1796493426.900000   31595 fatal.cc:1] fatal\n",
]


@pytest.mark.parametrize("level, kept", [
    (0, list(range(8))),
    (1, [4, 5, 6, 7]),
    (2, [5, 6, 7]),
    (3, [6, 7]),
])
def test_startup_lines_are_filtered_as_the_level_would(level, kept):
    assert _cli.filter_startup_lines(STARTUP, level) == [STARTUP[i] for i in kept]


def test_the_cpu_notice_tail_goes_only_with_its_dropped_notice():
    tail = STARTUP[3]
    assert _cli.filter_startup_lines([tail], 3) == [tail]  # alone: not TF's, kept
    assert _cli.filter_startup_lines([STARTUP[2], tail], 3) == []


def test_a_quiet_cli_imports_tensorflow_without_its_startup_notices(tmp_path):
    # Importing _cli installs a one-shot import hook: TensorFlow is imported where the
    # program first imports it (a CLI's SIGTERM handling around set-up is unchanged).
    # The C++ notices go to file descriptor 2 whatever the TensorFlow version; a user's
    # stderr line written before and one written after stay, in order.
    code = ("import os, sys; sys.stderr.write('before\\n'); sys.stderr.flush(); "
            "from condgan import _cli; "
            "import tensorflow as tf; tf.constant(1.0) + 1.0; "
            "assert not any(isinstance(f, _cli._QuietTensorFlowImport) for f in sys.meta_path); "
            "assert isinstance(tf.__spec__.loader, _cli._FilteredLoader); "
            "os.write(2, b'after\\n')")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "before\nafter\n"
    # Level 0 asks for everything: no hook, and TensorFlow's start-up lines are there.
    loud = subprocess.run([sys.executable, "-c", code.replace(
        "assert isinstance(tf.__spec__.loader, _cli._FilteredLoader); ", "")],
        capture_output=True, text=True, timeout=300, env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"))
    assert loud.returncode == 0, loud.stderr[-2000:]
    assert loud.stderr.startswith("before\n") and loud.stderr.endswith("after\n")
    assert len(loud.stderr.splitlines()) > 2, loud.stderr
