"""One name key for upload checks and linkage (jdl.upload.identifiers.normalise_name).

Exact keys for non-ASCII and hostile names; then the same names through the two users of the key:
the upload checks (a later row naming the same person in another spelling is "same person as
row ...") and linkage (that later row is a "duplicate row"; the first links at pass 3 to the
national person whose name is held in upper-case ASCII, e.g. "Łukasz" to "LUKASZ").
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from jdl.cohort.linkage import link, name_key, name_parts as linkage_name_parts
from jdl.upload.identifiers import name_parts, normalise_name
from jdl.upload.template import write_filled_template
from jdl.upload.validate import validate_upload

from fake_uploads import INTERVENTION, people
from national_builder import build_national

KEYS = [
    ("Łukasz", "LUKASZ"),                      # a letter with its own code point, not a base + accent
    ("José", "JOSE"),
    ("Zoë", "ZOE"),
    ("Zoe\u0308", "ZOE"),                      # the same, decomposed
    ("Seán", "SEAN"),
    ("Straße", "STRASSE"),
    ("Müller", "MULLER"),
    ("Ærø", "AERO"),
    ("Þór", "THOR"),
    ("İlker", "ILKER"),
    ("Nguyễn", "NGUYEN"),
    ("Иван", "IVAN"),
    ("\ufb01ona", "FIONA"),                    # the "fi" ligature
    ("\uff2a\uff4f\uff48\uff4e", "JOHN"),      # full-width letters
    ("Jo\u200bhn", "JOHN"),                    # a zero-width space inside
    ("\u202eevil", "EVIL"),                    # a right-to-left override
    ("O'Brien", "OBRIEN"),
    ("O\u2019Brien", "OBRIEN"),                # typographic apostrophe
    ("O BRIEN", "OBRIEN"),
    ("Smith-Jones", "SMITHJONES"),
    ("smith jones", "SMITHJONES"),
    ("Smith\u2013Jones", "SMITHJONES"),        # en dash
    ("Smith\u2011Jones", "SMITHJONES"),        # non-breaking hyphen
    ("Smith\u00a0Jones", "SMITHJONES"),        # non-breaking space
    (" \tSmith - Jones\n", "SMITHJONES"),
    ("J0hn", "J0HN"),                          # a digit typed into a name is kept
    ("\u0661\u0662", "12"),                    # Arabic-Indic digits
    ("<script>alert(1)</script>", "SCRIPTALERT1SCRIPT"),
    ("Robert'); DROP TABLE people;--", "ROBERTDROPTABLEPEOPLE"),
    ("=HYPERLINK(\"x\")", "HYPERLINKX"),
    ("\U0001F600", None),                      # an emoji is dropped, never spelled out
    ("-", None),
    ("   ", None),
    ("", None),
]


@pytest.mark.parametrize("name, key", KEYS)
def test_normalise_name(name, key):
    assert normalise_name(name) == key


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, 12, b"Smith"])
def test_a_value_that_is_not_text_has_no_key(value):
    assert normalise_name(value) is None
    assert name_parts(value) == ()


@pytest.mark.parametrize("name, parts", [
    ("Smith-Jones", ("SMITHJONES", "SMITH", "JONES")),
    ("Smith\u2013Jones", ("SMITHJONES", "SMITH", "JONES")),
    ("Mary  Ann-Smith", ("MARYANNSMITH", "MARY", "ANN", "SMITH")),
    ("O'Brien", ("OBRIEN",)),
    ("Ann", ("ANN",)),
    ("Ann-Ann", ("ANNANN", "ANN")),
    ("\U0001F600-Łukasz", ("LUKASZ",)),
    ("--", ()),
])
def test_name_parts(name, parts):
    assert name_parts(name) == parts


def test_linkage_keys_are_the_identifier_keys():
    names = pd.Series([name for name, _ in KEYS] + [None], dtype=object)
    assert name_key(names).tolist() == [key for _, key in KEYS] + [None]
    assert name_key(names.astype("string")).tolist() == [key for _, key in KEYS] + [None]
    assert linkage_name_parts(names).tolist() == [name_parts(name) for name, _ in KEYS] + [()]


# (surname, forename) as submitted, and as the national index holds them (upper-case ASCII)
SPELLINGS = [
    (("Nowak", "Łukasz"), ("NOWAK", "LUKASZ")),
    (("García", "José"), ("GARCIA", "JOSE")),
    (("O\u2019Brien", "Zoë"), ("O'BRIEN", "ZOE")),
    (("Smith\u2013Jones", "Seán"), ("SMITH-JONES", "SEAN")),
    (("Müller\u00a0Weiß", "Jürgen"), ("MULLER WEISS", "JURGEN")),
    (("\uff2b\uff49\uff4d", "Jo\u200bhn"), ("KIM", "JOHN")),
    (("Иванов", "Иван"), ("IVANOV", "IVAN")),
    (("Nguyễn", "Thị"), ("NGUYEN", "THI")),
    (("<b>Oster</b>", "Robert'); DROP TABLE people;--"), ("B OSTER B", "ROBERT DROP TABLE PEOPLE")),
]


@pytest.fixture(scope="module")
def upload(tmp_path_factory):
    """70 fake people, the first few renamed as submitted; then one more row per renamed person
    spelling the name as the national index does (same date of birth and sex, no identifiers)."""
    frame = people(70)
    for i, ((surname, forename), _) in enumerate(SPELLINGS):
        frame.loc[i, ["surname", "forename"]] = [surname, forename]
    again = frame.iloc[:len(SPELLINGS)].copy()
    again["surname"] = [national[0] for _, national in SPELLINGS]
    again["forename"] = [national[1] for _, national in SPELLINGS]
    again["pnc_id"] = None
    again["prison_number"] = None
    again["participant_ref"] = [f"AGAIN{i}" for i in range(len(SPELLINGS))]
    frame = pd.concat([frame, again], ignore_index=True)
    path = write_filled_template(tmp_path_factory.mktemp("names") / "upload.xlsx", frame, INTERVENTION)
    return frame, validate_upload(path)


def test_upload_checks_see_each_national_spelling_as_the_same_person(upload):
    frame, result = upload
    assert result.ok
    assert result.n_rows == 70 + len(SPELLINGS) and result.n_distinct_people == 70
    assert [(p.row, p.message) for p in result.warnings] == [
        (72 + i, f"same person as row {2 + i} (same surname, forename and date of birth)")
        for i in range(len(SPELLINGS))]


def test_linkage_links_the_submitted_spelling_to_the_national_one(upload, tmp_path):
    frame, result = upload
    national = build_national(tmp_path / "national", people=[
        {"person_id": 100 + i, "surname": surname, "forename": forename,
         "date_of_birth": frame.loc[i, "date_of_birth"].date(), "sex": "M" if i % 2 else "F"}
        for i, (_, (surname, forename)) in enumerate(SPELLINGS)])
    links = link(result.participants, national).links.set_index("row")
    n = len(SPELLINGS)
    # each submitted spelling links by exact key, name, date of birth and sex (pass 3) ...
    assert links.loc[[2 + i for i in range(n)], "person_id"].tolist() == [100 + i for i in range(n)]
    assert links.loc[[2 + i for i in range(n)], "link_pass"].tolist() == [3] * n
    # ... and the row spelling the same person as the national index does is a duplicate row
    assert links.loc[[72 + i for i in range(n)], "bucket"].tolist() == ["duplicate row"] * n
    assert links["person_id"].notna().sum() == n


def test_lukasz_links_to_a_national_lukasz(tmp_path):
    national = build_national(tmp_path / "national", people=[
        {"person_id": 1, "surname": "KOWALSKI", "forename": "LUKASZ", "date_of_birth": dt.date(1984, 2, 29)},
        {"person_id": 2, "surname": "KOWALSKI", "forename": "UKASZ", "date_of_birth": dt.date(1984, 2, 29)}])
    submitted = pd.DataFrame([{"row": 2, "surname": "Kowalski", "forename": "Łukasz",
                               "date_of_birth": pd.Timestamp("1984-02-29"), "sex": "M", "pnc_id": None,
                               "prison_number": None}])
    links = link(submitted, national).links
    assert links["person_id"].tolist() == [1] and links["link_pass"].tolist() == [3]
    assert links["bucket"].isna().all()
