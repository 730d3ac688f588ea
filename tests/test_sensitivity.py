"""Sensitivity: E-values against hand-worked values, and the regression-adjusted estimate against
weighted least squares and the HC1 sandwich computed by hand with numpy."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jdl.stats.compare import Comparison
from jdl.stats.sensitivity import e_value, headline_e_value, regression_adjusted


def test_e_value_hand_worked():
    # RR 0.74 -> 1/0.74 = 1.351351; E = 1.351351 + sqrt(1.351351 * 0.351351) = 1.351351 + 0.689057
    assert e_value(0.74) == pytest.approx(2.040408, abs=1e-6)
    assert e_value(2.0) == pytest.approx(2 + math.sqrt(2), abs=1e-12)
    assert e_value(1.0) == 1.0
    with pytest.raises(ValueError):
        e_value(0.0)


def rate_comparison(p_t, n_t, p_c, n_c):
    """A Comparison built the way welch_compare builds each group's t interval."""
    half_t = stats.t.ppf(0.975, n_t - 1) * math.sqrt(p_t * (1 - p_t) * n_t / (n_t - 1) / n_t)
    half_c = stats.t.ppf(0.975, n_c - 1) * math.sqrt(p_c * (1 - p_c) * n_c / (n_c - 1) / n_c)
    return Comparison(p_t, p_t - half_t, p_t + half_t, p_c, p_c - half_c, p_c + half_c, p_t - p_c,
                      0.0, 0.0, 0.01, True, n_t, float(n_c), 100.0, 0.05)


def test_headline_e_value_of_a_reduction():
    result = headline_e_value(rate_comparison(0.26, 231, 0.35, 4000))
    assert result.risk_ratio == pytest.approx(0.742857, abs=1e-6)
    # se(log RR) by hand: sqrt(0.26*0.74/230 / 0.26^2 + 0.35*0.65/3999 / 0.35^2)
    se = math.sqrt(0.26 * 0.74 / 230 / 0.26 ** 2 + 0.35 * 0.65 / 3999 / 0.35 ** 2)
    upper = 0.26 / 0.35 * math.exp(1.959964 * se)
    assert result.upper == pytest.approx(upper, rel=1e-6)
    assert result.upper < 1
    assert result.point == pytest.approx(e_value(0.26 / 0.35), abs=1e-12)
    assert result.bound == pytest.approx(1 / upper + math.sqrt(1 / upper * (1 / upper - 1)), rel=1e-6)
    assert result.sentence() == (
        "The risk ratio is 0.74 (95% interval 0.59 to 0.93). To explain this result away, a hidden factor (such "
        "as motivation) would need to be associated with both taking part and re-offending by a risk ratio of at "
        "least 2.03 each, over and above everything the match accounts for; to move the interval to include no "
        "difference, at least 1.37 each.")


def test_headline_e_value_when_the_interval_includes_one():
    result = headline_e_value(rate_comparison(0.30, 60, 0.33, 900))
    assert result.lower < 1 < result.upper and result.bound == 1.0
    assert "already inconclusive" in result.sentence()


def test_regression_adjusted_matches_weighted_least_squares_by_hand():
    rng = np.random.default_rng(5)
    n = 400
    data = pd.DataFrame({"treated": (rng.random(n) < 0.3).astype(int), "age": rng.normal(30, 8, n),
                         "region": rng.choice(["A", "B", "C"], n)})
    data["reoffended"] = (rng.random(n) < 0.2 + 0.01 * (data["age"] < 25) - 0.05 * data["treated"]).astype(int)
    weights = np.where(data["treated"] == 1, 1.0, rng.uniform(0, 2, n))
    weights[:10] = 0.0
    result = regression_adjusted(data, weights, ["age", "region"])
    keep = weights > 0
    d = data[keep]
    x = np.column_stack([np.ones(keep.sum()), d["treated"], d["age"], d["region"] == "B", d["region"] == "C"]).astype(float)
    w = weights[keep]
    y = d["reoffended"].to_numpy(float)
    xtwx_inv = np.linalg.inv(x.T @ (w[:, None] * x))
    beta = xtwx_inv @ x.T @ (w * y)
    residual = y - x @ beta
    meat = (x * (w * residual)[:, None]).T @ (x * (w * residual)[:, None])
    cov = xtwx_inv @ meat @ xtwx_inv * len(y) / (len(y) - x.shape[1])          # HC1
    assert result.difference == pytest.approx(beta[1], abs=1e-12)
    assert result.se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-9)
    assert result.n == keep.sum()
    assert result.lower == pytest.approx(beta[1] - 1.959964 * result.se, abs=1e-6)
