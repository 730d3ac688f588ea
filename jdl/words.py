"""Words and rounding for reports (methodology section 7).

Statistics are computed elsewhere (:mod:`jdl.stats.compare`) as unrounded numbers; this module only turns
them into rounded text. Every figure goes through one rounding function, :func:`_fmt`, which rounds
half away from zero on the number's decimal value (Python's ``decimal.ROUND_HALF_UP`` applied to
the shortest decimal form of the float, the one Python prints), so 0.125 gives 0.13 and 2.5 gives
3, and which never prints a minus sign on a value that rounds to zero ("0", never "-0" or "-0.00").

Units: rates and proportions are taken as proportions (0.26) and printed as whole per cent or whole
percentage points; frequencies are re-offences (or custodial sentences) per person or per
re-offender, printed to two decimals; days are printed as whole days; counts get thousands
separators everywhere.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from numbers import Integral

from jdl.contract import HEADLINE_VERDICTS, Verdict

CAN_SAY_HEADING = "What you can say"
CANNOT_SAY_HEADING = "What you cannot say"
ROUNDING_NOTE = "Figures may not add up to the total because of rounding."
# The verdicts of a processed request (:data:`jdl.contract.HEADLINE_VERDICTS`, str enum members).
VERDICTS = HEADLINE_VERDICTS


# ---------------------------------------------------------------- outside text, made inert

# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and escaped it is
# literal text, never markup (no HTML, link, image, emphasis, code, table, heading or list).
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_WHITESPACE = re.compile(r"\s+")


def markdown_text(text) -> str:
    """``text`` (a name from a params file, an upload or the national data) as Markdown that shows
    exactly that text and nothing else: every ASCII punctuation character backslash-escaped (so
    ``<``, ``&``, ``[``, ``*``, ``|``, ``$``, ``#`` ... are literal; the renderer HTML-escapes them),
    and runs of white space, line breaks included, as one space (so no Markdown block can start).
    Everything from outside that goes into a Markdown string goes through this, once."""
    return _ASCII_PUNCTUATION.sub(r"\\\1", _WHITESPACE.sub(" ", str(text)).strip())


def plot_text(text) -> str:
    """``text`` from outside as a matplotlib label: ``$`` escaped, so it is never read as mathtext
    (an unbalanced or bad TeX expression would otherwise fail the figure)."""
    return str(text).replace("$", r"\$")


# ---------------------------------------------------------------- rounding and number formats


def _fmt(x, places: int, scale: int = 1) -> str:
    """``x`` times ``scale`` rounded half up to ``places`` decimals, with thousands separators and
    no sign on zero. The scaling is done in decimal, so 0.145 as a proportion is 14.5 points."""
    if isinstance(x, Integral):
        exact = Decimal(int(x))
    elif math.isfinite(float(x)):
        exact = Decimal(repr(float(x)))
    else:
        raise ValueError(f"cannot print {x!r} as a rounded number")
    rounded = (exact * scale).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = rounded.copy_abs()
    return f"{rounded:,.{places}f}"


def count(n) -> str:
    """A count (or an effective size) ``n`` as a whole number with thousands separators:
    3085 -> "3,085", 1234567 -> "1,234,567"; a fractional size is rounded half up."""
    return _fmt(n, 0)


def points(x) -> str:
    """A difference of proportions ``x`` (0.01 = one percentage point) as whole percentage points,
    number only: -0.0449 -> "-4", -0.004 -> "0"."""
    return _fmt(x, 0, scale=100)


def interval(lower, upper, formatter=points) -> str:
    """A 95% interval's bounds as "lower to upper", each printed by ``formatter`` (default
    :func:`points`): (-0.114, -0.014) -> "-11 to -1"."""
    return f"{formatter(lower)} to {formatter(upper)}"


def percent(p) -> str:
    """A proportion ``p`` as whole per cent with the sign: 0.2649 -> "26%"."""
    return _fmt(p, 0, scale=100) + "%"


def frequency(x) -> str:
    """A frequency ``x`` (re-offences per person or per re-offender) to two decimals with
    thousands separators: 1.0 -> "1.00", 1234.5 -> "1,234.50"."""
    return _fmt(x, 2)


def days(x) -> str:
    """A number of days ``x`` as whole days with thousands separators, number only: 45.5 -> "46"."""
    return _fmt(x, 0)


def decimal(x, places: int) -> str:
    """``x`` rounded half up to ``places`` decimals with thousands separators and no sign on zero
    (for table figures with no unit of their own: a mean, a standardised difference, a variance
    ratio, a coefficient): decimal(-0.004, 2) -> "0.00", decimal(1239.795, 1) -> "1,239.8"."""
    return _fmt(x, places)


def p_value(p) -> str:
    """A p-value ``p`` (a probability) to two decimals: 0.0449 -> "0.04", 1.0 -> "1.00".

    Choice: a p-value below 0.005, which would print as "0.00", prints as "<0.01" instead, since
    a p-value is never exactly zero."""
    return "<0.01" if p < 0.005 else _fmt(p, 2)


def p_phrase(p) -> str:
    """A p-value for a sentence: "p = 0.04", or "p < 0.01" when it prints as "<0.01"."""
    text = p_value(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


_VALUE = {"rate": percent, "frequency": frequency, "days": days}
_DIFFERENCE = {"rate": points, "frequency": frequency, "days": days}


def _kind(measure) -> str:
    if measure.kind not in _VALUE:
        raise ValueError(f"unknown measure kind {measure.kind!r}")
    return measure.kind


def difference_formatter(measure):
    """How a difference of ``measure`` is printed, number only: :func:`points` for a rate,
    :func:`frequency` for a frequency, :func:`days` for days."""
    return _DIFFERENCE[_kind(measure)]


def value(measure, x) -> str:
    """A group's value ``x`` of ``measure`` (a :class:`jdl.cohort.measures.Measure`) in its own units: a
    rate (proportion) as whole per cent ("26%"), a frequency to two decimals ("1.25"), days as
    whole days ("143")."""
    return _VALUE[_kind(measure)](x)


def difference(measure, d) -> str:
    """A difference ``d`` (treatment minus comparison) of ``measure``: a rate difference
    (proportion) as whole percentage points with the unit ("-4 percentage points"; "1 percentage
    point" when it prints as 1 or -1), a frequency difference to two decimals ("-0.12"), a days
    difference as whole days ("5")."""
    text = _DIFFERENCE[_kind(measure)](d)
    if measure.kind == "rate":
        return text + (" percentage point" if text in ("1", "-1") else " percentage points")
    return text


# ---------------------------------------------------------------- sentences

_GROUP = {"all": "people", "reoffenders": "re-offenders"}
# measure column -> (subject, preposition before the group, what a frequency counts)
_SUBJECTS = {
    "reoffended": ("the one-year proven re-offending rate", "of", None),
    "reoffences": ("the average number of proven re-offences within a year", "among", "re-offences"),
    "days_to_first": ("the average number of days to the first proven re-offence", "among", None),
    "first_indictable_only": ("the proportion of first proven re-offences that were indictable-only",
                              "among", None),
    "first_either_way": ("the proportion of first proven re-offences that were either-way", "among", None),
    "first_summary": ("the proportion of first proven re-offences that were summary offences", "among", None),
    "reoffences_indictable_only": ("the average number of indictable-only proven re-offences within a year",
                                   "among", "re-offences"),
    "reoffences_either_way": ("the average number of either-way proven re-offences within a year",
                              "among", "re-offences"),
    "reoffences_summary": ("the average number of summary proven re-offences within a year", "among",
                           "re-offences"),
    "first_custodial": ("the proportion of first proven re-offences that led to a custodial sentence",
                        "among", None),
    "custodial_sentences": ("the average number of custodial sentences within a year for proven re-offences",
                            "among", "custodial sentences"),
    # the experimental employment and benefit measures (jdl.cohort.employment): neutral words only,
    # "higher" or "lower" (for employment a rise is the hoped-for outcome, so never a "reduction")
    "employed_in_year": ("the share in P45 employment at any time in the year after the index date", "of", None),
    "days_employed": ("the average number of days in P45 employment in the year after the index date",
                      "among", None),
    "benefit_at_year_end": ("the share on out-of-work benefits at the end of the year after the index date",
                            "of", None),
    "days_on_benefit": ("the average number of days on out-of-work benefits in the year after the index date",
                        "among", None),
}


def _subject(measure) -> tuple[str, str, str | None]:
    if measure.column in _SUBJECTS:
        return _SUBJECTS[measure.column]
    label = measure.label.replace(" (re-offenders)", "")
    return "the " + label[0].lower() + label[1:], "among", "re-offences"


def _unit(measure) -> str:
    if _kind(measure) == "rate":
        return "percentage points"
    if measure.kind == "days":
        return "days"
    noun = _subject(measure)[2] or "re-offences"
    return f"{noun} per {'person' if measure.population == 'all' else 're-offender'}"


def _by_between(fmt, unit: str, lower, upper, sign: int) -> str:
    """"by between A and B unit" for the interval (lower, upper) read in the direction ``sign``
    (-1: a fall, so A = |upper| and B = |lower|; +1: a rise, A = lower and B = upper)."""
    a, b = sorted((sign * lower, sign * upper))
    return f"by between {fmt(a)} and {fmt(b)} {unit}"


def _change(measure, comparison) -> tuple[str, bool]:
    """"was lower by between ..." / "was higher by between ..." / "could be lower by as many as ...
    or higher by as many as ..." for the interval (comparison.lower, comparison.upper), and whether
    it is conclusive. The case is decided on the unrounded bounds; the numbers printed are rounded."""
    fmt, unit, lower, upper = _DIFFERENCE[_kind(measure)], _unit(measure), comparison.lower, comparison.upper
    if upper < 0 or lower > 0:
        sign = -1 if upper < 0 else 1
        return f"was {'lower' if sign < 0 else 'higher'} {_by_between(fmt, unit, lower, upper, sign)}", True
    return f"could be lower by as many as {fmt(-lower)} or higher by as many as {fmt(upper)} {unit}", False


def per_100_sentence(treated_rate, comparison_rate) -> str:
    """The per-100 framing of the headline rate. Takes the two re-offending rates as proportions
    and returns "For every 100 people who received the service, X committed a proven re-offence
    within a year, compared with Y for every 100 similar people who did not." with X and Y the rates
    times 100 rounded to whole people."""
    return (f"For every 100 people who received the service, {_fmt(treated_rate, 0, scale=100)} committed a "
            f"proven re-offence within a year, compared with {_fmt(comparison_rate, 0, scale=100)} for every "
            f"100 similar people who did not.")


def per_100_frequency_sentence(treated_freq, comparison_freq) -> str:
    """The per-100 framing of the re-offence frequency. Takes the two frequencies (re-offences per
    person) and returns "For every 100 people who received the service, X proven re-offences were
    committed within a year, compared with Y for every 100 similar people who did not." with X and
    Y the frequencies times 100 rounded to whole re-offences, with thousands separators ("1 proven
    re-offence was committed" when X prints as 1)."""
    x = _fmt(treated_freq, 0, scale=100)
    committed = "proven re-offence was" if x == "1" else "proven re-offences were"
    return (f"For every 100 people who received the service, {x} {committed} committed within a year, "
            f"compared with {_fmt(comparison_freq, 0, scale=100)} for every 100 similar people who did not.")


def interval_sentence(measure, comparison) -> str:
    """One complete sentence on the 95% interval of the difference (treatment minus comparison) of
    ``measure`` (a :class:`jdl.cohort.measures.Measure`) from ``comparison`` (a
    :class:`jdl.stats.compare.Comparison`), in the measure's units: percentage points for rates,
    re-offences per person or per re-offender for frequencies (custodial sentences per re-offender
    for that measure), days for days. Both bounds below zero: "... was lower by between |U| and |L|
    ..."; both above: "... was higher by between L and U ..."; otherwise "... could be lower by as
    many as |L| or higher by as many as U ...; more people would be needed to tell which." E.g.
    "The one-year proven re-offending rate of people who received the service was lower by between
    2 and 14 percentage points than that of similar people who did not."
    """
    subject, preposition, _ = _subject(measure)
    group = _GROUP[measure.population]
    change, conclusive = _change(measure, comparison)
    than = "that of" if preposition == "of" else preposition
    return (f"{subject[0].upper()}{subject[1:]} {preposition} {group} who received the service "
            f"{change} than {than} similar {group} who did not"
            f"{'' if conclusive else '; more people would be needed to tell which'}.")


def verdict(comparison) -> Verdict:
    """The headline verdict of a :class:`jdl.stats.compare.Comparison` (a :class:`jdl.contract.Verdict`,
    a str): "significant reduction" or "significant increase" when ``comparison.significant`` (by
    the sign of the difference, treatment minus comparison), otherwise "inconclusive"."""
    if comparison.significant and comparison.difference < 0:
        return Verdict.SIGNIFICANT_REDUCTION
    if comparison.significant and comparison.difference > 0:
        return Verdict.SIGNIFICANT_INCREASE
    return Verdict.INCONCLUSIVE


_HEADLINE = "the one-year proven re-offending rate of its participants"


def _check_verdict(name: str) -> None:
    if name not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")


def can_say(verdict, organisation: str, programme: str, comparison) -> list[str]:
    """The "What you can say" sentences for the headline rate. Takes the verdict (one of
    :data:`VERDICTS`), the organisation's and the programme's names and the headline
    :class:`jdl.stats.compare.Comparison` (its interval in proportions, printed in whole percentage
    points, and its treatment-group size); returns a list of sentences in Markdown (the names
    escaped by :func:`markdown_text`)."""
    _check_verdict(verdict)
    who = f"{markdown_text(programme)} run by {markdown_text(organisation)}"
    if verdict == Verdict.INCONCLUSIVE:
        first = (f"This analysis does not provide clear evidence that {who} increased or decreased {_HEADLINE}; "
                 f"more people would be needed to tell.")
    else:
        sign = -1 if verdict == Verdict.SIGNIFICANT_REDUCTION else 1
        by = _by_between(points, "percentage points", comparison.lower, comparison.upper, sign)
        first = (f"This analysis provides evidence that {who} {'decreased' if sign < 0 else 'increased'} "
                 f"{_HEADLINE} {by}.")
    applies = (f"The result applies to the {count(comparison.n_treated)} people in the treatment group who were "
               f"analysed, compared with similar people who did not receive the service.")
    return [first, applies]


def cannot_say(verdict, organisation: str, programme: str, comparison) -> list[str]:
    """The "What you cannot say" sentences for the headline rate: the opposite direction, "had no
    effect" and a result for everyone who might take part (significant verdicts), or any direction
    and "had no effect" (inconclusive). Takes the same arguments as :func:`can_say`
    (``organisation`` is accepted for symmetry: these sentences name the programme only; the
    comparison gives the treatment-group size) and returns a list of sentences."""
    _check_verdict(verdict)
    shows = f"This analysis shows that {markdown_text(programme)}"
    no_effect = f"{shows} had no effect on re-offending."
    if verdict == Verdict.INCONCLUSIVE:
        return [no_effect, f"{shows} decreased re-offending.", f"{shows} increased re-offending."]
    did, did_not = ("decrease", "increase") if verdict == Verdict.SIGNIFICANT_REDUCTION else ("increase", "decrease")
    beyond = (f"{shows} would {did} re-offending for everyone who might take part, beyond the "
              f"{count(comparison.n_treated)} people analysed.")
    return [f"{shows} {did_not}d re-offending.", no_effect, beyond]


def number_needed_sentence(n, alpha: float = 0.05, power: float = 0.8) -> str:
    """A sentence on the treatment-group size ``n`` (people, a float from
    :func:`jdl.stats.compare.number_needed`, possibly ``math.inf``) that would detect the observed
    difference at two-sided ``alpha`` with ``power`` (proportions, printed as per cent)."""
    test = f"(at the {percent(alpha)} level with {percent(power)} power)"
    if math.isinf(n):
        return (f"No treatment group, however large, would be enough to detect a difference this small {test} "
                f"with this comparison group.")
    return (f"A treatment group of about {count(n)} people would be needed to detect a difference of this "
            f"size {test}, keeping the comparison group as it is.")


# ---------------------------------------------------------------- tables


def _printed(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", "").removesuffix("%"))
    except ArithmeticError:
        raise ValueError(f"{text!r} is not a printed number") from None


def rounding_note(parts, total, formatter=count) -> str | None:
    """The note :data:`ROUNDING_NOTE` when the rounded ``parts`` do not add up to the rounded
    ``total``, else None. Takes the unrounded parts and total and the formatter the table prints
    them with (:func:`count`, :func:`percent`, :func:`points`, :func:`frequency` or :func:`days`)."""
    rounded_sum = sum((_printed(formatter(part)) for part in parts), Decimal(0))
    return None if rounded_sum == _printed(formatter(total)) else ROUNDING_NOTE
