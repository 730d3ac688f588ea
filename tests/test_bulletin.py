"""The summary bulletin (jdl.bulletin): statuses, counts, tally, words, table, forest plot and the
summary notebook run end to end through papermill.

The fixture is two months of params files and fake executed report notebooks: each is a tiny
notebook that glues every scrap named in jdl.requests.SCRAPS, executed by papermill (one kernel per
report, four reports), so the bulletin reads real scrapbook outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
import scrapbook
import seaborn as sns
import yaml
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from jdl import bulletin
from jdl.bulletin import Bulletin, collect, forest_plot, results_table
from jdl.requests import SCRAPS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "notebooks" / "monthly_summary.ipynb"

# id -> params fields (besides id, date_received and upload)
PARAMS = {
    "2014-02": {
        "2014-02-001": {"organisation": "Safe Ground", "programme": "Family Man", "programme_type": "education"},
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


def published(organisation, programme, verdict, n_treated, n_comparison, treated, comparison, lower, upper, p):
    return {"organisation": organisation, "programme": programme, "status": "published", "verdict": verdict,
            "reason": None, "n_submitted": n_treated + 40, "n_treated": n_treated, "n_comparison": n_comparison,
            "n_comparison_effective": n_comparison * 0.8, "treated_rate": treated, "comparison_rate": comparison,
            "difference": round(treated - comparison, 4), "lower": lower, "upper": upper, "p_value": p,
            "number_needed": 5200.0 if verdict == "inconclusive" else None,
            "e_value": 1.8, "e_value_bound": 1.0 if verdict == "inconclusive" else 1.2,
            "adjusted_difference": round(treated - comparison, 4) + 0.001,
            "attrition": {"submitted": n_treated + 40, "analysed": n_treated}}


NOT_RUN = {"verdict": "not processed", "reason": "fewer than 60 people could be analysed", "n_submitted": 48,
           "n_treated": 0, "n_comparison": 0, "n_comparison_effective": None, "treated_rate": None,
           "comparison_rate": None, "difference": None, "lower": None, "upper": None, "p_value": None,
           "number_needed": None, "e_value": None, "e_value_bound": None, "adjusted_difference": None,
           "attrition": {"submitted": 48, "analysed": 0}}

# (month, id) -> the scraps its fake report glues (request_id, programme_type, date_received added)
REPORTS = {
    ("2014-02", "2014-02-001"): published("Safe Ground", "Family Man", "significant reduction", 312, 2140,
                                          0.2211, 0.3049, -0.1349, -0.0327, 0.0014),
    ("2014-03", "2014-03-001"): published("Footprints", "Gateway Mentoring", "inconclusive", 1234, 15678,
                                          0.2410, 0.2702, -0.0884, 0.0300, 0.334),
    ("2014-03", "2014-03-002"): published("Prison Arts Trust", "Stage Two", "significant increase", 205, 1890,
                                          0.4125, 0.3610, 0.0105, 0.0925, 0.0449),
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
    footprints = requests.set_index("id").loc["2014-03-001"]
    assert footprints[["month", "organisation", "programme", "programme_type"]].tolist() == [
        "2014-03", "Footprints", "Gateway Mentoring", "mentoring"]
    assert footprints[["n_treated", "n_comparison"]].tolist() == [1234, 15678]
    assert footprints[list(bulletin.NUMBER_COLUMNS)].tolist() == pytest.approx(
        [0.2410, 0.2702, -0.0292, -0.0884, 0.0300, 0.334])
    assert requests.set_index("id").loc[["2014-03-003", "2014-03-006"], "treated_rate"].isna().all()


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
         "the comparison group (difference -8 percentage points, 95% interval -13 to -3).")]
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
        "Housing Advice run by Second Chance: not processed; the minimum criteria were not met.",
    ]


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
        ["February 2014", "Safe Ground", "Family Man", "312", "2,140", "22%", "30%", "-8",
         "-13 to -3", "<0.01", "significant reduction"],
        ["March 2014", "Footprints", "Gateway Mentoring", "1,234", "15,678", "24%", "27%", "-3",
         "-9 to 3", "0.33", "inconclusive"],
        ["March 2014", "Prison Arts Trust", "Stage Two", "205", "1,890", "41%", "36%", "5",
         "1 to 9", "0.04", "significant increase"],
    ]


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
    assert bulletin.findings_markdown(made_up({})) == "No reports were completed in March 2014."


def test_finding_singular_point_and_markdown_escaping():
    row = {"id": "x", "organisation": "A_B *Trust*", "programme": "1. Start", "status": "published",
           "verdict": "inconclusive", "treated_rate": 0.305, "comparison_rate": 0.2951, "difference": 0.0099,
           "lower": -0.0404, "upper": 0.0602}
    line = made_up({}).finding(row)
    assert line == ("1. Start run by A_B *Trust*: inconclusive; the re-offending rate was 31% against 30% for the "
                    "comparison group (difference 1 percentage point, 95% interval -4 to 6).")
    assert bulletin.escape_markdown(line).startswith(r"1\. Start run by A\_B \*Trust\*: inconclusive;")


# ---------------------------------------------------------------- statuses from the files


def test_status_rules_without_run_json(tmp_path):
    """No run.json: a received request without a report is in progress; a report without a valid
    status scrap (here: never executed, so no scraps at all) counts as failed."""
    params = tmp_path / "params" / "2014-04"
    params.mkdir(parents=True)
    for request_id in ("a", "b"):
        (params / f"{request_id}.yaml").write_text(yaml.safe_dump(
            {"id": request_id, "organisation": "O", "programme": "P", "date_received": "2014-04-01",
             "upload": "u.csv"}))
    report = tmp_path / "outputs" / "2014-04" / "b" / "report.ipynb"
    report.parent.mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_code_cell(GLUE)], metadata=KERNELSPEC), report)
    summary = collect(tmp_path / "params", tmp_path / "outputs", "2014-04")
    assert summary.requests["status"].tolist() == ["in progress", "failed"]


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


def test_build_summary_end_to_end(project, march):
    notebook_path = bulletin.build_summary("2014-03", project / "params", project / "outputs", publish=False)
    assert notebook_path == (project / "outputs" / "2014-03" / "summary.ipynb").resolve()
    assert sorted(p.name for p in notebook_path.parent.iterdir() if p.is_file()) == ["run.json", "summary.ipynb"]
    notebook = nbformat.read(notebook_path, as_version=4)
    markdown = [output["data"]["text/markdown"] for cell in notebook.cells if cell.cell_type == "code"
                for output in cell.outputs if "text/markdown" in output.get("data", {})]
    assert markdown[0] == "# Justice Data Lab statistics: March 2014"
    assert march.headline in markdown
    findings = "\n".join(f"- {line}" for line in march.findings)
    assert findings in markdown
    assert march.tally_sentence in markdown
    images = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert len(images) == 1
    scraps = {name: scrap.data for name, scrap in scrapbook.read_notebook(str(notebook_path)).scraps.items()}
    assert scraps == {"month": "2014-03", "counts": march.counts, "tally": march.tally}


def test_build_summary_publishes_and_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    (tmp_path / "params" / "2014-03").mkdir(parents=True)
    calls = []

    def execute(template, output, **kwargs):
        calls.append(kwargs["parameters"])
        Path(output).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    import jdl.publish

    published = []
    monkeypatch.setattr(jdl.publish, "publish", lambda nb, out: published.append((nb, out)) or (None, None))
    path = bulletin.build_summary("2014-03", tmp_path / "params", tmp_path / "outputs")
    assert calls == [{"month": "2014-03", "params_root": str(tmp_path / "params"),
                      "outputs_root": str(tmp_path / "outputs")}]
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

    def build(month, params_root, outputs_root, publish=True):
        received.append((month, params_root, outputs_root, publish))
        return Path(outputs_root) / month / "summary.ipynb"

    monkeypatch.setattr(bulletin, "build_summary", build)
    result = CliRunner().invoke(main, ["summary", "2014-03", "--params", str(tmp_path / "params"), "--outputs",
                                       str(tmp_path / "out"), "--no-publish"])
    assert result.exit_code == 0, result.output
    assert received == [("2014-03", tmp_path / "params", tmp_path / "out", False)]
    assert str(tmp_path / "out" / "2014-03" / "summary.ipynb") in result.output
    assert "summary.html" not in result.output
