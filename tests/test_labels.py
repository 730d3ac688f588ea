"""Human labels for every name a report table shows, and the tables made with them
(jdl.report.labels): the label tables cover every covariate, measure and column, and the results,
balance, coefficient and history tables have exact expected strings."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from jdl.cohort.measures import COVARIATES, MEASURES
from jdl.report import labels
from jdl.stats.balance import COLUMNS as BALANCE_COLUMNS
from jdl.stats.compare import Comparison, MeasureComparison
from jdl.stats.profile import HISTORY_COLUMNS

NB = "\u00a0"
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
BY_COLUMN = {m.column: m for m in MEASURES}


def comparison(difference, lower, upper, p=0.5, significant=False, treated=0.3, n_treated=312, n_comparison=2140.6):
    return Comparison(treated_mean=treated, treated_lower=treated - 0.05, treated_upper=treated + 0.05,
                      comparison_mean=treated - difference, comparison_lower=0.0, comparison_upper=1.0,
                      difference=difference, lower=lower, upper=upper, p_value=p, significant=significant,
                      n_treated=n_treated, n_comparison=n_comparison, df=400.0, alpha=0.05)


def test_every_covariate_measure_and_column_has_a_human_label():
    assert set(COVARIATES) <= set(labels.COVARIATE_LABELS)
    assert set(labels.BALANCE_LABELS) == set(BALANCE_COLUMNS)
    grouped = [column for _, members in labels.MEASURE_GROUPS for column, _ in members]
    assert grouped == [m.column for m in MEASURES]                 # each measure once, in order
    assert set(HISTORY_COLUMNS) <= set(labels.HISTORY_LABELS)
    every = [*labels.COVARIATE_LABELS.values(), *labels.BALANCE_LABELS.values(),
             *labels.MEASURE_LABELS.values(), *(t for t, _ in labels.MEASURE_GROUPS),
             *labels.COEFFICIENT_LABELS.values(), *labels.HISTORY_LABELS.values(), *labels.MEASURE_COLUMNS,
             *(part for pair in labels.BALANCE_HEADERS.values() for part in pair)]
    assert [label for label in every if "_" in label or not label.strip()] == []


def test_labels_of_names_levels_and_terms():
    assert labels.BALANCE_LABELS["treated_mean_before"] == "Mean of the treatment group before matching"
    assert labels.term_label("index_offence_group_violence against the person") == (
        "Index offence: Violence against the person")
    assert labels.term_label("sex_M") == "Sex: Male"
    assert labels.term_label("sentence_band_custody under 12 months") == "Sentence length: Custody under 12 months"
    assert labels.term_label("const") == "Intercept"
    assert labels.term_label("distance (logit of propensity score)") == "Distance (logit of propensity score)"
    assert labels.term_label("oasys_education_training_employment") == (
        "OASys need: education, training and employment")
    assert labels.term_label("previous_custodial_sentences") == "Previous custodial sentences"
    assert labels.term_label("something_new") == "Something new"       # never snake_case, even unlisted
    # in a sentence: a small first letter, but for names and acronyms
    assert labels.covariate_words("previous_custodial_sentences") == "previous custodial sentences"
    assert labels.covariate_words("uk_national") == "UK national"
    assert labels.covariate_words("copas_rate") == "Copas rate"
    assert labels.covariate_words("disposal_kind") == "disposal kind"
    assert labels.term_words("index_offence_group_drugs") == "index offence = drugs"


def test_measure_groups_one_table_per_group_with_gated_rows_in_a_phrase():
    results = [
        MeasureComparison(BY_COLUMN["reoffended"], comparison(-0.0800, -0.1449, -0.0151, p=0.0012, significant=True,
                                                              treated=0.2649, n_treated=3085, n_comparison=12345.5),
                          True, None),
        MeasureComparison(BY_COLUMN["reoffences"], comparison(-0.004, -0.2, 0.19, p=0.965, treated=1.0), True, None),
        MeasureComparison(BY_COLUMN["days_to_first"], comparison(12.5, -0.3, 25.5, p=1.0, treated=143.5), True, None),
        MeasureComparison(BY_COLUMN["first_indictable_only"], None, False,
                          "not reported: too few people (the treatment group has fewer than 30 re-offenders)"),
        MeasureComparison(BY_COLUMN["first_either_way"], comparison(-0.004, -0.104, 0.096, treated=0.5), True, None),
        MeasureComparison(BY_COLUMN["first_custodial"], None, False,
                          "not reported: too few people (fewer than 10 in the treatment group have the outcome, "
                          "or fewer than 10 do not)"),
    ]
    groups = labels.measure_groups(results)
    assert [title for title, _ in groups] == [
        "Proven re-offending rate", "Frequency of proven re-offending", "Time to first proven re-offence",
        "Court class of the first proven re-offence (re-offenders)", "Custody (re-offenders)"]
    columns = ["Treatment group size", "Comparison group size (effective)", "Treatment group", "Comparison group",
               "Difference", "95% interval", "Significant", "p-value"]

    def expected(rows):
        return pd.DataFrame([r[1:] for r in rows], columns=columns,
                            index=pd.Index([r[0] for r in rows], name="Measure"))

    tables = dict(groups)
    pd.testing.assert_frame_equal(tables["Proven re-offending rate"], expected([
        ["One-year proven re-offending rate", "3,085", "12,346", "26%", "34%", "-8", f"-14{NB}to{NB}-2", "Yes",
         "<0.01"]]))
    pd.testing.assert_frame_equal(tables["Frequency of proven re-offending"], expected([
        ["Proven re-offences per person", "312", "2,141", "1.00", "1.00", "0.00", f"-0.20{NB}to{NB}0.19", "No",
         "0.97"]]))
    pd.testing.assert_frame_equal(tables["Time to first proven re-offence"], expected([
        ["Days to the first proven re-offence (re-offenders)", "312", "2,141", "144", "131", "13", f"0{NB}to{NB}26",
         "No", "1.00"]]))
    # a difference of -0.4 points prints "0", never "-0"
    pd.testing.assert_frame_equal(tables["Court class of the first proven re-offence (re-offenders)"], expected([
        ["Indictable-only", "too few re-offenders to report", *[""] * 7],
        ["Either-way", "312", "2,141", "50%", "50%", "0", f"-10{NB}to{NB}10", "No", "0.50"]]))
    pd.testing.assert_frame_equal(tables["Custody (re-offenders)"], expected([
        ["Custodial sentence for the first proven re-offence",
         "too few with or without the outcome", *[""] * 7]]))


def test_balance_display():
    table = pd.DataFrame({
        "treated_mean_before": [0.5, 33.456], "treated_mean_after": [0.5, 33.4],
        "comparison_mean_before": [0.25, 31.0], "comparison_mean_after": [0.5004, 33.4],
        "std_diff_before": [50.04, 17.25], "std_diff_after": [-0.04, -1.75],
        "variance_ratio_before": [1.0, np.nan], "variance_ratio_after": [0.995, 1.2],
        "band_after": ["good", "good"]}, index=pd.Index(["index_offence_group_theft", "age"], name="covariate"))
    shown = labels.balance_display(table)
    assert list(shown.index) == ["Index offence: Theft", "Age at index"]
    assert list(shown.columns) == [
        ("Before matching", "Treatment group mean"), ("Before matching", "Comparison pool mean"),
        ("Before matching", "Standardised difference (%)"), ("Before matching", "Variance ratio"),
        ("After matching", "Treatment group mean"), ("After matching", "Comparison group mean (weighted)"),
        ("After matching", "Standardised difference (%)"), ("After matching", "Variance ratio"),
        ("After matching", "Balance")]
    assert shown.iloc[0].tolist() == ["0.50", "0.25", "50.0", "1.00", "0.50", "0.50", "0.0", "1.00", "Good"]
    assert shown.iloc[1].tolist() == ["33.46", "31.00", "17.3", "n/a", "33.40", "33.40", "-1.8", "1.20", "Good"]


def test_coefficient_display():
    coefficients = pd.DataFrame({"coef": [-92.6654, -0.0002], "se": [89.1834, 0.0001], "z": [-1.0391, -2.0],
                                 "p": [0.2988, 0.0455]}, index=pd.Index(["const", "age_squared"], name="term"))
    shown = labels.coefficient_display(coefficients)
    assert shown.to_dict("index") == {
        "Intercept": {"Coefficient (log-odds)": "-92.665", "Standard error": "89.183", "z": "-1.039",
                      "p-value": "0.30"},
        "Age at index, squared": {"Coefficient (log-odds)": "0.000", "Standard error": "0.000", "z": "-2.000",
                                  "p-value": "0.05"}}


def test_history_display():
    summary = pd.DataFrame({"Treatment group": [32.5649, 1 / 3], "Comparison group": [-0.04, 0.745]},
                           index=["previous_offences", "employed_year_before"])
    shown = labels.history_display(summary)
    assert shown.to_dict("index") == {
        "Previous offences (mean)": {"Treatment group": "32.6", "Comparison group": "0.0"},
        "Employed in the year before (%)": {"Treatment group": "33%", "Comparison group": "75%"}}


def test_an_interval_cell_never_wraps():
    assert labels.interval_cell(-0.114, -0.014) == f"-11{NB}to{NB}-1"
    assert labels.no_wrap("-6 to 7") == f"-6{NB}to{NB}7"
    assert not SNAKE.search(labels.interval_cell(-0.114, -0.014))
