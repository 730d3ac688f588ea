"""Statistical disclosure control for every count table that leaves the lab (methodology section 7).

A table of counts is seen with all its margins: the row totals, the column totals and the grand
total. A margin that the table does not print is still treated as published (readers add up, and a
report may print the total elsewhere), so it is protected against and may itself be withheld;
``SuppressedTable.full_mask`` says which margins must never be published.

The protection rule, applied by :func:`suppress` to that extended table (margins included):

1. **Primary suppression.** Every count from 1 to ``threshold - 1`` (1 to 4), margins included, is
   suppressed. A zero is shown as "0": a true zero says nothing about any person.
2. **Lines.** Every row and every column of the extended table (a line: its cells and its total)
   has either no suppressed entry or at least two, else the one would be its total minus the rest.
   While some line has exactly one, another entry of that line is suppressed: a cell rather than
   the line's total; then a non-zero cell rather than a zero (a zero can only go up, which narrows
   what the others can be); then one whose crossing line already has exactly one suppression (it
   closes a rectangle instead of opening a new line); then the smallest count; then the leftmost
   (in a row) or topmost (in a column). A line with no cell left to choose gives up its total, so a
   one-column table's hidden row totals (each equal to its one cell) go with their cells, and a 1x1
   table with a small count loses its total too.
3. **Exact audit.** Rule 2 is necessary, not sufficient: a suppressed cell can still be pinned down
   by a chain of lines, or by zeros (a line whose total is 0 fixes every cell in it at 0). So the
   suppressed cells are checked exactly: a cell is *recoverable* when it takes a single value on
   every table that agrees with the published counts, the line equations and the bounds the reader
   knows. The bounds assumed here are the cautious ones: every cell is at least 0, and a reader who
   reads "<5" as "1 to 4" knows each primary cell lies in [1, threshold - 1] (which catches the
   "group sum" attack: two "<5" cells whose sum the totals give as 2 are both 1). While some cell is
   recoverable, one more entry is suppressed in its row, else its column, else anywhere (chosen as
   in rule 2), and rules 2 and 3 run again. Suppressing everything leaves nothing recoverable under
   non-negativity alone (every cell can grow with its row total, column total and grand total), so
   the loop always ends safe on that reading; under the cautious bounds a table can stay pinned
   only when its "<5" cells must all be 1 to fit under a "<5" total (four 1s totalling 4), and then
   all of it is suppressed.

Every suppressed cell, primary or secondary, is shown with the same label ("<5" by default,
``label=`` to change it), so a reader cannot tell which cells are the small ones: a distinct
secondary marker would leak (a secondary cell is 0 or at least 5, and "<5" + secondary = 6 would
pin the pair at 1 and 5). The label thus also stands on secondary cells holding 0 or 5 or more; a
report should say that "<5" marks a suppressed count. The audit does not model a reader who
reverse-engineers which complement the rule would have chosen.

:func:`recoverable_cells` is the independent check used by the tests and by QA: the interval each
suppressed cell can take (its minimum and maximum by linear programming, scipy's HiGHS), a cell
being recoverable when the interval is a single point. :func:`suppress` itself audits with a
different exact method (implicit zeros by one linear programme, then a null-space test), so the
tests compare two independent calculations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import null_space
from scipy.optimize import linprog
from scipy.sparse import block_diag

THRESHOLD = 5
SUPPRESSED = "<5"
HIDDEN = "[c]"
TOTAL = "Total"
_TOLERANCE = 1e-7


class CannotProtect(ValueError):
    """No further entry of a table may be suppressed (the rest are zeros or must be published),
    yet a suppressed count can still be worked out: the table needs its small categories merged
    (:func:`protect_counts` does that when given a merge label)."""


@dataclass(frozen=True)
class SuppressedTable:
    """A count table after disclosure control, laid out like the input table.

    ``shown`` holds the strings to publish ("1,234", "0", "<5"); ``mask`` is True where a count is
    suppressed; ``primary`` is True where it is suppressed for being 1 to threshold - 1.
    ``full_mask`` is the mask of the extended table, every margin included (a last "Total" row and
    column stand for margins the input does not print): True marks a value never to be published,
    here or elsewhere.
    """

    shown: pd.DataFrame
    mask: pd.DataFrame
    primary: pd.DataFrame
    full_mask: pd.DataFrame


def _counts(table) -> np.ndarray:
    """The table as an int64 array, after checking it holds non-negative whole numbers."""
    values = np.asarray(table, dtype=float)
    if not (np.isfinite(values).all() and (values >= 0).all() and (values == np.round(values)).all()):
        raise ValueError("a count table must hold non-negative whole numbers only")
    return values.astype(np.int64)


def _with_margins(counts: np.ndarray) -> np.ndarray:
    """The counts with their row totals (last column), column totals (last row) and grand total."""
    full = np.zeros((counts.shape[0] + 1, counts.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = counts
    full[:-1, -1] = counts.sum(axis=1)
    full[-1] = full[:-1].sum(axis=0)
    return full


def _lines(shape) -> list[np.ndarray]:
    """Flat indices of every row and every column of an extended table, the line's total last."""
    grid = np.arange(shape[0] * shape[1]).reshape(shape)
    return [*grid, *grid.T]


def _problem(full, unknown, bounded, threshold, secondary=None):
    """What a reader knows, as {x : A x = b, low <= x <= high} over the unknown cells: each line's
    cells add up to its total; ``bounded`` unknown cells (marked "<5") are read as 1 to
    threshold - 1, ``secondary`` ones (marked "[c]", never a zero) as threshold or more, the others
    as non-negative. Returns A, b, low, high and the true values (a point of that set)."""
    lines = _lines(full.shape)
    relations = np.zeros((len(lines), full.size))
    for n, line in enumerate(lines):
        relations[n, line[:-1]], relations[n, line[-1]] = 1, -1
    values, unknown = full.ravel(), unknown.ravel()
    bounded = bounded.ravel()[unknown]
    secondary = np.zeros(unknown.sum(), dtype=bool) if secondary is None else secondary.ravel()[unknown]
    b = -relations[:, ~unknown] @ values[~unknown]
    low = np.where(bounded, 1.0, np.where(secondary, float(threshold), 0.0))
    high = np.where(bounded, threshold - 1.0, np.inf)
    return relations[:, unknown], b, low, high, values[unknown].astype(float)


def _positive_somewhere(cone, candidates) -> np.ndarray:
    """Which ``candidates`` (a boolean mask of coordinates) are positive at some point of the cone
    {w >= 0 : cone @ w = 0}: one linear programme maximising the sum of min(w_k, 1) over them (a
    cone is closed under addition, so all that can be positive reach 1 together)."""
    size, k = cone.shape[1], int(candidates.sum())
    reach = np.zeros(size, dtype=bool)
    if k:
        result = linprog(
            np.concatenate([np.zeros(size), -np.ones(k)]),
            A_ub=np.hstack([-np.eye(size)[candidates], np.eye(k)]), b_ub=np.zeros(k),
            A_eq=np.hstack([cone, np.zeros((cone.shape[0], k))]), b_eq=np.zeros(cone.shape[0]),
            bounds=[(0, None)] * size + [(0, 1)] * k, method="highs",
        )
        reach[candidates] = result.x[size:] > 0.5
    return reach


def _fixed(a, b, low, high, x0) -> np.ndarray:
    """Which unknowns take a single value on {a x = b, low <= x <= high}, a set that holds x0.

    In standard form z = (x - low, high - x for bounded x) >= 0, the coordinates that are 0 on the
    whole set are those 0 at x0 that stay 0 on the homogenised cone {(z, s) >= 0 : A z = b s};
    the others are positive somewhere, so the set's affine hull is {A z = b, z_zero = 0} and x_k
    is fixed exactly when every direction of that hull leaves it unchanged (a null-space test)."""
    n, capped = len(x0), np.isfinite(high)
    std = np.block([[a, np.zeros((a.shape[0], capped.sum()))], [np.eye(n)[capped], np.eye(capped.sum())]])
    rhs = np.concatenate([b - a @ low, (high - low)[capped]])
    zero = np.abs(np.concatenate([x0 - low, (high - x0)[capped]])) < _TOLERANCE
    zero &= ~_positive_somewhere(np.hstack([std, -rhs[:, None]]), np.append(zero, False))[:-1]
    directions = null_space(np.vstack([std, np.eye(len(zero))[zero]]))
    return np.abs(directions[:n]).max(axis=1, initial=0) < _TOLERANCE


def _optima(a, b, bounds, cells, sign) -> np.ndarray:
    """For each k of ``cells``, the optimum of x_k (sign 1: least, -1: greatest) on
    {a x = b, bounds}, the programmes solved together as one block-diagonal linear programme."""
    n, blocks = a.shape[1], len(cells)
    if not blocks:
        return np.empty(0)
    objective = np.zeros((blocks, n))
    objective[np.arange(blocks), cells] = sign
    result = linprog(objective.ravel(), A_eq=block_diag([a] * blocks), b_eq=np.tile(b, blocks),
                     bounds=bounds * blocks, method="highs")
    return result.x.reshape(blocks, n)[np.arange(blocks), cells]


def _intervals(a, b, low, high):
    """The least and the greatest value of each unknown on {a x = b, low <= x <= high}; the
    greatest is inf for an unknown that can grow along the recession cone {d >= 0 : a d = 0,
    d = 0 where capped}."""
    n, uncapped = len(low), ~np.isfinite(high)
    bounds = [(lo, None if np.isinf(hi) else hi) for lo, hi in zip(low, high)]
    unbounded = np.zeros(n, dtype=bool)
    unbounded[uncapped] = _positive_somewhere(a[:, uncapped], np.ones(uncapped.sum(), dtype=bool))
    greatest = np.full(n, np.inf)
    greatest[~unbounded] = _optima(a, b, bounds, np.flatnonzero(~unbounded), -1)
    return _optima(a, b, bounds, np.arange(n), 1), greatest


def _pick(full, mask, line, crossing, keep):
    """The entry of ``line`` to suppress next (rule 2's order), or None if none is left: never one
    already suppressed, one that must be published (``keep``) or a zero; ``crossing`` counts the
    suppressions in each entry's crossing line."""
    choices = [
        (k == line[-1], count != 1, full.flat[k], position, k)
        for position, (k, count) in enumerate(zip(line, crossing))
        if not (mask.flat[k] or keep.flat[k] or full.flat[k] == 0)
    ]
    return min(choices)[-1] if choices else None


def _close_lines(full, mask, keep):
    """Rule 2: suppress more entries until no row or column has exactly one suppression."""
    grid = np.arange(full.size).reshape(full.shape)
    while True:
        rows, columns = mask.sum(axis=1), mask.sum(axis=0)
        if (rows == 1).any():
            line, crossing = grid[np.argmax(rows == 1)], columns
        elif (columns == 1).any():
            line, crossing = grid[:, np.argmax(columns == 1)], rows
        else:
            return
        cell = _pick(full, mask, line, crossing, keep)
        if cell is None:
            raise CannotProtect("a line has one suppressed count and nothing else that may be hidden")
        mask.flat[cell] = True


def _protect(full, primary, threshold, keep) -> np.ndarray:
    """Rules 2 and 3 from the primary suppressions: the mask of the extended table. Raises
    :class:`CannotProtect` when a suppressed count stays recoverable and nothing more may be
    hidden."""
    mask, grid = primary.copy(), np.arange(full.size).reshape(full.shape)
    while True:
        _close_lines(full, mask, keep)
        fixed = _fixed(*_problem(full, mask, primary, threshold, mask & ~primary))
        if not fixed.any():
            return mask
        i, j = divmod(int(np.flatnonzero(mask)[fixed][0]), full.shape[1])
        rows, columns = mask.sum(axis=1), mask.sum(axis=0)
        for line, crossing in ((grid[i], columns), (grid[:, j], rows), (grid.ravel(), np.zeros(full.size))):
            cell = _pick(full, mask, line, crossing, keep)
            if cell is not None:
                mask.flat[cell] = True
                break
        else:
            raise CannotProtect("a suppressed count can be worked out, and nothing else may be hidden")


def suppress(table: pd.DataFrame, threshold: int = THRESHOLD, row_total: str | None = None,
             column_total: str | None = None, label: str | None = None, fixed=None,
             hidden_label: str = HIDDEN) -> SuppressedTable:
    """Apply disclosure control (the module's rule) to a table of counts.

    ``table`` holds non-negative whole counts; ``row_total`` names a column of it holding each
    row's total and ``column_total`` labels a row holding each column's total, when the table
    prints them (they must equal the sums). Margins it does not print are protected as if printed.
    ``fixed``: a boolean table like ``table`` marking counts that are published elsewhere (a
    headline total, the number analysed): they are never hidden. Counts from 1 to threshold - 1
    are shown as ``label`` (by default "<5"); counts hidden to protect them as ``hidden_label``
    ("[c]"); the others with thousands separators. Raises ValueError on negative or fractional
    counts or wrong totals, and :class:`CannotProtect` when the fixed counts leave a small count
    recoverable whatever else is hidden.
    """
    inner = table.drop(index=[] if column_total is None else [column_total],
                       columns=[] if row_total is None else [row_total])
    full = _with_margins(_counts(inner))
    rows = [*inner.index, TOTAL if column_total is None else column_total]
    columns = [*inner.columns, TOTAL if row_total is None else row_total]

    def laid_out(values) -> pd.DataFrame:
        return pd.DataFrame(values, index=rows, columns=columns).loc[table.index, table.columns]

    if not np.array_equal(laid_out(full).to_numpy(), _counts(table)):
        raise ValueError("the totals in the table are not the sums of its counts")
    keep = np.zeros(full.shape, dtype=bool)
    if fixed is not None:
        given = pd.DataFrame(fixed, index=table.index, columns=table.columns).astype(bool)
        keep = (pd.DataFrame(keep, index=rows, columns=columns)
                .combine(given.reindex(index=rows, columns=columns, fill_value=False), np.logical_or)
                .to_numpy(dtype=bool).copy())
        if full.shape[1] == 2:   # one column: each row total is its cell
            keep[:, 0] |= keep[:, 1]
            keep[:, 1] = keep[:, 0]
        if full.shape[0] == 2:   # one row: each column total is its cell
            keep[0] |= keep[1]
            keep[1] = keep[0]
    primary = (full >= 1) & (full < threshold) & ~keep   # a fixed count is published anyway
    mask = _protect(full, primary, threshold, keep)
    text = np.array([f"{count:,}" for count in full.ravel()]).reshape(full.shape)
    shown = np.where(primary, f"<{threshold}" if label is None else label,
                     np.where(mask, hidden_label, text))
    return SuppressedTable(laid_out(shown), laid_out(mask), laid_out(primary),
                           pd.DataFrame(mask, index=rows, columns=columns))


def suppress_series(counts: pd.Series, total: bool = True, threshold: int = THRESHOLD) -> pd.Series:
    """A one-column count table (a profile: category -> count) after disclosure control, as the
    strings to publish, with a last "Total" row when ``total`` (protected as published either way,
    and hidden itself if nothing else can protect a small count). A suppressed category always has
    a second one suppressed with it, smallest first. For a table whose total is published
    elsewhere, use :func:`protect_counts` (or a :class:`Publication`)."""
    frame = counts.to_frame()
    if total:
        frame.loc[TOTAL] = counts.sum()
    result = suppress(frame, threshold, column_total=TOTAL if total else None)
    return result.shown.iloc[:, 0]


@dataclass(frozen=True)
class ProtectedCounts:
    """A one-column count table as published: ``counts`` (after any merging, in the published
    order, without the total), ``shown`` (the strings, "Total" last), ``kinds`` (per published
    category: "count", "small" for a "<5", "hidden" for a "[c]", "derived" for a small merged
    count that the published totals give anyway), ``merged`` (the original categories combined
    into ``merge_label``, empty when nothing was merged) and ``fixed`` (categories published
    elsewhere, never hidden)."""

    title: str
    counts: pd.Series
    shown: pd.Series
    kinds: pd.Series
    total: int
    merged: tuple = ()
    merge_label: str | None = None
    fixed: tuple = ()

    def published(self, category) -> bool:
        """True when ``category``'s count is printed as a number."""
        return category in self.kinds.index and self.kinds[category] in ("count", "derived")


def _merge(counts: pd.Series, members, label: str, fixed) -> pd.Series:
    """``counts`` with ``members`` replaced by one ``label`` category, placed before the fixed
    categories (which keep their places at the end, e.g. "analysed")."""
    rest = counts.drop(index=list(members))
    free = rest[~rest.index.isin(fixed)]
    kept = rest[rest.index.isin(fixed)]
    return pd.concat([free, pd.Series({label: int(counts[list(members)].sum())}), kept]).astype(np.int64)


def protect_counts(counts: pd.Series, title: str = "", fixed=(), merge_label: str | None = None,
                   threshold: int = THRESHOLD) -> ProtectedCounts:
    """Disclosure control of a one-column table whose total is published (the people submitted,
    or analysed) and whose ``fixed`` categories are printed elsewhere too.

    First the module's rule, hiding only categories that are not fixed. When that cannot protect
    a small count (the only other counts are zeros or fixed: 90 submitted, 88 analysed, 2 not
    found), the small categories (every free one below the threshold, zeros included) are merged
    into ``merge_label``, and if that is still not enough the smallest remaining free categories
    join them one at a time. When every free category has been merged, the merged count is the
    published total minus the fixed counts: it is printed (kind "derived"), since hiding it would
    contradict numbers printed elsewhere, and no single category's count below the threshold is
    shown. Without ``merge_label``, :class:`CannotProtect` is raised instead."""
    counts = counts.astype(np.int64)
    fixed = tuple(c for c in fixed if c in counts.index)
    total = int(counts.sum())
    merged: list = []
    current = counts
    while True:
        frame = current.to_frame("count")
        frame.loc[TOTAL] = total
        keep = pd.DataFrame(False, index=frame.index, columns=frame.columns)
        keep.loc[[*fixed, TOTAL], "count"] = True
        try:
            result = suppress(frame, threshold, column_total=TOTAL, fixed=keep)
        except CannotProtect:
            if merge_label is None:
                raise
            free = counts.drop(index=[*fixed, *merged])
            small = free[free < threshold]
            if not merged and len(small):
                merged = list(small.index)
            elif len(free):
                merged.append(free.sort_values(kind="stable").index[0])
            else:  # everything free is merged: the merged count follows from published totals
                shown = pd.Series([f"{v:,}" for v in current] + [f"{total:,}"],
                                  index=[*current.index, TOTAL], dtype=object)
                kinds = pd.Series(["count"] * len(current), index=current.index, dtype=object)
                kinds[merge_label] = "derived" if 0 < current[merge_label] < threshold else "count"
                return ProtectedCounts(title, current, shown, kinds, total, tuple(merged), merge_label, fixed)
            current = _merge(counts, merged, merge_label, fixed)
            continue
        shown = result.shown["count"]
        primary, mask = result.primary["count"].drop(TOTAL), result.mask["count"].drop(TOTAL)
        kinds = pd.Series(np.where(primary, "small", np.where(mask, "hidden", "count")), index=current.index,
                          dtype=object)
        return ProtectedCounts(title, current, shown, kinds, total, tuple(merged),
                               merge_label if merged else None, fixed)


def recoverable_cells(mask, values, row_totals_published: bool = True,
                      column_totals_published: bool = True, threshold: int | None = None,
                      marked: bool = False) -> pd.DataFrame:
    """Audit a suppression pattern: the interval each suppressed cell can take.

    ``values`` is the table of counts without margins (r x c, a DataFrame or an array); ``mask``
    marks the suppressed cells, either with the same shape or with a last column and row for the
    row totals, column totals and grand total (``SuppressedTable.full_mask``). Margins not marked
    are known to the reader when published (by default all of them; the grand total when either set
    is). The reader knows each cell is at least 0 and, with ``threshold``, that each suppressed
    count from 1 to threshold - 1 lies in that range (reading "<5" as "1 to 4"); with ``marked``
    too, that every other suppressed count is at least ``threshold`` (reading "[c]" as "5 or
    more": the markers say which kind each is, and :func:`suppress` never hides a zero).

    Returns one row per suppressed cell, in reading order: ``row``, ``column`` (labels, "Total" for
    margins), ``value``, ``low``, ``high`` (the least and greatest value it can take, by linear
    programming; ``high`` may be inf) and ``recoverable`` (low == high). The line equations form a
    network matrix (totally unimodular), so with whole-number counts and bounds both ends are whole
    numbers: low == high is tested as a gap below 0.5, immune to floating-point noise.
    """
    counts = _counts(values)
    full = _with_margins(counts)
    given = np.asarray(mask, dtype=bool)
    suppressed = np.zeros(full.shape, dtype=bool)
    if given.shape == counts.shape:
        suppressed[:-1, :-1] = given
    elif given.shape == full.shape:
        suppressed[:] = given
    else:
        raise ValueError(f"a mask of shape {given.shape} fits neither {counts.shape} nor {full.shape}")
    unknown = suppressed.copy()
    unknown[:-1, -1] |= not row_totals_published
    unknown[-1, :-1] |= not column_totals_published
    unknown[-1, -1] |= not (row_totals_published or column_totals_published)
    bounded = suppressed & (full >= 1) & (full < (threshold or 0))
    secondary = suppressed & ~bounded if (marked and threshold) else None
    if secondary is not None and (full[secondary] == 0).any():
        raise ValueError("a hidden count is 0, which a reader of the markers would take for 5 or more")
    a, b, low, high, x0 = _problem(full, unknown, bounded, threshold or THRESHOLD, secondary)
    least, greatest = _intervals(a, b, low, high)
    keep = suppressed.ravel()[unknown.ravel()]
    frame = values if isinstance(values, pd.DataFrame) else pd.DataFrame(counts)
    rows, columns = np.divmod(np.flatnonzero(suppressed), full.shape[1])
    row_labels, column_labels = [*frame.index, TOTAL], [*frame.columns, TOTAL]
    return pd.DataFrame({
        "row": [row_labels[i] for i in rows], "column": [column_labels[j] for j in columns],
        "value": x0[keep].astype(np.int64), "low": least[keep], "high": greatest[keep],
        "recoverable": greatest[keep] - least[keep] < 0.5,
    })


MARKER_NOTES = {
    "small": f"\"{SUPPRESSED}\" marks a count from 1 to 4, not shown.",
    "hidden": f"\"{HIDDEN}\" marks a count of 5 or more that is not shown, so that a count below 5 "
              "cannot be worked out from the totals.",
}


RULE_NOTES = (
    *MARKER_NOTES.values(),
    "Where hiding counts could not protect a small count without hiding a total printed elsewhere in "
    "the report, small categories are combined instead.",
)


class Publication:
    """One disclosure view for everything a publication prints.

    A report prints a few counts outright (the people submitted, the people analysed: its
    ``totals``) and several count tables that add up to them (the attrition to the people
    submitted; every profile and sub-group dimension to the people analysed). Each table is
    protected once, here, with its published total and the categories printed elsewhere
    (``fixed``) never hidden; every part of the report that prints a count of that table (the
    profile, the sub-analyses, the flow figure, a letter) takes it from this view, so no count is
    printed in one place and hidden in another. :meth:`audit` checks the whole view exactly.
    """

    def __init__(self, threshold: int = THRESHOLD):
        self.threshold = threshold
        self.totals: dict[str, int] = {}
        self.tables: dict[str, ProtectedCounts] = {}
        self._given: dict[str, pd.Series] = {}

    def total(self, name: str, value: int) -> int:
        """Record a count printed outright (the same name always the same value); returns it."""
        value = int(value)
        if self.totals.setdefault(name, value) != value:
            raise ValueError(f"the published total {name!r} is already {self.totals[name]}, not {value}")
        return value

    def counts(self, name: str, counts: pd.Series, total: str, title: str | None = None, fixed=(),
               merge_label: str | None = None) -> ProtectedCounts:
        """The protected table ``name`` (:func:`protect_counts`): its counts must add up to the
        published total ``total``. Asked again for the same name, the same table is returned
        (the counts must be the same)."""
        counts = counts.astype(np.int64)
        if name in self.tables:
            if not self._given[name].equals(counts):
                raise ValueError(f"the table {name!r} is already published with other counts")
            return self.tables[name]
        if total not in self.totals:
            raise ValueError(f"publish the total {total!r} before the tables that add up to it")
        if int(counts.sum()) != self.totals[total]:
            raise ValueError(f"the table {name!r} adds up to {int(counts.sum())}, not to the published "
                             f"{total} ({self.totals[total]})")
        table = protect_counts(counts, title or name, fixed, merge_label, self.threshold)
        self.tables[name], self._given[name] = table, counts
        return table

    def notes(self, names=None) -> list[str]:
        """Plain-words notes on the markers used and on any merged categories, for the tables
        ``names`` (default all). Category names in them are the lab's own words or labels the
        profile has already grouped; escape them for Markdown where rendered."""
        chosen = [self.tables[n] for n in (self.tables if names is None else names) if n in self.tables]
        used = {kind for table in chosen for kind in table.kinds}
        notes = [MARKER_NOTES[kind] for kind in ("small", "hidden") if kind in used]
        for table in chosen:
            if table.merged:
                members = ", ".join(str(m) for m in table.merged)
                note = (f"{table.title}: \"{table.merge_label}\" combines {members}, so that no count "
                        "below 5 is shown for any one of them")
                if table.kinds.get(table.merge_label) == "derived":
                    note += ("; the combined count is shown because it follows from totals published in "
                             "this report")
                notes.append(note + ".")
        return notes

    def audit(self) -> pd.DataFrame:
        """The exact check over every table of the view (:func:`recoverable_cells`, a reader who
        knows the published totals and reads "<5" as 1 to 4 and "[c]" as 5 or more): one row per
        hidden count with its table, category, value, least and greatest value and whether it is
        recoverable; also checks that no fixed category and no total is hidden."""
        rows = []
        for name, table in self.tables.items():
            hidden = table.kinds.isin(["small", "hidden"])
            if hidden[list(table.fixed)].any() if table.fixed else False:
                raise AssertionError(f"{name}: a count printed elsewhere is hidden")
            if not hidden.any():
                continue
            values = table.counts.to_frame("count")
            audit = recoverable_cells(hidden.to_frame("count"), values, row_totals_published=False,
                                      column_totals_published=True, threshold=self.threshold, marked=True)
            rows.append(audit.assign(table=name).rename(columns={"row": "category"}))
        columns = ["table", "category", "value", "low", "high", "recoverable"]
        return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)

    def scrap(self) -> dict:
        """The view as JSON-ready aggregates: the totals, and per table the published strings."""
        return {"totals": dict(self.totals),
                "tables": {name: {str(k): str(v) for k, v in table.shown.items()}
                           for name, table in self.tables.items()}}


def small_count(n: int | float | None, threshold: int = THRESHOLD) -> str:
    """A count printed on its own (not part of a protected table): "<5" from 1 to 4, else with
    thousands separators; "" for None."""
    if n is None:
        return ""
    n = int(round(float(n)))
    return SUPPRESSED if 1 <= n < threshold else f"{n:,}"
