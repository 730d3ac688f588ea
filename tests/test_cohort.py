"""From synthetic submissions to analysis data (jdl.cohort.build), checked against the generator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl.cohort.attrition import BUCKETS, bucket_counts, minimum_criteria
from jdl.cohort.build import build_cohort, finish_attrition
from jdl.cohort.measures import COVARIATES
from jdl.cohort.national import NationalData
from jdl.synth.world import PROGRAMMES
from jdl.upload.validate import validate_upload


@pytest.fixture(scope="module")
def world(synthetic_world):
    """The session's 50,000-person synthetic world (read-only): generated, its folder, its national data."""
    return synthetic_world.generated, synthetic_world, NationalData.open(synthetic_world.national)


@pytest.mark.parametrize("slug", ["gateway-mentoring", "womens-centre", "safe-harbour"])
def test_links_and_index_events_agree_with_the_truth(world, slug):
    synthetic, root, national = world
    prog = next(p for p in PROGRAMMES if p.slug == slug)
    upload = next(root.uploads.glob(f"{slug}.*"))
    result = validate_upload(upload)
    cohort = build_cohort(result.participants, national, prog.setting)
    flow = cohort.flow.set_index("row")
    truth = pd.read_csv(root.truth / "links" / f"{slug}.csv").set_index("row")["person_id"]
    linked = flow["person_id"].notna()
    # no one is linked to the wrong person
    assert (flow.loc[linked, "person_id"].astype(int) == truth[flow.index[linked]]).all()
    # nearly everyone the national data holds is found (the rest: duplicates and heavy typos)
    real_people = truth[truth > 0].unique()
    found = flow.loc[linked, "person_id"].astype(int).unique()
    assert len(set(found) & set(real_people)) / len(real_people) >= 0.95
    # made-up people are never linked
    assert flow.loc[truth[truth < 0].index, "person_id"].isna().all()
    # the chosen index event is the participant's own event, for nearly everyone linked
    true_events = dict(zip(synthetic.events["person"][synthetic.participants[slug]] + 1,
                           synthetic.participants[slug] + 1))
    chosen = flow.loc[flow["event_id"].notna()]
    agree = (chosen["person_id"].astype(int).map(true_events) == chosen["event_id"].astype(int)).mean()
    assert agree >= 0.95
    # every submitted person ends in one bucket once the match has spoken
    treated = cohort.data[cohort.data["treated"] == 1]
    finished = finish_attrition(cohort.flow, pd.Series(1.0, index=treated.index))
    counts = bucket_counts(finished["bucket"])
    assert counts.sum() == result.n_rows and list(counts.index) == list(BUCKETS)
    assert counts["analysed"] == len(treated)


def test_pool_and_treated_are_disjoint_and_complete(world):
    _, root, national = world
    result = validate_upload(root.uploads / "gateway-mentoring.xlsx")
    cohort = build_cohort(result.participants, national, "custody")
    data = cohort.data
    treated_people = set(data.loc[data["treated"] == 1, "person_id"])
    assert not treated_people & set(data.loc[data["treated"] == 0, "person_id"])
    assert data["person_id"].is_unique
    assert (data["disposal_kind"] == "custody").all()
    treated_dates = data.loc[data["treated"] == 1, "index_date"]
    pool_dates = data.loc[data["treated"] == 0, "index_date"]
    assert pool_dates.min() >= treated_dates.min() - pd.DateOffset(months=6)
    assert pool_dates.max() <= treated_dates.max() + pd.DateOffset(months=6)
    assert len(data) > 10 * len(treated_people)
    assert not data[list(COVARIATES)].isna().any(axis=None)


def test_finish_attrition_and_minimum_criteria():
    flow = pd.DataFrame({"event_id": pd.array([1, 2, None, 3], dtype="Int64"),
                         "bucket": [pd.NA, pd.NA, "not found", pd.NA]})
    done = finish_attrition(flow, pd.Series([1.0, 0.0, 0.5], index=[1, 2, 3]))
    assert done["bucket"].tolist() == ["analysed", "no comparison match", "not found", "analysed"]
    with pytest.raises(ValueError, match="no match weight"):
        finish_attrition(flow, pd.Series([1.0], index=[1]))
    counts = pd.Series({b: 0 for b in BUCKETS})
    counts["analysed"], counts["not found"] = 29, 40
    assert minimum_criteria(counts) == "fewer than 30 people could be analysed (29)"
    counts["analysed"], counts["not found"] = 30, 10
    assert minimum_criteria(counts) == "fewer than 60 people were submitted (40)"
    counts["not found"] = 30
    assert minimum_criteria(counts) is None
    assert counts.sum() == 60


def test_matched_estimate_recovers_the_true_effect(world):
    """End to end on a programme selected on observable history: linkage, index events, pool,
    radius matching (exact on sex and disposal kind) give an estimate within 2.5 standard errors
    of the effect built into the data, with good balance."""
    from jdl.stats.plan import match_cohort

    synthetic, root, national = world
    result = validate_upload(root.uploads / "gateway-mentoring.xlsx")
    cohort = build_cohort(result.participants, national, "custody")
    matched, data, flow, plan = match_cohort(cohort)
    counts = bucket_counts(flow["bucket"])
    assert counts["analysed"] == matched.n_treated_matched and counts.sum() == result.n_rows
    weights = matched.weights
    treated = data[(data["treated"] == 1) & (weights > 0)]
    comparison = data[(data["treated"] == 0) & (weights > 0)]
    p_t = treated["reoffended"].mean()
    p_c = np.average(comparison["reoffended"], weights=weights[comparison.index])
    se = np.sqrt(p_t * (1 - p_t) / len(treated) + p_c * (1 - p_c) / matched.effective_comparison_size)
    truth = synthetic.truth["gateway-mentoring"]["rate_effect_points"] / 100
    assert abs((p_t - p_c) - truth) < 2.5 * se
    assert not matched.balance().any_poor
    assert matched.n_treated_matched >= 0.95 * len(data[data["treated"] == 1])


def test_shared_levels_keeps_only_levels_both_groups_hold():
    from jdl.stats.plan import shared_levels

    data = pd.DataFrame({"treated": [1, 1, 0, 0, 0, 1],
                         "region": ["North", "North", "North", "South", "North", "East"],
                         "sex": ["M", "F", "M", "M", "F", "M"]})
    # South: comparison only; East: treated only
    assert shared_levels(data, ["region", "sex"]).tolist() == [True, True, True, False, True, False]


def _analysis_data(rng, n_treated=40, n_pool=400):
    """Analysis data with the columns plan_match needs: a count covariate, a 0/1 and a category."""
    n = n_treated + n_pool
    return pd.DataFrame({
        "treated": [1] * n_treated + [0] * n_pool,
        "sex": ["M"] * n,
        "disposal_kind": ["court order"] * n,
        "region": rng.choice(["North", "South"], n),
        "previous_custodial_sentences": np.r_[np.zeros(n_treated, int), rng.integers(0, 4, n_pool)],
        "employed_year_before": rng.integers(0, 2, n),
        "age": rng.uniform(18, 60, n),
    }, index=pd.RangeIndex(1000, 1000 + n, name="event_id"))


def test_a_value_every_participant_shares_restricts_the_pool_and_leaves_the_model():
    from jdl.stats.plan import plan_match

    data = _analysis_data(np.random.default_rng(3))
    pool_zero = int(((data["treated"] == 0) & (data["previous_custodial_sentences"] == 0)).sum())
    used, plan = plan_match(data, ["region", "previous_custodial_sentences", "employed_year_before", "age"])
    assert plan.restrictions == (("previous_custodial_sentences", 0),)
    assert plan.covariates == ("region", "employed_year_before", "age")
    assert plan.left_out == () and plan.support == () and plan.exact == ()   # sex and kind do not vary
    assert (used["previous_custodial_sentences"] == 0).all()
    assert int((used["treated"] == 0).sum()) == pool_zero and int(used["treated"].sum()) == 40
    assert plan.n_pool_set_aside == 400 - pool_zero and plan.n_treated_set_aside == 0


def test_levels_one_group_holds_are_set_aside_and_recorded():
    from jdl.stats.plan import plan_match

    data = _analysis_data(np.random.default_rng(4))
    data.loc[data.index[:2], "region"] = "Wales"        # two treated in a region no one in the pool is from
    data.loc[data.index[-5:], "region"] = "East"        # five in the pool from a region no participant is from
    used, plan = plan_match(data, ["region", "age"])
    assert plan.support == ("region",) and plan.restrictions == ()
    assert plan.n_treated_set_aside == 2 and plan.n_pool_set_aside == 5
    assert set(used["region"]) == {"North", "South"}


def test_no_comparison_left_is_its_own_error():
    from jdl.stats.plan import NoComparison, plan_match

    data = _analysis_data(np.random.default_rng(5))
    data.loc[data["treated"] == 0, "previous_custodial_sentences"] = data["previous_custodial_sentences"].clip(1)
    data.loc[data.index[-1], "previous_custodial_sentences"] = 2   # the pool varies, and never has 0
    with pytest.raises(NoComparison, match="no one in the comparison pool"):
        plan_match(data, ["previous_custodial_sentences", "age"])
