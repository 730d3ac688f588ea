"""The tailored report's sections: what each shows of an analysed request.

The template notebook only renders: it builds a :class:`Report` from a
:class:`jdl.analysis.Analysis` and shows one section per cell (``report.show("summary")``).
Which sections a request gets is decided once, here, when the :class:`Report` is made: a
processed request gets :data:`PROCESSED`; a request that fails the minimum criteria gets
:data:`NOT_PROCESSED` (its "summary" is the letter saying why, and the sections with statistics
show nothing). Each section is a function from the analysis to a list of things to display
(Markdown, tables, figures): tested package code, never notebook logic.

Text from outside (params, the national data) reaches Markdown only through
:func:`jdl.words.markdown_text`; tables are rendered by pandas, which escapes their cells.
"""

from __future__ import annotations

from collections.abc import Callable

from IPython.display import Markdown, display

from jdl import words
from jdl.cohort.build import DEFAULT_POOL_MARGIN_MONTHS
from jdl.cohort.linkage import DEFAULT_THRESHOLD as LINKAGE_THRESHOLD
from jdl.cohort.measures import MEASURES
from jdl.report import figures, labels
from jdl.report import text as report
from jdl.report.about import DEFAULT_SETTINGS, ReportSettings, about_markdown
from jdl.report.provenance import provenance_markdown
from jdl.stats import disclosure, subgroups
from jdl.stats.balance import love_plot, overlap_plot
from jdl.stats.threads import one_blas_thread
from jdl.stats.curves import TABLE_DAYS, cumulative_reoffending, curve_shown
from jdl.stats.power import people_needed, power_sentence
from jdl.stats.profile import PROFILE_TABLES, age_summary, history_summary, profile_beside_comparison

PLANNING_REDUCTION = 0.05   # the reduction (5 percentage points) power planning is done for
COURT_CLASSES = ("first_indictable_only", "first_either_way", "first_summary")


def _markdown(text: str) -> Markdown:
    return Markdown(text)


def _no_wrap(table, column=None, row=None):
    """``table`` with the intervals of its ``column`` (or its ``row``) on one line (a column it
    does not have is left alone)."""
    table = table.copy()
    if column is not None and column in table.columns:
        table[column] = table[column].map(labels.no_wrap)
    if row is not None:
        table.loc[row] = table.loc[row].map(labels.no_wrap)
    return table


def _without_empty_columns(table):
    """``table`` without the columns empty in every row (when no sub-group was analysed, its
    results' columns: the reasons then have the page's width instead of a narrow column)."""
    return table.loc[:, (table != "").any(axis=0)]


def _notes(notes) -> list:
    """Disclosure notes as a Markdown list (nothing when there are none)."""
    return [_markdown("\n".join(f"- {words.markdown_text(n)}" for n in notes))] if notes else []


def title(analysis) -> list:
    request = analysis.request
    received = f", received {words.markdown_text(request.date_received)}" if request.date_received else ""
    return [_markdown(f"# {report.title(request.organisation, request.programme)}\n\n"
                      f"Request {words.markdown_text(request.request_id)}{received}. Official statistics produced "
                      "by the Justice Data Lab (open re-implementation).")]


def about(analysis, settings: ReportSettings = DEFAULT_SETTINGS) -> list:
    """About these statistics: published (the run date), status and contact (``settings``), the
    report's id, the data and the national data's extract date (from its manifest)."""
    request, provenance = analysis.request, analysis.provenance
    return [_markdown(about_markdown(request.request_id, provenance["run_at"], request.date_received,
                                     provenance["national"]["manifest"], settings))]


def summary(analysis) -> list:
    request = analysis.request
    return [_markdown("## Summary\n\n" + report.summary_paragraph(
        request.organisation, request.programme, analysis.headline, analysis.verdict, analysis.n_analysed,
        analysis.match.n_comparison_distinct, MEASURES[0]))]


def letter(analysis) -> list:
    """The letter for a request that fails the minimum criteria: why, and how many people a
    request needs (planned on the comparison pool's rate, else the national adult rate)."""
    request = analysis.request
    pool_rate = analysis.pool_rate if analysis.pool_rate is not None else report.NATIONAL_ADULT_RATE
    return [_markdown("## Your request could not be processed\n\n" + report.not_processed_letter(
        request.organisation, request.programme, analysis.reason, analysis.n_submitted, analysis.n_analysed)
        + "\n\n" + power_sentence(pool_rate, PLANNING_REDUCTION, people_needed(pool_rate, PLANNING_REDUCTION)))]


def can_say(analysis) -> list:
    request, verdict, headline = analysis.request, analysis.verdict, analysis.headline
    can = words.can_say(verdict, request.organisation, request.programme, headline)
    cannot = words.cannot_say(verdict, request.organisation, request.programme, headline)
    return [_markdown(f"## {words.CAN_SAY_HEADING}\n\n" + "\n".join(f"- {s}" for s in can)
                      + f"\n\n## {words.CANNOT_SAY_HEADING}\n\n" + "\n".join(f"- {s}" for s in cannot))]


def per_100(analysis) -> list:
    """The key figure, on page 1: the rate and frequency per 100 people in words and the rate as
    "For 100 typical people" (100 person icons a group, with its interval)."""
    headline = analysis.headline
    frequency = analysis.measures[1].comparison
    lines = [words.per_100_sentence(headline.treated_mean, headline.comparison_mean)]
    if frequency is not None:
        lines.append(words.per_100_frequency_sentence(frequency.treated_mean, frequency.comparison_mean))
    return [_markdown("## Measurements per 100 people\n\n" + "\n\n".join(lines)), figures.per_100_figure(headline)]


def intervals(analysis) -> list:
    """The frequency and the time to the first re-offence drawn with their intervals (a gated
    measure is neither said nor drawn), what every reported interval tells us, and the number needed."""
    headline = analysis.headline
    frequency, time = analysis.measures[1].comparison, analysis.measures[2].comparison
    shown = []
    if frequency is not None:
        shown.append(figures.frequency_figure(frequency))
    if time is not None:
        shown.append(figures.time_figure(time))
    said = [words.interval_sentence(r.measure, r.comparison) for r in analysis.measures if r.reported]
    if analysis.number_needed is not None:
        said.append(words.number_needed_sentence(analysis.number_needed))
        ratio = analysis.match.effective_comparison_size / analysis.match.n_treated_matched
        said.append(power_sentence(
            headline.comparison_mean, PLANNING_REDUCTION,
            people_needed(headline.comparison_mean, PLANNING_REDUCTION, ratio=ratio), ratio=round(ratio, 1)))
    drawn = " and ".join(name for name, measure in (("the frequency of proven re-offending", frequency),
                                                    ("the time to the first proven re-offence", time)) if measure is not None)
    intro = f"\n\nFor both groups, {drawn}, each with its 95% confidence interval." if drawn else ""
    return [_markdown("## What the intervals tell us" + intro), *shown, _markdown("\n".join(f"- {s}" for s in said))]


OVER_TIME_TABLE_NOTE = ("By day 30, 90, 180, 270 and 365 after the index date: the share of each group so far, "
                        "the difference (treatment minus comparison) in percentage points, each with its 95% "
                        "confidence interval, and the p-value. A day on which either group has fewer than 5 "
                        "people with the outcome is not shown.")


def reoffending_over_time(analysis) -> list:
    """The cumulative re-offending curve of both groups over the 365 days after the index date
    with its 95% band (:mod:`jdl.stats.curves`), and the shares by days 30, 90, 180, 270 and 365
    with intervals, the difference and its interval (:meth:`jdl.analysis.Analysis.over_time`),
    or why they are not shown (disclosure: the rate's gate, and no day where either group has
    fewer than 5 people who re-offended)."""
    shown = curve_shown(cumulative_reoffending(analysis.data, analysis.match.weights))
    heading = "## Re-offending over the year\n\n"
    if shown is None:
        return [_markdown(heading + "The re-offending curve is not shown: in one of the groups too few people "
                          "re-offended, or too few did not, for it to be published.")]
    parts = [_markdown(heading + "The share of each group with a proven re-offence, day by day over the year "
                       "after the index date; on day 365 it is the one-year proven re-offending rate."),
             figures.cumulative_figure(shown)]
    table = analysis.over_time("reoffended")
    if table is not None:
        parts += [_markdown("### Proven re-offending so far, by day\n\n" + OVER_TIME_TABLE_NOTE),
                  labels.over_time_display(table, TABLE_DAYS)]
    return parts


EMPLOYMENT_HEADING = "## Experimental: employment and benefits in the year after"
EMPLOYMENT_INTRO = (
    "These outcomes are experimental statistics. They come from P45 employment and out-of-work benefit "
    "records (DWP and HMRC data) linked to the people analysed; the Justice Data Lab added employment and "
    "benefit outcomes from July 2018 as experimental statistics, beside proven re-offending. They are compared with "
    "the same matched groups, the same test and the same reporting rules as the re-offending measures, and "
    "they do not change the result on re-offending above. Differences are treatment minus comparison, with "
    "95% confidence intervals: in percentage points for shares, in days for days. A positive difference in "
    "employment means more employment among the people who received the service.")


def employment(analysis) -> list:
    """Experimental outcomes (issue 16): what they are and where they come from, the four
    employment and benefit measures' table (:func:`jdl.report.labels.employment_table`) and what
    each reported interval tells us (neutral words: higher or lower), then P45 employment over the
    year: the shares by days 30 to 365 with intervals and the day-by-day curve, or why they are
    not shown (the curve's disclosure rule)."""
    results = analysis.employment
    said = [words.interval_sentence(r.measure, r.comparison) for r in results if r.reported]
    parts = [_markdown(f"{EMPLOYMENT_HEADING}\n\n{EMPLOYMENT_INTRO}"),
             _markdown(f"### {labels.EMPLOYMENT_TITLE}"), labels.employment_table(results)]
    if said:
        parts.append(_markdown("\n".join(f"- {s}" for s in said)))
    heading = "### Experimental: P45 employment over the year\n\n"
    table, curve = analysis.over_time("employed"), curve_shown(analysis.employment_curve)
    if table is None or curve is None:
        return parts + [_markdown(heading + "Employment over the year is not shown: in one of the groups too few "
                                  "people were in P45 employment, or too few were not, for it to be published.")]
    return parts + [_markdown(heading + "The share of each group in P45 employment at any time so far (from the "
                              "index date to the day), by day; on day 365 it is the share in P45 employment at "
                              "any time in the year. " + OVER_TIME_TABLE_NOTE),
                    labels.over_time_display(table, TABLE_DAYS), figures.employment_figure(curve)]


def attrition(analysis) -> list:
    shown = analysis.publication.tables["attrition"].shown
    parts = [_markdown("## Attrition: how the people submitted reached the analysis"),
             figures.attrition_figure(shown.drop(disclosure.TOTAL), shown[disclosure.TOTAL]),
             shown.rename("People").to_frame()]
    if analysis.plan is not None and analysis.plan.restrictions:
        parts.append(_markdown(report.restriction_sentence(analysis.plan)))
    return parts + _notes(analysis.publication.notes(["attrition"]))


def measures(analysis) -> list:
    """The results tables, one per group of measures as the Justice Data Lab groups them
    (:func:`jdl.report.labels.measure_groups`)."""
    parts = [_markdown("## All measures\n\nTreatment group against the weighted comparison group; "
                       "differences are treatment minus comparison, with 95% confidence intervals; "
                       "differences and intervals of rates are in percentage points, of frequencies in "
                       "re-offences (or custodial sentences) per person or per re-offender, of time in days.")]
    for group_title, table in labels.measure_groups(analysis.measures):
        parts += [_markdown(f"### {group_title}"), table]
    # the first re-offence's court class: three shares of the same re-offenders that should add to 100%
    classes = [r.comparison for r in analysis.measures if r.measure.column in COURT_CLASSES]
    if all(c is not None for c in classes):
        for group in ("treated_mean", "comparison_mean"):
            note = words.rounding_note([getattr(c, group) for c in classes], 1.0, words.percent)
            if note:
                parts.append(_markdown(f"*{note}*"))
                break
    return parts


def profile(analysis) -> list:
    """The treatment group beside the weighted comparison group: the characteristics (the
    treatment group's counts after disclosure control, shares of both groups) and a summary of
    criminal history (:mod:`jdl.stats.profile`)."""
    treated, data, weights = analysis.treated_analysed, analysis.data, analysis.match.weights
    chosen = ((data["treated"] == 0) & (weights > 0)).to_numpy()
    comparison, comparison_weights = data[chosen], weights[chosen].to_numpy()
    return [_markdown("## The treatment group and the comparison group\n\n" + age_summary(treated)
                      + " The comparison group's shares are weighted by the matching weights; a share of "
                      "the treatment group is not shown where its count is not."),
            profile_beside_comparison(treated, comparison, comparison_weights, analysis.publication),
            *_notes(analysis.publication.notes(PROFILE_TABLES)),
            _markdown("### Criminal history and circumstances at the index event"),
            labels.history_display(history_summary(treated, comparison, comparison_weights))]


def sub_analyses(analysis) -> list:
    notes = "\n\n".join(subgroups.subgroup_notes(analysis.subgroups)) + "".join(
        f"\n\n{words.markdown_text(n)}" for n in analysis.publication.notes(subgroups.TABLES))
    return [_markdown("## Sub-analyses\n\n" + subgroups.SUBGROUP_INTRO),
            _no_wrap(_without_empty_columns(subgroups.subgroup_table(analysis.subgroups)), "95% interval"),
            _markdown(notes),
            _markdown("## Controlled for region\n\n" + subgroups.REGION_INTRO + "\n\n"
                      + subgroups.region_sentence(analysis.headline, analysis.region)),
            _no_wrap(subgroups.region_table(analysis.match, analysis.headline, analysis.balance,
                                            analysis.region), row="95% interval")]


def match_quality(analysis) -> list:
    balance = analysis.balance
    parts = [_markdown("## Annex A: match quality\n\n" + balance.conventions)]
    if balance.any_poor:
        poor = ", ".join(labels.term_label(p) for p in balance.poor)
        parts.append(_markdown("**The match is poor on " + words.markdown_text(poor)
                               + "**: after matching, the standardised difference is over 10%. The results "
                               "should be read with care."))
    parts += [labels.balance_display(balance.table), love_plot(balance), overlap_plot(analysis.match)]
    region = analysis.region.balance
    if region is not None:
        parts.append(_markdown("### Balance of the match controlled for region\n\nStandardised differences "
                               "after matching (%), the national match beside the match controlled for region."))
        if region.any_poor:
            parts.append(_markdown("**The match controlled for region is poor on "
                                   + words.markdown_text(", ".join(labels.term_label(p) for p in region.poor))
                                   + "**: after matching, the standardised difference is over 10%."))
        parts.append(labels.side_by_side_display(subgroups.balance_side_by_side(balance, region)))
    return parts


def propensity_model(analysis) -> list:
    return [_markdown("## Annex B: the propensity model\n\nLogistic regression of taking part on the "
                      f"covariates, {report.estimator_words(analysis.match)} (see Annex D); coefficients on "
                      "the log-odds scale."),
            labels.coefficient_display(analysis.match.coefficients())]


def sensitivity(analysis) -> list:
    adjusted, headline = analysis.adjusted, analysis.headline
    return [_markdown(
        "## Annex C: sensitivity\n\n**Hidden bias.** " + analysis.e_values.sentence()
        + "\n\n**Regression-adjusted estimate.** A weighted regression of re-offending on taking part and "
        "the model's covariates, on the matched sample, estimates the difference as "
        f"{words.points(adjusted.difference)} percentage points (95% interval "
        f"{words.interval(adjusted.lower, adjusted.upper)}; {words.p_phrase(adjusted.p_value)}), "
        f"beside {words.points(headline.difference)} from the match alone. It is consistent if either the "
        "match or the regression model is right.")]


def method_notes(analysis) -> list:
    notes = report.method_notes(analysis.match, analysis.plan, analysis.window, DEFAULT_POOL_MARGIN_MONTHS,
                                LINKAGE_THRESHOLD, disclosure.RULE_NOTES)
    return [_markdown("## Annex D: method notes\n\n" + "\n".join(f"- {n}" for n in notes)
                      + "\n\n## Annex E: proven re-offending\n\n" + report.DEFINITION
                      + "\n\n## Annex F: caveats\n\n" + "\n".join(f"- {c}" for c in report.CAVEATS))]


def provenance(analysis) -> list:
    return [_markdown("## Annex G: provenance\n\n" + provenance_markdown(analysis.provenance))]


Section = Callable[[object], list]

# The sections of a processed request, in the report's order: page 1 holds the title, the headline
# paragraph and the key figure (the rate for 100 typical people).
PROCESSED: dict[str, Section] = {
    "title": title, "summary": summary, "per_100": per_100, "about": about, "can_say": can_say,
    "intervals": intervals, "reoffending_over_time": reoffending_over_time, "attrition": attrition,
    "measures": measures, "employment": employment, "profile": profile, "sub_analyses": sub_analyses,
    "match_quality": match_quality, "propensity_model": propensity_model, "sensitivity": sensitivity,
    "method_notes": method_notes, "provenance": provenance,
}
# The sections of a request that fails the minimum criteria: the letter in place of the summary,
# the attrition that explains it, the method notes and the provenance; no statistics.
NOT_PROCESSED: dict[str, Section] = {
    "title": title, "summary": letter, "about": about, "attrition": attrition, "method_notes": method_notes,
    "provenance": provenance,
}


class Report:
    """The report of one analysed request: which sections it has (decided once, from
    ``analysis.processed``) and what each shows."""

    def __init__(self, analysis, settings: ReportSettings = DEFAULT_SETTINGS):
        self.analysis = analysis
        self.settings = settings          # the lab's contact and status, for the "about" section
        self.sections = PROCESSED if analysis.processed else NOT_PROCESSED

    @one_blas_thread()
    def parts(self, name: str) -> list:
        """What section ``name`` shows (nothing for a section this request does not have).
        Raises KeyError for a name that is no section of any report."""
        if name not in PROCESSED:
            raise KeyError(f"no report section {name!r}; the sections are {', '.join(PROCESSED)}")
        section = self.sections.get(name)
        if section is None:
            return []
        return section(self.analysis, self.settings) if section is about else section(self.analysis)

    def show(self, name: str) -> None:
        """Display section ``name`` (in a notebook: its Markdown, tables and figures)."""
        for part in self.parts(name):
            display(part)
