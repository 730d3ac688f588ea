"""From a validated submission to the analysis data: linkage, index events, the comparison pool,
covariates and outcomes, with every submitted person's attrition bucket (methodology sections 2-4).

:func:`build_cohort` strings together :func:`jdl.cohort.linkage.link`,
:func:`jdl.cohort.index_events.select_index_events`, :func:`jdl.cohort.measures.comparison_pool`,
:func:`jdl.cohort.measures.covariates` and :func:`jdl.cohort.measures.outcomes`; :func:`finish_attrition` puts the
people the match kept or dropped in their last buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from jdl.cohort.attrition import ANALYSED, MISSING_DATA, NO_MATCH
from jdl.cohort.index_events import COURT_ORDER_EVENTS, select_index_events
from jdl.cohort.linkage import DEFAULT_THRESHOLD, link
from jdl.cohort.measures import COVARIATES, comparison_pool, covariates, outcomes
from jdl.cohort.national import NationalData

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
    """Link ``participants`` (parsed rows from :func:`jdl.upload.validate.validate_upload`), choose their
    index events, and assemble treated and comparison-pool covariates and outcomes.

    ``setting`` is the request's setting ("custody" or "community"), overridden row by row by a
    submitted ``setting``. The pool takes, for each kind of index event among the treated,
    everyone with an eligible event of that kind within the span of treated index dates plus or
    minus ``pool_margin_months``. Treated people with a missing covariate leave as "missing data
    needed by the model". ``index_options`` go to :func:`jdl.cohort.index_events.select_index_events`.
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
