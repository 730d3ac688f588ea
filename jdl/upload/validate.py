"""Read and check a filled Data Upload Template (.xlsx or .csv), methodology section 1.

:func:`validate_upload` never raises for a bad file: every fault becomes a :class:`Problem`
naming the sheet, the row the submitter sees and the column, in plain words.

What messages never show. Uploads hold personal data (names, dates of birth, PNC ids, prison
numbers), so nothing read from a cell, a header, a sheet name or any other part of the file is
ever repeated in a message, a log, an exception or a repr. Problems are named by place only: the
template's own sheet names (Participants, Intervention, Instructions) or, for any other sheet,
its position ("sheet 2"); the row number; the column letter as Excel shows it (A, B, ..., AA);
and the template's own column names. A header that is not a template column name is named by
its letter, never by its text; a first row that holds no template column name is reported as a
missing header row. Exceptions raised by libraries (openpyxl, pandas, pandera, zipfile, csv,
expat) are recorded by their type only, never their message, which can quote a value. File-level
problems name the file only as the caller gave it. The parsed rows
(:attr:`ValidationResult.participants`) hold personal data and are kept out of the result's repr;
nothing here prints them.

Limits. An upload is refused, with a message that gives the limit, before anything large is
read: the file's size is checked before it is read; a workbook's zip directory (declared
unpacked sizes, compression ratios), its sheet list and every sheet's XML are checked by
streaming through them with expat, keeping nothing, before openpyxl opens the workbook; a CSV's
records are counted as they are read. The defaults (module constants, overridable per call
with :class:`UploadLimits`):

==========================  ===========================================================
``MAX_FILE_BYTES``          20 MB (1 MB = 1,000,000 bytes): the file as sent
``MAX_UNPACKED_BYTES``      100 MB: a workbook's parts unpacked (the sum of the sizes its
                            zip directory declares; a 50,000-person template is about 40 MB)
``MAX_COMPRESSION_RATIO``   100: no part over 1 MB may unpack to more than 100 times its packed
                            size (real sheets pack about 10 times; zip bombs thousands)
``MAX_SHEETS``              10 sheets in a workbook (the template has 3)
``MAX_ROWS``                50,000 people: a sheet may reach row 50,001 (its header row and one
                            row a person; the sheet's declared dimension, e.g.
                            ``<dimension ref="A1:XFD1048576">``, and every row are checked), a
                            CSV may hold 50,000 records below its header
``MAX_COLUMNS``             60 columns (A to BH; the template has 16), in a sheet or a CSV line
``MAX_PART_ELEMENTS``       250,000 XML elements in any part of a workbook other than its cells
                            (styles, the sheet list, charts, a sheet's formatting and
                            validations); cells may hold ``ELEMENTS_PER_CELL`` (20) elements
                            each, and the shared-text table no more entries than the workbook
                            has cells
==========================  ===========================================================

Also refused, each with a message naming only the file and the fault: an empty file, a folder or
other non-regular file, an Excel lock file, a macro-enabled .xlsm or old .xls workbook, an
encrypted (password-protected) or damaged workbook, a file named .xlsx that is not a workbook,
a CSV holding NUL bytes or text in no known encoding, and XML with a document type declaration.

Row numbers: for a workbook, the Excel row number (header row 1, first data row 2); for a CSV,
the line number on which the record starts (header line 1).

The data window and the one-year follow-up. Only index events inside the data window (by default
2002-01-01 to 2012-12-30) can be followed up (:mod:`jdl.window`), and validating does not read the
national data, so it warns (never an error: the analysis decides) where a row's own dates put
its index event outside the window, or make that likely. As in :mod:`jdl.cohort.index_events`, the
deciding date is the first filled in of ``index_date``, ``conviction_date`` and
``intervention_start``, and the setting is the row's ``setting``, else the request's (the
``setting`` argument, else the Intervention sheet's answer when it is custody or community).
A row gets at most one of these warnings, the first that applies:

* cannot be followed up (if the date and setting are right): an ``index_date`` outside the
  window; a ``conviction_date`` after it (the release or order comes after the conviction);
  custody, an ``intervention_start`` after it (the release is on or after it); community, an
  ``intervention_start`` more than ``LOOKAHEAD_DAYS`` (90) days before it starts (an order
  running on it began earlier still, and one starting within 90 days after it also falls before
  the window);
* may not be followed up: any other deciding date outside the window (before it: a release or
  an order starting on or after the window's start still counts; community or setting unknown,
  after it: an order begun inside the window and still running on ``intervention_start`` counts);
* the one-year follow-up may not be possible, the deciding date being inside the window:
  custody, an ``intervention_start`` or ``conviction_date`` less than ``CUSTODY_NEAR_END_DAYS``
  (182) days before the window ends (the release that follows is likely to come after it);
  community, an ``intervention_start`` less than ``LOOKAHEAD_DAYS`` (90) days before the window
  ends (without an order running on it, the order starting in the next 90 days may begin after
  the window); custody, an ``intervention_end`` after the window (a release usually comes after
  a service in prison ends).

Dates already reported as errors (before 1990, in the future) or an ``intervention_end`` in the
future get none of these. A sheet-level warning counts the rows that cannot, and those that may
not, be followed up. Every message gives the window's dates and says what to do (check the date,
and the setting where the rule depends on it; if right, leave the row as it is), and none quotes
the date.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import posixpath
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import numpy as np
import openpyxl
import pandas as pd
import pandera.pandas as pa
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.xml.constants import SHARED_STRINGS, XLSM, XLSX, XLTM, XLTX

from jdl.upload.columns import (COLUMN_NAMES, COLUMNS_BY_NAME, EVENT_DATE_COLUMNS, INSTRUCTIONS_SHEET,
                                INTERVENTION_FIELDS, INTERVENTION_SHEET, MIN_DISTINCT_PEOPLE, PARTICIPANTS_SHEET,
                                REQUIRED_COLUMNS)
from jdl.upload.identifiers import normalise_name, normalise_pnc, normalise_prison_number
from jdl.window import DataWindow

ERROR = "error"
WARNING = "warning"
FILE_SHEET = "file"
"""The ``sheet`` of a problem with the file as a whole (missing, unreadable, wrong format)."""

OLE2_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
WORKBOOK_SUFFIXES = (".xlsx",)
CSV_SUFFIXES = (".csv",)
REFUSED_SUFFIXES = {
    ".xlsm": "this is a macro-enabled workbook (.xlsm): save it as an Excel .xlsx workbook",
    ".xls": "this file is named as an old Excel 97-2003 .xls workbook: save it as an Excel .xlsx "
            "workbook",
}
"""Workbook formats refused by their extension, with the message given."""

EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_EVENT = dt.date(1990, 1, 1)
MIN_AGE, MAX_AGE = 10, 100
EXCEL_SERIAL_RANGE = (1, 80000)
_EXCEL_EPOCH = dt.date(1899, 12, 30)

SEX_VALUES = {"m": "M", "male": "M", "f": "F", "female": "F"}
COMPLETED_ALIASES = {"y": "yes", "true": "yes", "n": "no", "false": "no"}

# --------------------------------------------------------------------------------------------
# Limits (see the module docstring)

MAX_FILE_BYTES = 20_000_000
MAX_UNPACKED_BYTES = 100_000_000
MAX_COMPRESSION_RATIO = 100
MAX_SHEETS = 10
MAX_ROWS = 50_000
MAX_COLUMNS = 60
MAX_PART_ELEMENTS = 250_000
ELEMENTS_PER_CELL = 20
"""XML elements allowed per cell of a sheet (a cell, its value, formula and rich-text runs)."""
RATIO_CHECKED_FROM_BYTES = 1_000_000
"""Parts unpacking to at most this many bytes are not held to the compression-ratio limit."""


@dataclass(frozen=True)
class UploadLimits:
    """The resource limits :func:`validate_upload` applies (defaults: the module constants).

    ``max_file_bytes`` the file's size; ``max_unpacked_bytes`` a workbook's parts unpacked, in
    total; ``max_compression_ratio`` unpacked over packed size of any part over
    ``RATIO_CHECKED_FROM_BYTES``; ``max_sheets`` sheets in a workbook; ``max_rows`` people (a
    sheet may reach row ``max_rows + 1``, a CSV hold ``max_rows`` records below its header);
    ``max_columns`` columns of a sheet or CSV line; ``max_part_elements`` XML elements in any
    workbook part other than cells.
    """

    max_file_bytes: int = MAX_FILE_BYTES
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES
    max_compression_ratio: float = MAX_COMPRESSION_RATIO
    max_sheets: int = MAX_SHEETS
    max_rows: int = MAX_ROWS
    max_columns: int = MAX_COLUMNS
    max_part_elements: int = MAX_PART_ELEMENTS

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"UploadLimits.{name} must be positive")

    @property
    def last_row(self) -> int:
        """The last sheet row allowed: the header row and one row a person."""
        return self.max_rows + 1


def _megabytes(limit: float) -> str:
    """A limit in bytes as MB for messages: 20000000 -> "20 MB"."""
    return f"{limit / 1e6:,g} MB"


def _size_over(size: int, limit: float) -> str:
    """A size over ``limit`` as MB, with enough decimals to show it is over: "25.3 MB"."""
    for digits in range(1, 7):
        text = f"{size / 1e6:,.{digits}f}"
        if float(text.replace(",", "")) > limit / 1e6:
            return f"{text} MB"
    return f"{size:,} bytes"


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Problem:
    """One fault found in an upload.

    ``sheet`` is "Participants", "Intervention" or "Instructions" (a template sheet, whatever its
    spelling in the file), the position of any other sheet as text ("2", shown as "sheet 2"), or
    "file" (the file as a whole); ``row`` the row number the submitter sees (None for a file,
    sheet or column problem); ``column`` the template's column name, or the column letter for a
    column that is not a template column and on the Intervention sheet (None when the problem is
    not about one column); ``message`` plain words, never anything read from the file;
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
    after normalisation. ``kind`` is "xlsx" or "csv" once the file is recognised as one (even
    when it could not be read in full), else None. ``participants``,
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

        CSV problems read ``CSV, line 14, column ...``; file problems ``file PATH: ...`` with
        the path as the caller gave it.
        """
        if problem.sheet == FILE_SHEET:
            place = [f"file {os.fspath(self.path)}"]
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


_SHEET_ORDER = {FILE_SHEET: 0, PARTICIPANTS_SHEET: 1, INTERVENTION_SHEET: 2, INSTRUCTIONS_SHEET: 3}


def _column_key(column: str | None) -> tuple[int, int]:
    """Template columns in template order, then columns by letter (A, ..., Z, AA, ...)."""
    if not column:
        return (-1, 0)
    if column in _COLUMN_ORDER:
        return (0, _COLUMN_ORDER[column])
    is_letter = column.isascii() and column.isalpha() and column.isupper() and len(column) <= 3
    return (1, column_index_from_string(column) if is_letter else 0)


def _sorted_problems(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (
        p.severity != ERROR,
        _SHEET_ORDER.get(p.sheet, len(_SHEET_ORDER)),
        int(p.sheet) if p.sheet.isdigit() else 0,
        -1 if p.row is None else p.row,
        _column_key(p.column),
        p.column or "",
        p.message,
    ))


class _Problems(list):
    """A list of Problems with shorthands; ``kind`` is "xlsx" or "csv" once the file is
    recognised as one (so problems found while reading it are placed as rows or lines)."""

    kind: str | None = None

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


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _decode_text(data: bytes) -> str | None:
    if data.startswith(_UTF16_BOMS):
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


def _read_csv(data: bytes, problems: _Problems, limits: UploadLimits) -> _Table | None:
    """The CSV's records, cleaned, each with the line it starts on; counting records and
    fields as they are read, and stopping at the first over the limits."""
    if b"\x00" in data and not data.startswith(_UTF16_BOMS):
        problems.error(FILE_SHEET, None, None,
                       "the file holds NUL bytes, so it is not a text CSV file: save it as "
                       "'CSV UTF-8' or as an Excel .xlsx workbook")
        return None
    text = _decode_text(data)
    if text is None:
        problems.error(FILE_SHEET, None, None,
                       "the file is not readable text: save it as 'CSV UTF-8' or as an Excel "
                       ".xlsx workbook")
        return None
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    cells: list[list[object]] = []
    row_numbers: list[int] = []
    people, last_line = 0, 0
    try:
        for record in reader:
            line, last_line = last_line + 1, reader.line_num
            if len(record) > limits.max_columns:
                problems.error(PARTICIPANTS_SHEET, line, None,
                               f"the line has {len(record):,} columns; the limit is "
                               f"{limits.max_columns:,}")
                return None
            values = [_clean_cell(v) for v in record]
            if cells and any(v is not None for v in values):
                people += 1
                if people > limits.max_rows:
                    problems.error(PARTICIPANTS_SHEET, None, None,
                                   f"the file has more than {limits.max_rows:,} rows below the "
                                   f"header; the limit is {limits.max_rows:,} (one row a person)")
                    return None
            cells.append(values)
            row_numbers.append(line)
    except csv.Error:  # the csv module's message can quote the record: not shown
        problems.error(PARTICIPANTS_SHEET, last_line + 1, None,
                       "the line could not be read as CSV (a value is too long or badly "
                       "quoted): save the file again as 'CSV UTF-8'")
        return None
    if not any(cells):
        problems.error(PARTICIPANTS_SHEET, None, None, "the file has no header row")
        return None
    return _Table("csv", cells, row_numbers)


def _sheet_key(name: str) -> str:
    return re.sub(r"\s+", "", str(name)).lower()


def _read_intervention(rows: list[list[object]], problems: _Problems) -> dict[str, str]:
    """The Intervention form's answers by field key; blank answers are ""."""
    by_text = {}
    for key, label in INTERVENTION_FIELDS:
        by_text[_choice_key(label)] = key
        by_text[_choice_key(key)] = key
    answers: dict[str, str] = {key: "" for key, _label in INTERVENTION_FIELDS}
    found: dict[str, int] = {}
    for position, values in enumerate(rows):
        row = position + 1
        label = _as_text(values[0]) if len(values) > 0 else None
        answer = _as_text(values[1]) if len(values) > 1 else None
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
        found.setdefault(key, row)
        if answer is not None and not answers[key]:
            answers[key] = answer
    for key, label in INTERVENTION_FIELDS:
        if key not in found:
            problems.warning(INTERVENTION_SHEET, None, "A", f"the question '{label}' is missing")
        elif not answers[key]:
            problems.warning(INTERVENTION_SHEET, found[key], "B", f"no answer to '{label}'")
    return answers


# Workbooks are checked in stages, each before anything larger is read: the zip directory
# (encryption, declared unpacked sizes, compression ratios), the content types, sheet list and
# relationships (sheet count), then every part's XML, streamed through expat keeping nothing
# (each worksheet's dimension, rows, columns and elements; the shared-text table; the
# elements of every other part). Only then does openpyxl open the workbook (read-only) and
# stream the Participants and Intervention sheets.

NOT_A_WORKBOOK = "not an Excel .xlsx workbook (it could not be opened as one)"
DAMAGED_WORKBOOK = ("the workbook is damaged (it could not be read): save it again from Excel "
                    "as .xlsx")
DAMAGED_SHEET = ("the sheet is damaged (it could not be read): save the workbook again from "
                 "Excel as .xlsx")
_CONTENT_TYPES = "[Content_Types].xml"
_WORKBOOK_TYPES = (XLTM, XLTX, XLSM, XLSX)  # openpyxl's order of preference
_TEMPLATE_SHEETS = (PARTICIPANTS_SHEET, INTERVENTION_SHEET, INSTRUCTIONS_SHEET)
_CELL_REF_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_CHUNK_BYTES = 1 << 16
_SHARED_STRINGS_SLACK = 1000
"""Shared-text entries allowed beyond the workbook's cell count."""


class _Stop(Exception):
    """Raised by an XML handler to stop reading a part early (a limit was reached)."""


class _Doctype(Exception):
    """An XML part declares a document type: Excel never writes one, and its entities could
    expand without bound."""


class _Damaged(Exception):
    """A sheet's XML holds what no spreadsheet writer would (a cell reference that is not one)."""


def _walk_xml(stream, on_start, on_end=None) -> None:
    """Stream XML through expat in chunks, calling ``on_start(name, attrs)`` (and
    ``on_end(name)``) per element, ``name`` being "namespace local" or "local"; nothing is kept.

    A handler raises :class:`_Stop` to end early; a document type declaration raises
    :class:`_Doctype`; malformed XML raises ``expat.ExpatError``.
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = on_start
    if on_end is not None:
        parser.EndElementHandler = on_end

    def refuse_doctype(*_args):
        raise _Doctype
    parser.StartDoctypeDeclHandler = refuse_doctype
    try:
        while chunk := stream.read(_CHUNK_BYTES):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _Stop:
        pass


def _walk_part(archive: zipfile.ZipFile, part: str, on_element, limit: int) -> bool:
    """Walk one zip member, calling ``on_element(local_name, attrs)`` per element (if given);
    False when the part holds more than ``limit`` elements (reading stops there)."""
    count = 0

    def start(name, attrs):
        nonlocal count
        count += 1
        if count > limit:
            raise _Stop
        if on_element is not None:
            on_element(name.rpartition(" ")[2], attrs)

    with archive.open(part) as stream:
        _walk_xml(stream, start)
    return count <= limit


def _part_elements_message(limit: int) -> str:
    return (f"a part of the workbook other than its cells (styles, the sheet list, charts, ...) "
            f"holds more than {limit:,} XML elements; the limit is {limit:,}")


def _ratio_over(ratio: float, limit: float) -> str:
    text = f"{ratio:,.0f}"
    return text if float(text.replace(",", "")) > limit else f"{ratio:,.2f}"


def _check_archive(members: list[zipfile.ZipInfo], problems: _Problems,
                   limits: UploadLimits) -> bool:
    """Check the zip directory: no encrypted member, the declared unpacked sizes and the
    compression ratios within the limits. Nothing is unpacked."""
    if any(member.flag_bits & 0x1 for member in members):
        problems.error(FILE_SHEET, None, None,
                       "the workbook is encrypted: remove its password and save it again as "
                       ".xlsx")
        return False
    ok = True
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        problems.error(FILE_SHEET, None, None,
                       f"the workbook unpacks to {_size_over(unpacked, limits.max_unpacked_bytes)}; "
                       f"the limit is {_megabytes(limits.max_unpacked_bytes)}")
        ok = False
    worst = max((member.file_size / max(member.compress_size, 1) for member in members
                 if member.file_size > RATIO_CHECKED_FROM_BYTES), default=0.0)
    if worst > limits.max_compression_ratio:
        problems.error(FILE_SHEET, None, None,
                       f"a part of the workbook unpacks to "
                       f"{_ratio_over(worst, limits.max_compression_ratio)} times its packed "
                       f"size; the limit is {limits.max_compression_ratio:,g} times")
        ok = False
    return ok


@dataclass
class _Sheet:
    """One sheet of the workbook's sheet list. ``name`` is as in the file (it may be personal
    data: it is used to find the sheet, never shown); ``label`` is how problems name it."""

    position: int
    name: str
    label: str
    part: str | None
    worksheet: bool
    last_row: int = 0  # the highest row number its XML holds (from the scan)


@dataclass
class _Layout:
    sheets: list[_Sheet]
    shared_strings: str | None
    walked: set[str]  # parts already walked (and held to the element limit)

    def template_sheet(self, name: str) -> _Sheet | None:
        return next((s for s in self.sheets if s.label == name), None)


def _relationship_targets(archive: zipfile.ZipFile, owner: str, names: set[str],
                          limits: UploadLimits) -> tuple[dict[str, tuple[str, str]], str, bool]:
    """The internal relationships of part ``owner``: id -> (target part, type), the
    relationships part's name, and whether it was within the element limit."""
    folder = posixpath.dirname(owner)
    rels = posixpath.join(folder, "_rels", posixpath.basename(owner) + ".rels")
    targets: dict[str, tuple[str, str]] = {}

    def on_relationship(local, attrs):
        if local == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            part = (target[1:] if target.startswith("/")
                    else posixpath.normpath(posixpath.join(folder, target)))
            targets[attrs.get("Id", "")] = (part, attrs.get("Type", ""))

    within = rels not in names or _walk_part(archive, rels, on_relationship,
                                             limits.max_part_elements)
    return targets, rels, within


def _workbook_layout(archive: zipfile.ZipFile, problems: _Problems,
                     limits: UploadLimits) -> _Layout | None:
    """The sheet list (in order, each with its part) and the shared-text part, found as
    openpyxl finds them: content types, the workbook part, its relationships."""
    names = set(archive.namelist())
    if _CONTENT_TYPES not in names:
        problems.error(FILE_SHEET, None, None, NOT_A_WORKBOOK)
        return None
    overrides: dict[str, str] = {}
    defaults: set[str] = set()

    def on_type(local, attrs):
        if local == "Override":
            overrides.setdefault(attrs.get("ContentType", ""), attrs.get("PartName", ""))
        elif local == "Default":
            defaults.add(attrs.get("ContentType", ""))

    if not _walk_part(archive, _CONTENT_TYPES, on_type, limits.max_part_elements):
        problems.error(FILE_SHEET, None, None, _part_elements_message(limits.max_part_elements))
        return None
    workbook = next((overrides[t] for t in _WORKBOOK_TYPES if t in overrides), None)
    if workbook is None and defaults & set(_WORKBOOK_TYPES):
        workbook = "/xl/workbook.xml"
    workbook = workbook[1:] if workbook and workbook.startswith("/") else workbook
    if not workbook or workbook not in names:
        problems.error(FILE_SHEET, None, None, NOT_A_WORKBOOK)
        return None
    shared_strings = overrides.get(SHARED_STRINGS, "").lstrip("/") or None

    entries: list[tuple[str, str | None]] = []

    def on_workbook(local, attrs):
        if local == "sheet":
            relationship = next((v for k, v in attrs.items() if k.endswith(" id")), None)
            entries.append((attrs.get("name", ""), relationship))

    within = _walk_part(archive, workbook, on_workbook, limits.max_part_elements)
    targets, rels, rels_within = _relationship_targets(archive, workbook, names, limits)
    if len(entries) > limits.max_sheets:
        problems.error(FILE_SHEET, None, None, f"the workbook has {len(entries):,} sheets; the "
                       f"limit is {limits.max_sheets:,}")
        return None
    if not (within and rels_within):
        problems.error(FILE_SHEET, None, None, _part_elements_message(limits.max_part_elements))
        return None

    sheets, labelled = [], set()
    for position, (name, relationship) in enumerate(entries, start=1):
        template = next((t for t in _TEMPLATE_SHEETS if _sheet_key(t) == _sheet_key(name)), None)
        label = template if template and template not in labelled else str(position)
        labelled.add(label)
        part, kind = targets.get(relationship or "", (None, ""))
        sheets.append(_Sheet(position, name, label, part if part in names else None,
                             "chartsheet" not in kind))
    return _Layout(sheets, shared_strings, {_CONTENT_TYPES, workbook, rels})


def _rows_limit(limits: UploadLimits) -> str:
    return (f"the limit is row {limits.last_row:,} (a header row and {limits.max_rows:,} "
            "people)")


def _columns_limit(limits: UploadLimits) -> str:
    return (f"the limit is column {get_column_letter(limits.max_columns)} "
            f"({limits.max_columns:,} columns)")


def _column_text(column: int) -> str:
    return f"column {get_column_letter(column)} (column {column:,})"


def _column_number(reference: str) -> int:
    match = _CELL_REF_RE.match(reference)
    if match is None:
        raise _Damaged
    return column_index_from_string(match.group(1).upper())


def _row_number(text: str) -> int:
    """A row element's ``r`` as openpyxl reads it (an integer, or a float that is one)."""
    try:
        return int(text)
    except ValueError:
        number = float(text)  # ValueError for text that is no number: a damaged sheet
        if not number.is_integer():
            raise _Damaged from None
        return int(number)


@dataclass
class _SheetScan:
    cells: int = 0
    last_row: int = 0
    problems: list[tuple[int | None, str]] = field(default_factory=list)


def _scan_worksheet(stream, limits: UploadLimits) -> _SheetScan:
    """Stream a worksheet's XML and stop at the first thing over the limits: a declared
    dimension (``<dimension ref="A1:XFD1048576">``) beyond the last row or column allowed, a
    row beyond it (or more row elements than rows allowed), a cell beyond the last column,
    more than ``ELEMENTS_PER_CELL`` elements a cell in a row, or more than
    ``max_part_elements`` elements outside the cells. Counts cells; keeps nothing."""
    scan = _SheetScan()
    row_budget = ELEMENTS_PER_CELL * limits.max_columns + 1
    row = column = rows_seen = in_row = outside = 0
    in_data = False

    def stop(at_row, message):
        scan.problems.append((at_row, message))
        raise _Stop

    def start(name, attrs):
        nonlocal row, column, rows_seen, in_row, outside, in_data
        local = name.rpartition(" ")[2]
        if in_data:
            in_row += 1
            if local == "c":
                scan.cells += 1
                reference = attrs.get("r")
                column = _column_number(reference) if reference else column + 1
                if column > limits.max_columns:
                    stop(row, f"the row reaches {_column_text(column)}; {_columns_limit(limits)}")
            elif local == "row":
                rows_seen += 1
                number = attrs.get("r")
                row = _row_number(number) if number is not None else row + 1
                column, in_row = 0, 1
                scan.last_row = max(scan.last_row, row)
                if row > limits.last_row:
                    stop(None, f"the sheet reaches row {row:,}; {_rows_limit(limits)}")
                if rows_seen > limits.last_row:
                    stop(None, f"the sheet has more than {limits.last_row:,} rows; "
                         f"{_rows_limit(limits)}")
            if in_row > row_budget:
                stop(row or None, f"the row holds more than {row_budget:,} XML elements (the "
                     f"limit is {ELEMENTS_PER_CELL} a cell): paste its values into a fresh "
                     "template")
            return
        outside += 1
        if outside > limits.max_part_elements:
            stop(None, f"the sheet holds more than {limits.max_part_elements:,} XML elements "
                 "outside its cells (formatting, validations, merged cells, ...); the limit is "
                 f"{limits.max_part_elements:,}")
        if local == "sheetData":
            in_data = True
        elif local == "dimension":
            corners = [_CELL_REF_RE.match(c) for c in attrs.get("ref", "").split(":")]
            if not all(corners):
                return  # not a range: openpyxl reads the sheet without it
            last_column = max(column_index_from_string(m.group(1).upper()) for m in corners)
            last_row = max(int(m.group(2)) for m in corners)
            if last_row > limits.last_row:
                scan.problems.append((None, f"the sheet's used range reaches row {last_row:,}; "
                                            f"{_rows_limit(limits)}"))
            if last_column > limits.max_columns:
                scan.problems.append((None, "the sheet's used range reaches "
                                            f"{_column_text(last_column)}; "
                                            f"{_columns_limit(limits)}"))
            if scan.problems:
                raise _Stop

    def end(name):
        nonlocal in_data
        if in_data and name.rpartition(" ")[2] == "sheetData":
            in_data = False

    _walk_xml(stream, start, end)
    return scan


def _check_parts(archive: zipfile.ZipFile, layout: _Layout, problems: _Problems,
                 limits: UploadLimits) -> bool:
    """Stream every worksheet, the shared-text table and every other XML part, checking each
    against the limits; True when all are within them. Records each sheet's last row."""
    names = set(archive.namelist())
    ok, cells, sheet_parts = True, 0, set()
    for sheet in layout.sheets:
        if sheet.part is None or not sheet.worksheet:
            continue
        sheet_parts.add(sheet.part)
        try:
            with archive.open(sheet.part) as stream:
                scan = _scan_worksheet(stream, limits)
        except _Doctype:
            raise
        except Exception:  # noqa: BLE001 - malformed XML or zip data; no detail shown
            problems.error(sheet.label, None, None, DAMAGED_SHEET)
            ok = False
            continue
        sheet.last_row, cells = scan.last_row, cells + scan.cells
        for row, message in scan.problems:
            problems.error(sheet.label, row, None, message)
            ok = False
    if not ok:
        return False

    shared_strings = layout.shared_strings if layout.shared_strings in names else None
    if shared_strings is not None:
        entries_allowed = cells + _SHARED_STRINGS_SLACK
        entries = 0

        def on_entry(local, _attrs):
            nonlocal entries
            if local == "si":
                entries += 1
                if entries > entries_allowed:
                    raise _Stop

        try:
            within = _walk_part(archive, shared_strings, on_entry,
                                ELEMENTS_PER_CELL * entries_allowed)
        except _Doctype:
            raise
        except Exception:  # noqa: BLE001 - left for openpyxl, which reports it
            within = True
        if not within or entries > entries_allowed:
            problems.error(FILE_SHEET, None, None,
                           "the workbook's shared-text table holds more than its sheets' "
                           f"{cells:,} cells can use: save it again from Excel as .xlsx")
            return False

    for part in sorted(names - sheet_parts - layout.walked - {shared_strings}):
        try:
            within = _walk_part(archive, part, None, limits.max_part_elements)
        except _Doctype:
            raise
        except Exception:  # noqa: BLE001 - not XML (a picture): nothing to bound
            continue
        if not within:
            problems.error(FILE_SHEET, None, None, _part_elements_message(limits.max_part_elements))
            return False
    return True


def _cell_value(cell) -> object:
    """A read-only openpyxl cell as pandas would read it, cleaned: errors empty, whole numbers
    as int."""
    value = cell.value
    if value is None or cell.data_type == "e":
        return None
    if isinstance(value, float) and cell.data_type == "n" and value.is_integer():
        value = int(value)
    return _clean_cell(value)


def _sheet_rows(book, sheet: _Sheet, problems: _Problems,
                limits: UploadLimits) -> list[list[object]] | None:
    """A sheet's rows from row 1 to the last row its XML holds, cleaned, trailing empty cells
    and rows dropped; None (with a problem) when it cannot be read or breaks a limit the scan
    should already have caught."""
    if sheet.part is None or not sheet.worksheet:
        problems.error(sheet.label, None, None, DAMAGED_SHEET)
        return None
    worksheet = book[sheet.name]
    worksheet.reset_dimensions()  # the declared dimension may be wrong; the scan bounded it
    rows: list[list[object]] = []
    if sheet.last_row >= 1:
        for number, cells in enumerate(worksheet.iter_rows(min_row=1, min_col=1), start=1):
            if number > limits.last_row:
                problems.error(sheet.label, None, None,
                               f"the sheet reaches row {number:,}; {_rows_limit(limits)}")
                return None
            if len(cells) > limits.max_columns:
                problems.error(sheet.label, number, None, f"the row reaches "
                               f"{_column_text(len(cells))}; {_columns_limit(limits)}")
                return None
            values = [_cell_value(cell) for cell in cells]
            while values and values[-1] is None:
                values.pop()
            rows.append(values)
            if number >= sheet.last_row:
                break
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _read_workbook(data: bytes, problems: _Problems, limits: UploadLimits) -> _Table | None:
    """Check the workbook against the limits (see above), then read the Participants sheet
    and the Intervention form with openpyxl in read-only mode."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - zipfile's message is not shown
        problems.error(FILE_SHEET, None, None, DAMAGED_WORKBOOK)
        return None
    with archive:
        if not _check_archive(archive.infolist(), problems, limits):
            return None
        try:
            layout = _workbook_layout(archive, problems, limits)
            if layout is None:
                return None
            if layout.template_sheet(PARTICIPANTS_SHEET) is None:
                problems.error(FILE_SHEET, None, None,
                               f"no '{PARTICIPANTS_SHEET}' sheet: the workbook has "
                               f"{_plural(len(layout.sheets), 'sheet')} and none is named "
                               f"'{PARTICIPANTS_SHEET}'")
                return None
            if not _check_parts(archive, layout, problems, limits):
                return None
        except _Doctype:
            problems.error(FILE_SHEET, None, None,
                           "the workbook holds an XML document type declaration, which Excel "
                           "never writes: save it again from Excel as .xlsx")
            return None
        except Exception:  # noqa: BLE001 - malformed XML or zip data; no detail shown
            problems.error(FILE_SHEET, None, None, DAMAGED_WORKBOOK)
            return None

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                      keep_links=False)
    except Exception as exc:  # noqa: BLE001 - only the type is shown
        problems.error(FILE_SHEET, None, None, f"the workbook could not be opened "
                       f"({type(exc).__name__}): save it again from Excel as .xlsx")
        return None
    try:
        cells = _sheet_rows(book, layout.template_sheet(PARTICIPANTS_SHEET), problems, limits)
        if cells is None:
            return None
        intervention_sheet = layout.template_sheet(INTERVENTION_SHEET)
        intervention = None
        if intervention_sheet is None:
            problems.warning(INTERVENTION_SHEET, None, None,
                             "the sheet is missing: please add it and describe the service on it")
        else:
            rows = _sheet_rows(book, intervention_sheet, problems, limits)
            if rows is None:
                return None
            intervention = _read_intervention(rows, problems)
    finally:
        book.close()
    return _Table("xlsx", cells, list(range(1, len(cells) + 1)), intervention)


def _lock_file_beside(path: Path) -> bool:
    candidates = {"~$" + path.name}
    if len(path.name) > 2:
        candidates.add("~$" + path.name[2:])
    return any((path.parent / name).exists() for name in candidates)


def _read_file(path: Path, problems: _Problems, limits: UploadLimits) -> _Table | None:
    """Read the upload, recording file-level problems; None when it cannot be read further.
    The size is checked before anything is read."""
    if not path.exists():
        problems.error(FILE_SHEET, None, None, "the file does not exist")
        return None
    if path.is_dir():
        problems.error(FILE_SHEET, None, None, "this is a folder, not a file")
        return None
    if not path.is_file():
        problems.error(FILE_SHEET, None, None, "this is not a regular file (it may be a device "
                       "or a pipe): send the file itself")
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
    too_big = ("the file is {size}; the limit is " + _megabytes(limits.max_file_bytes))
    try:
        if not os.access(path, os.R_OK):
            raise PermissionError
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            problems.error(FILE_SHEET, None, None,
                           too_big.format(size=_size_over(size, limits.max_file_bytes)))
            return None
        data = path.read_bytes() if size else b""
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
    if len(data) > limits.max_file_bytes:  # it grew after it was measured
        problems.error(FILE_SHEET, None, None,
                       too_big.format(size=_size_over(len(data), limits.max_file_bytes)))
        return None
    suffix = path.suffix.lower()
    if data.startswith(OLE2_SIGNATURE):
        problems.error(FILE_SHEET, None, None,
                       "this is an old Excel 97-2003 .xls file (or a password-protected "
                       "workbook): save it as .xlsx")
        return None
    if suffix in REFUSED_SUFFIXES:
        problems.error(FILE_SHEET, None, None, REFUSED_SUFFIXES[suffix])
        return None
    if suffix in WORKBOOK_SUFFIXES:
        if not data.startswith(b"PK"):
            problems.error(FILE_SHEET, None, None,
                           "not an Excel .xlsx workbook (the file has some other content under "
                           "an Excel name)")
            return None
        problems.kind = "xlsx"
        return _read_workbook(data, problems, limits)
    if suffix in CSV_SUFFIXES:
        if data.startswith(b"PK"):
            problems.error(FILE_SHEET, None, None,
                           "this is an Excel workbook, not a CSV file: give it the .xlsx "
                           "extension")
            return None
        problems.kind = "csv"
        return _read_csv(data, problems, limits)
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


def _date_schema(today: dt.date) -> pa.DataFrameSchema:
    """Checks on the parsed dates: plausible ranges, ages, order. (Where the dates put the index
    event against the data window is :func:`_check_follow_up`'s.)"""
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


def _messages() -> dict[str, tuple[str, str | None, str]]:
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


# --------------------------------------------------------------------------------------------
# Where the dates put the index event: the data window and the one-year follow-up


LOOKAHEAD_DAYS = 90
"""Community setting: an order starting up to this many days after intervention_start can be the
index event (the default of :data:`jdl.cohort.index_events.DEFAULT_LOOKAHEAD_DAYS`, repeated here so that
validating does not load the national-data modules; a test keeps the two equal)."""

CUSTODY_NEAR_END_DAYS = 182
"""Custody setting: a deciding date (intervention_start or conviction_date) fewer than this many
days (six months) before the data window ends draws the warning that the one-year follow-up may
not be possible. The index event is the release that follows, and validating cannot see it. Six
months because a service in prison typically begins months before release (a 12-month sentence
is released at the half-way point, six months in, and services are seldom started in the last
weeks), so a start less than six months before the window ends leaves the release a real chance,
for many services an even one, of coming after it. A shorter span (90 days) would miss most such
rows; a longer one (a year) would flag many people on short sentences who will be followed up.
It only words a warning: the analysis uses the release the national data holds."""

SETTINGS = ("custody", "community")

_CANNOT, _MAY_NOT = "cannot", "may not"


def _follow_up_rules(window: DataWindow) -> dict[str, tuple[str, str]]:
    """rule -> (certainty, message) for :func:`_check_follow_up`; each message names the window
    and says what to do, and holds nothing from the file."""
    ws, we = window.start.isoformat(), window.end.isoformat()
    span = f"the data window ({ws} to {we})"
    date = "check the date; if it is right, leave the row as it is"
    both = "check the date and the setting; if both are right, leave the row as it is"
    outside = "(the person will be counted as outside the data window)"
    reach = f"the data can follow up index events from {ws} up to {we}"
    unlikely = "the one-year follow-up may not be possible: "
    return {
        "index_outside": (_CANNOT, f"outside {span}: an index event on this date cannot be "
                                   f"followed up; {date} {outside}"),
        "conviction_after": (_CANNOT, f"after {span}: the release or court order that follows "
                                      f"this conviction cannot be followed up; {date} {outside}"),
        "custody_start_after": (_CANNOT, f"after {span}: a release on or after this date cannot "
                                         f"be followed up; {both} {outside}"),
        "community_start_early": (_CANNOT, f"more than {LOOKAHEAD_DAYS} days before {span}: a "
                                           "court order running on this date, or starting within "
                                           f"{LOOKAHEAD_DAYS} days after it, cannot be followed "
                                           f"up; {both} {outside}"),
        "before": (_MAY_NOT, f"before {span}: this person can be followed up only if the release "
                             f"or court order that starts the follow-up comes on or after {ws}; "
                             f"{date}"),
        "start_after": (_MAY_NOT, f"after {span}: this person can be followed up only if a court "
                                  f"order begun by {we} was still running on this date; {date}"),
        "custody_near_end": (_MAY_NOT, f"{unlikely}this date is less than "
                                       f"{CUSTODY_NEAR_END_DAYS} days before the end of the data "
                                       "window, so the release from custody that follows is "
                                       f"likely to come after it; {reach}; {both}"),
        "community_near_end": (_MAY_NOT, f"{unlikely}this date is less than {LOOKAHEAD_DAYS} days "
                                         "before the end of the data window, so unless a court "
                                         "order was already running on it, the order that starts "
                                         "the follow-up may start after the window; "
                                         f"{reach}; {both}"),
        "custody_end_after": (_MAY_NOT, f"{unlikely}the service ended after the end of the data "
                                        "window, and a release from custody usually comes after "
                                        f"a service in prison ends; {reach}; {both}"),
    }


def follow_up_count_message(certainty: str, n: int, n_rows: int, window: DataWindow) -> str:
    """The sheet-level warning counting the rows of one certainty ("cannot" or "may not"); the
    two begin alike so that, sorted by message, the "cannot" count comes first."""
    span = f"{window.start.isoformat()} to {window.end.isoformat()}"
    if certainty == _CANNOT:
        return (f"rows that cannot be followed up: {n:,} of {n_rows:,} (their dates put the index "
                f"event outside the data window, {span}); each is listed below")
    return (f"rows that may not have a one-year follow-up: {n:,} of {n_rows:,} (their dates may "
            f"put the index event outside the data window, {span}); each is listed below")


def _check_follow_up(parsed: pd.DataFrame, window: DataWindow, setting: str | None,
                     today: dt.date, problems: _Problems) -> None:
    """Warn, row by row, where the dates put the index event outside the data window or make a
    one-year follow-up unlikely (see the module docstring), then count the rows.

    ``parsed`` is indexed by the submitter's row numbers; ``setting`` is the request's setting,
    which a row's own ``setting`` overrides. At most one such warning per row; never an error.
    """
    if parsed.empty:
        return
    rules = _follow_up_rules(window)
    first, last = pd.Timestamp(window.start), pd.Timestamp(window.end)
    earliest, latest = pd.Timestamp(EARLIEST_EVENT), pd.Timestamp(today)
    row_setting = parsed["setting"].where(parsed["setting"].isin(SETTINGS), setting)
    custody, community = row_setting.eq("custody"), row_setting.eq("community")
    # the deciding date: the first filled in of index_date, conviction_date, intervention_start
    index_date, conviction, start = (parsed[c] for c in ("index_date", "conviction_date",
                                                          "intervention_start"))
    by_index = index_date.notna()
    by_conviction = ~by_index & conviction.notna()
    by_start = ~by_index & ~by_conviction & start.notna()
    deciding = index_date.where(by_index, conviction.where(by_conviction, start))
    plausible = deciding.between(earliest, latest)   # else an error is already reported
    after, before = plausible & (deciding > last), plausible & (deciding < first)
    inside = plausible & ~after & ~before
    near_custody_end = deciding > last - pd.Timedelta(days=CUSTODY_NEAR_END_DAYS)
    end = parsed["intervention_end"]
    end_after = end.between(earliest, latest) & (end > last)
    lookahead = pd.Timedelta(days=LOOKAHEAD_DAYS)
    # (rule, rows, column): the first rule a row meets is the one it gets
    checks = [
        ("index_outside", by_index & (after | before), "index_date"),
        ("conviction_after", by_conviction & after, "conviction_date"),
        ("before", by_conviction & before, "conviction_date"),
        ("custody_near_end", by_conviction & inside & custody & near_custody_end,
         "conviction_date"),
        ("custody_start_after", by_start & after & custody, "intervention_start"),
        ("start_after", by_start & after, "intervention_start"),
        ("community_start_early", by_start & before & community & (start < first - lookahead),
         "intervention_start"),
        ("before", by_start & before, "intervention_start"),
        ("custody_near_end", by_start & inside & custody & near_custody_end,
         "intervention_start"),
        ("community_near_end", by_start & inside & community & (start > last - lookahead),
         "intervention_start"),
        ("custody_end_after", by_start & inside & custody & end_after, "intervention_end"),
    ]
    done = pd.Series(False, index=parsed.index)
    counts = {_CANNOT: 0, _MAY_NOT: 0}
    for rule, rows, column in checks:
        rows = rows & ~done
        done |= rows
        certainty, message = rules[rule]
        counts[certainty] += int(rows.sum())
        for row in parsed.index[rows]:
            problems.warning(PARTICIPANTS_SHEET, int(row), column, message)
    for certainty, n in counts.items():
        if n:
            problems.warning(PARTICIPANTS_SHEET, None, None,
                             follow_up_count_message(certainty, n, len(parsed), window))


NO_HEADER_ROW = ("no header row: the first row should hold the template's column names ("
                 + ", ".join(COLUMN_NAMES[:5]) + ", ...) but none of its cells is one; it seems "
                 "to hold data")
UNKNOWN_COLUMN = "the header is not a template column name; the column is ignored"


def _check_participants(table: _Table, window: DataWindow, problems: _Problems,
                        setting: str | None = None
                        ) -> tuple[pd.DataFrame | None, int, int, dict[str, str]]:
    """Check the Participants table; returns (parsed rows, n rows, n distinct, column letters).

    ``setting`` is the request's setting (None when not known), for the follow-up warnings.

    Headers are only ever compared with the template's column names: a header that is not one
    is named by its column letter, and a first row holding none is a missing header row.
    """
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
    names = [normalise_header(raw) for raw in header]
    if not any(name in COLUMNS_BY_NAME for name in names):
        problems.error(sheet, table.row_numbers[0], None, NO_HEADER_ROW)
        return None, 0, 0, {}

    # Columns: normalise headers, spot duplicates, unknown and unnamed columns.
    keep: dict[str, int] = {}
    letters: dict[str, str] = {}
    positions_by_name: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        letter = get_column_letter(position + 1)
        if not name:
            if any(row[position] is not None for row in body):
                problems.warning(sheet, None, None,
                                 f"column {letter} has values but no header; it is ignored")
            continue
        if name not in COLUMNS_BY_NAME:
            problems.warning(sheet, None, letter, UNKNOWN_COLUMN)
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
    messages = _messages()
    known = cells[[c for c in COLUMN_NAMES if c in present]]
    _run_schema(_cell_schema(present), known, problems, messages)
    parsed = _parse_rows(known)
    _run_schema(_date_schema(today), parsed, problems, messages)
    _check_follow_up(parsed, window, setting, today, problems)
    has_name_columns = {"surname", "forename", "date_of_birth"} <= present
    n_distinct = _check_duplicates(every_value, parsed, has_name_columns, problems)
    if has_name_columns and n_distinct < MIN_DISTINCT_PEOPLE:
        problems.error(sheet, None, None, too_few_people_message(n_distinct))

    parsed.insert(0, "row", parsed.index.astype(int))
    parsed = parsed.reset_index(drop=True)
    return parsed, len(rows), n_distinct, letters


# --------------------------------------------------------------------------------------------
# Entry point


def validate_upload(path: str | os.PathLike, window: DataWindow | None = None, *,
                    limits: UploadLimits | None = None,
                    setting: str | None = None) -> ValidationResult:
    """Check a filled Data Upload Template (.xlsx, or .csv holding the Participants columns).

    ``window`` is the data window event dates are checked against (default ``DataWindow()``);
    ``limits`` the resource limits (default ``UploadLimits()``: see the module docstring): a
    file over one is refused, with a message giving the limit, before it is read in full.
    ``setting`` is the request's setting, "custody" or "community" (a row's own ``setting``
    overrides it); when None, the Intervention sheet's setting answer is used if it is one of
    the two. It only decides which follow-up warnings a row can get (see the module docstring).
    Returns a :class:`ValidationResult`; never raises for a bad file. Its ``participants``
    frame has one row per non-empty submitted row (index 0..n-1): a ``row`` column (the
    submitter's row number), then every template column (missing columns all empty) with date
    columns as ``datetime64[ns]`` (NaT when empty or unreadable), sex "M"/"F", pnc_id and
    prison_number normalised (None when invalid), choices lower-cased ("completed" as
    "yes"/"no"; None when not allowed) and text stripped (None when empty).
    """
    if setting not in (None, *SETTINGS):
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)} or None")
    path = Path(path)
    window = window or DataWindow()
    limits = limits or UploadLimits()
    problems = _Problems()
    participants, n_rows, n_distinct, letters, kind = None, 0, 0, {}, None
    intervention: dict[str, str] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = _read_file(path, problems, limits)
            kind = problems.kind
            if table is not None:
                intervention = table.intervention or {}
                request_setting = setting or _choice_value("setting",
                                                           intervention.get("setting"))
                participants, n_rows, n_distinct, letters = _check_participants(
                    table, window, problems, request_setting)
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
