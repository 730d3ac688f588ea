"""Uploads are personal data and may be hostile (issue 11, items 2 and 3).

Item 2: nothing from a cell, a header or a sheet name is ever repeated. Every test here plants
personal-looking values (a name, a date of birth, a PNC id, a prison number, HTML) where a
careless reader would echo them, and checks that none reaches ``problem_lines()``,
``summary()``, the result's repr, the error the report notebook raises, a log record or the
output of ``jdl validate``.

Item 3: bounded resources. Over-limit files (a workbook whose one cell is XFD1048576, sheets
with no or a false dimension, a zip bomb, a 1,000,000-row CSV, too many columns or sheets) are
refused with a message giving the limit, before anything large is read: the tests make the
full readers (``openpyxl.load_workbook``, ``Path.read_bytes``, ``ZipFile.open``) fail if they
are called, and measure the peak memory of a separate process. No test times anything.
"""

from __future__ import annotations

import json
import logging
import os
import random
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl.utils import get_column_letter

from jdl.cli import main
from jdl.upload.columns import COLUMN_NAMES
from jdl.upload.template import write_filled_template
from jdl.upload.validate import (MAX_COLUMNS, MAX_COMPRESSION_RATIO, MAX_FILE_BYTES, MAX_PART_ELEMENTS,
                                 MAX_ROWS, MAX_SHEETS, MAX_UNPACKED_BYTES, UploadLimits, validate_upload)

from fake_uploads import INTERVENTION, people

# Values no message may ever show (compared case-insensitively: headers used to be lower-cased).
NAME, FORENAME = "Smith", "Jonathan"
BIRTH = "02/01/1980"
PNC = "2001/0012345Z"
PRISON = "A1234BC"
HTML = "<script>alert(1)</script>"
SHEET_NAME = "John Smith 1980-01-02"
PLANTED = (NAME, FORENAME, "John", BIRTH, "1980-01-02", PNC, PRISON, HTML, "<script", "alert(",
           "Testname", "Testfore", "REF00", "B20")

NO_HEADER = ("no header row: the first row should hold the template's column names "
             "(participant_ref, surname, forename, date_of_birth, sex, ...) but none of its "
             "cells is one; it seems to hold data")
UNKNOWN = "the header is not a template column name; the column is ignored"
ROWS_LIMIT = "the limit is row 50,001 (a header row and 50,000 people)"
COLUMNS_LIMIT = "the limit is column BH (60 columns)"
DAMAGED = "the workbook is damaged (it could not be read): save it again from Excel as .xlsx"
SHEET_PART = "xl/worksheets/sheet1.xml"  # the Participants sheet of write_filled_template
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def check(caplog):
    """Validate a file and check that nothing planted reaches any output.

    Returns the result. Unless ``cli=False`` (used with non-default limits, which the command
    line does not take), also runs ``jdl validate`` and checks it prints exactly the problem
    lines and the summary.
    """
    caplog.set_level(logging.DEBUG)

    def run(path: Path, limits: UploadLimits | None = None, cli: bool = True):
        result = validate_upload(path, limits=limits)
        lines = result.problem_lines()
        texts = {
            "problem_lines": "\n".join(lines),
            "summary": result.summary(),
            "repr": repr(result),
            "problem reprs": repr(result.problems),
            # what notebooks/request_report.ipynb raises for an upload it cannot analyse
            "notebook error": str(ValueError("the upload cannot be analysed:\n"
                                             + "\n".join(lines))),
        }
        if cli:
            outcome = CliRunner().invoke(main, ["validate", str(path)])
            assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
            assert outcome.exit_code == (0 if result.ok else 1)
            assert outcome.output.splitlines() == lines + [result.summary()]
            texts["cli"] = outcome.output
        texts["log"] = caplog.text
        for where, text in texts.items():
            leaked = [value for value in PLANTED if value.lower() in text.lower()]
            assert leaked == [], f"{where} shows {leaked}"
        return result

    return run


def _fail(*_args, **_kwargs):
    raise AssertionError("read although the file is over a limit")


def _forbid(monkeypatch, *, workbook: bool = True, file: bool = False) -> None:
    """From now on, opening a workbook with openpyxl (and, with ``file``, reading a file's
    bytes at all) fails the test: the refusal must come before."""
    if workbook:
        monkeypatch.setattr(openpyxl, "load_workbook", _fail)
    if file:
        monkeypatch.setattr(Path, "read_bytes", _fail)


def _template(path: Path, frame: pd.DataFrame | None = None) -> Path:
    return write_filled_template(path, people() if frame is None else frame, INTERVENTION)


def _edit(path: Path, change) -> Path:
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)
    return path


def _replace_parts(source: Path, target: Path, parts: dict[str, bytes]) -> Path:
    """Copy a workbook, replacing (or adding) the given zip members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        assert set(parts) & set(old.namelist()), "no such part to replace"
        for name in old.namelist():
            new.writestr(name, parts.get(name, old.read(name)))
        for name in set(parts) - set(old.namelist()):
            new.writestr(name, parts[name])
    return target


def _cell(reference: str, text: str) -> str:
    return f'<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>'


def _header_row() -> str:
    return '<row r="1">' + "".join(_cell(f"{get_column_letter(i + 1)}1", name)
                                   for i, name in enumerate(COLUMN_NAMES)) + "</row>"


def _person_row(row: int | None, extra: str = "") -> str:
    """A row of personal-looking values; with ``row`` None, neither the row nor its cells say
    where they are (as the XML allows)."""
    values = {"A": "REF0001", "B": NAME, "C": FORENAME, "D": BIRTH, "E": "Male", "F": PNC,
              "G": PRISON, "H": "HMP &lt;script&gt;alert(1)&lt;/script&gt;"}
    if row is None:
        cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values.values())
        return f"<row>{cells}{extra}</row>"
    cells = "".join(_cell(f"{column}{row}", v) for column, v in values.items())
    return f'<row r="{row}">{cells}{extra}</row>'



def _sheet_xml(rows: str, dimension: str | None = None, before: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>{before}<worksheet xmlns="{MAIN_NS}">{dim}'
            f"<sheetData>{rows}</sheetData></worksheet>").encode()


def _with_participants_xml(tmp_path: Path, name: str, sheet_xml: bytes) -> Path:
    return _replace_parts(_template(tmp_path / "base.xlsx"), tmp_path / name,
                          {SHEET_PART: sheet_xml})


def _peak_memory_of_validating(path: Path) -> tuple[list[str], int]:
    """Validate ``path`` in a fresh process (address space capped at 3 GiB, so a regression
    fails instead of taking the machine); returns its problem lines and peak RSS in bytes."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    code = ("import json, resource, sys\n"
            "from jdl.upload.validate import validate_upload\n"
            "lines = validate_upload(sys.argv[1]).problem_lines()\n"
            "print(json.dumps([lines, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, preexec_fn=cap, timeout=600, check=True)
    lines, peak_kib = json.loads(done.stdout)
    return lines, peak_kib * 1024


# --------------------------------------------------------------------------------------------
# Item 2: nothing from the file is repeated


def test_limits_defaults():
    assert UploadLimits() == UploadLimits(
        max_file_bytes=20_000_000, max_unpacked_bytes=100_000_000, max_compression_ratio=100,
        max_sheets=10, max_rows=50_000, max_columns=60, max_part_elements=250_000)
    assert (MAX_FILE_BYTES, MAX_UNPACKED_BYTES, MAX_COMPRESSION_RATIO, MAX_SHEETS, MAX_ROWS,
            MAX_COLUMNS, MAX_PART_ELEMENTS) == (20_000_000, 100_000_000, 100, 10, 50_000, 60,
                                                250_000)
    assert UploadLimits().last_row == 50_001
    with pytest.raises(ValueError, match="UploadLimits.max_rows must be positive"):
        UploadLimits(max_rows=0)


def test_headerless_workbook_says_so_and_shows_no_value(tmp_path, check):
    def hostile_first_row(book):
        sheet = book["Participants"]
        sheet.delete_rows(1, 1)
        for column, value in zip("ABCDEFGN", ("REF0001", NAME, FORENAME, BIRTH, "Male", PNC,
                                               PRISON, HTML)):
            sheet[f"{column}1"] = value
    path = _edit(_template(tmp_path / "headerless.xlsx"), hostile_first_row)
    result = check(path)
    assert result.problem_lines() == [f"error: sheet Participants, row 1: {NO_HEADER}"]
    assert result.summary() == "headerless.xlsx: NOT VALID - 1 error, 0 warnings"


def test_headerless_csv_says_so_and_shows_no_value(tmp_path, check):
    frame = people()
    frame.loc[0, ["surname", "forename", "pnc_id", "delivery_location"]] = [NAME, FORENAME, PNC,
                                                                            HTML]
    frame.loc[0, "date_of_birth"] = BIRTH
    path = tmp_path / "headerless.csv"
    frame.to_csv(path, index=False, header=False, date_format="%d/%m/%Y")
    result = check(path)
    assert result.problem_lines() == [f"error: CSV, line 1: {NO_HEADER}"]


def test_sheet_named_after_a_person_is_not_echoed(tmp_path, check):
    path = _edit(_template(tmp_path / "renamed.xlsx"),
                 lambda book: setattr(book["Participants"], "title", SHEET_NAME))
    result = check(path)
    assert result.problem_lines() == [
        f"error: file {path}: no 'Participants' sheet: the workbook has 3 sheets and none is "
        "named 'Participants'"]


def test_extra_sheets_are_named_by_position(tmp_path, check):
    def add(book):
        book.create_sheet(SHEET_NAME)["A1"] = NAME
        book.create_sheet(f"{NAME} {FORENAME}")["XFD1048576"] = PNC
    path = _edit(_template(tmp_path / "extra_sheets.xlsx"), add)
    result = check(path)
    assert result.problem_lines() == [
        f"error: sheet 5: the sheet's used range reaches column XFD (column 16,384); "
        f"{COLUMNS_LIMIT}",
        f"error: sheet 5: the sheet's used range reaches row 1,048,576; {ROWS_LIMIT}"]


def test_headers_that_are_personal_data_are_named_by_letter(tmp_path, check):
    def headers(book):
        sheet = book["Participants"]
        sheet["Q1"], sheet["R1"], sheet["S1"] = f"{FORENAME} {NAME}", PNC, " Surname"
        sheet["T1"] = HTML
        for row in range(2, 72):
            sheet[f"Q{row}"] = BIRTH
    result = check(_edit(_template(tmp_path / "headers.xlsx"), headers))
    assert result.problem_lines() == [
        "error: sheet Participants, column surname (B): the header appears 2 times (columns B, "
        "S); only the first is read",
        f"warning: sheet Participants, column Q: {UNKNOWN}",
        f"warning: sheet Participants, column R: {UNKNOWN}",
        f"warning: sheet Participants, column T: {UNKNOWN}",
    ]
    assert result.summary() == "headers.xlsx: NOT VALID - 1 error, 3 warnings"


def test_failing_values_are_not_echoed_by_the_checks(tmp_path, check):
    """pandera's failure cases hold the failing values: only their rows and columns are used."""
    frame = people()
    frame.loc[0, ["date_of_birth", "sex", "setting", "pnc_id", "intervention_start"]] = [
        NAME, f"{FORENAME} {NAME}", HTML, PNC, BIRTH + "x"]
    frame.loc[1, ["surname", "referral_route"]] = [None, PRISON]
    result = check(_template(tmp_path / "values.xlsx", frame))
    not_a_date = "not a date: use DD/MM/YYYY (day first) or an Excel date"
    assert result.problem_lines() == [
        f"error: sheet Participants, row 2, column date_of_birth (D): {not_a_date}",
        "error: sheet Participants, row 2, column sex (E): not an allowed value: use Male or "
        "Female (or M or F)",
        f"error: sheet Participants, row 2, column intervention_start (H): {not_a_date}",
        "error: sheet Participants, row 2, column setting (L): not an allowed value: use one of "
        "custody, community",
        "error: sheet Participants, row 3, column surname (B): a value is required",
        "error: sheet Participants, row 3, column referral_route (M): not an allowed value: use "
        "one of self, prison staff, probation, court, other agency",
        "warning: sheet Participants, row 2, column pnc_id (F): not a valid PNC id; this person "
        "will be linked by other identifiers",
    ]


def test_library_exception_messages_are_not_shown(tmp_path, monkeypatch, check):
    path = _template(tmp_path / "valid.xlsx")

    def explode(*_args, **_kwargs):
        raise ValueError(f"{NAME} {FORENAME} {BIRTH} {PNC}")

    monkeypatch.setattr(openpyxl, "load_workbook", explode)
    assert check(path).problem_lines() == [
        f"error: file {path}: the workbook could not be opened (ValueError): save it again "
        "from Excel as .xlsx"]
    monkeypatch.undo()

    import pandera.pandas as pa
    monkeypatch.setattr(pa.DataFrameSchema, "validate", explode)
    assert check(path).problem_lines() == [
        f"error: file {path}: the file could not be checked (ValueError); please send it to "
        "the Justice Data Lab team"]


def test_csv_module_errors_are_not_shown(tmp_path, check):
    path = tmp_path / "long_value.csv"
    path.write_text("surname,forename,date_of_birth,sex,intervention_start\n"
                    f"{NAME},{FORENAME},{BIRTH},Male,01/03/2008\n"
                    f"{NAME * 30_000},{FORENAME},{BIRTH},Male,01/03/2008\n")
    assert check(path).problem_lines() == [
        "error: CSV, line 3: the line could not be read as CSV (a value is too long or badly "
        "quoted): save the file again as 'CSV UTF-8'"]


@pytest.mark.parametrize("name, content, message", [
    ("nul.csv", f"surname,forename\n{NAME}\x00,{FORENAME}\n".encode(),
     "the file holds NUL bytes, so it is not a text CSV file: save it as 'CSV UTF-8' or as an "
     "Excel .xlsx workbook"),
    ("undecodable.csv", f"surname,forename\n{NAME},{FORENAME}\x81\x8d\n".encode("latin-1"),
     "the file is not readable text: save it as 'CSV UTF-8' or as an Excel .xlsx workbook"),
    ("empty.csv", b"", "the file is empty (0 bytes)"),
    ("renamed.xlsx", f"surname\n{NAME}\n".encode(),
     "not an Excel .xlsx workbook (the file has some other content under an Excel name)"),
    ("truncated.xlsx", None, DAMAGED),
    ("encrypted.xlsx", None,
     "the workbook is encrypted: remove its password and save it again as .xlsx"),
    ("macros.xlsm", None,
     "this is a macro-enabled workbook (.xlsm): save it as an Excel .xlsx workbook"),
    ("old.xls", None,
     "this file is named as an old Excel 97-2003 .xls workbook: save it as an Excel .xlsx "
     "workbook"),
    ("ole2.xlsx", bytes.fromhex("D0CF11E0A1B11AE1") + NAME.encode() * 100,
     "this is an old Excel 97-2003 .xls file (or a password-protected workbook): save it as "
     ".xlsx"),
])
def test_broken_files_name_only_the_file(tmp_path, check, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    else:
        data = _template(tmp_path / "valid.xlsx").read_bytes()
        if name == "truncated.xlsx":
            data = data[: len(data) // 2]
        elif name == "encrypted.xlsx":  # set the "encrypted" flag of every directory entry
            data = bytearray(data)
            at = data.find(b"PK\x01\x02")
            while at >= 0:
                data[at + 8] |= 0x01
                at = data.find(b"PK\x01\x02", at + 4)
        path.write_bytes(bytes(data))
    result = check(path)
    assert result.problem_lines() == [f"error: file {path}: {message}"]
    assert result.summary() == f"{name}: NOT VALID - 1 error, 0 warnings"


def test_a_pipe_is_not_read(tmp_path, check):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    assert check(path).problem_lines() == [
        f"error: file {path}: this is not a regular file (it may be a device or a pipe): send "
        "the file itself"]


def test_damaged_sheet_and_doctype(tmp_path, check):
    broken = _with_participants_xml(tmp_path, "broken.xlsx", _sheet_xml(_header_row())[:-40])
    assert check(broken).problem_lines() == [
        "error: sheet Participants: the sheet is damaged (it could not be read): save the "
        "workbook again from Excel as .xlsx"]
    doctype = f'<!DOCTYPE worksheet [<!ENTITY who "{NAME}">]>'
    entity = _with_participants_xml(tmp_path, "entity.xlsx",
                                    _sheet_xml(_header_row() + _person_row(2), before=doctype))
    assert check(entity).problem_lines() == [
        f"error: file {entity}: the workbook holds an XML document type declaration, which "
        "Excel never writes: save it again from Excel as .xlsx"]


# --------------------------------------------------------------------------------------------
# Item 3: bounded resources


@pytest.fixture
def xfd_bomb(tmp_path) -> Path:
    """A small workbook whose Participants sheet has one cell at XFD1048576."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Participants"
    sheet.append(list(COLUMN_NAMES))
    sheet.append(["REF0001", NAME, FORENAME, BIRTH, "Male", PNC, PRISON])
    sheet["XFD1048576"] = HTML
    path = tmp_path / "xfd.xlsx"
    book.save(path)
    return path


XFD_LINES = [
    f"error: sheet Participants: the sheet's used range reaches column XFD (column 16,384); "
    f"{COLUMNS_LIMIT}",
    f"error: sheet Participants: the sheet's used range reaches row 1,048,576; {ROWS_LIMIT}"]


def test_xfd1048576_workbook_is_refused_from_its_dimension(xfd_bomb, check, monkeypatch):
    assert xfd_bomb.stat().st_size < 20_000
    with zipfile.ZipFile(xfd_bomb) as archive:
        assert b'<dimension ref="A1:XFD1048576"' in archive.read(SHEET_PART)
    _forbid(monkeypatch)
    result = check(xfd_bomb)
    assert result.problem_lines() == XFD_LINES
    assert result.summary() == "xfd.xlsx: NOT VALID - 2 errors, 0 warnings"


SMALL = UploadLimits(max_rows=30)  # the template's Instructions sheet reaches row 25


@pytest.mark.parametrize("name, rows, dimension, limits, line", [
    ("cell_far_right.xlsx", _header_row() + _person_row(2, _cell("XFD2", NAME)), None, None,
     f"error: sheet Participants, row 2: the row reaches column XFD (column 16,384); "
     f"{COLUMNS_LIMIT}"),
    ("row_far_down.xlsx", _header_row() + _person_row(2) + _person_row(1_048_576), None, None,
     f"error: sheet Participants: the sheet reaches row 1,048,576; {ROWS_LIMIT}"),
    ("false_dimension.xlsx", _header_row() + _person_row(2) + _person_row(1_048_576), "A1:P2",
     None, f"error: sheet Participants: the sheet reaches row 1,048,576; {ROWS_LIMIT}"),
    ("crowded_row.xlsx", _header_row() + _person_row(2, _cell("A2", NAME) * 2_000), "A1:P2",
     None, "error: sheet Participants, row 2: the row holds more than 1,201 XML elements (the "
     "limit is 20 a cell): paste its values into a fresh template"),
    ("rows_without_numbers.xlsx", _header_row() + _person_row(None) * 40, None, SMALL,
     "error: sheet Participants: the sheet reaches row 32; the limit is row 31 (a header row "
     "and 30 people)"),
    ("same_row_again.xlsx", _header_row() + _person_row(2) * 40, None, SMALL,
     "error: sheet Participants: the sheet has more than 31 rows; the limit is row 31 (a "
     "header row and 30 people)"),
])
def test_sheets_without_a_true_dimension_are_streamed_to_the_limit(
        tmp_path, check, monkeypatch, name, rows, dimension, limits, line):
    path = _with_participants_xml(tmp_path, name, _sheet_xml(rows, dimension))
    _forbid(monkeypatch)
    assert check(path, limits, cli=limits is None).problem_lines() == [line]


def test_zip_bomb_is_refused_from_the_zip_directory(tmp_path, check, monkeypatch):
    path = _replace_parts(_template(tmp_path / "base.xlsx"), tmp_path / "bomb.xlsx",
                          {SHEET_PART: _sheet_xml(_header_row() + _person_row(2))})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("customXml/item1.xml", "w", force_zip64=True) as member:
            zeros = b"\0" * 1_000_000
            for _ in range(120):
                member.write(zeros)
        members = archive.infolist()
    unpacked = sum(m.file_size for m in members)
    bomb = members[-1]
    ratio = bomb.file_size / bomb.compress_size
    assert 120_000_000 < unpacked < 120_050_000 and ratio > 200
    monkeypatch.setattr(zipfile.ZipFile, "open", _fail)  # nothing is unpacked
    assert check(path).problem_lines() == [
        f"error: file {path}: a part of the workbook unpacks to {ratio:,.0f} times its packed "
        "size; the limit is 100 times",
        f"error: file {path}: the workbook unpacks to 120.0 MB; the limit is 100 MB"]
    assert check(path, UploadLimits(max_unpacked_bytes=10**9), cli=False).problem_lines() == [
        f"error: file {path}: a part of the workbook unpacks to {ratio:,.0f} times its packed "
        "size; the limit is 100 times"]


def test_too_many_sheets(tmp_path, check, monkeypatch):
    def add(book):
        for k in range(8):
            book.create_sheet(f"{NAME} {k}")["A1"] = PNC
    path = _edit(_template(tmp_path / "sheets.xlsx"), add)
    _forbid(monkeypatch)
    assert check(path).problem_lines() == [
        f"error: file {path}: the workbook has 11 sheets; the limit is 10"]


def test_too_many_columns_in_a_workbook(tmp_path, check, monkeypatch):
    def widen(book):
        sheet = book["Participants"]
        for column in range(17, 62):
            sheet.cell(row=1, column=column, value=f"{NAME} {column}")
            sheet.cell(row=2, column=column, value=PNC)
    path = _edit(_template(tmp_path / "wide.xlsx"), widen)
    _forbid(monkeypatch)
    assert check(path).problem_lines() == [
        f"error: sheet Participants: the sheet's used range reaches column BI (column 61); "
        f"{COLUMNS_LIMIT}"]


def test_too_many_columns_in_a_csv(tmp_path, check):
    frame = people()
    path = tmp_path / "wide.csv"
    text = frame.to_csv(index=False, date_format="%d/%m/%Y").split("\n")
    text[2] += "," + ",".join([NAME, PNC, BIRTH] * 15 + [NAME, PNC])  # line 3: 14 + 47 fields
    path.write_text("\n".join(text))
    assert check(path).problem_lines() == ["error: CSV, line 3: the line has 61 columns; the "
                                           "limit is 60"]


def test_file_size_is_checked_before_reading(tmp_path, check, monkeypatch):
    path = tmp_path / "big.xlsx"
    with path.open("wb") as handle:
        handle.write(b"PK\x03\x04" + f"{NAME},{PNC}\n".encode() * 1000)
        handle.truncate(25_300_000)
    _forbid(monkeypatch, file=True)
    assert check(path).problem_lines() == [
        f"error: file {path}: the file is 25.3 MB; the limit is 20 MB"]


@pytest.fixture
def million_row_csvs(tmp_path) -> tuple[Path, Path]:
    """Two 1,000,000-row CSVs of personal-looking rows: a full one (60 MB) and a narrow one
    (under the size limit, so its rows are counted)."""
    full, narrow = tmp_path / "million.csv", tmp_path / "million_narrow.csv"
    line = f"{NAME}{{:07d}},{FORENAME},{BIRTH},Male,{PNC},01/03/2008\n"
    with full.open("w") as handle:
        handle.write("surname,forename,date_of_birth,sex,pnc_id,intervention_start\n")
        for start in range(0, 1_000_000, 100_000):
            handle.write("".join(line.format(i) for i in range(start, start + 100_000)))
    with narrow.open("w") as handle:
        handle.write("surname,forename\n")
        handle.write(f"{NAME},J\n" * 1_000_000)
    return full, narrow


def test_million_row_csvs_are_refused(million_row_csvs, check, monkeypatch):
    full, narrow = million_row_csvs
    assert full.stat().st_size == 61 + 63 * 1_000_000
    _forbid(monkeypatch, workbook=False, file=True)
    assert check(full).problem_lines() == [
        f"error: file {full}: the file is 63.0 MB; the limit is 20 MB"]
    monkeypatch.undo()
    assert narrow.stat().st_size < MAX_FILE_BYTES
    assert check(narrow).problem_lines() == [
        "error: CSV: the file has more than 50,000 rows below the header; the limit is 50,000 "
        "(one row a person)"]


def test_over_limit_files_take_well_under_1_gb(xfd_bomb, million_row_csvs):
    lines, peak = _peak_memory_of_validating(xfd_bomb)
    assert lines == XFD_LINES
    assert peak < 1_000_000_000
    lines, peak = _peak_memory_of_validating(million_row_csvs[1])
    assert lines == ["error: CSV: the file has more than 50,000 rows below the header; the "
                     "limit is 50,000 (one row a person)"]
    assert peak < 1_000_000_000


def test_limits_can_be_lowered(tmp_path, check):
    workbook = _template(tmp_path / "valid.xlsx")
    small = UploadLimits(max_rows=10, max_columns=10)
    assert check(workbook, small, cli=False).problem_lines() == [
        "error: sheet Participants: the sheet's used range reaches column P (column 16); the "
        "limit is column J (10 columns)",
        "error: sheet Participants: the sheet's used range reaches row 71; the limit is row 11 "
        "(a header row and 10 people)",
        "error: sheet Instructions: the sheet's used range reaches row 25; the limit is row 11 "
        "(a header row and 10 people)"]
    assert check(workbook, UploadLimits(max_sheets=2), cli=False).problem_lines() == [
        f"error: file {workbook}: the workbook has 3 sheets; the limit is 2"]
    assert 10_000 < workbook.stat().st_size < 100_000
    assert check(workbook, UploadLimits(max_file_bytes=5_000), cli=False).problem_lines() == [
        f"error: file {workbook}: the file is {workbook.stat().st_size / 1e6:.2f} MB; the "
        "limit is 0.005 MB"]
    csv_path = tmp_path / "valid.csv"
    people().to_csv(csv_path, index=False, date_format="%d/%m/%Y")
    assert check(csv_path, UploadLimits(max_rows=69), cli=False).problem_lines() == [
        "error: CSV: the file has more than 69 rows below the header; the limit is 69 (one row "
        "a person)"]
    assert check(csv_path, UploadLimits(max_rows=70), cli=False).ok


def test_shared_text_and_styles_are_bounded(tmp_path, check, monkeypatch):
    """A shared-text table with more entries than the workbook has cells, and a style table of
    more than 250,000 elements (both within the size limits), are refused before openpyxl
    builds them."""
    base = _template(tmp_path / "base.xlsx")
    with zipfile.ZipFile(base) as archive:
        types = archive.read("[Content_Types].xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
        styles = archive.read("xl/styles.xml")
        cells = sum(archive.read(f"xl/worksheets/sheet{k}.xml").count(b"<c ") for k in (1, 2, 3))
    shared = (f'<sst xmlns="{MAIN_NS}">' + "".join(f"<si><t>{NAME}{i}</t></si>"
                                                   for i in range(cells + 1_001)) + "</sst>")
    path = _replace_parts(base, tmp_path / "shared.xlsx", {
        "[Content_Types].xml": types.replace(
            b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
        "xl/_rels/workbook.xml.rels": rels.replace(
            b"</Relationships>", b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.'
            b'org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            b"</Relationships>"),
        "xl/sharedStrings.xml": shared.encode(),
    })
    numbers = random.Random(11)
    start = styles.index(b">", styles.index(b"<cellXfs")) + 1
    many_styles = b"".join(b'<xf numFmtId="%d"/>' % numbers.getrandbits(30)
                           for _ in range(250_001))
    styled = _replace_parts(base, tmp_path / "styles.xlsx",
                            {"xl/styles.xml": styles[:start] + many_styles + styles[start:]})
    _forbid(monkeypatch)
    assert check(path).problem_lines() == [
        f"error: file {path}: the workbook's shared-text table holds more than its sheets' "
        f"{cells:,} cells can use: save it again from Excel as .xlsx"]
    assert check(styled).problem_lines() == [
        f"error: file {styled}: a part of the workbook other than its cells (styles, the sheet "
        "list, charts, ...) holds more than 250,000 XML elements; the limit is 250,000"]


def test_valid_uploads_still_pass_with_the_default_limits(tmp_path, check):
    result = check(_template(tmp_path / "valid.xlsx"))
    assert result.problem_lines() == [] and result.n_rows == 70
    frame = pd.concat([people()] * 3, ignore_index=True)
    frame["surname"] = [f"Testname{i}" for i in range(len(frame))]
    csv_path = tmp_path / "valid.csv"
    frame.to_csv(csv_path, index=False, date_format="%d/%m/%Y")
    result = check(csv_path)
    assert result.ok and result.n_rows == 210
