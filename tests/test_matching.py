"""Propensity score matching (jdl.stats.matching), methodology section 4.

Hand-worked cases with exact expected weights; brute-force O(n^2) references for radius and
nearest-neighbour matching on random data with ties; a closed-form propensity model; agreement
with R's MatchIt (run through Rscript) on MatchIt's lalonde data and on a data set built to have
many tied propensity scores; and the memory property that no treated x pool matrix is built.

The propensity fit: the closed-form MLE where a rare covariate drives selection, statsmodels'
MLE on simulated designs of that kind, a line search that never takes a falling step; under
separation Firth's estimate (closed form for a 2 x 2 table, an independent maximisation of the
penalised likelihood otherwise) and the columns that run off to infinity; collinear columns
dropped as R's glm drops them.

MatchIt reference: MatchIt 4.5.1's default path for a propensity-score distance
(``nn_matchC_vec``) mis-handles distance differences (integer ``abs``: it takes the neighbour
below in sorted order and ignores the caliper) and repeats one control k times with
``replace = TRUE, ratio = k``. The reference runs therefore hand ``matchit()`` the distance as a
treated x control matrix of |ps_t - ps_c| built from MatchIt's own propensity scores, which sends
it through MatchIt's general algorithm (``nn_matchC``), with the treated rows put in decreasing
propensity order (MatchIt's ``m.order = "largest"``; with a matrix only data order is offered),
``std.caliper = FALSE`` with the caliper multiplied by sd(ps) in R, and for matching with
replacement ``reuse.max = n_treated - 1`` (so it takes the ``which_min`` path per pass rather
than the ``partial_sort`` one, whose order among ties is unspecified; the script checks the cap
never binds).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import jdl
from jdl.stats.matching import (MatchResult, PropensityModelError, fit_propensity, match, nearest_match,
                                radius_match, treated_order)

# ---------------------------------------------------------------------------------------------
# radius matching by hand


def test_radius_hand_worked():
    # units: 3 treated, 6 comparison; caliper width 0.5 in distance units
    distance = [0.0, 1.0, 5.0, -0.3, 0.2, 0.5, 0.9, 1.6, 3.0]
    treated = [True, True, True, False, False, False, False, False, False]
    m = radius_match(distance, treated, width=0.5)
    # t0 (0.0) takes -0.3, 0.2, 0.5 (|0 - 0.5| = 0.5 is inside): 1/3 each
    # t1 (1.0) takes 0.5, 0.9 (1.6 is 0.6 away): 1/2 each; t2 (5.0) nobody: dropped
    expected = [1, 1, 0, 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2, 0, 0]
    np.testing.assert_allclose(m.weights, expected, rtol=0, atol=1e-15)
    assert m.n_matched_to.tolist() == [3, 2, 0, 0, 0, 0, 0, 0, 0]
    pairs = m.pairs()
    assert sorted(zip(pairs.treated, pairs.comparison)) == [(0, 3), (0, 4), (0, 5), (1, 5), (1, 6)]
    np.testing.assert_allclose(pairs.sort_values(["treated", "comparison"]).weight,
                               [1 / 3, 1 / 3, 1 / 3, 1 / 2, 1 / 2])
    # comparison weights sum to the number of matched treated
    assert m.weights[3:].sum() == pytest.approx(2.0, abs=1e-14)


def test_radius_boundary_is_inclusive_and_exact_in_floating_point():
    # 0.3 - 0.1 is 0.19999999999999998 in floating point; 0.1 + 0.2 is 0.30000000000000004
    distance = np.array([0.1, 0.3, 0.1 + 0.2, -0.1])
    treated = np.array([True, False, False, False])
    m = radius_match(distance, treated, width=0.2)
    inside = np.abs(distance[0] - distance[1:]) <= 0.2
    assert (m.weights[1:] > 0).tolist() == inside.tolist()


def test_radius_many_ties_and_wide_caliper_count_correctly():
    distance = np.r_[np.zeros(3), np.zeros(1000), np.ones(500)]
    treated = np.r_[np.ones(3, bool), np.zeros(1500, bool)]
    m = radius_match(distance, treated, width=0.0)
    np.testing.assert_allclose(m.weights[3:1003], 3 / 1000)
    assert (m.weights[1003:] == 0).all()
    m = radius_match(distance, treated, width=1.0)
    np.testing.assert_allclose(m.weights[3:], 3 / 1500, rtol=1e-12)


def _brute_radius(distance, treated, width, strata):
    weights = np.zeros(len(distance))
    for t in np.flatnonzero(treated):
        inside = [c for c in np.flatnonzero(~treated)
                  if strata[c] == strata[t] and abs(distance[t] - distance[c]) <= width]
        if inside:
            weights[t] = 1
            for c in inside:
                weights[c] += 1 / len(inside)
    return weights


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_radius_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 400
    distance = np.round(rng.normal(size=n), 1)  # many ties
    treated = rng.random(n) < 0.25
    strata = rng.integers(0, 3, n)
    m = radius_match(distance, treated, width=0.15, strata=strata)
    np.testing.assert_allclose(m.weights, _brute_radius(distance, treated, 0.15, strata),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# nearest neighbour by hand


def test_treated_order_largest_first_ties_in_data_order():
    d = [0.2, 0.5, 0.9, 0.5, 0.1, 0.9]
    t = [True, True, True, True, False, True]
    assert treated_order(d, t, "largest").tolist() == [2, 5, 1, 3, 0]
    assert treated_order(d, t, "smallest").tolist() == [0, 1, 3, 2, 5]
    assert treated_order(d, t, "data").tolist() == [0, 1, 2, 3, 5]


NN_DISTANCE = [0.6, 0.5, 0.5, 0.5, 0.65, 0.45]
NN_TREATED = [True, True, False, False, False, False]
# a = 0 (0.6) goes first: 0.65 (c4, 0.05 away) beats 0.5 (c2, c3, 0.1 away)
# b = 1 (0.5): c2 and c3 are both at 0 -> the first in data order, c2


def test_nearest_one_to_one_without_replacement():
    m = nearest_match(NN_DISTANCE, NN_TREATED)
    pairs = m.pairs()
    assert list(zip(pairs.treated, pairs.comparison, pairs.match_number)) == [(0, 4, 1), (1, 2, 1)]
    assert m.weights.tolist() == [1, 1, 1, 0, 1, 0]


def test_nearest_two_to_one_without_replacement_goes_in_passes():
    m = nearest_match(NN_DISTANCE, NN_TREATED, ratio=2)
    pairs = m.pairs()
    # pass 2: a takes c3 (0.1; c5 is 0.15), then b takes c5 (0.05)
    assert list(zip(pairs.treated, pairs.comparison, pairs.match_number)) == [
        (0, 4, 1), (1, 2, 1), (0, 3, 2), (1, 5, 2)]
    assert m.weights.tolist() == [1, 1, 1, 1, 1, 1]


def test_nearest_with_replacement_weights_scaled_as_matchit():
    m = nearest_match(NN_DISTANCE, NN_TREATED, ratio=2, replace=True)
    pairs = m.pairs()
    # a: c4 (0.05), then c2 (0.1, before c3 in data order); b: c2 (0), c3 (0)
    assert sorted(zip(pairs.treated, pairs.comparison, pairs.match_number)) == [
        (0, 2, 2), (0, 4, 1), (1, 2, 1), (1, 3, 2)]
    # raw: c2 = 1/2 + 1/2, c3 = 1/2, c4 = 1/2 (sum 2); 3 distinct controls -> times 3/2
    np.testing.assert_allclose(m.weights, [1, 1, 1.5, 0.75, 0.75, 0], rtol=0, atol=1e-15)


def test_nearest_equal_distance_on_both_sides_goes_to_first_in_data_order():
    # treated at 0.5; controls at 0.75 (position 1) and 0.25 (position 2): both exactly 0.25 away
    m = nearest_match([0.5, 0.75, 0.25], [True, False, False])
    assert m.pairs().comparison.tolist() == [1]
    m = nearest_match([0.5, 0.25, 0.75], [True, False, False])
    assert m.pairs().comparison.tolist() == [1]


def test_nearest_caliper_drops_and_used_controls_leave():
    d = [0.50, 0.52, 0.40, 0.515]
    t = [True, True, False, False]
    # b (0.52) first takes 0.515; a (0.50) has only 0.40 left, 0.10 away: outside 0.05
    m = nearest_match(d, t, width=0.05)
    assert m.weights.tolist() == [0, 1, 0, 1]
    # with replacement a may reuse 0.515 (0.015 away)
    m = nearest_match(d, t, width=0.05, replace=True)
    # raw weight 1 + 1 = 2 on one distinct control -> scaled to 1
    assert m.weights.tolist() == [1, 1, 0, 1]


def _brute_nearest(distance, treated, width, ratio, replace, strata):
    """MatchIt's nn_matchC semantics written the slow, obvious way."""
    order = treated_order(distance, treated, "largest")
    controls = np.flatnonzero(~treated)
    used = set()
    matches = {t: [] for t in order}
    passes = ratio if not replace else 1
    for r in range(passes):
        for t in order:
            eligible = [c for c in controls if strata[c] == strata[t]
                        and (replace or c not in used) and c not in matches[t]
                        and (width is None or abs(distance[t] - distance[c]) <= width)]
            if not eligible:
                continue
            if replace:
                eligible.sort(key=lambda c: (abs(distance[t] - distance[c]), c))
                matches[t] = eligible[:ratio]
            else:
                best = min(eligible, key=lambda c: (abs(distance[t] - distance[c]), c))
                matches[t].append(best)
                used.add(best)
    weights = np.zeros(len(distance))
    for t, cs in matches.items():
        for c in cs:
            weights[c] += 1 / len(cs)
    weights *= np.count_nonzero(weights) / weights.sum()
    for t, cs in matches.items():
        if cs:
            weights[t] = 1
    return matches, weights


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ratio,replace,width", [(1, False, None), (2, False, 0.2), (3, True, None),
                                                 (2, True, 0.1)])
def test_nearest_agrees_with_brute_force(seed, ratio, replace, width):
    rng = np.random.default_rng(seed)
    n = 240
    distance = np.round(rng.random(n), 2)  # many ties
    treated = rng.random(n) < 0.2
    strata = rng.integers(0, 2, n)
    m = nearest_match(distance, treated, width=width, ratio=ratio, replace=replace, strata=strata)
    expected, weights = _brute_nearest(distance, treated, width, ratio, replace, strata)
    pairs = m.pairs()
    got = {t: pairs.comparison[pairs.treated == t].tolist() for t in expected}
    assert got == expected
    np.testing.assert_allclose(m.weights, weights, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the entry point on a design with a closed-form propensity model


def _two_group_data():
    # x = 0: 2 treated of 6 -> ps 1/3; x = 1: 3 treated of 4 -> ps 3/4 (saturated model)
    return pd.DataFrame({
        "treated": [1, 1, 0, 0, 0, 0, 1, 1, 1, 0],
        "x": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
        "sex": ["M"] * 10,
    }, index=[f"p{i}" for i in range(10)])


def test_match_radius_closed_form():
    data = _two_group_data()
    result = match(data, "treated", ["x"])
    assert isinstance(result, MatchResult)
    np.testing.assert_allclose(result.propensity, [1 / 3] * 6 + [3 / 4] * 4, atol=1e-12)
    np.testing.assert_allclose(result.distance, [math.log(1 / 2)] * 6 + [math.log(3)] * 4,
                               atol=1e-12)
    coefficients = result.coefficients()
    assert list(coefficients.columns) == ["coef", "se", "z", "p"]
    np.testing.assert_allclose(coefficients.coef, [math.log(1 / 2), math.log(6)], atol=1e-10)
    # caliper 0.2 SD of the logit is far less than log 6: matching stays within x
    assert result.caliper_width == pytest.approx(0.2 * np.std(result.distance, ddof=1))
    # x = 0: two treated share four controls: 1/4 + 1/4 each; x = 1: one control serves three
    np.testing.assert_allclose(result.weights, [1, 1, .5, .5, .5, .5, 1, 1, 1, 3], atol=1e-14)
    assert result.n_treated_matched == 5 and result.n_treated_dropped == 0
    assert list(result.dropped_treated) == []
    assert result.n_pairs == 2 * 4 + 3 * 1
    assert result.n_comparison_distinct == 5
    assert result.effective_comparison_size == pytest.approx(25 / 10)
    matched = result.matched()
    assert list(matched.index) == list(data.index)
    assert matched["weights"].sum() == pytest.approx(10)
    assert result.summary().n_comparison_distinct == 5
    assert "5 of 5 treated matched to 5 of 5 comparison" in repr(result)


def test_match_is_exported_from_the_package():
    assert jdl.match is match
    assert jdl.MatchResult is MatchResult


def test_matches_frame_uses_index_labels():
    result = match(_two_group_data(), "treated", ["x"])
    table = result.matches
    assert list(table.columns) == ["treated", "comparison", "weight", "match_number"]
    assert len(table) == 2 * 4 + 3 * 1
    assert set(table.treated) == {"p0", "p1", "p6", "p7", "p8"}
    assert (table.loc[table.treated == "p6", "comparison"] == "p9").all()
    np.testing.assert_allclose(table.groupby("treated").weight.sum(), 1.0)


def test_exact_strata_are_respected():
    rng = np.random.default_rng(5)
    n = 300
    data = pd.DataFrame({"treated": (rng.random(n) < 0.3).astype(int), "age": rng.normal(30, 8, n),
                         "region": rng.choice(["north", "south", "west"], n)})
    # one treated person alone in a stratum without comparison people: dropped
    data.loc[n] = {"treated": 1, "age": 30.0, "region": "east"}
    for method in ("radius", "nearest"):
        result = match(data, "treated", ["age"], method=method, exact="region", caliper=0.5)
        table = result.matches
        assert (data.region[table.treated].to_numpy() == data.region[table.comparison].to_numpy()).all()
        assert result.weights[n] == 0
        assert n in result.dropped_treated
        assert result.n_treated_dropped == len(result.dropped_treated)
        assert result.n_pairs == len(table)


def test_comparison_strata_without_treated_are_left_out():
    # a men-only programme, exact on sex: women are never matched and must not break the model
    rng = np.random.default_rng(3)
    n = 400
    sex = rng.choice(["F", "M"], n)
    treated = ((sex == "M") & (rng.random(n) < 0.3)).astype(int)
    data = pd.DataFrame({"treated": treated, "sex": sex, "age": rng.normal(30, 8, n)})
    result = match(data, "treated", ["sex", "age"], exact="sex")
    women = data.sex == "F"
    assert result.n_outside_strata == int(women.sum())
    assert result.propensity[women].isna().all() and (result.weights[women] == 0).all()
    assert list(result.coefficients().index) == ["const", "age"]  # sex is constant among men
    assert result.balance().table.index[-1] == "distance (logit of propensity score)"


def test_model_matches_statsmodels_own_fit():
    import statsmodels.api as sm
    rng = np.random.default_rng(11)
    n = 800
    data = pd.DataFrame({"age": rng.normal(30, 8, n), "group": rng.choice(list("abc"), n),
                         "flag": rng.random(n) < 0.4})
    eta = -1 + 0.05 * (data.age - 30) + 0.5 * (data.group == "b") - 0.4 * data.flag
    data["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    model = fit_propensity(data, "treated", ["age", "group", "flag"])
    assert model.columns == ("const", "age", "group_b", "group_c", "flag_True")
    exog = pd.DataFrame({"const": 1.0, "age": data.age, "group_b": (data.group == "b") * 1.0,
                         "group_c": (data.group == "c") * 1.0, "flag_True": data.flag * 1.0})
    reference = sm.Logit(data.treated.astype(float), exog).fit(disp=0, tol=1e-12, maxiter=100)
    table = model.coefficients()
    np.testing.assert_allclose(table.coef, reference.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table.se, reference.bse, rtol=1e-7)
    np.testing.assert_allclose(table.p, reference.pvalues, rtol=1e-6)
    assert model.result.llf == pytest.approx(reference.llf, rel=1e-12)
    assert "Logit Regression Results" in str(model.result.summary())


def test_missing_covariate_names_the_column():
    data = _two_group_data()
    data.loc["p3", "x"] = np.nan
    with pytest.raises(ValueError, match=r"missing or non-finite values in covariate column\(s\): x \(1 rows\)"):
        match(data, "treated", ["x"])


def _firth_reference(design, y):
    """Firth's estimate by an independent maximisation: scipy's BFGS on -(l + 0.5 log det X'WX),
    with the gradient written out with the full n x n hat matrix (small n only)."""
    from scipy.optimize import minimize
    from scipy.special import expit as sigmoid

    def penalised(beta):
        eta = design @ beta
        p = sigmoid(eta)
        info = design.T @ (design * (p * (1 - p))[:, None])
        return -(y @ eta - np.logaddexp(0, eta).sum() + 0.5 * np.linalg.slogdet(info)[1])

    def gradient(beta):
        p = sigmoid(design @ beta)
        root = np.sqrt(p * (1 - p))[:, None] * design
        hat = np.diag(root @ np.linalg.inv(root.T @ root) @ root.T)
        return -(design.T @ (y - p + hat * (0.5 - p)))

    beta = np.zeros(design.shape[1])
    for _ in range(3):  # restart BFGS from where it stopped until it is settled
        beta = minimize(penalised, beta, jac=gradient, method="BFGS",
                        options={"gtol": 1e-11, "maxiter": 10_000}).x
    assert np.max(np.abs(gradient(beta))) < 1e-7
    return beta


def _rare_driven(seed):
    """A design where rare 0/1 covariates drive selection: 2,000-20,000 people, 5-15 columns
    mixing uncentred index years, normal and common 0/1 columns and one to three rare 0/1 columns
    (prevalence 0.5%-3%) with large effects, treated share 0.2%-2% otherwise."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2000, 20001)), int(rng.integers(5, 16))
    columns, eta = {}, np.zeros(n)
    n_rare = int(rng.integers(1, 4))
    for j in range(k):
        if j < n_rare:
            v, b = (rng.random(n) < rng.uniform(.005, .03)).astype(float), rng.uniform(3, 8)
        elif j % 3 == 0:
            v, b = rng.integers(2005, 2021, n).astype(float), rng.normal(0, 0.03)
        elif j % 3 == 1:
            v, b = rng.normal(size=n), rng.normal(0, 0.3)
        else:
            v, b = (rng.random(n) < rng.uniform(.1, .5)).astype(float), rng.normal(0, .5)
        columns[f"c{j}"] = v
        eta += b * (v - v.mean())
    share = rng.uniform(0.002, 0.02)
    treated = rng.random(n) < 1 / (1 + np.exp(-(np.log(share / (1 - share)) + eta)))
    return pd.DataFrame(columns).assign(treated=treated.astype(int))


def test_rare_covariate_fit_reaches_the_closed_form_mle():
    # 1,010 people; x = 1 for 10 of them, 9 treated; x = 0 for 1,000, 10 treated. The MLE is the
    # saturated model's: const = log(10/990), x = log(9/1) - log(10/990). The step-halving used
    # to accept a step lowering the log-likelihood here and never converged.
    x = np.r_[np.zeros(1000), np.ones(10)]
    treated = np.r_[np.ones(10), np.zeros(990), np.ones(9), np.zeros(1)].astype(int)
    model = fit_propensity(pd.DataFrame({"treated": treated, "x": x}), "treated", ["x"])
    assert model.estimator == "maximum likelihood"
    assert model.separated == () and model.dropped_collinear == ()
    np.testing.assert_allclose(model.coefficients().coef,
                               [math.log(10 / 990), math.log(9) - math.log(10 / 990)],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.propensity, np.r_[np.full(1000, 0.01), np.full(10, 0.9)],
                               rtol=1e-9)
    assert model.result.mle_retvals["converged"]
    assert model.result.mle_settings["optimizer"] == "newton"


@pytest.mark.parametrize("seed", [8, 24, 27, 29, 30, 34, 145, 199])
def test_rare_covariates_driving_selection_fit_as_statsmodels(seed):
    # seeds on which the old line search gave up although the MLE is finite (and 145 and 199,
    # where a first step overshoots to weights below 1e-7)
    import statsmodels.api as sm
    from jdl.stats.matching import model_design

    data = _rare_driven(seed)
    covariates = [c for c in data.columns if c != "treated"]
    design, names = model_design(data, covariates)
    reference = sm.Logit(data.treated.to_numpy(float), design).fit(
        method="newton", tol=1e-12, maxiter=500, disp=0)
    assert reference.mle_retvals["converged"]
    model = fit_propensity(data, "treated", covariates)
    assert model.estimator == "maximum likelihood" and list(model.columns) == names
    np.testing.assert_allclose(model.coefficients().coef, reference.params, rtol=0, atol=1e-6)
    assert model.result.llf == pytest.approx(reference.llf, rel=1e-12)


def test_line_search_never_takes_a_step_that_lowers_the_objective():
    from jdl.stats.matching import _line_search

    # rises only for very short steps: the longest such is taken, never a falling one
    assert _line_search(lambda t: t - 1e3 * t * t, decrement=1.0) == 2.0 ** -10
    # falls (or stays put) for every length: no step
    assert _line_search(lambda t: -t, decrement=1.0) is None
    assert _line_search(lambda t: 0.0, decrement=1.0) is None
    assert _line_search(lambda t: np.nan, decrement=1.0) is None


@pytest.mark.parametrize("seed", [145, 199])
def test_every_newton_and_firth_step_raises_the_objective(seed, monkeypatch):
    # seed 145: a first step overshoots to where every weight is below 1e-7 and the Newton step
    # is enormous; the fit must climb back without ever taking a falling step
    import jdl.stats.matching as matching

    taken = []
    line_search = matching._line_search

    def recording(change, decrement, longest=1.0):
        length = line_search(change, decrement, longest)
        if length is not None:
            taken.append(change(length))
        return length

    monkeypatch.setattr(matching, "_line_search", recording)
    data = _rare_driven(seed)
    covariates = [c for c in data.columns if c != "treated"]
    model = fit_propensity(data, "treated", covariates)
    assert model.estimator == "maximum likelihood"
    assert taken and min(taken) > 0
    taken.clear()
    model = fit_propensity(*_separated_by_level_and_numbers_args())
    assert model.estimator == "Firth penalised likelihood"
    assert taken and min(taken) > 0


def test_loglike_change_is_exact_for_tiny_steps():
    from jdl.stats.matching import _loglike, _loglike_change

    rng = np.random.default_rng(4)
    eta = rng.normal(0, 6, 5000)
    y = (rng.random(5000) < 0.3).astype(float)
    delta = rng.normal(0, 1e-13, 5000)
    if np.finfo(np.longdouble).eps >= np.finfo(float).eps:
        pytest.skip("no extended precision to check against")
    exact = (np.longdouble(y) @ np.longdouble(delta)
             - (np.logaddexp(np.longdouble(0), np.longdouble(eta) + delta)
                - np.logaddexp(np.longdouble(0), np.longdouble(eta))).sum())
    change = _loglike_change(eta, 1 / (1 + np.exp(-eta)), y, delta)
    assert change == pytest.approx(float(exact), rel=1e-6)
    # the naive difference is mostly rounding at this size
    assert abs((_loglike(eta + delta, y) - _loglike(eta, y)) - float(exact)) > abs(float(exact)) * 1e-2


def test_separated_two_by_two_is_fitted_by_firth_closed_form():
    # x = 1: 6 people, all treated; x = 0: 20 people, 4 treated. No MLE (x runs off to +inf);
    # Firth's estimate for a 2 x 2 table is the MLE with 0.5 added to each cell.
    x = np.r_[np.ones(6), np.zeros(20)]
    treated = np.r_[np.ones(6), np.ones(4), np.zeros(16)].astype(int)
    data = pd.DataFrame({"treated": treated, "x": x})
    model = fit_propensity(data, "treated", ["x"])
    assert model.estimator == "Firth penalised likelihood"
    assert model.separated == ("x",)
    const = math.log(4.5 / 16.5)
    np.testing.assert_allclose(model.coefficients().coef, [const, math.log(6.5 / 0.5) - const],
                               rtol=0, atol=1e-8)
    retvals = model.result.mle_retvals
    assert retvals["converged"] and retvals["estimator"] == "Firth penalised likelihood"
    assert retvals["separated_terms"] == ["x"] and retvals["separated_units"] == 6
    assert retvals["separating_levels"] == ["x = 1 (6 units, all treated)"]
    assert model.result.mle_settings["optimizer"] == "firth"
    # covariance: the inverse Fisher information at the estimate
    p = model.propensity
    design = np.c_[np.ones(26), x]
    info = design.T @ (design * (p * (1 - p))[:, None])
    np.testing.assert_allclose(model.coefficients().se, np.sqrt(np.diag(np.linalg.inv(info))),
                               rtol=1e-9)
    result = match(data, "treated", ["x"], caliper=1.0)
    summary = result.summary().as_dict()
    assert summary["estimator"] == "Firth penalised likelihood"
    assert summary["separated_terms"] == ["x"] and summary["dropped_collinear_terms"] == []


def _separated_by_level_and_numbers():
    rng = np.random.default_rng(8)
    n = 120
    data = pd.DataFrame({"offence": rng.choice(["fraud", "theft", "violence"], n),
                         "age": rng.normal(35, 9, n).round(), "employed": rng.random(n) < 0.4})
    eta = -0.5 + 0.04 * (data.age - 35) - 0.8 * data.employed + 0.6 * (data.offence == "theft")
    data["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    data.loc[data.offence == "violence", "treated"] = 0  # a level held by comparison people only
    data.loc[data.index[:3], "offence"] = "arson"  # and a rare level, all treated
    data.loc[data.index[:3], "treated"] = 1
    return data


def _separated_by_level_and_numbers_args():
    return _separated_by_level_and_numbers(), "treated", ["offence", "age", "employed"]


def test_separated_case_matches_an_independent_firth_maximisation():
    from jdl.stats.matching import model_design

    data = _separated_by_level_and_numbers()
    covariates = ["offence", "age", "employed"]
    model = fit_propensity(data, "treated", covariates)
    assert model.estimator == "Firth penalised likelihood"
    # arson is the first (dropped) level: it runs off through the constant and the other levels
    assert model.separated == ("const", "offence_fraud", "offence_theft", "offence_violence")
    assert set(model.result.mle_retvals["separating_levels"]) == {
        "offence = arson (3 units, all treated)",
        f"offence = violence ({(data.offence == 'violence').sum()} units, none treated)"}
    design, names = model_design(data, covariates)
    assert list(model.columns) == names
    np.testing.assert_allclose(model.coefficients().coef,
                               _firth_reference(design, data.treated.to_numpy(float)),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("by_lp", [True, False])
def test_quasi_separation_by_a_count_is_fitted_by_firth(by_lp, monkeypatch):
    # every treated person has 0 previous custodial sentences; comparison people have 0 to 10:
    # quasi-complete separation by a numeric column (no level is held by one group only)
    import jdl.stats.matching as matching

    if not by_lp:  # as for national data: found from the Newton iterations alone
        monkeypatch.setattr(matching, "_LP_MAX_CELLS", 0)
    rng = np.random.default_rng(21)
    n = 400
    treated = (rng.random(n) < 0.25).astype(int)
    custody = np.where(treated == 1, 0, rng.integers(0, 11, n)).astype(float)
    data = pd.DataFrame({"treated": treated, "custody": custody, "age": rng.normal(30, 8, n),
                         "region": rng.choice(["north", "south"], n)})
    assert ((data.custody == 0) & (data.treated == 0)).any()
    model = fit_propensity(data, "treated", ["custody", "age", "region"])
    assert model.estimator == "Firth penalised likelihood"
    assert model.separated == ("custody",)
    retvals = model.result.mle_retvals
    assert retvals["separated_units"] == int((custody > 0).sum())
    assert retvals["separating_levels"] == []
    assert ("linear programme" if by_lp else "separating Newton direction") in retvals["separation_found_by"]
    from jdl.stats.matching import model_design
    design, _ = model_design(data, ["custody", "age", "region"])
    np.testing.assert_allclose(model.coefficients().coef,
                               _firth_reference(design, treated.astype(float)), rtol=0, atol=1e-6)


def test_separation_by_a_combination_of_columns_names_them():
    # treated people have as many convictions as cautions; comparison people at least as many
    # cautions as convictions: convictions - cautions separates, neither column alone does
    rng = np.random.default_rng(6)
    n = 300
    treated = (rng.random(n) < 0.3).astype(int)
    convictions = rng.integers(0, 6, n).astype(float)
    cautions = convictions + np.where(treated == 1, 0, rng.integers(0, 4, n))
    data = pd.DataFrame({"treated": treated, "convictions": convictions, "cautions": cautions,
                         "age": rng.normal(30, 8, n)})
    model = fit_propensity(data, "treated", ["convictions", "cautions", "age"])
    assert model.estimator == "Firth penalised likelihood"
    assert model.separated == ("convictions", "cautions")
    assert model.result.mle_retvals["separated_units"] == int((cautions > convictions).sum())


def test_complete_separation_by_a_numeric_covariate_is_fitted_by_firth():
    data = pd.DataFrame({"treated": [0, 0, 0, 0, 1, 1, 1, 1], "age": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    result = match(data, "treated", ["age"])
    model = result.propensity_model
    assert model.estimator == "Firth penalised likelihood"
    assert model.separated == ("const", "age")
    assert model.result.mle_retvals["separated_units"] == 8
    np.testing.assert_allclose(model.coefficients().coef,
                               _firth_reference(np.c_[np.ones(8), data.age], data.treated.to_numpy(float)),
                               rtol=0, atol=1e-6)
    assert np.all(np.diff(model.propensity) > 0)


def test_finite_mle_is_never_replaced_by_firth():
    # close to separation (one comparison person among the x = 1) but the MLE exists
    x = np.r_[np.zeros(50), np.ones(30)]
    treated = np.r_[np.ones(5), np.zeros(45), np.ones(29), np.zeros(1)].astype(int)
    model = fit_propensity(pd.DataFrame({"treated": treated, "x": x}), "treated", ["x"])
    assert model.estimator == "maximum likelihood" and model.separated == ()
    np.testing.assert_allclose(model.coefficients().coef,
                               [math.log(5 / 45), math.log(29) - math.log(5 / 45)], atol=1e-9)


def test_collinear_columns_are_dropped_as_r_does():
    rng = np.random.default_rng(2)
    n = 200
    data = pd.DataFrame({"treated": (rng.random(n) < 0.3).astype(int), "a": rng.normal(size=n),
                         "b": rng.normal(size=n)})
    data["c"] = data.a + 2 * data.b
    data["d"] = data.a + 5.0  # the same as a up to the constant
    result = match(data, "treated", ["a", "b", "c", "d"])
    model = result.propensity_model
    assert model.dropped_collinear == ("c", "d")  # the earliest columns are kept
    assert model.columns == ("const", "a", "b")
    assert result.summary().dropped_collinear_terms == ("c", "d")
    assert model.result.mle_retvals["dropped_collinear_terms"] == ["c", "d"]
    reference = fit_propensity(data, "treated", ["a", "b"])
    np.testing.assert_allclose(model.coefficients().coef, reference.coefficients().coef, atol=1e-12)
    # a column listed before the ones it duplicates is the one kept
    model = fit_propensity(data, "treated", ["d", "a", "b"])
    assert model.dropped_collinear == ("a",) and model.columns == ("const", "d", "b")


def test_collinear_dummies_with_separation():
    # region "west" is held by comparison people only, and "wales" duplicates "west"
    rng = np.random.default_rng(12)
    n = 200
    data = pd.DataFrame({"treated": (rng.random(n) < 0.4).astype(int), "age": rng.normal(30, 8, n),
                         "region": rng.choice(["north", "south", "west"], n)})
    data.loc[data.region == "west", "treated"] = 0
    data["wales"] = (data.region == "west").astype(float)
    model = fit_propensity(data, "treated", ["age", "region", "wales"])
    assert model.dropped_collinear == ("wales",)
    assert model.estimator == "Firth penalised likelihood"
    assert model.separated == ("region_west",)


def test_uncentred_year_and_its_square_are_not_collinear():
    # an index year and its square: nearly collinear when uncentred, but not aliased (R keeps both)
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    n = 3000
    year = rng.integers(2010, 2021, n).astype(float)
    data = pd.DataFrame({"year": year, "year2": year ** 2, "age": rng.normal(30, 8, n)})
    eta = -2 + 0.3 * (year - 2015) - 0.05 * (year - 2015) ** 2 + 0.02 * (data.age - 30)
    data["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    model = fit_propensity(data, "treated", ["year", "year2", "age"])
    assert model.dropped_collinear == ()
    assert model.estimator == "maximum likelihood"
    centred = np.c_[np.ones(n), year - 2015, (year - 2015) ** 2, data.age]
    reference = sm.Logit(data.treated.to_numpy(float), centred).fit(disp=0, tol=1e-12, maxiter=100)
    # compare fitted log odds (the uncentred coefficients are ill-conditioned, the fit is not)
    np.testing.assert_allclose(model.linear_predictor, centred @ reference.params, rtol=0, atol=1e-7)


def test_the_propensity_model_error_remains_for_what_cannot_be_fitted():
    assert "cannot be fitted" in PropensityModelError.__doc__


@pytest.mark.parametrize("kwargs,message", [
    ({"method": "radius", "replace": False}, "always with replacement"),
    ({"method": "radius", "caliper": None}, "needs a caliper"),
    ({"method": "nearest", "ratio": 0}, "ratio"),
    ({"method": "other"}, "method must be"),
    ({"distance": "mahalanobis"}, "distance must be"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        match(_two_group_data(), "treated", ["x"], **kwargs)


def test_default_distance_per_method():
    data = _two_group_data()
    assert match(data, "treated", ["x"]).distance_kind == "logit"
    nearest = match(data, "treated", ["x"], method="nearest", replace=False)
    assert nearest.distance_kind == "propensity"
    np.testing.assert_allclose(nearest.distance, nearest.propensity)


def test_reusing_a_fitted_model():
    data = _two_group_data()
    first = match(data, "treated", ["x"])
    again = match(data, "treated", ["x"], method="nearest", replace=True,
                  propensity_model=first.propensity_model)
    assert again.model is first.model


# ---------------------------------------------------------------------------------------------
# no treated x pool matrix


def test_matching_never_builds_a_treated_by_pool_matrix():
    rng = np.random.default_rng(0)
    n_treated, n_pool = 1_000, 200_000
    data = pd.DataFrame({"age": rng.normal(35, 10, n_treated + n_pool),
                         "region": rng.choice(list("abcdef"), n_treated + n_pool),
                         "previous": rng.poisson(3, n_treated + n_pool).astype(float)})
    treated = np.zeros(n_treated + n_pool, dtype=int)
    treated[rng.choice(len(treated), n_treated, replace=False)] = 1
    data["treated"] = treated
    matrix_bytes = n_treated * n_pool * 8
    for kwargs in ({"method": "radius", "caliper": 0.5}, {"method": "nearest", "replace": False},
                   {"method": "nearest", "replace": True, "ratio": 3}):
        tracemalloc.start()
        try:
            result = match(data, "treated", ["age", "region", "previous"], **kwargs)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert result.n_treated_matched > 900
        assert peak < matrix_bytes / 16, (kwargs, peak)  # 100 MB against a 1.6 GB matrix
        if kwargs["method"] == "radius":  # thousands of comparison people inside each caliper
            assert result.matching.n_matched_to[treated == 1].mean() > 1_000


# ---------------------------------------------------------------------------------------------
# agreement with R's MatchIt

R_REFERENCE = r"""
args <- commandArgs(trailingOnly = TRUE)
infile <- args[1]; outdir <- args[2]; formula_text <- args[3]; treat_col <- args[4]
suppressPackageStartupMessages(library(MatchIt))
d <- read.csv(infile, row.names = "id", stringsAsFactors = FALSE)
f <- as.formula(formula_text)
ps <- matchit(f, data = d, method = NULL, distance = "glm")$distance
write.csv(data.frame(id = names(ps), distance = sprintf("%.17g", ps)),
          file.path(outdir, "distance.csv"), row.names = FALSE)
tr <- d[[treat_col]] == 1
idx <- c(which(tr)[order(ps[tr], decreasing = TRUE)], which(!tr))
d2 <- d[idx, ]; ps2 <- ps[idx]; tr2 <- tr[idx]
dm <- abs(outer(ps2[tr2], ps2[!tr2], "-"))
dimnames(dm) <- list(rownames(d2)[tr2], rownames(d2)[!tr2])
configs <- read.csv(file.path(outdir, "configs.csv"), stringsAsFactors = FALSE)
for (i in seq_len(nrow(configs))) {
  cf <- configs[i, ]
  a <- list(formula = f, data = d2, distance = dm, method = "nearest", ratio = cf$ratio)
  if (cf$replace) { a$replace <- TRUE; a$reuse.max <- sum(tr) - 1 }
  if (!is.na(cf$caliper)) { a$caliper <- cf$caliper * sd(ps); a$std.caliper <- FALSE }
  if (nzchar(cf$exact)) a$exact <- as.formula(paste("~", cf$exact))
  m <- suppressWarnings(do.call(matchit, a))
  mm <- m$match.matrix
  pairs <- data.frame(treated = rep(rownames(mm), ncol(mm)), comparison = as.vector(mm),
                      match_number = rep(seq_len(ncol(mm)), each = nrow(mm)))
  pairs <- pairs[!is.na(pairs$comparison), ]
  if (cf$replace && nrow(pairs) > 0 && max(table(pairs$comparison)) >= sum(tr) - 1)
    stop("reuse.max was reached: the reference is not plain matching with replacement")
  write.csv(pairs, file.path(outdir, paste0(cf$name, "_pairs.csv")), row.names = FALSE)
  w <- m$weights[rownames(d)]
  write.csv(data.frame(id = names(w), weight = sprintf("%.17g", w)),
            file.path(outdir, paste0(cf$name, "_weights.csv")), row.names = FALSE)
}
"""

CONFIGS = {
    "one_to_one": {"ratio": 1, "replace": False, "caliper": None, "exact": None},
    "three_to_one_with_replacement": {"ratio": 3, "replace": True, "caliper": None, "exact": None},
    "one_to_one_caliper": {"ratio": 1, "replace": False, "caliper": 0.1, "exact": None},
    "two_to_one_caliper_exact": {"ratio": 2, "replace": False, "caliper": 0.2, "exact": "EXACT"},
}
DATASETS = {
    "lalonde": {"covariates": ["age", "educ", "race", "married", "nodegree", "re74", "re75"],
                    "exact": "married"},
    "tied": {"covariates": ["x1", "x2", "g"], "exact": "g"},
}

needs_r = pytest.mark.skipif(shutil.which("Rscript") is None,
                             reason="Rscript is not on PATH (CI installs R and MatchIt)")


def _run_r(code_or_script: list[str]) -> None:
    done = subprocess.run(["Rscript", *code_or_script], capture_output=True, text=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"Rscript failed:\n{done.stderr}")


def _tied_data() -> pd.DataFrame:
    """Few discrete covariate values (18 distinct propensity scores among 500 people) and 40
    duplicated rows: many exact ties in the propensity score."""
    rng = np.random.default_rng(7)
    n = 460
    x1, x2 = rng.integers(0, 3, n), rng.integers(0, 2, n)
    g = rng.choice(["a", "b", "c"], n)
    eta = -1.0 + 0.45 * x1 - 0.8 * x2 + np.select([g == "b", g == "c"], [0.5, -0.4], 0.0)
    treat = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    data = pd.DataFrame({"treat": treat, "x1": x1, "x2": x2, "g": g})
    data = pd.concat([data, data.iloc[:40]], ignore_index=True)
    data.index = pd.Index([f"u{i:03d}" for i in range(len(data))], name="id")
    return data


@pytest.fixture(scope="module", params=sorted(DATASETS))
def matchit_reference(request, tmp_path_factory):
    name = request.param
    spec = DATASETS[name]
    out = tmp_path_factory.mktemp(f"matchit_{name}")
    csv = out / "data.csv"
    if name == "lalonde":
        export = ('data("lalonde", package = "MatchIt"); d <- lalonde; d$id <- rownames(d); '
                  f'write.csv(d, "{csv.as_posix()}", row.names = FALSE)')
        _run_r(["-e", export])
    else:
        _tied_data().to_csv(csv)
    configs = pd.DataFrame([{"name": key, "ratio": c["ratio"], "replace": "TRUE" if c["replace"] else "FALSE",
                             "caliper": c["caliper"],
                             "exact": spec["exact"] if c["exact"] else ""}
                            for key, c in CONFIGS.items()])
    configs.to_csv(out / "configs.csv", index=False, na_rep="NA")
    script = out / "reference.R"
    script.write_text(R_REFERENCE)
    formula = "treat ~ " + " + ".join(spec["covariates"])
    _run_r([str(script), str(csv), str(out), formula, "treat"])
    data = pd.read_csv(csv, index_col="id")
    return name, spec, data, out


@needs_r
def test_propensity_scores_agree_with_matchit(matchit_reference):
    _, spec, data, out = matchit_reference
    r_distance = pd.read_csv(out / "distance.csv", index_col="id")["distance"]
    result = match(data, "treat", spec["covariates"], method="nearest", replace=False, caliper=None)
    np.testing.assert_allclose(result.propensity.to_numpy(), r_distance.loc[data.index].to_numpy(),
                               rtol=0, atol=1e-6)


@needs_r
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_nearest_agrees_with_matchit(matchit_reference, config):
    name, spec, data, out = matchit_reference
    c = CONFIGS[config]
    result = match(data, "treat", spec["covariates"], method="nearest", ratio=c["ratio"],
                   replace=c["replace"], caliper=c["caliper"],
                   exact=spec["exact"] if c["exact"] else None)
    r_pairs = pd.read_csv(out / f"{config}_pairs.csv")
    r_weights = pd.read_csv(out / f"{config}_weights.csv", index_col="id")["weight"]
    ours = set(result.matches[["treated", "comparison", "match_number"]].itertuples(index=False, name=None))
    theirs = set(r_pairs[["treated", "comparison", "match_number"]].itertuples(index=False, name=None))
    assert len(theirs) > 0
    assert ours == theirs
    np.testing.assert_allclose(result.weights.to_numpy(), r_weights.loc[data.index].to_numpy(),
                               rtol=0, atol=1e-9)
    if name == "tied":
        assert result.propensity.nunique() == 18


def _pool_data(n=6000, seed=15):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"age": rng.integers(18, 70, n).astype(float), "x": rng.normal(size=n),
                         "region": rng.choice(["n", "s", "w", "e"], n), "employed": rng.random(n) < 0.3})
    eta = -5.0 + 0.03 * (data.age - 35) + 0.7 * data.x + 0.5 * (data.region == "s") - 0.6 * data.employed
    data["treated"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return data


def test_subsample_start_gives_the_plain_fit(monkeypatch):
    # a large pool is first fitted on every treated unit and a systematic sample of the pool
    # (starting values only); the estimate is the maximum-likelihood one all the same
    import jdl.stats.matching as matching

    data = _pool_data()
    covariates = ["age", "x", "region", "employed"]
    monkeypatch.setattr(matching, "_START_SAMPLE", 10**9)  # no sample: intercept-only start
    plain = fit_propensity(data, "treated", covariates)
    monkeypatch.setattr(matching, "_START_SAMPLE", 500)   # 66 treated, pool of ~5,900: every 4th pool row
    design, _ = matching.model_design(data, covariates)
    treated = data.treated.to_numpy() == 1
    scale = np.r_[1.0, np.ptp(design, axis=0)[1:]]
    start = matching._starting_values(design, treated.astype(float), treated, scale)
    assert np.any(start[1:] != 0)  # the sample was fitted
    sampled = fit_propensity(data, "treated", covariates)
    np.testing.assert_allclose(sampled.coefficients().coef, plain.coefficients().coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sampled.linear_predictor, plain.linear_predictor, rtol=0, atol=1e-10)
    import statsmodels.api as sm
    reference = sm.Logit(data.treated.astype(float), design).fit(disp=0, tol=1e-12, maxiter=100)
    np.testing.assert_allclose(sampled.coefficients().coef, reference.params, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("largest", [0.5, 1.0, 3.0])
def test_loglike_change_is_the_change_of_the_loglikelihood(largest):
    import jdl.stats.matching as matching

    rng = np.random.default_rng(3)
    eta = rng.normal(-2, 2, 500)
    y = (rng.random(500) < 0.3).astype(float)
    delta = rng.uniform(-largest, largest, 500)
    p = 1 / (1 + np.exp(-eta))
    expected = matching._loglike(eta + delta, y) - matching._loglike(eta, y)
    assert matching._loglike_change(eta, p, y, delta) == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_separating_levels_of_a_category_column_with_an_unused_category():
    # a pandas category column is read through its own codes (an unused category counts 0 and
    # is passed over): the same separating levels, in the same order, as the string column
    data = _separated_by_level_and_numbers()
    as_strings = fit_propensity(data, "treated", ["offence", "age", "employed"])
    data["offence"] = pd.Categorical(data.offence, categories=["arson", "burglary", "fraud", "theft", "violence"])
    as_category = fit_propensity(data, "treated", ["offence", "age", "employed"])
    assert as_category.result.mle_retvals["separating_levels"] == as_strings.result.mle_retvals["separating_levels"]
    assert as_category.columns == as_strings.columns
    np.testing.assert_allclose(as_category.coefficients().coef, as_strings.coefficients().coef, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_sorted_pool_orders_by_distance_then_position(ties):
    from jdl.stats.matching import _sorted_pool

    rng = np.random.default_rng(4)
    distance = rng.normal(size=3000)
    if ties:
        distance = np.round(distance, 1)  # many equal distances
        distance[:5] = [0.0, -0.0, 0.0, -0.0, 0.0]
    pool = np.flatnonzero(rng.random(3000) < 0.7)
    sorted_pool, sorted_d = _sorted_pool(distance, pool)
    expected = pool[np.lexsort((pool, distance[pool]))]
    assert sorted_pool.tolist() == expected.tolist()
    assert sorted_d.tolist() == distance[expected].tolist()


def test_treatment_column_must_be_bool_or_0_1():
    from jdl.stats.matching import treatment_indicator

    data = pd.DataFrame({"a": [0, 1, 1], "b": [0.0, 1.0, 0.0], "c": [0, 2, 1], "d": [True, False, True]})
    assert treatment_indicator(data, "a").tolist() == [False, True, True]
    assert treatment_indicator(data, "b").tolist() == [False, True, False]
    assert treatment_indicator(data, "d").tolist() == [True, False, True]
    with pytest.raises(ValueError, match="must be bool or 0/1"):
        treatment_indicator(data, "c")



def test_check_no_missing_counts_nan_and_infinity_per_column():
    from jdl.stats.matching import check_no_missing

    data = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "nan": [np.nan, 1.0, np.nan], "inf": [np.inf, -np.inf, 0.0],
                         "both": [np.nan, np.inf, 1.0], "ints": [1, 2, 3], "text": ["a", None, "b"]})
    check_no_missing(data, ["ok", "ints"])
    with pytest.raises(ValueError) as error:
        check_no_missing(data, ["ok", "nan", "inf", "both", "ints", "text"])
    assert str(error.value).startswith("missing or non-finite values in covariate column(s): nan (2 rows), "
                                       "inf (2 rows), both (2 rows), text (1 rows);")


@pytest.mark.parametrize("labels, unique", [
    (["a", "b", "c"], True), (["a", "b", "a"], False), ([1, 2, 3], True), ([1.0, float("nan"), 2.0], True),
    ([float("nan"), 1.0, float("nan")], False), ([None, "a", None], False)])
def test_unique_labels_as_pandas_says(labels, unique):
    from jdl.stats.matching import _unique_labels

    for index in (pd.Index(labels), pd.Index(labels, dtype="string[pyarrow]") if all(
            isinstance(x, str) or x is None for x in labels) else pd.Index(labels)):
        assert _unique_labels(index) is unique is pd.Index(labels).is_unique
    pairs = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("a", 1)])
    assert _unique_labels(pairs) is False and _unique_labels(pairs[:2]) is True
