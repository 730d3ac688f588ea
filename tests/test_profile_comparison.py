"""The profile of the treatment group beside the weighted comparison group
(jdl.stats.profile.profile_beside_comparison, history_summary): hand-worked shares, and
disclosure control that the shares cannot undo."""

from __future__ import annotations

import pandas as pd
import pytest

from jdl.stats.disclosure import Publication
from jdl.stats.profile import (COMPARISON_SHARE, OTHER_LEVELS, TREATED_PEOPLE, TREATED_SHARE, history_summary,
                               profile_beside_comparison, profile_table)


def people(sex, ages, region, offence, **more) -> pd.DataFrame:
    n = len(sex)
    return pd.DataFrame({"sex": sex, "age": ages, "ethnicity_group": ["White"] * n, "uk_national": [1] * n,
                         "region": region, "index_offence_group": offence, "disposal": ["custody release"] * n,
                         **more})


# 43 treated people: 40 men and 3 women (a small count), ten aged 19 and 33 aged 33, all in London
TREATED = people(["M"] * 40 + ["F"] * 3, [19.0] * 10 + [33.0] * 33, ["London"] * 43, ["theft"] * 43)
# four comparison people weighted 2, 1, 0.5 and 0.5 (total weight 4)
COMPARISON = people(["M", "F", "F", "M"], [19.0, 35.0, 35.0, 60.0], ["London", "London", "Wales", "London"],
                    ["theft", "theft", "drugs", "theft"])
WEIGHTS = [2.0, 1.0, 0.5, 0.5]


def column(table, characteristic, name):
    return table.loc[characteristic, name].to_dict()


def test_the_comparison_side_is_a_weighted_share_rounded_half_up():
    table = profile_beside_comparison(TREATED, COMPARISON, WEIGHTS)
    assert list(table.columns) == [TREATED_PEOPLE, TREATED_SHARE, COMPARISON_SHARE]
    # men: (2 + 0.5) / 4 = 62.5% -> 63%; women 1.5 / 4 = 37.5% -> 38%
    assert column(table, "Sex", COMPARISON_SHARE) == {"Male": "63%", "Female": "38%", "Total": "100%"}
    # ages: 18-20 holds weight 2 (50%), 30-39 1.5 (37.5% -> 38%), 50+ 0.5 (12.5% -> 13%)
    assert column(table, "Age at index", COMPARISON_SHARE) == {
        "18-20": "50%", "21-24": "0%", "25-29": "0%", "30-39": "38%", "40-49": "0%", "50+": "13%", "Total": "100%"}
    # the treated shares come from the published counts: 10 / 43 = 23.3% and 33 / 43 = 76.7%
    assert column(table, "Age at index", TREATED_SHARE) == {
        "18-20": "23%", "21-24": "0%", "25-29": "0%", "30-39": "77%", "40-49": "0%", "50+": "0%", "Total": "100%"}
    assert column(table, "Age at index", TREATED_PEOPLE) == {
        "18-20": "10", "21-24": "0", "25-29": "0", "30-39": "33", "40-49": "0", "50+": "0", "Total": "43"}
    # a level held only by the comparison group is listed with no treated people
    assert table.loc["Region"].to_dict("index") == {
        "London": {TREATED_PEOPLE: "43", TREATED_SHARE: "100%", COMPARISON_SHARE: "88%"},
        "Wales": {TREATED_PEOPLE: "0", TREATED_SHARE: "0%", COMPARISON_SHARE: "13%"},
        "Total": {TREATED_PEOPLE: "43", TREATED_SHARE: "100%", COMPARISON_SHARE: "100%"}}
    assert column(table, "Index offence", COMPARISON_SHARE) == {"Theft": "88%", "Drugs": "13%", "Total": "100%"}


def test_a_small_treated_count_stays_hidden_and_so_does_its_share():
    table = profile_beside_comparison(TREATED, COMPARISON, WEIGHTS)
    # 3 women: "<5"; the men hidden too ("[c]"), and neither share shown (3 / 43 would print 7%)
    assert column(table, "Sex", TREATED_PEOPLE) == {"Male": "[c]", "Female": "<5", "Total": "43"}
    assert column(table, "Sex", TREATED_SHARE) == {"Male": "[c]", "Female": "[c]", "Total": "100%"}
    # every treated count 1 to 4 is "<5", whatever the characteristic
    for count in (1, 2, 3, 4):
        treated = people(["M"] * (43 - count) + ["F"] * count, [33.0] * 43, ["London"] * 43, ["theft"] * 43)
        shown = profile_beside_comparison(treated, COMPARISON, WEIGHTS)
        assert shown.loc[("Sex", "Female")].tolist() == ["<5", "[c]", "38%"]
        assert shown.loc[("Sex", "Male")].tolist() == ["[c]", "[c]", "63%"]


def test_the_counts_are_those_the_profile_publishes():
    publication = Publication()
    publication.total("analysed", 43)
    beside = profile_beside_comparison(TREATED, COMPARISON, WEIGHTS, publication)
    alone = profile_table(TREATED, publication)
    assert beside[TREATED_PEOPLE].reindex(alone.index).to_dict() == alone["People"].to_dict()
    # and beside them only the levels the comparison group alone holds, with no treated people
    extra = beside.index.difference(alone.index)
    assert list(extra) == [("Index offence", "Drugs"), ("Region", "Wales")]
    assert beside.loc[extra, TREATED_PEOPLE].tolist() == ["0", "0"]


def test_a_level_merged_on_the_treated_side_is_merged_on_the_comparison_side():
    # 5 theft and 1 drugs among 6 treated: hiding both would still give drugs = 1 (theft must be 5 or
    # more), so both are merged into one category, and so are the comparison group's theft and drugs
    treated = people(["M"] * 6, [33.0] * 6, ["London"] * 6, ["theft"] * 5 + ["drugs"])
    comparison = people(["M"] * 3, [33.0] * 3, ["London"] * 3, ["theft", "drugs", "burglary"])
    table = profile_beside_comparison(treated, comparison, [1.0, 2.0, 1.0])
    assert table.loc["Index offence"].to_dict("index") == {
        OTHER_LEVELS: {TREATED_PEOPLE: "6", TREATED_SHARE: "100%", COMPARISON_SHARE: "75%"},
        "Burglary": {TREATED_PEOPLE: "0", TREATED_SHARE: "0%", COMPARISON_SHARE: "25%"},
        "Total": {TREATED_PEOPLE: "6", TREATED_SHARE: "100%", COMPARISON_SHARE: "100%"}}


def test_the_upload_characteristics_have_no_comparison_side():
    treated = TREATED.assign(referral_route=["Self"] * 20 + ["Probation"] * 23)
    table = profile_beside_comparison(treated, COMPARISON, WEIGHTS)
    assert table.loc["Referral route"].to_dict("index") == {
        "Probation": {TREATED_PEOPLE: "23", TREATED_SHARE: "53%", COMPARISON_SHARE: "n/a"},
        "Self": {TREATED_PEOPLE: "20", TREATED_SHARE: "47%", COMPARISON_SHARE: "n/a"},
        "Total": {TREATED_PEOPLE: "43", TREATED_SHARE: "100%", COMPARISON_SHARE: "n/a"}}


def test_history_summary_means_and_weighted_means():
    treated = pd.DataFrame({"previous_offences": [1, 2, 3], "employed_year_before": [1, 0, 0], "age": [20.0, 30.0, 40.0]})
    comparison = pd.DataFrame({"previous_offences": [0, 4], "employed_year_before": [1, 0], "age": [20.0, 40.0]})
    summary = history_summary(treated, comparison, [3.0, 1.0])
    assert list(summary.index) == ["age", "previous_offences", "employed_year_before"]  # HISTORY_COLUMNS order
    assert summary.loc["age"].tolist() == [30.0, 25.0]                   # (3 x 20 + 40) / 4
    assert summary.loc["previous_offences"].tolist() == [2.0, 1.0]       # (3 x 0 + 4) / 4
    assert summary.loc["employed_year_before"].tolist() == pytest.approx([1 / 3, 0.75])
