"""Sub-analyses and the match controlled for region (methodology sections 4, 5, 7 and 8).

**Sub-analyses.** The headline treatment group (the people the national match analysed) is split by
sex, age band, ethnicity group, whether they completed the service, referral route and the
submitter's own sub-group label. Each sub-group is matched afresh: its treated people against the
comparison pool (for sex, age band and ethnicity, only the pool's people of the same sex, band or
group), with the same propensity model, caliper and exact matching as the national match. A
sub-group is run only when

- the national match is of good quality (no covariate over 10% after matching: methodology
  section 5 forbids sub-analyses on a poor match);
- it has at least :data:`MIN_TREATED` (30) people, and at least 30 of them find a comparison match
  in the new match (methodology section 7);

and its rate is reported only when the rate gate holds (10 people who re-offended and 10 who did
not). Every other sub-group is listed with the reason. The people per sub-group are counts after
disclosure control (the table of the report's :class:`jdl.stats.disclosure.Publication` the profile shows for
sex, age and ethnicity); a reason never quotes a count. People whose value was not given, and
free-text labels held by fewer than 5 people (grouped as "Other labels"), are listed, never
analysed.

**Controlled for region.** The national match again with exact matching on region added: each
treated person is compared only with people from the same region, which takes out differences
between areas (in policing, courts and local services) that the propensity model may not. It is
reported beside the national match with its own sizes and balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from jdl import words
from jdl.stats.plan import DEFAULT_EXACT, NoComparison, match_data
from jdl.stats.compare import Comparison, compare_measures
from jdl.stats.disclosure import Publication, small_count
from jdl.stats.matching import PropensityModelError
from jdl.stats.profile import NOT_GIVEN, OTHER, OTHER_LEVELS, level_counts, levels

MIN_TREATED = 30

RUN = "run"
NOT_RUN = "not run"
NOT_REPORTED = "not reported"

NO_COMPARISON = "not run: no one in the comparison pool shares what every person in it has in common"
MODEL_PROBLEM = "not run: no comparison group could be built (the propensity model could not be fitted)"


def _rate_gate_reason(among: str) -> str:
    return f"not reported: too few people (fewer than 10 people{among} re-offended, or fewer than 10 did not)"


@dataclass(frozen=True)
class Dimension:
    """A way to split the treatment group: the column (``age_band`` is made from ``age``), its
    title in the report, and whether the national data holds it (then the pool is restricted to
    the same level) or only the upload does."""

    column: str
    title: str
    in_national_data: bool


DIMENSIONS = (
    Dimension("sex", "Sex", True),
    Dimension("age_band", "Age at index", True),
    Dimension("ethnicity_group", "Ethnicity", True),
    Dimension("completed", "Completed the service", False),
    Dimension("referral_route", "Referral route", False),
    Dimension("sub_group", "Your sub-group label", False),
)
TABLES = tuple(d.column for d in DIMENSIONS)   # their tables in the report's disclosure view


def _float(x):
    return None if x is None else float(x)


def _comparison_scrap(comparison: Comparison | None) -> dict:
    if comparison is None:
        return {}
    return {"treated_rate": comparison.treated_mean, "comparison_rate": comparison.comparison_mean,
            "difference": comparison.difference, "lower": comparison.lower, "upper": comparison.upper,
            "p_value": comparison.p_value, "standard_error": comparison.standard_error,
            "verdict": words.verdict(comparison)}


@dataclass(frozen=True)
class SubgroupResult:
    """One sub-group: its dimension's title, its level, the people in it as published (after
    disclosure control: a number or "<5"), whether it was run and why not, and when run the
    rate comparison (:class:`jdl.stats.compare.Comparison`), the sizes of its own match and the
    covariates that match leaves poor (over 10% after matching)."""

    dimension: str
    level: str
    people: str
    status: str
    reason: str | None = None
    comparison: Comparison | None = None
    n_treated: int | None = None
    n_comparison: int | None = None
    n_comparison_effective: float | None = None
    poor: tuple[str, ...] = field(default=())

    def scrap(self) -> dict:
        """The sub-group as a JSON-ready dict of aggregates (keys whose value does not apply are
        left out: scrapbook stores no null)."""
        out = {"dimension": self.dimension, "level": self.level, "people": self.people, "status": self.status,
               "reason": self.reason, "n_treated": self.n_treated, "n_comparison": self.n_comparison,
               "n_comparison_effective": _float(self.n_comparison_effective),
               "poor_covariates": list(self.poor) if self.status == RUN else None,
               **_comparison_scrap(self.comparison)}
        return {k: v for k, v in out.items() if v is not None}


def _rate(data: pd.DataFrame, weights, among: str = " in the sub-group") -> tuple[Comparison | None, str | None]:
    """The rate comparison of a match, or None and the reason (naming no count) when its gate fails."""
    rate = compare_measures(data, weights)[0]
    return (rate.comparison, None) if rate.reported else (None, _rate_gate_reason(among))


def _run_one(data: pd.DataFrame, min_treated: int, match_options: dict) -> dict:
    """Match ``data`` (one sub-group's treated and its pool) and compare the rate: the fields of a
    :class:`SubgroupResult` other than its labels."""
    try:
        result, used, _ = match_data(data, **match_options)
    except NoComparison:
        return {"status": NOT_RUN, "reason": NO_COMPARISON}
    except PropensityModelError:
        return {"status": NOT_RUN, "reason": MODEL_PROBLEM}
    if result.n_treated_matched < min_treated:
        return {"status": NOT_RUN,
                "reason": f"not run: fewer than {min_treated} people in the sub-group found a comparison match"}
    sizes = {"n_treated": result.n_treated_matched, "n_comparison": result.n_comparison_distinct,
             "n_comparison_effective": result.effective_comparison_size}
    comparison, reason = _rate(used, result.weights)
    if comparison is None:
        return {"status": NOT_REPORTED, "reason": reason, **sizes}
    return {"status": RUN, "comparison": comparison, "poor": result.balance().poor, **sizes}


DISCLOSURE_HIDDEN = ("not shown: its size is hidden so that a count below 5 in the same table cannot be "
                     "worked out (disclosure control)")
DISCLOSURE_MERGED = "not shown: combined with other small groups (disclosure control)"


def subgroup_analyses(data: pd.DataFrame, analysed, attributes: pd.DataFrame | None = None,
                      main_poor=(), min_treated: int = MIN_TREATED, dimensions=DIMENSIONS,
                      publication: Publication | None = None, **match_options) -> list[SubgroupResult]:
    """Every sub-group of every dimension, run or listed with the reason (see the module notes).

    ``data``: the cohort's analysis data (:attr:`jdl.cohort.build.Cohort.data`: treated and pool);
    ``analysed``: the index (event ids) of the treated people the national match analysed;
    ``attributes``: the upload's attributes of the treated (:func:`jdl.cohort.build.treated_attributes`;
    None or missing columns: not given); ``main_poor``: the covariates the national match leaves
    poor (any: nothing is run); ``match_options`` as given to the national match (method, caliper,
    ...). Sub-groups come in :data:`DIMENSIONS` order, levels as in the profile (age bands in
    order, others largest first); empty levels are left out.

    ``publication``: the report's disclosure view (:class:`jdl.stats.disclosure.Publication`, holding
    the total "analysed"); each dimension's people are its table there, the same the profile
    prints. A sub-group whose people are hidden ("[c]") or merged is not shown, since its
    results would give its size away. Without one, a view of these tables alone is used.
    """
    treated = data.loc[pd.Index(analysed)]
    if publication is None:
        publication = Publication()
        publication.total("analysed", len(treated))
    pool = data[data["treated"] == 0]
    if attributes is not None:
        treated = treated.join(attributes.drop(columns=[c for c in attributes.columns if c in treated.columns]))
    results = []
    for dimension in dimensions:
        if dimension.column not in treated.columns and dimension.column != "age_band":
            treated = treated.assign(**{dimension.column: pd.Series(np.nan, index=treated.index, dtype=object)})
        labels = levels(treated, dimension.column)
        counts = level_counts(labels, dimension.column)
        view = publication.counts(dimension.column, counts, "analysed", dimension.title,
                                  merge_label=OTHER_LEVELS)
        pool_labels = levels(pool, dimension.column) if dimension.in_national_data else None
        for level, n in counts.items():
            if n == 0:
                continue
            merged = level not in view.kinds.index
            people = view.shown[view.merge_label] if merged else view.shown[level]
            base = {"dimension": dimension.title, "level": str(level), "people": str(people)}
            if merged:
                outcome = {"status": NOT_RUN, "reason": DISCLOSURE_MERGED}
            elif not view.published(level) and n >= min_treated:
                outcome = {"status": NOT_RUN, "reason": DISCLOSURE_HIDDEN}
            elif level == NOT_GIVEN:
                outcome = {"status": NOT_RUN, "reason": "not analysed: no value given"}
            elif level == OTHER.get(dimension.column):
                outcome = {"status": NOT_RUN, "reason": "not analysed: labels held by fewer than 5 people each"}
            elif main_poor:
                outcome = {"status": NOT_RUN, "reason": "not run: the national match is poor (a covariate over "
                           "10% after matching; see Annex A), and no sub-analysis is run on a poor match"}
            elif n < min_treated:
                outcome = {"status": NOT_RUN, "reason": f"not run: fewer than {min_treated} people"}
            else:
                members = treated.index[(labels == level).to_numpy()]
                comparison_pool = pool if pool_labels is None else pool[(pool_labels == level).to_numpy()]
                subset = pd.concat([data.loc[members], comparison_pool])
                outcome = _run_one(subset, min_treated, match_options)
            results.append(SubgroupResult(**base, **outcome))
    return results


SUBGROUP_COLUMNS = ("Sub-group", "Level", "People", "Analysed", "Comparison (effective)",
                    "Treatment group", "Comparison group", "Difference", "95% interval", "p-value", "Result")


def _verdict_words(result: SubgroupResult) -> str:
    text = words.verdict(result.comparison)
    if result.poor:
        text += f" (match poor on {len(result.poor)} covariate{'s' if len(result.poor) > 1 else ''})"
    return text


def subgroup_table(results: list[SubgroupResult]) -> pd.DataFrame:
    """The sub-analyses as a table of strings (:data:`SUBGROUP_COLUMNS`), indexed by sub-group and
    level: the people in each (after disclosure control), and for those run the people analysed,
    the comparison group's effective size, both rates (whole per cent), the difference and its 95%
    interval (whole percentage points), the p-value and the result; for the others the reason."""
    rows = []
    for r in results:
        if r.status == RUN:
            c = r.comparison
            rows.append([r.dimension, r.level, r.people, words.count(r.n_treated),
                         words.count(r.n_comparison_effective), words.percent(c.treated_mean),
                         words.percent(c.comparison_mean), words.points(c.difference),
                         words.interval(c.lower, c.upper), words.p_value(c.p_value),
                         _verdict_words(r)])
        else:
            analysed = words.count(r.n_treated) if r.n_treated is not None else ""
            effective = words.count(r.n_comparison_effective) if r.n_comparison_effective is not None else ""
            rows.append([r.dimension, r.level, r.people, analysed, effective, "", "", "", "", "", r.reason])
    return pd.DataFrame(rows, columns=list(SUBGROUP_COLUMNS)).set_index(["Sub-group", "Level"])


# ------------------------------------------------------------------------------------------
# controlled for region

@dataclass(frozen=True)
class RegionAnalysis:
    """The match with exact matching on region: whether it could be reported and why not, its
    :class:`jdl.stats.matching.MatchResult`, the rate comparison and the balance
    (:class:`jdl.stats.balance.Balance`)."""

    status: str
    reason: str | None = None
    result: object = None
    comparison: Comparison | None = None
    balance: object = None

    def scrap(self) -> dict:
        """The analysis as a JSON-ready dict of aggregates (keys that do not apply left out)."""
        out = {"status": self.status, "reason": self.reason}
        if self.result is not None:
            out.update(n_treated=self.result.n_treated_matched, n_comparison=self.result.n_comparison_distinct,
                       n_comparison_effective=float(self.result.effective_comparison_size))
        if self.balance is not None:
            out["poor_covariates"] = list(self.balance.poor)
        out.update(_comparison_scrap(self.comparison))
        return {k: v for k, v in out.items() if v is not None}


def controlled_for_region(data: pd.DataFrame, exact=DEFAULT_EXACT, min_treated: int = MIN_TREATED,
                          **match_options) -> RegionAnalysis:
    """Match ``data`` (the cohort's analysis data) as the national match does, with ``region``
    added to the exact-matching variables, and compare the rate. Not reported when the model
    cannot be fitted, fewer than ``min_treated`` treated people find a match in their region, or
    the rate gate fails."""
    exact = tuple(exact or ()) + ("region",)
    try:
        result, used, _ = match_data(data, exact=exact, **match_options)
    except NoComparison:
        return RegionAnalysis(status=NOT_RUN, reason=NO_COMPARISON)
    except PropensityModelError:
        return RegionAnalysis(status=NOT_RUN, reason=MODEL_PROBLEM)
    if result.n_treated_matched < min_treated:
        return RegionAnalysis(status=NOT_RUN, result=result, reason=(
            f"not run: fewer than {min_treated} people found a comparison match in their own region"))
    comparison, reason = _rate(used, result.weights, among="")
    if comparison is None:
        return RegionAnalysis(status=NOT_REPORTED, reason=reason, result=result)
    return RegionAnalysis(status=RUN, result=result, comparison=comparison, balance=result.balance())


def _match_column(result, comparison: Comparison | None, balance, note: str | None) -> list[str]:
    # sizes printed on their own: a count from 1 to 4 (a region match few found) shows as "<5"
    sizes = ([small_count(result.n_treated_matched), small_count(result.n_comparison_distinct),
              small_count(result.effective_comparison_size)] if result is not None else ["", "", ""])
    if comparison is None:
        return sizes + [""] * 5 + ["", note or ""]
    largest = balance.table.iloc[:-1]["std_diff_after"].abs().max()
    return sizes + [words.percent(comparison.treated_mean), words.percent(comparison.comparison_mean),
                    words.points(comparison.difference),
                    words.interval(comparison.lower, comparison.upper),
                    words.p_value(comparison.p_value),
                    f"{len(balance.poor)} (largest {largest:.1f}%)", words.verdict(comparison)]


REGION_INTRO = (
    "The national match compares each person with similar people from anywhere in England and Wales. "
    "The match controlled for region compares each person only with similar people from the same "
    "region, which takes out differences between areas (in policing, courts and local services) that "
    "the model may not capture. Its balance is in Annex A.")

REGION_ROWS = ("Treatment group analysed", "Comparison group (distinct people)", "Comparison group (effective size)",
               "Treatment group rate", "Comparison group rate", "Difference (percentage points)", "95% interval",
               "p-value", "Covariates over 10% after matching", "Result")


def region_table(national_result, national: Comparison, national_balance, region: RegionAnalysis) -> pd.DataFrame:
    """The national match and the match controlled for region side by side (:data:`REGION_ROWS`),
    as strings: sizes, rates, difference and interval, p-value, balance (how many covariates are
    over 10% after matching, and the largest standardised difference) and the result; a match that
    could not be reported gives its reason."""
    return pd.DataFrame({
        "National match": _match_column(national_result, national, national_balance, None),
        "Controlled for region": _match_column(region.result, region.comparison, region.balance, region.reason),
    }, index=pd.Index(REGION_ROWS, name=""))


def balance_side_by_side(national_balance, region_balance) -> pd.DataFrame:
    """Standardised differences after matching (per cent, one decimal) for each covariate, national
    match against the match controlled for region."""
    return pd.DataFrame({
        "National match": national_balance.table["std_diff_after"],
        "Controlled for region": region_balance.table["std_diff_after"].reindex(national_balance.table.index),
    }).round(1)


SUBGROUP_INTRO = (
    "Each sub-group was matched afresh: its people against similar people from the comparison pool "
    "(of the same sex, age band or ethnicity group when the sub-group is one of those). A sub-group is "
    f"analysed only when it has at least {MIN_TREATED} people, at least {MIN_TREATED} of them find a "
    "comparison match, and the main match is of good quality. Sub-group results rest on fewer people "
    "than the headline and are less certain; with many sub-groups, one may show a significant "
    "difference by chance alone. \"People\" counts the sub-group within the treatment group analysed "
    "(the same counts the profile shows, protected in the same way; a sub-group whose size is hidden is "
    "not shown); \"Analysed\" is how many of "
    "them found a comparison match. Rates are in whole per cent; differences and intervals in "
    "percentage points.")


def subgroup_notes(results: list[SubgroupResult]) -> list[str]:
    """Plain-words notes under the sub-analyses table: a warning when a sub-group's own match is
    poor, and how many sub-groups were analysed. Markdown: a sub-group's label (which may come from
    the upload) is escaped by :func:`jdl.words.markdown_text`."""
    run = [r for r in results if r.status == RUN]
    notes = [f"{words.count(len(run))} of {words.count(len(results))} sub-groups were analysed."]
    poor = [f"{r.dimension.lower()}: {words.markdown_text(r.level)}" for r in run if r.poor]
    if poor:
        notes.append("The sub-group's own match is poor (a covariate over 10% after matching) for "
                     + "; ".join(poor) + ". Read those results with particular care.")
    return notes


def region_sentence(national: Comparison, region: RegionAnalysis) -> str:
    """The match controlled for region in one or two plain sentences, beside the national one."""
    if region.comparison is None:
        return f"The match controlled for region could not be reported ({region.reason})."
    c = region.comparison
    text = (f"Controlled for region, the difference in the one-year proven re-offending rate is "
            f"{words.points(c.difference)} percentage points (95% interval {words.interval(c.lower, c.upper)}; "
            f"{words.p_phrase(c.p_value)}), beside {words.points(national.difference)} "
            f"from the national match: {words.verdict(c)}.")
    if words.verdict(c) != words.verdict(national):
        text += (" The two matches reach different verdicts, so the headline result depends on whether "
                 "people are compared with others from their own region; read it with that in mind.")
    else:
        text += " Both matches reach the same verdict."
    return text
