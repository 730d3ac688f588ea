"""The summary bulletin (jdl.run.bulletin): statuses, counts, tally, words, table, forest plot, the
evidence library (results by programme type, DerSimonian-Laird pooling) and the summary notebook
run end to end through papermill.

The fixture is two months of params files and fake executed report notebooks: each is a tiny
notebook that glues every scrap named in jdl.run.requests.SCRAPS, executed by papermill (one kernel
run for the four reports), so the bulletin reads real scrapbook outputs. Two published results are
"mentoring" (pooled), one is "arts" (one result: not pooled).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
import scrapbook
import seaborn as sns
import yaml
from click.testing import CliRunner
from fs_helpers import write_request
from pdf_figures import figure_pages
from nbformat.v4 import new_code_cell, new_notebook
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from jdl.run import bulletin
from jdl import words
from jdl.run.bulletin import Bulletin, collect, forest_plot, results_table
from jdl.run import requests
from jdl.run.requests import SCRAPS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "notebooks" / "monthly_summary.ipynb"

# id -> params fields (besides id, date_received and upload)
PARAMS = {
    "2014-02": {
        "2014-02-001": {"organisation": "Safe Ground", "programme": "Family Man", "programme_type": "mentoring"},
        "2014-02-002": {"organisation": "Open Doors", "programme": "Pathways", "status": "withdrawn"},
    },
    "2014-03": {
        "2014-03-001": {"organisation": "Footprints", "programme": "Gateway Mentoring", "programme_type": "mentoring"},
        "2014-03-002": {"organisation": "Prison Arts Trust", "programme": "Stage Two", "programme_type": "arts"},
        "2014-03-003": {"organisation": "Second Chance", "programme": "Housing Advice"},
        "2014-03-004": {"organisation": "New Leaf", "programme": "Job Club", "status": "in progress"},
        "2014-03-005": {"organisation": "Bridge Works", "programme": "Peer Support"},   # failed in run.json
        "2014-03-006": {"organisation": "Hope Street", "programme": "Family Links"},   # received, not yet run
    },
}


def region_result(n_treated, difference, lower, upper, p):
    """A "controlled for region" or sub-group result as the report glues it."""
    return {"status": "run", "n_treated": n_treated, "difference": difference, "lower": lower, "upper": upper,
            "p_value": p, "verdict": "inconclusive"}


def employment(treated, comparison, lower, upper, p):
    """An experimental employment scrap as a report glues it: employed_in_year shown, benefit_at_year_end gated."""
    return {"employed_in_year": {"label": "In P45 employment at any time in the year after", "kind": "rate",
                                 "shown": True, "treated_mean": treated, "comparison_mean": comparison,
                                 "difference": treated - comparison, "lower": lower, "upper": upper, "p_value": p,
                                 "significant": p <= 0.05},
            "benefit_at_year_end": {"label": "On out-of-work benefits at the end of the year", "kind": "rate",
                                    "shown": False, "reason": "not reported: too few people"}}


# the employment scraps of the fake reports: Safe Ground's report was made before the scrap existed
GATED_EMPLOYMENT = {"employed_in_year": {"label": "In P45 employment at any time in the year after", "kind": "rate",
                                         "shown": False, "reason": "not reported: too few people"}}


def published(organisation, programme, verdict, n_treated, n_comparison, treated, comparison, lower, upper, p,
              standard_error, employment_scrap=None):
    return {"organisation": organisation, "programme": programme, "status": "published", "verdict": verdict,
            "reason": None, "n_submitted": n_treated + 40, "n_treated": n_treated, "n_comparison": n_comparison,
            "n_comparison_effective": n_comparison * 0.8, "treated_rate": treated, "comparison_rate": comparison,
            "difference": round(treated - comparison, 4), "lower": lower, "upper": upper, "p_value": p,
            "number_needed": 5200.0 if verdict == "inconclusive" else None,
            "e_value": 1.8, "e_value_bound": 1.0 if verdict == "inconclusive" else 1.2,
            "adjusted_difference": round(treated - comparison, 4) + 0.001,
            "attrition": {"submitted": n_treated + 40, "analysed": n_treated},
            "standard_error": standard_error,
            "controlled_for_region": region_result(n_treated - 12, -0.03, -0.08, 0.02, 0.2),
            "subgroups": [{"dimension": "sex", "level": "male", **region_result(n_treated - 30, -0.02, -0.09, 0.05,
                                                                                 0.57)}],
            "published_counts": {"totals": {"submitted": n_treated + 40, "analysed": n_treated}, "tables": {}},
            "match": {"method": "radius", "caliper_sd": 0.2}, "employment": employment_scrap}


NOT_RUN = {"verdict": "not processed", "reason": "fewer than 60 people could be analysed", "n_submitted": 48,
           "n_treated": 0, "n_comparison": 0, "n_comparison_effective": None, "treated_rate": None,
           "comparison_rate": None, "difference": None, "lower": None, "upper": None, "p_value": None,
           "number_needed": None, "e_value": None, "e_value_bound": None, "adjusted_difference": None,
           "attrition": {"submitted": 48, "analysed": 0}, "standard_error": None,
           "controlled_for_region": None, "subgroups": None,
           "published_counts": {"totals": {"submitted": 48, "analysed": 0}, "tables": {}}, "match": None,
           "employment": None}

# (month, id) -> the scraps its fake report glues (request_id, programme_type, date_received added)
REPORTS = {
    ("2014-02", "2014-02-001"): published("Safe Ground", "Family Man", "significant reduction", 312, 2140,
                                          0.2211, 0.3049, -0.1349, -0.0327, 0.0014, 0.0261),
    ("2014-03", "2014-03-001"): published("Footprints", "Gateway Mentoring", "inconclusive", 1234, 15678,
                                          0.2410, 0.2702, -0.0884, 0.0300, 0.334, 0.0302,
                                          employment(0.4456, 0.2633, 0.1350, 0.2295, 1.4e-13)),
    ("2014-03", "2014-03-002"): published("Prison Arts Trust", "Stage Two", "significant increase", 205, 1890,
                                          0.4125, 0.3610, 0.0105, 0.0925, 0.0449, 0.0209, GATED_EMPLOYMENT),
    ("2014-03", "2014-03-003"): {"organisation": "Second Chance", "programme": "Housing Advice",
                                 "status": "not processed", **NOT_RUN},
}

RUN = {"month": "2014-03", "outcomes": [
    {"id": "2014-03-001", "status": "published", "verdict": "inconclusive", "error": None, "seconds": 41.0,
     "notebook": "outputs/2014-03/2014-03-001/report.ipynb", "html": None, "pdf": None},
    {"id": "2014-03-002", "status": "published", "verdict": "significant increase", "error": None,
     "seconds": 39.5, "notebook": None, "html": None, "pdf": None},
    {"id": "2014-03-003", "status": "not processed", "verdict": "not processed", "error": None, "seconds": 8.0,
     "notebook": None, "html": None, "pdf": None},
    {"id": "2014-03-004", "status": "in progress", "verdict": None, "error": None, "seconds": 0.0,
     "notebook": None, "html": None, "pdf": None},
    {"id": "2014-03-005", "status": "failed", "verdict": None, "error": "KeyError: 'region'", "seconds": 3.2,
     "notebook": None, "html": None, "pdf": None},
]}

GLUE = ("import scrapbook as sb\n\n\n"
        "def glue_all(scraps):\n"
        "    # scrapbook cannot glue None (its schema rejects null): a missing value is a missing scrap\n"
        "    for name, value in scraps.items():\n"
        "        if value is not None:\n"
        "            sb.glue(name, value, encoder='text' if isinstance(value, str) else 'json')")
KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def write_params(params_root: Path) -> None:
    for month, requests in PARAMS.items():
        (params_root / month).mkdir(parents=True)
        for request_id, fields in requests.items():
            raw = {"id": request_id, "date_received": f"{month}-01", "upload": f"data/uploads/{request_id}.csv",
                   **fields}
            (params_root / month / f"{request_id}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def fake_reports(folder: Path, reports: dict[Path, dict]) -> None:
    """Write a fake executed report at each path of ``reports`` gluing its scraps. One kernel run:
    papermill executes a notebook with one cell per report; each report is then that cell with
    its scrapbook outputs."""
    runner = new_notebook(cells=[new_code_cell(GLUE)] + [new_code_cell(f"glue_all({scraps!r})")
                                                          for scraps in reports.values()], metadata=KERNELSPEC)
    nbformat.write(runner, folder / "fake_reports.ipynb")
    papermill.execute_notebook(str(folder / "fake_reports.ipynb"), str(folder / "fake_reports.out.ipynb"),
                               progress_bar=False, kernel_name="python3")
    executed = nbformat.read(folder / "fake_reports.out.ipynb", as_version=4)
    for path, cell in zip(reports, executed.cells[1:]):
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(new_notebook(cells=[cell], metadata=KERNELSPEC), path)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    write_params(root / "params")
    reports = {}
    for (month, request_id), scraps in REPORTS.items():
        fields = PARAMS[month][request_id]
        scraps = {"request_id": request_id, "programme_type": fields.get("programme_type", "other"),
                  "date_received": f"{month}-01", **scraps}
        assert set(scraps) == set(SCRAPS), "the fake report must glue exactly the scraps of the contract"
        reports[root / "outputs" / month / request_id / "report.ipynb"] = scraps
    fake_reports(tmp_path_factory.mktemp("fake_reports"), reports)
    (root / "outputs" / "2014-03" / "run.json").write_text(json.dumps(RUN))
    return root


@pytest.fixture(scope="module")
def march(project) -> Bulletin:
    return collect(project / "params", project / "outputs", "2014-03")


@pytest.fixture(scope="module")
def february(project) -> Bulletin:
    return collect(project / "params", project / "outputs", "2014-02")


# ---------------------------------------------------------------- collect


def test_requests_frame_has_one_row_per_request_with_its_status(march):
    requests = march.requests
    assert list(requests.columns) == list(bulletin.COLUMNS)
    assert dict(zip(requests["id"], requests["status"])) == {
        "2014-02-001": "published", "2014-02-002": "withdrawn", "2014-03-001": "published",
        "2014-03-002": "published", "2014-03-003": "not processed", "2014-03-004": "in progress",
        "2014-03-005": "failed", "2014-03-006": "in progress"}
    assert dict(zip(requests["id"], requests["verdict"].fillna(""))) == {
        "2014-02-001": "significant reduction", "2014-02-002": "", "2014-03-001": "inconclusive",
        "2014-03-002": "significant increase", "2014-03-003": "not processed", "2014-03-004": "",
        "2014-03-005": "", "2014-03-006": ""}
    assert requests["reason"].fillna("").tolist() == [""] * 4 + ["fewer than 60 people could be analysed"] + [""] * 3
    footprints = requests.set_index("id").loc["2014-03-001"]
    assert footprints[["month", "organisation", "programme", "programme_type"]].tolist() == [
        "2014-03", "Footprints", "Gateway Mentoring", "mentoring"]
    assert footprints[["n_treated", "n_comparison"]].tolist() == [1234, 15678]
    assert footprints[list(bulletin.NUMBER_COLUMNS)].tolist() == pytest.approx(
        [0.2410, 0.2702, -0.0292, -0.0884, 0.0300, 0.334])
    assert requests.set_index("id").loc[["2014-03-003", "2014-03-006"], "treated_rate"].isna().all()
    assert dict(zip(requests["id"], requests["standard_error"].fillna(-1))) == {
        "2014-02-001": 0.0261, "2014-02-002": -1, "2014-03-001": 0.0302, "2014-03-002": 0.0209,
        "2014-03-003": -1, "2014-03-004": -1, "2014-03-005": -1, "2014-03-006": -1}


def test_counts_and_tally(march):
    assert march.counts == {"received": 8, "published": 3, "not processed": 1, "withdrawn": 1, "failed": 1,
                            "in progress": 2}
    assert (march.received, march.published, march.not_processed, march.withdrawn, march.failed,
            march.in_progress) == (8, 3, 1, 1, 1, 2)
    assert march.tally == {"significant reduction": 1, "significant increase": 1, "inconclusive": 1}


def test_first_month_ignores_the_second(february):
    assert february.requests["id"].tolist() == ["2014-02-001", "2014-02-002"]
    assert february.counts == {"received": 2, "published": 1, "not processed": 0, "withdrawn": 1, "failed": 0,
                               "in progress": 0}
    assert february.tally == {"significant reduction": 1, "significant increase": 0, "inconclusive": 0}
    assert february.findings == [
        ("Family Man run by Safe Ground: significant reduction; the re-offending rate was 22% against 30% for "
         "the comparison group (difference -8 percentage points, 95% interval -13 to -3)."),
        "Pathways run by Open Doors: withdrawn by the organisation that sent it."]
    assert february.headline == (
        "To date, the Justice Data Lab has received 2 requests for re-offending information, including 1 report "
        "which has been published (1 this month). Of the rest, 1 was withdrawn by the organisation that sent it.")
    assert february.title == "Justice Data Lab statistics: February 2014"


def test_findings_of_this_month_one_line_each(march):
    assert march.findings == [
        ("Gateway Mentoring run by Footprints: inconclusive; the re-offending rate was 24% against 27% for the "
         "comparison group (difference -3 percentage points, 95% interval -9 to 3)."),
        ("Stage Two run by Prison Arts Trust: significant increase; the re-offending rate was 41% against 36% for "
         "the comparison group (difference 5 percentage points, 95% interval 1 to 9)."),
        # the reason is the report's own (its 'reason' scrap, the lab's words), never a generic phrase
        "Housing Advice run by Second Chance: not processed because fewer than 60 people could be analysed.",
        "Job Club run by New Leaf: in progress; its report is not finished yet.",
        "Peer Support run by Bridge Works: failed; the analysis stopped with an error and will be run again.",
        "Family Links run by Hope Street: in progress; its report is not finished yet.",
    ]


def test_a_not_processed_finding_without_a_reason_says_the_criteria_were_not_met():
    row = {"id": "x", "organisation": "O", "programme": "P", "status": "not processed", "reason": None}
    assert made_up({}).finding(row) == "P run by O: not processed; the minimum criteria were not met."
    row["reason"] = "fewer than 60 people were submitted (48)."
    assert made_up({}).finding(row) == "P run by O: not processed because fewer than 60 people were submitted (48)."


@pytest.mark.parametrize("published, upcoming", [
    ("2026-12-05", "2027-01-28"),     # December: the last Thursday of the next year's January
    ("2014-03-31", "2014-04-24"),
    ("2014-04-01", "2014-05-29"),     # May 2014 ends on a Saturday
    ("2015-09-10", "2015-10-29"),
    ("2016-06-15", "2016-07-28"),     # July 2016 ends on a Sunday
    ("2016-02-01", "2016-03-31"),     # March 2016 ends on a Thursday
])
def test_next_release_is_the_last_thursday_of_the_next_month(published, upcoming):
    assert bulletin.release_dates(published) == (dt.date.fromisoformat(published), dt.date.fromisoformat(upcoming))
    assert bulletin.next_release(dt.date.fromisoformat(published)).weekday() == 3


def test_release_line_states_both_dates_and_defaults_to_the_run_date(monkeypatch):
    assert bulletin.release_markdown("2014-04-10") == (
        r"Published 10 April 2014\. Next release\: 29 May 2014 \(bulletins are published on the last Thursday "
        r"of each month\)\.")

    class Today(dt.date):
        @classmethod
        def today(cls):
            return cls(2026, 12, 5)

    monkeypatch.setattr(bulletin.dt, "date", Today)
    assert bulletin.release_dates("") == (Today(2026, 12, 5), dt.date(2027, 1, 28))
    assert bulletin.release_dates(None)[0] == dt.date(2026, 12, 5)


def test_release_dates_refuse_what_is_not_a_date():
    with pytest.raises(ValueError):
        bulletin.release_dates("last Thursday")


def test_headline_paragraph(march):
    assert march.title == "Justice Data Lab statistics: March 2014"
    assert march.headline == (
        "To date, the Justice Data Lab has received 8 requests for re-offending information, including 3 reports "
        "which have been published (2 this month). Of the rest, 1 could not be processed because the minimum "
        "criteria were not met, 1 was withdrawn by the organisation that sent it, 1 could not be completed "
        "because the analysis stopped with an error and 2 are still in progress.")
    assert march.tally_sentence == (
        "Of the 3 results published to date, 1 shows a significant reduction in re-offending, 1 a significant "
        "increase and 1 is inconclusive.")


def test_counts_table_shows_failed_only_when_some_failed(march, february):
    assert march.counts_table().values.tolist() == [
        ["Received", "8", "6"], ["Published", "3", "2"], ["Not processed (minimum criteria not met)", "1", "1"],
        ["Withdrawn", "1", "0"], ["Failed (to be run again)", "1", "1"], ["In progress", "2", "2"]]
    assert list(march.counts_table().columns) == ["Requests", "To date", "This month"]
    assert "Failed (to be run again)" not in february.counts_table()["Requests"].tolist()


def test_results_table_strings(march):
    table = results_table(march)
    assert list(table.columns) == list(bulletin.RESULTS_COLUMNS)
    assert table.values.tolist() == [
        ["February 2014", "Safe Ground: Family Man", "312 / 2,140", "22% / 30%", "-8", "-13\u00a0to\u00a0-3", "<0.01",
         "significant reduction"],
        ["March 2014", "Footprints: Gateway Mentoring", "1,234 / 15,678", "24% / 27%", "-3", "-9\u00a0to\u00a03", "0.33",
         "inconclusive"],
        ["March 2014", "Prison Arts Trust: Stage Two", "205 / 1,890", "41% / 36%", "5", "1\u00a0to\u00a09", "0.04",
         "significant increase"],
    ]


def test_employment_table_strings_from_the_scraps(march):
    """The experimental employment table: shown (rates, difference, interval, significance), gated
    ("not shown") and a report made before the scrap existed ("not recorded"); from the scraps the
    fake reports glued, through the notebooks."""
    table = bulletin.employment_table(march)
    assert list(table.columns) == list(bulletin.EMPLOYMENT_COLUMNS) == [
        "Month", "Organisation: programme", "In P45 employment (treatment / comparison)",
        "Difference (percentage points)", "95% interval", "Significant"]
    assert table.values.tolist() == [
        ["February 2014", "Safe Ground: Family Man", "not recorded: report made before these outcomes", "", "", ""],
        ["March 2014", "Footprints: Gateway Mentoring", "45% / 26%", "18", "14\u00a0to\u00a023", "Yes"],
        ["March 2014", "Prison Arts Trust: Stage Two", "not shown: too few with or without the outcome", "", "", ""],
    ]
    assert march.published_requests["employment"].iloc[0] is None
    # the words say experimental, and the markup of a name is escaped when shown
    assert bulletin.EMPLOYMENT_HEADING == "Experimental: employment in the year after"
    assert "Experimental statistics" in bulletin.EMPLOYMENT_INTRO
    hostile = march.requests.copy()
    hostile.loc[hostile["id"] == "2014-03-001", "organisation"] = "<b>Foot</b>"
    html = bulletin.table_style(bulletin.employment_table(Bulletin("2014-03", hostile)), "employment").to_html()
    assert "&lt;b&gt;Foot&lt;/b&gt;: Gateway Mentoring" in html and "<b>Foot" not in html


def test_employment_table_with_no_published_result_is_empty():
    empty = Bulletin("2014-03", pd.DataFrame(columns=list(bulletin.COLUMNS)))
    assert bulletin.employment_table(empty).empty


def test_tables_left_align_their_columns_of_words_as_the_reports_do(march):
    html = bulletin.table_style(results_table(march), "results").to_html()
    heads = dict(re.findall(r'<th id="T_results_level0_col(\d+)" class="col_heading level0 col\d+" >([^<]*)</th>', html))
    left = re.findall(r"#T_results th.col_heading.col(\d+) \{\n  text-align: left;\n\}\n#T_results td.col\1 "
                      r"\{\n  text-align: left;\n\}", html)
    assert [heads[i] for i in left] == ["Month", "Organisation: programme", "Verdict"]
    counts = bulletin.table_style(march.counts_table(), "counts").to_html()
    assert re.findall(r"#T_counts (\S+) \{\n  text-align: left;", counts) == ["th.col_heading.col0", "td.col0"]


def test_forest_plot_one_row_per_published_result_and_a_line_at_zero(march):
    figure = forest_plot(march)
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_yticklabels()] == [
        "Safe Ground: Family Man", "Footprints: Gateway Mentoring", "Prison Arts Trust: Stage Two"]
    zero_lines = [line for line in axes.lines if list(line.get_xdata()) == [0, 0]]
    assert len(zero_lines) == 1
    # one marker per published result, at its difference in percentage points, row by row, and its
    # interval's caps; one errorbar container per verdict, labelled for the legend
    containers = {c.get_label(): c for c in axes.containers}
    assert set(containers) == {"Significant reduction", "Significant increase", "Inconclusive"}
    markers = {(round(float(x), 2), int(y)) for c in containers.values()
               for x, y in zip(c.lines[0].get_xdata(), c.lines[0].get_ydata())}
    assert markers == {(-8.38, 0), (-2.92, 1), (5.15, 2)}
    caps = sorted(round(float(x), 2) for c in containers.values() for cap in c.lines[1] for x in cap.get_xdata())
    assert caps == [-13.49, -8.84, -3.27, 1.05, 3.0, 9.25]
    assert axes.yaxis_inverted()   # the first result at the top
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "Significant reduction", "Significant increase", "Inconclusive"]
    assert {label: (c.lines[0].get_marker(), c.lines[0].get_color()) for label, c in containers.items()} == {
        label: (marker, sns.color_palette("colorblind")[colour])
        for label, marker, colour in bulletin.FOREST_STYLE.values()}


def test_forest_plot_grows_with_rows_and_labels_repeats():
    rows = [{**dict.fromkeys(bulletin.COLUMNS), "month": f"2014-{1 + i % 12:02d}", "id": f"r{i:03d}",
             "organisation": "Org", "programme": "P" if i < 2 else f"P{i}", "status": "published",
             "verdict": "inconclusive", "n_treated": 100, "n_comparison": 900, "treated_rate": 0.3,
             "comparison_rate": 0.31, "difference": -0.01, "lower": -0.08, "upper": 0.06, "p_value": 0.7}
            for i in range(60)]
    many = Bulletin("2014-12", pd.DataFrame(rows, columns=list(bulletin.COLUMNS)))
    figure = forest_plot(many)
    assert len(figure.axes[0].get_yticklabels()) == 60
    assert figure.get_figheight() > 18   # about a third of an inch a row
    assert bulletin.forest_labels(many)[:3] == ["Org: P (January 2014)", "Org: P (February 2014)", "Org: P2"]
    empty = forest_plot(Bulletin("2014-12", pd.DataFrame(columns=list(bulletin.COLUMNS))))
    assert [line for line in empty.axes[0].lines if list(line.get_xdata()) == [0, 0]]


# ---------------------------------------------------------------- the evidence library


def dersimonian_laird(effect, standard_error):
    """DerSimonian-Laird by hand: (pooled difference, lower, upper, tau², I²), normal 95% interval."""
    effect, variance = np.asarray(effect, dtype=float), np.asarray(standard_error, dtype=float) ** 2
    k, w = len(effect), 1 / variance
    fixed = np.sum(w * effect) / np.sum(w)
    q = np.sum(w * (effect - fixed) ** 2)
    tau2 = max(0.0, (q - (k - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_random = 1 / (variance + tau2)
    pooled = np.sum(w_random * effect) / np.sum(w_random)
    half = stats.norm.ppf(0.975) * np.sqrt(1 / np.sum(w_random))
    return pooled, pooled - half, pooled + half, tau2, max(0.0, (q - (k - 1)) / q)


def library_row(i, programme_type, difference, standard_error, verdict="inconclusive", half_width=0.05):
    return {**dict.fromkeys(bulletin.COLUMNS), "month": "2014-03", "id": f"r{i:02d}", "organisation": f"Org {i}",
            "programme": f"Programme {i}", "programme_type": programme_type, "status": "published",
            "verdict": verdict, "n_treated": 100 * i, "n_comparison": 900, "treated_rate": 0.3,
            "comparison_rate": 0.3 - difference, "difference": difference, "lower": difference - half_width,
            "upper": difference + half_width, "p_value": 0.5, "standard_error": standard_error}


def library_bulletin(rows) -> Bulletin:
    return Bulletin("2014-03", pd.DataFrame(rows, columns=list(bulletin.COLUMNS)))


def test_library_table_groups_published_results_by_type(march):
    table = bulletin.evidence_library(march)
    assert list(table.columns) == list(bulletin.LIBRARY_COLUMNS)
    assert table.values.tolist() == [
        ["arts", "Prison Arts Trust", "Stage Two", "205", "5", "1\u00a0to\u00a09", "significant increase",
         "one result: not pooled"],
        ["mentoring", "Safe Ground", "Family Man", "312", "-8", "-13\u00a0to\u00a0-3", "significant reduction", "yes"],
        ["mentoring", "Footprints", "Gateway Mentoring", "1,234", "-3", "-9\u00a0to\u00a03", "inconclusive", "yes"],
    ]


def test_pooled_mentoring_matches_a_hand_computed_dersimonian_laird(march):
    pooled = bulletin.pooled_by_type(march).set_index("programme_type")
    assert pooled.index.tolist() == ["arts", "mentoring"]
    mentoring = pooled.loc["mentoring"]
    expected = dersimonian_laird([-0.0838, -0.0292], [0.0261, 0.0302])
    assert [mentoring[name] for name in ("difference", "lower", "upper", "tau2", "i2")] == pytest.approx(
        expected, abs=1e-10, rel=0)
    assert mentoring["tau2"] > 0 and 0 < mentoring["i2"] < 1   # the random-effects path, not the fallback
    assert (mentoring["results"], mentoring["k"], mentoring["people"], mentoring["people_pooled"],
            mentoring["note"]) == (2, 2, 1546, 1546, "")
    arts = pooled.loc["arts"]
    assert (arts["results"], arts["k"], arts["people"], arts["people_pooled"], arts["note"]) == (
        1, 0, 205, 0, "one result: not pooled")
    assert np.isnan(arts[["difference", "lower", "upper", "tau2", "i2"]].to_numpy(dtype=float)).all()
    assert bulletin.pooled_table(march).values.tolist() == [
        ["arts", "1", "0", "", "", "", "", "", "one result: not pooled"],
        ["mentoring", "2", "2", "1,546", "-6", "-11\u00a0to\u00a0-1", "3", "47%", ""]]
    assert list(bulletin.pooled_table(march).columns) == list(bulletin.POOLED_COLUMNS)
    assert bulletin.library_sentences(march) == [
        "Arts: one result: not pooled.",
        "Mentoring: 2 results pooled (1,546 people in their treatment groups). The pooled difference in the "
        "one-year proven re-offending rate is -6 percentage points, 95% interval -11 to -1. The interval is below "
        "zero: taken together, these results describe lower re-offending among the programmes' participants than "
        "among the similar people they were compared with. Between programmes: I² is 47%, the share of the "
        "variation between the results estimated to be beyond what chance alone would give, and tau², the "
        "estimated variance of the programmes' true differences, amounts to a spread of about 3 percentage "
        "points."]


@pytest.mark.parametrize("effect, standard_error, truncated", [
    ([-0.08, 0.01, -0.03], [0.02, 0.025, 0.03], False),
    ([-0.06, -0.02, 0.03, -0.11], [0.015, 0.04, 0.02, 0.05], False),
    ([-0.030, -0.031, -0.029], [0.02, 0.03, 0.025], True),    # Q < k - 1: statsmodels' tau² is negative
    ([0.02, 0.021], [0.01, 0.012], True),
])
def test_pool_matches_a_hand_computed_dersimonian_laird(effect, standard_error, truncated):
    pooled = bulletin.pool(effect, standard_error)
    expected = dersimonian_laird(effect, standard_error)
    assert (pooled.difference, pooled.lower, pooled.upper, pooled.tau2, pooled.i2) == pytest.approx(
        expected, abs=1e-10, rel=0)
    assert pooled.k == len(effect)
    assert pooled.standard_error == pytest.approx((pooled.upper - pooled.lower) / 2 / stats.norm.ppf(0.975),
                                                  abs=1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):   # statsmodels' own fit with a negative tau²
        untruncated = combine_effects(np.array(effect), np.array(standard_error) ** 2, method_re="dl").tau2
    assert (untruncated < 0) == truncated and (pooled.tau2 == 0) == truncated
    assert min(effect) <= pooled.difference <= max(effect)


def test_pool_refuses_what_it_cannot_pool():
    for effect, standard_error in (([-0.03], [0.02]), ([-0.03, 0.01], [0.02, 0.0]),
                                   ([-0.03, np.nan], [0.02, 0.03]), ([-0.03, 0.01], [0.02])):
        with pytest.raises(ValueError):
            bulletin.pool(effect, standard_error)


def test_library_pooling_rules_and_plain_words():
    rows = [library_row(1, "housing", -0.020, 0.020), library_row(2, "housing", -0.021, 0.025),
            library_row(3, "housing", 0.000, None),
            library_row(4, "employment", 0.060, 0.020, "significant increase"),
            library_row(5, "employment", 0.050, 0.022, "significant increase"),
            library_row(6, "drugs", 0.010, 0.020), library_row(7, "drugs", -0.010, None),
            library_row(8, "other", 0.010, 0.020), library_row(9, "other", 0.020, 0.020),
            library_row(10, "arts", 0.010, None)]
    library = library_bulletin(rows)
    results = bulletin.library_results(library)
    assert list(zip(results["id"], results["pooling"])) == [
        ("r10", "no standard error: not pooled"),
        ("r06", "the only result of its type with a standard error: not pooled"),
        ("r07", "no standard error: not pooled"),
        ("r04", "pooled"), ("r05", "pooled"),
        ("r01", "pooled"), ("r02", "pooled"), ("r03", "no standard error: not pooled"),
        ("r08", "no programme type given: not pooled"), ("r09", "no programme type given: not pooled")]
    pooled = bulletin.pooled_by_type(library).set_index("programme_type")
    assert pooled["note"].to_dict() == {
        "arts": "no standard error: not pooled", "drugs": "fewer than two results with a standard error: not pooled",
        "employment": "", "housing": "1 result without a standard error: not pooled",
        "other": "no programme type given: not pooled"}
    assert pooled.loc["housing", ["k", "results", "people", "people_pooled"]].tolist() == [2, 3, 600, 300]
    housing = dersimonian_laird([-0.020, -0.021], [0.020, 0.025])
    assert pooled.loc["housing", ["difference", "lower", "upper", "tau2", "i2"]].tolist() == pytest.approx(
        housing, abs=1e-10, rel=0)
    sentences = dict(zip(pooled.index, bulletin.library_sentences(library)))
    assert sentences["arts"] == "Arts: one result: not pooled (it has no standard error)."
    assert sentences["drugs"] == "Drugs: 2 results, fewer than two of them with a standard error: not pooled."
    assert sentences["other"] == "Other (no programme type given): 2 results, listed but not pooled."
    assert sentences["housing"].startswith(
        "Housing: 2 results pooled (300 people in their treatment groups); 1 more result without a standard error "
        "listed but not pooled. The pooled difference in the one-year proven re-offending rate is -2 percentage "
        "points, 95% interval -5 to 1. The interval includes zero: taken together, these results do not show "
        "whether re-offending was lower or higher")
    assert "tau² and I² are both estimated as 0" in sentences["housing"]
    assert "The interval is above zero" in sentences["employment"]
    assert bulletin.library_notes(library)[-1] == (
        "3 published results come from reports made before the standard error of the difference was recorded "
        "(Org 10: Programme 10; Org 7: Programme 7; Org 3: Programme 3): listed but not pooled.")


def test_library_words_are_descriptive_and_never_say_no_effect(march):
    rows = [library_row(1, "housing", -0.001, 0.020), library_row(2, "housing", 0.002, 0.025),
            library_row(3, "employment", 0.060, 0.020), library_row(4, "employment", 0.050, 0.022),
            library_row(5, "arts", 0.0, 0.02), library_row(6, "other", 0.0, None)]
    for summary in (march, library_bulletin(rows)):
        text = " ".join([bulletin.LIBRARY_INTRO, bulletin.POOLED_INTRO, *bulletin.library_sentences(summary),
                         *bulletin.library_notes(summary),
                         *bulletin.evidence_library(summary).to_numpy().ravel().tolist(),
                         *bulletin.pooled_table(summary).to_numpy().ravel().tolist()])
        assert "no effect" not in text.lower() and "no difference" not in text.lower()
        assert "these figures are descriptive" in text.lower()
        assert "not a finding that a type of programme works" in text
        assert "different programmes, run by different organisations for different people" in text
        assert "A random-effects estimate from few results is very uncertain" in text
        assert 'DerSimonian-Laird random effects (statsmodels\' combine_effects with method_re="dl")' in text
    housing = bulletin.library_sentences(library_bulletin(rows))[2]
    assert housing.startswith("Housing: 2 results pooled") and "The interval includes zero" in housing
    assert not any("before the standard error" in note for note in bulletin.library_notes(march))


def test_library_forest_plot_rows_markers_and_diamonds(march):
    figure = bulletin.library_forest_plot(march)
    (axes,) = figure.axes
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels == ["Arts", "Prison Arts Trust: Stage Two", "Mentoring", "Safe Ground: Family Man",
                      "Footprints: Gateway Mentoring", "Pooled, 2 results"]
    assert [t.get_fontweight() for t in axes.get_yticklabels()][::2] == ["bold", "bold", "normal"]
    assert len([line for line in axes.lines if list(line.get_xdata()) == [0, 0]]) == 1
    markers = sorted((round(float(x), 2), int(y)) for c in axes.containers
                     for x, y in zip(c.lines[0].get_xdata(), c.lines[0].get_ydata()))
    assert markers == [(-8.38, 3), (-2.92, 4), (5.15, 1)]
    (diamond,) = [patch for patch in axes.patches if patch.get_gid() == "pooled"]
    mentoring = bulletin.pooled_by_type(march).set_index("programme_type").loc["mentoring"]
    lower, centre, upper = mentoring["lower"] * 100, mentoring["difference"] * 100, mentoring["upper"] * 100
    assert diamond.get_xy()[:4] == pytest.approx(np.array([[lower, 5], [centre, 4.7], [upper, 5], [centre, 5.3]]))
    assert axes.get_xlim()[0] < lower and axes.get_xlim()[1] > 9.25   # every interval and diamond in view
    assert axes.yaxis_inverted()
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "Significant reduction", "Significant increase", "Inconclusive", "Pooled (random effects)"]


def test_library_forest_plot_one_marker_per_result_and_one_diamond_per_pooled_type():
    rows = [library_row(i, ("housing", "employment", "arts", "other")[i % 4], 0.01 * (i % 5 - 2), 0.02)
            for i in range(1, 23)]
    library = library_bulletin(rows)
    axes = bulletin.library_forest_plot(library).axes[0]
    markers = [x for c in axes.containers for x in c.lines[0].get_xdata()]
    assert len(markers) == 22
    assert len([p for p in axes.patches if p.get_gid() == "pooled"]) == 3   # "other" is never pooled
    assert len(axes.get_yticklabels()) == 22 + 4 + 3
    empty = bulletin.library_forest_plot(library_bulletin([]))
    assert [line for line in empty.axes[0].lines if list(line.get_xdata()) == [0, 0]]
    assert bulletin.evidence_library(library_bulletin([])).empty
    assert bulletin.pooled_by_type(library_bulletin([])).empty


@pytest.mark.slow
def test_results_without_a_standard_error_are_listed_not_pooled(tmp_path):
    """Reports made before the standard_error scrap existed glue neither it nor the other new scraps:
    the bulletin still lists their results, pools only those with a standard error and says so."""
    params = tmp_path / "params" / "2014-04"
    params.mkdir(parents=True)
    old_scraps = ("standard_error", "controlled_for_region", "subgroups")
    requests = {  # id -> (programme type, standard error or None for an old report)
        "a": ("mentoring", 0.021), "b": ("mentoring", None), "c": ("arts", None), "d": ("mentoring", 0.025)}
    reports = {}
    for number, (request_id, (programme_type, standard_error)) in enumerate(requests.items(), start=1):
        fields = {"id": request_id, "organisation": f"Org {request_id}", "programme": f"P{request_id}",
                  "programme_type": programme_type, "date_received": "2014-04-01", "upload": "data/uploads/u.csv"}
        (params / f"{request_id}.yaml").write_text(yaml.safe_dump(fields))
        scraps = published(f"Org {request_id}", f"P{request_id}", "inconclusive", 100 * number, 1000,
                           0.30, 0.30 + 0.01 * number, -0.05, 0.06, 0.6, standard_error)
        scraps.update(request_id=request_id, programme_type=programme_type, date_received="2014-04-01")
        if standard_error is None:
            scraps = {name: value for name, value in scraps.items() if name not in old_scraps}
        reports[tmp_path / "outputs" / "2014-04" / request_id / "report.ipynb"] = scraps
    fake_reports(tmp_path, reports)
    summary = collect(tmp_path / "params", tmp_path / "outputs", "2014-04")
    assert summary.requests["standard_error"].isna().tolist() == [False, True, True, False]
    assert bulletin.evidence_library(summary)[["Programme", "Pooled"]].values.tolist() == [
        ["Pc", "no standard error: not pooled"], ["Pa", "yes"], ["Pb", "no standard error: not pooled"],
        ["Pd", "yes"]]
    pooled = bulletin.pooled_by_type(summary).set_index("programme_type")
    assert pooled["note"].to_dict() == {"arts": "no standard error: not pooled",
                                        "mentoring": "1 result without a standard error: not pooled"}
    assert pooled.loc["mentoring", ["difference", "lower", "upper", "tau2", "i2"]].tolist() == pytest.approx(
        dersimonian_laird([-0.01, -0.04], [0.021, 0.025]), abs=1e-10, rel=0)
    assert bulletin.library_notes(summary)[-1] == (
        "2 published results come from reports made before the standard error of the difference was recorded "
        "(Org c: Pc; Org b: Pb): listed but not pooled.")


# ---------------------------------------------------------------- words at the edges


def made_up(counts: dict[str, int], month="2014-03", this_month_published=0) -> Bulletin:
    """A bulletin with ``counts`` requests per status (published ones inconclusive); the first
    ``this_month_published`` published ones are this month's, every other request is last month's."""
    rows = []
    for status, n in counts.items():
        for i in range(n):
            mine = status == "published" and i < this_month_published
            rows.append({**dict.fromkeys(bulletin.COLUMNS), "month": month if mine else "2014-02",
                         "id": f"{status}-{i}", "organisation": "O", "programme": "P", "status": status,
                         "verdict": "inconclusive" if status == "published" else None})
    return Bulletin(month, pd.DataFrame(rows, columns=list(bulletin.COLUMNS)))


def test_headline_thousands_and_singulars():
    big = made_up({"published": 1180, "not processed": 40, "withdrawn": 3, "in progress": 11}, this_month_published=25)
    assert big.headline == (
        "To date, the Justice Data Lab has received 1,234 requests for re-offending information, including 1,180 "
        "reports which have been published (25 this month). Of the rest, 40 could not be processed because the "
        "minimum criteria were not met, 3 were withdrawn by the organisation that sent them and 11 are still in "
        "progress.")
    assert big.tally_sentence == (
        "Of the 1,180 results published to date, 0 show a significant reduction in re-offending, 0 a significant "
        "increase and 1,180 are inconclusive.")
    one = made_up({"published": 1}, this_month_published=0)
    assert one.headline == ("To date, the Justice Data Lab has received 1 request for re-offending information, "
                            "including 1 report which has been published.")
    assert one.tally_sentence == ("Of the 1 result published to date, 0 show a significant reduction in "
                                  "re-offending, 0 a significant increase and 1 is inconclusive.")
    assert made_up({"in progress": 2}).headline == (
        "To date, the Justice Data Lab has received 2 requests for re-offending information, none of which have "
        "been published yet. Of the rest, 2 are still in progress.")
    assert made_up({"in progress": 1}).headline == (
        "To date, the Justice Data Lab has received 1 request for re-offending information, which has not been "
        "published yet. Of the rest, 1 is still in progress.")
    assert made_up({}).headline == ("To date, the Justice Data Lab has received no requests for re-offending "
                                    "information.")
    assert made_up({}).tally_sentence == "No results have been published yet."
    assert bulletin.findings_markdown(made_up({})) == "No requests are listed for March 2014."


def test_finding_singular_point_and_markdown_escaping():
    row = {"id": "x", "organisation": "A_B *Trust*", "programme": "1. Start", "status": "published",
           "verdict": "inconclusive", "treated_rate": 0.305, "comparison_rate": 0.2951, "difference": 0.0099,
           "lower": -0.0404, "upper": 0.0602}
    line = made_up({}).finding(row)
    assert line == ("1. Start run by A_B *Trust*: inconclusive; the re-offending rate was 31% against 30% for the "
                    "comparison group (difference 1 percentage point, 95% interval -4 to 6).")
    assert words.markdown_text(line).startswith(r"1\. Start run by A\_B \*Trust\*\: inconclusive\;")


# ---------------------------------------------------------------- programme types


def programme_params(folder: Path, programme_type) -> Path:
    path = folder / "2014-03-001.yaml"
    path.write_text(yaml.safe_dump({"id": "2014-03-001", "organisation": "O", "programme": "P",
                                    "programme_type": programme_type, "date_received": "2014-01-15",
                                    "upload": "data/uploads/u.csv"}), encoding="utf-8")
    return path


def test_programme_types_come_from_the_documented_controlled_list(tmp_path):
    assert requests.PROGRAMME_TYPES == (
        "accommodation", "arts", "behaviour programme", "education", "education and employment", "employment",
        "family", "mentoring", "mentoring and support", "restorative justice", "sport", "substance misuse", "other")
    readme = (ROOT / "params" / "README.md").read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in readme for name in requests.PROGRAMME_TYPES)
    for name in requests.PROGRAMME_TYPES:
        assert requests.load_request(programme_params(tmp_path, name), confine=False).programme_type == name
    assert bulletin.TYPES_NOTE == (        # the evidence library's note names the list
        "Each request gives its programme's type from the lab's list of types (accommodation, arts, behaviour "
        "programme, education, education and employment, employment, family, mentoring, mentoring and support, "
        "restorative justice, sport, substance misuse, other). Results of type \"other\" are listed but never "
        "pooled, since those programmes share nothing but not fitting the list.")


@pytest.mark.parametrize("value", ["housing", "Mentoring", "<svg onload=alert(1)> *mentoring*", 7])
def test_any_other_programme_type_is_refused_naming_file_field_and_the_list(tmp_path, value):
    path = programme_params(tmp_path, value)
    with pytest.raises(requests.ParamsError) as error:
        requests.load_request(path, confine=False)
    assert str(error.value) == (
        f"{path}: field 'programme_type' must be one of accommodation, arts, behaviour programme, education, "
        "education and employment, employment, family, mentoring, mentoring and support, restorative justice, "
        "sport, substance misuse, other")


def test_every_committed_params_file_is_valid():
    months = bulletin.month_folders(ROOT / "params")
    assert months == ["2014-01", "2014-02", "2014-03"]
    loaded = [r for month in months for r in requests.load_month(ROOT / "params" / month, confine=False)]
    assert len(loaded) == 8 and {r.programme_type for r in loaded} <= set(requests.PROGRAMME_TYPES)


# ---------------------------------------------------------------- statuses from the files


def test_status_rules_without_run_json(tmp_path):
    """No run.json: a received request without a report is in progress; a report whose scraps break
    the contract (here: never executed, so no scraps at all) counts as failed, with a warning naming
    the file and the scraps."""
    for request_id in ("a", "b"):
        write_request(tmp_path / "params" / "2014-04", request_id, "2014-04-01")
    report = tmp_path / "outputs" / "2014-04" / "b" / "report.ipynb"
    report.parent.mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_code_cell(GLUE)], metadata=KERNELSPEC), report)
    with pytest.warns(UserWarning) as warned:
        summary = collect(tmp_path / "params", tmp_path / "outputs", "2014-04")
    assert summary.requests["status"].tolist() == ["in progress", "failed"]
    assert [str(w.message) for w in warned] == [
        f"{report}: counted as failed: the report glued no 'request_id', 'organisation', 'programme', "
        "'programme_type', 'date_received', 'status', 'verdict', 'n_submitted', 'n_treated', 'n_comparison', "
        "'attrition', 'published_counts' scraps"]


def test_read_run(tmp_path):
    assert bulletin.read_run(tmp_path / "run.json") == {}
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    assert bulletin.read_run(tmp_path / "run.json")["2014-03-005"]["status"] == "failed"
    (tmp_path / "run.json").write_text(json.dumps({"month": "2014-03", "requests": RUN["outcomes"]}))
    assert len(bulletin.read_run(tmp_path / "run.json")) == 5
    (tmp_path / "run.json").write_text("{not json")
    with pytest.warns(UserWarning, match="ignored"):
        assert bulletin.read_run(tmp_path / "run.json") == {}


def test_collect_needs_the_month_folder(project):
    with pytest.raises(bulletin.ParamsError, match="2014-05"):
        collect(project / "params", project / "outputs", "2014-05")
    assert bulletin.latest_month(project / "params") == "2014-03"
    assert bulletin.month_label("2014-03") == "March 2014"


# ---------------------------------------------------------------- the notebook


def test_template_is_committed_without_outputs():
    notebook = nbformat.read(TEMPLATE, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert 'month = ""' in code[0].source


@pytest.mark.slow
def test_build_summary_end_to_end(project, march):
    notebook_path = bulletin.build_summary("2014-03", project / "params", project / "outputs", publish=False,
                                           publication_date="2014-04-10")
    assert notebook_path == (project / "outputs" / "2014-03" / "summary.ipynb").resolve()
    assert sorted(p.name for p in notebook_path.parent.iterdir() if p.is_file()) == ["run.json", "summary.ipynb"]
    notebook = nbformat.read(notebook_path, as_version=4)
    markdown = [output["data"]["text/markdown"] for cell in notebook.cells if cell.cell_type == "code"
                for output in cell.outputs if "text/markdown" in output.get("data", {})]
    # each heading is one output with its introduction, so that they print together
    assert markdown[0] == (r"# Justice Data Lab statistics\: March 2014" "\n\n"
                           + bulletin.release_markdown("2014-04-10"))      # publication and next release dates
    # the running tally is a main finding, right after the headline (never stranded on a page of its own)
    assert markdown[1] == "\n\n".join(["## Main findings to date", words.markdown_text(march.headline),
                                        words.markdown_text(march.tally_sentence)])
    assert markdown[2] == "## Requests in March 2014\n\n" + bulletin.markdown_list(march.findings)
    # the evidence library: after the forest plot, with its own plot
    headings = [text.split("\n")[0] for text in markdown if text.startswith("#")]
    assert headings[-1] == "## Provenance"                   # what built it, and when
    assert "| jdl | version " in markdown[-1] and "| Run at (UTC) | " in markdown[-1]
    assert headings[:-1] == [r"# Justice Data Lab statistics\: March 2014", "## Main findings to date",
                        "## Requests in March 2014", "## All published results to date",
                        "## Forest plot of published results", "## Experimental: employment in the year after",
                        "## Evidence library by programme type", "### Pooled figures by programme type (descriptive)",
                        "### Forest plot of the evidence library", "### Notes on the evidence library"]
    assert "## Evidence library by programme type\n\n" + words.markdown_text(bulletin.LIBRARY_INTRO) in markdown
    pooled = "### Pooled figures by programme type (descriptive)\n\n" + words.markdown_text(bulletin.POOLED_INTRO)
    assert pooled in markdown
    assert markdown[markdown.index(pooled) + 1] == bulletin.markdown_list(bulletin.library_sentences(march))
    assert markdown[markdown.index(pooled) + 1].startswith(r"- Arts\: one result\: not pooled\." "\n" r"- Mentoring\: 2")
    assert "### Notes on the evidence library\n\n" + bulletin.markdown_list(bulletin.library_notes(march)) in markdown
    tables = [output["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if "text/html" in output.get("data", {})]
    library_table = [html for html in tables if "one result: not pooled" in html and "Gateway Mentoring" in html]
    pooled_table = [html for html in tables if "Pooled difference (percentage points)" in html]
    assert len(library_table) == 1 and len(pooled_table) == 1 and "-11\u00a0to\u00a0-1" in pooled_table[0]
    assert tables.index(library_table[0]) < tables.index(pooled_table[0])
    # the experimental employment table, labelled experimental, before the evidence library
    assert ("## Experimental: employment in the year after\n\n" + words.markdown_text(bulletin.EMPLOYMENT_INTRO)
            in markdown)
    employment_table = [html for html in tables if "In P45 employment (treatment / comparison)" in html]
    assert len(employment_table) == 1 and tables.index(employment_table[0]) < tables.index(library_table[0])
    assert "45% / 26%" in employment_table[0] and "not shown: too few with or without the outcome" in employment_table[0]
    images = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if "image/svg+xml" in output.get("data", {})]
    assert len(images) == 2
    scraps = {name: scrap.data for name, scrap in scrapbook.read_notebook(str(notebook_path)).scraps.items()}
    assert scraps == {"month": "2014-03", "counts": march.counts, "tally": march.tally}


# A PDF page of the bulletin holds at least this many lines of text (a heading and a two-line
# sentence stranded on a page of their own hold fewer), unless it is the last page and holds a figure.
MIN_PAGE_LINES = 6


def pdf_pages(path: Path) -> list[tuple[int, int]]:
    """(lines of text, figures) on each page of the PDF ``path`` (pdftotext -layout; a page holds a
    figure or not: tests/pdf_figures.py)."""
    def run(*command) -> str:
        return subprocess.run([*command], check=True, capture_output=True, text=True).stdout

    pages = int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(path)), re.MULTILINE).group(1))
    counts = []
    for page, figure in zip(range(1, pages + 1), figure_pages(path), strict=True):
        text = run("pdftotext", "-layout", "-f", str(page), "-l", str(page), str(path), "-")
        counts.append((sum(1 for line in text.splitlines() if line.strip()), int(figure)))
    return counts


def sparse_pages(counts: list[tuple[int, int]]) -> list[int]:
    """The pages (from 1) holding fewer than MIN_PAGE_LINES lines of text, the last page aside when it
    holds a figure."""
    return [page for page, (lines, images) in enumerate(counts, start=1)
            if lines < MIN_PAGE_LINES and not (page == len(counts) and images)]


def test_sparse_pages_rule():
    assert sparse_pages([(40, 0), (3, 0), (30, 1)]) == [2]
    assert sparse_pages([(40, 0), (2, 1)]) == []                  # the last page, with a figure
    assert sparse_pages([(40, 0), (2, 0)]) == [2]                 # the last page, text only
    assert sparse_pages([(5, 1), (40, 0)]) == [1]                 # a figure only excuses the last page
    assert sparse_pages([(6, 0)]) == []


@pytest.mark.slow
def test_no_page_of_the_published_bulletin_holds_only_a_few_lines(project, tmp_path):
    """The bulletin of the fake project, published to PDF: the running tally is among the main
    findings (never a heading and one sentence on a page of their own), and no page is that sparse."""
    shutil.copytree(project, tmp_path / "project")
    root = tmp_path / "project"
    notebook = bulletin.build_summary("2014-03", root / "params", root / "outputs", publication_date="2014-04-10")
    counts = pdf_pages(notebook.parent / "summary.pdf")
    assert len(counts) >= 2 and sparse_pages(counts) == [], counts
    first_page = subprocess.run(["pdftotext", "-l", "1", str(notebook.parent / "summary.pdf"), "-"], check=True,
                                capture_output=True, text=True).stdout
    first_page = " ".join(first_page.split())
    assert "Published 10 April 2014. Next release: 29 May 2014" in first_page
    assert "Of the 3 results published to date" in first_page
    # a heading and its introduction are one output (kept together and with the table or figure that
    # follows, report.css): no output that is a heading alone is followed by more text
    outputs = [o for cell in nbformat.read(notebook, as_version=4).cells for o in cell.get("outputs", [])
               if o.output_type == "display_data"]
    for output, following in zip(outputs, outputs[1:]):
        text = output["data"].get("text/markdown", "")
        if re.fullmatch(r"#{1,6} [^\n]*", text.strip()):
            assert "text/markdown" not in following["data"], text


@pytest.mark.slow
def test_build_summary_publishes_and_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    (tmp_path / "params" / "2014-03").mkdir(parents=True)
    calls = []

    def execute(template, output, **kwargs):
        calls.append(kwargs["parameters"])
        Path(output).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    import jdl.report.publish

    published = []
    monkeypatch.setattr(jdl.report.publish, "publish", lambda nb, out: published.append((nb, out)) or (None, None))
    path = bulletin.build_summary("2014-03", tmp_path / "params", tmp_path / "outputs")
    assert calls == [{"month": "2014-03", "params_root": str(tmp_path / "params"),
                      "outputs_root": str(tmp_path / "outputs"), "publication_date": ""}]
    assert published == [(path, tmp_path / "outputs" / "2014-03")]

    def crash(template, output, **kwargs):
        Path(output).write_text("half")
        raise RuntimeError("kernel died")

    path.unlink()
    monkeypatch.setattr(papermill, "execute_notebook", crash)
    with pytest.raises(RuntimeError):
        bulletin.build_summary("2014-03", tmp_path / "params", tmp_path / "outputs")
    assert list((tmp_path / "outputs" / "2014-03").iterdir()) == []
    with pytest.raises(bulletin.ParamsError):
        bulletin.build_summary("2014-04", tmp_path / "params", tmp_path / "outputs")


def test_cli_summary(tmp_path, monkeypatch):
    from jdl.cli import main

    result = CliRunner().invoke(main, ["summary", "2014-03", "--params", str(tmp_path / "params")])
    assert result.exit_code == 2
    assert "no params folder" in result.output
    (tmp_path / "params" / "2014-03").mkdir(parents=True)
    received = []

    def build(month, params_root, outputs_root, publish=True, publication_date=None):
        received.append((month, params_root, outputs_root, publish, publication_date))
        return Path(outputs_root) / month / "summary.ipynb"

    monkeypatch.setattr(bulletin, "build_summary", build)
    result = CliRunner().invoke(main, ["summary", "2014-03", "--params", str(tmp_path / "params"), "--outputs",
                                       str(tmp_path / "out"), "--no-publish"])
    assert result.exit_code == 0, result.output
    assert received == [("2014-03", tmp_path / "params", tmp_path / "out", False, None)]
    assert str(tmp_path / "out" / "2014-03" / "summary.ipynb") in result.output
    assert "summary.html" not in result.output


@pytest.mark.slow
def test_the_bulletin_prints_only_the_size_its_report_published(tmp_path):
    """One disclosure view: a report whose published treatment-group size differs from its scrap
    n_treated is refused, so the bulletin never prints a count the report did not."""
    params = tmp_path / "params" / "2014-04"
    params.mkdir(parents=True)
    (params / "a.yaml").write_text(yaml.safe_dump({
        "id": "a", "organisation": "Org a", "programme": "Pa", "programme_type": "mentoring",
        "date_received": "2014-04-01", "upload": "data/uploads/u.csv"}))
    scraps = published("Org a", "Pa", "inconclusive", 88, 1000, 0.30, 0.31, -0.05, 0.06, 0.6, 0.02)
    scraps.update(request_id="a", programme_type="mentoring", date_received="2014-04-01")
    scraps["published_counts"] = {"totals": {"submitted": 90, "analysed": 86}, "tables": {}}
    fake_reports(tmp_path, {tmp_path / "outputs" / "2014-04" / "a" / "report.ipynb": scraps})
    with pytest.raises(ValueError, match="treatment group size differs from the one the report published"):
        collect(tmp_path / "params", tmp_path / "outputs", "2014-04")


@pytest.mark.parametrize("entry", [
    "45%", {"shown": True, "treated_mean": "0.45", "comparison_mean": 0.26, "difference": 0.19, "lower": 0.14,
            "upper": 0.23, "significant": True},
    {"shown": True, "treated_mean": float("nan"), "comparison_mean": 0.26, "difference": 0.19, "lower": 0.14,
     "upper": 0.23, "significant": True},
    {"shown": True, "treated_mean": 0.45, "comparison_mean": 0.26, "difference": 0.19, "lower": 0.14,
     "upper": 0.23},
])
def test_employment_table_shows_a_malformed_scrap_as_not_recorded(march, entry):
    # a report's scraps are JSON read back: a malformed employment entry never stops the bulletin
    requests = march.requests.copy()
    row = requests.index[requests["id"] == "2014-03-001"][0]
    requests.at[row, "employment"] = {"employed_in_year": entry}
    table = bulletin.employment_table(Bulletin("2014-03", requests))
    assert table.values.tolist()[1] == ["March 2014", "Footprints: Gateway Mentoring",
                                        bulletin.EMPLOYMENT_NOT_RECORDED, "", "", ""]
