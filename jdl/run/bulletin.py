"""The summary bulletin (methodology section 8): every request to date, its status and, for the
published ones, the headline result its executed report glued.

:func:`collect` reads the params folders and the scraps of the executed report notebooks (never a
person-level table: only the aggregates of :class:`jdl.contract.ReportScraps`) into a :class:`Bulletin`;
:func:`results_table` and :func:`forest_plot` turn it into the bulletin's table and chart; the
:class:`Bulletin` itself gives the counts, the tally, the headline paragraph and this month's
findings in words. The evidence library (:func:`evidence_library`, :func:`pooled_by_type`,
:func:`pooled_table`, :func:`library_sentences`, :func:`library_notes`, :func:`library_forest_plot`)
groups the published results by programme type and, for each type with at least two results that
have a standard error, gives a descriptive random-effects (DerSimonian-Laird) pooled difference.
The experimental employment table (:func:`employment_table`) lists each published request's
share in P45 employment from its ``employment`` scrap. ``notebooks/monthly_summary.ipynb`` shows
them; :func:`build_summary` executes it with papermill and
publishes it.

Where a request's status comes from, for every params file in a month folder up to and including
the bulletin's month (month folders sort as text, e.g. ``2014-03``):

- ``status: withdrawn`` or ``status: in progress`` in the params file: that status;
- a received request with an executed report ``outputs/<month>/<id>/report.ipynb``: the report's
  ``status`` scrap ("published" or "not processed"); a report whose scraps break the contract
  (:class:`jdl.contract.ScrapError`: a warning names the file and the scrap), or one papermill
  marked as stopped by an exception, is "failed";
- a received request without a report: "failed" if the month runner's ``outputs/<month>/run.json``
  says so, otherwise "in progress" (received but not yet run). Without a run.json the statuses
  come from the params files and the scraps only.

Units: rates, differences and interval bounds are proportions (0.24), as the scraps hold them;
words and tables print them through :mod:`jdl.words` (whole per cent, whole percentage points).
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import json
import math
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jdl import words
from jdl.cohort.measures import MEASURES
from jdl.contract import HEADLINE_VERDICTS, ScrapError, Status, Verdict, read_report
from jdl.report.labels import interval_cell
from jdl.run.requests import PROGRAMME_TYPES, REPORT_NOTEBOOK, RUN_JSON, ParamsError, load_month


SUMMARY_NAME = "summary.ipynb"

HEADLINE_MEASURE = next(m for m in MEASURES if m.column == "reoffended")
REDUCTION, INCREASE, INCONCLUSIVE = HEADLINE_VERDICTS

# The columns of Bulletin.requests, in order.
COLUMNS = ("month", "id", "organisation", "programme", "programme_type", "status", "verdict", "reason", "n_treated",
           "n_comparison", "treated_rate", "comparison_rate", "difference", "lower", "upper", "p_value",
           "standard_error", "employment")
COUNT_COLUMNS = ("n_treated", "n_comparison")
NUMBER_COLUMNS = ("treated_rate", "comparison_rate", "difference", "lower", "upper", "p_value")
# The scraps a published report must hold for the bulletin to show its result.
PUBLISHED_SCRAPS = ("verdict", *COUNT_COLUMNS, *NUMBER_COLUMNS)
# Scraps a published report may lack (reports made before the scrap existed): NaN when missing.
OPTIONAL_NUMBER_COLUMNS = ("standard_error",)

# The schedule the bulletin states under its title (next_release): a bulletin a month.
NEXT_RELEASE_RULE = "bulletins are published on the last Thursday of each month"

# Statuses in the order the bulletin lists them (failed is shown only when there are some).
COUNT_ORDER = (Status.RECEIVED, Status.PUBLISHED, Status.NOT_PROCESSED, Status.WITHDRAWN, Status.FAILED,
               Status.IN_PROGRESS)
COUNT_LABELS = {
    Status.RECEIVED: "Received",
    Status.PUBLISHED: "Published",
    Status.NOT_PROCESSED: "Not processed (minimum criteria not met)",
    Status.WITHDRAWN: "Withdrawn",
    Status.FAILED: "Failed (to be run again)",
    Status.IN_PROGRESS: "In progress",
}

# Eight columns, so that the table fits the printed page's width without breaking a word: the
# organisation with its programme, and each pair of group figures (treatment / comparison), share a column.
RESULTS_COLUMNS = ("Month", "Organisation: programme", "People (treatment / comparison)",
                   "Re-offending rate (treatment / comparison)", "Difference (percentage points)", "95% interval",
                   "p-value", "Verdict")

# Forest plot: row labels longer than this many characters are wrapped onto a second line.
LABEL_WIDTH = 42
# Forest plot: (legend label, marker, seaborn colorblind palette index) per verdict.
FOREST_STYLE = {
    REDUCTION: ("Significant reduction", "v", 2),
    INCREASE: ("Significant increase", "^", 3),
    INCONCLUSIVE: ("Inconclusive", "o", 7),
}


# ---------------------------------------------------------------- months


def month_folders(params_root: str | Path) -> list[str]:
    """The month folder names under ``params_root`` (every sub-folder whose name does not start with
    "." or "_"), sorted as text."""
    root = Path(params_root)
    if not root.is_dir():
        raise ParamsError(f"{root}: no such params folder")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def latest_month(params_root: str | Path) -> str:
    """The last month folder under ``params_root`` (see :func:`month_folders`); raises
    :class:`jdl.run.requests.ParamsError` when there is none."""
    months = month_folders(params_root)
    if not months:
        raise ParamsError(f"{params_root}: no month folders")
    return months[-1]


def month_label(month: str) -> str:
    """A month folder name as words: "2014-03" -> "March 2014"; a name that is not YYYY-MM is
    returned unchanged."""
    try:
        return dt.datetime.strptime(month, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return month


def last_thursday(year: int, month: int) -> dt.date:
    """The last Thursday of ``month`` of ``year``."""
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - calendar.THURSDAY) % 7)


def next_release(published: dt.date) -> dt.date:
    """The next bulletin's scheduled date (:data:`NEXT_RELEASE_RULE`): the last Thursday of the
    calendar month after the one ``published`` falls in."""
    year, month = (published.year + 1, 1) if published.month == 12 else (published.year, published.month + 1)
    return last_thursday(year, month)


def release_dates(published: dt.date | str | None = None) -> tuple[dt.date, dt.date]:
    """(publication date, next release date): ``published`` (a date or an ISO date string; empty or
    None: today, the run date) and :func:`next_release` of it."""
    if not published:
        published = dt.date.today()
    elif isinstance(published, str):
        published = dt.date.fromisoformat(published)
    return published, next_release(published)


def release_markdown(published: dt.date | str | None = None) -> str:
    """The line under the bulletin's title: "Published 5 December 2026. Next release: 28 January
    2027 (the last Thursday of each month)"."""
    from jdl.report.about import long_date

    published, upcoming = release_dates(published)
    return words.markdown_text(f"Published {long_date(published)}. Next release: {long_date(upcoming)} "
                               f"({NEXT_RELEASE_RULE}).")


# ---------------------------------------------------------------- collecting


def read_run(path: str | Path) -> dict[str, dict]:
    """The outcomes of a month run (``run.json``: ``{"month", "outcomes": [{"id", "status", ...}]}``;
    the list may also be called ``requests``) by request id; empty when the file is absent or
    unreadable (with a warning for the latter)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
        outcomes = run.get("outcomes", run.get("requests", []))
        return {str(outcome["id"]): outcome for outcome in outcomes}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        warnings.warn(f"{path}: ignored, cannot read the run outcomes ({type(error).__name__})", stacklevel=3)
        return {}


def _row(request, report: Path, outcome: dict | None) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(month=request.month, id=request.id, organisation=request.organisation,
               programme=request.programme, programme_type=request.programme_type, status=request.status)
    if request.status != Status.RECEIVED:
        return row
    if not report.is_file():
        row["status"] = Status.FAILED if outcome and outcome.get("status") == Status.FAILED else Status.IN_PROGRESS
        return row
    try:
        scraps, stopped = read_report(report)
    except ScrapError as error:  # the runner never publishes such a report: an old or broken file
        warnings.warn(f"{report}: counted as failed: {error}", stacklevel=3)
        row["status"] = Status.FAILED
        return row
    if stopped:
        row["status"] = Status.FAILED
        return row
    row["status"] = scraps.status
    if scraps.status == Status.NOT_PROCESSED:
        row["verdict"] = Verdict.NOT_PROCESSED
        row["reason"] = scraps.reason      # the lab's own words (the report's letter gives them too)
        return row
    missing = [name for name in PUBLISHED_SCRAPS if getattr(scraps, name) is None]
    if missing:
        raise ValueError(f"{report}: published, but the scrap(s) {', '.join(missing)} are missing")
    # one disclosure view: the bulletin prints only counts the report itself printed outright
    totals = scraps.published_counts.get("totals", {})
    if "analysed" in totals and totals["analysed"] != scraps.n_treated:
        raise ValueError(f"{report}: the treatment group size differs from the one the report published")
    row.update({name: getattr(scraps, name) for name in (*PUBLISHED_SCRAPS, *OPTIONAL_NUMBER_COLUMNS)})
    row["employment"] = scraps.employment     # experimental; None in reports made before it existed
    return row


def collect(params_root: str | Path, outputs_root: str | Path, month: str) -> Bulletin:
    """The bulletin of ``month``: every request in every month folder of ``params_root`` up to and
    including ``month`` (folders sort as text), with its status (see the module docstring) and,
    when published, the headline result from its report's scraps under ``outputs_root``.

    Raises :class:`jdl.run.requests.ParamsError` when ``month`` has no params folder or a params file
    is bad, and ValueError when a report says "published" without its headline scraps."""
    params_root, outputs_root = Path(params_root), Path(outputs_root)
    if not (params_root / month).is_dir():
        raise ParamsError(f"{params_root / month}: no such params folder")
    rows = []
    for folder in (m for m in month_folders(params_root) if m <= month):
        outcomes = read_run(outputs_root / folder / RUN_JSON)
        # the bulletin never opens an upload, so it is not held to the uploads folder (the run was)
        for request in load_month(params_root / folder, confine=False):
            report = outputs_root / folder / request.id / REPORT_NOTEBOOK
            rows.append(_row(request, report, outcomes.get(request.id)))
    requests = pd.DataFrame(rows, columns=list(COLUMNS))
    for name in COUNT_COLUMNS:
        requests[name] = requests[name].astype("Int64")
    for name in (*NUMBER_COLUMNS, *OPTIONAL_NUMBER_COLUMNS):
        requests[name] = requests[name].astype("float64")
    return Bulletin(month=month, requests=requests)


# ---------------------------------------------------------------- the bulletin


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _join(parts: list[str]) -> str:
    """"a", "a and b", "a, b and c" (no serial comma)."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _label(organisation: str, programme: str) -> str:
    return f"{programme} run by {organisation}"


@dataclass(frozen=True)
class Bulletin:
    """The bulletin of ``month`` (a month folder name, e.g. "2014-03"): ``requests`` holds one row
    per request to date with the columns :data:`COLUMNS` (rates, differences, bounds as
    proportions; NaN/<NA> where a request has no result; ``standard_error`` also NaN for a published
    report made before that scrap existed; ``employment`` the report's experimental employment
    scrap, a dict, or None), sorted by month and id."""

    month: str
    requests: pd.DataFrame

    # ---------------------------------------------------- plain numbers

    @property
    def title(self) -> str:
        """"Justice Data Lab statistics: March 2014"."""
        return f"Justice Data Lab statistics: {month_label(self.month)}"

    @property
    def month_label(self) -> str:
        """The month in words: "March 2014"."""
        return month_label(self.month)

    @property
    def published_requests(self) -> pd.DataFrame:
        """The published requests to date (rows of :attr:`requests`)."""
        return self.requests[self.requests["status"] == Status.PUBLISHED]

    @property
    def this_month(self) -> pd.DataFrame:
        """The requests of this month's params folder (rows of :attr:`requests`)."""
        return self.requests[self.requests["month"] == self.month]

    def count(self, status: Status) -> int:
        """The number of requests to date with ``status`` (``Status.RECEIVED`` counts them all)."""
        if status == Status.RECEIVED:
            return len(self.requests)
        return int((self.requests["status"] == status).sum())

    @property
    def received(self) -> int:
        return self.count(Status.RECEIVED)

    @property
    def published(self) -> int:
        return self.count(Status.PUBLISHED)

    @property
    def not_processed(self) -> int:
        return self.count(Status.NOT_PROCESSED)

    @property
    def withdrawn(self) -> int:
        return self.count(Status.WITHDRAWN)

    @property
    def in_progress(self) -> int:
        return self.count(Status.IN_PROGRESS)

    @property
    def failed(self) -> int:
        return self.count(Status.FAILED)

    @property
    def published_this_month(self) -> int:
        return int((self.this_month["status"] == Status.PUBLISHED).sum())

    @property
    def counts(self) -> dict[Status, int]:
        """Requests to date by status: {"received", "published", "not processed", "withdrawn",
        "failed", "in progress"} (:class:`jdl.contract.Status`) -> int (every key always present;
        received is the total)."""
        return {status: self.count(status) for status in COUNT_ORDER}

    @property
    def tally(self) -> dict[Verdict, int]:
        """Published results to date by verdict: {"significant reduction", "significant increase",
        "inconclusive"} (:class:`jdl.contract.Verdict`) -> int."""
        verdicts = self.published_requests["verdict"]
        return {verdict: int((verdicts == verdict).sum()) for verdict in HEADLINE_VERDICTS}

    # ---------------------------------------------------- words

    def counts_table(self) -> pd.DataFrame:
        """The counts as a table of strings: columns "Requests", "To date", "This month"; one row per
        status in :data:`COUNT_ORDER`, the "Failed" row only when some have failed to date."""
        this_month = Bulletin(self.month, self.this_month)
        rows = [[COUNT_LABELS[status], words.count(self.count(status)), words.count(this_month.count(status))]
                for status in COUNT_ORDER if status != Status.FAILED or self.failed > 0]
        return pd.DataFrame(rows, columns=["Requests", "To date", "This month"])

    @property
    def headline(self) -> str:
        """The headline paragraph: requests received to date, reports published (and how many this
        month), then what became of the rest (only the statuses that occur)."""
        received, published = self.received, self.published
        if received == 0:
            return "To date, the Justice Data Lab has received no requests for re-offending information."
        opening = (f"To date, the Justice Data Lab has received {words.count(received)} "
                   f"{_plural(received, 'request', 'requests')} for re-offending information, ")
        if published == 0:
            opening += "which has not been published yet" if received == 1 else "none of which have been published yet"
        else:
            opening += (f"including {words.count(published)} {_plural(published, 'report', 'reports')} which "
                        f"{_plural(published, 'has', 'have')} been published")
            if self.published_this_month:
                opening += f" ({words.count(self.published_this_month)} this month)"
        sentences = [opening + "."]
        rest = []
        if self.not_processed:
            rest.append(f"{words.count(self.not_processed)} could not be processed because the minimum "
                        f"criteria were not met")
        if self.withdrawn:
            n = self.withdrawn
            rest.append(f"{words.count(n)} {_plural(n, 'was', 'were')} withdrawn by the organisation that "
                        f"sent {_plural(n, 'it', 'them')}")
        if self.failed:
            rest.append(f"{words.count(self.failed)} could not be completed because the analysis stopped "
                        f"with an error")
        if self.in_progress:
            n = self.in_progress
            rest.append(f"{words.count(n)} {_plural(n, 'is', 'are')} still in progress")
        if rest:
            sentences.append(f"Of the rest, {_join(rest)}.")
        return " ".join(sentences)

    def finding(self, row) -> str:
        """One line for a request (a row of :attr:`requests`), e.g. "Gateway Mentoring run by
        Footprints: inconclusive; the re-offending rate was 24% against 27% for the comparison group
        (difference -3 percentage points, 95% interval -9 to 3)."; a request not processed gives the
        reason its report gave (the lab's words), a failed, withdrawn or in-progress one says so."""
        label = _label(row["organisation"], row["programme"])
        status = row["status"]
        if status == Status.NOT_PROCESSED:
            reason = row.get("reason")
            if isinstance(reason, str) and reason.strip():
                return f"{label}: not processed because {reason.strip().rstrip('.')}."
            return f"{label}: not processed; the minimum criteria were not met."
        if status == Status.FAILED:
            return f"{label}: failed; the analysis stopped with an error and will be run again."
        if status == Status.WITHDRAWN:
            return f"{label}: withdrawn by the organisation that sent it."
        if status == Status.IN_PROGRESS:
            return f"{label}: in progress; its report is not finished yet."
        if status != Status.PUBLISHED:
            raise ValueError(f"request {row['id']} is {status}: it has no finding")
        return (f"{label}: {row['verdict']}; the re-offending rate was {words.percent(row['treated_rate'])} "
                f"against {words.percent(row['comparison_rate'])} for the comparison group (difference "
                f"{words.difference(HEADLINE_MEASURE, row['difference'])}, 95% interval "
                f"{words.interval(row['lower'], row['upper'])}).")

    @property
    def findings(self) -> list[str]:
        """This month's requests, one line each (see :meth:`finding`), in id order."""
        return [self.finding(row) for _, row in self.this_month.iterrows()]

    @property
    def tally_sentence(self) -> str:
        """The running tally in words, e.g. "Of the 3 results published to date, 1 shows a
        significant reduction in re-offending, 1 a significant increase and 1 is inconclusive."."""
        n = self.published
        if n == 0:
            return "No results have been published yet."
        tally = self.tally
        reductions, increases, inconclusive = (tally[v] for v in HEADLINE_VERDICTS)
        head = (f"Of the {words.count(n)} results published to date" if n > 1
                else "Of the 1 result published to date")
        return (f"{head}, {words.count(reductions)} {_plural(reductions, 'shows', 'show')} a significant "
                f"reduction in re-offending, {words.count(increases)} a significant increase and "
                f"{words.count(inconclusive)} {_plural(inconclusive, 'is', 'are')} inconclusive.")


# ---------------------------------------------------------------- markdown for the notebook


def table_style(frame: pd.DataFrame, name: str):
    """``frame`` (a table of the bulletin) as the pandas Styler the notebook displays: every cell
    and column heading HTML-escaped (organisations' and programmes' names come from params files
    and must show as text, never as markup), no index, and the fixed table id ``name`` (a Styler's
    id is random by default, which would make two runs of the same bulletin differ).

    House style (the reports' report.css, whose row labels and cells of text are left-aligned): a
    column of words (every non-empty cell holds a word of three letters or more: names, months,
    verdicts, notes; never numbers or intervals) is left-aligned, heading and cells, by the table's
    own style rules (keyed by column position, never by its text); numbers stay right-aligned.
    (Long cells of text also get report.css's ``jdl-text`` class when the page is printed.)"""
    text = [i for i, column in enumerate(frame.columns) if _is_text_column(frame[column])]
    rules = [{"selector": f"{cell}.col{i}", "props": "text-align: left;"} for i in text
             for cell in ("th.col_heading", "td")]
    return (frame.style.format(escape="html").format_index(escape="html", axis=1)
            .hide(axis="index").set_uuid(name).set_table_styles(rules))


_WORD = re.compile(r"[A-Za-z]{3,}")


def _is_text_column(values: pd.Series) -> bool:
    """Whether every non-empty cell of ``values`` holds a word (see :func:`table_style`)."""
    cells = [str(v) for v in values if pd.notna(v) and str(v).strip()]
    return bool(cells) and all(_WORD.search(cell) for cell in cells)


def findings_markdown(bulletin: Bulletin) -> str:
    """This month's findings as a Markdown bullet list (or a sentence saying there are none)."""
    lines = bulletin.findings
    if not lines:
        return f"No requests are listed for {words.markdown_text(bulletin.month_label)}."
    return markdown_list(lines)


# ---------------------------------------------------------------- table and chart


def results_table(bulletin: Bulletin) -> pd.DataFrame:
    """Every published result to date as a table of strings with :data:`RESULTS_COLUMNS`, in month
    and id order: the month in words, "organisation: programme", the treatment and comparison
    sizes (people, with separators: "432 / 5,066"), the two one-year proven re-offending rates
    (whole per cent: "40% / 46%"), the difference (treatment minus comparison) and its 95% interval
    (whole percentage points, number only: "-3", "-9 to 3"), the p-value (two decimals, "<0.01"
    below 0.005) and the verdict."""
    rows = [[month_label(r["month"]), f"{r['organisation']}: {r['programme']}",
             f"{words.count(r['n_treated'])} / {words.count(r['n_comparison'])}",
             f"{words.percent(r['treated_rate'])} / {words.percent(r['comparison_rate'])}",
             words.points(r["difference"]), interval_cell(r['lower'], r['upper']),
             words.p_value(r["p_value"]), r["verdict"]]
            for _, r in bulletin.published_requests.iterrows()]
    return pd.DataFrame(rows, columns=list(RESULTS_COLUMNS))


# The experimental employment table (issue 16): the share in P45 employment at any time in the year after.
EMPLOYMENT_HEADING = "Experimental: employment in the year after"
EMPLOYMENT_INTRO = (
    "Experimental statistics: the share of each group in P45 employment at any time in the year after the "
    "index date, from P45 employment records (DWP and HMRC data) linked to the people analysed (the Justice "
    "Data Lab added employment and benefit outcomes from July 2018 as experimental statistics). Each report compares "
    "them with the same matched groups and the same test as re-offending; they do not change its verdict. The "
    "difference is treatment minus comparison, with its 95% interval, in percentage points.")
EMPLOYMENT_MEASURE = "employed_in_year"
EMPLOYMENT_COLUMNS = ("Month", "Organisation: programme", "In P45 employment (treatment / comparison)",
                      "Difference (percentage points)", "95% interval", "Significant")
EMPLOYMENT_NOT_SHOWN = "not shown: too few with or without the outcome"
EMPLOYMENT_NOT_RECORDED = "not recorded: report made before these outcomes"


def employment_table(bulletin: Bulletin) -> pd.DataFrame:
    """The experimental employment table: one row per published request to date (month and id
    order) with :data:`EMPLOYMENT_COLUMNS`: the month in words, "organisation: programme", the
    treatment and comparison shares in P45 employment at any time in the year after (whole per
    cent: "45% / 26%"), the difference and its 95% interval (whole percentage points, number only)
    and "Yes"/"No" for significance; "not shown" where the report's gate stopped the measure
    (:data:`EMPLOYMENT_NOT_SHOWN`) and "not recorded" for a report made before the scrap existed
    (:data:`EMPLOYMENT_NOT_RECORDED`), the other cells then empty. Read only from the reports'
    ``employment`` scraps (aggregates)."""
    rows = []
    for _, r in bulletin.published_requests.iterrows():
        label = [month_label(r["month"]), f"{r['organisation']}: {r['programme']}"]
        scrap = r["employment"] if isinstance(r["employment"], dict) else None
        entry = scrap.get(EMPLOYMENT_MEASURE) if scrap is not None else None
        if not _usable_employment(entry):
            rows.append([*label, EMPLOYMENT_NOT_RECORDED, "", "", ""])
        elif not entry.get("shown"):
            rows.append([*label, EMPLOYMENT_NOT_SHOWN, "", "", ""])
        else:
            rows.append([*label, f"{words.percent(entry['treated_mean'])} / {words.percent(entry['comparison_mean'])}",
                         words.points(entry["difference"]), interval_cell(entry["lower"], entry["upper"]),
                         "Yes" if entry["significant"] else "No"])
    return pd.DataFrame(rows, columns=list(EMPLOYMENT_COLUMNS))


def _usable_employment(entry) -> bool:
    """Whether a report's ``employed_in_year`` scrap entry can be shown: a dict that is either
    marked not shown or holds finite numbers for the shares, the difference and its bounds and a
    bool for significance (scraps are read back as JSON: anything else is shown as not recorded
    rather than stopping the bulletin)."""
    if not isinstance(entry, dict):
        return False
    if not entry.get("shown"):
        return True
    numbers = [entry.get(k) for k in ("treated_mean", "comparison_mean", "difference", "lower", "upper")]
    return (all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers)
            and isinstance(entry.get("significant"), bool))


def forest_labels(bulletin: Bulletin) -> list[str]:
    """The forest plot's row labels, "organisation: programme", one per published result in month
    and id order; a label used twice gets its month in brackets."""
    return _labels_with_months(bulletin.published_requests)


def _labels_with_months(rows: pd.DataFrame) -> list[str]:
    """"organisation: programme" for each of ``rows`` (rows of :attr:`Bulletin.requests`); a label
    used twice gets its month in brackets."""
    labels = [f"{r['organisation']}: {r['programme']}" for _, r in rows.iterrows()]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [f"{label} ({month_label(month)})" if label in repeated else label
            for label, month in zip(labels, rows["month"])]


def _forest_axes(n: int):
    """A forest plot's figure and axes for ``n`` rows, with the vertical line at zero."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, max(2.5, 1.6 + 0.36 * n)), layout="constrained")
    axes = figure.subplots()
    axes.axvline(0, color="0.3", linewidth=1, zorder=1)
    return figure, axes


def _plot_results(axes, results: pd.DataFrame, rows, palette) -> None:
    """Each of ``results`` (rows of :attr:`Bulletin.requests`) as its difference with its 95%
    interval in percentage points at height ``rows``, in its verdict's marker and colour."""
    rows = np.asarray(rows)
    for verdict, (legend, marker, colour) in FOREST_STYLE.items():
        chosen = (results["verdict"] == verdict).to_numpy()
        if not chosen.any():
            continue
        centre = results["difference"].to_numpy()[chosen] * 100
        error = [centre - results["lower"].to_numpy()[chosen] * 100, results["upper"].to_numpy()[chosen] * 100 - centre]
        axes.errorbar(centre, rows[chosen], xerr=error, fmt=marker, color=palette[colour], ecolor=palette[colour],
                      elinewidth=1.5, capsize=3, markersize=7, label=legend, zorder=2)


def _label_rows(axes, labels: list[str]) -> None:
    """Row labels (wrapped), rows top to bottom, the x axis's title and grid."""
    n = len(labels)
    axes.set_yticks(range(n), [textwrap.fill(words.plot_text(label), LABEL_WIDTH) for label in labels], fontsize=9,
                    multialignment="right")
    axes.set_ylim(n - 0.5, -0.5) if n else axes.set_ylim(0.5, -0.5)
    axes.set_xlabel("Difference in re-offending rate (percentage points)\n"
                    "treatment minus comparison, with 95% interval")
    axes.grid(axis="x", color="0.9", zorder=0)
    axes.set_axisbelow(True)


def _no_results(axes) -> None:
    axes.set_xlim(-10, 10)
    axes.text(0.5, 0.5, "No results published yet", transform=axes.transAxes, ha="center", va="center")


def forest_plot(bulletin: Bulletin):
    """A forest plot of every published headline difference (treatment minus comparison, in
    percentage points) with its 95% interval: one row per request, labelled "organisation:
    programme" (wrapped when long), top to bottom in month and id order; a vertical line at zero; significant
    reductions, significant increases and inconclusive results in their own marker and colour,
    with a legend. Returns a :class:`matplotlib.figure.Figure` (not saved, not registered with
    pyplot)."""
    import seaborn as sns

    published = bulletin.published_requests.reset_index(drop=True)
    labels = forest_labels(bulletin)
    n = len(published)
    figure, axes = _forest_axes(n)
    _plot_results(axes, published, np.arange(n), sns.color_palette("colorblind", 10))
    _label_rows(axes, labels)
    if n:
        figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    else:
        _no_results(axes)
    axes.set_title(f"Published results to {month_label(bulletin.month)}", loc="left")
    return figure


# ---------------------------------------------------------------- the evidence library

# The programme type jdl.run.requests gives a request whose params file names none: such results are
# listed under it but never pooled (they share no type).
UNTYPED = "other"
# The between-programme variance estimator passed to statsmodels' combine_effects: DerSimonian-Laird.
METHOD_RE = "dl"

# What became of each published result in the library (the "pooling" column of library_results).
POOLED = "pooled"
ONE_RESULT = "one result: not pooled"
ONLY_ONE_WITH_ERROR = "the only result of its type with a standard error: not pooled"
NO_STANDARD_ERROR = "no standard error: not pooled"
NO_TYPE = "no programme type given: not pooled"

LIBRARY_COLUMNS = ("Programme type", "Organisation", "Programme", "People", "Difference (percentage points)",
                   "95% interval", "Verdict", "Pooled")
# "Spread (tau)": the square root of tau², the between-programme variance, in percentage points.
POOLED_COLUMNS = ("Programme type", "Results", "Pooled", "People pooled", "Pooled difference (percentage points)",
                  "95% interval", "Spread (tau)", "I²", "Note")

LIBRARY_INTRO = (
    "The published results grouped by the type of programme, as each organisation's request gave it. "
    "For each type with at least two published results, a pooled difference in the one-year proven "
    "re-offending rate summarises them. These figures are descriptive. A pooled figure summarises different "
    "programmes, run by different organisations for different people, each compared with its own matched "
    "comparison group: it describes the evidence published so far and is not a finding that a type of "
    "programme works, or that it does not.")
POOLED_INTRO = (
    "For each programme type: the results published and pooled, the people in the pooled results' treatment "
    "groups, the pooled difference (treatment minus comparison) with its 95% interval in percentage points, "
    "the spread between programmes (tau, the square root of the between-programme variance tau², in "
    "percentage points) and I² (the share of the variation between the results beyond chance).")
FEW_RESULTS_NOTE = (
    "A random-effects estimate from few results is very uncertain: with two or three results the variation "
    "between programmes is estimated poorly, and the 95% interval of a pooled figure may well be too narrow. "
    "A pooled figure can change a lot when the next result of its type is published.")
METHOD_NOTE = (
    "Method: DerSimonian-Laird random effects (statsmodels' combine_effects with method_re=\"dl\"), the "
    "standard one-step estimator, which has a closed form, so every pooled figure can be checked by hand. Each "
    "result's difference (treatment minus comparison) is weighted by one over the sum of its own variance (its "
    "Welch standard error squared) and tau², the variance of the true differences between programmes of the "
    "type. When the estimate of tau² is negative it is set to zero (statsmodels leaves it negative) and the "
    "pooled figure is then the inverse-variance (fixed-effect) average. The 95% interval uses the normal "
    "distribution. I² is (Q - (k - 1)) / Q, set to zero when negative, where Q is Cochran's heterogeneity "
    "statistic and k the number of results pooled.")
TYPES_NOTE = (
    f"Each request gives its programme's type from the lab's list of types ({', '.join(PROGRAMME_TYPES)}). "
    "Results of type \"other\" are listed but never pooled, "
    "since those programmes share nothing but not fitting the list.")


def _type_order(programme_type: str) -> tuple:
    """Sort key of the library's types: alphabetical (ignoring case), "other" last."""
    return programme_type == UNTYPED, programme_type.casefold(), programme_type


def _type_label(programme_type: str) -> str:
    """A programme type as a heading: its first letter in capitals ("Mentoring and support")."""
    return programme_type[:1].upper() + programme_type[1:]


def _usable_error(standard_error) -> bool:
    return bool(pd.notna(standard_error) and np.isfinite(standard_error) and standard_error > 0)


def library_results(bulletin: Bulletin) -> pd.DataFrame:
    """The published results to date (rows of :attr:`Bulletin.requests`, numbers as proportions)
    in library order (programme type alphabetically, "other" last; then month and id), with a
    column ``pooling`` saying what became of each: :data:`POOLED` when its type has at least two
    results with a standard error (a positive, finite ``standard_error``), :data:`ONE_RESULT` for a
    type's only result, :data:`NO_STANDARD_ERROR` for a result without one (a report made before the
    scrap existed), :data:`ONLY_ONE_WITH_ERROR` for the one result with a standard error of a type
    whose others have none, and :data:`NO_TYPE` for every result of type "other"."""
    published = bulletin.published_requests.copy()
    published["programme_type"] = published["programme_type"].fillna(UNTYPED)
    order = sorted(range(len(published)), key=lambda i: (_type_order(published["programme_type"].iloc[i]),
                                                         published["month"].iloc[i], published["id"].iloc[i]))
    published = published.iloc[order].reset_index(drop=True)
    usable = published["standard_error"].map(_usable_error)
    by_type = usable.groupby(published["programme_type"])
    pooling = []
    for programme_type, has_error, with_error, results in zip(
            published["programme_type"], usable, by_type.transform("sum"), by_type.transform("size")):
        if programme_type == UNTYPED:
            pooling.append(NO_TYPE)
        elif not has_error:
            pooling.append(NO_STANDARD_ERROR)
        elif with_error >= 2:
            pooling.append(POOLED)
        else:
            pooling.append(ONE_RESULT if results == 1 else ONLY_ONE_WITH_ERROR)
    published["pooling"] = pd.Series(pooling, index=published.index, dtype="object")
    return published


@dataclass(frozen=True)
class PooledEstimate:
    """A random-effects pooled rate difference (proportions): ``k`` results pooled, the pooled
    ``difference`` with its 95% interval (``lower``, ``upper``) and ``standard_error``, the
    between-programme variance ``tau2`` (squared proportions; 0 when its estimate is not positive),
    ``i2`` (a proportion: the share of the variation between results beyond chance; 0 when Q is
    below k - 1) and Cochran's ``q``."""

    k: int
    difference: float
    lower: float
    upper: float
    standard_error: float
    tau2: float
    i2: float
    q: float


def pool(differences, standard_errors, alpha: float = 0.05) -> PooledEstimate:
    """Pool rate differences (proportions) with their standard errors by DerSimonian-Laird random
    effects (statsmodels' ``combine_effects(effect, variance, method_re="dl")``, variance the standard
    error squared, normal-distribution interval at level 1 - ``alpha``).

    statsmodels does not truncate the DerSimonian-Laird tau² at zero; here a negative (or zero)
    estimate gives tau² = 0, and the pooled difference and interval are then the fixed-effect
    (inverse-variance) ones from the same fit, which is what the random-effects formulas give with
    tau² = 0. Raises ValueError for fewer than two results or a standard error that is not positive
    and finite."""
    from statsmodels.stats.meta_analysis import combine_effects

    effect = np.asarray(differences, dtype="float64")
    error = np.asarray(standard_errors, dtype="float64")
    if effect.ndim != 1 or effect.shape != error.shape or len(effect) < 2:
        raise ValueError("pooling needs at least two differences, each with its standard error")
    if not (np.isfinite(effect).all() and np.isfinite(error).all() and (error > 0).all()):
        raise ValueError("every difference must be finite and every standard error positive and finite")
    # a negative tau² makes statsmodels take square roots of negative numbers (and divide by Q): the
    # random-effects figures it then gives are not used
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = combine_effects(effect, error**2, method_re=METHOD_RE, use_t=False, alpha=alpha)
        fixed_interval, random_interval, _, _ = fit.conf_int(alpha=alpha, use_t=False)
    k, q = len(effect), float(fit.q)
    if fit.tau2 > 0:
        tau2, centre, standard_error, (lower, upper) = (float(fit.tau2), fit.mean_effect_re, fit.sd_eff_w_re,
                                                        random_interval)
    else:
        tau2, centre, standard_error, (lower, upper) = 0.0, fit.mean_effect_fe, fit.sd_eff_w_fe, fixed_interval
    i2 = (q - (k - 1)) / q if q > k - 1 else 0.0
    return PooledEstimate(k=k, difference=float(centre), lower=float(lower), upper=float(upper),
                          standard_error=float(standard_error), tau2=tau2, i2=float(i2), q=q)


def pooled_by_type(bulletin: Bulletin) -> pd.DataFrame:
    """One row per programme type with published results, in library order (see
    :func:`library_results`): ``programme_type``; ``results`` and ``people`` (published results of
    the type and the sum of their treatment groups); ``k`` and ``people_pooled`` (those pooled: 0
    when the type is not pooled); the pooled ``difference``, ``lower``, ``upper``,
    ``standard_error``, ``tau2``, ``i2`` and ``q`` of :func:`pool` (NaN when not pooled); and
    ``note``: "" when every result is pooled, otherwise why some or all are not."""
    results = library_results(bulletin)
    rows = []
    for programme_type, group in results.groupby("programme_type", sort=False):
        pooled = group[group["pooling"] == POOLED]
        row = {"programme_type": programme_type, "results": len(group), "people": int(group["n_treated"].sum()),
               "k": len(pooled), "people_pooled": int(pooled["n_treated"].sum()),
               **dict.fromkeys(("difference", "lower", "upper", "standard_error", "tau2", "i2", "q"), np.nan)}
        missing = int((group["pooling"] == NO_STANDARD_ERROR).sum())
        if len(pooled) >= 2:
            row.update(vars(pool(pooled["difference"], pooled["standard_error"])))
            row["note"] = (f"{words.count(missing)} {_plural(missing, 'result', 'results')} without a standard "
                           f"error: not pooled" if missing else "")
        elif programme_type == UNTYPED:
            row["note"] = NO_TYPE
        elif len(group) == 1:
            row["note"] = NO_STANDARD_ERROR if missing else ONE_RESULT
        else:
            row["note"] = "fewer than two results with a standard error: not pooled"
        rows.append(row)
    columns = ["programme_type", "results", "people", "k", "people_pooled", "difference", "lower", "upper",
               "standard_error", "tau2", "i2", "q", "note"]
    return pd.DataFrame(rows, columns=columns)


def evidence_library(bulletin: Bulletin) -> pd.DataFrame:
    """The evidence library as a table of strings with :data:`LIBRARY_COLUMNS`: every published
    result to date, grouped by programme type (see :func:`library_results` for the order), with its
    organisation, programme, people (treatment group size), the difference in the one-year proven
    re-offending rate and its 95% interval (whole percentage points, numbers only; never wrapped:
    non-breaking spaces), the verdict, and whether it is pooled ("yes", or why not: e.g. "one
    result: not pooled")."""
    results = library_results(bulletin)
    rows = [[r["programme_type"], r["organisation"], r["programme"], words.count(r["n_treated"]),
             words.points(r["difference"]), interval_cell(r['lower'], r['upper']),
             r["verdict"], "yes" if r["pooling"] == POOLED else r["pooling"]]
            for _, r in results.iterrows()]
    return pd.DataFrame(rows, columns=list(LIBRARY_COLUMNS))


def _spread(tau2: float) -> str:
    """tau (the square root of ``tau2``, squared proportions) in words: "about 3 percentage points",
    "under half a percentage point"."""
    text = words.points(math.sqrt(tau2))
    if text == "0":
        return "under half a percentage point"
    return f"about {text} percentage {'point' if text == '1' else 'points'}"


def pooled_table(bulletin: Bulletin) -> pd.DataFrame:
    """The pooled figures per programme type as a table of strings with :data:`POOLED_COLUMNS`:
    results listed and pooled, people in the pooled results, the pooled difference and its 95%
    interval (whole percentage points, numbers only), the spread between programmes tau (the square
    root of tau², whole percentage points), I² (whole per cent) and the note; the figures are blank
    for a type that is not pooled."""
    rows = []
    for _, r in pooled_by_type(bulletin).iterrows():
        if r["k"] >= 2:
            figures = [words.count(r["people_pooled"]), words.points(r["difference"]),
                       interval_cell(r['lower'], r['upper']),
                       words.points(math.sqrt(r["tau2"])), words.percent(r["i2"])]
        else:
            figures = [""] * 5
        rows.append([r["programme_type"], words.count(r["results"]), words.count(r["k"]), *figures, r["note"]])
    return pd.DataFrame(rows, columns=list(POOLED_COLUMNS))


def _pooled_sentence(r) -> str:
    """The words of a pooled type (a row of :func:`pooled_by_type` with k >= 2)."""
    k, people = int(r["k"]), int(r["people_pooled"])
    opening = (f"{_type_label(r['programme_type'])}: {words.count(k)} results pooled "
               f"({words.count(people)} people in their treatment groups)")
    left_out = int(r["results"]) - k
    if left_out:
        opening += (f"; {words.count(left_out)} more {_plural(left_out, 'result', 'results')} without a "
                    f"standard error listed but not pooled")
    figures = (f"{opening}. The pooled difference in the one-year proven re-offending rate is "
               f"{words.difference(HEADLINE_MEASURE, r['difference'])}, 95% interval "
               f"{words.interval(r['lower'], r['upper'])}.")
    if r["upper"] < 0:
        reading = ("The interval is below zero: taken together, these results describe lower re-offending among "
                   "the programmes' participants than among the similar people they were compared with.")
    elif r["lower"] > 0:
        reading = ("The interval is above zero: taken together, these results describe higher re-offending among "
                   "the programmes' participants than among the similar people they were compared with.")
    else:
        reading = ("The interval includes zero: taken together, these results do not show whether re-offending "
                   "was lower or higher among the programmes' participants than among similar people.")
    if r["tau2"] > 0:
        spread = (f"Between programmes: I² is {words.percent(r['i2'])}, the share of the variation between the "
                  f"results estimated to be beyond what chance alone would give, and tau², the estimated variance "
                  f"of the programmes' true differences, amounts to a spread of {_spread(r['tau2'])}.")
    else:
        spread = ("Between programmes: the results vary by less than chance alone would typically make them vary, "
                  "so tau² and I² are both estimated as 0; with so few results this does not show that the "
                  "programmes' effects are alike.")
    return f"{figures} {reading} {spread}"


def library_sentences(bulletin: Bulletin) -> list[str]:
    """One paragraph per programme type with published results, in library order: for a pooled type
    its pooled difference and interval, what the interval says (decided on the unrounded bounds;
    never "no effect") and the heterogeneity (I² and tau in words); for the others why they are not
    pooled, e.g. "Arts: one result: not pooled."."""
    sentences = []
    for _, r in pooled_by_type(bulletin).iterrows():
        label, n = _type_label(r["programme_type"]), int(r["results"])
        if r["k"] >= 2:
            sentences.append(_pooled_sentence(r))
        elif r["programme_type"] == UNTYPED:
            sentences.append(f"{label} (no programme type given): {words.count(n)} "
                             f"{_plural(n, 'result', 'results')}, listed but not pooled.")
        elif n == 1:
            sentences.append(f"{label}: one result: not pooled"
                             + (" (it has no standard error)." if r["note"] == NO_STANDARD_ERROR else "."))
        else:
            sentences.append(f"{label}: {words.count(n)} results, fewer than two of them with a standard error: "
                             f"not pooled.")
    return sentences


def library_notes(bulletin: Bulletin) -> list[str]:
    """The notes under the evidence library: how uncertain pooled figures from few results are, the
    method (DerSimonian-Laird), the programme types and, when some published results have no
    standard error, which ones (listed but not pooled)."""
    results = library_results(bulletin)
    notes = [FEW_RESULTS_NOTE, METHOD_NOTE, TYPES_NOTE]
    missing = results[~results["standard_error"].map(_usable_error)]
    if len(missing):
        n = len(missing)
        notes.append(f"{words.count(n)} published {_plural(n, 'result comes', 'results come')} from "
                     f"{_plural(n, 'a report', 'reports')} made before the standard error of the difference was "
                     f"recorded ({'; '.join(_labels_with_months(missing))}): listed but not pooled.")
    return notes


def markdown_list(lines: list[str]) -> str:
    """``lines`` as a Markdown bullet list, each line escaped (see :func:`jdl.words.markdown_text`)."""
    return "\n".join(f"- {words.markdown_text(line)}" for line in lines)


def library_forest_plot(bulletin: Bulletin):
    """The evidence library's forest plot: per programme type (in library order) a heading row,
    then each published result's difference (treatment minus comparison, percentage points) with
    its 95% interval, marked by verdict as in :func:`forest_plot`, then, for a pooled type, its
    pooled difference as a diamond spanning its 95% interval; a vertical line at zero. Returns a
    :class:`matplotlib.figure.Figure` (not saved, not registered with pyplot)."""
    import seaborn as sns
    from matplotlib.patches import Polygon

    results = library_results(bulletin)
    pooled = pooled_by_type(bulletin).set_index("programme_type")
    result_labels = _labels_with_months(results)
    labels, kinds, result_rows, diamonds = [], [], [], []
    for programme_type, group in results.groupby("programme_type", sort=False):
        labels.append(_type_label(programme_type))
        kinds.append("type")
        for index in group.index:
            result_rows.append(len(labels))
            labels.append(result_labels[index])
            kinds.append("result")
        if pooled.loc[programme_type, "k"] >= 2:
            diamonds.append((len(labels), pooled.loc[programme_type]))
            labels.append(f"Pooled, {pooled.loc[programme_type, 'k']} results")
            kinds.append("pooled")
    n = len(labels)
    figure, axes = _forest_axes(n)
    palette = sns.color_palette("colorblind", 10)
    _plot_results(axes, results, result_rows, palette)
    for i, (y, estimate) in enumerate(diamonds):
        lower, centre, upper = (estimate[name] * 100 for name in ("lower", "difference", "upper"))
        axes.add_patch(Polygon([(lower, y), (centre, y - 0.3), (upper, y), (centre, y + 0.3)], closed=True,
                               facecolor=palette[0], edgecolor=palette[0], zorder=3, gid="pooled",
                               label="Pooled (random effects)" if i == 0 else "_nolegend_"))
    _label_rows(axes, labels)
    for tick, kind in zip(axes.get_yticklabels(), kinds):
        if kind == "type":
            tick.set_fontweight("bold")
        elif kind == "pooled":
            tick.set_fontstyle("italic")
    for y, kind in enumerate(kinds):
        if kind == "type" and y > 0:
            axes.axhline(y - 0.5, color="0.85", linewidth=0.8, zorder=0)
    if n:
        axes.autoscale_view()
        handles, legend_labels = axes.get_legend_handles_labels()
        # the verdicts first, in forest_plot's order, then the pooled diamond
        order = sorted(range(len(handles)), key=lambda i: isinstance(handles[i], Polygon))
        handles, legend_labels = [handles[i] for i in order], [legend_labels[i] for i in order]
        figure.legend(handles, legend_labels, loc="outside lower center", ncol=min(4, len(handles)),
                      frameon=False)
    else:
        _no_results(axes)
    axes.set_title(f"Evidence library to {month_label(bulletin.month)}: results by programme type", loc="left")
    return figure


# ---------------------------------------------------------------- building the summary


def build_summary(month: str, params_root: str | Path = "params", outputs_root: str | Path = "outputs",
                  publish: bool = True, template: str | Path | None = None,
                  publication_date: dt.date | str | None = None) -> Path:
    """Execute the summary notebook ``template`` (default: the one installed with jdl,
    :func:`jdl.paths.installed_notebook`) for ``month`` with papermill into
    ``<outputs_root>/<month>/summary.ipynb`` (written to a temporary file beside it and renamed, so
    a crash never leaves a half-written file) and, when ``publish``, write ``summary.html`` and
    ``summary.pdf`` beside it with :func:`jdl.report.publish.publish`. ``publication_date`` (a date or
    ISO string) is the date the bulletin states it was published (default: the run date; the next
    release date follows from it, :func:`next_release`). Returns the executed notebook's path.

    Raises :class:`jdl.run.requests.ParamsError` when ``month`` has no params folder, and papermill's
    PapermillExecutionError when the notebook fails (then no summary.ipynb is written)."""
    import papermill

    from jdl.atomic import atomic_path
    from jdl.paths import SUMMARY_TEMPLATE, installed_notebook
    from jdl.run.engine import ENGINE_NAME
    from jdl.run.runner import PrivateKernelManager

    params_root, outputs_root = Path(params_root).resolve(), Path(outputs_root).resolve()
    if not (params_root / month).is_dir():
        raise ParamsError(f"{params_root / month}: no such params folder")
    release_dates(publication_date)  # a publication date that is not a date fails here, not in the notebook
    out_dir = outputs_root / month
    notebook = out_dir / SUMMARY_NAME
    with contextlib.ExitStack() as held:
        if template is None:
            template = held.enter_context(installed_notebook(SUMMARY_TEMPLATE))
        with atomic_path(notebook) as temp:
            papermill.execute_notebook(str(template), str(temp), cwd=str(out_dir), progress_bar=False,
                                       kernel_manager_class=PrivateKernelManager, engine_name=ENGINE_NAME,
                                       parameters={"month": month, "params_root": str(params_root),
                                                   "outputs_root": str(outputs_root),
                                                   "publication_date": str(publication_date or "")})
    if publish:
        from jdl.report.publish import publish as publish_notebook

        publish_notebook(notebook, out_dir)
    return notebook
