"""Crafted requests through the real template (`jdl run`: papermill, then nbconvert), each checked
on what its published report prints:

- 90 people submitted, 88 analysed, 2 not found: the report says 88 everywhere and never shows
  "analysed" as hidden; the two not found appear only inside "other reasons", whose count follows
  from the published totals anyway;
- a community request of 70, 68 of them with no custodial history: processed, the comparison pool
  restricted to people with no previous custodial sentence, said in the attrition and Annex D;
- the 90-person upload matched nearest-neighbour 2:1 with a caliper of 0.1 SD: Annex D names them.

Every count table of each report (its scrap "published_counts") is audited exactly against counts
recomputed here through the package, with the markers read as a reader would ("<5": 1 to 4,
"[c]": 5 or more).

The requests are three of the session's shared report month (tests/session_data.py, built once by
tests/conftest.py), which builds their uploads from its synthetic national data.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from jdl.stats.disclosure import HIDDEN, SUPPRESSED, recoverable_cells
from jdl.cohort.national import NationalData
from jdl.run.requests import read_scraps
from session_data import CASES, case_id


@pytest.fixture(scope="module")
def cases(report_month):
    """The crafted requests of the session's shared report month (tests/session_data.py: their
    uploads, params, and the month run by `jdl run`)."""
    assert report_month.run["exit_code"] == 0, report_month.run["output"]
    return report_month


def folder(month, number: int) -> Path:
    return month.report(case_id(number))


def text_of(month, number: int) -> str:
    pdf = subprocess.run(["pdftotext", "-layout", str(folder(month, number) / "report.pdf"), "-"], check=True,
                         capture_output=True, text=True).stdout
    return " ".join(pdf.split())


def recomputed_counts(month, number: int, options: dict) -> dict[str, pd.Series]:
    """Every count table of request ``number`` recomputed through the package (not from the report)."""
    from jdl.cohort import attrition
    from jdl.stats import subgroups
    from jdl.cohort.build import build_cohort, treated_attributes
    from jdl.stats.plan import match_cohort
    from jdl.stats.profile import CHARACTERISTICS, UPLOAD_CHARACTERISTICS, level_counts, levels
    from jdl.upload.validate import validate_upload
    from jdl.window import DataWindow

    upload, used = CASES[number]
    assert used == options
    validation = validate_upload(month.uploads / f"{upload}.xlsx", DataWindow.from_national(month.national))
    cohort = build_cohort(validation.participants, NationalData.open(month.national), "community")
    result, data, flow, _ = match_cohort(cohort, **options)
    tables = {"attrition": attrition.bucket_counts(flow["bucket"])}
    analysed = data.index[(data["treated"] == 1) & (result.weights > 0)]
    treated = data.loc[analysed].join(treated_attributes(flow, validation.participants))
    for column, _ in CHARACTERISTICS + UPLOAD_CHARACTERISTICS:
        tables[column] = level_counts(levels(treated, column), column)
    for dimension in subgroups.DIMENSIONS:
        tables[dimension.column] = level_counts(levels(treated, dimension.column), dimension.column)
    return tables


def audit_published(scraps: dict, counts: dict[str, pd.Series]) -> None:
    """The exact check over every table the report printed: a published number is the true count,
    a marker is the right kind, and no hidden count can be worked out from the rest."""
    published = scraps["published_counts"]
    assert published["totals"]["submitted"] == scraps["n_submitted"]
    assert published["totals"]["analysed"] == scraps["n_treated"]
    for name, shown in published["tables"].items():
        shown = pd.Series(shown)
        true = counts[name]
        assert shown["Total"] == f"{int(true.sum()):,}", name
        shown = shown.drop("Total")
        merged = [c for c in true.index if c not in shown.index]
        if merged:   # one combined row holds the rest
            (label,) = [c for c in shown.index if c not in true.index]
            true = pd.concat([true.drop(merged), pd.Series({label: true[merged].sum()})]).reindex(shown.index)
        true = true.reindex(shown.index)
        hidden = shown.isin([SUPPRESSED, HIDDEN])
        for category, text in shown.items():
            if text == SUPPRESSED:
                assert 1 <= true[category] <= 4, (name, category)
            elif text == HIDDEN:
                assert true[category] >= 5, (name, category)
            else:
                assert text == f"{int(true[category]):,}", (name, category)
        if hidden.any():
            audit = recoverable_cells(hidden.to_frame("n"), true.to_frame("n"), row_totals_published=False,
                                      threshold=5, marked=True)
            assert not audit["recoverable"].any(), (name, audit)


def test_ninety_submitted_eighty_eight_analysed_reads_the_same_everywhere(cases):
    scraps = read_scraps(folder(cases, 1) / "report.ipynb").to_dict()
    assert scraps["status"] == "published"
    assert (scraps["n_submitted"], scraps["n_treated"]) == (90, 88)
    assert scraps["attrition"]["not found"] == 2
    attrition_shown = scraps["published_counts"]["tables"]["attrition"]
    assert attrition_shown == {"other reasons (combined: each fewer than 5 people)": "2", "analysed": "88",
                               "Total": "90"}
    text = text_of(cases, 1)
    assert "re-offending of 88 people" in text
    assert "analysed <5" not in text and "analysed [c]" not in text   # the flow figure draws the same strings
    assert re.search(r"analysed 88 Total 90", text)
    assert "combines duplicate row, insufficient identifiers, not found" in text
    assert "follows from totals published in this report" in text
    audit_published(scraps, recomputed_counts(cases, 1, {}))


def test_a_community_request_with_no_custodial_history_is_processed(cases):
    scraps = read_scraps(folder(cases, 2) / "report.ipynb").to_dict()
    assert scraps["status"] == "published", scraps["reason"]
    assert (scraps["n_submitted"], scraps["attrition"]["not found"]) == (70, 2)
    assert scraps["n_treated"] >= 60
    # every participant started a community order and none had been in custody: the pool is
    # restricted to both, and neither enters the model
    assert scraps["match"]["restrictions"] == {"disposal": "community order start", "previous_custodial_sentences": 0}
    assert {"disposal", "previous_custodial_sentences"}.isdisjoint(scraps["match"]["covariates"])
    text = text_of(cases, 2)
    restriction = ("Everyone in the treatment group had the same values of disposal and previous custodial "
                   "sentences, so the comparison pool was restricted to people with the same (disposal = community "
                   "order start; previous custodial sentences = 0) and the propensity model left them out")
    assert text.count(restriction) == 2   # under the attrition, and in Annex D
    assert "could not be processed" not in text and "propensity model could not be fitted" not in text
    audit_published(scraps, recomputed_counts(cases, 2, {}))


def test_nearest_two_to_one_with_a_narrow_caliper_is_described_as_run(cases):
    scraps = read_scraps(folder(cases, 3) / "report.ipynb").to_dict()
    assert scraps["status"] == "published", scraps["reason"]
    match = scraps["match"]
    assert (match["method"], match["ratio"], match["caliper_sd"], match["replace"]) == ("nearest", 2, 0.1, True)
    text = text_of(cases, 3)
    width = f"{match['caliper_width']:.4g}"
    assert ("Nearest-neighbour matching, 2:1 with replacement, on the propensity score (R's MatchIt rules): "
            "treated people are taken from the largest propensity score down, and each is matched with its 2 "
            "nearest comparison people within a caliper of 0.1 standard deviations of the propensity score (the "
            "standard deviation over the treatment group and the comparison pool together, so "
            f"{width} on that scale), exactly on sex;") in text   # disposal kind: all court orders, so not varying
    assert "0.2 standard deviations" not in text
    # Annex A's balance conventions and Annex D describe the weights of this match
    assert text.count("each comparison person weighted as in R's MatchIt: the sum over the treated people") == 2
    assert "After matching: the treated people who found a match against the matched comparison group" in text
    audit_published(scraps, recomputed_counts(cases, 3, {"method": "nearest", "ratio": 2, "caliper": 0.1}))
