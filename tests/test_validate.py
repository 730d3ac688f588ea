"""Validation of uploads (jdl.upload.validate), on a folder of deliberately broken files.

Every file is built here from a valid 70-person upload with fake names ("Testname17"), one
fault per file, and each test asserts the exact problems reported. The privacy tests check that
no name, date of birth, PNC id, prison number or reference from any file reaches a message, the
CLI output or the result's repr, and that validating never changes the file.
"""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from jdl.cli import main
from jdl.upload.columns import COLUMN_NAMES
from jdl.upload.identifiers import format_pnc, pnc_check_letter
from jdl.upload.template import write_filled_template
from jdl.upload.validate import Problem, ValidationResult, parse_date, validate_upload
from jdl.window import DataWindow

from fake_uploads import INTERVENTION, people

TODAY = dt.date.today()
NEXT_YEAR = TODAY.year + 1
NOT_A_DATE = "not a date: use DD/MM/YYYY (day first) or an Excel date"
# a custody intervention_start after the default data window (2002-01-01 to 2012-12-30)
WINDOW_WARNING = ("after the data window (2002-01-01 to 2012-12-30): a release on or after this "
                  "date cannot be followed up; check the date and the setting; if both are "
                  "right, leave the row as it is (the person will be counted as outside the data "
                  "window)")
WINDOW_COUNT = ("rows that cannot be followed up: 1 of 70 (their dates put the index event "
                "outside the data window, 2002-01-01 to 2012-12-30); each is listed below")
ROW_OF = lambda k: k + 2  # noqa: E731 - frame position -> Excel row


def _write(path: Path, frame: pd.DataFrame, intervention=INTERVENTION) -> Path:
    return write_filled_template(path, frame, intervention)


def _edit(path: Path, change) -> Path:
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)
    return path


def _bad_pnc(k: int) -> str:
    good = format_pnc(1995 + k % 10, 100_000 + 37 * k)
    wrong = next(c for c in "ABCDEFGH" if c != good[-1])
    return good[:-1] + wrong


def _build(folder: Path) -> dict[str, Path]:
    """Write every upload into ``folder``; returns name -> path (some paths do not exist)."""
    files: dict[str, Path] = {}

    def add(name: str, path: Path) -> None:
        files[name] = path

    base = people()
    add("valid", _write(folder / "valid.xlsx", base))

    (folder / "empty.xlsx").write_bytes(b"")
    add("empty", folder / "empty.xlsx")

    path = _write(folder / "wrong_sheet.xlsx", base)
    add("wrong_sheet", _edit(path, lambda b: setattr(b["Participants"], "title", "People")))

    path = _write(folder / "sheet_name_spacing.xlsx", base)
    add("sheet_name_spacing",
        _edit(path, lambda b: setattr(b["Participants"], "title", " participants ")))

    (folder / "text_renamed.xlsx").write_text(base.to_csv(index=False))
    add("text_renamed", folder / "text_renamed.xlsx")

    (folder / "pdf_renamed.xlsx").write_bytes(
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Title (Testname1 Testfore1) >>\nendobj\n")
    add("pdf_renamed", folder / "pdf_renamed.xlsx")

    with zipfile.ZipFile(folder / "zip_not_workbook.xlsx", "w") as archive:
        archive.writestr("notes.txt", "Testname2 Testfore2")
    add("zip_not_workbook", folder / "zip_not_workbook.xlsx")

    (folder / "old.xls").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 4088)
    add("old_xls", folder / "old.xls")

    add("missing", folder / "missing.xlsx")
    (folder / "folder.xlsx").mkdir()
    add("folder", folder / "folder.xlsx")

    add("locked", _write(folder / "locked.xlsx", base))
    (folder / "~$locked.xlsx").write_bytes(b"\x0bTest user" + b" " * 100)

    path = _write(folder / "no_sex_column.xlsx", base)
    add("no_sex_column", _edit(path, lambda b: b["Participants"].delete_cols(5)))

    path = _write(folder / "duplicate_header.xlsx", base)
    add("duplicate_header",
        _edit(path, lambda b: b["Participants"].cell(row=1, column=16, value=" Surname")))

    frame = base.copy()
    frame.loc[12, "date_of_birth"] = "sometime in 1980"
    add("bad_date", _write(folder / "bad_date.xlsx", frame))

    frame = base.copy()
    frame.loc[5, "intervention_start"] = "12/31/2008"   # US order: month 31 does not exist
    add("us_date", _write(folder / "us_date.xlsx", frame))

    frame = base.copy()
    frame.loc[20, "date_of_birth"] = dt.datetime(NEXT_YEAR, 1, 1)
    frame.loc[21, "date_of_birth"] = "05/05/1890"
    add("dob_future", _write(folder / "dob_future.xlsx", frame))

    frame = base.copy()
    start = frame.loc[30, "intervention_start"]
    frame.loc[30, "date_of_birth"] = start.replace(year=start.year - 5)
    add("age_five", _write(folder / "age_five.xlsx", frame))

    frame = base.copy()
    frame.loc[40, "intervention_end"] = frame.loc[40, "intervention_start"] - dt.timedelta(days=10)
    add("end_before_start", _write(folder / "end_before_start.xlsx", frame))

    frame = base.copy()
    frame.loc[8, "sex"] = "Unknown"
    add("bad_sex", _write(folder / "bad_sex.xlsx", frame))

    frame = base.copy()
    frame.loc[9, "setting"] = "prison"
    add("bad_setting", _write(folder / "bad_setting.xlsx", frame))

    frame = base.copy()
    frame.loc[15, "intervention_start"] = None
    add("no_event_date", _write(folder / "no_event_date.xlsx", frame))

    frame = base.copy()
    frame.loc[3, "pnc_id"] = _bad_pnc(3)
    frame.loc[4, "pnc_id"] = "PNC unknown"
    add("bad_pnc", _write(folder / "bad_pnc.xlsx", frame))

    frame = base.copy()
    frame.loc[7, "prison_number"] = "A123BC"
    add("bad_prison_number", _write(folder / "bad_prison_number.xlsx", frame))

    frame = pd.concat([base, base.loc[[3]]], ignore_index=True)
    add("exact_duplicate", _write(folder / "exact_duplicate.xlsx", frame))

    again = base.loc[[3]].copy()
    again["participant_ref"] = "REF9999"
    again["pnc_id"] = None
    again["forename"] = "TESTFORE3 "
    again["date_of_birth"] = "04/04/1978"
    frame = pd.concat([base, again], ignore_index=True)
    add("same_person", _write(folder / "same_person.xlsx", frame))

    again = base.loc[[3]].copy()
    again["participant_ref"], again["surname"], again["forename"] = "REF9998", "Othername", "Other"
    frame = pd.concat([base, again], ignore_index=True)
    add("same_pnc", _write(folder / "same_pnc.xlsx", frame))

    add("only_59", _write(folder / "only_59.xlsx", base.iloc[:59]))

    frame = base.copy()
    for column in ("date_of_birth", "intervention_start", "intervention_end"):
        frame[column] = [d.strftime("%d/%m/%Y") for d in base[column]]
    frame.loc[0, "date_of_birth"] = " 1 Jan 1975 "
    frame.loc[1, "date_of_birth"] = "2 February 1976 00:00:00"
    frame.loc[2, "date_of_birth"] = "1977-03-03"
    frame.loc[3, "date_of_birth"] = "4.4.1978"
    frame.loc[4, "date_of_birth"] = "05-05-79"
    frame.to_csv(folder / "text_dates.csv", index=False, encoding="utf-8")
    add("text_dates_csv", folder / "text_dates.csv")

    frame = base.copy()
    frame.loc[0, "surname"], frame.loc[0, "forename"] = "Ó'Testnamé", "Zoë"
    frame.to_csv(folder / "cp1252.csv", index=False, encoding="cp1252")
    add("cp1252_csv", folder / "cp1252.csv")

    def notes(book):
        sheet = book["Participants"]
        sheet.cell(row=1, column=17, value="Notes")
        for row in range(2, 72):
            sheet.cell(row=row, column=17, value="called back")
    add("extra_column", _edit(_write(folder / "extra_column.xlsx", base), notes))

    add("blank_rows", _edit(_write(folder / "blank_rows.xlsx", base),
                            lambda b: b["Participants"].insert_rows(12, 3)))

    frame = base.copy()
    frame.loc[20, "sex"] = "Unknown"
    add("blank_rows_then_error", _edit(_write(folder / "blank_rows_then_error.xlsx", frame),
                                       lambda b: b["Participants"].insert_rows(12, 3)))

    add("no_intervention_sheet", _edit(_write(folder / "no_intervention_sheet.xlsx", base),
                                       lambda b: b.remove(b["Intervention"])))

    add("header_only", _write(folder / "header_only.xlsx", base.iloc[:0]))

    add("empty_sheet", _edit(_write(folder / "empty_sheet.xlsx", base),
                             lambda b: b["Participants"].delete_rows(1, 100)))

    frame = base.copy()
    frame.loc[6, "surname"] = "   "
    frame.loc[7, "sex"] = None
    add("missing_values", _write(folder / "missing_values.xlsx", frame))

    (folder / "upload.ods").write_bytes(b"PK\x03\x04 not really")
    add("unsupported", folder / "upload.ods")

    (folder / "binary.csv").write_bytes(b"surname,forename\n\x00\x01\x02Testname5\x00\xff\n")
    add("binary_csv", folder / "binary.csv")

    base[["surname", "forename", "date_of_birth", "sex"]].to_csv(
        folder / "no_event_columns.csv", index=False, date_format="%d/%m/%Y")
    add("no_event_columns_csv", folder / "no_event_columns.csv")

    frame = base.copy()
    frame["intervention_start"] = [(d.date() - dt.date(1899, 12, 30)).days
                                   for d in base["intervention_start"]]
    add("serial_dates", _write(folder / "serial_dates.xlsx", frame))

    frame = base.copy()
    frame.loc[1, "intervention_start"] = dt.datetime(1989, 6, 1)
    frame.loc[1, "intervention_end"] = dt.datetime(1989, 9, 1)
    frame.loc[2, "intervention_start"] = dt.datetime(NEXT_YEAR, 3, 1)
    frame.loc[2, "intervention_end"] = dt.datetime(NEXT_YEAR, 6, 1)
    frame.loc[10, "intervention_start"] = dt.datetime(2013, 6, 1)
    frame.loc[10, "intervention_end"] = dt.datetime(2013, 9, 1)
    add("window", _write(folder / "window.xlsx", frame))

    frame = base.copy()
    frame.loc[0, "sex"], frame.loc[1, "sex"] = "m", "FEMALE"
    frame.loc[0, "completed"], frame.loc[1, "completed"] = "Y", "false"
    frame.loc[0, "referral_route"], frame.loc[1, "referral_route"] = "Prison Staff", "OTHER-AGENCY"
    frame.loc[0, "setting"] = "COMMUNITY"
    frame.loc[0, "pnc_id"] = format_pnc(1995, 100_000)[2:].lower()  # "95/0100000x"
    frame.loc[0, "prison_number"] = " b2000ts"
    add("choice_aliases", _write(folder / "choice_aliases.xlsx", frame))

    (folder / "ragged.csv").write_text(
        base.to_csv(index=False, date_format="%d/%m/%Y").replace("\n", ",extra\n", 3)
        .replace("sub_group,extra", "sub_group", 1))
    add("ragged_csv", folder / "ragged.csv")
    return files


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> dict[str, Path]:
    return _build(tmp_path_factory.mktemp("uploads"))


def P(sheet, row, column, message, severity="error"):  # noqa: N802 - reads like the dataclass
    return Problem(sheet, row, column, message, severity)


def W(sheet, row, column, message):  # noqa: N802
    return Problem(sheet, row, column, message, "warning")


EXPECTED: dict[str, tuple[bool, list[Problem]]] = {
    "valid": (True, []),
    "empty": (False, [P("file", None, None, "the file is empty (0 bytes)")]),
    "wrong_sheet": (False, [P("file", None, None, "no 'Participants' sheet: the workbook has 3 "
                              "sheets and none is named 'Participants'")]),
    "sheet_name_spacing": (True, []),
    "text_renamed": (False, [P("file", None, None, "not an Excel .xlsx workbook (the file has "
                               "some other content under an Excel name)")]),
    "pdf_renamed": (False, [P("file", None, None, "not an Excel .xlsx workbook (the file has "
                              "some other content under an Excel name)")]),
    "zip_not_workbook": (False, [P("file", None, None, "not an Excel .xlsx workbook (it could "
                                   "not be opened as one)")]),
    "old_xls": (False, [P("file", None, None, "this is an old Excel 97-2003 .xls file (or a "
                          "password-protected workbook): save it as .xlsx")]),
    "missing": (False, [P("file", None, None, "the file does not exist")]),
    "folder": (False, [P("file", None, None, "this is a folder, not a file")]),
    "locked": (True, [W("file", None, None, "the file may be open in Excel (an Excel lock file "
                        "is beside it): save and close it, then check it again")]),
    "no_sex_column": (False, [P("Participants", None, "sex", "required column is missing")]),
    "duplicate_header": (False, [P("Participants", None, "surname", "the header appears 2 times "
                                   "(columns B, P); only the first is read")]),
    "bad_date": (False, [P("Participants", ROW_OF(12), "date_of_birth", NOT_A_DATE)]),
    "us_date": (False, [P("Participants", ROW_OF(5), "intervention_start", NOT_A_DATE)]),
    "dob_future": (False, [
        P("Participants", ROW_OF(20), "date_of_birth",
          "age at intervention_start is not between 10 and 100; check the date of birth"),
        P("Participants", ROW_OF(20), "date_of_birth", "date of birth is in the future"),
        P("Participants", ROW_OF(21), "date_of_birth",
          "age at intervention_start is not between 10 and 100; check the date of birth"),
        P("Participants", ROW_OF(21), "date_of_birth", "date of birth is before 1900")]),
    "age_five": (False, [P("Participants", ROW_OF(30), "date_of_birth",
                           "age at intervention_start is not between 10 and 100; check the date "
                           "of birth")]),
    "end_before_start": (False, [P("Participants", ROW_OF(40), "intervention_end",
                                   "intervention_end is before intervention_start")]),
    "bad_sex": (False, [P("Participants", ROW_OF(8), "sex",
                          "not an allowed value: use Male or Female (or M or F)")]),
    "bad_setting": (False, [P("Participants", ROW_OF(9), "setting",
                              "not an allowed value: use one of custody, community")]),
    "no_event_date": (False, [P("Participants", ROW_OF(15), None, "no event date: fill in at "
                                "least one of intervention_start, index_date, conviction_date")]),
    "bad_pnc": (True, [
        W("Participants", ROW_OF(3), "pnc_id",
          "not a valid PNC id; this person will be linked by other identifiers"),
        W("Participants", ROW_OF(4), "pnc_id",
          "not a valid PNC id; this person will be linked by other identifiers")]),
    "bad_prison_number": (True, [W("Participants", ROW_OF(7), "prison_number",
                                   "not a valid prison number (one letter, four digits, two "
                                   "letters); this person will be linked by other identifiers")]),
    "exact_duplicate": (True, [W("Participants", 72, None,
                                 "duplicates row 5 (identical in every column)")]),
    "same_person": (True, [W("Participants", 72, None, "same person as row 5 (same surname, "
                             "forename and date of birth)")]),
    "same_pnc": (True, [W("Participants", 72, "pnc_id", "same PNC id as row 5")]),
    "only_59": (False, [P("Participants", None, None,
                          "only 59 distinct people; at least 60 are needed")]),
    "text_dates_csv": (True, []),
    "cp1252_csv": (True, []),
    "extra_column": (True, [W("Participants", None, "Q",
                              "the header is not a template column name; the column is "
                              "ignored")]),
    "blank_rows": (True, []),
    "blank_rows_then_error": (False, [P("Participants", ROW_OF(20) + 3, "sex",
                                        "not an allowed value: use Male or Female (or M or F)")]),
    "no_intervention_sheet": (True, [W("Intervention", None, None, "the sheet is missing: please "
                                       "add it and describe the service on it")]),
    "header_only": (False, [P("Participants", None, None,
                              "the sheet has no participant rows below the header")]),
    "empty_sheet": (False, [P("Participants", None, None,
                              "the sheet is empty: no header row and no participants")]),
    "missing_values": (False, [P("Participants", ROW_OF(6), "surname", "a value is required"),
                               P("Participants", ROW_OF(7), "sex", "a value is required")]),
    "unsupported": (False, [P("file", None, None, "unsupported file type '.ods': send an Excel "
                              ".xlsx workbook or a .csv file")]),
    "binary_csv": (False, [P("file", None, None, "the file holds NUL bytes, so it is not a text "
                             "CSV file: save it as 'CSV UTF-8' or as an Excel .xlsx workbook")]),
    "no_event_columns_csv": (False, [P("Participants", None, None, "no event date column: the "
                                       "sheet needs at least one of intervention_start, "
                                       "index_date, conviction_date (intervention_start is "
                                       "usual)")]),
    "serial_dates": (True, []),
    "window": (False, [
        P("Participants", ROW_OF(1), "intervention_start", "date is before 1990"),
        P("Participants", ROW_OF(2), "intervention_start", "date is in the future"),
        W("Participants", None, None, WINDOW_COUNT),
        W("Participants", ROW_OF(2), "intervention_end", "date is in the future"),
        W("Participants", ROW_OF(10), "intervention_start", WINDOW_WARNING)]),
    "choice_aliases": (True, []),
    "ragged_csv": (True, [W("Participants", None, None,
                            "column O has values but no header; it is ignored")]),
}


@pytest.fixture(scope="module")
def results(uploads) -> dict[str, ValidationResult]:
    return {name: validate_upload(path) for name, path in uploads.items()}


def test_every_upload_has_an_expectation(uploads):
    assert sorted(uploads) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_problems(results, name):
    ok, problems = EXPECTED[name]
    result = results[name]
    assert result.problems == problems
    assert result.ok is ok


def test_valid_upload_counts_and_summary(results):
    result = results["valid"]
    assert (result.n_rows, result.n_distinct_people) == (70, 70)
    assert result.summary() == "valid.xlsx: OK - 70 rows, 70 distinct people, 0 warnings"
    assert result.problem_lines() == []
    assert result.intervention == INTERVENTION


def test_summaries(results):
    assert results["bad_pnc"].summary() == "bad_pnc.xlsx: OK - 70 rows, 70 distinct people, 2 warnings"
    assert results["dob_future"].summary() == "dob_future.xlsx: NOT VALID - 4 errors, 0 warnings"
    assert results["window"].summary() == "window.xlsx: NOT VALID - 2 errors, 3 warnings"
    assert results["missing"].summary() == "missing.xlsx: NOT VALID - 1 error, 0 warnings"
    assert results["exact_duplicate"].summary() == (
        "exact_duplicate.xlsx: OK - 71 rows, 70 distinct people, 1 warning")


def test_problem_lines_name_sheet_row_and_column_letter(uploads, results):
    assert results["bad_date"].problem_lines() == [
        "error: sheet Participants, row 14, column date_of_birth (D): " + NOT_A_DATE]
    assert results["window"].problem_lines() == [
        "error: sheet Participants, row 3, column intervention_start (H): date is before 1990",
        "error: sheet Participants, row 4, column intervention_start (H): date is in the future",
        "warning: sheet Participants: " + WINDOW_COUNT,
        "warning: sheet Participants, row 4, column intervention_end (I): date is in the future",
        "warning: sheet Participants, row 12, column intervention_start (H): " + WINDOW_WARNING,
    ]
    assert results["empty"].problem_lines() == [
        f"error: file {uploads['empty']}: the file is empty (0 bytes)"]
    assert results["no_event_columns_csv"].problem_lines()[0].startswith(
        "error: CSV: no event date column")
    assert results["extra_column"].problem_lines() == [
        "warning: sheet Participants, column Q: the header is not a template column name; the "
        "column is ignored"]


def test_errors_come_first_then_row_order(uploads, tmp_path):
    frame = people()
    frame.loc[30, "pnc_id"] = "bad"
    frame.loc[40, "sex"] = "?"
    frame.loc[2, "setting"] = "elsewhere"
    result = validate_upload(_write(tmp_path / "mixed.xlsx", frame))
    assert [(p.severity, p.row, p.column) for p in result.problems] == [
        ("error", 4, "setting"), ("error", 42, "sex"), ("warning", 32, "pnc_id")]


def test_blank_rows_keep_row_numbers(results):
    parsed = results["blank_rows"].participants
    assert results["blank_rows"].n_rows == 70
    assert list(parsed["row"]) == list(range(2, 12)) + list(range(15, 75))
    assert parsed.loc[10, "surname"] == "Testname10"


def test_text_dates_in_csv_parse_day_first(results):
    result = results["text_dates_csv"]
    parsed = result.participants
    assert (result.kind, result.n_rows, result.n_distinct_people) == ("csv", 70, 70)
    assert list(parsed.loc[:4, "date_of_birth"]) == [
        pd.Timestamp(1975, 1, 1), pd.Timestamp(1976, 2, 2), pd.Timestamp(1977, 3, 3),
        pd.Timestamp(1978, 4, 4), pd.Timestamp(1979, 5, 5)]
    expected = [pd.Timestamp(d) for d in people()["date_of_birth"]]
    assert list(parsed["date_of_birth"]) == expected
    assert list(parsed["intervention_start"]) == [pd.Timestamp(d) for d in people()["intervention_start"]]
    assert result.intervention == {}


def test_cp1252_csv_keeps_accents(results):
    parsed = results["cp1252_csv"].participants
    assert (parsed.loc[0, "surname"], parsed.loc[0, "forename"]) == ("Ó'Testnamé", "Zoë")


def test_serial_numbers_are_excel_dates(results):
    parsed = results["serial_dates"].participants
    assert parsed.loc[0, "intervention_start"] == pd.Timestamp(2008, 1, 1)
    assert parsed.loc[13, "intervention_start"] == pd.Timestamp(2008, 2, 14)


def test_choices_and_identifiers_are_normalised(results):
    parsed = results["choice_aliases"].participants
    assert list(parsed.loc[:1, "sex"]) == ["M", "F"]
    assert list(parsed.loc[:1, "completed"]) == ["yes", "no"]
    assert list(parsed.loc[:1, "referral_route"]) == ["prison staff", "other agency"]
    assert parsed.loc[0, "setting"] == "community"
    assert parsed.loc[0, "pnc_id"] == format_pnc(1995, 100_000)
    assert parsed.loc[0, "prison_number"] == "B2000TS"


def test_invalid_identifiers_become_none(results):
    parsed = results["bad_pnc"].participants
    assert parsed.loc[3, "pnc_id"] is None and parsed.loc[4, "pnc_id"] is None
    assert parsed.loc[5, "pnc_id"] == format_pnc(2000, 100_185)


def test_custom_window_is_used(uploads):
    """A later window start (2008-06-01): the rows starting before it are warned about, each by
    its setting (the upload's rows alternate custody, community)."""
    window = DataWindow(start=dt.date(2008, 6, 1), extract_date=dt.date(2014, 6, 30))
    result = validate_upload(uploads["valid"], window=window)
    frame = people()
    early = [k for k, d in enumerate(frame["intervention_start"]) if d.date() < dt.date(2008, 6, 1)]
    assert len(early) == 30
    cannot = ("more than 90 days before the data window (2008-06-01 to 2012-12-30): a court "
              "order running on this date, or starting within 90 days after it, cannot be "
              "followed up; check the date and the setting; if both are right, leave the row as "
              "it is (the person will be counted as outside the data window)")
    may_not = ("before the data window (2008-06-01 to 2012-12-30): this person can be followed "
               "up only if the release or court order that starts the follow-up comes on or "
               "after 2008-06-01; check the date; if it is right, leave the row as it is")
    # community and more than 90 days early (before 2008-03-03): cannot; the rest: may not
    expected = {ROW_OF(k): cannot if frame.loc[k, "setting"] == "community"
                and frame.loc[k, "intervention_start"].date() < dt.date(2008, 3, 3) else may_not
                for k in early}
    assert sum(m == cannot for m in expected.values()) == 6
    assert result.problems == [
        W("Participants", None, None, "rows that cannot be followed up: 6 of 70 (their dates "
          "put the index event outside the data window, 2008-06-01 to 2012-12-30); each is "
          "listed below"),
        W("Participants", None, None, "rows that may not have a one-year follow-up: 24 of 70 "
          "(their dates may put the index event outside the data window, 2008-06-01 to "
          "2012-12-30); each is listed below"),
    ] + [W("Participants", row, "intervention_start", message)
         for row, message in expected.items()]
    assert result.ok


@pytest.mark.parametrize("text, expected", [
    ("03/11/2009", dt.date(2009, 11, 3)),
    ("3/11/2009", dt.date(2009, 11, 3)),
    ("03-11-2009", dt.date(2009, 11, 3)),
    ("03.11.2009", dt.date(2009, 11, 3)),
    ("03/11/09", dt.date(2009, 11, 3)),
    ("03/11/85", dt.date(1985, 11, 3)),            # 2085 would be in the future
    ("2009-11-03", dt.date(2009, 11, 3)),
    ("3 Nov 2009", dt.date(2009, 11, 3)),
    ("3 November 2009", dt.date(2009, 11, 3)),
    ("03-Nov-09", dt.date(2009, 11, 3)),
    ("  03/11/2009 00:00:00 ", dt.date(2009, 11, 3)),
    ("2009-11-03T00:00:00", dt.date(2009, 11, 3)),
    ("12/31/2009", None),                          # US order is never read
    ("31/02/2009", None),
    ("03/11/2009 14:30:00", None),
    ("2009/13/01", None),
    ("3 Novvember 2009", None),
    ("yesterday", None),
    ("", None),
])
def test_parse_date_text(text, expected):
    assert parse_date(text) == expected


def test_parse_date_cells():
    assert parse_date(dt.datetime(2009, 11, 3, 15, 0)) == dt.date(2009, 11, 3)
    assert parse_date(pd.Timestamp("2009-11-03")) == dt.date(2009, 11, 3)
    assert parse_date(40120) == dt.date(2009, 11, 3)
    assert parse_date(40120.75) == dt.date(2009, 11, 3)
    assert parse_date(0) is None and parse_date(80001) is None
    assert parse_date(True) is None and parse_date(None) is None and parse_date(pd.NaT) is None
    assert parse_date("03/11/30", today=dt.date(2014, 1, 1)) == dt.date(1930, 11, 3)
    assert parse_date("03/11/13", today=dt.date(2014, 1, 1)) == dt.date(2013, 11, 3)


def test_unreadable_file(uploads, tmp_path):
    path = _write(tmp_path / "unreadable.xlsx", people())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read a mode-000 file (root)")
        result = validate_upload(path)
    finally:
        path.chmod(0o600)
    assert result.problems == [P("file", None, None, "the file cannot be read: permission "
                                 "denied (it may be open or locked by another program)")]


def test_permission_error_while_reading(uploads, monkeypatch):
    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = validate_upload(uploads["valid"])
    assert result.problems == [P("file", None, None, "the file cannot be read: permission "
                                 "denied (it may be open or locked by another program)")]
    assert not result.ok and result.participants is None


def test_unexpected_failure_becomes_a_problem(uploads, monkeypatch):
    import jdl.upload.validate as validate_module

    def explode(*args, **kwargs):
        raise RuntimeError("Testname1 Testfore1 01/02/1976")

    monkeypatch.setattr(validate_module, "_check_participants", explode)
    result = validate_upload(uploads["valid"])
    assert result.problems == [P("file", None, None, "the file could not be checked "
                                 "(RuntimeError); please send it to the Justice Data Lab team")]


def test_cli_broken_file(uploads):
    runner = CliRunner()
    outcome = runner.invoke(main, ["validate", str(uploads["window"])])
    assert outcome.exit_code == 1
    lines = outcome.output.splitlines()
    assert lines[-1] == "window.xlsx: NOT VALID - 2 errors, 3 warnings"
    assert len(lines) == 6
    assert lines[2] == "warning: sheet Participants: " + WINDOW_COUNT
    for line in lines[:2] + lines[3:-1]:
        assert line.startswith(("error: sheet Participants, row ", "warning: sheet Participants, row "))
        assert ", column intervention_" in line


def test_cli_valid_file(uploads):
    outcome = CliRunner().invoke(main, ["validate", str(uploads["valid"])])
    assert outcome.exit_code == 0
    assert outcome.output == "valid.xlsx: OK - 70 rows, 70 distinct people, 0 warnings\n"


def _personal_strings() -> set[str]:
    """Every name, date of birth (in many formats), PNC id, prison number and reference used."""
    frame = people()
    strings = set()
    for column in ("surname", "forename", "participant_ref", "pnc_id", "prison_number"):
        strings.update(str(v) for v in frame[column])
    strings.update({"Ó'Testnamé", "Zoë", "TESTFORE3", "Othername", "PNC unknown", "A123BC",
                    "Testname", "Testfore"})
    strings.update(_bad_pnc(k) for k in range(70))
    strings.update(format_pnc(1995, 100_000)[2:].lower() for _ in range(1))
    for column in ("date_of_birth", "intervention_start", "intervention_end"):
        for day in frame[column]:
            strings.update({
                day.strftime("%d/%m/%Y"), day.strftime("%Y-%m-%d"), day.strftime("%d-%m-%Y"),
                day.strftime("%d.%m.%Y"), day.strftime("%d %b %Y"), day.strftime("%d %B %Y"),
                f"{day.day}/{day.month}/{day.year}", day.strftime("%d/%m/%y"),
                str(day), f"{day.day} {day.strftime('%b')} {day.year}",
            })
    strings.update({"1 Jan 1975", "2 February 1976", "4.4.1978", "05-05-79", "12/31/2008",
                    "sometime in 1980", f"{NEXT_YEAR}-01-01"})
    return strings


def test_no_personal_data_in_any_output(uploads, results):
    personal = _personal_strings()
    runner = CliRunner()
    for name, path in uploads.items():
        result = results[name]
        outcome = runner.invoke(main, ["validate", str(path)])
        texts = {
            "cli": outcome.output,
            "repr": repr(result),
            "messages": "\n".join(p.message for p in result.problems),
            "lines": "\n".join(result.problem_lines()) + result.summary(),
            "problem reprs": repr(result.problems),
        }
        assert outcome.exception is None or isinstance(outcome.exception, SystemExit), name
        for where, text in texts.items():
            leaked = sorted(s for s in personal if s in text)
            assert leaked == [], f"{name}: {where} shows personal data"
    assert "participants=" not in repr(results["valid"])
    assert "intervention=" not in repr(results["valid"])


def test_validating_changes_nothing_on_disk(uploads):
    folder = uploads["valid"].parent

    def snapshot():
        return {p.name: (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
                for p in sorted(folder.iterdir())}

    before = snapshot()
    for name in ("valid", "locked", "bad_date", "window", "text_dates_csv", "cp1252_csv",
                 "old_xls", "empty", "text_renamed", "no_intervention_sheet", "missing"):
        validate_upload(uploads[name])
    assert snapshot() == before


def test_csv_line_numbers_follow_the_file(tmp_path):
    frame = people()
    frame.loc[3, "delivery_location"] = "line one\nline two"   # one record over two lines
    frame.loc[20, "sex"] = "Unknown"
    lines = frame.to_csv(index=False, date_format="%d/%m/%Y").split("\n")
    lines[10:10] = ["", ",,,"]                                   # two empty lines
    path = tmp_path / "lines.csv"
    path.write_text("\n".join(lines))
    result = validate_upload(path)
    # record k=20 is on line 2 + 20, plus one for the two-line record, plus two empty lines
    assert result.problems == [P("Participants", 25, "sex",
                                 "not an allowed value: use Male or Female (or M or F)")]
    assert result.problem_lines() == [
        "error: CSV, line 25, column sex (E): not an allowed value: use Male or Female (or M or F)"]
    assert list(result.participants["row"][:10]) == [2, 3, 4, 5, 7, 8, 9, 10, 13, 14]
    assert result.participants.loc[3, "delivery_location"] == "line one\nline two"


def test_fast_enough_for_5000_rows(tmp_path):
    import time

    frame = pd.concat([people()] * 72, ignore_index=True).iloc[:5000]
    frame["surname"] = [f"Testname{i}" for i in range(5000)]
    frame["pnc_id"] = None
    path = _write(tmp_path / "big.xlsx", frame)
    started = time.perf_counter()
    result = validate_upload(path)
    assert time.perf_counter() - started < 15
    assert result.ok and result.n_rows == 5000 and result.n_distinct_people == 5000
    assert [p.message for p in result.problems][:1] == []


def test_every_header_form_is_read(tmp_path):
    frame = people()
    path = _write(tmp_path / "headers.xlsx", frame)

    def rename(book):
        sheet = book["Participants"]
        sheet["D1"] = "Date of Birth"
        sheet["H1"] = " intervention-start "
    result = validate_upload(_edit(path, rename))
    assert result.problems == []
    assert list(result.participants.columns) == ["row"] + list(COLUMN_NAMES)


def test_pnc_letter_fixture_is_really_wrong():
    for k in range(70):
        pnc = _bad_pnc(k)
        assert pnc_check_letter(int(pnc[:4]), int(pnc[5:12])) != pnc[-1]


# --------------------------------------------------------------------------------------------
# The data window and the one-year follow-up (issue 12 item 4): where each row's dates put its
# index event, against the default window 2002-01-01 to 2012-12-30.

_OUTSIDE = "(the person will be counted as outside the data window)"
FOLLOW_UP = {
    "index_outside": (
        "outside the data window (2002-01-01 to 2012-12-30): an index event on this date cannot "
        "be followed up; check the date; if it is right, leave the row as it is " + _OUTSIDE),
    "conviction_after": (
        "after the data window (2002-01-01 to 2012-12-30): the release or court order that "
        "follows this conviction cannot be followed up; check the date; if it is right, leave "
        "the row as it is " + _OUTSIDE),
    "custody_start_after": WINDOW_WARNING,
    "community_start_early": (
        "more than 90 days before the data window (2002-01-01 to 2012-12-30): a court order "
        "running on this date, or starting within 90 days after it, cannot be followed up; "
        "check the date and the setting; if both are right, leave the row as it is " + _OUTSIDE),
    "before": (
        "before the data window (2002-01-01 to 2012-12-30): this person can be followed up only "
        "if the release or court order that starts the follow-up comes on or after 2002-01-01; "
        "check the date; if it is right, leave the row as it is"),
    "start_after": (
        "after the data window (2002-01-01 to 2012-12-30): this person can be followed up only "
        "if a court order begun by 2012-12-30 was still running on this date; check the date; "
        "if it is right, leave the row as it is"),
    "custody_near_end": (
        "the one-year follow-up may not be possible: this date is less than 182 days before the "
        "end of the data window, so the release from custody that follows is likely to come "
        "after it; the data can follow up index events from 2002-01-01 up to 2012-12-30; check "
        "the date and the setting; if both are right, leave the row as it is"),
    "community_near_end": (
        "the one-year follow-up may not be possible: this date is less than 90 days before the "
        "end of the data window, so unless a court order was already running on it, the order "
        "that starts the follow-up may start after the window; the data can follow up index "
        "events from 2002-01-01 up to 2012-12-30; check the date and the setting; if both are "
        "right, leave the row as it is"),
    "custody_end_after": (
        "the one-year follow-up may not be possible: the service ended after the end of the data "
        "window, and a release from custody usually comes after a service in prison ends; the "
        "data can follow up index events from 2002-01-01 up to 2012-12-30; check the date and "
        "the setting; if both are right, leave the row as it is"),
}
CANNOT_RULES = {"index_outside", "conviction_after", "custody_start_after",
                "community_start_early"}
D = dt.datetime
FUTURE_END = D(NEXT_YEAR, 1, 1)

# id: (row setting, intervention_start, intervention_end, index_date, conviction_date,
#      expected (column, rule) or None). Window end 2012-12-30: minus 182 days is 2012-07-01,
# minus 90 days 2012-10-01; window start 2002-01-01 minus 90 days is 2001-10-03.
FOLLOW_UP_CASES = {
    # custody, intervention_start deciding
    "custody start mid-window": ("custody", D(2010, 6, 15), None, None, None, None),
    "custody start end-182": ("custody", D(2012, 7, 1), None, None, None, None),
    "custody start end-181": ("custody", D(2012, 7, 2), None, None, None,
                              ("intervention_start", "custody_near_end")),
    "custody start at end": ("custody", D(2012, 12, 30), None, None, None,
                             ("intervention_start", "custody_near_end")),
    "custody start end+1": ("custody", D(2012, 12, 31), None, None, None,
                            ("intervention_start", "custody_start_after")),
    "custody start start-1": ("custody", D(2001, 12, 31), None, None, None,
                              ("intervention_start", "before")),
    "custody start at start": ("custody", D(2002, 1, 1), None, None, None, None),
    "custody start years before": ("custody", D(1995, 3, 1), None, None, None,
                                   ("intervention_start", "before")),
    # custody, intervention_end
    "custody end at end": ("custody", D(2010, 6, 15), D(2012, 12, 30), None, None, None),
    "custody end end+1": ("custody", D(2010, 6, 15), D(2012, 12, 31), None, None,
                          ("intervention_end", "custody_end_after")),
    "custody start end-182, end end+1": ("custody", D(2012, 7, 1), D(2012, 12, 31), None, None,
                                         ("intervention_end", "custody_end_after")),
    "custody start end-181, end end+1": ("custody", D(2012, 7, 2), D(2013, 1, 31), None, None,
                                         ("intervention_start", "custody_near_end")),
    "custody start and end after": ("custody", D(2013, 1, 2), D(2013, 2, 1), None, None,
                                    ("intervention_start", "custody_start_after")),
    "custody end in the future": ("custody", D(2010, 6, 15), FUTURE_END, None, None,
                                  ("intervention_end", "future")),
    # community, intervention_start deciding (intervention_end never matters)
    "community start mid, end after": ("community", D(2010, 6, 15), D(2013, 6, 1), None, None,
                                       None),
    "community start end-90": ("community", D(2012, 10, 1), None, None, None, None),
    "community start end-89": ("community", D(2012, 10, 2), None, None, None,
                               ("intervention_start", "community_near_end")),
    "community start at end": ("community", D(2012, 12, 30), D(2013, 3, 1), None, None,
                               ("intervention_start", "community_near_end")),
    "community start end+1": ("community", D(2012, 12, 31), None, None, None,
                              ("intervention_start", "start_after")),
    "community start start-91": ("community", D(2001, 10, 2), None, None, None,
                                 ("intervention_start", "community_start_early")),
    "community start start-90": ("community", D(2001, 10, 3), None, None, None,
                                 ("intervention_start", "before")),
    "community start start-1": ("community", D(2001, 12, 31), None, None, None,
                                ("intervention_start", "before")),
    "community start at start": ("community", D(2002, 1, 1), None, None, None, None),
    # setting unknown (no row setting, the Intervention sheet says "both")
    "unknown start at end": (None, D(2012, 12, 30), None, None, None, None),
    "unknown start end+1": (None, D(2012, 12, 31), None, None, None,
                            ("intervention_start", "start_after")),
    "unknown start start-91": (None, D(2001, 10, 2), None, None, None,
                               ("intervention_start", "before")),
    "unknown end after": (None, D(2010, 6, 15), D(2013, 1, 1), None, None, None),
    # index_date deciding
    "index at end, custody start end+1": ("custody", D(2012, 12, 31), None, D(2012, 12, 30),
                                          None, None),
    "index end+1": ("community", D(2010, 6, 15), None, D(2012, 12, 31), None,
                    ("index_date", "index_outside")),
    "index start-1": (None, None, None, D(2001, 12, 31), None, ("index_date", "index_outside")),
    "index at start": ("custody", None, None, D(2002, 1, 1), None, None),
    "index near end, custody": ("custody", None, None, D(2012, 12, 1), None, None),
    # conviction_date deciding
    "conviction end+1": ("custody", None, None, None, D(2012, 12, 31),
                         ("conviction_date", "conviction_after")),
    "conviction start-1": ("community", None, None, None, D(2001, 12, 31),
                           ("conviction_date", "before")),
    "conviction custody end-181": ("custody", None, None, None, D(2012, 7, 2),
                                   ("conviction_date", "custody_near_end")),
    "conviction custody end-182": ("custody", None, None, None, D(2012, 7, 1), None),
    "conviction community at end": ("community", None, None, None, D(2012, 12, 30), None),
    "conviction custody, end after": ("custody", None, D(2013, 1, 1), None, D(2010, 6, 1), None),
}
FOLLOW_UP_ROWS = {name: ROW_OF(k) for k, name in enumerate(FOLLOW_UP_CASES)}
BOTH_SETTINGS = {**INTERVENTION, "setting": "custody, community, or both"}


def _follow_up_frame() -> pd.DataFrame:
    frame = people()
    frame["index_date"] = None
    frame["conviction_date"] = None
    for k, case in enumerate(FOLLOW_UP_CASES.values()):
        for column, value in zip(("setting", "intervention_start", "intervention_end",
                                  "index_date", "conviction_date"), case[:5]):
            frame.loc[k, column] = value
    return frame.astype(object)


def _expected_follow_up() -> list[Problem]:
    rows, counts = [], {"cannot": 0, "may not": 0}
    for name, case in FOLLOW_UP_CASES.items():
        if case[5] is None:
            continue
        column, rule = case[5]
        if rule == "future":
            rows.append(W("Participants", FOLLOW_UP_ROWS[name], column, "date is in the future"))
            continue
        counts["cannot" if rule in CANNOT_RULES else "may not"] += 1
        rows.append(W("Participants", FOLLOW_UP_ROWS[name], column, FOLLOW_UP[rule]))
    assert counts == {"cannot": 6, "may not": 16}
    return [
        W("Participants", None, None, "rows that cannot be followed up: 6 of 70 (their dates put "
          "the index event outside the data window, 2002-01-01 to 2012-12-30); each is listed "
          "below"),
        W("Participants", None, None, "rows that may not have a one-year follow-up: 16 of 70 "
          "(their dates may put the index event outside the data window, 2002-01-01 to "
          "2012-12-30); each is listed below"),
    ] + rows


@pytest.fixture(scope="module")
def follow_up_upload(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("follow_up") / "follow_up.xlsx", _follow_up_frame(),
                  BOTH_SETTINGS)


@pytest.fixture(scope="module")
def follow_up_result(follow_up_upload) -> ValidationResult:
    return validate_upload(follow_up_upload)


def test_follow_up_warnings_exactly(follow_up_result):
    assert follow_up_result.problems == _expected_follow_up()
    # warnings only: the upload is valid and nothing blocks the request
    assert follow_up_result.ok and follow_up_result.blocking_errors == []
    assert follow_up_result.summary() == (
        "follow_up.xlsx: OK - 70 rows, 70 distinct people, 25 warnings")


@pytest.mark.parametrize("name", list(FOLLOW_UP_CASES))
def test_follow_up_case(follow_up_result, name):
    row = FOLLOW_UP_ROWS[name]
    got = [(p.column, p.message) for p in follow_up_result.problems if p.row == row]
    expected = FOLLOW_UP_CASES[name][5]
    if expected is None:
        assert got == []
    elif expected[1] == "future":
        assert got == [(expected[0], "date is in the future")]
    else:
        assert got == [(expected[0], FOLLOW_UP[expected[1]])]


def test_follow_up_problem_lines(follow_up_result):
    lines = follow_up_result.problem_lines()
    assert lines[:2] == [
        "warning: sheet Participants: rows that cannot be followed up: 6 of 70 (their dates put "
        "the index event outside the data window, 2002-01-01 to 2012-12-30); each is listed "
        "below",
        "warning: sheet Participants: rows that may not have a one-year follow-up: 16 of 70 "
        "(their dates may put the index event outside the data window, 2002-01-01 to "
        "2012-12-30); each is listed below"]
    by_row = {int(line.split(", row ")[1].split(",")[0]): line for line in lines[2:]}
    assert by_row[FOLLOW_UP_ROWS["custody start end-181"]] == (
        "warning: sheet Participants, row 4, column intervention_start (H): "
        + FOLLOW_UP["custody_near_end"])
    assert by_row[FOLLOW_UP_ROWS["custody end end+1"]] == (
        "warning: sheet Participants, row 11, column intervention_end (I): "
        + FOLLOW_UP["custody_end_after"])
    assert by_row[FOLLOW_UP_ROWS["index end+1"]] == (
        "warning: sheet Participants, row 30, column index_date (J): " + FOLLOW_UP["index_outside"])
    assert by_row[FOLLOW_UP_ROWS["conviction end+1"]] == (
        "warning: sheet Participants, row 34, column conviction_date (K): "
        + FOLLOW_UP["conviction_after"])


def test_follow_up_messages_never_show_the_dates(follow_up_upload, follow_up_result):
    """No message, line or CLI output holds a date of the upload in any common form. The
    window's own bounds (2002-01-01, 2012-12-30) are left out of the search: every message names
    the window, whatever the cell holds."""
    bounds = {dt.date(2002, 1, 1), dt.date(2012, 12, 30)}
    days = {value.date() for case in FOLLOW_UP_CASES.values() for value in case[1:5]
            if value is not None} - bounds
    forms = set()
    for day in days:
        forms.update({day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%d-%m-%Y"),
                      day.strftime("%d.%m.%Y"), day.strftime("%d/%m/%y"), day.strftime("%Y/%m/%d"),
                      f"{day.day}/{day.month}/{day.year}", day.strftime("%d %b %Y"),
                      day.strftime("%d %B %Y"), f"{day.day} {day.strftime('%b')} {day.year}",
                      str((day - dt.date(1899, 12, 30)).days)})   # the Excel serial number
    outcome = CliRunner().invoke(main, ["validate", str(follow_up_upload)])
    texts = "\n".join([outcome.output, *follow_up_result.problem_lines(),
                       *(p.message for p in follow_up_result.problems),
                       repr(follow_up_result.problems)])
    assert sorted(f for f in forms if f in texts) == []


def test_cli_prints_follow_up_warnings_and_exits_0(follow_up_upload, follow_up_result):
    outcome = CliRunner().invoke(main, ["validate", str(follow_up_upload)])
    assert outcome.exit_code == 0
    assert outcome.output.splitlines() == follow_up_result.problem_lines() + [
        "follow_up.xlsx: OK - 70 rows, 70 distinct people, 25 warnings"]


def test_cli_names_the_national_datas_window(tmp_path):
    """--national: the window comes from the national data's manifest, and the messages say so."""
    national = tmp_path / "national"
    national.mkdir()
    (national / "manifest.json").write_text(
        '{"window_start": "2005-01-01", "extract_date": "2013-06-30"}')   # window end 2011-12-30
    frame = people()
    frame.loc[0, "intervention_start"], frame.loc[0, "intervention_end"] = D(2011, 12, 1), None
    path = _write(tmp_path / "late.xlsx", frame)    # row 0 is custody
    outcome = CliRunner().invoke(main, ["validate", str(path), "--national", str(national)])
    assert outcome.exit_code == 0
    assert outcome.output.splitlines() == [
        "warning: sheet Participants: rows that may not have a one-year follow-up: 1 of 70 "
        "(their dates may put the index event outside the data window, 2005-01-01 to "
        "2011-12-30); each is listed below",
        "warning: sheet Participants, row 2, column intervention_start (H): the one-year "
        "follow-up may not be possible: this date is less than 182 days before the end of the "
        "data window, so the release from custody that follows is likely to come after it; the "
        "data can follow up index events from 2005-01-01 up to 2011-12-30; check the date and "
        "the setting; if both are right, leave the row as it is",
        "late.xlsx: OK - 70 rows, 70 distinct people, 2 warnings"]


@pytest.fixture(scope="module")
def setting_uploads(tmp_path_factory) -> dict[str, Path]:
    """Rows 0-1 have no setting and start the day after the window; row 2 is community, row 3
    custody, both starting the day after the window too."""
    folder = tmp_path_factory.mktemp("settings")
    frame = people()
    frame.loc[[0, 1], "setting"] = None
    frame.loc[2, "setting"], frame.loc[3, "setting"] = "community", "custody"
    for k in range(4):
        frame.loc[k, "intervention_start"], frame.loc[k, "intervention_end"] = D(2012, 12, 31), None
    return {answer: _write(folder / f"setting{k}.xlsx", frame, {**INTERVENTION, "setting": answer})
            for k, answer in enumerate(("custody", "Community", "custody, community, or both"))}


@pytest.mark.parametrize("answer, argument, rows_0_1", [
    ("custody", None, "custody_start_after"),            # the Intervention sheet's setting
    ("Community", None, "start_after"),                 # (matched case-insensitively)
    ("custody, community, or both", None, "start_after"),  # not one setting: unknown
    ("custody, community, or both", "custody", "custody_start_after"),  # the request's setting
    ("custody", "community", "start_after"),            # the request's beats the sheet's
])
def test_request_setting_fills_rows_without_one(setting_uploads, answer, argument, rows_0_1):
    result = validate_upload(setting_uploads[answer], setting=argument)
    rows = [(p.row, p.column, p.message) for p in result.problems if p.row is not None]
    assert rows == [(2, "intervention_start", FOLLOW_UP[rows_0_1]),
                    (3, "intervention_start", FOLLOW_UP[rows_0_1]),
                    (4, "intervention_start", FOLLOW_UP["start_after"]),   # its own setting wins
                    (5, "intervention_start", FOLLOW_UP["custody_start_after"])]
    assert result.ok


def test_setting_argument_is_checked(uploads):
    with pytest.raises(ValueError, match="setting must be one of custody, community or None"):
        validate_upload(uploads["valid"], setting="prison")


def test_lookahead_is_the_index_events_default():
    from jdl.cohort.index_events import DEFAULT_LOOKAHEAD_DAYS
    from jdl.upload.validate import LOOKAHEAD_DAYS

    assert LOOKAHEAD_DAYS == DEFAULT_LOOKAHEAD_DAYS == 90


def test_follow_up_on_a_csv_names_lines(tmp_path):
    frame = people()
    frame.loc[5, "intervention_start"], frame.loc[5, "intervention_end"] = D(2012, 11, 15), None
    path = tmp_path / "late.csv"
    frame.to_csv(path, index=False, date_format="%d/%m/%Y")
    result = validate_upload(path)     # row 5 is community; a CSV has no Intervention sheet
    assert result.problem_lines() == [
        "warning: CSV: rows that may not have a one-year follow-up: 1 of 70 (their dates may put "
        "the index event outside the data window, 2002-01-01 to 2012-12-30); each is listed "
        "below",
        "warning: CSV, line 7, column intervention_start (H): " + FOLLOW_UP["community_near_end"]]


def test_cli_setting_option_reaches_the_follow_up_rules(tmp_path):
    """`jdl validate --setting custody`: a row with no setting of its own, starting less than six
    months before the window ends, draws the custody warning; with community it does not."""
    from click.testing import CliRunner

    from jdl.cli import main
    from jdl.upload.template import write_filled_template

    from fake_uploads import INTERVENTION, people as fake_people

    rows = fake_people(60).drop(columns=["setting"], errors="ignore")
    rows["intervention_start"] = dt.datetime(2012, 8, 1)
    rows["intervention_end"] = None
    path = write_filled_template(tmp_path / "late.xlsx", rows, {**INTERVENTION, "setting": "both"})
    custody = CliRunner().invoke(main, ["validate", str(path), "--setting", "custody"])
    community = CliRunner().invoke(main, ["validate", str(path), "--setting", "community"])
    assert custody.exit_code == 0 and community.exit_code == 0, custody.output
    assert "rows that may not have a one-year follow-up: 60 of 60" in custody.output
    assert "release from custody that follows is likely to come after it" in custody.output
    assert "one-year follow-up" not in community.output
