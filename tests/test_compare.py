"""Welch comparisons (jdl.stats.compare) against scipy/statsmodels, a hand-worked weighted case and
published Justice Data Lab results."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from jdl.stats.compare import weighted_mean_variance, welch_compare


def test_unweighted_agrees_with_scipy_and_statsmodels():
    rng = np.random.default_rng(1)
    treated = rng.poisson(1.1, 240).astype(float)
    comparison = rng.poisson(1.5, 3_000).astype(float)
    result = welch_compare(treated, comparison)
    scipy_test = stats.ttest_ind(treated, comparison, equal_var=False)
    assert result.p_value == pytest.approx(scipy_test.pvalue, rel=1e-12)
    compare = CompareMeans(DescrStatsW(treated), DescrStatsW(comparison))
    lower, upper = compare.tconfint_diff(alpha=0.05, usevar="unequal")
    assert (result.lower, result.upper) == (pytest.approx(lower, rel=1e-12), pytest.approx(upper, rel=1e-12))
    t_lower, t_upper = DescrStatsW(treated).tconfint_mean(alpha=0.05)
    assert (result.treated_lower, result.treated_upper) == (pytest.approx(t_lower), pytest.approx(t_upper))
    assert result.difference == pytest.approx(treated.mean() - comparison.mean())
    assert (result.n_treated, result.n_comparison) == (240, pytest.approx(3_000))
    assert result.significant == (scipy_test.pvalue <= 0.05)
    se = math.sqrt(treated.var(ddof=1) / 240 + comparison.var(ddof=1) / 3_000)
    assert result.standard_error == pytest.approx(se, rel=1e-12)
    assert result.standard_error == pytest.approx(compare.std_meandiff_separatevar, rel=1e-12)


def test_weighted_hand_worked():
    # comparison values 0, 1, 1, 0 with weights 1, 1, 0.5, 0.5 (sum 3, sum of squares 2.5)
    mean, variance, n_eff = weighted_mean_variance(np.array([0.0, 1.0, 1.0, 0.0]), np.array([1, 1, 0.5, 0.5]))
    assert mean == pytest.approx(1.5 / 3)                        # 0.5
    assert n_eff == pytest.approx(9 / 2.5)                       # 3.6
    # sum w (x - m)^2 = 3 * 0.25 = 0.75; divided by V1 - V2/V1 = 3 - 2.5/3 = 13/6
    assert variance == pytest.approx(0.75 / (13 / 6))
    treated = np.array([0.0, 0.0, 1.0, 0.0, 1.0])                # mean 0.4, variance 0.3
    result = welch_compare(treated, [0.0, 1.0, 1.0, 0.0], comparison_weights=[1, 1, 0.5, 0.5])
    a, b = 0.3 / 5, (0.75 / (13 / 6)) / 3.6
    df = (a + b) ** 2 / (a ** 2 / 4 + b ** 2 / 2.6)
    assert result.df == pytest.approx(df)
    assert result.difference == pytest.approx(-0.1)
    assert result.p_value == pytest.approx(2 * stats.t.sf(0.1 / math.sqrt(a + b), df))
    half = stats.t.ppf(0.975, df) * math.sqrt(a + b)
    assert (result.lower, result.upper) == (pytest.approx(-0.1 - half), pytest.approx(-0.1 + half))
    c_half = stats.t.ppf(0.975, 2.6) * math.sqrt((0.75 / (13 / 6)) / 3.6)
    assert result.comparison_upper == pytest.approx(0.5 + c_half)
    assert result.n_comparison == pytest.approx(3.6)


def test_equal_weights_are_the_unweighted_test_and_zero_weights_drop_out():
    rng = np.random.default_rng(2)
    treated, comparison = rng.random(50), rng.random(400)
    plain = asdict(welch_compare(treated, comparison))
    assert asdict(welch_compare(treated, comparison, np.full(400, 2.5))) == pytest.approx(plain, rel=1e-12)
    padded = welch_compare(treated, np.r_[comparison, [9.0, 9.0]], np.r_[np.ones(400), [0.0, 0.0]])
    assert asdict(padded) == pytest.approx(plain, rel=1e-12)


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="negative"):
        welch_compare([0, 1, 1], [0, 1], [1, -1])
    with pytest.raises(ValueError, match="length"):
        welch_compare([0, 1, 1], [0, 1], [1])
    with pytest.raises(ValueError, match="effective comparison size"):
        welch_compare([0, 1, 1], [0, 1], [1, 0])


def rounded(x: float) -> int:
    """Whole percentage points, half away from zero (as published)."""
    return int(math.floor(abs(x) * 100 + 0.5)) * (1 if x >= 0 else -1)


def reproductions(n_treated, treated_pct, comparison_pct, published):
    """Unrounded rates consistent with the published rounding whose Welch interval rounds to the
    published one, for comparison groups of 10,000 to 100,000 people."""
    found = []
    for k in range(n_treated + 1):
        if rounded(k / n_treated) != treated_pct:
            continue
        treated = np.r_[np.ones(k), np.zeros(n_treated - k)]
        for n_comparison in (10_000, 30_000, 100_000):
            for j in range(int((comparison_pct - 0.5) * n_comparison / 100),
                           int((comparison_pct + 0.5) * n_comparison / 100) + 1, max(1, n_comparison // 1000)):
                if rounded(j / n_comparison) != comparison_pct:
                    continue
                comparison = np.r_[np.ones(j), np.zeros(n_comparison - j)]
                result = welch_compare(treated, comparison)
                if (rounded(result.lower), rounded(result.upper)) == published:
                    found.append((k, n_comparison, j, result))
    return found


def test_langley_house_trust_is_reproduced():
    # 231 treated, 26% vs 35%, a reduction of 2 to 14 percentage points
    found = reproductions(231, 26, 35, (-14, -2))
    assert found
    assert all(r.significant and r.upper < 0 for *_, r in found)
    k, n_comparison, j, result = found[0]
    assert rounded(result.treated_mean) == 26 and rounded(result.comparison_mean) == 35


@pytest.mark.slow
def test_prisoners_education_trust_is_reproduced():
    # 3,085 treated, 19% vs 26%, a reduction of 5 to 8 percentage points
    found = reproductions(3_085, 19, 26, (-8, -5))
    assert found
    assert all(r.significant and r.p_value < 0.001 for *_, r in found)


def test_exported_from_the_package():
    import jdl

    assert jdl.welch_compare is welch_compare


def _matched_frame(n_treated_re, n_treated_not, n_comp_re, n_comp_not, custodial_first=0):
    """Treated and comparison people (weight 1 each) with outcomes; re-offenders re-offend twice,
    first re-offence either-way, after 100 days."""
    import pandas as pd

    rows = []
    for treated, n_re, n_not in ((1, n_treated_re, n_treated_not), (0, n_comp_re, n_comp_not)):
        for i in range(n_re):
            rows.append({"treated": treated, "reoffended": 1, "reoffences": 2, "days_to_first": 100.0 + i % 7,
                         "first_indictable_only": 0.0, "first_either_way": 1.0, "first_summary": 0.0,
                         "reoffences_indictable_only": 0.0, "reoffences_either_way": 1.0 + i % 2,
                         "reoffences_summary": 1.0, "first_custodial": float(i < custodial_first),
                         "custodial_sentences": float(i < custodial_first)})
        for _ in range(n_not):
            rows.append({"treated": treated, "reoffended": 0, "reoffences": 0, **{c: np.nan for c in (
                "days_to_first", "first_indictable_only", "first_either_way", "first_summary",
                "reoffences_indictable_only", "reoffences_either_way", "reoffences_summary", "first_custodial",
                "custodial_sentences")}})
    return pd.DataFrame(rows)


def test_gates():
    from jdl.stats.compare import compare_measures

    # 29 treated re-offenders: the rate and frequency are reported, the re-offender measures are not
    data = _matched_frame(29, 71, 400, 600, custodial_first=12)
    results = {r.measure.column: r for r in compare_measures(data, np.ones(len(data)))}
    assert results["reoffended"].reported and results["reoffences"].reported
    assert not results["days_to_first"].reported and results["days_to_first"].comparison is None
    assert results["days_to_first"].reason == ("not reported: too few people (the treatment group has fewer than "
                                               "30 re-offenders)")
    # 30 re-offenders: re-offender measures open, but a rate with fewer than 10 on one side stays shut
    data = _matched_frame(30, 70, 400, 600, custodial_first=9)
    results = {r.measure.column: r for r in compare_measures(data, np.ones(len(data)))}
    assert results["days_to_first"].reported and results["reoffences_either_way"].reported
    assert not results["first_custodial"].reported
    assert results["first_custodial"].reason == ("not reported: too few people (fewer than 10 in the treatment "
                                                 "group have the outcome, or fewer than 10 do not)")
    # every first re-offence was either-way: 30 have it and 0 lack it
    assert not results["first_either_way"].reported and not results["first_summary"].reported
    # rate gate on the headline: 9 treated re-offenders
    data = _matched_frame(9, 91, 400, 600)
    assert not compare_measures(data, np.ones(len(data)))[0].reported
    data = _matched_frame(10, 10, 400, 600)
    first = compare_measures(data, np.ones(len(data)))[0]
    assert first.reported and first.comparison.treated_mean == pytest.approx(0.5)


def test_gated_comparisons_use_reoffenders_only_and_weights():
    from jdl.stats.compare import compare_measures

    data = _matched_frame(40, 60, 300, 700, custodial_first=15)
    weights = np.ones(len(data))
    weights[(data["treated"] == 0).to_numpy() & (data["reoffended"] == 0).to_numpy()] = 0.5
    results = {r.measure.column: r for r in compare_measures(data, weights)}
    rate = results["reoffended"].comparison
    assert rate.comparison_mean == pytest.approx(300 / (300 + 350))
    custody = results["first_custodial"].comparison
    assert custody.treated_mean == pytest.approx(15 / 40) and custody.comparison_mean == pytest.approx(15 / 300)
    assert custody.n_treated == 40


def test_number_needed_formula_and_unreachable_case():
    from jdl.stats.compare import number_needed

    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    expected = z ** 2 * 0.30 * 0.70 / (0.05 ** 2 - z ** 2 * 0.35 * 0.65 / 20_000)
    assert number_needed(0.30, 0.35, 20_000) == math.ceil(expected)
    assert number_needed(0.30, 0.35, 20_000) == 684   # 7.849 x 0.21 / (0.0025 - 0.0000893) = 683.7
    # a difference too small for this comparison group: no treatment group would do
    assert number_needed(0.349, 0.35, 1_000) == math.inf
    assert number_needed(0.35, 0.35, 10**9) == math.inf


def _employment_frame(n_employed, n_not, comparison_employed, comparison_not):
    """Treated and comparison people with the four experimental measures: the employed spend 100
    days in employment and none on benefits; the others 0 days in employment, and 200 days on
    benefits, on benefits at the end of the year (one re-offender each side for the gate's count)."""
    import pandas as pd

    rows = []
    for treated, n_yes, n_no in ((1, n_employed, n_not), (0, comparison_employed, comparison_not)):
        rows += [{"treated": treated, "reoffended": int(i == 0), "employed_in_year": 1, "days_employed": 100.0,
                  "benefit_at_year_end": 0, "days_on_benefit": 0.0} for i in range(n_yes)]
        rows += [{"treated": treated, "reoffended": 0, "employed_in_year": 0, "days_employed": 0.0,
                  "benefit_at_year_end": 1, "days_on_benefit": 200.0} for _ in range(n_no)]
    return pd.DataFrame(rows)


def test_the_employment_measures_go_through_the_same_comparison_and_gates():
    """compare_measures(measures=EMPLOYMENT_MEASURES): the two rates take the rate's gate (10 treated
    people with the outcome and 10 without); the two numbers of days over everyone take the gate
    the frequency over everyone has, none of their own (no re-offender gate, whatever the number
    of re-offenders); values are Welch's, exactly."""
    from jdl.cohort.employment import EMPLOYMENT_MEASURES
    from jdl.stats.compare import compare_measures

    data = _employment_frame(9, 51, 100, 300)
    results = {r.measure.column: r for r in compare_measures(data, np.ones(len(data)), measures=EMPLOYMENT_MEASURES)}
    assert list(results) == ["employed_in_year", "days_employed", "benefit_at_year_end", "days_on_benefit"]
    rate_rule = ("not reported: too few people (fewer than 10 in the treatment group have the outcome, or fewer "
                 "than 10 do not)")
    assert not results["employed_in_year"].reported and results["employed_in_year"].reason == rate_rule
    # 51 treated on benefits at the end of the year, 9 not: gated too
    assert not results["benefit_at_year_end"].reported and results["benefit_at_year_end"].reason == rate_rule
    # one treated re-offender only: the days over everyone are still reported
    assert results["days_employed"].reported and results["days_on_benefit"].reported
    days = results["days_employed"].comparison
    assert days.treated_mean == pytest.approx(900 / 60) and days.comparison_mean == pytest.approx(25.0)
    assert days == welch_compare(data.loc[data["treated"] == 1, "days_employed"],
                                 data.loc[data["treated"] == 0, "days_employed"], np.ones(400))
    # ten each side: every measure is reported; the rate is the share employed
    data = _employment_frame(10, 10, 100, 300)
    results = {r.measure.column: r for r in compare_measures(data, np.ones(len(data)), measures=EMPLOYMENT_MEASURES)}
    assert all(r.reported for r in results.values())
    assert results["employed_in_year"].comparison.treated_mean == 0.5
    assert results["employed_in_year"].comparison.comparison_mean == 0.25
    assert results["employed_in_year"].comparison.difference == 0.25
    # the default is still the eleven re-offending measures
    from jdl.cohort.measures import MEASURES

    assert [r.measure for r in compare_measures(_matched_frame(30, 70, 400, 600), np.ones(1100))] == list(MEASURES)


def test_float_values_of_a_series_an_index_and_a_list():
    from jdl.stats.compare import float_values

    series = pd.Series([1, 0, 2], index=pd.Index(["u1", "u2", "u3"], dtype="string[pyarrow]"))
    assert float_values(series).tolist() == [1.0, 0.0, 2.0] and float_values(series).dtype == np.float64
    assert float_values(pd.Index([3, 4])).tolist() == [3.0, 4.0]
    assert float_values([0.5, 1]).tolist() == [0.5, 1.0]
    assert float_values(np.array([True, False])).tolist() == [1.0, 0.0]
