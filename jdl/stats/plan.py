"""Matching a cohort: what the propensity model is fitted on and how (methodology section 5).

:func:`plan_match` restricts the analysis data to the values every treated person shares and to
common support on categorical covariates (:class:`MatchPlan` says what it did, in words a report
can print); :func:`match_data` fits and matches with :func:`jdl.stats.matching.match`;
:func:`match_cohort` does both for a :class:`jdl.cohort.build.Cohort` and finishes its attrition
flow; :func:`match_scrap` is the match as the report glues it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from jdl.cohort.build import Cohort, finish_attrition
from jdl.cohort.measures import CATEGORICAL_COVARIATES, COVARIATES


def shared_levels(data: pd.DataFrame, categorical: list[str], treatment: str = "treated") -> pd.Series:
    """True for rows whose every categorical covariate (or 0/1 covariate) takes a level that both
    groups hold.

    A level held only by the comparison pool (a region a regional programme never reaches) or only
    by the treated leaves its people outside common support: no propensity model can compare them.
    Comparison people outside are simply not candidates; treated people outside leave the analysis
    as "no comparison match".
    """
    levels = _Levels(data, categorical)
    treated = data[treatment].to_numpy() == 1
    keep = np.ones(len(data), dtype=bool)
    for column in categorical:
        keep &= levels.shared(column, np.ones(len(data), dtype=bool), treated)
    return pd.Series(keep, index=data.index)


class _Levels:
    """The columns of ``data`` as integer level codes (a missing value is a level of its own, as
    pandas' ``unique`` and ``isin`` treat it), coded once, so that the planning loop below runs
    on numpy arrays rather than on a pandas selection per column and round."""

    def __init__(self, data: pd.DataFrame, columns) -> None:
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}
        self.missing: dict[str, int] = {}
        for column in dict.fromkeys(columns):
            codes, values = pd.factorize(data[column], use_na_sentinel=False)
            self.codes[column], self.values[column] = codes, np.asarray(values, dtype=object)
            na = pd.isna(values)
            self.missing[column] = int(np.flatnonzero(na)[0]) if na.any() else -1

    def present(self, column: str, rows: np.ndarray) -> np.ndarray:
        """Which levels of ``column`` the rows ``rows`` (a boolean mask) hold."""
        return np.bincount(self.codes[column][rows], minlength=len(self.values[column])) > 0

    def distinct(self, column: str, rows: np.ndarray) -> int:
        """How many values ``column`` takes among ``rows``, a missing value not counted (nunique)."""
        held = self.present(column, rows)
        if self.missing[column] >= 0:
            held[self.missing[column]] = False
        return int(held.sum())

    def shared(self, column: str, rows: np.ndarray, treated: np.ndarray) -> np.ndarray:
        """For every row: whether its level of ``column`` is held by both the treated and the
        comparison rows among ``rows`` (a level outside both is not shared)."""
        both = self.present(column, rows & treated) & self.present(column, rows & ~treated)
        return both[self.codes[column]]


DEFAULT_EXACT = ("sex", "disposal_kind")


class NoComparison(ValueError):
    """No one in the comparison pool is left to compare the treatment group with (after the
    pool is restricted to the values every treated person shares): every treated person leaves
    the analysis as "no comparison match"."""


@dataclass(frozen=True)
class MatchPlan:
    """What :func:`plan_match` did to the analysis data before the propensity model was fitted,
    in terms a report can print (covariate names and values from the national data, never a
    count or level of the treatment group alone).

    ``covariates``: those in the model; ``left_out``: those wanted but constant among everyone
    left; ``restrictions``: (covariate, value) pairs where every treated person has the same
    value, so the pool was restricted to that value and the covariate left the model;
    ``support``: covariates with a level that one group only holds (the people holding it were
    set aside: comparison people are not candidates, treated people leave as "no comparison
    match"); ``exact``: the exact-matching variables kept (those that vary);
    ``n_pool_set_aside``: comparison people set aside by the restrictions and the support rule;
    ``n_treated_set_aside``: treated people set aside by the support rule.
    """

    covariates: tuple[str, ...]
    left_out: tuple[str, ...] = ()
    restrictions: tuple[tuple[str, object], ...] = ()
    support: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    n_pool_set_aside: int = 0
    n_treated_set_aside: int = 0


def plan_match(data: pd.DataFrame, covariates=None, exact=DEFAULT_EXACT) -> tuple[pd.DataFrame, MatchPlan]:
    """The rows and covariates a match of ``data`` (analysis data as in :attr:`Cohort.data`) can
    use, repeated until stable:

    - a covariate on which every treated person has the same value (none of the participants has
      a custodial history, say) cannot enter a model of who took part (its coefficient would run
      to infinity: quasi-separation); the comparison pool is restricted to that value instead, so
      the comparison people are like the treated on it exactly, and it leaves the model;
    - people with a level of a categorical or 0/1 covariate that one group only holds are set
      aside (:func:`shared_levels`: outside common support);
    - covariates and exact-matching variables that do not vary are left out.

    Returns the rows to match and the :class:`MatchPlan`. Raises :class:`NoComparison` when no
    comparison person is left.
    """
    wanted = list(covariates or COVARIATES)
    levelled = [c for c in wanted if c in CATEGORICAL_COVARIATES or data[c].isin((0, 1)).all()]
    levels = _Levels(data, [*wanted, *(exact or ())])
    treated = data["treated"].to_numpy() == 1
    rows = np.ones(len(data), dtype=bool)       # the rows still used
    restrictions: dict[str, object] = {}
    support: list[str] = []
    while True:
        before = int(rows.sum())
        for column in wanted:
            if column in restrictions:
                continue
            shared = np.flatnonzero(levels.present(column, rows & treated))
            if len(shared) == 1 and levels.distinct(column, rows & ~treated) > 1:
                restrictions[column] = levels.values[column][shared[0]]
                rows &= levels.codes[column] == shared[0]
        outside = {column: ~levels.shared(column, rows, treated) & rows for column in levelled}
        for column in levelled:
            if outside[column].any() and column not in support:
                support.append(column)
        for mask in outside.values():
            rows &= ~mask
        if int(rows.sum()) == before:
            break
    used = data[rows]
    treated = used["treated"] == 1
    if not treated.any() or treated.all():
        raise NoComparison("no one in the comparison pool shares the values every treated person has")
    chosen = [c for c in wanted if levels.distinct(c, rows) > 1]
    exact_kept = [c for c in (exact or ()) if levels.distinct(c, rows) > 1]
    pool_before = int((data["treated"] == 0).sum())
    treated_before = int((data["treated"] == 1).sum())
    plan = MatchPlan(
        covariates=tuple(chosen),
        left_out=tuple(c for c in wanted if c not in chosen and c not in restrictions),
        restrictions=tuple((c, _plain(v)) for c, v in restrictions.items()),
        support=tuple(support), exact=tuple(exact_kept),
        n_pool_set_aside=pool_before - int((~treated).sum()),
        n_treated_set_aside=treated_before - int(treated.sum()))
    return used, plan


def match_scrap(result, plan: MatchPlan) -> dict:
    """The match as run, as a JSON-ready dict of facts (no count of people): the match's own
    :meth:`jdl.stats.matching.MatchSummary.as_dict` without its counts, the covariates in the model and
    the plan's restrictions, left-out covariates and support rule."""
    summary = {k: v for k, v in result.summary().as_dict().items()
               if not k.startswith("n_") and k != "effective_comparison_size"}
    return {**summary, "covariates": list(result.covariates), "left_out": list(plan.left_out),
            "restrictions": {c: v for c, v in plan.restrictions}, "support": list(plan.support)}


def _plain(value):
    """A numpy scalar as a plain Python value (for words and scraps)."""
    return value.item() if hasattr(value, "item") else value


def match_data(data: pd.DataFrame, covariates=None, exact=DEFAULT_EXACT, **match_options):
    """Match the treated rows of ``data`` (analysis data as in :attr:`Cohort.data`) to its
    comparison rows, on the rows and covariates :func:`plan_match` leaves. Returns
    ``(result, used, plan)``: the :class:`jdl.stats.matching.MatchResult`, the rows it was fitted on
    and the :class:`MatchPlan`. ``match_options`` go to :func:`jdl.match` (method, caliper,
    ratio, replace, ...). Raises :class:`NoComparison` when no comparison person is left.
    """
    from jdl.stats.matching import match

    used, plan = plan_match(data, covariates, exact)
    result = match(used, treatment="treated", covariates=list(plan.covariates), exact=list(plan.exact) or None,
                   **match_options)
    return result, used, plan


def match_cohort(cohort: Cohort, covariates=None, exact=DEFAULT_EXACT, **match_options):
    """Match the cohort's treatment group to its pool (:func:`match_data`), and finish the
    attrition flow. Returns ``(result, data, flow, plan)``: the
    :class:`jdl.stats.matching.MatchResult`, the data it was fitted on, the flow with every submitted
    person in a bucket, and the :class:`MatchPlan`."""
    result, data, plan = match_data(cohort.data, covariates, exact, **match_options)
    treated_ids = cohort.data.index[cohort.data["treated"] == 1]
    weights = result.weights.reindex(treated_ids, fill_value=0.0)
    return result, data, finish_attrition(cohort.flow, weights), plan
