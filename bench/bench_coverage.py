"""Benchmark: coverage and bias of the whole chain (matching then the Welch comparison) on many
seeded simulated requests with known true effects under confounding (jdl.stats.simulation).

Prints, for the default radius matching (logit, 0.2 SD caliper), for nearest 1:1 without
replacement (MatchIt's default) and, as a warning case, radius matching on a misspecified
propensity model (previous offences entered only as a count, not its log): the share of 95%
intervals covering the truth (overall and per true effect), the mean bias in rate units and in
standard errors, the mean standard error, the unmatched (naive) bias, and the time taken.

    python bench/bench_coverage.py              # 2,000 requests per method
    python bench/bench_coverage.py 5000
"""

from __future__ import annotations

import argparse
import time

from jdl.stats.simulation import COVARIATES, coverage_study

CASES = (
    ("radius (default)", {"method": "radius"}),
    ("nearest 1:1, no replacement", {"method": "nearest", "replace": False}),
    ("radius, misspecified model", {"method": "radius",
                                    "covariates": tuple(c for c in COVARIATES if c != "log_previous_offences")}),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", nargs="?", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20140401)
    args = parser.parse_args()
    for label, options in CASES:
        started = time.perf_counter()
        study = coverage_study(n_requests=args.requests, seed=args.seed, **options)
        seconds = time.perf_counter() - started
        print(f"{label}: {args.requests:,} requests in {seconds:.1f} s")
        print(f"  coverage {study.coverage:.1%}   mean bias {study.mean_bias:+.4f} "
              f"({study.bias_in_se:+.3f} SE)   mean SE {study.mean_se:.4f}   naive bias {study.naive_bias:+.4f}")
        print("  coverage by true effect: " + ", ".join(
            f"{effect:+.2f}: {share:.1%}" for effect, share in study.coverage_by_effect.items()))


if __name__ == "__main__":
    main()
