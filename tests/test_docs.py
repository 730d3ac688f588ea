"""The specification and the design live in the repository, and README links to them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOCS = ("docs/methodology.md", "docs/design.md")


def links(path: Path) -> set[str]:
    """The targets of the Markdown links in ``path``, relative to the repository root."""
    folder = path.parent.relative_to(ROOT)
    return {(folder / target).as_posix() for target in LINK.findall(path.read_text(encoding="utf-8"))
            if "://" not in target and not target.startswith("#")}


@pytest.mark.parametrize("doc", DOCS)
def test_readme_links_to_each_document_and_it_is_there(doc):
    assert doc in links(ROOT / "README.md")
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert text.strip()
    note, blank, heading = text.splitlines()[:3]
    assert note.startswith("> The project's ") and blank == "" and heading.startswith("# ")


def test_the_docs_index_links_to_both_documents_and_every_link_resolves():
    assert set(DOCS) <= links(ROOT / "docs" / "README.md")
    for page in (ROOT / "README.md", ROOT / "docs" / "README.md"):
        for target in links(page):
            if target.startswith("docs/"):
                assert (ROOT / target).is_file(), f"{page.name} links to missing {target}"


def test_readme_no_longer_points_outside_the_repository_for_them():
    assert "../shared/" not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_reports_method_notes_point_to_the_documents_and_their_sections():
    from jdl.report.text import SPECIFICATION_NOTE, method_notes

    assert method_notes(None)[-1] == SPECIFICATION_NOTE
    for doc in DOCS:
        assert f"`{doc}`" in SPECIFICATION_NOTE and (ROOT / doc).is_file()
    headings = re.findall(r"^## (\d+)\. (.+)$", (ROOT / "docs/methodology.md").read_text(encoding="utf-8"), re.M)
    titles = dict(headings)
    assert titles["2"].startswith("Linking") and titles["3"].startswith("Outcomes")
    assert "matching" in titles["4"] and titles["5"] == "Match quality"
    assert titles["6"] == "Comparing the groups" and "disclosure" in titles["7"]
