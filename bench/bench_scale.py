"""Benchmark: how generation, one request and memory grow with the size of the national data.

For each size of synthetic national data (200,000, 1,000,000 and 5,000,000 people by default),
prints one line with:

- generation: ``jdl.synth.world.generate`` plus ``write_national`` (Parquet), as
  bench/bench_synth.py times it; the programmes' submissions are then written with
  ``write_uploads`` (not counted);
- one request, the Gateway Mentoring upload that the synthesis writes (custody, 450 people
  submitted), run through the functions :func:`jdl.analyse` calls: ``validate_upload``; the cohort
  build, ``jdl.cohort.build.build_cohort`` (linkage, index events, the comparison pool, covariates
  and outcomes, as DuckDB queries over the Parquet files); the match,
  ``jdl.stats.plan.match_cohort`` with the default options (radius); the comparison,
  ``jdl.stats.compare.compare_measures`` on the matched data and weights (``Analysis.measures``);
- peak memory (``ru_maxrss``) of the fresh Python process that generated the data and of the
  fresh Python process that ran the request (each size runs in its own two subprocesses: the
  generation's peak does not hide the request's).

Then, once, the demo month set: ``jdl demo`` in a fresh temporary folder (it builds its own
200,000-person national data, the default of ``jdl synth``, runs the eight demo requests of three
months with papermill, publishes HTML and PDF, and writes the bulletins); the whole command is
timed.

A size that runs longer than ``--max-minutes`` (20 by default, generation and request together)
or whose process grows beyond ``--max-gib`` resident memory (20 GiB by default) is stopped, and
the line says so; a process killed by the system (out of memory) is reported as such. Progress
is printed as each stage ends. Times are wall-clock seconds; another process using the CPU
slows them.

    python bench/bench_scale.py                         # 200,000, 1,000,000, 5,000,000 and the demo
    python bench/bench_scale.py 500000 --no-demo        # other sizes, without the demo
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

UPLOAD = "gateway-mentoring.xlsx"   # the Gateway Mentoring upload written by jdl.synth.world.write_uploads
SETTING = "custody"

GENERATE = r"""
import json, resource, sys, time
from pathlib import Path
from jdl.synth.world import SynthConfig, generate, write_national, write_uploads

def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

n, folder = int(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
world = generate(SynthConfig(n_people=n))
t1 = time.perf_counter()
print(json.dumps({"stage": "generate", "generate_s": t1 - t0, "peak_gib": peak_gib()}), flush=True)
write_national(world, folder / "national")
t2 = time.perf_counter()
rows = {name: table.num_rows for name, table in world.tables.items()}
print(json.dumps({"stage": "write", "write_s": t2 - t1, "peak_gib": peak_gib(), "rows": rows}), flush=True)
write_uploads(world, folder / "uploads", folder / "truth" / "links")
t3 = time.perf_counter()
print(json.dumps({"stage": "uploads", "uploads_s": t3 - t2, "peak_gib": peak_gib()}), flush=True)
"""

REQUEST = r"""
import json, resource, sys, time
from pathlib import Path
from jdl.cohort.build import build_cohort
from jdl.cohort.national import NationalData
from jdl.stats.compare import compare_measures
from jdl.stats.plan import match_cohort
from jdl.upload.validate import validate_upload
from jdl.window import DataWindow

def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

folder, upload, setting = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
national = NationalData.open(folder / "national")                 # as jdl.analyse does
window = DataWindow.from_national(folder / "national")
validation = validate_upload(upload, window, setting=setting)
if validation.blocking_errors:
    raise SystemExit("the upload has blocking errors")
t1 = time.perf_counter()
print(json.dumps({"stage": "validate", "validate_s": t1 - t0, "peak_gib": peak_gib()}), flush=True)
cohort = build_cohort(validation.participants, national, setting)
t2 = time.perf_counter()
treated = int((cohort.data["treated"] == 1).sum())
print(json.dumps({"stage": "cohort", "cohort_s": t2 - t1, "peak_gib": peak_gib(), "treated": treated,
                  "pool": len(cohort.data) - treated}), flush=True)
result, data, flow, plan = match_cohort(cohort)                   # the default options, as jdl.analyse
t3 = time.perf_counter()
print(json.dumps({"stage": "match", "match_s": t3 - t2, "peak_gib": peak_gib(),
                  "matched": int(result.n_treated_matched), "comparison": int(result.n_comparison_distinct)}),
      flush=True)
measures = compare_measures(data, result.weights)                 # Analysis.measures
t4 = time.perf_counter()
headline = measures[0].comparison
print(json.dumps({"stage": "compare", "compare_s": t4 - t3, "peak_gib": peak_gib(),
                  "difference": None if headline is None else headline.difference}), flush=True)
"""


class Stopped(Exception):
    """A child process was stopped, or failed; the message says why, in words."""


def _rss_gib(pid: int) -> float:
    """Resident memory of process ``pid`` in GiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _watch(command: list[str], deadline: float, max_gib: float, on_line, cwd: str | None = None) -> float:
    """Run ``command``, handing each stdout line to ``on_line`` as it comes; stop it (its whole
    process group) when the wall clock passes ``deadline`` (a ``time.monotonic`` value) or its
    resident memory passes ``max_gib``. Returns the highest resident memory seen (GiB). Raises
    :class:`Stopped` saying why when it was stopped or failed."""
    with tempfile.TemporaryFile(mode="w+") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=cwd,
                                 start_new_session=True)
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True)
        reader.start()
        seen_gib, why = 0.0, None
        while child.poll() is None:
            try:
                on_line(lines.get(timeout=0.5))
            except queue.Empty:
                pass
            seen_gib = max(seen_gib, _rss_gib(child.pid))
            if seen_gib > max_gib:
                why = f"stopped: its memory passed {max_gib:g} GiB (resident {seen_gib:.1f} GiB)"
            elif time.monotonic() > deadline:
                why = "stopped: it did not finish within the time allowed"
            if why:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                break
        reader.join(timeout=5)
        while not lines.empty():
            on_line(lines.get())
        if why:
            raise Stopped(why)
        if child.returncode < 0:
            name = signal.Signals(-child.returncode).name
            raise Stopped(f"killed by {name}" + (" (likely the system's out-of-memory killer)"
                                                 if name == "SIGKILL" else ""))
        if child.returncode != 0:
            stderr.seek(0)
            last = [line for line in stderr.read().splitlines() if line.strip()]
            raise Stopped(f"failed (exit {child.returncode}): {last[-1] if last else 'no message'}")
        return seen_gib


def run_size(n: int, max_minutes: float, max_gib: float, work: Path) -> dict:
    """Generate ``n`` people and run the request on them, each in a fresh process; the figures,
    with ``stopped`` saying why when the size could not finish."""
    figures: dict = {"n": n}
    start = time.monotonic()
    deadline = start + 60 * max_minutes

    def progress(line: str) -> None:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return
        stage = record.pop("stage")
        figures.update(record)
        figures.setdefault("peaks", {})[stage] = record.get("peak_gib")
        shown = {k: (f"{v:.1f}" if isinstance(v, float) else v) for k, v in record.items() if k != "rows"}
        print(f"  {n:,} people: {stage} done at {time.monotonic() - start:.0f} s "
              + " ".join(f"{k}={v}" for k, v in shown.items()), flush=True)

    folder = work / f"{n}"
    try:
        _watch([sys.executable, "-c", GENERATE, str(n), str(folder)], deadline, max_gib, progress)
        figures["generation_peak_gib"] = figures.pop("peak_gib")
        _watch([sys.executable, "-c", REQUEST, str(folder), str(folder / "uploads" / UPLOAD), SETTING],
               deadline, max_gib, progress)
        figures["request_peak_gib"] = figures.pop("peak_gib")
    except Stopped as stopped:
        figures["stopped"] = str(stopped).replace("the time allowed", f"{max_minutes:g} minutes")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures["elapsed_s"] = time.monotonic() - start
    return figures


def run_demo(max_minutes: float, max_gib: float) -> dict:
    """``jdl demo`` in a fresh temporary folder, timed whole."""
    out: dict = {}
    tail: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jdl-demo-") as folder:
        start = time.monotonic()
        try:
            _watch([sys.executable, "-m", "jdl", "demo"], start + 60 * max_minutes, max_gib,
                   lambda line: (tail.append(line.rstrip()),
                                 print(f"  demo: {line.rstrip()}", flush=True)), cwd=folder)
        except Stopped as stopped:
            out["stopped"] = str(stopped).replace("the time allowed", f"{max_minutes:g} minutes")
        out["elapsed_s"] = time.monotonic() - start
        manifest = Path(folder) / "data" / "national" / "manifest.json"
        if manifest.exists():
            out["people"] = json.loads(manifest.read_text()).get("n_people")
    return out


def _fmt(figures: dict, key: str, digits: int = 1) -> str:
    value = figures.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[200_000, 1_000_000, 5_000_000])
    parser.add_argument("--max-minutes", type=float, default=20.0, help="per size (default 20)")
    parser.add_argument("--max-gib", type=float, default=20.0, help="resident memory per process (default 20)")
    parser.add_argument("--no-demo", dest="demo", action="store_false", help="leave out the jdl demo timing")
    args = parser.parse_args()

    print(f"one request: {UPLOAD} ({SETTING}); times in wall-clock seconds on {os.cpu_count()} cores; "
          f"each size stopped after {args.max_minutes:g} minutes or {args.max_gib:g} GiB", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="jdl-scale-") as work:
        for n in args.sizes:
            print(f"{n:,} people: started", flush=True)
            results.append(run_size(n, args.max_minutes, args.max_gib, Path(work)))

    header = (f"{'people':>10} {'generate+write':>14} {'cohort':>7} {'match':>6} {'compare':>8} "
              f"{'peak GiB gen':>12} {'peak GiB request':>16} {'pool':>10} {'matched':>8}")
    print(header, flush=True)
    for r in results:
        total = (r["generate_s"] + r["write_s"]) if "write_s" in r else None
        pool = f"{r['pool']:,}" if "pool" in r else "-"
        matched = f"{r['matched']:,}" if "matched" in r else "-"
        line = (f"{r['n']:>10,} {'-' if total is None else f'{total:.1f}':>14} {_fmt(r, 'cohort_s'):>7} "
                f"{_fmt(r, 'match_s', 2):>6} {_fmt(r, 'compare_s', 3):>8} "
                f"{_fmt(r, 'generation_peak_gib', 2):>12} {_fmt(r, 'request_peak_gib', 2):>16} "
                f"{pool:>10} {matched:>8}")
        if "stopped" in r:
            line += f"  NOT FINISHED after {r['elapsed_s']:.0f} s: {r['stopped']}"
        print(line, flush=True)

    if args.demo:
        print("jdl demo in a fresh temporary folder: started", flush=True)
        demo = run_demo(args.max_minutes, args.max_gib)
        people = f"{demo['people']:,}" if demo.get("people") else "200,000 (the jdl synth default)"
        if "stopped" in demo:
            print(f"jdl demo NOT FINISHED after {demo['elapsed_s']:.0f} s: {demo['stopped']}", flush=True)
        else:
            print(f"jdl demo (national data of {people} people, built by the demo; 8 requests over 3 months, "
                  f"HTML, PDF and bulletins): {demo['elapsed_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
