"""Choosing each linked person's index event: the start of the one-year follow-up
(methodology section 2).

An index event is a release from custody or the start of a court order (community order or
suspended sentence order). For each linked person, by the setting of the service:

* custody: the first release on or after ``intervention_start`` from a custodial episode that
  had begun (sentence date) on or before ``intervention_start``;
* community: the order running on ``intervention_start`` (started on or before it and ending on
  or after it; the most recently started if several), else the first order starting within
  ``lookahead_days`` (default 90) after it;
* a supplied ``index_date`` (or else ``conviction_date``) picks, among the person's events of the
  right kind, the one whose index date (or sentence date) is nearest to it, if within
  ``tolerance_days`` (default 30); if none is that near, the ``intervention_start`` rule decides.

All boundaries are inclusive. Ties (two events equally near, or starting the same day) go to the
lower event id. People then leave the flow, in this order, as "no eligible index event",
"index event outside the data window" (index date outside the national data's window) and
"under 18 at index".
"""

from __future__ import annotations

import pandas as pd

from jdl.cohort.attrition import NO_EVENT, OUTSIDE_WINDOW, UNDER_18
from jdl.cohort.national import NationalData

CUSTODY_EVENTS = ("custody release",)
COURT_ORDER_EVENTS = ("community order start", "suspended sentence order start")
DEFAULT_LOOKAHEAD_DAYS = 90
DEFAULT_TOLERANCE_DAYS = 30
ADULT_AGE = 18


def completed_years(born: pd.Series, on: pd.Series) -> pd.Series:
    """Age in completed years on a day (calendar age: a birthday on 29 February is reached on
    1 March in other years)."""
    before_birthday = (on.dt.month * 100 + on.dt.day) < (born.dt.month * 100 + born.dt.day)
    return on.dt.year - born.dt.year - before_birthday.astype(int)


def completed_years_sql(born: str, on: str) -> str:
    """The SQL expression of :func:`completed_years` for two date columns."""
    return (f"(year({on}) - year({born}) - case when month({on}) * 100 + day({on}) "
            f"< month({born}) * 100 + day({born}) then 1 else 0 end)")


def _nearest(cand: pd.DataFrame, column: str, target: str, tolerance: int) -> pd.DataFrame:
    """Per submitted row, the candidate whose ``column`` is nearest ``target`` within tolerance."""
    gap = (cand[column] - cand[target]).abs().dt.days
    close = gap <= tolerance
    near = cand[close].assign(_gap=gap[close])   # (the filtered gap: an empty frame would adopt a longer index)
    return near.sort_values(["sub", "_gap", "event_id"]).drop_duplicates("sub")


def select_index_events(linked: pd.DataFrame, national: NationalData, setting: str | None = None,
                        lookahead_days: int = DEFAULT_LOOKAHEAD_DAYS,
                        tolerance_days: int = DEFAULT_TOLERANCE_DAYS, min_age: float = ADULT_AGE) -> pd.DataFrame:
    """Pick the index event of every linked person still in the flow.

    ``linked``: one row per submitted person with ``person_id`` (Int64, NA when not linked),
    ``bucket`` (NA for those still in the flow), ``intervention_start``, ``index_date`` and
    ``conviction_date`` (datetimes or NaT) and optionally ``setting`` ("custody"/"community",
    overriding the request-level ``setting`` row by row).
    Returns a copy of ``linked`` with ``event_id``, ``event_type``, ``event_index_date`` and
    ``age_at_index`` (completed years) added, and ``bucket`` set for those who leave at this stage.
    """
    out = linked.copy()
    for column in ("event_id", "event_type", "event_index_date", "age_at_index"):
        out[column] = pd.NA
    row_setting = out["setting"] if "setting" in out else pd.Series(None, index=out.index, dtype="object")
    row_setting = row_setting.where(row_setting.isin(["custody", "community"]), setting)
    todo = out["bucket"].isna() & out["person_id"].notna()
    rows = pd.DataFrame({
        "sub": out.index[todo],
        "person_id": out.loc[todo, "person_id"].astype("int64").values,
        "setting": row_setting[todo].values,
        "start": pd.to_datetime(out.loc[todo, "intervention_start"]).values,
        "given_index": pd.to_datetime(out.loc[todo, "index_date"]).values,
        "given_conviction": pd.to_datetime(out.loc[todo, "conviction_date"]).values,
    })
    with national.session(wanted_people=rows[["person_id"]].drop_duplicates()) as con:
        events = con.execute("""
            select e.event_id, e.person_id, e.event_type::varchar as event_type, e.index_date, e.sentence_date,
                   e.episode_end, p.date_of_birth
            from index_events e join wanted_people w using (person_id) join people p using (person_id)""").df()
    for column in ("index_date", "sentence_date", "episode_end", "date_of_birth"):
        events[column] = pd.to_datetime(events[column])
    cand = rows.merge(events, on="person_id")
    right_kind = ((cand["setting"] == "custody") & cand["event_type"].isin(CUSTODY_EVENTS)) | (
        (cand["setting"] == "community") & cand["event_type"].isin(COURT_ORDER_EVENTS))
    cand = cand[right_kind]

    by_index = _nearest(cand[cand["given_index"].notna()], "index_date", "given_index", tolerance_days)
    by_conviction = _nearest(cand[cand["given_conviction"].notna()], "sentence_date", "given_conviction",
                             tolerance_days)
    has_start = cand[cand["start"].notna()]
    custody = has_start[(has_start["setting"] == "custody") & (has_start["sentence_date"] <= has_start["start"])
                        & (has_start["index_date"] >= has_start["start"])]
    custody = custody.sort_values(["sub", "index_date", "event_id"]).drop_duplicates("sub")
    community = has_start[has_start["setting"] == "community"]
    running = community[(community["index_date"] <= community["start"]) & (community["episode_end"] >= community["start"])]
    running = running.sort_values(["sub", "index_date", "event_id"], ascending=[True, False, True]).drop_duplicates("sub")
    days_after = (community["index_date"] - community["start"]).dt.days
    starting = community[(days_after > 0) & (days_after <= lookahead_days)]
    starting = starting.sort_values(["sub", "index_date", "event_id"]).drop_duplicates("sub")
    # first rule that finds an event wins: supplied index date, supplied conviction date, then start
    chosen = (pd.concat([by_index, by_conviction, custody, running, starting])
              .drop_duplicates("sub").set_index("sub"))

    out.loc[chosen.index, "event_id"] = chosen["event_id"].astype("int64")
    out.loc[chosen.index, "event_type"] = chosen["event_type"]
    out.loc[chosen.index, "event_index_date"] = chosen["index_date"]
    out.loc[chosen.index, "age_at_index"] = completed_years(chosen["date_of_birth"], chosen["index_date"])
    out["event_id"] = out["event_id"].astype("Int64")
    out["event_index_date"] = pd.to_datetime(out["event_index_date"])
    out["age_at_index"] = pd.to_numeric(out["age_at_index"])

    window = national.window
    no_event = todo & out["event_id"].isna()
    out.loc[no_event, "bucket"] = NO_EVENT
    still = out["bucket"].isna() & out["event_id"].notna()
    outside = still & ((out["event_index_date"] < pd.Timestamp(window.start))
                       | (out["event_index_date"] > pd.Timestamp(window.end)))
    out.loc[outside, "bucket"] = OUTSIDE_WINDOW
    still = out["bucket"].isna() & out["event_id"].notna()
    out.loc[still & (out["age_at_index"] < min_age), "bucket"] = UNDER_18
    return out
