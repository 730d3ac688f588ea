"""The lab's settings file (jdl.run.settings): defaults without a file, every value checked, a size
limit, and errors that name the file and field but never quote the value."""

from __future__ import annotations

import pytest

from jdl.report.about import DEFAULT_SETTINGS, ReportSettings
from jdl.run.settings import (MAX_SETTINGS_BYTES, SettingsError, load_settings, settings_path,
                              write_default_settings)


def test_no_file_gives_the_defaults(tmp_path):
    assert load_settings(tmp_path / "settings.yaml") == DEFAULT_SETTINGS
    assert DEFAULT_SETTINGS == ReportSettings("Justice Data Lab team", "justice.datalab@example.org",
                                              "Official statistics in development")


def test_a_file_sets_what_it_names(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("contact: Reducing Reoffending Analysis\nemail: rr@example.gov.uk\n")
    assert load_settings(path) == ReportSettings("Reducing Reoffending Analysis", "rr@example.gov.uk",
                                                 "Official statistics in development")
    path.write_text("email: null\n")
    assert load_settings(path) == ReportSettings(email=None)


def test_the_default_file_written_reads_back_as_the_defaults_and_is_never_overwritten(tmp_path):
    written = write_default_settings(tmp_path / "params")
    assert written == settings_path(tmp_path / "params") == tmp_path / "params" / "settings.yaml"
    assert load_settings(written) == DEFAULT_SETTINGS
    written.write_text("contact: Our team\n")
    assert write_default_settings(tmp_path / "params") is None
    assert load_settings(written).contact == "Our team"


@pytest.mark.parametrize("text, message", [
    ("- a list\n", "the settings must be a mapping of field: value"),
    ("contact: 12\n", "field 'contact' must be non-empty text"),
    ("contact: ''\n", "field 'contact' must be non-empty text"),
    ("colour: red\n", "unknown field(s) 'colour'; the fields are contact, email, status"),
    ("email: secret-person-name\n", "field 'email' is not an email address (name@host)"),
    ('contact: "Lab\\u202eteam"\n', "field 'contact' holds a control, bidirectional or other invisible character "
                                     "(U+202E at character 4); use plain text"),
    ("contact: " + "x" * 201 + "\n", "field 'contact' is 201 characters long; the limit is 200"),
    ("contact: [unclosed\n", "not a readable YAML file (ParserError)"),
])
def test_unusable_settings_are_refused_by_file_and_field(tmp_path, text, message):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(caught.value) == f"{path}: {message}"
    assert "secret-person-name" not in str(caught.value)


def test_a_settings_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("# " + "x" * MAX_SETTINGS_BYTES + "\n")
    with pytest.raises(SettingsError, match=f"is {MAX_SETTINGS_BYTES + 3:,} bytes; the limit is {MAX_SETTINGS_BYTES:,}"):
        load_settings(path)


def test_the_params_file_and_the_template_check_programme_type_and_date_received_by_one_rule():
    import datetime as dt
    import re

    from jdl.analysis import Request
    from jdl.run.requests import (DATE_RECEIVED_RULE, PROGRAMME_TYPE_RULE, check_programme_type,
                                  parse_date_received)

    assert parse_date_received("2014-01-15") == parse_date_received(dt.date(2014, 1, 15)) == dt.date(2014, 1, 15)
    for bad in ("15/01/2014", "2014-13-01", dt.datetime(2014, 1, 15, 9, 0), 20140115, None):
        with pytest.raises(ValueError) as caught:
            parse_date_received(bad)
        assert str(caught.value) == DATE_RECEIVED_RULE
    check_programme_type("mentoring")
    with pytest.raises(ValueError) as caught:
        check_programme_type("<b>mentoring</b>")
    assert str(caught.value) == PROGRAMME_TYPE_RULE
    # the template's parameters go through the same two rules
    with pytest.raises(ValueError, match=re.escape(DATE_RECEIVED_RULE)):
        Request(date_received="15/01/2014")
    with pytest.raises(ValueError, match=re.escape(PROGRAMME_TYPE_RULE)):
        Request(programme_type="knitting")
    assert Request(date_received="2014-01-15", programme_type="employment").programme_type == "employment"
