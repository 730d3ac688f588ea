"""Read and check a filled Data Upload Template (.xlsx or .csv), methodology section 1.

:func:`validate_upload` never raises for a bad file: every fault becomes a :class:`Problem`
naming the sheet, the row the submitter sees and the column, in plain words. It never puts a
value from the file into a message, a log, an exception or a repr: names, dates of birth, PNC ids
and prison numbers are personal data. The parsed rows (:attr:`ValidationResult.participants`)
hold personal data and are kept out of the result's repr; nothing here prints them.

Row numbers: for a workbook, the Excel row number (header row 1, first data row 2); for a CSV,
the line number on which the record starts (header line 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from openpyxl.utils import get_column_letter

from jdl.columns import (
    COLUMN_NAMES,
    COLUMNS_BY_NAME,
    EVENT_DATE_COLUMNS,
    INTERVENTION_FIELDS,
    INTERVENTION_SHEET,
    MIN_DISTINCT_PEOPLE,
    PARTICIPANTS_SHEET,
    REQUIRED_COLUMNS,
)
from jdl.identifiers import normalise_pnc, normalise_prison_number
from jdl.window import DataWindow

ERROR = "error"
WARNING = "warning"
FILE_SHEET = "file"
"""The ``sheet`` of a problem with the file as a whole (missing, unreadable, wrong format)."""

OLE2_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
CSV_SUFFIXES = (".csv",)

EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_EVENT = dt.date(1990, 1, 1)
MIN_AGE, MAX_AGE = 10, 100
EXCEL_SERIAL_RANGE = (1, 80000)
_EXCEL_EPOCH = dt.date(1899, 12, 30)

SEX_VALUES = {"m": "M", "male": "M", "f": "F", "female": "F"}
COMPLETED_ALIASES = {"y": "yes", "true": "yes", "n": "no", "false": "no"}


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Problem:
    """One fault found in an upload.

    ``sheet`` is "Participants", "Intervention" or "file" (the file as a whole); ``row`` the row
    number the submitter sees (None for a file, sheet or column problem); ``column`` the
    normalised column name (or the column letter on the Intervention sheet; None when the
    problem is not about one column); ``message`` plain words, never a value from the file;
    ``severity`` "error" (the upload cannot be used as it is) or "warning".
    """

    sheet: str
    row: int | None
    column: str | None
    message: str
    severity: str


@dataclass
class ValidationResult:
    """What :func:`validate_upload` found.

    ``path`` the file checked; ``ok`` True when there are no errors (warnings allowed);
    ``problems`` every problem, errors first then by row; ``participants`` the parsed rows (see
    :func:`validate_upload`) or None when the file could not be read that far; ``intervention``
    the Intervention sheet answers by field key ("" when blank); ``n_rows`` the number of
    non-empty participant rows; ``n_distinct_people`` distinct (surname, forename, date of birth)
    after normalisation. ``kind`` is "xlsx", "csv" or None (unread). ``participants``,
    ``intervention`` and the column-letter map are left out of the repr.
    """

    path: Path
    ok: bool
    problems: list[Problem]
    participants: pd.DataFrame | None = field(default=None, repr=False)
    intervention: dict[str, str] = field(default_factory=dict, repr=False)
    n_rows: int = 0
    n_distinct_people: int = 0
    kind: str | None = None
    column_letters: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity "error"."""
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def blocking_errors(self) -> list[Problem]:
        """The errors that stop an analysis: every error except "too few distinct people", which
        only means the request fails the minimum criteria (the upload can still be linked so the
        not-processed letter can show its attrition)."""
        return [p for p in self.errors if not p.message.endswith(TOO_FEW_PEOPLE_SUFFIX)]

    @property
    def warnings(self) -> list[Problem]:
        """The problems of severity "warning"."""
        return [p for p in self.problems if p.severity == WARNING]

    def format_problem(self, problem: Problem) -> str:
        """One problem as a line for the submitter, e.g.
        ``error: sheet Participants, row 14, column date_of_birth (D): not a date``.

        CSV problems read ``CSV, line 14, column ...``; file problems ``file: ...``.
        """
        if problem.sheet == FILE_SHEET:
            place = ["file"]
        elif self.kind == "csv" and problem.sheet == PARTICIPANTS_SHEET:
            place = ["CSV"]
        else:
            place = [f"sheet {problem.sheet}"]
        if problem.row is not None:
            place.append(f"{'line' if self.kind == 'csv' else 'row'} {problem.row}")
        if problem.column is not None:
            letter = (self.column_letters.get(problem.column)
                      if problem.sheet == PARTICIPANTS_SHEET else None)
            place.append(f"column {problem.column}" + (f" ({letter})" if letter else ""))
        return f"{problem.severity}: {', '.join(place)}: {problem.message}"

    def problem_lines(self) -> list[str]:
        """One line per problem (see :meth:`format_problem`), errors first, then in row order."""
        return [self.format_problem(p) for p in _sorted_problems(self.problems)]

    def summary(self) -> str:
        """One line: ``name: OK - R rows, P distinct people, W warnings`` or
        ``name: NOT VALID - E errors, W warnings``."""
        n_errors, n_warnings = len(self.errors), len(self.warnings)
        name = Path(self.path).name
        if self.ok:
            return (f"{name}: OK - {_plural(self.n_rows, 'row')}, "
                    f"{self.n_distinct_people} distinct people, {_plural(n_warnings, 'warning')}")
        return f"{name}: NOT VALID - {_plural(n_errors, 'error')}, {_plural(n_warnings, 'warning')}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_COLUMN_ORDER = {name: i for i, name in enumerate(COLUMN_NAMES)}


def _sorted_problems(problems: list[Problem]) -> list[Problem]:
    sheet_order = {FILE_SHEET: 0, PARTICIPANTS_SHEET: 1, INTERVENTION_SHEET: 2}
    return sorted(problems, key=lambda p: (
        p.severity != ERROR,
        sheet_order.get(p.sheet, 3),
        -1 if p.row is None else p.row,
        _COLUMN_ORDER.get(p.column, len(_COLUMN_ORDER)) if p.column else -1,
        p.column or "",
        p.message,
    ))


class _Problems(list):
    """A list of Problems with shorthands."""

    def error(self, sheet: str, row: int | None, column: str | None, message: str) -> None:
        self.append(Problem(sheet, row, column, message, ERROR))

    def warning(self, sheet: str, row: int | None, column: str | None, message: str) -> None:
        self.append(Problem(sheet, row, column, message, WARNING))


# --------------------------------------------------------------------------------------------
# Values


_MONTHS = {name: i for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_MONTHS.update({name: i for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)})
_MONTHS["sept"] = 9

_MIDNIGHT_RE = re.compile(r"(?:[ T]+)0{1,2}:00(?::00(?:\.0+)?)?$")
_DAY_FIRST_RE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})$")
_ISO_RE = re.compile(r"^(\d{4})([/.\-])(\d{1,2})\2(\d{1,2})$")
_NAMED_MONTH_RE = re.compile(
    r"^(\d{1,2})(?:st|nd|rd|th)?[\s\-]+([A-Za-z]+)\.?,?[\s\-]+(\d{4}|\d{2})$")


def _two_digit_year(yy: int, month: int, day: int, today: dt.date) -> int:
    """20yy, or 19yy when 20yy would put the date in the future."""
    year = 2000 + yy
    try:
        if dt.date(year, month, day) > today:
            year -= 100
    except ValueError:
        year -= 100
    return year


def parse_date(value: object, today: dt.date | None = None) -> dt.date | None:
    """A date from one cell value, or None when it is empty or not a date.

    Accepts Excel dates (``datetime``/``date``), Excel serial numbers 1 to 80000, and text in
    day-first UK forms: ``DD/MM/YYYY``, ``D/M/YYYY``, ``DD-MM-YYYY``, ``DD.MM.YYYY``, ``DD/MM/YY``
    (two-digit years pivot so the date is not after ``today``), ``YYYY-MM-DD``, ``3 Nov 2009``,
    ``3 November 2009`` and ``03-Nov-09``, with surrounding spaces and an optional ``00:00:00``
    time. Never reads month-first (US) order: ``12/31/2009`` is not a date.
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, dt.datetime):  # includes pandas.Timestamp
        if pd.isna(value):
            return None
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not np.isfinite(value) or not EXCEL_SERIAL_RANGE[0] <= value <= EXCEL_SERIAL_RANGE[1]:
            return None
        return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    if not isinstance(value, str):
        return None
    today = today or dt.date.today()
    text = _MIDNIGHT_RE.sub("", value.strip()).strip()
    try:
        if match := _DAY_FIRST_RE.match(text):
            day, _sep, month, year_text = match.groups()
            day, month, year = int(day), int(month), int(year_text)
            if len(year_text) == 2:
                year = _two_digit_year(year, month, day, today)
            return dt.date(year, month, day)
        if match := _ISO_RE.match(text):
            year, _sep, month, day = match.groups()
            return dt.date(int(year), int(month), int(day))
        if match := _NAMED_MONTH_RE.match(text):
            day_text, month_name, year_text = match.groups()
            month = _MONTHS.get(month_name.lower())
            if month is None:
                return None
            day, year = int(day_text), int(year_text)
            if len(year_text) == 2:
                year = _two_digit_year(year, month, day, today)
            return dt.date(year, month, day)
    except ValueError:  # e.g. month 31: an impossible day, month or year
        return None
    return None


def _clean_cell(value: object) -> object:
    """A cell as None (empty), a stripped non-empty str, or its Excel type (date, number, bool)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _as_text(value: object) -> str | None:
    """A cleaned cell as text: integral numbers without ".0", dates as YYYY-MM-DD."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _choice_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


def _choice_value(column: str, value: object) -> str | None:
    """The canonical lower-case choice for a choice column, or None when not allowed."""
    text = _as_text(value)
    if text is None:
        return None
    key = _choice_key(text)
    if column == "completed":
        key = COMPLETED_ALIASES.get(key, key)
    allowed = {_choice_key(c): c.lower() for c in COLUMNS_BY_NAME[column].choices}
    return allowed.get(key)


def _sex_value(value: object) -> str | None:
    text = _as_text(value)
    return SEX_VALUES.get(text.strip().lower()) if text is not None else None


def _pnc_value(value: object) -> str | None:
    text = _as_text(value)
    return normalise_pnc(text) if text is not None else None


def _prison_value(value: object) -> str | None:
    text = _as_text(value)
    return normalise_prison_number(text) if text is not None else None


def normalise_name(text: object) -> str | None:
    """A name for matching: accents removed, upper case, letters and digits only (no spaces,
    hyphens or apostrophes); None when nothing is left."""
    text = _as_text(text)
    if text is None:
        return None
    folded = unicodedata.normalize("NFKD", text)
    letters = "".join(ch for ch in folded if ch.isalnum() and not unicodedata.combining(ch))
    return letters.upper() or None


def normalise_header(header: object) -> str:
    """A column header as a column name: trimmed, lower case, spaces and hyphens to underscores."""
    text = _as_text(_clean_cell(header)) or ""
    return re.sub(r"_+", "_", re.sub(r"[\s\-]+", "_", text.strip().lower())).strip("_")


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Table:
    """The Participants sheet as read: cleaned cells and where they came from."""

    kind: str
    cells: list[list[object]]  # row-major, header row first
    row_numbers: list[int]  # the submitter's row number of each entry of ``cells``
    intervention: dict[str, str] | None = None


def _decode_text(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data:
        return None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _read_csv(data: bytes, problems: _Problems) -> _Table | None:
    text = _decode_text(data)
    if text is None:
        problems.error(FILE_SHEET, None, None,
                       "the file is not readable text: save it as 'CSV UTF-8' or as an Excel "
                       ".xlsx workbook")
        return None
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    # The csv module gives each record's line number and the widest record; pandas reads values.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    row_numbers, width, last_line = [], 0, 0
    for record in reader:
        row_numbers.append(last_line + 1)
        last_line = reader.line_num
        width = max(width, len(record))
    if width == 0:
        problems.error(PARTICIPANTS_SHEET, None, None, "the file has no header row")
        return None
    frame = pd.read_csv(io.StringIO(text, newline=""), header=None, names=list(range(width)),
                        dtype=str, keep_default_na=False, na_filter=False,
                        skip_blank_lines=False, sep=delimiter, engine="python")
    cells = [[_clean_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    if len(cells) != len(row_numbers):  # should not happen; fall back to counting records
        row_numbers = list(range(1, len(cells) + 1))
    return _Table("csv", cells, row_numbers)


def _sheet_key(name: str) -> str:
    return re.sub(r"\s+", "", str(name)).lower()


def _read_intervention(frame: pd.DataFrame, problems: _Problems) -> dict[str, str]:
    """The Intervention form's answers by field key; blank answers are ""."""
    by_text = {}
    for key, label in INTERVENTION_FIELDS:
        by_text[_choice_key(label)] = key
        by_text[_choice_key(key)] = key
    answers: dict[str, str] = {key: "" for key, _label in INTERVENTION_FIELDS}
    rows: dict[str, int] = {}
    for position, values in enumerate(frame.itertuples(index=False, name=None)):
        row = position + 1
        label = _as_text(_clean_cell(values[0])) if len(values) > 0 else None
        answer = _as_text(_clean_cell(values[1])) if len(values) > 1 else None
        if label is None and answer is None:
            continue
        if row == 1 and label is not None and _choice_key(label) == "field":
            continue
        key = by_text.get(_choice_key(label)) if label is not None else None
        if key is None:
            if answer is not None:
                problems.warning(INTERVENTION_SHEET, row, "A",
                                 "label not recognised, so this answer is not read; keep the "
                                 "labels in column A as they are in the template")
            continue
        rows.setdefault(key, row)
        if answer is not None and not answers[key]:
            answers[key] = answer
    for key, label in INTERVENTION_FIELDS:
        if key not in rows:
            problems.warning(INTERVENTION_SHEET, None, "A", f"the question '{label}' is missing")
        elif not answers[key]:
            problems.warning(INTERVENTION_SHEET, rows[key], "B", f"no answer to '{label}'")
    return answers


def _read_workbook(data: bytes, problems: _Problems) -> _Table | None:
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        sheet_names = list(book.sheet_names)
    except Exception:  # noqa: BLE001 - any failure here means "not a workbook"; no detail shown
        problems.error(FILE_SHEET, None, None,
                       "not an Excel .xlsx workbook (it could not be opened as one)")
        return None
    by_key = {_sheet_key(name): name for name in reversed(sheet_names)}
    participants_name = by_key.get(_sheet_key(PARTICIPANTS_SHEET))
    if participants_name is None:
        found = ", ".join(f"'{name}'" for name in sheet_names) or "none"
        problems.error(FILE_SHEET, None, None,
                       f"no '{PARTICIPANTS_SHEET}' sheet; the workbook has sheets: {found}")
        return None
    read = dict(header=None, dtype=object, keep_default_na=False, na_filter=False)
    frame = pd.read_excel(book, sheet_name=participants_name, **read)
    cells = [[_clean_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    intervention_name = by_key.get(_sheet_key(INTERVENTION_SHEET))
    if intervention_name is None:
        problems.warning(INTERVENTION_SHEET, None, None,
                         "the sheet is missing: please add it and describe the service on it")
        intervention = None
    else:
        intervention = _read_intervention(pd.read_excel(book, sheet_name=intervention_name, **read),
                                          problems)
    return _Table("xlsx", cells, list(range(1, len(cells) + 1)), intervention)


def _lock_file_beside(path: Path) -> bool:
    candidates = {"~$" + path.name}
    if len(path.name) > 2:
        candidates.add("~$" + path.name[2:])
    return any((path.parent / name).exists() for name in candidates)


def _read_file(path: Path, problems: _Problems) -> _Table | None:
    """Read the upload, recording file-level problems; None when it cannot be read further."""
    if not path.exists():
        problems.error(FILE_SHEET, None, None, "the file does not exist")
        return None
    if path.is_dir():
        problems.error(FILE_SHEET, None, None, "this is a folder, not a file")
        return None
    if path.name.startswith("~$"):
        problems.error(FILE_SHEET, None, None,
                       "this is an Excel lock file, not the workbook itself: send the file "
                       "without '~$' at the start of its name")
        return None
    if _lock_file_beside(path):
        problems.warning(FILE_SHEET, None, None,
                         "the file may be open in Excel (an Excel lock file is beside it): save "
                         "and close it, then check it again")
    try:
        if not os.access(path, os.R_OK):
            raise PermissionError
        data = path.read_bytes()
    except PermissionError:
        problems.error(FILE_SHEET, None, None,
                       "the file cannot be read: permission denied (it may be open or locked "
                       "by another program)")
        return None
    except OSError as exc:
        problems.error(FILE_SHEET, None, None,
                       f"the file cannot be read ({type(exc).__name__})")
        return None
    if not data:
        problems.error(FILE_SHEET, None, None, "the file is empty (0 bytes)")
        return None
    suffix = path.suffix.lower()
    if data.startswith(OLE2_SIGNATURE):
        problems.error(FILE_SHEET, None, None,
                       "this is an old Excel 97-2003 .xls file (or a password-protected "
                       "workbook): save it as .xlsx")
        return None
    if suffix in EXCEL_SUFFIXES:
        if not data.startswith(b"PK"):
            problems.error(FILE_SHEET, None, None,
                           "not an Excel .xlsx workbook (the file has some other content under "
                           "an Excel name)")
            return None
        return _read_workbook(data, problems)
    if suffix in CSV_SUFFIXES:
        if data.startswith(b"PK"):
            problems.error(FILE_SHEET, None, None,
                           "this is an Excel workbook, not a CSV file: give it the .xlsx "
                           "extension")
            return None
        return _read_csv(data, problems)
    problems.error(FILE_SHEET, None, None,
                   f"unsupported file type '{suffix or '(no extension)'}': send an Excel .xlsx "
                   "workbook or a .csv file")
    return None


# --------------------------------------------------------------------------------------------
# Checking the Participants sheet


def _column_checks(column: str) -> list[pa.Check]:
    kind = COLUMNS_BY_NAME[column].kind
    if kind == "date":
        return [pa.Check(lambda v: parse_date(v) is not None, element_wise=True, name="date")]
    if column == "sex":
        return [pa.Check(lambda v: _sex_value(v) is not None, element_wise=True, name="sex")]
    if kind == "choice":
        return [pa.Check(lambda v, c=column: _choice_value(c, v) is not None, element_wise=True,
                         name="choice")]
    if column == "pnc_id":
        return [pa.Check(lambda v: _pnc_value(v) is not None, element_wise=True, name="pnc_id")]
    if column == "prison_number":
        return [pa.Check(lambda v: _prison_value(v) is not None, element_wise=True,
                         name="prison_number")]
    return []


def _cell_schema(present: set[str]) -> pa.DataFrameSchema:
    """Checks on the cells as submitted: required values, dates, sex, choices, identifiers."""
    columns = {
        name: pa.Column(nullable=not COLUMNS_BY_NAME[name].required,
                        required=COLUMNS_BY_NAME[name].required, checks=_column_checks(name))
        for name in COLUMN_NAMES
    }
    frame_checks = []
    events = [c for c in EVENT_DATE_COLUMNS if c in present]
    if events:
        frame_checks.append(pa.Check(lambda df, cols=tuple(events): df[list(cols)].notna()
                                     .any(axis=1), name="event_date"))
    return pa.DataFrameSchema(columns, checks=frame_checks)


def _date_schema(window: DataWindow, today: dt.date) -> pa.DataFrameSchema:
    """Checks on the parsed dates: plausible ranges, ages, order, the data window."""
    def plausible_event(v):
        return EARLIEST_EVENT <= v.date() <= today

    columns = {
        "date_of_birth": pa.Column(nullable=True, required=False, checks=[
            pa.Check(lambda v: v.date() <= today, element_wise=True, name="dob_future"),
            pa.Check(lambda v: v.date() >= EARLIEST_BIRTH, element_wise=True, name="dob_early"),
        ]),
        "intervention_end": pa.Column(nullable=True, required=False, checks=[
            pa.Check(lambda v: v.date() <= today, element_wise=True, name="end_future"),
        ]),
    }
    for name in EVENT_DATE_COLUMNS:
        columns[name] = pa.Column(nullable=True, required=False, checks=[
            pa.Check(lambda v: v.date() <= today, element_wise=True, name="event_future"),
            pa.Check(lambda v: v.date() >= EARLIEST_EVENT, element_wise=True, name="event_early"),
            pa.Check(lambda v: not plausible_event(v) or window.contains(v.date()),
                     element_wise=True, name="window"),
        ])

    def age_ok(df: pd.DataFrame, reference: str) -> pd.Series:
        used = df[reference].notna()
        for earlier in EVENT_DATE_COLUMNS[:EVENT_DATE_COLUMNS.index(reference)]:
            used &= df[earlier].isna()
        born, on = df["date_of_birth"], df[reference]
        ages = (on.dt.year - born.dt.year
                - ((on.dt.month * 100 + on.dt.day) < (born.dt.month * 100 + born.dt.day)))
        bad = used & born.notna() & ((ages < MIN_AGE) | (ages > MAX_AGE))
        return ~bad

    frame_checks = [
        pa.Check(lambda df: ~(df["intervention_end"] < df["intervention_start"]),
                 name="end_before_start"),
    ] + [
        pa.Check(lambda df, r=reference: age_ok(df, r), name=f"age_at_{reference}")
        for reference in EVENT_DATE_COLUMNS
    ]
    return pa.DataFrameSchema(columns, checks=frame_checks)


def _messages(window: DataWindow) -> dict[str, tuple[str, str | None, str]]:
    """check name -> (severity, column override or None to keep pandera's, message)."""
    events = ", ".join(EVENT_DATE_COLUMNS)
    messages = {
        "not_nullable": (ERROR, None, "a value is required"),
        "date": (ERROR, None, "not a date: use DD/MM/YYYY (day first) or an Excel date"),
        "sex": (ERROR, None, "not an allowed value: use Male or Female (or M or F)"),
        "pnc_id": (WARNING, None,
                   "not a valid PNC id; this person will be linked by other identifiers"),
        "prison_number": (WARNING, None,
                          "not a valid prison number (one letter, four digits, two letters); "
                          "this person will be linked by other identifiers"),
        "event_date": (ERROR, "", f"no event date: fill in at least one of {events}"),
        "dob_future": (ERROR, None, "date of birth is in the future"),
        "dob_early": (ERROR, None, "date of birth is before 1900"),
        "end_future": (WARNING, None, "date is in the future"),
        "event_future": (ERROR, None, "date is in the future"),
        "event_early": (ERROR, None, f"date is before {EARLIEST_EVENT.year}"),
        "window": (WARNING, None,
                   f"outside the data window ({window.start.isoformat()} to "
                   f"{window.end.isoformat()}); this person cannot be followed up"),
        "end_before_start": (ERROR, "intervention_end", "intervention_end is before "
                             "intervention_start"),
    }
    for reference in EVENT_DATE_COLUMNS:
        messages[f"age_at_{reference}"] = (
            ERROR, "date_of_birth",
            f"age at {reference} is not between {MIN_AGE} and {MAX_AGE}; check the date of birth")
    return messages


def _run_schema(schema: pa.DataFrameSchema, frame: pd.DataFrame, problems: _Problems,
                messages: dict[str, tuple[str, str | None, str]]) -> None:
    """Validate ``frame`` lazily and turn failures into Problems.

    Only the failure's index (the submitter's row), column and check name are used: the
    failing values pandera also records are never read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema.validate(frame, lazy=True)
        return
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    seen = set()
    for check, column, index, case in zip(failures["check"], failures["column"],
                                          failures["index"], failures["failure_case"]):
        check = str(check)
        if check == "column_in_dataframe":
            # here pandera's "failure case" is the missing column's name, a template header
            name = str(case)
            if name in REQUIRED_COLUMNS and ("column", name) not in seen:
                seen.add(("column", name))
                problems.error(PARTICIPANTS_SHEET, None, name, "required column is missing")
            continue
        row = None if index is None or pd.isna(index) else int(index)
        column_name = None if column is None or pd.isna(column) else str(column)
        if check == "choice" and column_name in COLUMNS_BY_NAME:
            severity, override = ERROR, None
            message = ("not an allowed value: use one of "
                       + ", ".join(COLUMNS_BY_NAME[column_name].choices))
            if column_name == "completed":
                message += " (or y, n, true, false)"
        elif check in messages:
            severity, override, message = messages[check]
        else:  # a check this module did not define: report it without detail
            severity, override, message = ERROR, None, "value failed a check"
        if override is not None:
            column_name = override or None
        key = (check, row, column_name)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(PARTICIPANTS_SHEET, row, column_name, message, severity))


def _parse_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """The typed participants frame from the cleaned cells (index = submitter's row numbers)."""
    today = dt.date.today()
    parsed = pd.DataFrame(index=cells.index)
    for name in COLUMN_NAMES:
        values = cells[name] if name in cells.columns else pd.Series(None, index=cells.index,
                                                                     dtype=object)
        column = COLUMNS_BY_NAME[name]
        if column.kind == "date":
            days = [parse_date(v, today) for v in values]
            parsed[name] = pd.Series([pd.Timestamp(d) if d else pd.NaT for d in days],
                                     index=cells.index, dtype="datetime64[ns]")
        elif name == "sex":
            parsed[name] = pd.Series([_sex_value(v) for v in values], index=cells.index,
                                     dtype=object)
        elif column.kind == "choice":
            parsed[name] = pd.Series([_choice_value(name, v) for v in values], index=cells.index,
                                     dtype=object)
        elif name == "pnc_id":
            parsed[name] = pd.Series([_pnc_value(v) for v in values], index=cells.index,
                                     dtype=object)
        elif name == "prison_number":
            parsed[name] = pd.Series([_prison_value(v) for v in values], index=cells.index,
                                     dtype=object)
        else:
            parsed[name] = pd.Series([_as_text(v) for v in values], index=cells.index,
                                     dtype=object)
    return parsed


TOO_FEW_PEOPLE_SUFFIX = f"distinct people; at least {MIN_DISTINCT_PEOPLE} are needed"


def too_few_people_message(n_distinct: int) -> str:
    """The error for an upload with fewer than the minimum number of distinct people."""
    return f"only {n_distinct} {TOO_FEW_PEOPLE_SUFFIX}"


def _check_duplicates(cells: pd.DataFrame, parsed: pd.DataFrame, has_name_columns: bool,
                      problems: _Problems) -> int:
    """Warn about repeated rows and people; return the number of distinct people.

    ``cells`` holds every submitted value of each row (for the exact-duplicate test), ``parsed``
    the typed rows; people are keyed on normalised surname, forename and date of birth.
    """
    first_row: dict[tuple, int] = {}
    first_person: dict[tuple, int] = {}
    first_pnc: dict[str, int] = {}
    surnames = [normalise_name(v) for v in parsed["surname"]]
    forenames = [normalise_name(v) for v in parsed["forename"]]
    births = parsed["date_of_birth"].tolist()
    pncs = parsed["pnc_id"].tolist()
    for position, (row, values) in enumerate(zip(cells.index, cells.itertuples(index=False,
                                                                                 name=None))):
        row = int(row)
        whole = tuple(_as_text(v) for v in values)
        person = None
        if has_name_columns and surnames[position] and forenames[position] \
                and not pd.isna(births[position]):
            person = (surnames[position], forenames[position], births[position])
        pnc = pncs[position]
        if whole in first_row:
            problems.warning(PARTICIPANTS_SHEET, row, None,
                             f"duplicates row {first_row[whole]} (identical in every column)")
        elif person is not None and person in first_person:
            problems.warning(PARTICIPANTS_SHEET, row, None,
                             f"same person as row {first_person[person]} (same surname, "
                             "forename and date of birth)")
        elif pnc is not None and pnc in first_pnc:
            problems.warning(PARTICIPANTS_SHEET, row, "pnc_id",
                             f"same PNC id as row {first_pnc[pnc]}")
        first_row.setdefault(whole, row)
        if person is not None:
            first_person.setdefault(person, row)
        if pnc is not None:
            first_pnc.setdefault(pnc, row)
    return len(first_person)


def _check_participants(table: _Table, window: DataWindow, problems: _Problems
                        ) -> tuple[pd.DataFrame | None, int, int, dict[str, str]]:
    """Check the Participants table; returns (parsed rows, n rows, n distinct, column letters)."""
    sheet = PARTICIPANTS_SHEET
    if not table.cells:
        problems.error(sheet, None, None, "the sheet is empty: no header row and no participants")
        return None, 0, 0, {}
    width = max(len(row) for row in table.cells)
    grid = [list(row) + [None] * (width - len(row)) for row in table.cells]
    header, body, body_rows = grid[0], grid[1:], table.row_numbers[1:]
    if all(v is None for v in header):
        problems.error(sheet, 1, None,
                       "the header row (row 1) is empty: the column names must be in row 1")
        return None, 0, 0, {}

    # Columns: normalise headers, spot duplicates, unknown and unnamed columns.
    keep: dict[str, int] = {}
    letters: dict[str, str] = {}
    positions_by_name: dict[str, list[int]] = {}
    for position, raw in enumerate(header):
        name = normalise_header(raw)
        letter = get_column_letter(position + 1)
        if not name:
            if any(row[position] is not None for row in body):
                problems.warning(sheet, None, None,
                                 f"column {letter} has values but no header; it is ignored")
            continue
        positions_by_name.setdefault(name, []).append(position)
        if name in keep:
            continue
        keep[name] = position
        letters[name] = letter
    for name, positions in positions_by_name.items():
        if len(positions) > 1:
            where = ", ".join(get_column_letter(p + 1) for p in positions)
            problems.error(sheet, None, name,
                           f"the header appears {len(positions)} times (columns {where}); "
                           "only the first is read")
    for name in keep:
        if name not in COLUMNS_BY_NAME:
            problems.warning(sheet, None, name,
                             f"column '{name}' is not a template column; it is ignored")
    present = set(keep) & set(COLUMN_NAMES)
    if not present & set(EVENT_DATE_COLUMNS):
        problems.error(sheet, None, None, "no event date column: the sheet needs at least one of "
                       + ", ".join(EVENT_DATE_COLUMNS) + " (intervention_start is usual)")

    # Rows: drop wholly empty ones (every cell, named column or not).
    rows = [(number, row) for number, row in zip(body_rows, body)
            if any(v is not None for v in row)]
    if not rows:
        problems.error(sheet, None, None, "the sheet has no participant rows below the header")
        return None, 0, 0, letters
    index = pd.Index([number for number, _row in rows], name=None)
    cells = pd.DataFrame({name: pd.Series([row[position] for _n, row in rows], index=index,
                                          dtype=object)
                          for name, position in keep.items()})
    # every value, including unnamed columns, for the exact-duplicate check
    every_value = pd.DataFrame([row for _n, row in rows], index=index, dtype=object)

    today = dt.date.today()
    messages = _messages(window)
    known = cells[[c for c in COLUMN_NAMES if c in present]]
    _run_schema(_cell_schema(present), known, problems, messages)
    parsed = _parse_rows(known)
    _run_schema(_date_schema(window, today), parsed, problems, messages)
    has_name_columns = {"surname", "forename", "date_of_birth"} <= present
    n_distinct = _check_duplicates(every_value, parsed, has_name_columns, problems)
    if has_name_columns and n_distinct < MIN_DISTINCT_PEOPLE:
        problems.error(sheet, None, None, too_few_people_message(n_distinct))

    parsed.insert(0, "row", parsed.index.astype(int))
    parsed = parsed.reset_index(drop=True)
    return parsed, len(rows), n_distinct, letters


# --------------------------------------------------------------------------------------------
# Entry point


def validate_upload(path: str | os.PathLike, window: DataWindow | None = None) -> ValidationResult:
    """Check a filled Data Upload Template (.xlsx, or .csv holding the Participants columns).

    ``window`` is the data window event dates are checked against (default ``DataWindow()``).
    Returns a :class:`ValidationResult`; never raises for a bad file. Its ``participants``
    frame has one row per non-empty submitted row (index 0..n-1): a ``row`` column (the
    submitter's row number), then every template column (missing columns all empty) with date
    columns as ``datetime64[ns]`` (NaT when empty or unreadable), sex "M"/"F", pnc_id and
    prison_number normalised (None when invalid), choices lower-cased ("completed" as
    "yes"/"no"; None when not allowed) and text stripped (None when empty).
    """
    path = Path(path)
    window = window or DataWindow()
    problems = _Problems()
    participants, n_rows, n_distinct, letters, kind = None, 0, 0, {}, None
    intervention: dict[str, str] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = _read_file(path, problems)
            if table is not None:
                kind = table.kind
                intervention = table.intervention or {}
                participants, n_rows, n_distinct, letters = _check_participants(
                    table, window, problems)
    except Exception as exc:  # noqa: BLE001 - never raise, never show details from the file
        problems.error(FILE_SHEET, None, None,
                       f"the file could not be checked ({type(exc).__name__}); please send it "
                       "to the Justice Data Lab team")
    ordered = _sorted_problems(list(problems))
    return ValidationResult(
        path=path,
        ok=not any(p.severity == ERROR for p in ordered),
        problems=ordered,
        participants=participants,
        intervention=intervention,
        n_rows=n_rows,
        n_distinct_people=n_distinct,
        kind=kind,
        column_letters=letters,
    )
