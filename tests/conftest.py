"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import subprocess

import pytest

from session_data import ReportMonth, World, build_month, build_world, check_unchanged, shared_folder


SHARED = ("synthetic_world", "report_month")


def pytest_collection_modifyitems(items):
    """A test that uses the session's synthetic world or report month is slow (`make test-fast`
    leaves it out). Modules are run in their order, but those using the shared session data
    first, then the others that hold slow tests: with pytest-xdist (`--dist loadscope`, each
    module on one worker) the long modules start early instead of leaving one worker running
    alone at the end."""
    shared, slow = set(), set()
    for item in items:
        module = item.nodeid.split("::")[0]
        if set(SHARED) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
            shared.add(module)
        if item.get_closest_marker("slow"):
            slow.add(module)
    items.sort(key=lambda item: (item.nodeid.split("::")[0] not in shared, item.nodeid.split("::")[0] not in slow))


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted at tmp_path/tiny (root only; skipped where mounting is not allowed)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                            check=False, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.fixture(scope="session")
def synthetic_world(tmp_path_factory) -> World:
    """The 50,000-person synthetic world (tests/session_data.py), built once per session and
    shared by every worker. Read-only: a test that writes works on its own copy."""
    world = World(shared_folder(tmp_path_factory, "synthetic-world", build_world))
    yield world
    check_unchanged(world.root)


@pytest.fixture(scope="session")
def report_month(tmp_path_factory, synthetic_world) -> ReportMonth:
    """The report month (tests/session_data.py): every end-to-end request run once by `jdl run`
    and summarised by `jdl summary`, built once per session and shared by every worker.
    Read-only: a test that writes works on its own copy."""
    month = ReportMonth(shared_folder(tmp_path_factory, "report-month",
                                      lambda folder: build_month(synthetic_world, folder)), synthetic_world.national)
    yield month
    check_unchanged(month.root)
