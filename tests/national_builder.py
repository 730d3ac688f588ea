"""Build tiny national datasets by hand, with the real Parquet schema, for exact tests."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jdl.cohort.national import OASYS_NEEDS, NationalData

SCHEMAS = {
    "people": pa.schema([("person_id", pa.int64()), ("pnc_id", pa.string()), ("prison_number", pa.string()),
                         ("surname", pa.string()), ("forename", pa.string()), ("date_of_birth", pa.date32()),
                         ("sex", pa.string()), ("ethnicity_group", pa.string()), ("uk_national", pa.bool_()),
                         ("home_region", pa.string())]),
    "index_events": pa.schema([("event_id", pa.int64()), ("person_id", pa.int64()), ("event_type", pa.string()),
                               ("index_date", pa.date32()), ("sentence_date", pa.date32()),
                               ("episode_end", pa.date32()), ("index_offence_group", pa.string()),
                               ("sentence_length_days", pa.int32()), ("region", pa.string())]),
    "offences": pa.schema([("person_id", pa.int64()), ("occasion_id", pa.int64()), ("offence_date", pa.date32()),
                           ("proof_date", pa.date32()), ("disposal", pa.string()), ("court_class", pa.string()),
                           ("custodial", pa.bool_()), ("offence_group", pa.string())]),
    "employment": pa.schema([("person_id", pa.int64()), ("start_date", pa.date32()), ("end_date", pa.date32())]),
    "benefits": pa.schema([("person_id", pa.int64()), ("start_date", pa.date32()), ("end_date", pa.date32()),
                           ("benefit", pa.string())]),
    "oasys": pa.schema([("person_id", pa.int64()), ("assessment_date", pa.date32())]
                       + [(n, pa.int8()) for n in OASYS_NEEDS]),
}

PERSON_DEFAULTS = {"pnc_id": None, "prison_number": None, "surname": "Testperson", "forename": "Alex",
                   "date_of_birth": date(1980, 6, 15), "sex": "M", "ethnicity_group": "White",
                   "uk_national": True, "home_region": "London"}
EVENT_DEFAULTS = {"event_type": "custody release", "index_offence_group": "theft", "sentence_length_days": 180,
                  "region": "London"}
OFFENCE_DEFAULTS = {"occasion_id": None, "disposal": "court conviction", "court_class": "either-way",
                    "custodial": False, "offence_group": "theft"}


def build_national(folder: Path, people=(), events=(), offences=(), employment=(), benefits=(), oasys=(),
                   extract_date: date = date(2014, 6, 30), window_start: date = date(2002, 1, 1)) -> NationalData:
    """Write the given rows (dicts; missing columns take defaults) as a national dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = {
        "people": [{**PERSON_DEFAULTS, **p} for p in people],
        "index_events": [{**EVENT_DEFAULTS, **e} for e in events],
        "offences": [{**OFFENCE_DEFAULTS, **o} for o in offences],
        "employment": list(employment),
        "benefits": [{"benefit": "Jobseeker's Allowance", **b} for b in benefits],
        "oasys": [{**{n: 0 for n in OASYS_NEEDS}, **a} for a in oasys],
    }
    for name, schema in SCHEMAS.items():
        pq.write_table(pa.Table.from_pylist(rows[name], schema=schema), folder / f"{name}.parquet")
    (folder / "manifest.json").write_text(json.dumps({
        "extract_date": extract_date.isoformat(), "window_start": window_start.isoformat()}))
    return NationalData.open(folder)
