"""Statistical validity of the whole chain (issue 4, item 5): matching with the default method
then the Welch comparison, on 1,000 seeded simulated requests with known true effects (zero and
non-zero) under confounding. The 95% interval must cover the truth in 90-99% of requests, and the
mean estimate must lie within a fifth of a standard error of the truth."""

import numpy as np
import pytest

from jdl.stats.simulation import EFFECTS, coverage_study, simulate_request


@pytest.fixture(scope="module")
def study():
    return coverage_study(n_requests=1000, seed=20140313)


@pytest.mark.slow
def test_the_simulation_is_confounded(study):
    # the unmatched comparison is biased by about 8 points: matching has real work to do
    assert study.naive_bias > 0.05
    assert study.naive_bias / study.mean_se > 1.5


@pytest.mark.slow
def test_intervals_cover_the_true_effect(study):
    assert 0.90 <= study.coverage <= 0.99
    by_effect = study.coverage_by_effect
    assert sorted(by_effect.index) == sorted(EFFECTS)
    assert (by_effect >= 0.88).all()


@pytest.mark.slow
def test_mean_estimate_is_within_a_fifth_of_a_standard_error(study):
    assert abs(study.bias_in_se) < 0.2
    assert len(study.requests) == 1000
    assert study.requests["n_treated"].min() >= 80


def test_the_check_can_fail_when_confounders_are_left_out():
    # matching on sex and region only leaves the age/history confounding in place
    omitted = coverage_study(n_requests=200, seed=20140313, covariates=("sex", "region"))
    assert abs(omitted.bias_in_se) > 1.0
    assert omitted.coverage < 0.90


def test_the_study_is_seeded():
    first = coverage_study(n_requests=5, seed=3)
    again = coverage_study(n_requests=5, seed=3)
    assert first.requests.equals(again.requests)


def test_simulated_request_has_the_true_effect_built_in():
    # the same seed with and without an effect draws the same people and the same uniforms, so
    # only the treated people's outcomes move, by the effect on average (p1 = p0 + effect)
    without = simulate_request(np.random.default_rng(1), 0.0, n_pool=20000, mean_treated=2000)
    with_effect = simulate_request(np.random.default_rng(1), 0.1, n_pool=20000, mean_treated=2000)
    treated = without["treated"] == 1
    assert with_effect.drop(columns="reoffended").equals(without.drop(columns="reoffended"))
    assert 1700 < treated.sum() < 2300
    assert with_effect.loc[~treated, "reoffended"].equals(without.loc[~treated, "reoffended"])
    shift = with_effect.loc[treated, "reoffended"].mean() - without.loc[treated, "reoffended"].mean()
    assert shift == pytest.approx(0.1, abs=0.02)
    assert (with_effect.loc[treated, "reoffended"] >= without.loc[treated, "reoffended"]).all()
