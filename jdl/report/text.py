"""The words of a tailored report that are longer than a sentence: the title, the summary
paragraph, the not-processed letter, and the fixed annex texts (method notes, the definition of
proven re-offending, caveats). Numbers come in unrounded and are rounded by :mod:`jdl.words`.
"""

from __future__ import annotations

import math

from jdl.cohort.attrition import MIN_ANALYSED, MIN_SUBMITTED
from jdl.contract import Verdict
from jdl.report.labels import covariate_words, term_words  # noqa: F401  (re-exported)
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

def _listing(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _value_words(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return markdown_text(value)


def matching_words(result) -> str:
    """How the match of ``result`` (a :class:`jdl.stats.matching.MatchResult`) was done, in one or two
    sentences: method, distance, caliper with the SD it is measured in and its width, ratio,
    replacement, order, exact-matching variables and weights. Markdown."""
    from jdl.stats.balance import weights_in_words

    score = ("the logit of the propensity score" if result.distance_kind == "logit"
             else "the propensity score")
    if result.caliper is None:
        caliper = "with no caliper"
    else:
        caliper = (f"within a caliper of {result.caliper:g} standard deviations of {score} (the standard "
                   f"deviation over the treatment group and the comparison pool together, so "
                   f"{result.caliper_width:.4g} on that scale)")
    if result.method == "radius":
        text = (f"Radius matching with replacement on {score}: each treated person is matched with every "
                f"comparison person {caliper}")
    else:
        order = {"largest": "from the largest propensity score down", "smallest": "from the smallest propensity "
                 "score up", "data": "in data order"}[result.m_order]
        whom = "comparison person" if result.ratio == 1 else "comparison people"
        text = (f"Nearest-neighbour matching, {result.ratio}:1 {'with' if result.replace else 'without'} "
                f"replacement, on {score} (R's MatchIt rules): treated people are taken {order}, and each is "
                f"matched with its {'nearest' if result.ratio == 1 else f'{result.ratio} nearest'} {whom} "
                f"{caliper}")
    if result.exact:
        text += f", exactly on {_listing(covariate_words(e) for e in result.exact)}"
    return (text + f"; {weights_in_words(result)}. Treated people with no comparison person inside the "
            "caliper leave the analysis (no comparison match).") if result.caliper is not None else (
        text + f"; {weights_in_words(result)}.")


def estimator_words(result) -> str:
    """How the propensity model of ``result`` was fitted, in a few words: "fitted by maximum
    likelihood" or "fitted by Firth's penalised likelihood"."""
    estimator = getattr(result.propensity_model, "estimator", "maximum likelihood")
    return ("fitted by Firth's penalised likelihood" if estimator.lower().startswith("firth")
            else "fitted by maximum likelihood")


def model_words(result, plan=None) -> str:
    """The propensity model of ``result`` in words: the estimator, the covariates, and those left
    out (constant, restricted, or linear combinations of others). Markdown."""
    model = result.propensity_model
    covariates = [covariate_words(c) for c in result.covariates]
    estimator = getattr(model, "estimator", "maximum likelihood")
    # the intercept moves with a separating covariate (x <= c): name the covariates only
    separated = tuple(t for t in getattr(model, "separated", ()) if t != "const")
    if estimator.lower().startswith("firth"):
        fit = ("fitted by Firth's penalised likelihood, because the groups are separated on "
               + _listing(markdown_text(term_words(t)) for t in separated)
               + " (some people could be classed as taking part or not from these alone, so the ordinary "
               "maximum likelihood estimate does not exist)") if separated else "fitted by Firth's penalised likelihood"
    else:
        fit = "fitted by maximum likelihood"
    text = (f"The propensity score comes from a logistic regression of taking part on "
            f"{count(len(covariates))} covariates, {fit}: {markdown_text(_listing(covariates))}.")
    left_out = list(plan.left_out) if plan is not None else []
    if left_out:
        text += (" Left out because they do not vary among the people matched: "
                 + markdown_text(_listing(covariate_words(c) for c in left_out)) + ".")
    collinear = tuple(getattr(model, "dropped_collinear", ()))
    constant = tuple(model.dropped_constant)
    if constant:
        text += " Model terms left out because they do not vary: " + _listing(markdown_text(term_words(t)) for t in constant) + "."
    if collinear:
        text += (" Model terms left out because they are exact linear combinations of others: "
                 + _listing(markdown_text(term_words(t)) for t in collinear) + ".")
    return text


def restriction_sentence(plan) -> str:
    """Why and how the comparison pool was restricted (:attr:`jdl.stats.plan.MatchPlan.restrictions`),
    in one sentence; "" when it was not. Markdown."""
    if not plan.restrictions:
        return ""
    restricted = [f"{markdown_text(covariate_words(c))} = {_value_words(v)}" for c, v in plan.restrictions]
    names = _listing(markdown_text(covariate_words(c)) for c, _ in plan.restrictions)
    them = "it" if len(plan.restrictions) == 1 else "them"
    return (f"Everyone in the treatment group had the same {'value' if them == 'it' else 'values'} of {names}, so "
            f"the comparison pool was restricted to people with the same ({'; '.join(restricted)}) and the "
            f"propensity model left {them} out: the comparison group is exactly like the treatment group on "
            f"{them}, and no model can be fitted on a value every participant shares.")


def pool_words(plan=None, window=None, pool_margin_months: int = 6) -> str:
    """The comparison pool rule, the data window and any restriction of the pool, in words."""
    text = ("The comparison pool is everyone in the national data with an index event of the same kind "
            "(a release from custody, or the start of a court order) within "
            f"{count(pool_margin_months)} months either side of the treatment group's index dates, other than "
            "the people submitted")
    if window is not None:
        text += (f", and inside the data window ({window.start.isoformat()} to {window.end.isoformat()}: the "
                 f"national data were extracted on {window.extract_date.isoformat()}, and the one-year follow-up "
                 "and six months for offences to be proven must fit before that)")
    text += "."
    if plan is not None and plan.restrictions:
        text += " " + restriction_sentence(plan)
    if plan is not None and plan.support:
        text += (" People with a level of " + markdown_text(_listing(covariate_words(c) for c in plan.support))
                 + " that only one of the two groups holds were set aside (outside common support: no "
                 "comparison is possible for them); treated people set aside this way are counted under "
                 "\"no comparison match\".")
    return text


def method_notes(result, plan=None, window=None, pool_margin_months: int = 6,
                 linkage_threshold: float = 0.92, disclosure_notes=()) -> list[str]:
    """Annex D: the method notes, generated from the match that was run (``result``, a
    :class:`jdl.stats.matching.MatchResult`, and its :class:`jdl.stats.plan.MatchPlan`), the data window
    (:class:`jdl.window.DataWindow`), the pool margin, the linkage threshold and the disclosure
    view's notes (``disclosure_notes``, plain text). Markdown, one note per item. Without a
    match (``result`` None: a request stopped before matching), only the notes that apply."""
    notes = [
        "The people submitted were linked to the national re-offending data on name, date of birth, sex "
        "and identifiers (PNC id, prison number), first exactly and then allowing for common errors "
        f"(names at least {linkage_threshold:g} alike by Jaro-Winkler similarity, with the same sex and the "
        "same date of birth or its day and month swapped); anyone who matched more than one person was left "
        "out, never guessed.",
        "Each person's index event is the release from custody or the court order start related to the "
        "service; people under 18 at the index event, or with an index event outside the data window, "
        "are left out.",
        pool_words(plan, window, pool_margin_months),
        model_words(result, plan) if result is not None else "",
        matching_words(result) if result is not None else "",
        "Each measure is compared with Welch's t-test, using the comparison group's weighted variance "
        "and effective size; a difference is called statistically significant when p is 0.05 or less.",
        "Sub-analyses match each sub-group afresh (for sex, age band and ethnicity, against comparison "
        "people of the same sex, band or group), with the same model, pool rules and matching as above; a "
        "sub-group is analysed only when it has at least 30 people, at least 30 of them find a match, and "
        "the main match has no covariate over 10% after matching.",
        "The match controlled for region is the same match with region added to the exact-matching "
        "variables, so each person is compared only with similar people from the same region.",
        "Rates and their intervals are rounded to whole percentage points, frequencies to two decimals, "
        "days to whole days and p-values to two decimals. Counts of people in tables pass disclosure "
        "control: " + " ".join(markdown_text(n) for n in disclosure_notes or (
            "counts from 1 to 4 are not shown, and other counts are hidden with them where needed.",)),
    ]
    if result is None:
        notes = notes[:3] + notes[-1:]
    return notes + [SPECIFICATION_NOTE]


# The last method note: where the full specification and the design are (issue 13).
SPECIFICATION_NOTE = (
    "The full statistical specification these notes summarise is `docs/methodology.md` in the jdl source "
    "(linkage in section 2, the outcomes in section 3, matching and match quality in sections 4 and 5, the "
    "comparisons in section 6, rounding and disclosure in section 7), and the design is `docs/design.md`; "
    "Annex G gives the jdl version and commit that produced this report.")


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
    :class:`jdl.stats.compare.Comparison` of the one-year proven re-offending rate; ``verdict``: from
    :func:`jdl.words.verdict`; sizes: the treatment group analysed and the distinct comparison
    people; ``measure``: the rate measure (for the interval sentence). Returns Markdown (the names
    escaped by :func:`jdl.words.markdown_text`)."""
    opening = (f"This report looks at the re-offending of {count(n_treated)} people who received "
               f"{markdown_text(programme)} from {markdown_text(organisation)}, compared with a group of {count(n_comparison)} "
               f"similar people who did not.")
    result = {
        Verdict.SIGNIFICANT_REDUCTION: "This is a statistically significant reduction in re-offending",
        Verdict.SIGNIFICANT_INCREASE: "This is a statistically significant increase in re-offending",
        Verdict.INCONCLUSIVE: ("The difference is not statistically significant: the result is inconclusive, "
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
