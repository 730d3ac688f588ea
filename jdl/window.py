"""The data window: which index dates the national data can follow up (methodology section 1).

Index events count from ``start`` up to 18 months before the data extract date, because the
follow-up is one year plus six months for offences to be proven.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_WINDOW_START = date(2002, 1, 1)
DEFAULT_EXTRACT_DATE = date(2014, 6, 30)
FOLLOW_UP_DAYS = 365
PROOF_WAIT_DAYS = 182
WINDOW_LAG_MONTHS = 18


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + (day.month - 1) - months, 12)
    month += 1
    # clamp the day to the end of the target month
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


@dataclass(frozen=True)
class DataWindow:
    """The span of index dates the national data supports.

    ``start`` is the first index date allowed; ``extract_date`` the date the national data was
    extracted; ``end`` (derived) the last index date allowed, 18 months before the extract.
    """

    start: date = DEFAULT_WINDOW_START
    extract_date: date = DEFAULT_EXTRACT_DATE

    @property
    def end(self) -> date:
        return _months_before(self.extract_date, WINDOW_LAG_MONTHS)

    def contains(self, day: date) -> bool:
        """True when ``day`` is an allowed index date (both ends inclusive)."""
        return self.start <= day <= self.end

    @classmethod
    def from_national(cls, national_dir: str | Path) -> "DataWindow":
        """The window recorded in a national dataset's ``manifest.json``."""
        manifest = json.loads((Path(national_dir) / "manifest.json").read_text())
        return cls(start=date.fromisoformat(manifest["window_start"]),
                   extract_date=date.fromisoformat(manifest["extract_date"]))
