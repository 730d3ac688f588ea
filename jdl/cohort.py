"""From a validated submission to the analysis data: linkage, index events, the comparison pool,
covariates and outcomes, with every submitted person's attrition bucket (methodology sections 2-4).

:func:`build_cohort` strings together :func:`jdl.linkage.link`,
:func:`jdl.index_events.select_index_events`, :func:`jdl.measures.comparison_pool`,
:func:`jdl.measures.covariates` and :func:`jdl.measures.outcomes`; :func:`finish_attrition` puts the
people the match kept or dropped in their last buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from jdl.attrition import ANALYSED, MISSING_DATA, NO_MATCH
from jdl.index_events import COURT_ORDER_EVENTS, select_index_events
from jdl.linkage import DEFAULT_THRESHOLD, link
from jdl.measures import CATEGORICAL_COVARIATES, COVARIATES, comparison_pool, covariates, outcomes
from jdl.national import NationalData

DEFAULT_POOL_MARGIN_MONTHS = 6
FLOW_COLUMNS = ("row", "setting", "intervention_start", "index_date", "conviction_date")


@dataclass(frozen=True)
class Cohort:
    """The analysis data of one request.

    ``flow``: one row per submitted person (index as submitted) with ``row``, ``person_id``,
    ``link_pass``, ``event_id``, ``event_type``, ``event_index_date``, ``age_at_index`` and
    ``bucket`` (NA for those still in the analysis). Holds national ids: never for display.
    ``data``: one row per index event, indexed by ``event_id``: ``treated`` (1 for the treatment
    group, 0 for the comparison pool), ``disposal_kind`` ("custody" or "court order"),
    ``person_id``, ``index_date``, the covariates and the eleven outcome measures.
    """

    flow: pd.DataFrame
    data: pd.DataFrame


def disposal_kind(event_type: pd.Series) -> pd.Series:
    """"court order" for community and suspended sentence order starts, else "custody"."""
    return event_type.isin(COURT_ORDER_EVENTS).map({True: "court order", False: "custody"})


def build_cohort(participants: pd.DataFrame, national: NationalData, setting: str | None,
                 threshold: float = DEFAULT_THRESHOLD, pool_margin_months: int = DEFAULT_POOL_MARGIN_MONTHS,
                 **index_options) -> Cohort:
    """Link ``participants`` (parsed rows from :func:`jdl.validate.validate_upload`), choose their
    index events, and assemble treated and comparison-pool covariates and outcomes.

    ``setting`` is the request's setting ("custody" or "community"), overridden row by row by a
    submitted ``setting``. The pool takes, for each kind of index event among the treated,
    everyone with an eligible event of that kind within the span of treated index dates plus or
    minus ``pool_margin_months``. Treated people with a missing covariate leave as "missing data
    needed by the model". ``index_options`` go to :func:`jdl.index_events.select_index_events`.
    """
    linkage = link(participants, national, threshold=threshold)
    flow = participants.reindex(columns=list(FLOW_COLUMNS)).join(linkage.links.drop(columns="row"))
    flow = select_index_events(flow, national, setting=setting, **index_options)

    treated = flow[flow["bucket"].isna() & flow["event_id"].notna()]
    treated_ids = treated["event_id"].astype("int64")
    pool_ids = []
    margin = pd.DateOffset(months=pool_margin_months)
    for kind, group in treated.groupby(disposal_kind(treated["event_type"])):
        first = (group["event_index_date"].min() - margin).date()
        last = (group["event_index_date"].max() + margin).date()
        pool_ids.append(comparison_pool(national, "custody" if kind == "custody" else "community", first, last,
                                        exclude_person_ids=treated["person_id"].astype("int64").unique()))
    ids = pd.Index(treated_ids).append([pd.Index(p) for p in pool_ids]).unique()
    data = covariates(national, ids).join(outcomes(national, ids))
    data.insert(0, "treated", data.index.isin(treated_ids).astype(int))
    data.insert(1, "disposal_kind", disposal_kind(data["disposal"]))

    incomplete = data[list(COVARIATES)].isna().any(axis=1)
    missing_treated = data.index[incomplete & (data["treated"] == 1)]
    flow.loc[flow["event_id"].isin(missing_treated) & flow["bucket"].isna(), "bucket"] = MISSING_DATA
    return Cohort(flow=flow, data=data[~incomplete])


def finish_attrition(flow: pd.DataFrame, treated_weights: pd.Series) -> pd.DataFrame:
    """The flow with the last two buckets filled: treated people whose index event has weight 0
    in the match leave as "no comparison match"; the rest are "analysed".

    ``treated_weights``: the match weights of the treated, indexed by ``event_id``.
    """
    out = flow.copy()
    still = out["bucket"].isna()
    weight = out.loc[still, "event_id"].map(treated_weights)
    if weight.isna().any():
        raise ValueError(f"{int(weight.isna().sum())} people still in the analysis have no match weight")
    out.loc[weight.index[weight <= 0], "bucket"] = NO_MATCH
    out.loc[weight.index[weight > 0], "bucket"] = ANALYSED
    return out


def shared_levels(data: pd.DataFrame, categorical: list[str], treatment: str = "treated") -> pd.Series:
    """True for rows whose every categorical covariate (or 0/1 covariate) takes a level that both
    groups hold.

    A level held only by the comparison pool (a region a regional programme never reaches) or only
    by the treated leaves its people outside common support: no propensity model can compare them.
    Comparison people outside are simply not candidates; treated people outside leave the analysis
    as "no comparison match".
    """
    keep = pd.Series(True, index=data.index)
    treated = data[treatment] == 1
    for column in categorical:
        values = data[column]
        both = pd.Index(values[treated].unique()).intersection(pd.Index(values[~treated].unique()))
        keep &= values.isin(both)
    return keep


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
    used = data
    restrictions: dict[str, object] = {}
    support: list[str] = []
    while True:
        treated = used["treated"] == 1
        before = len(used)
        for column in wanted:
            if column in restrictions:
                continue
            shared = used.loc[treated, column].unique()
            if len(shared) == 1 and used.loc[~treated, column].nunique() > 1:
                restrictions[column] = shared[0]
                used = used[used[column] == shared[0]]
                treated = used["treated"] == 1
        keep = shared_levels(used, levelled)
        if not keep.all():
            for column in levelled:
                if not shared_levels(used, [column]).all() and column not in support:
                    support.append(column)
            used = used[keep]
        if len(used) == before:
            break
    treated = used["treated"] == 1
    if not treated.any() or treated.all():
        raise NoComparison("no one in the comparison pool shares the values every treated person has")
    chosen = [c for c in wanted if used[c].nunique() > 1]
    exact_kept = [c for c in (exact or ()) if used[c].nunique() > 1]
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
    :meth:`jdl.matching.MatchResult.summary` without its counts, the covariates in the model and
    the plan's restrictions, left-out covariates and support rule."""
    summary = {k: v for k, v in result.summary().items() if not k.startswith("n_") and k != "effective_comparison_size"}
    return {**summary, "covariates": list(result.covariates), "left_out": list(plan.left_out),
            "restrictions": {c: v for c, v in plan.restrictions}, "support": list(plan.support)}


def _plain(value):
    """A numpy scalar as a plain Python value (for words and scraps)."""
    return value.item() if hasattr(value, "item") else value


def match_data(data: pd.DataFrame, covariates=None, exact=DEFAULT_EXACT, **match_options):
    """Match the treated rows of ``data`` (analysis data as in :attr:`Cohort.data`) to its
    comparison rows, on the rows and covariates :func:`plan_match` leaves. Returns
    ``(result, used, plan)``: the :class:`jdl.matching.MatchResult`, the rows it was fitted on
    and the :class:`MatchPlan`. ``match_options`` go to :func:`jdl.match` (method, caliper,
    ratio, replace, ...). Raises :class:`NoComparison` when no comparison person is left.
    """
    from jdl.matching import match

    used, plan = plan_match(data, covariates, exact)
    result = match(used, treatment="treated", covariates=list(plan.covariates), exact=list(plan.exact) or None,
                   **match_options)
    return result, used, plan


def match_cohort(cohort: Cohort, covariates=None, exact=DEFAULT_EXACT, **match_options):
    """Match the cohort's treatment group to its pool (:func:`match_data`), and finish the
    attrition flow. Returns ``(result, data, flow, plan)``: the
    :class:`jdl.matching.MatchResult`, the data it was fitted on, the flow with every submitted
    person in a bucket, and the :class:`MatchPlan`."""
    result, data, plan = match_data(cohort.data, covariates, exact, **match_options)
    treated_ids = cohort.data.index[cohort.data["treated"] == 1]
    weights = result.weights.reindex(treated_ids, fill_value=0.0)
    return result, data, finish_attrition(cohort.flow, weights), plan


PARTICIPANT_ATTRIBUTES = ("completed", "referral_route", "delivery_location", "sub_group")


def treated_attributes(flow: pd.DataFrame, participants: pd.DataFrame,
                       columns=PARTICIPANT_ATTRIBUTES) -> pd.DataFrame:
    """What the submitter told us about each treated person that the national data does not hold
    (whether they completed the service, how they were referred, where they received it, the
    submitter's sub-group label), indexed by index event (``event_id``) like :attr:`Cohort.data`.

    ``flow``: the cohort's flow (index as submitted); ``participants``: the parsed upload rows
    (same index). Only people who reached an index event are included; missing values stay
    missing. Holds upload values: for aggregation only, never for display row by row.
    """
    reached = flow[flow["event_id"].notna()]
    reached = reached[~reached["event_id"].duplicated()]
    attributes = participants.reindex(columns=list(columns)).loc[reached.index]
    attributes.index = pd.Index(reached["event_id"].astype("int64"), name="event_id")
    return attributes
