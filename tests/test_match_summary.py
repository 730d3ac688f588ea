"""MatchResult.summary() (jdl.stats.matching.MatchSummary), shaped like MatchIt's summary.matchit.

Two hand-worked matches on a saturated propensity model (x = 0: 2 of 6 men treated, x = 1: 3 of
4), the first with three women outside every treated unit's exact-matching stratum:

* radius, caliper 0.2 SD of the logit: every treated man matched; comparison weights 1/2 for the
  four x = 0 men and 3 for the one x = 1 man, so the effective comparison size is
  (4 x 1/2 + 3)^2 / (4 x 1/4 + 9) = 25 / 10 = 2.5; the women are "Discarded";
* nearest 1:1 without replacement, caliper 0.2 SD of the propensity score (0.2 x 0.2152 = 0.043):
  both x = 0 treated take a control, one x = 1 treated takes the only x = 1 control and the other
  two are 5/12 away from any control left: unmatched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl.stats.matching import SAMPLE_SIZE_ROWS, MatchSummary, match
from jdl.stats.plan import MatchPlan, match_scrap

SECRET = [f"ID-SECRET-{i}" for i in range(13)]


def _data():
    return pd.DataFrame({
        "treated": [1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
        "x": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0],
        "sex": ["M"] * 10 + ["F"] * 3,
    }, index=SECRET)


@pytest.fixture(scope="module")
def radius():
    return match(_data(), "treated", ["x"], exact="sex")


@pytest.fixture(scope="module")
def nearest():
    return match(_data().iloc[:10], "treated", ["x"], method="nearest", replace=False, caliper=0.2)


def test_sample_sizes_as_matchit_lays_them_out(radius, nearest):
    expected_radius = pd.DataFrame([[8, 5], [8, 5], [2.5, 5], [5, 5], [0, 0], [3, 0]],
                                   index=list(SAMPLE_SIZE_ROWS), columns=["Control", "Treated"], dtype=float)
    pd.testing.assert_frame_equal(radius.summary().sample_sizes, expected_radius)
    expected_nearest = pd.DataFrame([[5, 5], [5, 5], [3, 3], [3, 3], [2, 2], [0, 0]],
                                    index=list(SAMPLE_SIZE_ROWS), columns=["Control", "Treated"], dtype=float)
    pd.testing.assert_frame_equal(nearest.summary().sample_sizes, expected_nearest)
    assert nearest.weights.tolist() == [1, 1, 1, 1, 0, 0, 1, 0, 0, 1]


def test_summary_is_a_frozen_object_with_the_settings(radius):
    summary = radius.summary()
    assert isinstance(summary, MatchSummary)
    assert (summary.method, summary.distance, summary.caliper_sd, summary.ratio, summary.replace,
            summary.m_order, summary.exact, summary.covariates, summary.estimator) == (
        "radius", "logit", 0.2, 1, True, "largest", ("sex",), ("x",), "maximum likelihood")
    assert (summary.separated_terms, summary.dropped_constant_terms, summary.dropped_collinear_terms) == ((), (), ())
    with pytest.raises(AttributeError):
        summary.method = "nearest"


def test_as_dict_is_the_dict_summary_gave(radius):
    logit = np.log([1 / 2] * 6 + [3] * 4)
    width = 0.2 * np.std(logit, ddof=1)
    got = radius.summary().as_dict()
    assert list(got) == ["method", "distance", "caliper_sd", "caliper_width", "ratio", "replace", "exact",
                         "n_treated", "n_treated_matched", "n_treated_dropped", "n_comparison_pool",
                         "n_comparison_outside_strata", "n_comparison_distinct", "effective_comparison_size",
                         "dropped_constant_terms", "estimator", "separated_terms", "dropped_collinear_terms"]
    assert got == {"method": "radius", "distance": "logit", "caliper_sd": 0.2, "caliper_width": pytest.approx(width),
                   "ratio": 1, "replace": True, "exact": ["sex"], "n_treated": 5, "n_treated_matched": 5,
                   "n_treated_dropped": 0, "n_comparison_pool": 8, "n_comparison_outside_strata": 3,
                   "n_comparison_distinct": 5, "effective_comparison_size": pytest.approx(2.5),
                   "dropped_constant_terms": [], "estimator": "maximum likelihood", "separated_terms": [],
                   "dropped_collinear_terms": []}


def test_match_scrap_keeps_its_content(radius):
    plan = MatchPlan(covariates=("x",), left_out=("age",), restrictions=(("disposal", "custody"),),
                     support=("region",), exact=("sex",))
    scrap = match_scrap(radius, plan)
    assert list(scrap) == ["method", "distance", "caliper_sd", "caliper_width", "ratio", "replace", "exact",
                           "dropped_constant_terms", "estimator", "separated_terms", "dropped_collinear_terms",
                           "covariates", "left_out", "restrictions", "support"]
    assert scrap == {"method": "radius", "distance": "logit", "caliper_sd": 0.2,
                     "caliper_width": radius.caliper_width, "ratio": 1, "replace": True, "exact": ["sex"],
                     "dropped_constant_terms": [], "estimator": "maximum likelihood", "separated_terms": [],
                     "dropped_collinear_terms": [], "covariates": ["x"], "left_out": ["age"],
                     "restrictions": {"disposal": "custody"}, "support": ["region"]}


def test_balance_is_computed_on_first_use_only(radius):
    result = match(_data(), "treated", ["x"], exact="sex")
    summary = result.summary()
    assert "_balance" not in result.__dict__
    assert summary.balance is result.balance()
    assert list(summary.balance.table.index) == ["x", "distance (logit of propensity score)"]


def test_plain_text(nearest):
    text = str(nearest.summary())
    head = text.split("\n\nBalance:\n")[0]
    assert head == "\n".join([
        "Match summary",
        "",
        "Method:                    nearest",
        "Distance:                  propensity",
        "Caliper:                   0.2 SD of the distance (width 0.04303)",
        "Ratio:                     1:1",
        "Order:                     largest",
        "Replacement:               without replacement",
        "Exact matching on:         none",
        "Covariates:                x",
        "Propensity model:          maximum likelihood",
        "Separated terms:           none",
        "Dropped terms (constant):  none",
        "Dropped terms (collinear): none",
        "",
        "Sample sizes:",
        "          Control Treated",
        "All             5       5",
        "Matched         3       3",
        "Unmatched       2       2",
        "Discarded       0       0",
    ])
    assert repr(nearest.summary()) == text
    # balance: the covariate and the distance rows, and the conventions last
    balance = text.split("\n\nBalance:\n")[1].splitlines()
    assert balance[2].split() == ["x", "0.60", "0.33", "0.20", "0.33", "80.0", "0.0", "1.5", "1.0", "good"]
    assert balance[3].startswith("distance (propensity score)")
    assert balance[-1] == nearest.summary().balance.conventions


def test_effective_size_row_shown_when_it_differs(radius):
    lines = str(radius.summary()).split("Sample sizes:\n")[1].split("\n\n")[0].splitlines()
    assert lines == ["              Control Treated",
                     "All                 8       5",
                     "Matched (ESS)    2.50       5",
                     "Matched             5       5",
                     "Unmatched           0       0",
                     "Discarded           3       0"]


def test_html_is_escaped_and_holds_no_unit_data():
    data = _data().rename(columns={"x": "<img src=x onerror=alert(1)>"})
    summary = match(data, "treated", ["<img src=x onerror=alert(1)>"], exact="sex").summary()
    page = summary._repr_html_()
    assert page.count("<table") == 3
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img" in str(summary)  # plain text is plain text
    for label in SECRET:
        assert label not in page and label not in str(summary)
