"""The report's sections (jdl.report.sections): which a request gets is decided once, a request not
processed gets the letter and no statistics, text from outside is escaped, and the template only
renders (one section per cell, a reviewer's note before each, no logic)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from jdl.analysis import Request
from jdl.report import sections
from jdl.report.publish import TEMPLATE_NOTE
from jdl.report.sections import NOT_PROCESSED, PROCESSED, Report

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "notebooks" / "request_report.ipynb"
HOSTILE = "<script>alert(1)</script> *[x](http://evil)* | # $1$"


class NotProcessed(SimpleNamespace):
    """An analysis that fails the minimum criteria: any statistic asked of it is a test failure."""

    def __getattr__(self, name):
        raise AssertionError(f"a request not processed must not be asked for {name}")


def not_processed(**overrides):
    values = dict(request=Request("req-1", HOSTILE, "Programme <b>", "other", "2014-01-15"), processed=False,
                  reason="fewer than 60 people were submitted", n_submitted=48, n_analysed=40, pool_rate=0.4)
    values.update(overrides)
    return NotProcessed(**values)


def texts(parts) -> str:
    return "\n".join(p.data for p in parts)


def test_the_sections_of_a_request_not_processed_come_in_the_report_order():
    names = list(PROCESSED)
    assert [n for n in names if n in NOT_PROCESSED] == list(NOT_PROCESSED)
    assert NOT_PROCESSED["summary"] is sections.letter and PROCESSED["summary"] is sections.summary


def test_a_request_not_processed_gets_the_letter_and_nothing_statistical():
    report = Report(not_processed())
    assert report.sections is NOT_PROCESSED
    letter = texts(report.parts("summary"))
    assert letter.startswith("## Your request could not be processed\n\nThank you for your request about "
                             "Programme \\<b\\> from ")
    assert "because fewer than 60 people were submitted." in letter
    assert "In this request 40 of the 48 people submitted could be analysed. At that rate, about 60 people" in letter
    assert "from 40% to 35% (a reduction of 5 percentage points) with 80% power" in letter  # the pool's rate
    assert "about 1,471 people would be needed in the treatment group" in letter
    for name in ("can_say", "per_100", "intervals", "reoffending_over_time", "measures", "profile", "sub_analyses",
                 "match_quality", "propensity_model", "sensitivity"):
        assert report.parts(name) == []


def test_the_title_escapes_text_from_outside():
    [title] = Report(not_processed()).parts("title")
    assert title.data.startswith("# ")
    assert "<script>" not in title.data and "](" not in title.data and "\\<script\\>" in title.data
    assert "Request req\\-1, received 2014\\-01\\-15." in title.data


def test_an_unknown_section_is_refused_by_name():
    with pytest.raises(KeyError, match="no report section 'summery'; the sections are title, summary"):
        Report(not_processed()).parts("summery")


def test_the_template_only_renders():
    notebook = nbformat.read(TEMPLATE, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    shown = []
    for cell in code[1:]:                                # after the parameters
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.If,
                                         ast.IfExp, ast.For, ast.While, ast.Dict, ast.DictComp, ast.Try)), \
                f"logic in the template: {ast.unparse(node)[:60]}"
        if cell.source.startswith("report.show("):
            shown.append(ast.literal_eval(tree.body[0].value.args[0]))
    assert shown == list(PROCESSED)                       # every section, once, in order
    # before each section, a reviewer's note saying what it is, left out of the published report
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell.source.startswith("report.show("):
            note = notebook.cells[index - 1]
            assert note.cell_type == "markdown" and TEMPLATE_NOTE in note.metadata.get("tags", [])
            assert note.source.startswith("**")
    assert code[-1].source == "glue_scraps(analysis.scraps())"


def test_template_notes_are_left_out_of_the_published_page():
    from nbformat.v4 import new_markdown_cell, new_notebook

    from jdl.report.publish import ReportHTMLExporter

    notebook = new_notebook(cells=[new_markdown_cell("A note for reviewers only", metadata={"tags": [TEMPLATE_NOTE]}),
                                   new_markdown_cell("Text for readers")])
    page, _ = ReportHTMLExporter().from_notebook_node(notebook)
    assert "Text for readers" in page and "A note for reviewers only" not in page


def _measures(time_gated: bool):
    from jdl.cohort.measures import MEASURES
    from jdl.stats.compare import Comparison, MeasureComparison

    values = {"reoffended": (0.28, 0.25, 0.31, 0.32, 0.31, 0.34), "reoffences": (0.71, 0.6, 0.82, 0.9, 0.85, 0.95),
              "days_to_first": (151.0, 140.0, 162.0, 161.0, 155.0, 166.0)}
    results = []
    for measure in MEASURES:
        v = values.get(measure.column)
        gated = v is None or (time_gated and measure.column == "days_to_first")
        comparison = None if gated else Comparison(*v, v[0] - v[3], -0.5, 0.5, 0.5, False, 900, 3000.0, 800.0, 0.05)
        results.append(MeasureComparison(measure, comparison, not gated, "not reported: too few people" if gated
                                         else None))
    return results


def _figure_titles(parts) -> list[str]:
    from matplotlib.figure import Figure

    return [f.axes[0].get_title() or f._suptitle.get_text() for f in parts if isinstance(f, Figure)]


def _markdown_of(parts) -> list[str]:
    from matplotlib.figure import Figure

    return [p.data for p in parts if not isinstance(p, Figure)]


def test_per_100_is_the_key_figure_the_rate_for_100_typical_people():
    measures = _measures(False)
    parts = sections.per_100(SimpleNamespace(headline=measures[0].comparison, measures=measures, number_needed=None))
    assert _figure_titles(parts) == ["For 100 typical people: how many had a proven re-offence within a year"]
    [markdown] = _markdown_of(parts)
    assert markdown.startswith("## Measurements per 100 people\n\nFor every 100 people who received the "
                               "service, 28 committed")
    assert "71 proven re-offences were committed" in markdown


@pytest.mark.parametrize("time_gated", [False, True])
def test_intervals_draws_the_frequency_and_time_figures_but_not_a_gated_measure(time_gated):
    measures = _measures(time_gated)
    parts = sections.intervals(SimpleNamespace(headline=measures[0].comparison, measures=measures, number_needed=None))
    assert _figure_titles(parts) == ["Proven re-offences within a year for every 100 people",
                                     "Average days to the first proven re-offence, among people who re-offended"
                                     ][:2 - time_gated]
    intro, said = _markdown_of(parts)
    assert intro == "## What the intervals tell us\n\nFor both groups, the frequency of proven re-offending" + (
        "" if time_gated else " and the time to the first proven re-offence") + ", each with its 95% confidence interval."
    assert said.startswith("- ")
    assert ("The average number of days to the first proven re-offence" in said) is not time_gated


def test_reoffending_over_time_draws_the_curve_or_says_why_not():
    import pandas as pd
    from matplotlib.figure import Figure

    data = pd.DataFrame({"treated": [1] * 32 + [0] * 25,
                         "days_to_first": pd.Series(list(range(12)) + [None] * 20 + [3] * 5 + [None] * 20,
                                                    dtype=float)})
    analysis = SimpleNamespace(data=data, match=SimpleNamespace(weights=pd.Series([1.0] * 57)))
    heading, figure = sections.reoffending_over_time(analysis)
    assert heading.data.startswith("## Re-offending over the year\n\nThe share of each group")
    assert isinstance(figure, Figure) and figure.axes[0].get_lines()[1].get_xdata()[0] == 5
    # four comparison people re-offend: no day may be drawn
    analysis.match.weights.iloc[-21] = 0.0
    [why] = sections.reoffending_over_time(analysis)
    assert why.data == ("## Re-offending over the year\n\nThe re-offending curve is not shown: in one of the "
                        "groups too few people re-offended, or too few did not, for it to be published.")


def test_the_about_block_of_a_request_not_processed_says_when_what_and_whom_to_ask():
    from jdl.report.about import ReportSettings

    provenance = {"run_at": "2014-07-03T09:30:00+00:00",
                  "national": {"manifest": {"extract_date": "2014-06-30", "generator": "jdl.synth.world"}}}
    settings = ReportSettings(contact="Data <b>Lab</b> team", email="lab@example.org")
    [about] = Report(not_processed(provenance=provenance), settings).parts("about")
    assert about.data == (
        "## About these statistics\n\n"
        "- **Published:** 3 July 2014\n"
        "- **Status:** Official statistics in development\n"
        "- **Report:** req\\-1\n"
        "- **Data:** the organisation's list of the people it worked with, received 15 January 2014; the national "
        "re-offending data: proven re-offending from the Police National Computer, with employment, benefits and "
        "offender assessment records (synthetic data made by jdl\\.synth\\.world, not real people), extracted "
        "30 June 2014\n"
        "- **Produced by:** Justice Data Lab\n"
        "- **Contact:** Data \\<b\\>Lab\\<\\/b\\> team (lab\\@example\\.org)")


def test_the_about_block_without_an_extract_date_or_email():
    from jdl.report.about import ReportSettings

    provenance = {"run_at": "2014-07-03T09:30:00+00:00", "national": {"manifest": {}}}
    [about] = Report(not_processed(provenance=provenance), ReportSettings(email=None)).parts("about")
    assert "offender assessment records, extracted date not recorded\n" in about.data
    assert about.data.endswith("- **Contact:** Justice Data Lab team")


def test_an_analysts_request_without_a_date_received_still_renders_its_title_and_about_block():
    """jdl.analyse without a request (an analyst exploring) has no date received: the title and
    the about block say nothing of it rather than fail; a date that is not one is refused."""
    provenance = {"run_at": "2014-07-03T09:30:00+00:00", "national": {"manifest": {}}}
    report = Report(not_processed(request=Request(), provenance=provenance))
    [title] = report.parts("title")
    assert "Request exploration. Official statistics" in title.data and "received" not in title.data
    [about] = report.parts("about")
    assert "the organisation's list of the people it worked with, date received not given; " in about.data
    with pytest.raises(ValueError, match=r"^field 'date_received' is not a date \(YYYY-MM-DD\)$"):
        Request(date_received="15/01/2014")
