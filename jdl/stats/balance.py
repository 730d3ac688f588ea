"""Match quality (methodology section 5): the balance table, the love plot and the overlap plot.

Conventions (stated in :data:`CONVENTIONS` and carried by every :class:`Balance`):

* one row per covariate: numeric ones as they are, bool ones as 0/1, categorical ones one row per
  level (every level, none dropped), plus a last row for the distance matched on;
* "before" compares all treated units with the whole (unweighted) comparison pool that went into
  the matching; "after" compares the matched treated units with the weighted comparison group;
* standardised difference, in per cent: 100 x (treated mean - comparison mean) /
  sqrt((treated variance + comparison variance) / 2), BOTH variances taken before matching (so the
  before and after figures share one denominator); variances have denominator n - 1;
* variance ratio: treated variance / comparison variance; after matching both are weighted
  variances, sum w (x - mean)^2 / (sum w - sum w^2 / sum w) (the unbiased form for reliability
  weights, which is the ordinary n - 1 variance when all weights are 1);
* bands on the absolute standardised difference after matching: under 5 good, 5 to 10
  reasonable, over 10 poor. ``any_poor`` says whether any covariate (the distance row aside) is
  poor after matching: then the report says so plainly and runs no sub-analysis on that match.
* no p-values: balance is a property of the sample, not a hypothesis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jdl.stats.design import (DISTANCE_LABELS, category_codes, covariate_matrix, is_categorical,
                              without_hugepages)
from jdl.stats.threads import one_blas_thread
from jdl.words import plot_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GOOD_BELOW = 5.0
POOR_ABOVE = 10.0
BAND_GOOD, BAND_REASONABLE, BAND_POOR = "good", "reasonable", "poor"

CONVENTIONS = (
    "Standardised difference (%) = 100 x (treated mean - comparison mean) / "
    "sqrt((treated variance + comparison variance) / 2), both variances before matching; "
    "comparison after matching weighted by the matching weights; variance ratio = treated / "
    "comparison variance (weighted after matching); bands on |standardised difference| after "
    "matching: under 5 good, 5 to 10 reasonable, over 10 poor; no p-values."
)

COLUMNS = ("treated_mean_before", "treated_mean_after", "comparison_mean_before",
           "comparison_mean_after", "std_diff_before", "std_diff_after",
           "variance_ratio_before", "variance_ratio_after", "band_after")


def band(abs_std_diff: float) -> str:
    """The band of an absolute standardised difference in per cent: "good" under 5,
    "reasonable" from 5 to 10, "poor" over 10 (NaN: "n/a")."""
    if np.isnan(abs_std_diff):
        return "n/a"
    if abs_std_diff < GOOD_BELOW:
        return BAND_GOOD
    if abs_std_diff <= POOR_ABOVE:
        return BAND_REASONABLE
    return BAND_POOR


def balance_covariates(data: pd.DataFrame, covariates) -> tuple[np.ndarray, list[str]]:
    """The columns balance is judged on, as a float matrix (rows in data order) and names:
    numeric covariates as they are, bool ones as one 0/1 column named after them, categorical
    ones one 0/1 column per level (all levels, none dropped, named ``"<column>_<level>"``)."""
    covariates = list(covariates)
    bools = {c: data[c].astype(float) for c in covariates
             if pd.api.types.is_bool_dtype(data[c].dtype)}
    if bools:
        data = data[covariates].assign(**bools)
    return covariate_matrix(data, covariates, drop_first=False)


def weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Column means of ``x`` (n x k) weighted by ``w`` (n)."""
    return (w @ x) / w.sum()


def weighted_variance(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Column variances of ``x`` weighted by ``w``: sum w (x - m)^2 / (V1 - V2 / V1), with
    V1 = sum w and V2 = sum w^2 (equal to the n - 1 variance when all weights are 1)."""
    v1, v2 = w.sum(), (w ** 2).sum()
    mean = (w @ x) / v1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ (x - mean) ** 2) / (v1 - v2 / v1)


_ROWS = 8192  # rows per block: a block of ~45 columns stays in cache while it is used twice


class _Columns:
    """The balance covariates of ``data`` (the columns and names of :func:`balance_covariates`),
    their moments computed without ever building the n x k matrix (at a million rows that matrix,
    and first touching its pages, costs more than the moments themselves): numeric columns a
    block of rows at a time, categorical ones from their codes."""

    def __init__(self, data: pd.DataFrame, covariates):
        self.parts, self.names = [], []
        for column in covariates:
            values = data[column]
            if is_categorical(values) and not pd.api.types.is_bool_dtype(values.dtype):
                codes, levels = category_codes(values)
                self.parts.append((codes, np.arange(len(levels))))
                self.names += [f"{column}_{level}" for level in levels]
            else:  # numeric as it is, bool as 0/1
                self.parts.append((values.to_numpy(dtype=float), None))
                self.names.append(str(column))
        self.n, self.k = len(data), len(self.names)

    def means(self) -> np.ndarray:
        """Column means over all rows."""
        out = []
        for values, levels in self.parts:
            if levels is None:
                out.append([values.sum() / self.n])
            else:
                out.append(np.bincount(values, minlength=len(levels)) / self.n)
        return np.concatenate(out) if out else np.zeros(0)

    def moments(self, treated: np.ndarray, weights: np.ndarray):
        """:func:`_moments_blocks` of the whole matrix, computed without its categorical
        columns' 0/1 indicators: the numeric columns a block of rows at a time, each categorical
        column from its level counts and weight sums (:func:`_level_moments`, two passes over
        its codes instead of one 0/1 column per level filled and multiplied block by block)."""
        numeric = [part for part in self.parts if part[1] is None]
        centre = self.means()
        numeric_columns = np.array([j for j, part in zip(self._starts(), self.parts)
                                    if part[1] is None], dtype=np.int64)

        def fill(start, stop, out):
            for j, (values, _) in enumerate(numeric):
                out[:, j] = values[start:stop]

        means, variances = np.empty((4, self.k)), np.empty((4, self.k))
        if numeric:
            means[:, numeric_columns], variances[:, numeric_columns] = _moments_blocks(
                self.n, len(numeric), centre[numeric_columns], fill, treated, weights)
        for j, (values, levels) in zip(self._starts(), self.parts):
            if levels is not None:
                span = slice(j, j + len(levels))
                means[:, span], variances[:, span] = _level_moments(
                    values, len(levels), centre[span], treated, weights)
        return means, variances

    def _starts(self) -> list[int]:
        """The first matrix column of each part."""
        starts, j = [], 0
        for _, levels in self.parts:
            starts.append(j)
            j += 1 if levels is None else len(levels)
        return starts


def _group_totals(treated: np.ndarray, weights: np.ndarray):
    """V1 = sum of weights and V2 = sum of squared weights of the four groups of
    :func:`_moments_blocks` (treated and comparison unweighted, then weighted), and the treated
    and comparison weights."""
    t = np.asarray(treated, dtype=bool)
    w = np.asarray(weights, dtype=float)
    n, n_treated = len(t), int(t.sum())
    wt, wc = np.where(t, w, 0.0), np.where(t, 0.0, w)
    v1 = np.array([n_treated, n - n_treated, wt.sum(), wc.sum()], dtype=float)
    v2 = np.array([n_treated, n - n_treated, (wt * wt).sum(), (wc * wc).sum()], dtype=float)
    return v1, v2, wt, wc


def _finish(centre: np.ndarray, sums: np.ndarray, squares: np.ndarray, v1: np.ndarray,
            v2: np.ndarray):
    """Means and variances of the four groups from the sums and sums of squares about
    ``centre``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        offsets = sums / v1[:, None]
        means = centre + offsets
        variances = (squares - v1[:, None] * offsets ** 2) / (v1 - v2 / v1)[:, None]
    return means, np.maximum(variances, 0.0)


def _level_moments(codes: np.ndarray, n_levels: int, centre: np.ndarray, treated: np.ndarray,
                   weights: np.ndarray):
    """:func:`_moments_blocks` of the 0/1 indicators of the levels ``0..n_levels-1`` of
    ``codes``, from each level's count and weight sum in each group (S): about the centre c,
    the sum of a group's weights times (x - c) is S - c V1 and of times (x - c)^2 is
    S (1 - c)^2 + (V1 - S) c^2."""
    t = np.asarray(treated, dtype=bool)
    v1, v2, _, _ = _group_totals(t, weights)
    key = codes + n_levels * t
    counts = np.bincount(key, minlength=2 * n_levels).reshape(2, n_levels)
    totals = np.bincount(key, weights=np.asarray(weights, dtype=float),
                         minlength=2 * n_levels).reshape(2, n_levels)
    held = np.vstack([counts[1], counts[0], totals[1], totals[0]]).astype(float)
    sums = held - centre * v1[:, None]
    squares = held * (1.0 - centre) ** 2 + (v1[:, None] - held) * centre ** 2
    return _finish(centre, sums, squares, v1, v2)


def _moments_blocks(n: int, k: int, centre: np.ndarray, fill, treated: np.ndarray,
                    weights: np.ndarray):
    """Weighted means and variances (as :func:`weighted_variance`) of k columns, filled a block
    of rows at a time by ``fill(start, stop, out)``, in four groups: the treated and the
    comparison units unweighted, then weighted by ``weights``. Squares are taken about
    ``centre`` (each column's overall mean), so the variance formula does not lose precision
    to cancellation."""
    t = np.asarray(treated, dtype=bool)
    v1, v2, wt, wc = _group_totals(t, weights)
    sums = np.zeros((4, k))
    squares = np.zeros((4, k))
    rows = min(_ROWS, n)
    buffer = np.empty((rows, k))
    groups = np.empty((4, rows))
    for start in range(0, n, _ROWS):
        stop = min(start + _ROWS, n)
        block, g = buffer[:stop - start], groups[:, :stop - start]
        fill(start, stop, block)
        block -= centre
        g[0] = t[start:stop]
        np.subtract(1.0, g[0], out=g[1])
        g[2] = wt[start:stop]
        g[3] = wc[start:stop]
        sums += g @ block
        block *= block
        squares += g @ block
    return _finish(centre, sums, squares, v1, v2)


def _moments(x: np.ndarray, treated: np.ndarray, weights: np.ndarray):
    """:func:`_moments_blocks` of the columns of the matrix ``x``."""
    n = x.shape[0]
    centre = np.ones(n) @ x / n

    def fill(start, stop, out):
        out[...] = x[start:stop]

    return _moments_blocks(n, x.shape[1], centre, fill, treated, weights)


@dataclass(frozen=True, eq=False)
class Balance:
    """A balance table (columns :data:`COLUMNS`, one row per balance covariate, the distance row
    last when present), whether any covariate is poor after matching, which ones, and the
    conventions used, in words."""

    table: pd.DataFrame
    any_poor: bool
    poor: tuple[str, ...]
    conventions: str = CONVENTIONS


def balance_table(covariates, treated, weights, distance=None, distance_label: str = "distance",
                  names=None) -> Balance:
    """The balance table of methodology section 5.

    ``covariates``: a numeric frame (or a matrix with ``names``), one column per balance
    covariate (see :func:`balance_covariates`), rows = the units that went into matching;
    ``treated``: booleans; ``weights``: matching weights (treated 1 or 0, comparison >= 0);
    ``distance``: optionally the score matched on, added as a last row named ``distance_label``
    (left out of ``any_poor``).
    """
    with one_blas_thread():
        return _balance_table(covariates, treated, weights, distance, distance_label, names)


def _balance_table(covariates, treated, weights, distance, distance_label, names) -> Balance:
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        x = covariates.to_numpy(dtype=float)
    else:
        x = np.asarray(covariates, dtype=float)
        names = list(names)
    return _table(_moments(x, treated, weights), names, treated, weights, distance, distance_label)


def _table(moments, names, treated, weights, distance, distance_label) -> Balance:
    """The balance table from the four groups' means and variances of the covariates
    (:func:`_moments_blocks`), with the distance row added when given."""
    means, variances = moments
    names = list(names)
    if distance is not None:
        d_means, d_variances = _moments(np.asarray(distance, dtype=float)[:, None], treated, weights)
        means, variances = np.hstack([means, d_means]), np.hstack([variances, d_variances])
        names = names + [distance_label]
    (mean_t0, mean_c0, mean_t1, mean_c1) = means
    (var_t0, var_c0, var_t1, var_c1) = variances
    scale = np.sqrt((var_t0 + var_c0) / 2)

    def std_diff(difference):
        with np.errstate(invalid="ignore", divide="ignore"):
            out = 100 * difference / scale
        return np.where(difference == 0, 0.0, out)

    with np.errstate(invalid="ignore", divide="ignore"):
        ratio0, ratio1 = var_t0 / var_c0, var_t1 / var_c1
    after = std_diff(mean_t1 - mean_c1)
    table = pd.DataFrame({
        "treated_mean_before": mean_t0, "treated_mean_after": mean_t1,
        "comparison_mean_before": mean_c0, "comparison_mean_after": mean_c1,
        "std_diff_before": std_diff(mean_t0 - mean_c0), "std_diff_after": after,
        "variance_ratio_before": ratio0, "variance_ratio_after": ratio1,
        "band_after": [band(abs(v)) for v in after],
    }, index=pd.Index(names, name="covariate"))
    judged = table.iloc[:-1] if distance is not None else table
    poor = tuple(judged.index[judged["band_after"] == BAND_POOR])
    return Balance(table=table, any_poor=bool(poor), poor=poor)


def weights_in_words(result) -> str:
    """How the comparison group of a :class:`jdl.stats.matching.MatchResult` is weighted, in words."""
    if result.method == "radius":
        return ("each comparison person weighted 1/(number of comparison people matched to a treated "
                "person), summed over the treated people they are matched to")
    if result.replace or result.ratio > 1:
        return ("each comparison person weighted as in R's MatchIt: the sum over the treated people they "
                "are matched to of 1/(number matched to that treated person), scaled to add up to the "
                "number of distinct comparison people")
    return "each matched comparison person weighted 1"


def conventions_of(result) -> str:
    """The conventions of the balance table of ``result`` (a :class:`jdl.stats.matching.MatchResult`),
    in words: which groups "before" and "after" compare, how the comparison group is weighted,
    what the last row is, then :data:`CONVENTIONS`. Names no count, so it can never give away
    a count the report hides."""
    return (f"Before matching: every treated person given to the matching against the comparison pool "
            f"that went into it, unweighted. After matching: the treated people who found a match against "
            f"the matched comparison group, {weights_in_words(result)}. The last row is the "
            f"{DISTANCE_LABELS[result.distance_kind]} matched on. " + CONVENTIONS)


def balance_of(result) -> Balance:
    """The balance table of a :class:`jdl.stats.matching.MatchResult`: its covariates (expanded by
    :func:`balance_covariates`) and its distance, over the units that went into the matching,
    with the conventions of that match (:func:`conventions_of`)."""
    used = result.distance.notna().to_numpy()
    data = result.data if used.all() else result.data.loc[used]
    treated, weights = result.treated.to_numpy()[used], result.weights.to_numpy()[used]
    with one_blas_thread(), without_hugepages():
        columns = _Columns(data, result.covariates)
        moments = columns.moments(treated, weights)
        balance = _table(moments, columns.names, treated, weights, result.distance.to_numpy()[used],
                         DISTANCE_LABELS[result.distance_kind])
    return dataclasses.replace(balance, conventions=conventions_of(result))


def love_plot(result) -> Figure:
    """A love plot: absolute standardised difference (%) per covariate before and after
    matching, with reference lines at 5 and 10. Takes a MatchResult or a :class:`Balance`;
    returns a matplotlib Figure (not shown, not kept by pyplot)."""
    from matplotlib.figure import Figure
    balance = result if isinstance(result, Balance) else result.balance()
    table = balance.table
    n = len(table)
    # covariate names carry the national data's category labels: never read as mathtext
    names = [plot_text(name) for name in table.index]
    fig = Figure(figsize=(7, 1.5 + 0.28 * n))
    ax = fig.subplots()
    # plain matplotlib (seaborn's import alone would add half a second to every report)
    for column, label, marker, colour in (("std_diff_before", "before matching", "o", "C0"),
                                          ("std_diff_after", "after matching", "X", "C1")):
        value = np.abs(table[column].to_numpy(dtype=float))
        shown = np.isfinite(value)
        ax.scatter(value[shown], np.flatnonzero(shown), marker=marker, color=colour, label=label,
                   edgecolors="white", linewidths=0.5, zorder=3)
    ax.set_yticks(np.arange(n), names)
    ax.set_ylim(n - 0.5, -0.5)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
    ax.legend(title="sample")
    ax.axvline(GOOD_BELOW, color="grey", linestyle="--", linewidth=1)
    ax.axvline(POOR_ABOVE, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("Absolute standardised difference (%)")
    ax.set_ylabel("")
    ax.set_title("Covariate balance before and after matching")
    fig.tight_layout()
    # long covariate names push the axes right: centre the title on the figure, not the axes
    box = ax.get_position()
    ax.title.set_x((0.5 - box.x0) / box.width)
    return fig


def overlap_plot(result, bins: int = 40) -> Figure:
    """Propensity score distributions (densities) of the treated, the comparison pool before
    matching, and the comparison group after matching weighted by the matching weights.
    Returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    used = result.distance.notna().to_numpy()
    score = result.propensity.to_numpy()[used]
    treated = result.treated.to_numpy()[used]
    weights = result.weights.to_numpy()[used]
    after = ~treated & (weights > 0)
    groups = (("treated", treated, None), ("comparison before matching", ~treated, None),
              ("comparison after matching (weighted)", after, weights))
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    # each group's own density (areas 1), as outlines on common bins over [0, 1]
    for k, (label, rows, weight) in enumerate(groups):
        if rows.any():
            ax.hist(score[rows], bins=bins, range=(0, 1), weights=None if weight is None else weight[rows],
                    density=True, histtype="step", color=f"C{k}", linewidth=1.3, label=label)
    ax.legend(title="group")
    ax.set_xlabel("Propensity score")
    ax.set_ylabel("Density")
    ax.set_title("Propensity score overlap")
    fig.tight_layout()
    return fig
