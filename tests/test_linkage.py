"""Linkage (jdl.cohort.linkage): every pass, every bucket, ambiguity at each pass, exact counts."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from jdl.cohort.attrition import bucket_counts
from jdl.upload.identifiers import format_pnc
from jdl.cohort.linkage import link, name_key, name_parts, swap_day_month

from national_builder import build_national

P1, P2, P3 = format_pnc(2001, 1), format_pnc(2002, 2), format_pnc(2003, 3)

PEOPLE = [
    {"person_id": 1, "pnc_id": P1, "prison_number": "A1111AA", "surname": "Smith", "forename": "John",
     "date_of_birth": date(1980, 6, 15)},
    {"person_id": 2, "pnc_id": P2, "surname": "Smith-Jones", "forename": "Mary", "date_of_birth": date(1975, 3, 4),
     "sex": "F"},
    {"person_id": 3, "surname": "O'Brien", "forename": "Seán", "date_of_birth": date(1990, 1, 2)},
    {"person_id": 4, "surname": "Twin", "forename": "Sam", "date_of_birth": date(1985, 5, 5)},
    {"person_id": 5, "surname": "Twin", "forename": "Sam", "date_of_birth": date(1985, 5, 5)},
    {"person_id": 6, "pnc_id": P3, "surname": "Dup", "forename": "One"},
    {"person_id": 7, "pnc_id": P3, "surname": "Dup", "forename": "Two"},
    {"person_id": 8, "prison_number": "B2222BB", "surname": "Cell", "forename": "One"},
    {"person_id": 9, "prison_number": "B2222BB", "surname": "Cell", "forename": "Two"},
    {"person_id": 10, "surname": "Johnson", "forename": "Peter", "date_of_birth": date(1970, 11, 2)},
    {"person_id": 11, "surname": "Clarke", "forename": "Anne", "date_of_birth": date(1988, 7, 9), "sex": "F"},
    {"person_id": 12, "surname": "Clark", "forename": "Anne", "date_of_birth": date(1988, 7, 9), "sex": "F"},
    {"person_id": 13, "prison_number": "C3333CC", "surname": "Brown", "forename": "Lee"},
    {"person_id": 14, "surname": "Taylor-Wood", "forename": "Kim", "date_of_birth": date(1983, 8, 8), "sex": "F"},
]


def row(number, surname, forename, dob, sex, pnc=None, prison=None):
    return {"row": number, "surname": surname, "forename": forename,
            "date_of_birth": pd.Timestamp(dob) if dob else pd.NaT, "sex": sex, "pnc_id": pnc, "prison_number": prison}


SUBMITTED = pd.DataFrame([
    row(2, "Xxxx", "Yyyy", date(1999, 1, 1), "M", pnc=P1),                 # pass 1 -> 1
    row(3, "Brown", "Lee", date(1971, 1, 1), "M", prison="C3333CC"),       # pass 2 -> 13
    row(4, "smith jones", "MARY", date(1975, 3, 4), "F"),                  # pass 3 -> 2 (hyphen, case)
    row(5, "O'BRIEN", "Sean", date(1990, 1, 2), "M"),                      # pass 3 -> 3 (accent, apostrophe)
    row(6, "Jonhson", "Peter", date(1970, 2, 11), "M"),                    # pass 4 -> 10 (typo + swapped dob)
    row(7, "Twin", "Sam", date(1985, 5, 5), "M"),                          # ambiguous at pass 3
    row(8, "Any", "Body", date(1960, 1, 1), "M", pnc=P3),                  # ambiguous at pass 1
    row(9, "Any", "Body", date(1960, 1, 2), "M", prison="B2222BB"),        # ambiguous at pass 2
    row(10, "Clarkk", "Anne", date(1988, 7, 9), "F"),                      # ambiguous at pass 4
    row(11, "Nobody", "Here", date(1960, 1, 3), "M"),                      # not found
    row(12, "Taylor", "Kim", date(1983, 8, 8), "F"),                       # pass 4 -> 14 (part of a hyphenated name)
    row(13, "Smith Jones", "Mary", date(1975, 3, 4), "F"),                 # duplicate of row 4 before linking
    row(14, "Smith", "John", date(1980, 6, 15), "M"),                      # pass 3 -> 1, already row 2's: duplicate
    row(15, "Lost", "Date", None, "M"),                                    # insufficient identifiers
    row(16, "Jansen", "Peter", date(1970, 11, 2), "M"),                    # similarity 0.77: not found
])


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    return build_national(tmp_path_factory.mktemp("national"), people=PEOPLE)


@pytest.fixture(scope="module")
def linkage(national):
    return link(SUBMITTED, national)


def test_each_row_ends_where_expected(linkage):
    links = linkage.links.set_index("row")
    expected_person = {2: 1, 3: 13, 4: 2, 5: 3, 6: 10, 12: 14}
    expected_pass = {2: 1, 3: 2, 4: 3, 5: 3, 6: 4, 12: 4}
    linked = links[links["bucket"].isna()]
    assert linked["person_id"].to_dict() == expected_person
    assert linked["link_pass"].to_dict() == expected_pass
    assert links["bucket"].dropna().to_dict() == {
        7: "ambiguous match", 8: "ambiguous match", 9: "ambiguous match", 10: "ambiguous match",
        11: "not found", 13: "duplicate row", 14: "duplicate row", 15: "insufficient identifiers", 16: "not found"}
    # people who left hold no link
    assert links.loc[links["bucket"].notna(), "person_id"].isna().all()


def test_counts_per_pass_and_bucket(linkage):
    assert linkage.pass_counts().to_dict() == {1: 1, 2: 1, 3: 2, 4: 2}
    buckets = linkage.links["bucket"].fillna("analysed")
    counts = bucket_counts(buckets)
    assert counts.to_dict() == {"duplicate row": 2, "insufficient identifiers": 1, "not found": 2,
                                "ambiguous match": 4, "no eligible index event": 0,
                                "index event outside the data window": 0, "under 18 at index": 0,
                                "missing data needed by the model": 0, "no comparison match": 0, "analysed": 6}
    assert counts.sum() == len(SUBMITTED)


def test_threshold_is_a_parameter(national):
    strict = link(SUBMITTED, national, threshold=0.97).links.set_index("row")
    # "Jonhson" scores 0.962 and "Taylor" matches a part exactly (1.0); "Clarkk" scores 0.933 and 0.967
    assert strict.loc[6, "bucket"] == "not found"
    assert strict.loc[12, "person_id"] == 14
    assert strict.loc[10, "bucket"] == "not found"
    loose = link(SUBMITTED, national, threshold=0.75).links.set_index("row")
    # at 0.75 "Jansen" (0.77) also reaches person 10, whom row 6 reached first: a duplicate row
    assert loose.loc[16, "bucket"] == "duplicate row" and loose.loc[6, "person_id"] == 10


def test_pnc_match_wins_over_names_and_rows_are_processed_once(national):
    # a row whose PNC id finds person 1 and whose names would exactly match person 10: pass 1 decides
    frame = pd.DataFrame([row(2, "Johnson", "Peter", date(1970, 11, 2), "M", pnc=P1)])
    links = link(frame, national).links
    assert links.loc[0, "person_id"] == 1 and links.loc[0, "link_pass"] == 1


def test_ambiguous_at_an_early_pass_is_not_retried_later(national):
    # PNC P3 is held by two people: dropped at pass 1 even though the names would find person 10
    frame = pd.DataFrame([row(2, "Johnson", "Peter", date(1970, 11, 2), "M", pnc=P3)])
    links = link(frame, national).links
    assert links.loc[0, "bucket"] == "ambiguous match" and pd.isna(links.loc[0, "person_id"])


def test_same_pnc_twice_is_a_duplicate_row(national):
    frame = pd.DataFrame([row(2, "A", "B", date(1990, 1, 1), "M", pnc=P1),
                          row(3, "C", "D", date(1991, 1, 1), "M", pnc=P1)])
    links = link(frame, national).links
    assert links["bucket"].tolist()[1] == "duplicate row" and links["person_id"].tolist()[0] == 1


def test_linking_is_deterministic(national):
    shuffled = SUBMITTED.sample(frac=1, random_state=3)
    again = link(shuffled, national).links.set_index("row").sort_index()
    first = link(SUBMITTED, national).links.set_index("row").sort_index()
    # the same people link; which of two duplicate rows is "the later" follows the submitted order
    same = ~again.index.isin([4, 13, 2, 14])
    pd.testing.assert_frame_equal(again[same], first[same])


def test_name_normalisation_helpers():
    assert name_key(pd.Series(["O'Brien", "smith-jones", "Zoë Ann", "", None])).tolist()[:3] == [
        "OBRIEN", "SMITHJONES", "ZOEANN"]
    assert name_key(pd.Series(["", None])).isna().all()
    assert name_parts(pd.Series(["Smith-Jones", "Ann", None])).tolist() == [("SMITHJONES", "SMITH", "JONES"), ("ANN",), ()]
    swapped = swap_day_month(pd.Series(pd.to_datetime(["1970-11-02", "1980-06-15", "1985-05-05", None])))
    assert swapped.tolist()[0] == pd.Timestamp("1970-02-11")
    assert swapped.isna().tolist() == [False, True, True, True]
