"""Cumulative shares over time, compared: for each checkpoint day (30, 90, 180, 270 and 365 after
the index date), the share of the treatment group and the weighted share of the comparison group
with an outcome so far (a proven re-offence, being in P45 employment), each with its confidence
interval, and the difference treatment minus comparison with Welch's interval and p-value.

Each checkpoint is compared exactly as a rate measure is (methodology section 6), by
:func:`jdl.stats.compare.welch_compare` on the 0/1 column ``<outcome>_by_<day>`` of
:func:`jdl.cohort.employment.over_time`: the treatment group's people count once each, the
comparison group's by their match weights (weighted mean, unbiased weighted variance, effective
size ``(sum w)^2 / sum w^2``). So the last checkpoint, day 365, gives the same comparison as the
one-year rate (``reoffended``, ``employed_in_year``). Intervals are not clipped to [0, 1] (as in
:mod:`jdl.stats.compare`; :mod:`jdl.stats.curves` clips its bands for drawing).

Disclosure: ``treated_people`` and ``comparison_people`` in the table are counts of people (each
counted once, whatever the weight) with the outcome by the day; they are there for the caller's
gates (:mod:`jdl.stats.curves` shows a day only when each group has at least 5) and are never to
be published. No gate is applied here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from jdl.cohort.employment import CHECKPOINTS
from jdl.stats.compare import Comparison, welch_compare

# the table's columns: the Comparison's fields under the names of jdl.stats.curves's table
_RENAMED = {"treated_mean": "treated", "comparison_mean": "comparison"}
TABLE_COLUMNS = ("treated", "treated_lower", "treated_upper", "comparison", "comparison_lower", "comparison_upper",
                 "difference", "lower", "upper", "p_value", "significant", "n_treated", "n_comparison", "df",
                 "treated_people", "comparison_people")


@dataclass(frozen=True)
class OverTime:
    """An outcome's cumulative shares compared at each checkpoint day.

    ``outcome``: the column stem (``"reoffended"``, ``"employed"``); ``comparisons``: day ->
    :class:`jdl.stats.compare.Comparison` (shares as proportions); ``table``: the same indexed
    by ``day`` with the columns of :data:`TABLE_COLUMNS` (``treated``/``comparison`` the shares,
    ``*_lower``/``*_upper`` their intervals, ``difference``, ``lower``, ``upper``, ``p_value``,
    ``significant``, the sizes and Welch degrees of freedom, and the never-published counts
    ``treated_people`` and ``comparison_people``)."""

    outcome: str
    comparisons: dict[int, Comparison]
    table: pd.DataFrame


def compare_over_time(data: pd.DataFrame, weights, outcome: str = "reoffended", checkpoints=CHECKPOINTS,
                      treatment: str = "treated", alpha: float = 0.05) -> OverTime:
    """Compare the cumulative share with ``outcome`` by each day of ``checkpoints`` between the
    matched groups.

    ``data``: one row per person with ``treatment`` (1/0) and the 0/1 columns
    ``<outcome>_by_<day>`` (:func:`jdl.cohort.employment.over_time`); ``weights``: the match
    weights aligned to ``data`` (people with weight 0 are not in the match; treated people count
    once each whatever their positive weight). Raises ValueError when a column is missing or not
    0/1 for someone in the match, or as :func:`jdl.stats.compare.welch_compare` does (fewer than
    two treated people, an effective comparison size of 1 or less).
    """
    w = np.asarray(weights, dtype=float)
    if len(w) != len(data):
        raise ValueError("data and weights differ in length")
    group = data[treatment].to_numpy()
    treated_rows = np.flatnonzero((group == 1) & (w > 0))
    comparison_rows = np.flatnonzero((group == 0) & (w > 0))
    comparisons, rows = {}, []
    for day in checkpoints:
        column = f"{outcome}_by_{int(day)}"
        if column not in data:
            raise ValueError(f"no column {column!r} in the data")
        values = data[column].to_numpy(dtype=float)
        used = values[np.concatenate([treated_rows, comparison_rows])]
        if not np.isin(used, (0.0, 1.0)).all():
            raise ValueError(f"{column} must be 0 or 1 for everyone in the match")
        result = welch_compare(values[treated_rows], values[comparison_rows], w[comparison_rows], alpha=alpha)
        comparisons[int(day)] = result
        row = {_RENAMED.get(k, k): v for k, v in asdict(result).items() if k != "alpha"}
        row["treated_people"] = int(values[treated_rows].sum())
        row["comparison_people"] = int(values[comparison_rows].sum())
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index([int(d) for d in checkpoints], name="day"), columns=list(TABLE_COLUMNS))
    return OverTime(outcome=outcome, comparisons=comparisons, table=table)


# the columns of a published over-time table (shown_over_time): shares, difference, intervals, p-value
SHOWN_COLUMNS = ("treated", "treated_lower", "treated_upper", "comparison", "comparison_lower", "comparison_upper",
                 "difference", "lower", "upper", "p_value", "significant")


def shown_over_time(over: OverTime) -> pd.DataFrame | None:
    """The checkpoint days of ``over`` that may be published (the columns of
    :data:`SHOWN_COLUMNS` only: never the people counts), or None when none may be: the rule of
    the cumulative curve (:func:`jdl.stats.curves.publishable_days`), by the last checkpoint (day
    365, the one-year rate) the rate's gate, and each group with at least 5 people with the
    outcome on a day shown."""
    from jdl.stats.curves import publishable_days

    table = over.table
    n_treated = int(table["n_treated"].iloc[-1]) if len(table) else 0
    return publishable_days(table, n_treated, SHOWN_COLUMNS)


def cumulative_share(data: pd.DataFrame, weights, first_day: str, days=range(1, 366), treatment: str = "treated",
                     alpha: float = 0.05):
    """The day-by-day cumulative share of each group with an outcome whose first day after the
    index date (0 to 364; missing: never in the year) is the column ``first_day`` of ``data``
    (``days_to_first`` for a proven re-offence, ``days_to_first_employment`` for P45 employment):
    :func:`jdl.stats.curves.cumulative_reoffending` on that column, so the same conventions,
    intervals and disclosure rule (:func:`jdl.stats.curves.curve_shown`) apply."""
    from jdl.stats.curves import cumulative_reoffending

    frame = pd.DataFrame({treatment: data[treatment].to_numpy(), "days_to_first": data[first_day].to_numpy(dtype=float)},
                         index=data.index)
    return cumulative_reoffending(frame, weights, days=days, treatment=treatment, alpha=alpha)
