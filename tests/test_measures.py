"""Covariates, outcomes and the comparison pool (jdl.cohort.measures) on hand-worked cases."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from jdl.cohort.measures import COVARIATES, OUTCOME_COLUMNS, comparison_pool, covariates, outcomes
from jdl.cohort.national import NationalData

from national_builder import build_national


def offence(person, occasion, offence_date, proof_date, disposal="court conviction", court_class="either-way",
            custodial=False, group="theft"):
    return {"person_id": person, "occasion_id": occasion, "offence_date": offence_date, "proof_date": proof_date,
            "disposal": disposal, "court_class": court_class, "custodial": custodial, "offence_group": group}


PEOPLE = [{"person_id": p} for p in (1, 2, 3, 5, 7, 8)] + [{"person_id": 6, "date_of_birth": date(1993, 1, 1)}]
EVENTS = [
    {"event_id": 1, "person_id": 1, "event_type": "custody release", "sentence_date": date(2009, 7, 1),
     "index_date": date(2010, 1, 1), "episode_end": date(2010, 1, 1), "sentence_length_days": 180},
    {"event_id": 4, "person_id": 1, "event_type": "community order start", "sentence_date": date(2007, 6, 1),
     "index_date": date(2007, 6, 1), "episode_end": date(2008, 6, 1), "sentence_length_days": 365},
    {"event_id": 2, "person_id": 2, "event_type": "community order start", "sentence_date": date(2010, 1, 1),
     "index_date": date(2010, 1, 1), "episode_end": date(2011, 1, 1), "sentence_length_days": 365,
     "region": "Wales", "index_offence_group": "drugs"},
    {"event_id": 3, "person_id": 3, "event_type": "custody release", "sentence_date": date(2009, 1, 1),
     "index_date": date(2010, 1, 1), "episode_end": date(2010, 1, 1), "sentence_length_days": 800},
    {"event_id": 51, "person_id": 5, "event_type": "custody release", "sentence_date": date(2009, 1, 1),
     "index_date": date(2009, 5, 1), "episode_end": date(2009, 5, 1)},
    {"event_id": 52, "person_id": 5, "event_type": "custody release", "sentence_date": date(2010, 1, 1),
     "index_date": date(2010, 5, 1), "episode_end": date(2010, 5, 1)},
    {"event_id": 61, "person_id": 6, "event_type": "custody release", "sentence_date": date(2010, 6, 1),
     "index_date": date(2010, 12, 31), "episode_end": date(2010, 12, 31)},
    {"event_id": 71, "person_id": 7, "event_type": "custody release", "sentence_date": date(2012, 6, 1),
     "index_date": date(2013, 1, 1), "episode_end": date(2013, 1, 1)},
    {"event_id": 81, "person_id": 8, "event_type": "community order start", "sentence_date": date(2010, 1, 1),
     "index_date": date(2010, 1, 1), "episode_end": date(2011, 1, 1)},
]
OFFENCES = [
    # person 1: history before the index sentence date (2009-07-01)
    offence(1, 11, date(2005, 3, 1), date(2005, 4, 1)),
    offence(1, 12, date(2006, 5, 1), date(2006, 5, 20), "caution", "summary", group="violence against the person"),
    offence(1, 15, date(2007, 1, 1), date(2007, 1, 10), "penalty notice for disorder", "summary"),
    offence(1, None, date(2008, 2, 1), date(2008, 3, 1), court_class="summary", group="breach of order"),
    offence(1, 13, date(2008, 6, 1), date(2008, 7, 1), custodial=True, group="drugs"),
    offence(1, 14, date(2009, 5, 1), date(2009, 7, 1), custodial=True),            # the index offence
    # person 1: the follow-up year from 2010-01-01 (day 364 is 2010-12-31; proof by 2011-07-02)
    offence(1, 21, date(2010, 1, 1), date(2010, 2, 1), court_class="summary"),      # day 0
    offence(1, 21, date(2010, 1, 1), date(2010, 2, 1), court_class="either-way"),   # day 0, more serious
    offence(1, 24, date(2010, 3, 1), date(2010, 3, 2), "penalty notice for disorder", "summary"),
    offence(1, None, date(2010, 6, 1), date(2010, 6, 20), court_class="summary", group="breach of order"),
    offence(1, 22, date(2010, 12, 31), date(2011, 7, 2), court_class="indictable-only", custodial=True),
    offence(1, 25, date(2010, 12, 31), date(2011, 7, 3), court_class="summary"),   # proven a day too late
    offence(1, 26, date(2011, 1, 1), date(2011, 2, 1), court_class="summary"),     # day 365: outside
    offence(1, 23, date(2010, 5, 1), date(2010, 5, 10), "caution", "summary"),
    # person 3: first re-offence indictable-only and sentenced to custody
    offence(3, 31, date(2010, 2, 1), date(2010, 4, 1), court_class="indictable-only", custodial=True),
]
EMPLOYMENT = [{"person_id": 1, "start_date": date(2008, 1, 1), "end_date": date(2009, 1, 1)},
              {"person_id": 2, "start_date": date(2008, 1, 1), "end_date": date(2008, 12, 31)}]
BENEFITS = [{"person_id": 2, "start_date": date(2009, 6, 1), "end_date": date(2009, 8, 1)}]
OASYS = [{"person_id": 1, "assessment_date": date(2009, 8, 1), "accommodation": 2, "drugs": 1},
         {"person_id": 1, "assessment_date": date(2010, 1, 2), "accommodation": 0}]


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    return build_national(tmp_path_factory.mktemp("national"), people=PEOPLE, events=EVENTS, offences=OFFENCES,
                          employment=EMPLOYMENT, benefits=BENEFITS, oasys=OASYS)


def test_outcomes_hand_worked(national):
    out = outcomes(national, [1, 2, 3])
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    one = out.loc[1].to_dict()
    assert one == {"reoffended": 1, "reoffences": 4, "days_to_first": 0.0, "first_indictable_only": 0.0,
                   "first_either_way": 1.0, "first_summary": 0.0, "reoffences_indictable_only": 1.0,
                   "reoffences_either_way": 1.0, "reoffences_summary": 2.0, "first_custodial": 0.0,
                   "custodial_sentences": 1.0}
    two = out.loc[2]
    assert two["reoffended"] == 0 and two["reoffences"] == 0
    assert two.drop(["reoffended", "reoffences"]).isna().all()
    three = out.loc[3].to_dict()
    assert three == {"reoffended": 1, "reoffences": 1, "days_to_first": 31.0, "first_indictable_only": 1.0,
                     "first_either_way": 0.0, "first_summary": 0.0, "reoffences_indictable_only": 1.0,
                     "reoffences_either_way": 0.0, "reoffences_summary": 0.0, "first_custodial": 1.0,
                     "custodial_sentences": 1.0}


def test_covariates_hand_worked(national):
    cov = covariates(national, [1, 2])
    assert set(COVARIATES) <= set(cov.columns)
    one = cov.loc[1]
    assert (one["previous_offences"], one["previous_convictions"], one["previous_cautions"]) == (3, 2, 1)
    assert (one["previous_custodial_sentences"], one["previous_court_orders"], one["previous_breaches"]) == (1, 1, 1)
    assert (one["previous_violence"], one["previous_drugs"], one["previous_theft"]) == (1, 1, 1)
    born = date(1980, 6, 15)
    assert one["age"] == pytest.approx((date(2010, 1, 1) - born).days / 365.25)
    assert one["age_squared"] == pytest.approx(one["age"] ** 2)
    assert one["age_at_first_contact"] == pytest.approx((date(2005, 4, 1) - born).days / 365.25)
    years = (date(2010, 1, 1) - date(2005, 4, 1)).days / 365.25
    assert one["copas_rate"] == pytest.approx(math.log((2 + 1 + 1) / (years + 10)))
    assert (one["employed_year_before"], one["benefit_year_before"]) == (1, 0)
    assert (one["oasys_assessed"], one["oasys_accommodation"], one["oasys_drugs"], one["oasys_alcohol"]) == (1, 2, 1, 0)
    assert (one["sex"], one["region"], one["disposal"], one["sentence_band"], one["index_year"]) == (
        "M", "London", "custody release", "custody under 12 months", 2010)
    two = cov.loc[2]
    assert (two["previous_offences"], two["previous_court_orders"], two["employed_year_before"],
            two["benefit_year_before"], two["oasys_assessed"]) == (0, 0, 0, 1, 0)
    assert two["copas_rate"] == pytest.approx(math.log(1 / 10))
    assert two["age_at_first_contact"] == pytest.approx((date(2010, 1, 1) - born).days / 365.25)
    assert (two["region"], two["index_offence_group"], two["sentence_band"]) == ("Wales", "drugs", "order up to 12 months")


def test_comparison_pool_rules(national):
    pool = comparison_pool(national, "custody", date(2009, 1, 1), date(2012, 12, 31), exclude_person_ids=[3])
    # person 1's release; person 5's first release in the period; not person 3 (treated), person 6
    # (17 at index), person 7 (after the window) or person 8 (a court order)
    assert pool.tolist() == [1, 51]
    pool = comparison_pool(national, "community", date(2009, 1, 1), date(2012, 12, 31))
    assert pool.tolist() == [2, 81]
    assert comparison_pool(national, "custody", date(2010, 2, 1), date(2012, 12, 31)).tolist() == [52]


def test_outcomes_agree_with_the_generator_truth(tmp_path):
    """The DuckDB definition and the generator's own (used for the truth file) agree exactly."""
    from jdl.synth.world import PROGRAMMES, SynthConfig, generate, write_national

    world = generate(SynthConfig(n_people=20_000))
    write_national(world, tmp_path)
    national = NationalData.open(tmp_path)
    for prog in PROGRAMMES:
        event_ids = world.participants[prog.slug] + 1     # event ids are 1-based positions
        out = outcomes(national, event_ids)
        truth = world.truth[prog.slug]
        assert out["reoffended"].mean() == pytest.approx(truth["rate_with_service"], abs=1e-12)
        assert out["reoffences"].mean() == pytest.approx(truth["frequency_with_service"], abs=1e-12)
        assert np.all(out.index.values == np.sort(event_ids))
