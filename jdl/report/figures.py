"""Report figures that are not balance diagnostics: the two groups' rates with their intervals
and the attrition flow. Each returns a matplotlib Figure (not shown, not kept by pyplot).

The attrition flow is drawn as boxes of text, never as bars: a bar's length would give away a
count that disclosure control shows as "<5".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

TREATMENT_COLOUR = "#1d70b8"
COMPARISON_COLOUR = "#b1b4b6"


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


def attrition_figure(shown: pd.Series, submitted: str) -> Figure:
    """The attrition flow as a column of boxes: the people submitted at the top, then each
    attrition step with the number who left there, ending with the people analysed.

    ``shown``: the published (disclosure-controlled) counts as strings, indexed by bucket in the
    methodology's order with "analysed" last (as from :func:`jdl.stats.disclosure.suppress_series`
    without its total); ``submitted``: the published total. Steps where nobody left ("0") are
    drawn smaller, in grey."""
    steps = [(bucket, text) for bucket, text in shown.items() if bucket != "analysed"]
    analysed = shown.get("analysed", "0")
    height = 1.1 + 0.55 * (len(steps) + 2)
    fig = Figure(figsize=(7, height))
    ax = fig.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(-(len(steps) + 1.6), 0.8)
    ax.axis("off")

    def box(x, y, width, text, face, weight="normal", colour="black"):
        ax.add_patch(FancyBboxPatch((x, y - 0.3), width, 0.6, boxstyle="round,pad=0.04", facecolor=face,
                                    edgecolor="#505a5f", linewidth=0.8))
        ax.text(x + width / 2, y, text, ha="center", va="center", fontsize=9.5, fontweight=weight, color=colour)

    box(0.2, 0, 4.2, f"People submitted: {submitted}", "#d2e2f1", weight="bold")
    ax.annotate("", xy=(2.3, -(len(steps) + 0.7)), xytext=(2.3, -0.32),
                arrowprops={"arrowstyle": "-|>", "color": "#505a5f", "linewidth": 1.2})
    for i, (bucket, text) in enumerate(steps, start=1):
        nobody = text == "0"
        ax.annotate("", xy=(5.0, -i), xytext=(2.3, -i),
                    arrowprops={"arrowstyle": "-|>", "color": "#b1b4b6" if nobody else "#505a5f"})
        box(5.0, -i, 4.8, f"{bucket[0].upper()}{bucket[1:]}: {text}", "#f3f2f1" if nobody else "#fbe5d6",
            colour="#6f777b" if nobody else "black")
    box(0.2, -(len(steps) + 1), 4.2, f"People analysed: {analysed}", "#cce2d8", weight="bold")
    ax.set_title("How the people submitted reached the analysis", fontsize=11)
    fig.tight_layout()
    return fig
