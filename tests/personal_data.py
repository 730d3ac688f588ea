"""Looking for the personal data of uploads in text, as one set intersection per text.

A value (a name, a PNC id, a date of birth as a report could print it) leaks when it occurs in a
text as whole words: ``\\bvalue\\b``. Instead of one search per value per text, each text is
broken once into its phrases -- every run of 1 to ``longest`` consecutive words (``\\w+``) with
the characters between them, whitespace collapsed to one space -- and the set of phrases is
intersected with the set of values. A value that starts and ends with a word character and holds
at most ``longest`` words is found exactly where ``\\bvalue\\b`` would find it (after the same
whitespace collapsing)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

WORD = re.compile(r"\w+")
ROOT = Path(__file__).resolve().parents[1]


def normalised(text: str) -> str:
    """``text`` with every run of whitespace made one space, and no space at either end."""
    return " ".join(text.split())


def words_in(value: str) -> int:
    return len(WORD.findall(value))


def phrases(text: str, longest: int) -> set[str]:
    """Every run of 1 to ``longest`` consecutive words of ``text`` (normalised), with what lies
    between them."""
    text = normalised(text)
    spans = [match.span() for match in WORD.finditer(text)]
    found = set()
    for i, (start, _end) in enumerate(spans):
        for _j_start, end in spans[i:i + longest]:
            found.add(text[start:end])
    return found


def personal_values(uploads: Iterable[Path]) -> set[str]:
    """Every name, date of birth (in the forms a report could print), PNC id and prison number in
    the uploads, as the strings a leak would contain (normalised)."""
    from jdl.upload.validate import validate_upload

    values: set[str] = set()
    for upload in uploads:
        people = validate_upload(upload).participants
        for column in ("surname", "forename", "pnc_id", "prison_number"):
            values |= {str(v).strip() for v in people[column].dropna() if len(str(v).strip()) >= 4}
        values |= {f"{f} {s}" for f, s in zip(people["forename"], people["surname"]) if pd.notna(f) and pd.notna(s)}
        for born in pd.to_datetime(people["date_of_birth"].dropna()):
            values |= {born.strftime("%Y-%m-%d"), born.strftime("%d/%m/%Y"), born.strftime("%-d %B %Y")}
    values = {normalised(v) for v in values}
    # the phrase search finds whole words only: every value must start and end with one
    assert all(re.fullmatch(r"\w(.*\w)?", v, re.DOTALL) for v in values)
    return values


def own_vocabulary() -> str:
    """The words the project itself writes (package, its templates, notebooks): a name that is
    also one of these words (a surname such as "Young" or "Ward") can appear in a report without
    coming from an upload."""
    sources = [*(p for p in (ROOT / "jdl").rglob("*") if "__pycache__" not in p.parts),
               *(ROOT / "notebooks").glob("*.ipynb")]
    return "\n".join(p.read_text(errors="ignore") for p in sources if p.is_file())


class Scanner:
    """Looks for ``values`` in texts (see the module docstring)."""

    def __init__(self, values: set[str]):
        self.values = set(values)
        self.longest = max(map(words_in, self.values), default=1)

    def found(self, text: str) -> set[str]:
        """The values that occur in ``text`` as whole words."""
        return self.values & phrases(text, self.longest)
