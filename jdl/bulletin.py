"""The summary bulletin (methodology section 8): every request to date, its status and, for the
published ones, the headline result its executed report glued.

:func:`collect` reads the params folders and the scraps of the executed report notebooks (never a
person-level table: only the aggregates in :data:`jdl.requests.SCRAPS`) into a :class:`Bulletin`;
:func:`results_table` and :func:`forest_plot` turn it into the bulletin's table and chart; the
:class:`Bulletin` itself gives the counts, the tally, the headline paragraph and this month's
findings in words. ``notebooks/monthly_summary.ipynb`` shows them; :func:`build_summary` executes it
with papermill and publishes it.

Where a request's status comes from, for every params file in a month folder up to and including
the bulletin's month (month folders sort as text, e.g. ``2014-03``):

- ``status: withdrawn`` or ``status: in progress`` in the params file: that status;
- a received request with an executed report ``outputs/<month>/<id>/report.ipynb``: the report's
  ``status`` scrap ("published" or "not processed"); a report without a valid ``status`` scrap, or
  one papermill marked as stopped by an exception, is "failed";
- a received request without a report: "failed" if the month runner's ``outputs/<month>/run.json``
  says so, otherwise "in progress" (received but not yet run). Without a run.json the statuses
  come from the params files and the scraps only.

Units: rates, differences and interval bounds are proportions (0.24), as the scraps hold them;
words and tables print them through :mod:`jdl.words` (whole per cent, whole percentage points).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jdl import words
from jdl.measures import MEASURES
from jdl.requests import (FAILED, IN_PROGRESS, NOT_PROCESSED, NOT_PROCESSED_VERDICT, PUBLISHED, RECEIVED,
                          REPORT_NOTEBOOK, RUN_JSON, WITHDRAWN, ParamsError, load_month, read_report)


PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUMMARY_TEMPLATE = PROJECT_ROOT / "notebooks" / "monthly_summary.ipynb"
SUMMARY_NAME = "summary.ipynb"

HEADLINE_MEASURE = next(m for m in MEASURES if m.column == "reoffended")
REDUCTION, INCREASE, INCONCLUSIVE = words.VERDICTS

# The columns of Bulletin.requests, in order.
COLUMNS = ("month", "id", "organisation", "programme", "programme_type", "status", "verdict", "n_treated",
           "n_comparison", "treated_rate", "comparison_rate", "difference", "lower", "upper", "p_value")
COUNT_COLUMNS = ("n_treated", "n_comparison")
NUMBER_COLUMNS = ("treated_rate", "comparison_rate", "difference", "lower", "upper", "p_value")
# The scraps a published report must hold for the bulletin to show its result.
PUBLISHED_SCRAPS = ("verdict", *COUNT_COLUMNS, *NUMBER_COLUMNS)

# Statuses in the order the bulletin lists them (failed is shown only when there are some).
COUNT_ORDER = (RECEIVED, PUBLISHED, NOT_PROCESSED, WITHDRAWN, FAILED, IN_PROGRESS)
COUNT_LABELS = {
    RECEIVED: "Received",
    PUBLISHED: "Published",
    NOT_PROCESSED: "Not processed (minimum criteria not met)",
    WITHDRAWN: "Withdrawn",
    FAILED: "Failed (to be run again)",
    IN_PROGRESS: "In progress",
}

RESULTS_COLUMNS = ("Month", "Organisation", "Programme", "Treatment size", "Comparison size", "Treatment rate",
                   "Comparison rate", "Difference (percentage points)", "95% interval", "p-value", "Verdict")

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
    :class:`jdl.requests.ParamsError` when there is none."""
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
    if request.status != RECEIVED:
        return row
    if not report.is_file():
        row["status"] = FAILED if outcome and outcome.get("status") == FAILED else IN_PROGRESS
        return row
    scraps, stopped = read_report(report)
    status = scraps.get("status")
    if stopped or status not in (PUBLISHED, NOT_PROCESSED):
        row["status"] = FAILED
        return row
    row["status"] = status
    if status == NOT_PROCESSED:
        row["verdict"] = NOT_PROCESSED_VERDICT
        return row
    missing = [name for name in PUBLISHED_SCRAPS if scraps.get(name) is None]
    if missing:
        raise ValueError(f"{report}: published, but the scrap(s) {', '.join(missing)} are missing")
    if scraps["verdict"] not in words.VERDICTS:
        raise ValueError(f"{report}: published with an unknown verdict {scraps['verdict']!r}")
    row.update({name: scraps[name] for name in PUBLISHED_SCRAPS})
    return row


def collect(params_root: str | Path, outputs_root: str | Path, month: str) -> Bulletin:
    """The bulletin of ``month``: every request in every month folder of ``params_root`` up to and
    including ``month`` (folders sort as text), with its status (see the module docstring) and,
    when published, the headline result from its report's scraps under ``outputs_root``.

    Raises :class:`jdl.requests.ParamsError` when ``month`` has no params folder or a params file
    is bad, and ValueError when a report says "published" without its headline scraps."""
    params_root, outputs_root = Path(params_root), Path(outputs_root)
    if not (params_root / month).is_dir():
        raise ParamsError(f"{params_root / month}: no such params folder")
    rows = []
    for folder in (m for m in month_folders(params_root) if m <= month):
        outcomes = read_run(outputs_root / folder / RUN_JSON)
        for request in load_month(params_root / folder):
            report = outputs_root / folder / request.id / REPORT_NOTEBOOK
            rows.append(_row(request, report, outcomes.get(request.id)))
    requests = pd.DataFrame(rows, columns=list(COLUMNS))
    for name in COUNT_COLUMNS:
        requests[name] = requests[name].astype("Int64")
    for name in NUMBER_COLUMNS:
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
    proportions; NaN/<NA> where a request has no result), sorted by month and id."""

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
        return self.requests[self.requests["status"] == PUBLISHED]

    @property
    def this_month(self) -> pd.DataFrame:
        """The requests of this month's params folder (rows of :attr:`requests`)."""
        return self.requests[self.requests["month"] == self.month]

    def count(self, status: str) -> int:
        """The number of requests to date with ``status`` ("received" counts them all)."""
        if status == RECEIVED:
            return len(self.requests)
        return int((self.requests["status"] == status).sum())

    @property
    def received(self) -> int:
        return self.count(RECEIVED)

    @property
    def published(self) -> int:
        return self.count(PUBLISHED)

    @property
    def not_processed(self) -> int:
        return self.count(NOT_PROCESSED)

    @property
    def withdrawn(self) -> int:
        return self.count(WITHDRAWN)

    @property
    def in_progress(self) -> int:
        return self.count(IN_PROGRESS)

    @property
    def failed(self) -> int:
        return self.count(FAILED)

    @property
    def published_this_month(self) -> int:
        return int((self.this_month["status"] == PUBLISHED).sum())

    @property
    def counts(self) -> dict[str, int]:
        """Requests to date by status: {"received", "published", "not processed", "withdrawn",
        "failed", "in progress"} -> int (every key always present; received is the total)."""
        return {status: self.count(status) for status in COUNT_ORDER}

    @property
    def tally(self) -> dict[str, int]:
        """Published results to date by verdict: {"significant reduction", "significant increase",
        "inconclusive"} -> int."""
        verdicts = self.published_requests["verdict"]
        return {verdict: int((verdicts == verdict).sum()) for verdict in words.VERDICTS}

    # ---------------------------------------------------- words

    def counts_table(self) -> pd.DataFrame:
        """The counts as a table of strings: columns "Requests", "To date", "This month"; one row per
        status in :data:`COUNT_ORDER`, the "Failed" row only when some have failed to date."""
        this_month = Bulletin(self.month, self.this_month)
        rows = [[COUNT_LABELS[status], words.count(self.count(status)), words.count(this_month.count(status))]
                for status in COUNT_ORDER if status != FAILED or self.failed > 0]
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
        """One line for a published or not-processed request (a row of :attr:`requests`), e.g.
        "Gateway Mentoring run by Footprints: inconclusive; the re-offending rate was 24% against 27%
        for the comparison group (difference -3 percentage points, 95% interval -9 to 3)."."""
        label = _label(row["organisation"], row["programme"])
        if row["status"] == NOT_PROCESSED:
            return f"{label}: not processed; the minimum criteria were not met."
        if row["status"] != PUBLISHED:
            raise ValueError(f"request {row['id']} is {row['status']}: it has no finding")
        return (f"{label}: {row['verdict']}; the re-offending rate was {words.percent(row['treated_rate'])} "
                f"against {words.percent(row['comparison_rate'])} for the comparison group (difference "
                f"{words.difference(HEADLINE_MEASURE, row['difference'])}, 95% interval "
                f"{words.points(row['lower'])} to {words.points(row['upper'])}).")

    @property
    def findings(self) -> list[str]:
        """This month's published and not-processed requests, one line each (see :meth:`finding`),
        in id order."""
        rows = self.this_month[self.this_month["status"].isin([PUBLISHED, NOT_PROCESSED])]
        return [self.finding(row) for _, row in rows.iterrows()]

    @property
    def tally_sentence(self) -> str:
        """The running tally in words, e.g. "Of the 3 results published to date, 1 shows a
        significant reduction in re-offending, 1 a significant increase and 1 is inconclusive."."""
        n = self.published
        if n == 0:
            return "No results have been published yet."
        tally = self.tally
        reductions, increases, inconclusive = (tally[v] for v in words.VERDICTS)
        head = (f"Of the {words.count(n)} results published to date" if n > 1
                else "Of the 1 result published to date")
        return (f"{head}, {words.count(reductions)} {_plural(reductions, 'shows', 'show')} a significant "
                f"reduction in re-offending, {words.count(increases)} a significant increase and "
                f"{words.count(inconclusive)} {_plural(inconclusive, 'is', 'are')} inconclusive.")


# ---------------------------------------------------------------- markdown for the notebook


_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~])")
_MARKDOWN_BLOCK = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")


def escape_markdown(text: str) -> str:
    """``text`` with the characters Markdown would read as formatting backslash-escaped (emphasis,
    code, links, HTML, tables anywhere; a heading, quote or list marker at the start), so an
    organisation's name is shown as written. Text without them is returned unchanged."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_BLOCK.sub(lambda m: m.group(1) + "".join("\\" + c if not c.isdigit() else c
                                                              for c in m.group(2)), text)


def findings_markdown(bulletin: Bulletin) -> str:
    """This month's findings as a Markdown bullet list (or a sentence saying there are none)."""
    lines = bulletin.findings
    if not lines:
        return f"No reports were completed in {escape_markdown(bulletin.month_label)}."
    return "\n".join(f"- {escape_markdown(line)}" for line in lines)


# ---------------------------------------------------------------- table and chart


def results_table(bulletin: Bulletin) -> pd.DataFrame:
    """Every published result to date as a table of strings with :data:`RESULTS_COLUMNS`, in month
    and id order: the month in words, the organisation and programme, the treatment and comparison
    sizes (people, with separators), the two one-year proven re-offending rates (whole per cent),
    the difference (treatment minus comparison) and its 95% interval (whole percentage points,
    number only: "-3", "-9 to 3"), the p-value (two decimals, "<0.01" below 0.005) and the verdict."""
    rows = [[month_label(r["month"]), r["organisation"], r["programme"], words.count(r["n_treated"]),
             words.count(r["n_comparison"]), words.percent(r["treated_rate"]), words.percent(r["comparison_rate"]),
             words.points(r["difference"]), f"{words.points(r['lower'])} to {words.points(r['upper'])}",
             words.p_value(r["p_value"]), r["verdict"]]
            for _, r in bulletin.published_requests.iterrows()]
    return pd.DataFrame(rows, columns=list(RESULTS_COLUMNS))


def forest_labels(bulletin: Bulletin) -> list[str]:
    """The forest plot's row labels, "organisation: programme", one per published result in month
    and id order; a label used twice gets its month in brackets."""
    published = bulletin.published_requests
    labels = [f"{r['organisation']}: {r['programme']}" for _, r in published.iterrows()]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [f"{label} ({month_label(month)})" if label in repeated else label
            for label, month in zip(labels, published["month"])]


def forest_plot(bulletin: Bulletin):
    """A forest plot of every published headline difference (treatment minus comparison, in
    percentage points) with its 95% interval: one row per request, labelled "organisation:
    programme" (wrapped when long), top to bottom in month and id order; a vertical line at zero; significant
    reductions, significant increases and inconclusive results in their own marker and colour,
    with a legend. Returns a :class:`matplotlib.figure.Figure` (not saved, not registered with
    pyplot)."""
    import seaborn as sns
    from matplotlib.figure import Figure

    published = bulletin.published_requests.reset_index(drop=True)
    labels = forest_labels(bulletin)
    n = len(published)
    figure = Figure(figsize=(8, max(2.5, 1.6 + 0.36 * n)), layout="constrained")
    axes = figure.subplots()
    palette = sns.color_palette("colorblind", 10)
    axes.axvline(0, color="0.3", linewidth=1, zorder=1)
    for verdict, (legend, marker, colour) in FOREST_STYLE.items():
        rows = published[published["verdict"] == verdict]
        if rows.empty:
            continue
        centre = rows["difference"].to_numpy() * 100
        error = [centre - rows["lower"].to_numpy() * 100, rows["upper"].to_numpy() * 100 - centre]
        axes.errorbar(centre, rows.index.to_numpy(), xerr=error, fmt=marker, color=palette[colour],
                      ecolor=palette[colour], elinewidth=1.5, capsize=3, markersize=7, label=legend, zorder=2)
    axes.set_yticks(range(n), [textwrap.fill(label, LABEL_WIDTH) for label in labels], fontsize=9,
                    multialignment="right")
    axes.set_ylim(n - 0.5, -0.5) if n else axes.set_ylim(0.5, -0.5)
    axes.set_xlabel("Difference in re-offending rate (percentage points)\n"
                    "treatment minus comparison, with 95% interval")
    axes.grid(axis="x", color="0.9", zorder=0)
    axes.set_axisbelow(True)
    if n:
        figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    else:
        axes.set_xlim(-10, 10)
        axes.text(0.5, 0.5, "No results published yet", transform=axes.transAxes, ha="center", va="center")
    axes.set_title(f"Published results to {month_label(bulletin.month)}", loc="left")
    return figure


# ---------------------------------------------------------------- building the summary


def build_summary(month: str, params_root: str | Path = "params", outputs_root: str | Path = "outputs",
                  publish: bool = True, template: str | Path = SUMMARY_TEMPLATE) -> Path:
    """Execute the summary notebook ``template`` for ``month`` with papermill into
    ``<outputs_root>/<month>/summary.ipynb`` (written to a temporary file beside it and renamed, so
    a crash never leaves a half-written file) and, when ``publish``, write ``summary.html`` and
    ``summary.pdf`` beside it with :func:`jdl.publish.publish`. Returns the executed notebook's path.

    Raises :class:`jdl.requests.ParamsError` when ``month`` has no params folder, and papermill's
    PapermillExecutionError when the notebook fails (then no summary.ipynb is written)."""
    import papermill

    from jdl.atomic import atomic_path

    params_root, outputs_root = Path(params_root).resolve(), Path(outputs_root).resolve()
    if not (params_root / month).is_dir():
        raise ParamsError(f"{params_root / month}: no such params folder")
    out_dir = outputs_root / month
    notebook = out_dir / SUMMARY_NAME
    with atomic_path(notebook) as temp:
        papermill.execute_notebook(str(template), str(temp), cwd=str(out_dir), progress_bar=False,
                                   parameters={"month": month, "params_root": str(params_root),
                                               "outputs_root": str(outputs_root)})
    if publish:
        from jdl.publish import publish as publish_notebook

        publish_notebook(notebook, out_dir)
    return notebook
