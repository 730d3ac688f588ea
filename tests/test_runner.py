"""Tests of the month runner (jdl.run.runner) and ``jdl run``, with a stand-in report template
(tests/notebooks/fake_report.ipynb) whose test-only options make a request fail, sleep or glue
given scraps. Requests are written as params files; the test options are let through by
monkeypatching jdl.run.requests.OPTIONS (the params are loaded in this process)."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import nbformat
import papermill
import pytest
import scrapbook
import yaml
from click.testing import CliRunner
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

import jdl.run.requests
from jdl.run import runner
from jdl.cli import main
from jdl.run.requests import FAILED, IN_PROGRESS, NOT_PROCESSED, OPTIONS, PUBLISHED, WITHDRAWN

TEMPLATE = Path(__file__).resolve().parent / "notebooks" / "fake_report.ipynb"
TEST_OPTIONS = OPTIONS + ("fail", "sleep", "sleep_each", "status", "verdict")
# What the template's failing cell puts in its error message: stands in for an upload value.
SECRET = "secret-name-XYZ"
# Cells of the executed template: 0 markdown, 1 parameters, 2 injected parameters, 3 fail/sleep,
# 4-6 sleep_each, 7 glue.
FAIL_CELL, LAST_SLEEP_CELL = 3, 6


def allow_test_options(patch: pytest.MonkeyPatch) -> None:
    """Let the stand-in template's test-only options through the params checks (the params are
    loaded in this process): added to jdl.run.requests.OPTIONS and, where the options' values are
    checked (jdl.run.requests._check_options), checked there only for the real options."""
    patch.setattr(jdl.run.requests, "OPTIONS", TEST_OPTIONS)
    check_options = getattr(jdl.run.requests, "_check_options", None)
    if check_options is None:
        return
    test_only = set(TEST_OPTIONS) - set(OPTIONS)

    def check_real_options(path, options):
        options = options or {}
        real = {name: value for name, value in options.items() if name not in test_only}
        return {**check_options(path, real or None),
                **{name: value for name, value in options.items() if name in test_only}}

    patch.setattr(jdl.run.requests, "_check_options", check_real_options)


@pytest.fixture(autouse=True)
def test_options(monkeypatch):
    allow_test_options(monkeypatch)


def write_month(root: Path, month: str, requests: dict[str, dict]) -> Path:
    """Write ``root/params/<month>/<id>.yaml`` for each request id -> extra fields; returns the
    month's params folder."""
    month_dir = root / "params" / month
    month_dir.mkdir(parents=True, exist_ok=True)
    for request_id, extra in requests.items():
        fields = {"id": request_id, "organisation": f"Organisation {request_id}", "programme": "Family Man",
                  "date_received": "2014-01-15", "upload": f"data/uploads/{request_id}.csv", **extra}
        (month_dir / f"{request_id}.yaml").write_text(yaml.safe_dump(fields, sort_keys=False))
    return month_dir


def scraps(path: Path) -> dict:
    return scrapbook.read_notebook(str(path)).scraps.data_dict


def injected_source(path: Path) -> str:
    notebook = nbformat.read(str(path), as_version=4)
    [cell] = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    return cell.source


def snapshot(month_out: Path) -> dict:
    """Per request folder: the report.ipynb bytes, scraps and injected cell, and the file names."""
    shot = {}
    for folder in sorted(p for p in month_out.iterdir() if p.is_dir()):
        report = folder / runner.REPORT_NOTEBOOK
        shot[folder.name] = SimpleNamespace(
            files=sorted(p.name for p in folder.iterdir()),
            bytes=report.read_bytes() if report.exists() else None,
            scraps=scraps(report) if report.exists() else None,
            injected=injected_source(report) if report.exists() else None,
            metadata=nbformat.read(str(report), as_version=4).metadata.papermill if report.exists() else None)
    return shot


def run_files(month_out: Path) -> tuple[dict, str]:
    return json.loads((month_out / "run.json").read_text()), (month_out / "run.log").read_text()


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """A month of four requests (two good, one failing, one withdrawn) run three times with the
    default process pool: by ``jdl run`` with relative paths, rerun by run_month, and rerun again
    after 2014-03-001 was changed to fail."""
    root = tmp_path_factory.mktemp("project").resolve()
    month_dir = write_month(root, "2014-03", {
        "2014-03-001": {"options": {"verdict": "significant reduction"}},
        "2014-03-002": {"options": {"fail": True}},
        "2014-03-003": {"status": WITHDRAWN.value},   # plain words: YAML has no enums
        "2014-03-004": {"options": {"status": NOT_PROCESSED.value, "verdict": NOT_PROCESSED.value}},
    })
    outputs, national = root / "outputs", root / "data" / "national"
    month_out = outputs / "2014-03"
    arguments = {"outputs_dir": outputs, "notebook": TEMPLATE, "national_dir": national, "publish": False,
                 "progress": False, "timeout": 120}
    with pytest.MonkeyPatch.context() as patch:
        allow_test_options(patch)
        patch.chdir(root)
        started = time.monotonic()
        cli = CliRunner().invoke(main, ["run", "params/2014-03", "--outputs", "outputs", "--national",
                                        "data/national", "--notebook", str(TEMPLATE), "--no-publish",
                                        "--timeout", "120"])
        cli_seconds = time.monotonic() - started
        first, (first_json, first_log) = snapshot(month_out), run_files(month_out)
        rerun = runner.run_month(month_dir, **arguments)
        second = snapshot(month_out)
        (month_dir / "2014-03-001.yaml").write_text(
            (month_dir / "2014-03-001.yaml").read_text().replace("verdict: significant reduction", "fail: true"))
        failing = runner.run_month(month_dir, **arguments)
        third = snapshot(month_out)
    return SimpleNamespace(root=root, month_out=month_out, cli=cli, cli_seconds=cli_seconds, first=first,
                           first_json=first_json, first_log=first_log, rerun=rerun, second=second,
                           failing=failing, third=third)


@pytest.mark.slow
def test_jdl_run_prints_a_line_per_request_and_exits_1_when_one_failed(month):
    assert month.cli.exit_code == 1, month.cli.output
    lines = month.cli.stdout.splitlines()
    for request_id, words in [("2014-03-001", "published  significant reduction"),
                              ("2014-03-002", "failed  PapermillExecutionError: ValueError"),
                              ("2014-03-003", "withdrawn"),
                              ("2014-03-004", "not processed  ")]:
        [line] = [line for line in lines if line.startswith(request_id)]
        assert line.startswith(f"{request_id}  {words}")
        assert line.count("not processed") <= 1        # a request not processed says so once
    assert "outputs/2014-03/2014-03-001/report.ipynb" in month.cli.stdout
    assert "1 published, 1 failed, 1 withdrawn, 1 not processed; outputs in" in month.cli.stdout
    assert SECRET not in month.cli.output


@pytest.mark.slow
def test_good_requests_have_their_report_and_scraps(month):
    root = month.root
    one, four = month.first["2014-03-001"], month.first["2014-03-004"]
    assert one.files == ["report.ipynb"] and four.files == ["report.ipynb"]  # no temporary file left
    n_submitted = len("Organisation 2014-03-001") * 7 + len("Family Man")
    assert one.scraps == {
        "request_id": "2014-03-001", "organisation": "Organisation 2014-03-001", "programme": "Family Man",
        "programme_type": "other", "date_received": "2014-01-15", "status": PUBLISHED,
        "verdict": "significant reduction", "n_submitted": n_submitted, "n_treated": 0, "n_comparison": 0,
        "attrition": {"submitted": n_submitted}, "published_counts": {},
        "upload_path": str(root / "data" / "uploads" / "2014-03-001.csv"),
        # relative paths are made absolute; the kernel runs in the project root
        "national_dir": str(root / "data" / "national"), "cwd": str(root)}
    assert (four.scraps["status"], four.scraps["verdict"]) == (NOT_PROCESSED, NOT_PROCESSED)
    # papermill records the final name, not the temporary file it wrote
    assert one.metadata["output_path"] == str(month.month_out / "2014-03-001" / "report.ipynb")


@pytest.mark.slow
def test_failed_request_is_recorded_without_personal_data(month):
    [record] = [r for r in month.first_json["outcomes"] if r["id"] == "2014-03-002"]
    assert record == {"id": "2014-03-002", "status": FAILED, "verdict": None,
                      "error": f"PapermillExecutionError: ValueError raised in cell {FAIL_CELL} (In [3])",
                      "seconds": record["seconds"], "notebook": "2014-03/2014-03-002/report.failed.ipynb",
                      "html": None, "pdf": None}
    assert SECRET not in json.dumps(month.first_json) and SECRET not in month.first_log
    # the partly executed notebook is kept for reviewers, never as report.ipynb: owner-only, and
    # scrubbed: the error keeps its class name, its message and traceback (which quote the
    # "upload value") are gone
    assert month.first["2014-03-002"].files == ["report.failed.ipynb"]
    failed_path = month.month_out / "2014-03-002" / "report.failed.ipynb"
    assert stat.S_IMODE(failed_path.stat().st_mode) == 0o600
    kept = nbformat.read(str(failed_path), as_version=4)
    [error] = [o for cell in kept.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert (error.ename, error.evalue, error.traceback) == ("ValueError", runner.SCRUBBED, [runner.SCRUBBED])
    assert SECRET not in json.dumps([cell.get("outputs", []) for cell in kept.cells])
    assert [c.metadata.papermill.exception for c in kept.cells if c.cell_type == "code"].count(True) == 1
    assert kept.metadata.papermill.output_path == str(failed_path)


@pytest.mark.slow
def test_withdrawn_request_is_listed_not_executed(month):
    assert "2014-03-003" not in month.first
    [record] = [r for r in month.first_json["outcomes"] if r["id"] == "2014-03-003"]
    assert record == {"id": "2014-03-003", "status": WITHDRAWN, "verdict": None, "error": None, "seconds": 0.0,
                      "notebook": None, "html": None, "pdf": None}


@pytest.mark.slow
def test_run_json_and_log_list_every_outcome(month):
    data = month.first_json
    assert data["month"] == "2014-03"
    assert data["counts"] == {PUBLISHED: 1, FAILED: 1, WITHDRAWN: 1, NOT_PROCESSED: 1}
    assert data["failed"] == ["2014-03-002"]
    assert [(r["id"], r["status"], r["verdict"], r["notebook"]) for r in data["outcomes"]] == [
        ("2014-03-001", PUBLISHED, "significant reduction", "2014-03/2014-03-001/report.ipynb"),
        ("2014-03-002", FAILED, None, "2014-03/2014-03-002/report.failed.ipynb"),
        ("2014-03-003", WITHDRAWN, None, None),
        ("2014-03-004", NOT_PROCESSED, NOT_PROCESSED, "2014-03/2014-03-004/report.ipynb"),
    ]
    assert all(0 < r["seconds"] < month.cli_seconds for r in data["outcomes"] if r["status"] != WITHDRAWN)
    log = [line.split("\t") for line in month.first_log.splitlines()]
    assert [fields[:2] for fields in log] == [["2014-03-001", PUBLISHED], ["2014-03-002", FAILED],
                                              ["2014-03-003", WITHDRAWN], ["2014-03-004", NOT_PROCESSED]]
    assert log[1][3].startswith("PapermillExecutionError: ValueError") and len(log[0]) == 3


@pytest.mark.slow
def test_rerun_gives_the_same_scraps_and_parameters(month):
    assert [(o.id, o.status, o.verdict) for o in month.rerun.outcomes] == [
        (r["id"], r["status"], r["verdict"]) for r in month.first_json["outcomes"]]
    for request_id in ("2014-03-001", "2014-03-004"):
        first, second = month.first[request_id], month.second[request_id]
        assert second.scraps == first.scraps
        assert second.injected == first.injected  # nothing time-dependent injected
        assert second.metadata["parameters"] == first.metadata["parameters"]
    # the rerun's run.json reads back as the MonthRun it returned
    read = runner.read_run(month.month_out / "run.json")
    assert read.month == "2014-03" and read.outputs_dir == month.root / "outputs"


@pytest.mark.slow
def test_a_failing_rerun_leaves_the_earlier_good_report_untouched(month):
    [outcome] = [o for o in month.failing.outcomes if o.id == "2014-03-001"]
    assert outcome.failed and outcome.error.startswith("PapermillExecutionError: ValueError")
    assert outcome.notebook == month.month_out / "2014-03-001" / "report.failed.ipynb"
    assert month.third["2014-03-001"].bytes == month.second["2014-03-001"].bytes
    assert month.third["2014-03-001"].files == ["report.failed.ipynb", "report.ipynb"]
    assert [o.id for o in month.failing.failed] == ["2014-03-001", "2014-03-002"]
    assert [o.status for o in month.failing.outcomes][2:] == [WITHDRAWN, NOT_PROCESSED]


@pytest.mark.slow
def test_time_limit_fails_a_slow_request_and_the_others_carry_on(tmp_path):
    month_dir = write_month(tmp_path, "2014-04", {
        "good": {},
        "long-cell": {"options": {"sleep": 120}},            # one cell past the limit
        "many-cells": {"options": {"sleep_each": 5}},        # 3 cells of 5 s: each within, all past 12 s
    })
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=pool,
                               timeout=12, publish=False, progress=False)
    elapsed = time.monotonic() - started
    outcomes = {o.id: o for o in run.outcomes}
    assert outcomes["good"].status == PUBLISHED
    assert outcomes["long-cell"].error == f"CellTimeoutError: still running in cell {FAIL_CELL} at the 12 s time limit"
    assert outcomes["many-cells"].error == (
        f"CellTimeoutError: still running in cell {LAST_SLEEP_CELL} at the 12 s time limit")
    for request_id in ("long-cell", "many-cells"):
        assert outcomes[request_id].status == FAILED
        assert 12 <= outcomes[request_id].seconds < 40
        assert (run.month_dir / request_id / "report.failed.ipynb").exists()
        assert not (run.month_dir / request_id / "report.ipynb").exists()
    assert elapsed < 60


@pytest.mark.slow
def test_kernel_start_failure_is_retried_once(tmp_path, monkeypatch):
    month_dir = write_month(tmp_path, "2014-05", {
        "start-fails-once": {},
        "start-always-fails": {},
        "start-times-out": {},
        "dies-after-start": {},
        "cell-error": {"options": {"fail": True}},
    })
    real_execute = papermill.execute_notebook
    calls = Counter()

    def execute_notebook(input_path, output_path, parameters, **kwargs):
        request_id = parameters["request_id"]
        calls[request_id] += 1
        if request_id == "start-always-fails" or (request_id == "start-fails-once" and calls[request_id] == 1):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if request_id == "start-times-out":
            raise TimeoutError("Kernel didn't respond in 60 seconds")
        if request_id == "dies-after-start":
            kwargs["on_notebook_start"](notebook=None)
            raise DeadKernelError("Kernel died")
        return real_execute(input_path, output_path, parameters=parameters, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    with ThreadPoolExecutor(2) as pool:
        run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=pool,
                               timeout=60, publish=False, progress=False)
    outcomes = {o.id: o for o in run.outcomes}
    assert calls == {"start-fails-once": 2, "start-always-fails": 2, "start-times-out": 2, "dies-after-start": 1,
                     "cell-error": 1}
    assert outcomes["start-fails-once"].status == PUBLISHED
    assert scraps(outcomes["start-fails-once"].notebook)["request_id"] == "start-fails-once"
    assert outcomes["start-always-fails"].error == "RuntimeError: the kernel did not start (2 attempts, 60 s each)"
    assert outcomes["start-times-out"].error == "TimeoutError: the kernel did not start (2 attempts, 60 s each)"
    assert outcomes["dies-after-start"].error == "DeadKernelError: the kernel died"
    assert outcomes["cell-error"].error.startswith("PapermillExecutionError: ValueError")
    # nothing written where the kernel never ran a cell, and no temporary file left anywhere
    assert list((run.month_dir / "start-always-fails").iterdir()) == []
    assert sorted(p.name for p in (run.month_dir / "start-fails-once").iterdir()) == ["report.ipynb"]
    assert [p for p in run.month_dir.rglob(".*")] == []


@pytest.mark.slow
def test_published_paths_are_recorded(tmp_path, monkeypatch):
    month_dir = write_month(tmp_path, "2014-06", {"good": {}, "export-fails": {}})
    published = []

    def publish(notebook_path, out_dir):
        # published in a staging folder of the request's folder, before report.ipynb is in place
        assert Path(out_dir) == Path(notebook_path).parent and Path(out_dir).name.startswith(runner.STAGE_PREFIX)
        assert not (Path(out_dir).parent / "report.ipynb").exists()
        if Path(out_dir).parent.name == "export-fails":
            raise OSError(SECRET)
        html, pdf = Path(out_dir) / "report.html", Path(out_dir) / "report.pdf"
        html.write_text("<html></html>")
        pdf.write_bytes(b"%PDF-1.7")
        published.append(Path(notebook_path))
        return html, pdf

    monkeypatch.setattr("jdl.report.publish.publish", publish)
    with ThreadPoolExecutor(2) as pool:
        run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=pool,
                               timeout=60, publish=True, progress=False)
    good, failed = (next(o for o in run.outcomes if o.id == name) for name in ("good", "export-fails"))
    [staged] = published
    assert staged.name == "report.ipynb" and staged.parent.parent == run.month_dir / "good"
    assert sorted(p.name for p in (run.month_dir / "good").iterdir()) == ["report.html", "report.ipynb", "report.pdf"]
    assert [p for p in run.month_dir.rglob(".*")] == []  # no staging folder left
    assert (good.status, good.html, good.pdf) == (PUBLISHED, run.month_dir / "good" / "report.html",
                                                  run.month_dir / "good" / "report.pdf")
    assert (failed.status, failed.verdict, failed.error) == (FAILED, "inconclusive", "publishing failed: OSError")
    assert failed.notebook == run.month_dir / "export-fails" / "report.ipynb"  # the executed report is kept
    records = {r["id"]: r for r in json.loads((run.month_dir / "run.json").read_text())["outcomes"]}
    assert (records["good"]["html"], records["good"]["pdf"]) == ("2014-06/good/report.html", "2014-06/good/report.pdf")
    assert records["export-fails"]["html"] is None


@pytest.mark.slow
def test_a_dask_client_is_used_as_the_executor(tmp_path):
    distributed = pytest.importorskip("distributed")
    month_dir = write_month(tmp_path, "2014-07", {"first": {}, "second": {"options": {"verdict": "significant increase"}}})
    quiet_month = write_month(tmp_path / "quiet", "2014-08", {"later": {"status": IN_PROGRESS.value}})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=client,
                               timeout=60, publish=False, progress=False)
        assert client.status == "running"  # the caller's client is not shut down
        result = CliRunner().invoke(main, ["run", str(quiet_month), "--outputs", str(tmp_path / "outputs"),
                                           "--notebook", str(TEMPLATE), "--dask-scheduler", cluster.scheduler_address])
    assert [(o.id, o.status, o.verdict) for o in run.outcomes] == [
        ("first", PUBLISHED, "inconclusive"), ("second", PUBLISHED, "significant increase")]
    assert scraps(run.month_dir / "second" / "report.ipynb")["request_id"] == "second"
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("later  in progress\n")


def test_params_error_exits_2_without_running_anything(tmp_path):
    month_dir = write_month(tmp_path, "2014-09", {"good": {}, "typo": {"optoins": {"method": "radius"}}})
    result = CliRunner().invoke(main, ["run", str(month_dir), "--outputs", str(tmp_path / "outputs"),
                                       "--notebook", str(TEMPLATE)])
    assert result.exit_code == 2
    assert "typo.yaml: unknown field(s) optoins" in result.output
    assert not (tmp_path / "outputs").exists()
    missing = CliRunner().invoke(main, ["run", str(tmp_path / "params" / "nope"), "--notebook", str(TEMPLATE)])
    assert missing.exit_code == 2 and "no such params folder" in missing.output


def test_missing_template_or_dask_is_a_clear_error(tmp_path, monkeypatch):
    month_dir = write_month(tmp_path, "2014-10", {"good": {}})
    with pytest.raises(FileNotFoundError, match="no such report template"):
        runner.run_month(month_dir, tmp_path / "outputs", tmp_path / "absent.ipynb", progress=False)
    assert not (tmp_path / "outputs").exists()
    result = CliRunner().invoke(main, ["run", str(month_dir), "--notebook", str(tmp_path / "absent.ipynb")])
    assert result.exit_code == 2 and "no such report template" in result.output
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    result = CliRunner().invoke(main, ["run", str(month_dir), "--notebook", str(TEMPLATE),
                                       "--dask-scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2 and "needs dask.distributed" in result.output


def test_error_descriptions_hold_no_personal_data():
    cell_error = PapermillExecutionError(cell_index=5, exec_count=4, source="x", ename="ValueError",
                                         evalue=SECRET, traceback=[SECRET])
    assert runner.describe_error(cell_error) == "PapermillExecutionError: ValueError raised in cell 5 (In [4])"
    odd_name = PapermillExecutionError(5, None, "x", f"{SECRET} x", SECRET, [SECRET])
    assert runner.describe_error(odd_name) == "PapermillExecutionError: an exception raised in cell 5"
    assert runner.describe_error(CellTimeoutError(SECRET), 7, 600) == (
        "CellTimeoutError: still running in cell 7 at the 600 s time limit")
    assert runner.describe_error(KeyError(SECRET)) == "KeyError"
    assert runner.describe_error(OSError(SECRET), 2) == "OSError in cell 2"
    # a system error: its errno's name and the system's text, never the file name or message
    full = OSError(errno.ENOSPC, SECRET, f"/outputs/{SECRET}.ipynb")
    assert runner.describe_error(full) == "OSError (ENOSPC: No space left on device)"
    denied = PermissionError(errno.EACCES, SECRET, SECRET)
    assert runner.describe_error(denied, 4) == "PermissionError (EACCES: Permission denied) in cell 4"
    assert runner.describe_error(runner.IncompleteNotebookError(SECRET)) == (
        "IncompleteNotebookError: the executed notebook is not a complete, valid notebook")


def test_scrub_notebook_keeps_only_the_exception_class():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    notebook = new_notebook(cells=[
        new_markdown_cell(f"Report for {SECRET}? (markdown is the template's own text)"),
        new_code_cell("x", outputs=[
            new_output("stream", name="stdout", text="matched 120 people\n"),
            new_output("stream", name="stderr", text=f"UserWarning: {SECRET} has no date of birth\n"),
            new_output("error", ename="KeyError", evalue=repr(SECRET), traceback=[f"KeyError: {SECRET}"]),
        ]),
        new_code_cell("y", outputs=[new_output("error", ename=f"{SECRET} thing", evalue="", traceback=[])]),
        new_code_cell("z", outputs=[new_output("error", ename="pandas.errors.ParserError", evalue=SECRET,
                                               traceback=[SECRET])]),
    ])
    runner.scrub_notebook(notebook)
    first, second, third = (cell.outputs for cell in notebook.cells[1:])
    assert [o.output_type for o in first] == ["stream", "error"] and first[0].text == "matched 120 people\n"
    assert (first[1].ename, first[1].evalue, first[1].traceback) == ("KeyError", runner.SCRUBBED, [runner.SCRUBBED])
    assert second[0].ename == "Exception" and third[0].ename == "pandas.errors.ParserError"
    assert SECRET not in json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    nbformat.validate(notebook)


def test_month_run_to_json_and_back(tmp_path):
    outputs = tmp_path / "outputs"
    run = runner.MonthRun("2014-11", [
        runner.RequestOutcome("a", PUBLISHED, "inconclusive", None, 12.34, outputs / "2014-11/a/report.ipynb",
                              outputs / "2014-11/a/report.html", outputs / "2014-11/a/report.pdf"),
        runner.RequestOutcome("b", FAILED, None, "KeyError", 1.0, None),
        runner.RequestOutcome("c", IN_PROGRESS),
        runner.RequestOutcome("d", runner.INTERRUPTED),
    ], outputs, stopped_by="SIGTERM")
    assert [o.id for o in run.failed] == ["b"] and [o.id for o in run.interrupted] == ["d"]
    data = json.loads(run.to_json())
    assert data["counts"] == {PUBLISHED: 1, FAILED: 1, IN_PROGRESS: 1, runner.INTERRUPTED: 1}
    assert (data["failed"], data["interrupted"], data["stopped_by"]) == (["b"], ["d"], "SIGTERM")
    assert data["outcomes"][0] == {"id": "a", "status": PUBLISHED, "verdict": "inconclusive", "error": None,
                                   "seconds": 12.3, "notebook": "2014-11/a/report.ipynb",
                                   "html": "2014-11/a/report.html", "pdf": "2014-11/a/report.pdf"}
    json_path, log_path = runner.write_run(run)
    assert json_path == outputs / "2014-11" / "run.json"
    assert log_path.read_text() == ("a\tpublished\t12.3 s\nb\tfailed\t1.0 s\tKeyError\nc\tin progress\t0.0 s\n"
                                    "d\tinterrupted\t0.0 s\n")
    assert runner.outcome_line(run.outcomes[3], run) == "d  interrupted"
    read = runner.read_run(json_path)
    assert read.outcomes[0].html == outputs / "2014-11/a/report.html" and read.stopped_by == "SIGTERM"
    assert [(o.id, o.status, o.error) for o in read.outcomes] == [(o.id, o.status, o.error) for o in run.outcomes]


def _thread_settings():
    return {name: os.environ.get(name) for name in runner.THREAD_VARIABLES}


def _worker_umask():
    return runner.current_umask()


def test_pool_workers_share_the_cores_between_their_kernels(monkeypatch):
    # kernels inherit their worker's environment (jupyter_client copies os.environ), so a worker's
    # settings are its kernels' settings
    for name in runner.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    expected = str(max(1, (os.cpu_count() or 1) // 2))
    previous = os.umask(0o077)  # workers take the run's umask (not the forkserver's, started earlier)
    try:
        with runner._process_pool(2) as pool:
            assert pool.submit(_thread_settings).result() == dict.fromkeys(runner.THREAD_VARIABLES, expected)
            assert pool.submit(_worker_umask).result() == 0o077
    finally:
        os.umask(previous)
    for name in runner.THREAD_VARIABLES:
        monkeypatch.setenv(name, "3")
    runner._share_cores(1)                      # a number the caller chose is kept
    assert _thread_settings() == dict.fromkeys(runner.THREAD_VARIABLES, "3")


def test_kernels_talk_over_owner_only_unix_sockets_not_tcp(tmp_path, capfd):
    source = ("import json, os, stat\n"
              "from ipykernel import get_connection_file\n"
              "info = json.load(open(get_connection_file()))\n"
              "folder = os.path.dirname(info['ip'])\n"
              "print(json.dumps({'transport': info['transport'], 'folder': folder,\n"
              "                  'mode': stat.S_IMODE(os.stat(folder).st_mode)}))")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbformat.write(notebook, tmp_path / "in.ipynb")
    executed = papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                                          kernel_name=runner.KERNEL_NAME, progress_bar=False,
                                          kernel_manager_class=runner.PrivateKernelManager)
    seen = json.loads(executed.cells[0].outputs[0]["text"])
    assert seen["transport"] == "ipc" and seen["mode"] == 0o700
    assert Path(seen["folder"]).name.startswith("jdl-kernel-")
    assert not Path(seen["folder"]).exists()           # gone with the kernel
    assert runner._in_flight == set()
    assert "TCP without encryption" not in capfd.readouterr().err


def test_a_pool_worker_prints_all_its_reports_in_one_browser(tmp_path, monkeypatch):
    """In a local pool worker (one holding the run's lifeline) every report is printed in the one
    browser the worker keeps open (closed when the worker ends); elsewhere each PDF gets its own."""
    import jdl.report.publish as publishing

    started = []
    init = publishing.PrintingBrowser.__init__

    def counted(self, *args, **kwargs):
        started.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(publishing.PrintingBrowser, "__init__", counted)
    monkeypatch.setattr(runner, "_lifeline", SimpleNamespace(poll=lambda timeout=None: False))
    month_dir = write_month(tmp_path, "2014-06", {"a": {}, "b": {}, "c": {}})
    try:
        with ThreadPoolExecutor(1) as pool:
            run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=pool,
                                   timeout=60, publish=True, progress=False)
        assert [o.status for o in run.outcomes] == [PUBLISHED] * 3
        assert all(o.pdf.read_bytes().startswith(b"%PDF") for o in run.outcomes)
        assert len(started) == 1 and publishing._kept_browser is started[0]
    finally:
        publishing.close_kept_browser()
    assert publishing._kept_browser is None
    monkeypatch.setattr(runner, "_lifeline", None)       # not a pool worker: a browser a PDF
    with ThreadPoolExecutor(1) as pool:
        runner.run_month(month_dir, tmp_path / "again", TEMPLATE, tmp_path / "national", executor=pool,
                         timeout=60, publish=True, progress=False)
    assert len(started) == 4 and publishing._kept_browser is None


KILL_DESCENDANTS = r"""
import os, subprocess, sys, time
from jdl.run import runner
# a child that starts a grandchild in a process group of its own and one in its own group, as
# Playwright's driver starts Chromium
child = subprocess.Popen([sys.executable, "-c", '''
import subprocess, sys, time
a = subprocess.Popen(["sleep", "60"], start_new_session=True)
b = subprocess.Popen(["sleep", "60"])
print(a.pid, b.pid, flush=True)
time.sleep(60)
'''], stdout=subprocess.PIPE, text=True)
grandchildren = [int(pid) for pid in child.stdout.readline().split()]
runner._kill_children()
child.wait(timeout=10)
time.sleep(0.5)
alive = []
for pid in grandchildren:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().split(") ")[1][0] != "Z":
                alive.append(pid)
    except FileNotFoundError:
        pass
print("alive", alive)
"""


def test_a_stopping_worker_kills_its_children_and_theirs():
    """_kill_children (a worker stopping at once) kills every descendant: a kernel's, or the
    browser Playwright's driver started, not only its own children."""
    result = subprocess.run([sys.executable, "-c", KILL_DESCENDANTS], check=True, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "alive []"
