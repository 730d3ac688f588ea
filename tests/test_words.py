"""Words and rounding (jdl.words): exact strings for every formatter and sentence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jdl import words
from jdl.stats.compare import Comparison, MeasureComparison
from jdl.cohort.measures import MEASURES

BY_COLUMN = {m.column: m for m in MEASURES}
RATE, FREQUENCY, DAYS = BY_COLUMN["reoffended"], BY_COLUMN["reoffences"], BY_COLUMN["days_to_first"]


def comparison(difference, lower, upper, p=0.5, significant=False, treated=0.3, n_treated=312, n_comparison=2140.6):
    return Comparison(treated_mean=treated, treated_lower=treated - 0.05, treated_upper=treated + 0.05,
                      comparison_mean=treated - difference, comparison_lower=0.0, comparison_upper=1.0,
                      difference=difference, lower=lower, upper=upper, p_value=p, significant=significant,
                      n_treated=n_treated, n_comparison=n_comparison, df=400.0, alpha=0.05)


REDUCTION = comparison(-0.0800, -0.1449, -0.0151, p=0.012, significant=True)
INCREASE = comparison(0.0612, 0.0125, 0.1099, p=0.014, significant=True)
ACROSS = comparison(0.0200, -0.0312, 0.0712, p=0.44)
ORG, PROGRAMME = "Safe Homes Trust", "Second Chance Mentoring"


# ---------------------------------------------------------------- formatters

@pytest.mark.parametrize("formatter, x, expected", [
    (words.count, 3085, "3,085"), (words.count, 1234567, "1,234,567"), (words.count, 0, "0"),
    (words.count, np.int64(12000), "12,000"), (words.count, 2140.5, "2,141"), (words.count, 2140.49, "2,140"),
    (words.points, -0.0449, "-4"), (words.points, -0.004, "0"), (words.points, -0.005, "-1"),
    (words.points, 0.145, "15"), (words.points, -0.0, "0"), (words.points, 0.125, "13"),
    (words.percent, 0.2649, "26%"), (words.percent, 0.265, "27%"), (words.percent, 1.0, "100%"),
    (words.percent, 0.0, "0%"),
    (words.frequency, 1.0, "1.00"), (words.frequency, 0.125, "0.13"), (words.frequency, 2.675, "2.68"),
    (words.frequency, -0.004, "0.00"), (words.frequency, -0.005, "-0.01"), (words.frequency, 1234.5, "1,234.50"),
    (words.days, 2.5, "3"), (words.days, -2.5, "-3"), (words.days, -0.4, "0"), (words.days, 1234.5, "1,235"),
    (words.p_value, 1.0, "1.00"), (words.p_value, 0.0449, "0.04"), (words.p_value, 0.125, "0.13"),
    (words.p_value, 0.005, "0.01"), (words.p_value, 0.00499, "<0.01"), (words.p_value, 0.0, "<0.01"),
    (words.p_value, 1e-12, "<0.01"), (words.p_value, 0.05, "0.05"),
])
def test_formatters(formatter, x, expected):
    assert formatter(x) == expected


def test_never_minus_zero():
    for x in (-0.0, -1e-9, -0.0049, -0.00499):
        for formatter in (words.count, words.points, words.frequency, words.days):
            assert not formatter(x).startswith("-")
        assert words.percent(x) == "0%"


def test_non_finite_is_refused():
    for formatter in (words.count, words.frequency, words.points):
        with pytest.raises(ValueError):
            formatter(math.nan)
    with pytest.raises(ValueError):
        words.count(math.inf)


def test_value_and_difference_by_kind():
    assert words.value(RATE, 0.2649) == "26%"
    assert words.value(FREQUENCY, 1.0) == "1.00"
    assert words.value(DAYS, 143.5) == "144"
    assert words.value(BY_COLUMN["first_custodial"], 0.415) == "42%"
    assert words.difference(RATE, -0.0449) == "-4 percentage points"
    assert words.difference(RATE, -0.004) == "0 percentage points"
    assert words.difference(RATE, 0.012) == "1 percentage point"
    assert words.difference(RATE, -0.01) == "-1 percentage point"
    assert words.difference(FREQUENCY, -0.125) == "-0.13"
    assert words.difference(FREQUENCY, -0.001) == "0.00"
    assert words.difference(DAYS, 12.5) == "13"
    assert words.difference(DAYS, -0.2) == "0"


# ---------------------------------------------------------------- sentences

def test_per_100_sentences():
    assert words.per_100_sentence(0.2649, 0.3351) == (
        "For every 100 people who received the service, 26 committed a proven re-offence within a year, "
        "compared with 34 for every 100 similar people who did not.")
    assert words.per_100_sentence(0.365, 0.005) == (
        "For every 100 people who received the service, 37 committed a proven re-offence within a year, "
        "compared with 1 for every 100 similar people who did not.")
    assert words.per_100_frequency_sentence(1.0, 1.2345) == (
        "For every 100 people who received the service, 100 proven re-offences were committed within a year, "
        "compared with 123 for every 100 similar people who did not.")
    assert words.per_100_frequency_sentence(12.345, 0.015) == (
        "For every 100 people who received the service, 1,235 proven re-offences were committed within a "
        "year, compared with 2 for every 100 similar people who did not.")
    assert words.per_100_frequency_sentence(0.01, 0.0) == (
        "For every 100 people who received the service, 1 proven re-offence was committed within a year, "
        "compared with 0 for every 100 similar people who did not.")


HEADLINE = "The one-year proven re-offending rate of people who received the service"
HEADLINE_TAIL = "than that of similar people who did not"


def test_interval_sentence_headline_rate():
    assert words.interval_sentence(RATE, REDUCTION) == (
        f"{HEADLINE} was lower by between 2 and 14 percentage points {HEADLINE_TAIL}.")
    assert words.interval_sentence(RATE, INCREASE) == (
        f"{HEADLINE} was higher by between 1 and 11 percentage points {HEADLINE_TAIL}.")
    assert words.interval_sentence(RATE, ACROSS) == (
        f"{HEADLINE} could be lower by as many as 3 or higher by as many as 7 percentage points "
        f"{HEADLINE_TAIL}; more people would be needed to tell which.")


def test_interval_case_is_decided_on_unrounded_bounds():
    # upper -0.004 prints as 0 but is below zero: still "lower by between"
    assert words.interval_sentence(RATE, comparison(-0.03, -0.0551, -0.004)) == (
        f"{HEADLINE} was lower by between 0 and 6 percentage points {HEADLINE_TAIL}.")
    assert words.interval_sentence(RATE, comparison(0.03, 0.0049, 0.0551)) == (
        f"{HEADLINE} was higher by between 0 and 6 percentage points {HEADLINE_TAIL}.")
    # a bound exactly at zero is not "below" or "above": across zero, no "-0" printed
    assert words.interval_sentence(RATE, comparison(-0.02, -0.0449, 0.0)) == (
        f"{HEADLINE} could be lower by as many as 4 or higher by as many as 0 percentage points "
        f"{HEADLINE_TAIL}; more people would be needed to tell which.")
    assert words.interval_sentence(DAYS, comparison(6.0, -0.3, 12.6)) == (
        "The average number of days to the first proven re-offence among re-offenders who received the "
        "service could be lower by as many as 0 or higher by as many as 13 days than among similar "
        "re-offenders who did not; more people would be needed to tell which.")


def test_interval_sentence_other_units():
    assert words.interval_sentence(FREQUENCY, comparison(-0.3, -0.5249, -0.0751)) == (
        "The average number of proven re-offences within a year among people who received the service was "
        "lower by between 0.08 and 0.52 re-offences per person than among similar people who did not.")
    assert words.interval_sentence(BY_COLUMN["reoffences_summary"], comparison(0.4, 0.125, 1234.5)) == (
        "The average number of summary proven re-offences within a year among re-offenders who received the "
        "service was higher by between 0.13 and 1,234.50 re-offences per re-offender than among similar "
        "re-offenders who did not.")
    assert words.interval_sentence(BY_COLUMN["custodial_sentences"], comparison(0.1, -0.05, 0.25)) == (
        "The average number of custodial sentences within a year for proven re-offences among re-offenders "
        "who received the service could be lower by as many as 0.05 or higher by as many as 0.25 custodial "
        "sentences per re-offender than among similar re-offenders who did not; more people would be "
        "needed to tell which.")
    assert words.interval_sentence(DAYS, comparison(-20.0, -1234.5, -2.5)) == (
        "The average number of days to the first proven re-offence among re-offenders who received the "
        "service was lower by between 3 and 1,235 days than among similar re-offenders who did not.")
    assert words.interval_sentence(BY_COLUMN["first_custodial"], comparison(0.1, 0.025, 0.175)) == (
        "The proportion of first proven re-offences that led to a custodial sentence among re-offenders who "
        "received the service was higher by between 3 and 18 percentage points than among similar "
        "re-offenders who did not.")


def test_every_measure_has_a_subject_and_reads_as_a_sentence():
    for measure in MEASURES:
        for c in (REDUCTION, INCREASE, ACROSS):
            sentence = words.interval_sentence(measure, c)
            assert sentence[0].isupper()
            assert sentence.endswith((" who did not.", "; more people would be needed to tell which."))
            assert "who received the service" in sentence and "(re-offenders)" not in sentence


def test_inconclusive_never_reads_as_no_effect():
    produced = [words.interval_sentence(m, ACROSS) for m in MEASURES]
    produced += words.can_say("inconclusive", ORG, PROGRAMME, ACROSS)
    produced += [words.verdict(ACROSS), words.number_needed_sentence(1234.0), words.number_needed_sentence(math.inf)]
    for sentence in produced:
        for phrase in ("no effect", "no difference", "did not work"):
            assert phrase not in sentence.lower()


def test_verdict():
    assert words.verdict(REDUCTION) == "significant reduction"
    assert words.verdict(INCREASE) == "significant increase"
    assert words.verdict(ACROSS) == "inconclusive"
    assert words.verdict(comparison(-0.1, -0.2, -0.01, significant=False)) == "inconclusive"


APPLIES = ("The result applies to the 312 people in the treatment group who were analysed, compared with similar "
           "people who did not receive the service.")


SHOWS = "This analysis shows that Second Chance Mentoring"


def test_can_and_cannot_say():
    assert (words.CAN_SAY_HEADING, words.CANNOT_SAY_HEADING) == ("What you can say", "What you cannot say")
    evidence = "This analysis provides evidence that Second Chance Mentoring run by Safe Homes Trust"
    of_its = "the one-year proven re-offending rate of its participants"
    assert words.can_say("significant reduction", ORG, PROGRAMME, REDUCTION) == [
        f"{evidence} decreased {of_its} by between 2 and 14 percentage points.", APPLIES]
    assert words.cannot_say("significant reduction", ORG, PROGRAMME, REDUCTION) == [
        f"{SHOWS} increased re-offending.",
        f"{SHOWS} had no effect on re-offending.",
        f"{SHOWS} would decrease re-offending for everyone who might take part, beyond the 312 people analysed."]
    assert words.can_say("significant increase", ORG, PROGRAMME, INCREASE) == [
        f"{evidence} increased {of_its} by between 1 and 11 percentage points.", APPLIES]
    assert words.cannot_say("significant increase", ORG, PROGRAMME, INCREASE) == [
        f"{SHOWS} decreased re-offending.",
        f"{SHOWS} had no effect on re-offending.",
        f"{SHOWS} would increase re-offending for everyone who might take part, beyond the 312 people analysed."]
    assert words.can_say("inconclusive", ORG, PROGRAMME, ACROSS) == [
        ("This analysis does not provide clear evidence that Second Chance Mentoring run by Safe Homes Trust "
         f"increased or decreased {of_its}; more people would be needed to tell."), APPLIES]
    assert words.cannot_say("inconclusive", ORG, PROGRAMME, ACROSS) == [
        f"{SHOWS} had no effect on re-offending.",
        f"{SHOWS} decreased re-offending.",
        f"{SHOWS} increased re-offending."]
    with pytest.raises(ValueError):
        words.can_say("reduction", ORG, PROGRAMME, REDUCTION)


def test_number_needed_sentence():
    assert words.number_needed_sentence(1234.0) == (
        "A treatment group of about 1,234 people would be needed to detect a difference of this size "
        "(at the 5% level with 80% power), keeping the comparison group as it is.")
    assert words.number_needed_sentence(math.inf) == (
        "No treatment group, however large, would be enough to detect a difference this small "
        "(at the 5% level with 80% power) with this comparison group.")


# ---------------------------------------------------------------- tables

def test_rounding_note():
    note = "Figures may not add up to the total because of rounding."
    # 33.4 + 33.4 + 33.2 = 100: rounded 33 + 33 + 33 = 99
    assert words.rounding_note([0.334, 0.334, 0.332], 1.0, words.percent) == note
    assert words.rounding_note([0.25, 0.35, 0.40], 1.0, words.percent) is None
    assert words.rounding_note([1000.4, 2000.4, 85.4], 3086.2) == note        # 3,085 against 3,086
    assert words.rounding_note([1000, 2000, 85], 3085) is None
    assert words.rounding_note([0.125, 0.125], 0.25, words.frequency) == note  # 0.13 + 0.13 against 0.25
    with pytest.raises(ValueError):
        words.rounding_note([0.001], 0.001, words.p_value)                    # "<0.01" is not a number


def test_decimal_and_the_difference_formatter():
    assert words.decimal(-0.004, 2) == "0.00"                 # never "-0.00"
    assert words.decimal(-0.0004, 3) == "0.000"
    assert words.decimal(1239.795, 1) == "1,239.8"
    assert words.decimal(0.125, 2) == "0.13"                  # half away from zero
    assert words.decimal(-2.5, 0) == "-3"
    assert words.difference_formatter(RATE)(-0.0449) == "-4"
    assert words.difference_formatter(FREQUENCY)(-0.004) == "0.00"
    assert words.difference_formatter(DAYS)(12.5) == "13"


def test_p_phrase():
    assert words.p_phrase(0.0449) == "p = 0.04"
    assert words.p_phrase(0.001) == "p < 0.01"


def test_the_employment_measures_read_in_neutral_words():
    """The experimental measures have subjects of their own; their direction words are "higher"
    and "lower" (for employment a rise is the hoped-for outcome: never a "reduction" or an
    "increase in re-offending"), in percentage points for the shares and days for the days."""
    from jdl.cohort.employment import EMPLOYMENT_MEASURES

    measure = {m.column: m for m in EMPLOYMENT_MEASURES}
    assert words.interval_sentence(measure["employed_in_year"], comparison(0.1823, 0.135, 0.2295)) == (
        "The share in P45 employment at any time in the year after the index date of people who received the "
        "service was higher by between 14 and 23 percentage points than that of similar people who did not.")
    assert words.interval_sentence(measure["days_employed"], comparison(35.1, 22.5, 47.3)) == (
        "The average number of days in P45 employment in the year after the index date among people who received "
        "the service was higher by between 23 and 47 days than among similar people who did not.")
    assert words.interval_sentence(measure["benefit_at_year_end"], comparison(-0.021, -0.0578, 0.0156)) == (
        "The share on out-of-work benefits at the end of the year after the index date of people who received the "
        "service could be lower by as many as 6 or higher by as many as 2 percentage points than that of similar "
        "people who did not; more people would be needed to tell which.")
    assert words.interval_sentence(measure["days_on_benefit"], comparison(-11.1, -21.2, -1.0)) == (
        "The average number of days on out-of-work benefits in the year after the index date among people who "
        "received the service was lower by between 1 and 21 days than among similar people who did not.")
    assert words.value(measure["employed_in_year"], 0.4456) == "45%"
    assert words.value(measure["days_employed"], 91.05) == "91"
    assert words.difference(measure["employed_in_year"], 0.1823) == "18 percentage points"
    for m in EMPLOYMENT_MEASURES:
        for c in (REDUCTION, INCREASE, ACROSS):
            sentence = words.interval_sentence(m, c)
            assert sentence[0].isupper() and "re-offen" not in sentence
            for phrase in ("reduction", "increase", "no effect"):
                assert phrase not in sentence
