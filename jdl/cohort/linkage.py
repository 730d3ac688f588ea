"""Linking submitted people to the national data (methodology section 2).

Four passes, each over the people still unmatched, each accepting only a single candidate:

1. PNC id; 2. prison number; 3. exact normalised surname + forename + date of birth + sex;
4. fuzzy: Jaro-Winkler similarity of the normalised surname and of the forename, both at least
   ``threshold`` (default 0.92), same sex, and the same date of birth or the day and month swapped.

Two or more candidates at any pass drop the person as "ambiguous match": never guessed. Before
linking, a row that repeats an earlier row's person (same normalised name, date of birth and sex,
or the same valid PNC id) is a "duplicate row"; after linking, a row that reaches a national person
an earlier row already reached is a "duplicate row" too, so each national person is counted once.

Names are compared after normalisation (:func:`name_key`, which is
:func:`jdl.upload.identifiers.normalise_name`, the key upload checks use too): letters
transliterated to upper-case ASCII A-Z, digits kept ("Łukasz" links to a national "LUKASZ"),
everything else dropped. For the fuzzy pass a hyphenated or two-part surname also matches on each of its parts
("Smith-Jones" against "Smith"), and the best score over the parts counts.

Nothing here prints, logs or raises with a value from the upload or the national data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler

from jdl.cohort.attrition import AMBIGUOUS, DUPLICATE, INSUFFICIENT, NOT_FOUND
from jdl.cohort.national import NationalData
from jdl.upload.identifiers import name_parts as identifier_name_parts
from jdl.upload.identifiers import normalise_name

DEFAULT_THRESHOLD = 0.92
PASS_NAMES = {1: "PNC id", 2: "prison number", 3: "exact name, date of birth and sex",
              4: "similar name, date of birth (or day and month swapped) and sex"}


def _each_distinct(names: pd.Series, function) -> pd.Series:
    """``function`` applied once per distinct value of ``names`` (index kept)."""
    values = names.astype(object).where(names.notna(), None)
    distinct = {value: function(value) for value in pd.unique(values)}
    return pd.Series([distinct[value] for value in values], index=names.index, dtype=object)


def name_key(names: pd.Series) -> pd.Series:
    """Names normalised for matching (:func:`jdl.upload.identifiers.normalise_name`): upper-case
    ASCII letters A-Z and digits; None where a name is missing or its key is empty."""
    return _each_distinct(names, normalise_name)


def name_parts(names: pd.Series) -> pd.Series:
    """Each name's keys for fuzzy matching (:func:`jdl.upload.identifiers.name_parts`): the whole
    name and, for a hyphenated or spaced name, each of its parts (a tuple per name; empty when
    there is no name)."""
    return _each_distinct(names, identifier_name_parts)


def swap_day_month(dates: pd.Series) -> pd.Series:
    """Dates with day and month swapped where that makes a valid, different date (else NaT)."""
    d = pd.to_datetime(dates)
    ok = d.notna() & (d.dt.day <= 12) & (d.dt.day != d.dt.month)
    swapped = pd.to_datetime(pd.DataFrame({"year": d.dt.year.where(ok, 2000), "month": d.dt.day.where(ok, 1),
                                           "day": d.dt.month.where(ok, 1)}), errors="coerce")
    return swapped.where(ok)


@dataclass(frozen=True)
class Linkage:
    """The result of linking: one row per submitted row (index as the input's).

    ``links`` has columns ``row`` (the submitter's row number), ``person_id`` (Int64, NA when not
    linked), ``link_pass`` (1-4, NA when not linked) and ``bucket`` (the attrition bucket, NA for
    people still in the flow). ``threshold`` is the fuzzy-pass similarity used.
    """

    links: pd.DataFrame
    threshold: float

    def pass_counts(self) -> pd.Series:
        """Number of people linked at each pass (1-4), zeros included."""
        linked = self.links.loc[self.links["bucket"].isna(), "link_pass"]
        return linked.value_counts().reindex([1, 2, 3, 4], fill_value=0).astype(int)


def _single_candidates(pairs: pd.DataFrame) -> tuple[pd.Series, pd.Index]:
    """From (submitted index, person_id) candidate pairs: the unique match per index, and the
    indexes with two or more distinct candidates."""
    pairs = pairs.drop_duplicates()
    n = pairs.groupby("sub")["person_id"].transform("size")
    unique = pairs[n == 1].set_index("sub")["person_id"]
    ambiguous = pd.Index(pairs.loc[n > 1, "sub"].unique())
    return unique, ambiguous


def _people_where(con, column: str, values: pd.Series, columns: str) -> pd.DataFrame:
    wanted = pd.DataFrame({"value": values.dropna().unique()})
    con.register("wanted_values", wanted)
    try:
        return con.execute(f"select {columns} from people p join wanted_values w on p.{column} = w.value").df()
    finally:
        con.unregister("wanted_values")


def link(participants: pd.DataFrame, national: NationalData, threshold: float = DEFAULT_THRESHOLD) -> Linkage:
    """Link submitted people to the national data.

    ``participants``: the parsed Participants rows (as :func:`jdl.upload.validate.validate_upload`
    returns them): ``row``, ``surname``, ``forename``, ``date_of_birth`` (datetime), ``sex``
    ("M"/"F"), ``pnc_id`` and ``prison_number`` (normalised, None when absent or invalid).
    Returns a :class:`Linkage` whose ``bucket`` is "duplicate row", "insufficient identifiers",
    "not found" or "ambiguous match" for those who leave, NA for those linked.
    """
    sub = participants
    surname, forename = name_key(sub["surname"]), name_key(sub["forename"])
    dob = pd.to_datetime(sub["date_of_birth"], errors="coerce")
    sex = sub["sex"].where(sub["sex"].isin(["M", "F"]))
    pnc = sub["pnc_id"].where(sub["pnc_id"].notna())
    prison = sub["prison_number"].where(sub["prison_number"].notna())
    bucket = pd.Series(pd.NA, index=sub.index, dtype="object")
    person = pd.Series(pd.NA, index=sub.index, dtype="Int64")
    link_pass = pd.Series(pd.NA, index=sub.index, dtype="Int8")

    # duplicate rows: a later row for a person an earlier row already named
    identity = pd.DataFrame({"s": surname, "f": forename, "d": dob, "x": sex})
    full_identity = identity.notna().all(axis=1)
    dup = (identity.duplicated() & full_identity) | (pnc.notna() & pnc.duplicated())
    bucket[dup] = DUPLICATE
    # insufficient identifiers: no valid PNC id or prison number, and not all of name, dob and sex
    insufficient = bucket.isna() & pnc.isna() & prison.isna() & ~full_identity
    bucket[insufficient] = INSUFFICIENT

    def open_rows():
        return bucket.isna() & person.isna()

    def settle(unique: pd.Series, ambiguous: pd.Index, number: int) -> None:
        bucket[ambiguous] = AMBIGUOUS
        person[unique.index] = unique.astype("int64")
        link_pass[unique.index] = number

    with national.session() as con:
        # pass 1 and 2: identifiers
        for number, column, values in ((1, "pnc_id", pnc), (2, "prison_number", prison)):
            todo = open_rows() & values.notna()
            found = _people_where(con, column, values[todo], f"p.person_id, p.{column} as value")
            pairs = pd.DataFrame({"sub": values[todo].index, "value": values[todo].values}).merge(found, on="value")
            settle(*_single_candidates(pairs[["sub", "person_id"]]), number)

        # national people born on any of the submitted dates (or their day-month swaps)
        swapped = swap_day_month(dob)
        todo = open_rows() & full_identity
        dates = pd.concat([dob[todo], swapped[todo]]).dropna().dt.date
        nat = _people_where(con, "date_of_birth", dates,
                            "p.person_id, p.surname, p.forename, p.date_of_birth, p.sex::varchar as sex")
    nat["dob"] = pd.to_datetime(nat["date_of_birth"])
    nat["s"], nat["f"] = name_key(nat["surname"]), name_key(nat["forename"])

    # pass 3: exact normalised name, date of birth and sex
    todo = open_rows() & full_identity
    mine = pd.DataFrame({"sub": sub.index[todo], "s": surname[todo].values, "f": forename[todo].values,
                         "dob": dob[todo].values, "sex": sex[todo].values})
    pairs = mine.merge(nat[["person_id", "s", "f", "dob", "sex"]], on=["s", "f", "dob", "sex"])
    settle(*_single_candidates(pairs[["sub", "person_id"]]), 3)

    # pass 4: similar names, same sex, same or day-month-swapped date of birth
    todo = open_rows() & full_identity
    mine = pd.DataFrame({"sub": sub.index[todo], "sex": sex[todo].values, "f": forename[todo].values,
                         "parts": name_parts(sub.loc[todo, "surname"]).values})
    blocks = pd.concat([mine.assign(dob=dob[todo].values), mine.assign(dob=swapped[todo].values)]).dropna(subset=["dob"])
    nat["parts"] = name_parts(nat["surname"])
    cand = blocks.merge(nat[["person_id", "dob", "sex", "f", "parts"]], on=["dob", "sex"], suffixes=("", "_nat"))
    if len(cand):
        forename_score = np.array([JaroWinkler.similarity(a, b) if isinstance(a, str) and isinstance(b, str) else 0.0
                                   for a, b in zip(cand["f"], cand["f_nat"])])
        surname_score = np.array([max((JaroWinkler.similarity(a, b) for a in mine_parts for b in nat_parts), default=0.0)
                                  for mine_parts, nat_parts in zip(cand["parts"], cand["parts_nat"])])
        cand = cand[(forename_score >= threshold) & (surname_score >= threshold)]
    settle(*_single_candidates(cand[["sub", "person_id"]]), 4)

    bucket[open_rows()] = NOT_FOUND
    # a national person reached by two rows: the later row is a duplicate
    linked = person.notna() & bucket.isna()
    again = linked & person.where(linked).duplicated()
    bucket[again] = DUPLICATE
    person[again] = pd.NA
    link_pass[again] = pd.NA
    links = pd.DataFrame({"row": sub["row"], "person_id": person, "link_pass": link_pass, "bucket": bucket})
    return Linkage(links=links, threshold=threshold)
