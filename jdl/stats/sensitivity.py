"""Sensitivity of the headline result (issue 6, item 4): the E-value of the risk ratio and of its
interval bound nearest 1 (VanderWeele and Ding, 2017), and a regression-adjusted ("doubly robust")
estimate on the matched sample.

E-value: for a risk ratio RR >= 1, E = RR + sqrt(RR (RR - 1)); for RR < 1, the same of 1/RR. It
is the minimum strength of association, on the risk-ratio scale, that a hidden factor would need
with both taking part and re-offending to explain the observed risk ratio away. For the interval,
the bound nearest 1 is used, and the E-value is 1 when the interval includes 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def e_value(risk_ratio: float) -> float:
    """The E-value of a risk ratio (> 0): RR + sqrt(RR (RR - 1)) on the side above 1."""
    if not risk_ratio > 0:
        raise ValueError("a risk ratio must be positive")
    rr = risk_ratio if risk_ratio >= 1 else 1 / risk_ratio
    return rr + math.sqrt(rr * (rr - 1))


@dataclass(frozen=True)
class EValue:
    """The headline risk ratio (treatment rate / comparison rate) with its 95% interval, and the
    E-values of the ratio (``point``) and of the interval bound nearest 1 (``bound``: 1 when the
    interval includes 1)."""

    risk_ratio: float
    lower: float
    upper: float
    point: float
    bound: float

    def sentence(self) -> str:
        """The E-value in plain words."""
        from jdl.words import frequency

        if self.bound == 1:
            return (f"The risk ratio is {frequency(self.risk_ratio)}, with an interval that includes 1, so no hidden "
                    "factor is needed to explain the result away: it is already inconclusive. To explain away "
                    f"the point estimate alone, a hidden factor would need to be associated with both taking "
                    f"part and re-offending by a risk ratio of at least {frequency(self.point)} each.")
        return (f"The risk ratio is {frequency(self.risk_ratio)} (95% interval {frequency(self.lower)} to "
                f"{frequency(self.upper)}). To explain this result away, a hidden factor (such as motivation) "
                f"would need to be associated with both taking part and re-offending by a risk ratio of at least "
                f"{frequency(self.point)} each, over and above everything the match accounts for; to move the "
                f"interval to include no difference, at least {frequency(self.bound)} each.")


def headline_e_value(comparison, alpha: float = 0.05) -> EValue:
    """The E-values of the headline rate comparison (a :class:`jdl.stats.compare.Comparison` of a
    rate). The risk ratio's interval is exp(log RR +/- z se), with
    se^2 = se_T^2 / p_T^2 + se_C^2 / p_C^2 (delta method), each group's standard error taken from
    its own t interval (half width / t quantile on its size less one)."""
    p_t, p_c = comparison.treated_mean, comparison.comparison_mean
    if not (p_t > 0 and p_c > 0):
        raise ValueError("both rates must be positive for a risk ratio")
    se_t = (comparison.treated_upper - p_t) / stats.t.ppf(1 - alpha / 2, comparison.n_treated - 1)
    se_c = (comparison.comparison_upper - p_c) / stats.t.ppf(1 - alpha / 2, comparison.n_comparison - 1)
    rr = p_t / p_c
    se_log = math.sqrt((se_t / p_t) ** 2 + (se_c / p_c) ** 2)
    z = stats.norm.ppf(1 - alpha / 2)
    lower, upper = rr * math.exp(-z * se_log), rr * math.exp(z * se_log)
    includes_one = lower <= 1 <= upper
    nearest = 1.0 if includes_one else (upper if rr < 1 else lower)
    return EValue(rr, lower, upper, e_value(rr), 1.0 if includes_one else e_value(nearest))


@dataclass(frozen=True)
class AdjustedEstimate:
    """The regression-adjusted difference (treatment coefficient of a weighted linear model on
    the matched sample) with its robust (HC1) standard error, 95% interval and p-value."""

    difference: float
    se: float
    lower: float
    upper: float
    p_value: float
    n: int


def regression_adjusted(data: pd.DataFrame, weights, covariates, outcome: str = "reoffended",
                        treatment: str = "treated", alpha: float = 0.05) -> AdjustedEstimate:
    """Doubly robust estimate on the matched sample: weighted least squares (statsmodels WLS) of
    ``outcome`` on ``treatment`` and ``covariates`` (categorical ones one-hot coded, first level
    dropped) with the match ``weights``, over the rows with positive weight; the treatment
    coefficient with HC1 robust standard errors. Consistent if either the propensity match or the
    outcome model is right."""
    from statsmodels.regression.linear_model import WLS

    from jdl.stats.design import covariate_matrix

    w = np.asarray(weights, dtype=float)
    keep = w > 0
    rows = data.loc[keep]
    design, names = covariate_matrix(rows, list(covariates), drop_first=True)
    varying = design.std(axis=0) > 0
    x = np.column_stack([np.ones(len(rows)), rows[treatment].to_numpy(dtype=float), design[:, varying]])
    fit = WLS(rows[outcome].to_numpy(dtype=float), x, weights=w[keep]).fit(cov_type="HC1")
    estimate, se = float(fit.params[1]), float(fit.bse[1])
    z = stats.norm.ppf(1 - alpha / 2)
    return AdjustedEstimate(estimate, se, estimate - z * se, estimate + z * se, float(fit.pvalues[1]), int(keep.sum()))
