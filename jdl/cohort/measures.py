"""Covariates at the index date (methodology section 4) and the eleven one-year proven
re-offending measures (methodology section 3), for any set of index events, computed with DuckDB
queries over the national Parquet files.

The unit is an index event (``event_id`` of the national ``index_events`` table): the treatment
group's chosen events and the comparison pool's events go through the same queries.

Definitions used (written into the report's method notes):

* a proven re-offence is an offence committed on or after the index date and less than 365 days
  after it, proven by a court conviction or a caution no more than 365 + 182 days after the index
  date; penalty notices for disorder and breaches of orders (not new offences) do not count; the
  offence date decides inclusion;
* the court class of the first re-offence is that of the most serious offence committed on the
  first re-offence date (indictable-only over either-way over summary); "custodial sentence for
  the first re-offence" is true when any offence of that date was sentenced to custody;
* custodial sentences in the year count the distinct sentencing occasions, among the re-offences,
  that resulted in custody;
* criminal history counts what was proven before the index sentence date (so the index offences
  themselves are excluded): offences (convictions and cautions, breaches apart), conviction and
  caution occasions, custodial sentences, court orders, breaches, and previous violence, drugs and
  theft offences; age at first contact is the age at the first proven offence of any kind (the
  index sentence date for a first offender); the Copas rate is
  ln((conviction and caution occasions + 1) / (years since first contact + 10));
* employment and benefits: a P45 employment spell, or an out-of-work benefit spell, overlapping
  the 365 days before the index date;
* OASys: the latest assessment on or before the index date; needs scored 0/1/2, and 0 with
  ``oasys_assessed`` = 0 where there is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from jdl.cohort.index_events import completed_years_sql
from jdl.cohort.national import OASYS_NEEDS, NationalData
from jdl.window import FOLLOW_UP_DAYS, PROOF_WAIT_DAYS

# a proven offence that counts as an offence (re-offence or previous offence), for alias ``o``
COUNTED = "o.disposal in ('court conviction', 'caution') and o.offence_group <> 'breach of order'"


@dataclass(frozen=True)
class Measure:
    """One outcome measure: its column, words, kind ("rate", "frequency" or "days") and who it
    is over ("all" or "reoffenders")."""

    column: str
    label: str
    kind: str
    population: str


MEASURES: tuple[Measure, ...] = (
    Measure("reoffended", "One-year proven re-offending rate", "rate", "all"),
    Measure("reoffences", "Frequency of proven re-offences per person", "frequency", "all"),
    Measure("days_to_first", "Days to first proven re-offence (re-offenders)", "days", "reoffenders"),
    Measure("first_indictable_only", "First re-offence indictable-only (re-offenders)", "rate", "reoffenders"),
    Measure("first_either_way", "First re-offence either-way (re-offenders)", "rate", "reoffenders"),
    Measure("first_summary", "First re-offence summary (re-offenders)", "rate", "reoffenders"),
    Measure("reoffences_indictable_only", "Indictable-only re-offences per re-offender", "frequency", "reoffenders"),
    Measure("reoffences_either_way", "Either-way re-offences per re-offender", "frequency", "reoffenders"),
    Measure("reoffences_summary", "Summary re-offences per re-offender", "frequency", "reoffenders"),
    Measure("first_custodial", "Custodial sentence for the first re-offence (re-offenders)", "rate", "reoffenders"),
    Measure("custodial_sentences", "Custodial sentences in the year per re-offender", "frequency", "reoffenders"),
)
OUTCOME_COLUMNS = tuple(m.column for m in MEASURES)

CATEGORICAL_COVARIATES = ("sex", "ethnicity_group", "region", "index_offence_group", "disposal",
                          "sentence_band")
NUMERIC_COVARIATES = ("age", "age_squared", "uk_national", "index_year", "previous_offences",
                      "previous_convictions", "previous_cautions", "previous_custodial_sentences",
                      "previous_court_orders", "previous_breaches", "age_at_first_contact", "copas_rate",
                      "previous_violence", "previous_drugs", "previous_theft", "employed_year_before",
                      "benefit_year_before", "oasys_assessed") + tuple(f"oasys_{n}" for n in OASYS_NEEDS)
COVARIATES = CATEGORICAL_COVARIATES + NUMERIC_COVARIATES


def _with_events(national: NationalData, event_ids, sql: str) -> pd.DataFrame:
    ids = pd.DataFrame({"event_id": pd.Series(event_ids, dtype="int64").unique()})
    with national.session(wanted_events=ids) as con:
        con.execute("create temp table ev as select e.*, p.sex::varchar as person_sex, p.date_of_birth, "
                    "p.ethnicity_group::varchar as person_ethnicity, p.uk_national "
                    "from index_events e join wanted_events using (event_id) join people p using (person_id)")
        return con.execute(sql).df().set_index("event_id").sort_index()


OUTCOMES_SQL = f"""
with re as (
    select ev.event_id, o.offence_date, o.court_class::varchar as court_class, o.custodial, o.occasion_id,
           date_diff('day', ev.index_date, o.offence_date) as day
    from ev join offences o on o.person_id = ev.person_id
    where o.offence_date >= ev.index_date and o.offence_date < ev.index_date + {FOLLOW_UP_DAYS}
      and o.proof_date <= ev.index_date + {FOLLOW_UP_DAYS + PROOF_WAIT_DAYS} and {COUNTED}
),
totals as (
    select event_id, count(*) as reoffences, min(day) as days_to_first,
           count(*) filter (where court_class = 'indictable-only') as reoffences_indictable_only,
           count(*) filter (where court_class = 'either-way') as reoffences_either_way,
           count(*) filter (where court_class = 'summary') as reoffences_summary,
           count(distinct occasion_id) filter (where custodial) as custodial_sentences
    from re group by event_id
),
first as (
    select re.event_id,
           max(case court_class when 'indictable-only' then 3 when 'either-way' then 2 else 1 end) as first_class,
           bool_or(custodial) as first_custodial
    from re join totals t on t.event_id = re.event_id and re.day = t.days_to_first
    group by re.event_id
)
select ev.event_id,
       (t.reoffences is not null)::int as reoffended,
       coalesce(t.reoffences, 0) as reoffences,
       t.days_to_first::double as days_to_first,
       (f.first_class = 3)::double as first_indictable_only,
       (f.first_class = 2)::double as first_either_way,
       (f.first_class = 1)::double as first_summary,
       t.reoffences_indictable_only::double as reoffences_indictable_only,
       t.reoffences_either_way::double as reoffences_either_way,
       t.reoffences_summary::double as reoffences_summary,
       f.first_custodial::double as first_custodial,
       t.custodial_sentences::double as custodial_sentences
from ev left join totals t using (event_id) left join first f using (event_id)
"""


def outcomes(national: NationalData, event_ids) -> pd.DataFrame:
    """The eleven one-year proven re-offending measures for each index event in ``event_ids``.

    Returns a frame indexed by ``event_id`` with the columns of :data:`OUTCOME_COLUMNS`:
    ``reoffended`` (0/1) and ``reoffences`` (count) for everyone; the other nine only for
    re-offenders (NaN otherwise): days to the first re-offence, 0/1 flags for the court class
    and custody of the first re-offence, and per-person counts by court class and of custodial
    sentences.
    """
    return _with_events(national, event_ids, OUTCOMES_SQL)


def _oasys_columns() -> str:
    latest = ", ".join(f"arg_max(a.{n}, a.assessment_date) as {n}" for n in OASYS_NEEDS)
    return latest


COVARIATES_SQL = f"""
with history as (
    select ev.event_id,
           count(*) filter (where {COUNTED}) as previous_offences,
           count(distinct o.occasion_id) filter (where o.disposal = 'court conviction' and o.occasion_id is not null)
               as previous_convictions,
           count(distinct o.occasion_id) filter (where o.disposal = 'caution') as previous_cautions,
           count(distinct o.occasion_id) filter (where o.custodial and o.occasion_id is not null)
               as previous_custodial_sentences,
           count(*) filter (where o.offence_group = 'breach of order') as previous_breaches,
           count(*) filter (where {COUNTED} and o.offence_group = 'violence against the person')
               as previous_violence,
           count(*) filter (where {COUNTED} and o.offence_group = 'drugs') as previous_drugs,
           count(*) filter (where {COUNTED} and o.offence_group = 'theft') as previous_theft,
           min(o.proof_date) as first_proof
    from ev join offences o on o.person_id = ev.person_id and o.proof_date < ev.sentence_date
    group by ev.event_id
),
orders as (
    select ev.event_id, count(*) as previous_court_orders
    from ev join index_events e on e.person_id = ev.person_id and e.sentence_date < ev.sentence_date
    where e.event_type <> 'custody release'
    group by ev.event_id
),
employed as (
    select distinct ev.event_id from ev join employment s on s.person_id = ev.person_id
    where s.start_date <= ev.index_date and s.end_date >= ev.index_date - 365
),
benefit as (
    select distinct ev.event_id from ev join benefits s on s.person_id = ev.person_id
    where s.start_date <= ev.index_date and s.end_date >= ev.index_date - 365
),
assessed as (
    select ev.event_id, {_oasys_columns()}
    from ev join oasys a on a.person_id = ev.person_id and a.assessment_date <= ev.index_date
    group by ev.event_id
)
select ev.event_id, ev.person_id,
       ev.person_sex as sex,
       ev.person_ethnicity as ethnicity_group,
       ev.region::varchar as region,
       ev.index_offence_group::varchar as index_offence_group,
       ev.event_type::varchar as disposal,
       case when ev.event_type <> 'custody release' then
                case when ev.sentence_length_days <= 365 then 'order up to 12 months' else 'order over 12 months' end
            when ev.sentence_length_days < 365 then 'custody under 12 months'
            when ev.sentence_length_days < 1461 then 'custody 12 months to under 4 years'
            else 'custody 4 years or more' end as sentence_band,
       ev.index_date,
       date_diff('day', ev.date_of_birth, ev.index_date) / 365.25 as age,
       power(date_diff('day', ev.date_of_birth, ev.index_date) / 365.25, 2) as age_squared,
       ev.uk_national::int as uk_national,
       year(ev.index_date) as index_year,
       coalesce(h.previous_offences, 0) as previous_offences,
       coalesce(h.previous_convictions, 0) as previous_convictions,
       coalesce(h.previous_cautions, 0) as previous_cautions,
       coalesce(h.previous_custodial_sentences, 0) as previous_custodial_sentences,
       coalesce(o.previous_court_orders, 0) as previous_court_orders,
       coalesce(h.previous_breaches, 0) as previous_breaches,
       date_diff('day', ev.date_of_birth, coalesce(h.first_proof, ev.sentence_date)) / 365.25 as age_at_first_contact,
       ln((coalesce(h.previous_convictions, 0) + coalesce(h.previous_cautions, 0) + 1)
          / (date_diff('day', coalesce(h.first_proof, ev.sentence_date), ev.index_date) / 365.25 + 10)) as copas_rate,
       coalesce(h.previous_violence, 0) as previous_violence,
       coalesce(h.previous_drugs, 0) as previous_drugs,
       coalesce(h.previous_theft, 0) as previous_theft,
       (emp.event_id is not null)::int as employed_year_before,
       (ben.event_id is not null)::int as benefit_year_before,
       (a.event_id is not null)::int as oasys_assessed,
       {", ".join(f"coalesce(a.{n}, 0) as oasys_{n}" for n in OASYS_NEEDS)}
from ev left join history h using (event_id) left join orders o using (event_id)
     left join employed emp using (event_id) left join benefit ben using (event_id) left join assessed a using (event_id)
"""


def covariates(national: NationalData, event_ids) -> pd.DataFrame:
    """The covariates of methodology section 4 at each index event's date.

    Returns a frame indexed by ``event_id`` with ``person_id``, ``index_date`` and the columns of
    :data:`COVARIATES`: categorical ones as text (sex, ethnicity group, region, index offence
    group, disposal, sentence band) and numeric ones as numbers (see the module docstring for the
    definitions).
    """
    frame = _with_events(national, event_ids, COVARIATES_SQL)
    frame["index_date"] = pd.to_datetime(frame["index_date"])
    return frame


def comparison_pool(national: NationalData, setting: str, first: date, last: date, exclude_person_ids=(),
                    min_age: float = 18.0) -> np.ndarray:
    """Event ids of the comparison pool: everyone with an eligible index event of the setting's
    kind (custody release for "custody", a court-order start for "community") with index date in
    [``first``, ``last``] and inside the data window, aged ``min_age`` or over at index (completed years), and not
    among ``exclude_person_ids`` (the treated); one event per person, the first in the period.
    """
    kinds = ("'custody release'" if setting == "custody"
             else "'community order start', 'suspended sentence order start'")
    window = national.window
    lo, hi = max(first, window.start), min(last, window.end)
    excluded = pd.DataFrame({"person_id": pd.Series(list(exclude_person_ids), dtype="int64")})
    with national.session(excluded_people=excluded) as con:
        ids = con.execute(f"""
            select arg_min(e.event_id, (e.index_date, e.event_id)) as event_id
            from index_events e join people p using (person_id)
            where e.event_type in ({kinds}) and e.index_date between ? and ?
              and {completed_years_sql("p.date_of_birth", "e.index_date")} >= ?
              and e.person_id not in (select person_id from excluded_people)
            group by e.person_id order by event_id""", [lo, hi, min_age]).fetchnumpy()["event_id"]
    return np.asarray(ids, dtype=np.int64)
