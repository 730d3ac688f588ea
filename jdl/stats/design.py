"""The covariates as numbers: how categorical columns are recognised and coded, and the design
matrix the propensity model and the balance table are built from. Shared by
:mod:`jdl.stats.matching` and :mod:`jdl.stats.balance` (which therefore do not import each other)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CONSTANT = "const"
DISTANCE_LABELS = {"logit": "distance (logit of propensity score)",
                   "propensity": "distance (propensity score)"}


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
