"""The tables of an executed demo report read as a publication's (issue 14): no snake_case name in
any table header or row label, no "-0" anywhere in a table, every interval on one line; the
results in the Justice Data Lab's groups; the profile beside the comparison group. Reads the
session's report month (tests/session_data.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from jdl.report.labels import MEASURE_COLUMNS, MEASURE_GROUPS
from jdl.stats.profile import PROFILE_COLUMNS
from session_data import MONTH

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
MINUS_ZERO = re.compile(r"(?<![\d.,])-0(?:\.0+)?(?![\d.,])")
SPACED_INTERVAL = re.compile(r"\d%? to -?\d")          # "a to b" with breakable spaces


class Tables(HTMLParser):
    """Every table's cells: (tag, text, inside thead) per row, per table."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._cell, self._head = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("th", "td") and self.tables:
            self._cell = [tag, "", self._head]

    def handle_endtag(self, tag):
        if tag == "thead":
            self._head = False
        elif tag in ("th", "td") and self._cell is not None:
            self.tables[-1][-1].append((self._cell[0], self._cell[1].strip(), self._cell[2]))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def tables_of(html: str) -> list:
    parser = Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def tables(report_month):
    html = (report_month.report(f"{MONTH}-001") / "report.html").read_text()
    return tables_of(html)


def cells(tables):
    return [cell for table in tables for row in table for cell in row]


def test_the_parser_reads_headers_row_labels_and_cells():
    [table] = tables_of("<table><thead><tr><th>Measure</th><th>a_b</th></tr></thead>"
                        "<tbody><tr><th>row&nbsp;x</th><td>-0</td></tr></tbody></table>")
    assert table == [[("th", "Measure", True), ("th", "a_b", True)], [("th", "row\u00a0x", False), ("td", "-0", False)]]
    assert SNAKE.search("treated_mean_before") and SNAKE.search("index_offence_group_violence against")
    assert not SNAKE.search("Index offence: Violence against the person")
    assert [bool(MINUS_ZERO.search(t)) for t in ("-0", "-0.00", "-0%", "-0.04", "-10", "0", "1-0")] == [
        True, True, True, False, False, False, False]
    assert SPACED_INTERVAL.search("-14 to -2") and not SPACED_INTERVAL.search("-14\u00a0to\u00a0-2")


def test_no_table_header_or_row_label_is_a_code_name(tables):
    assert len(tables) >= 10
    named = [text for tag, text, _ in cells(tables) if tag == "th" and SNAKE.search(text)]
    assert named == []


def test_no_table_prints_minus_zero_and_no_interval_wraps(tables):
    texts = [text for _, text, _ in cells(tables)]
    assert [t for t in texts if MINUS_ZERO.search(t)] == []
    assert [t for t in texts if SPACED_INTERVAL.search(t)] == []
    intervals = [t for t in texts if re.fullmatch(r"-?[\d.,]+\u00a0to\u00a0-?[\d.,]+", t)]
    assert len(intervals) >= 10                                  # results, sub-groups, region


def test_the_results_come_in_the_jdl_groups_with_their_columns(tables):
    headers = [[text for tag, text, head in row if head] for table in tables for row in table]
    results = [h for h in headers if h[1:] == list(MEASURE_COLUMNS[1:])]
    assert len(results) >= 5                   # a group whose measures are all there, one header row each
    labels = {text for table in tables for row in table for tag, text, head in row[:1] if not head}
    for _, members in MEASURE_GROUPS:
        assert {label for _, label in members} <= labels
    assert not any("Note" in h for h in headers)


def test_the_profile_shows_both_groups(tables):
    headers = [text for tag, text, head in cells(tables) if head]
    assert set(PROFILE_COLUMNS) <= set(headers)
    assert "Previous offences (mean)" in {text for _, text, _ in cells(tables)}
