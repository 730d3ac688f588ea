"""Balance diagnostics (jdl.stats.balance), methodology section 5: a hand-worked table with exact
fractions, numpy as an independent reference on a real match, the bands, and the two plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import jdl
from jdl.stats.balance import (Balance, balance_covariates, balance_table, band, love_plot, overlap_plot,
                               weighted_variance)
from jdl.stats.matching import match


def _hand_data():
    # 4 treated (the last dropped by the match) and 4 comparison people with matching weights
    data = pd.DataFrame({
        "x": [1.0, 2.0, 3.0, 10.0, 0.0, 2.0, 4.0, 6.0],
        "g": ["a", "a", "b", "b", "a", "b", "b", "b"],
        "flag": [True, False, True, False, False, False, False, False],
    })
    treated = np.array([True] * 4 + [False] * 4)
    weights = np.array([1, 1, 1, 0, 0.5, 1.5, 1, 0])
    return data, treated, weights


def test_balance_covariates_expand_categories_fully():
    data, _, _ = _hand_data()
    matrix, names = balance_covariates(data, ["x", "g", "flag"])
    assert names == ["x", "g_a", "g_b", "flag"]
    np.testing.assert_array_equal(matrix[:, 1], [1, 1, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(matrix[:, 3], [1, 0, 1, 0, 0, 0, 0, 0])


def test_hand_worked_table():
    data, treated, weights = _hand_data()
    matrix, names = balance_covariates(data, ["x", "g", "flag"])
    table = balance_table(matrix, treated, weights, names=names).table
    x = table.loc["x"]
    # before: treated mean 4, variance 50/3; comparison mean 3, variance 20/3
    scale = math.sqrt((50 / 3 + 20 / 3) / 2)
    assert x.treated_mean_before == pytest.approx(4)
    assert x.comparison_mean_before == pytest.approx(3)
    assert x.std_diff_before == pytest.approx(100 * (4 - 3) / scale)
    # after: matched treated mean 2 (the dropped 10 leaves); weighted comparison mean 7/3
    assert x.treated_mean_after == pytest.approx(2)
    assert x.comparison_mean_after == pytest.approx(7 / 3)
    assert x.std_diff_after == pytest.approx(100 * (2 - 7 / 3) / scale)  # same denominator
    assert x.std_diff_after == pytest.approx(-9.759000729485332)
    assert x.band_after == "reasonable"
    # variance ratio: before (50/3)/(20/3); after 1 / (weighted comparison variance 34/11)
    assert x.variance_ratio_before == pytest.approx(2.5)
    assert x.variance_ratio_after == pytest.approx(11 / 34)

    g_a = table.loc["g_a"]
    scale_a = math.sqrt((1 / 3 + 1 / 4) / 2)
    assert g_a.std_diff_before == pytest.approx(100 * (0.5 - 0.25) / scale_a)
    assert g_a.std_diff_after == pytest.approx(100 * (2 / 3 - 1 / 6) / scale_a)
    assert g_a.variance_ratio_after == pytest.approx((1 / 3) / (5 / 22))
    assert g_a.band_after == "poor"
    assert table.loc["g_b"].std_diff_after == pytest.approx(-g_a.std_diff_after)

    flag = table.loc["flag"]
    assert flag.std_diff_after == pytest.approx(100 * (2 / 3) / math.sqrt((1 / 3 + 0) / 2))
    assert flag.variance_ratio_after == np.inf  # no variation among the comparison


def test_any_poor_and_the_distance_row():
    data, treated, weights = _hand_data()
    matrix, names = balance_covariates(data, ["x"])
    distance = np.array([5.0, 5, 5, 5, 0, 0, 0, 0])
    balance = balance_table(matrix, treated, weights, distance=distance, names=names)
    assert isinstance(balance, Balance)
    assert list(balance.table.index) == ["x", "distance"]
    assert balance.table.loc["distance", "band_after"] == "poor"
    assert not balance.any_poor and balance.poor == ()  # the distance row is not a covariate
    balance = balance_table(balance_covariates(data, ["x", "g"])[0], treated, weights,
                            names=["x", "g_a", "g_b"])
    assert balance.any_poor and balance.poor == ("g_a", "g_b")
    assert "no p-values" in balance.conventions
    assert not any("p" == c or c.startswith("p_") for c in balance.table.columns)


@pytest.mark.parametrize("value,expected", [(0, "good"), (4.999, "good"), (5, "reasonable"),
                                            (10, "reasonable"), (10.001, "poor"),
                                            (np.inf, "poor"), (np.nan, "n/a")])
def test_bands(value, expected):
    assert band(value) == expected


def test_weighted_variance_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    w = rng.random(50)
    assert weighted_variance(x[:, None], w)[0] == pytest.approx(np.cov(x, aweights=w))
    assert weighted_variance(x[:, None], np.ones(50))[0] == pytest.approx(np.var(x, ddof=1))


def test_large_means_keep_their_precision():
    rng = np.random.default_rng(4)
    x = 1e7 + rng.normal(size=1000)
    treated = np.arange(1000) < 300
    table = balance_table(pd.DataFrame({"x": x}), treated, np.ones(1000)).table
    expected = 100 * (x[treated].mean() - x[~treated].mean()) / math.sqrt(
        (np.var(x[treated], ddof=1) + np.var(x[~treated], ddof=1)) / 2)
    assert table.loc["x", "std_diff_before"] == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def matched():
    rng = np.random.default_rng(9)
    n = 1500
    data = pd.DataFrame({"age": rng.normal(32, 9, n), "region": rng.choice(["n", "s", "w"], n),
                         "employed": rng.random(n) < 0.4, "previous": rng.poisson(4, n)})
    eta = -1.2 + 0.04 * (data.age - 32) + 0.6 * (data.region == "s") - 0.5 * data.employed \
        + 0.1 * data.previous
    data["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return match(data, "treated", ["age", "region", "employed", "previous"])


def test_balance_of_a_match_against_numpy(matched):
    table = matched.balance().table
    assert list(table.index) == ["age", "region_n", "region_s", "region_w", "employed",
                                 "previous", "distance (logit of propensity score)"]
    data, w, t = matched.data, matched.weights.to_numpy(), matched.treated.to_numpy()
    for column, values in [("age", data.age.to_numpy()), ("region_s", (data.region == "s") * 1.0),
                           ("employed", data.employed * 1.0),
                           ("distance (logit of propensity score)", matched.distance.to_numpy())]:
        values = np.asarray(values, dtype=float)
        scale = math.sqrt((np.var(values[t], ddof=1) + np.var(values[~t], ddof=1)) / 2)
        after = np.average(values[t], weights=w[t]) - np.average(values[~t], weights=w[~t])
        row = table.loc[column]
        assert row.std_diff_after == pytest.approx(100 * after / scale, rel=1e-9, abs=1e-9)
        assert row.variance_ratio_after == pytest.approx(
            np.cov(values[t], aweights=w[t]) / np.cov(values[~t], aweights=w[~t]), rel=1e-9)
    # matching improves balance on the distance
    distance = table.iloc[-1]
    assert abs(distance.std_diff_after) < abs(distance.std_diff_before)


def test_love_plot(matched):
    figure = love_plot(matched)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "Absolute standardised difference (%)"
    assert ax.get_title() == "Covariate balance before and after matching"
    vertical = sorted(line.get_xdata()[0] for line in ax.lines
                      if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1])
    assert vertical == [5, 10]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["before matching", "after matching"]
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == 2 * len(matched.balance().table)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(matched.balance().table.index)
    assert isinstance(jdl.love_plot(matched.balance()), Figure)  # a Balance works too


def test_overlap_plot(matched):
    figure = overlap_plot(matched)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "Propensity score"
    assert ax.get_ylabel() == "Density"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["treated", "comparison before matching",
                      "comparison after matching (weighted)"]
    assert len(ax.patches) + len(ax.collections) + len(ax.lines) >= 3  # one curve per group


@pytest.mark.parametrize("rows", [7, 8192])
def test_balance_of_a_match_is_the_table_of_its_covariate_matrix(matched, monkeypatch, rows):
    # balance_of serves the covariates a block of rows at a time (no n x k matrix); it must give
    # the table of the full matrix balance_covariates builds, whatever the block size
    import jdl.stats.balance as balance

    matrix, names = balance_covariates(matched.data, matched.covariates)
    expected = balance_table(matrix, matched.treated.to_numpy(), matched.weights.to_numpy(),
                             distance=matched.distance.to_numpy(),
                             distance_label="distance (logit of propensity score)", names=names).table
    monkeypatch.setattr(balance, "_ROWS", rows)
    got = balance.balance_of(matched).table
    assert list(got.index) == list(expected.index)
    assert got["band_after"].tolist() == expected["band_after"].tolist()
    numbers = [c for c in got.columns if c != "band_after"]
    np.testing.assert_allclose(got[numbers].to_numpy(), expected[numbers].to_numpy(), rtol=1e-12, atol=1e-12)


def test_level_moments_from_counts_equal_the_moments_of_the_indicators():
    # a categorical column's moments come from its level counts and weight sums per group, not
    # from 0/1 columns; they must equal the moments of those 0/1 columns
    from jdl.stats.balance import _level_moments, _moments

    codes = np.array([0, 1, 1, 2, 0, 1, 2, 2, 0])
    treated = np.array([True, True, True, False, False, False, False, False, False])
    weights = np.array([1.0, 1.0, 1.0, 0.5, 1.5, 0.0, 1.0, 0.25, 0.75])
    indicators = (codes[:, None] == np.arange(3)).astype(float)
    centre = indicators.mean(axis=0)
    means, variances = _level_moments(codes, 3, centre, treated, weights)
    expected_means, expected_variances = _moments(indicators, treated, weights)
    np.testing.assert_allclose(means, expected_means, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(variances, expected_variances, rtol=1e-14, atol=1e-15)
    # by hand: treated hold levels 0, 1, 1; the comparison weights 0.5 (2), 1.5 (0), 0 (1),
    # 1 (2), 0.25 (2), 0.75 (0), total 4
    np.testing.assert_allclose(means[0], [1 / 3, 2 / 3, 0.0], rtol=1e-15)
    np.testing.assert_allclose(means[1], [2 / 6, 1 / 6, 3 / 6], rtol=1e-15)
    np.testing.assert_allclose(means[3], [2.25 / 4, 0.0, 1.75 / 4], rtol=1e-15, atol=1e-16)
    # unweighted treated variance of level 0 (n - 1 denominator): 1/3 * 2/3 * 3/2 = 1/3
    assert variances[0, 0] == pytest.approx(1 / 3, rel=1e-15)


def test_balance_columns_moments_equal_the_full_matrix_moments():
    from jdl.stats.balance import _Columns, _moments

    rng = np.random.default_rng(11)
    n = 500
    data = pd.DataFrame({
        "x": rng.normal(size=n), "age": rng.integers(18, 70, n).astype(float),
        "region": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["z", "c", "b", "a"]),
        "sex": rng.choice(["F", "M"], n), "flag": rng.random(n) < 0.4})
    treated = rng.random(n) < 0.2
    weights = np.where(treated, 1.0, rng.random(n) * (rng.random(n) < 0.5))
    covariates = ["x", "region", "age", "sex", "flag"]
    columns = _Columns(data, covariates)
    matrix, names = balance_covariates(data, covariates)
    assert columns.names == names
    got = columns.moments(treated, weights)
    expected = _moments(matrix, treated, weights)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
