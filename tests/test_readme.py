"""README is a short user's guide that cannot rot: its examples run, its names exist, its links resolve.

- Each ```python block of README.md runs in its own process, in a directory that
  holds what the examples expect after the quick start: `demo/data` (a prepared
  dataset), `demo/export` (an exported model) and the text encoder at
  `~/.cache/condgan/use_m3` (HOME points into the test's directory). Only the
  fit example's budget is made small, by the substitutions in TINY, each of
  which must apply.
- README has at most MAX_LINES lines and links the docs the results, the design and
  the retired ideas moved to; every relative link of README and of those docs
  resolves to a file or folder of the repository.
- Every config name README writes (`model.cond_dim`, `objective.g.z_diversity`,
  `objective.params.contrastive.temperature`, ...) is a field, a registered term or a
  term's parameter; every model field and every registered term is in its tables.
- docs/results.md keeps the marker of each dataset's table (`experiments.ablation
  table --docs` writes between them).
"""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys

import pytest

import condgan.objective  # noqa: F401  (registers every term in TERMS)
from condgan.config import SECTIONS, Config, ModelConfig
from condgan.data_prep.prepare import prepare
from condgan.objective.registry import TERMS
from condgan.training import run
from condgan.training.inference import export_run

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 250
# The docs README must link (the ablation tables, the design, the retired ideas).
LINKED_DOCS = ("docs/results.md", "docs/design.md", "docs/retired.md")
RESULTS_DOC = ROOT / "docs" / "results.md"
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


def test_readme_is_short_and_links_the_docs():
    text = README.read_text(encoding="utf-8")
    lines = text.count("\n") + (not text.endswith("\n"))
    assert lines <= MAX_LINES, f"README.md has {lines} lines; keep it at most {MAX_LINES} (detail: docs/)"
    for doc in LINKED_DOCS:
        assert f"]({doc}" in text, f"README.md does not link {doc}"
        assert (ROOT / doc).is_file(), f"README.md links {doc}, which does not exist"


def test_readme_keeps_the_markers_ci_reads():
    text = README.read_text(encoding="utf-8")
    for marker in ("<!-- main-command -->", "<!-- test-command"):
        after = text.split(marker, 1)[-1] if marker in text else ""
        assert re.match(r"[^\n]*\n```bash\npython3 -m venv \.venv && ", after), \
            f"README.md: {marker!r} must be followed by its ```bash block (.ci/run reads it)"


def _relative_links(path):
    """(target, line) of the markdown links of `path` that point into the repository."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if not re.match(r"[a-z]+:|#", target):
                out.append((target.split("#")[0], number))
    return out


@pytest.mark.parametrize("doc", ["README.md"] + list(LINKED_DOCS))
def test_relative_links_resolve(doc):
    path = ROOT / doc
    broken = [f"{doc}:{line}: {target}" for target, line in _relative_links(path)
              if not (path.parent / target).exists()]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def _config_names(text):
    """Config names written in backticks: `model.cond_dim`, `--set=objective.g.kl=1`, ..."""
    return set(re.findall(r"`(?:--set=)?((?:" + "|".join(SECTIONS) + r")(?:\.[A-Za-z0-9_]+)+)", text))


def test_readme_config_names_exist_and_its_tables_cover_the_switches():
    text = README.read_text(encoding="utf-8")
    fields = {section: {f.name for f in dataclasses.fields(cls)} for section, cls in SECTIONS.items()}
    params = {}
    for (_, name), term in TERMS.items():
        params.setdefault(name, set()).update(term.params)
    unknown = []
    for name in sorted(_config_names(text)):
        section, *rest = name.split(".")
        if section == "objective" and rest[0] in ("d", "g") and len(rest) == 2:
            ok = (rest[0], rest[1]) in TERMS
        elif section == "objective" and rest[0] == "params" and len(rest) == 3:
            ok = rest[2] in params.get(rest[1], ())
        else:
            ok = len(rest) == 1 and rest[0] in fields[section]
        if not ok:
            unknown.append(name)
    assert not unknown, f"README.md names config keys that do not exist: {unknown}"
    table = "\n".join(line for line in text.split("\n") if line.startswith("|"))
    missing = [f"model.{f.name}" for f in dataclasses.fields(ModelConfig) if f"`model.{f.name}`" not in text]
    assert not missing, f"README.md's switch tables miss model fields: {missing}"
    missing = sorted({name for _, name in TERMS if f"| `{name}` |" not in table})
    assert not missing, f"README.md's objective table misses registered terms: {missing}"


def test_results_doc_keeps_every_datasets_marker():
    text = RESULTS_DOC.read_text(encoding="utf-8")
    datasets = sorted(p.parent.name for p in (ROOT / "experiments" / "results").glob("*/results.md"))
    assert datasets, "no experiments/results/<dataset>/results.md found"
    for dataset in datasets:
        assert re.search(rf"^<!-- ablation-{re.escape(dataset)}:", text, re.M), \
            f"docs/results.md lost the marker of {dataset}'s table (<!-- ablation-{dataset}: ... -->)"
