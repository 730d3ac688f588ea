"""The covariates as numbers: how categorical columns are recognised and coded, and the design
matrix the propensity model and the balance table are built from. Shared by
:mod:`jdl.stats.matching` and :mod:`jdl.stats.balance` (which therefore do not import each other)."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pandas as pd

try:  # NumPy 2
    from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage
except ImportError:  # NumPy 1
    from numpy.core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage

CONSTANT = "const"
DISTANCE_LABELS = {"logit": "distance (logit of propensity score)",
                   "propensity": "distance (propensity score)"}


_HUGEPAGE_LOCK = threading.Lock()
_hugepage_state = {"depth": 0, "before": None}


class without_hugepages(contextlib.ContextDecorator):
    """Run the block with NumPy's ``madvise(MADV_HUGEPAGE)`` on new arrays switched off
    (``numpy._core.multiarray._set_madvise_hugepage``, documented under NumPy's "global state":
    the run-time form of ``NUMPY_MADVISE_HUGEPAGE=0``); the setting in force before is restored
    when the outermost such block ends, whichever thread ends last.

    Why: a million-row match makes a ~330 MB design matrix and some hundreds of MB of 8 MB
    temporaries, each touched once or a few times. NumPy asks the kernel for transparent huge
    pages for every array of 4 MB or more; with transparent-hugepage ``defrag=madvise`` (a
    common default, and this project's VMs) a fault on such memory may compact memory or, in a
    VM that has returned free memory to its host, fault the host's 2 MB page in first. Measured
    at 1,000 treated x 1,000,000 (fit, radius match, balance, comparison; 3 fresh processes
    each): 0.91-1.06 s of system time with huge pages, 0.42-0.45 s without (page faults
    60,000 of 2 MB against 211,000 of 4 kB), the fit alone 1.83-2.36 s of CPU against 1.47-1.54
    s. The arrays are streamed through (memory-bound products, one pass each), so the larger
    TLB reach of huge pages gains nothing measurable back."""

    def __enter__(self):
        with _HUGEPAGE_LOCK:
            if _hugepage_state["depth"] == 0:
                _hugepage_state["before"] = bool(_set_madvise_hugepage(False))
            _hugepage_state["depth"] += 1
        return self

    def __exit__(self, *exc):
        with _HUGEPAGE_LOCK:
            _hugepage_state["depth"] -= 1
            if _hugepage_state["depth"] == 0:
                _set_madvise_hugepage(_hugepage_state["before"])
        return False


def hugepages_enabled() -> bool:
    """Whether NumPy now asks for transparent huge pages for large new arrays."""
    return bool(_get_madvise_hugepage())


def is_categorical(column: pd.Series) -> bool:
    """True when ``column`` is treated as categorical: object, string, category or bool dtype."""
    dtype = column.dtype
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def category_codes(column: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes (0, 1, ...) of a categorical column and its levels, in a deterministic
    order: a category dtype's own order (unused categories left out), False then True for bool,
    otherwise sorted values (sorted by their text when the values cannot be compared).

    A category column's codes are read as they are and renumbered only when some category is
    unused (found by counting the codes; ``cat.remove_unused_categories`` first rebuilt the
    column, ~0.15 s at a million rows); a NumPy bool column's codes are its values. Missing
    values (only possible here for columns not checked first) go the general way."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(dtype=np.int64)
        categories = column.cat.categories
        if len(codes) and codes.min() >= 0:
            held = np.flatnonzero(np.bincount(codes, minlength=len(categories)))
            if len(held) < len(categories):
                recode = np.zeros(len(categories), dtype=np.int64)
                recode[held] = np.arange(len(held))
                codes = recode[codes]
            return codes, [categories[i] for i in held]
        column = column.cat.remove_unused_categories()
        return column.cat.codes.to_numpy(dtype=np.int64), list(column.cat.categories)
    if dtype == np.bool_:
        values = column.to_numpy()
        codes = values.astype(np.int64)
        if not len(values):
            return codes, []
        held = [v for v in (False, True) if (values if v else ~values).any()]
        if len(held) == 1:
            codes[:] = 0
        return codes, held
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


def coded_covariates(data: pd.DataFrame, covariates) -> dict:
    """:func:`category_codes` of each categorical covariate (see :func:`is_categorical`), by
    column name: computed once and handed to :func:`covariate_matrix` (and to whatever else reads
    the codes) instead of factorising a column again for each use."""
    return {column: category_codes(data[column]) for column in covariates
            if is_categorical(data[column])}


def covariate_matrix(data: pd.DataFrame, covariates, drop_first: bool, constant: bool = False,
                     codes: dict | None = None) -> tuple[np.ndarray, list[str]]:
    """The covariates as a float64 matrix (Fortran order, rows in data order) and column names.

    Numeric covariates enter as they are; categorical ones (see :func:`is_categorical`) one-hot,
    one 0/1 column per level named ``"<column>_<level>"`` in :func:`category_codes` order, the
    first level left out when ``drop_first``. ``constant`` puts a column of ones first (named
    ``"const"``). ``codes``: the categorical covariates' :func:`category_codes` already computed
    (:func:`coded_covariates`), by column name; those not given are computed here.

    The matrix is allocated once (``np.empty``) and filled column by column in place: no
    intermediate frame, copy or concatenation.
    """
    codes = {} if codes is None else codes
    plan = []
    for column in covariates:
        values = data[column]
        if column in codes or is_categorical(values):
            codes_, levels = codes[column] if column in codes else category_codes(values)
            kept = list(enumerate(levels))[1 if drop_first else 0:]
            plan.append((column, codes_, kept))
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
