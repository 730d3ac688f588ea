"""Propensity score matching (methodology section 4), shaped like R's MatchIt.

One entry point, :func:`match`, fits a logistic propensity model of treatment on the covariates
(statsmodels), matches each treated person to comparison people on a distance derived from it, and
returns a :class:`MatchResult` that carries its own diagnostics: weights, counts, the fitted model,
who was matched to whom and the balance table (:mod:`jdl.stats.balance`).

The propensity model (:func:`fit_propensity`)
    Logistic regression of treatment on a constant and the covariates (categorical ones one-hot,
    first level dropped). Constant design columns are dropped; so are aliased ones, as R's
    ``glm`` does: taking the columns in order, one that is a linear combination of the earlier
    columns kept (relative residual sum of squares below 1e-10, judged on the centred first
    Hessian) is left out and listed in ``dropped_collinear``, so the earliest columns stay.

    Estimator: maximum likelihood, the estimate of statsmodels' ``Logit.fit`` and R's ``glm``,
    by damped Newton. Each step is H^{-1} g (g the exact float64 score; H = X'WX, centred so that
    an uncentred index year does not make it ill-conditioned; float64 at first, then float32,
    reused as a chord near the optimum) and is halved until the log-likelihood rises by at least
    1e-4 of the rise the step predicts, the rise being computed unit by unit so that it is exact
    even where the log-likelihood itself no longer changes in float64. A step that lowers (or
    keeps) the log-likelihood is never taken: H is positive definite, so a short enough step
    always rises unless the estimate is at the numerical optimum; then a fresh float64 Hessian is
    tried. Converged when the full Newton step from a float64 Hessian would move no fitted log
    odds by more than 1e-10 (or 1e-7 when no step can raise the log-likelihood any more).

    Separation: when some units' fitted probabilities go to 0 or 1 while the log-likelihood keeps
    rising (complete or quasi-complete separation, by a categorical level, a 0/1 column, a
    numeric column or a combination), the maximum likelihood estimate does not exist and Firth's
    penalised likelihood l(beta) + 0.5 log det X'WX is maximised instead (same line search, on
    the penalised log-likelihood; for a 2 x 2 table it is the estimate with 0.5 added to each
    cell). Separation is shown, never assumed: a level held only by treated or only by
    comparison people, or Newton steps that move every unit towards its own label while the
    moving units' probabilities approach 0 or 1, confirmed (and the separated units found) by
    linear programming as in Konis (2007) and R's ``detectseparation`` when the design has at
    most 2 million cells; the separated set is then completed until maximum likelihood on the
    remaining units converges. ``estimator`` says which estimate was used and ``separated``
    names the design columns whose maximum-likelihood coefficients run off to infinity (those
    the non-separated units do not determine). Either way the statsmodels ``LogitResults`` is
    built on the estimate with the inverse Fisher information as covariance.

Two matching methods:

``"radius"`` (the default; methodology section 4)
    Radius matching with replacement on the logit of the propensity score, caliper 0.2 standard
    deviations of that logit. Each treated person takes *all* comparison people whose distance
    lies within the caliper (``|d_t - d_c| <= caliper * SD``), inside their exact-matching stratum;
    each of those gets weight 1/(number matched to that treated person), summed over the treated
    people it serves, so comparison weights sum to the number of matched treated people. Treated
    people with no one inside the caliper are dropped (weight 0).

``"nearest"``
    Greedy k:1 nearest-neighbour matching with the semantics of MatchIt's general nearest-neighbour
    algorithm (``nn_matchC``), for checking against R: treated people are processed from the
    largest propensity score down (ties in data order); each takes the comparison person nearest in
    distance, ties among comparison people at equal distance going to the first in data order;
    without replacement a used comparison person leaves the pool and ``ratio`` k is done in k
    passes (every treated person gets a first match, then a second, ...); with replacement each
    treated person takes its k nearest distinct comparison people. The caliper is in standard
    deviations of the distance over all units (MatchIt's ``std.caliper = TRUE``). Weights are
    MatchIt's for the ATT: treated 1; each comparison person the sum, over the treated people it
    serves, of 1/(number matched to that treated person), then all comparison weights multiplied
    by (number of distinct matched comparison people) / (sum of comparison weights).

    Note on MatchIt 4.5.1 (as packaged by Debian): its default path for a propensity-score distance
    (``nn_matchC_vec``, new in 4.5.1) truncates distance differences to integers, so it takes the
    neighbour below in sorted order whenever there is one and ignores the caliper, and with
    ``replace = TRUE`` and ``ratio > 1`` it repeats one control k times. This module implements the
    algorithm MatchIt documents (and its ``nn_matchC`` carries out when given a distance matrix);
    the tests compare against that path.

Speed: every stratum's pool is sorted once and searched with :func:`numpy.searchsorted`; no
treated x pool distance matrix is ever built. Radius weights are counted with a difference array
over the sorted pool, so the cost is O((n_treated + n_pool) log n_pool) however many comparison
people fall inside each caliper. The propensity fit runs on one BLAS thread
(:mod:`jdl.stats.threads`): its products are memory-bound and one waits for another, so a second
thread gains little and, when another process keeps a core busy, makes each product wait for a
descheduled thread (X'WX at 1,000,000 x 41: 0.15 s on one thread, 1.0-3.2 s on two). The fit,
the match and the balance table run with NumPy's transparent-huge-page advice off
(:class:`jdl.stats.design.without_hugepages`): their large arrays are each touched a few times,
and on a VM with ``defrag=madvise`` faulting them in as huge pages cost 0.5-0.6 s more system
time at a million rows than as ordinary pages.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import expit
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.discrete.discrete_model import BinaryResultsWrapper, Logit, LogitResults

from jdl.stats.design import (category_codes, coded_covariates, covariate_matrix, is_categorical,
                              without_hugepages)
from jdl.stats.threads import one_blas_thread

METHODS = ("radius", "nearest")
DISTANCES = ("logit", "propensity")
M_ORDERS = ("largest", "smallest", "data")
DEFAULT_DISTANCE = {"radius": "logit", "nearest": "propensity"}
DEFAULT_CALIPER = 0.2


class PropensityModelError(ValueError):
    """The propensity model cannot be fitted at all.

    Separation (the maximum likelihood estimate does not exist) is not an error: it is fitted by
    Firth's penalised likelihood; collinear columns are not either: they are dropped. What is
    left is what truly cannot be fitted: Newton's method failing to converge where no
    separation is found (say, covariate values so extreme that the log-likelihood cannot be
    evaluated), or Firth's fit failing. The message says which.
    """


# --------------------------------------------------------------------------------------------
# inputs


def check_no_missing(data: pd.DataFrame, columns, role: str = "covariate") -> None:
    """Raise ValueError naming every column of ``columns`` that is absent from ``data`` or has
    missing (or, for numbers, infinite) values. ``role`` is the word used in the message."""
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise ValueError(f"{role} column(s) not in the data: {', '.join(map(str, absent))}")
    bad = []
    for column in columns:
        values = data[column]
        if values.dtype == np.float64 and np.isfinite(values.to_numpy()).all():
            continue  # the usual case, in one pass: no NaN, no infinity
        n_missing = int(values.isna().sum())
        if not is_categorical(values) and pd.api.types.is_numeric_dtype(values.dtype):
            n_missing += int(np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).sum())
        if n_missing:
            bad.append(f"{column} ({n_missing} rows)")
    if bad:
        raise ValueError(f"missing or non-finite values in {role} column(s): {', '.join(bad)}; "
                         "drop those rows (attrition: missing data) before matching")


def treatment_indicator(data: pd.DataFrame, treatment: str) -> np.ndarray:
    """The treatment column as a boolean array; it must be bool or 0/1 with no missing values."""
    if treatment not in data.columns:
        raise ValueError(f"treatment column {treatment!r} not in the data")
    values = data[treatment]
    if values.isna().any():
        raise ValueError(f"treatment column {treatment!r} has missing values")
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=bool)
    if not pd.api.types.is_numeric_dtype(values.dtype):
        raise ValueError(f"treatment column {treatment!r} must be bool or 0/1")
    numbers = values.to_numpy()
    if not ((numbers == 0) | (numbers == 1)).all():  # as isin([0, 1]), without hashing every row
        raise ValueError(f"treatment column {treatment!r} must be bool or 0/1")
    return numbers == 1


def model_design(data: pd.DataFrame, covariates, codes: dict | None = None
                 ) -> tuple[np.ndarray, list[str]]:
    """The propensity model's design matrix: a constant, then each covariate in the order given,
    categorical ones one-hot with the first level dropped (:func:`covariate_matrix`; ``codes``:
    the categorical covariates' codes if already computed, :func:`coded_covariates`)."""
    return covariate_matrix(data, covariates, drop_first=True, constant=True, codes=codes)


# --------------------------------------------------------------------------------------------
# propensity model

ESTIMATOR_ML = "maximum likelihood"
ESTIMATOR_FIRTH = "Firth penalised likelihood"


@dataclass(frozen=True, eq=False)
class PropensityModel:
    """A fitted propensity model: the statsmodels result, the names of its design columns, the
    design columns dropped because they were constant, and per unit (data order) the linear
    predictor (log odds) and the propensity score.

    ``estimator``: ``"maximum likelihood"``, or ``"Firth penalised likelihood"`` when the maximum
    likelihood estimate does not exist (separation). ``separated``: the design columns whose
    maximum-likelihood coefficients run off to infinity (empty unless Firth was used).
    ``dropped_collinear``: design columns left out because they are linear combinations of
    earlier columns (R's ``glm`` rule; their coefficients are not estimable)."""

    result: object
    columns: tuple[str, ...]
    dropped_constant: tuple[str, ...]
    linear_predictor: np.ndarray
    propensity: np.ndarray
    estimator: str = ESTIMATOR_ML
    separated: tuple[str, ...] = ()
    dropped_collinear: tuple[str, ...] = ()

    def coefficients(self) -> pd.DataFrame:
        """The coefficients table: ``coef``, ``se``, ``z``, ``p`` per design column."""
        res = self.result
        return pd.DataFrame({"coef": np.asarray(res.params), "se": np.asarray(res.bse),
                             "z": np.asarray(res.tvalues), "p": np.asarray(res.pvalues)},
                            index=pd.Index(self.columns, name="term"))


def _separation_problems(data: pd.DataFrame, covariates, treated: np.ndarray,
                         codes: dict | None = None) -> tuple[list[str], np.ndarray]:
    """Levels of categorical covariates (and values of 0/1 numeric ones) held only by treated or
    only by comparison units, with the units holding them.

    Each such level separates (the direction that raises, or lowers, the log odds of that level
    alone fits its units perfectly), so its units are certainly among the separated units; other
    units may be separated too, by combinations of columns or by numeric columns, which this
    check does not see. Returns one description per offending level (``"offence = arson (1
    units, none treated)"``) and a boolean mask of the units holding any of them."""
    problems = []
    units = np.zeros(len(treated), dtype=bool)
    codes_of = {} if codes is None else codes
    for column in covariates:
        values = data[column]
        if column in codes_of:  # as category_codes gives them (computed once by the caller)
            codes, levels = codes_of[column]
        elif isinstance(values.dtype, pd.CategoricalDtype):
            # the codes as they are: a category no unit holds counts 0 and is passed over below
            # (category_codes would first drop unused categories, a pass over the column)
            codes, levels = values.cat.codes.to_numpy(dtype=np.int64), list(values.cat.categories)
        elif is_categorical(values):
            codes, levels = category_codes(values)
        else:
            numbers = values.to_numpy(dtype=float)
            if not (np.isin(numbers[:64], (0.0, 1.0)).all() and np.isin(numbers, (0.0, 1.0)).all()):
                continue
            codes, levels = numbers.astype(np.int64), [0, 1]
        everyone = np.bincount(codes, minlength=len(levels))
        if np.count_nonzero(everyone) < 2:
            continue  # constant: dropped from the model
        among_treated = np.bincount(codes[treated], minlength=len(levels))
        for code, (level, n, n_treated) in enumerate(zip(levels, everyone, among_treated)):
            if n and (n_treated == 0 or n_treated == n):
                which = "none treated" if n_treated == 0 else "all treated"
                problems.append(f"{column} = {level} ({n} units, {which})")
                units |= codes == code
    return problems, units


_GRAM_ROWS = 16384             # rows per block of the Gram matrix: a block stays in cache
_START_SAMPLE = 50_000
_MAX_ITERATIONS = 100          # Newton iterations of one maximum-likelihood fit
_START_ITERATIONS = 50         # ... of the fit to the sample giving starting values
_FIRTH_MAX_ITERATIONS = 200
_TOLERANCE = 1e-10             # converged: the next full step moves no log odds by more
_SETTLED = 1e-7                # ... or no step improves and it would move none by more than this
_CHORD_BELOW = 1e-2            # reuse the (float32) Hessian once steps are this small
_ARMIJO = 1e-4                 # sufficient increase: change >= _ARMIJO * length * decrement
_SHORTEST_STEP = 2.0 ** -40
_LARGEST_MOVE = 20.0           # no step moves any fitted log odds by more than this
_ALIASED = 1e-10               # relative residual sum of squares of an aliased column
_KERNEL = 1e-10                # relative eigenvalue of a direction the rows do not determine
_WATCH_FROM = 8                # separation watch: from this iteration,
_WATCH_STREAK = 3              # ... this many Newton steps in a row that separate,
_WATCH_SLACK = 1e-8            # ... moving no unit against its label by more than this share,
_WATCH_FAR = 10.0              # ... and all the moving units already this far on their side
_LP_MAX_CELLS = 2_000_000      # rows x columns up to which separation is checked by LP


def _centred_gram(design: np.ndarray, weights: np.ndarray, shift: np.ndarray,
                  dtype=np.float64, signed: bool = False) -> np.ndarray:
    """G_c = sum_i w_i (x_i - shift)(x_i - shift)', computed over blocks of rows in ``dtype``
    (float32 halves the cost) and accumulated in float64; no n x k temporary.

    ``shift`` holds column means (:func:`_column_shift`) with 0 for the constant (column 0), so
    G_c is the weighted Gram matrix of the design re-parametrised with centred columns, X = X_c T
    (T = I + e_0 shift'): the Hessian is T' G_c T. Centred on the weighted means, the constant is
    W-orthogonal to the other columns, so that neither an uncentred column such as the index year
    (whose mean part would swamp its variation in float32) nor a column held by a few units whose
    weights are vanishing (whose information would cancel out of a shift by an unweighted mean)
    loses its information. ``signed``: the weights may be negative."""
    n, k = design.shape
    if signed:
        gram = np.zeros((k, k))
        for start in range(0, n, _GRAM_ROWS):
            block = design[start:start + _GRAM_ROWS] - shift
            gram += (block * weights[start:start + _GRAM_ROWS, None]).T @ block
        return gram
    # the square roots of the weights in the block's own precision: multiplying a float32 block
    # by float64 roots would go through NumPy's casting loop (~4 times as slow)
    root = np.sqrt(weights).astype(dtype, copy=False)
    gram = np.zeros((k, k))
    buffer = np.empty((min(_GRAM_ROWS, n), k), dtype=dtype, order="F")
    for start in range(0, n, _GRAM_ROWS):
        stop = min(start + _GRAM_ROWS, n)
        block = buffer if stop - start == len(buffer) else np.empty((stop - start, k), dtype=dtype,
                                                                      order="F")
        np.subtract(design[start:stop], shift, out=block, casting="unsafe")
        block *= root[start:stop, None]
        gram += block.T @ block
    return gram


def _rows(design: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The rows of ``design`` where ``mask`` holds, as a new Fortran-ordered matrix (copied
    column by column: no C-ordered intermediate)."""
    sub = np.empty((int(mask.sum()), design.shape[1]), order="F")
    for j in range(design.shape[1]):
        np.compress(mask, design[:, j], out=sub[:, j])
    return sub


def _column_shift(design: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Column means of the design (weighted by ``weights``), 0 for the constant."""
    if weights is None:
        shift = design.mean(axis=0)
    else:
        total = weights.sum()
        shift = design.T @ weights / total if total > 0 else np.zeros(design.shape[1])
    shift[0] = 0.0
    return shift


def _cholesky(gram_c: np.ndarray):
    """Cholesky factor of a centred Gram matrix, or None when it is not positive definite in
    working precision."""
    if not np.all(np.isfinite(gram_c)):
        return None
    try:
        factor = cho_factor(gram_c, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.diag(factor[0]) > 0):
        return None
    return factor


def _solve(factor, shift: np.ndarray, score: np.ndarray) -> np.ndarray:
    """H^{-1} g for H = T' G_c T, solved in the centred parametrisation: G_c s_c = T^{-T} g,
    s = T^{-1} s_c."""
    centred = score - shift * score[0]
    step = cho_solve(factor, centred, check_finite=False)
    step[0] -= shift @ step
    return step


def _inverse(factor, shift: np.ndarray) -> np.ndarray:
    """H^{-1} = T^{-1} G_c^{-1} T^{-T} (the covariance of the coefficients)."""
    k = len(shift)
    inverse_c = cho_solve(factor, np.eye(k), check_finite=False)
    t_inverse = np.eye(k)
    t_inverse[0] -= shift
    covariance = t_inverse @ inverse_c @ t_inverse.T
    return (covariance + covariance.T) / 2


def _aliased_columns(gram_c: np.ndarray) -> list[int]:
    """Columns that are linear combinations of earlier columns, R's ``glm`` rule: go through the
    columns in order, keep a column unless its residual sum of squares after projection on the
    kept earlier ones (judged on the weighted, centred Gram matrix, scaled to unit diagonal) is
    below ``_ALIASED`` of its own; the constant (column 0) is always kept."""
    k = len(gram_c)
    norms = np.sqrt(np.clip(np.diag(gram_c), 0.0, None))
    aliased, kept = [], []
    factor = np.zeros((0, 0))
    for j in range(k):
        if norms[j] == 0:
            aliased.append(j)
            continue
        cross = gram_c[kept, j] / (norms[kept] * norms[j])
        if kept:
            z = solve_triangular(factor, cross, trans="T", check_finite=False)
            residual = 1.0 - z @ z
        else:
            z, residual = np.zeros(0), 1.0
        if j > 0 and residual < _ALIASED:
            aliased.append(j)
            continue
        grown = np.zeros((len(kept) + 1, len(kept) + 1))
        grown[:-1, :-1] = factor
        grown[:-1, -1] = z
        grown[-1, -1] = np.sqrt(max(residual, 0.0))
        factor = grown
        kept.append(j)
    return aliased


def _loglike(eta: np.ndarray, y: np.ndarray) -> float:
    """Logistic log-likelihood at linear predictor ``eta``."""
    return float(np.sum(y * eta) - np.logaddexp(0.0, eta).sum())


def _loglike_change(eta: np.ndarray, p: np.ndarray, y: np.ndarray, delta: np.ndarray) -> float:
    """l(eta + delta) - l(eta), computed as a sum of per-unit changes so that it is accurate to
    rounding of the change itself (not of the log-likelihood): log(1 + e^(eta + d)) - log(1 +
    e^eta) is log1p(p expm1(d)) for |d| <= 1. A line search judged on this resolves steps right
    down to the optimum, where the log-likelihood itself no longer changes in float64."""
    rise = float(np.sum(y * delta))
    if np.max(np.abs(delta), initial=0.0) <= 1.0:  # the usual case: no masks, no copies
        return rise - float(np.log1p(p * np.expm1(delta)).sum())
    small = np.abs(delta) <= 1.0
    change = np.empty_like(delta)
    d = delta[small]
    change[small] = np.log1p(p[small] * np.expm1(d))
    big = ~small
    if big.any():
        change[big] = np.logaddexp(0.0, eta[big] + delta[big]) - np.logaddexp(0.0, eta[big])
    return rise - float(change.sum())


def _line_search(change, decrement: float, longest: float = 1.0) -> float | None:
    """Step-halving from the full step (length 1, or ``longest`` if shorter): the first length
    whose ``change(length)`` (the rise of the objective) is at least ``_ARMIJO * length *
    decrement``, else the length with the largest strictly positive rise found down to
    ``_SHORTEST_STEP`` times the first, else None. A step that lowers the objective, or leaves it
    unchanged, is never taken."""
    length, best, best_length = min(1.0, longest), 0.0, None
    shortest = length * _SHORTEST_STEP
    while length >= shortest:
        rise = change(length)
        if rise >= _ARMIJO * length * decrement:
            return length
        if rise > best:
            best, best_length = rise, length
        length /= 2
    return best_length


def _settled(step: np.ndarray, full: np.ndarray, scale: np.ndarray, tolerance: float) -> bool:
    """The full step moves no log odds (``full`` = X step) or no coefficient per unit of its
    column's range by more than ``tolerance``."""
    return bool(np.max(np.abs(full), initial=0.0) < tolerance
                or np.max(np.abs(step) * scale) < tolerance)


@dataclass
class _Fit:
    """The outcome of one Newton (or Firth) run. ``status``: ``"converged"``; ``"aliased"``
    (``aliased`` lists columns to drop; nothing fitted); ``"separated"`` (the separation watch
    fired: ``direction`` is X times the last step); ``"iteration limit"``; ``"singular"`` (the
    float64 Hessian is not positive definite); ``"no progress"`` (no step raises the objective,
    yet the step is not small). ``factor``: Cholesky factor of the float64 Gram matrix at ``beta``
    centred on ``shift`` (converged only)."""

    beta: np.ndarray
    eta: np.ndarray
    iterations: int
    status: str
    factor: object = None
    shift: np.ndarray | None = None
    direction: np.ndarray | None = None
    aliased: list | None = None
    objective: float = np.nan


def _newton_logit(design: np.ndarray, y: np.ndarray, scale: np.ndarray, beta: np.ndarray,
                  gram_dtype=np.float32, max_iterations: int = _MAX_ITERATIONS,
                  check_aliased: bool = True, watch_separation: bool = True) -> _Fit:
    """Maximum-likelihood logistic coefficients by damped Newton from ``beta``.

    Each iteration takes the step H^{-1} g (g the score, exact in float64; H = X'WX, computed
    centred on the weighted column means, :func:`_centred_gram`), shortened if need be so that no
    fitted log odds moves by more than 20, and halves it until the log-likelihood rises by at
    least 1e-4 of the predicted rise g'H^{-1}g times the length (:func:`_line_search`, judged on
    the exact change :func:`_loglike_change`); a step that lowers the log-likelihood is never
    taken, and since H is positive definite a short enough step always rises unless the
    estimate is already at the numerical optimum; if none does, the step is recomputed with a
    fresh float64 Hessian before anything is concluded. The first Hessian is float64 and, with
    ``check_aliased``, checked for aliased columns (status ``"aliased"``: the caller drops them
    and starts again); later ones are in ``gram_dtype`` and, once steps move coefficients by
    less than 1e-2 of their columns' ranges, reused (chord steps), since the Hessian only steers:
    the fixed point is where the exact score vanishes. Once some units run off towards their
    labels (from iteration 8, the moving units beyond log odds 10 on their side), all Hessians
    are float64.

    Converged when the full step from a fresh float64 Hessian moves no fitted log odds (or no
    coefficient per unit of its column's range, ``scale``) by more than 1e-10: a small step from
    a float32 or reused Hessian is confirmed with a float64 one first, which is also returned
    (``factor``) for the covariance. When no step length raises the log-likelihood even with a
    fresh float64 Hessian, the fit has reached the numerical optimum: converged if the step would
    move no log odds by more than 1e-7, else ``"no progress"``.

    ``watch_separation``: from iteration 8, a full step that moves every unit towards its own
    label (no unit against it by more than 1e-8 of the largest move) with the moving units
    already beyond log odds 10 on their side, three steps in a row, is taken as separation (the
    maximum likelihood estimate does not exist: the log-likelihood keeps rising along that
    direction): status ``"separated"`` with the direction.
    """
    beta = np.array(beta, dtype=float)
    eta = design @ beta
    sign = 2.0 * y - 1.0
    factor = None
    fresh64, refresh, exact, diverging = True, True, False, False
    streak = 0
    iteration = 0
    scored = None  # the eta p and score were computed at (a restart with a fresh Hessian keeps them)
    while iteration < max_iterations:
        if scored is not eta:
            p = expit(eta)
            score = design.T @ (y - p)
            scored = eta
        if fresh64 or refresh:
            dtype = np.float64 if fresh64 or diverging else gram_dtype
            weights = p * (1.0 - p)
            used_shift = _column_shift(design, weights)
            gram = _centred_gram(design, weights, used_shift, dtype)
            exact = np.dtype(dtype) == np.float64
            if check_aliased and exact and iteration == 0:
                check_aliased = False
                aliased = _aliased_columns(gram)
                if aliased:
                    return _Fit(beta, eta, 0, "aliased", aliased=aliased)
            factor = _cholesky(gram)
            fresh64 = refresh = False
        else:
            exact = False
        if factor is None:
            if exact:
                return _Fit(beta, eta, iteration, "singular")
            fresh64 = True
            continue
        step = _solve(factor, used_shift, score)
        full = design @ step
        if not np.all(np.isfinite(full)):
            if exact:
                return _Fit(beta, eta, iteration, "singular")
            fresh64 = True
            continue
        if _settled(step, full, scale, _TOLERANCE):
            if exact:
                return _Fit(beta, eta, iteration, "converged", factor=factor, shift=used_shift,
                            objective=_loglike(eta, y))
            fresh64 = True  # confirm with a float64 Hessian at this estimate
            continue
        iteration += 1
        length = _line_search(lambda t: _loglike_change(eta, p, y, t * full), score @ step,
                              _LARGEST_MOVE / np.max(np.abs(full)))
        if length is None:
            if not exact:
                fresh64 = True
                continue
            status = "converged" if _settled(step, full, scale, _SETTLED) else "no progress"
            return _Fit(beta, eta, iteration, status, factor=factor, shift=used_shift,
                        objective=_loglike(eta, y))
        beta = beta + length * step
        eta = eta + length * full
        if iteration >= _WATCH_FROM:
            moves = sign * full
            top = moves.max()
            moving = moves > 1e-3 * top
            far = top > 0.1 and np.all(sign[moving] * eta[moving] > _WATCH_FAR)
            if far and not diverging:
                # some units run off towards their labels: from now on float64 Hessians, to
                # resolve their vanishing weights
                diverging = refresh = True
                continue
            if watch_separation and far and moves.min() >= -_WATCH_SLACK * top:
                streak += 1
                if streak >= _WATCH_STREAK:
                    return _Fit(beta, design @ beta, iteration, "separated", direction=full)
            else:
                streak = 0
        refresh = length < 1.0 or length * np.max(np.abs(step) * scale) > _CHORD_BELOW
        if iteration % 10 == 0:
            eta = design @ beta  # no drift from adding steps
    return _Fit(beta, design @ beta, iteration, "iteration limit")


def _hat_values(design: np.ndarray, weights: np.ndarray, factor, shift: np.ndarray) -> np.ndarray:
    """Diagonal of W^{1/2} X (X'WX)^{-1} X' W^{1/2}: h_i = w_i x_i' (X'WX)^{-1} x_i, computed
    over blocks of rows as w_i |U^{-T} (x_i - shift)|^2 with U'U = G_c (no n x n matrix)."""
    n, k = design.shape
    upper_inverse = solve_triangular(factor[0], np.eye(k), check_finite=False)
    hat = np.empty(n)
    for start in range(0, n, _GRAM_ROWS):
        stop = min(start + _GRAM_ROWS, n)
        z = (design[start:stop] - shift) @ upper_inverse
        hat[start:stop] = weights[start:stop] * np.einsum("ij,ij->i", z, z)
    return hat


def _logdet_change(design: np.ndarray, eta: np.ndarray, p: np.ndarray, weights: np.ndarray,
                   delta: np.ndarray, factor, shift: np.ndarray) -> tuple[float, np.ndarray]:
    """log det I(eta + delta) - log det I(eta) for I = X'WX, computed from the change of the
    weights (accurate to rounding of the change, like :func:`_loglike_change`) as sum log(1 +
    lambda) over the eigenvalues lambda of U^{-T} (X' dW X) U^{-1}, U'U = I(eta); and the change
    of the centred Gram matrix (X - shift)' dW (X - shift) itself."""
    p_new = expit(eta + delta)
    dp = p_new - p
    small = np.abs(delta) <= 1.0
    growth = np.expm1(delta[small])
    dp[small] = weights[small] * growth / (1.0 + p[small] * growth)
    change = _centred_gram(design, dp * (1.0 - p - p_new), shift, signed=True)
    upper = factor[0]
    inner = solve_triangular(upper, change, trans="T", check_finite=False)
    inner = solve_triangular(upper, inner.T, trans="T", check_finite=False)
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    if not np.all(np.isfinite(values)) or values.min() <= -1.0:
        return -np.inf, change
    return float(np.log1p(values).sum()), change


def _firth_logit(design: np.ndarray, y: np.ndarray, scale: np.ndarray, beta: np.ndarray,
                 max_iterations: int = _FIRTH_MAX_ITERATIONS) -> _Fit:
    """Firth's penalised-likelihood logistic coefficients: the maximum of l*(beta) = l(beta) +
    0.5 log det I(beta), I = X'WX the Fisher information, which is finite whenever X has full
    rank, separated or not.

    Each iteration takes the step I^{-1} U* with the modified score U* = X'(y - p + h (1/2 -
    p)), h the hat values (:func:`_hat_values`), and halves it until l* rises enough (the same
    line search as the maximum-likelihood fit, on the exact change of l: a step that lowers l* is
    never taken). Converged when the full step moves no log odds (or no coefficient per unit of
    its column's range) by more than 1e-10, or, when no step raises l*, by more than 1e-7.
    Everything is float64; the information matrix of an accepted step is the previous one plus
    the change the line search computed (one pass over the rows fewer per iteration), and is
    recomputed from scratch every 5 iterations and at the estimate."""

    def evaluate(eta):
        p = expit(eta)
        weights = p * (1.0 - p)
        shift = _column_shift(design, weights)
        gram = _centred_gram(design, weights, shift)
        factor = _cholesky(gram)
        logdet = np.nan if factor is None else 2.0 * np.log(np.diag(factor[0])).sum()
        return p, factor, logdet, shift, gram

    beta = np.array(beta, dtype=float)
    eta = design @ beta
    p, factor, logdet, shift, gram = evaluate(eta)
    if factor is None:
        return _Fit(beta, eta, 0, "singular")
    for iteration in range(1, max_iterations + 1):
        weights = p * (1.0 - p)
        hat = _hat_values(design, weights, factor, shift)
        score = design.T @ (y - p + hat * (0.5 - p))
        step = _solve(factor, shift, score)
        full = design @ step
        objective = _loglike(eta, y) + 0.5 * logdet
        if _settled(step, full, scale, _TOLERANCE):
            p, factor, logdet, shift, gram = evaluate(eta)  # fresh, for the covariance
            if factor is None:
                return _Fit(beta, eta, iteration - 1, "singular")
            return _Fit(beta, eta, iteration - 1, "converged", factor=factor, shift=shift,
                        objective=_loglike(eta, y) + 0.5 * logdet)

        trials = {}

        def change(t):
            delta = t * full
            rise, trials[t] = _logdet_change(design, eta, p, weights, delta, factor, shift)
            return _loglike_change(eta, p, y, delta) + 0.5 * rise

        length = _line_search(change, score @ step, _LARGEST_MOVE / np.max(np.abs(full)))
        if length is None:
            status = "converged" if _settled(step, full, scale, _SETTLED) else "no progress"
            return _Fit(beta, eta, iteration, status, factor=factor, shift=shift,
                        objective=objective)
        beta = beta + length * step
        eta = design @ beta
        factor = None if iteration % 5 == 0 else _cholesky(gram + trials[length])
        if factor is None:
            p, factor, logdet, shift, gram = evaluate(eta)
        else:
            p, gram = expit(eta), gram + trials[length]
            logdet = 2.0 * np.log(np.diag(factor[0])).sum()
        if factor is None:
            return _Fit(beta, eta, iteration, "singular")
    return _Fit(beta, eta, max_iterations, "iteration limit")


def _starting_values(design: np.ndarray, y: np.ndarray, treated: np.ndarray,
                     scale: np.ndarray) -> np.ndarray:
    """Starting coefficients: intercept-only, or for a large pool the fit on every treated unit
    and a systematic sample (every m-th row) of the pool, its intercept corrected by the log of
    the sampling fraction (case-control sampling leaves the slopes consistent). Columns constant
    or aliased in the sample start at 0; when the sample's fit does not converge (say it is
    separated), intercept-only. Starting values only save iterations: the full fit does not
    depend on them."""
    start = np.zeros(design.shape[1])
    ybar = y.mean()
    start[0] = np.log(ybar / (1 - ybar))
    pool = np.flatnonzero(~treated)
    stride = len(pool) // max(_START_SAMPLE, 20 * int(treated.sum()))
    if stride < 2:
        return start
    rows = np.sort(np.r_[np.flatnonzero(treated), pool[::stride]])
    sample, sample_y = design[rows], y[rows]
    keep = np.flatnonzero(np.ptp(sample, axis=0) > 0)
    keep = np.union1d([0], keep)
    for _ in range(design.shape[1]):
        sample_start = np.zeros(len(keep))
        sample_start[0] = np.log(sample_y.mean() / (1 - sample_y.mean()))
        fit = _newton_logit(np.asfortranarray(sample[:, keep]), sample_y, scale[keep],
                            sample_start, gram_dtype=np.float64,
                            max_iterations=_START_ITERATIONS)
        if fit.status != "aliased":
            break
        keep = np.delete(keep, fit.aliased)
    if fit.status != "converged":
        return start
    beta = np.zeros(design.shape[1])
    beta[keep] = fit.beta
    beta[0] += np.log(len(pool[::stride]) / len(pool))
    return beta


def _fit_ml(design: np.ndarray, y: np.ndarray, treated: np.ndarray, scale: np.ndarray,
            watch_separation: bool = True,
            max_iterations: int = _MAX_ITERATIONS) -> tuple[_Fit, np.ndarray]:
    """Maximum likelihood with aliased columns dropped (R's rule, :func:`_aliased_columns`):
    returns the fit and the indices of the columns kept."""
    keep = np.arange(design.shape[1])
    sub = design
    while True:
        start = _starting_values(sub, y, treated, scale[keep])
        fit = _newton_logit(sub, y, scale[keep], start,
                            max_iterations=max_iterations, watch_separation=watch_separation)
        if fit.status != "aliased":
            return fit, keep
        keep = np.delete(keep, fit.aliased)
        sub = np.asfortranarray(design[:, keep])


def _lp_separated(design: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """The units whose fitted probabilities go to 0 or 1 along the likelihood's ascent (the
    largest separated set), by linear programming (Konis 2007, as R's ``detectseparation``):
    maximise sum_i s_i x_i'd over directions d with s_i x_i'd >= 0 for every unit (s_i = +1
    treated, -1 comparison) and -1 <= d_j <= 1 (columns centred and scaled to range 1); units
    with s_i x_i'd > 0 are separated. Repeated with the objective over the units not yet found
    (the set of such directions is a convex cone, so their union is the largest set) until the
    optimum is 0. Returns None if the solver fails."""
    from scipy.optimize import linprog

    n, k = design.shape
    span = np.ptp(design, axis=0)
    span[span == 0] = 1.0
    span[0] = 1.0
    sign = 2.0 * y - 1.0
    rows = sign[:, None] * ((design - _column_shift(design)) / span)
    found = np.zeros(n, dtype=bool)
    for _ in range(k + 1):
        objective = -rows[~found].sum(axis=0)
        if not np.any(objective):
            break
        solution = linprog(objective, A_ub=-rows, b_ub=np.zeros(n), bounds=(-1.0, 1.0),
                           method="highs")
        if solution.status != 0:
            return None
        if -solution.fun <= 1e-6:
            break
        new = (rows @ solution.x > 1e-6) & ~found
        if not new.any():
            break
        found |= new
    return found


def _undetermined_columns(design: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Columns whose coefficient the units ``rows`` do not determine: those in the support of
    the null space of X restricted to ``rows`` (all columns when ``rows`` is empty). With
    ``rows`` the units that are not separated these are the columns whose maximum-likelihood
    coefficients run off to infinity (with the separated units' log odds)."""
    k = design.shape[1]
    if not rows.any():
        return np.ones(k, dtype=bool)
    among = rows.astype(float)
    shift = _column_shift(design, among)
    gram = _centred_gram(design, among, shift)
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    live = norms > 1e-12 * norms.max()
    basis = []
    for j in np.flatnonzero(~live):
        vector = np.zeros(k)
        vector[j] = 1.0
        basis.append(vector)
    scaled = gram[np.ix_(live, live)] / np.outer(norms[live], norms[live])
    values, vectors = np.linalg.eigh(scaled)
    for v in vectors[:, values <= _KERNEL * values[-1]].T:
        vector = np.zeros(k)
        vector[live] = v / norms[live]
        basis.append(vector)
    size = np.sqrt(np.einsum("ij,ij->j", design, design) / len(design))
    support = np.zeros(k, dtype=bool)
    for vector in basis:
        vector[0] -= shift @ vector  # centred parametrisation back to the design's
        effect = np.abs(vector) * size
        support |= effect > 1e-6 * effect.max()
    return support


def _find_separation(design: np.ndarray, y: np.ndarray, treated: np.ndarray, scale: np.ndarray,
                     first: _Fit | None, certain: np.ndarray):
    """The largest separated set of units, or None when there is none and the maximum likelihood
    estimate exists.

    ``certain``: units known to be separated (levels held by one group only); ``first``: the
    maximum-likelihood fit to all units when it was run. The set is grown by peeling: fit
    maximum likelihood to the units not yet known to be separated (columns they do not determine
    dropped as aliased); if that converges, no further unit is separated (a direction separating
    more units would separate some of these) and the set is complete; otherwise more units are
    found by LP (:func:`_lp_separated`) when rows x columns is at most ``_LP_MAX_CELLS``, else
    from the separating Newton direction that the separation watch reported.

    Returns (set or None, how it was found, the converged maximum-likelihood fit to the units
    not separated or None when all are, the indices of the columns that fit kept).
    """
    separated = certain.copy()
    how = ["levels held by one group only"] if certain.any() else []
    fit, kept = first, np.arange(design.shape[1])
    for _ in range(design.shape[1] + 2):
        rows = ~separated
        if not rows.any():
            return separated, ", then ".join(how), None, None
        sub = design if rows.all() else _rows(design, rows)
        if fit is None:
            if np.ptp(y[rows]) == 0:  # what remains is all one group: separated too
                separated |= rows
                how.append("remaining units all in one group")
                continue
            fit, kept = _fit_ml(sub, y[rows], treated[rows], scale)
        if fit.status == "converged":
            break
        new = None
        if sub.size <= _LP_MAX_CELLS:
            new = _lp_separated(sub, y[rows])
            if new is not None and new.any():
                how.append("linear programme")
        if new is None and fit.status == "separated":
            moves = (2.0 * y[rows] - 1.0) * fit.direction
            new = moves > 1e-3 * moves.max()
            how.append("separating Newton direction")
        if new is None or not new.any():
            # no separation shown: the maximum likelihood estimate of these units exists; fit it
            # without the watch and with more iterations
            fit, kept = _fit_ml(sub, y[rows], treated[rows], scale, watch_separation=False, max_iterations=3 * _MAX_ITERATIONS)
            if fit.status != "converged":
                raise PropensityModelError(
                    "the propensity model could not be fitted: Newton's method did not converge "
                    f"({fit.status} after {fit.iterations} iterations) although no separation was "
                    "found; check the covariates for extreme values")
            break
        separated[np.flatnonzero(rows)[new]] = True
        fit = None
    if not separated.any():
        return None, "", fit, kept
    return separated, ", then ".join(dict.fromkeys(how)), fit, kept


@without_hugepages()
@one_blas_thread()
def fit_propensity(data: pd.DataFrame, treatment: str, covariates) -> PropensityModel:
    """Fit the logistic regression of treatment on the covariates.

    Design: a constant, then the covariates, categorical ones one-hot coded with the first level
    dropped (:func:`model_design`). Design columns that are constant are dropped
    (``dropped_constant``); so are columns that are linear combinations of earlier columns
    (``dropped_collinear``), as R's ``glm`` does: columns are taken in order and one whose
    residual after projection on the kept earlier columns is negligible (relative residual sum
    of squares below 1e-10 on the first Hessian, centred) is left out, so the earliest columns
    are kept.

    Estimator: maximum likelihood (the same estimate as statsmodels' ``Logit.fit`` and R's
    ``glm``), by damped Newton (:func:`_newton_logit`: exact score, float32 chord Hessians near
    the optimum, a step-halving line search that never accepts a step lowering the
    log-likelihood, convergence confirmed with a float64 Hessian). When the maximum likelihood
    estimate does not exist because of separation (complete or quasi-complete: some units'
    fitted probabilities go to 0 or 1 while the log-likelihood keeps rising, whether through a
    categorical level, a 0/1 column, a numeric column or a combination), Firth's penalised
    likelihood is maximised instead (:func:`_firth_logit`; ``estimator`` says which), and
    ``separated`` names the design columns whose maximum-likelihood coefficients run off to
    infinity. Separation is decided, never assumed: a level held by one group only; or the
    Newton iterations moving every unit towards its own label, confirmed (or, when there are
    no more than 2 million design cells, established) by linear programming; in each case the
    set of separated units is completed until maximum likelihood on the remaining units
    converges. Firth is not used when the maximum likelihood estimate exists.

    Returned as a statsmodels ``LogitResults`` built on the estimate, with the covariance the
    inverse Fisher information (X'WX)^{-1} at the estimate, as ``Logit.fit`` (and, for Firth,
    R's ``logistf``) builds it; ``mle_settings`` and ``mle_retvals`` record what was done.
    Raises ValueError for missing values (naming the columns) or a single group, and
    :class:`PropensityModelError` when the model truly cannot be fitted.
    """
    covariates = list(covariates)
    check_no_missing(data, covariates)
    treated = treatment_indicator(data, treatment)
    if treated.all() or not treated.any():
        raise ValueError("the data must hold both treated and comparison units")
    coded = coded_covariates(data, covariates)  # each categorical column factorised once
    design, names = model_design(data, covariates, coded)

    lows, highs = design.min(axis=0), design.max(axis=0)
    varying = lows < highs
    varying[0] = True
    dropped = tuple(n for n, keep in zip(names, varying) if not keep)
    if dropped:
        design = np.asfortranarray(design[:, varying])
        names = [n for n, keep in zip(names, varying) if keep]
        lows, highs = lows[varying], highs[varying]
    y = treated.astype(float)
    scale = np.r_[1.0, (highs - lows)[1:]]

    levels, certain = _separation_problems(data, covariates, treated, coded)
    first = None
    if not certain.any():
        first, keep = _fit_ml(design, y, treated, scale)
    else:  # known to be separated: R's rule on the unweighted design for the aliased columns
        aliased = _aliased_columns(_centred_gram(design, np.ones(len(y)), _column_shift(design)))
        keep = np.delete(np.arange(design.shape[1]), aliased)
    collinear = tuple(names[j] for j in np.setdiff1d(np.arange(len(names)), keep))
    if collinear:
        design = np.asfortranarray(design[:, keep])
        names = [names[j] for j in keep]
        scale = scale[keep]

    separated_units, how, fit, kept = _find_separation(design, y, treated, scale, first, certain)
    if separated_units is None:
        estimator, separated = ESTIMATOR_ML, ()
        settings = {"optimizer": "newton", "line_search": "step-halving, never lowering the "
                    "log-likelihood", "tol": _TOLERANCE, "maxiter": _MAX_ITERATIONS}
    else:
        support = _undetermined_columns(design, ~separated_units)
        separated = tuple(n for n, s in zip(names, support) if s)
        start = np.zeros(design.shape[1])
        if fit is not None:  # maximum likelihood on the units that are not separated
            start[kept] = fit.beta
        fit = _firth_logit(design, y, scale, start)
        if fit.status != "converged":
            fit = _firth_logit(design, y, scale, np.zeros(design.shape[1]))
        if fit.status != "converged":
            raise PropensityModelError(
                "the propensity model could not be fitted: Firth's penalised likelihood (used "
                "because of separation by " + ", ".join(separated) + ") did not converge "
                f"({fit.status})")
        estimator = ESTIMATOR_FIRTH
        settings = {"optimizer": "firth", "line_search": "step-halving, never lowering the "
                    "penalised log-likelihood", "tol": _TOLERANCE,
                    "maxiter": _FIRTH_MAX_ITERATIONS}
    beta = fit.beta
    linear = design @ beta
    propensity = expit(linear)
    if fit.factor is None:
        raise PropensityModelError("the propensity model's information matrix cannot be "
                                   "inverted; check the covariates")
    covariance = _inverse(fit.factor, fit.shift)

    exog = pd.DataFrame(design, columns=names, index=data.index, copy=False)
    model = Logit(y, exog, check_rank=False)
    result = LikelihoodModelResults(model, beta, normalized_cov_params=covariance, scale=1.0)
    result.mle_retvals = {"converged": True, "iterations": fit.iterations, "estimator": estimator,
                          "separated_terms": list(separated),
                          "dropped_collinear_terms": list(collinear)}
    if separated_units is not None:
        result.mle_retvals.update({
            "separated_units": int(separated_units.sum()), "separation_found_by": how,
            "separating_levels": levels, "penalised_loglike": fit.objective})
    result.mle_settings = settings
    wrapped = BinaryResultsWrapper(LogitResults(model, result))
    return PropensityModel(result=wrapped, columns=tuple(names), dropped_constant=dropped,
                           linear_predictor=linear, propensity=propensity, estimator=estimator,
                           separated=separated, dropped_collinear=collinear)


# --------------------------------------------------------------------------------------------
# matching on a distance (plain arrays in, plain arrays out)


@dataclass(frozen=True, eq=False)
class Matching:
    """Who was matched to whom, by position (0-based row numbers of the arrays matched).

    ``weights``: per unit (treated matched 1, treated unmatched 0, comparison as the method says,
    unused 0). ``treated_pos``, ``comparison_pos``, ``pair_weight``, ``match_number``: one entry
    per (treated, comparison) pair, ``pair_weight`` being 1/(number matched to that treated unit)
    and ``match_number`` the pass (1, 2, ...) for nearest, 0 for radius. Radius pairs are kept as
    ranges of the sorted pool and only spelled out by :meth:`pairs`.
    """

    weights: np.ndarray
    n_matched_to: np.ndarray
    _pairs: tuple

    def pairs(self) -> pd.DataFrame:
        """The pairs as a frame with columns ``treated``, ``comparison`` (positions), ``weight``
        (within the pair: 1/number matched to that treated unit) and ``match_number``."""
        kind, payload = self._pairs
        if kind == "list":
            t, c, r = payload
            t = np.asarray(t, dtype=np.int64)
            c = np.asarray(c, dtype=np.int64)
            return pd.DataFrame({"treated": t, "comparison": c,
                                 "weight": 1.0 / self.n_matched_to[t] if len(t) else np.zeros(0),
                                 "match_number": np.asarray(r, dtype=np.int64)})
        parts = []
        for sorted_pool, treated_pos, lo, hi in payload:
            count = hi - lo
            keep = count > 0
            treated_pos, lo, count = treated_pos[keep], lo[keep], count[keep]
            total = int(count.sum())
            starts = np.repeat(lo - np.r_[0, np.cumsum(count)[:-1]], count)
            within = np.arange(total) + starts
            parts.append(pd.DataFrame({"treated": np.repeat(treated_pos, count),
                                       "comparison": sorted_pool[within],
                                       "weight": np.repeat(1.0 / count, count),
                                       "match_number": np.zeros(total, dtype=np.int64)}))
        if not parts:
            return pd.DataFrame({"treated": np.zeros(0, np.int64), "comparison": np.zeros(0, np.int64),
                                 "weight": np.zeros(0), "match_number": np.zeros(0, np.int64)})
        return pd.concat(parts, ignore_index=True)


def _strata_codes(strata, n: int) -> np.ndarray:
    if strata is None:
        return np.zeros(n, dtype=np.int64)
    codes = np.asarray(strata)
    if codes.shape != (n,):
        raise ValueError("strata must have one entry per unit")
    return pd.factorize(codes, sort=True)[0].astype(np.int64)


def _by_stratum(codes: np.ndarray, positions: np.ndarray):
    """Split ``positions`` (an ordered array) by stratum code, keeping their order within each."""
    order = np.argsort(codes[positions], kind="stable")
    ordered = positions[order]
    sorted_codes = codes[ordered]
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts = np.r_[0, cuts]
    ends = np.r_[cuts, len(ordered)]
    return {int(sorted_codes[s]): ordered[s:e] for s, e in zip(starts, ends) if e > s}


def _sorted_pool(distance: np.ndarray, pool_positions: np.ndarray):
    """Pool positions sorted by (distance, position), and their distances. ``pool_positions``
    ascend, so this is a stable sort of the distances; the unstable sort is a third faster, and
    gives the same order when no two distances are equal (checked; if some are, the stable
    sort is done)."""
    values = distance[pool_positions]
    order = np.argsort(values)
    sorted_d = values[order]
    if np.any(sorted_d[1:] == sorted_d[:-1]):
        order = np.argsort(values, kind="stable")
        sorted_d = values[order]
    return pool_positions[order], sorted_d


def caliper_bounds(sorted_distance: np.ndarray, distance: np.ndarray, width: float):
    """For each value of ``distance``, the range ``lo:hi`` of ``sorted_distance`` (ascending)
    whose entries lie within ``width`` of it, judged exactly as ``abs(d - s) <= width`` in
    floating point (the inside set is contiguous because rounding is monotone)."""
    s = sorted_distance
    n = len(s)
    d = np.asarray(distance, dtype=float)
    lo = np.searchsorted(s, d - width, "left")
    hi = np.searchsorted(s, d + width, "right")

    def inside(i, m):
        return np.abs(d[m] - s[i[m]]) <= width

    while True:  # widen lo over groups inside
        m = lo > 0
        m[m] = inside(lo - 1, m)
        if not m.any():
            break
        lo[m] = np.searchsorted(s, s[lo[m] - 1], "left")
    while True:  # narrow lo past groups below and outside
        m = lo < n
        m[m] = ~inside(lo, m) & (s[np.minimum(lo, n - 1)][m] < d[m])
        if not m.any():
            break
        lo[m] = np.searchsorted(s, s[lo[m]], "right")
    while True:  # widen hi over groups inside
        m = hi < n
        m[m] = inside(hi, m)
        if not m.any():
            break
        hi[m] = np.searchsorted(s, s[hi[m]], "right")
    while True:  # narrow hi past groups above and outside
        m = hi > 0
        m[m] = ~inside(hi - 1, m) & (s[np.maximum(hi - 1, 0)][m] > d[m])
        if not m.any():
            break
        hi[m] = np.searchsorted(s, s[hi[m] - 1], "left")
    return lo, np.maximum(hi, lo)


def radius_match(distance, treated, width: float, strata=None) -> Matching:
    """Radius matching with replacement (methodology section 4) on a given distance.

    ``distance``: one number per unit; ``treated``: booleans; ``width``: the caliper in distance
    units (not SD units); ``strata``: optional exact-matching stratum label per unit. Every treated
    unit takes all comparison units of its stratum with ``|d_t - d_c| <= width``; each gets
    1/(number taken by that treated unit), summed over treated units. Cost O(n log n): per
    stratum one sort of the pool, two searchsorted per treated unit and a cumulative sum.
    """
    d = np.asarray(distance, dtype=float)
    t = np.asarray(treated, dtype=bool)
    n = len(d)
    if not np.isfinite(width) or width < 0:
        raise ValueError("the caliper width must be a finite number >= 0")
    codes = _strata_codes(strata, n)
    weights = np.zeros(n)
    n_matched_to = np.zeros(n, dtype=np.int64)
    pools = _by_stratum(codes, np.flatnonzero(~t))
    segments = []
    for code, treated_pos in _by_stratum(codes, np.flatnonzero(t)).items():
        if code not in pools:
            continue
        sorted_pool, sorted_d = _sorted_pool(d, pools[code])
        lo, hi = caliper_bounds(sorted_d, d[treated_pos], width)
        count = hi - lo
        ok = count > 0
        m = len(sorted_pool)
        share = np.bincount(lo[ok], weights=1.0 / count[ok], minlength=m + 1) \
            - np.bincount(hi[ok], weights=1.0 / count[ok], minlength=m + 1)
        cover = np.bincount(lo[ok], minlength=m + 1) - np.bincount(hi[ok], minlength=m + 1)
        pool_weight = np.cumsum(share)[:m]
        pool_weight[np.cumsum(cover)[:m] == 0] = 0.0
        weights[sorted_pool] = pool_weight
        weights[treated_pos[ok]] = 1.0
        n_matched_to[treated_pos] = count
        segments.append((sorted_pool, treated_pos, lo, hi))
    return Matching(weights=weights, n_matched_to=n_matched_to, _pairs=("ranges", segments))


def treated_order(distance, treated, m_order: str = "largest") -> np.ndarray:
    """Positions of the treated units in the order nearest-neighbour matching takes them:
    ``"largest"`` distance first, ``"smallest"`` first, or ``"data"`` order; ties in data order
    (R's stable ``order(..., decreasing = TRUE)``)."""
    d = np.asarray(distance, dtype=float)
    positions = np.flatnonzero(np.asarray(treated, dtype=bool))
    if m_order == "data":
        return positions
    if m_order == "largest":
        return positions[np.argsort(-d[positions], kind="stable")]
    if m_order == "smallest":
        return positions[np.argsort(d[positions], kind="stable")]
    raise ValueError(f"m_order must be one of {M_ORDERS}")


def _find(parent: dict, i: int) -> int:
    """Union-find root: follow ``parent`` links (absent = available) with path compression."""
    root = i
    while root in parent:
        root = parent[root]
    while i in parent and parent[i] != root:
        parent[i], i = root, parent[i]
    return root


class _Groups:
    """A stratum's pool sorted by (distance, position), cut into groups of equal distance."""

    def __init__(self, sorted_pool: np.ndarray, sorted_d: np.ndarray):
        self.pool = sorted_pool
        first = np.r_[True, sorted_d[1:] != sorted_d[:-1]] if len(sorted_d) else np.zeros(0, bool)
        self.start = np.flatnonzero(first)
        self.end = np.r_[self.start[1:], len(sorted_d)]
        self.values = sorted_d[self.start]
        self.n = len(self.start)

    def insertion(self, d: np.ndarray) -> np.ndarray:
        """Per distance, the first group whose value is >= it (groups below are to the left)."""
        return np.searchsorted(self.values, d, "left")


def _nearest_without_replacement(groups: _Groups, d: np.ndarray, order: np.ndarray, ratio: int,
                                 width: float | None, out: list) -> None:
    values, pool = groups.values, groups.pool
    next_member = groups.start.copy()
    end = groups.end
    left: dict = {}   # exhausted group g -> g - 1 (sentinel -1)
    right: dict = {}  # exhausted group g -> g + 1 (sentinel n)
    n_groups = groups.n
    insertion = dict(zip(order.tolist(), groups.insertion(d[order]).tolist()))
    for rank in range(1, ratio + 1):
        for t in order.tolist():
            dt = d[t]
            p = insertion[t]
            gl = _find(left, p - 1) if p > 0 else -1
            gr = _find(right, p) if p < n_groups else n_groups
            if gl < 0 and gr >= n_groups:
                return  # the pool is used up
            dl = abs(dt - values[gl]) if gl >= 0 else np.inf
            dr = abs(dt - values[gr]) if gr < n_groups else np.inf
            best = min(dl, dr)
            if width is not None and best > width:
                continue
            candidates = []
            g = gl
            while g >= 0 and abs(dt - values[g]) == best:
                candidates.append(g)
                g = _find(left, g - 1) if g > 0 else -1
            g = gr
            while g < n_groups and abs(dt - values[g]) == best:
                candidates.append(g)
                g = _find(right, g + 1) if g + 1 < n_groups else n_groups
            chosen = min(candidates, key=lambda c: pool[next_member[c]])
            out.append((t, int(pool[next_member[chosen]]), rank))
            next_member[chosen] += 1
            if next_member[chosen] == end[chosen]:
                left[chosen] = chosen - 1
                right[chosen] = chosen + 1


def _nearest_with_replacement(groups: _Groups, d: np.ndarray, order: np.ndarray, ratio: int,
                              width: float | None, out: list) -> None:
    values, pool, start, end = groups.values, groups.pool, groups.start, groups.end
    n_groups = groups.n
    for t, p in zip(order.tolist(), groups.insertion(d[order]).tolist()):
        dt = d[t]
        candidates = []
        for step, g in ((-1, p - 1), (1, p)):
            taken, last = 0, None
            while 0 <= g < n_groups:
                diff = abs(dt - values[g])
                if width is not None and diff > width:
                    break
                if taken >= ratio and diff != last:
                    break
                members = pool[start[g]:min(end[g], start[g] + ratio)]
                candidates.extend((diff, int(c)) for c in members)
                taken += len(members)
                last = diff
                g += step
        candidates.sort()
        for rank, (_, c) in enumerate(candidates[:ratio], start=1):
            out.append((t, c, rank))


def nearest_match(distance, treated, width: float | None = None, ratio: int = 1,
                  replace: bool = False, strata=None, m_order: str = "largest",
                  order_by=None) -> Matching:
    """Greedy k:1 nearest-neighbour matching on a given distance, MatchIt's semantics.

    ``distance``: one number per unit; ``treated``: booleans; ``width``: caliper in distance units
    or None; ``ratio``: k; ``replace``: whether comparison units may be reused; ``strata``:
    optional exact-matching label per unit; ``m_order``: order the treated are taken in
    (:func:`treated_order`), judged on ``order_by`` (default: ``distance``).

    Without replacement: k passes; in each, every treated unit in turn takes the nearest unused
    comparison unit of its stratum (``|d_t - d_c|``; at equal distance the first in data order),
    if within ``width``. With replacement: each treated unit takes its k nearest distinct
    comparison units (same ordering and caliper). Weights as MatchIt's ``weights.matrix`` for the
    ATT (module docstring). Cost O((n_treated * k) log n + n log n); no distance matrix.
    """
    d = np.asarray(distance, dtype=float)
    t = np.asarray(treated, dtype=bool)
    n = len(d)
    if int(ratio) != ratio or ratio < 1:
        raise ValueError("ratio must be a whole number >= 1")
    ratio = int(ratio)
    if width is not None and (not np.isfinite(width) or width < 0):
        raise ValueError("the caliper width must be a finite number >= 0")
    codes = _strata_codes(strata, n)
    order = treated_order(d if order_by is None else order_by, t, m_order)
    pools = _by_stratum(codes, np.flatnonzero(~t))
    pairs: list = []
    for code, stratum_order in _by_stratum(codes, order).items():
        if code not in pools:
            continue
        groups = _Groups(*_sorted_pool(d, pools[code]))
        run = _nearest_with_replacement if replace else _nearest_without_replacement
        run(groups, d, stratum_order, ratio, width, pairs)
    tp = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    cp = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    rk = np.fromiter((p[2] for p in pairs), dtype=np.int64, count=len(pairs))
    n_matched_to = np.bincount(tp, minlength=n).astype(np.int64)
    weights = np.bincount(cp, weights=1.0 / n_matched_to[tp], minlength=n) if len(tp) else np.zeros(n)
    total = weights.sum()
    if total > 0:
        weights *= np.count_nonzero(weights) / total
    weights[tp] = 1.0
    return Matching(weights=weights, n_matched_to=n_matched_to, _pairs=("list", (tp, cp, rk)))


# --------------------------------------------------------------------------------------------
# the entry point


# --------------------------------------------------------------------------------------------
# the summary of a match, shaped like MatchIt's summary()

SAMPLE_SIZE_ROWS = ("All (ESS)", "All", "Matched (ESS)", "Matched", "Unmatched", "Discarded")
SAMPLE_SIZE_COLUMNS = ("Control", "Treated")


def _listed(names) -> str:
    return ", ".join(names) if names else "none"


@dataclass(frozen=True, eq=False)
class MatchSummary:
    """The summary of a match (:meth:`MatchResult.summary`), as R's ``summary.matchit``: its
    settings, its sample sizes and its balance table. Aggregates only: counts, settings and
    covariate names, never a unit's data.

    Settings: ``method``, ``distance`` (``"logit"`` or ``"propensity"``), ``caliper_sd`` (in SD of
    the distance; None: no caliper) and ``caliper_width`` (in distance units), ``ratio``,
    ``replace``, ``m_order``, ``exact`` (exact-matching columns), ``covariates``; the propensity
    model's ``estimator``, ``separated_terms``, ``dropped_constant_terms`` and
    ``dropped_collinear_terms``.

    Counts (people): ``n_treated`` / ``n_comparison_pool`` given to the matching,
    ``n_treated_matched`` / ``n_comparison_distinct`` with positive weight,
    ``n_comparison_outside_strata`` left out before matching because no treated unit shares their
    exact-matching stratum; ``effective_comparison_size`` (Kish: (sum w)^2 / sum w^2 over the
    comparison group). :attr:`sample_sizes` lays them out as MatchIt does. :attr:`balance` is
    the match's balance table (:class:`jdl.stats.balance.Balance`), computed on first use.
    """

    method: str
    distance: str
    caliper_sd: float | None
    caliper_width: float | None
    ratio: int
    replace: bool
    m_order: str
    exact: tuple[str, ...]
    covariates: tuple[str, ...]
    estimator: str
    separated_terms: tuple[str, ...]
    dropped_constant_terms: tuple[str, ...]
    dropped_collinear_terms: tuple[str, ...]
    n_treated: int
    n_treated_matched: int
    n_comparison_pool: int
    n_comparison_outside_strata: int
    n_comparison_distinct: int
    effective_comparison_size: float
    result: MatchResult = field(repr=False, compare=False)

    @property
    def n_treated_dropped(self) -> int:
        """Treated units left without a comparison match."""
        return self.n_treated - self.n_treated_matched

    @property
    def balance(self):
        """The balance table (:meth:`MatchResult.balance`), computed once, on first use."""
        return self.result.balance()

    @property
    def sample_sizes(self) -> pd.DataFrame:
        """Sample sizes as MatchIt's ``summary()`` gives them (its ``nn``): rows
        :data:`SAMPLE_SIZE_ROWS`, columns ``Control`` and ``Treated``, floats.

        "All": the units given to the matching; "All (ESS)": their effective size, equal to "All"
        (every unit weighs 1 before matching: no sampling weights); "Matched": units with a positive
        matching weight; "Matched (ESS)": the effective size of the weighted matched group,
        (sum w)^2 / sum w^2 (the treated weigh 1, so for them it equals "Matched"); "Unmatched":
        weight 0 and not discarded; "Discarded": left out before matching (MatchIt: by its
        common-support rule; here: comparison units outside every treated unit's exact-matching
        stratum, never a treated unit).
        """
        control_unmatched = self.n_comparison_pool - self.n_comparison_distinct - self.n_comparison_outside_strata
        rows = {
            "All (ESS)": (self.n_comparison_pool, self.n_treated),
            "All": (self.n_comparison_pool, self.n_treated),
            "Matched (ESS)": (self.effective_comparison_size, self.n_treated_matched),
            "Matched": (self.n_comparison_distinct, self.n_treated_matched),
            "Unmatched": (control_unmatched, self.n_treated_dropped),
            "Discarded": (self.n_comparison_outside_strata, 0),
        }
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(SAMPLE_SIZE_COLUMNS), dtype=float)

    def _shown_sample_sizes(self) -> pd.DataFrame:
        """The sample sizes as printed: an "(ESS)" row only where it differs from its count (as
        MatchIt prints them); counts as whole numbers, effective sizes to 2 decimals."""
        sizes = self.sample_sizes
        keep = [row for row in SAMPLE_SIZE_ROWS
                if not (row.endswith(" (ESS)") and np.allclose(sizes.loc[row], sizes.loc[row[:-6]]))]
        return sizes.loc[keep].map(lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}")

    def settings(self) -> dict[str, str]:
        """The match's settings in words, one line each (label -> text)."""
        caliper = ("none" if self.caliper_sd is None
                   else f"{self.caliper_sd:g} SD of the distance (width {self.caliper_width:.4g})")
        lines = {"Method": self.method, "Distance": self.distance, "Caliper": caliper}
        if self.method == "nearest":
            lines.update({"Ratio": f"{self.ratio}:1", "Order": self.m_order})
        lines.update({
            "Replacement": "with replacement" if self.replace else "without replacement",
            "Exact matching on": _listed(self.exact),
            "Covariates": _listed(self.covariates),
            "Propensity model": self.estimator,
            "Separated terms": _listed(self.separated_terms),
            "Dropped terms (constant)": _listed(self.dropped_constant_terms),
            "Dropped terms (collinear)": _listed(self.dropped_collinear_terms),
        })
        return lines

    def as_dict(self) -> dict:
        """The headline facts as plain numbers, words and lists (JSON-ready): method, distance,
        caliper_sd, caliper_width, ratio, replace, exact, the counts, effective_comparison_size,
        dropped_constant_terms, estimator, separated_terms, dropped_collinear_terms."""
        return {
            "method": self.method,
            "distance": self.distance,
            "caliper_sd": self.caliper_sd,
            "caliper_width": self.caliper_width,
            "ratio": self.ratio,
            "replace": self.replace,
            "exact": list(self.exact),
            "n_treated": self.n_treated,
            "n_treated_matched": self.n_treated_matched,
            "n_treated_dropped": self.n_treated_dropped,
            "n_comparison_pool": self.n_comparison_pool,
            "n_comparison_outside_strata": self.n_comparison_outside_strata,
            "n_comparison_distinct": self.n_comparison_distinct,
            "effective_comparison_size": self.effective_comparison_size,
            "dropped_constant_terms": list(self.dropped_constant_terms),
            "estimator": self.estimator,
            "separated_terms": list(self.separated_terms),
            "dropped_collinear_terms": list(self.dropped_collinear_terms),
        }

    def _balance_shown(self) -> pd.DataFrame:
        table = self.balance.table.copy()
        numbers = [c for c in table.columns if c != "band_after"]
        table[numbers] = table[numbers].round(2)
        return table

    def __str__(self) -> str:
        width = max(len(label) for label in self.settings())
        lines = ["Match summary", ""]
        lines += [f"{label + ':':<{width + 1}} {text}" for label, text in self.settings().items()]
        lines += ["", "Sample sizes:", self._shown_sample_sizes().to_string(), ""]
        lines += ["Balance:", self._balance_shown().to_string(), "", self.balance.conventions]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """The summary as HTML tables (settings, sample sizes, balance); every cell and label
        escaped, so a covariate or level name is shown as text, never read as markup."""
        settings = pd.DataFrame({"setting": list(self.settings().values())},
                                index=pd.Index(list(self.settings()), name=None))
        parts = ["<div class=\"jdl-match-summary\">", "<h4>Match summary</h4>",
                 settings.to_html(escape=True, header=False),
                 "<h4>Sample sizes</h4>", self._shown_sample_sizes().to_html(escape=True),
                 "<h4>Balance</h4>", self._balance_shown().to_html(escape=True),
                 f"<p>{html.escape(self.balance.conventions)}</p>", "</div>"]
        return "\n".join(parts)


@dataclass(frozen=True, eq=False)
class MatchResult:
    """The outcome of :func:`match`: weights, counts, the propensity model and diagnostics.

    Series are aligned to the data's index. ``propensity``: fitted propensity score;
    ``distance``: the score matched on (``distance_kind`` says which); ``weights``: treated
    matched 1, treated unmatched 0, comparison as the method says, unused 0; ``treated``: bool.
    ``caliper`` is in SD units as given, ``caliper_width`` in distance units (None: no caliper).
    ``n_outside_strata``: comparison units left out because no treated unit shares their
    exact-matching stratum (their propensity and distance are NaN, their weight 0).
    """

    method: str
    distance_kind: str
    caliper: float | None
    caliper_width: float | None
    ratio: int
    replace: bool
    m_order: str
    exact: tuple[str, ...]
    treatment: str
    covariates: tuple[str, ...]
    propensity: pd.Series
    distance: pd.Series
    weights: pd.Series
    treated: pd.Series
    propensity_model: PropensityModel
    data: pd.DataFrame
    matching: Matching
    n_outside_strata: int = 0

    @property
    def model(self):
        """The fitted statsmodels result of the propensity model (``LogitResults``)."""
        return self.propensity_model.result

    def coefficients(self) -> pd.DataFrame:
        """The propensity model's coefficients: ``coef``, ``se``, ``z``, ``p`` per term."""
        return self.propensity_model.coefficients()

    @property
    def n_treated(self) -> int:
        """Treated units given to the matching."""
        return int(self.treated.sum())

    @property
    def n_treated_matched(self) -> int:
        """Treated units with at least one comparison match (weight 1)."""
        return int((self.weights[self.treated] > 0).sum())

    @property
    def n_treated_dropped(self) -> int:
        """Treated units with no comparison match (attrition: no comparison match)."""
        return self.n_treated - self.n_treated_matched

    @property
    def n_comparison_pool(self) -> int:
        """Comparison units given to the matching."""
        return int((~self.treated).sum())

    @property
    def n_comparison_distinct(self) -> int:
        """Distinct comparison units with positive weight (the comparison group size reported)."""
        return int((self.weights[~self.treated] > 0).sum())

    @property
    def effective_comparison_size(self) -> float:
        """(sum w)^2 / sum w^2 over the comparison units (Kish's effective sample size)."""
        w = self.weights[~self.treated].to_numpy()
        w = w[w > 0]
        return float(w.sum() ** 2 / (w ** 2).sum()) if len(w) else 0.0

    @property
    def dropped_treated(self) -> pd.Index:
        """Index labels of the treated units left without a comparison match (they leave the
        analysis: attrition, "no comparison match")."""
        return self.data.index[(self.treated & (self.weights == 0)).to_numpy()]

    @property
    def n_pairs(self) -> int:
        """Number of (treated, comparison) pairs, i.e. rows of :attr:`matches`."""
        return int(self.matching.n_matched_to[self.treated.to_numpy()].sum())

    def matched(self) -> pd.DataFrame:
        """The rows of the data with positive weight, with their weight in a ``weights`` column."""
        keep = self.weights > 0
        return self.data.loc[keep.to_numpy()].assign(weights=self.weights[keep].to_numpy())

    @cached_property
    def matches(self) -> pd.DataFrame:
        """Who was matched to whom, one row per (treated, comparison) pair: ``treated`` and
        ``comparison`` (index labels of the data), ``weight`` (1/number matched to that treated
        unit) and ``match_number`` (the pass, 1..k, for nearest; 0 for radius). For radius this
        spells out every pair inside the caliper, which can be many rows (see :attr:`n_pairs`
        first)."""
        pairs = self.matching.pairs()
        labels = self.data.index
        return pd.DataFrame({"treated": labels[pairs["treated"].to_numpy()],
                             "comparison": labels[pairs["comparison"].to_numpy()],
                             "weight": pairs["weight"].to_numpy(),
                             "match_number": pairs["match_number"].to_numpy()})

    def balance(self):
        """The balance table of methodology section 5 (:class:`jdl.stats.balance.Balance`), computed
        once and kept."""
        return self._balance

    @cached_property
    def _balance(self):
        from jdl.stats.balance import balance_of
        return balance_of(self)

    def summary(self) -> MatchSummary:
        """The match's summary, as R's ``summary.matchit``: settings, sample sizes and balance
        (:class:`MatchSummary`; ``summary().as_dict()`` gives the headline facts as a dict)."""
        model = self.propensity_model
        return MatchSummary(
            method=self.method, distance=self.distance_kind, caliper_sd=self.caliper,
            caliper_width=self.caliper_width, ratio=self.ratio, replace=self.replace, m_order=self.m_order,
            exact=tuple(self.exact), covariates=tuple(self.covariates), estimator=model.estimator,
            separated_terms=tuple(model.separated), dropped_constant_terms=tuple(model.dropped_constant),
            dropped_collinear_terms=tuple(model.dropped_collinear), n_treated=self.n_treated,
            n_treated_matched=self.n_treated_matched, n_comparison_pool=self.n_comparison_pool,
            n_comparison_outside_strata=self.n_outside_strata, n_comparison_distinct=self.n_comparison_distinct,
            effective_comparison_size=self.effective_comparison_size, result=self)

    def __repr__(self) -> str:
        caliper = "no caliper" if self.caliper is None else f"caliper {self.caliper:g} SD"
        return (f"MatchResult({self.method} on {self.distance_kind}, {caliper}: "
                f"{self.n_treated_matched} of {self.n_treated} treated matched to "
                f"{self.n_comparison_distinct} of {self.n_comparison_pool} comparison "
                f"(effective size {self.effective_comparison_size:.1f}))")


def _unique_labels(index: pd.Index) -> bool:
    """Whether ``index`` holds each label once (missing labels are one label), counted from its
    distinct values (for Arrow strings, one pass in Arrow: half the time of ``Index.is_unique`` at
    a million rows, which builds the index's lookup table, needed by nothing here)."""
    if isinstance(index, pd.MultiIndex):
        return index.is_unique
    return len(pd.unique(index.array)) == len(index)


@without_hugepages()
def match(data: pd.DataFrame, treatment: str = "treated", covariates=(), method: str = "radius",
          ratio: int = 1, replace: bool = True, caliper: float | None = DEFAULT_CALIPER,
          exact=None, distance: str | None = None, m_order: str = "largest",
          propensity_model: PropensityModel | None = None) -> MatchResult:
    """Propensity score matching of the treated rows of ``data`` to its comparison rows.

    ``data``: one row per unit (treated and comparison pool), unique index, no missing values in
    the treatment, covariates or exact-matching columns (rows with missing data belong in the
    attrition bucket before this is called). ``treatment``: a bool or 0/1 column.
    ``covariates``: columns for the logistic propensity model; object/string/category/bool
    columns are one-hot coded with the first level dropped.

    ``method``: ``"radius"`` (default; methodology section 4) or ``"nearest"`` (MatchIt's k:1
    greedy nearest neighbour; see the module docstring). ``ratio`` and ``m_order``
    (``"largest"``, ``"smallest"``, ``"data"``) apply to nearest. ``replace``: nearest with or
    without replacement (default True here; MatchIt's default is False); radius is always with
    replacement (False is an error).

    ``distance``: the score matched on, ``"logit"`` (the linear predictor, log odds of the
    propensity score) or ``"propensity"`` (the score itself). Default: ``"logit"`` for radius,
    ``"propensity"`` for nearest (MatchIt's ``distance = "glm"``).

    ``caliper``: in standard deviations of the distance, the SD taken over all units (treated and
    comparison, ddof 1), as MatchIt's ``std.caliper = TRUE``; None for no caliper (nearest only).
    ``exact``: column name(s) to match exactly on (matching is done within each stratum).
    Comparison units in strata with no treated unit can never be matched; they are left out of
    the propensity model and the caliper SD too (so that, say, a men-only programme with exact
    matching on sex does not meet perfect separation on sex), and counted in
    ``n_outside_strata``. MatchIt fits on everyone; the two agree whenever every stratum holds a
    treated unit.

    ``propensity_model``: a :class:`PropensityModel` already fitted by :func:`fit_propensity` on
    the same rows (e.g. ``earlier_result.propensity_model``), to match again without refitting.

    Returns a :class:`MatchResult`. Raises ValueError for bad inputs (naming the columns) and
    :class:`PropensityModelError` when the propensity model cannot be fitted.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    distance = DEFAULT_DISTANCE[method] if distance is None else distance
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}")
    if m_order not in M_ORDERS:
        raise ValueError(f"m_order must be one of {M_ORDERS}")
    if method == "radius":
        if caliper is None:
            raise ValueError("radius matching needs a caliper")
        if not replace:
            raise ValueError("radius matching is always with replacement (replace=True)")
        if ratio != 1:
            raise ValueError("ratio applies to nearest-neighbour matching only")
    if caliper is not None and (not np.isfinite(caliper) or caliper <= 0):
        raise ValueError("caliper must be a positive number of standard deviations, or None")
    if not _unique_labels(data.index):
        raise ValueError("the data's index must be unique (it labels the units in the result)")
    covariates = tuple(covariates)
    if not covariates:
        raise ValueError("give at least one covariate for the propensity model")
    exact = () if exact is None else ((exact,) if isinstance(exact, str) else tuple(exact))
    check_no_missing(data, exact, role="exact-matching")

    treated_all = treatment_indicator(data, treatment)
    strata_all = None
    used = np.ones(len(data), dtype=bool)
    if exact:
        strata_all = data[list(exact)].groupby(list(exact), sort=True, observed=True).ngroup().to_numpy()
        used = np.isin(strata_all, np.unique(strata_all[treated_all]))
    fit_data = data if used.all() else data.loc[used]
    if propensity_model is None:
        model = fit_propensity(fit_data, treatment, covariates)
    elif len(propensity_model.propensity) != len(fit_data):
        raise ValueError("propensity_model was fitted on other rows than these")
    else:
        model = propensity_model
    treated = treated_all[used]
    score = model.linear_predictor if distance == "logit" else model.propensity
    width = None if caliper is None else float(caliper * np.std(score, ddof=1))
    strata = None if strata_all is None else strata_all[used]
    if method == "radius":
        matching = radius_match(score, treated, width, strata)
    else:
        matching = nearest_match(score, treated, width, ratio=ratio, replace=replace,
                                 strata=strata, m_order=m_order)
    if not used.all():
        matching = _widen(matching, used)

    def per_unit(values, name, fill=np.nan):
        full = np.full(len(data), fill, dtype=float)
        full[used] = values
        return pd.Series(full, index=data.index, name=name)

    return MatchResult(
        method=method, distance_kind=distance, caliper=caliper, caliper_width=width,
        ratio=int(ratio), replace=bool(replace), m_order=m_order, exact=exact,
        treatment=treatment, covariates=covariates,
        propensity=per_unit(model.propensity, "propensity"),
        distance=per_unit(score, "distance"),
        weights=pd.Series(matching.weights, index=data.index, name="weights"),
        treated=pd.Series(treated_all, index=data.index, name=treatment),
        propensity_model=model, data=data, matching=matching,
        n_outside_strata=int((~used).sum()))


def _widen(matching: Matching, used: np.ndarray) -> Matching:
    """A matching done on the rows ``used`` re-expressed on all rows (the others weight 0)."""
    positions = np.flatnonzero(used)
    weights = np.zeros(len(used))
    weights[used] = matching.weights
    n_matched_to = np.zeros(len(used), dtype=np.int64)
    n_matched_to[used] = matching.n_matched_to
    kind, payload = matching._pairs
    if kind == "list":
        t, c, r = payload
        payload = (positions[t], positions[c], r)
    else:
        payload = [(positions[pool], positions[tp], lo, hi) for pool, tp, lo, hi in payload]
    return Matching(weights=weights, n_matched_to=n_matched_to, _pairs=(kind, payload))
