"""Sub-analyses and the match controlled for region (jdl.stats.subgroups), the upload's attributes of the
treated (jdl.cohort.build.treated_attributes) and their place in the profile (jdl.stats.profile).

The pipeline tests run on a 50,000-person synthetic national dataset and the Gateway Mentoring
upload; every sub-group result is checked against an independent re-computation with jdl.match and
welch_compare on the sub-group's own rows.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from jdl import match, welch_compare
from jdl.stats import subgroups
from jdl.cohort.build import build_cohort, treated_attributes
from jdl.stats.plan import match_cohort, shared_levels
from jdl.stats.compare import Comparison
from jdl.stats.disclosure import Publication, protect_counts
from jdl.cohort.measures import CATEGORICAL_COVARIATES, COVARIATES
from jdl.cohort.national import NationalData
from jdl.stats.profile import OTHER, OTHER_LEVELS, group_rare, levels, profile_table
from jdl.upload.validate import validate_upload


@pytest.fixture(scope="module")
def gateway(synthetic_world):
    validation = validate_upload(synthetic_world.uploads / "gateway-mentoring.xlsx")
    cohort = build_cohort(validation.participants, NationalData.open(synthetic_world.national), "custody")
    result, data, flow, plan = match_cohort(cohort)
    attributes = treated_attributes(flow, validation.participants)
    analysed = data.index[(data["treated"] == 1) & (result.weights > 0)]
    return validation, cohort, result, flow, attributes, analysed


@pytest.fixture(scope="module")
def analyses(gateway):
    _, cohort, result, _, attributes, analysed = gateway
    return subgroups.subgroup_analyses(cohort.data, analysed, attributes, result.balance().poor)


def test_treated_attributes_follow_each_submitted_row_to_its_index_event(gateway):
    validation, _, _, flow, attributes, analysed = gateway
    reached = flow[flow["event_id"].notna()]
    assert attributes.index.is_unique and set(analysed) <= set(attributes.index)
    for column in ("completed", "referral_route", "delivery_location", "sub_group"):
        submitted = validation.participants.loc[reached.index, column].to_numpy()
        assert (attributes.loc[reached["event_id"].astype("int64"), column].to_numpy() == submitted).all()


def _independent(cohort, attributes, analysed, column, level):
    """The sub-group's result recomputed by hand: its treated and the (same-level) pool, shared levels,
    non-constant covariates, jdl.match with exact sex and disposal kind, Welch on the rate."""
    data = cohort.data
    treated = data.loc[analysed].join(attributes)
    if column in ("completed", "referral_route", "sub_group"):
        members = treated.index[treated[column] == level]
        pool = data[data["treated"] == 0]
    else:
        members = treated.index[levels(treated, column) == level]
        pool = data[(data["treated"] == 0) & (levels(data, column) == level)]
    subset = pd.concat([data.loc[members], pool])
    binary = [c for c in COVARIATES if subset[c].isin((0, 1)).all()]
    while True:   # a value every treated person shares restricts the pool; then common support
        size = len(subset)
        for c in COVARIATES:
            treated_values = subset.loc[subset["treated"] == 1, c].unique()
            if len(treated_values) == 1 and subset.loc[subset["treated"] == 0, c].nunique() > 1:
                subset = subset[subset[c] == treated_values[0]]
        subset = subset[shared_levels(subset, list(CATEGORICAL_COVARIATES) + binary)]
        if len(subset) == size:
            break
    covariates = [c for c in COVARIATES if subset[c].nunique() > 1]
    exact = [c for c in ("sex", "disposal_kind") if subset[c].nunique() > 1] or None
    result = match(subset, covariates=covariates, exact=exact)
    w = result.weights.to_numpy()
    is_treated = subset["treated"].to_numpy() == 1
    y = subset["reoffended"].to_numpy(dtype=float)
    comparison = welch_compare(y[is_treated & (w > 0)], y[~is_treated & (w > 0)], w[~is_treated & (w > 0)])
    return result, comparison


@pytest.mark.parametrize("dimension, column, level, label", [
    ("Sex", "sex", "Male", "Male"),
    ("Completed the service", "completed", "yes", "Completed"),
    ("Referral route", "referral_route", "self", "Self"),
])
def test_a_run_sub_group_is_its_own_match(gateway, analyses, dimension, column, level, label):
    _, cohort, _, _, attributes, analysed = gateway
    found = next(r for r in analyses if r.dimension == dimension and r.level == label)
    assert found.status == subgroups.RUN
    result, comparison = _independent(cohort, attributes, analysed, column, level)
    assert found.comparison == comparison
    assert (found.n_treated, found.n_comparison) == (result.n_treated_matched, result.n_comparison_distinct)
    assert found.n_comparison_effective == result.effective_comparison_size
    assert found.poor == result.balance().poor


def test_people_per_sub_group_are_the_disclosure_controlled_counts(gateway, analyses):
    _, cohort, _, _, attributes, analysed = gateway
    treated = cohort.data.loc[analysed].join(attributes)
    for dimension in subgroups.DIMENSIONS:
        labels = levels(treated, dimension.column)
        counts = labels.value_counts()
        shown = protect_counts(counts.sort_index() if dimension.column == "age_band" else counts,
                               merge_label=OTHER_LEVELS).shown
        rows = [r for r in analyses if r.dimension == dimension.title]
        assert {r.level: r.people for r in rows} == {str(k): v for k, v in shown.drop("Total").items()
                                                     if counts.get(k, 0) > 0}
        for r in rows:
            n = int(counts[r.level]) if r.level in counts.index else 0
            if n < subgroups.MIN_TREATED:
                assert r.status == subgroups.NOT_RUN and r.comparison is None
            if r.status == subgroups.RUN:
                assert r.n_treated >= subgroups.MIN_TREATED and r.reason is None
            else:  # a reason quotes the rules' thresholds, never a count
                assert r.reason and not re.search(r"\d", re.sub(r"\b(30|10|5)\b", "", r.reason))


def test_nothing_is_run_on_a_poor_main_match(gateway):
    _, cohort, _, _, attributes, analysed = gateway
    results = subgroups.subgroup_analyses(cohort.data, analysed, attributes, main_poor=("age", "copas_rate"))
    assert results and all(r.status == subgroups.NOT_RUN and r.comparison is None for r in results)
    big = [r for r in results if r.people not in ("<5", "[c]") and int(r.people.replace(",", "")) >= 30
           and r.level not in ("Not given",)]
    assert big and all(r.reason == "not run: the national match is poor (a covariate over 10% after matching; "
                       "see Annex A), and no sub-analysis is run on a poor match" for r in big)


def test_unsupplied_and_rare_labels_are_listed_not_analysed(gateway):
    _, cohort, result, _, attributes, analysed = gateway
    changed = attributes.copy()
    changed["referral_route"] = None
    changed.loc[changed.index[:3], "sub_group"] = "a label held by three people"
    results = subgroups.subgroup_analyses(cohort.data, analysed, changed, result.balance().poor,
                                          dimensions=subgroups.DIMENSIONS[3:])
    routes = [r for r in results if r.dimension == "Referral route"]
    assert [(r.level, r.people, r.status, r.reason) for r in routes] == [
        ("Not given", f"{len(analysed):,}", subgroups.NOT_RUN, "not analysed: no value given")]
    labels = {r.level: r for r in results if r.dimension == "Your sub-group label"}
    assert "a label held by three people" not in labels
    other = labels[OTHER["sub_group"]]
    assert other.people == "<5" and other.reason == "not analysed: labels held by fewer than 5 people each"


def test_scraps_hold_aggregates_only(analyses):
    run = next(r for r in analyses if r.status == subgroups.RUN)
    scrap = run.scrap()
    assert set(scrap) == {"dimension", "level", "people", "status", "n_treated", "n_comparison",
                          "n_comparison_effective", "poor_covariates", "treated_rate", "comparison_rate",
                          "difference", "lower", "upper", "p_value", "standard_error", "verdict"}
    assert scrap["difference"] == run.comparison.difference
    listed = next(r for r in analyses if r.status == subgroups.NOT_RUN).scrap()
    assert set(listed) == {"dimension", "level", "people", "status", "reason"}


def test_controlled_for_region_matches_within_regions(gateway):
    _, cohort, national, _, _, _ = gateway
    region = subgroups.controlled_for_region(cohort.data)
    assert region.status == subgroups.RUN and region.result.exact == ("sex", "region")
    pairs = region.result.matches
    data = region.result.data
    assert (data.loc[pairs["treated"], "region"].to_numpy() == data.loc[pairs["comparison"], "region"].to_numpy()).all()
    # the national match does compare across regions
    national_pairs = national.matches
    assert (national.data.loc[national_pairs["treated"], "region"].to_numpy()
            != national.data.loc[national_pairs["comparison"], "region"].to_numpy()).any()
    w = region.result.weights.to_numpy()
    t = data["treated"].to_numpy() == 1
    y = data["reoffended"].to_numpy(dtype=float)
    assert region.comparison == welch_compare(y[t & (w > 0)], y[~t & (w > 0)], w[~t & (w > 0)])
    assert region.scrap()["n_treated"] == region.result.n_treated_matched
    table = subgroups.region_table(national, _headline(national), national.balance(), region)
    assert list(table.index) == list(subgroups.REGION_ROWS)
    assert table.loc["Treatment group analysed", "Controlled for region"] == f"{region.result.n_treated_matched:,}"
    side = subgroups.balance_side_by_side(national.balance(), region.balance)
    assert side.loc["region_North West", "Controlled for region"] == 0.0


def _headline(result):
    w = result.weights.to_numpy()
    t = result.data["treated"].to_numpy() == 1
    y = result.data["reoffended"].to_numpy(dtype=float)
    return welch_compare(y[t & (w > 0)], y[~t & (w > 0)], w[~t & (w > 0)])


def test_a_region_match_with_too_few_people_says_why(gateway):
    _, cohort, _, _, _, _ = gateway
    region = subgroups.controlled_for_region(cohort.data, min_treated=10_000)
    assert region.status == subgroups.NOT_RUN and region.comparison is None
    assert region.reason == "not run: fewer than 10000 people found a comparison match in their own region"
    assert subgroups.region_sentence(None, region) == (
        "The match controlled for region could not be reported (not run: fewer than 10000 people found a "
        "comparison match in their own region).")


def comparison(difference, lower, upper, p):
    return Comparison(0.40, 0.35, 0.45, 0.40 - difference, 0.38, 0.48, difference, lower, upper, p, p <= 0.05,
                      300, 2000.0, 500.0, 0.05)


def test_region_sentence_words():
    national = comparison(-0.064, -0.114, -0.014, 0.012)
    same = subgroups.RegionAnalysis(status=subgroups.RUN, comparison=comparison(-0.0675, -0.117, -0.018, 0.0077))
    assert subgroups.region_sentence(national, same) == (
        "Controlled for region, the difference in the one-year proven re-offending rate is -7 percentage points "
        "(95% interval -12 to -2; p = 0.01), beside -6 from the national match: significant reduction. "
        "Both matches reach the same verdict.")
    other = subgroups.RegionAnalysis(status=subgroups.RUN, comparison=comparison(-0.04, -0.09, 0.01, 0.12))
    assert subgroups.region_sentence(national, other).endswith(
        "-4 percentage points (95% interval -9 to 1; p = 0.12), beside -6 from the national match: inconclusive. "
        "The two matches reach different verdicts, so the headline result depends on whether people are compared "
        "with others from their own region; read it with that in mind.")


def test_subgroup_table_and_notes():
    results = [
        subgroups.SubgroupResult("Sex", "Male", "391", subgroups.RUN, comparison=comparison(-0.068, -0.120, -0.016, 0.011),
                                 n_treated=391, n_comparison=4463, n_comparison_effective=2885.2),
        subgroups.SubgroupResult("Sex", "Female", "41", subgroups.RUN, comparison=comparison(-0.03, -0.2, 0.15, 0.77),
                                 n_treated=41, n_comparison=300, n_comparison_effective=110.4, poor=("age", "sex")),
        subgroups.SubgroupResult("Age at index", "50+", "<5", subgroups.NOT_RUN, reason="not run: fewer than 30 people"),
    ]
    table = subgroups.subgroup_table(results)
    assert list(table.columns) == list(subgroups.SUBGROUP_COLUMNS[2:])
    assert table.loc[("Sex", "Male")].tolist() == ["391", "391", "2,885", "40%", "47%", "-7", "-12 to -2", "0.01",
                                                   "significant reduction"]
    assert table.loc[("Sex", "Female"), "Result"] == "inconclusive (match poor on 2 covariates)"
    assert table.loc[("Age at index", "50+")].tolist() == ["<5", "", "", "", "", "", "", "", "not run: fewer than 30 people"]
    assert subgroups.subgroup_notes(results) == [
        "2 of 3 sub-groups were analysed.",
        "The sub-group's own match is poor (a covariate over 10% after matching) for sex: Female. Read those "
        "results with particular care."]


def test_profile_shows_referral_routes_and_delivery_locations_with_rare_labels_grouped():
    n = 40
    treated = pd.DataFrame({
        "sex": ["M"] * n, "age": [30] * n, "ethnicity_group": ["white"] * n, "uk_national": [1] * n,
        "region": ["London"] * n, "index_offence_group": ["theft"] * n, "disposal": ["custody release"] * n,
        "referral_route": ["self"] * 20 + ["probation"] * 17 + [None] * 3,
        "delivery_location": ["HMP One"] * 30 + ["HMP Two"] * 6 + ["HMP Three"] * 2 + ["HMP Four"] * 2,
    })
    table = profile_table(treated)
    routes = table.loc["Referral route", "People"]
    # "Not given" (3) is suppressed ("<5"), and the smallest other count is hidden with it ("[c]")
    assert routes.to_dict() == {"Self": "20", "Probation": "[c]", "Not given": "<5", "Total": "40"}
    assert list(routes.index) == ["Self", "Probation", "Not given", "Total"]
    locations = table.loc["Delivery location", "People"]
    assert list(locations.index) == ["HMP One", "HMP Two", OTHER["delivery_location"], "Total"]
    assert locations.to_dict() == {"HMP One": "30", "HMP Two": "[c]", OTHER["delivery_location"]: "<5", "Total": "40"}
    assert "HMP Three" not in table.index.get_level_values(1)
    # without the upload's columns the profile is the national data's characteristics only
    assert "Referral route" not in profile_table(treated.drop(columns=["referral_route", "delivery_location"])).index


def test_group_rare_leaves_not_given_and_common_labels():
    labels = pd.Series(["a"] * 5 + ["b"] * 4 + ["Not given"] * 2 + ["c"])
    grouped = group_rare(labels, "Other")
    assert grouped.tolist() == ["a"] * 5 + ["Other"] * 4 + ["Not given"] * 2 + ["Other"]


def test_the_propensity_model_of_a_sub_group_converges_and_agrees_with_statsmodels(gateway):
    # The men of Gateway Mentoring against the pool's men: an uncentred index year beside age, age
    # squared and indicators. The float32 chord Hessian alone stalled here (the intercept wobbling
    # in its last digits); the fit must converge to statsmodels' maximum.
    import statsmodels.api as sm

    from jdl.stats.matching import fit_propensity, model_design

    _, cohort, _, _, attributes, analysed = gateway
    result, _ = _independent(cohort, attributes, analysed, "sex", "Male")
    data = result.data
    model = fit_propensity(data, "treated", result.covariates)
    design, names = model_design(data, result.covariates)
    keep = [n in model.columns for n in names]
    reference = sm.Logit(data["treated"].to_numpy(), design[:, keep]).fit(disp=0, maxiter=100)
    assert reference.mle_retvals["converged"]
    linear = design[:, keep] @ reference.params
    assert np.max(np.abs(model.linear_predictor - linear)) < 1e-6


def test_a_sub_group_whose_size_would_give_a_small_one_away_is_not_shown(gateway):
    """Men and three women: the sub-group of men would print its size, and the total minus it is the
    three women. One disclosure view: the profile and the sub-analyses both hide the men's count
    ("[c]") beside the women's "<5", and the men's sub-analysis is not shown."""
    _, cohort, result, _, attributes, analysed = gateway
    sex = cohort.data.loc[analysed, "sex"]
    men, women = analysed[(sex == "M").to_numpy()], analysed[(sex == "F").to_numpy()]
    assert len(men) >= 60 and len(women) >= 3
    chosen = men.append(women[:3])
    publication = Publication()
    publication.total("analysed", len(chosen))
    results = subgroups.subgroup_analyses(cohort.data, chosen, attributes, dimensions=subgroups.DIMENSIONS[:1],
                                          publication=publication)
    assert [(r.level, r.people, r.status, r.reason) for r in results] == [
        ("Male", "[c]", subgroups.NOT_RUN, subgroups.DISCLOSURE_HIDDEN),
        ("Female", "<5", subgroups.NOT_RUN, "not run: fewer than 30 people")]
    profile = profile_table(cohort.data.loc[chosen].join(attributes), publication)
    assert profile.loc["Sex", "People"].to_dict() == {"Male": "[c]", "Female": "<5", "Total": f"{len(chosen):,}"}
    audit = publication.audit()
    assert set(audit["table"]) >= {"sex"} and not audit["recoverable"].any()
    # with all the women the men's count can be published, and their sub-analysis is run
    everyone = Publication()
    everyone.total("analysed", len(analysed))
    ran = subgroups.subgroup_analyses(cohort.data, analysed, attributes, dimensions=subgroups.DIMENSIONS[:1],
                                      publication=everyone)
    assert ran[0].people == f"{len(men):,}" and ran[0].status == subgroups.RUN
