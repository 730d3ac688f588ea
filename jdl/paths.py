"""Finding the project's files from wherever a notebook runs (Jupyter starts a notebook's kernel in
the notebook's own folder; papermill runs it from the project root), and the notebooks installed
with jdl.

The report template and the monthly summary notebook live in the project's ``notebooks/`` folder;
the package carries them as the package ``jdl.notebooks`` (pyproject.toml maps it to that folder),
so a wheel holds them and an editable install finds the checkout's own files. They are found with
:mod:`importlib.resources`, never by a path relative to the current folder or to a source file, so
an installed ``jdl`` runs from any folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

# The notebooks installed with jdl (package jdl.notebooks)
REPORT_TEMPLATE = "request_report.ipynb"
SUMMARY_TEMPLATE = "monthly_summary.ipynb"


def project_path(path, start: Path | None = None) -> Path:
    """``path`` as given when it is absolute or exists relative to ``start`` (default: the current
    folder); otherwise ``path`` under the nearest parent of ``start`` holding a pyproject.toml (the
    project root), so "data/national" works from notebooks/ too. Falls back to ``path`` as given,
    so the caller's own error names it."""
    path = Path(path)
    start = Path.cwd() if start is None else Path(start)
    if path.is_absolute() or (start / path).exists():
        return path if path.is_absolute() else start / path
    for folder in (start, *start.resolve().parents):
        if (folder / "pyproject.toml").is_file():
            return folder / path
    return path


@contextlib.contextmanager
def installed_notebook(name: str) -> Iterator[Path]:
    """The notebook ``name`` installed with jdl (:data:`REPORT_TEMPLATE` or :data:`SUMMARY_TEMPLATE`)
    as a real file path, valid inside the ``with`` block (:func:`importlib.resources.as_file`: the
    file itself for an ordinary install, a temporary copy for one that is not on the file system).
    Raises FileNotFoundError when jdl was installed without it."""
    resource = files("jdl.notebooks").joinpath(name)
    if not resource.is_file():
        raise FileNotFoundError(f"{name}: not installed with jdl (package jdl.notebooks)")
    with as_file(resource) as path:
        yield Path(path)
