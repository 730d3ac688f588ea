"""The month runner: papermill executes the report template once per request of a month.

``run_month("params/2014-03")`` loads every params file of the month (:func:`jdl.run.requests.load_month`),
records withdrawn and in-progress requests without running them, and submits every other request
to a :class:`concurrent.futures.Executor` (by default a local process pool; a
``dask.distributed.Client`` works unchanged). Each submission runs :func:`execute_request`, which
writes ``outputs/<month>/<id>/report.ipynb`` (and, when publishing, ``report.html`` and
``report.pdf``). The run's outcomes go to ``outputs/<month>/run.json`` (read by the summary
bulletin) and ``outputs/<month>/run.log`` (one line per request), both written atomically.

Files. Papermill writes the executed notebook to a temporary file in the request's folder; only
when it ran to the end, parses as a valid notebook (nbformat) and its scraps are the report
contract (:meth:`jdl.contract.ReportScraps.read`: every scrap there and of its type, a known status
and verdict) is it published: moved into a private staging folder beside it
(``<id>/.publishing.*/``), where ``report.html`` and ``report.pdf`` are written, then all three
are synced to disk (``fsync``) and renamed into place (``os.replace``), ``report.ipynb`` last, so a
run stopped while publishing never leaves a new ``report.ipynb`` beside an older or missing HTML or
PDF. A failed run keeps its partly executed notebook as ``report.failed.ipynb`` for
reviewers, scrubbed first (:func:`scrub_notebook`: every error output keeps only its exception
class name, every stderr stream is dropped) and owner-only; a partly executed notebook that does
not parse (say, cut short by a full disk) is removed, never kept. A failed run leaves an earlier
good ``report.ipynb``, ``report.html`` and ``report.pdf`` untouched; a later success removes a
stale ``report.failed.ipynb``.

Permissions. The temporary notebook papermill writes, and the executed notebook until it is
validated, are owner-only (mode 0600, from :func:`tempfile.mkstemp`); ``report.failed.ipynb`` stays
0600. Published files (``report.ipynb``, ``run.json``, ``run.log``, and ``report.html`` and
``report.pdf`` through :func:`jdl.atomic.atomic_path`) get ``0o666`` masked by the umask of the
``jdl run`` process (the pool's workers take that umask too), never a fixed mode.

Write failures. A file that cannot be written (``ENOSPC``, ``EACCES``, ...) fails its request with
an error naming the step and the system error (``writing the executed notebook failed: OSError
(ENOSPC: No space left on device)``); its temporary file is removed and nothing truncated is ever
renamed into place. When ``run.json`` itself cannot be written, :func:`run_month` raises
:class:`RunRecordError` carrying the run (``jdl run`` prints the outcomes, says the record was not
written and exits 1).

Process lifecycle (the local process pool). Each worker holds the read end of a pipe whose write
end only the ``jdl run`` process holds (its "lifeline"): when that process ends, however it ends
(SIGKILL included), or stops the pool, the pipe reads end-of-file and a thread in each worker kills
its children (the Jupyter kernels, each in its own process group, and anything they started),
removes its temporary files and exits at once; a worker also checks the pipe just before it renames
or publishes anything. (ipykernel's own parent poller also ends a kernel within about a second of
its worker's death.) SIGTERM, SIGHUP and Ctrl-C (SIGINT) of the run stop the pool that way, cancel
the requests not yet started, record every request that did not finish as ``interrupted`` in
``run.json``, and raise :class:`RunInterrupted` (a KeyboardInterrupt) carrying the run; workers
ignore Ctrl-C themselves (the terminal sends it to them too) and leave the decision to the run.
With a caller's executor (a thread pool, a dask client) an interruption cancels the queued requests
only: requests already running there are not stopped by the runner.

One run per month. A run holds ``outputs/<month>/.run.lock`` (:func:`month_lock`: an exclusive
``fcntl.flock``, holding the pid, host and start time) from before the first request is submitted
until ``run.json`` is written; a second run of the same month raises :class:`MonthLockedError`
before running anything. The system releases the lock when its holder dies, so a lock file left by
a killed run is found stale, reported (:attr:`MonthRun.stale_lock`) and taken over. Holding the
lock, a run removes the temporary files a killed run or worker left behind (before it starts, and
when it ends with no worker left).

Time limits (``timeout`` seconds, default 600), exactly:

- kernel start: each attempt may take up to :data:`START_TIMEOUT` seconds (papermill's
  ``start_timeout``: the kernel must answer ``kernel_info`` in that time);
- cells: from the moment the kernel is ready, all the cells together get ``timeout`` seconds of
  wall-clock time. Each cell waits at most for what is left of that budget (nbclient's
  ``timeout_func``), so no single cell can run longer than ``timeout`` either (papermill's
  ``execution_timeout`` is also set to ``timeout``, which bounds the final ``kernel_info`` call).
  A cell that runs past the limit fails the request with ``CellTimeoutError``;
- not limited: publishing (HTML and PDF) and kernel shutdown.

Retry. A request is tried a second time, once, only when its kernel never became ready (nbclient's
``on_notebook_start`` hook did not fire) and the error is a ``RuntimeError`` or ``TimeoutError``
-- jupyter_client raises ``RuntimeError("Kernel died before replying to kernel_info")`` or
``RuntimeError("Kernel didn't respond in N seconds")`` from ``wait_for_ready``. An error in a cell,
a cell timeout or a kernel that dies after it started is never retried.

Kernel channels. Each kernel talks to its worker over Unix domain sockets (ZeroMQ ``ipc``
transport) in an owner-only (0700) temporary folder of its own (:class:`PrivateKernelManager`),
not over TCP on localhost, where any local user could subscribe to the kernel's output channel
(ZeroMQ's TCP carries it unencrypted and a subscriber needs no key). The folder goes with the kernel.

Errors. A failed request is recorded with an error text built only from the exception's type
(plus, for an error in a cell, the exception class name ``ename``, the cell index and the
execution count, and for a system error its errno name and the system's text for it), never from
exception messages or tracebacks, which may echo values from the upload. The one exception is an
error the lab itself raises with fixed wording (:mod:`jdl.run.errors`): when the class name is on
its allow-list and the message matches one of that class's templates in full, the lab's words
for it are added (``PapermillExecutionError: ValueError: method must be one of radius, nearest
(raised in cell 5, In [4])``), rebuilt from the template, never copied from the message.

Kernel and worker output. Nothing a kernel or a pool worker writes to its stdout or stderr reaches
the terminal of ``jdl run``: a cell's output is captured in the notebook (and scrubbed if it
fails), but a kernel's own log (its warnings, "KeyboardInterrupt caught in kernel", tracebacks
while it shuts down) and anything written straight to its file descriptors (by a C library or a
child process, and so possibly holding upload values) would otherwise land there. Each kernel's
stdout and stderr are ``/dev/null`` (:class:`PrivateKernelManager`, also used by the bulletin),
and so are each pool worker's (:func:`_init_worker`); papermill's log (say "Timeout waiting for
execute reply") is not printed either. What happened is in ``run.json`` and ``run.log``.

Reruns. The parameters papermill injects are exactly :meth:`jdl.run.requests.Request.parameters`
(with ``national_dir`` made absolute): papermill's built-in ``pm`` values (run uuid, current time)
are used only to format file paths, never injected, so a rerun injects the same cell and gives the
same numbers. Only papermill's timing metadata (start/end times, durations) differs between runs;
the ``output_path`` papermill records is set to the final ``report.ipynb``, not the temporary file.

Paths. ``month_dir``, ``outputs_dir``, ``notebook`` and ``national_dir`` may be relative to the
current directory; they are made absolute before anything is submitted (workers elsewhere, on a
dask cluster, must see the same file system at the same paths). The kernel runs with the project
``root`` as its working directory (default: the params folder's parent's parent, as in
:func:`jdl.run.requests.load_month`), set on the kernel process itself rather than by changing this
process's directory, so concurrent threads are safe.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import errno as errno_module
import json
import logging
import math
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client import AsyncKernelManager
from traitlets import default

from jdl.atomic import atomic_path, current_umask, file_mode, fsync_dir, fsync_file, write_text_atomically
from jdl.paths import REPORT_TEMPLATE, installed_notebook
from jdl.run.errors import safe_reason
from jdl.contract import NOT_RUN_STATUSES, ReportScraps, ScrapError, Status, Verdict
from jdl.run.requests import REPORT_NOTEBOOK, RUN_JSON, Request, load_month

DEFAULT_OUTPUTS = Path("outputs")
DEFAULT_NATIONAL = Path("data/national")
DEFAULT_TIMEOUT = 600
KERNEL_NAME = "python3"
# Seconds a kernel may take to start (answer kernel_info), per attempt.
START_TIMEOUT = 60
# Attempts when the kernel fails to start: the first and one retry.
START_ATTEMPTS = 2
FAILED_NOTEBOOK = "report.failed.ipynb"
RUN_LOG = "run.log"
# The lock a month's run holds in the month's outputs folder.
LOCK_FILE = ".run.lock"
# Kept for callers of these names (jdl.contract.Status): a request queued or running when the run
# was stopped (SIGTERM, Ctrl-C), and the statuses of requests listed but never executed.
INTERRUPTED = Status.INTERRUPTED
NOT_RUN = NOT_RUN_STATUSES
# What replaces an error's message and traceback in a kept failed notebook.
SCRUBBED = "(message removed: it may quote personal data)"
# The staging folder in which a validated report is published before it is moved into place.
STAGE_PREFIX = ".publishing."
# Signals that stop a run (SIGINT arrives as KeyboardInterrupt).
STOP_SIGNALS = ("SIGTERM", "SIGHUP")

# papermill logs to its own logger ("Timeout waiting for execute reply", ...); with no logging
# configured, Python would print its warnings on stderr. A handler that drops them keeps them off
# the terminal; a caller that configures logging still gets them through the root logger.
logging.getLogger("papermill").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class RequestOutcome:
    """What happened to one request in a month run.

    ``status`` (a :class:`jdl.contract.Status`): ``published`` or ``not processed`` (the report's
    ``status`` scrap), ``failed``, ``withdrawn`` / ``in progress`` (not executed), or ``interrupted``
    (queued or running when the run was stopped). ``verdict`` (a :class:`jdl.contract.Verdict`):
    the report's ``verdict`` scrap (None when not executed or when it failed before its scraps
    were read). Words given for either are turned into the enum member (ValueError for a word
    that is not one). ``error``: why it failed, free of personal data
    (None unless failed). ``seconds``: wall-clock time of execution and publishing. ``notebook``,
    ``html``, ``pdf``: absolute paths of the files written this run (``notebook`` is
    ``report.failed.ipynb`` for a failed execution, None when none could be kept), or None.
    """

    id: str
    status: Status
    verdict: Verdict | None = None
    error: str | None = None
    seconds: float = 0.0
    notebook: Path | None = None
    html: Path | None = None
    pdf: Path | None = None

    def __post_init__(self):
        if self.status not in tuple(Status):
            raise ValueError(f"an outcome's status must be one of {', '.join(Status)}")
        if self.verdict is not None and self.verdict not in tuple(Verdict):
            raise ValueError(f"an outcome's verdict must be one of {', '.join(Verdict)}, or None")
        object.__setattr__(self, "status", Status(self.status))
        if self.verdict is not None:
            object.__setattr__(self, "verdict", Verdict(self.verdict))

    @property
    def failed(self) -> bool:
        """True when the request failed."""
        return self.status == Status.FAILED


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a month's lock: process id, host name and start time (local time),
    each None when the lock file did not say."""

    pid: int | None = None
    host: str | None = None
    started: dt.datetime | None = None

    def describe(self) -> str:
        """``pid 1234, started 11:02:03`` (the host named when it is another machine; the date
        when it is not today)."""
        parts = [f"pid {self.pid if self.pid is not None else 'unknown'}"]
        if self.host and self.host != socket.gethostname():
            parts[0] += f" on {self.host}"
        if self.started is not None:
            started = self.started.astimezone() if self.started.tzinfo else self.started
            same_day = started.date() == dt.datetime.now(started.tzinfo).date()
            parts.append("started " + started.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S"))
        return ", ".join(parts)


@dataclass
class MonthRun:
    """The outcomes of one month's run, one per request, in id order. ``outputs_dir``: the
    (absolute) outputs folder; the month's files are in ``outputs_dir / month``. ``stopped_by``:
    the signal that stopped the run (``"SIGTERM"``, ``"SIGINT"``, ``"SIGHUP"``), None when it ran
    to the end. ``stale_lock``: the holder of a stale lock found and taken over (a run that was
    killed), else None. ``record_error``: why ``run.json`` could not be written, else None."""

    month: str
    outcomes: list[RequestOutcome] = field(default_factory=list)
    outputs_dir: Path = DEFAULT_OUTPUTS
    stopped_by: str | None = None
    stale_lock: LockHolder | None = None
    record_error: str | None = None

    @property
    def failed(self) -> list[RequestOutcome]:
        """The outcomes of the requests that failed."""
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def interrupted(self) -> list[RequestOutcome]:
        """The outcomes of the requests that did not finish because the run was stopped."""
        return [outcome for outcome in self.outcomes if outcome.status == Status.INTERRUPTED]

    @property
    def month_dir(self) -> Path:
        """The month's outputs folder, ``outputs_dir / month``."""
        return Path(self.outputs_dir) / self.month

    def counts(self) -> dict[Status, int]:
        """Requests per status, statuses in order of first appearance."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts

    def relative(self, path: Path | None) -> str | None:
        """``path`` relative to ``outputs_dir`` with "/" separators (None stays None)."""
        if path is None:
            return None
        return Path(os.path.relpath(Path(path), Path(self.outputs_dir))).as_posix()

    def to_dict(self) -> dict:
        """Plain JSON data: ``month``, ``counts`` per status, ids of the ``failed`` and of the
        ``interrupted`` requests, ``stopped_by`` (the signal that stopped the run, or None) and
        ``outcomes``, one per request in id order (paths relative to ``outputs_dir``, seconds to
        0.1)."""
        return {
            "month": self.month,
            "counts": {status.value: n for status, n in self.counts().items()},
            "failed": [outcome.id for outcome in self.failed],
            "interrupted": [outcome.id for outcome in self.interrupted],
            "stopped_by": self.stopped_by,
            "outcomes": [
                {"id": o.id, "status": o.status.value, "verdict": o.verdict and o.verdict.value, "error": o.error,
                 "seconds": round(o.seconds, 1), "notebook": self.relative(o.notebook),
                 "html": self.relative(o.html), "pdf": self.relative(o.pdf)}
                for o in self.outcomes
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text (what ``run.json`` holds)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def log_lines(self) -> list[str]:
        """One line per request: id, status, seconds and, when failed, the error."""
        lines = []
        for o in self.outcomes:
            line = f"{o.id}\t{o.status.value}\t{o.seconds:.1f} s"
            lines.append(line + (f"\t{o.error}" if o.error else ""))
        return lines


class IncompleteNotebookError(ValueError):
    """An executed notebook file that does not parse as a valid notebook (cut short, say)."""


class RunError(Exception):
    """A month run that cannot start or cannot record what it did (not the failure of one
    request, which is recorded in its outcome). The message is meant for the person running it."""


class OutputsError(RunError):
    """The month's outputs folder, or its lock file, cannot be created."""


class MonthLockedError(RunError):
    """Another run holds the month's lock. ``month_dir``: the month's outputs folder;
    ``holder``: who holds it."""

    def __init__(self, month_dir: Path, holder: LockHolder):
        super().__init__(f"{_shown(month_dir)} is being run by another jdl run ({holder.describe()}); "
                         "wait for it to finish")
        self.month_dir = month_dir
        self.holder = holder


class RunRecordError(RunError):
    """``run.json`` or ``run.log`` could not be written. ``run``: the :class:`MonthRun` (its
    ``record_error`` says why)."""

    def __init__(self, run: MonthRun):
        super().__init__(f"could not write the run record ({RUN_JSON}, {RUN_LOG}) in {_shown(run.month_dir)}: "
                         f"{run.record_error}; the outcomes of this run are not recorded")
        self.run = run


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal (SIGTERM, SIGHUP, Ctrl-C) after stopping its workers and writing
    ``run.json`` (unless that failed: ``run.record_error``). ``run``: the :class:`MonthRun`,
    unfinished requests ``interrupted``; ``signal_name``: the signal."""

    def __init__(self, run: MonthRun):
        super().__init__(run.stopped_by)
        self.run = run
        self.signal_name = run.stopped_by

    @property
    def exit_code(self) -> int:
        """128 plus the signal's number, as a shell reports a process ended by that signal."""
        number = getattr(signal, self.signal_name or "", None)
        return 128 + int(number) if number is not None else 1


class _KernelStartError(Exception):
    """Marks a kernel that did not start (internal: carries the original exception)."""

    def __init__(self, original: BaseException):
        super().__init__(type(original).__name__)
        self.original = original


class _Stop(BaseException):
    """Raised in the run's main thread by a stop signal's handler (internal)."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when inside it, else as it is."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _system_error(error: OSError) -> str | None:
    """``ENOSPC: No space left on device`` for an OSError with a known errno, else None. Only
    the errno's name and the system's fixed text for it: never the file name or message."""
    number = error.errno
    if not isinstance(number, int) or number not in errno_module.errorcode:
        return None
    return f"{errno_module.errorcode[number]}: {os.strerror(number)}"


def describe_error(error: BaseException, cell_index: int | None = None, timeout: float | None = None) -> str:
    """A one-line description of ``error`` that holds no personal data: the exception type, and
    for papermill's ``PapermillExecutionError`` the exception class raised in the notebook
    (``ename``), the cell index and the execution count; for an OSError with an errno, the errno's
    name and the system's text for it (``OSError (ENOSPC: No space left on device)``). Never
    ``str(error)``, ``evalue``, a file name or a traceback, with one exception: for an error the
    lab raises with fixed wording (:func:`jdl.run.errors.safe_reason`: its class on the allow-list, its
    message one of the class's templates), the lab's words for it, as ``ValueError: method must be
    one of radius, nearest``. ``cell_index``: the cell running when it happened, if known;
    ``timeout``: the request's time limit in seconds, for a cell timeout."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    kind = type(error).__name__
    where = f" in cell {cell_index}" if cell_index is not None else ""
    if isinstance(error, PapermillExecutionError):
        ename = error.ename if isinstance(error.ename, str) and error.ename.isidentifier() else "an exception"
        exec_count = error.exec_count if isinstance(error.exec_count, int) else None
        reason = safe_reason(error.ename, error.evalue)
        if reason is not None:
            count = f", In [{exec_count}]" if exec_count is not None else ""
            return f"{kind}: {ename}: {reason} (raised in cell {error.cell_index}{count})"
        count = f" (In [{exec_count}])" if exec_count is not None else ""
        return f"{kind}: {ename} raised in cell {error.cell_index}{count}"
    if isinstance(error, _KernelStartError):
        return (f"{type(error.original).__name__}: the kernel did not start "
                f"({START_ATTEMPTS} attempts, {START_TIMEOUT} s each)")
    if isinstance(error, CellTimeoutError):
        limit = f" the {timeout:g} s" if timeout else " the"
        return f"{kind}: still running{where} at{limit} time limit"
    if isinstance(error, DeadKernelError):
        return f"{kind}: the kernel died{where}"
    if isinstance(error, ScrapError):
        return f"{kind}: {error.args[0]}" if error.args else kind
    if isinstance(error, IncompleteNotebookError):
        return f"{kind}: the executed notebook is not a complete, valid notebook"
    if isinstance(error, OSError) and _system_error(error):
        return f"{kind} ({_system_error(error)}){where}"
    message = error.args[0] if len(error.args) == 1 else None
    reason = safe_reason(kind, message)
    return f"{kind}: {reason}{where}" if reason is not None else kind + where


def _read_scraps(notebook_path: Path) -> tuple[Status, Verdict]:
    """The ``status`` and ``verdict`` of an executed report, whose scraps must be the whole report
    contract (:meth:`jdl.contract.ReportScraps.read`). Raises :class:`jdl.contract.ScrapError`
    (whose message names the scrap, never its value)."""
    scraps = ReportScraps.read(notebook_path)
    return scraps.status, scraps.verdict


def _read_notebook(notebook_path: Path):
    """The notebook at ``notebook_path``, parsed and validated (nbformat version 4). Raises
    :class:`IncompleteNotebookError` when it does not parse or is not a valid notebook, OSError
    when it cannot be read."""
    import nbformat

    try:
        notebook = nbformat.read(str(notebook_path), as_version=4)
        nbformat.validate(notebook)
    except OSError:
        raise
    except Exception as error:  # noqa: BLE001 - JSON errors, validation errors, missing keys
        raise IncompleteNotebookError(type(error).__name__) from None
    return notebook


def _set_output_path(notebook_path: Path, output_path: Path) -> None:
    """Record ``output_path`` (the final name) as papermill's output path in the notebook at
    ``notebook_path`` (written under a temporary name)."""
    import nbformat

    notebook = nbformat.read(str(notebook_path), as_version=nbformat.NO_CONVERT)
    papermill_metadata = notebook.metadata.get("papermill")
    if papermill_metadata is not None and papermill_metadata.get("output_path") != str(output_path):
        papermill_metadata["output_path"] = str(output_path)
        nbformat.write(notebook, str(notebook_path))


def scrub_notebook(notebook) -> None:
    """Remove from an executed notebook (an ``nbformat`` notebook, changed in place) what may
    quote values from the upload: every error output keeps its exception class name (``ename``;
    one that is not a dotted Python name becomes "Exception") with its message (``evalue``) and
    traceback replaced by :data:`SCRUBBED`, and every stream output on stderr (warnings, logging)
    is dropped."""
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream" and output.get("name") == "stderr":
                continue
            if kind == "error":
                ename = output.get("ename")
                if not (isinstance(ename, str) and ename and all(p.isidentifier() for p in ename.split("."))):
                    output["ename"] = "Exception"
                output["evalue"] = SCRUBBED
                output["traceback"] = [SCRUBBED]
            kept.append(output)
        cell["outputs"] = kept


# ---------------------------------------------------------------- a worker and its lifeline

# In a local pool worker: the read end of the pipe whose write end only the run holds (end of
# file: the run has ended or is stopping the pool). None elsewhere (a thread, a dask worker).
_lifeline = None
# The temporary files this process is writing, removed if a worker must stop at once.
_in_flight: set[Path] = set()
# Exit status of a worker that stopped because its run ended.
ORPHANED_EXIT = 1


def _child_pids(me: int | None = None) -> list[int]:
    """Process ids of the children of process ``me`` (default: this one; Linux, from /proc;
    empty elsewhere)."""
    me = os.getpid() if me is None else me
    children = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                stat = stat_file.read()
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == me:
                children.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return children


def _kill_children() -> None:
    """SIGKILL every descendant of this process (children first found, then theirs: the browser
    Playwright's driver started, say), and the whole process group of each that leads its own (a
    Jupyter kernel and Chromium start in a group of their own, so anything they started goes too)."""
    found, parents = [], [os.getpid()]
    while parents:
        children = [pid for parent in parents for pid in _child_pids(parent) if pid not in found]
        found.extend(children)
        parents = children
    for pid in found:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


def _abandon(*_signal) -> None:
    """Stop this worker now: kill its kernels (and anything else it started), remove its
    temporary files, exit without running any cleanup that could publish something."""
    _kill_children()
    for temp in list(_in_flight):
        with contextlib.suppress(OSError):
            if temp.is_dir():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                os.unlink(temp)
    os._exit(ORPHANED_EXIT)


def _watch_lifeline(lifeline) -> None:
    """Worker thread: wait until the lifeline reads end of file (nothing is ever sent on it), then
    stop the worker (:func:`_abandon`)."""
    with contextlib.suppress(OSError, EOFError, ValueError):
        lifeline.poll(None)
    _abandon()


def _run_has_ended() -> bool:
    """True in a pool worker whose run has ended or is stopping the pool."""
    if _lifeline is None:
        return False
    try:
        return bool(_lifeline.poll(0))
    except (OSError, EOFError, ValueError):
        return True


def _stop_if_run_ended() -> None:
    """Called before anything is renamed into place or published: a worker whose run has ended
    stops here (:func:`_abandon`)."""
    if _run_has_ended():
        _abandon()


def _forget(temp: Path | None) -> None:
    """Remove the temporary file ``temp`` (if any) and stop tracking it."""
    if temp is None:
        return
    with contextlib.suppress(OSError):
        temp.unlink(missing_ok=True)
    _in_flight.discard(temp)


# ---------------------------------------------------------------- one request


def _new_temp(out_dir: Path) -> Path:
    """A new empty owner-only (0600) temporary file in ``out_dir`` for papermill to write."""
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=f".{REPORT_NOTEBOOK}.", suffix=".ipynb")
    os.close(handle)
    temp = Path(name)
    _in_flight.add(temp)
    return temp


class PrivateKernelManager(AsyncKernelManager):
    """nbclient's kernel manager with its channels on Unix domain sockets (``ipc`` transport) in an
    owner-only temporary folder of its own, removed with the kernel, and the kernel's stdout and
    stderr sent to ``/dev/null`` (see the module docstring)."""

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # jupyter_client names the sockets <ip>-<port>; its default ip for ipc is relative to the
        # kernel's working directory. A short absolute path: socket paths are limited to ~100 bytes.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="jdl-kernel-"))
        _in_flight.add(self._socket_dir)
        self.ip = str(self._socket_dir / "k")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        # The kernel's own output (its log, tracebacks while it shuts down, whatever a library or
        # a child process writes to its file descriptors) never reaches this process's terminal.
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            _in_flight.discard(self._socket_dir)

    cleanup_resources = _async_cleanup_resources  # as AsyncKernelManager does


def _execute_once(template: Path, output: Path, parameters: dict, root: Path, timeout: float | None,
                  state: dict) -> None:
    """One papermill execution into ``output``. ``state`` records whether the kernel became
    ready (``"ready"``) and the index of the cell last started (``"cell"``)."""

    def kernel_ready(**_):
        state["ready"] = True
        state["deadline"] = None if timeout is None else time.monotonic() + timeout

    def cell_started(cell_index=None, **_):
        state["cell"] = cell_index

    def time_left(cell):
        deadline = state.get("deadline")
        if deadline is None:
            return None
        # A positive number: nbclient reads 0 or None as "no limit".
        return max(deadline - time.monotonic(), 0.001)

    # imported here, not with this module: `jdl run` itself never executes a notebook (its pool's
    # workers do, and the forkserver preloads these for them), and papermill takes 0.4 s to import
    import papermill

    from jdl.run.engine import ENGINE_NAME

    papermill.execute_notebook(
        str(template), str(output), parameters=parameters, kernel_name=KERNEL_NAME, engine_name=ENGINE_NAME,
        progress_bar=False, log_output=False, kernel_manager_class=PrivateKernelManager,
        start_timeout=START_TIMEOUT,
        execution_timeout=None if timeout is None else max(1, math.ceil(timeout)),
        # The kernel's working directory, set on the kernel process (nbclient's resources), not
        # by papermill's cwd, which changes this whole process's directory.
        resources={"metadata": {"path": str(root)}},
        on_notebook_start=kernel_ready, on_cell_start=cell_started, timeout_func=time_left,
        # Every output is in once the last cell is done: the kernel is stopped then, not asked to
        # exit and waited for (its interpreter's teardown took 0.7-1.2 s of each report)
        shutdown_kernel="immediate",
    )


def _execution_error(error: Exception, state: dict, timeout: float | None) -> str:
    """The error text of a failed papermill execution."""
    if isinstance(error, OSError) and _system_error(error):
        # papermill writes the notebook before the kernel starts and at the end (jdl.run.engine)
        return f"writing the executed notebook failed: {describe_error(error)}"
    return describe_error(error, state["cell"], timeout)


def _new_stage(out_dir: Path) -> Path:
    """A new owner-only (0700) staging folder in ``out_dir`` where a validated report is published
    before anything of it is moved into place."""
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=STAGE_PREFIX))
    _in_flight.add(stage)
    return stage


def _move_into_place(stage: Path, out_dir: Path, names: list[str]) -> None:
    """Move the files ``names`` of the staging folder ``stage`` into ``out_dir``, the executed
    notebook (``report.ipynb``, given the published mode: 0o666 masked by the umask) last, so that
    a new report.ipynb always comes with its own report.html and report.pdf. Each file is synced to
    disk first; a worker whose run has ended stops before moving anything."""
    for name in names:
        fsync_file(stage / name)
    _stop_if_run_ended()
    os.chmod(stage / REPORT_NOTEBOOK, file_mode())
    for name in sorted(names, key=lambda name: name == REPORT_NOTEBOOK):
        os.replace(stage / name, out_dir / name)
    fsync_dir(out_dir)


def _remove_stage(stage: Path | None) -> None:
    if stage is not None:
        shutil.rmtree(stage, ignore_errors=True)
        _in_flight.discard(stage)


def _warm_publishing() -> None:
    """In a local pool worker, while the kernel starts and runs the report: start the worker's
    kept-open browser, render a small page (nbconvert's first-use set-up) and import scrapbook
    (the report's scraps are read with it), in a thread of their own (the worker itself only
    waits for the kernel meanwhile), so that none of it waits until the report is executed. A
    browser that fails to start here is started again, and its error reported, when the report is
    published."""

    def warm() -> None:
        with contextlib.suppress(Exception):
            from jdl.report.publish import keep_browser_open, warm_up

            keep_browser_open()
            warm_up()
            import scrapbook  # noqa: F401

    threading.Thread(target=warm, name="jdl-warm-publishing", daemon=True).start()


def execute_request(request: Request, notebook: Path, out_dir: Path, national_dir: Path, root: Path,
                    timeout: float | None = DEFAULT_TIMEOUT, publish: bool = True) -> RequestOutcome:
    """Execute the report template ``notebook`` for ``request`` into ``out_dir/report.ipynb``
    (``out_dir`` is ``outputs/<month>/<id>``) and, if ``publish``, write ``report.html`` and
    ``report.pdf`` beside it (:func:`jdl.report.publish.publish`).

    Papermill injects ``request.parameters(national_dir)``; the kernel (``python3``) runs in
    ``root``. ``timeout``: seconds of wall-clock time for all the cells together, counted from the
    moment the kernel is ready (None: no limit); see the module docstring for the kernel start limit
    and the one retry. Never raises for a failure of the request itself (a cell error, a time limit,
    a file that cannot be written): returns a :class:`RequestOutcome` with status ``failed`` and an
    error free of personal data. Module-level with picklable arguments, so it can be submitted to a
    process pool or a dask cluster."""
    started = time.monotonic()
    out_dir, notebook, root = Path(out_dir), Path(notebook), Path(root)
    final = out_dir / REPORT_NOTEBOOK
    failed_path = out_dir / FAILED_NOTEBOOK

    def failed(error_text: str, notebook_path: Path | None = None, verdict: Verdict | None = None) -> RequestOutcome:
        return RequestOutcome(request.id, Status.FAILED, verdict=verdict, error=error_text,
                              seconds=time.monotonic() - started, notebook=notebook_path)

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return failed(f"creating the request's folder failed: {describe_error(error)}")
    parameters = request.parameters(national_dir)
    if publish and _lifeline is not None:
        _warm_publishing()
    temp: Path | None = None
    stage: Path | None = None
    error_text: str | None = None
    try:
        for attempt in range(1, START_ATTEMPTS + 1):
            state = {"ready": False, "cell": None}
            try:
                _forget(temp)
                temp = None
                temp = _new_temp(out_dir)
            except OSError as error:
                error_text = f"writing the executed notebook failed: {describe_error(error)}"
                break
            try:
                _execute_once(notebook, temp, parameters, root, timeout, state)
                error_text = None
                break
            except Exception as error:  # noqa: BLE001 - every failure is recorded, none escapes
                error_text = _execution_error(error, state, timeout)
                start_failure = not state["ready"] and isinstance(error, (RuntimeError, TimeoutError))
                if not start_failure:
                    break
                if attempt == START_ATTEMPTS:
                    error_text = describe_error(_KernelStartError(error))
        if error_text is None:
            try:
                _set_output_path(temp, final)
                _read_notebook(temp)  # parses and is valid after papermill's and our writes
                status, verdict = _read_scraps(temp)
            except OSError as error:
                error_text = f"writing {REPORT_NOTEBOOK} failed: {describe_error(error)}"
            except Exception as error:  # noqa: BLE001
                error_text = describe_error(error)
        if error_text is not None:
            kept, note = _keep_failed(temp, failed_path)
            temp = None
            return failed(error_text + note, kept)
        # Validated. Published in a staging folder, then moved into place all together: a run
        # stopped while publishing leaves no new report.ipynb without its HTML and PDF.
        try:
            stage = _new_stage(out_dir)
            os.replace(temp, stage / REPORT_NOTEBOOK)
        except OSError as error:
            return failed(f"writing {REPORT_NOTEBOOK} failed: {describe_error(error)}")
        _in_flight.discard(temp)
        temp = None
        published: list[str] = []
        publish_error = None
        if publish:
            _stop_if_run_ended()
            try:
                from jdl.report.publish import keep_browser_open, publish as publish_report

                if _lifeline is not None:   # a local pool worker: one browser prints all its reports
                    keep_browser_open()
                published = [Path(path).name for path in publish_report(stage / REPORT_NOTEBOOK, stage)]
            except Exception as caught:  # noqa: BLE001
                publish_error = f"publishing failed: {describe_error(caught)}"
        try:
            _move_into_place(stage, out_dir, [REPORT_NOTEBOOK, *published])
        except OSError as error:
            return failed(f"writing {REPORT_NOTEBOOK} failed: {describe_error(error)}")
    finally:  # a failure, an interruption: no temporary file or staging folder is left behind
        _forget(temp)
        _remove_stage(stage)
    with contextlib.suppress(OSError):
        failed_path.unlink(missing_ok=True)
    if publish_error is not None:  # the executed report is kept; earlier HTML and PDF are left as they were
        return failed(publish_error, final, verdict)
    html = pdf = None
    if published:
        html, pdf = (out_dir / name for name in published)
    return RequestOutcome(request.id, status, verdict=verdict, seconds=time.monotonic() - started,
                          notebook=final, html=html, pdf=pdf)


def _keep_failed(temp: Path | None, failed_path: Path) -> tuple[Path | None, str]:
    """Keep the partly executed notebook ``temp`` as ``failed_path``, scrubbed
    (:func:`scrub_notebook`) and owner-only, and remove ``temp``. Returns the path kept (None when
    papermill wrote nothing or the notebook could not be kept) and a note for the error text (empty,
    or why it was not kept; an older ``report.failed.ipynb`` is then removed, as it would describe
    another run)."""
    if temp is None:
        return None, ""
    try:
        if not temp.exists() or temp.stat().st_size == 0:  # nothing was executed
            return None, ""
        try:
            notebook = _read_notebook(temp)
        except (IncompleteNotebookError, OSError):
            note = f"; {FAILED_NOTEBOOK} not kept: the partly executed notebook was incomplete"
            with contextlib.suppress(OSError):
                failed_path.unlink(missing_ok=True)
            return None, note
        scrub_notebook(notebook)
        papermill_metadata = notebook.metadata.get("papermill")
        if papermill_metadata is not None:
            papermill_metadata["output_path"] = str(failed_path)
        _stop_if_run_ended()
        try:
            import nbformat

            with atomic_path(failed_path, private=True) as private_temp:
                _in_flight.add(private_temp)
                try:
                    nbformat.write(notebook, str(private_temp))
                finally:
                    _in_flight.discard(private_temp)
        except OSError as error:
            with contextlib.suppress(OSError):
                failed_path.unlink(missing_ok=True)
            return None, f"; {FAILED_NOTEBOOK} not kept: writing it failed: {describe_error(error)}"
        return failed_path, ""
    finally:
        _forget(temp)


# ---------------------------------------------------------------- the pool


def _is_dask_client(executor) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed"


def _as_completed(futures: list) -> Iterator:
    """Futures as they finish: concurrent.futures' ``as_completed`` for its own futures,
    ``distributed.as_completed`` for dask futures (which concurrent.futures cannot wait on)."""
    if all(isinstance(future, concurrent.futures.Future) for future in futures):
        return concurrent.futures.as_completed(futures)
    try:
        import distributed
    except ImportError:
        distributed = None
    if distributed is not None and all(isinstance(future, distributed.Future) for future in futures):
        return iter(distributed.as_completed(futures))
    return iter(futures)  # any other future type: in submission order, each waited on by result()


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(threads: int) -> None:
    """Give the kernels this worker starts (they inherit its environment) at most ``threads``
    BLAS/OpenMP threads, unless the caller already chose a number. Several kernels each running a
    BLAS sized for the whole machine oversubscribe the cores; with two kernels on two cores that
    made the sub-analyses about ten times slower."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def _silence_output() -> None:
    """Point this process's stdout and stderr (file descriptors 1 and 2, so the Python streams,
    C libraries and child processes alike) at ``/dev/null``."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(AttributeError, ValueError, OSError):
                    stream.flush()
            os.dup2(null, 1)
            os.dup2(null, 2)
        finally:
            os.close(null)


def _init_worker(threads: int, umask: int, lifeline) -> None:
    """Pool worker initializer: send its output to ``/dev/null`` (a worker reports through its
    results, never the terminal), share the cores (:func:`_share_cores`), take the run's umask,
    ignore Ctrl-C (the terminal sends it to the whole process group; the run decides), stop at
    once on SIGTERM or SIGHUP, and watch the lifeline (see the module docstring)."""
    global _lifeline
    _silence_output()
    _share_cores(threads)
    os.umask(umask)
    _lifeline = lifeline
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a worker that ends normally (the pool shut down) closes the browser it printed in
    from jdl.report.publish import close_kept_browser

    multiprocessing.util.Finalize(None, close_kept_browser, exitpriority=10)
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _abandon)
    threading.Thread(target=_watch_lifeline, args=(lifeline,), name="jdl-lifeline", daemon=True).start()


class _LocalPool(concurrent.futures.ProcessPoolExecutor):
    """A process pool whose workers stop (killing their kernels) as soon as this process ends or
    calls :meth:`stop`: each holds the read end of a pipe whose write end only this process holds."""

    def __init__(self, max_workers: int, context, threads: int):
        reader, writer = context.Pipe(duplex=False)
        super().__init__(max_workers=max_workers, mp_context=context, initializer=_init_worker,
                         initargs=(threads, current_umask(), reader))
        self._lifeline_ends = [reader, writer]

    def _cut_lifeline(self) -> None:
        while self._lifeline_ends:
            self._lifeline_ends.pop().close()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait:
            self._cut_lifeline()

    def stop(self) -> None:
        """Stop now: every worker kills its kernels, removes its temporary files and exits;
        queued calls are cancelled and running ones fail (BrokenProcessPool)."""
        self._cut_lifeline()
        super().shutdown(wait=True, cancel_futures=True)


def _process_pool(max_workers: int) -> _LocalPool:
    """A local process pool (:class:`_LocalPool`). Workers start from a fresh forkserver process
    (spawn where there is none) rather than by forking this possibly multi-threaded process; the
    forkserver preloads this module so each worker starts with papermill imported. Each worker
    runs :func:`_init_worker`: the cores are shared out between the workers' kernels, the workers
    take this process's umask, and they stop when this process ends."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "papermill", "jdl.run.engine"])
    else:
        context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // max_workers)
    return _LocalPool(max_workers, context, threads)


# ---------------------------------------------------------------- the month's lock


def _read_holder(handle: int) -> LockHolder | None:
    """The holder recorded in an open lock file (None when it is empty)."""
    try:
        text = os.pread(handle, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return LockHolder()
    if not text.strip():
        return None
    try:
        data = json.loads(text)
        started = dt.datetime.fromisoformat(data["started"]) if data.get("started") else None
        pid = data.get("pid")
        return LockHolder(pid if isinstance(pid, int) else None, str(data.get("host") or "") or None, started)
    except (ValueError, TypeError, AttributeError, KeyError):
        return LockHolder()


@contextlib.contextmanager
def month_lock(month_out: str | os.PathLike) -> Iterator[LockHolder | None]:
    """Hold the lock of the month whose outputs folder is ``month_out`` (which must exist):
    ``month_out/.run.lock``, exclusively locked with ``fcntl.flock`` and holding this process's id,
    host and start time, removed on release. Yields the holder of a stale lock found and taken over
    (the lock file of a run that was killed: the system had released its lock), else None. Raises
    :class:`MonthLockedError` when another process holds it, OSError when the lock file cannot be
    created."""
    import fcntl

    month_out = Path(month_out)
    path = month_out / LOCK_FILE
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle) or LockHolder()
            os.close(handle)
            raise MonthLockedError(month_out, holder) from None
        except BaseException:
            os.close(handle)
            raise
        # The holder before us may have removed the file after we opened it: lock the file that
        # is at the path now.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(handle), current):
            break
        os.close(handle)
    try:
        stale = _read_holder(handle)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": dt.datetime.now().astimezone().isoformat(timespec="seconds")})
        with contextlib.suppress(OSError):  # the lock holds without its description (a full disk)
            os.ftruncate(handle, 0)
            os.pwrite(handle, (record + "\n").encode("utf-8"), 0)
        yield stale
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(handle)


# ---------------------------------------------------------------- the month


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """While the run waits for its requests: SIGTERM and SIGHUP raise :class:`_Stop` in the main
    thread (SIGINT raises KeyboardInterrupt as usual). Only in the main thread, and only for a
    signal whose handler is the default one (a caller's handler, or nohup's ignored SIGHUP, stays)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise _Stop(signal.Signals(signum).name)

    previous = {}
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            previous[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """While a stopped run stops its workers and writes its record: SIGINT, SIGTERM and SIGHUP are
    ignored (a second Ctrl-C must not cut that short). Only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in ("SIGINT", *STOP_SIGNALS):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _finished_outcome(future) -> RequestOutcome | None:
    """The outcome of a future that finished with a result, else None."""
    try:
        if not future.done() or future.cancelled():
            return None
        outcome = future.result(timeout=0)
    except BaseException:  # noqa: BLE001 - failed, cancelled, or the pool broke when it stopped
        return None
    return outcome if isinstance(outcome, RequestOutcome) else None


# Temporary files of a run's writers (papermill's notebook, atomic_path's files), by the name of
# the file each would become: left behind only by a process killed outright.
TEMP_NAMES = (REPORT_NOTEBOOK, FAILED_NOTEBOOK, "report.html", "report.pdf")
RUN_TEMP_NAMES = (RUN_JSON, RUN_LOG)


def _remove_stray_temps(month_out: Path) -> None:
    """Remove the temporary files and staging folders a killed run or worker left in the month's
    outputs folder (``<id>/.report.ipynb.*``, ``<id>/.publishing.*/`` and the like). Called only while holding the month's lock with no
    worker of this run left, so nothing is writing them."""
    with contextlib.suppress(OSError):
        folders = [folder for folder in month_out.iterdir() if folder.is_dir() and not folder.is_symlink()]
        stray = [path for folder in folders for name in TEMP_NAMES for path in folder.glob(f".{name}.*")]
        stray += [path for name in RUN_TEMP_NAMES for path in month_out.glob(f".{name}.*")]
        for stage in (path for folder in folders for path in folder.glob(f"{STAGE_PREFIX}*")):
            if stage.is_dir() and not stage.is_symlink():
                shutil.rmtree(stage, ignore_errors=True)
        for path in stray:
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    path.unlink()


def _not_run(request: Request) -> RequestOutcome:
    return RequestOutcome(request.id, request.status)


def run_month(month_dir: str | os.PathLike, outputs_dir: str | os.PathLike = DEFAULT_OUTPUTS,
              notebook: str | os.PathLike | None = None, national_dir: str | os.PathLike = DEFAULT_NATIONAL,
              executor: concurrent.futures.Executor | None = None, timeout: float | None = DEFAULT_TIMEOUT,
              publish: bool = True, progress: bool = True, root: str | os.PathLike | None = None,
              workers: int | None = None, uploads_dir: str | os.PathLike | None = None) -> MonthRun:
    """Run every request of the params folder ``month_dir`` (``params/<month>``) through the report
    template ``notebook`` (default: the one installed with jdl, :func:`jdl.paths.installed_notebook`)
    into ``outputs_dir/<month>/<id>/``; return the :class:`MonthRun` and write
    ``outputs_dir/<month>/run.json`` and ``run.log``.

    Withdrawn and in-progress requests are recorded, not executed. The others are submitted
    (:func:`execute_request`) to ``executor``: any ``concurrent.futures.Executor`` or a
    ``dask.distributed.Client``, used as is and not shut down; by default a local process pool of
    ``workers`` processes (default ``os.cpu_count()``, never more than the requests to run), created
    and shut down here. ``timeout``: seconds for all of one request's cells (see the module
    docstring); ``publish``: also write HTML and PDF; ``progress``: show a tqdm bar over requests;
    ``root``: the kernels' working directory (default: ``month_dir``'s parent's parent);
    ``uploads_dir``: the folder every request's upload must lie in (default ``root/data/uploads``;
    :func:`jdl.run.requests.confine_upload`).

    Raises, before running anything: :class:`jdl.run.requests.ParamsError` for a bad params folder,
    FileNotFoundError for a missing template, :class:`OutputsError` when the month's outputs folder
    or lock cannot be created, :class:`MonthLockedError` when another run holds the month. A failed
    request does not stop the others. Afterwards: :class:`RunInterrupted` when a signal stopped the
    run (run.json written, unfinished requests ``interrupted``), :class:`RunRecordError` when
    run.json could not be written; both carry the :class:`MonthRun`.
    """
    month_dir = Path(month_dir).resolve()
    root = Path(root).resolve() if root is not None else month_dir.parent.parent
    uploads_dir = Path(uploads_dir).resolve() if uploads_dir is not None else None
    requests = load_month(month_dir, root, uploads_dir)
    outputs_dir = Path(outputs_dir).resolve()
    national_dir = Path(national_dir).resolve()
    month = month_dir.name
    month_out = outputs_dir / month
    with contextlib.ExitStack() as held:
        # the template given, or the one installed with jdl (a real file for as long as the run lasts)
        notebook = (Path(notebook).resolve() if notebook is not None
                    else held.enter_context(installed_notebook(REPORT_TEMPLATE)).resolve())
        if not notebook.is_file():
            raise FileNotFoundError(f"{notebook}: no such report template")
        try:
            month_out.mkdir(parents=True, exist_ok=True)
            stale = held.enter_context(month_lock(month_out))
        except OSError as error:
            raise OutputsError(f"cannot create the outputs folder {_shown(month_out)} or its lock file "
                               f"{LOCK_FILE}: {describe_error(error)}") from None
        _remove_stray_temps(month_out)
        run = _run_requests(requests, month, month_out, notebook, national_dir, root, executor, timeout,
                            publish, progress, workers)
        run.stale_lock = stale
        if executor is None or not run.stopped_by:  # no worker of this run is left writing
            _remove_stray_temps(month_out)
        with _signals_held() if run.stopped_by else contextlib.nullcontext():
            try:
                write_run(run)
            except OSError as error:
                run.record_error = describe_error(error)
    if run.stopped_by:
        raise RunInterrupted(run)
    if run.record_error:
        raise RunRecordError(run)
    return run


def _progress_bar():
    """tqdm's progress bar class: tqdm.auto's (a widget) in a notebook, the terminal's otherwise.
    A notebook's kernel has imported IPython already; elsewhere tqdm.auto would import it (0.2 s)
    only to find out that this is no notebook."""
    if "IPython" in sys.modules:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def _run_requests(requests: list[Request], month: str, month_out: Path, notebook: Path, national_dir: Path,
                  root: Path, executor, timeout: float | None, publish: bool, progress: bool,
                  workers: int | None) -> MonthRun:
    """Submit and collect the month's requests (see :func:`run_month`); a stop signal stops them."""
    tqdm = _progress_bar()
    outcomes: dict[str, RequestOutcome] = {r.id: _not_run(r) for r in requests if r.status in NOT_RUN_STATUSES}
    to_run = [r for r in requests if r.status not in NOT_RUN_STATUSES]
    own_executor = executor is None and bool(to_run)
    stopped_by = None
    submitted = {}
    with tqdm(total=len(requests), desc=month, unit="request", disable=not progress) as bar:
        bar.update(len(outcomes))
        try:
            with _stop_signals():
                if own_executor:
                    executor = _process_pool(max(1, min(workers or os.cpu_count() or 1, len(to_run))))
                for request in to_run:
                    arguments = (request, notebook, month_out / request.id, national_dir, root, timeout, publish)
                    if _is_dask_client(executor):
                        # pure=False: run it every time, never a cached result of an earlier run
                        future = executor.submit(execute_request, *arguments, pure=False)
                    else:
                        future = executor.submit(execute_request, *arguments)
                    submitted[future] = request
                for future in _as_completed(list(submitted)):
                    request = submitted[future]
                    try:
                        outcomes[request.id] = future.result()
                    except Exception as error:  # noqa: BLE001 - the worker itself failed (e.g. it died)
                        outcomes[request.id] = RequestOutcome(
                            request.id, Status.FAILED, error=f"{describe_error(error)}: the worker running it failed")
                    bar.update(1)
                    if outcomes[request.id].failed:
                        bar.set_postfix(failed=sum(o.failed for o in outcomes.values()))
        except (KeyboardInterrupt, _Stop) as stop:
            stopped_by = stop.signal_name if isinstance(stop, _Stop) else "SIGINT"
            with _signals_held():
                if own_executor and executor is not None:
                    executor.stop()
                else:
                    for future in submitted:
                        with contextlib.suppress(Exception):
                            future.cancel()
                for future, request in submitted.items():
                    if request.id not in outcomes:
                        outcomes[request.id] = _finished_outcome(future) or RequestOutcome(request.id, Status.INTERRUPTED)
                for request in to_run:
                    outcomes.setdefault(request.id, RequestOutcome(request.id, Status.INTERRUPTED))
        finally:
            if own_executor and executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
    return MonthRun(month, [outcomes[r.id] for r in requests], month_out.parent, stopped_by=stopped_by)


def write_run(run: MonthRun) -> tuple[Path, Path]:
    """Write ``run.json`` and ``run.log`` into the month's outputs folder, atomically (mode
    0o666 masked by the umask); returns their paths. Raises OSError (say ``ENOSPC``) with no
    partial file left."""
    json_path = write_text_atomically(run.month_dir / RUN_JSON, run.to_json())
    log_path = write_text_atomically(run.month_dir / RUN_LOG, "".join(line + "\n" for line in run.log_lines()))
    return json_path, log_path


def read_run(path: str | os.PathLike) -> MonthRun:
    """Read a ``run.json`` back into a :class:`MonthRun` (paths absolute again, ``outputs_dir``
    taken as the folder above the month's folder)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    outputs_dir = path.resolve().parent.parent

    def absolute(relative: str | None) -> Path | None:
        return None if relative is None else outputs_dir / relative

    outcomes = [RequestOutcome(r["id"], r["status"], r["verdict"], r["error"], r["seconds"],
                               absolute(r["notebook"]), absolute(r["html"]), absolute(r["pdf"]))
                for r in data["outcomes"]]
    return MonthRun(data["month"], outcomes, outputs_dir, stopped_by=data.get("stopped_by"))


def outcome_line(outcome: RequestOutcome, run: MonthRun) -> str:
    """One human-readable line for a request of ``run``: id, status, verdict (when it is not the
    status again: a request not processed has the verdict "not processed") or error, seconds and
    where its report is (relative to the current directory when inside it, else to the run's
    outputs folder)."""
    parts = [outcome.id, outcome.status.value]
    if outcome.failed:
        parts.append(outcome.error or "")
    elif outcome.verdict is not None and outcome.verdict != outcome.status:  # "not processed" once
        parts.append(outcome.verdict.value)
    if outcome.status not in (*NOT_RUN_STATUSES, Status.INTERRUPTED):
        parts.append(f"{outcome.seconds:.1f} s")
    shown = outcome.html or outcome.notebook
    if shown is not None:
        try:
            parts.append(str(Path(shown).relative_to(Path.cwd())))
        except ValueError:
            parts.append(run.relative(shown))
    return "  ".join(parts)
