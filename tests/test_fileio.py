"""Atomic writes: the target is the old or the new complete content, never a half-file."""

import os
import stat

import numpy as np
import pytest

from condgan import fileio


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def second_replace_fails(monkeypatch):
    """Makes the 2nd os.replace raise; returns the (src, dst) base names of every call."""
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((os.path.basename(src), os.path.basename(dst)))
        if len(calls) == 2:
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", replace)
    return calls


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_appears_complete_with_the_mode_open_would_give(tmp_path, umask_022):
    data = bytes(range(256)) * 1000
    path = tmp_path / "new" / "blob.bin"  # the directory is created
    fileio.atomic_write_bytes(path, data)
    assert path.read_bytes() == data
    assert os.listdir(path.parent) == ["blob.bin"]
    # mkstemp's 0600 would hide configs and wavs from other users.
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    assert _mode(path) == _mode(plain) == 0o644


def test_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        fileio.atomic_write_text(tmp_path / "a.txt", "x")
        after = os.umask(0o027)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.txt") == 0o640
    assert after == 0o027  # reading the umask put it back


def test_text_is_utf8_and_replaces_the_old_content(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old, and longer than the new content\n")
    fileio.atomic_write_text(path, "Ünïcödé — 音\n")
    assert path.read_bytes() == "Ünïcödé — 音\n".encode()
    assert os.listdir(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing, error):
    path = tmp_path / "config.json"
    path.write_text("old")
    seen = []

    def fail(*args):
        # By now the new content sits complete in the temporary beside the target.
        seen.extend(os.listdir(tmp_path))
        raise error

    monkeypatch.setattr(fileio.os, failing, fail)
    with pytest.raises(type(error)):
        fileio.atomic_write_text(path, "new")
    monkeypatch.undo()
    temps = [name for name in seen if name != "config.json"]
    assert len(temps) == 1 and temps[0].startswith(".config.json.tmp-")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_directory_at_the_target_is_an_error_and_stays(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("mine")
    with pytest.raises(IsADirectoryError):
        fileio.atomic_write_bytes(tmp_path / "d", b"x")
    assert (tmp_path / "d" / "keep").read_text() == "mine"
    assert os.listdir(tmp_path) == ["d"]


@pytest.mark.parametrize("path", ["", "dir/", ".", "a/.."])
def test_a_path_that_names_no_file_is_refused(path):
    with pytest.raises(ValueError, match="does not name a file"):
        fileio.atomic_write_bytes(path, b"x")


def test_atomic_path_with_suffix_lets_np_savez_write_in_place(tmp_path, umask_022):
    path = tmp_path / "cache.npz"
    x = np.arange(12.0).reshape(3, 4)
    with fileio.atomic_path(path, suffix=".npz") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith(".cache.npz.tmp-") and tmp.endswith(".npz")
        assert not path.exists()  # nothing at the target until the block succeeds
        np.savez(tmp, x=x)
    with np.load(path) as z:
        np.testing.assert_array_equal(z["x"], x)
    assert os.listdir(tmp_path) == ["cache.npz"]  # savez did not write "<tmp>.npz"
    assert _mode(path) == 0o644


def test_atomic_path_keeps_the_old_file_when_the_block_raises(tmp_path):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old png")
    with pytest.raises(RuntimeError, match="writer died"):
        with fileio.atomic_path(path, suffix=".png") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half a p")
            raise RuntimeError("writer died")
    assert path.read_bytes() == b"old png"
    assert os.listdir(tmp_path) == ["grid.png"]


def _tree(root):
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f)).read()
            for d, _, files in os.walk(root) for f in files}


def _make_dir(path, files):
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_replace_directory_into_an_empty_place_and_over_an_old_one(tmp_path):
    target = tmp_path / "clf"
    fileio.replace_directory(_make_dir(tmp_path / "a", {"v": "1"}), target)
    assert _tree(target) == {"v": "1"}
    fileio.replace_directory(_make_dir(tmp_path / "b", {"v": "2", "extra": "x"}), target)
    assert _tree(target) == {"v": "2", "extra": "x"}
    assert os.listdir(tmp_path) == ["clf"]  # the old one moved aside is gone


def test_replace_directory_keeps_the_old_one_when_the_swap_fails(tmp_path, second_replace_fails):
    target = _make_dir(tmp_path / "clf", {"v": "old"})
    new = _make_dir(tmp_path / "new", {"v": "new"})
    with pytest.raises(OSError, match="rename failed"):
        fileio.replace_directory(new, target)
    calls = second_replace_fails
    # 1: old aside, 2: new into place (fails), 3: old back.
    assert [dst for _, dst in calls[1:]] == ["clf", "clf"] and calls[2][0] == calls[0][1]
    assert _tree(target) == {"v": "old"}
    assert sorted(os.listdir(tmp_path)) == ["clf", "new"]  # no aside left; new is the caller's


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_replace_directory_refuses_a_file_or_link_at_the_target(tmp_path, kind):
    real = _make_dir(tmp_path / "real", {"v": "mine"})
    target = tmp_path / "t"
    if kind == "file":
        target.write_text("mine")
    else:
        target.symlink_to(real, target_is_directory=True)
    new = _make_dir(tmp_path / "new", {"v": "new"})
    with pytest.raises(NotADirectoryError, match=str(target)):
        fileio.replace_directory(new, target)
    assert sorted(os.listdir(tmp_path)) == ["new", "real", "t"]
    assert (target.read_text() if kind == "file" else os.readlink(target)) == (
        "mine" if kind == "file" else str(real))
    assert _tree(real) == {"v": "mine"}


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = _make_dir(tmp_path / "export", {"v": "old"})
    with pytest.raises(RuntimeError, match="save failed"):
        with fileio.atomic_directory(target, prefix=".export-") as tmp:
            assert os.path.basename(tmp).startswith(".export-")
            assert os.path.dirname(tmp) == str(tmp_path)
            (tmp_path / tmp / "v").write_text("half")
            raise RuntimeError("save failed")
    assert _tree(target) == {"v": "old"}
    assert os.listdir(tmp_path) == ["export"]

    with fileio.atomic_directory(target) as tmp:
        assert os.path.basename(tmp).startswith(".export.tmp-")
        _make_dir(tmp_path / tmp / "sub", {"v": "new"})
    assert _tree(target) == {os.path.join("sub", "v"): "new"}
    assert os.listdir(tmp_path) == ["export"]


def test_atomic_directory_removes_its_temp_when_the_swap_fails(tmp_path, second_replace_fails):
    target = _make_dir(tmp_path / "clf", {"v": "old"})
    with pytest.raises(OSError, match="rename failed"):
        with fileio.atomic_directory(target) as tmp:
            (tmp_path / tmp / "v").write_text("new")
    assert len(second_replace_fails) == 3
    assert _tree(target) == {"v": "old"}
    assert os.listdir(tmp_path) == ["clf"]


def test_atomic_directory_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with fileio.atomic_directory(tmp_path / "shared", mode=0o777) as tmp:
            assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o755
        with fileio.atomic_directory(tmp_path / "private") as tmp:
            assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o700
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "shared").st_mode) == 0o755


def test_atomic_directory_refuses_a_symlink_before_the_work(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    ran = []
    with pytest.raises(NotADirectoryError, match="is a symbolic link"):
        with fileio.atomic_directory(tmp_path / "link"):
            ran.append(True)
    assert not ran and (tmp_path / "link").is_symlink()


def test_remote_paths_are_refused():
    with pytest.raises(ValueError, match="only local paths"):
        fileio.atomic_write_text("gs://bucket/x.txt", "hi")
