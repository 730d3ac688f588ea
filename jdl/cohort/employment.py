"""Employment and out-of-work benefit outcomes over the year after the index date, and proven
re-offending and employment by days 30, 90, 180, 270 and 365 after it (issue 16), computed with
DuckDB queries over the national Parquet files like :mod:`jdl.cohort.measures`.

The unit is an index event (``event_id``), as for the re-offending measures.

Definitions used:

* the year after the index date is the 365 days from the index date (day 0) to the index date
  plus 364 (day ``FOLLOW_UP_DAYS - 1``), the same year as the re-offending measures
  (:data:`jdl.window.FOLLOW_UP_DAYS`);
* a spell (``employment``: a P45 employment spell; ``benefits``: an out-of-work benefit spell)
  covers every day from its ``start_date`` to its ``end_date``, both included (as in the
  covariates of :mod:`jdl.cohort.measures`); a spell with a missing date covers nothing;
* ``employed_in_year``: 1 when a P45 employment spell covers at least one day of the year after;
* ``days_employed``: the number of days of the year after covered by at least one P45
  employment spell (0 to 365): the spells are clipped to the year and overlapping spells are
  merged first, so a day covered by two spells counts once;
* ``benefit_at_year_end``: 1 when an out-of-work benefit spell covers the last day of the year
  after, the index date plus 364 (day ``FOLLOW_UP_DAYS - 1``);
* ``days_on_benefit``: as ``days_employed``, for out-of-work benefit spells (any benefit);
* over time, for each day ``d`` of :data:`CHECKPOINTS`: ``reoffended_by_<d>`` is 1 when a proven
  re-offence (the definition of :mod:`jdl.cohort.measures`: a counted offence, committed on or
  after the index date, proven no more than 365 + 182 days after it) was committed on days 0 to
  ``d`` - 1, that is with offence date before the index date plus ``d`` (so ``reoffended_by_365``
  is ``reoffended``, and ``reoffended_by_<d>`` is ``days_to_first < d``, the convention of
  :mod:`jdl.stats.curves`); ``employed_by_<d>`` is 1 when a P45 employment spell covers a day
  from the index date to day ``d`` - 1 (so ``employed_by_365`` is ``employed_in_year``). The
  proof wait is the whole-year one at every checkpoint, so a share by day ``d`` never changes
  with ``d``'s own proof deadline and the shares rise with ``d``.

These measures are everyone's ("all"): every analysed person has a value, zeros included.
"""

from __future__ import annotations

import pandas as pd

from jdl.cohort.measures import COUNTED, Measure, _with_events
from jdl.cohort.national import NationalData
from jdl.window import FOLLOW_UP_DAYS, PROOF_WAIT_DAYS

EMPLOYMENT_MEASURES: tuple[Measure, ...] = (
    Measure("employed_in_year", "In P45 employment at any time in the year after", "rate", "all"),
    Measure("days_employed", "Days in P45 employment in the year after", "days", "all"),
    Measure("benefit_at_year_end", "On out-of-work benefits at the end of the year", "rate", "all"),
    Measure("days_on_benefit", "Days on out-of-work benefits in the year after", "days", "all"),
)
EMPLOYMENT_COLUMNS = tuple(m.column for m in EMPLOYMENT_MEASURES)

# days after the index date at which the over-time shares are taken (the same days as the table
# of jdl.stats.curves.TABLE_DAYS)
CHECKPOINTS: tuple[int, ...] = (30, 90, 180, 270, 365)

LAST_DAY = FOLLOW_UP_DAYS - 1     # the last day of the year after, counted from day 0 (the index date)


def over_time_columns(checkpoints=CHECKPOINTS) -> tuple[str, ...]:
    """The columns of :func:`over_time`: ``reoffended_by_<d>`` for each day, then ``employed_by_<d>``."""
    return (tuple(f"reoffended_by_{d}" for d in checkpoints) + tuple(f"employed_by_{d}" for d in checkpoints))


def _days_covered(table: str) -> str:
    """A query giving ``event_id, days`` for the events of ``ev`` with at least one day of the year
    after covered by a spell of ``table``: the spells are clipped to the year, then merged where
    they overlap (gaps and islands: a spell starts a new island when it starts after the latest
    end of the spells sorted before it), and the islands' lengths summed."""
    return f"""
    select event_id, sum(date_diff('day', lo, hi) + 1) as days from (
        select event_id, island, min(s) as lo, max(e) as hi from (
            select event_id, s, e,
                   sum(case when latest is null or s > latest then 1 else 0 end)
                       over (partition by event_id order by s, e rows between unbounded preceding and current row)
                       as island
            from (
                select event_id, s, e,
                       max(e) over (partition by event_id order by s, e
                                    rows between unbounded preceding and 1 preceding) as latest
                from (
                    select ev.event_id, greatest(x.start_date, ev.index_date) as s,
                           least(x.end_date, ev.index_date + {LAST_DAY}) as e
                    from ev join {table} x on x.person_id = ev.person_id
                    where x.start_date <= ev.index_date + {LAST_DAY} and x.end_date >= ev.index_date
                )
            )
        )
        group by event_id, island
    )
    group by event_id"""


EMPLOYMENT_SQL = f"""
with employed as ({_days_covered("employment")}),
benefit as ({_days_covered("benefits")}),
year_end as (
    select distinct ev.event_id from ev join benefits b on b.person_id = ev.person_id
    where b.start_date <= ev.index_date + {LAST_DAY} and b.end_date >= ev.index_date + {LAST_DAY}
)
select ev.event_id,
       (emp.event_id is not null)::int as employed_in_year,
       coalesce(emp.days, 0)::double as days_employed,
       (ye.event_id is not null)::int as benefit_at_year_end,
       coalesce(ben.days, 0)::double as days_on_benefit
from ev left join employed emp using (event_id) left join benefit ben using (event_id)
     left join year_end ye using (event_id)
"""


def employment_outcomes(national: NationalData, event_ids) -> pd.DataFrame:
    """The four employment and benefit measures (:data:`EMPLOYMENT_MEASURES`) for each index
    event in ``event_ids``.

    Returns a frame indexed by ``event_id`` with the columns of :data:`EMPLOYMENT_COLUMNS`:
    ``employed_in_year`` and ``benefit_at_year_end`` (0/1, int) and ``days_employed`` and
    ``days_on_benefit`` (0 to 365, float), for everyone (see the module docstring for the
    definitions; the end of the year is the index date plus ``FOLLOW_UP_DAYS - 1``).
    """
    return _with_events(national, event_ids, EMPLOYMENT_SQL)


def _over_time_sql(checkpoints, first_employment: bool = False) -> str:
    """The over-time query; with ``first_employment`` also ``days_to_first_employment``: the first
    day of the year after (0 to ``max(checkpoints)`` - 1) covered by a P45 employment spell,
    missing when none is."""
    reoffended = ", ".join(f"(r.first_day is not null and r.first_day < {d})::int as reoffended_by_{d}"
                           for d in checkpoints)
    employed = ", ".join(f"(e.first_day is not null and e.first_day < {d})::int as employed_by_{d}"
                         for d in checkpoints)
    last = max(checkpoints)
    first = ", e.first_day::double as days_to_first_employment" if first_employment else ""
    return f"""
with re as (
    select ev.event_id, min(date_diff('day', ev.index_date, o.offence_date)) as first_day
    from ev join offences o on o.person_id = ev.person_id
    where o.offence_date >= ev.index_date and o.offence_date < ev.index_date + {FOLLOW_UP_DAYS}
      and o.proof_date <= ev.index_date + {FOLLOW_UP_DAYS + PROOF_WAIT_DAYS} and {COUNTED}
    group by ev.event_id
),
emp as (
    select ev.event_id, min(greatest(date_diff('day', ev.index_date, s.start_date), 0)) as first_day
    from ev join employment s on s.person_id = ev.person_id
    where s.start_date < ev.index_date + {last} and s.end_date >= ev.index_date
    group by ev.event_id
)
select ev.event_id, {reoffended}, {employed}{first}
from ev left join re r using (event_id) left join emp e using (event_id)
"""


def over_time(national: NationalData, event_ids, checkpoints=CHECKPOINTS) -> pd.DataFrame:
    """Proven re-offending and P45 employment so far, by each day of ``checkpoints`` (days after
    the index date, 1 to 365; sorted, each once), for each index event in ``event_ids``.

    Returns a frame indexed by ``event_id`` with the 0/1 (int) columns of
    :func:`over_time_columns`: ``reoffended_by_<d>`` (a proven re-offence committed before the
    index date plus ``d``) and ``employed_by_<d>`` (a P45 employment spell covering a day from
    the index date to the index date plus ``d`` - 1). By day 365 they equal ``reoffended`` of
    :func:`jdl.cohort.measures.outcomes` and ``employed_in_year`` of :func:`employment_outcomes`.
    """
    checkpoints = tuple(sorted({int(d) for d in checkpoints}))
    if not checkpoints or any(d < 1 or d > FOLLOW_UP_DAYS for d in checkpoints):
        raise ValueError(f"checkpoints must be days 1 to {FOLLOW_UP_DAYS} after the index date")
    return _with_events(national, event_ids, _over_time_sql(checkpoints))


# the columns of analysis_outcomes: the four measures, the over-time columns, the first day in employment
ANALYSIS_COLUMNS = EMPLOYMENT_COLUMNS + over_time_columns() + ("days_to_first_employment",)


def analysis_outcomes(national: NationalData, event_ids) -> pd.DataFrame:
    """Everything an analysis adds for issue 16, in one DuckDB query: for each index event in
    ``event_ids``, the columns of :data:`ANALYSIS_COLUMNS`, that is the four measures of
    :func:`employment_outcomes`, the over-time columns of :func:`over_time` (at
    :data:`CHECKPOINTS`), and ``days_to_first_employment`` (float): the first day of the year
    after, 0 to 364, covered by a P45 employment spell (missing when none is), so that
    ``employed_by_<d>`` is ``days_to_first_employment < d`` (the convention of
    :mod:`jdl.stats.curves`, for a day-by-day curve). Indexed by ``event_id``."""
    sql = (f"select * from ({EMPLOYMENT_SQL}) measures join ({_over_time_sql(CHECKPOINTS, first_employment=True)}) "
           "so_far using (event_id)")
    return _with_events(national, event_ids, sql)[list(ANALYSIS_COLUMNS)]
