"""The Data Upload Template: its sheets, columns and allowed values (methodology section 1).

One place for the layout, shared by the template writer, the validator and the synthetic
uploads, so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTICIPANTS_SHEET = "Participants"
INTERVENTION_SHEET = "Intervention"
INSTRUCTIONS_SHEET = "Instructions"


@dataclass(frozen=True)
class Column:
    """One column of the Participants sheet.

    ``kind`` is one of "text", "date", "choice"; ``choices`` lists the allowed values of a
    "choice" column as they appear in the template's drop-down (matching is case-insensitive).
    """

    name: str
    kind: str
    required: bool
    description: str
    choices: tuple[str, ...] = ()


SEX_CHOICES = ("Male", "Female")
SETTING_CHOICES = ("custody", "community")
COMPLETED_CHOICES = ("yes", "no")
REFERRAL_ROUTE_CHOICES = ("self", "prison staff", "probation", "court", "other agency")

PARTICIPANT_COLUMNS: tuple[Column, ...] = (
    Column("participant_ref", "text", False,
           "Your own reference for this person (optional). Never shown in any report."),
    Column("surname", "text", True, "Family name as on official records. Required."),
    Column("forename", "text", True, "First given name as on official records. Required."),
    Column("date_of_birth", "date", True, "Date of birth, as an Excel date or DD/MM/YYYY. Required."),
    Column("sex", "choice", True, "Male or Female. Required.", SEX_CHOICES),
    Column("pnc_id", "text", False,
           "Police National Computer id if known, e.g. 2009/0123456X (year/7 digits + check letter)."),
    Column("prison_number", "text", False, "Prison number if known, e.g. A1234BC."),
    Column("intervention_start", "date", False,
           "Date this person started with your service. At least one of intervention_start, "
           "index_date or conviction_date is required; intervention_start is usual."),
    Column("intervention_end", "date", False, "Date this person left or finished the service (optional)."),
    Column("index_date", "date", False,
           "Release date from custody or start date of the court order, if you know it (optional)."),
    Column("conviction_date", "date", False,
           "Date of the conviction that led to the sentence, if you know it (optional)."),
    Column("setting", "choice", False,
           "Where the service began: custody (in prison) or community.", SETTING_CHOICES),
    Column("referral_route", "choice", False,
           "How the person came to the service.", REFERRAL_ROUTE_CHOICES),
    Column("delivery_location", "text", False,
           "Prison or probation area where the person received the service (optional)."),
    Column("completed", "choice", False, "Did the person complete the service? yes or no.", COMPLETED_CHOICES),
    Column("sub_group", "text", False,
           "A label of your own for a sub-analysis, e.g. a strand of the programme (optional)."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in PARTICIPANT_COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in PARTICIPANT_COLUMNS if c.required)
DATE_COLUMNS: tuple[str, ...] = tuple(c.name for c in PARTICIPANT_COLUMNS if c.kind == "date")
EVENT_DATE_COLUMNS: tuple[str, ...] = ("intervention_start", "index_date", "conviction_date")
COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in PARTICIPANT_COLUMNS}

# Intervention sheet: a two-column form, field label in column A and the answer in column B.
INTERVENTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("organisation", "Name of your organisation"),
    ("programme", "Name of the programme or service"),
    ("description", "Short description of what the service does"),
    ("selection", "How participants were selected or referred"),
    ("setting", "custody, community, or both"),
    ("first_delivery", "Date the service was first delivered"),
    ("last_delivery", "Date the service was last delivered (or still running)"),
    ("contact", "Who we should contact about this request (a role, not a personal email if possible)"),
)

MIN_DISTINCT_PEOPLE = 60
