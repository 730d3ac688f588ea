"""The treatment group's profile for the report (methodology section 8): sex, age (bands and
mean), ethnicity, UK national, region, index offence and disposal, and from the upload the referral
routes and delivery locations; each a count table that has passed disclosure control (a table of
the report's :class:`jdl.stats.disclosure.Publication`, shared with the sub-analyses) before anything is
shown.

Delivery locations and sub-group labels are the submitter's free text: a label held by fewer than 5
people is shown only inside "Other ... (each fewer than 5 people)", so a rare label (which could name
a place or a person) is never published beside a small count.

Age is given as counts by band, the band range and the mean age to the nearest year; single ages
(the youngest and oldest person) are not published, since one person's age is not an aggregate.

Beside the treatment group the report shows the weighted comparison group
(:func:`profile_beside_comparison`): the comparison side as weighted shares (per cent), never
counts, so no small count of the comparison group can be read; the treatment side keeps its
protected counts and adds shares worked out from them alone. :func:`history_summary` gives both
groups' mean criminal history (previous offences, custodial sentences ...), age, employment,
benefits and OASys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jdl.stats.disclosure import HIDDEN, THRESHOLD, TOTAL as TOTAL_LABEL, Publication
from jdl.words import count, percent

AGE_BANDS = ((18, 20), (21, 24), (25, 29), (30, 39), (40, 49), (50, None))
SEX_LABELS = {"M": "Male", "F": "Female"}
UK_NATIONAL_LABELS = {1: "UK national", 0: "Not UK national"}

CHARACTERISTICS = (
    ("sex", "Sex"),
    ("age_band", "Age at index"),
    ("ethnicity_group", "Ethnicity"),
    ("uk_national", "Nationality"),
    ("region", "Region"),
    ("index_offence_group", "Index offence"),
    ("disposal", "Disposal"),
)
UPLOAD_CHARACTERISTICS = (
    ("referral_route", "Referral route"),
    ("delivery_location", "Delivery location"),
)
PROFILE_TABLES = tuple(column for column, _ in CHARACTERISTICS + UPLOAD_CHARACTERISTICS)
NOT_GIVEN = "Not given"
OTHER = {"delivery_location": "Other locations (each fewer than 5 people)",
         "sub_group": "Other labels (each fewer than 5 people)"}
COMPLETED_LABELS = {"yes": "Completed", "no": "Did not complete"}
OTHER_LEVELS = "Other (combined: each fewer than 5 people)"


def age_band(age: pd.Series) -> pd.Series:
    """Ages in completed years as the bands of :data:`AGE_BANDS` ("18-20", ..., "50+"), ordered."""
    labels = [f"{low}-{high}" if high is not None else f"{low}+" for low, high in AGE_BANDS]
    edges = [low for low, _ in AGE_BANDS] + [float("inf")]
    return pd.cut(age, bins=edges, right=False, labels=labels)


def group_rare(labels: pd.Series, other: str, threshold: int = THRESHOLD) -> pd.Series:
    """``labels`` with every label held by fewer than ``threshold`` people replaced by ``other``
    (missing values and the :data:`NOT_GIVEN` label are left as they are)."""
    held = labels.map(labels.value_counts())
    rare = (held < threshold) & labels.notna() & (labels != NOT_GIVEN)
    return labels.where(~rare, other)


def levels(frame: pd.DataFrame, column: str) -> pd.Series:
    """The published label of each person's ``column``: the covariates of
    :data:`CHARACTERISTICS` (age as its band) and the upload's ``completed``, ``referral_route``,
    ``delivery_location`` and ``sub_group`` (missing: "Not given"; the free-text ones with rare
    labels grouped, see :func:`group_rare`)."""
    if column in OTHER:
        return group_rare(frame[column].fillna(NOT_GIVEN).astype(str), OTHER[column])
    if column == "completed":
        return frame[column].map(COMPLETED_LABELS).fillna(NOT_GIVEN)
    if column == "age_band":
        return age_band(frame["age"])
    values = frame[column].fillna(NOT_GIVEN) if column == "referral_route" else frame[column]
    if column == "sex":
        return values.map(SEX_LABELS).fillna("Not recorded")
    if column == "uk_national":
        return values.astype(float).map({1.0: UK_NATIONAL_LABELS[1], 0.0: UK_NATIONAL_LABELS[0]}).fillna("Not recorded")
    if column == "disposal":
        return values.str.capitalize()
    return values.astype(str).str.slice(0, 1).str.upper() + values.astype(str).str.slice(1)


def level_counts(labels: pd.Series, column: str) -> pd.Series:
    """People per label: age bands keep their order and their empty bands; other labels are those
    present, largest first."""
    counts = labels.value_counts(sort=False).sort_index() if column == "age_band" else labels.value_counts()
    return counts.astype(int)


def profile_table(treated: pd.DataFrame, publication: Publication | None = None) -> pd.DataFrame:
    """The profile of ``treated`` (one row per analysed treatment-group person, with the covariate
    columns ``sex``, ``age``, ``ethnicity_group``, ``uk_national``, ``region``,
    ``index_offence_group``, ``disposal``, and when present the upload's ``referral_route`` and
    ``delivery_location``) as a table of strings indexed by (characteristic, level) with one column
    "People": each characteristic's counts after disclosure control, its "Total" row last. Age
    bands keep their order; other levels are in descending count order.

    ``publication``: the report's disclosure view (:class:`jdl.stats.disclosure.Publication`) holding
    the total "analysed" (``len(treated)``); each characteristic is its table there, shared with
    the sub-analyses. Without one, a view of the profile alone is used."""
    if publication is None:
        publication = Publication()
        publication.total("analysed", len(treated))
    parts = []
    present = [c for c in UPLOAD_CHARACTERISTICS if c[0] in treated.columns]
    for column, title in CHARACTERISTICS + tuple(present):
        shown = publication.counts(column, level_counts(levels(treated, column), column), "analysed", title,
                                   merge_label=OTHER_LEVELS).shown
        parts.append(pd.DataFrame({"Characteristic": title, "Level": shown.index.astype(str),
                                   "People": shown.to_numpy()}))
    return pd.concat(parts, ignore_index=True).set_index(["Characteristic", "Level"])


def age_summary(treated: pd.DataFrame) -> str:
    """One sentence on age: the band range and the mean age (whole years), e.g. "Ages at the
    index event ranged over the 18-20 to 50+ bands; the mean age was 31." Needs at least one
    person."""
    bands = age_band(treated["age"]).dropna()
    if bands.empty:
        raise ValueError("no ages to summarise")
    present = [b for b in bands.cat.categories if (bands == b).any()]
    span = present[0] if len(present) == 1 else f"{present[0]} to {present[-1]}"
    return (f"Ages at the index event ranged over the {span} band{'s' if len(present) > 1 else ''}; "
            f"the mean age was {count(treated['age'].mean())}.")


# ---------------------------------------------------------------- beside the comparison group

TREATED_PEOPLE = "Treatment group (people)"
TREATED_SHARE = "Treatment group (%)"
COMPARISON_SHARE = "Comparison group (%, weighted)"
PROFILE_COLUMNS = (TREATED_PEOPLE, TREATED_SHARE, COMPARISON_SHARE)
NOT_APPLICABLE = "n/a"     # the comparison group has no upload, so no referral route or location
HISTORY_COLUMNS = ("age", "previous_offences", "previous_convictions", "previous_cautions",
                   "previous_custodial_sentences", "previous_court_orders", "age_at_first_contact",
                   "employed_year_before", "benefit_year_before", "oasys_assessed")


def weighted_shares(labels: pd.Series, weights) -> pd.Series:
    """Each label's share (a proportion) of the total weight: the sum of ``weights`` (aligned
    with ``labels``) over the people with that label, divided by the sum over all of them."""
    w = pd.Series(np.asarray(weights, dtype=float), index=labels.index)
    return w.groupby(labels.astype(str).to_numpy()).sum() / w.sum()


def profile_beside_comparison(treated: pd.DataFrame, comparison: pd.DataFrame, weights,
                              publication: Publication | None = None) -> pd.DataFrame:
    """The profile of the treatment group beside the weighted comparison group: a table of strings
    indexed by (characteristic, level) as :func:`profile_table`, with the columns
    :data:`PROFILE_COLUMNS`:

    - the treatment group's people, as :func:`profile_table` publishes them (the same protected
      tables of ``publication``: "<5" and "[c]" where they are hidden);
    - their share of the treatment group in whole per cent, worked out from the published counts
      only, so a hidden count's share is hidden too (shown as "[c]");
    - the comparison group's share in whole per cent, each comparison person weighted by
      ``weights`` (aligned with ``comparison``'s rows; the matching weights): a share, never a
      count, so no small count of the comparison group can be read from it. A level merged on
      the treated side is merged on the comparison side too; a level held only by the comparison
      group is listed with 0 treated people. The upload's characteristics (referral route,
      delivery location) have no comparison side ("n/a").

    Each characteristic ends with its "Total" row (100%)."""
    if publication is None:
        publication = Publication()
        publication.total("analysed", len(treated))
    weights = np.asarray(weights, dtype=float)
    parts = []
    present = [c for c in UPLOAD_CHARACTERISTICS if c[0] in treated.columns]
    for column, title in CHARACTERISTICS + tuple(present):
        table = publication.counts(column, level_counts(levels(treated, column), column), "analysed", title,
                                   merge_label=OTHER_LEVELS)
        categories = [str(c) for c in table.counts.index]
        people = [str(v) for v in table.shown.drop(TOTAL_LABEL)]
        shares = [percent(n / table.total) if table.published(c) else HIDDEN
                  for c, n in zip(table.counts.index, table.counts)]
        if column in dict(UPLOAD_CHARACTERISTICS) or weights.sum() <= 0:
            others = [NOT_APPLICABLE] * len(categories)
        else:
            labels = levels(comparison, column).astype(str)
            labels = labels.where(~labels.isin([str(m) for m in table.merged]), str(table.merge_label))
            held = weighted_shares(labels, weights)
            others = [percent(held.get(c, 0.0)) for c in categories]
            for extra in held.index.difference(categories, sort=False):
                categories.append(str(extra))
                people.append("0")
                shares.append(percent(0))
                others.append(percent(held[extra]))
        parts.append(pd.DataFrame({"Characteristic": title, "Level": categories + [TOTAL_LABEL],
                                   TREATED_PEOPLE: people + [str(table.shown[TOTAL_LABEL])],
                                   TREATED_SHARE: shares + [percent(1)],
                                   COMPARISON_SHARE: others + [NOT_APPLICABLE if others[:1] == [NOT_APPLICABLE]
                                                               else percent(1)]}))
    return pd.concat(parts, ignore_index=True).set_index(["Characteristic", "Level"])


def history_summary(treated: pd.DataFrame, comparison: pd.DataFrame, weights) -> pd.DataFrame:
    """A summary of criminal history (and age, employment, benefits and OASys) of the treatment
    group beside the weighted comparison group: for each column of :data:`HISTORY_COLUMNS` present
    in both, the treatment group's mean and the comparison group's mean weighted by ``weights``
    (aligned with ``comparison``'s rows), as floats (a 0/1 column's mean is a proportion); rows
    named by column, columns "Treatment group" and "Comparison group". Means of the whole groups
    only: no count."""
    w = np.asarray(weights, dtype=float)
    rows = {c: (float(treated[c].astype(float).mean()),
                float(np.average(comparison[c].astype(float), weights=w)) if w.sum() > 0 else float("nan"))
            for c in HISTORY_COLUMNS if c in treated.columns and c in comparison.columns}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["Treatment group", "Comparison group"])
