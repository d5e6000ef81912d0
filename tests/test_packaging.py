"""The wheel: only `condgan*` in site-packages, and its console scripts run from a fresh venv.

Fast by design: the wheel is built with the installed setuptools
(`pip wheel --no-deps --no-build-isolation`, from a copy of the tracked files
so the work tree gets no build/ or egg-info), installed with `--no-deps` into
a new venv whose dependencies come from this environment through a .pth file
(TensorFlow is not installed twice). `python -m build` gives the same wheel;
it needs network access for its isolated build environment, so it is not run here.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ("condgan-prepare", "condgan-build-text-encoder", "condgan-train", "condgan-export",
           "condgan-generate", "condgan-demo", "condgan-train-classifier", "condgan-eval",
           "condgan-bench")


def _tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout ({out.stderr.decode()[:200]}): cannot list the sources")
    return [name for name in out.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in _tracked_files():
        source, target = ROOT / name, src / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("condgan-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                              "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    site = pathlib.Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies (TensorFlow, ...) from this environment, after the venv's own packages.
    (site / "_condgan_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return wheel, env_dir, site


def test_the_wheel_holds_only_condgan(installed):
    wheel, _, site = installed
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"condgan", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert "condgan/data_prep/prepare.py" in names and "condgan/evaluation/plots.py" in names
    assert not any(name.startswith(("experiments/", "data_prep/", "tests/")) for name in names)
    # The measuring code is the app's; its PyTorch peer stays in the checkout.
    assert "condgan/training/benchmarks.py" in names and "condgan/benchmarks.py" not in names
    sources = {n: zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith(".py")}
    assert not [n for n, text in sources.items()
                if re.search(r"^\s*(import torch|from torch\b)", text, re.M)]
    installed_tops = {p.name for p in site.iterdir()} - {"_condgan_test_deps.pth"}
    assert {n for n in installed_tops if not n.endswith(".dist-info")} == {"condgan"}


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.mark.parametrize("tool", SCRIPTS)
def test_console_scripts_of_the_wheel_run(installed, tool, tmp_path):
    _, env_dir, site = installed
    # From an unrelated directory: nothing of the checkout is on sys.path.
    out = subprocess.run([str(env_dir / "bin" / tool), "--help"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env=_clean_env())
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "--helpfull" in out.stdout, (out.stdout[:1000], out.stderr[-2000:])


def test_the_wheel_prepares_a_dataset_and_imports_from_site_packages(installed, tmp_path):
    _, env_dir, site = installed
    code = ("import condgan, condgan.data_prep.prepare as p, condgan.training.demo; "
            "print(condgan.__file__); print(p.__file__)")
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env=_clean_env())
    assert out.returncode == 0, out.stderr[-3000:]
    assert all(line.startswith(str(site)) for line in out.stdout.split()), out.stdout
    data = tmp_path / "data"
    prep = subprocess.run([str(env_dir / "bin" / "condgan-prepare"), "--source=synth",
                           f"--output_dir={data}", "--num_examples=24", "--sample_rate=8000",
                           "--length=1024"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=_clean_env())
    assert prep.returncode == 0, prep.stderr[-3000:]
    assert (data / "dataset.json").is_file()
