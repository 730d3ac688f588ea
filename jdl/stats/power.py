"""Power planning (issue 6): how many people a request needs to detect a given reduction in the
one-year proven re-offending rate, by statsmodels' power tools.

The test is two-sided at ``alpha`` on two independent proportions, with Cohen's effect size
h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) (statsmodels ``proportion_effectsize``) and the normal
approximation (statsmodels ``NormalIndPower``), which gives
n_treated = ((z_{1-alpha/2} + z_power) / h)^2 (1 + 1/ratio), ratio = comparison size / treatment size.
"""

from __future__ import annotations

import math

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8


def people_needed(baseline_rate: float, reduction: float, alpha: float = DEFAULT_ALPHA,
                  power: float = DEFAULT_POWER, ratio: float = 1.0) -> int:
    """Treatment-group size needed to detect a fall in the re-offending rate from
    ``baseline_rate`` (the comparison group's, a proportion) by ``reduction`` (a proportion: 0.05
    is 5 percentage points) at two-sided ``alpha`` with ``power``, when the comparison group is
    ``ratio`` times the treatment group. Rounded up to a whole person.

    Raises ValueError when the rates are not proportions strictly between 0 and 1 or the
    reduction is not positive."""
    treated_rate = baseline_rate - reduction
    if not (0 < baseline_rate < 1) or not (0 < treated_rate < 1):
        raise ValueError("the baseline rate and the rate after the reduction must lie strictly between 0 and 1")
    if reduction <= 0:
        raise ValueError("the reduction must be positive (a proportion: 0.05 is 5 percentage points)")
    if ratio <= 0:
        raise ValueError("the ratio of comparison to treatment group size must be positive")
    effect = proportion_effectsize(baseline_rate, treated_rate)
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio,
                                     alternative="two-sided")
    return math.ceil(round(float(n), 9))


def power_sentence(baseline_rate: float, reduction: float, n: int, ratio: float = 1.0,
                   alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> str:
    """The plain-words answer for a result of :func:`people_needed`."""
    from jdl.words import count, percent, points

    comparison = "an equal-sized comparison group" if ratio == 1 else \
        f"a comparison group {ratio:g} times as large"
    return (f"To detect a fall in the one-year proven re-offending rate from {percent(baseline_rate)} to "
            f"{percent(baseline_rate - reduction)} (a reduction of {points(reduction)} percentage points) "
            f"with {percent(power)} power at the {percent(alpha)} significance level, about "
            f"{count(n)} people would be needed in the treatment group, with {comparison}.")
