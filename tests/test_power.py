"""Power planning: statsmodels' answer against the closed form, and the command line."""

import math

import pytest
from click.testing import CliRunner
from scipy.stats import norm

from jdl.cli import main
from jdl.stats.power import people_needed


def closed_form(p_baseline, reduction, ratio=1.0, alpha=0.05, power=0.8):
    h = 2 * math.asin(math.sqrt(p_baseline)) - 2 * math.asin(math.sqrt(p_baseline - reduction))
    return ((norm.ppf(1 - alpha / 2) + norm.ppf(power)) / h) ** 2 * (1 + 1 / ratio)


@pytest.mark.parametrize("baseline, reduction, ratio", [(0.36, 0.05, 1.0), (0.36, 0.05, 10.0), (0.26, 0.09, 1.0),
                                                       (0.5, 0.01, 4.0)])
def test_people_needed_matches_the_closed_form(baseline, reduction, ratio):
    assert people_needed(baseline, reduction, ratio=ratio) == math.ceil(closed_form(baseline, reduction, ratio))


def test_people_needed_exact_values():
    assert people_needed(0.36, 0.05) == 1398
    assert people_needed(0.36, 0.05, ratio=10) == 769
    assert people_needed(0.36, 0.10) < people_needed(0.36, 0.05)


@pytest.mark.parametrize("baseline, reduction", [(0.05, 0.05), (0.36, -0.01), (1.2, 0.1)])
def test_people_needed_refuses_impossible_rates(baseline, reduction):
    with pytest.raises(ValueError):
        people_needed(baseline, reduction)


def test_power_command():
    result = CliRunner().invoke(main, ["power", "--baseline-rate", "0.36", "--reduction", "0.05"])
    assert result.exit_code == 0
    assert result.output.strip() == (
        "To detect a fall in the one-year proven re-offending rate from 36% to 31% (a reduction of 5 percentage "
        "points) with 80% power at the 5% significance level, about 1,398 people would be needed in the "
        "treatment group, with an equal-sized comparison group.")
    bad = CliRunner().invoke(main, ["power", "--baseline-rate", "0.03", "--reduction", "0.05"])
    assert bad.exit_code == 2 and "strictly between 0 and 1" in bad.output
