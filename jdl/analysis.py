"""One request end to end, as one object: :func:`analyse` returns an :class:`Analysis`.

An analyst in Jupyter, the report template and the tests all call the same function::

    import jdl
    analysis = jdl.analyse("data/uploads/gateway-mentoring.xlsx", setting="custody")
    analysis                       # a summary (aggregates only)
    analysis.headline              # the rate comparison: difference, lower, upper, p_value, ...
    analysis.rematch(method="nearest", ratio=2, caliper=0.1).headline

Each stage is computed once and kept: validation, linkage and attrition, the cohort, the match,
the eleven measures, balance, sensitivity, sub-groups and the match controlled for region, and
the experimental employment and benefit outcomes and outcomes over time (issue 16). The
decisions (processed or not and why, the verdict, the number needed) are made here, in tested
package code; the template only renders them. Attributes that hold personal data (``validation``,
``cohort``, ``flow``, ``data``, ``employment_data``) are for computing aggregates, never for
display; the summaries (``repr``, ``_repr_html_``) show aggregates only.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from jdl.cohort import attrition
from jdl.contract import ReportScraps, Status, Verdict
from jdl.stats import disclosure, subgroups
from jdl import words
from jdl.stats.plan import NoComparison, match_cohort, match_scrap
from jdl.cohort.build import build_cohort, treated_attributes
from jdl.cohort.employment import EMPLOYMENT_MEASURES, analysis_outcomes
from jdl.stats.compare import compare_measures, number_needed
from jdl.stats.over_time import compare_over_time, cumulative_share, shown_over_time
from jdl.stats.matching import PropensityModelError
from jdl.cohort.national import NationalData
from jdl.stats.profile import profile_table
from jdl.run.requests import check_programme_type, check_text, confine_upload, parse_date_received
from jdl.stats.sensitivity import headline_e_value, regression_adjusted
from jdl.stats.threads import computed, one_blas_thread
from jdl.upload.validate import validate_upload
from jdl.window import DataWindow


class UploadNotUsable(ValueError):
    """The upload has problems that block the analysis; the message lists them by place (sheet,
    row, column), never by value."""


class HeadlineNotReported(ValueError):
    """The headline rate fails its gate (fewer than 10 people in the treatment group re-offended,
    or fewer than 10 did not): no tailored report can state a result. The message states the
    rule, never a count."""


@dataclass(frozen=True)
class Request:
    """What the params file says of a request (all text from outside: checked by
    :func:`jdl.run.requests.check_text`). An analyst exploring a cohort can leave the defaults."""

    request_id: str = "exploration"
    organisation: str = "Organisation"
    programme: str = "Programme"
    programme_type: str = "other"
    date_received: str = ""

    def __post_init__(self):
        for name in ("request_id", "organisation", "programme", "programme_type", "date_received"):
            check_text(str(getattr(self, name)), name)
        check_programme_type(self.programme_type)          # the template's parameters, as the params file's
        if self.date_received:                              # empty: not given (an analyst exploring)
            parse_date_received(str(self.date_received))


# the outcomes compared over time (Analysis.over_time): a proven re-offence, being in P45 employment
OVER_TIME_OUTCOMES = ("reoffended", "employed")


def _number(x):
    return None if x is None else float(x)


@dataclass(eq=False)
class Analysis:
    """A request analysed end to end (see the module docstring). Built by :func:`analyse`."""

    request: Request
    upload: Path
    national_dir: Path
    setting: str | None
    match_options: dict
    validation: object = field(repr=False)
    window: DataWindow = field(repr=False)
    cohort: object = field(repr=False)
    match: object = field(repr=False)            # the MatchResult, None when no match was made
    plan: object = field(repr=False)             # the MatchPlan, None when no match was made
    data: pd.DataFrame | None = field(repr=False)   # the rows the match was fitted on
    flow: pd.DataFrame = field(repr=False)
    _national: NationalData = field(repr=False, default=None)

    # ---------------------------------------------------------------- decisions

    @computed
    def attrition(self) -> pd.Series:
        """People per attrition bucket, in the methodology's order."""
        return attrition.bucket_counts(self.flow["bucket"])

    @property
    def n_submitted(self) -> int:
        return int(self.attrition.sum())

    @property
    def n_analysed(self) -> int:
        return int(self.attrition[attrition.ANALYSED])

    @computed
    def reason(self) -> str | None:
        """Why the request is not processed (the minimum criteria), or None."""
        return attrition.minimum_criteria(self.attrition)

    @property
    def processed(self) -> bool:
        return self.reason is None

    @property
    def status(self) -> Status:
        """``Status.PUBLISHED`` or ``Status.NOT_PROCESSED`` (:class:`jdl.contract.Status`, a str enum)."""
        return Status.PUBLISHED if self.processed else Status.NOT_PROCESSED

    @computed
    def publication(self) -> disclosure.Publication:
        """The report's disclosure view: the totals it prints and every count table, protected
        once (attrition here; the profile and the sub-groups add theirs when computed)."""
        view = disclosure.Publication()
        view.total("submitted", self.n_submitted)
        view.total("analysed", self.n_analysed)
        view.counts("attrition", self.attrition, "submitted", "Attrition", fixed=[attrition.ANALYSED],
                    merge_label=attrition.OTHER_REASONS)
        return view

    # ---------------------------------------------------------------- statistics (processed only)

    def _need_processed(self, what: str):
        if not self.processed:
            raise ValueError(f"{what} is not available: the request is not processed ({self.reason})")

    @computed
    def measures(self) -> list:
        """The eleven measures compared (:class:`jdl.stats.compare.MeasureComparison`), gates applied."""
        self._need_processed("the comparison of measures")
        return compare_measures(self.data, self.match.weights)

    # ---------------------------------------------------------------- experimental outcomes (issue 16)

    @computed
    def employment_data(self) -> pd.DataFrame:
        """:attr:`data` with the experimental employment and benefit outcomes, the outcomes over
        time and the first day in P45 employment (:data:`jdl.cohort.employment.ANALYSIS_COLUMNS`)
        joined on: computed once, in one DuckDB query, for the people in the match only (weight
        over 0; missing for the rest, whose values are never read). Personal data: for computing
        aggregates, never for display."""
        self._need_processed("the employment outcomes")
        national = self._national if self._national is not None else NationalData.open(self.national_dir)
        in_match = self.data.index[self.match.weights.to_numpy() > 0]
        return self.data.join(analysis_outcomes(national, in_match))

    @computed
    def employment(self) -> list:
        """The four experimental employment and benefit measures
        (:data:`jdl.cohort.employment.EMPLOYMENT_MEASURES`) compared as the re-offending measures
        are (:func:`jdl.stats.compare.compare_measures`: Welch, the same gates):
        :class:`jdl.stats.compare.MeasureComparison` objects. They never change the verdict."""
        return compare_measures(self.employment_data, self.match.weights, measures=EMPLOYMENT_MEASURES)

    @computed
    def over_time_comparisons(self) -> dict:
        """``"reoffended"`` and ``"employed"`` -> :class:`jdl.stats.over_time.OverTime`: the
        cumulative shares by days 30, 90, 180, 270 and 365 compared. Their tables hold counts of
        people that are never published: use :meth:`over_time`."""
        data, weights = self.employment_data, self.match.weights
        return {outcome: compare_over_time(data, weights, outcome=outcome) for outcome in OVER_TIME_OUTCOMES}

    def over_time(self, outcome: str) -> pd.DataFrame | None:
        """The publishable table of cumulative shares with a proven re-offence (``"reoffended"``)
        or in P45 employment (``"employed"``) by days 30, 90, 180, 270 and 365 of both groups,
        with intervals, the difference and its interval and p-value
        (:func:`jdl.stats.over_time.shown_over_time`: the curve's disclosure rule; no counts), or
        None when none may be shown."""
        if outcome not in OVER_TIME_OUTCOMES:
            raise ValueError('the outcome over time is "reoffended" or "employed"')
        return shown_over_time(self.over_time_comparisons[outcome])

    @computed
    def employment_curve(self):
        """The day-by-day cumulative share of each group in P45 employment so far
        (:func:`jdl.stats.over_time.cumulative_share`; :func:`jdl.stats.curves.curve_shown` gives
        what may be drawn)."""
        return cumulative_share(self.employment_data, self.match.weights, "days_to_first_employment")

    @computed
    def headline(self):
        """The one-year proven re-offending rate comparison (:class:`jdl.stats.compare.Comparison`).
        Raises :class:`HeadlineNotReported` when the rate fails its gate."""
        rate = self.measures[0]
        if rate.comparison is None:
            raise HeadlineNotReported(
                "the one-year proven re-offending rate cannot be reported: fewer than 10 people in the "
                "treatment group re-offended, or fewer than 10 did not")
        return rate.comparison

    @property
    def verdict(self) -> Verdict:
        """"significant reduction", "significant increase", "inconclusive", or "not processed" (a
        :class:`jdl.contract.Verdict`, a str enum)."""
        return words.verdict(self.headline) if self.processed else Verdict.NOT_PROCESSED

    @computed
    def number_needed(self) -> float | None:
        """The treatment-group size that would detect the observed difference (None when the
        headline is significant or the request not processed)."""
        if not self.processed or self.headline.significant:
            return None
        return number_needed(self.headline.treated_mean, self.headline.comparison_mean,
                             self.match.effective_comparison_size)

    @computed
    def balance(self):
        """The balance table of the match (:class:`jdl.stats.balance.Balance`)."""
        self._need_processed("the balance")
        return self.match.balance()

    @computed
    def e_values(self):
        return headline_e_value(self.headline)

    @computed
    def adjusted(self):
        """The regression-adjusted (doubly robust) estimate on the matched sample."""
        self._need_processed("the adjusted estimate")
        return regression_adjusted(self.data, self.match.weights, self.match.covariates)

    @computed
    def attributes(self) -> pd.DataFrame:
        """The upload's attributes of the treated (aggregation only, never for display)."""
        return treated_attributes(self.flow, self.validation.participants)

    @computed
    def treated_analysed(self) -> pd.DataFrame:
        """The analysed treatment group's rows with their upload attributes (aggregation only)."""
        self._need_processed("the treatment group")
        treated = self.data[(self.data["treated"] == 1) & (self.match.weights > 0)]
        return treated.join(self.attributes)

    @computed
    def profile(self) -> pd.DataFrame:
        """The profile table, after disclosure control (one view with the sub-groups)."""
        return profile_table(self.treated_analysed, self.publication)

    @computed
    def subgroups(self) -> list:
        """Every sub-group, run or listed with the reason (:func:`jdl.stats.subgroups.subgroup_analyses`)."""
        return subgroups.subgroup_analyses(self.cohort.data, self.treated_analysed.index, self.attributes,
                                           self.balance.poor, publication=self.publication,
                                           **self.match_options)

    @computed
    def region(self):
        """The match controlled for region (:class:`jdl.stats.subgroups.RegionAnalysis`)."""
        self._need_processed("the match controlled for region")
        return subgroups.controlled_for_region(self.cohort.data, **self.match_options)

    @computed
    def pool_rate(self) -> float | None:
        """The comparison pool's one-year proven re-offending rate (None without a pool)."""
        pool = self.cohort.data.loc[self.cohort.data["treated"] == 0, "reoffended"]
        return float(pool.mean()) if len(pool) else None

    @computed
    def provenance(self) -> dict:
        """What ran on which data (:func:`jdl.report.provenance.provenance`): jdl's version and
        commit, the libraries, the national data's manifest and digests, the upload's SHA-256
        (never its content), the request's params and the run date."""
        from jdl.report.provenance import provenance

        params = {**asdict(self.request), "setting": self.setting, "options": dict(self.match_options)}
        return provenance(self.upload, self.national_dir, params)

    # ---------------------------------------------------------------- contract and summaries

    def check_disclosure(self) -> None:
        """The exact disclosure check over every table of the view; raises RuntimeError when a
        hidden count could be worked out (nothing must then be published)."""
        if self.processed:
            self.profile, self.subgroups   # noqa: B018 (their tables join the view)
        if self.publication.audit()["recoverable"].any():
            raise RuntimeError("disclosure check failed: a hidden count could be worked out; "
                               "the report is not published")

    @one_blas_thread()
    def scraps(self) -> ReportScraps:
        """Exactly what the report glues (:class:`jdl.contract.ReportScraps`), after the disclosure check."""
        self.check_disclosure()
        processed = self.processed
        headline = self.headline if processed else None
        result = self.match
        return ReportScraps(
            request_id=self.request.request_id, organisation=self.request.organisation,
            programme=self.request.programme, programme_type=self.request.programme_type,
            date_received=str(self.request.date_received),
            status=self.status, verdict=self.verdict, reason=self.reason,
            n_submitted=self.n_submitted,
            n_treated=result.n_treated_matched if processed else 0,
            n_comparison=result.n_comparison_distinct if processed else 0,
            n_comparison_effective=_number(result.effective_comparison_size) if processed else None,
            treated_rate=_number(headline and headline.treated_mean),
            comparison_rate=_number(headline and headline.comparison_mean),
            difference=_number(headline and headline.difference),
            lower=_number(headline and headline.lower), upper=_number(headline and headline.upper),
            p_value=_number(headline and headline.p_value),
            standard_error=_number(headline and headline.standard_error),
            number_needed=_number(self.number_needed),
            e_value=_number(self.e_values.point) if processed else None,
            e_value_bound=_number(self.e_values.bound) if processed else None,
            adjusted_difference=_number(self.adjusted.difference) if processed else None,
            attrition={bucket: int(n) for bucket, n in self.attrition.items()},
            controlled_for_region=self.region.scrap() if processed else None,
            subgroups=[r.scrap() for r in self.subgroups] if processed else None,
            published_counts=self.publication.scrap(),
            match=match_scrap(result, self.plan) if result is not None else None,
            employment=employment_scrap(self.employment) if processed else None,
        )

    @one_blas_thread()
    def rematch(self, **match_options) -> Analysis:
        """A new Analysis of the same request with other matching options (method, caliper, ratio,
        replace, exact); this one is left unchanged. Validation, linkage and the cohort are reused."""
        return _matched(self.request, self.upload, self.national_dir, self.setting, match_options,
                        self.validation, self.window, self.cohort, self._national)

    def summary(self) -> dict:
        """The headline facts as plain aggregates (no personal data)."""
        out = {"request": self.request.request_id, "status": self.status.value, "reason": self.reason,
               "submitted": self.n_submitted, "analysed": self.n_analysed,
               "match": ", ".join(f"{k}={v}" for k, v in sorted(self.match_options.items())) or "defaults"}
        if self.processed:
            c = self.headline
            out.update(verdict=self.verdict.value, comparison=self.match.n_comparison_distinct,
                       treated_rate=words.percent(c.treated_mean), comparison_rate=words.percent(c.comparison_mean),
                       difference=f"{words.points(c.difference)} points ({words.interval(c.lower, c.upper)})",
                       p_value=words.p_value(c.p_value))
        return out

    def __repr__(self) -> str:
        facts = self.summary()
        return "Analysis(" + ", ".join(f"{k}={v!r}" for k, v in facts.items() if v is not None) + ")"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in self.summary().items() if v is not None)
        return f"<table><caption>Justice Data Lab analysis</caption>{rows}</table>"


def employment_scrap(results) -> dict:
    """The ``employment`` scrap: measure column -> a dict of its comparison, for the experimental
    measures (:class:`jdl.stats.compare.MeasureComparison` list of :attr:`Analysis.employment`):
    ``label``, ``kind`` ("rate" or "days"), ``shown`` (reported, bool); when shown
    ``treated_mean``, ``comparison_mean``, ``difference``, ``lower``, ``upper`` (proportions for
    rates, days for days), ``p_value`` and ``significant``; when not, ``reason`` (the rule, never a
    count). Aggregates only."""
    scrap = {}
    for r in results:
        entry = {"label": r.measure.label, "kind": r.measure.kind, "shown": bool(r.reported)}
        if r.reported:
            c = r.comparison
            entry.update(treated_mean=float(c.treated_mean), comparison_mean=float(c.comparison_mean),
                         difference=float(c.difference), lower=float(c.lower), upper=float(c.upper),
                         p_value=float(c.p_value), significant=bool(c.significant))
        else:
            entry["reason"] = r.reason
        scrap[r.measure.column] = entry
    return scrap


def _matched(request, upload, national_dir, setting, match_options, validation, window, cohort, national):
    """Match the cohort (the notebook's old cells 4 and 5): people who reach matching are matched
    even when too few for a report, so the attrition is true; a model that cannot be fitted is the
    lab's problem when the request would otherwise be processed."""
    treated_in_cohort = int((cohort.data["treated"] == 1).sum())
    result = plan = data = None
    flow = None
    if treated_in_cohort >= 2:
        try:
            result, data, flow, plan = match_cohort(cohort, **match_options)
        except NoComparison:
            pass   # no one in the pool shares what every participant has: no comparison match
        except PropensityModelError:
            if treated_in_cohort >= attrition.MIN_ANALYSED:
                raise
    if result is None:
        flow = cohort.flow.assign(bucket=cohort.flow["bucket"].fillna(attrition.NO_MATCH))
    return Analysis(request=request, upload=upload, national_dir=national_dir, setting=setting,
                    match_options=dict(match_options), validation=validation, window=window, cohort=cohort,
                    match=result, plan=plan, data=data, flow=flow, _national=national)


@one_blas_thread()
def analyse(upload, setting: str | None = None, national="data/national", *, request: Request | dict | None = None,
            uploads_dir=None, **match_options) -> Analysis:
    """Analyse one request end to end.

    ``upload``: the filled Data Upload Template (.xlsx or .csv); with ``uploads_dir`` it must lie
    inside that folder (symlinks resolved), as the runner requires. ``setting``: "custody" or
    "community" for rows that give none. ``national``: the national data folder. ``request``: the
    params' text fields (:class:`Request` or a dict of its fields). ``match_options`` go to
    :func:`jdl.match` (method, caliper, ratio, replace, exact).

    Raises :class:`UploadNotUsable` when the upload's problems block the analysis (listed by
    place, never by value).
    """
    request = request if isinstance(request, Request) else Request(**(request or {}))
    upload = Path(upload)
    if uploads_dir is not None:
        upload = confine_upload(upload, Path(uploads_dir))
    national_dir = Path(national)
    national_data = NationalData.open(national_dir)
    window = DataWindow.from_national(national_dir)
    validation = validate_upload(upload, window, setting=setting)
    if validation.blocking_errors:
        raise UploadNotUsable("the upload cannot be analysed:\n" + "\n".join(validation.problem_lines()))
    cohort = build_cohort(validation.participants, national_data, setting)
    return _matched(request, upload, national_dir, setting, match_options, validation, window, cohort,
                    national_data)
