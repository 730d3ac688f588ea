"""Tests of jdl.atomic: atomic writes, their modes under different umasks, and write failures
(an injected ENOSPC, and a real full tmpfs when the tests run as root)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from jdl import atomic
from jdl.atomic import atomic_path, current_umask, write_bytes_atomically, write_text_atomically
from fs_helpers import mode, umask


def test_current_umask_reads_it_without_changing_it():
    with umask(0o027):
        assert current_umask() == 0o027
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # still what it was


def test_current_umask_without_proc(monkeypatch):
    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/status")

    monkeypatch.setattr(atomic, "open", no_proc, raising=False)
    monkeypatch.setattr(atomic, "_umask_read_once", None)
    with umask(0o077):
        assert current_umask() == 0o077
        assert os.umask(0o077) == 0o077


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_published_files_follow_the_umask(tmp_path, mask, expected):
    with umask(mask):
        text = write_text_atomically(tmp_path / "out" / "run.json", "{}\n")
        data = write_bytes_atomically(tmp_path / "out" / "report.pdf", b"%PDF")
        with atomic_path(tmp_path / "out" / "report.html") as temp:
            assert mode(temp) == 0o600  # the temporary file is owner-only while it is written
            temp.write_text("<html></html>")
    assert (mode(text), mode(data), mode(tmp_path / "out" / "report.html")) == (expected, expected, expected)
    assert mode(tmp_path / "out") == 0o777 & ~mask
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.pdf", "run.json"]


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_private_files_are_owner_only_whatever_the_umask(tmp_path, mask):
    with umask(mask):
        path = write_text_atomically(tmp_path / "uploads" / "people.csv", "surname\n", private=True)
        again = write_text_atomically(tmp_path / "uploads" / "people.csv", "surname\nSmith\n", private=True)
    assert again == path and path.read_text() == "surname\nSmith\n"
    assert mode(path) == 0o600
    assert mode(tmp_path / "uploads") == 0o700  # the folder it created


def test_private_leaves_an_existing_folder_as_it_is(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    write_text_atomically(folder / "x.txt", "x", private=True)
    assert mode(folder) == 0o755 and mode(folder / "x.txt") == 0o600


def test_an_explicit_mode_is_applied_exactly(tmp_path):
    with umask(0o077):
        with atomic_path(tmp_path / "blank.xlsx", 0o644) as temp:
            temp.write_bytes(b"x")
    assert mode(tmp_path / "blank.xlsx") == 0o644


def full_disk_writer(temp: Path, data: bytes) -> None:
    """Writes half of ``data``, then fails as a full disk does."""
    with open(temp, "wb") as handle:
        handle.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old\n")
    with pytest.raises(OSError) as caught:
        with atomic_path(target) as temp:
            full_disk_writer(temp, b"new content " * 100)
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_failed_sync_renames_nothing(tmp_path, monkeypatch):
    # data accepted by write() but refused when flushed (a full disk seen late, an I/O error)
    def failing_fsync(handle):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write_text_atomically(tmp_path / "report.ipynb", "{}")
    assert list(tmp_path.iterdir()) == []


def test_a_real_full_disk(tiny_tmpfs):
    target = tiny_tmpfs / "report.html"
    write_text_atomically(target, "old report\n")
    with pytest.raises(OSError) as caught:
        write_text_atomically(target, "x" * 200_000)
    assert caught.value.errno == errno.ENOSPC
    assert target.read_text() == "old report\n"
    assert [p.name for p in tiny_tmpfs.iterdir()] == ["report.html"]
