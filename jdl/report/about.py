"""The "About these statistics" block of a report: when it was published, its status, the data it
rests on and their extract date, whom to contact, and the report's id.

The contact and the status come from the lab's settings (:class:`ReportSettings`, read from
``params/settings.yaml`` by :func:`jdl.run.settings.load_settings`, which checks every value);
the rest from the analysis (its request and provenance). Every value from outside reaches the
Markdown through :func:`jdl.words.markdown_text`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jdl.words import markdown_text

HEADING = "About these statistics"
STATUS = "Official statistics in development"
PRODUCER = "Justice Data Lab"


@dataclass(frozen=True)
class ReportSettings:
    """What a lab states about every report it publishes: ``contact`` (a team's name), ``email``
    (its address, or None) and ``status`` (the statistics' status)."""

    contact: str = "Justice Data Lab team"
    email: str | None = "justice.datalab@example.org"
    status: str = STATUS


DEFAULT_SETTINGS = ReportSettings()


def long_date(value) -> str:
    """A date (a ``datetime.date``, or an ISO date or date-time string) as "5 December 2026"."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    elif isinstance(value, dt.datetime):
        value = value.date()
    return f"{value.day} {value:%B %Y}"


def about_rows(request_id: str, published, date_received, manifest: dict, settings: ReportSettings) -> list[tuple[str, str]]:
    """The block's rows as (label, Markdown value) pairs, in order: published (``published``: the
    run date), status, the report's id, the data (the organisation's list, received on
    ``date_received``; the national re-offending data, extracted on the national data
    ``manifest``'s ``extract_date``, or "date not recorded" when it has none, and said to be
    synthetic when the manifest names jdl's generator), producer and contact."""
    extract_date = manifest.get("extract_date")
    extract = long_date(extract_date) if extract_date else "date not recorded"
    generator = str(manifest.get("generator", ""))
    synthetic = (f" (synthetic data made by {markdown_text(generator)}, not real people)"
                 if generator.startswith("jdl.synth") else "")
    contact = markdown_text(settings.contact)
    if settings.email:
        contact += f" ({markdown_text(settings.email)})"
    return [
        ("Published", long_date(published)),
        ("Status", markdown_text(settings.status)),
        ("Report", markdown_text(request_id)),
        ("Data", f"the organisation's list of the people it worked with, "
                 f"{f'received {long_date(date_received)}' if date_received else 'date received not given'}; "
                 f"the national re-offending data: proven re-offending from the Police National Computer, "
                 f"with employment, benefits and offender assessment records{synthetic}, extracted {extract}"),
        ("Produced by", PRODUCER),
        ("Contact", contact),
    ]


def about_markdown(request_id: str, published, date_received, manifest: dict, settings: ReportSettings) -> str:
    """The block as Markdown: a level-2 heading and a list of :func:`about_rows` ("- **Label:** value")."""
    rows = about_rows(request_id, published, date_received, manifest, settings)
    return f"## {HEADING}\n\n" + "\n".join(f"- **{label}:** {value}" for label, value in rows)
