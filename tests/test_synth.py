"""Tests of the synthetic national data, programmes and submissions.

The calibration test computes the methodology section 9 figures from the generated Parquet files
with its own DuckDB queries (not the generator's code), on the default-size dataset.
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from jdl.identifiers import normalise_pnc, normalise_prison_number
from jdl.synth import (
    PROGRAMMES,
    SynthConfig,
    generate,
    submission,
    synthesise,
    write_national,
)
from jdl.validate import validate_upload
from jdl.window import DataWindow

TABLES = ("people", "index_events", "offences", "employment", "benefits", "oasys")


@pytest.fixture(scope="module")
def default_world(tmp_path_factory):
    """The default dataset (SynthConfig()), written once for the module."""
    root = tmp_path_factory.mktemp("default")
    world = synthesise(root / "national", root / "uploads", root / "truth" / "programmes.json", SynthConfig())
    return world, root


@pytest.fixture(scope="module")
def con(default_world):
    _, root = default_world
    connection = duckdb.connect()
    for table in TABLES:
        connection.execute(f"create view {table} as select * from read_parquet('{root / 'national' / table}.parquet')")
    return connection


def scalar(con, sql):
    return con.execute(sql).fetchone()[0]


# one-year proven re-offending (methodology section 3), written independently of the generator:
# adults at index, the first index event per person per calendar year, index dates in the window
COHORT_SQL = """
create or replace temp table cohort as
with events as (
    select e.event_id, e.person_id, e.event_type, e.index_date, e.sentence_date,
           date_diff('day', p.date_of_birth, e.index_date) / 365.25 as age, p.sex,
           row_number() over (partition by e.person_id, year(e.index_date)
                              order by e.index_date, e.event_id) as nth
    from index_events e join people p using (person_id)
    where e.index_date between date '2002-01-01' and date '2012-12-30'
)
select * from events where nth = 1 and age >= 18;

create or replace temp table outcomes as
select c.*,
       coalesce(r.reoffences, 0) as reoffences,
       coalesce(h.previous, 0) as previous
from cohort c
left join (
    select c.event_id, count(*) as reoffences
    from cohort c join offences o on o.person_id = c.person_id
    where o.offence_date >= c.index_date
      and o.offence_date < c.index_date + interval 365 day
      and o.proof_date <= c.index_date + interval 547 day
      and o.disposal in ('court conviction', 'caution')
      and o.offence_group <> 'breach of order'
    group by c.event_id
) r using (event_id)
left join (
    select c.event_id, count(*) as previous
    from cohort c join offences o on o.person_id = c.person_id
    where o.proof_date < c.sentence_date
      and o.disposal in ('court conviction', 'caution')
      and o.offence_group <> 'breach of order'
    group by c.event_id
) h using (event_id);
"""


@pytest.fixture(scope="module")
def outcomes(con):
    con.execute(COHORT_SQL)
    return con


def test_calibration_overall_rate_and_frequency(outcomes):
    n, rate, freq = outcomes.execute(
        "select count(*), avg((reoffences > 0)::int), sum(reoffences) / sum((reoffences > 0)::int) from outcomes"
    ).fetchone()
    assert n > 50_000
    assert 0.30 <= rate <= 0.45
    assert 2.5 <= freq <= 3.3


def test_calibration_by_previous_offences(outcomes):
    none = scalar(outcomes, "select avg((reoffences > 0)::int) from outcomes where previous = 0")
    many = scalar(outcomes, "select avg((reoffences > 0)::int) from outcomes where previous >= 11")
    n_none = scalar(outcomes, "select count(*) from outcomes where previous = 0")
    assert n_none > 1_000
    assert none < 0.15
    assert many > 0.40


def test_calibration_sex_and_age(outcomes):
    male = scalar(outcomes, "select avg((sex = 'M')::int) from outcomes")
    assert 0.82 <= male <= 0.88
    mean_age = scalar(outcomes, "select avg(age) from outcomes")
    assert 28 <= mean_age <= 34
    bands = outcomes.execute("""
        select case when age < 21 then 1 when age < 25 then 2 when age < 30 then 3 when age < 35 then 4
                    when age < 40 then 5 when age < 50 then 6 else 7 end as band,
               avg((reoffences > 0)::int) as rate, count(*) as n
        from outcomes group by band order by band""").fetchall()
    rates = [rate for _, rate, _ in bands]
    assert len(rates) == 7 and min(n for *_, n in bands) > 1_000
    assert all(a > b for a, b in zip(rates, rates[1:])), rates


def test_national_tables_schema_and_identifiers(con, default_world):
    world, root = default_world
    manifest = json.loads((root / "national" / "manifest.json").read_text())
    assert manifest["n_people"] == 200_000 and manifest["window_end"] == "2012-12-30"
    assert DataWindow.from_national(root / "national") == DataWindow()
    for table in TABLES:
        assert scalar(con, f"select count(*) from {table}") == manifest["tables"][table]
    assert scalar(con, "select count(*) from people") == 200_000
    assert scalar(con, "select count(distinct pnc_id) from people") == 200_000
    pncs = [r[0] for r in con.execute("select pnc_id from people using sample 2000 rows (reservoir, 1)").fetchall()]
    assert all(normalise_pnc(p) == p for p in pncs)
    assert scalar(con, "select count(distinct prison_number) = count(prison_number) from people")
    numbers = [r[0] for r in con.execute(
        "select prison_number from people where prison_number is not null limit 2000").fetchall()]
    assert all(normalise_prison_number(p) == p for p in numbers)
    # a prison number exactly for those who have ever had a custodial sentence
    assert scalar(con, """select count(*) from people p where (prison_number is not null) <> exists (
        select 1 from offences o where o.person_id = p.person_id and o.custodial and o.occasion_id is not null)""") == 0
    assert {r[0] for r in con.execute("select distinct home_region from people").fetchall()} == {
        "North East", "North West", "Yorkshire and the Humber", "East Midlands", "West Midlands",
        "East of England", "London", "South East", "South West", "Wales"}
    assert {r[0] for r in con.execute("select distinct event_type from index_events").fetchall()} == {
        "custody release", "community order start", "suspended sentence order start"}
    assert scalar(con, "select min(index_date) >= date '2002-01-01' and max(index_date) <= date '2014-06-30' from index_events")
    assert scalar(con, "select min(year(index_date)) = 2002 and max(year(index_date)) >= 2012 from index_events")
    assert scalar(con, """select bool_and(case when event_type = 'custody release' then index_date > sentence_date
                          else index_date = sentence_date end) from index_events""")
    assert scalar(con, "select bool_and(proof_date >= offence_date) from offences")
    assert {r[0] for r in con.execute("select distinct disposal from offences").fetchall()} == {
        "court conviction", "caution", "penalty notice for disorder"}
    assert {r[0] for r in con.execute("select distinct court_class from offences").fetchall()} == {
        "indictable-only", "either-way", "summary"}


def test_nobody_offends_in_custody(con):
    inside = scalar(con, """
        select count(*) from index_events e join offences o using (person_id)
        where e.event_type = 'custody release' and o.occasion_id is not null
          and o.offence_date >= e.sentence_date and o.offence_date < e.index_date""")
    assert inside == 0


def test_serious_reoffences_are_rare(outcomes):
    share = scalar(outcomes, """
        select avg((o.court_class = 'indictable-only' and o.offence_group in ('violence against the person', 'sexual'))::int)
        from cohort c join offences o on o.person_id = c.person_id
        where o.offence_date >= c.index_date and o.offence_date < c.index_date + interval 365 day
          and o.proof_date <= c.index_date + interval 547 day and o.disposal in ('court conviction', 'caution')""")
    assert 0 < share < 0.01


def test_employment_benefits_and_oasys_are_realistic(outcomes):
    employed = scalar(outcomes, """select avg((exists (select 1 from employment s where s.person_id = c.person_id
        and s.start_date < c.index_date and s.end_date >= c.index_date - interval 365 day))::int) from cohort c""")
    on_benefit = scalar(outcomes, """select avg((exists (select 1 from benefits s where s.person_id = c.person_id
        and s.start_date < c.index_date and s.end_date >= c.index_date - interval 365 day))::int) from cohort c""")
    assessed = scalar(outcomes, """select avg((exists (select 1 from oasys a where a.person_id = c.person_id
        and a.assessment_date <= c.index_date))::int) from cohort c""")
    assert 0.15 <= employed <= 0.5
    assert 0.3 <= on_benefit <= 0.8
    assert 0.5 <= assessed <= 0.95
    # needs carry information about risk: people with a significant drugs need re-offend more
    with_need, without = outcomes.execute("""
        with latest as (select c.event_id, arg_max(a.drugs, a.assessment_date) as drugs
                        from cohort c join oasys a on a.person_id = c.person_id and a.assessment_date <= c.index_date
                        group by c.event_id)
        select avg((o.reoffences > 0)::int) filter (where l.drugs = 2),
               avg((o.reoffences > 0)::int) filter (where l.drugs = 0)
        from latest l join outcomes o using (event_id)""").fetchone()
    assert with_need > without + 0.1


def test_programmes_and_truth(default_world):
    world, root = default_world
    truth = json.loads((root / "truth" / "programmes.json").read_text())["programmes"]
    assert len(PROGRAMMES) >= 6 and set(truth) == {p.slug for p in PROGRAMMES}
    directions = [t["direction"] for t in truth.values()]
    assert directions.count("none") >= 1 and directions.count("reduction") >= 2 and directions.count("increase") >= 1
    settings = {p.setting for p in PROGRAMMES}
    assert settings == {"custody", "community"}
    for prog in PROGRAMMES:
        t = truth[prog.slug]
        if prog.hazard_ratio == 1.0:
            assert t["rate_effect_points"] == 0.0
        elif prog.hazard_ratio < 1.0 and prog.n_participants >= 100:
            assert t["rate_effect_points"] < 0
        elif prog.hazard_ratio > 1.0:
            assert t["rate_effect_points"] > 0
    women = next(p for p in PROGRAMMES if p.sex == "F")
    pos = world.participants[women.slug]
    assert len(pos) > 200 and np.all(world.people.sex[world.events["person"][pos]] == 1)
    # selection on history: the mentoring programme picks people with longer records than the pool
    mentoring = next(p for p in PROGRAMMES if p.slug == "gateway-mentoring")
    assert mentoring.history_tilt > 0


def test_submissions_have_the_faults_real_ones_have(default_world, con):
    world, root = default_world
    uploads = sorted((root / "uploads").iterdir())
    assert {p.suffix for p in uploads} == {".xlsx", ".csv"} and len(uploads) == len(PROGRAMMES)
    people = con.execute("select person_id, surname, forename, date_of_birth, pnc_id from people").df().set_index("person_id")
    faults = {"misspelt": 0, "hyphen": 0, "swapped": 0, "wrong_pnc": 0, "missing_pnc": 0, "not_found": 0, "rows": 0}
    findable_share = {}
    for number, prog in enumerate(PROGRAMMES):
        frame, intervention, person_id = submission(world, prog, number)
        assert intervention["programme"] == prog.name
        result = validate_upload(next(p for p in uploads if p.stem == prog.slug))
        n_rows = len(frame)
        assert result.n_rows == n_rows
        messages = [p.message for p in result.problems]
        assert any("duplicates row" in m for m in messages) or n_rows < 100
        real = person_id > 0
        findable_share[prog.slug] = real.mean()
        faults["not_found"] += int((~real).sum())
        faults["rows"] += len(frame)
        parsed = result.participants
        truth = people.loc[person_id[real]]
        sub = parsed[real]
        faults["misspelt"] += int(((sub["surname"].str.lower().str.replace(" ", "-").values != truth["surname"].str.lower().values)
                                   & ~truth["surname"].str.contains("-").values).sum()
                                  + (sub["forename"].str.lower().values != truth["forename"].str.lower().values).sum())
        faults["hyphen"] += int(truth["surname"].str.contains("-").sum())
        dob_true = pd.to_datetime(truth["date_of_birth"]).values
        faults["swapped"] += int((sub["date_of_birth"].values != dob_true).sum())
        given = frame["pnc_id"].notna().values[real]
        faults["missing_pnc"] += int((~given).sum())
        faults["wrong_pnc"] += int((given & (sub["pnc_id"].values != truth["pnc_id"].values)).sum())
    assert all(v > 0 for v in faults.values()), faults
    assert 0.01 < faults["misspelt"] / faults["rows"] < 0.1
    assert findable_share["safe-harbour"] < 0.5
    assert all(share > 0.9 for slug, share in findable_share.items() if slug != "safe-harbour")
    small = next(p for p in PROGRAMMES if p.n_participants < 60)
    assert validate_upload(root / "uploads" / f"{small.slug}.xlsx").ok is False


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    def digests(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    small = SynthConfig(n_people=20_000)
    write_national(generate(small), tmp_path / "a")
    write_national(generate(small), tmp_path / "b")
    write_national(generate(SynthConfig(n_people=20_000, seed=7)), tmp_path / "c")
    a, b, c = digests(tmp_path / "a"), digests(tmp_path / "b"), digests(tmp_path / "c")
    assert set(a) == {f"{t}.parquet" for t in TABLES} | {"manifest.json"}
    assert a == b
    assert all(a[name] != c[name] for name in a)


def test_synth_cli_writes_everything(tmp_path):
    from click.testing import CliRunner

    from jdl.cli import main

    result = CliRunner().invoke(main, ["synth", "--people", "20000", "--out", str(tmp_path / "n"),
                                       "--uploads", str(tmp_path / "u"), "--truth", str(tmp_path / "t" / "truth.json")])
    assert result.exit_code == 0, result.output
    assert "20,000 people" in result.output
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == sorted([f"{t}.parquet" for t in TABLES] + ["manifest.json"])
    assert len(list((tmp_path / "u").iterdir())) == len(PROGRAMMES)
    assert len(list((tmp_path / "t" / "links").iterdir())) == len(PROGRAMMES)
    # readable through DuckDB
    assert duckdb.connect().execute(f"select count(*) from '{tmp_path / 'n' / 'people.parquet'}'").fetchone()[0] == 20_000

