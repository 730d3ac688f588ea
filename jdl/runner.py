"""The month runner: papermill executes the report template once per request of a month.

``run_month("params/2014-03")`` loads every params file of the month (:func:`jdl.requests.load_month`),
records withdrawn and in-progress requests without running them, and submits every other request
to a :class:`concurrent.futures.Executor` (by default a local process pool; a
``dask.distributed.Client`` works unchanged). Each submission runs :func:`execute_request`, which
writes ``outputs/<month>/<id>/report.ipynb`` (and, when publishing, ``report.html`` and
``report.pdf``). The run's outcomes go to ``outputs/<month>/run.json`` (read by the summary
bulletin) and ``outputs/<month>/run.log`` (one line per request), both written atomically.

Files. Papermill writes the executed notebook to a temporary file in the request's folder; only
when it ran to the end and its ``status`` and ``verdict`` scraps are valid is it renamed onto
``report.ipynb`` (one ``os.replace``). A failed run keeps its partly executed notebook as
``report.failed.ipynb`` for reviewers (it may show the failing cell's traceback; it stays in the
outputs folder) and leaves an earlier good ``report.ipynb``, ``report.html`` and ``report.pdf``
untouched; a later success removes a stale ``report.failed.ipynb``.

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

Errors. A failed request is recorded with an error text built only from the exception's type
(plus, for an error in a cell, the exception class name ``ename``, the cell index and the
execution count), never from exception messages or tracebacks, which may echo values from the
upload.

Reruns. The parameters papermill injects are exactly :meth:`jdl.requests.Request.parameters`
(with ``national_dir`` made absolute): papermill's built-in ``pm`` values (run uuid, current time)
are used only to format file paths, never injected, so a rerun injects the same cell and gives the
same numbers. Only papermill's timing metadata (start/end times, durations) differs between runs;
the ``output_path`` papermill records is set to the final ``report.ipynb``, not the temporary file.

Paths. ``month_dir``, ``outputs_dir``, ``notebook`` and ``national_dir`` may be relative to the
current directory; they are made absolute before anything is submitted (workers elsewhere, on a
dask cluster, must see the same file system at the same paths). The kernel runs with the project
``root`` as its working directory (default: the params folder's parent's parent, as in
:func:`jdl.requests.load_month`), set on the kernel process itself rather than by changing this
process's directory, so concurrent threads are safe.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import papermill

from jdl.atomic import write_text_atomically
from jdl.requests import (FAILED, IN_PROGRESS, NOT_PROCESSED, PUBLISHED, REPORT_NOTEBOOK, RUN_JSON, WITHDRAWN,
                          Request, load_month, read_scraps)

DEFAULT_NOTEBOOK = Path("notebooks/request_report.ipynb")
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
# Requests listed but never executed.
NOT_RUN = (WITHDRAWN, IN_PROGRESS)
# The scrap values a good report may glue as its status.
REPORT_STATUSES = (PUBLISHED, NOT_PROCESSED)


@dataclass(frozen=True)
class RequestOutcome:
    """What happened to one request in a month run.

    ``status``: ``"published"`` or ``"not processed"`` (the report's ``status`` scrap), ``"failed"``,
    or ``"withdrawn"`` / ``"in progress"`` (not executed). ``verdict``: the report's ``verdict``
    scrap (None when not executed or when it failed before its scraps were read). ``error``: why it
    failed, free of personal data (None unless failed). ``seconds``: wall-clock time of execution
    and publishing. ``notebook``, ``html``, ``pdf``: absolute paths of the files written this run
    (``notebook`` is ``report.failed.ipynb`` for a failed execution), or None.
    """

    id: str
    status: str
    verdict: str | None = None
    error: str | None = None
    seconds: float = 0.0
    notebook: Path | None = None
    html: Path | None = None
    pdf: Path | None = None

    @property
    def failed(self) -> bool:
        """True when the request failed."""
        return self.status == FAILED


@dataclass
class MonthRun:
    """The outcomes of one month's run, one per request, in id order. ``outputs_dir``: the
    (absolute) outputs folder; the month's files are in ``outputs_dir / month``."""

    month: str
    outcomes: list[RequestOutcome] = field(default_factory=list)
    outputs_dir: Path = DEFAULT_OUTPUTS

    @property
    def failed(self) -> list[RequestOutcome]:
        """The outcomes of the requests that failed."""
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def month_dir(self) -> Path:
        """The month's outputs folder, ``outputs_dir / month``."""
        return Path(self.outputs_dir) / self.month

    def counts(self) -> dict[str, int]:
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
        """Plain JSON data: ``month``, ``counts`` per status, ids of the ``failed`` requests and
        ``outcomes``, one per request in id order (paths relative to ``outputs_dir``, seconds to 0.1)."""
        return {
            "month": self.month,
            "counts": self.counts(),
            "failed": [outcome.id for outcome in self.failed],
            "outcomes": [
                {"id": o.id, "status": o.status, "verdict": o.verdict, "error": o.error,
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
            line = f"{o.id}\t{o.status}\t{o.seconds:.1f} s"
            lines.append(line + (f"\t{o.error}" if o.error else ""))
        return lines


class ScrapError(ValueError):
    """An executed report whose ``status`` or ``verdict`` scrap is missing or invalid."""


class _KernelStartError(Exception):
    """Marks a kernel that did not start (internal: carries the original exception)."""

    def __init__(self, original: BaseException):
        super().__init__(type(original).__name__)
        self.original = original


def describe_error(error: BaseException, cell_index: int | None = None, timeout: float | None = None) -> str:
    """A one-line description of ``error`` that holds no personal data: the exception type, and
    for papermill's ``PapermillExecutionError`` the exception class raised in the notebook
    (``ename``), the cell index and the execution count. Never ``str(error)``, ``evalue`` or a
    traceback. ``cell_index``: the cell running when it happened, if known; ``timeout``: the
    request's time limit in seconds, for a cell timeout."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    kind = type(error).__name__
    where = f" in cell {cell_index}" if cell_index is not None else ""
    if isinstance(error, PapermillExecutionError):
        ename = error.ename if isinstance(error.ename, str) and error.ename.isidentifier() else "an exception"
        count = f" (In [{error.exec_count}])" if isinstance(error.exec_count, int) else ""
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
    return kind + where


def _read_scraps(notebook_path: Path) -> tuple[str, str]:
    """The ``status`` and ``verdict`` scraps of an executed report. Raises :class:`ScrapError`
    (whose message names the scrap, never its value)."""
    scraps = read_scraps(notebook_path)
    for name in ("status", "verdict"):
        if scraps[name] is None:
            raise ScrapError(f"the report glued no '{name}' scrap")
    status, verdict = scraps["status"], scraps["verdict"]
    if status not in REPORT_STATUSES:
        raise ScrapError(f"the report's 'status' scrap is not one of {', '.join(REPORT_STATUSES)}")
    if not isinstance(verdict, str):
        raise ScrapError("the report's 'verdict' scrap is not text")
    return status, verdict


def _set_output_path(notebook_path: Path, output_path: Path) -> None:
    """Record ``output_path`` (the final name) as papermill's output path in the notebook at
    ``notebook_path`` (written under a temporary name)."""
    import nbformat

    notebook = nbformat.read(str(notebook_path), as_version=nbformat.NO_CONVERT)
    papermill_metadata = notebook.metadata.get("papermill")
    if papermill_metadata is not None and papermill_metadata.get("output_path") != str(output_path):
        papermill_metadata["output_path"] = str(output_path)
        nbformat.write(notebook, str(notebook_path))


def _new_temp(out_dir: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=f".{REPORT_NOTEBOOK}.", suffix=".ipynb")
    os.close(handle)
    return Path(name)


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

    papermill.execute_notebook(
        str(template), str(output), parameters=parameters, kernel_name=KERNEL_NAME,
        progress_bar=False, log_output=False,
        start_timeout=START_TIMEOUT,
        execution_timeout=None if timeout is None else max(1, math.ceil(timeout)),
        # The kernel's working directory, set on the kernel process (nbclient's resources), not
        # by papermill's cwd, which changes this whole process's directory.
        resources={"metadata": {"path": str(root)}},
        on_notebook_start=kernel_ready, on_cell_start=cell_started, timeout_func=time_left,
    )


def execute_request(request: Request, notebook: Path, out_dir: Path, national_dir: Path, root: Path,
                    timeout: float | None = DEFAULT_TIMEOUT, publish: bool = True) -> RequestOutcome:
    """Execute the report template ``notebook`` for ``request`` into ``out_dir/report.ipynb``
    (``out_dir`` is ``outputs/<month>/<id>``) and, if ``publish``, write ``report.html`` and
    ``report.pdf`` beside it (:func:`jdl.publish.publish`).

    Papermill injects ``request.parameters(national_dir)``; the kernel (``python3``) runs in
    ``root``. ``timeout``: seconds of wall-clock time for all the cells together, counted from the
    moment the kernel is ready (None: no limit); see the module docstring for the kernel start limit
    and the one retry. Never raises for a failure of the request itself: returns a
    :class:`RequestOutcome` with status ``failed`` and an error free of personal data. Module-level
    with picklable arguments, so it can be submitted to a process pool or a dask cluster."""
    started = time.monotonic()
    out_dir, notebook, root = Path(out_dir), Path(notebook), Path(root)
    final = out_dir / REPORT_NOTEBOOK
    failed_path = out_dir / FAILED_NOTEBOOK

    def failed(error_text: str, notebook_path: Path | None = None, verdict: str | None = None) -> RequestOutcome:
        return RequestOutcome(request.id, FAILED, verdict=verdict, error=error_text,
                              seconds=time.monotonic() - started, notebook=notebook_path)

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return failed(describe_error(error))
    parameters = request.parameters(national_dir)
    temp: Path | None = None
    error_text: str | None = None
    for attempt in range(1, START_ATTEMPTS + 1):
        state = {"ready": False, "cell": None}
        try:
            if temp is not None:
                temp.unlink(missing_ok=True)
            temp = _new_temp(out_dir)
            _execute_once(notebook, temp, parameters, root, timeout, state)
            error_text = None
            break
        except Exception as error:  # noqa: BLE001 - every failure is recorded, none escapes
            error_text = describe_error(error, state["cell"], timeout)
            start_failure = not state["ready"] and isinstance(error, (RuntimeError, TimeoutError))
            if not start_failure:
                break
            if attempt == START_ATTEMPTS:
                error_text = describe_error(_KernelStartError(error))
        except BaseException:  # interrupted: leave no temporary file behind
            if temp is not None:
                temp.unlink(missing_ok=True)
            raise
    if error_text is None:
        try:
            _set_output_path(temp, final)
            status, verdict = _read_scraps(temp)
        except Exception as error:  # noqa: BLE001
            error_text = describe_error(error)
    if error_text is not None:
        return failed(error_text, _keep_failed(temp, failed_path))
    os.chmod(temp, 0o644)
    os.replace(temp, final)
    failed_path.unlink(missing_ok=True)
    html = pdf = None
    if publish:
        try:
            from jdl.publish import publish as publish_report

            html, pdf = publish_report(final, out_dir)
        except Exception as caught:  # noqa: BLE001
            return failed(f"publishing failed: {describe_error(caught)}", final, verdict)
    return RequestOutcome(request.id, status, verdict=verdict, seconds=time.monotonic() - started,
                          notebook=final, html=None if html is None else Path(html),
                          pdf=None if pdf is None else Path(pdf))


def _keep_failed(temp: Path | None, failed_path: Path) -> Path | None:
    """Rename the partly executed notebook ``temp`` onto ``failed_path`` (None when papermill
    wrote nothing: the temporary file is removed)."""
    if temp is None or not temp.exists():
        return None
    if temp.stat().st_size == 0:
        temp.unlink()
        return None
    with contextlib.suppress(Exception):  # a partial notebook papermill could not finish writing
        _set_output_path(temp, failed_path)
    os.chmod(temp, 0o644)
    os.replace(temp, failed_path)
    return failed_path


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
    """Pool worker initializer: give the kernels this worker starts (they inherit its environment)
    at most ``threads`` BLAS/OpenMP threads, unless the caller already chose a number. Several
    kernels each running a BLAS sized for the whole machine oversubscribe the cores; with two
    kernels on two cores that made the sub-analyses about ten times slower."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def _process_pool(max_workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A local process pool. Workers start from a fresh forkserver process (spawn where there is
    none) rather than by forking this possibly multi-threaded process; the forkserver preloads this
    module so each worker starts with papermill imported. The cores are shared out between the
    workers' kernels (:func:`_share_cores`)."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // max_workers)
    return concurrent.futures.ProcessPoolExecutor(max_workers=max_workers, mp_context=context,
                                                  initializer=_share_cores, initargs=(threads,))


def _not_run(request: Request) -> RequestOutcome:
    return RequestOutcome(request.id, request.status)


def run_month(month_dir: str | os.PathLike, outputs_dir: str | os.PathLike = DEFAULT_OUTPUTS,
              notebook: str | os.PathLike = DEFAULT_NOTEBOOK, national_dir: str | os.PathLike = DEFAULT_NATIONAL,
              executor: concurrent.futures.Executor | None = None, timeout: float | None = DEFAULT_TIMEOUT,
              publish: bool = True, progress: bool = True, root: str | os.PathLike | None = None,
              workers: int | None = None) -> MonthRun:
    """Run every request of the params folder ``month_dir`` (``params/<month>``) through the report
    template ``notebook`` into ``outputs_dir/<month>/<id>/``; return the :class:`MonthRun` and
    write ``outputs_dir/<month>/run.json`` and ``run.log``.

    Withdrawn and in-progress requests are recorded, not executed. The others are submitted
    (:func:`execute_request`) to ``executor``: any ``concurrent.futures.Executor`` or a
    ``dask.distributed.Client``, used as is and not shut down; by default a local process pool of
    ``workers`` processes (default ``os.cpu_count()``, never more than the requests to run), created
    and shut down here. ``timeout``: seconds for all of one request's cells (see the module
    docstring); ``publish``: also write HTML and PDF; ``progress``: show a tqdm bar over requests;
    ``root``: the kernels' working directory (default: ``month_dir``'s parent's parent).

    Raises :class:`jdl.requests.ParamsError` for a bad params folder and FileNotFoundError for a
    missing template, before running anything. A failed request does not stop the others.
    """
    from tqdm.auto import tqdm

    month_dir = Path(month_dir).resolve()
    root = Path(root).resolve() if root is not None else month_dir.parent.parent
    requests = load_month(month_dir, root)
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook}: no such report template")
    outputs_dir = Path(outputs_dir).resolve()
    national_dir = Path(national_dir).resolve()
    month = month_dir.name
    month_out = outputs_dir / month
    month_out.mkdir(parents=True, exist_ok=True)

    outcomes: dict[str, RequestOutcome] = {r.id: _not_run(r) for r in requests if r.status in NOT_RUN}
    to_run = [r for r in requests if r.status not in NOT_RUN]
    own_executor = executor is None and bool(to_run)
    if own_executor:
        executor = _process_pool(max(1, min(workers or os.cpu_count() or 1, len(to_run))))
    with tqdm(total=len(requests), desc=month, unit="request", disable=not progress) as bar:
        bar.update(len(outcomes))
        try:
            submitted = {}
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
                        request.id, FAILED, error=f"{describe_error(error)}: the worker running it failed")
                bar.update(1)
                if outcomes[request.id].failed:
                    bar.set_postfix(failed=sum(o.failed for o in outcomes.values()))
        finally:
            if own_executor:
                executor.shutdown(wait=True, cancel_futures=True)
    run = MonthRun(month, [outcomes[r.id] for r in requests], outputs_dir)
    write_run(run)
    return run


def write_run(run: MonthRun) -> tuple[Path, Path]:
    """Write ``run.json`` and ``run.log`` into the month's outputs folder, atomically; returns
    their paths."""
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
    return MonthRun(data["month"], outcomes, outputs_dir)


def outcome_line(outcome: RequestOutcome, run: MonthRun) -> str:
    """One human-readable line for a request of ``run``: id, status, verdict or error, seconds and
    where its report is (relative to the current directory when inside it, else to the run's
    outputs folder)."""
    parts = [outcome.id, outcome.status]
    if outcome.failed:
        parts.append(outcome.error or "")
    elif outcome.verdict is not None:
        parts.append(outcome.verdict)
    if outcome.status not in NOT_RUN:
        parts.append(f"{outcome.seconds:.1f} s")
    shown = outcome.html or outcome.notebook
    if shown is not None:
        try:
            parts.append(str(Path(shown).relative_to(Path.cwd())))
        except ValueError:
            parts.append(run.relative(shown))
    return "  ".join(parts)
