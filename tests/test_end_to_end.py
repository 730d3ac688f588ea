"""End to end through the real notebooks: a month of demo requests on a small synthetic national
dataset, executed by papermill (`jdl run`), published by nbconvert (HTML and PDF), summarised in
the bulletin (`jdl summary`); then every file written under outputs/ is scanned for the personal
data of the uploads used.

The month is the session's shared report month (tests/session_data.py, built once by
tests/conftest.py): these tests read its requests 2014-01-001 to -003, and scan every output of
the month, the other requests' too. `jdl demo` itself: tests/test_demo.py."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from jdl.synth.demo import demo_params
from jdl.run.requests import read_scraps
from personal_data import Scanner, own_vocabulary, personal_values, phrases
from session_data import HOSTILE_ID, MONTH, case_id, demo_requests

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = demo_requests()


@pytest.fixture(scope="module")
def project(report_month):
    """The shared report month: a small national dataset, the demo uploads, one month of params,
    and that month run, published and summarised through the command line."""
    return report_month


def report(project, number):
    return project.report(f"{MONTH}-{number:03d}")


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_month_ran_and_every_report_was_published(project):
    assert project.run["exit_code"] == 0, project.run["output"]
    assert project.summary["exit_code"] == 0, project.summary["output"]
    for number in (1, 2):
        folder = report(project, number)
        assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.ipynb", "report.pdf"]
    assert not report(project, 3).exists()                      # withdrawn: listed, not run
    run = json.loads((project.out / "run.json").read_text())
    assert [(o["id"], o["status"]) for o in run["outcomes"]] == [
        ("2014-01-001", "published"), ("2014-01-002", "not processed"), ("2014-01-003", "withdrawn"),
        (HOSTILE_ID, "published"), *((case_id(number), "published") for number in (1, 2, 3))]


def test_scraps_hold_the_numbers_the_package_computes(project):
    from jdl.stats import subgroups
    from jdl.cohort.build import build_cohort, treated_attributes
    from jdl.stats.plan import match_cohort
    from jdl.stats.compare import compare_measures
    from jdl.cohort.national import NationalData
    from jdl.upload.validate import validate_upload
    from jdl.window import DataWindow

    scraps = read_scraps(report(project, 1) / "report.ipynb").to_dict()
    national = NationalData.open(project.national)
    validation = validate_upload(project.uploads / "gateway-mentoring.xlsx", DataWindow.from_national(project.national))
    cohort = build_cohort(validation.participants, national, "custody")
    result, data, flow, plan = match_cohort(cohort)
    headline = compare_measures(data, result.weights)[0].comparison
    assert scraps["status"] == "published"
    assert scraps["organisation"] == "Northern Resettlement Trust"
    assert scraps["n_treated"] == result.n_treated_matched
    assert scraps["n_comparison"] == result.n_comparison_distinct
    assert scraps["treated_rate"] == headline.treated_mean
    assert scraps["comparison_rate"] == headline.comparison_mean
    assert (scraps["lower"], scraps["upper"], scraps["p_value"]) == (headline.lower, headline.upper, headline.p_value)
    assert sum(scraps["attrition"].values()) == scraps["n_submitted"] == len(validation.participants)
    assert scraps["attrition"]["analysed"] == scraps["n_treated"]
    assert scraps["e_value"] >= 1 and scraps["e_value_bound"] >= 1
    assert scraps["adjusted_difference"] is not None
    assert scraps["standard_error"] == headline.standard_error
    region = subgroups.controlled_for_region(cohort.data)
    assert scraps["controlled_for_region"] == region.scrap()
    analysed = data.index[(data["treated"] == 1) & (result.weights > 0)]
    expected = subgroups.subgroup_analyses(cohort.data, analysed, treated_attributes(flow, validation.participants),
                                           result.balance().poor)
    assert scraps["subgroups"] == [r.scrap() for r in expected]
    assert any(s["status"] == "run" for s in scraps["subgroups"])
    # the experimental employment measures: the same Welch comparison on the same match
    from jdl.cohort.employment import EMPLOYMENT_MEASURES, employment_outcomes

    in_match = data.index[result.weights.to_numpy() > 0]
    with_employment = data.join(employment_outcomes(national, in_match))
    expected = compare_measures(with_employment, result.weights, measures=EMPLOYMENT_MEASURES)
    assert sorted(scraps["employment"]) == sorted(m.column for m in EMPLOYMENT_MEASURES)   # JSON sorts keys
    for r in expected:
        glued = scraps["employment"][r.measure.column]
        assert glued["shown"] == r.reported
        if r.reported:
            assert (glued["difference"], glued["lower"], glued["upper"], glued["p_value"]) == (
                r.comparison.difference, r.comparison.lower, r.comparison.upper, r.comparison.p_value)


def test_a_request_under_the_minimum_criteria_gets_the_letter(project):
    scraps = read_scraps(report(project, 2) / "report.ipynb").to_dict()
    assert (scraps["status"], scraps["verdict"]) == ("not processed", "not processed")
    assert scraps["reason"].startswith("fewer than 60 people were submitted (48)")
    assert scraps["treated_rate"] is None and scraps["n_treated"] == 0
    text = pdf_text(report(project, 2) / "report.pdf")
    assert "could not be processed" in text
    assert "at least 60 people to be submitted" in " ".join(text.split())
    assert "What you can say" not in text and "All measures" not in text
    assert "To detect a fall in the one-year proven re-offending rate" in " ".join(text.split())
    # the attrition table as the report's disclosure view published it, all 48 accounted for, the
    # number analysed printed as the letter says it
    shown = scraps["published_counts"]["tables"]["attrition"]
    assert shown["analysed"] == str(scraps["attrition"]["analysed"]) and shown["Total"] == "48"
    assert re.search(rf"analysed\s+{re.escape(shown['analysed'])}\s+Total\s+48", text)


def test_published_report_shows_every_section_in_order_with_code_hidden(project):
    folder = report(project, 1)
    text = " ".join(pdf_text(folder / "report.pdf").split())
    sections = ["Justice Data Lab analysis", "Summary", "Measurements per 100 people", "About these statistics",
                "What you can say", "What you cannot say", "What the intervals tell us", "Re-offending over the year",
                "Proven re-offending so far, by day", "Attrition", "All measures",
                "Experimental: employment and benefits in the year after",
                "Employment and benefits in the year after (experimental)", "The treatment group", "Referral route", "Delivery location", "Sub-analyses",
                "Controlled for region", "Annex A: match quality", "Balance of the match controlled for region", "Annex B: the propensity model",
                "Annex C: sensitivity", "Annex D: method notes", "Annex E: proven re-offending", "Annex F: caveats"]
    positions = [text.find(s) for s in sections]
    assert -1 not in positions and positions == sorted(positions), dict(zip(sections, positions))
    assert "For every 100 people who received the service" in text
    assert "Regression-adjusted estimate" in text and "a hidden factor" in text
    assert "These outcomes are experimental statistics" in text and "In P45 employment at any time in the year" in text
    html = (folder / "report.html").read_text()
    for code in ("build_cohort(", "import pandas", "sb.glue", "match_cohort"):
        assert code not in html and code not in text
    assert html.count("data:image/svg+xml;base64") >= 5        # rates, attrition, love, overlap: embedded
    pages = subprocess.run(["pdfinfo", str(folder / "report.pdf")], capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) >= 6


def test_executed_notebook_keeps_code_and_outputs_for_reviewers(project):
    notebook = nbformat.read(report(project, 1) / "report.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any("analyse(" in c.source for c in code)
    assert all(c.get("execution_count") for c in code)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in code)


def test_the_bulletin_lists_the_month(project):
    text = " ".join(pdf_text(project.out / "summary.pdf").split())
    assert "Justice Data Lab statistics: January 2014" in text
    assert "has received 7 requests" in text
    assert "Gateway Mentoring run by Northern Resettlement Trust" in text
    assert "Forest plot" in text
    library = text.find("Evidence library by programme type")
    # the running tally is a main finding (never stranded at the end); provenance closes the bulletin
    employment = text.find("Experimental: employment in the year after")
    assert text.find("published to date") < text.find("Forest plot") < employment < library < text.find("Provenance")
    # the experimental table: Gateway Mentoring's shares in P45 employment (the hostile request's names escaped)
    assert re.search(r"Northern Resettlement Trust: Gateway Mentoring \d+% / \d+% -?\d+ -?\d+ to -?\d+ (Yes|No)",
                     text[employment:library])
    assert "Mentoring: one result: not pooled" in text and "These figures are descriptive" in text


def test_no_page_of_the_bulletin_holds_only_a_few_lines(project):
    """No page of the demo bulletin's PDF is nearly empty (e.g. a heading and a two-line tally), the
    last page aside when it holds a figure (tests/test_bulletin.py: pdf_pages, sparse_pages)."""
    from test_bulletin import pdf_pages, sparse_pages

    counts = pdf_pages(project.out / "summary.pdf")
    assert sparse_pages(counts) == [], counts


def test_template_notebooks_are_committed_without_outputs():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def month_uploads(project) -> list[Path]:
    """Every upload the month's requests name."""
    import yaml

    uploads = {project.root / yaml.safe_load(path.read_text())["upload"]
               for path in (project.root / "params" / MONTH).glob("*.yaml")}
    return sorted(path for path in uploads if path.exists())


def output_texts(outputs: Path):
    for path in sorted(p for p in outputs.rglob("*") if p.is_file()):
        if path.suffix == ".pdf":
            yield path, pdf_text(path)
        elif path.suffix == ".ipynb":
            # the notebook as written plus its scraps as read back
            yield path, path.read_text() + json.dumps(read_scraps(path).to_dict() if path.name == "report.ipynb" else {})
        else:
            yield path, path.read_text(errors="ignore")


def test_no_output_holds_personal_data(project):
    uploads = month_uploads(project)
    assert [p.name for p in uploads] == ["gateway-mentoring.xlsx", "ninety.xlsx", "open-door-arts.xlsx",
                                         "safe-harbour.xlsx", "seventy.xlsx"]
    values = personal_values(uploads)
    assert len(values) > 1000
    scanner = Scanner(values)
    checked = Scanner(values - phrases(own_vocabulary(), scanner.longest))
    assert len(checked.values) > 0.8 * len(values)
    files = list(output_texts(project.root / "outputs"))
    assert {p.suffix for p, _ in files} >= {".ipynb", ".html", ".pdf", ".json", ".log"}
    assert len({p.parent.name for p, _ in files if p.name == "report.pdf"}) == 6
    # on failure, say where and how many, never what (the values are personal data)
    leaks = {str(p.relative_to(project.root)): len(found) for p, text in files if (found := checked.found(text))}
    assert leaks == {}


def test_jdl_analyse_gives_the_numbers_the_report_published(project):
    """The same numbers come out of jdl.analyse in Python as out of the published report: every
    scrap, compared as the report glued it (JSON, None for what is not glued)."""
    import json as json_module

    import jdl
    from jdl.run.requests import _json_ready

    root = project.root
    for number, request in ((1, REQUESTS[0]), (2, REQUESTS[1])):
        params = demo_params(request)
        analysis = jdl.analyse(root / params["upload"], params["setting"], project.national,
                               request={"request_id": params["id"], "organisation": params["organisation"],
                                        "programme": params["programme"], "programme_type": params["programme_type"],
                                        "date_received": params["date_received"]},
                               uploads_dir=project.uploads)
        published = read_scraps(report(project, number) / "report.ipynb").to_dict()
        computed = {name: (value if value is None or not (isinstance(value, float) and math.isnan(value)) else None)
                    if isinstance(value, float) else json_module.loads(json_module.dumps(_json_ready(value)))
                    for name, value in analysis.scraps().to_dict().items()}   # as glued: inf read back as inf, no NaN
        assert computed.keys() == published.keys()
        for name, value in computed.items():
            assert value == published[name], name
        assert analysis.processed == (number == 1)


def test_rematch_gives_a_new_analysis_and_leaves_the_first_unchanged(project):
    import jdl

    analysis = jdl.analyse(project.uploads / "gateway-mentoring.xlsx", "custody", project.national)
    before = (analysis.headline, analysis.match.n_comparison_distinct, analysis.scraps().match)
    nearest = analysis.rematch(method="nearest", ratio=2, caliper=0.1)
    assert nearest is not analysis and nearest.match is not analysis.match
    assert nearest.scraps().match["method"] == "nearest" and nearest.match_options == {
        "method": "nearest", "ratio": 2, "caliper": 0.1}
    assert (analysis.headline, analysis.match.n_comparison_distinct, analysis.scraps().match) == before
    assert analysis.match_options == {}
    assert nearest.headline != analysis.headline
    # the summaries hold aggregates only: no name, id or date of birth of the upload
    shown = repr(analysis) + analysis._repr_html_() + repr(nearest) + nearest._repr_html_()
    values = personal_values(project.root / demo_params(request)["upload"] for request in REQUESTS)
    vocabulary = own_vocabulary()
    assert not {value for value in values if value in shown and value not in vocabulary}
