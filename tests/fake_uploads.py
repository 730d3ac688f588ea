"""Fake but valid Data Upload Template content for tests: distinct made-up people
("Testname17"), never real or synthetic-national personal data."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from jdl.upload.columns import COMPLETED_CHOICES, REFERRAL_ROUTE_CHOICES, SETTING_CHOICES
from jdl.upload.identifiers import format_pnc

INTERVENTION = {
    "organisation": "Test Organisation",
    "programme": "Test Programme",
    "description": "Mentoring before and after release",
    "selection": "Referred by prison staff",
    "setting": "custody",
    "first_delivery": "01/01/2007",
    "last_delivery": "31/12/2009",
    "contact": "Programme manager",
}


def people(n: int = 70) -> pd.DataFrame:
    """A valid participants frame of ``n`` distinct fake people, dates as Excel dates (object dtype)."""
    rows = []
    for i in range(n):
        start = dt.datetime(2008, 1 + i % 12, 1 + i % 28)
        rows.append({
            "participant_ref": f"REF{i:04d}",
            "surname": f"Testname{i}",
            "forename": f"Testfore{i}",
            "date_of_birth": dt.datetime(1975 + i % 15, 1 + i % 12, 1 + i % 28),
            "sex": "Male" if i % 2 else "Female",
            "pnc_id": format_pnc(1995 + i % 10, 100_000 + 37 * i),
            "prison_number": f"B{2000 + i}TS",
            "intervention_start": start,
            "intervention_end": start + dt.timedelta(days=90),
            "setting": SETTING_CHOICES[i % 2],
            "referral_route": REFERRAL_ROUTE_CHOICES[i % 5],
            "delivery_location": "HMP Testville",
            "completed": COMPLETED_CHOICES[i % 2],
            "sub_group": "A" if i < 35 else "B",
        })
    return pd.DataFrame(rows).astype(object)
