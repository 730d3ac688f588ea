"""Police National Computer ids and prison numbers: format, check character and normalisation.

A PNC id is written ``YYYY/NNNNNNNC``: the year the record was created, a seven-digit serial
number, and a check character. The check character is the letter at position
``int(YY + NNNNNNN) mod 23`` of ``ZABCDEFGHJKLMNPQRTUVWXY`` (YY the last two digits of the year).
A prison number is one letter, four digits and two letters, e.g. ``A1234BC``.

Names: :func:`normalise_name` is the one key that upload checks (``jdl.upload.validate``) and
linkage (``jdl.cohort.linkage``) both compare names on, and :func:`name_parts` the parts linkage's
fuzzy pass scores.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
from anyascii import anyascii

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


# --- names -------------------------------------------------------------------------------------

_NOT_KEY = re.compile(r"[^A-Z0-9]")


# letters of every kind, and decimal digits (a digit typed into a name is kept, as a typo would be)
_KEPT_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})


def _is_separator(character: str) -> bool:
    """A space of any kind (also tab, newline) or a dash of any kind (hyphen, en dash, ...)."""
    return character.isspace() or unicodedata.category(character) == "Pd"


def _fold_part(part: str) -> str:
    """One name part as upper-case A-Z and 0-9: letters and decimal digits transliterated,
    everything else dropped."""
    kept = "".join(anyascii(ch) for ch in part if unicodedata.category(ch) in _KEPT_CATEGORIES)
    return _NOT_KEY.sub("", kept.upper())


def _fold(name: str) -> tuple[str, ...]:
    """A name's folded parts, in order, empty parts left out (see :func:`normalise_name`)."""
    text = unicodedata.normalize("NFKC", name)
    parts, current = [], []
    for character in text + " ":
        if _is_separator(character):
            parts.append(_fold_part("".join(current)))
            current = []
        else:
            current.append(character)
    return tuple(part for part in parts if part)


def normalise_name(name: object) -> str | None:
    """A surname or forename as the key names are compared on: upper-case ASCII letters A-Z (and
    digits 0-9, kept so that a digit typed into a name is not silently lost).

    Steps: Unicode NFKC (full-width and compatibility forms to their plain letters, ligatures
    split); each letter transliterated to ASCII with ``anyascii`` (``Łukasz`` -> ``LUKASZ``,
    ``José`` -> ``JOSE``, ``Zoë`` -> ``ZOE``, ``Straße`` -> ``STRASSE``, ``Иван`` -> ``IVAN``);
    decimal digits of any script to 0-9; upper case; everything else dropped: spaces and hyphens
    of every kind, apostrophes (``O'Brien`` and ``O’Brien`` -> ``OBRIEN``), punctuation, symbols
    and emoji (never spelled out as words), invisible format characters and stray combining marks.

    Both sides of a comparison go through this key, so it does not matter whether a national
    index holds ``O'BRIEN`` or ``OBRIEN``, ``SMITH-JONES`` or ``SMITH JONES``: all become
    ``OBRIEN`` and ``SMITHJONES``. (The synthetic national data, ``jdl.synth.world``, writes the
    en_GB names as Faker spells them, mixed case with apostrophes and hyphens: ``O'Brien``,
    ``Smith-Jones``.) Returns None for a value that is not a str or that has nothing left.
    """
    if not isinstance(name, str):
        return None
    return "".join(_fold(name)) or None


def name_parts(name: object) -> tuple[str, ...]:
    """A name's keys for fuzzy matching: the whole name's key (:func:`normalise_name`) and, for a
    name of two or more parts split at spaces or dashes of any kind, each part's key; no key twice
    (``Smith-Jones`` -> ``("SMITHJONES", "SMITH", "JONES")``, ``Ann`` -> ``("ANN",)``). Empty for
    a value that is not a str or whose key is empty."""
    if not isinstance(name, str):
        return ()
    parts = _fold(name)
    return tuple(dict.fromkeys(("".join(parts),) + parts)) if parts else ()
