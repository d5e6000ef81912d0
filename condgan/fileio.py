"""Atomic writes: a file or directory is either the old complete one or the new one.

Every writer in condgan (configs, caches, reports, wavs, classifiers, exports)
goes through here, so an interrupted or failing write never leaves a half-file
at the target. Files are written under a unique hidden temporary name in the
target's directory (same file system, so `os.replace` is an atomic rename),
flushed to disk, then renamed over the target; on any error the temporary is
removed and the error re-raised.

New files get the mode a plain `open(path, "w")` would give them (0666 minus
the umask), not `tempfile.mkstemp`'s 0600.

Local paths only: `os.replace` does not reach remote file systems (gs://, ...).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically, creating its directory if needed.

    Args:
      path: target file; replaced if it exists.
      data: the complete new content.

    Raises:
      ValueError: `path` ends with a separator (names no file).
      OSError: the temporary cannot be written or renamed (e.g. `path` is a
        directory); `path` is then unchanged.
    """
    path = os.fspath(path)
    fd, tmp = _temp_file(path, suffix="")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically; see `atomic_write_bytes`.

    Args:
      path: target file; replaced if it exists.
      text: the complete new content.

    Raises:
      ValueError: `path` names no file.
      OSError: the write or rename failed; `path` is then unchanged.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yields a temporary path to write; it replaces `path` if the block succeeds.

    For libraries that write the file themselves. The temporary already exists
    (empty) and ends with `suffix`, so writers that append an extension unless
    one is there (`np.savez` and ".npz") write exactly to it. Whatever is at the
    temporary path when the block exits without an exception replaces `path`;
    if the block raises, the temporary is removed and `path` is unchanged.

        with atomic_path("cache.npz", suffix=".npz") as tmp:
            np.savez(tmp, x=x)

    Args:
      path: target file; replaced if it exists. Its directory is created if needed.
      suffix: ending of the temporary name, e.g. ".npz" or ".png".

    Yields:
      The temporary path (a str in the directory of `path`).

    Raises:
      ValueError: `path` names no file.
      OSError: the temporary cannot be created, synced or renamed.
    """
    path = os.fspath(path)
    fd, tmp = _temp_file(path, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, prefix: str | None = None,
                     mode: int | None = None) -> Iterator[str]:
    """Yields a new empty directory to fill; it replaces `target` if the block succeeds.

    The temporary directory sits beside `target` and is created with mode 0700
    (`tempfile.mkdtemp`); chmod it inside the block if the result is meant to
    be shared. On success it takes the place of `target` through
    `replace_directory`; if the block or the swap raises, the temporary
    directory is removed and `target` is unchanged.

    Args:
      target: directory to write; its parent is created if needed.
      prefix: start of the temporary directory's name (default ".<name>.tmp-").
      mode: if given, the directory gets `mode` less the umask (e.g. 0o777 for
        the mode a plain `os.mkdir` would give); default: private (0700).

    Yields:
      The absolute path of the temporary directory.

    Raises:
      ValueError: `target` names no directory (empty or ends with a separator).
      NotADirectoryError: `target` exists and is not a directory (see
        `replace_directory`).
    """
    parent, name = _split(target)
    target = os.path.join(parent, name)
    _check_replaceable(target)  # now rather than after the block's (possibly long) work
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}.tmp-" if prefix is None else prefix, dir=parent)
    try:
        if mode is not None:
            os.chmod(tmp, mode & ~current_umask())
        yield tmp
        replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_directory(new_dir: str | os.PathLike, target: str | os.PathLike) -> None:
    """Renames directory `new_dir` to `target`, replacing a directory there.

    rename(2) cannot replace a non-empty directory, so an existing `target` is
    first moved aside (beside it, under a hidden name), `new_dir` is renamed into
    place, and only then is the old one deleted. At every moment `target` is
    either the old or the new complete directory (absent only for the instant
    between the two renames); if the second rename fails the old one is moved
    back.

    Args:
      new_dir: a complete directory on the same file system as `target`.
      target: where it should be; replaced if it is a directory.

    Raises:
      NotADirectoryError: `target` exists and is not a directory, or is a
        symbolic link (never replaced: the swap would move the link, not the
        directory it points to).
      OSError: a rename failed; `target` then still holds the old directory and
        `new_dir` is left in place for the caller to remove.
    """
    new_dir, target = os.fspath(new_dir), os.fspath(target)
    if not os.path.lexists(target):
        os.replace(new_dir, target)
        return
    _check_replaceable(target)
    parent, name = _split(target)
    # mkdtemp only reserves a unique name: os.replace needs it free again.
    aside = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
    os.rmdir(aside)
    os.replace(target, aside)
    try:
        os.replace(new_dir, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _check_replaceable(target: str) -> None:
    """Raises NotADirectoryError if `target` exists as a symlink or a non-directory."""
    if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
        kind = "a symbolic link" if os.path.islink(target) else "not a directory"
        raise NotADirectoryError(f"{target} exists and is {kind}; refusing to replace it")


def _split(path: str | os.PathLike) -> tuple[str, str]:
    """(absolute parent directory, base name) of `path`."""
    path = os.fspath(path)
    if "://" in path:
        raise ValueError(f"{path!r}: only local paths can be written atomically here")
    name = os.path.basename(path)
    if not name or name in (".", ".."):
        raise ValueError(f"{path!r} does not name a file or directory (empty, or ends with a "
                         "separator or '.' / '..')")
    return os.path.dirname(os.path.abspath(path)), name


def _temp_file(path: str, suffix: str) -> tuple[int, str]:
    """Creates a unique temporary file beside `path`; returns (open fd, its path)."""
    parent, name = _split(path)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix=f".{name}.tmp-", dir=parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        _remove_quietly(tmp)
        raise
    return fd, tmp


def current_umask() -> int:
    """The process's umask (to give a temporary file or directory the usual mode)."""
    # The umask can only be read by setting it. 0o077 rather than 0 for the
    # instant it is set, so a file another thread creates then is private
    # rather than world-writable.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
