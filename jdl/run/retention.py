"""Retention: destroying submitted data once the lab has answered the request.

The Justice Data Lab destroyed the data an organisation sent once the analysis was done. Here a
request is *done* when the month runner recorded it (``outputs/<month>/run.json``, see
:func:`jdl.run.runner.read_run`) as ``published`` (a report) or ``not processed`` (the letter saying
why not). For a done request, :func:`purge_month` deletes

- its upload (the ``upload`` of its params file, :func:`jdl.run.requests.load_month`), and
- the row-level intermediates in its output folder ``outputs/<month>/<id>/``: a kept
  ``report.failed.ipynb`` (a partly executed notebook, which may show a traceback with values
  from the upload) and stray temporary notebooks ``.report.ipynb.*`` left by an interrupted run.

The published outputs (``report.ipynb``, ``report.html``, ``report.pdf``, the bulletin, ``run.json``,
``run.log``) are aggregates that passed disclosure control, and are kept.

Everything else is kept, with the reason recorded: a failed request (kept for a rerun), a request
in progress or not run yet, and a withdrawn one (it may be resubmitted; see below). Safety rules:

- nothing outside the uploads folder (``data/uploads`` by default) is ever deleted: an upload is
  resolved (symlinks followed) and deleted only if the file it resolves to is inside the resolved
  uploads folder; a symlink inside the uploads folder that points elsewhere is left, and reported;
- an upload that another request of any month still needs is kept, and the record says which
  request needs it: one failed, in progress or not yet run, or (with a retention period) done too
  recently to be purged itself. A withdrawn request never keeps another request's upload (the
  demo pilot's Safe Harbour was withdrawn, then resubmitted with the same file). Every params
  month is read for this, and a month whose params cannot be read stops the purge
  (:class:`jdl.run.requests.ParamsError`) rather than risk deleting something it needs;
- a dry run (``dry_run=True``) deletes and writes nothing and reports what would go;
- a purge is idempotent: files already gone are noted, not counted again.

Retention period. ``older_than_days=N`` keeps a done request's files until N days after its
report was produced (papermill's ``end_time`` in the executed notebook; the file's modification
time if that is missing), and purges a withdrawn request's upload N days after the date it was
received. :func:`purge_all` applies this to every month: the form a scheduled job runs
(``jdl purge --older-than 30`` each night), so the retention period of the data sharing
agreement is on the command line and in every record.

Records. Each purge that deletes something (or the first one of a month) is appended to
``outputs/<month>/retention.json``: when, the retention period if any, the uploads folder, and
per request its status, the files deleted and the files kept and why, every path relative to the
project root (the params folder's parent). Upload file names are chosen by the lab, not by the
submitter, and no file's contents are ever read, apart from the papermill metadata of a report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from jdl.atomic import write_text_atomically
from jdl.contract import REPORT_STATUSES, Status
from jdl.run.requests import RUN_JSON, Request, load_month
from jdl.run.runner import FAILED_NOTEBOOK, MonthRun, read_run

RETENTION_JSON = "retention.json"
# A request is done when the runner recorded it with the status its report glued.
DONE = REPORT_STATUSES
# Row-level files a run may leave in a request's output folder (names, then glob patterns).
INTERMEDIATE_NAMES = (FAILED_NOTEBOOK,)
INTERMEDIATE_PATTERNS = (".report.ipynb.*",)
# What a request's status is called here when run.json does not list it (not a Status).
NOT_RUN = "not run"

PURGED = "purged"
KEPT = "kept"


@dataclass(frozen=True)
class RequestRetention:
    """What a purge did (or, in a dry run, would do) with one request's files.

    ``status``: the request's status in ``run.json`` (``published``, ``not processed``, ``failed``,
    ``withdrawn``, ``in progress``), or ``not run`` when ``run.json`` does not list it. ``action``:
    ``purged`` (its files were due to go) or ``kept`` (the request is not done, or too recent);
    ``reason``: why it was kept (None when purged). ``deleted``: files deleted (would be, in a dry
    run); ``kept``: its files left in place; ``notes``: why particular files were left, or were
    already gone. Paths are relative to the project root, "/"-separated.
    """

    id: str
    status: Status | str
    action: str
    reason: str | None = None
    deleted: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"id": self.id, "status": str(self.status), "action": self.action, "reason": self.reason,
                "deleted": list(self.deleted), "kept": list(self.kept), "notes": list(self.notes)}


@dataclass(frozen=True)
class MonthRetention:
    """One purge of one month: ``when`` (UTC, ISO 8601), whether it was a ``dry_run``, the retention
    period ``older_than_days`` (None: every done request), the ``uploads_folder`` and ``requests``
    (one :class:`RequestRetention` per request, in id order). ``errors``: files that could not be
    deleted (path and exception type). ``record``: the ``retention.json`` appended to (None when
    nothing was written: a dry run, or nothing new to record)."""

    month: str
    when: str
    dry_run: bool
    older_than_days: int | None
    uploads_folder: str
    requests: tuple[RequestRetention, ...]
    errors: tuple[str, ...] = ()
    record: Path | None = None

    @property
    def deleted(self) -> tuple[str, ...]:
        """Every file deleted (would be, in a dry run), each once, in request order."""
        return tuple(dict.fromkeys(path for request in self.requests for path in request.deleted))

    def to_dict(self) -> dict:
        """The entry this purge appends to ``retention.json``."""
        return {"when": self.when, "older_than_days": self.older_than_days, "uploads_folder": self.uploads_folder,
                "deleted": list(self.deleted), "errors": list(self.errors),
                "requests": [request.to_dict() for request in self.requests]}


class RetentionError(ValueError):
    """A purge that cannot go ahead safely (the message says why); nothing was deleted."""


# --------------------------------------------------------------------------------------------
# helpers


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _inside(path: Path, folder: Path) -> bool:
    """True when the (resolved) ``path`` is strictly inside the (resolved) ``folder``."""
    return path != folder and path.is_relative_to(folder)


class _Paths:
    """The project root, and paths shown relative to it."""

    def __init__(self, params_root: Path, outputs_root: Path, uploads_dir: Path):
        self.params_root = Path(params_root).resolve()
        self.root = self.params_root.parent
        self.outputs_root = Path(outputs_root).resolve()
        self.uploads_given = Path(uploads_dir)
        self.uploads = Path(uploads_dir).resolve()

    def show(self, path: Path) -> str:
        path = Path(os.path.abspath(path))
        if path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return path.as_posix()


def _run_of(paths: _Paths, month: str) -> MonthRun | None:
    run_json = paths.outputs_root / month / RUN_JSON
    return read_run(run_json) if run_json.is_file() else None


def _statuses(run: MonthRun | None) -> dict[str, Status]:
    return {} if run is None else {outcome.id: outcome.status for outcome in run.outcomes}


def _months(paths: _Paths) -> list[str]:
    if not paths.params_root.is_dir():
        return []
    return sorted(p.name for p in paths.params_root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _load(paths: _Paths, month: str) -> list[Request]:
    """The month's requests. ``load_month`` refuses a params file whose upload resolves outside the
    uploads folder; retention must still see such a request, to leave its upload and say why, so
    it reads the params without that check and applies its own (:func:`_upload_files`) before
    deleting anything."""
    return load_month(paths.params_root / month, paths.root, confine=False)


def _finished_at(notebook: Path | None, run_json: Path) -> dt.datetime:
    """When a done request's report was produced: papermill's ``end_time`` in the executed
    notebook, else the notebook's modification time, else ``run.json``'s."""
    if notebook is not None and notebook.is_file():
        try:
            with notebook.open(encoding="utf-8") as handle:
                end = json.load(handle)["metadata"]["papermill"]["end_time"]
            return _utc(dt.datetime.fromisoformat(end))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return dt.datetime.fromtimestamp(notebook.stat().st_mtime, dt.UTC)
    return dt.datetime.fromtimestamp(run_json.stat().st_mtime, dt.UTC)


def _intermediates(paths: _Paths, month: str, request_id: str) -> list[Path]:
    """Row-level intermediates present in ``outputs/<month>/<id>/`` (never outside the outputs
    folder)."""
    out_dir = paths.outputs_root / month / request_id
    if not out_dir.is_dir() or not _inside(out_dir.resolve(), paths.outputs_root):
        return []
    found = [out_dir / name for name in INTERMEDIATE_NAMES if os.path.lexists(out_dir / name)]
    for pattern in INTERMEDIATE_PATTERNS:
        found.extend(sorted(out_dir.glob(pattern)))
    return found


def _upload_files(paths: _Paths, upload: Path) -> tuple[list[Path], list[str]]:
    """The files to delete for ``upload`` and notes on what is left and why: the file it resolves
    to when that is inside the uploads folder, plus the symlink itself when ``upload`` is one
    inside the uploads folder; nothing when it resolves outside (or is not a regular file)."""
    shown = paths.show(upload)
    if not os.path.lexists(upload):
        return [], [f"{shown}: already gone"]
    target = upload.resolve()
    link = upload.is_symlink()
    if not _inside(target, paths.uploads):
        where = "a symlink to a file outside" if link else "outside"
        return [], [f"{shown}: {where} the uploads folder {paths.show(paths.uploads_given)}; not deleted"]
    if not target.is_file():
        return [], [f"{shown}: not a regular file; not deleted"]
    files = [target]
    location = upload.parent.resolve() / upload.name
    if link and _inside(location, paths.uploads):
        files.append(location)
    return files, []


# --------------------------------------------------------------------------------------------
# planning and purging


@dataclass(frozen=True)
class _Verdict:
    """Whether a request's files are due to go now; if not, why (``reason``), and what to call it
    when it keeps an upload another request shares (``holds``: None for a withdrawn request,
    which never keeps another request's upload)."""

    due: bool
    reason: str | None = None
    holds: str | None = None


def _verdict(request_id: str, request: Request | None, status: Status | str, run: MonthRun | None,
             older_than_days: int | None, now: dt.datetime) -> _Verdict:
    """The :class:`_Verdict` on one request: ``request`` its params (None when only ``run.json``
    lists it), ``status`` its status in ``run.json`` (``not run`` when not listed)."""
    withdrawn = request is not None and request.status == Status.WITHDRAWN and status not in DONE
    if status not in DONE and not withdrawn:
        if status == Status.FAILED:
            return _Verdict(False, "failed: kept for a rerun", "failed")
        if status == Status.IN_PROGRESS:
            return _Verdict(False, "in progress: not run yet", "in progress")
        return _Verdict(False, "not run yet" + ("" if run is not None else f" (no {RUN_JSON})"), "not run yet")
    if withdrawn:
        if older_than_days is None:
            return _Verdict(False, "withdrawn: kept in case it is resubmitted (purged by --older-than, counted "
                                   "from the date received)")
        age = (now - dt.datetime.combine(request.date_received, dt.time(), dt.UTC)).days
        if age < older_than_days:
            return _Verdict(False, f"withdrawn, received {age} days ago: kept until {older_than_days} days "
                                   "have passed")
        return _Verdict(True)
    if older_than_days is not None:
        notebook = next((o.notebook for o in run.outcomes if o.id == request_id), None)
        age = (now - _finished_at(notebook, run.month_dir / RUN_JSON)).days
        if age < older_than_days:
            return _Verdict(False, f"{status} {age} days ago: kept until {older_than_days} days have passed",
                            f"{status} {age} days ago")
    return _Verdict(True)


def _needs(paths: _Paths, older_than_days: int | None, now: dt.datetime) -> dict[Path, list[str]]:
    """Resolved upload path -> the requests (of every month) that keep it: those whose files are
    not due to go (failed, in progress, not run yet, or done too recently), withdrawn ones apart."""
    needs: dict[Path, list[str]] = {}
    for month in _months(paths):
        run = _run_of(paths, month)
        statuses = _statuses(run)
        for request in _load(paths, month):
            verdict = _verdict(request.id, request, statuses.get(request.id, NOT_RUN), run, older_than_days, now)
            if verdict.holds is not None:
                needs.setdefault(request.upload.resolve(), []).append(f"{request.id} ({verdict.holds})")
    return needs


def _plan_request(paths: _Paths, month: str, request: Request | None, request_id: str, status: Status | str,
                  run: MonthRun | None, needs: dict[Path, list[str]], older_than_days: int | None,
                  now: dt.datetime) -> tuple[RequestRetention, list[Path]]:
    """What to do with one request's files, and the files to delete (nothing is deleted here)."""
    intermediates = _intermediates(paths, month, request_id)
    upload_exists = request is not None and os.path.lexists(request.upload)
    present = ([paths.show(request.upload)] if upload_exists else []) + [paths.show(p) for p in intermediates]
    verdict = _verdict(request_id, request, status, run, older_than_days, now)
    if not verdict.due:
        return RequestRetention(request_id, status, KEPT, verdict.reason, kept=tuple(present)), []

    delete: list[Path] = []
    left: list[str] = []
    notes: list[str] = []
    if request is None:
        notes.append(f"no params file for {request_id} in {paths.show(paths.params_root / month)}: "
                     "its upload is not known; not deleted")
    else:
        files, upload_notes = _upload_files(paths, request.upload)
        needed_by = needs.get(request.upload.resolve(), [])
        if files and needed_by:
            files, upload_notes = [], [f"{paths.show(request.upload)}: still needed by {', '.join(needed_by)}; kept"]
        notes.extend(upload_notes)
        delete.extend(files)
        if upload_exists and not files:
            left.append(paths.show(request.upload))
    delete.extend(intermediates)
    retention = RequestRetention(request_id, status, PURGED, None, deleted=tuple(paths.show(p) for p in delete),
                                 kept=tuple(left), notes=tuple(notes))
    return retention, delete


def _read_record(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("purges"), list):
        raise RetentionError(f"{path}: not a retention record this version can add to; nothing deleted")
    return record


def _purge(paths: _Paths, month: str, needs: dict[Path, list[str]], older_than_days: int | None,
           dry_run: bool, now: dt.datetime) -> MonthRetention:
    requests = {request.id: request for request in _load(paths, month)}
    run = _run_of(paths, month)
    statuses = _statuses(run)
    ids = sorted(set(requests) | set(statuses))
    planned = []
    for request_id in ids:
        result = _plan_request(paths, month, requests.get(request_id), request_id,
                               statuses.get(request_id, NOT_RUN), run, needs, older_than_days, now)
        planned.append(result)
    record_path = paths.outputs_root / month / RETENTION_JSON
    when = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    uploads_folder = paths.show(paths.uploads_given)
    outcomes = tuple(retention for retention, _ in planned)
    if dry_run:
        return MonthRetention(month, when, True, older_than_days, uploads_folder, outcomes)
    record = _read_record(record_path)   # before deleting anything: a purge must be recorded
    errors: list[str] = []
    done = []
    for retention, files in planned:
        deleted, kept = [], list(retention.kept)
        for path in files:
            try:
                os.unlink(path)
                deleted.append(paths.show(path))
            except FileNotFoundError:
                pass
            except OSError as error:
                errors.append(f"{paths.show(path)}: could not delete ({type(error).__name__})")
                kept.append(paths.show(path))
        done.append(RequestRetention(retention.id, retention.status, retention.action, retention.reason,
                                     tuple(deleted), tuple(kept), retention.notes))
    result = MonthRetention(month, when, False, older_than_days, uploads_folder, tuple(done), tuple(errors))
    write = bool(result.deleted or errors) or (record is None and (paths.outputs_root / month).is_dir())
    if not write:
        return result
    record = record or {"month": month, "purges": []}
    record["purges"].append(result.to_dict())
    write_text_atomically(record_path, json.dumps(record, indent=2) + "\n")
    return MonthRetention(month, when, False, older_than_days, uploads_folder, tuple(done), tuple(errors),
                          record_path)


def _paths(params_root, outputs_root, uploads_dir) -> _Paths:
    paths = _Paths(params_root, outputs_root, uploads_dir)
    if paths.root.is_relative_to(paths.uploads):
        raise RetentionError(f"the uploads folder {uploads_dir} holds the whole project; name the folder "
                             "the submissions are in (--uploads)")
    return paths


def _now(now: dt.datetime | None) -> dt.datetime:
    return _utc(now) if now is not None else dt.datetime.now(dt.UTC)


def purge_month(month: str, params_root: str | os.PathLike = "params", outputs_root: str | os.PathLike = "outputs",
                uploads_dir: str | os.PathLike = "data/uploads", *, older_than_days: int | None = None,
                dry_run: bool = False, now: dt.datetime | None = None) -> MonthRetention:
    """Delete the uploads and row-level intermediates of the done requests of ``month`` (the
    folder ``params_root/<month>``), as the module docstring describes, and append what was done
    to ``outputs_root/<month>/retention.json``. ``older_than_days``: keep requests done fewer
    days ago (None: purge every done request). ``dry_run``: delete and write nothing. ``now``:
    the time to record and to count days from (default: now, UTC).

    Raises :class:`jdl.run.requests.ParamsError` when any month's params cannot be read, and
    :class:`RetentionError` when the purge cannot go ahead safely; nothing is deleted then."""
    paths = _paths(params_root, outputs_root, uploads_dir)
    if not (paths.params_root / month).is_dir():
        raise RetentionError(f"{paths.show(paths.params_root / month)}: no such params folder")
    moment = _now(now)
    return _purge(paths, month, _needs(paths, older_than_days, moment), older_than_days, dry_run, moment)


def purge_all(older_than_days: int, params_root: str | os.PathLike = "params",
              outputs_root: str | os.PathLike = "outputs", uploads_dir: str | os.PathLike = "data/uploads", *,
              dry_run: bool = False, now: dt.datetime | None = None) -> list[MonthRetention]:
    """:func:`purge_month` with ``older_than_days`` for every month folder under ``params_root``,
    in month order; returns one :class:`MonthRetention` per month. Every month's params are read
    before anything is deleted."""
    paths = _paths(params_root, outputs_root, uploads_dir)
    moment = _now(now)
    needs = _needs(paths, older_than_days, moment)
    return [_purge(paths, month, needs, older_than_days, dry_run, moment) for month in _months(paths)]
