"""The report's figures (jdl.report.figures): what each draws, checked on the drawn artists (patch
and marker counts, colours, labels and values), never on pixels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Polygon

from jdl.report import figures
from jdl.stats.compare import Comparison
from jdl.stats.curves import cumulative_reoffending, curve_shown


def comparison(t, tl, tu, c, cl, cu):
    return Comparison(t, tl, tu, c, cl, cu, t - c, -1.0, 1.0, 0.5, False, 200, 1500.0, 400.0, 0.05)


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()]


def min_font(fig):
    sizes = [t.get_fontsize() for ax in fig.axes for t in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label]
             + ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    sizes += [t.get_fontsize() for t in fig.texts if t.get_text()]
    if fig._suptitle is not None:
        sizes.append(fig._suptitle.get_fontsize())
    return min(sizes)


def test_per_100_fills_the_rounded_rate_of_each_group():
    # 0.265 rounds half up to 27 (as in "For every 100 people ... 27 ..."); 0.314 to 31
    fig = figures.per_100_figure(comparison(0.265, 0.2049, 0.3251, 0.314, 0.295, 0.335))
    ax = fig.axes[0]
    (icons,) = [c for c in ax.collections if c.get_gid() == "people"]
    people = icons.get_paths()
    assert len(people) == 200 and not ax.patches
    faces = [to_hex(face) for face in icons.get_facecolor()]
    assert faces[:100].count(figures.TREATMENT_COLOUR) == 27 and faces[27:100] == [figures.EMPTY_FACE] * 73
    assert faces[100:].count(figures.COMPARISON_COLOUR) == 31 and faces[131:] == [figures.EMPTY_FACE] * 69
    # filled from the top left, row by row: the 11th person is the first of the second row
    first, eleventh = people[0].vertices, people[10].vertices
    assert first[:, 0].mean() == pytest.approx(eleventh[:, 0].mean())
    assert first[:, 1].mean() - eleventh[:, 1].mean() == pytest.approx(1.0)
    # the grids sit side by side: the comparison group's first person 12 cells to the right
    assert people[100].vertices[:, 0].mean() - first[:, 0].mean() == pytest.approx(12.0)
    assert texts(fig) == [
        "Treatment group: 27 in 100\npeople who received the service", "95% interval: 20 to 33 in 100",
        "Comparison group: 31 in 100\nsimilar people who did not", "95% interval: 30 to 34 in 100",
        "Filled figures: people with a proven re-offence within a year (rounded to whole people)"]
    assert ax.get_title() == "For 100 typical people: how many had a proven re-offence within a year"
    assert min_font(fig) >= 8


def test_person_icon_is_one_path_of_a_head_and_a_body():
    path = figures.person_path(0.5, 0.5)
    codes = list(path.codes)
    assert codes.count(path.MOVETO) == 2 and codes.count(path.CLOSEPOLY) == 2
    extent = path.get_extents()
    assert (round(extent.x0, 6), round(extent.x1, 6)) == (0.24, 0.76)
    assert (round(extent.y0, 6), round(extent.y1, 6)) == (0.08, 0.92)


def test_per_100_of_nobody_and_everybody():
    fig = figures.per_100_figure(comparison(0.0, 0.0, 0.0, 1.0, 1.0, 1.0))
    (icons,) = fig.axes[0].collections
    faces = [to_hex(face) for face in icons.get_facecolor()]
    assert faces[:100] == [figures.EMPTY_FACE] * 100 and faces[100:] == [figures.COMPARISON_COLOUR] * 100


def test_frequency_figure_per_100_with_intervals():
    fig = figures.frequency_figure(comparison(0.645, 0.40, 0.884, 1.2049, 1.10, 1.305))
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines()]
    intervals = [(list(line.get_xdata()), list(line.get_ydata())) for line in lines if len(line.get_xdata()) == 2]
    dots = [(list(line.get_xdata()), list(line.get_ydata())) for line in lines if line.get_marker() == "o"]
    assert intervals == [([pytest.approx(40.0), pytest.approx(88.4)], [1, 1]),
                         ([pytest.approx(110.0), pytest.approx(130.5)], [0, 0])]
    assert dots == [([pytest.approx(64.5)], [1]), ([pytest.approx(120.49)], [0])]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Treatment group: 65\n(95% interval 40 to 88)",
                                                            "Comparison group: 120\n(95% interval 110 to 131)"]
    assert ax.get_xlabel() == "Proven re-offences per 100 people"
    assert fig._suptitle.get_text() == "Proven re-offences within a year for every 100 people"
    assert ax.get_xlim()[0] == 0
    assert min_font(fig) >= 8


def test_time_figure_in_days():
    fig = figures.time_figure(comparison(150.5, 139.6, 162.0, 161.2, 155.0, 166.4))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Treatment group: 151\n(95% interval 140 to 162)",
                                                            "Comparison group: 161\n(95% interval 155 to 166)"]
    assert ax.get_xlabel() == "Days from the index date to the first proven re-offence"
    assert fig._suptitle.get_text() == "Average days to the first proven re-offence, among people who re-offended"
    assert ax.get_xlim()[1] == pytest.approx(166.4 * 1.08)


def test_cumulative_figure_draws_the_shown_days_with_bands():
    # treated: one first re-offence a day on days 0..11, 20 without; comparison: 5 on day 3, 20 without
    data = pd.DataFrame({"treated": [1] * 32 + [0] * 25,
                         "days_to_first": pd.Series(list(range(12)) + [None] * 20 + [3] * 5 + [None] * 20,
                                                    dtype=float)})
    shown = curve_shown(cumulative_reoffending(data, [1] * 57))
    fig = figures.cumulative_figure(shown)
    ax = fig.axes[0]
    steps = ax.get_lines()
    assert [line.get_label() for line in steps] == ["Comparison group (weighted)", "Treatment group"]
    treated = steps[1]
    assert treated.get_xdata()[0] == 5 and treated.get_xdata()[-1] == 365
    assert treated.get_ydata()[0] == pytest.approx(100 * 5 / 32)
    assert treated.get_ydata()[-1] == pytest.approx(100 * 12 / 32)
    assert len(ax.collections) == 2                     # one band per group
    assert ax.get_xlim() == (0, 365)
    assert list(ax.get_xticks()) == [0, 30, 90, 180, 270, 365]
    assert ax.get_title() == "Share of each group with a proven re-offence, by days after the index date"
    assert fig._supxlabel.get_text().startswith("Shaded: 95% confidence intervals. The curves start on day 5,")
    assert min_font(fig) >= 8


def test_attrition_chevrons_print_the_published_strings_and_no_lengths():
    shown = pd.Series({"duplicate row": "<5", "not found": "[c]", "no comparison match": "0", "analysed": "112"})
    fig = figures.attrition_figure(shown, "1,118")
    ax = fig.axes[0]
    assert texts(fig) == ["People submitted: 1,118", "Duplicate row: <5", "Not found: [c]",
                          "No comparison match: 0", "People analysed: 112"]
    chevrons = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(chevrons) == 5
    # every chevron the same shape whatever its count: no length encodes a suppressed value
    widths = {round(float(np.ptp(p.get_xy()[:, 0])), 6) for p in chevrons}
    heights = {round(float(np.ptp(p.get_xy()[1:, 1])), 6) for p in chevrons[1:]}
    assert widths == {7.2} and len(heights) == 1
    # pointing down: the bottom point lies below the bottom corners
    xy = chevrons[1].get_xy()
    assert xy[4][1] < xy[3][1] and xy[4][0] == 0
    # nobody left at "no comparison match": drawn grey
    assert to_hex(chevrons[3].get_facecolor()) == "#f3f2f1" and to_hex(chevrons[1].get_facecolor()) == "#fbe5d6"
    assert min_font(fig) >= 8


def test_outside_text_cannot_become_mathtext():
    shown = pd.Series({"duplicate row": "$x^2$", "analysed": "$5"})
    fig = figures.attrition_figure(shown, "$$")
    assert texts(fig) == [r"People submitted: \$\$", r"Duplicate row: \$x^2\$", r"People analysed: \$5"]
    fig.savefig(io.BytesIO(), format="png")      # drawn as plain text: no mathtext error


def test_notebook_figures_are_svg_and_the_same_bytes_every_time():
    """show_figures_as_svg: the inline backend shows a figure as SVG only (no PNG), with no date and
    the same element ids, so the same figure gives the same bytes (a rerun publishes the same page)."""
    from IPython.core.interactiveshell import InteractiveShell

    figures.show_figures_as_svg()
    formatter = InteractiveShell.instance().display_formatter

    def shown():
        data, _ = formatter.format(figures.per_100_figure(comparison(0.4, 0.35, 0.45, 0.46, 0.45, 0.48)))
        return data

    first, second = shown(), shown()
    assert "image/svg+xml" in first and "image/png" not in first
    assert first["image/svg+xml"] == second["image/svg+xml"]
    assert "<dc:date>" not in first["image/svg+xml"] and 'clip-path="url(#' in first["image/svg+xml"]
