"""Synthetic national re-offending data, synthetic programmes and their submissions.

The real national data (Police National Computer, DWP/HMRC, OASys) is not public, so the lab
ships a generator whose output has the same shape and is calibrated to the published figures of
methodology section 9. Everything is vectorised NumPy driven by one seed: the same seed and size
give byte-identical Parquet files.

How people offend (the generative model, in words):

* every person has a hidden propensity to offend ``frailty`` (gamma distributed, lower for
  women) and an age of first proven offence (earlier for higher propensity);
* from that first offence on, proven-offending *occasions* (one or more offences proven together
  at one court hearing or caution) arrive as a Poisson process whose intensity is
  ``rate * frailty * age_curve(age)``, falling after the early twenties;
* each occasion gets a disposal (court conviction, caution, penalty notice for disorder), offences
  with an offence group and court class, a proof date after the offence date, and, for
  convictions, a sentence (custody, community order, suspended sentence order, other) that grows
  more severe with the person's history and the seriousness of the offence;
* nobody offends while in custody: occasions falling between a custodial sentence and the
  release (half the sentence) are removed, in date order;
* index events are the releases from custody and the starts of court orders that result;
* programmes pick participants among index events with selection on risk, region and history,
  and change their offending in the year after the index event by a known factor
  (hazard multiplier on the occasion intensity); the realised effect on the one-year proven
  re-offending rate is written to a truth file that only tests and benchmarks read;
* employment (P45) and out-of-work benefit spells, and OASys assessments, are drawn with
  propensities tied to the same hidden frailty, so they carry information about risk;
* a programme with an ``employment_effect`` (the employment programme) gives each participant,
  with that probability, an extra P45 employment spell starting in the year after the index date;
  the realised effect on being in P45 employment in that year (``employment_effect_points``) goes
  into the truth file too. These extra spells are drawn from a random stream of their own, after
  everything else, so they change nothing but the participants' rows of the ``employment`` table.

Everything written here holds (synthetic) personal data or the key to it: names, dates of birth
and ids in the national tables and the submissions, and who is who in the linkage truth. So every
file is created owner-only (mode 0600) and every folder written to owner-only (0700), whatever the
umask: files through a temporary file made by :func:`tempfile.mkstemp` (always 0600) and chmodded
explicitly before it is renamed into place; folders made with mode 0700 and chmodded again, so a
folder that already existed with wider permissions is tightened when it is written again. Parent
folders that already existed (``data/`` itself, say) are left as they are.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jdl.atomic import atomic_path
from jdl.upload.identifiers import format_pnc_many, prison_number_from_int
from jdl.cohort.national import OASYS_NEEDS
from jdl.window import FOLLOW_UP_DAYS, PROOF_WAIT_DAYS, DataWindow

EPOCH = date(1970, 1, 1)
DAYS_PER_YEAR = 365.25

REGIONS = ("North East", "North West", "Yorkshire and the Humber", "East Midlands", "West Midlands",
           "East of England", "London", "South East", "South West", "Wales")
REGION_WEIGHTS = (0.06, 0.14, 0.11, 0.08, 0.11, 0.09, 0.16, 0.12, 0.08, 0.05)
ETHNICITY_GROUPS = ("White", "Black", "Asian", "Mixed", "Other", "Not recorded")
ETHNICITY_WEIGHTS = (0.80, 0.07, 0.065, 0.04, 0.015, 0.01)
OFFENCE_GROUPS = ("violence against the person", "sexual", "robbery", "burglary", "theft",
                  "fraud", "criminal damage", "drugs", "motoring", "public order", "other",
                  "breach of order")
# share of new offences by group (breach of order is added separately and is not a new offence)
OFFENCE_GROUP_WEIGHTS = (0.20, 0.008, 0.02, 0.07, 0.31, 0.03, 0.06, 0.10, 0.08, 0.06, 0.062)
BREACH_GROUP = OFFENCE_GROUPS.index("breach of order")
COURT_CLASSES = ("indictable-only", "either-way", "summary")
# probability of each court class, per offence group (rows follow OFFENCE_GROUPS)
COURT_CLASS_BY_GROUP = np.array([
    [0.02, 0.48, 0.50],   # violence against the person
    [0.35, 0.65, 0.00],   # sexual
    [1.00, 0.00, 0.00],   # robbery
    [0.03, 0.97, 0.00],   # burglary
    [0.00, 0.60, 0.40],   # theft
    [0.02, 0.98, 0.00],   # fraud
    [0.00, 0.35, 0.65],   # criminal damage
    [0.02, 0.70, 0.28],   # drugs
    [0.00, 0.08, 0.92],   # motoring
    [0.00, 0.20, 0.80],   # public order
    [0.02, 0.38, 0.60],   # other
    [0.00, 0.00, 1.00],   # breach of order
])
DISPOSALS = ("court conviction", "caution", "penalty notice for disorder")
SENTENCES = ("custody", "community order", "suspended sentence order", "other")
EVENT_TYPES = ("custody release", "community order start", "suspended sentence order start")
SEXES = ("M", "F")


# The fewest people ``jdl synth`` accepts. The programmes select among index events with narrow
# criteria (Short Sharp Challenge: men aged 18 to 24 released from custody in 2007-2010; Open Door
# Arts: community orders in Wales in 2009-2011), so a small national dataset holds few people
# eligible for them: on 1,000 people some seeds give one of them nobody at all. From 2,000 people
# every programme had participants in 2,000 seeds tried; :func:`generate` still raises
# :class:`TooFewPeopleError`, never a traceback, for a seed that leaves a programme with nobody.
MIN_PEOPLE = 2_000


class TooFewPeopleError(ValueError):
    """The national data is too small to give every synthetic programme a participant."""


def day_number(day: date) -> int:
    """Days since 1970-01-01 for a ``date``."""
    return (day - EPOCH).days


def from_day_number(days: int) -> date:
    """The ``date`` for a day number (days since 1970-01-01)."""
    return EPOCH + timedelta(days=int(days))


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the synthetic national data; same config, same bytes.

    Rates are per person-year; ``occasion_rate`` scales the whole offending process and was
    calibrated (tests/test_synth.py) so the one-year proven re-offending of adults released from
    custody or starting court orders falls in the range of methodology section 9.
    """

    n_people: int = 200_000
    seed: int = 20130401
    window_start: date = DataWindow().start
    extract_date: date = DataWindow().extract_date
    reference_date: date = date(2007, 7, 1)   # ages are drawn around this date
    female_share: float = 0.2
    frailty_shape: float = 0.5
    female_frailty: float = 0.65
    frailty_cap: float = 12.0
    occasion_rate: float = 0.34
    age_peak: float = 19.0
    age_decline: float = 0.045
    extra_offences_mean: float = 0.6
    min_age: float = 10.0
    oasys_share: float = 0.7
    onset_scale: float = 7.0
    onset_power: float = 0.8

    @property
    def window(self) -> DataWindow:
        return DataWindow(start=self.window_start, extract_date=self.extract_date)


# --------------------------------------------------------------------------------------------
# small vectorised helpers


def _choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    """``n`` category codes drawn with ``weights`` (normalised here), as int8."""
    p = np.asarray(weights, dtype=float)
    codes = np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right").clip(0, len(p) - 1)
    return codes.astype(np.int8 if len(p) < 128 else np.int64)


def _row_choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of a probability matrix ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1).astype(np.int8)


def _rank_within(group: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal values in a sorted ``group``."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n) - run_start


def _key(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """One sortable int64 per (person, day): person-major, then day (days from 1833 to 2106)."""
    return np.asarray(person, dtype=np.int64) * 100_000 + (np.asarray(day, dtype=np.int64) + 50_000)


def _dictionary(codes: np.ndarray, labels: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(list(labels)))


def _dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=mask)


# --------------------------------------------------------------------------------------------
# the national data


@dataclass
class People:
    """Hidden and visible attributes of everyone in the national data (arrays of length n)."""

    sex: np.ndarray            # 0 male, 1 female
    birth: np.ndarray          # day number of birth
    onset: np.ndarray          # day number of first proven offence
    frailty: np.ndarray        # hidden propensity to offend
    region: np.ndarray         # home region code
    ethnicity: np.ndarray
    uk_national: np.ndarray


def _draw_people(cfg: SynthConfig, rng: np.random.Generator) -> People:
    n = cfg.n_people
    sex = (rng.random(n) < cfg.female_share).astype(np.int8)
    frailty = rng.gamma(cfg.frailty_shape, 1.0 / cfg.frailty_shape, n)
    frailty = np.minimum(frailty * np.where(sex == 1, cfg.female_frailty, 1.0), cfg.frailty_cap)
    # age at the reference date: 13 to 80, mean about 31
    age_ref = np.clip(13.5 + rng.gamma(2.0, 9.0, n), 13.0, 80.0)
    birth = day_number(cfg.reference_date) - np.round(age_ref * DAYS_PER_YEAR).astype(np.int64)
    birth -= rng.integers(0, 365, n)
    # first proven offence: earlier for higher propensity
    onset_age = cfg.min_age + 2.0 + rng.gamma(1.6, cfg.onset_scale / (0.3 + frailty) ** cfg.onset_power)
    extract = day_number(cfg.extract_date)
    onset = birth + np.round(onset_age * DAYS_PER_YEAR).astype(np.int64)
    late = onset >= extract - 30
    # everyone in the national data has a proven offence before the extract
    span = (extract - 30 - birth[late]) - cfg.min_age * DAYS_PER_YEAR
    onset[late] = birth[late] + np.round(cfg.min_age * DAYS_PER_YEAR + rng.random(late.sum()) * span).astype(np.int64)
    region = _choice(rng, n, REGION_WEIGHTS)
    ethnicity = _choice(rng, n, ETHNICITY_WEIGHTS)
    uk_national = rng.random(n) < 0.9
    return People(sex, birth, onset, frailty, region, ethnicity, uk_national)


def _age_curve(cfg: SynthConfig, age_years: np.ndarray) -> np.ndarray:
    """Relative offending intensity by age: flat up to the peak, then falling exponentially."""
    return np.exp(-cfg.age_decline * np.maximum(age_years - cfg.age_peak, 0.0))


@dataclass
class Occasions:
    """Proven-offending occasions, one row per occasion (arrays of equal length)."""

    uid: np.ndarray            # stable occasion id
    person: np.ndarray
    date: np.ndarray           # day number of the (first) offence
    proof: np.ndarray          # day number of the conviction or caution
    disposal: np.ndarray       # code into DISPOSALS
    group: np.ndarray          # principal offence group
    court_class: np.ndarray    # court class of the principal offence
    n_offences: np.ndarray
    sentence: np.ndarray       # code into SENTENCES, -1 for cautions and penalty notices
    length: np.ndarray         # sentence or order length in days (0 for other)
    release: np.ndarray        # release day for custody, order end for orders, else proof day
    region: np.ndarray

    def take(self, idx: np.ndarray) -> "Occasions":
        return Occasions(**{k: v[idx] for k, v in self.__dict__.items()})

    @classmethod
    def concat(cls, parts: list["Occasions"]) -> "Occasions":
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__})


def _draw_occasion_times(cfg: SynthConfig, rng: np.random.Generator, people: People,
                         start: np.ndarray, end: np.ndarray, multiplier: np.ndarray,
                         persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson-process occasion days for ``persons`` over [start, end), by thinning.

    The intensity is ``occasion_rate * frailty * multiplier * age_curve(age)`` per year.
    Returns (person, day) arrays.
    """
    years = np.maximum(end - start, 0) / DAYS_PER_YEAR
    top = cfg.occasion_rate * people.frailty[persons] * multiplier
    counts = rng.poisson(top * years)
    who = np.repeat(np.arange(len(persons)), counts)
    day = start[who] + np.floor(rng.random(len(who)) * (end[who] - start[who])).astype(np.int64)
    person = persons[who]
    age = (day - people.birth[person]) / DAYS_PER_YEAR
    keep = rng.random(len(who)) < _age_curve(cfg, age)
    return person[keep], day[keep]



def _describe_occasions(cfg: SynthConfig, rng: np.random.Generator, people: People,
                        person: np.ndarray, day: np.ndarray, first_uid: int = 0) -> Occasions:
    """Offence group, court class, number of offences, court delay and region of new occasions.

    Disposal, proof date for cautions, and sentence are decided later, in career order.
    """
    n = len(person)
    group = _choice(rng, n, OFFENCE_GROUP_WEIGHTS + (0.0,))
    court_class = _row_choice(rng, COURT_CLASS_BY_GROUP[group])
    n_offences = 1 + rng.poisson(cfg.extra_offences_mean * np.clip(people.frailty[person], 0.5, 2.0) / 1.2, n)
    court_delay = np.maximum(np.round(np.exp(np.log(65.0) + 0.8 * rng.standard_normal(n))), 1).astype(np.int64)
    region = np.where(rng.random(n) < 0.9, people.region[person], _choice(rng, n, REGION_WEIGHTS))
    return Occasions(uid=first_uid + np.arange(n, dtype=np.int64), person=person.astype(np.int64), date=day.astype(np.int64), proof=day + court_delay,
                     disposal=np.zeros(n, dtype=np.int8), group=group, court_class=court_class,
                     n_offences=n_offences.astype(np.int64), sentence=np.full(n, -1, dtype=np.int8),
                     length=np.zeros(n, dtype=np.int64), release=day.astype(np.int64).copy(),
                     region=region.astype(np.int8))



def _sentence_probabilities(prev: np.ndarray, court_class: np.ndarray, n_offences: np.ndarray,
                            age: np.ndarray) -> np.ndarray:
    """Multinomial-logit probabilities of (custody, community order, SSO, other) per conviction,
    rising in severity with history (previous occasions), seriousness and number of offences."""
    history = np.log1p(np.minimum(prev, 40))
    serious = np.select([court_class == 0, court_class == 1], [2.8, 0.9], 0.0)
    youth = age < 18
    s_custody = -3.6 + 0.95 * history + serious + 0.25 * (n_offences - 1) - 1.0 * youth
    s_order = -1.2 + 0.45 * history + 0.5 * serious + 0.1 * (n_offences - 1) + 0.4 * youth
    s_sso = -2.6 + 0.55 * history + 0.7 * serious - 2.0 * youth
    scores = np.stack([s_custody, s_order, s_sso, np.zeros_like(s_custody)], axis=1)
    scores -= scores.max(axis=1, keepdims=True)
    expd = np.exp(scores)
    return expd / expd.sum(axis=1, keepdims=True)


def _custody_length(rng: np.random.Generator, court_class: np.ndarray, history: np.ndarray) -> np.ndarray:
    """Custodial sentence length in days: mostly under a year, longer for serious offences."""
    median = np.select([court_class == 0, court_class == 1], [900.0, 180.0], 75.0) * (1 + 0.05 * np.minimum(history, 10))
    return np.clip(np.round(median * np.exp(0.75 * rng.standard_normal(len(court_class)))), 7, 365 * 15).astype(np.int64)


def _dispose(rng: np.random.Generator, occ: Occasions, idx: np.ndarray, prev: np.ndarray,
             age: np.ndarray, allow_custody: bool = True) -> np.ndarray:
    """Decide disposal and sentence for occasions ``idx`` (in place); returns the custody subset.

    ``prev`` is each occasion's number of earlier proven occasions, ``age`` the age in years.
    """
    n = len(idx)
    court_class = occ.court_class[idx]
    p_caution = np.where(age < 18, 0.55, 0.30) * np.exp(-0.45 * prev) + 0.05
    p_caution = np.where(court_class == 0, 0.0, p_caution)
    p_pnd = np.where((age >= 18) & (court_class == 2), 0.16, 0.02) * np.exp(-0.15 * prev)
    u = rng.random(n)
    disposal = np.where(u < p_caution, 1, np.where(u < p_caution + p_pnd, 2, 0)).astype(np.int8)
    occ.disposal[idx] = disposal
    quick = disposal > 0
    occ.proof[idx[quick]] = occ.date[idx[quick]] + rng.integers(1, 30, int(quick.sum()))
    occ.release[idx[quick]] = occ.proof[idx[quick]]
    conv = ~quick
    probs = _sentence_probabilities(prev[conv], court_class[conv], occ.n_offences[idx[conv]], age[conv])
    if not allow_custody:
        probs[:, 0] = 0.0
        probs /= probs.sum(axis=1, keepdims=True)
    sentence = np.minimum((rng.random(int(conv.sum()))[:, None] >= np.cumsum(probs, axis=1)).sum(axis=1),
                          3).astype(np.int8)
    cidx = idx[conv]
    occ.sentence[cidx] = sentence
    custody = cidx[sentence == 0]
    length = _custody_length(rng, occ.court_class[custody], prev[conv][sentence == 0])
    occ.length[custody] = length
    occ.release[custody] = occ.proof[custody] + (length + 1) // 2
    orders = cidx[(sentence == 1) | (sentence == 2)]
    order_length = rng.choice(np.array([182, 365, 365, 365, 548, 730]), len(orders))
    occ.length[orders] = order_length
    occ.release[orders] = occ.proof[orders] + order_length
    other = cidx[sentence == 3]
    occ.release[other] = occ.proof[other]
    return custody


def _walk_careers(rng: np.random.Generator, occ: Occasions, birth: np.ndarray, n_people: int) -> Occasions:
    """Walk each person's occasions in date order, vectorised across people (one pass per career
    position): drop occasions committed while in custody, and decide disposals and sentences from
    the history built so far. Returns the kept occasions sorted by person and date."""
    order = np.lexsort((occ.date, occ.person))
    occ = occ.take(order)
    n = len(occ.person)
    rank = _rank_within(occ.person)
    by_rank = np.lexsort((occ.person, rank))
    bounds = np.r_[0, np.flatnonzero(np.diff(rank[by_rank])) + 1, n] if n else np.array([0])
    block_start = np.zeros(n_people, dtype=np.int64)
    block_end = np.zeros(n_people, dtype=np.int64)   # empty interval: nobody starts in custody
    kept_count = np.zeros(n_people, dtype=np.int64)
    keep = np.zeros(n, dtype=bool)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        idx = by_rank[lo:hi]
        who = occ.person[idx]
        day = occ.date[idx]
        free = (day < block_start[who]) | (day >= block_end[who])
        idx, who = idx[free], who[free]
        keep[idx] = True
        age = (occ.date[idx] - birth[who]) / DAYS_PER_YEAR
        custody = _dispose(rng, occ, idx, kept_count[who], age)
        cw = occ.person[custody]
        start, end = occ.proof[custody], occ.release[custody]
        overlap = start < block_end[cw]
        block_start[cw] = np.where(overlap, np.minimum(block_start[cw], start), start)
        block_end[cw] = np.maximum(np.where(overlap, block_end[cw], 0), end)
        kept_count[who] += 1
    return occ.take(np.flatnonzero(keep))



def _in_custody(occ: Occasions, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """True where ``day`` falls inside one of ``person``'s custodial episodes [sentence, release)."""
    custody = np.flatnonzero(occ.sentence == 0)
    start = _key(occ.person[custody], occ.proof[custody])
    order = np.argsort(start, kind="stable")
    start = start[order]
    reach = np.maximum.accumulate(_key(occ.person[custody], occ.release[custody])[order]) if len(order) else start
    at = _key(person, day)
    pos = np.searchsorted(start, at, side="right") - 1
    return (pos >= 0) & (reach[np.maximum(pos, 0)] > at)


def _drop_offending_in_custody(occ: Occasions) -> Occasions:
    """Remove occasions committed while the person was in custody (checked exactly, whatever the
    order in which custodial episodes were decided)."""
    return occ.take(np.flatnonzero(~_in_custody(occ, occ.person, occ.date)))


def _index_events(occ: Occasions, window_start: int, extract: int) -> dict[str, np.ndarray]:
    """Index events from sentenced occasions: custody releases and court-order starts, with index
    dates from the window start up to the extract date."""
    idx = np.flatnonzero((occ.sentence >= 0) & (occ.sentence != 3))
    sentence = occ.sentence[idx]
    index_date = np.where(sentence == 0, occ.release[idx], occ.proof[idx])
    ok = (index_date >= window_start) & (index_date <= extract)
    idx, sentence, index_date = idx[ok], sentence[ok], index_date[ok]
    order = np.lexsort((index_date, occ.person[idx]))
    idx, sentence, index_date = idx[order], sentence[order], index_date[order]
    return {
        "occasion": idx,
        "person": occ.person[idx],
        "event_type": sentence.astype(np.int8),           # 0 custody, 1 CO, 2 SSO = EVENT_TYPES codes
        "index_date": index_date,
        "sentence_date": occ.proof[idx],
        "episode_end": occ.release[idx],
        "offence_group": occ.group[idx],
        "sentence_length": occ.length[idx],
        "region": occ.region[idx],
    }


def _previous_occasions(occ: Occasions, person: np.ndarray, before_day: np.ndarray) -> np.ndarray:
    """Number of proven occasions (convictions and cautions) of ``person`` proven before ``before_day``.

    ``occ`` must be sorted by person; uses a search over a combined (person, proof day) key."""
    proven = occ.disposal != 2
    key = np.sort(_key(occ.person[proven], occ.proof[proven]))
    return (np.searchsorted(key, _key(person, before_day), side="left")
            - np.searchsorted(key, _key(person, -50_000), side="left"))


def _offences(rng: np.random.Generator, occ: Occasions, breach_person: np.ndarray,
              breach_day: np.ndarray) -> dict[str, np.ndarray]:
    """One row per proven offence: the occasions' offences plus breaches of orders."""
    n_occ = len(occ.person)
    occasion = np.repeat(np.arange(n_occ), occ.n_offences)
    first = _rank_within(occasion) == 0
    n = len(occasion)
    # later offences of an occasion: same group half the time, dated up to 30 days after the first
    same = rng.random(n) < 0.5
    group = np.where(first | same, occ.group[occasion], _choice(rng, n, OFFENCE_GROUP_WEIGHTS + (0.0,)))
    court_class = np.where(first | same, occ.court_class[occasion], _row_choice(rng, COURT_CLASS_BY_GROUP[group]))
    spread = np.where(first, 0, rng.integers(0, 31, n))
    room = np.maximum(occ.proof[occasion] - occ.date[occasion] - 1, 0)
    offence_date = occ.date[occasion] + np.minimum(spread, room)
    later = np.flatnonzero(~first)
    inside = _in_custody(occ, occ.person[occasion[later]], offence_date[later])
    offence_date[later[inside]] = occ.date[occasion[later[inside]]]
    custodial = occ.sentence[occasion] == 0
    # breaches: proven at court, summary, not new offences
    nb = len(breach_person)
    return {
        "person": np.concatenate([occ.person[occasion], breach_person]),
        "occasion": np.concatenate([occ.uid[occasion], np.full(nb, -1)]),
        "offence_date": np.concatenate([offence_date, breach_day]),
        "proof_date": np.concatenate([occ.proof[occasion], breach_day + rng.integers(7, 60, nb)]),
        "disposal": np.concatenate([occ.disposal[occasion], np.zeros(nb, dtype=np.int8)]),
        "court_class": np.concatenate([court_class, np.full(nb, 2, dtype=np.int8)]).astype(np.int8),
        "custodial": np.concatenate([custodial, rng.random(nb) < 0.1]),
        "offence_group": np.concatenate([group, np.full(nb, BREACH_GROUP, dtype=np.int8)]).astype(np.int8),
    }


def one_year_outcome(offence_person: np.ndarray, offence_date: np.ndarray, proof_date: np.ndarray,
                     counts: np.ndarray, person: np.ndarray, index_date: np.ndarray) -> np.ndarray:
    """Number of proven re-offences in the year after each (person, index_date) pair.

    An offence counts when committed on or after the index date and fewer than 365 days after it,
    and proven no later than 365 + 182 days after the index date; ``counts`` is a boolean mask of
    offences that can count at all (convictions and cautions for new offences). Offence arrays must
    be sorted by (person, offence_date). Used for the truth file; the lab's own outcome measures
    are computed with DuckDB in the analysis stages.
    """
    keep = counts
    p, d, pr = offence_person[keep], offence_date[keep], proof_date[keep]
    key = _key(p, d)
    lo = np.searchsorted(key, _key(person, index_date), side="left")
    hi = np.searchsorted(key, _key(person, index_date + FOLLOW_UP_DAYS), side="left")
    limit = index_date + FOLLOW_UP_DAYS + PROOF_WAIT_DAYS
    out = np.zeros(len(person), dtype=np.int64)
    span = hi - lo
    rows = np.repeat(np.arange(len(person)), span)
    pos = np.repeat(lo, span) + _rank_within(rows) if len(rows) else np.zeros(0, dtype=np.int64)
    proven_in_time = pr[pos] <= limit[rows]
    np.add.at(out, rows[proven_in_time], 1)
    return out


# --------------------------------------------------------------------------------------------
# programmes: who takes part, and what the service does to their offending


@dataclass(frozen=True)
class Programme:
    """A synthetic programme: who it selects and its true effect.

    ``hazard_ratio`` multiplies the participants' offending intensity in the year after their
    index event (1.0: no effect). ``employment_effect`` is the probability that a participant gets
    an extra P45 employment spell starting in the year after the index event (0.0: no effect on
    employment). ``history_tilt``, ``age_tilt`` and ``risk_tilt`` steer selection
    (positive: more history / older / higher hidden risk). ``unfindable_share`` of the submitted
    people are not in the national data at all.
    """

    slug: str
    organisation: str
    name: str
    description: str
    selection: str
    setting: str                          # custody or community
    n_participants: int
    hazard_ratio: float
    first_year: int
    last_year: int
    regions: tuple[str, ...] = REGIONS
    sex: str | None = None                # "F" for women only
    min_age: float = 18.0
    max_age: float = 100.0
    history_tilt: float = 0.0
    age_tilt: float = 0.0
    risk_tilt: float = 0.0
    unfindable_share: float = 0.04
    pnc_share: float = 0.55               # share of rows where the organisation knows the PNC id
    file_format: str = "xlsx"             # xlsx or csv
    text_dates: float = 0.0               # share of date cells written as UK text dates
    sub_groups: tuple[str, ...] = ()
    referral_routes: tuple[str, ...] = ("self", "prison staff", "probation", "court", "other agency")
    employment_effect: float = 0.0

    @property
    def n_in_national(self) -> int:
        """Participants the national data holds, by design (``n_participants`` less the
        unfindable share). A small national dataset may give the programme fewer."""
        return int(round(self.n_participants * (1 - self.unfindable_share)))

    def n_not_in_national(self, n_found: int) -> int:
        """Submitted people not in the national data, for a programme with ``n_found``
        participants in it: by design ``n_participants - n_in_national``, scaled down in
        proportion when the national data gave fewer participants than designed."""
        unfindable = self.n_participants - self.n_in_national
        if n_found >= self.n_in_national:
            return unfindable
        return (n_found * unfindable + self.n_in_national // 2) // self.n_in_national


# Work Ready's effect on employment: the chance a participant gets an extra P45 spell starting in
# the year after the index date. The realised effect on being in P45 employment in that year is
# smaller, since some participants would have been in employment anyway: 17.7 percentage points on
# the 50,000-person world, 15.6 on the default 200,000 (truth: employment_effect_points)
EMPLOYMENT_EFFECT = 0.25
# the extra spell starts within this many days of the index date (a four-week workshop, then
# job-search support), and lasts 1 + an exponential number of days with this mean
EXTRA_SPELL_START_DAYS = 180
EXTRA_SPELL_MEAN_DAYS = 240.0
# the child of the config seed's SeedSequence the extra spells are drawn from: generate() spawns
# children 0 to 11 for everything else, so this stream changes none of their draws
EMPLOYMENT_STREAM = 12


PROGRAMMES: tuple[Programme, ...] = (
    Programme("gateway-mentoring", "Northern Resettlement Trust", "Gateway Mentoring",
              "Volunteer mentors meet people in prison and through the gate for six months after release.",
              "Referred by prison resettlement teams; priority for people with repeat short sentences.",
              "custody", 450, 0.80, 2008, 2011,
              regions=("North East", "North West", "Yorkshire and the Humber"), history_tilt=0.5,
              risk_tilt=0.2, sub_groups=("mentor met at gate", "mentor met later"),
              referral_routes=("prison staff", "self", "probation")),
    Programme("womens-centre", "Women in Focus", "Women's Centre Support",
              "Key-worker support, group work and practical help at women's centres.",
              "Women on community orders referred by probation or courts.",
              "community", 320, 0.75, 2007, 2011, sex="F", history_tilt=0.2, file_format="csv",
              text_dates=1.0, referral_routes=("probation", "court", "self", "other agency")),
    Programme("learning-inside", "Prison Learning Foundation", "Learning Inside",
              "Distance-learning courses funded for people in prison.",
              "People in prison apply; applications supported by prison education staff.",
              "custody", 1200, 0.88, 2006, 2011, history_tilt=-0.4, age_tilt=0.1, risk_tilt=-0.2,
              pnc_share=0.3, sub_groups=("vocational", "academic", "arts"),
              referral_routes=("self", "prison staff")),
    Programme("work-ready", "Pathways to Work CIC", "Work Ready",
              "A four-week employability workshop with job-search support.",
              "Referred by probation in London and the south east.",
              "community", 500, 1.00, 2008, 2011, regions=("London", "South East", "East of England"),
              history_tilt=0.1, text_dates=0.3, referral_routes=("probation", "self", "other agency"),
              employment_effect=EMPLOYMENT_EFFECT),
    Programme("short-sharp-challenge", "Frontline Discipline Ltd", "Short Sharp Challenge",
              "A military-style discipline course for young adults in prison.",
              "Young men aged 18 to 24 put forward by prison staff as suitable.",
              "custody", 350, 1.30, 2007, 2010, sex="M", min_age=18.0, max_age=25.0,
              history_tilt=0.4, risk_tilt=0.3, referral_routes=("prison staff",)),
    Programme("open-door-arts", "Open Door Arts Collective", "Open Door Arts",
              "Weekly community arts workshops.",
              "Self-referral and probation referral in south Wales.",
              "community", 48, 0.90, 2009, 2011, regions=("Wales",), referral_routes=("self", "probation")),
    Programme("safe-harbour", "Safe Harbour Housing", "Safe Harbour Housing Advice",
              "A drop-in housing advice service.",
              "Anyone who walks in; most clients have no recent criminal record.",
              "community", 300, 1.00, 2008, 2011, regions=("West Midlands", "East Midlands"),
              unfindable_share=0.7, pnc_share=0.05, referral_routes=("self", "other agency")),
)


def _weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """``k`` positions drawn without replacement with probability proportional to ``weights``
    (Efraimidis-Spirakis keys), in increasing order."""
    keys = np.log(rng.random(len(weights))) / np.maximum(weights, 1e-12)
    k = min(k, len(weights))
    return np.sort(np.argpartition(-keys, k - 1)[:k]) if k else np.zeros(0, dtype=np.int64)


# A programme takes at most this share of the people eligible for it (and not already in another
# programme), leaving at least a third of them: a programme that took everyone eligible would leave
# no like-for-like comparison people, nor anyone for the programmes selected after it (on 10,000
# people Learning Inside took every adult released from custody, and Short Sharp Challenge was
# left with nobody). It binds only on small national datasets: on 50,000 people and more (the
# default is 200,000) every programme is well under it, so their data are unchanged.
MAX_SHARE_OF_ELIGIBLE = 2 / 3


def _select_participants(rng: np.random.Generator, prog: Programme, events: dict[str, np.ndarray],
                         people: People, previous: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Positions in ``events`` of the programme's participants (one event per person): up to
    ``prog.n_participants``, and at most :data:`MAX_SHARE_OF_ELIGIBLE` of the eligible people
    (rounded up: one when only one person is eligible, none when nobody is)."""
    custody = events["event_type"] == 0
    age = (events["index_date"] - people.birth[events["person"]]) / DAYS_PER_YEAR
    year = 1970 + events["index_date"] / DAYS_PER_YEAR
    region_codes = np.array([REGIONS.index(r) for r in prog.regions])
    ok = (custody if prog.setting == "custody" else ~custody)
    ok &= (age >= prog.min_age) & (age < prog.max_age)
    ok &= (year >= prog.first_year) & (year < prog.last_year + 1)
    ok &= np.isin(events["region"], region_codes)
    ok &= ~taken[events["person"]]
    if prog.sex is not None:
        ok &= people.sex[events["person"]] == SEXES.index(prog.sex)
    cand = np.flatnonzero(ok)
    # one event per person: the first eligible one (events are sorted by person, then date)
    person = events["person"][cand]
    cand = cand[np.r_[True, person[1:] != person[:-1]][:len(cand)]]
    score = (prog.history_tilt * np.log1p(previous[cand]) + prog.age_tilt * (age[cand] - 30) / 10
             + prog.risk_tilt * np.log(people.frailty[events["person"][cand]] + 0.05))
    k = min(prog.n_participants, math.ceil(MAX_SHARE_OF_ELIGIBLE * len(cand)))
    chosen = cand[_weighted_sample(rng, np.exp(score), k)]
    taken[events["person"][chosen]] = True
    return chosen


def _apply_effects(cfg: SynthConfig, rng: np.random.Generator, people: People, occ: Occasions,
                   person: np.ndarray, index_date: np.ndarray, hazard_ratio: np.ndarray) -> Occasions:
    """Change participants' offending in the year after their index event by ``hazard_ratio``.

    Below 1, each occasion in the year is removed with probability 1 - ratio; above 1, extra
    occasions arrive at (ratio - 1) times the person's own intensity (sentenced without custody,
    so the custody blocks already drawn stay valid). Returns all occasions, sorted again.
    """
    n_people = cfg.n_people
    start = np.full(n_people, -1, dtype=np.int64)
    ratio = np.ones(n_people)
    start[person] = index_date
    ratio[person] = hazard_ratio
    in_year = (start[occ.person] >= 0) & (occ.date >= start[occ.person]) & (occ.date < start[occ.person] + FOLLOW_UP_DAYS)
    removed = in_year & (rng.random(len(occ.person)) >= np.minimum(ratio[occ.person], 1.0))
    occ = occ.take(np.flatnonzero(~removed))
    up = hazard_ratio > 1
    add_person, add_day = _draw_occasion_times(cfg, rng, people, index_date[up], index_date[up] + FOLLOW_UP_DAYS,
                                               hazard_ratio[up] - 1.0, person[up])
    added = _describe_occasions(cfg, rng, people, add_person, add_day, first_uid=int(occ.uid.max(initial=-1)) + 1)
    prev = _previous_occasions(occ, added.person, added.date)
    age = (added.date - people.birth[added.person]) / DAYS_PER_YEAR
    _dispose(rng, added, np.arange(len(added.person)), prev, age, allow_custody=False)
    both = Occasions.concat([occ, added])
    return both.take(np.lexsort((both.date, both.person)))


def _employment_effects(cfg: SynthConfig, rng: np.random.Generator, events: dict[str, np.ndarray],
                        chosen: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The extra P45 employment spells (person, start, end; day numbers) the programmes with an
    ``employment_effect`` give their participants: each participant, with that probability, gets
    a spell starting on one of the :data:`EXTRA_SPELL_START_DAYS` days from the index date,
    lasting 1 + an exponential number of days (mean :data:`EXTRA_SPELL_MEAN_DAYS`), cut at the
    extract date. ``rng`` must be a stream of its own (no other draw uses it)."""
    extract = day_number(cfg.extract_date)
    parts = []
    for prog in PROGRAMMES:
        if prog.employment_effect <= 0:
            continue
        pos = chosen[prog.slug]
        gets = rng.random(len(pos)) < prog.employment_effect
        k = int(gets.sum())
        start = events["index_date"][pos][gets] + rng.integers(0, EXTRA_SPELL_START_DAYS, k)
        end = np.minimum(start + 1 + np.round(rng.exponential(EXTRA_SPELL_MEAN_DAYS, k)).astype(np.int64), extract)
        parts.append((events["person"][pos][gets], start, end))
    if not parts:
        return (np.zeros(0, dtype=np.int64),) * 3
    return tuple(np.concatenate([part[i] for part in parts]).astype(np.int64) for i in range(3))


def _with_extra_spells(table: pa.Table, person: np.ndarray, start: np.ndarray, end: np.ndarray) -> pa.Table:
    """The employment ``table`` with the extra spells (0-based ``person``, day numbers) added,
    in (person, start) order; the rows already there keep their order and values."""
    if len(person) == 0:
        return table
    who = np.concatenate([table.column("person_id").to_numpy(), person + 1])
    begin = np.concatenate([table.column("start_date").cast(pa.int32()).to_numpy(), start])
    finish = np.concatenate([table.column("end_date").cast(pa.int32()).to_numpy(), end])
    order = np.lexsort((begin, who))     # stable: equal keys keep the table's rows first
    return pa.table({"person_id": who[order], "start_date": _dates(begin[order]), "end_date": _dates(finish[order])})


def employed_in_year(spell_person: np.ndarray, spell_start: np.ndarray, spell_end: np.ndarray,
                     person: np.ndarray, index_date: np.ndarray) -> np.ndarray:
    """Whether each (person, index_date) pair (0-based people, one pair per person) has a P45
    spell covering a day from the index date to the index date + 364 (spells cover their start
    and end days). Used for the truth file; the lab's own measure is
    :func:`jdl.cohort.employment.employment_outcomes`."""
    at = np.full(int(max(spell_person.max(initial=-1), person.max(initial=-1))) + 1, -1, dtype=np.int64)
    at[person] = index_date
    mine = at[spell_person] >= 0
    start, end, day = spell_start[mine], spell_end[mine], at[spell_person[mine]]
    overlap = (start <= day + FOLLOW_UP_DAYS - 1) & (end >= day)
    employed = np.zeros(len(at), dtype=bool)
    employed[spell_person[mine][overlap]] = True
    return employed[person]


def _employment_truth(truth: dict[str, dict], employment: pa.Table, extra: tuple[np.ndarray, ...],
                      events: dict[str, np.ndarray], chosen: dict[str, np.ndarray]) -> None:
    """Add to each programme's truth its participants' P45 employment in the year after the
    index date without the service (the ``employment`` table before the extra spells) and with
    it (the extra spells added), and the difference in percentage points."""
    who = employment.column("person_id").to_numpy() - 1
    start = employment.column("start_date").cast(pa.int32()).to_numpy().astype(np.int64)
    end = employment.column("end_date").cast(pa.int32()).to_numpy().astype(np.int64)
    with_who, with_start, with_end = (np.concatenate([a, b]) for a, b in zip((who, start, end), extra))
    for prog in PROGRAMMES:
        pos = chosen[prog.slug]
        person, index_date = events["person"][pos], events["index_date"][pos]
        without = employed_in_year(who, start, end, person, index_date)
        actual = employed_in_year(with_who, with_start, with_end, person, index_date)
        truth[prog.slug] |= {
            "employment_effect": prog.employment_effect,
            "employment_with_service": float(actual.mean()) if len(pos) else None,
            "employment_without_service": float(without.mean()) if len(pos) else None,
            "employment_effect_points": float(100 * (actual.mean() - without.mean())) if len(pos) else None,
        }


def _spells(rng: np.random.Generator, persons: int, rate: np.ndarray, mean_days: float,
            first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spells (person, start, end) with Poisson(rate) spells per person over [first, last]."""
    counts = rng.poisson(rate)
    who = np.repeat(np.arange(persons), counts)
    start = first + np.floor(rng.random(len(who)) * (last - first)).astype(np.int64)
    end = np.minimum(start + 1 + np.round(rng.exponential(mean_days, len(who))).astype(np.int64), last)
    order = np.lexsort((start, who))
    return who[order], start[order], end[order]


@dataclass
class SyntheticWorld:
    """Everything generated: the national tables (pyarrow), the programmes' participants and the truth."""

    config: SynthConfig
    tables: dict[str, pa.Table]
    people: People = field(repr=False)
    events: dict[str, np.ndarray] = field(repr=False)
    participants: dict[str, np.ndarray] = field(repr=False)   # programme slug -> event positions
    truth: dict[str, dict] = field(repr=False)
    names: dict[str, np.ndarray] = field(repr=False)


def short_programmes(world: SyntheticWorld) -> list[tuple[Programme, int]]:
    """The programmes that got fewer participants in the national data than designed (a small
    national dataset holds too few eligible people), each with the number it got."""
    return [(prog, len(world.participants[prog.slug])) for prog in PROGRAMMES
            if len(world.participants[prog.slug]) < prog.n_in_national]


def _names(rng: np.random.Generator, sex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surnames (weighted by the en_GB frequency list, some hyphenated) and forenames by sex."""
    from faker.providers.person.en_GB import Provider

    n = len(sex)
    surnames = np.array(list(Provider.last_names.keys()), dtype=object)
    weights = np.array(list(Provider.last_names.values()), dtype=float)
    surname = surnames[_choice(rng, n, weights)]
    hyphen = rng.random(n) < 0.02
    second = surnames[rng.integers(0, len(surnames), int(hyphen.sum()))]
    surname[hyphen] = surname[hyphen] + "-" + second
    male = np.array(sorted(set(Provider.first_names_male)), dtype=object)
    female = np.array(sorted(set(Provider.first_names_female)), dtype=object)
    forename = np.where(sex == 0, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    return surname, forename


def employment_stream(cfg: SynthConfig) -> np.random.Generator:
    """The random stream of the programmes' effects on employment: child :data:`EMPLOYMENT_STREAM`
    of the config seed's SeedSequence, independent of the twelve streams :func:`generate` draws
    everything else from (children 0 to 11)."""
    return np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(EMPLOYMENT_STREAM,)))


def generate(cfg: SynthConfig = SynthConfig()) -> SyntheticWorld:
    """Generate the synthetic national data and the programmes' participants for ``cfg``."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(12)]
    n = cfg.n_people
    extract = day_number(cfg.extract_date)
    window_start = day_number(cfg.window_start)
    people = _draw_people(cfg, streams[0])

    # careers: the first proven occasion at onset, then a Poisson process up to the extract
    persons = np.arange(n, dtype=np.int64)
    p, d = _draw_occasion_times(cfg, streams[1], people, people.onset + 1, np.full(n, extract),
                                np.ones(n), persons)
    occ = _describe_occasions(cfg, streams[2], people, np.concatenate([persons, p]),
                              np.concatenate([people.onset, d]))
    occ = _drop_offending_in_custody(_walk_careers(streams[3], occ, people.birth, n))

    # programmes select among the index events the careers produced
    events = _index_events(occ, window_start, extract)
    previous = _previous_occasions(occ, events["person"], events["sentence_date"])
    taken = np.zeros(n, dtype=bool)
    chosen: dict[str, np.ndarray] = {}
    for prog in PROGRAMMES:
        chosen[prog.slug] = _select_participants(
            streams[4], Programme(**{**asdict(prog), "n_participants": prog.n_in_national}),
            events, people, previous, taken)
    empty = [prog.name for prog in PROGRAMMES if len(chosen[prog.slug]) == 0]
    if empty:
        raise TooFewPeopleError(
            f"{n:,} people (seed {cfg.seed}) leave nobody in the national data eligible for "
            f"{', '.join(empty)}; generate more people (at least {MIN_PEOPLE:,}, and 10,000 or more "
            f"to give every programme dozens of participants)")
    all_chosen = np.concatenate(list(chosen.values()))
    ratios = np.concatenate([np.full(len(chosen[p.slug]), p.hazard_ratio) for p in PROGRAMMES])
    part_person = events["person"][all_chosen]
    part_index = events["index_date"][all_chosen]
    part_occasions = events["occasion"][all_chosen]
    counterfactual_occ = occ.take(np.flatnonzero(taken[occ.person]))

    # the services change what happens next; the participants' index occasions are untouched
    index_uids = occ.uid[part_occasions]
    occ = _drop_offending_in_custody(_apply_effects(cfg, streams[5], people, occ, part_person, part_index, ratios))
    events = _index_events(occ, window_start, extract)
    # find each participant's index event again in the regenerated events, by occasion id
    event_uids = occ.uid[events["occasion"]]
    order = np.argsort(event_uids, kind="stable")
    pos = order[np.searchsorted(event_uids, index_uids, sorter=order)]
    assert np.array_equal(occ.uid[events["occasion"][pos]], index_uids)
    offset = 0
    for prog in PROGRAMMES:
        k = len(chosen[prog.slug])
        chosen[prog.slug] = pos[offset:offset + k]
        offset += k

    # breaches of court orders: about one order in six, during the order
    order_events = np.flatnonzero(events["event_type"] > 0)
    breached = order_events[streams[6].random(len(order_events)) < 0.16]
    b_person = events["person"][breached]
    b_day = events["index_date"][breached] + np.floor(
        streams[6].random(len(breached)) * np.maximum(events["episode_end"][breached] - events["index_date"][breached], 1)).astype(np.int64)
    offences = _offences(streams[7], occ, b_person, b_day)
    o_order = np.lexsort((offences["offence_date"], offences["person"]))
    offences = {k: v[o_order] for k, v in offences.items()}

    truth = _truth(streams[11], occ_counterfactual=counterfactual_occ, offences=offences, events=events,
                   chosen=chosen)
    surname, forename = _names(streams[8], people.sex)
    tables = _tables(cfg, streams[9], people, occ, events, offences, surname, forename)
    # the services' effect on employment, from a stream of its own (no draw above changes)
    extra = _employment_effects(cfg, employment_stream(cfg), events, chosen)
    _employment_truth(truth, tables["employment"], extra, events, chosen)
    tables["employment"] = _with_extra_spells(tables["employment"], *extra)
    return SyntheticWorld(cfg, tables, people, events, chosen, truth, {"surname": surname, "forename": forename})


def _counts_mask(offences: dict[str, np.ndarray]) -> np.ndarray:
    return (offences["disposal"] != 2) & (offences["offence_group"] != BREACH_GROUP)


def _truth(rng: np.random.Generator, occ_counterfactual: Occasions, offences: dict[str, np.ndarray],
           events: dict[str, np.ndarray], chosen: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per programme: the participants' one-year proven re-offending with and without the service."""
    cf = _offences(rng, occ_counterfactual, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    cf_order = np.lexsort((cf["offence_date"], cf["person"]))
    cf = {k: v[cf_order] for k, v in cf.items()}
    truth = {}
    for prog in PROGRAMMES:
        pos = chosen[prog.slug]
        person, index_date = events["person"][pos], events["index_date"][pos]
        actual = one_year_outcome(offences["person"], offences["offence_date"], offences["proof_date"],
                                  _counts_mask(offences), person, index_date)
        without = one_year_outcome(cf["person"], cf["offence_date"], cf["proof_date"], _counts_mask(cf),
                                   person, index_date)
        truth[prog.slug] = {
            "programme": prog.name,
            "organisation": prog.organisation,
            "setting": prog.setting,
            "hazard_ratio": prog.hazard_ratio,
            "participants_in_national_data": int(len(pos)),
            "rows_submitted_before_faults": len(pos) + prog.n_not_in_national(len(pos)),
            "rate_with_service": float((actual > 0).mean()) if len(pos) else None,
            "rate_without_service": float((without > 0).mean()) if len(pos) else None,
            "rate_effect_points": float(100 * ((actual > 0).mean() - (without > 0).mean())) if len(pos) else None,
            "frequency_with_service": float(actual.mean()) if len(pos) else None,
            "frequency_without_service": float(without.mean()) if len(pos) else None,
            "direction": "reduction" if prog.hazard_ratio < 1 else "increase" if prog.hazard_ratio > 1 else "none",
        }
    return truth


def _tables(cfg: SynthConfig, rng: np.random.Generator, people: People, occ: Occasions,
            events: dict[str, np.ndarray], offences: dict[str, np.ndarray], surname: np.ndarray,
            forename: np.ndarray) -> dict[str, pa.Table]:
    """The national tables as pyarrow Tables (the Parquet schema the lab reads through DuckDB)."""
    n = cfg.n_people
    extract = day_number(cfg.extract_date)
    person_id = np.arange(1, n + 1, dtype=np.int64)
    # PNC id: year of the first record, and a serial unique to the person (an affine bijection mod 10^7)
    first_year = np.clip(1970 + people.onset // 365.2425, 1960, cfg.extract_date.year).astype(np.int64)
    serial = (7_654_321 * np.arange(n, dtype=np.int64) + 1_234_567) % 10_000_000
    pnc = format_pnc_many(first_year, serial)
    ever_custody = np.zeros(n, dtype=bool)
    ever_custody[occ.person[occ.sentence == 0]] = True
    custody_people = np.flatnonzero(ever_custody)
    prison = np.full(n, None, dtype=object)
    prison[custody_people] = prison_number_from_int((104_729 * np.arange(len(custody_people), dtype=np.int64)
                                                     + 31_337) % 175_760_000)
    tables = {
        "people": pa.table({
            "person_id": person_id,
            "pnc_id": pa.array(pnc, type=pa.string()),
            "prison_number": pa.array(prison, type=pa.string()),
            "surname": pa.array(surname, type=pa.string()),
            "forename": pa.array(forename, type=pa.string()),
            "date_of_birth": _dates(people.birth),
            "sex": _dictionary(people.sex, SEXES),
            "ethnicity_group": _dictionary(people.ethnicity, ETHNICITY_GROUPS),
            "uk_national": pa.array(people.uk_national),
            "home_region": _dictionary(people.region, REGIONS),
        }),
        "index_events": pa.table({
            "event_id": np.arange(1, len(events["person"]) + 1, dtype=np.int64),
            "person_id": events["person"] + 1,
            "event_type": _dictionary(events["event_type"], EVENT_TYPES),
            "index_date": _dates(events["index_date"]),
            "sentence_date": _dates(events["sentence_date"]),
            "episode_end": _dates(events["episode_end"]),
            "index_offence_group": _dictionary(events["offence_group"], OFFENCE_GROUPS),
            "sentence_length_days": events["sentence_length"].astype(np.int32),
            "region": _dictionary(events["region"], REGIONS),
        }),
        "offences": pa.table({
            "person_id": offences["person"] + 1,
            "occasion_id": pa.array(offences["occasion"] + 1, mask=offences["occasion"] < 0),
            "offence_date": _dates(offences["offence_date"]),
            "proof_date": _dates(offences["proof_date"]),
            "disposal": _dictionary(offences["disposal"], DISPOSALS),
            "court_class": _dictionary(offences["court_class"], COURT_CLASSES),
            "custodial": pa.array(offences["custodial"]),
            "offence_group": _dictionary(offences["offence_group"], OFFENCE_GROUPS),
        }),
    }
    # employment (P45) and out-of-work benefit spells from 2000 to the extract
    first = day_number(date(2000, 1, 1))
    who, start, end = _spells(rng, n, 4.0 * np.exp(-0.35 * people.frailty), 420.0, first, extract)
    tables["employment"] = pa.table({"person_id": who + 1, "start_date": _dates(start), "end_date": _dates(end)})
    who, start, end = _spells(rng, n, 1.5 + 1.2 * np.minimum(people.frailty, 3.0), 300.0, first, extract)
    benefit = _choice(rng, len(who), (0.55, 0.30, 0.15))
    tables["benefits"] = pa.table({
        "person_id": who + 1, "start_date": _dates(start), "end_date": _dates(end),
        "benefit": _dictionary(benefit, ("Jobseeker's Allowance", "Employment and Support Allowance or Incapacity Benefit",
                                         "Income Support")),
    })
    # OASys: assessed around sentence for a share of index events (more for orders and long custody)
    m = len(events["person"])
    long_enough = (events["event_type"] > 0) | (events["sentence_length"] >= 365)
    assessed = np.flatnonzero(rng.random(m) < np.where(long_enough, cfg.oasys_share + 0.1, cfg.oasys_share - 0.25))
    a_person = events["person"][assessed]
    custody = events["event_type"][assessed] == 0
    offset = np.where(custody, rng.integers(0, 40, len(assessed)), -rng.integers(1, 30, len(assessed)))
    a_date = np.where(custody, np.minimum(events["sentence_date"][assessed] + offset, events["index_date"][assessed]),
                      events["sentence_date"][assessed] + offset)
    risk = np.log(people.frailty[a_person] + 0.05)
    columns: dict[str, object] = {"person_id": a_person + 1, "assessment_date": _dates(a_date)}
    for k, need in enumerate(OASYS_NEEDS):
        base = (-0.4, 0.3, 0.1, -0.3, 0.5, -0.2, -0.8, -0.1, 0.6, -0.5)[k]
        score = base + 0.7 * risk + 0.4 * rng.standard_normal(len(assessed))
        columns[need] = np.digitize(score, [-0.3, 0.6]).astype(np.int8)   # 0 none, 1 some, 2 significant
    tables["oasys"] = pa.table(columns)
    return tables


PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700


def private_folder(path: str | Path) -> Path:
    """Make the folder ``path`` owner-only (0700) whatever the umask: missing folders on the way
    are created 0700, and ``path`` itself is chmodded to 0700 even if it already existed (parents
    that already existed are left alone). Returns ``path``."""
    path = Path(path)
    missing = []
    folder = path
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
        os.chmod(folder, PRIVATE_FOLDER_MODE)   # mkdir's mode is cut by the umask; chmod is not
    os.chmod(path, PRIVATE_FOLDER_MODE)
    return path


def make_private_tree(path: str | Path) -> int:
    """Make the folder ``path`` and everything under it owner-only (folders 0700, files 0600),
    for synthetic data written before synth wrote it so. Symlinks are neither followed nor
    changed. Returns how many files and folders changed mode (0 when ``path`` does not exist)."""
    changed = 0
    root = Path(path)
    if root.is_symlink() or not root.is_dir():
        return 0
    for folder, folders, files in os.walk(root):
        for name, wanted in [(folder, PRIVATE_FOLDER_MODE)] + [(os.path.join(folder, f), PRIVATE_FILE_MODE)
                                                                for f in files]:
            mode = os.lstat(name).st_mode
            if stat.S_ISLNK(mode) or stat.S_IMODE(mode) == wanted:
                continue
            os.chmod(name, wanted)
            changed += 1
        folders[:] = [f for f in folders if not os.path.islink(os.path.join(folder, f))]
    return changed


def _write_private_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, owner-only (0600), in an owner-only folder."""
    private_folder(path.parent)
    with atomic_path(path, mode=PRIVATE_FILE_MODE) as temp:
        temp.write_text(text, encoding="utf-8")
    return path


def _write_parquet_atomically(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically, owner-only (0600); the temporary file beside it is
    0600 from its creation (mkstemp)."""
    with atomic_path(path, mode=PRIVATE_FILE_MODE) as temp:
        pq.write_table(table, temp, compression="zstd", row_group_size=1_000_000, write_statistics=True)


def write_national(world: SyntheticWorld, out_dir: str | Path) -> Path:
    """Write the national tables as ``<out_dir>/<table>.parquet`` plus ``manifest.json``.

    Files are written to temporary names and renamed into place, so a crash never leaves a
    half-written table where a good one is expected. Files are 0600 and ``out_dir`` 0700, whatever
    the umask (see the module docstring). Returns ``out_dir``.
    """
    out = private_folder(out_dir)
    for name, table in world.tables.items():
        _write_parquet_atomically(table, out / f"{name}.parquet")
    cfg = world.config
    manifest = {
        "schema_version": 1,
        "generator": "jdl.synth.world",
        "seed": cfg.seed,
        "n_people": cfg.n_people,
        "extract_date": cfg.extract_date.isoformat(),
        "window_start": cfg.window_start.isoformat(),
        "window_end": cfg.window.end.isoformat(),
        "tables": {name: table.num_rows for name, table in world.tables.items()},
    }
    _write_private_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


def write_truth(world: SyntheticWorld, path: str | Path) -> Path:
    """Write the programmes' true effects as JSON (0600, its folder 0700). Only tests and
    benchmarks read this file."""
    path = Path(path)
    _write_private_text(path, json.dumps({"seed": world.config.seed, "n_people": world.config.n_people,
                                          "programmes": world.truth}, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# submissions: filled Data Upload Templates with the identity faults real ones have

PRISONS = {
    "North East": ("HMP Durham", "HMP Holme House"), "North West": ("HMP Manchester", "HMP Liverpool"),
    "Yorkshire and the Humber": ("HMP Leeds", "HMP Hull"), "East Midlands": ("HMP Nottingham", "HMP Leicester"),
    "West Midlands": ("HMP Birmingham", "HMP Stafford"), "East of England": ("HMP Norwich", "HMP Bedford"),
    "London": ("HMP Pentonville", "HMP Wandsworth"), "South East": ("HMP Lewes", "HMP Winchester"),
    "South West": ("HMP Exeter", "HMP Bristol"), "Wales": ("HMP Cardiff", "HMP Swansea"),
}
_KEYBOARD_NEIGHBOURS = {c: n for c, n in zip("abcdefghijklmnopqrstuvwxyz",
                                             ["s", "v", "x", "s", "r", "g", "h", "j", "o", "k", "l", "k", "n",
                                              "m", "p", "o", "w", "t", "d", "y", "i", "b", "e", "c", "u", "x"])}


def _misspell(name: str, rng: np.random.Generator) -> str:
    """One typing slip: a neighbouring key, a dropped, doubled or swapped letter."""
    if len(name) < 3:
        return name + name[-1]
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0 and name[i].lower() in _KEYBOARD_NEIGHBOURS:
        return name[:i] + _KEYBOARD_NEIGHBOURS[name[i].lower()] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i + 1:]
    if kind == 2:
        return name[:i] + name[i] + name[i:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


def _uk_text(day: date, rng: np.random.Generator) -> str:
    """A date as UK text, in one of the forms organisations use."""
    form = int(rng.integers(0, 10))
    if form < 7:
        return day.strftime("%d/%m/%Y")
    if form < 9:
        return day.strftime("%d-%m-%Y")
    return f"{day.day} {day.strftime('%b %Y')}"


def submission(world: SyntheticWorld, prog: Programme, seed_offset: int):
    """The filled Participants rows (a pandas DataFrame) and Intervention answers for ``prog``.

    Rows carry synthetic personal data with realistic faults: misspelt and hyphenated names,
    day and month swapped in dates of birth, missing and wrong PNC ids, people not in the national
    data at all, and duplicate rows. Returns (participants, intervention, person_id) where
    ``person_id`` gives, for each row, the national person it was drawn from (-1: not in the
    national data): the linkage truth, for tests and benchmarks only.
    """
    import pandas as pd

    rng = np.random.default_rng(np.random.SeedSequence([world.config.seed, 7919, seed_offset]))
    events, people = world.events, world.people
    pos = world.participants[prog.slug]
    person = events["person"][pos]
    index_date = events["index_date"][pos]
    sentence_date = events["sentence_date"][pos]
    tables = world.tables["people"]
    pnc_all = tables.column("pnc_id").to_numpy(zero_copy_only=False)
    prison_all = tables.column("prison_number").to_numpy(zero_copy_only=False)
    k = len(pos)
    if prog.setting == "custody":
        span = np.maximum(index_date - sentence_date - 14, 1)
        start = sentence_date + 7 + np.floor(rng.random(k) * span).astype(np.int64)
        start = np.minimum(start, index_date - 1)
    else:
        before = rng.random(k) < 0.2
        start = np.where(before, index_date - rng.integers(1, 80, k), index_date + rng.integers(0, 60, k))
    rows = {
        "surname": world.names["surname"][person].copy(),
        "forename": world.names["forename"][person].copy(),
        "dob": people.birth[person].copy(),
        "sex": people.sex[person].copy(),
        "pnc_id": np.where(rng.random(k) < prog.pnc_share, pnc_all[person], None),
        "prison_number": np.where(rng.random(k) < (0.7 if prog.setting == "custody" else 0.1),
                                  prison_all[person], None),
        "start": start,
        "index_date": np.where(rng.random(k) < (0.25 if prog.setting == "custody" else 0.0), index_date, -10**6),
        "conviction_date": np.where(rng.random(k) < (0.1 if prog.setting == "community" else 0.0), sentence_date, -10**6),
        "region": events["region"][pos],
    }
    # people the national data does not hold: made-up identities
    n_fake = prog.n_not_in_national(k)
    fake_sex = (rng.random(n_fake) < (1.0 if prog.sex == "F" else 0.2)).astype(np.int8)
    fake_surname, fake_forename = _names(rng, fake_sex)
    lo, hi = day_number(date(prog.first_year, 1, 1)), day_number(date(prog.last_year, 12, 31))
    fake = {
        "surname": fake_surname, "forename": fake_forename,
        "dob": day_number(date(1950, 1, 1)) + rng.integers(0, 16_000, n_fake),
        "sex": fake_sex, "pnc_id": np.full(n_fake, None), "prison_number": np.full(n_fake, None),
        "start": lo + rng.integers(0, hi - lo, n_fake), "index_date": np.full(n_fake, -10**6),
        "conviction_date": np.full(n_fake, -10**6),
        "region": np.array([REGIONS.index(r) for r in prog.regions])[rng.integers(0, len(prog.regions), n_fake)],
    }
    data = {key: np.concatenate([rows[key], fake[key]]) for key in rows}
    m = len(data["sex"])
    surname = data["surname"].astype(object)
    forename = data["forename"].astype(object)
    # identity faults on the people the national data holds
    for i in np.flatnonzero(rng.random(m) < 0.05):
        if rng.random() < 0.5:
            surname[i] = _misspell(surname[i], rng)
        else:
            forename[i] = _misspell(forename[i], rng)
    for i in range(m):
        if "-" in surname[i]:
            surname[i] = surname[i].split("-")[0] if rng.random() < 0.5 else surname[i].replace("-", " ")
    shout = rng.random(m) < 0.1
    surname[shout] = np.char.upper(surname[shout].astype(str)).astype(object)
    dob = [from_day_number(x) for x in data["dob"]]
    for i in np.flatnonzero(rng.random(m) < 0.03):
        if dob[i].day <= 12 and dob[i].day != dob[i].month:
            dob[i] = date(dob[i].year, dob[i].day, dob[i].month)
    pnc = data["pnc_id"].astype(object)
    for i in np.flatnonzero((rng.random(m) < 0.04) & (pnc != None)):  # noqa: E711
        digits = list(pnc[i])
        j = 5 + int(rng.integers(0, 7))
        digits[j] = str((int(digits[j]) + 1 + int(rng.integers(0, 8))) % 10)
        pnc[i] = "".join(digits)              # a wrong digit: usually fails the check letter
    for i in np.flatnonzero((rng.random(m) < 0.15) & (pnc != None)):  # noqa: E711
        pnc[i] = pnc[i][2:]                   # two-digit year, as often written
    start_days = data["start"]
    completed = np.where(rng.random(m) < 0.72, "yes", "no")
    region_names = np.array(REGIONS, dtype=object)[data["region"]]
    if prog.setting == "custody":
        location = [PRISONS[r][int(rng.integers(0, 2))] for r in region_names]
    else:
        location = [f"{r} probation area" for r in region_names]
    sex_words = np.where(data["sex"] == 0, "Male", "Female").astype(object)
    short = rng.random(m) < 0.1
    sex_words[short] = np.where(data["sex"][short] == 0, "M", "F")
    frame = pd.DataFrame({
        "_person_id": np.concatenate([person + 1, np.full(n_fake, -1)]),
        "participant_ref": [f"{prog.slug[:3].upper()}-{i + 1:05d}" for i in range(m)],
        "surname": surname, "forename": forename, "date_of_birth": dob, "sex": sex_words,
        "pnc_id": pnc, "prison_number": data["prison_number"],
        "intervention_start": [from_day_number(x) for x in start_days],
        "intervention_end": [from_day_number(x + int(rng.integers(20, 200))) for x in start_days],
        "index_date": [from_day_number(x) if x > -10**6 else None for x in data["index_date"]],
        "conviction_date": [from_day_number(x) if x > -10**6 else None for x in data["conviction_date"]],
        "setting": prog.setting,
        "referral_route": np.array(prog.referral_routes, dtype=object)[rng.integers(0, len(prog.referral_routes), m)],
        "delivery_location": location,
        "completed": completed,
        "sub_group": (np.array(prog.sub_groups, dtype=object)[rng.integers(0, len(prog.sub_groups), m)]
                      if prog.sub_groups else None),
    })
    for column in ("date_of_birth", "intervention_start", "intervention_end", "index_date", "conviction_date"):
        as_text = rng.random(len(frame)) < prog.text_dates
        frame[column] = [(_uk_text(v, rng) if t else v) if v is not None else None
                         for v, t in zip(frame[column], as_text)]
    # duplicates: the same row sent twice, and the same person entered twice
    again = frame.iloc[np.flatnonzero(rng.random(m) < 0.02)]
    twice = frame.iloc[np.flatnonzero(rng.random(m) < 0.01)].copy()
    twice["participant_ref"] = [f"{ref}-B" for ref in twice["participant_ref"]]
    frame = pd.concat([frame, again, twice], ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    person_id = frame.pop("_person_id").to_numpy()
    intervention = {
        "organisation": prog.organisation, "programme": prog.name, "description": prog.description,
        "selection": prog.selection, "setting": prog.setting,
        "first_delivery": f"01/01/{prog.first_year}", "last_delivery": f"31/12/{prog.last_year}",
        "contact": "Head of Research and Evaluation",
    }
    return frame, intervention, person_id


def write_uploads(world: SyntheticWorld, uploads_dir: str | Path, links_dir: str | Path) -> list[Path]:
    """Write each programme's submission under ``uploads_dir``: a filled Data Upload Template
    (.xlsx), or a CSV for organisations that send one; and under ``links_dir`` the linkage truth
    (``<slug>.csv``: submitter's row number and national person_id, -1 when not in the national
    data), for tests and benchmarks only. Every file is 0600 and both folders 0700, whatever the
    umask. Returns the submission paths written."""
    from jdl.upload.template import write_filled_template

    out = private_folder(uploads_dir)
    links_dir = private_folder(links_dir)
    written = []
    for number, prog in enumerate(PROGRAMMES):
        frame, intervention, person_id = submission(world, prog, number)
        links = "row,person_id\n" + "".join(f"{row},{pid}\n" for row, pid in enumerate(person_id, start=2))
        _write_private_text(links_dir / f"{prog.slug}.csv", links)
        if prog.file_format == "csv":
            path = out / f"{prog.slug}.csv"
            with atomic_path(path, mode=PRIVATE_FILE_MODE) as temp:
                frame.to_csv(temp, index=False, date_format="%d/%m/%Y")
        else:
            path = write_filled_template(out / f"{prog.slug}.xlsx", frame, intervention)   # 0600
        written.append(path)
    return written


def synthesise(national_dir: str | Path = "data/national", uploads_dir: str | Path = "data/uploads",
               truth_path: str | Path = "data/truth/programmes.json",
               config: SynthConfig = SynthConfig()) -> SyntheticWorld:
    """Generate everything for ``config`` and write the national Parquet files, the programmes'
    submissions and the truth file (and its ``links/`` folder beside it), every file owner-only
    (0600) and every folder written to owner-only (0700). Returns the generated world. Raises
    :class:`TooFewPeopleError` (before writing anything) when ``config.n_people`` is too small to
    give every programme a participant."""
    world = generate(config)
    write_national(world, national_dir)
    write_uploads(world, uploads_dir, Path(truth_path).parent / "links")
    write_truth(world, truth_path)
    return world
