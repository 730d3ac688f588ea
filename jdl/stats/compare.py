"""Comparing the treatment and comparison groups on one measure (methodology section 6).

Welch's t-test with the comparison group's weighted mean and variance and its effective size:
the comparison's variance is the unbiased weighted variance
``sum w (x - m)^2 / (V1 - V2 / V1)`` (V1 = sum w, V2 = sum w^2) and its size is the effective size
``V1^2 / V2``. Unweighted, this is the classic Welch test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from jdl.stats.balance import weighted_variance


@dataclass(frozen=True)
class Comparison:
    """One measure compared: means with their confidence intervals (as proportions for rates, in
    the measure's own units otherwise), the difference treatment minus comparison with its
    interval, the two-sided Welch p-value, whether p <= alpha, and the sizes used (``n_comparison``
    is the effective size when weighted), the Welch degrees of freedom and ``alpha``."""

    treated_mean: float
    treated_lower: float
    treated_upper: float
    comparison_mean: float
    comparison_lower: float
    comparison_upper: float
    difference: float
    lower: float
    upper: float
    p_value: float
    significant: bool
    n_treated: int
    n_comparison: float
    df: float
    alpha: float

    @property
    def standard_error(self) -> float:
        """The Welch standard error of the difference: the interval's half-width over its t
        quantile (0 when the interval has no width)."""
        half = (self.upper - self.lower) / 2
        return 0.0 if half == 0 else float(half / stats.t.ppf(1 - self.alpha / 2, self.df))


def float_values(values) -> np.ndarray:
    """``values`` (a pandas Series or Index, or anything array-like) as a float numpy array. A
    Series goes through ``to_numpy``: ``np.asarray`` would first ask it for NumPy's array
    attributes, and pandas looks each name up among the labels, building the index's lookup
    table (0.2 s for a million string labels) for nothing."""
    to_numpy = getattr(type(values), "to_numpy", None)
    return values.to_numpy(dtype=float) if to_numpy is not None else np.asarray(values, dtype=float)


def weighted_mean_variance(values: np.ndarray, weights: np.ndarray | None) -> tuple[float, float, float]:
    """(mean, unbiased variance, effective size) of ``values`` under ``weights`` (None: equal).

    Zero weights are allowed (those values do not count); the effective size is
    ``(sum w)^2 / sum w^2``, and equals the number of values when the weights are equal."""
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else float_values(weights)
    if x.shape != w.shape:
        raise ValueError("values and weights differ in length")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and not negative")
    if np.any(np.isnan(x[w > 0])):
        raise ValueError("values with positive weight must not be missing")
    keep = w > 0
    x, w = x[keep], w[keep]
    v1, v2 = w.sum(), (w ** 2).sum()
    if v1 <= 0:
        raise ValueError("no values with positive weight")
    mean = float((w * x).sum() / v1)
    n_eff = v1 ** 2 / v2
    variance = float(weighted_variance(x[:, None], w)[0]) if n_eff > 1 else float("nan")
    return mean, variance, float(n_eff)


def _interval(mean: float, variance: float, n: float, alpha: float) -> tuple[float, float]:
    half = stats.t.ppf(1 - alpha / 2, n - 1) * np.sqrt(variance / n)
    return mean - half, mean + half


def welch_compare(treated, comparison, comparison_weights=None, alpha: float = 0.05) -> Comparison:
    """Compare a measure between the treatment group (``treated``: one value per person) and the
    comparison group (``comparison``, with matching ``comparison_weights`` or None for equal).

    Each group's mean has a t interval on its own (effective) size less one degrees of freedom;
    the difference (treatment minus comparison) has Welch's interval and two-sided p-value, with
    Welch-Satterthwaite degrees of freedom computed from the effective sizes. Significant means
    p <= ``alpha``. Needs at least two treated values and an effective comparison size over 1.
    """
    t_mean, t_var, n_t = weighted_mean_variance(treated, None)
    c_mean, c_var, n_c = weighted_mean_variance(comparison, comparison_weights)
    if n_t < 2 or n_c <= 1:
        raise ValueError("need at least two treated people and an effective comparison size over 1")
    a, b = t_var / n_t, c_var / n_c
    se = np.sqrt(a + b)
    difference = t_mean - c_mean
    if se == 0:
        df, p_value, half = float("inf"), (1.0 if difference == 0 else 0.0), 0.0
    else:
        df = (a + b) ** 2 / (a ** 2 / (n_t - 1) + b ** 2 / (n_c - 1))
        p_value = float(2 * stats.t.sf(abs(difference) / se, df))
        half = stats.t.ppf(1 - alpha / 2, df) * se
    t_lower, t_upper = _interval(t_mean, t_var, n_t, alpha)
    c_lower, c_upper = _interval(c_mean, c_var, n_c, alpha)
    return Comparison(treated_mean=t_mean, treated_lower=float(t_lower), treated_upper=float(t_upper),
                      comparison_mean=c_mean, comparison_lower=float(c_lower), comparison_upper=float(c_upper),
                      difference=float(difference), lower=float(difference - half), upper=float(difference + half),
                      p_value=p_value, significant=bool(p_value <= alpha), n_treated=int(n_t),
                      n_comparison=float(n_c), df=float(df), alpha=alpha)


RATE_GATE = 10          # treated people with, and without, the outcome for a rate to be interpreted
REOFFENDER_GATE = 30    # treated re-offenders for the re-offender-only measures (3 to 11)
POWER = 0.8


@dataclass(frozen=True)
class MeasureComparison:
    """One measure compared (one of the eleven, or an experimental one): the measure
    (:class:`jdl.cohort.measures.Measure`), the :class:`Comparison` (None when a gate stops it),
    whether it is reported and, if not, why."""

    measure: object
    comparison: Comparison | None
    reported: bool
    reason: str | None


def _gate(measure, treated_values: np.ndarray, n_reoffenders: int) -> str | None:
    """Why a measure is not reported, or None. The reason states the rule, never a count: a count
    of people with an outcome (3 whose first re-offence was indictable-only) is not published."""
    if measure.population == "reoffenders" and n_reoffenders < REOFFENDER_GATE:
        return (f"not reported: too few people (the treatment group has fewer than {REOFFENDER_GATE} "
                "re-offenders)")
    if measure.kind == "rate":
        having = int((treated_values == 1).sum())
        lacking = int((treated_values == 0).sum())
        if having < RATE_GATE or lacking < RATE_GATE:
            return (f"not reported: too few people (fewer than {RATE_GATE} in the treatment group have the "
                    f"outcome, or fewer than {RATE_GATE} do not)")
    return None


def compare_measures(data, weights, treatment: str = "treated", alpha: float = 0.05,
                     measures=None) -> list[MeasureComparison]:
    """Compare ``measures`` (default: the eleven of :data:`jdl.cohort.measures.MEASURES`; any
    :class:`jdl.cohort.measures.Measure` tuple, e.g. the experimental employment and benefit
    measures of :data:`jdl.cohort.employment.EMPLOYMENT_MEASURES`) between the matched groups.

    ``data``: one row per person with ``treatment`` (1/0), ``reoffended`` (for the re-offender
    gate) and the measures' columns; ``weights``: the match weights aligned to ``data`` (treated
    weight > 0 if matched; comparison weights as the match gives them; a value of someone with
    weight 0 is never read). Re-offender-only measures compare the re-offenders of each group.
    Gates (methodology section 6), by the measure's kind and population, whatever the measure:
    a rate needs at least 10 treated people with the outcome and 10 without; measures over
    re-offenders need at least 30 treated re-offenders; a frequency or a number of days over
    everyone has no gate of its own (the request's minimum criteria are its group-size gate).
    """
    from jdl.cohort.measures import MEASURES

    measures = MEASURES if measures is None else tuple(measures)
    w = float_values(weights)
    group = data[treatment].to_numpy()
    is_treated = (group == 1) & (w > 0)
    is_comparison = (group == 0) & (w > 0)
    reoffended = data["reoffended"].to_numpy() == 1
    n_reoffenders = int((is_treated & reoffended).sum())
    # the rows of each group, for all people and for re-offenders, found once (in data order) and
    # gathered from each measure's column: no mask over every row per measure
    rows = {"all": (np.flatnonzero(is_treated), np.flatnonzero(is_comparison)),
            "reoffenders": (np.flatnonzero(is_treated & reoffended), np.flatnonzero(is_comparison & reoffended))}
    results = []
    for measure in measures:
        column = data[measure.column].to_numpy(dtype=float)
        treated_rows, comparison_rows = rows["reoffenders" if measure.population == "reoffenders" else "all"]
        treated_values = column[treated_rows]
        reason = _gate(measure, treated_values, n_reoffenders)
        comparison = None
        if reason is None:
            comparison = welch_compare(treated_values, column[comparison_rows], w[comparison_rows],
                                       alpha=alpha)
        results.append(MeasureComparison(measure=measure, comparison=comparison, reported=reason is None,
                                         reason=reason))
    return results


def number_needed(treated_rate: float, comparison_rate: float, n_comparison: float, alpha: float = 0.05,
                  power: float = POWER) -> float:
    """Treatment-group size that would detect the observed difference d = p_C - p_T at two-sided
    ``alpha`` with ``power``, keeping the comparison group as it is (methodology section 6):

    n_T = (z_{1-alpha/2} + z_power)^2 p_T (1 - p_T) / (d^2 - (z_{1-alpha/2} + z_power)^2 p_C (1 - p_C) / n_C)

    rounded up to a whole person; ``math.inf`` when the denominator is not positive (no treatment
    group, however large, would be enough).
    """
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    d = comparison_rate - treated_rate
    denominator = d ** 2 - z ** 2 * comparison_rate * (1 - comparison_rate) / n_comparison
    if denominator <= 0:
        return math.inf
    return float(math.ceil(z ** 2 * treated_rate * (1 - treated_rate) / denominator))
