"""Human labels for every name a report's tables show, and the report's tables built with them.

The analysis names things as code does (``treated_mean_before``, ``previous_custodial_sentences``,
``index_offence_group_violence against the person``); a reader sees "Mean of the treatment group
before matching", "Previous custodial sentences", "Index offence: Violence against the person".
One table per kind of name, each covering every name the analysis can produce (tests check):

- :data:`COVARIATE_LABELS`: every covariate of :data:`jdl.cohort.measures.COVARIATES` (and the
  ``disposal_kind`` matched exactly on); :func:`level_label` for a categorical covariate's levels;
  :func:`term_label` for a balance row or a propensity model term;
- :data:`BALANCE_LABELS`: every column of the balance table (:data:`jdl.stats.balance.COLUMNS`);
- :data:`MEASURE_GROUPS`: every measure of :data:`jdl.cohort.measures.MEASURES`, in the Justice Data
  Lab's groups (rate; frequency; time; court class of the first re-offence; frequency by court
  class; custody), with its label inside its group;
- :data:`EMPLOYMENT_LABELS`: the experimental employment and benefit measures (one table,
  :func:`employment_table`); :func:`over_time_display` for the shares by days 30 to 365;
- :data:`MEASURE_COLUMNS`, :data:`COEFFICIENT_LABELS`, :data:`HISTORY_LABELS`: the columns of the
  results tables, of the propensity model's coefficients and the rows of the criminal history
  summary.

Numbers are printed by :mod:`jdl.words` (methodology section 7: half away from zero, never "-0");
an interval is printed "a to b" with non-breaking spaces (:func:`interval_cell`), so it never
wraps over two lines.
"""

from __future__ import annotations

import math

import pandas as pd

from jdl import words
from jdl.cohort.employment import EMPLOYMENT_MEASURES
from jdl.cohort.measures import CATEGORICAL_COVARIATES, MEASURES
from jdl.cohort.national import OASYS_NEEDS
from jdl.stats.balance import COLUMNS as BALANCE_COLUMNS
from jdl.stats.design import DISTANCE_LABELS
from jdl.stats.profile import SEX_LABELS

NBSP = "\u00a0"
NOT_AVAILABLE = "n/a"

OASYS_NEED_WORDS = {
    "accommodation": "accommodation", "education_training_employment": "education, training and employment",
    "finance": "finance", "relationships": "relationships", "lifestyle": "lifestyle", "drugs": "drugs",
    "alcohol": "alcohol", "emotional_wellbeing": "emotional well-being",
    "thinking_behaviour": "thinking and behaviour", "attitudes": "attitudes",
}

COVARIATE_LABELS = {
    "sex": "Sex",
    "ethnicity_group": "Ethnicity group",
    "region": "Region",
    "index_offence_group": "Index offence",
    "disposal": "Disposal",
    "sentence_band": "Sentence length",
    "age": "Age at index",
    "age_squared": "Age at index, squared",
    "uk_national": "UK national",
    "index_year": "Year of the index event",
    "previous_offences": "Previous offences",
    "previous_convictions": "Previous convictions",
    "previous_cautions": "Previous cautions",
    "previous_custodial_sentences": "Previous custodial sentences",
    "previous_court_orders": "Previous court orders",
    "previous_breaches": "Previous breaches of orders",
    "age_at_first_contact": "Age at first contact",
    "copas_rate": "Copas rate",
    "previous_violence": "Previous violence offences",
    "previous_drugs": "Previous drugs offences",
    "previous_theft": "Previous theft offences",
    "employed_year_before": "Employed in the year before",
    "benefit_year_before": "On out-of-work benefit in the year before",
    "oasys_assessed": "OASys assessed",
    **{f"oasys_{need}": f"OASys need: {words_}" for need, words_ in OASYS_NEED_WORDS.items()},
    "disposal_kind": "Disposal kind",
}
assert set(OASYS_NEED_WORDS) == set(OASYS_NEEDS)

# Labels that start with a name or an acronym keep their capital in the middle of a sentence.
_PROPER = ("UK", "OASys", "Copas")


def covariate_label(name: str) -> str:
    """A covariate's label for a table ("previous_custodial_sentences" -> "Previous custodial
    sentences"); a name not in :data:`COVARIATE_LABELS` with its underscores as spaces and a
    capital first letter."""
    if name in COVARIATE_LABELS:
        return COVARIATE_LABELS[name]
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def covariate_words(name: str) -> str:
    """A covariate in the middle of a sentence: its label with a small first letter unless it
    starts with a name or an acronym: "previous_custodial_sentences" -> "previous custodial
    sentences", "oasys_drugs" -> "OASys need: drugs", "uk_national" -> "UK national"."""
    label = covariate_label(name)
    return label if label.split(" ")[0].rstrip(":,") in _PROPER else label[:1].lower() + label[1:]


def level_label(column: str, level) -> str:
    """A level of the categorical covariate ``column`` for a table: sex "M" -> "Male", and
    otherwise with a capital first letter ("violence against the person" -> "Violence against the
    person")."""
    if column == "sex" and level in SEX_LABELS:
        return SEX_LABELS[level]
    text = str(level)
    return text[:1].upper() + text[1:]


def _split_term(term: str) -> tuple[str, str] | None:
    for column in CATEGORICAL_COVARIATES + ("disposal_kind",):
        if term.startswith(column + "_"):
            return column, term[len(column) + 1:]
    return None


def term_words(term: str) -> str:
    """A propensity model term in the middle of a sentence: a covariate (:func:`covariate_words`)
    or, for a level of a categorical covariate ("region_North West"), "region = North West"."""
    split = _split_term(term)
    if split is not None:
        return f"{covariate_words(split[0])} = {split[1]}"
    return covariate_words(term)


def term_label(term: str) -> str:
    """A balance row or propensity model term for a table: "const" -> "Intercept", a level of a
    categorical covariate ("index_offence_group_violence against the person") -> "Index offence:
    Violence against the person", the distance row -> "Distance (logit of propensity score)",
    a covariate -> :func:`covariate_label`."""
    if term == "const":
        return "Intercept"
    if term in DISTANCE_LABELS.values():
        return term[:1].upper() + term[1:]
    split = _split_term(term)
    if split is not None:
        return f"{covariate_label(split[0])}: {level_label(*split)}"
    return covariate_label(term)


# ---------------------------------------------------------------- numbers in cells


def interval_cell(lower, upper, formatter=words.points) -> str:
    """A 95% interval for a table cell: :func:`jdl.words.interval` with non-breaking spaces, so
    the cell never wraps it: (-0.114, -0.014) -> "-11\\u00a0to\\u00a0-1"."""
    return words.interval(lower, upper, formatter).replace(" ", NBSP)


def no_wrap(text: str) -> str:
    """``text`` with its spaces non-breaking (an interval already printed "a to b")."""
    return str(text).replace(" ", NBSP)


def _number(x, places: int) -> str:
    return NOT_AVAILABLE if x is None or not math.isfinite(float(x)) else words.decimal(x, places)


# ---------------------------------------------------------------- balance (Annex A)

BALANCE_LABELS = {
    "treated_mean_before": "Mean of the treatment group before matching",
    "treated_mean_after": "Mean of the treatment group after matching",
    "comparison_mean_before": "Mean of the comparison pool before matching",
    "comparison_mean_after": "Mean of the comparison group after matching (weighted)",
    "std_diff_before": "Standardised difference before matching (%)",
    "std_diff_after": "Standardised difference after matching (%)",
    "variance_ratio_before": "Variance ratio before matching",
    "variance_ratio_after": "Variance ratio after matching",
    "band_after": "Balance after matching",
}
# the balance table's two-line header: (before or after matching, what)
BALANCE_HEADERS = {
    "treated_mean_before": ("Before matching", "Treatment group mean"),
    "comparison_mean_before": ("Before matching", "Comparison pool mean"),
    "std_diff_before": ("Before matching", "Standardised difference (%)"),
    "variance_ratio_before": ("Before matching", "Variance ratio"),
    "treated_mean_after": ("After matching", "Treatment group mean"),
    "comparison_mean_after": ("After matching", "Comparison group mean (weighted)"),
    "std_diff_after": ("After matching", "Standardised difference (%)"),
    "variance_ratio_after": ("After matching", "Variance ratio"),
    "band_after": ("After matching", "Balance"),
}
_BALANCE_PLACES = {"treated_mean_before": 2, "treated_mean_after": 2, "comparison_mean_before": 2,
                   "comparison_mean_after": 2, "std_diff_before": 1, "std_diff_after": 1,
                   "variance_ratio_before": 2, "variance_ratio_after": 2}
assert set(BALANCE_LABELS) == set(BALANCE_HEADERS) == set(BALANCE_COLUMNS)


def balance_display(table: pd.DataFrame) -> pd.DataFrame:
    """The balance table (:data:`jdl.stats.balance.COLUMNS`, rows named as
    :func:`jdl.stats.balance.balance_covariates` names them) for the report, as strings: rows
    labelled by :func:`term_label`, columns grouped under "Before matching" and "After matching"
    (:data:`BALANCE_HEADERS`), means and variance ratios to two decimals, standardised differences
    to one, the band with a capital ("Good"); a ratio that cannot be computed shows "n/a"."""
    columns = [c for c in BALANCE_HEADERS if c in table.columns]
    shown = pd.DataFrame({
        BALANCE_HEADERS[c]: ([str(v).capitalize() for v in table[c]] if c == "band_after"
                             else [_number(v, _BALANCE_PLACES[c]) for v in table[c]])
        for c in columns}, index=pd.Index([term_label(str(t)) for t in table.index], name="Covariate"))
    shown.columns = pd.MultiIndex.from_tuples(shown.columns)
    return shown


def side_by_side_display(table: pd.DataFrame) -> pd.DataFrame:
    """Standardised differences after matching of two matches side by side (columns kept, rows
    as in the balance table) for the report: rows labelled by :func:`term_label`, one decimal,
    "n/a" where a match has no such row."""
    return pd.DataFrame({c: [_number(v, 1) for v in table[c]] for c in table.columns},
                        index=pd.Index([term_label(str(t)) for t in table.index], name="Covariate"))


# ---------------------------------------------------------------- the propensity model (Annex B)

COEFFICIENT_LABELS = {"coef": "Coefficient (log-odds)", "se": "Standard error", "z": "z", "p": "p-value"}


def coefficient_display(coefficients: pd.DataFrame) -> pd.DataFrame:
    """The propensity model's coefficients (columns ``coef``, ``se``, ``z``, ``p`` indexed by
    term) for the report: terms labelled by :func:`term_label`, columns by
    :data:`COEFFICIENT_LABELS`, figures to three decimals (never "-0.000"), p-values as
    :func:`jdl.words.p_value` prints them."""
    shown = {COEFFICIENT_LABELS[c]: ([words.p_value(v) if math.isfinite(v) else NOT_AVAILABLE
                                      for v in coefficients[c]] if c == "p"
                                     else [_number(v, 3) for v in coefficients[c]])
             for c in coefficients.columns}
    return pd.DataFrame(shown, index=pd.Index([term_label(str(t)) for t in coefficients.index], name="Term"))


# ---------------------------------------------------------------- results tables

# The Justice Data Lab's groups of measures: (title, ((measure column, label in the group), ...)).
MEASURE_GROUPS = (
    ("Proven re-offending rate", (("reoffended", "One-year proven re-offending rate"),)),
    ("Frequency of proven re-offending", (("reoffences", "Proven re-offences per person"),)),
    ("Time to first proven re-offence", (("days_to_first", "Days to the first proven re-offence (re-offenders)"),)),
    ("Court class of the first proven re-offence (re-offenders)",
     (("first_indictable_only", "Indictable-only"), ("first_either_way", "Either-way"),
      ("first_summary", "Summary"))),
    ("Frequency of proven re-offending by court class (re-offences per re-offender)",
     (("reoffences_indictable_only", "Indictable-only"), ("reoffences_either_way", "Either-way"),
      ("reoffences_summary", "Summary"))),
    ("Custody (re-offenders)",
     (("first_custodial", "Custodial sentence for the first proven re-offence"),
      ("custodial_sentences", "Custodial sentences in the year per re-offender"))),
)
MEASURE_LABELS = {column: label for _, members in MEASURE_GROUPS for column, label in members}
assert list(MEASURE_LABELS) == [m.column for m in MEASURES]

MEASURE_COLUMNS = ("Measure", "Treatment group size", "Comparison group size (effective)", "Treatment group",
                   "Comparison group", "Difference", "95% interval", "Significant", "p-value")
TOO_FEW_REOFFENDERS = "too few re-offenders to report"
TOO_FEW_WITH_OUTCOME = "too few with or without the outcome"


def gate_phrase(result) -> str:
    """Why a gated measure (a :class:`jdl.stats.compare.MeasureComparison` not reported) is not
    reported, in one short phrase: :data:`TOO_FEW_REOFFENDERS` when its gate is the number of
    treated re-offenders, else :data:`TOO_FEW_WITH_OUTCOME` (a rate's people with and without
    the outcome)."""
    return TOO_FEW_REOFFENDERS if "re-offenders" in (result.reason or "") else TOO_FEW_WITH_OUTCOME


def _measure_row(label: str, result) -> list[str]:
    measure, c = result.measure, result.comparison
    if not result.reported:
        return [label, gate_phrase(result), *[""] * (len(MEASURE_COLUMNS) - 2)]
    fmt = words.difference_formatter(measure)
    return [label, words.count(c.n_treated), words.count(c.n_comparison), words.value(measure, c.treated_mean),
            words.value(measure, c.comparison_mean), fmt(c.difference), interval_cell(c.lower, c.upper, fmt),
            "Yes" if c.significant else "No", words.p_value(c.p_value)]


def measure_groups(results) -> list[tuple[str, pd.DataFrame]]:
    """The results tables, one per group of :data:`MEASURE_GROUPS` that has a measure in
    ``results`` (the :class:`jdl.stats.compare.MeasureComparison` list of
    :func:`jdl.stats.compare.compare_measures`): (group title, a DataFrame of strings indexed by
    "Measure" with the other :data:`MEASURE_COLUMNS`). Sizes with separators (the comparison's
    effective size rounded); values in the measure's units (rates whole per cent, frequencies to
    two decimals, days whole); differences and intervals of rates in whole percentage points
    without the unit; intervals on one line (:func:`interval_cell`); "Yes"/"No" for significance;
    p-values as :func:`jdl.words.p_value`. A gated measure gives its :func:`gate_phrase` in the
    first cell after its label and leaves the others empty."""
    by_column = {r.measure.column: r for r in results}
    groups = []
    for title, members in MEASURE_GROUPS:
        rows = [_measure_row(label, by_column[column]) for column, label in members if column in by_column]
        if rows:
            groups.append((title, pd.DataFrame(rows, columns=list(MEASURE_COLUMNS)).set_index("Measure")))
    return groups


# ---------------------------------------------------------------- experimental outcomes (issue 16)

# The experimental employment and benefit measures (jdl.cohort.employment.EMPLOYMENT_MEASURES), one table.
EMPLOYMENT_TITLE = "Employment and benefits in the year after (experimental)"
EMPLOYMENT_LABELS = {
    "employed_in_year": "In P45 employment at any time in the year (%)",
    "days_employed": "Days in P45 employment in the year",
    "benefit_at_year_end": "On out-of-work benefits at the end of the year (%)",
    "days_on_benefit": "Days on out-of-work benefits in the year",
}
assert list(EMPLOYMENT_LABELS) == [m.column for m in EMPLOYMENT_MEASURES]


def employment_table(results) -> pd.DataFrame:
    """The experimental measures' results table (``results``: the
    :class:`jdl.stats.compare.MeasureComparison` list of :attr:`jdl.analysis.Analysis.employment`)
    in the style of :func:`measure_groups`: a DataFrame of strings indexed by "Measure" (labels of
    :data:`EMPLOYMENT_LABELS`) with the other :data:`MEASURE_COLUMNS`; rates in whole per cent and
    their differences in whole percentage points, days whole; a gated measure gives its
    :func:`gate_phrase`."""
    rows = [_measure_row(EMPLOYMENT_LABELS.get(r.measure.column, r.measure.label), r) for r in results]
    return pd.DataFrame(rows, columns=list(MEASURE_COLUMNS)).set_index("Measure")


OVER_TIME_DAYS_LABEL = "Days after the index date"
OVER_TIME_HEADERS = (("Treatment group", "Share (%)"), ("Treatment group", "95% interval"),
                     ("Comparison group (weighted)", "Share (%)"), ("Comparison group (weighted)", "95% interval"),
                     ("Difference (percentage points)", "Difference"), ("Difference (percentage points)", "95% interval"),
                     ("Difference (percentage points)", "p-value"))
NOT_SHOWN = "not shown: fewer than 5 people in a group"


def over_time_display(shown: pd.DataFrame | None, days) -> pd.DataFrame:
    """A table of cumulative shares by day (``shown``: :func:`jdl.stats.over_time.shown_over_time`,
    indexed by day, proportions; None: nothing shown) for the report: one row per day of
    ``days`` (labelled "By day 30" ...), each group's share in whole per cent with its 95%
    interval, and the difference (treatment minus comparison) in whole percentage points with its
    interval and p-value, under two-line headers (:data:`OVER_TIME_HEADERS`); a day that may not
    be published gives :data:`NOT_SHOWN` in its first cell and leaves the others empty."""
    rows = []
    for day in days:
        if shown is None or day not in shown.index:
            rows.append([NOT_SHOWN, *[""] * (len(OVER_TIME_HEADERS) - 1)])
            continue
        r = shown.loc[day]
        rows.append([words.percent(r["treated"]).removesuffix("%"),
                     interval_cell(r["treated_lower"], r["treated_upper"]),
                     words.percent(r["comparison"]).removesuffix("%"),
                     interval_cell(r["comparison_lower"], r["comparison_upper"]),
                     words.points(r["difference"]), interval_cell(r["lower"], r["upper"]),
                     words.p_value(r["p_value"])])
    table = pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(OVER_TIME_HEADERS),
                         index=pd.Index([f"By day {int(d)}" for d in days], name=OVER_TIME_DAYS_LABEL))
    return table


# ---------------------------------------------------------------- the profile's criminal history

HISTORY_LABELS = {
    "age": "Age at index (mean, years)",
    "previous_offences": "Previous offences (mean)",
    "previous_convictions": "Previous convictions (mean)",
    "previous_cautions": "Previous cautions (mean)",
    "previous_custodial_sentences": "Previous custodial sentences (mean)",
    "previous_court_orders": "Previous court orders (mean)",
    "age_at_first_contact": "Age at first contact (mean, years)",
    "employed_year_before": "Employed in the year before (%)",
    "benefit_year_before": "On out-of-work benefit in the year before (%)",
    "oasys_assessed": "OASys assessed (%)",
}
_SHARES = ("employed_year_before", "benefit_year_before", "oasys_assessed")


def history_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The criminal history summary (:func:`jdl.stats.profile.history_summary`: rows named by
    covariate, columns "Treatment group" and "Comparison group") for the report: rows labelled
    by :data:`HISTORY_LABELS`, means to one decimal, 0/1 covariates as whole per cent."""
    return pd.DataFrame(
        {column: [words.percent(v) if name in _SHARES else _number(v, 1) for name, v in summary[column].items()]
         for column in summary.columns},
        index=pd.Index([HISTORY_LABELS.get(n, covariate_label(n)) for n in summary.index], name="Characteristic"))
