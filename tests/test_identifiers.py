"""PNC ids and prison numbers (jdl.upload.identifiers), against hand-worked check letters."""

import numpy as np
import pytest

from jdl.upload.identifiers import (PNC_CHECK_LETTERS, format_pnc, format_pnc_many, normalise_pnc,
                                    normalise_prison_number, pnc_check_letter, prison_number_from_int)


# Hand-worked: 90123456 = 23 * 3918411 + 3 -> letter 3 of ZABC... = "C";
# 990000001 = 23 * 43043478 + 7 -> "G"; 129999999 = 23 * 5652173 + 20 -> "W"; 0 -> "Z".
@pytest.mark.parametrize("year, serial, letter", [
    (2009, 123456, "C"),
    (1999, 1, "G"),
    (2012, 9_999_999, "W"),
    (2000, 0, "Z"),
])
def test_pnc_check_letter_hand_worked(year, serial, letter):
    assert pnc_check_letter(year, serial) == letter


def test_check_letters_skip_confusable_letters():
    assert PNC_CHECK_LETTERS == "ZABCDEFGHJKLMNPQRTUVWXY"
    assert len(PNC_CHECK_LETTERS) == 23
    assert not set("IOS") & set(PNC_CHECK_LETTERS)


def test_format_pnc_pads_year_and_serial():
    assert format_pnc(2009, 123456) == "2009/0123456C"
    assert format_pnc(1999, 1) == "1999/0000001G"


@pytest.mark.parametrize("text, expected", [
    ("2009/0123456C", "2009/0123456C"),
    ("  2009/0123456c  ", "2009/0123456C"),      # spaces, lower case
    ("09/0123456C", "2009/0123456C"),            # two-digit year, 20xx
    ("09/123456C", "2009/0123456C"),             # no leading zeros in the serial
    ("99/1G", "1999/0000001G"),                  # two-digit year 50-99 -> 19xx
    ("2009 / 0123456 C", "2009/0123456C"),       # inner spaces
    ("2009/0123456D", None),                     # wrong check letter
    ("09/123456D", None),                        # wrong check letter, short form
    ("2009-0123456C", None),                     # wrong separator
    ("2009/01234567C", None),                    # eight-digit serial
    ("209/0123456C", None),                      # three-digit year
    ("2009/0123456", None),                      # no check letter
    ("", None),
])
def test_normalise_pnc(text, expected):
    assert normalise_pnc(text) == expected


def test_two_digit_year_pivot_at_50():
    assert normalise_pnc(f"49/1{pnc_check_letter(2049, 1)}") == f"2049/0000001{pnc_check_letter(2049, 1)}"
    assert normalise_pnc(f"50/1{pnc_check_letter(1950, 1)}") == f"1950/0000001{pnc_check_letter(1950, 1)}"


def test_normalise_pnc_round_trips_format_pnc():
    rng = np.random.default_rng(7)
    for year, serial in zip(rng.integers(1950, 2030, 200), rng.integers(0, 10_000_000, 200)):
        text = format_pnc(int(year), int(serial))
        assert normalise_pnc(text) == text
        assert normalise_pnc(text.lower()) == text


def test_format_pnc_many_agrees_with_format_pnc():
    rng = np.random.default_rng(2014)
    years = rng.integers(1950, 2030, 1000)
    serials = rng.integers(0, 10_000_000, 1000)
    many = format_pnc_many(years, serials)
    assert many.dtype == object
    assert list(many) == [format_pnc(int(y), int(s)) for y, s in zip(years, serials)]


@pytest.mark.parametrize("text, expected", [
    ("A1234BC", "A1234BC"),
    (" a1234bc ", "A1234BC"),
    ("A 1234 BC", "A1234BC"),
    ("A123BC", None),      # three digits
    ("AB1234C", None),     # letters in the wrong places
    ("A12345BC", None),
    ("11234BC", None),
    ("", None),
])
def test_normalise_prison_number(text, expected):
    assert normalise_prison_number(text) == expected


def test_prison_number_from_int_known_values():
    codes = np.array([0, 1, 26, 27, 676, 10_000 * 676, 26 * 10_000 * 676 - 1])
    assert list(prison_number_from_int(codes)) == [
        "A0000AA", "A0000AB", "A0000BA", "A0000BB", "A0001AA", "B0000AA", "Z9999ZZ"]


def test_prison_number_from_int_is_one_to_one_and_valid():
    rng = np.random.default_rng(3)
    codes = rng.choice(26 * 10_000 * 676, size=20_000, replace=False)
    numbers = prison_number_from_int(codes)
    assert len(set(numbers)) == len(codes)
    assert all(normalise_prison_number(n) == n for n in numbers[:2000])
    # decode back: the mapping is invertible
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    decoded = [((alphabet.index(n[0]) * 10_000 + int(n[1:5])) * 26 + alphabet.index(n[5])) * 26
               + alphabet.index(n[6]) for n in numbers[:2000]]
    assert decoded == list(codes[:2000])
