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
    for name in ("can_say", "per_100", "intervals", "reoffending_over_time", "measures", "employment", "profile",
                 "sub_analyses", "match_quality", "propensity_model", "sensitivity"):
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


def _shown_over_time(days=(30, 90, 180, 270, 365)):
    """A published over-time table (as jdl.stats.over_time.shown_over_time gives it) for ``days``."""
    import pandas as pd

    rows = {30: (0.192, 0.157, 0.228, 0.160, 0.150, 0.170, 0.032, -0.004, 0.069, 0.077, False),
            90: (0.268, 0.228, 0.308, 0.176, 0.165, 0.187, 0.092, 0.050, 0.133, 0.00002, True),
            180: (0.4, 0.355, 0.445, 0.206, 0.194, 0.218, 0.194, 0.146, 0.241, 3e-15, True),
            270: (0.423, 0.378, 0.467, 0.237, 0.224, 0.250, 0.186, 0.139, 0.232, 6e-14, True),
            365: (0.446, 0.401, 0.490, 0.263, 0.250, 0.277, 0.182, 0.135, 0.230, 1e-13, True)}
    from jdl.stats.over_time import SHOWN_COLUMNS

    return pd.DataFrame([rows[d] for d in days], index=pd.Index(list(days), name="day"), columns=list(SHOWN_COLUMNS))


def test_reoffending_over_time_draws_the_curve_and_the_table_or_says_why_not():
    import pandas as pd
    from matplotlib.figure import Figure

    data = pd.DataFrame({"treated": [1] * 32 + [0] * 25,
                         "days_to_first": pd.Series(list(range(12)) + [None] * 20 + [3] * 5 + [None] * 20,
                                                    dtype=float)})
    asked = []
    analysis = SimpleNamespace(data=data, match=SimpleNamespace(weights=pd.Series([1.0] * 57)),
                               over_time=lambda outcome: asked.append(outcome) or _shown_over_time((180, 270, 365)))
    heading, figure, note, table = sections.reoffending_over_time(analysis)
    assert asked == ["reoffended"]
    assert heading.data.startswith("## Re-offending over the year\n\nThe share of each group")
    assert isinstance(figure, Figure) and figure.axes[0].get_lines()[1].get_xdata()[0] == 5
    assert note.data.startswith("### Proven re-offending so far, by day\n\nBy day 30, 90, 180, 270 and 365")
    # every day of the table, the ones not shown saying so; shares in per cent, differences in points
    assert list(table.index) == ["By day 30", "By day 90", "By day 180", "By day 270", "By day 365"]
    assert table.loc["By day 30"].tolist() == ["not shown: fewer than 5 people in a group", *[""] * 6]
    assert table.loc["By day 365"].tolist() == ["45", "40\u00a0to\u00a049", "26", "25\u00a0to\u00a028", "18",
                                                "14\u00a0to\u00a023", "<0.01"]
    # no table may be shown: the curve only
    analysis.over_time = lambda outcome: None
    assert len(sections.reoffending_over_time(analysis)) == 2
    # four comparison people re-offend: no day may be drawn
    analysis.match.weights.iloc[-21] = 0.0
    [why] = sections.reoffending_over_time(analysis)
    assert why.data == ("## Re-offending over the year\n\nThe re-offending curve is not shown: in one of the "
                        "groups too few people re-offended, or too few did not, for it to be published.")


def _employment_results(gated=()):
    from jdl.cohort.employment import EMPLOYMENT_MEASURES
    from jdl.stats.compare import Comparison, MeasureComparison

    values = {"employed_in_year": (0.4456, 0.40, 0.49, 0.2633, 0.25, 0.28, 0.1823, 0.135, 0.2295, 1e-13, True),
              "days_employed": (91.05, 80.0, 102.0, 55.92, 53.0, 59.0, 35.13, 23.0, 47.26, 2e-8, True),
              "benefit_at_year_end": (0.1736, 0.14, 0.21, 0.1947, 0.18, 0.21, -0.0211, -0.0578, 0.0156, 0.26, False),
              "days_on_benefit": (57.01, 50.0, 64.0, 68.13, 65.0, 71.0, -11.12, -21.25, -1.0, 0.031, True)}
    results = []
    for m in EMPLOYMENT_MEASURES:
        if m.column in gated:
            reason = ("not reported: too few people (fewer than 10 in the treatment group have the outcome, or fewer "
                      "than 10 do not)")
            results.append(MeasureComparison(m, None, False, reason))
        else:
            results.append(MeasureComparison(m, Comparison(*values[m.column], 478, 3198.4, 900.0, 0.05), True, None))
    return results


def _employment_analysis(gated=(), table=True, curve=True):
    import numpy as np
    import pandas as pd
    from jdl.stats.curves import Cumulative

    days = np.arange(1, 366)
    share = np.linspace(0.15, 0.45, 365)
    frame = pd.DataFrame({"treated": share, "treated_lower": share - 0.04, "treated_upper": share + 0.04,
                          "comparison": share / 2, "comparison_lower": share / 2 - 0.01,
                          "comparison_upper": share / 2 + 0.01, "treated_count": 0.0, "comparison_count": 0.0,
                          "treated_people": 70 if curve else 3, "comparison_people": 800},
                         index=pd.Index(days, name="day"))
    return SimpleNamespace(employment=_employment_results(gated),
                           over_time=lambda outcome: _shown_over_time() if table and outcome == "employed" else None,
                           employment_curve=Cumulative(frame, n_treated=478, n_comparison=3198.4))


def test_the_employment_section_is_labelled_experimental_with_its_table_words_and_over_time():
    from matplotlib.figure import Figure

    parts = sections.employment(_employment_analysis())
    intro, title, table, said, heading, over, figure = parts
    assert intro.data.startswith("## Experimental: employment and benefits in the year after\n\nThese outcomes are "
                                 "experimental statistics. They come from P45 employment and out-of-work benefit "
                                 "records (DWP and HMRC data)")
    assert "from July 2018 as experimental statistics" in intro.data
    assert "do not change the result on re-offending" in intro.data
    assert title.data == "### Employment and benefits in the year after (experimental)"
    assert list(table.index) == ["In P45 employment at any time in the year (%)", "Days in P45 employment in the year",
                                 "On out-of-work benefits at the end of the year (%)",
                                 "Days on out-of-work benefits in the year"]
    assert table.iloc[0].tolist() == ["478", "3,198", "45%", "26%", "18", "14\u00a0to\u00a023", "Yes", "<0.01"]
    assert table.iloc[1].tolist() == ["478", "3,198", "91", "56", "35", "23\u00a0to\u00a047", "Yes", "<0.01"]
    assert said.data.split("\n") == [
        "- The share in P45 employment at any time in the year after the index date of people who received the "
        "service was higher by between 14 and 23 percentage points than that of similar people who did not.",
        "- The average number of days in P45 employment in the year after the index date among people who received "
        "the service was higher by between 23 and 47 days than among similar people who did not.",
        "- The share on out-of-work benefits at the end of the year after the index date of people who received the "
        "service could be lower by as many as 6 or higher by as many as 2 percentage points than that of similar "
        "people who did not; more people would be needed to tell which.",
        "- The average number of days on out-of-work benefits in the year after the index date among people who "
        "received the service was lower by between 1 and 21 days than among similar people who did not."]
    text = "\n".join(p.data for p in parts if hasattr(p, "data"))
    for word in ("reduction", "increase", "re-offending rate"):
        assert word not in text.replace("result on re-offending", "")
    assert heading.data.startswith("### Experimental: P45 employment over the year\n\n")
    assert over.loc["By day 90"].tolist() == ["27", "23\u00a0to\u00a031", "18", "17\u00a0to\u00a019", "9",
                                              "5\u00a0to\u00a013", "<0.01"]
    assert isinstance(figure, Figure)
    assert figure.axes[0].get_title() == "Experimental: share of each group in P45 employment so far, by day"
    assert figure.axes[0].get_ylabel() == "In P45 employment so far (%)"


def test_the_employment_section_says_why_a_measure_or_the_curve_is_not_shown():
    parts = sections.employment(_employment_analysis(gated=("benefit_at_year_end",), curve=False))
    intro, title, table, said, why = parts
    assert table.loc["On out-of-work benefits at the end of the year (%)"].tolist() == [
        "too few with or without the outcome", *[""] * 7]
    assert "end of the year" not in said.data
    assert why.data == ("### Experimental: P45 employment over the year\n\nEmployment over the year is not shown: "
                        "in one of the groups too few people were in P45 employment, or too few were not, for it "
                        "to be published.")
    assert len(sections.employment(_employment_analysis(table=False))) == 5


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


def test_a_sub_analyses_table_with_no_sub_group_analysed_keeps_only_its_filled_columns():
    from jdl.stats.subgroups import NOT_RUN, SubgroupResult, subgroup_table

    poor = "not run: the national match is poor"
    results = [SubgroupResult("Sex", "Male", "404", NOT_RUN, poor),
               SubgroupResult("Sex", "Female", "75", NOT_RUN, poor),
               SubgroupResult("Your sub-group label", "Not given", "479", NOT_RUN, "not analysed: no value given")]
    shown = sections._without_empty_columns(subgroup_table(results))
    assert list(shown.columns) == ["People", "Result"]
    assert shown.values.tolist() == [["404", poor], ["75", poor], ["479", "not analysed: no value given"]]
    # the interval's no-wrap leaves a table without intervals alone
    assert sections._no_wrap(shown, "95% interval").equals(shown)
