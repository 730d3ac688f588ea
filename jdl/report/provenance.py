"""Provenance for reviewers (issue 13): what ran, on which data, when.

:func:`provenance` gathers, as a JSON-ready dict, the jdl version and the git commit of the source
tree jdl was imported from (and whether that working tree had uncommitted changes), the versions of
Python and the key libraries, the national data's ``manifest.json`` and SHA-256 digests of the
national data files, the upload's SHA-256 and size, the request's params and the run date and time
(UTC). :func:`provenance_markdown` turns that dict into the body of the report's provenance annex.

Personal data: the upload is only ever hashed, in chunks; no byte of its content, no header and
no sheet name reaches the dict. Only its base name (chosen by the lab's params file, not by the
submission's content) and its size are recorded. Nothing here prints or logs.

The national digest is the SHA-256 of the lines ``<file's SHA-256>  <file name>\\n``, one per
national data file sorted by name: exactly what ``sha256sum`` prints, so a reviewer can check it
in the national data folder with ``sha256sum benefits.parquet employment.parquet
index_events.parquet manifest.json oasys.parquet offences.parquet people.parquet | sha256sum``.
The files are those the lab reads (:data:`jdl.cohort.national.TABLES` as Parquet, and ``manifest.json``);
other files in the folder play no part in an analysis and are not hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from numbers import Integral, Real
from pathlib import Path

from jdl.words import count, markdown_text

CHUNK_SIZE = 1 << 20
"""Bytes read at a time when hashing a file (files are never read whole)."""

GIT_TIMEOUT = 10
"""Seconds each git call may take before the commit is given as unknown."""

UNKNOWN = "unknown"

LIBRARIES = ("pandas", "numpy", "statsmodels", "scipy", "duckdb", "pyarrow", "papermill", "nbconvert",
             "scrapbook", "matplotlib", "seaborn")
"""The distributions whose versions are recorded (besides Python's)."""

PARAM_KEYS = ("request_id", "organisation", "programme", "programme_type", "date_received", "setting",
              "options")
"""The params recorded; any other key given (upload_path, national_dir, ...) is left out."""

# git's environment: never one inherited from a hook or another tool pointing it elsewhere, and no
# optional locks, so ``git status`` never writes the index of a tree others are working in
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
                 "GIT_NAMESPACE")


# ---------------------------------------------------------------- hashing


def file_digest(path: str | Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of the file at ``path``, read :data:`CHUNK_SIZE` bytes
    at a time (the size is the number of bytes hashed)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def national_files(national_dir: str | Path) -> list[Path]:
    """The national data files the lab reads, sorted by name (FileNotFoundError if one is missing)."""
    from jdl.cohort.national import TABLES

    folder = Path(national_dir)
    paths = sorted((folder / name for name in [f"{t}.parquet" for t in TABLES] + ["manifest.json"]),
                   key=lambda p: p.name)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"national data folder {folder} lacks: {', '.join(missing)}")
    return paths


def combined_digest(files: list[dict]) -> str:
    """One SHA-256 over ``files`` (dicts with ``name`` and ``sha256``): of the ``sha256sum``
    lines ``<sha256>  <name>\\n`` in order of name."""
    listing = "".join(f"{f['sha256']}  {f['name']}\n" for f in sorted(files, key=lambda f: f["name"]))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- software


def _git(args: list[str], cwd: Path) -> str | None:
    """git's standard output (stripped) for ``args`` run in ``cwd``, or None if git is missing,
    fails, or takes longer than :data:`GIT_TIMEOUT` seconds. Never raises."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    env.update(GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    try:
        done = subprocess.run(["git", "--no-optional-locks", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0:
        return None
    try:
        return done.stdout.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def source_commit(package_dir: str | Path | None = None) -> dict:
    """``{"commit": ..., "dirty": ...}`` for the git checkout jdl is imported from (or the package
    folder ``package_dir``): the commit checked out, and whether the working tree differs from it
    (uncommitted changes, or untracked files that are not ignored). Both are "unknown" when jdl is
    not tracked in a git checkout (an installed wheel, or a copy inside some other repository's
    ignored folder), when git is missing, fails or times out."""
    if package_dir is None:
        package_dir = Path(__file__).resolve().parents[1]
    package_dir = Path(package_dir)
    unknown = {"commit": UNKNOWN, "dirty": UNKNOWN}
    if not package_dir.is_dir():
        return unknown
    # jdl itself must be tracked there: a site-packages inside some checkout is not that checkout
    if _git(["ls-files", "--error-unmatch", "--", "__init__.py"], package_dir) is None:
        return unknown
    commit = _git(["rev-parse", "--verify", "HEAD^{commit}"], package_dir)
    if not commit:
        return unknown
    status = _git(["status", "--porcelain"], package_dir)
    return {"commit": commit, "dirty": UNKNOWN if status is None else bool(status)}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def jdl_version() -> str:
    """jdl's installed version (its package metadata), else the version in its source."""
    try:
        return metadata.version("jdl")
    except metadata.PackageNotFoundError:
        from jdl import __version__
        return __version__


def library_versions() -> dict:
    """Python's version and each of :data:`LIBRARIES`' ("not installed" if absent)."""
    return {"python": platform.python_version(), **{name: _version(name) for name in LIBRARIES}}


# ---------------------------------------------------------------- the record


def _jsonable(value):
    """``value`` (a params value) as plain JSON data: dates as ISO text, mappings and sequences
    recursively, numbers as int or float (non-finite ones as text), anything else as text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _jsonable(value.item())
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value) if math.isfinite(float(value)) else str(float(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=str)
    return str(value)


def _utc_iso(now: dt.datetime | None) -> str:
    """``now`` (default: the current time) in UTC, ISO 8601 to the second; a naive ``now`` is
    taken to be UTC already."""
    if now is None:
        now = dt.datetime.now(dt.timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def software(now: dt.datetime | None = None) -> dict:
    """What ran and when, as a JSON-ready dict: ``{"run_at": ..., "jdl": {"version", "commit",
    "dirty"}, "libraries": {...}}`` (the first keys of :func:`provenance`; the bulletin states
    these alone, as it reads no upload)."""
    return {"run_at": _utc_iso(now), "jdl": {"version": jdl_version(), **source_commit()},
            "libraries": library_versions()}


def provenance(upload_path, national_dir, params: dict | None = None, now: dt.datetime | None = None) -> dict:
    """The provenance of one run, as a JSON-ready dict::

        {"run_at": "2014-07-01T09:30:00+00:00",                      # UTC; ``now`` if given
         "jdl": {"version": "0.1.0", "commit": "<40 hex>" or "unknown", "dirty": bool or "unknown"},
         "libraries": {"python": "3.11.7", "pandas": "2.2.3", ...},
         "national": {"manifest": {...manifest.json as written...},
                      "sha256": "<hex>",                                 # over the files below
                      "files": [{"name": ..., "bytes": ..., "sha256": ...}, ...]},
         "upload": {"name": "<base name>", "bytes": ..., "sha256": "<hex>"},
         "params": {...only the keys of PARAM_KEYS that were given...}}

    ``upload_path``: the submission (hashed, never read as data); ``national_dir``: the national
    data folder; ``params``: the request's params (see :data:`PARAM_KEYS`); ``now``: the run time
    (tests). Raises FileNotFoundError if the upload or a national data file is missing; never fails
    for want of git."""
    upload_path = Path(upload_path)
    upload_sha, upload_bytes = file_digest(upload_path)
    files = []
    for path in national_files(national_dir):
        sha, size = file_digest(path)
        files.append({"name": path.name, "bytes": size, "sha256": sha})
    manifest = json.loads((Path(national_dir) / "manifest.json").read_bytes())
    params = params or {}
    return {
        **software(now),
        "national": {"manifest": manifest, "sha256": combined_digest(files), "files": files},
        "upload": {"name": upload_path.name, "bytes": upload_bytes, "sha256": upload_sha},
        "params": {k: _jsonable(params[k]) for k in PARAM_KEYS if k in params},
    }


# ---------------------------------------------------------------- the annex


def _plain(value) -> str:
    """A value from the record as text: text as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def _pairs(mapping) -> str:
    """``key value; key value`` for a mapping from outside, every key and value escaped."""
    if not isinstance(mapping, Mapping):
        return markdown_text(_plain(mapping))
    return "; ".join(f"{markdown_text(k)} {markdown_text(_plain(v))}" for k, v in mapping.items()) or "none"


def _bytes(n) -> str:
    return f"{count(n)} bytes" if isinstance(n, Integral) and not isinstance(n, bool) else markdown_text(n)


def _commit_words(software: Mapping) -> str:
    words = f"version {markdown_text(software.get('version', UNKNOWN))}"
    commit = software.get("commit", UNKNOWN)
    if commit == UNKNOWN:
        return words + "; git commit unknown (not run from a git checkout, or git unavailable)"
    dirty = software.get("dirty", UNKNOWN)
    state = {True: "with uncommitted changes in the working tree", False: "clean working tree"}.get(
        dirty, "working tree state unknown")
    return words + f"; git commit {markdown_text(commit)} ({state})"


def _software_rows(info: dict) -> list[tuple[str, str]]:
    return [("Run at (UTC)", markdown_text(info.get("run_at", UNKNOWN))),
            ("jdl", _commit_words(info.get("jdl", {}))),
            ("Python and libraries", _pairs(info.get("libraries", {})))]


def _table(rows) -> list[str]:
    return ["| item | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows), ""]


def software_markdown(info: dict) -> str:
    """:func:`software`'s dict as a Markdown table (the bulletin's provenance)."""
    return "\n".join(_table(_software_rows(info)))


def provenance_markdown(info: dict) -> str:
    """The body of the report's provenance annex ("Annex G: provenance"), in Markdown, from
    :func:`provenance`'s dict (also after a JSON round trip): a table of what ran, on which data
    and when, then a table of the national data files. Every value is escaped by
    :func:`jdl.words.markdown_text`, so names and manifest contents from outside show as text."""
    national = info.get("national", {})
    upload = info.get("upload", {})
    manifest = national.get("manifest")
    rows = [
        *_software_rows(info),
        ("Request", _pairs(info.get("params", {}))),
        ("Upload", f"{markdown_text(upload.get('name', UNKNOWN))}: {_bytes(upload.get('bytes', UNKNOWN))}, "
                   f"SHA-256 {markdown_text(upload.get('sha256', UNKNOWN))}"),
        ("National data manifest", "none" if manifest is None else _pairs(manifest)),
        ("National data SHA-256", markdown_text(national.get("sha256", UNKNOWN))),
    ]
    lines = _table(rows)
    files = national.get("files") or []
    if files:
        lines += [
            "The national data SHA-256 is the SHA-256 of the lines \"file SHA-256, two spaces, file "
            "name\" for these files in order of name, as the `sha256sum` command prints them:",
            "",
            "| file | size | SHA-256 |",
            "|---|---:|---|",
            *(f"| {markdown_text(f.get('name', UNKNOWN))} | {_bytes(f.get('bytes', UNKNOWN))} | "
              f"{markdown_text(f.get('sha256', UNKNOWN))} |" for f in files),
            "",
        ]
    return "\n".join(lines)
