"""Statistical validity of the whole chain: a seeded simulation of many requests with a known
true effect under confounding (the coverage study behind issue 4, item 5).

Each simulated request is a national pool of offenders with five characteristics (age, previous
offences, sex, a 4-level region and custody or not). Who takes part depends on those covariates
(younger people, people with more previous offences, custody and two of the regions are more
likely to take part), and so does the one-year re-offending probability without the service:

    p0(x) = 0.10 + 0.75 * expit(linear predictor in x)          (between 0.10 and 0.85)
    p1(x) = p0(x) + effect                                      (effect between -0.10 and +0.10)

so the true effect on the treated, as a difference in rates, is exactly ``effect`` for every
person and so for every request, and a naive treated-minus-pool comparison is biased by the
confounding. Each request runs :func:`jdl.match` (default: radius matching on the logit with a 0.2
SD caliper) on :data:`COVARIATES`: the five characteristics plus log(1 + previous offences), since
both selection and risk depend on the log of the count, as the lab's own model carries a count and
a rate of previous offending. (Leaving the log term out, a misspecified model, leaves a bias of
about 0.4 standard errors: ``bench/bench_coverage.py`` prints that case too.) then :func:`jdl.stats.compare.welch_compare` on the re-offending
indicator with the match weights, and records the estimate, its standard error (interval half
width / t quantile) and whether the 95% interval covers ``effect``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

EFFECTS = (-0.10, -0.05, 0.0, 0.05, 0.10)
COVARIATES = ("age", "previous_offences", "log_previous_offences", "sex", "region", "custody")


def simulate_request(rng: np.random.Generator, effect: float, n_pool: int = 3000,
                     mean_treated: float = 150) -> pd.DataFrame:
    """One simulated request: a frame of ``n_pool`` people (columns :data:`COVARIATES`,
    ``treated`` 0/1, ``reoffended`` 0/1), about ``mean_treated`` of them treated. The people who
    take part are chosen on the covariates; ``reoffended`` follows p1 for the treated and p0 for
    the rest (see the module docstring)."""
    age = np.clip(rng.normal(31, 9, n_pool), 18, 70)
    previous = rng.negative_binomial(1.2, 0.12, n_pool)
    sex = np.where(rng.random(n_pool) < 0.85, "M", "F")
    region = rng.choice(np.array(["North", "Midlands", "London", "South"]), n_pool, p=[0.3, 0.25, 0.2, 0.25])
    custody = (rng.random(n_pool) < 0.4 + 0.02 * np.minimum(previous, 10)).astype(int)
    log_previous = np.log1p(previous)
    selection = (-0.045 * (age - 31) + 0.45 * log_previous + 0.5 * custody
                 + np.where(np.isin(region, ["North", "London"]), 0.6, 0.0) - 0.3 * (sex == "F"))
    intercept = np.log(mean_treated / n_pool) - np.log(np.mean(np.exp(selection)))
    treated = (rng.random(n_pool) < expit(intercept + selection)).astype(int)
    risk = -1.2 - 0.05 * (age - 31) + 0.8 * log_previous + 0.3 * custody - 0.4 * (sex == "F") \
        + np.where(region == "London", 0.3, 0.0)
    p0 = 0.10 + 0.75 * expit(risk)
    p = p0 + effect * treated
    return pd.DataFrame({"age": age, "previous_offences": previous, "log_previous_offences": log_previous,
                         "sex": sex, "region": region,
                         "custody": custody, "treated": treated,
                         "reoffended": (rng.random(n_pool) < p).astype(int)})


@dataclass(frozen=True)
class StudyResult:
    """A coverage study: one row per request in ``requests`` (effect, estimate, se, lower, upper,
    covered, naive, n_treated, n_comparison), and the summaries: ``coverage`` (share of 95%
    intervals holding the true effect), ``mean_bias`` (mean of estimate - effect, in rate units),
    ``mean_se``, ``bias_in_se`` (mean_bias / mean_se), ``naive_bias`` (mean bias of the unmatched
    treated-minus-pool difference, showing the confounding) and ``coverage_by_effect``."""

    requests: pd.DataFrame
    method: str

    @property
    def coverage(self) -> float:
        return float(self.requests["covered"].mean())

    @property
    def mean_bias(self) -> float:
        return float((self.requests["estimate"] - self.requests["effect"]).mean())

    @property
    def mean_se(self) -> float:
        return float(self.requests["se"].mean())

    @property
    def bias_in_se(self) -> float:
        return self.mean_bias / self.mean_se

    @property
    def naive_bias(self) -> float:
        return float((self.requests["naive"] - self.requests["effect"]).mean())

    @property
    def coverage_by_effect(self) -> pd.Series:
        return self.requests.groupby("effect")["covered"].mean()

    def summary(self) -> str:
        return (f"{self.method}: {len(self.requests)} requests, coverage {self.coverage:.1%}, "
                f"mean bias {self.mean_bias:+.4f} ({self.bias_in_se:+.3f} SE; mean SE {self.mean_se:.4f}), "
                f"naive bias {self.naive_bias:+.4f}")


def coverage_study(n_requests: int = 200, seed: int = 20140313, method: str = "radius",
                   n_pool: int = 3000, mean_treated: float = 150, covariates=COVARIATES,
                   **match_options) -> StudyResult:
    """Run ``n_requests`` simulated requests (effects cycling through :data:`EFFECTS`) through
    :func:`jdl.match` (on ``covariates``, with ``method`` and ``match_options``) and :func:`jdl.stats.compare.welch_compare`;
    return a :class:`StudyResult`. Seeded: the same arguments give the same result."""
    from jdl.stats.compare import welch_compare
    from jdl.stats.matching import match

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_requests):
        effect = EFFECTS[i % len(EFFECTS)]
        data = simulate_request(rng, effect, n_pool=n_pool, mean_treated=mean_treated)
        result = match(data, "treated", covariates, method=method, **match_options)
        weights = result.weights.to_numpy()
        treated = data["treated"].to_numpy() == 1
        is_treated, is_comparison = treated & (weights > 0), ~treated & (weights > 0)
        y = data["reoffended"].to_numpy(dtype=float)
        comparison = welch_compare(y[is_treated], y[is_comparison], weights[is_comparison])
        se = (comparison.upper - comparison.difference) / stats.t.ppf(0.975, comparison.df)
        naive = y[treated].mean() - y[~treated].mean()
        rows.append({"effect": effect, "estimate": comparison.difference, "se": se,
                     "lower": comparison.lower, "upper": comparison.upper,
                     "covered": comparison.lower <= effect <= comparison.upper, "naive": naive,
                     "n_treated": comparison.n_treated, "n_comparison": comparison.n_comparison})
    return StudyResult(requests=pd.DataFrame(rows), method=method)
