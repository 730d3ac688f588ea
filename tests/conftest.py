"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import subprocess
from collections import Counter

import pytest

from session_data import ReportMonth, World, build_month, build_world, check_unchanged, shared_folder


SHARED = ("synthetic_world", "report_month")


def pytest_collection_modifyitems(items):
    """A test that uses the session's synthetic world or report month is slow (`make test-fast`
    leaves it out).

    Modules are reordered (the tests of each kept in their order) so that, with pytest-xdist
    (`--dist loadscope --no-loadscope-reorder`: each module on one worker, modules handed out in
    this order), the long ones start early and no worker waits long for the report month:
    first the modules that use the synthetic world only and the first module that uses the
    report month (which builds it), then the other modules holding slow tests, most slow tests
    first, then the other modules that read the report month (built by then), then the rest."""
    uses = {}
    slow = Counter()
    for item in items:
        module = item.nodeid.split("::")[0]
        shared = set(SHARED) & set(getattr(item, "fixturenames", ()))
        if shared:
            item.add_marker(pytest.mark.slow)
        uses.setdefault(module, set()).update(shared)
        if item.get_closest_marker("slow"):
            slow[module] += 1
    month_modules = [module for module, used in uses.items() if "report_month" in used]

    def order(item):
        module = item.nodeid.split("::")[0]
        if module in month_modules[:1] or uses[module] == {"synthetic_world"}:
            return (0, 0)
        if module in month_modules:
            return (2, 0)
        return (1, -slow[module]) if slow[module] else (3, 0)

    items.sort(key=order)


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
