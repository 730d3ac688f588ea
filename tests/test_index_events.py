"""Index event selection (jdl.cohort.index_events): each rule and each edge."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from jdl.cohort.index_events import completed_years, select_index_events

from national_builder import build_national


def custody(event_id, person, sentence, release):
    return {"event_id": event_id, "person_id": person, "event_type": "custody release", "sentence_date": sentence,
            "index_date": release, "episode_end": release}


def order(event_id, person, start, end, kind="community order start"):
    return {"event_id": event_id, "person_id": person, "event_type": kind, "sentence_date": start,
            "index_date": start, "episode_end": end}


EVENTS = [
    custody(101, 1, date(2008, 1, 10), date(2008, 6, 30)),
    custody(102, 1, date(2009, 1, 1), date(2009, 3, 1)),
    custody(201, 2, date(2008, 1, 1), date(2008, 5, 1)),
    custody(202, 2, date(2008, 2, 1), date(2008, 4, 1)),
    order(301, 3, date(2008, 1, 1), date(2008, 12, 31)),
    order(302, 3, date(2008, 6, 1), date(2009, 5, 31), "suspended sentence order start"),
    order(303, 3, date(2010, 3, 31), date(2011, 3, 30)),
    order(401, 4, date(2007, 1, 1), date(2007, 6, 30)),
    custody(501, 5, date(2012, 6, 1), date(2012, 12, 30)),
    custody(601, 6, date(2012, 6, 1), date(2012, 12, 31)),
    custody(701, 7, date(2001, 6, 1), date(2002, 1, 1)),
    custody(801, 8, date(2001, 6, 1), date(2001, 12, 31)),
    custody(901, 9, date(2008, 1, 1), date(2008, 6, 14)),
    custody(1001, 10, date(2008, 1, 1), date(2008, 6, 15)),
]
PEOPLE = [{"person_id": p} for p in range(1, 9)] + [
    {"person_id": 9, "date_of_birth": date(1990, 6, 15)}, {"person_id": 10, "date_of_birth": date(1990, 6, 15)}]


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    return build_national(tmp_path_factory.mktemp("national"), people=PEOPLE, events=EVENTS)


def choose(national, cases, setting="custody", **options):
    """cases: (person, intervention_start, row setting or None, supplied index_date, supplied conviction_date)."""
    frame = pd.DataFrame([{
        "row": i + 2, "person_id": person, "bucket": pd.NA, "setting": row_setting,
        "intervention_start": pd.Timestamp(start) if start else pd.NaT,
        "index_date": pd.Timestamp(given_index) if given_index else pd.NaT,
        "conviction_date": pd.Timestamp(given_conviction) if given_conviction else pd.NaT,
    } for i, (person, start, row_setting, given_index, given_conviction) in enumerate(cases)])
    frame["person_id"] = frame["person_id"].astype("Int64")
    out = select_index_events(frame, national, setting=setting, **options)
    return [(None if pd.isna(e) else int(e)) for e in out["event_id"]], out["bucket"].tolist()


def test_custody_rule_and_same_day_edges(national):
    events, buckets = choose(national, [
        (1, date(2008, 3, 1), None, None, None),     # inside the episode
        (1, date(2008, 1, 10), None, None, None),    # on the sentence date
        (1, date(2008, 6, 30), None, None, None),    # on the release date
        (1, date(2008, 7, 1), None, None, None),     # after release, before the next sentence
        (2, date(2008, 3, 1), None, None, None),     # two episodes running: the first release
    ])
    assert events == [101, 101, 101, None, 202]
    assert all(pd.isna(b) for b in buckets[:3])
    assert buckets[3] == "no eligible index event" and pd.isna(buckets[4])


def test_community_rule_running_then_starting_within_90_days(national):
    events, buckets = choose(national, [
        (3, date(2008, 7, 1), None, None, None),     # two orders running: the most recent start
        (4, date(2007, 1, 1), None, None, None),     # on the order's start
        (4, date(2007, 6, 30), None, None, None),    # on the order's end
        (3, date(2010, 1, 1), None, None, None),     # nothing running; order starts 89 days later
        (3, date(2009, 12, 31), None, None, None),   # ... 90 days later (inclusive)
        (3, date(2009, 12, 30), None, None, None),   # ... 91 days later: too late
    ], setting="community")
    assert events == [302, 401, 401, 303, 303, None]
    assert buckets[5] == "no eligible index event"
    events, _ = choose(national, [(3, date(2009, 12, 30), None, None, None)], setting="community",
                       lookahead_days=91)
    assert events == [303]


def test_supplied_dates_pick_among_candidates(national):
    events, _ = choose(national, [
        (1, date(2008, 3, 1), None, date(2009, 3, 20), None),   # 19 days from release 102: picks it
        (1, date(2008, 3, 1), None, date(2009, 4, 1), None),    # 31 days: too far, the rule decides
        (1, date(2008, 3, 1), None, date(2009, 3, 31), None),   # exactly 30 days: picks 102
        (1, None, None, date(2008, 6, 25), None),               # no start at all: the supplied date
        (3, date(2008, 7, 1), "community", None, date(2010, 4, 15)),  # conviction 15 days from 303's sentence
    ])
    assert events == [102, 101, 102, 101, 303]
    events, _ = choose(national, [(1, date(2008, 3, 1), None, date(2009, 3, 20), None)], tolerance_days=10)
    assert events == [101]


def test_row_setting_overrides_the_request_and_kind_must_match(national):
    events, buckets = choose(national, [
        (1, date(2008, 3, 1), "community", None, None),   # person 1 has only custody events
        (3, date(2008, 7, 1), "community", None, None),
    ], setting="custody")
    assert events == [None, 302]
    assert buckets[0] == "no eligible index event"


def test_data_window_boundaries(national):
    events, buckets = choose(national, [
        (5, date(2012, 7, 1), None, None, None),    # released on the window's last day (2012-12-30)
        (6, date(2012, 7, 1), None, None, None),    # a day later
        (7, date(2001, 7, 1), None, None, None),    # released on the window's first day
        (8, date(2001, 7, 1), None, None, None),    # a day earlier
    ])
    assert events == [501, 601, 701, 801]
    assert [None if pd.isna(b) else b for b in buckets] == [
        None, "index event outside the data window", None, "index event outside the data window"]


def test_under_18_at_index(national):
    events, buckets = choose(national, [
        (9, date(2008, 3, 1), None, None, None),     # released the day before the 18th birthday
        (10, date(2008, 3, 1), None, None, None),    # released on the 18th birthday
    ])
    assert events == [901, 1001]
    assert buckets[0] == "under 18 at index" and pd.isna(buckets[1])


def test_people_already_out_of_the_flow_are_left_alone(national):
    frame = pd.DataFrame([{"row": 2, "person_id": pd.NA, "bucket": "not found", "setting": None,
                           "intervention_start": pd.Timestamp("2008-03-01"), "index_date": pd.NaT,
                           "conviction_date": pd.NaT}])
    frame["person_id"] = frame["person_id"].astype("Int64")
    out = select_index_events(frame, national, setting="custody")
    assert out["bucket"].tolist() == ["not found"] and out["event_id"].isna().all()


def test_completed_years_is_calendar_age():
    born = pd.Series(pd.to_datetime(["1990-01-01", "1990-01-01", "1992-02-29", "1992-02-29"]))
    on = pd.Series(pd.to_datetime(["2008-01-01", "2007-12-31", "2010-02-28", "2010-03-01"]))
    assert completed_years(born, on).tolist() == [18, 17, 17, 18]
