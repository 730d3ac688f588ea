"""The figures of a published PDF. Reports and the bulletin show their figures as SVG (matplotlib
draws text as glyph outlines), which Chromium prints as vector drawings: the PDF holds no raster
image to list (pdfimages), so a figure is found by its curves. A figure's lettering alone is
hundreds of Bezier curves; a page of text and tables holds a few (a list's bullet is 4)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ContentStream

FIGURE_CURVES = 500   # a page drawing at least this many curves holds a figure


def curves(pdf: Path) -> list[int]:
    """How many Bezier curves (the ``c`` operator) each page of ``pdf`` draws, in its own content
    and in the form XObjects it draws."""
    reader = PdfReader(pdf)

    def count(content, resources) -> int:
        found = 0
        for operands, operator in ContentStream(content, reader).operations:
            if operator == b"c":
                found += 1
            elif operator == b"Do":
                form = resources["/XObject"][operands[0]].get_object()
                if form.get("/Subtype") == "/Form":
                    found += count(form, form.get("/Resources", resources))
        return found

    return [count(page.get_contents(), page["/Resources"]) if page.get_contents() is not None else 0
            for page in reader.pages]


def figure_pages(pdf: Path) -> list[bool]:
    """Whether each page of ``pdf`` holds a figure (:data:`FIGURE_CURVES`)."""
    return [found >= FIGURE_CURVES for found in curves(pdf)]


def raster_images(pdf: Path) -> list[str]:
    """The raster images of ``pdf`` (pdfimages -list lines): none when every figure is vector."""
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    return listing.splitlines()[2:]
