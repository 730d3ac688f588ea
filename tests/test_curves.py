"""Cumulative re-offending by day (jdl.stats.curves): hand-worked shares and intervals, the
day-365 share equal to the headline rate's comparison, and what disclosure lets a curve show."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jdl.stats.compare import welch_compare
from jdl.stats.curves import TABLE_DAYS, cumulative_reoffending, curve_shown

T_975_99 = 1.9842169515864174      # scipy.stats.t.ppf(0.975, 99)
T_975_5_3 = 5.2422651305838315     # scipy.stats.t.ppf(0.975, 5/3)


def _data(treated_days, comparison_days):
    days = list(treated_days) + list(comparison_days)
    return pd.DataFrame({"treated": [1] * len(treated_days) + [0] * len(comparison_days),
                         "days_to_first": pd.Series(days, dtype=float)})


def test_small_groups_hand_worked_and_clipped():
    # treated: first re-offences on days 10 and 50, two people without; comparison: weights
    # 1, 2, 1 on days 20, none, 100, and a person outside the match (weight 0) on day 5
    data = _data([10, 50, None, None], [20, None, 100, 5])
    weights = [1, 1, 1, 1, 1, 2, 1, 0]
    curve = cumulative_reoffending(data, weights, days=[6, 11, 21, 51, 101, 365])
    table = curve.table
    assert list(table.index) == [6, 11, 21, 51, 101, 365]
    assert list(table["treated"]) == [0, 0.25, 0.25, 0.5, 0.5, 0.5]
    assert list(table["comparison"]) == [0, 0, 0.25, 0.25, 0.5, 0.5]   # the day-5 person is not matched
    assert list(table["treated_people"]) == [0, 1, 1, 2, 2, 2]
    assert list(table["comparison_people"]) == [0, 0, 1, 1, 2, 2]
    assert list(table["comparison_count"]) == [0, 0, 1, 1, 2, 2]
    assert curve.n_treated == 4
    assert curve.n_comparison == pytest.approx(16 / 6)                 # (1+2+1)^2 / (1+4+1)
    # day 21, comparison: p = 0.25, variance 4 * 0.25 * 0.75 / (4 - 6/4) = 0.3,
    # half-width t(0.975, 5/3) * sqrt(0.3 / (8/3)) = 5.2423 * 0.3354 = 1.758: clipped to [0, 1]
    assert (table.loc[21, "comparison_lower"], table.loc[21, "comparison_upper"]) == (0.0, 1.0)
    assert 0.25 - T_975_5_3 * math.sqrt(0.1125) < 0 < 1 < 0.25 + T_975_5_3 * math.sqrt(0.1125)
    # a share of 0 has no width
    assert (table.loc[6, "treated_lower"], table.loc[6, "treated_upper"]) == (0.0, 0.0)


def test_larger_groups_hand_worked():
    # treated: 100 people, 20 re-offending on day 10, 10 more on day 200
    treated = [10] * 20 + [200] * 10 + [None] * 70
    # comparison: 100 people of weight 1 and 100 of weight 0.5 (V1 = 150, V2 = 125, n = 180);
    # 30 of each re-offend on day 29
    comparison = [29] * 30 + [None] * 70 + [29] * 30 + [None] * 70
    weights = [1] * 100 + [1] * 100 + [0.5] * 100
    table = cumulative_reoffending(_data(treated, comparison), weights, days=[30, 365]).table
    # treated by day 30: p = 0.2, variance 100 * 0.16 / 99, half = t(0.975, 99) * 0.4 / sqrt(99)
    half = T_975_99 * 0.4 / math.sqrt(99)
    assert table.loc[30, "treated"] == pytest.approx(0.2)
    assert table.loc[30, "treated_lower"] == pytest.approx(0.2 - half, rel=1e-12)
    assert table.loc[30, "treated_upper"] == pytest.approx(0.2 + half, rel=1e-12)
    assert table.loc[365, "treated"] == pytest.approx(0.3)
    # comparison by day 30: 30 + 15 = 45 of 150, p = 0.3; variance 150 * 0.21 / (150 - 125/150)
    variance = 150 * 0.21 / (150 - 125 / 150)
    c_half = stats.t.ppf(0.975, 179) * math.sqrt(variance / 180)
    assert table.loc[30, "comparison"] == pytest.approx(0.3)
    assert table.loc[30, "comparison_count"] == pytest.approx(45)
    assert table.loc[30, "comparison_people"] == 60
    assert table.loc[30, "comparison_lower"] == pytest.approx(0.3 - c_half, rel=1e-12)
    assert table.loc[30, "comparison_upper"] == pytest.approx(0.3 + c_half, rel=1e-12)
    assert c_half == pytest.approx(1.9732 * math.sqrt(0.2111732 / 180), rel=1e-4)   # 0.0676


def test_day_365_is_the_headline_rate_comparison():
    rng = np.random.default_rng(3)
    n_t, n_c = 300, 2_000
    first = np.where(rng.random(n_t + n_c) < 0.3, rng.integers(0, 365, n_t + n_c), np.nan)
    data = pd.DataFrame({"treated": [1] * n_t + [0] * n_c, "days_to_first": first})
    weights = np.concatenate([np.ones(n_t), rng.choice([0, 0.25, 0.5, 1, 2], n_c)])
    curve = cumulative_reoffending(data, weights, days=TABLE_DAYS)
    rate = (~np.isnan(first)).astype(float)
    keep = weights[n_t:] > 0
    c = welch_compare(rate[:n_t], rate[n_t:][keep], weights[n_t:][keep])
    last = curve.table.loc[365]
    assert list(curve.table.index) == [30, 90, 180, 270, 365]
    assert last["treated"] == pytest.approx(c.treated_mean, rel=1e-12)
    assert (last["treated_lower"], last["treated_upper"]) == (pytest.approx(c.treated_lower, rel=1e-12),
                                                              pytest.approx(c.treated_upper, rel=1e-12))
    assert last["comparison"] == pytest.approx(c.comparison_mean, rel=1e-12)
    assert (last["comparison_lower"], last["comparison_upper"]) == (pytest.approx(c.comparison_lower, rel=1e-12),
                                                                    pytest.approx(c.comparison_upper, rel=1e-12))
    assert curve.n_comparison == pytest.approx(c.n_comparison, rel=1e-12)
    assert curve.table["treated"].is_monotonic_increasing


def test_refuses_bad_input():
    data = _data([10], [20])
    with pytest.raises(ValueError, match="differ in length"):
        cumulative_reoffending(data, [1, 1, 1])
    with pytest.raises(ValueError, match="comparison group has nobody"):
        cumulative_reoffending(data, [1, 0])


def test_shown_starts_where_each_group_has_five_reoffenders():
    # treated: re-offences on days 0..11 (one a day), 20 without; comparison: 5 on day 3 (weight
    # 1 each) and 20 without
    treated = list(range(12)) + [None] * 20
    comparison = [3] * 5 + [None] * 20
    curve = cumulative_reoffending(_data(treated, comparison), [1] * 57)
    shown = curve_shown(curve)
    # day d counts days 0..d-1: the treated group reaches 5 people on day 5, the comparison on day 4
    assert shown.index[0] == 5 and shown.index[-1] == 365 and len(shown) == 361
    assert list(shown.columns) == ["treated", "treated_lower", "treated_upper", "comparison",
                                   "comparison_lower", "comparison_upper"]
    assert shown.loc[5, "treated"] == pytest.approx(5 / 32)


def test_shown_counts_people_not_weights():
    # 12 treated re-offenders and 20 without; the comparison has 4 re-offenders of weight 5:
    # a weighted count of 20 but 4 people, so nothing may be drawn
    curve = cumulative_reoffending(_data([1] * 12 + [None] * 20, [2] * 4 + [None] * 20), [1] * 32 + [5] * 4 + [1] * 20)
    assert curve.table.loc[365, "comparison_count"] == 20
    assert curve_shown(curve) is None


@pytest.mark.parametrize("reoffenders, without", [(9, 30), (30, 9)])
def test_no_curve_when_the_rate_is_gated(reoffenders, without):
    curve = cumulative_reoffending(_data([7] * reoffenders + [None] * without, [7] * 20 + [None] * 20),
                                   [1] * (reoffenders + without + 40))
    assert curve_shown(curve) is None
    curve = cumulative_reoffending(_data([7] * 10 + [None] * 10, [7] * 20 + [None] * 20), [1] * 60)
    assert curve_shown(curve) is not None
