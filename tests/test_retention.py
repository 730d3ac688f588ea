"""Tests of retention (jdl.run.retention, jdl purge) on a small fake project.

The project has a params month 2014-03 with a published, a not-processed, a failed and a
withdrawn request, and one more published request whose upload is a symlink to a file outside the
uploads folder; its run.json is written with jdl.run.runner.write_run. A second month, 2014-04, holds a
request not yet run that sends the same file as the not-processed request. Uploads are small fake
files (no personal data is needed to test which files go).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jdl.cli import main
from jdl.run.requests import ParamsError
from jdl.run.retention import RETENTION_JSON, RetentionError, purge_all, purge_month
from jdl.run.runner import MonthRun, RequestOutcome, write_run

NOW = dt.datetime(2014, 5, 1, 12, 0, tzinfo=dt.UTC)
# when the fake reports were produced (papermill's end_time): 10 days before NOW
REPORTED = "2014-04-21T09:30:00.123456+00:00"

REQUESTS = {  # id -> (upload file, status in params)
    "2014-03-001": ("published.xlsx", "received"),
    "2014-03-002": ("letter.csv", "received"),
    "2014-03-003": ("failed.xlsx", "received"),
    "2014-03-004": ("withdrawn.xlsx", "withdrawn"),
    "2014-03-005": ("linked.xlsx", "received"),
}
OUTCOMES = {"2014-03-001": "published", "2014-03-002": "not processed", "2014-03-003": "failed",
            "2014-03-004": "withdrawn", "2014-03-005": "published"}


def _params(path: Path, request_id: str, upload: str, status: str, received: str = "2014-01-10") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"id: {request_id}\norganisation: Org\nprogramme: Prog\ndate_received: {received}\n"
                    f"upload: data/uploads/{upload}\nstatus: {status}\n")


def _notebook(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [], "metadata": {"papermill": {"end_time": REPORTED}},
                                "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    uploads = root / "data" / "uploads"
    uploads.mkdir(parents=True)
    for request_id, (upload, status) in REQUESTS.items():
        _params(root / "params" / "2014-03" / f"{request_id}.yaml", request_id, upload, status)
        if upload != "linked.xlsx":
            (uploads / upload).write_text(f"rows of {request_id}\n")
    outside = tmp_path / "elsewhere" / "secret.xlsx"
    outside.parent.mkdir()
    outside.write_text("not the lab's to delete\n")
    (uploads / "linked.xlsx").symlink_to(outside)
    # the next month: a request not yet run that sends the same file as 2014-03-002
    _params(root / "params" / "2014-04" / "2014-04-001.yaml", "2014-04-001", "letter.csv", "received",
            received="2014-03-20")

    outputs = root / "outputs"
    month = outputs / "2014-03"
    outcomes = []
    for request_id, status in OUTCOMES.items():
        folder = month / request_id
        if status in ("published", "not processed"):
            for name in ("report.ipynb", "report.html", "report.pdf"):
                _notebook(folder / name) if name == "report.ipynb" else (folder / name).write_text("aggregate\n")
            outcomes.append(RequestOutcome(request_id, status, verdict="inconclusive" if status == "published"
                                           else "not processed", seconds=1.0, notebook=folder / "report.ipynb",
                                           html=folder / "report.html", pdf=folder / "report.pdf"))
        elif status == "failed":
            _notebook(folder / "report.failed.ipynb")
            outcomes.append(RequestOutcome(request_id, "failed", error="KeyError", seconds=1.0,
                                           notebook=folder / "report.failed.ipynb"))
        else:
            outcomes.append(RequestOutcome(request_id, status))
    # row-level leftovers of the published request: a stale failed notebook and a temporary file
    _notebook(month / "2014-03-001" / "report.failed.ipynb")
    (month / "2014-03-001" / ".report.ipynb.k2j4x9.ipynb").write_text("{}")
    (month / "2014-03-002" / ".report.ipynb.a1b2c3.ipynb").write_text("{}")
    write_run(MonthRun("2014-03", outcomes, outputs))
    return root


def _purge(root: Path, **options):
    return purge_month("2014-03", root / "params", root / "outputs", root / "data" / "uploads", now=NOW, **options)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


DELETED = ["data/uploads/published.xlsx",
           "outputs/2014-03/2014-03-001/report.failed.ipynb",
           "outputs/2014-03/2014-03-001/.report.ipynb.k2j4x9.ipynb",
           "outputs/2014-03/2014-03-002/.report.ipynb.a1b2c3.ipynb"]

EXPECTED_REQUESTS = [
    {"id": "2014-03-001", "status": "published", "action": "purged", "reason": None,
     "deleted": DELETED[:3], "kept": [], "notes": []},
    {"id": "2014-03-002", "status": "not processed", "action": "purged", "reason": None,
     "deleted": DELETED[3:], "kept": ["data/uploads/letter.csv"],
     "notes": ["data/uploads/letter.csv: still needed by 2014-04-001 (not run yet); kept"]},
    {"id": "2014-03-003", "status": "failed", "action": "kept", "reason": "failed: kept for a rerun",
     "deleted": [], "kept": ["data/uploads/failed.xlsx", "outputs/2014-03/2014-03-003/report.failed.ipynb"],
     "notes": []},
    {"id": "2014-03-004", "status": "withdrawn", "action": "kept",
     "reason": "withdrawn: kept in case it is resubmitted (purged by --older-than, counted from the date received)",
     "deleted": [], "kept": ["data/uploads/withdrawn.xlsx"], "notes": []},
    {"id": "2014-03-005", "status": "published", "action": "purged", "reason": None,
     "deleted": [], "kept": ["data/uploads/linked.xlsx"],
     "notes": ["data/uploads/linked.xlsx: a symlink to a file outside the uploads folder data/uploads; not deleted"]},
]


def test_purge_deletes_exactly_the_done_requests_row_level_files(project):
    before = _files(project)
    result = _purge(project)
    assert list(result.deleted) == DELETED
    assert _files(project) == (before - set(DELETED)) | {"outputs/2014-03/retention.json"}
    # the symlink and the file it points to outside the uploads folder are both still there
    assert (project / "data/uploads/linked.xlsx").is_symlink()
    assert (project.parent / "elsewhere/secret.xlsx").read_text() == "not the lab's to delete\n"
    # the published aggregates stay
    for name in ("report.ipynb", "report.html", "report.pdf"):
        assert (project / "outputs/2014-03/2014-03-001" / name).exists()
    assert (project / "outputs/2014-03/run.json").exists()
    assert [r.to_dict() for r in result.requests] == EXPECTED_REQUESTS
    assert result.errors == ()
    assert result.record == (project / "outputs/2014-03" / RETENTION_JSON).resolve()


def test_retention_json_records_what_was_done(project):
    _purge(project)
    record = json.loads((project / "outputs/2014-03/retention.json").read_text())
    assert record == {"month": "2014-03", "purges": [{
        "when": "2014-05-01T12:00:00Z", "older_than_days": None, "uploads_folder": "data/uploads",
        "deleted": DELETED, "errors": [], "requests": EXPECTED_REQUESTS}]}


def test_dry_run_deletes_and_records_nothing(project):
    before = {p: p.read_bytes() for p in (project / "data").rglob("*") if p.is_file()}
    before_files = _files(project)
    result = _purge(project, dry_run=True)
    assert list(result.deleted) == DELETED
    assert [r.to_dict() for r in result.requests] == EXPECTED_REQUESTS
    assert result.record is None
    assert _files(project) == before_files
    assert {p: p.read_bytes() for p in (project / "data").rglob("*") if p.is_file()} == before


def test_purging_twice_is_harmless(project):
    _purge(project)
    record_path = project / "outputs/2014-03/retention.json"
    first_record = record_path.read_text()
    files = _files(project)
    again = _purge(project)
    assert again.deleted == () and again.errors == () and again.record is None
    assert _files(project) == files
    assert record_path.read_text() == first_record          # nothing new: no entry appended
    notes = {r.id: r.notes for r in again.requests}
    assert notes["2014-03-001"] == ("data/uploads/published.xlsx: already gone",)


def test_a_later_purge_appends_to_the_record(project):
    _purge(project)
    # the failed request is rerun and published; the next purge deletes its files and appends
    outcomes = [RequestOutcome(i, "published" if s == "failed" else s) for i, s in OUTCOMES.items()]
    write_run(MonthRun("2014-03", outcomes, project / "outputs"))
    later = _purge(project)
    assert list(later.deleted) == ["data/uploads/failed.xlsx", "outputs/2014-03/2014-03-003/report.failed.ipynb"]
    record = json.loads((project / "outputs/2014-03/retention.json").read_text())
    assert [entry["deleted"] for entry in record["purges"]] == [DELETED, list(later.deleted)]


def test_upload_is_freed_once_the_other_month_is_done(project):
    write_run(MonthRun("2014-04", [RequestOutcome("2014-04-001", "published")], project / "outputs"))
    result = _purge(project)
    assert "data/uploads/letter.csv" in result.deleted
    assert not (project / "data/uploads/letter.csv").exists()


def test_older_than_keeps_recent_requests(project):
    result = _purge(project, older_than_days=30)
    # reports 10 days old are kept; the withdrawn request was received 111 days ago and goes
    assert list(result.deleted) == ["data/uploads/withdrawn.xlsx"]
    reasons = {r.id: r.reason for r in result.requests}
    assert reasons["2014-03-001"] == "published 10 days ago: kept until 30 days have passed"
    assert reasons["2014-03-002"] == "not processed 10 days ago: kept until 30 days have passed"
    assert reasons["2014-03-003"] == "failed: kept for a rerun"
    assert reasons["2014-03-004"] is None
    assert (project / "data/uploads/published.xlsx").exists()
    later = _purge(project, older_than_days=10)
    assert list(later.deleted) == DELETED


def test_purge_all_goes_over_every_month(project):
    results = purge_all(7, project / "params", project / "outputs", project / "data" / "uploads", now=NOW)
    assert [r.month for r in results] == ["2014-03", "2014-04"]
    assert list(results[0].deleted) == [*DELETED, "data/uploads/withdrawn.xlsx"]
    assert results[1].deleted == ()
    assert [(r.id, r.reason) for r in results[1].requests] == [("2014-04-001", "not run yet (no run.json)")]
    # 2014-04 has no outputs folder: nothing is written there
    assert not (project / "outputs/2014-04").exists()


def test_an_unreadable_params_month_stops_the_purge(project):
    (project / "params/2014-04/2014-04-001.yaml").write_text("id: 2014-04-001\nsurprise: field\n")
    files = _files(project)
    with pytest.raises(ParamsError):
        _purge(project)
    assert _files(project) == files


def test_uploads_folder_must_not_hold_the_project(project):
    with pytest.raises(RetentionError, match="holds the whole project"):
        purge_month("2014-03", project / "params", project / "outputs", project, now=NOW)
    with pytest.raises(RetentionError, match="no such params folder"):
        _purge_month_missing(project)


def _purge_month_missing(root: Path):
    return purge_month("2099-01", root / "params", root / "outputs", root / "data" / "uploads", now=NOW)


def test_an_upload_outside_the_uploads_folder_is_never_deleted(project, tmp_path):
    other = tmp_path / "other-uploads"
    result = purge_month("2014-03", project / "params", project / "outputs", other, now=NOW)
    # every upload is outside the configured folder: only the outputs' intermediates go
    assert list(result.deleted) == DELETED[1:]
    assert (project / "data/uploads/published.xlsx").exists()
    assert result.requests[0].notes == (
        f"data/uploads/published.xlsx: outside the uploads folder {other.as_posix()}; not deleted",)


def test_cli_purge(project, monkeypatch):
    monkeypatch.chdir(project)
    runner = CliRunner()
    dry = runner.invoke(main, ["purge", "2014-03", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert (project / "data/uploads/published.xlsx").exists()
    assert dry.output.splitlines()[:2] == [
        "2014-03:",
        "  2014-03-001  published  would delete " + ", ".join(DELETED[:3])]
    assert dry.output.splitlines()[-1] == "dry run: 4 file(s) would be deleted; nothing deleted or recorded"
    done = runner.invoke(main, ["purge", "2014-03"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "2014-03:",
        "  2014-03-001  published  deleted " + ", ".join(DELETED[:3]),
        "  2014-03-002  not processed  deleted " + DELETED[3],
        "    data/uploads/letter.csv: still needed by 2014-04-001 (not run yet); kept",
        "  2014-03-003  failed  kept: failed: kept for a rerun",
        ("  2014-03-004  withdrawn  kept: withdrawn: kept in case it is resubmitted (purged by --older-than, "
         "counted from the date received)"),
        "  2014-03-005  published  nothing to delete",
        "    data/uploads/linked.xlsx: a symlink to a file outside the uploads folder data/uploads; not deleted",
        "4 file(s) deleted; recorded in outputs/2014-03/retention.json",
    ]
    assert not (project / "data/uploads/published.xlsx").exists()
    again = runner.invoke(main, ["purge", "2014-03"])
    assert again.exit_code == 0 and again.output.splitlines()[-1] == "0 file(s) deleted; nothing new to record"
    usage = runner.invoke(main, ["purge"])
    assert usage.exit_code == 2 and "--older-than" in usage.output
    missing = runner.invoke(main, ["purge", "2099-01"])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert missing.output == "jdl purge: params/2099-01: no such params folder\n"
    sweep = runner.invoke(main, ["purge", "--older-than", "7"])
    assert sweep.exit_code == 0, sweep.output
    assert not (project / "data/uploads/withdrawn.xlsx").exists()


def test_a_shared_upload_goes_only_when_every_request_naming_it_may_let_it_go(project):
    """2014-04-001 resubmits the withdrawn request's file and was published 10 days before NOW."""
    _params(project / "params/2014-04/2014-04-001.yaml", "2014-04-001", "withdrawn.xlsx", "received")
    _notebook(project / "outputs/2014-04/2014-04-001/report.ipynb")
    write_run(MonthRun("2014-04", [RequestOutcome("2014-04-001", "published", notebook=project /
                                                  "outputs/2014-04/2014-04-001/report.ipynb")], project / "outputs"))
    # with a 30-day period the withdrawn request's turn has come, but the resubmission's has not
    kept = _purge(project, older_than_days=30)
    assert "data/uploads/withdrawn.xlsx" not in kept.deleted
    assert kept.requests[3].notes == (
        "data/uploads/withdrawn.xlsx: still needed by 2014-04-001 (published 10 days ago); kept",)
    # purging the resubmission's month: a withdrawn request never keeps another request's upload
    gone = purge_month("2014-04", project / "params", project / "outputs", project / "data" / "uploads", now=NOW)
    assert list(gone.deleted) == ["data/uploads/withdrawn.xlsx"]
