"""Propensity score matching (methodology section 4), shaped like R's MatchIt.

One entry point, :func:`match`, fits a logistic propensity model of treatment on the covariates
(statsmodels), matches each treated person to comparison people on a distance derived from it, and
returns a :class:`MatchResult` that carries its own diagnostics: weights, counts, the fitted model,
who was matched to whom and the balance table (:mod:`jdl.balance`).

Two methods:

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
people fall inside each caliper.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.discrete.discrete_model import BinaryResultsWrapper, LogitResults

METHODS = ("radius", "nearest")
DISTANCES = ("logit", "propensity")
M_ORDERS = ("largest", "smallest", "data")
DEFAULT_DISTANCE = {"radius": "logit", "nearest": "propensity"}
DEFAULT_CALIPER = 0.2
CONSTANT = "const"
DISTANCE_LABELS = {"logit": "distance (logit of propensity score)",
                   "propensity": "distance (propensity score)"}

_MAX_ITERATIONS = 50
_TOLERANCE = 1e-10
_CHORD_BELOW = 1e-3
_COLLINEAR_EIGENVALUE = 1e-10


class PropensityModelError(ValueError):
    """The propensity model cannot be fitted as asked (separation, collinearity, no convergence).

    The message names the covariate columns involved and says what to change.
    """


# --------------------------------------------------------------------------------------------
# inputs


def is_categorical(column: pd.Series) -> bool:
    """True when ``column`` is treated as categorical: object, string, category or bool dtype."""
    dtype = column.dtype
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def category_codes(column: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes (0, 1, ...) of a categorical column and its levels, in a deterministic
    order: a category dtype's own order (unused categories left out), False then True for bool,
    otherwise sorted values (sorted by their text when the values cannot be compared)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.cat.remove_unused_categories()
        return column.cat.codes.to_numpy(dtype=np.int64), list(column.cat.categories)
    try:
        codes, levels = pd.factorize(column, sort=True)
    except TypeError:  # mixed types: order by their text
        codes, levels = pd.factorize(column)
        order = sorted(range(len(levels)), key=lambda i: str(levels[i]))
        recode = np.empty(len(order), dtype=np.int64)
        recode[order] = np.arange(len(order))
        return recode[codes], [levels[i] for i in order]
    return np.asarray(codes, dtype=np.int64), list(levels)


def category_levels(column: pd.Series) -> list:
    """The levels of a categorical column that occur in it, in :func:`category_codes` order."""
    return category_codes(column)[1]


def check_no_missing(data: pd.DataFrame, columns, role: str = "covariate") -> None:
    """Raise ValueError naming every column of ``columns`` that is absent from ``data`` or has
    missing (or, for numbers, infinite) values. ``role`` is the word used in the message."""
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise ValueError(f"{role} column(s) not in the data: {', '.join(map(str, absent))}")
    bad = []
    for column in columns:
        values = data[column]
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
    if not pd.api.types.is_numeric_dtype(values.dtype) or not values.isin([0, 1]).all():
        raise ValueError(f"treatment column {treatment!r} must be bool or 0/1")
    return values.to_numpy() == 1


def covariate_matrix(data: pd.DataFrame, covariates, drop_first: bool, constant: bool = False
                     ) -> tuple[np.ndarray, list[str]]:
    """The covariates as a float64 matrix (Fortran order, rows in data order) and column names.

    Numeric covariates enter as they are; categorical ones (see :func:`is_categorical`) one-hot,
    one 0/1 column per level named ``"<column>_<level>"`` in :func:`category_codes` order, the
    first level left out when ``drop_first``. ``constant`` puts a column of ones first (named
    ``"const"``).
    """
    plan = []
    for column in covariates:
        values = data[column]
        if is_categorical(values):
            codes, levels = category_codes(values)
            kept = list(enumerate(levels))[1 if drop_first else 0:]
            plan.append((column, codes, kept))
        else:
            plan.append((column, values, None))
    width = int(constant) + sum(1 if kept is None else len(kept) for _, _, kept in plan)
    matrix = np.empty((len(data), width), order="F")
    names = []
    j = 0
    if constant:
        matrix[:, 0] = 1.0
        names.append(CONSTANT)
        j = 1
    for column, values, kept in plan:
        if kept is None:
            matrix[:, j] = values.to_numpy(dtype=float)
            names.append(str(column))
            j += 1
            continue
        for code, level in kept:
            np.equal(values, code, out=matrix[:, j], casting="unsafe")
            names.append(f"{column}_{level}")
            j += 1
    return matrix, names


def model_design(data: pd.DataFrame, covariates) -> tuple[np.ndarray, list[str]]:
    """The propensity model's design matrix: a constant, then each covariate in the order given,
    categorical ones one-hot with the first level dropped (:func:`covariate_matrix`)."""
    return covariate_matrix(data, covariates, drop_first=True, constant=True)


# --------------------------------------------------------------------------------------------
# propensity model


@dataclass(frozen=True, eq=False)
class PropensityModel:
    """A fitted propensity model: the statsmodels result, the names of its design columns, the
    design columns dropped because they were constant, and per unit (data order) the linear
    predictor (log odds) and the propensity score."""

    result: object
    columns: tuple[str, ...]
    dropped_constant: tuple[str, ...]
    linear_predictor: np.ndarray
    propensity: np.ndarray

    def coefficients(self) -> pd.DataFrame:
        """The coefficients table: ``coef``, ``se``, ``z``, ``p`` per design column."""
        res = self.result
        return pd.DataFrame({"coef": np.asarray(res.params), "se": np.asarray(res.bse),
                             "z": np.asarray(res.tvalues), "p": np.asarray(res.pvalues)},
                            index=pd.Index(self.columns, name="term"))


def _separation_problems(data: pd.DataFrame, covariates, treated: np.ndarray) -> list[str]:
    """Levels of categorical covariates (and values of 0/1 numeric ones) held only by treated or
    only by comparison units: quasi-complete separation, where the model's coefficients would run
    to infinity. Returns one description per offending level."""
    problems = []
    for column in covariates:
        values = data[column]
        if is_categorical(values):
            codes, levels = category_codes(values)
        else:
            numbers = values.to_numpy(dtype=float)
            if not np.isin(numbers, (0.0, 1.0)).all():
                continue
            codes, levels = numbers.astype(np.int64), [0, 1]
        if len(levels) < 2:
            continue  # constant: dropped from the model
        everyone = np.bincount(codes, minlength=len(levels))
        among_treated = np.bincount(codes, weights=treated, minlength=len(levels)).round()
        for level, n, n_treated in zip(levels, everyone, among_treated):
            if n and n_treated == 0:
                problems.append(f"{column} = {level} ({n} units, none treated)")
            elif n and n_treated == n:
                problems.append(f"{column} = {level} ({n} units, all treated)")
    return problems


def _collinear_columns(gram: np.ndarray, names: list[str]) -> list[str]:
    """Design columns involved in an exact linear dependence, judged on a (weighted) Gram matrix
    X'WX (empty when of full rank)."""
    scale = np.sqrt(np.diag(gram))
    if np.any(scale == 0):
        return [names[j] for j in np.flatnonzero(scale == 0)]
    cosine = gram / np.outer(scale, scale)
    eigenvalues, eigenvectors = np.linalg.eigh(cosine)
    small = eigenvalues <= _COLLINEAR_EIGENVALUE * eigenvalues[-1]
    if not small.any():
        return []
    involved = set()
    for k in np.flatnonzero(small):
        involved |= set(np.flatnonzero(np.abs(eigenvectors[:, k]) > 0.05).tolist())
    return [names[j] for j in sorted(involved)]


_GRAM_ROWS = 65536
_START_SAMPLE = 50_000


def _weighted_gram(design: np.ndarray, weights: np.ndarray, dtype=np.float64) -> np.ndarray:
    """X' diag(w) X, computed over blocks of rows (no n x k temporary), in ``dtype``
    (float32 halves the cost; the result is accumulated in float64)."""
    k = design.shape[1]
    gram = np.zeros((k, k))
    for start in range(0, design.shape[0], _GRAM_ROWS):
        block = design[start:start + _GRAM_ROWS].astype(dtype, copy=False)
        scaled = block * weights[start:start + _GRAM_ROWS, None].astype(dtype, copy=False)
        gram += scaled.T @ block
    return gram


def _loglike(eta: np.ndarray, y: np.ndarray) -> float:
    """Logistic log-likelihood at linear predictor ``eta``."""
    return float(y @ eta - np.logaddexp(0.0, eta).sum())


def _check_collinear(gram: np.ndarray, names: list[str]) -> None:
    collinear = _collinear_columns(gram, names)
    if collinear:
        raise PropensityModelError(
            "collinear covariates in the propensity model (one is a linear combination of the "
            f"others): {', '.join(collinear)}. Drop one of them.")


def _newton_logit(design: np.ndarray, y: np.ndarray, names: list[str], scale: np.ndarray,
                  beta: np.ndarray, gram_dtype=np.float32):
    """Maximum-likelihood logistic coefficients by Newton's method from ``beta``.

    Steps are halved while they lower the likelihood. The score is exact (float64), so the fixed
    point is the exact maximum; the Hessian only steers, so after the first (float64, checked for
    collinearity) it is computed in ``gram_dtype`` and, near the optimum, reused (chord steps).
    Converged when no coefficient moves by more than 1e-10 per unit of its column's range
    (``scale``), or no unit's linear predictor moves by more than 1e-10 (with an uncentred column
    such as the index year, the intercept can keep wobbling in its last digits while every fitted
    score is settled). Returns the coefficients and the number of iterations. Raises
    PropensityModelError for collinear columns or no convergence.
    """
    eta = design @ beta
    loglike = _loglike(eta, y)
    hessian = None
    refresh = True
    for iteration in range(1, _MAX_ITERATIONS + 1):
        p = expit(eta)
        score = design.T @ (y - p)
        if hessian is None:
            hessian = _weighted_gram(design, p * (1 - p))
            _check_collinear(hessian, names)
        elif refresh:
            hessian = _weighted_gram(design, p * (1 - p), gram_dtype)
        try:
            step = np.linalg.solve(hessian, score)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        length = 1.0
        while True:
            trial = beta + length * step
            eta_trial = design @ trial
            loglike_trial = _loglike(eta_trial, y)
            if loglike_trial >= loglike - 1e-12 * abs(loglike) or length < 1e-4:
                break
            length /= 2
        moved = np.max(np.abs(eta_trial - eta))
        beta, eta, loglike = trial, eta_trial, loglike_trial
        size = length * np.max(np.abs(step) * scale)
        if size < _TOLERANCE or moved < _TOLERANCE:
            return beta, iteration
        refresh = size > _CHORD_BELOW
    largest = np.argsort(-np.abs(beta * scale))[:3]
    raise PropensityModelError(
        f"the propensity model did not converge in {_MAX_ITERATIONS} Newton iterations (often a "
        "sign of separation by a numeric covariate); largest effects: "
        + ", ".join(f"{names[j]} (coef {beta[j]:.3g})" for j in largest))


def _starting_values(design: np.ndarray, y: np.ndarray, treated: np.ndarray, names: list[str],
                     scale: np.ndarray) -> np.ndarray:
    """Starting coefficients: intercept-only, or for a large pool the fit on every treated unit
    and a systematic sample (every m-th row) of the pool, its intercept corrected by the log of
    the sampling fraction (case-control sampling leaves the slopes consistent)."""
    start = np.zeros(design.shape[1])
    ybar = y.mean()
    start[0] = np.log(ybar / (1 - ybar))
    pool = np.flatnonzero(~treated)
    stride = len(pool) // max(_START_SAMPLE, 20 * int(treated.sum()))
    if stride < 2:
        return start
    rows = np.sort(np.r_[np.flatnonzero(treated), pool[::stride]])
    sample_y = y[rows]
    sample_start = np.zeros(design.shape[1])
    sample_start[0] = np.log(sample_y.mean() / (1 - sample_y.mean()))
    try:
        beta, _ = _newton_logit(np.asfortranarray(design[rows]), sample_y, names, scale,
                                sample_start, gram_dtype=np.float64)
    except (PropensityModelError, np.linalg.LinAlgError):
        return start  # e.g. a rare level missing from the sample
    beta[0] += np.log(len(pool[::stride]) / len(pool))
    return beta


def fit_propensity(data: pd.DataFrame, treatment: str, covariates) -> PropensityModel:
    """Fit the logistic regression of treatment on the covariates.

    Categorical covariates are one-hot coded (:func:`model_design`); design columns that are
    constant are dropped and listed in ``dropped_constant``. The maximum-likelihood estimate is
    found by Newton's method (:func:`_newton_logit`; the same estimate as statsmodels'
    ``Logit.fit`` and R's ``glm``) and returned as a statsmodels ``LogitResults`` built on it,
    with the covariance from the Hessian at the estimate, exactly as ``Logit.fit`` builds it.
    Raises ValueError for missing values (naming the columns) and :class:`PropensityModelError`
    when the model cannot be fitted: separation by a binary column, collinear columns, or no
    convergence.
    """
    covariates = list(covariates)
    check_no_missing(data, covariates)
    treated = treatment_indicator(data, treatment)
    if treated.all() or not treated.any():
        raise ValueError("the data must hold both treated and comparison units")
    design, names = model_design(data, covariates)

    lows, highs = design.min(axis=0), design.max(axis=0)
    varying = lows < highs
    varying[0] = True
    dropped = tuple(n for n, keep in zip(names, varying) if not keep)
    if dropped:
        design = np.asfortranarray(design[:, varying])
        names = [n for n, keep in zip(names, varying) if keep]
        lows, highs = lows[varying], highs[varying]

    separated = _separation_problems(data, covariates, treated)
    if separated:
        raise PropensityModelError(
            "perfect separation in the propensity model: " + "; ".join(separated)
            + ". Merge or drop those levels, or drop the people concerned, before matching.")
    y = treated.astype(float)
    scale = np.r_[1.0, (highs - lows)[1:]]
    start = _starting_values(design, y, treated, names, scale)
    try:
        beta, iterations = _newton_logit(design, y, names, scale, start)
    except PropensityModelError:
        # the float32 chord Hessian can stall when columns differ greatly in size (an index year
        # beside 0/1 indicators, in a small sub-group); the float64 one does not
        beta, iterations = _newton_logit(design, y, names, scale, start, gram_dtype=np.float64)
    linear = design @ beta
    propensity = expit(linear)
    try:
        covariance = np.linalg.inv(_weighted_gram(design, propensity * (1 - propensity)))
    except np.linalg.LinAlgError:
        raise PropensityModelError("the propensity model's Hessian cannot be inverted; check "
                                   "the covariates for separation or collinearity") from None

    exog = pd.DataFrame(design, columns=names, index=data.index, copy=False)
    model = sm.Logit(y, exog, check_rank=False)
    fit = LikelihoodModelResults(model, beta, normalized_cov_params=covariance, scale=1.0)
    fit.mle_retvals = {"converged": True, "iterations": iterations}
    fit.mle_settings = {"optimizer": "newton", "tol": _TOLERANCE, "maxiter": _MAX_ITERATIONS}
    result = BinaryResultsWrapper(LogitResults(model, fit))
    return PropensityModel(result=result, columns=tuple(names), dropped_constant=dropped,
                           linear_predictor=linear, propensity=propensity)


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
    """Pool positions sorted by (distance, position), and their distances."""
    order = np.argsort(distance[pool_positions], kind="stable")
    sorted_pool = pool_positions[order]
    return sorted_pool, distance[sorted_pool]


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
        """The balance table of methodology section 5 (:class:`jdl.balance.Balance`), computed
        once and kept."""
        return self._balance

    @cached_property
    def _balance(self):
        from jdl.balance import balance_of
        return balance_of(self)

    def summary(self) -> dict:
        """The headline facts of the match, as plain numbers and words."""
        return {
            "method": self.method,
            "distance": self.distance_kind,
            "caliper_sd": self.caliper,
            "caliper_width": self.caliper_width,
            "ratio": self.ratio,
            "replace": self.replace,
            "exact": list(self.exact),
            "n_treated": self.n_treated,
            "n_treated_matched": self.n_treated_matched,
            "n_treated_dropped": self.n_treated_dropped,
            "n_comparison_pool": self.n_comparison_pool,
            "n_comparison_outside_strata": self.n_outside_strata,
            "n_comparison_distinct": self.n_comparison_distinct,
            "effective_comparison_size": self.effective_comparison_size,
            "dropped_constant_terms": list(self.propensity_model.dropped_constant),
        }

    def __repr__(self) -> str:
        s = self.summary()
        caliper = "no caliper" if self.caliper is None else f"caliper {self.caliper:g} SD"
        return (f"MatchResult({s['method']} on {s['distance']}, {caliper}: "
                f"{s['n_treated_matched']} of {s['n_treated']} treated matched to "
                f"{s['n_comparison_distinct']} of {s['n_comparison_pool']} comparison "
                f"(effective size {s['effective_comparison_size']:.1f}))")


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
    if not data.index.is_unique:
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
