"""Writing files so that a crash, a kill or a full disk never leaves a half-written file where a good
one is expected, with permissions that follow the umask, or owner-only for files that can hold
personal data.

A file is written to a temporary file beside its final name (created owner-only, mode 0600, by
:func:`tempfile.mkstemp`), flushed to disk (``fsync``), given its final mode and only then renamed
onto the final name in one step (``os.replace``); the folder is then synced too. A write that fails
(``ENOSPC``, ``EACCES``, an exception of the caller) removes the temporary file and leaves the final
name as it was.

Modes. By default a file gets ``0o666`` masked by the process umask, as ``open()`` would give it
(umask 022: ``0644``; umask 077: ``0600``): use that for published outputs. ``private=True`` asks
for owner-only: ``0600`` whatever the umask, and a parent folder created ``0700``; use it for
anything that can hold personal data (uploads, the synthetic national data, a failed report
notebook). An explicit ``mode`` is applied exactly, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

# Owner-only modes for files and folders that can hold personal data.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# What open() asks for before the umask is applied.
DEFAULT_FILE_MODE = 0o666

_umask_lock = threading.Lock()
_umask_read_once: int | None = None


def current_umask() -> int:
    """The process umask, read without changing it: from ``/proc/self/status`` on Linux (each
    call, so a later ``os.umask`` is seen), else read once with ``os.umask`` (which can only read it
    by setting it, briefly, under a lock) and remembered."""
    global _umask_read_once
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        if _umask_read_once is None:
            _umask_read_once = os.umask(0o077)
            os.umask(_umask_read_once)
        return _umask_read_once


def file_mode(private: bool = False, mode: int | None = None) -> int:
    """The mode :func:`atomic_path` gives a file: owner-only ``0600`` when ``private``; else
    ``mode`` exactly when given; else ``0o666`` masked by the umask (as ``open()`` does)."""
    if private:
        return PRIVATE_FILE_MODE
    if mode is not None:
        return mode
    return DEFAULT_FILE_MODE & ~current_umask() & 0o777


def make_private_dir(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and missing parents, which follow the umask) owner-only
    (``0700``); an existing folder is left as it is. Returns the path."""
    folder = Path(path)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return folder
    os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask; 0700 is the most it gives
    return folder


def fsync_file(path: str | os.PathLike) -> None:
    """Flush the file ``path`` to disk (raises OSError, e.g. ``ENOSPC`` or ``EIO``, if the data
    could not be written)."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush the folder ``path`` (a rename in it) to disk, where the system allows it."""
    with contextlib.suppress(OSError):
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int | None = None, *, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to (an existing empty file, mode ``0600``).
    When the block ends without an exception the file is synced to disk, given its mode and renamed
    onto ``path`` in one step; when it raises, the temporary file is removed and ``path`` is left as
    it was.

    The mode (:func:`file_mode`): by default ``0o666`` masked by the process umask, as ``open()``
    gives it; ``private=True``: ``0600`` whatever the umask (a file that can hold personal data);
    ``mode``: exactly that mode. Creates the parent folder (``0700`` when ``private`` and it is new,
    else following the umask). Raises OSError (say ``ENOSPC``) from the caller's writes, the sync or
    the rename, with the temporary file removed."""
    target = Path(path)
    if private:
        make_private_dir(target.parent)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(handle)
    try:
        yield Path(temp_name)
        fsync_file(temp_name)
        os.chmod(temp_name, file_mode(private, mode))
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_dir(target.parent)


def write_text_atomically(path: str | os.PathLike, text: str, *, private: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`; ``private``: owner
    only); returns the path."""
    with atomic_path(path, private=private) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomically(path: str | os.PathLike, data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path, private=private) as temp:
        temp.write_bytes(data)
    return Path(path)
