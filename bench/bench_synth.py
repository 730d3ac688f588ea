"""Benchmark: synthetic national data generation time and peak memory.

Runs each size in a fresh Python process (so peak memory is that size's own), generating the
national data and writing it as Parquet to a temporary folder, and prints one line per size.
Target for 1,000,000 people: under 60 s and under 4 GiB on 2 cores.

    python bench/bench_synth.py                 # 100,000 and 1,000,000 people
    python bench/bench_synth.py 250000          # other sizes
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, tempfile, time
from jdl.synth.world import SynthConfig, generate, write_national
n = int(sys.argv[1])
t0 = time.perf_counter()
world = generate(SynthConfig(n_people=n))
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as folder:
    write_national(world, folder)
t2 = time.perf_counter()
rows = {name: table.num_rows for name, table in world.tables.items()}
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "generate_s": t1 - t0, "write_s": t2 - t1, "peak_gib": peak_kib / 2**20, "rows": rows}))
"""


def run(n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    print(f"{'people':>10} {'generate s':>11} {'write s':>8} {'total s':>8} {'peak GiB':>9}  rows")
    for n in sizes:
        r = run(n)
        total = r["generate_s"] + r["write_s"]
        rows = ", ".join(f"{k} {v:,}" for k, v in r["rows"].items())
        print(f"{n:>10,} {r['generate_s']:>11.1f} {r['write_s']:>8.1f} {total:>8.1f} {r['peak_gib']:>9.2f}  {rows}")
        if n == 1_000_000:
            verdict = "meets" if total < 60 and r["peak_gib"] < 4 else "MISSES"
            print(f"{'':>10} target for 1,000,000 people: under 60 s and under 4 GiB -> {verdict}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
