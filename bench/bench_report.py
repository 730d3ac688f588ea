"""Benchmark: how long a tailored report takes, against papermill on a trivial notebook.

On the demo's synthetic national data (200,000 people; built once into a temporary folder, or
taken from --national/--uploads), prints:

1. the analysis of one request (the Gateway Mentoring upload: ``jdl.analyse`` and every section of
   its report, in a fresh process) with the BLAS libraries' default threads and with one thread
   (OPENBLAS_NUM_THREADS=1), on an idle machine and with another process keeping one core busy.
   Target: the default within 25% of one thread, idle and busy (jdl.stats.threads);
2. papermill executing a one-cell notebook (``x = 1``) in a fresh kernel: the floor a report is
   measured against; and papermill executing the report template's set-up cell alone (its
   imports, no request): the least any report takes in a fresh kernel, before it computes anything;
3. ``jdl run`` of a month holding that one request (papermill execution, HTML and PDF), as a
   command, and of a month of three requests. Target: one request's run within 4 times the
   trivial papermill time; the month's per-request time likewise.

Each figure is the fastest of --repeat runs (default 3). Other work on the machine slows every
figure; the ratios are what to read.

    python bench/bench_report.py
    python bench/bench_report.py --repeat 1 --national data/national --uploads data/uploads
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ANALYSIS = r"""
import sys, time
from jdl.analysis import analyse
from jdl.report.sections import PROCESSED, Report
t = time.perf_counter()
analysis = analyse(sys.argv[1], "custody", sys.argv[2])
report = Report(analysis)
for name in PROCESSED:
    report.parts(name)
analysis.scraps()
print(time.perf_counter() - t)
"""

GATEWAY = "gateway-mentoring"
MONTH_REQUESTS = (GATEWAY, "womens-centre", "work-ready")


@contextlib.contextmanager
def busy_core(on: bool):
    """Another process keeping one core busy while the block runs (when ``on``)."""
    if not on:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        process.kill()
        process.wait()


def fastest(repeat: int, run) -> float:
    return min(run() for _ in range(repeat))


def timed_command(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def analysis_seconds(upload: Path, national: Path, threads: str | None) -> float:
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
        if threads is not None:
            env[name] = threads
    result = subprocess.run([sys.executable, "-c", ANALYSIS, str(upload), str(national)], check=True,
                            capture_output=True, text=True, env=env)
    return float(result.stdout.strip().splitlines()[-1])


def papermill_seconds(folder: Path, name: str, source: str) -> float:
    """papermill (as a command, in a fresh kernel) on a notebook of one code cell, ``source``."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return timed_command([sys.executable, "-c", "import sys, papermill; papermill.execute_notebook("
                          "sys.argv[1], sys.argv[2], progress_bar=False)", str(path), str(folder / "out.ipynb")],
                         folder)


def trivial_papermill(folder: Path) -> float:
    return papermill_seconds(folder, "trivial", "x = 1")


def setup_only_papermill(folder: Path) -> float:
    """papermill on a notebook holding the report template's set-up cell (the first code cell after
    the parameters: the report's imports) and nothing else."""
    from jdl.paths import REPORT_TEMPLATE, installed_notebook

    with installed_notebook(REPORT_TEMPLATE) as template:
        cells = nbformat.read(template, as_version=4).cells
    codes = [cell for cell in cells if cell.cell_type == "code"]
    after = [k for k, cell in enumerate(codes) if "parameters" in cell.metadata.get("tags", [])][0] + 1
    return papermill_seconds(folder, "setup-only", codes[after].source)


def write_month(project: Path, month: str, slugs: tuple[str, ...], uploads: Path) -> None:
    """Params for ``month`` holding the demo requests of ``slugs`` (their uploads in ``uploads``)."""
    import yaml

    from jdl.synth.demo import DEMO_PILOT, demo_params
    from jdl.run.settings import write_default_settings

    folder = project / "params" / month
    folder.mkdir(parents=True)
    write_default_settings(project / "params")
    requests = {r.slug: r for r in DEMO_PILOT}
    for number, slug in enumerate(slugs, start=1):
        params = demo_params(requests[slug], str(uploads))
        params["id"] = f"{month}-{number:03d}"
        (folder / f"{params['id']}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def jdl_run(project: Path, month: str, national: Path, uploads: Path, workers: int) -> float:
    shutil.rmtree(project / "outputs", ignore_errors=True)
    return timed_command([sys.executable, "-m", "jdl", "run", month, "--national", str(national),
                          "--uploads", str(uploads), "--workers", str(workers)], project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--national", type=Path, help="national data folder (default: built, 200,000 people)")
    parser.add_argument("--uploads", type=Path, help="the synthetic programmes' uploads for --national")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jdl-bench-report-") as temp:
        temp = Path(temp)
        national, uploads = arguments.national, arguments.uploads
        if national is None:
            from jdl.synth.world import SynthConfig, synthesise

            national, uploads = temp / "data" / "national", temp / "data" / "uploads"
            print("building the synthetic national data (200,000 people) ...", flush=True)
            synthesise(national, uploads, temp / "data" / "truth" / "programmes.json", SynthConfig())
        national, uploads = national.resolve(), uploads.resolve()
        upload = uploads / f"{GATEWAY}.xlsx"
        repeat = arguments.repeat

        print(f"\n1. the analysis of one request (analyse and every report section), fastest of {repeat}")
        print(f"{'machine':<28}{'default threads':>16}{'one thread':>12}{'ratio':>8}  target <= 1.25")
        for busy in (False, True):
            with busy_core(busy):
                default = fastest(repeat, lambda: analysis_seconds(upload, national, None))
                one = fastest(repeat, lambda: analysis_seconds(upload, national, "1"))
            label = "one core busy elsewhere" if busy else "idle"
            print(f"{label:<28}{default:>15.1f}s{one:>11.1f}s{default / one:>8.2f}", flush=True)

        print(f"\n2. papermill on a one-cell notebook (fresh kernel), fastest of {repeat}")
        trivial = fastest(repeat, lambda: trivial_papermill(temp))
        print(f"{trivial:.1f} s", flush=True)
        setup = fastest(repeat, lambda: setup_only_papermill(temp))
        print(f"the report template's set-up cell alone (its imports): {setup:.1f} s, "
              f"{setup / trivial:.1f} x the floor", flush=True)

        print(f"\n3. jdl run (papermill, HTML and PDF), fastest of {repeat}; target per request <= 4 x {trivial:.1f} s "
              f"= {4 * trivial:.1f} s")
        one_project, month_project = temp / "one", temp / "month"
        write_month(one_project, "2030-01", (GATEWAY,), uploads)
        write_month(month_project, "2030-02", MONTH_REQUESTS, uploads)
        single = fastest(repeat, lambda: jdl_run(one_project, "2030-01", national, uploads, 1))
        print(f"{'one request':<28}{single:>7.1f} s  {single / trivial:>5.1f} x papermill's floor", flush=True)
        workers = os.cpu_count() or 1
        month = fastest(repeat, lambda: jdl_run(month_project, "2030-02", national, uploads, workers))
        per_request = month / len(MONTH_REQUESTS) * min(workers, len(MONTH_REQUESTS))
        print(f"{f'month of {len(MONTH_REQUESTS)} ({workers} workers)':<28}{month:>7.1f} s  "
              f"{per_request:.1f} s a request a worker, {per_request / trivial:.1f} x papermill's floor", flush=True)


if __name__ == "__main__":
    main()
