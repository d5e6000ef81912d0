"""The SavedModel contract across TensorFlow stacks (issue 20).

A model exported on one stack loads and generates on the other, in a process that
imports only TensorFlow and tensorflow-text. The other stack is another virtualenv's
Python, named by CONDGAN_OTHER_STACK_PYTHON: `.ci/run`'s second leg (TF 2.17 with
tensorflow-io) sets it to the default leg's (the newest TF the ranges allow), so one
test covers both directions:

- a tiny run trained here is exported here, and by the other stack's condgan-export
  from the same checkpoint;
- each export is loaded and run by a bare loader on both stacks, and the two stacks'
  audio for the same (captions, seed) agree.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_cli import TINY_MODEL, cli

OTHER = os.environ.get("CONDGAN_OTHER_STACK_PYTHON", "")

pytestmark = pytest.mark.skipif(
    not OTHER, reason="set CONDGAN_OTHER_STACK_PYTHON to another TensorFlow stack's python "
                      "(.ci/run's second leg does) to test exports across stacks")

# Imports TensorFlow and tensorflow-text only: the contract of condgan.export.
LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the text encoder's SentencePiece ops
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](
    captions=tf.constant(["a short beep", "a rising whistle", "a short beep"]),
    seed=tf.constant(3, tf.int64))
assert not any(m == "condgan" or m.startswith("condgan.") for m in sys.modules), "imported condgan"
np.save(sys.argv[2], out["audio"].numpy())
print(json.dumps({"tf": tf.__version__, "sample_rate": int(out["sample_rate"])}))
"""


def _load_and_generate(python, export_dir, out_npy):
    proc = subprocess.run([python, "-c", LOADER, export_dir, out_npy], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, f"{python} could not load {export_dir}:\n{proc.stderr[-3000:]}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return info, np.load(out_npy)


def test_an_export_of_either_stack_loads_and_generates_on_the_other(tmp_path, tiny_data,
                                                                     text_encoder_dir):
    here_tf = subprocess.run([sys.executable, "-c", "import tensorflow as tf; print(tf.__version__)"],
                             capture_output=True, text=True, timeout=120).stdout.strip()
    there_tf = subprocess.run([OTHER, "-c", "import tensorflow as tf; print(tf.__version__)"],
                              capture_output=True, text=True, timeout=120).stdout.strip()
    assert there_tf and here_tf != there_tf, (
        f"CONDGAN_OTHER_STACK_PYTHON={OTHER} runs TF {there_tf or '(none)'}; this stack runs "
        f"TF {here_tf}: not two stacks")

    run_dir = str(tmp_path / "run")
    train = cli("condgan.training.train_cli", f"--data_dir={tiny_data}", f"--model_dir={run_dir}",
                f"--data_text_encoder={text_encoder_dir}", *TINY_MODEL, "--train_steps=2")
    assert train.returncode == 0, train.stderr[-3000:]
    exports = {"here": str(tmp_path / "export_here"), "there": str(tmp_path / "export_there")}
    made = cli("condgan.training.export_cli", f"--model_dir={run_dir}",
               f"--output_dir={exports['here']}")
    assert made.returncode == 0, made.stderr[-3000:]
    made = subprocess.run([OTHER, "-m", "condgan.training.export_cli", f"--model_dir={run_dir}",
                           f"--output_dir={exports['there']}"], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert made.returncode == 0, f"TF {there_tf} could not export:\n{made.stderr[-3000:]}"

    for name, export_dir in exports.items():
        audio = {}
        for stack, python in (("here", sys.executable), ("there", OTHER)):
            info, audio[stack] = _load_and_generate(python, export_dir,
                                                    str(tmp_path / f"{name}_on_{stack}.npy"))
            assert info["tf"] == (here_tf if stack == "here" else there_tf)
            assert info["sample_rate"] == 8000
            a = audio[stack]
            assert a.shape == (3, 1024) and np.all(np.isfinite(a)) and np.abs(a).max() <= 1.0
            assert np.abs(a[0] - a[2]).max() > 0  # z differs per clip, same caption
        # Same weights, captions and seeds: the two stacks' kernels differ only in rounding
        # (TF 2.17.1 against 2.21.0: 5.6e-9 at a peak of 0.025).
        assert np.abs(audio["here"]).max() > 1e-3  # not silence, which would match anyway
        np.testing.assert_allclose(audio["here"], audio["there"], atol=1e-5, rtol=0,
                                   err_msg=f"the export made {name} generates differently on "
                                           f"TF {here_tf} and TF {there_tf}")
