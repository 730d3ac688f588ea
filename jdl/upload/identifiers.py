"""Police National Computer ids and prison numbers: format, check character and normalisation.

A PNC id is written ``YYYY/NNNNNNNC``: the year the record was created, a seven-digit serial
number, and a check character. The check character is the letter at position
``int(YY + NNNNNNN) mod 23`` of ``ZABCDEFGHJKLMNPQRTUVWXY`` (YY the last two digits of the year).
A prison number is one letter, four digits and two letters, e.g. ``A1234BC``.
"""

from __future__ import annotations

import re

import numpy as np

PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
_PNC_RE = re.compile(r"^(\d{2}|\d{4})/(\d{1,7})([A-Z])$")
_PRISON_RE = re.compile(r"^[A-Z]\d{4}[A-Z]{2}$")


def pnc_check_letter(year: int, serial: int) -> str:
    """The PNC check character for a record-creation ``year`` (4 digits) and ``serial`` number."""
    return PNC_CHECK_LETTERS[int(f"{year % 100:02d}{serial:07d}") % 23]


def format_pnc(year: int, serial: int) -> str:
    """A PNC id in the full ``YYYY/NNNNNNNC`` form."""
    return f"{year:04d}/{serial:07d}{pnc_check_letter(year, serial)}"


def format_pnc_many(years: np.ndarray, serials: np.ndarray) -> np.ndarray:
    """Vectorised :func:`format_pnc` for integer arrays of years and serials; returns an object array."""
    years = np.asarray(years, dtype=np.int64)
    serials = np.asarray(serials, dtype=np.int64)
    check = (years % 100) * 10_000_000 + serials
    letters = np.frombuffer(PNC_CHECK_LETTERS.encode(), dtype="S1")[check % 23].astype(str)
    out = np.char.add(np.char.add(np.char.zfill(years.astype(str), 4), "/"),
                      np.char.zfill(serials.astype(str), 7))
    return np.char.add(out, letters).astype(object)


def normalise_pnc(text: str) -> str | None:
    """The canonical ``YYYY/NNNNNNNC`` form of a PNC id, or None when it is not a valid one.

    Accepts upper or lower case, surrounding spaces, two-digit years (19xx for 50-99, else 20xx)
    and serials written without leading zeros; rejects a wrong check character.
    """
    match = _PNC_RE.match(str(text).strip().upper().replace(" ", ""))
    if not match:
        return None
    year_text, serial_text, check = match.groups()
    year = int(year_text)
    if len(year_text) == 2:
        year += 1900 if year >= 50 else 2000
    serial = int(serial_text)
    if pnc_check_letter(year, serial) != check:
        return None
    return format_pnc(year, serial)


def normalise_prison_number(text: str) -> str | None:
    """The canonical upper-case form of a prison number, or None when it is not one."""
    value = str(text).strip().upper().replace(" ", "")
    return value if _PRISON_RE.match(value) else None


def prison_number_from_int(codes: np.ndarray) -> np.ndarray:
    """Prison numbers for integer codes in [0, 26 * 10_000 * 26 * 26): one code, one number."""
    codes = np.asarray(codes, dtype=np.int64)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)
    first = letters[codes // (10_000 * 676)]
    digits = np.char.zfill(((codes // 676) % 10_000).astype(str), 4).astype(object)
    second = letters[(codes // 26) % 26]
    third = letters[codes % 26]
    return first + digits + second + third
