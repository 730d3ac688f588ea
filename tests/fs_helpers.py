"""File-system helpers shared by the tests: permissions, and minimal params files."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import yaml


@contextlib.contextmanager
def umask(value: int):
    """Run the block with the process umask set to ``value``."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def write_request(month: Path, request_id: str, date_received: str, **fields) -> Path:
    """A minimal params file ``month/<request_id>.yaml`` (organisation "O", programme "P", upload
    data/uploads/u.csv unless ``fields`` says otherwise); the month folder is made if need be."""
    month.mkdir(parents=True, exist_ok=True)
    path = month / f"{request_id}.yaml"
    path.write_text(yaml.safe_dump({"id": request_id, "organisation": "O", "programme": "P",
                                    "date_received": date_received, "upload": "data/uploads/u.csv", **fields}))
    return path
