"""The Data Upload Template writer (jdl.upload.template)."""

import datetime as dt
import os

import numpy as np
import openpyxl
import pandas as pd
import pytest

from jdl.upload.columns import (COLUMN_NAMES, COMPLETED_CHOICES, INTERVENTION_FIELDS, PARTICIPANT_COLUMNS,
                                REFERRAL_ROUTE_CHOICES, SETTING_CHOICES, SEX_CHOICES)
from jdl.upload.identifiers import format_pnc
from jdl.upload.template import write_filled_template, write_template
from jdl.upload.validate import validate_upload

from fake_uploads import INTERVENTION
from fake_uploads import people as fake_people



@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "nested" / "folder" / "template.xlsx"
    written = write_template(path)
    assert written == path
    return openpyxl.load_workbook(path)


def test_three_sheets_in_order(blank):
    assert blank.sheetnames == ["Participants", "Intervention", "Instructions"]


def test_header_is_the_template_columns_in_order(blank):
    sheet = blank["Participants"]
    header = [cell.value for cell in sheet[1]]
    assert header == list(COLUMN_NAMES)
    assert len(header) == 16
    assert sheet.max_row == 1  # no data rows


def test_every_header_has_its_description_as_a_comment(blank):
    sheet = blank["Participants"]
    for position, column in enumerate(PARTICIPANT_COLUMNS, start=1):
        comment = sheet.cell(row=1, column=position).comment
        assert comment is not None, column.name
        assert comment.text.startswith(column.description)


def test_required_headers_bold_others_not(blank):
    sheet = blank["Participants"]
    bold = [cell.value for cell in sheet[1] if cell.font.b]
    assert bold == ["surname", "forename", "date_of_birth", "sex"]


def test_frozen_header_widths_and_date_formats(blank):
    sheet = blank["Participants"]
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["D"].number_format == "DD/MM/YYYY"   # date_of_birth
    assert sheet.column_dimensions["H"].number_format == "DD/MM/YYYY"   # intervention_start
    assert sheet.column_dimensions["B"].number_format == "General"      # surname
    assert sheet.column_dimensions["D"].width == 18
    assert sheet.column_dimensions["N"].width == len("delivery_location") + 4


def test_drop_down_lists(blank):
    sheet = blank["Participants"]
    lists = {str(v.sqref): (v.type, v.formula1) for v in sheet.data_validations.dataValidation}
    assert lists == {
        "E2:E5001": ("list", '"' + ",".join(SEX_CHOICES) + '"'),
        "L2:L5001": ("list", '"' + ",".join(SETTING_CHOICES) + '"'),
        "M2:M5001": ("list", '"' + ",".join(REFERRAL_ROUTE_CHOICES) + '"'),
        "O2:O5001": ("list", '"' + ",".join(COMPLETED_CHOICES) + '"'),
    }
    assert lists["E2:E5001"][1] == '"Male,Female"'
    assert lists["M2:M5001"][1] == '"self,prison staff,probation,court,other agency"'


def test_intervention_form_layout(blank):
    sheet = blank["Intervention"]
    assert [sheet["A1"].value, sheet["B1"].value] == ["field", "answer"]
    labels = [sheet.cell(row=r, column=1).value for r in range(2, 2 + len(INTERVENTION_FIELDS))]
    assert labels == [label for _key, label in INTERVENTION_FIELDS]
    assert all(sheet.cell(row=r, column=2).value is None for r in range(2, 10))
    assert sheet.max_row == 9


def test_instructions_cover_the_essentials(blank):
    text = "\n".join(str(c.value) for c in blank["Instructions"]["A"] if c.value)
    assert "at least 60 distinct people" in text
    assert "DD/MM/YYYY" in text
    assert "Required (bold header on a yellow background): surname, forename, date_of_birth, sex." in text
    assert "They never appear in any report" in text
    assert "only to link people" in text


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"old content")
    write_template(path)
    assert openpyxl.load_workbook(path).sheetnames[0] == "Participants"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.xlsx"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"old content")

    def broken_save(self, filename):
        with open(filename, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", broken_save)
    with pytest.raises(OSError):
        write_template(path)
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.xlsx"]


def test_filled_template_round_trips_through_validation(tmp_path):
    people = fake_people(70)
    people["date_of_birth"] = people["date_of_birth"].astype(object)
    # row 0: a text date; row 1: a date object; row 2: a text ISO date; row 3: missing values
    people.loc[0, "date_of_birth"] = "03/11/1980"
    people.loc[1, "date_of_birth"] = dt.date(1981, 12, 25)
    people.loc[2, "intervention_start"] = pd.NaT
    people["intervention_start"] = people["intervention_start"].astype(object)
    people.loc[2, "intervention_start"] = "2008-02-29"
    people.loc[3, "delivery_location"] = np.nan
    people.loc[3, "sub_group"] = None
    people["not_a_template_column"] = "ignored"
    path = write_filled_template(tmp_path / "filled.xlsx", people, INTERVENTION)

    book = openpyxl.load_workbook(path)
    sheet = book["Participants"]
    assert [c.value for c in sheet[1]] == list(COLUMN_NAMES)
    assert sheet.max_row == 71
    assert sheet["D2"].value == "03/11/1980" and sheet["D2"].data_type == "s"   # text stays text
    assert sheet["D3"].value == dt.datetime(1981, 12, 25) and sheet["D3"].is_date
    assert sheet["D3"].number_format == "DD/MM/YYYY"
    assert sheet["D4"].value == dt.datetime(1977, 3, 3) and sheet["D4"].is_date
    assert sheet["N5"].value is None and sheet["P5"].value is None
    assert sheet["J2"].value is None  # index_date not in the frame: left empty
    assert book["Intervention"]["B2"].value == "Test Organisation"

    result = validate_upload(path)
    assert result.problems == []
    assert result.ok
    assert result.n_rows == 70 and result.n_distinct_people == 70
    assert result.intervention == INTERVENTION
    parsed = result.participants
    assert list(parsed.columns) == ["row"] + list(COLUMN_NAMES)
    assert list(parsed.index) == list(range(70))
    assert list(parsed["row"]) == list(range(2, 72))
    assert parsed.loc[0, "date_of_birth"] == pd.Timestamp("1980-11-03")
    assert parsed.loc[1, "date_of_birth"] == pd.Timestamp("1981-12-25")
    assert parsed.loc[2, "date_of_birth"] == pd.Timestamp("1977-03-03")
    assert parsed.loc[2, "intervention_start"] == pd.Timestamp("2008-02-29")
    assert str(parsed["date_of_birth"].dtype) == "datetime64[ns]"
    assert parsed.loc[3, "delivery_location"] is None and parsed.loc[3, "sub_group"] is None
    assert parsed["index_date"].isna().all()
    assert list(parsed.loc[:3, "sex"]) == ["F", "M", "F", "M"]
    assert parsed.loc[5, "pnc_id"] == format_pnc(2000, 100_185)
    assert parsed.loc[5, "prison_number"] == "B2005TS"
    assert parsed.loc[5, "referral_route"] == "self" and parsed.loc[6, "referral_route"] == "prison staff"
    assert parsed.loc[0, "surname"] == "Testname0" and parsed.loc[69, "forename"] == "Testfore69"
    assert parsed.loc[9, "participant_ref"] == "REF0009"


def test_filled_template_keeps_formula_like_text_as_text(tmp_path):
    people = fake_people(2)
    people.loc[0, "delivery_location"] = "=HYPERLINK(\"x\")"
    people.loc[1, "delivery_location"] = "bad\x07bell"
    path = write_filled_template(tmp_path / "f.xlsx", people, {})
    sheet = openpyxl.load_workbook(path)["Participants"]
    assert sheet["N2"].data_type == "s" and sheet["N2"].value == "=HYPERLINK(\"x\")"
    assert sheet["N3"].value == "badbell"


def test_filled_template_intervention_dates_and_unknown_keys(tmp_path):
    path = write_filled_template(tmp_path / "f.xlsx", fake_people(1),
                                 {"organisation": "Org", "first_delivery": dt.date(2007, 4, 1)})
    book = openpyxl.load_workbook(path)
    assert book["Intervention"]["B7"].value == dt.datetime(2007, 4, 1)
    assert book["Intervention"]["B3"].value is None
    answers = validate_upload(path).intervention
    assert answers["first_delivery"] == "2007-04-01" and answers["organisation"] == "Org"
    assert answers["programme"] == ""
    with pytest.raises(ValueError, match="unknown intervention fields: organization"):
        write_filled_template(tmp_path / "g.xlsx", fake_people(1), {"organization": "typo"})
    assert not (tmp_path / "g.xlsx").exists()


def test_filled_template_extends_drop_downs_past_5000_rows(tmp_path):
    people = pd.DataFrame({"surname": [f"Testname{i}" for i in range(5100)]})
    path = write_filled_template(tmp_path / "big.xlsx", people, {})
    sheet = openpyxl.load_workbook(path)["Participants"]
    assert sheet.max_row == 5101
    assert {str(v.sqref) for v in sheet.data_validations.dataValidation} == {
        "E2:E5101", "L2:L5101", "M2:M5101", "O2:O5101"}
    assert os.stat(path).st_mode & 0o777 == 0o600
