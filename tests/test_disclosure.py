"""Disclosure control (jdl.stats.disclosure), methodology section 7: hand-worked tables with their exact
published strings, and an exact audit (each suppressed cell's least and greatest value by linear
programming) that finds nothing recoverable after `suppress` on 300 random tables, yet does find
the values that primary suppression alone, or the line rule alone, gives away."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl.stats.disclosure import (SUPPRESSED, CannotProtect, THRESHOLD, _fixed, _problem, recoverable_cells,
                                  suppress, suppress_series)


def _frame(rows):
    return pd.DataFrame(rows).set_index("row").rename_axis(None)


def _with_margins(counts):
    counts = np.asarray(counts)
    return np.block([[counts, counts.sum(axis=1, keepdims=True)],
                     [counts.sum(axis=0, keepdims=True), counts.sum(keepdims=True)]])


def test_constants():
    assert (THRESHOLD, SUPPRESSED) == (5, "<5")


def test_one_small_cell_gets_a_rectangle_of_suppressions():
    table = pd.DataFrame({"a": [120, 30, 75], "b": [45, 3, 50], "c": [60, 80, 1234]}, index=["x", "y", "z"])
    result = suppress(table)
    # row y: its smallest other cell is a=30; column a then takes z (75 < 120); row z takes b=50,
    # which closes the rectangle y/z x a/b (column b already had one suppression)
    # the small count is "<5"; the counts hidden to protect it are "[c]"
    expected = pd.DataFrame({"a": ["120", "[c]", "[c]"], "b": ["45", "<5", "[c]"], "c": ["60", "80", "1,234"]},
                            index=["x", "y", "z"])
    pd.testing.assert_frame_equal(result.shown, expected)
    pd.testing.assert_frame_equal(result.mask, expected.isin(["<5", "[c]"]))
    assert result.primary.to_numpy().sum() == 1 and result.primary.loc["y", "b"]
    assert not result.full_mask.loc["Total"].any() and not result.full_mask["Total"].any()
    # a reader knows only the shown cells and the (unprinted, but printable) totals
    audit = recoverable_cells(result.mask, table)
    assert audit[["row", "column", "value"]].values.tolist() == [["y", "a", 30], ["y", "b", 3],
                                                               ["z", "a", 75], ["z", "b", 50]]
    assert audit.low.tolist() == [0, 0, 72, 20] and audit.high.tolist() == [33, 33, 105, 53]
    cautious = recoverable_cells(result.mask, table, threshold=5)  # "<5" read as 1 to 4
    assert cautious.low.tolist() == [29, 1, 73, 49] and cautious.high.tolist() == [32, 4, 76, 52]
    assert not audit.recoverable.any() and not cautious.recoverable.any()
    # a reader of the markers knows each "[c]" is 5 or more
    marked = recoverable_cells(result.mask, table, threshold=5, marked=True)
    assert marked.low.tolist() == [29, 1, 73, 49] and marked.high.tolist() == [32, 4, 76, 52]
    assert not marked.recoverable.any()


def test_profile_series_suppresses_a_second_category():
    shown = suppress_series(pd.Series({"Male": 55, "Female": 3, "Unknown": 20}, name="count"))
    assert shown.to_dict() == {"Male": "55", "Female": "<5", "Unknown": "[c]", "Total": "78"}
    assert suppress_series(pd.Series({"Male": 55, "Female": 3}), total=False).to_dict() == {
        "Male": "[c]", "Female": "<5"}  # the total, printable elsewhere, is protected against anyway
    # two small categories whose sum the total gives (2) would both be 1: a third goes with them
    assert suppress_series(pd.Series({"A": 50, "B": 1, "C": 1})).to_dict() == {
        "A": "[c]", "B": "<5", "C": "<5", "Total": "52"}
    # as value_counts gives it on a categorical column, an empty category included
    sex = pd.Series(pd.Categorical(["M"] * 55 + ["F"] * 3, categories=["M", "F", "X"]))
    assert suppress_series(sex.value_counts(sort=False)).to_dict() == {"M": "[c]", "F": "<5", "X": "0", "Total": "58"}


def test_table_without_small_counts_is_only_formatted():
    table = pd.DataFrame({"treated": [1234, 56], "comparison": [98765, 0]}, index=["yes", "no"])
    result = suppress(table)
    assert result.shown.to_dict() == {"treated": {"yes": "1,234", "no": "56"},
                                      "comparison": {"yes": "98,765", "no": "0"}}
    assert not result.mask.to_numpy().any() and not result.full_mask.to_numpy().any()


def test_zeros_are_shown_and_are_not_chosen_as_complements():
    table = pd.DataFrame({"a": [3, 0, 7], "b": [0, 12, 0], "c": [20, 9, 40]}, index=["x", "y", "z"])
    result = suppress(table)
    assert result.shown.values.tolist() == [["<5", "0", "[c]"], ["0", "12", "9"], ["[c]", "0", "[c]"]]
    assert not result.primary.to_numpy()[table.to_numpy() == 0].any()
    assert suppress_series(pd.Series({"A": 0, "B": 17})).tolist() == ["0", "17", "17"]


def test_small_totals_are_suppressed():
    table = _frame([{"row": "r1", "a": 1, "b": 2, "total": 3},
                    {"row": "r2", "a": 40, "b": 50, "total": 90},
                    {"row": "Total", "a": 41, "b": 52, "total": 93}])
    result = suppress(table, row_total="total", column_total="Total")
    assert result.shown.values.tolist() == [["<5", "<5", "<5"], ["[c]", "[c]", "[c]"], ["41", "52", "93"]]
    assert result.primary.loc["r1"].tolist() == [True, True, True]  # the total 3 is itself a count
    # a single small count: no other cell can hide it, so its total goes too (and the hidden row
    # total, equal to the cell, must never be printed either)
    assert suppress_series(pd.Series({"A": 3})).to_dict() == {"A": "<5", "Total": "<5"}
    assert suppress(pd.DataFrame({"count": [3]})).full_mask.to_numpy().all()


def test_totals_must_add_up_and_counts_be_whole():
    table = _frame([{"row": "r1", "a": 10, "total": 11}])
    with pytest.raises(ValueError, match="sums"):
        suppress(table, row_total="total")
    with pytest.raises(ValueError, match="whole"):
        suppress(pd.DataFrame({"a": [1.5, 7]}))
    with pytest.raises(ValueError, match="whole"):
        suppress(pd.DataFrame({"a": [-1, 7]}))


@pytest.mark.slow
def test_random_tables_leave_nothing_recoverable():
    rng = np.random.default_rng(20140301)
    primaries = secondaries = cannot = 0
    for case in range(300):
        shape = tuple(rng.integers(1, 7, size=2))  # 1 to 6 rows and columns
        small = rng.random(shape) < rng.uniform(0.2, 0.8)
        counts = np.where(small, rng.integers(0, 5, shape), rng.integers(5, 80, shape))
        full = _with_margins(counts)
        table = pd.DataFrame(counts, index=[f"r{i}" for i in range(shape[0])],
                             columns=[f"c{j}" for j in range(shape[1])])
        try:
            if case % 2:  # every other table prints its totals
                table = pd.DataFrame(full, index=[*table.index, "Total"], columns=[*table.columns, "Total"])
                result = suppress(table, row_total="Total", column_total="Total")
            else:
                result = suppress(table)
        except CannotProtect:
            # only when even hiding every non-zero count leaves a small one pinned (by zeros
            # around it, or "<5" cells that can only be 1s)
            everything = (full > 0)
            assert recoverable_cells(everything, counts, threshold=5, marked=True).recoverable.any()
            cannot += 1
            continue
        mask = result.full_mask.to_numpy()
        small_count = (full >= 1) & (full < 5)
        assert mask[small_count].all()  # every primary cell (margins included) is suppressed
        np.testing.assert_array_equal(result.primary.to_numpy(), small_count[:len(table), :table.shape[1]])
        assert ((mask.sum(axis=0) != 1).all() and (mask.sum(axis=1) != 1).all())
        shown = np.where(small_count, "<5", np.where(mask, "[c]", np.vectorize("{:,}".format)(full)))
        shown = shown[:len(table), :table.shape[1]]
        np.testing.assert_array_equal(result.shown.to_numpy(), shown)
        # the cautious reader (non-negative, "<5" read as 1 to 4) knows more than one who assumes
        # only non-negativity, so nothing recoverable for it means nothing for the other either
        audit = recoverable_cells(mask, counts, threshold=5, marked=True)
        assert not audit.recoverable.any(), (counts, mask, audit)
        assert not (mask & ~small_count & (full == 0)).any()  # a zero is never hidden
        primaries += small_count.sum()
        secondaries += (mask & ~small_count).sum()
    assert primaries > 500 and secondaries > 500  # the cases are not trivial
    assert cannot < 30, cannot


def test_audit_finds_what_incomplete_suppression_gives_away():
    counts = pd.DataFrame({"a": [3, 40], "b": [50, 20], "c": [60, 10]})
    primary_only = counts < 5
    audit = recoverable_cells(primary_only, counts)
    assert audit[["value", "low", "high", "recoverable"]].values.tolist() == [[3, 3, 3, True]]
    assert recoverable_cells(primary_only, counts, row_totals_published=False).recoverable.tolist() == [True]
    assert not recoverable_cells(primary_only, counts, False, False).recoverable.any()
    # every line has two suppressions, yet column b's total of 0 pins its cells, and so the 3
    zeros = np.array([[3, 0], [5, 0]])
    assert recoverable_cells(np.ones((2, 2), bool), zeros).recoverable.all()
    # two "<5" cells whose sum the total gives as 2: safe only for a reader who ignores that "<5"
    # means 1 to 4
    pair = np.array([[50], [1], [1]])
    mask = pair < 5
    assert not recoverable_cells(mask, pair, row_totals_published=False).recoverable.any()
    audit = recoverable_cells(mask, pair, row_totals_published=False, threshold=5)
    assert audit[["low", "high", "recoverable"]].values.tolist() == [[1, 1, True], [1, 1, True]]


def test_internal_audit_agrees_with_linear_programming():
    """`suppress` audits with implicit zeros and a null-space test; the tests' audit with the
    least and greatest value of each cell: on random masks, both must call the same cells."""
    rng = np.random.default_rng(7)
    recoverable = 0
    for _ in range(60):
        shape = tuple(rng.integers(1, 6, size=2))
        counts = np.where(rng.random(shape) < 0.5, rng.integers(0, 5, shape), rng.integers(5, 40, shape))
        full = _with_margins(counts)
        mask = rng.random(full.shape) < rng.uniform(0.1, 0.9)
        for threshold in (None, 5):
            bounded = mask & (full >= 1) & (full < (threshold or 0))
            fixed = _fixed(*_problem(full, mask, bounded, threshold or 5))
            np.testing.assert_array_equal(fixed, recoverable_cells(mask, counts, threshold=threshold).recoverable)
            recoverable += fixed.sum()
    assert recoverable > 60


# ---------------------------------------------------------------------------------------------
# one disclosure view per publication

from jdl.cohort.attrition import BUCKETS, OTHER_REASONS  # noqa: E402
from jdl.stats.disclosure import HIDDEN, Publication, protect_counts  # noqa: E402


def _attrition(**counts):
    series = pd.Series(0, index=list(BUCKETS))
    for bucket, n in counts.items():
        series[bucket.replace("_", " ")] = n
    return series


def _report_view(counts):
    publication = Publication()
    publication.total("submitted", counts.sum())
    publication.total("analysed", counts["analysed"])
    table = publication.counts("attrition", counts, "submitted", "Attrition", fixed=["analysed"],
                               merge_label=OTHER_REASONS)
    return publication, table


def test_one_small_attrition_bucket_is_merged_not_hidden_beside_a_printed_total():
    # 90 submitted, 88 analysed (both printed in the summary), 2 not found: hiding the 2 would need
    # "analysed" hidden too, which the summary prints; the reasons are combined instead, and the
    # combined count, 90 - 88, is printed since the totals give it anyway
    publication, table = _report_view(_attrition(not_found=2, analysed=88))
    assert table.shown.to_dict() == {OTHER_REASONS: "2", "analysed": "88", "Total": "90"}
    assert table.kinds.to_dict() == {OTHER_REASONS: "derived", "analysed": "count"}
    assert table.merged == tuple(b for b in BUCKETS if b != "analysed")
    assert publication.notes() == [
        f'Attrition: "{OTHER_REASONS}" combines duplicate row, insufficient identifiers, not found, ambiguous '
        "match, no eligible index event, index event outside the data window, under 18 at index, missing data "
        "needed by the model, no comparison match, so that no count below 5 is shown for any one of them; the "
        "combined count is shown because it follows from totals published in this report."]
    assert publication.audit().empty


def test_a_small_bucket_beside_a_larger_one_is_hidden_with_it_and_analysed_stays_printed():
    publication, table = _report_view(_attrition(not_found=2, no_comparison_match=7, analysed=81))
    shown = table.shown[table.shown != "0"].to_dict()
    assert shown == {"not found": SUPPRESSED, "no comparison match": HIDDEN, "analysed": "81", "Total": "90"}
    audit = publication.audit()
    assert audit[["category", "value", "low", "high"]].values.tolist() == [
        ["not found", 2, 1, 4], ["no comparison match", 7, 5, 8]]
    assert not audit["recoverable"].any()
    assert publication.notes() == ['"<5" marks a count from 1 to 4, not shown.',
                                   '"[c]" marks a count of 5 or more that is not shown, so that a count below 5 '
                                   'cannot be worked out from the totals.']


def test_two_ones_beside_a_five_are_merged_because_hiding_would_pin_them():
    # hidden: 1 + 1 + "[c]" = 7 with "[c]" at least 5 leaves both "<5" at 1; merged: "<5" (2) and "[c]" (5)
    publication, table = _report_view(_attrition(not_found=1, ambiguous_match=1, no_comparison_match=5, analysed=83))
    assert table.shown.to_dict() == {"no comparison match": HIDDEN, OTHER_REASONS: SUPPRESSED, "analysed": "83",
                                     "Total": "90"}
    assert "no comparison match" not in table.merged and "not found" in table.merged
    audit = publication.audit()
    assert audit[["category", "low", "high"]].values.tolist() == [["no comparison match", 5, 6], [OTHER_REASONS, 1, 2]]
    assert not audit["recoverable"].any()


def test_a_fixed_small_count_is_printed_and_the_rest_protected_around_it():
    # a letter: 70 submitted, 3 analysed (the letter says so); the other buckets are protected around it
    publication, table = _report_view(_attrition(not_found=40, no_eligible_index_event=25, under_18_at_index=2,
                                                 analysed=3))
    assert table.shown["analysed"] == "3" and table.shown["under 18 at index"] == SUPPRESSED
    assert table.shown["no eligible index event"] == HIDDEN and table.shown["not found"] == "40"
    assert not publication.audit()["recoverable"].any()


def test_a_publication_shares_its_tables_and_checks_their_totals():
    publication = Publication()
    publication.total("analysed", 43)
    sex = pd.Series({"Male": 40, "Female": 3})
    first = publication.counts("sex", sex, "analysed", "Sex")
    assert publication.counts("sex", sex.copy(), "analysed") is first
    with pytest.raises(ValueError, match="already published with other counts"):
        publication.counts("sex", pd.Series({"Male": 41, "Female": 2}), "analysed")
    with pytest.raises(ValueError, match="adds up to 44, not to the published analysed"):
        publication.counts("age", pd.Series({"18-20": 44}), "analysed")
    with pytest.raises(ValueError, match="publish the total 'submitted'"):
        publication.counts("attrition", sex, "submitted")
    with pytest.raises(ValueError, match="already 43"):
        publication.total("analysed", 44)
    assert publication.scrap() == {"totals": {"analysed": 43},
                                   "tables": {"sex": {"Male": "[c]", "Female": "<5", "Total": "43"}}}


def test_without_a_merge_label_an_unprotectable_table_is_an_error():
    with pytest.raises(CannotProtect):
        protect_counts(pd.Series({"A": 88, "B": 2}), fixed=["A"])
