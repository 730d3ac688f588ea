"""Finding the project's files from wherever a notebook runs (Jupyter starts a notebook's kernel in
the notebook's own folder; papermill runs it from the project root)."""

from __future__ import annotations

from pathlib import Path


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
