"""The typed contract between the report, the runner and the bulletin (jdl.contract): the status and
verdict enums, ReportScraps glued and read back through a really executed notebook (papermill, one
kernel run for every case), the checks on reading, and the options a params file may give, checked
when the month's params load, before anything runs."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest
from click.testing import CliRunner
from fs_helpers import write_request
from nbformat.v4 import new_code_cell, new_notebook

import jdl.run.runner
from jdl import words
from jdl.cli import main
from jdl.contract import (HEADLINE_VERDICTS, NOT_RUN_STATUSES, PARAMS_STATUSES, REPORT_STATUSES, SCRAPS,
                          ReportScraps, ScrapError, Status, Verdict, read_report)
from jdl.run import requests
from jdl.run.bulletin import collect
from jdl.run.requests import ParamsError, load_month, read_scraps

KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
# Stands in for a value from an upload that a broken report glued where its status goes.
PERSONAL = "Jane Q Public 1970-01-01"

PUBLISHED = {
    "request_id": "2014-03-001", "organisation": "Footprints", "programme": "Gateway Mentoring",
    "programme_type": "mentoring", "date_received": "2014-01-15", "status": "published", "verdict": "inconclusive",
    "n_submitted": 1300, "n_treated": 1234, "n_comparison": 15678, "n_comparison_effective": 9876.5,
    "treated_rate": 0.241, "comparison_rate": 0.2702, "difference": -0.0292, "lower": -0.0884, "upper": 0.03,
    "p_value": 0.334, "standard_error": 0.0302, "e_value": 1.8, "e_value_bound": 1.0, "adjusted_difference": -0.0281,
    "attrition": {"submitted": 1300, "not linked": 66, "analysed": 1234},
    "controlled_for_region": {"status": "run", "n_treated": 1200, "difference": -0.03, "p_value": 0.2,
                              "verdict": "inconclusive"},
    "subgroups": [{"dimension": "sex", "level": "male", "status": "run", "n_treated": 900, "p_value": 0.57,
                   "verdict": "inconclusive"}],
    "published_counts": {"totals": {"submitted": 1300, "analysed": 1234}, "tables": {"attrition": {"analysed": "1,234"}}},
    "match": {"method": "radius", "caliper_sd": 0.2, "exact": ["sex"]},
}
# the experimental employment scrap: one measure shown, one gated (reports made before it existed lack it)
EMPLOYMENT = {
    "employed_in_year": {"label": "In P45 employment at any time in the year after", "kind": "rate", "shown": True,
                         "treated_mean": 0.4456, "comparison_mean": 0.2633, "difference": 0.1823, "lower": 0.135,
                         "upper": 0.2295, "p_value": 1.4e-13, "significant": True},
    "benefit_at_year_end": {"label": "On out-of-work benefits at the end of the year", "kind": "rate",
                            "shown": False, "reason": "not reported: too few people"},
}
LETTER = {
    "request_id": "2014-03-002", "organisation": "Second Chance", "programme": "Housing Advice",
    "programme_type": "other", "date_received": "2014-01-20", "status": "not processed",
    "verdict": "not processed", "reason": "fewer than 60 people were submitted (48)", "n_submitted": 48,
    "n_treated": 0, "n_comparison": 0, "attrition": {"submitted": 48, "analysed": 0},
    "published_counts": {"totals": {"submitted": 48, "analysed": 0}, "tables": {}},
}
# name -> the scraps a broken report glues as they are (no check), and the error reading it gives
BROKEN = {
    "misspelt status": ({**LETTER, "status": "not processd"},
                        "status", "the report's 'status' scrap is not one of published, not processed"),
    "a status no report glues": ({**LETTER, "status": "withdrawn"},
                                 "status", "the report's 'status' scrap is not one of published, not processed"),
    "personal data as the status": ({**LETTER, "status": PERSONAL},
                                    "status", "the report's 'status' scrap is not one of published, not processed"),
    "unknown verdict": ({**PUBLISHED, "verdict": "significant"}, "verdict",
                        "the report's 'verdict' scrap is not one of significant reduction, significant increase, "
                        "inconclusive, not processed"),
    "count as text": ({**LETTER, "n_treated": "0"}, "n_treated", "the report's 'n_treated' scrap is not a whole number"),
    "rate as text": ({**PUBLISHED, "treated_rate": "0.241"}, "treated_rate",
                     "the report's 'treated_rate' scrap is not a number"),
    "employment not a mapping": ({**PUBLISHED, "employment": [0.18]}, "employment",
                                 "the report's 'employment' scrap is not a mapping"),
    "attrition not counts": ({**LETTER, "attrition": {"submitted": 48.5}}, "attrition",
                             "the report's 'attrition' scrap is not a mapping of text to whole numbers"),
    "no status or verdict": ({k: v for k, v in LETTER.items() if k not in ("status", "verdict")}, "status",
                             "the report glued no 'status', 'verdict' scraps"),
    "verdict not processed but published": ({**LETTER, "status": "published"}, "verdict",
                                            "the report's 'verdict' scrap must be 'not processed' exactly when "
                                            "its 'status' scrap is"),
}

SETUP = """import math
import scrapbook as sb
from jdl.contract import ReportScraps


def glue_as_is(scraps):
    for name, value in scraps.items():
        sb.glue(name, value, encoder="text" if isinstance(value, str) else "json")"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """Executed notebooks, by case: "published" (ReportScraps.glue with an infinite number needed and
    a NaN inside the sub-groups), "letter" (not processed: the scraps that do not apply are None) and
    each case of BROKEN (glued as is). One papermill run; each notebook is then one of its cells."""
    folder = tmp_path_factory.mktemp("contract")
    cells = {
        "published": (f"scraps = {PUBLISHED!r}\nscraps['subgroups'][0]['lower'] = float('nan')\n"
                      "ReportScraps(**scraps, number_needed=math.inf).glue()"),
        "letter": f"ReportScraps(**{LETTER!r}).glue()",
        "employment": f"ReportScraps(**{PUBLISHED!r}, employment={EMPLOYMENT!r}).glue()",
        **{name: f"glue_as_is({scraps!r})" for name, (scraps, _, _) in BROKEN.items()},
    }
    runner = new_notebook(cells=[new_code_cell(SETUP)] + [new_code_cell(source) for source in cells.values()],
                          metadata=KERNELSPEC)
    nbformat.write(runner, folder / "all.ipynb")
    papermill.execute_notebook(str(folder / "all.ipynb"), str(folder / "all.out.ipynb"), progress_bar=False,
                               kernel_name="python3")
    executed = nbformat.read(folder / "all.out.ipynb", as_version=4)
    paths = {}
    for (name, _), cell in zip(cells.items(), executed.cells[1:]):
        paths[name] = folder / f"{len(paths)}.ipynb"
        nbformat.write(new_notebook(cells=[cell], metadata=KERNELSPEC), paths[name])
    return paths


# ---------------------------------------------------------------- the enums


def test_status_and_verdict_are_the_words_the_files_hold():
    assert [status.value for status in Status] == [
        "received", "withdrawn", "in progress", "published", "not processed", "failed", "interrupted"]
    assert [verdict.value for verdict in Verdict] == [
        "significant reduction", "significant increase", "inconclusive", "not processed"]
    assert PARAMS_STATUSES == ("received", "withdrawn", "in progress")
    assert NOT_RUN_STATUSES == ("withdrawn", "in progress")
    assert REPORT_STATUSES == ("published", "not processed")
    assert HEADLINE_VERDICTS == words.VERDICTS == ("significant reduction", "significant increase", "inconclusive")
    # str enums: equal to their words, printed and written as their words, never as "Status.PUBLISHED"
    assert Status("in progress") is Status.IN_PROGRESS and Status.PUBLISHED == "published"
    assert (f"{Status.IN_PROGRESS}", str(Verdict.INCONCLUSIVE), "  ".join([Status.FAILED, Verdict.NOT_PROCESSED])) == (
        "in progress", "inconclusive", "failed  not processed")
    assert json.dumps({Status.NOT_PROCESSED: Verdict.NOT_PROCESSED}) == '{"not processed": "not processed"}'
    assert {"in progress": 1}[Status.IN_PROGRESS] == 1
    # the old names still mean the same
    assert (requests.RECEIVED, requests.WITHDRAWN, requests.IN_PROGRESS, requests.PUBLISHED, requests.NOT_PROCESSED,
            requests.FAILED, requests.NOT_PROCESSED_VERDICT, jdl.run.runner.INTERRUPTED) == (
        Status.RECEIVED, Status.WITHDRAWN, Status.IN_PROGRESS, Status.PUBLISHED, Status.NOT_PROCESSED, Status.FAILED,
        Verdict.NOT_PROCESSED, Status.INTERRUPTED)


def test_run_json_holds_the_words_and_reads_back_as_enums(tmp_path):
    outputs = tmp_path / "outputs"
    run = jdl.run.runner.MonthRun("2014-11", [
        jdl.run.runner.RequestOutcome("a", "published", "significant increase", None, 2.0),
        jdl.run.runner.RequestOutcome("b", Status.INTERRUPTED)], outputs)
    assert run.outcomes[0].status is Status.PUBLISHED and run.outcomes[0].verdict is Verdict.SIGNIFICANT_INCREASE
    json_path, log_path = jdl.run.runner.write_run(run)
    data = json.loads(json_path.read_text())
    assert data["counts"] == {"published": 1, "interrupted": 1}
    assert [(o["status"], o["verdict"]) for o in data["outcomes"]] == [
        ("published", "significant increase"), ("interrupted", None)]
    assert log_path.read_text() == "a\tpublished\t2.0 s\nb\tinterrupted\t0.0 s\n"
    assert jdl.run.runner.outcome_line(run.outcomes[0], run) == "a  published  significant increase  2.0 s"
    read = jdl.run.runner.read_run(json_path)
    assert [(o.status, o.verdict) for o in read.outcomes] == [
        (Status.PUBLISHED, Verdict.SIGNIFICANT_INCREASE), (Status.INTERRUPTED, None)]
    assert all(type(o.status) is Status for o in read.outcomes)
    with pytest.raises(ValueError) as error:
        jdl.run.runner.RequestOutcome("c", PERSONAL)
    assert str(error.value) == ("an outcome's status must be one of received, withdrawn, in progress, published, "
                                "not processed, failed, interrupted")


# ---------------------------------------------------------------- ReportScraps built and glued


def test_the_scraps_are_the_fields_of_report_scraps():
    assert list(SCRAPS) == [field.name for field in dataclasses.fields(ReportScraps)] == [
        "request_id", "organisation", "programme", "programme_type", "date_received", "status", "verdict",
        "reason", "n_submitted", "n_treated", "n_comparison", "n_comparison_effective", "treated_rate",
        "comparison_rate", "difference", "lower", "upper", "p_value", "standard_error", "number_needed", "e_value",
        "e_value_bound", "adjusted_difference", "attrition", "controlled_for_region", "subgroups",
        "published_counts", "match", "employment"]
    assert SCRAPS["number_needed"] == "treatment group size needed when inconclusive (float, may be inf, or None)"
    assert requests.SCRAPS is SCRAPS


def test_built_scraps_hold_enums_and_plain_numbers():
    scraps = ReportScraps(**{**PUBLISHED, "n_comparison_effective": 9876, "subgroups": ()})
    assert (scraps.status, scraps.verdict) == (Status.PUBLISHED, Verdict.INCONCLUSIVE)
    assert type(scraps.status) is Status and type(scraps.verdict) is Verdict
    assert (scraps.n_comparison_effective, type(scraps.n_comparison_effective), scraps.subgroups) == (9876.0, float, [])
    plain = scraps.to_dict()
    assert list(plain) == list(SCRAPS)
    assert (type(plain["status"]), plain["status"], plain["verdict"], plain["number_needed"]) == (
        str, "published", "inconclusive", None)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_building_broken_scraps_is_refused(name):
    scraps, scrap, message = BROKEN[name]
    if name == "no status or verdict":
        scraps = {**scraps, "status": None, "verdict": None}
        scrap, message = "status", "the report's 'status' scrap is missing"
    with pytest.raises(ScrapError) as error:
        ReportScraps(**scraps)
    assert (error.value.scrap, str(error.value)) == (scrap, message)
    assert PERSONAL not in str(error.value)


def test_glue_gives_scrapbook_plain_json_values(monkeypatch):
    import scrapbook

    glued = []
    monkeypatch.setattr(scrapbook, "glue", lambda name, value, encoder: glued.append((name, value, encoder)))
    ReportScraps(**{**LETTER, "number_needed": math.inf, "e_value": math.nan,
                    "subgroups": [{"p_value": math.nan, "n_treated": 31, "verdict": Verdict.INCONCLUSIVE}, math.inf]}
                 ).glue()
    assert glued == [
        ("request_id", "2014-03-002", "text"), ("organisation", "Second Chance", "text"),
        ("programme", "Housing Advice", "text"), ("programme_type", "other", "text"),
        ("date_received", "2014-01-20", "text"), ("status", "not processed", "text"),
        ("verdict", "not processed", "text"), ("reason", "fewer than 60 people were submitted (48)", "text"),
        ("n_submitted", 48, "json"), ("n_treated", 0, "json"), ("n_comparison", 0, "json"),
        ("number_needed", "inf", "text"), ("attrition", {"submitted": 48, "analysed": 0}, "json"),
        ("subgroups", [{"n_treated": 31, "verdict": "inconclusive"}, None], "json"),
        ("published_counts", {"totals": {"submitted": 48, "analysed": 0}, "tables": {}}, "json")]
    assert [type(value) for name, value, _ in glued if name in ("status", "verdict")] == [str, str]
    assert type(glued[-2][1][0]["verdict"]) is str


# ---------------------------------------------------------------- read back from executed notebooks


@pytest.mark.slow
def test_published_scraps_round_trip_through_a_notebook(reports):
    subgroups = [{**PUBLISHED["subgroups"][0]}]   # the NaN inside the list was dropped, as JSON has none
    expected = ReportScraps(**{**PUBLISHED, "subgroups": subgroups}, number_needed=math.inf)
    read = ReportScraps.read(reports["published"])
    assert read == expected
    assert read.number_needed == math.inf and read.reason is None
    assert (read.status, read.verdict) == (Status.PUBLISHED, Verdict.INCONCLUSIVE)
    assert type(read.status) is Status and type(read.verdict) is Verdict
    assert read_report(reports["published"]) == (expected, False)
    assert requests.read_report(reports["published"]) == (expected, False)
    assert read_scraps(reports["published"]) == expected


@pytest.mark.slow
def test_a_letter_round_trips_with_none_for_what_does_not_apply(reports):
    read = ReportScraps.read(reports["letter"])
    assert read == ReportScraps(**LETTER)
    assert [name for name, value in read.to_dict().items() if value is None] == [
        "n_comparison_effective", "treated_rate", "comparison_rate", "difference", "lower", "upper", "p_value",
        "standard_error", "number_needed", "e_value", "e_value_bound", "adjusted_difference",
        "controlled_for_region", "subgroups", "match", "employment"]
    assert (read.status, read.verdict) == (Status.NOT_PROCESSED, Verdict.NOT_PROCESSED)


@pytest.mark.slow
def test_the_employment_scrap_round_trips_and_old_reports_lack_it(reports):
    read = ReportScraps.read(reports["employment"])
    assert read == ReportScraps(**PUBLISHED, employment=EMPLOYMENT)
    assert read.employment["employed_in_year"]["difference"] == 0.1823
    assert read.employment["benefit_at_year_end"] == {"label": "On out-of-work benefits at the end of the year",
                                                     "kind": "rate", "shown": False,
                                                     "reason": "not reported: too few people"}
    # a report made before the scrap existed (PUBLISHED glues none) is read, with None for it
    assert ReportScraps.read(reports["published"]).employment is None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_reading_broken_scraps_names_the_scrap_never_the_value(reports, name):
    _, scrap, message = BROKEN[name]
    with pytest.raises(ScrapError) as error:
        ReportScraps.read(reports[name])
    assert (error.value.scrap, str(error.value)) == (scrap, message)
    assert isinstance(error.value, ValueError) and PERSONAL not in str(error.value)
    # the runner refuses to publish such a report, with the same words
    with pytest.raises(ScrapError) as refused:
        jdl.run.runner._read_scraps(reports[name])
    assert jdl.run.runner.describe_error(refused.value) == f"ScrapError: {message}"


@pytest.mark.slow
def test_the_runner_reads_the_status_and_verdict_of_a_good_report(reports):
    assert jdl.run.runner._read_scraps(reports["published"]) == (Status.PUBLISHED, Verdict.INCONCLUSIVE)
    assert jdl.run.runner._read_scraps(reports["letter"]) == (Status.NOT_PROCESSED, Verdict.NOT_PROCESSED)


@pytest.mark.slow
def test_a_notebook_stopped_by_an_exception_states_no_scraps(reports, tmp_path):
    notebook = nbformat.read(reports["published"], as_version=4)
    notebook.metadata["papermill"] = {"exception": True}
    stopped = tmp_path / "stopped.ipynb"
    nbformat.write(notebook, stopped)
    assert read_report(stopped) == (None, True)
    assert ReportScraps.read(stopped).verdict == Verdict.INCONCLUSIVE   # read on its own, the scraps still read
    notebook = nbformat.read(reports["unknown verdict"], as_version=4)
    notebook.metadata["papermill"] = {"exception": True}
    nbformat.write(notebook, stopped)
    assert read_report(stopped) == (None, True)   # stopped: not read, so not refused


@pytest.mark.slow
def test_the_bulletin_counts_a_broken_report_as_failed(reports, tmp_path):
    for request_id in ("a", "b"):
        write_request(tmp_path / "params" / "2014-03", request_id, "2014-01-15")
        (tmp_path / "outputs" / "2014-03" / request_id).mkdir(parents=True)
    shutil.copy(reports["published"], tmp_path / "outputs" / "2014-03" / "a" / "report.ipynb")
    broken = tmp_path / "outputs" / "2014-03" / "b" / "report.ipynb"
    shutil.copy(reports["unknown verdict"], broken)
    with pytest.warns(UserWarning) as warned:
        bulletin = collect(tmp_path / "params", tmp_path / "outputs", "2014-03")
    assert [str(w.message) for w in warned] == [f"{broken}: counted as failed: {BROKEN['unknown verdict'][2]}"]
    assert bulletin.requests["status"].tolist() == ["published", "failed"]
    assert bulletin.requests["verdict"].fillna("").tolist() == ["inconclusive", ""]
    assert bulletin.tally == {"significant reduction": 0, "significant increase": 0, "inconclusive": 1}
    assert [type(verdict) for verdict in bulletin.tally] == [Verdict, Verdict, Verdict]


# ---------------------------------------------------------------- options checked when the params load

OPTION_RULE = "a number above 0 and at most 5 (standard deviations), or null for none (nearest only)"


@pytest.mark.parametrize("line, message", [
    ("options: {method: nearst}", "option 'method' must be radius or nearest"),
    ('options: {caliper: "0.2"}', f"option 'caliper' must be {OPTION_RULE}"),
    ("options: {calipre: 0.2}", "field 'options' may hold only method, caliper, ratio, replace, exact"),
    ("setting: custardy", "field 'setting' must be one of custody, community"),
])
def test_bad_options_stop_the_month_before_anything_runs(tmp_path, monkeypatch, line, message):
    month = tmp_path / "params" / "2014-03"
    month.mkdir(parents=True)
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    good = ("organisation: O\nprogramme: P\ndate_received: 2014-01-15\nupload: data/uploads/u.csv\n")
    (month / "a.yaml").write_text("id: a\n" + good)
    (month / "b.yaml").write_text("id: b\n" + good + line + "\n")
    with pytest.raises(ParamsError) as error:
        load_month(month)
    assert str(error.value) == f"{month / 'b.yaml'}: {message}"
    ran = []
    monkeypatch.setattr(jdl.run.runner, "run_month", lambda *args, **kwargs: ran.append(args))
    monkeypatch.setattr(papermill, "execute_notebook", lambda *args, **kwargs: ran.append(args))
    result = CliRunner().invoke(main, ["run", str(month), "--outputs", str(tmp_path / "outputs"),
                                       "--uploads", str(tmp_path / "data" / "uploads"), "--notebook",
                                       str(Path(__file__).parent / "notebooks" / "fake_report.ipynb")])
    assert (result.exit_code, result.output) == (2, f"{month / 'b.yaml'}: {message}\n")
    assert ran == [] and not (tmp_path / "outputs").exists()


def test_the_employment_scrap_is_built_from_the_comparisons_aggregates_only():
    """jdl.analysis.employment_scrap: a dict per measure, in EMPLOYMENT_MEASURES's order, with the
    means, difference, interval, p-value and significance when shown, the rule when gated (never
    a count), and JSON-ready plain values; ReportScraps takes it as its 'employment' scrap."""
    import json

    from jdl.analysis import employment_scrap
    from jdl.cohort.employment import EMPLOYMENT_MEASURES
    from jdl.stats.compare import Comparison, MeasureComparison

    rule = ("not reported: too few people (fewer than 10 in the treatment group have the outcome, or fewer than 10 "
            "do not)")
    c = Comparison(0.4456, 0.40, 0.49, 0.2633, 0.25, 0.28, 0.1823, 0.135, 0.2295, 1e-13, True, 478, 3198.4, 900.0,
                   0.05)
    results = [MeasureComparison(EMPLOYMENT_MEASURES[0], c, True, None),
               MeasureComparison(EMPLOYMENT_MEASURES[2], None, False, rule)]
    scrap = employment_scrap(results)
    assert scrap == {
        "employed_in_year": {"label": "In P45 employment at any time in the year after", "kind": "rate", "shown": True,
                             "treated_mean": 0.4456, "comparison_mean": 0.2633, "difference": 0.1823, "lower": 0.135,
                             "upper": 0.2295, "p_value": 1e-13, "significant": True},
        "benefit_at_year_end": {"label": "On out-of-work benefits at the end of the year", "kind": "rate",
                                "shown": False, "reason": rule}}
    assert json.loads(json.dumps(scrap)) == scrap
    assert ReportScraps(**PUBLISHED, employment=scrap).employment == scrap
    assert "employment" in SCRAPS and "experimental" in SCRAPS["employment"]
