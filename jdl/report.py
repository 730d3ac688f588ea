"""The words of a tailored report that are longer than a sentence: the title, the summary
paragraph, the not-processed letter, and the fixed annex texts (method notes, the definition of
proven re-offending, caveats). Numbers come in unrounded and are rounded by :mod:`jdl.words`.
"""

from __future__ import annotations

import math

from jdl.attrition import MIN_ANALYSED, MIN_SUBMITTED
from jdl.words import count, interval_sentence, markdown_text, p_phrase, per_100_sentence

# One-year proven re-offending of adults released from custody or starting court orders
# (methodology section 9): the baseline for power planning when a request has no comparison pool.
NATIONAL_ADULT_RATE = 0.36

DEFINITION = (
    "Proven re-offending is any offence committed in a one-year follow-up period that receives a "
    "court conviction, caution, reprimand or final warning, in that year or in a further six-month "
    "waiting period to allow for the offence to be proven. The follow-up period starts at the index "
    "event: release from custody, or the start of a court order. Breaches of orders and penalty "
    "notices are not counted as re-offences.")

METHOD_NOTES = (
    "The people submitted were linked to the national re-offending data on name, date of birth, sex "
    "and identifiers (PNC id, prison number), first exactly and then allowing for common errors.",
    "Each person's index event is the release from custody or the court order start related to the "
    "service; people under 18 at the index event, or with an index event outside the data window, "
    "are left out.",
    "A comparison group of similar people who did not receive the service was built by propensity "
    "score matching: a logistic model of taking part on demographics, criminal history, employment "
    "and benefit history and assessed needs; each treated person is matched with everyone in the "
    "comparison pool within 0.2 standard deviations of the logit of the score, exactly on sex and "
    "disposal, and the comparison group is weighted accordingly.",
    "Each measure is compared with Welch's t-test, using the comparison group's weighted variance "
    "and effective size; a difference is called statistically significant when p is 0.05 or less.",
    "Sub-analyses match each sub-group afresh (for sex, age band and ethnicity, against comparison "
    "people of the same sex, band or group), with the same model and rules; a sub-group is analysed "
    "only when it has at least 30 people, at least 30 of them find a match, and the main match has "
    "no covariate over 10% after matching.",
    "The match controlled for region adds exact matching on region to the national match, so each "
    "person is compared only with similar people from the same region.",
    "Rates and their intervals are rounded to whole percentage points, frequencies to two decimals, "
    "days to whole days and p-values to two decimals. Counts below 5 in tables of people are shown "
    "as \"<5\", and further counts are hidden where needed so the hidden ones cannot be worked out "
    "from totals.",
)

CAVEATS = (
    "Matching can only make the groups alike on what the national data records. If the people who "
    "took part differed in ways it does not record (for example motivation), the result may be "
    "partly due to that rather than to the service.",
    "The result describes the people analysed, compared with similar people who did not receive "
    "the service; it may not apply to everyone who takes part in future.",
    "An inconclusive result does not mean the service had no effect: the group may be too small "
    "to detect the effect it had.",
    "Sub-group results rest on fewer people than the headline, so they are less certain; and "
    "among many sub-groups one may show a significant difference by chance alone. Read them as "
    "pointers, not findings.",
    "Proven re-offending counts only offences that lead to a conviction or caution; it is not all "
    "offending.",
)


def title(organisation: str, programme: str) -> str:
    """The report title, in Markdown (the names escaped by :func:`jdl.words.markdown_text`)."""
    return f"Justice Data Lab analysis: re-offending after {markdown_text(programme)} ({markdown_text(organisation)})"


def summary_paragraph(organisation: str, programme: str, headline, verdict: str,
                      n_treated: int, n_comparison: int, measure) -> str:
    """The summary paragraph with the headline result. ``headline``: the
    :class:`jdl.compare.Comparison` of the one-year proven re-offending rate; ``verdict``: from
    :func:`jdl.words.verdict`; sizes: the treatment group analysed and the distinct comparison
    people; ``measure``: the rate measure (for the interval sentence). Returns Markdown (the names
    escaped by :func:`jdl.words.markdown_text`)."""
    opening = (f"This report looks at the re-offending of {count(n_treated)} people who received "
               f"{markdown_text(programme)} from {markdown_text(organisation)}, compared with a group of {count(n_comparison)} "
               f"similar people who did not.")
    result = {
        "significant reduction": "This is a statistically significant reduction in re-offending",
        "significant increase": "This is a statistically significant increase in re-offending",
        "inconclusive": ("The difference is not statistically significant: the result is inconclusive, "
                         "which does not mean the service had no effect"),
    }[verdict]
    return " ".join([opening, per_100_sentence(headline.treated_mean, headline.comparison_mean),
                     interval_sentence(measure, headline), f"{result} ({p_phrase(headline.p_value)})."])


def people_needed(n_submitted: int, n_analysed: int) -> int | None:
    """How many people a request like this one would need to submit to meet both minimum
    criteria (methodology section 2), at this request's rate of analysed per submitted; None when
    nobody could be analysed (no rate to go on)."""
    if n_analysed <= 0:
        return None
    return max(MIN_SUBMITTED, math.ceil(MIN_ANALYSED * n_submitted / n_analysed))


def not_processed_letter(organisation: str, programme: str, reason: str, n_submitted: int,
                         n_analysed: int) -> str:
    """The letter a request that fails the minimum criteria receives instead of statistics
    (Markdown, the names escaped by :func:`jdl.words.markdown_text`): why, what the minimum
    criteria are, and how many people would be needed. ``reason`` is the lab's own text."""
    needed = people_needed(n_submitted, n_analysed)
    if needed is None:
        how_many = ("None of the people submitted could be analysed, so we cannot say how many more "
                    "would be needed; the attrition below shows where they left the analysis.")
    else:
        how_many = (f"In this request {count(n_analysed)} of the {count(n_submitted)} people submitted "
                    f"could be analysed. At that rate, about {count(needed)} people would need to be "
                    f"submitted for a future request to meet the minimum criteria.")
    return "\n\n".join([
        f"Thank you for your request about {markdown_text(programme)} from {markdown_text(organisation)}.",
        f"We could not produce re-offending statistics for this request because {reason}. "
        f"The Justice Data Lab needs at least {MIN_SUBMITTED} people to be submitted and at least "
        f"{MIN_ANALYSED} of them to be analysed, so that results are reliable and no one can be "
        "identified from them.",
        how_many,
        "You are welcome to submit again when you have worked with more people; the attrition "
        "below shows how many people left the analysis at each step.",
    ])
