"""README's Python examples run as written (on a tiny dataset and model), so they cannot rot.

Each ```python block of README.md runs in its own process, in a directory that
holds what the examples expect after the quick start: `demo/data` (a prepared
dataset), `demo/export` (an exported model) and the text encoder at
`~/.cache/condgan/use_m3` (HOME points into the test's directory). Only the
fit example's budget is made small, by the substitutions in TINY, each of
which must apply.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TINY = {"steps_per_epoch=100": "steps_per_epoch=2", "batch_size=32": "batch_size=4"}
CHECKS = {
    "saved_model": "\nassert audio.shape == (2, 1024) and rate == 8000, (audio.shape, rate)\n"
                   "assert abs(audio).max() <= 1\n",
    "fit": "\nimport numpy as np\n"
           "assert audio.shape == (2, card.length) and np.isfinite(audio).all(), audio.shape\n"
           "assert np.abs(audio[0] - audio[1]).max() > 1e-6  # two z, two clips\n",
}


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def classify(block):
    if "tf.saved_model.load" in block:
        return "saved_model"
    if ".fit(" in block:
        return "fit"
    raise AssertionError(f"README has a Python example this test does not know:\n{block}")


def test_readme_has_the_savedmodel_and_the_fit_example():
    assert sorted(classify(b) for b in python_blocks()) == ["fit", "saved_model"]


@pytest.fixture(scope="module")
def quick_start_dir(tmp_path_factory, text_encoder_dir):
    """A directory laid out as after the quick start, tiny: demo/data, demo/export, the encoder."""
    from condgan.config import Config
    from condgan.training import run
    from condgan.training.inference import export_run
    from condgan.data_prep.prepare import prepare

    root = tmp_path_factory.mktemp("readme")
    data_dir = root / "demo" / "data"
    prepare("synth", None, str(data_dir), sample_rate=8000, length=1024, num_examples=48, seed=0,
            progress=False)
    cfg = Config()
    cfg.data.data_dir, cfg.data.text_encoder, cfg.data.shuffle_buffer = str(data_dir), text_encoder_dir, 16
    m = cfg.model
    m.length, m.sample_rate, m.model_dim, m.cond_dim, m.latent_dim = 1024, 8000, 4, 8, 8
    m.replay_capacity = 16
    t = cfg.train
    t.batch_size, t.n_critic, t.steps, t.checkpoint_every, t.summary_every = 4, 1, 2, 2, 2
    run.train_from_config(cfg.validate(), str(root / "run"), log=lambda s: None)
    export_run(str(root / "run"), str(root / "demo" / "export"))
    cache = root / "home" / ".cache" / "condgan"
    cache.mkdir(parents=True)
    os.symlink(text_encoder_dir, cache / "use_m3")
    return root


@pytest.mark.parametrize("kind", ["saved_model", "fit"])
def test_readme_example_runs(quick_start_dir, kind):
    (code,) = [b for b in python_blocks() if classify(b) == kind]
    if kind == "fit":
        for old, new in TINY.items():
            assert old in code, f"README's fit example no longer has {old!r}: update TINY"
            code = code.replace(old, new)
    env = dict(os.environ, HOME=str(quick_start_dir / "home"), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", code + CHECKS[kind]], cwd=quick_start_dir,
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
