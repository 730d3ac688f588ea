"""Tests of the month runner's safety (jdl.run.runner, ``jdl run``): what happens when ``jdl run`` is
killed (SIGKILL), stopped (SIGTERM, Ctrl-C) or started twice on a month, when files cannot be
written (an injected ENOSPC or EACCES, and a real full tmpfs when the tests run as root), and the
modes of what it writes under different umasks.

The process tests start a real ``jdl run`` (``python -m jdl.cli run``) on a month of a temporary
project whose report template writes a marker file and then sleeps; they send the signal once
every worker is inside a cell, then poll, with generous deadlines, until every process the run
started (its workers, their Jupyter kernels) is gone."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import papermill.iorw
import psutil
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from jdl.run import runner
from jdl.cli import main
from jdl.run.requests import FAILED, PUBLISHED
from fs_helpers import mode, umask
from test_runner import FAIL_CELL, SECRET, TEMPLATE, allow_test_options, write_month

# Generous deadlines (seconds): for a run to reach its cells, and for its processes to end.
START_DEADLINE = 120
END_DEADLINE = 20
PROJECT_ROOT = Path(__file__).resolve().parent.parent
NO_SPACE = "OSError (ENOSPC: No space left on device)"


@pytest.fixture(autouse=True)
def test_options(monkeypatch):
    allow_test_options(monkeypatch)


def hidden_files(folder: Path) -> list[str]:
    """Names (relative to ``folder``) of the dot files under it: temporary files and the lock."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob(".*"))


PARAMETERS = ('request_id = ""\norganisation = ""\nprogramme = ""\nprogramme_type = "other"\n'
              'date_received = ""\nupload_path = ""\nuploads_dir = ""\nsetting = ""\nnational_dir = ""\noptions = {}')
GLUE = ('from jdl.contract import ReportScraps\n'
        'ReportScraps(request_id=request_id, organisation=organisation, programme=programme, '
        'programme_type=programme_type, date_received=date_received, status="published", verdict="inconclusive", '
        'n_submitted=60, n_treated=60, n_comparison=600, attrition={"analysed": 60}, published_counts={}).glue()')


def write_template(path: Path, *cells: str) -> Path:
    """A report template: the parameters cell, ``cells``, then the glue cell."""
    notebook = new_notebook(cells=[new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                                   *(new_code_cell(source) for source in cells), new_code_cell(GLUE)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))
    return path


# The kernel runs in the project root: it says it has reached its cell (markers/<id>, holding its
# pid), then sleeps while sleep.flag exists.
SLEEPY_CELL = """import os, pathlib, time
pathlib.Path("markers").mkdir(exist_ok=True)
pathlib.Path("markers", request_id).write_text(str(os.getpid()))
deadline = time.monotonic() + 300
while pathlib.Path("sleep.flag").exists() and time.monotonic() < deadline:
    time.sleep(0.2)"""


@pytest.fixture
def sleepy_project(tmp_path):
    """A project of three plain requests (no test options: the run is another process) whose
    template sleeps while sleep.flag exists."""
    write_month(tmp_path, "2014-03", {f"2014-03-00{i}": {} for i in (1, 2, 3)})
    write_template(tmp_path / "sleepy.ipynb", SLEEPY_CELL)
    (tmp_path / "sleep.flag").write_text("")
    return tmp_path


def _as_at_a_terminal() -> None:
    """In the run's process, before it starts: Ctrl-C's signal (SIGINT) with its default action.
    A process started in the background by a shell without job control (``make test &``, nohup,
    some CI runners) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    the run would rightly go on, as it does for any job that was told to ignore Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(project: Path, *options: str) -> subprocess.Popen:
    """``jdl run params/2014-03`` in ``project``, two workers, in a session of its own (so that a
    signal can go to its whole process group, as a terminal's Ctrl-C does), with SIGINT's default
    action whatever the tests inherited (:func:`_as_at_a_terminal`)."""
    command = [sys.executable, "-m", "jdl.cli", "run", "params/2014-03", "--outputs", "outputs", "--national",
               "data/national", "--notebook", "sleepy.ipynb", "--workers", "2", *options]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(project / "run.stdout", "wb") as out, open(project / "run.stderr", "wb") as err:
        return subprocess.Popen(command, cwd=project, stdout=out, stderr=err, env=env, start_new_session=True,
                                preexec_fn=_as_at_a_terminal)


def wait_for_cells(process: subprocess.Popen, project: Path, count: int) -> list[psutil.Process]:
    """Wait until ``count`` kernels are inside their sleeping cell; return every process the run
    started (workers, kernels, the forkserver and resource tracker), at least ``count`` kernels."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        assert process.poll() is None, (project / "run.stderr").read_text()
        markers = list((project / "markers").glob("*")) if (project / "markers").is_dir() else []
        if len(markers) >= count:
            started = psutil.Process(process.pid).children(recursive=True)
            kernels = [p for p in started if "ipykernel_launcher" in " ".join(p.cmdline())]
            assert len(kernels) >= count
            return started
        time.sleep(0.2)
    pytest.fail(f"the run did not reach its cells in {START_DEADLINE} s: {(project / 'run.stderr').read_text()}")


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def in_project(project: Path) -> list[psutil.Process]:
    """Live processes working in the project (the run's workers and kernels all do)."""
    found = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cwd, cmdline = process.info["cwd"] or "", " ".join(process.info["cmdline"] or [])
            if process.pid != os.getpid() and (cwd == str(project) or str(project) in cmdline) and alive(process):
                found.append(process)
    return found


def wait_until_gone(processes: list[psutil.Process], project: Path) -> float:
    """Seconds until none of ``processes`` and no process working in ``project`` is alive (fails
    after END_DEADLINE)."""
    started = time.monotonic()
    while time.monotonic() - started < END_DEADLINE:
        if not [p for p in processes if alive(p)] and not in_project(project):
            return time.monotonic() - started
        time.sleep(0.1)
    left = [" ".join(p.cmdline())[:120] for p in processes if alive(p)] + [str(p) for p in in_project(project)]
    pytest.fail(f"still running {END_DEADLINE} s after the run ended: {left}")


def request_files(project: Path) -> dict[str, list[str]]:
    month_out = project / "outputs" / "2014-03"
    return {folder.name: sorted(p.name for p in folder.iterdir())
            for folder in sorted(month_out.iterdir()) if folder.is_dir()}


@pytest.fixture
def cleanup():
    """Kills whatever a failing test leaves running: the runs it started (subprocess.Popen) and the
    processes they started (psutil.Process, as seen while the run was alive)."""
    started: list = []
    yield started
    for process in started:
        if isinstance(process, psutil.Process):
            with contextlib.suppress(psutil.Error):
                if process.is_running():
                    process.kill()
            continue
        with contextlib.suppress(psutil.Error, OSError):
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        with contextlib.suppress(Exception):
            process.wait(timeout=10)


# ---------------------------------------------------------------- process lifecycle


@pytest.mark.slow
def test_kill_9_ends_workers_and_kernels_and_nothing_more_is_published(sleepy_project, cleanup, capsys):
    project = sleepy_project
    process = start_run(project)
    cleanup.append(process)
    started = wait_for_cells(process, project, 2)
    cleanup.extend(started)
    process.kill()
    process.wait()
    seconds = wait_until_gone(started, project)
    with capsys.disabled():
        print(f"\n[kill -9] {len(started)} processes of the run gone {seconds:.2f} s after the kill")
    # the kernels were stopped in their cell: nothing was published, before or after
    (project / "sleep.flag").unlink()
    time.sleep(2)  # a kernel still alive would now leave its cell and its worker publish
    assert request_files(project) == {"2014-03-001": [], "2014-03-002": []}
    # no temporary file left; the dead run's lock file is left behind (its lock released)
    assert hidden_files(project / "outputs") == ["2014-03/.run.lock"]
    assert json.loads((project / "outputs" / "2014-03" / ".run.lock").read_text())["pid"] == process.pid

    # the next run finds the stale lock, says so, and runs the month
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        result = CliRunner().invoke(main, ["run", "params/2014-03", "--outputs", "outputs", "--national",
                                           "data/national", "--notebook", "sleepy.ipynb", "--no-publish"])
    assert result.exit_code == 0, result.output
    assert re.search(r"note: \S+ had a stale lock: the jdl run that held it \(pid %d, started \d\d:\d\d:\d\d\) "
                     r"ended without finishing; this run took it over" % process.pid, result.stderr)
    assert "3 published" in result.stdout
    assert hidden_files(project / "outputs") == []


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_sigterm_or_ctrl_c_stops_the_run_and_records_what_was_not_run(sleepy_project, cleanup, signal_name, capsys):
    project = sleepy_project
    process = start_run(project)
    cleanup.append(process)
    started = wait_for_cells(process, project, 2)
    cleanup.extend(started)
    number = getattr(signal, signal_name)
    signalled = time.monotonic()
    if number == signal.SIGINT:
        os.killpg(process.pid, number)  # as Ctrl-C at a terminal: the whole process group
    else:
        os.kill(process.pid, number)
    assert process.wait(timeout=60) == 128 + number
    exited = time.monotonic() - signalled
    seconds = wait_until_gone(started, project)
    with capsys.disabled():
        print(f"\n[{signal_name}] the run exited {exited:.2f} s after the signal; its {len(started)} processes "
              f"were gone {seconds:.2f} s later")
    stderr = (project / "run.stderr").read_text()
    assert "Traceback" not in stderr
    assert (f"stopped by {signal_name}: 3 request(s) not finished, recorded as interrupted; "
            "nothing more will be published") in stderr
    stdout = (project / "run.stdout").read_text()
    assert "2014-03-001  interrupted\n" in stdout and "3 interrupted; outputs in" in stdout
    record = json.loads((project / "outputs" / "2014-03" / "run.json").read_text())
    assert (record["counts"], record["stopped_by"]) == ({runner.INTERRUPTED: 3}, signal_name)
    assert record["interrupted"] == ["2014-03-001", "2014-03-002", "2014-03-003"]
    (project / "sleep.flag").unlink()
    time.sleep(2)
    assert request_files(project) == {"2014-03-001": [], "2014-03-002": []}
    assert hidden_files(project / "outputs") == []  # no temporary file, the lock released and removed


@pytest.mark.slow
def test_a_second_run_of_the_same_month_is_refused(sleepy_project, cleanup):
    project = sleepy_project
    first = start_run(project, "--no-publish")
    cleanup.append(first)
    started = wait_for_cells(first, project, 2)
    cleanup.extend(started)
    before = request_files(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        second = CliRunner().invoke(main, ["run", "params/2014-03", "--outputs", "outputs", "--national",
                                           "data/national", "--notebook", "sleepy.ipynb", "--no-publish"])
    assert second.exit_code == 2
    assert re.fullmatch(r"outputs/2014-03 is being run by another jdl run \(pid %d, started \d\d:\d\d:\d\d\); "
                        r"wait for it to finish\n" % first.pid, second.stderr)
    assert second.stdout == ""
    assert request_files(project) == before and not (project / "outputs" / "2014-03" / "run.json").exists()
    # the first run is untouched by the refusal: it finishes normally
    (project / "sleep.flag").unlink()
    assert first.wait(timeout=START_DEADLINE) == 0, (project / "run.stderr").read_text()
    wait_until_gone(started, project)
    assert "3 published" in (project / "run.stdout").read_text()


def test_month_lock_refuses_a_second_holder_and_recognises_a_stale_lock(tmp_path):
    with runner.month_lock(tmp_path) as stale:
        assert stale is None
        held = json.loads((tmp_path / runner.LOCK_FILE).read_text())
        assert (held["pid"], held["host"]) == (os.getpid(), socket.gethostname())
        with pytest.raises(runner.MonthLockedError) as refused:
            with runner.month_lock(tmp_path):
                pass
        assert refused.value.holder.pid == os.getpid()
        assert re.fullmatch(r"\S+ is being run by another jdl run \(pid %d, started \d\d:\d\d:\d\d\); "
                            r"wait for it to finish" % os.getpid(), str(refused.value))
    assert not (tmp_path / runner.LOCK_FILE).exists()
    # a lock file whose holder died (nobody holds its lock): taken over, its holder reported
    (tmp_path / runner.LOCK_FILE).write_text(json.dumps({"pid": 4321, "host": "elsewhere",
                                                         "started": "2014-03-02T11:02:03+00:00"}))
    with runner.month_lock(tmp_path) as stale:
        assert stale.pid == 4321 and stale.describe() == "pid 4321 on elsewhere, started 2014-03-02 11:02:03"
        assert json.loads((tmp_path / runner.LOCK_FILE).read_text())["pid"] == os.getpid()
    with runner.month_lock(tmp_path) as stale:
        assert stale is None


# ---------------------------------------------------------------- write failures


@pytest.mark.slow
def test_write_failures_fail_their_request_with_a_clear_error_and_leave_no_partial_file(tmp_path, monkeypatch):
    month_dir = write_month(tmp_path, "2014-05", {
        "good": {},
        "full-at-start": {},                        # papermill's first write of the notebook
        "full-later": {},                           # a write after cells ran (jdl.run.engine: the last one)
        "no-permission": {},
        "full-at-sync": {},                         # the executed notebook refused when synced
        "failed-kept-fails": {"options": {"fail": True}},   # the failed notebook cannot be kept
    })
    month_out = tmp_path / "outputs" / "2014-05"
    # an earlier good report and an earlier failed notebook, which must not survive as this run's
    (month_out / "full-later").mkdir(parents=True)
    (month_out / "full-later" / "report.ipynb").write_text("earlier good report")
    (month_out / "failed-kept-fails").mkdir(parents=True)
    (month_out / "failed-kept-fails" / "report.failed.ipynb").write_text("earlier failure")

    writes = Counter()
    real_write = papermill.iorw.LocalHandler.write

    def half_then_full(path, text):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, buf, path):
        request_id = Path(path).parent.name
        writes[request_id] += 1
        if request_id == "full-at-start" or (request_id == "full-later" and '"status": "completed"' in buf):
            half_then_full(path, buf)
        if request_id == "no-permission":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_write(self, buf, path)

    real_nbformat_write = nbformat.write

    def nbformat_write(notebook, path, *args, **kwargs):
        if isinstance(path, str) and Path(path).name.startswith(".report.failed.ipynb."):
            half_then_full(path, nbformat.writes(notebook))
        return real_nbformat_write(notebook, path, *args, **kwargs)

    real_fsync = runner.fsync_file

    def fsync_file(path):
        if "full-at-sync" in Path(path).parts:  # the request's folder or its staging folder
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(path)

    monkeypatch.setattr(papermill.iorw.LocalHandler, "write", write)
    monkeypatch.setattr(nbformat, "write", nbformat_write)
    monkeypatch.setattr(runner, "fsync_file", fsync_file)
    with ThreadPoolExecutor(3) as pool:
        run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=pool,
                               timeout=60, publish=False, progress=False)
    errors = {o.id: o.error for o in run.outcomes}
    incomplete = "; report.failed.ipynb not kept: the partly executed notebook was incomplete"
    assert errors == {
        "failed-kept-fails": f"PapermillExecutionError: ValueError raised in cell {FAIL_CELL} (In [3]); "
                             f"report.failed.ipynb not kept: writing it failed: {NO_SPACE}",
        "full-at-start": f"writing the executed notebook failed: {NO_SPACE}{incomplete}",
        "full-at-sync": f"writing report.ipynb failed: {NO_SPACE}",
        "full-later": f"writing the executed notebook failed: {NO_SPACE}{incomplete}",
        "good": None,
        "no-permission": "writing the executed notebook failed: PermissionError (EACCES: Permission denied)",
    }
    assert writes["full-later"] >= 2
    assert [o.status for o in run.outcomes] == [FAILED] * 4 + [PUBLISHED, FAILED]
    assert all(o.notebook is None for o in run.outcomes if o.failed)
    # nothing truncated renamed into place, no temporary file left, earlier report untouched,
    # an earlier failed notebook (from another run) not left to pass for this run's
    assert request_files_of(month_out) == {"failed-kept-fails": [], "full-at-start": [], "full-at-sync": [],
                                           "full-later": ["report.ipynb"], "good": ["report.ipynb"],
                                           "no-permission": []}
    assert (month_out / "full-later" / "report.ipynb").read_text() == "earlier good report"
    assert hidden_files(month_out) == []
    recorded = {r["id"]: r["error"] for r in json.loads((month_out / "run.json").read_text())["outcomes"]}
    assert recorded == errors


def request_files_of(month_out: Path) -> dict[str, list[str]]:
    return {folder.name: sorted(p.name for p in folder.iterdir())
            for folder in sorted(month_out.iterdir()) if folder.is_dir()}


@pytest.mark.slow
def test_run_json_that_cannot_be_written_is_a_clear_message_not_a_traceback(tmp_path, monkeypatch):
    month_dir = write_month(tmp_path, "2014-06", {"good": {}})
    real_write = runner.write_text_atomically

    def write_text_atomically(path, text, **kwargs):
        if Path(path).name in ("run.json", "run.log"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, text, **kwargs)

    monkeypatch.setattr(runner, "write_text_atomically", write_text_atomically)
    result = CliRunner().invoke(main, ["run", str(month_dir), "--outputs", str(tmp_path / "outputs"),
                                       "--notebook", str(TEMPLATE), "--no-publish", "--workers", "1"])
    month_out = tmp_path / "outputs" / "2014-06"
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("good  published  inconclusive  ")
    assert result.stdout.endswith(f"1 published; outputs in {month_out}\n")
    assert result.stderr.endswith(f"could not write the run record (run.json, run.log) in {month_out}: "
                                  f"{NO_SPACE}; the outcomes above are not recorded\n")
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert sorted(p.name for p in month_out.iterdir()) == ["good"]  # no run.json, no lock, no temporary file
    # the library raises, carrying the run
    with pytest.raises(runner.RunRecordError) as raised, ThreadPoolExecutor(1) as pool:
        runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, executor=pool, publish=False, progress=False)
    assert raised.value.run.record_error == NO_SPACE and raised.value.run.outcomes[0].status == PUBLISHED


@pytest.mark.slow
def test_a_real_full_disk(tmp_path, tiny_tmpfs):
    write_month(tmp_path, "2014-07", {"big-1": {}, "big-2": {}})
    template = write_template(tmp_path / "big.ipynb", 'print("x" * 40_000)', 'print("y" * 40_000)')
    arguments = ["run", str(tmp_path / "params" / "2014-07"), "--outputs", str(tiny_tmpfs), "--notebook",
                 str(template), "--no-publish", "--workers", "1"]
    month_out = tiny_tmpfs / "2014-07"
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = {r["id"]: r["error"] for r in json.loads((month_out / "run.json").read_text())["outcomes"]}
    assert errors == dict.fromkeys(["big-1", "big-2"], f"writing the executed notebook failed: {NO_SPACE}; "
                                   "report.failed.ipynb not kept: the partly executed notebook was incomplete")
    assert request_files_of(month_out) == {"big-1": [], "big-2": []} and hidden_files(tiny_tmpfs) == []

    # the disk full before the run starts: run.json cannot be written either
    (month_out / "run.json").unlink()
    with contextlib.suppress(OSError), open(tiny_tmpfs / "filler", "wb", buffering=0) as filler:
        while True:
            filler.write(b"\0" * 4096)
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "big-1  failed  writing the executed notebook failed: OSError (ENOSPC" in result.stdout
    assert f"could not write the run record (run.json, run.log) in {month_out}: {NO_SPACE}" in result.stderr
    assert sorted(p.name for p in month_out.iterdir()) == ["big-1", "big-2", "run.log"]
    assert (month_out / "run.log").read_text().startswith("big-1\tfailed")  # the earlier run's


# ---------------------------------------------------------------- permissions


@pytest.mark.slow
@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_modes_follow_the_umask_and_personal_data_is_owner_only(tmp_path, monkeypatch, mask):
    month_dir = write_month(tmp_path, "2014-08", {"good": {}, "bad": {"options": {"fail": True}}})
    seen = {}
    real_execute, real_scraps = papermill.execute_notebook, runner._read_scraps

    def execute_notebook(input_path, output_path, **kwargs):
        seen[f"papermill's output {Path(output_path).parent.name}"] = mode(Path(output_path))
        return real_execute(input_path, output_path, **kwargs)

    def read_scraps(path):
        seen["executed, not yet validated"] = mode(Path(path))
        return real_scraps(path)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(runner, "_read_scraps", read_scraps)
    with umask(mask), ThreadPoolExecutor(2) as pool:
        run = runner.run_month(month_dir, tmp_path / "outputs", TEMPLATE, tmp_path / "national", executor=pool,
                               timeout=60, publish=False, progress=False)
    assert [o.status for o in run.outcomes] == [FAILED, PUBLISHED]
    # temporary files: owner-only whatever the umask
    assert seen == {"papermill's output good": 0o600, "papermill's output bad": 0o600,
                    "executed, not yet validated": 0o600}
    published, folder = 0o666 & ~mask, 0o777 & ~mask
    month_out = run.month_dir
    assert {name: mode(month_out / name) for name in ("good/report.ipynb", "run.json", "run.log")} == dict.fromkeys(
        ("good/report.ipynb", "run.json", "run.log"), published)
    assert mode(month_out / "bad" / "report.failed.ipynb") == 0o600  # may hold personal data
    assert (mode(month_out), mode(month_out / "good")) == (folder, folder)
    kept = nbformat.read(str(month_out / "bad" / "report.failed.ipynb"), as_version=4)
    assert SECRET not in json.dumps([cell.get("outputs", []) for cell in kept.cells])
