"""Tests of the synthetic national data, programmes and submissions.

The calibration test computes the methodology section 9 figures from the generated Parquet files
with its own DuckDB queries (not the generator's code), on the default-size dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import jdl.synth.world
import jdl.upload.template
from jdl.cli import main
from jdl.upload.identifiers import normalise_pnc, normalise_prison_number
from jdl.synth.world import (MIN_PEOPLE, PROGRAMMES, People, SynthConfig, TooFewPeopleError,
                             _select_participants, generate, short_programmes, submission, synthesise,
                             write_national)
from jdl.upload.validate import validate_upload
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
    # on the default size every programme gets its designed participants (the cap on the share of
    # those eligible binds only on small national datasets)
    assert short_programmes(world) == []
    assert [len(world.participants[p.slug]) for p in PROGRAMMES] == [p.n_in_national for p in PROGRAMMES]
    assert [t["rows_submitted_before_faults"] for t in truth.values()] == [p.n_participants for p in PROGRAMMES]
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



# --------------------------------------------------------------------------------------------
# file permissions: everything synth writes holds (synthetic) personal data


@contextlib.contextmanager
def _umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(root):
    """Permission bits of every file and folder under ``root`` (``root`` itself as ".")."""
    modes = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        modes[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def _expected_modes(data_mode):
    files = [f"national/{t}.parquet" for t in TABLES] + ["national/manifest.json", "truth/programmes.json"]
    files += [f"truth/links/{p.slug}.csv" for p in PROGRAMMES]
    files += [f"uploads/{p.slug}.{'csv' if p.file_format == 'csv' else 'xlsx'}" for p in PROGRAMMES]
    expected = {".": data_mode, "national": 0o700, "truth": 0o700, "truth/links": 0o700, "uploads": 0o700}
    expected.update({name: 0o600 for name in files})
    return expected


def _synthesise_small(data):
    return synthesise(data / "national", data / "uploads", data / "truth" / "programmes.json",
                      SynthConfig(n_people=MIN_PEOPLE))


def test_synth_writes_everything_owner_only_under_umask_022(tmp_path):
    data = tmp_path / "data"
    with _umask(0o022):
        _synthesise_small(data)
    assert _modes(data) == _expected_modes(0o700)          # data/ was created by synth: 0700 too


def test_synth_tightens_folders_and_files_it_rewrites(tmp_path):
    data = tmp_path / "data"
    with _umask(0o022):
        for folder in ("national", "uploads", "truth/links"):
            (data / folder).mkdir(parents=True)
            os.chmod(data / folder, 0o755)
        for name in ("national/people.parquet", "truth/programmes.json", "truth/links/work-ready.csv",
                     "uploads/work-ready.xlsx"):
            (data / name).write_text("old")
            os.chmod(data / name, 0o644)
        os.chmod(data / "truth", 0o755)
        _synthesise_small(data)
    # data/ existed before (0755) and is left as it was; everything synth writes is tightened
    assert _modes(data) == _expected_modes(0o755)


def test_synth_temporary_files_are_owner_only(tmp_path, monkeypatch):
    """Every temporary file synth writes through (before its rename) is 0600 while it is written."""
    seen = []
    original = jdl.synth.world.atomic_path

    @contextlib.contextmanager
    def watching(path, *args, **kwargs):
        with original(path, *args, **kwargs) as temp:
            seen.append((os.path.basename(path), stat.S_IMODE(temp.stat().st_mode)))
            yield temp
            seen.append((os.path.basename(path), stat.S_IMODE(temp.stat().st_mode)))

    monkeypatch.setattr(jdl.synth.world, "atomic_path", watching)
    monkeypatch.setattr(jdl.upload.template, "atomic_path", watching)
    with _umask(0o022):
        _synthesise_small(tmp_path / "data")
    assert len(seen) == 2 * (len(TABLES) + 1 + 2 * len(PROGRAMMES) + 1)
    assert {mode for _, mode in seen} == {0o600}
    assert not [p for p in (tmp_path / "data").rglob(".*")]          # no temporary file left behind


# --------------------------------------------------------------------------------------------
# sizes: every size the command line accepts works, or says clearly why not


def _people_event(events_region):
    people = People(sex=np.zeros(3, dtype=np.int8), birth=np.full(3, -10_000), onset=np.zeros(3, dtype=np.int64),
                    frailty=np.ones(3), region=np.zeros(3, dtype=np.int8), ethnicity=np.zeros(3, dtype=np.int8),
                    uk_national=np.ones(3, dtype=bool))
    events = {"event_type": np.zeros(3, dtype=np.int8), "person": np.arange(3), "region": events_region,
              "index_date": np.full(3, 14_000)}                      # 2008-05-01, everyone aged 55
    return people, events


def test_select_participants_with_nobody_eligible_returns_nobody():
    """The IndexError of `jdl synth --people 10000`: with no candidate event, the first-per-person
    mask had length 1 (np.r_[True, <empty>]) and indexing the empty candidates with it failed."""
    people, events = _people_event(np.full(3, 9, dtype=np.int8))    # all in Wales
    prog = next(p for p in PROGRAMMES if p.slug == "gateway-mentoring")   # north of England only
    taken = np.zeros(3, dtype=bool)
    chosen = _select_participants(np.random.default_rng(1), prog, events, people, np.zeros(3), taken)
    assert chosen.tolist() == [] and not taken.any()


def test_select_participants_takes_at_most_two_thirds_of_those_eligible():
    people, events = _people_event(np.zeros(3, dtype=np.int8))      # all in the North East
    prog = next(p for p in PROGRAMMES if p.slug == "gateway-mentoring")   # wants 450
    taken = np.zeros(3, dtype=bool)
    chosen = _select_participants(np.random.default_rng(1), prog, events, people, np.zeros(3), taken)
    assert len(chosen) == 2 and taken.sum() == 2                    # ceil(2/3 * 3)


def test_rows_not_in_national_data_scale_with_a_short_programme():
    safe_harbour = next(p for p in PROGRAMMES if p.slug == "safe-harbour")       # 300 rows, 70% unfindable
    assert safe_harbour.n_in_national == 90
    assert [safe_harbour.n_not_in_national(k) for k in (90, 40, 1, 0)] == [210, 93, 2, 0]
    gateway = next(p for p in PROGRAMMES if p.slug == "gateway-mentoring")        # 450 rows, 4% unfindable
    assert gateway.n_in_national == 432
    assert [gateway.n_not_in_national(k) for k in (432, 38, 12, 11)] == [18, 2, 1, 0]   # 12 * 18 / 432 = 0.5: up


@pytest.mark.parametrize("n_people", [2_000, 5_000, 10_000, 20_000])
def test_synth_cli_works_for_small_sizes(tmp_path, n_people):
    result = CliRunner().invoke(main, ["synth", "--people", str(n_people), "--out", str(tmp_path / "n"),
                                       "--uploads", str(tmp_path / "u"), "--truth", str(tmp_path / "t" / "p.json")])
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    assert f"national data ({n_people:,} people" in result.output
    truth = json.loads((tmp_path / "t" / "p.json").read_text())["programmes"]
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text())
    assert manifest["n_people"] == n_people
    for prog in PROGRAMMES:
        found = truth[prog.slug]["participants_in_national_data"]
        assert 1 <= found <= prog.n_in_national
        rows = truth[prog.slug]["rows_submitted_before_faults"]
        assert rows == found + prog.n_not_in_national(found)
        # the linkage truth has one line per submitted row (with its duplicates), none dropped
        links = pd.read_csv(tmp_path / "t" / "links" / f"{prog.slug}.csv")
        assert (links["person_id"] > 0).sum() >= found and (links["person_id"] == -1).sum() >= rows - found
    short = [p.name for p in PROGRAMMES if truth[p.slug]["participants_in_national_data"] < p.n_in_national]
    if short:
        assert f"{len(short)} programmes have fewer participants than designed" in result.output


def test_synth_cli_refuses_too_few_people_clearly(tmp_path):
    result = CliRunner().invoke(main, ["synth", "--people", "1999", "--out", str(tmp_path / "n")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--people': 1,999 is too few: at least 2,000." in result.output
    assert not (tmp_path / "n").exists()


def test_too_few_people_for_a_programme_is_a_clear_error(tmp_path, monkeypatch):
    """Below the minimum some seeds leave a programme with nobody eligible (1,000 people, seed
    35: Short Sharp Challenge); the generator says so instead of failing, and writes nothing."""
    with pytest.raises(TooFewPeopleError, match="leave nobody in the national data eligible for Short Sharp"):
        generate(SynthConfig(n_people=1_000, seed=35))
    monkeypatch.setattr(jdl.synth.world, "MIN_PEOPLE", 1_000)
    result = CliRunner().invoke(main, ["synth", "--people", "1000", "--seed", "35", "--out", str(tmp_path / "n"),
                                       "--uploads", str(tmp_path / "u"), "--truth", str(tmp_path / "t" / "p.json")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output == ("jdl synth: 1,000 people (seed 35) leave nobody in the national data eligible for "
                             "Short Sharp Challenge; generate more people (at least 1,000, and 10,000 or more to "
                             "give every programme dozens of participants)\n")
    assert not (tmp_path / "n").exists() and not (tmp_path / "u").exists()


def test_missing_demo_uploads(tmp_path):
    from jdl.synth.demo import demo_uploads, missing_demo_uploads

    _synthesise_small(tmp_path / "data")
    uploads = tmp_path / "data" / "uploads"
    assert demo_uploads(uploads) == [uploads / f"{slug}.{ext}" for slug, ext in (
        ("gateway-mentoring", "xlsx"), ("womens-centre", "csv"), ("learning-inside", "xlsx"),
        ("open-door-arts", "xlsx"), ("safe-harbour", "xlsx"), ("work-ready", "xlsx"),
        ("short-sharp-challenge", "xlsx"))]
    assert missing_demo_uploads(uploads) == []
    (uploads / "work-ready.xlsx").unlink()                  # as jdl purge does once it is published
    assert missing_demo_uploads(uploads) == [uploads / "work-ready.xlsx"]


def test_older_world_readable_synthetic_data_is_made_owner_only(tmp_path):
    data = tmp_path / "national"
    (data / "sub").mkdir(parents=True)
    for path, mode in [(data / "people.parquet", 0o644), (data / "sub" / "x.csv", 0o600)]:
        path.write_text("x")
        os.chmod(path, mode)
    os.chmod(data, 0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (data / "link").symlink_to(outside)
    os.chmod(data / "sub", 0o700)
    assert jdl.synth.world.make_private_tree(data) == 2          # the folder and people.parquet
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (data, data / "people.parquet", data / "sub",
                                                        data / "sub" / "x.csv")] == [0o700, 0o600, 0o700, 0o600]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644   # a symlink's target is not ours to change
    assert jdl.synth.world.make_private_tree(data) == 0
    assert jdl.synth.world.make_private_tree(tmp_path / "missing") == 0


def test_employment_effect_changes_nothing_but_the_participants_employment(monkeypatch):
    """The employment programme's extra P45 spells come from a random stream of their own: without
    them (every employment_effect 0) every table but ``employment`` is the same, and so is every
    row of ``employment`` but the extra spells, which belong to that programme's participants and
    start in the year after their index date; the truth differs only in the employment figures."""
    import dataclasses

    from jdl.window import FOLLOW_UP_DAYS

    cfg = SynthConfig(n_people=10_000)
    with_effect = generate(cfg)
    monkeypatch.setattr(jdl.synth.world, "PROGRAMMES",
                        tuple(dataclasses.replace(p, employment_effect=0.0) for p in PROGRAMMES))
    without = generate(cfg)
    assert [p.slug for p in PROGRAMMES if p.employment_effect > 0] == ["work-ready"]
    for name in TABLES:
        if name != "employment":
            assert with_effect.tables[name].equals(without.tables[name]), name
    for slug in with_effect.participants:
        assert np.array_equal(with_effect.participants[slug], without.participants[slug])
    employment_keys = {"employment_effect", "employment_with_service", "employment_without_service",
                       "employment_effect_points"}
    for slug, truth in with_effect.truth.items():
        assert {k: v for k, v in truth.items() if k not in employment_keys} == \
            {k: v for k, v in without.truth[slug].items() if k not in employment_keys}
        assert without.truth[slug]["employment_effect_points"] == 0.0
        assert truth["employment_with_service"] >= truth["employment_without_service"]
    assert with_effect.truth["work-ready"]["employment_effect_points"] > 5
    assert all(t["employment_effect_points"] == 0.0 for slug, t in with_effect.truth.items() if slug != "work-ready")

    columns = ["person_id", "start_date", "end_date"]
    new = with_effect.tables["employment"].to_pandas()[columns]
    old = without.tables["employment"].to_pandas()[columns]
    merged = new.merge(old.drop_duplicates(), how="left", indicator=True)
    extra = new[(merged["_merge"] == "left_only").to_numpy()]
    assert len(new) == len(old) + len(extra) and len(extra) > 0
    # the rows already there are unchanged and in the same order
    # (compared with equals, so a failure prints no rows of the synthetic people's data)
    assert new.drop(index=extra.index).reset_index(drop=True).equals(old)
    assert new.sort_values(["person_id", "start_date"], kind="stable").index.equals(new.index)
    pos = with_effect.participants["work-ready"]
    index_date = pd.Series(pd.to_datetime(with_effect.events["index_date"][pos], unit="D"),
                           index=with_effect.events["person"][pos] + 1)
    assert extra["person_id"].isin(index_date.index).all() and extra["person_id"].is_unique
    days = (pd.to_datetime(extra["start_date"]) - index_date[extra["person_id"]].to_numpy()).dt.days
    assert days.between(0, FOLLOW_UP_DAYS - 1).all()
