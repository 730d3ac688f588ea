"""Cumulative re-offending: the share of each group with a proven re-offence within ``d`` days of
the index date, for any days ``d`` (the report's curve over the 365 days; a table at days 30, 90,
180, 270 and 365).

"Within ``d`` days" counts a first proven re-offence on days 0 to ``d`` - 1 after the index date
(``days_to_first`` < ``d``; day 0 is the index date), so at ``d`` = 365 the share is the one-year
proven re-offending rate and the interval is the rate's interval of :func:`jdl.stats.compare.welch_compare`.

Conventions, the same as :mod:`jdl.stats.compare`: the treatment group's people count once each;
the comparison group's people count by their match weights, with the unbiased weighted variance
``sum w (x - m)^2 / (V1 - V2 / V1)`` and the effective size ``V1^2 / V2``. For a share ``p`` of 0/1
values this variance is ``V1 p (1 - p) / (V1 - V2 / V1)``. Each group's 95% interval is
``p -/+ t(1 - alpha/2, n - 1) sqrt(variance / n)`` with ``n`` its (effective) size, clipped to
[0, 1] (a share cannot leave it).

Disclosure: a cumulative count at a day is a count of people. :func:`curve_shown` says which days
of a curve may be published: only days where each group has at least :data:`MIN_REOFFENDERS`
re-offenders so far (earlier days are left out, so no count of 1 to 4 people is revealed), and
no curve at all unless the whole-year rate passes its gate (at least 10 treated people with a
proven re-offence and 10 without; :data:`jdl.stats.compare.RATE_GATE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from jdl.cohort.employment import CHECKPOINTS
from jdl.stats.compare import RATE_GATE

MIN_REOFFENDERS = 5       # people with a re-offence so far, in each group, before a day is shown
TABLE_DAYS = CHECKPOINTS       # the days of the tables of shares so far (jdl.cohort.employment)


@dataclass(frozen=True)
class Cumulative:
    """The cumulative share re-offending of both groups by day: ``table`` indexed by ``day`` with
    columns treated, treated_lower, treated_upper, comparison, comparison_lower,
    comparison_upper (proportions) and treated_count, comparison_count (the treated people, and
    comparison people weighted, with a re-offence within that many days: never published)."""

    table: pd.DataFrame
    n_treated: int
    n_comparison: float


def _share(reoffended_by: np.ndarray, w: np.ndarray, alpha: float):
    """Share, lower, upper and weighted count for each row of ``reoffended_by`` (days x people,
    0/1) under weights ``w`` (people)."""
    v1, v2 = w.sum(), (w ** 2).sum()
    n = v1 ** 2 / v2
    counts = reoffended_by @ w
    p = counts / v1
    if n > 1:
        variance = v1 * p * (1 - p) / (v1 - v2 / v1)
        half = stats.t.ppf(1 - alpha / 2, n - 1) * np.sqrt(variance / n)
    else:
        half = np.full_like(p, np.nan)
    return p, np.clip(p - half, 0, 1), np.clip(p + half, 0, 1), counts, float(n)


def cumulative_reoffending(data: pd.DataFrame, weights, days=range(1, 366), treatment: str = "treated",
                           alpha: float = 0.05) -> Cumulative:
    """The share of the treatment group and of the weighted comparison group with a proven
    re-offence within each of ``days`` days of the index date, with 95% intervals.

    ``data``: one row per person with ``treatment`` (1/0) and ``days_to_first`` (the day of the
    first proven re-offence after the index date, 0 to 364; missing for no re-offence);
    ``weights``: the match weights aligned to ``data`` (people with weight 0 are not in the
    match). Raises ValueError when a group has nobody with positive weight."""
    w = np.asarray(weights, dtype=float)
    if len(w) != len(data):
        raise ValueError("data and weights differ in length")
    day = np.asarray(list(days), dtype=float)
    first = data["days_to_first"].to_numpy(dtype=float)
    treated = data[treatment].to_numpy() == 1
    columns = {}
    sizes = {}
    for name, group, group_w in (("treated", treated, None), ("comparison", ~treated, w)):
        keep = group & (w > 0)
        if not keep.any():
            raise ValueError(f"the {name} group has nobody in the match")
        gw = np.ones(int(keep.sum())) if group_w is None else group_w[keep]
        # NaN < d is False: people with no re-offence never count
        by_day = (first[keep][None, :] < day[:, None]).astype(float)
        p, lower, upper, counts, n = _share(by_day, gw, alpha)
        columns |= {name: p, f"{name}_lower": lower, f"{name}_upper": upper, f"{name}_count": counts,
                    f"{name}_people": by_day.sum(axis=1).astype(int)}
        sizes[name] = n
    table = pd.DataFrame(columns, index=pd.Index(day.astype(int), name="day"))
    order = ["treated", "treated_lower", "treated_upper", "comparison", "comparison_lower", "comparison_upper",
             "treated_count", "comparison_count", "treated_people", "comparison_people"]
    return Cumulative(table=table[order], n_treated=int(round(sizes["treated"])), n_comparison=sizes["comparison"])


def curve_shown(curve: Cumulative) -> pd.DataFrame | None:
    """The days of ``curve`` that may be published (the share and interval columns only, no
    counts), or None when no curve may be shown (:func:`publishable_days`)."""
    return publishable_days(curve.table, curve.n_treated,
                            ("treated", "treated_lower", "treated_upper", "comparison", "comparison_lower",
                             "comparison_upper"))


def publishable_days(table: pd.DataFrame, n_treated: int, columns) -> pd.DataFrame | None:
    """The rows (days) of a cumulative ``table`` that may be published, with ``columns`` only (never
    its counts), or None when none may be: the rule of every curve and table of shares so far.

    ``table`` has, per day in order, ``treated_people`` and ``comparison_people``: the people of
    each group with the outcome so far (counted once each whatever their weight); ``n_treated``
    is the treatment group's size. None when, by the last day, the treatment group has fewer than
    :data:`RATE_GATE` people with the outcome or fewer than :data:`RATE_GATE` without (the rate's
    gate). Otherwise the days where each group has at least :data:`MIN_REOFFENDERS` people with
    the outcome (a share of 1 to 4 people is never shown; the shares only rise, so those are the
    first days)."""
    if table.empty:
        return None
    last = table["treated_people"].iloc[-1]
    if last < RATE_GATE or n_treated - last < RATE_GATE:
        return None
    shown = table[(table["treated_people"] >= MIN_REOFFENDERS) & (table["comparison_people"] >= MIN_REOFFENDERS)]
    return None if shown.empty else shown[list(columns)]
