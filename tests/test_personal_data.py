"""The personal-data scan of the end-to-end tests (tests/personal_data.py): one set intersection
per text finds a value exactly where a whole-word search (``\\bvalue\\b``) finds it."""

from __future__ import annotations

import random
import re

from personal_data import Scanner, phrases

VALUES = {"Smith", "Jane Smith", "O'Brien", "Anne-Marie O'Brien", "1995/0123456X", "A1234BC", "1980-02-03",
          "03/02/1980", "3 February 1980", "Zoë", "Ng"}


def whole_word(values, text):
    text = " ".join(text.split())
    return {v for v in values if re.search(rf"\b{re.escape(v)}\b", text)}


def test_phrases_are_the_runs_of_up_to_so_many_words_with_what_lies_between():
    assert phrases("Dear  Jane\nSmith, born 1980-02-03.", 2) == {
        "Dear", "Jane", "Smith", "born", "1980", "02", "03", "Dear Jane", "Jane Smith", "Smith, born", "born 1980",
        "1980-02", "02-03"}


def test_whole_words_only():
    scanner = Scanner(VALUES)
    assert scanner.longest == 4   # Anne-Marie O'Brien: Anne, Marie, O, Brien
    text = ("Smithson and Goldsmith met Ms Jane Smith (born 3 February 1980; PNC 1995/0123456X) and "
            "Anne-Marie O'Brien, id A1234BCD, 1980-02-031, \"Zoë\" and Ngozi; Jane\n  Smith again")
    assert scanner.found(text) == {"Smith", "Jane Smith", "3 February 1980", "1995/0123456X", "Anne-Marie O'Brien",
                                   "O'Brien", "Zoë"}
    assert scanner.found(text) == whole_word(VALUES, text)
    assert scanner.found("nothing here: Smiths, 31 February 1980, 1995/0123456") == set()


def test_the_same_as_a_whole_word_search_on_random_text():
    rng = random.Random(13)
    pieces = [*VALUES, "x", "Jane", "February", "1980", "-", "/", "'", ".", "\n", "  ", "é", "_", "9"]
    scanner = Scanner(VALUES)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) + rng.choice(["", " ", "", "-"]) for _ in range(rng.randint(1, 12)))
        assert scanner.found(text) == whole_word(VALUES, text), text
