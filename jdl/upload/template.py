"""Write the Data Upload Template workbook (methodology section 1), blank or filled in.

The workbook has three sheets:

``Participants``
    Row 1 is the header: exactly the names of :data:`jdl.upload.columns.PARTICIPANT_COLUMNS`, in that
    order, starting in column A. Every header cell carries a comment with the column's
    description; required columns have a bold header on a yellow fill. The header row is frozen.
    Date columns carry the ``DD/MM/YYYY`` number format; sex, setting, referral_route and
    completed have drop-down lists (Excel data validation) on rows 2 to 5001. One row a person,
    from row 2 down.

``Intervention``
    A two-column form. Row 1 is the header ``field`` (A1) / ``answer`` (B1). Rows 2 to 9 hold,
    in the order of :data:`jdl.upload.columns.INTERVENTION_FIELDS`, the human label of one field in
    column A (e.g. "Name of your organisation") and its answer in column B (blank in the blank
    template). The reader (:func:`jdl.upload.validate.validate_upload`) matches a row by its column-A
    label, or by the field's key (e.g. ``organisation``), ignoring case and spacing.

``Instructions``
    Plain-English instructions, one paragraph per row in column A.

Files are written atomically: to a temporary file in the destination folder, then moved into
place with :func:`os.replace`, so a crash never leaves a half-written workbook.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from jdl.atomic import atomic_path
from jdl.upload.columns import (COLUMN_NAMES, EVENT_DATE_COLUMNS, INSTRUCTIONS_SHEET, INTERVENTION_FIELDS,
                                INTERVENTION_SHEET, MIN_DISTINCT_PEOPLE, PARTICIPANT_COLUMNS, PARTICIPANTS_SHEET)

DATE_NUMBER_FORMAT = "DD/MM/YYYY"
"""Excel number format given to date cells and date columns."""

VALIDATION_LAST_ROW = 5001
"""Drop-down lists cover rows 2 to this row (more when a filled template has more rows)."""

INTERVENTION_HEADER = ("field", "answer")
"""Header row (A1, B1) of the Intervention sheet."""

_AUTHOR = "Justice Data Lab"
_REQUIRED_FILL = PatternFill(fill_type="solid", start_color="FFF2CC", end_color="FFF2CC")
_HEADER_FILL = PatternFill(fill_type="solid", start_color="DDEBF7", end_color="DDEBF7")
_DROP_DOWN_COLUMNS = ("sex", "setting", "completed", "referral_route")


def instruction_lines() -> list[str]:
    """The paragraphs of the Instructions sheet, in order, as plain strings."""
    required = [c.name for c in PARTICIPANT_COLUMNS if c.required]
    optional = [c.name for c in PARTICIPANT_COLUMNS if not c.required]
    lines = [
        "Justice Data Lab: Data Upload Template",
        "",
        "What to fill in",
        f"1. On the '{PARTICIPANTS_SHEET}' sheet, enter one row for each person who received your "
        "service, starting in row 2. Do not change, rename or reorder the column headers in row 1, "
        "and do not rename the sheets.",
        f"2. On the '{INTERVENTION_SHEET}' sheet, answer each question in column B next to its "
        "label in column A.",
        f"3. Send at least {MIN_DISTINCT_PEOPLE} distinct people. Fewer than that cannot be "
        "analysed.",
        "",
        "Required and optional columns",
        "Required (bold header on a yellow background): " + ", ".join(required) + ".",
        "Also required: at least one of " + ", ".join(EVENT_DATE_COLUMNS)
        + " on every row (intervention_start is usual).",
        "Optional: " + ", ".join(optional) + ". Fill in whatever you know: a PNC id or prison "
        "number makes it much more likely that we can find the person.",
        "Hover over a column header to see what the column means.",
        "",
        "Dates",
        "Enter dates as Excel dates, or as text day first: DD/MM/YYYY (e.g. 03/11/2009), "
        "D/M/YYYY, DD-MM-YYYY, DD.MM.YYYY, DD/MM/YY, 3 Nov 2009, 3 November 2009, or YYYY-MM-DD. "
        "American month-first dates (MM/DD/YYYY) are not accepted.",
        "Dates of birth must give an age between 10 and 100 at the start of the intervention. "
        "The release or court order start that follows the intervention must fall inside the period "
        "the national data covers, or the person cannot be followed up; dates near its ends are flagged.",
        "",
        "Choices",
        "sex: Male or Female (M or F also accepted). setting: custody or community. "
        "completed: yes or no. referral_route: self, prison staff, probation, court or "
        "other agency. Use the drop-down lists.",
        "",
        "Saving and sending",
        "Save the workbook as an Excel .xlsx file (not the old .xls format, and without a "
        "password). A CSV file with the same column headers is also accepted. Close the file "
        "in Excel before sending it.",
        "",
        "How your data is used",
        "Names, dates of birth, PNC ids, prison numbers and your own references are used only "
        "to link people to the national re-offending data. They never appear in any report: "
        "reports show only rounded totals for the whole group.",
    ]
    return lines


def _build_workbook(n_rows: int = 0) -> Workbook:
    """A workbook with the three sheets laid out (no participant data)."""
    workbook = Workbook()
    participants = workbook.active
    participants.title = PARTICIPANTS_SHEET
    last_row = max(VALIDATION_LAST_ROW, n_rows + 1)

    for position, column in enumerate(PARTICIPANT_COLUMNS, start=1):
        letter = get_column_letter(position)
        cell = participants.cell(row=1, column=position, value=column.name)
        cell.font = Font(bold=column.required)
        cell.fill = _REQUIRED_FILL if column.required else _HEADER_FILL
        text = column.description
        if column.choices:
            text += " Allowed: " + ", ".join(column.choices) + "."
        text += " (Required.)" if column.required and "Required" not in text else ""
        comment = Comment(text, _AUTHOR)
        comment.width = 300
        comment.height = 110
        cell.comment = comment
        dimension = participants.column_dimensions[letter]
        if column.kind == "date":
            dimension.width = 18
            dimension.number_format = DATE_NUMBER_FORMAT
        else:
            dimension.width = max(len(column.name) + 4, 16)
        if column.name in _DROP_DOWN_COLUMNS:
            validation = DataValidation(
                type="list",
                formula1='"' + ",".join(column.choices) + '"',
                allow_blank=True,
                showDropDown=False,  # (sic) False means: do show the in-cell arrow
                showErrorMessage=True,
                errorTitle=f"{column.name}: not an allowed value",
                error="Choose one of: " + ", ".join(column.choices),
            )
            validation.add(f"{letter}2:{letter}{last_row}")
            participants.add_data_validation(validation)
    participants.freeze_panes = "A2"

    intervention = workbook.create_sheet(INTERVENTION_SHEET)
    for position, text in enumerate(INTERVENTION_HEADER, start=1):
        intervention.cell(row=1, column=position, value=text).font = Font(bold=True)
    for row, (_key, label) in enumerate(INTERVENTION_FIELDS, start=2):
        intervention.cell(row=row, column=1, value=label).alignment = Alignment(wrap_text=True)
    intervention.column_dimensions["A"].width = 60
    intervention.column_dimensions["B"].width = 60
    intervention.freeze_panes = "A2"

    instructions = workbook.create_sheet(INSTRUCTIONS_SHEET)
    instructions.column_dimensions["A"].width = 110
    headings = {"Justice Data Lab: Data Upload Template", "What to fill in",
                "Required and optional columns", "Dates", "Choices", "Saving and sending",
                "How your data is used"}
    for row, text in enumerate(instruction_lines(), start=1):
        if not text:
            continue
        cell = instructions.cell(row=row, column=1, value=text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if text in headings:
            cell.font = Font(bold=True, size=14 if row == 1 else 11)
    return workbook


def _save_atomically(workbook: Workbook, path: str | os.PathLike, mode: int) -> Path:
    """Save ``workbook`` to ``path`` via a temp file and :func:`os.replace`; returns the path."""
    with atomic_path(path, mode) as temp:
        workbook.save(temp)
    return Path(path)


def write_template(path: str | os.PathLike) -> Path:
    """Write the blank Data Upload Template (.xlsx) to ``path``.

    Creates missing parent folders and overwrites an existing file atomically. Returns the path
    written, as a :class:`~pathlib.Path`. The layout is described in this module's docstring.
    """
    return _save_atomically(_build_workbook(), path, 0o644)


def _cell_value(value: object) -> object:
    """A pandas/numpy value as something openpyxl writes faithfully; None for missing.

    Control characters Excel cannot store are removed from strings; other values pass through.
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        # openpyxl refuses control characters with an exception that quotes the value (personal
        # data), so drop them first.
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, (dt.date, int, float, bool)):
        return value
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def write_filled_template(path: str | os.PathLike, participants: pd.DataFrame,
                          intervention: Mapping[str, object]) -> Path:
    """Write a filled-in Data Upload Template (.xlsx) to ``path``; returns the path written.

    ``participants`` has one row a person; its columns that are template columns
    (:data:`jdl.upload.columns.COLUMN_NAMES`) are written, in template order, from row 2 down, and any
    other columns are ignored. Datetime and date values become real Excel dates (``DD/MM/YYYY``
    format); strings are written as text, so a text date such as ``"03/11/2009"`` stays text
    (and a string starting with ``=`` stays text, never a formula); numbers stay numbers;
    None/NaN/NaT leave the cell empty.

    ``intervention`` maps keys of :data:`jdl.upload.columns.INTERVENTION_FIELDS` (e.g.
    ``"organisation"``) to answers, written to column B of the Intervention sheet; a date or
    datetime answer is written as an Excel date. Unknown keys raise :class:`ValueError`.

    The file is mode 0600 (it holds personal data), written atomically, parent folders created.
    """
    known_fields = {key for key, _label in INTERVENTION_FIELDS}
    unknown = sorted(set(intervention) - known_fields)
    if unknown:
        raise ValueError(f"unknown intervention fields: {', '.join(map(str, unknown))}; "
                         f"expected some of: {', '.join(sorted(known_fields))}")

    workbook = _build_workbook(len(participants))
    sheet = workbook[PARTICIPANTS_SHEET]
    present = [name for name in COLUMN_NAMES if name in participants.columns]
    positions = [COLUMN_NAMES.index(name) for name in present]
    width = len(COLUMN_NAMES)
    columns = [[_cell_value(v) for v in participants[name].tolist()] for name in present]
    for values in zip(*columns):
        row = [None] * width
        for position, value in zip(positions, values):
            row[position] = value
        sheet.append(row)
    for position in positions:
        for (cell,) in sheet.iter_rows(min_row=2, max_row=len(participants) + 1,
                                       min_col=position + 1, max_col=position + 1):
            value = cell.value
            if isinstance(value, (dt.date, dt.datetime)):
                cell.number_format = DATE_NUMBER_FORMAT
            elif isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"

    form = workbook[INTERVENTION_SHEET]
    for row, (key, _label) in enumerate(INTERVENTION_FIELDS, start=2):
        value = _cell_value(intervention.get(key))
        if value is None:
            continue
        cell = form.cell(row=row, column=2, value=value)
        if isinstance(value, (dt.date, dt.datetime)):
            cell.number_format = DATE_NUMBER_FORMAT
        elif isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"
    return _save_atomically(workbook, path, 0o600)
