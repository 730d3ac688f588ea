"""Visual checks of the published pages, as a reader gets them from the real browser (Chromium's
PDF): every page of the session's demo reports and bulletin is A4, has nothing (text or figure)
in its margins, no text below 8pt (body text at least 10pt), no heading last on the page, each
figure of the executed notebook is an SVG image in the HTML page and a vector drawing in the PDF,
and the HTML <title> and the PDF's Title and Author name the document.

Pages are rendered with poppler (pdftoppm, pdfimages, pdfinfo: scripts/install-system-packages.sh)
and the text's sizes read with pypdf (the size each piece of text is drawn at: its font size
times the scale of its text and graphics matrices)."""

from __future__ import annotations

import html
import math
import re
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from jdl.report.publish import AUTHOR, MARGINS_MM
from pdf_figures import figure_pages, raster_images
from session_data import HOSTILE_ID, MONTH, ORGANISATION, PROGRAMME

pytestmark = pytest.mark.slow

A4_POINTS = (595.28, 841.89)
DPI = 40
MIN_POINTS = 8.0          # no text smaller, anywhere
BODY_POINTS = 10.0        # the body text
HEADING_POINTS = 12.0     # headings are drawn at this size or larger
WHITE = 250               # a grey level at or above this is paper

REPORTS = {f"{MONTH}-001": "Justice Data Lab analysis: re-offending after Gateway Mentoring (Northern Resettlement Trust)",
           f"{MONTH}-002": "Justice Data Lab analysis: re-offending after Open Door Arts (Open Door Arts Collective)"}


def documents(report_month) -> dict[str, Path]:
    """The published pages checked, by name, without their suffix: two demo reports (one processed,
    one not), the hostile request's report and the bulletin."""
    found = {request_id: report_month.report(request_id) / "report" for request_id in (*REPORTS, HOSTILE_ID)}
    found["bulletin"] = report_month.out / "summary"
    return found


@pytest.fixture(scope="module", params=[f"{MONTH}-001", f"{MONTH}-002", HOSTILE_ID, "bulletin"])
def document(request, report_month) -> Path:
    return documents(report_month)[request.param]


def text_pieces(pdf: Path) -> list[list[tuple[str, float, float]]]:
    """Per page, each piece of text drawn: (text, size in points, baseline height from the page's
    foot in points)."""
    pages = []
    for page in PdfReader(pdf).pages:
        pieces = []

        def visit(text, cm, tm, font, size, pieces=pieces):
            if text.strip():
                # the text rendering matrix: tm then cm; its vertical scale gives the size drawn
                b, d = tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                pieces.append((text.strip(), size * math.hypot(b, d), y))

        page.extract_text(visitor_text=visit)
        pages.append(pieces)
    return pages


def page_images(pdf: Path, folder: Path) -> list[np.ndarray]:
    """Every page rendered at DPI in grey levels (0 black, 255 white)."""
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(pdf), str(folder / "page")], check=True)
    return [np.asarray(Image.open(path).convert("L")) for path in sorted(folder.glob("page-*.png"))]


def test_every_page_is_a4(document):
    reader = PdfReader(document.with_suffix(".pdf"))
    assert len(reader.pages) >= 1
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4_POINTS[0]) < 1 and abs(height - A4_POINTS[1]) < 1


def test_nothing_is_drawn_in_the_margins(document, tmp_path):
    pixels_per_mm = DPI / 25.4
    images = page_images(document.with_suffix(".pdf"), tmp_path)
    assert len(images) == len(PdfReader(document.with_suffix(".pdf")).pages)
    for number, image in enumerate(images, start=1):
        height, width = image.shape
        # the margin band, less a pixel for anti-aliasing at its inner edge
        top, bottom, left, right = (math.floor(MARGINS_MM[side] * pixels_per_mm) - 1
                                    for side in ("top", "bottom", "left", "right"))
        bands = {"top": image[:top], "bottom": image[height - bottom:], "left": image[:, :left],
                 "right": image[:, width - right:]}
        for side, band in bands.items():
            assert band.min() >= WHITE, f"page {number}: something is drawn in the {side} margin"
        assert image[top:height - bottom, left:width - right].min() < WHITE, f"page {number} is blank"


# Elements of the page that reach beyond the printable width, laid out as for printing: Chromium
# clips them at the page's edge (so the margins stay white), and a reader loses what is cut off.
OVERFLOW_JS = """(width) => {
  const found = [];
  for (const element of document.querySelectorAll("main *")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && (box.left < -1 || box.right > width + 1)) found.push(element.tagName.toLowerCase());
  }
  return found;
}"""


def test_nothing_runs_off_the_page(document):
    """In Chromium, at the printable width and with the print preparation the PDF gets, no element
    reaches beyond the page's printable area (the PDF would cut it off at the edge)."""
    from playwright.sync_api import sync_playwright

    from jdl.report.publish import (CHROMIUM_ARGS, PREPARE_FOR_PRINT_JS, PRINT_HEIGHT_PX, PRINT_WIDTH_PX,
                                    TEXT_CELL_CHARACTERS, find_chromium)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": PRINT_HEIGHT_PX})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                       else route.abort())
            page.emulate_media(media="print")
            page.goto(document.with_suffix(".html").resolve().as_uri())
            page.evaluate(PREPARE_FOR_PRINT_JS, [PRINT_WIDTH_PX, int(PRINT_HEIGHT_PX * 0.97), TEXT_CELL_CHARACTERS])
            assert page.evaluate(OVERFLOW_JS, PRINT_WIDTH_PX) == []
        finally:
            browser.close()


def test_no_text_is_smaller_than_8pt_and_no_heading_ends_a_page(document):
    pages = text_pieces(document.with_suffix(".pdf"))
    for number, pieces in enumerate(pages, start=1):
        for text, size, _ in pieces:
            assert size >= MIN_POINTS - 0.01, f"page {number}: text at {size:.1f}pt"
        if pieces and number < len(pages):
            # the lowest text on a page that is followed by another, if it is in the last fifth of
            # the page's printed area, is not a heading (one above a figure that ends the page is fine)
            text, size, baseline = min(pieces, key=lambda piece: piece[2])
            foot = (MARGINS_MM["bottom"] + 0.2 * (297 - MARGINS_MM["top"] - MARGINS_MM["bottom"])) * 72 / 25.4
            assert not (size >= HEADING_POINTS and baseline < foot), f"page {number} ends with a heading"


def test_the_body_text_is_at_least_10pt(report_month):
    [first, *_] = text_pieces(report_month.report(f"{MONTH}-001") / "report.pdf")
    summary = [size for text, size, _ in first if text.startswith("This report looks at")]
    assert summary and min(summary) >= BODY_POINTS


def test_no_word_is_broken_across_lines(document):
    """Tables fit the page without breaking a word ("Januar-y", "inconclusi-ve"): every word of the
    PDF's text is a word of the page."""
    page = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(style|head)\b.*?</\1>", " ",
                                                         document.with_suffix(".html").read_text(encoding="utf-8"))))
    # -layout: pdftotext keeps a word broken at its hyphen as printed ("re-" "offending")
    printed = subprocess.run(["pdftotext", "-layout", str(document.with_suffix(".pdf")), "-"], check=True,
                             capture_output=True, text=True).stdout
    vocabulary = set(re.findall(r"[A-Za-z]+", page))
    assert sorted(set(re.findall(r"[A-Za-z]+", printed)) - vocabulary) == []


def test_page_1_holds_the_title_the_headline_and_the_key_figure(report_month):
    """Page 1 of a processed report: the title, the summary's headline paragraph and the key figure
    (For 100 typical people, the first figure of the report)."""
    pdf = report_month.report(f"{MONTH}-001") / "report.pdf"
    first = " ".join(subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], check=True, capture_output=True,
                                    text=True).stdout.split())
    for text in (REPORTS[f"{MONTH}-001"], "Summary", "This report looks at", "Measurements per 100 people"):
        assert text in first, text
    assert figure_pages(pdf)[0]       # the first figure of the report


def test_every_figure_is_on_the_page_and_in_the_pdf(document):
    notebook = nbformat.read(document.with_suffix(".ipynb"), as_version=4)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    figures = sum("image/svg+xml" in output.get("data", {}) for output in outputs)
    assert not any("image/png" in output.get("data", {}) for output in outputs)
    page = document.with_suffix(".html").read_text(encoding="utf-8")
    assert len(re.findall(r"<img\b", page)) == len(re.findall(r'<img\b[^>]*\bsrc="data:image/svg\+xml;base64,', page)) == figures
    # sharp in print at any zoom: every figure is a vector drawing, the PDF holds no raster image;
    # the figures are printed, and a document without figures draws none
    pdf = document.with_suffix(".pdf")
    assert raster_images(pdf) == []
    assert any(figure_pages(pdf)) == (figures > 0)
    if document.parent.name == f"{MONTH}-001":
        assert figures >= 4       # the processed demo request has its figures


def test_the_page_and_pdf_are_titled_with_the_report_title(report_month):
    for request_id, title in REPORTS.items():
        folder = report_month.report(request_id)
        page = (folder / "report.html").read_text(encoding="utf-8")
        assert re.findall(r"<title>(.*?)</title>", page) == [title]
        assert f'<meta content="{AUTHOR}" name="author"/>' in page or f'<meta name="author" content="{AUTHOR}">' in page
        info = PdfReader(folder / "report.pdf").metadata
        assert (info.title, info.author) == (title, AUTHOR)
        assert info.subject.startswith("Re-offending of the people a programme worked with")


def test_a_hostile_title_is_escaped_in_the_page_and_plain_in_the_pdf(report_month):
    folder = report_month.report(HOSTILE_ID)
    page = (folder / "report.html").read_text(encoding="utf-8")
    [title] = re.findall(r"<title>(.*?)</title>", page, re.DOTALL)
    assert "<" not in title and "&lt;iframe" in title
    plain = f"Justice Data Lab analysis: re-offending after {' '.join(PROGRAMME.split())} ({ORGANISATION})"
    assert html.unescape(title) == plain
    assert PdfReader(folder / "report.pdf").metadata.title == plain


def test_the_bulletin_is_titled_with_its_month(report_month):
    page = (report_month.out / "summary.html").read_text(encoding="utf-8")
    assert re.findall(r"<title>(.*?)</title>", page) == ["Justice Data Lab statistics: January 2014"]
    info = PdfReader(report_month.out / "summary.pdf").metadata
    assert (info.title, info.author) == ("Justice Data Lab statistics: January 2014", AUTHOR)
