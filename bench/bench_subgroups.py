"""Benchmark: what the deeper analyses add to a report, on the demo's synthetic data.

For every demo upload that meets the minimum criteria, prints the time of the national match, of
all the sub-analyses (each sub-group matched afresh) and of the match controlled for region, with
how many sub-groups were run, and the headline difference beside the region-controlled one.
Needs the demo data (``jdl synth`` or ``make demo`` first).

Target: the sub-analyses and the region match together add under 15 s to a report on 2 cores.

    python bench/bench_subgroups.py [--national data/national] [--uploads data/uploads]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from jdl.stats import subgroups
from jdl.cohort.build import build_cohort, treated_attributes
from jdl.stats.plan import match_cohort
from jdl.stats.compare import compare_measures
from jdl.stats.matching import PropensityModelError
from jdl.cohort.national import NationalData
from jdl.synth.world import PROGRAMMES
from jdl.upload.validate import validate_upload
from jdl.window import DataWindow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--national", default="data/national")
    parser.add_argument("--uploads", default="data/uploads")
    args = parser.parse_args()
    national = NationalData.open(args.national)
    window = DataWindow.from_national(args.national)
    print(f"{'programme':<24}{'match s':>9}{'subs s':>9}{'run':>8}{'region s':>10}{'national':>10}{'region':>8}")
    for programme in PROGRAMMES:
        upload = next(Path(args.uploads).glob(f"{programme.slug}.*"), None)
        if upload is None:
            continue
        validation = validate_upload(upload, window)
        cohort = build_cohort(validation.participants, national, programme.setting)
        start = time.perf_counter()
        try:
            result, data, flow, plan = match_cohort(cohort)
        except (PropensityModelError, ValueError):
            print(f"{programme.slug:<24}  (too few people to match)")
            continue
        matched = time.perf_counter()
        analysed = data.index[(data["treated"] == 1) & (result.weights > 0)]
        results = subgroups.subgroup_analyses(cohort.data, analysed, treated_attributes(flow, validation.participants),
                                              result.balance().poor)
        subs = time.perf_counter()
        region = subgroups.controlled_for_region(cohort.data)
        done = time.perf_counter()
        headline = compare_measures(data, result.weights)[0].comparison
        run = sum(r.status == subgroups.RUN for r in results)
        region_difference = f"{100 * region.comparison.difference:+.1f}" if region.comparison else "n/a"
        print(f"{programme.slug:<24}{matched - start:>9.2f}{subs - matched:>9.2f}{f'{run}/{len(results)}':>8}"
              f"{done - subs:>10.2f}{100 * headline.difference:>+10.1f}{region_difference:>8}")


if __name__ == "__main__":
    main()
