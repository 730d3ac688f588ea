"""Unit tests of the report's parts: requests (params files and scraps), paths, the treatment
group profile, the report texts and the figures."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from jdl.report import figures, text as report
from jdl.stats import profile
from jdl.stats.compare import Comparison
from jdl.cohort.measures import MEASURES
from jdl.paths import project_path
from jdl.run.requests import ParamsError, load_month, load_request

GOOD = """id: 2014-03-001
organisation: Safe Ground
programme: Family Man
programme_type: education
date_received: 2014-01-15
upload: data/uploads/family-man.xlsx
setting: custody
options: {method: nearest, caliper: 0.1}
"""


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_params_file_is_read(tmp_path):
    path = write(tmp_path / "params" / "2014-03", "a.yaml", GOOD)
    request = load_request(path)
    assert request.id == "2014-03-001"
    assert request.date_received == dt.date(2014, 1, 15)
    assert request.upload == tmp_path / "data/uploads/family-man.xlsx"
    assert (request.status, request.setting, request.month) == ("received", "custody", "2014-03")
    assert request.parameters(tmp_path / "national") == {
        "request_id": "2014-03-001", "organisation": "Safe Ground", "programme": "Family Man",
        "programme_type": "education", "date_received": "2014-01-15",
        "upload_path": str(tmp_path / "data/uploads/family-man.xlsx"),
        "uploads_dir": str(tmp_path / "data/uploads"), "setting": "custody",
        "national_dir": str(tmp_path / "national"), "options": {"method": "nearest", "caliper": 0.1}}


@pytest.mark.parametrize("change, message", [
    (("setting: custody", "setting: prison"), "field 'setting' must be one of custody, community"),
    (("id: 2014-03-001", "id: ../escape"), "field 'id' may hold only"),
    (("date_received: 2014-01-15", "date_received: 15/01/2014"), "field 'date_received' is not a date"),
    (("programme_type: education", "programm_type: education"), "unknown field(s) programm_type"),
    (("organisation: Safe Ground\n", ""), "missing field(s) organisation"),
    (("options: {method: nearest, caliper: 0.1}", "options: {fail: true}"), "field 'options' may hold only"),
    (("setting: custody", "status: finished"), "field 'status' must be one of"),
])
def test_a_bad_params_file_names_the_file_and_field(tmp_path, change, message):
    path = write(tmp_path / "params" / "2014-03", "bad.yaml", GOOD.replace(*change))
    with pytest.raises(ParamsError) as error:
        load_request(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_a_month_is_sorted_and_ids_are_unique(tmp_path):
    month = tmp_path / "params" / "2014-03"
    write(month, "b.yaml", GOOD.replace("2014-03-001", "2014-03-002"))
    write(month, "a.yml", GOOD)
    assert [r.id for r in load_month(month)] == ["2014-03-001", "2014-03-002"]
    write(month, "c.yaml", GOOD)
    with pytest.raises(ParamsError, match="is also used by"):
        load_month(month)
    with pytest.raises(ParamsError, match="no such params folder"):
        load_month(tmp_path / "params" / "2099-01")


def test_project_path_finds_the_project_root_from_a_subfolder(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data" / "national").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    assert project_path("data/national", start=tmp_path / "notebooks") == tmp_path / "data/national"
    assert project_path("data/national", start=tmp_path) == tmp_path / "data/national"
    assert project_path(tmp_path / "x") == tmp_path / "x"


def people(n_male=40, n_female=3, ages=None):
    n = n_male + n_female
    ages = ages if ages is not None else [19.0] * 10 + [33.0] * (n - 10)
    return pd.DataFrame({
        "sex": ["M"] * n_male + ["F"] * n_female, "age": ages,
        "ethnicity_group": ["White"] * (n - 2) + ["Black"] * 2, "uk_national": [1] * n,
        "region": ["London"] * n, "index_offence_group": ["theft"] * n,
        "disposal": ["custody release"] * n})


def test_profile_table_applies_disclosure_control():
    table = profile.profile_table(people())
    sex = table.loc["Sex", "People"]
    # Female (3) is "<5", so Male is hidden too ("[c]": 5 or more), or it would be the total minus Male
    assert sex.to_dict() == {"Male": "[c]", "Female": "<5", "Total": "43"}
    assert table.loc["Ethnicity", "People"].to_dict() == {"White": "[c]", "Black": "<5", "Total": "43"}
    # a lone small count is never the only one hidden in its characteristic
    for characteristic in table.index.get_level_values(0).unique():
        shown = table.loc[characteristic, "People"]
        assert shown.isin(["<5", "[c]"]).sum() != 1
    assert table.loc["Age at index", "People"].to_dict() == {
        "18-20": "10", "21-24": "0", "25-29": "0", "30-39": "33", "40-49": "0", "50+": "0", "Total": "43"}
    assert table.loc[("Disposal", "Custody release"), "People"] == "43"
    assert table.loc[("Nationality", "UK national"), "People"] == "43"


def test_age_summary():
    assert profile.age_summary(people()) == ("Ages at the index event ranged over the 18-20 to 30-39 bands; "
                                             "the mean age was 30.")
    assert profile.age_summary(people(5, 0, [52.0] * 5)) == (
        "Ages at the index event ranged over the 50+ band; the mean age was 52.")


def headline(difference, lower, upper, p, treated=0.26, comparison=0.35, significant=None):
    return Comparison(treated, treated - 0.05, treated + 0.05, comparison, comparison - 0.01,
                      comparison + 0.01, difference, lower, upper, p,
                      p <= 0.05 if significant is None else significant, 231, 3000.0, 300.0, 0.05)


def test_summary_paragraph_for_a_reduction():
    text = report.summary_paragraph("Langley House Trust", "Supported housing",
                                    headline(-0.09, -0.14, -0.02, 0.004), "significant reduction", 231, 4025,
                                    MEASURES[0])
    assert text == (
        "This report looks at the re-offending of 231 people who received Supported housing from Langley "
        "House Trust, compared with a group of 4,025 similar people who did not. For every 100 people who "
        "received the service, 26 committed a proven re-offence within a year, compared with 35 for every "
        "100 similar people who did not. The one-year proven re-offending rate of people who received the "
        "service was lower by between 2 and 14 percentage points than that of similar people who did not. "
        "This is a statistically significant reduction in re-offending (p < 0.01).")


def test_summary_paragraph_for_an_inconclusive_result_never_says_no_effect_happened():
    text = report.summary_paragraph("Org", "Prog", headline(0.03, -0.04, 0.10, 0.41, 0.30, 0.27),
                                    "inconclusive", 60, 900, MEASURES[0])
    assert text.endswith("could be lower by as many as 4 or higher by as many as 10 percentage points than "
                         "that of similar people who did not; more people would be needed to tell which. "
                         "The difference is not statistically significant: the result is inconclusive, "
                         "which does not mean the service had no effect (p = 0.41).")


def test_people_needed_and_the_letter():
    assert report.people_needed(48, 43) == 60
    assert report.people_needed(100, 20) == 150
    assert report.people_needed(61, 29) == 64           # ceil(30 * 61 / 29) = ceil(63.1)
    assert report.people_needed(70, 0) is None
    letter = report.not_processed_letter("Open Door", "Arts", "fewer than 30 people could be analysed (20)", 100, 20)
    assert "because fewer than 30 people could be analysed (20)." in letter
    assert ("In this request 20 of the 100 people submitted could be analysed. At that rate, about 150 "
            "people would need to be submitted") in letter
    assert "None of the people submitted could be analysed" in report.not_processed_letter("O", "P", "x", 70, 0)


def test_rate_chart_draws_both_groups_with_intervals():
    fig = figures.rate_chart(headline(-0.09, -0.14, -0.02, 0.004))
    ax = fig.axes[0]
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights == [26.0, 35.0]
    assert [t.get_text() for t in ax.texts] == ["26%", "35%"]
    lines = ax.collections[0].get_segments()
    assert [(round(s[0][1], 6), round(s[1][1], 6)) for s in lines] == [(21.0, 31.0), (34.0, 36.0)]


def test_number_needed_sentence_infinite():
    from jdl.words import number_needed_sentence
    assert "No treatment group, however large" in number_needed_sentence(math.inf)


def _separated_data(seed=1, n=400):
    """Treated people have 0 to 2 previous breaches, the pool 2 to 9: quasi-complete separation by a
    count that is not constant among the treated."""
    rng = np.random.default_rng(seed)
    treated = np.r_[np.ones(60, int), np.zeros(n - 60, int)]
    breaches = np.where(treated == 1, rng.integers(0, 3, n), rng.integers(2, 10, n))
    return pd.DataFrame({"treated": treated, "age": rng.uniform(18, 60, n), "previous_breaches": breaches})


def test_the_model_note_names_firth_and_the_separating_covariate():
    from jdl import match

    result = match(_separated_data(), covariates=["age", "previous_breaches"])
    assert result.propensity_model.estimator == "Firth penalised likelihood"
    assert result.propensity_model.separated == ("const", "previous_breaches")   # x <= 2 involves the constant
    assert report.model_words(result) == (
        "The propensity score comes from a logistic regression of taking part on 2 covariates, fitted by "
        "Firth's penalised likelihood, because the groups are separated on previous breaches of orders (some "
        "people could be classed as taking part or not from these alone, so the ordinary maximum likelihood "
        "estimate does not exist): age at index and previous breaches of orders.")
    assert report.estimator_words(result) == "fitted by Firth's penalised likelihood"


def test_the_matching_note_is_the_match_that_was_run():
    from jdl import match

    data = _separated_data(2)
    data["previous_breaches"] = np.random.default_rng(3).integers(0, 10, len(data))
    radius = match(data, covariates=["age", "previous_breaches"])
    assert report.estimator_words(radius) == "fitted by maximum likelihood"
    assert report.matching_words(radius) == (
        "Radius matching with replacement on the logit of the propensity score: each treated person is matched "
        "with every comparison person within a caliper of 0.2 standard deviations of the logit of the propensity "
        "score (the standard deviation over the treatment group and the comparison pool together, so "
        f"{radius.caliper_width:.4g} on that scale); each comparison person weighted 1/(number of comparison "
        "people matched to a treated person), summed over the treated people they are matched to. Treated people "
        "with no comparison person inside the caliper leave the analysis (no comparison match).")
    nearest = match(data, covariates=["age"], method="nearest", replace=False, caliper=None, m_order="data")
    assert report.matching_words(nearest) == (
        "Nearest-neighbour matching, 1:1 without replacement, on the propensity score (R's MatchIt rules): "
        "treated people are taken in data order, and each is matched with its nearest comparison person with no "
        "caliper; each matched comparison person weighted 1.")


def test_model_terms_in_words():
    assert report.term_words("region_North West") == "region = North West"
    assert report.term_words("ethnicity_group_Black") == "ethnicity group = Black"
    assert report.term_words("oasys_drugs") == "OASys need: drugs"
    assert report.term_words("previous_custodial_sentences") == "previous custodial sentences"
