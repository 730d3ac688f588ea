"""Employment and benefit outcomes, outcomes over time (jdl.cohort.employment) and their
comparison (jdl.stats.over_time) on hand-worked cases, and the synthetic employment effect
recovered by the matched estimate on the session's synthetic world."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from jdl.cohort.employment import (CHECKPOINTS, EMPLOYMENT_COLUMNS, EMPLOYMENT_MEASURES, employment_outcomes,
                                   over_time, over_time_columns)
from jdl.cohort.measures import MEASURES, outcomes
from jdl.stats.compare import welch_compare
from jdl.stats.curves import TABLE_DAYS
from jdl.stats.over_time import TABLE_COLUMNS, compare_over_time

from national_builder import build_national

D0 = date(2010, 1, 1)         # the index date of events 1 to 5; day 364 is 2010-12-31


def spell(person, start, end, benefit=None):
    row = {"person_id": person, "start_date": start, "end_date": end}
    return row if benefit is None else {**row, "benefit": benefit}


def offence(person, occasion, offence_date, proof_date, disposal="court conviction", group="theft"):
    return {"person_id": person, "occasion_id": occasion, "offence_date": offence_date, "proof_date": proof_date,
            "disposal": disposal, "offence_group": group}


PEOPLE = [{"person_id": p} for p in (1, 2, 3, 4, 5)]
EVENTS = ([{"event_id": p, "person_id": p, "sentence_date": date(2009, 7, 1), "index_date": D0, "episode_end": D0}
           for p in (1, 2, 3, 4, 5)]
          + [{"event_id": 6, "person_id": 1, "sentence_date": date(2010, 5, 1), "index_date": date(2010, 6, 1),
              "episode_end": date(2010, 6, 1)}])
EMPLOYMENT = [
    # person 1
    spell(1, date(2009, 1, 1), date(2009, 12, 31)),    # ends the day before the index date: outside
    spell(1, date(2009, 11, 1), date(2010, 1, 10)),    # straddles the start: days 0-9
    spell(1, date(2010, 1, 5), date(2010, 2, 9)),      # overlaps it: with it, 1 Jan to 9 Feb, 40 days
    spell(1, date(2010, 6, 1), date(2010, 6, 30)),     # 30 days
    spell(1, date(2010, 6, 10), date(2010, 6, 20)),    # inside the one before: nothing more
    spell(1, date(2010, 12, 31), date(2011, 3, 1)),    # straddles the end: day 364 only
    spell(1, date(2011, 1, 1), date(2011, 5, 1)),      # day 365 on: outside
    # person 2: starts on day 29; person 3 on day 30 (two days)
    spell(2, date(2010, 1, 30), date(2010, 1, 30)),
    spell(3, date(2010, 1, 31), date(2010, 2, 1)),
    # person 4: just before and just after the year
    spell(4, date(2008, 1, 1), date(2009, 12, 31)),
    spell(4, date(2011, 1, 1), date(2011, 2, 1)),
]
BENEFITS = [
    # person 1: overlapping spells of two benefits (1-20 March, 20 days), and one ending on day 363
    spell(1, date(2010, 3, 1), date(2010, 3, 10), "Jobseeker's Allowance"),
    spell(1, date(2010, 3, 5), date(2010, 3, 20), "Income Support"),
    spell(1, date(2010, 12, 1), date(2010, 12, 30), "Jobseeker's Allowance"),
    # person 2: one day, the last day of the year
    spell(2, date(2010, 12, 31), date(2010, 12, 31), "Jobseeker's Allowance"),
    # person 3: starts the day after the year
    spell(3, date(2011, 1, 1), date(2011, 6, 1), "Jobseeker's Allowance"),
    # person 4: the whole year and more, twice over
    spell(4, date(2009, 1, 1), date(2012, 1, 1), "Income Support"),
    spell(4, date(2009, 6, 1), date(2011, 1, 1), "Jobseeker's Allowance"),
]
OFFENCES = [
    offence(1, 10, date(2010, 1, 5), date(2010, 1, 20), "penalty notice for disorder"),   # does not count
    offence(1, None, date(2010, 1, 6), date(2010, 2, 1), group="breach of order"),         # does not count
    offence(1, 11, date(2010, 4, 11), date(2011, 7, 3)),                                   # proven a day late
    offence(1, 12, date(2011, 1, 1), date(2011, 2, 1)),                                    # day 365: outside
    offence(2, 21, date(2010, 1, 30), date(2010, 3, 1)),                                   # day 29
    offence(3, 31, date(2010, 1, 31), date(2010, 3, 1), "caution"),                        # day 30
    offence(4, 41, date(2010, 12, 31), date(2011, 7, 2)),                                  # day 364, proven in time
    offence(5, 51, date(2009, 12, 31), date(2010, 2, 1)),                                  # the day before
]


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    return build_national(tmp_path_factory.mktemp("national"), people=PEOPLE, events=EVENTS, offences=OFFENCES,
                          employment=EMPLOYMENT, benefits=BENEFITS)


def test_measures_are_everyones_and_of_known_kinds():
    assert [m.column for m in EMPLOYMENT_MEASURES] == ["employed_in_year", "days_employed", "benefit_at_year_end",
                                                       "days_on_benefit"]
    assert EMPLOYMENT_COLUMNS == tuple(m.column for m in EMPLOYMENT_MEASURES)
    assert [m.kind for m in EMPLOYMENT_MEASURES] == ["rate", "days", "rate", "days"]
    assert all(m.population == "all" for m in EMPLOYMENT_MEASURES)
    assert not set(EMPLOYMENT_COLUMNS) & {m.column for m in MEASURES}
    assert CHECKPOINTS == TABLE_DAYS


def test_employment_outcomes_hand_worked(national):
    out = employment_outcomes(national, [6, 5, 4, 3, 2, 1, 1])
    assert list(out.columns) == list(EMPLOYMENT_COLUMNS)
    assert list(out.index) == [1, 2, 3, 4, 5, 6] and out.index.name == "event_id"
    expected = pd.DataFrame({
        "employed_in_year": [1, 1, 1, 0, 0, 1],
        # 40 (1 Jan to 9 Feb) + 30 (June) + 1 (31 Dec); 1; 2; 0; 0; event 6 (1 June 2010 to 31 May
        # 2011): 30 (June) + 122 (31 Dec 2010 to 1 May 2011, two overlapping spells)
        "days_employed": [71.0, 1.0, 2.0, 0.0, 0.0, 152.0],
        # day 364: person 1's spell ends on day 363, person 2's is that day, person 3's starts the
        # day after; event 6's year ends on 31 May 2011
        "benefit_at_year_end": [0, 1, 0, 1, 0, 0],
        # 20 (1-20 March, overlapping) + 30 (December); 1; 0; 365 (two spells over the whole year)
        "days_on_benefit": [50.0, 1.0, 0.0, 365.0, 0.0, 30.0],
    }, index=pd.Index([1, 2, 3, 4, 5, 6], name="event_id"))
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)
    assert out["days_employed"].dtype == float and out["employed_in_year"].dtype.kind == "i"


def test_over_time_hand_worked(national):
    out = over_time(national, [1, 2, 3, 4, 5, 6])
    assert list(out.columns) == list(over_time_columns()) == (
        [f"reoffended_by_{d}" for d in CHECKPOINTS] + [f"employed_by_{d}" for d in CHECKPOINTS])
    reoffended = out[[f"reoffended_by_{d}" for d in CHECKPOINTS]].to_numpy().tolist()
    assert reoffended == [[0, 0, 0, 0, 0],      # nothing that counts, in time, in the year
                          [1, 1, 1, 1, 1],      # day 29
                          [0, 1, 1, 1, 1],      # day 30
                          [0, 0, 0, 0, 1],      # day 364
                          [0, 0, 0, 0, 0],      # the day before the index date
                          [0, 0, 0, 1, 1]]      # event 6 (1 June 2010): person 1's offence of 1 Jan 2011, day 214
    employed = out[[f"employed_by_{d}" for d in CHECKPOINTS]].to_numpy().tolist()
    assert employed == [[1, 1, 1, 1, 1],        # a spell straddling the index date
                        [1, 1, 1, 1, 1],        # day 29
                        [0, 1, 1, 1, 1],        # day 30
                        [0, 0, 0, 0, 0],
                        [0, 0, 0, 0, 0],
                        [1, 1, 1, 1, 1]]
    # by day 365 they are the one-year measures, exactly
    assert (out["reoffended_by_365"] == outcomes(national, out.index)["reoffended"]).all()
    assert (out["employed_by_365"] == employment_outcomes(national, out.index)["employed_in_year"]).all()


def test_over_time_edges_of_other_checkpoints(national):
    out = over_time(national, [2, 3], checkpoints=(31, 29, 30, 30, 1))
    assert list(out.columns) == [f"reoffended_by_{d}" for d in (1, 29, 30, 31)] + [
        f"employed_by_{d}" for d in (1, 29, 30, 31)]
    assert out.loc[2].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert out.loc[3].tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
    for wrong in ((), (0,), (366,)):
        with pytest.raises(ValueError, match="checkpoints"):
            over_time(national, [2], checkpoints=wrong)


def test_analysis_outcomes_is_everything_in_one_query(national):
    """analysis_outcomes: the four measures and the over-time columns exactly as their own
    functions give them, and the first day in P45 employment (employed_by_d is first day < d)."""
    from jdl.cohort.employment import ANALYSIS_COLUMNS, analysis_outcomes

    ids = [1, 2, 3, 4, 5, 6]
    out = analysis_outcomes(national, ids)
    assert list(out.columns) == list(ANALYSIS_COLUMNS) and list(out.index) == ids
    pd.testing.assert_frame_equal(out[list(EMPLOYMENT_COLUMNS)], employment_outcomes(national, ids))
    pd.testing.assert_frame_equal(out[list(over_time_columns())], over_time(national, ids))
    # person 1 straddles the index date (day 0); 2 starts on day 29, 3 on day 30; 4 and 5 never;
    # event 6 (1 June 2010) is in the spell starting that day
    assert out["days_to_first_employment"].tolist()[:3] == [0.0, 29.0, 30.0]
    assert out["days_to_first_employment"].iloc[3:5].isna().all() and out.loc[6, "days_to_first_employment"] == 0.0
    for d in CHECKPOINTS:
        assert (out[f"employed_by_{d}"] == (out["days_to_first_employment"] < d)).all()


def test_empty_tables_give_zeros(tmp_path):
    national = build_national(tmp_path / "n", people=PEOPLE[:1], events=EVENTS[:1])
    out = employment_outcomes(national, [1]).join(over_time(national, [1]))
    assert (out.to_numpy() == 0).all() and len(out) == 1


# ------------------------------------------------------------------------------ compare_over_time

def _groups():
    """Four treated people and four comparison people with weights 1, 1, 2, 0 (the last not
    matched), at two checkpoints."""
    return pd.DataFrame({"treated": [1, 1, 1, 1, 0, 0, 0, 0],
                         "reoffended_by_30": [1, 0, 0, 0, 0, 1, 0, 1],
                         "reoffended_by_365": [1, 1, 0, 0, 1, 1, 0, 1]}), np.array([1, 1, 1, 1, 1, 1, 2, 0.0])


def test_weighted_shares_exact():
    data, weights = _groups()
    result = compare_over_time(data, weights, checkpoints=(30, 365))
    table = result.table
    assert list(table.columns) == list(TABLE_COLUMNS) and list(table.index) == [30, 365]
    # day 30: treated 1 of 4; comparison (0*1 + 1*1 + 0*2) / 4 = 0.25
    # day 365: treated 2 of 4; comparison (1 + 1 + 0) / 4 = 0.5 (the person weighted 0 does not count)
    assert table["treated"].tolist() == [0.25, 0.5]
    assert table["comparison"].tolist() == [0.25, 0.5]
    assert table["difference"].tolist() == [0.0, 0.0]
    assert table["treated_people"].tolist() == [1, 2] and table["comparison_people"].tolist() == [1, 2]
    # the comparison's effective size (1 + 1 + 2)^2 / (1 + 1 + 4) = 8/3; its unbiased weighted
    # variance at day 365: sum w (x - m)^2 / (V1 - V2 / V1) = (0.25 + 0.25 + 0.5) / (4 - 6/4) = 0.4
    assert table["n_comparison"].tolist() == pytest.approx([8 / 3, 8 / 3])
    assert table["n_treated"].tolist() == [4, 4]
    c = result.comparisons[365]
    se = np.sqrt((1 / 3) / 4 + 0.4 / (8 / 3))          # treated variance 4 * 0.25 / 3 = 1/3
    df = (1 / 12 + 0.15) ** 2 / ((1 / 12) ** 2 / 3 + 0.15 ** 2 / (8 / 3 - 1))
    assert c.df == pytest.approx(df)
    from scipy import stats
    assert c.upper == pytest.approx(stats.t.ppf(0.975, df) * se)
    assert c.p_value == 1.0 and not c.significant
    assert c.comparison_upper == pytest.approx(0.5 + stats.t.ppf(0.975, 8 / 3 - 1) * np.sqrt(0.4 / (8 / 3)))


def test_each_checkpoint_is_welch_compare_of_its_column():
    rng = np.random.default_rng(5)
    n = 400
    data = pd.DataFrame({"treated": (np.arange(n) < 100).astype(int)})
    first = np.where(rng.random(n) < 0.4, rng.integers(0, 365, n), 10_000)
    for d in CHECKPOINTS:
        data[f"employed_by_{d}"] = (first < d).astype(int)
    weights = np.where(data["treated"] == 1, 1.0, rng.choice([0.0, 0.5, 1.0, 3.0], n))
    result = compare_over_time(data, weights, outcome="employed")
    comparison = data["treated"] == 0
    for d in CHECKPOINTS:
        expected = welch_compare(data.loc[~comparison, f"employed_by_{d}"], data.loc[comparison, f"employed_by_{d}"],
                                 weights[comparison.to_numpy()])
        assert result.comparisons[d] == expected
        assert result.table.loc[d, "treated"] == expected.treated_mean
        assert result.table.loc[d, "lower"] == expected.lower
    # cumulative shares never fall
    assert result.table["treated"].is_monotonic_increasing and result.table["comparison"].is_monotonic_increasing


def _over_time_table(treated_people, comparison_people, n_treated=60):
    from jdl.stats.over_time import OverTime

    days = list(CHECKPOINTS)
    table = pd.DataFrame({c: np.linspace(0.1, 0.5, 5) for c in TABLE_COLUMNS}, index=pd.Index(days, name="day"))
    table["n_treated"] = n_treated
    table["treated_people"], table["comparison_people"] = treated_people, comparison_people
    return OverTime("employed", {}, table)


def test_shown_over_time_is_the_curves_disclosure_rule():
    """Days where each group has at least 5 people with the outcome so far, never the counts; no
    table when by day 365 fewer than 10 treated people have the outcome or fewer than 10 lack it."""
    from jdl.stats.over_time import SHOWN_COLUMNS, shown_over_time

    shown = shown_over_time(_over_time_table([4, 5, 9, 10, 10], [30, 4, 60, 70, 80]))
    assert list(shown.index) == [180, 270, 365]               # 30: 4 treated; 90: 4 comparison
    assert list(shown.columns) == list(SHOWN_COLUMNS)
    assert not {"treated_people", "comparison_people", "n_treated", "n_comparison"} & set(shown.columns)
    assert shown_over_time(_over_time_table([5, 6, 7, 8, 9], [50] * 5)) is None           # 9 with it by day 365
    assert shown_over_time(_over_time_table([5, 6, 7, 8, 51], [50] * 5)) is None          # 9 without it
    assert list(shown_over_time(_over_time_table([5, 6, 7, 8, 50], [50] * 5)).index) == list(CHECKPOINTS)
    assert shown_over_time(_over_time_table([10] * 5, [4] * 5)) is None                   # no day for both


def test_cumulative_share_is_the_curve_of_another_first_day():
    from jdl.stats.curves import cumulative_reoffending
    from jdl.stats.over_time import cumulative_share

    data = pd.DataFrame({"treated": [1, 1, 1, 0, 0, 0], "days_to_first_employment": [0, 29, None, 30, None, 5],
                         "days_to_first": [None] * 6}, dtype=float)
    weights = np.array([1, 1, 1, 1, 2, 1.0])
    curve = cumulative_share(data, weights, "days_to_first_employment", days=CHECKPOINTS[:2])
    expected = cumulative_reoffending(data.assign(days_to_first=data["days_to_first_employment"]), weights,
                                      days=CHECKPOINTS[:2])
    pd.testing.assert_frame_equal(curve.table, expected.table)
    assert curve.table["treated"].tolist() == [2 / 3, 2 / 3] and curve.table["comparison"].tolist() == [0.25, 0.5]


def test_compare_over_time_refuses_what_it_cannot_compare():
    data, weights = _groups()
    with pytest.raises(ValueError, match="no column 'employed_by_30'"):
        compare_over_time(data, weights, outcome="employed")
    with pytest.raises(ValueError, match="differ in length"):
        compare_over_time(data, weights[:-1])
    bad = data.assign(reoffended_by_30=[2, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="0 or 1"):
        compare_over_time(bad, weights, checkpoints=(30,))
    # a value outside 0/1 for someone out of the match (weight 0) is not looked at
    fine = data.assign(reoffended_by_30=[1, 0, 0, 0, 0, 1, 0, 7])
    assert compare_over_time(fine, weights, checkpoints=(30,)).table.loc[30, "comparison"] == 0.25


# ------------------------------------------------------------------------------ the synthetic world

@pytest.fixture(scope="module")
def matched(synthetic_world):
    """Work Ready (an effect on employment, none on re-offending) and Learning Inside (an effect on
    re-offending, none on employment), each through linkage, the pool and the default match, with
    the employment outcomes and outcomes over time of everyone in the data."""
    from jdl.cohort.build import build_cohort
    from jdl.cohort.national import NationalData
    from jdl.stats.plan import match_cohort
    from jdl.synth.world import PROGRAMMES
    from jdl.upload.validate import validate_upload

    national = NationalData.open(synthetic_world.national)
    found = {}
    for slug in ("work-ready", "learning-inside"):
        prog = next(p for p in PROGRAMMES if p.slug == slug)
        upload = next(synthetic_world.uploads.glob(f"{slug}.*"))
        cohort = build_cohort(validate_upload(upload).participants, national, prog.setting)
        result, data, _, _ = match_cohort(cohort)
        data = data.join(employment_outcomes(national, data.index)).join(over_time(national, data.index))
        found[slug] = (result, data)
    return synthetic_world.generated, found


def _estimate(result, data, column):
    w = result.weights.reindex(data.index).to_numpy()
    treated, comparison = (data["treated"] == 1) & (w > 0), (data["treated"] == 0) & (w > 0)
    return welch_compare(data.loc[treated, column], data.loc[comparison, column], w[comparison.to_numpy()])


def test_matched_estimate_recovers_the_employment_effect(matched):
    """The employment programme's matched difference in P45 employment in the year after is within
    2.5 Welch standard errors of the true effect (the effect on the participants, computed by the
    generator from their spells with and without the service), and clearly positive; a programme
    with no effect on employment shows none (0 within 2.5 standard errors). 2.5 standard errors,
    as tests/test_cohort.py uses for the re-offending effect: matching removes the selection on
    what is observed, and the hidden risk that drives employment too leaves a little bias."""
    synthetic, found = matched
    truth = synthetic.truth
    assert truth["work-ready"]["employment_effect_points"] > 10
    assert truth["learning-inside"]["employment_effect_points"] == 0.0
    result, data = found["work-ready"]
    c = _estimate(result, data, "employed_in_year")
    assert abs(c.difference - truth["work-ready"]["employment_effect_points"] / 100) < 2.5 * c.standard_error
    assert c.lower > 0 and c.significant
    # Work Ready has no effect on re-offending
    r = _estimate(result, data, "reoffended")
    assert abs(r.difference) < 2.5 * r.standard_error
    result, data = found["learning-inside"]
    c = _estimate(result, data, "employed_in_year")
    assert abs(c.difference) < 2.5 * c.standard_error


def test_over_time_on_the_world_agrees_with_the_measures_and_the_curves(matched):
    from jdl.stats.curves import cumulative_reoffending

    _, found = matched
    result, data = found["work-ready"]
    assert (data["reoffended_by_365"] == data["reoffended"]).all()
    assert (data["employed_by_365"] == data["employed_in_year"]).all()
    for d in CHECKPOINTS:
        assert (data[f"reoffended_by_{d}"] == (data["days_to_first"] < d)).all()
    assert (data["employed_in_year"] == (data["days_employed"] > 0)).all()
    assert data["days_employed"].between(0, 365).all() and data["days_on_benefit"].between(0, 365).all()
    w = result.weights.reindex(data.index).to_numpy()
    over = compare_over_time(data, w)
    assert over.comparisons[365] == _estimate(result, data, "reoffended")
    curve = cumulative_reoffending(data, w, days=CHECKPOINTS).table
    np.testing.assert_allclose(over.table["treated"], curve["treated"])
    np.testing.assert_allclose(over.table["comparison"], curve["comparison"])
    employed = compare_over_time(data, w, outcome="employed")
    assert employed.comparisons[365] == _estimate(result, data, "employed_in_year")
    assert employed.table["difference"].iloc[-1] > 0
