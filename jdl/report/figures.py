"""Report figures that are not balance diagnostics, in the Justice Data Lab's manner: "For 100
typical people" (person icons for the rate), the frequency and the time to the first re-offence
on labelled scales, the cumulative re-offending curve with its band, the two groups' rates as
bars, and the attrition as a chevron flow. Each returns a matplotlib Figure (not shown, not kept
by pyplot), about 180 mm wide with text of at least 8 pt at that size, titled in words.

The attrition flow is drawn as chevrons of text, never as bars: a bar's length would give away a
count that disclosure control shows as "<5".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.path import Path

from jdl import words
from jdl.words import plot_text

TREATMENT_COLOUR = "#1d70b8"
COMPARISON_COLOUR = "#b1b4b6"
# Fixes the ids an SVG's elements are given, so that the same figure gives the same bytes.
SVG_HASH_SALT = "jdl"


def show_figures_as_svg() -> None:
    """Make the notebook (IPython's inline backend) show figures as SVG: vector drawings, sharp at
    any zoom and in print (Chromium prints them as vectors), drawn in about half the time of
    retina PNGs. Each figure's SVG is the same bytes on every run: no date in its metadata and
    element ids from a fixed salt. Called by the report and bulletin notebooks' first cell."""
    import matplotlib
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    matplotlib.rcParams["svg.hashsalt"] = SVG_HASH_SALT
    set_matplotlib_formats("svg", metadata={"Date": None})


def rate_chart(comparison, title: str = "One-year proven re-offending rate") -> Figure:
    """Bars of the treatment and comparison groups' rates (``comparison``: a
    :class:`jdl.stats.compare.Comparison` of a rate, proportions) in per cent, with their 95%
    intervals as error bars and the rounded rate printed on each bar."""
    from jdl.words import percent

    means = np.array([comparison.treated_mean, comparison.comparison_mean]) * 100
    lower = np.array([comparison.treated_lower, comparison.comparison_lower]) * 100
    upper = np.array([comparison.treated_upper, comparison.comparison_upper]) * 100
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    x = np.arange(2)
    ax.bar(x, means, width=0.55, color=[TREATMENT_COLOUR, COMPARISON_COLOUR])
    ax.errorbar(x, means, yerr=[means - lower, upper - means], fmt="none", ecolor="black", capsize=8)
    for position, top, rate in zip(x, upper, (comparison.treated_mean, comparison.comparison_mean)):
        ax.annotate(percent(rate), (position, top), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=11)
    ax.set_xticks(x, ["Treatment group", "Comparison group"])
    ax.set_ylabel("Re-offending rate (%)")
    ax.set_ylim(0, min(105.0, float(upper.max()) + 12))
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.text(0.01, 0.01, "Bars: rates; lines: 95% confidence intervals", fontsize=8, color="#505a5f")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


# ---------------------------------------------------------------- "For 100 typical people"

EMPTY_FACE = "#ffffff"
EMPTY_EDGE = "#6f777b"
NOTE_COLOUR = "#505a5f"


def _per_100(x) -> str:
    """``x`` (a proportion, or a frequency per person) per 100 people, rounded half up to a whole
    number as :func:`jdl.words.per_100_sentence` rounds it ("26")."""
    return words.points(x)      # points is the same rounding: x times 100, half up, whole


def person_path(x: float, y: float, size: float = 1.0) -> Path:
    """A person icon, centred on (``x``, ``y``) in a cell ``size`` wide: a round head over a
    body with rounded shoulders, one compound path (so one path per person)."""
    s = size
    head = Path.circle((x, y + 0.27 * s), 0.15 * s)
    body = Path([(x - 0.26 * s, y - 0.42 * s), (x - 0.26 * s, y - 0.1 * s), (x - 0.26 * s, y + 0.06 * s),
                 (x - 0.1 * s, y + 0.06 * s), (x + 0.1 * s, y + 0.06 * s), (x + 0.26 * s, y + 0.06 * s),
                 (x + 0.26 * s, y - 0.1 * s), (x + 0.26 * s, y - 0.42 * s), (x - 0.26 * s, y - 0.42 * s)],
                [Path.MOVETO, Path.LINETO, Path.CURVE3, Path.CURVE3, Path.LINETO, Path.CURVE3, Path.CURVE3,
                 Path.LINETO, Path.CLOSEPOLY])
    return Path.make_compound_path(head, body)


def per_100_figure(comparison) -> Figure:
    """"For 100 typical people": 100 person icons for each group (10 by 10, the treatment group
    beside the comparison group), as many filled as re-offended per 100 people (the group's
    rate times 100, rounded as in :func:`jdl.words.per_100_sentence`), the 95% interval written
    under each grid. ``comparison``: the headline rate's :class:`jdl.stats.compare.Comparison`.
    Icons fill row by row from the top left; each icon is one path of one PathCollection (gid
    "people")."""
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    groups = (("Treatment group", "people who received the service", comparison.treated_mean,
               comparison.treated_lower, comparison.treated_upper, TREATMENT_COLOUR),
              ("Comparison group", "similar people who did not", comparison.comparison_mean,
               comparison.comparison_lower, comparison.comparison_upper, COMPARISON_COLOUR))
    people, faces, edges = [], [], []
    for left, (name, who, rate, lower, upper, colour) in zip((0, 12), groups):
        filled = int(_per_100(rate))
        for k in range(100):
            row, col = divmod(k, 10)
            on = k < filled
            people.append(person_path(left + col + 0.5, 9.5 - row))
            faces.append(colour if on else EMPTY_FACE)
            edges.append("#0b0c0c" if on else EMPTY_EDGE)
        ax.text(left + 5, 10.15, f"{name}: {filled} in 100\n{who}", ha="center", va="bottom", fontsize=10)
        ax.text(left + 5, -0.25, f"95% interval: {_per_100(lower)} to {_per_100(upper)} in 100", ha="center",
                va="top", fontsize=9.5, color=NOTE_COLOUR)
    ax.text(0, -1.35, "Filled figures: people with a proven re-offence within a year (rounded to whole people)",
            ha="left", va="top", fontsize=8.5, color=NOTE_COLOUR)
    # one collection of the 200 icons (drawn as 200 paths), not 200 patches each widening the data limits
    ax.add_collection(PathCollection(people, facecolors=faces, edgecolors=edges, linewidths=0.5,
                                     transform=ax.transData, gid="people"), autolim=False)
    ax.set_xlim(-0.2, 22.2)
    ax.set_ylim(-2.1, 11.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("For 100 typical people: how many had a proven re-offence within a year", fontsize=11)
    fig.tight_layout(pad=0.4)
    return fig


# ---------------------------------------------------------------- frequency and time


def _dot_interval(title: str, axis_label: str, comparison, formatter, scale: float = 1.0) -> Figure:
    """Both groups of ``comparison`` on one labelled horizontal scale (values times ``scale``): a
    dot at each group's value and a line over its 95% interval, the value and interval as
    ``formatter`` prints them (from the unscaled values) beside the group's name."""
    raw = (comparison.treated_mean, comparison.treated_lower, comparison.treated_upper,
           comparison.comparison_mean, comparison.comparison_lower, comparison.comparison_upper)
    t, tl, tu, c, cl, cu = (float(v) * scale for v in raw)
    rt, rtl, rtu, rc, rcl, rcu = (formatter(v) for v in raw)
    fig = Figure(figsize=(7.0, 2.4), layout="constrained")
    ax = fig.subplots()
    rows = ((1, "Treatment group", t, tl, tu, TREATMENT_COLOUR), (0, "Comparison group", c, cl, cu, COMPARISON_COLOUR))
    for y, name, mean, lower, upper, colour in rows:
        ax.plot([lower, upper], [y, y], color=colour, linewidth=5, solid_capstyle="butt", alpha=0.9)
        ax.plot([mean], [y], marker="o", markersize=9, color="#0b0c0c" if colour == COMPARISON_COLOUR else colour,
                markeredgecolor="white", linestyle="none")
    top = max(tu, cu)
    ax.set_xlim(min(0.0, tl, cl), top * 1.08 if top > 0 else 1)
    ax.set_ylim(-0.6, 1.6)
    ax.set_yticks([1, 0], [f"Treatment group: {rt}\n(95% interval {rtl} to {rtu})",
                           f"Comparison group: {rc}\n(95% interval {rcl} to {rcu})"], fontsize=9.5)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=9)
    ax.set_xlabel(axis_label, fontsize=9.5)
    ax.grid(axis="x", color="#dee0e2", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.spines[["top", "right", "left"]].set_visible(False)
    fig.suptitle(title, fontsize=10.5)
    return fig


def frequency_figure(comparison) -> Figure:
    """Proven re-offences per 100 people in each group with its 95% interval (``comparison``:
    the frequency measure's :class:`jdl.stats.compare.Comparison`, re-offences per person),
    rounded to whole re-offences as :func:`jdl.words.per_100_frequency_sentence` rounds them."""
    return _dot_interval("Proven re-offences within a year for every 100 people",
                         "Proven re-offences per 100 people", comparison, _per_100, scale=100)


def time_figure(comparison) -> Figure:
    """Average days to the first proven re-offence among the re-offenders of each group with its
    95% interval (``comparison``: the days measure's :class:`jdl.stats.compare.Comparison`)."""
    return _dot_interval("Average days to the first proven re-offence, among people who re-offended",
                         "Days from the index date to the first proven re-offence", comparison, words.days)


# ---------------------------------------------------------------- cumulative re-offending


def cumulative_figure(shown: pd.DataFrame, days: int = 365,
                      title: str = "Share of each group with a proven re-offence, by days after the index date",
                      ylabel: str = "Proven re-offence so far (%)",
                      who: str = "people who re-offended") -> Figure:
    """The share of each group with an outcome so far (default: a proven re-offence) within ``d``
    days of the index date, as steps over the days with its 95% band (``shown``:
    :func:`jdl.stats.curves.curve_shown`, indexed by day, shares as proportions), titled
    ``title``, the y axis ``ylabel``. The curves start on the first day shown (disclosure: no day
    where either group has fewer than 5 people with the outcome, ``who``); a note says from which
    day."""
    fig = Figure(figsize=(7.0, 3.8), layout="constrained")
    ax = fig.subplots()
    x = shown.index.to_numpy()
    for group, name, colour in (("comparison", "Comparison group (weighted)", COMPARISON_COLOUR),
                                ("treated", "Treatment group", TREATMENT_COLOUR)):
        ax.fill_between(x, shown[f"{group}_lower"] * 100, shown[f"{group}_upper"] * 100, step="post",
                        color=colour, alpha=0.25, linewidth=0)
        ax.step(x, shown[group] * 100, where="post", color="#505a5f" if group == "comparison" else colour,
                linewidth=1.8, label=name)
    ax.set_xlim(0, days)
    ax.set_xticks([0, 30, 90, 180, 270, 365])
    ax.set_ylim(0, min(100.0, float(max(shown["treated_upper"].max(), shown["comparison_upper"].max())) * 100 * 1.1))
    ax.set_xlabel("Days after the index date", fontsize=9.5)
    ax.set_ylabel(ylabel, fontsize=9.5)
    ax.tick_params(labelsize=9)
    ax.grid(color="#dee0e2", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    ax.set_title(title, fontsize=10.5)
    fig.supxlabel(f"Shaded: 95% confidence intervals. The curves start on day {int(x[0])}, the first day on "
                  f"which\neach group has at least 5 {who} (fewer are not published).",
                  fontsize=8.5, color=NOTE_COLOUR, x=0.01, ha="left")
    return fig


EMPLOYMENT_CURVE_TITLE = "Experimental: share of each group in P45 employment so far, by day"


def employment_figure(shown: pd.DataFrame) -> Figure:
    """The experimental cumulative share of each group in P45 employment so far (any day from the
    index date on covered by a P45 employment spell), day by day with its 95% band:
    :func:`cumulative_figure` with its own title and axis (``shown``:
    :func:`jdl.stats.curves.curve_shown` of :attr:`jdl.analysis.Analysis.employment_curve`)."""
    return cumulative_figure(shown, title=EMPLOYMENT_CURVE_TITLE, ylabel="In P45 employment so far (%)",
                             who="people who were in P45 employment")


def attrition_figure(shown: pd.Series, submitted: str) -> Figure:
    """The attrition flow as chevrons from top to bottom: the people submitted, then one chevron
    per attrition step with the number who left there, ending with the people analysed.

    ``shown``: the published (disclosure-controlled) counts as strings, indexed by bucket in the
    methodology's order with "analysed" last (as from :func:`jdl.stats.disclosure.suppress_series`
    without its total); ``submitted``: the published total. Every count is drawn as the text
    given ("<5", "[c]"), and every chevron has the same size whatever its count. Steps where
    nobody left ("0") are drawn in grey."""
    steps = [(bucket, text) for bucket, text in shown.items() if bucket != "analysed"]
    analysed = shown.get("analysed", "0")
    rows = [(f"People submitted: {plot_text(submitted)}", "#d2e2f1", "bold", "black")]
    for bucket, text in steps:
        nobody = str(text) == "0"
        label = plot_text(f"{str(bucket)[:1].upper()}{str(bucket)[1:]}: {text}")
        rows.append((label, "#f3f2f1" if nobody else "#fbe5d6", "normal", "#6f777b" if nobody else "black"))
    rows.append((f"People analysed: {plot_text(analysed)}", "#cce2d8", "bold", "black"))
    step, depth, half = 1.0, 0.34, 3.6        # height of a row, depth of the point, half the width
    fig = Figure(figsize=(6.5, 0.75 + 0.36 * len(rows)))
    ax = fig.subplots()
    ax.set_xlim(-5, 5)
    ax.set_ylim(-(len(rows) - 1) * step - 0.6, 0.6 + depth)
    ax.axis("off")
    for i, (text, face, weight, colour) in enumerate(rows):
        top, bottom = -i * step + 0.5, -i * step - 0.5 + 0.06
        # a chevron pointing down: notched at the top (but the first), pointed at the bottom
        notch = 0.0 if i == 0 else depth
        ax.add_patch(Polygon([(-half, top), (0, top - notch), (half, top), (half, bottom),
                              (0, bottom - depth), (-half, bottom)], closed=True, facecolor=face,
                             edgecolor="#505a5f", linewidth=0.8, joinstyle="miter"))
        ax.text(0, (top + bottom) / 2 - depth / 3, text, ha="center", va="center", fontsize=9.5,
                fontweight=weight, color=colour)
    ax.set_title("How the people submitted reached the analysis (people leaving at each step)",
                 fontsize=10)
    fig.tight_layout()
    return fig
