"""Publishing a report notebook as self-contained HTML and an A4 PDF (jdl.report.publish).

A small notebook is built and really executed (a title, an 80-row pandas table that runs over a
page, a matplotlib figure, a 25-row table that fits on a page), then published; the HTML is opened in the system Chromium with
every request recorded, and the PDF is read back with poppler (pdfinfo, pdftotext, pdftoppm).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from matplotlib.image import imread
from nbclient import NotebookClient

from jdl.report.publish import (CHROMIUM_ARGS, ChromiumNotFoundError, ExternalReferenceError,
                                SystemChromiumPDFExporter, export_html, external_references, find_chromium,
                                publish)

ROWS = 80  # longer than an A4 page: printed across two
LABELS = [f"row_{i:03d}" for i in range(ROWS)]
SHORT_ROWS = 25  # fits on a page: printed whole on one
SHORT_LABELS = [f"short_{i:02d}" for i in range(SHORT_ROWS)]
# Appears only in the code cells' source, never in their outputs.
SOURCE_MARKER = "hidden_source_marker_q7"

TABLE_CELL = f"""\
import pandas as pd
pd.set_option("display.max_rows", 200)
{SOURCE_MARKER} = [f"row_{{i:03d}}" for i in range({ROWS})]
pd.DataFrame({{"value": [i * 1.5 for i in range({ROWS})], "group": ["north", "south"] * {ROWS // 2}}},
             index=pd.Index({SOURCE_MARKER}, name="label"))
"""

SHORT_TABLE_CELL = f"""\
pd.DataFrame({{"count": range({SHORT_ROWS})}}, index=[f"short_{{i:02d}}" for i in range({SHORT_ROWS})])
"""

FIGURE_CELL = f"""\
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
%matplotlib inline
{SOURCE_MARKER}_fig, ax = plt.subplots(figsize=(6, 4))
ax.fill_between([0, 1, 2, 3], [0, 3, 1, 2], color="tab:blue")
ax.set_title("Figure one")
plt.show()
"""

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils missing: run make setup"
)


def run(*command) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Test report\n\nOne table and one figure."),
        nbformat.v4.new_code_cell(TABLE_CELL),
        nbformat.v4.new_code_cell(FIGURE_CELL),
        nbformat.v4.new_code_cell(SHORT_TABLE_CELL),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path_factory.mktemp("publish")
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [output for cell in nb.cells[1:] for output in cell.outputs]
    assert any("text/html" in o.get("data", {}) and "text/plain" in o.get("data", {}) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    path = folder / "report.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def published(notebook, tmp_path_factory):
    out = tmp_path_factory.mktemp("published") / "2026-01" / "example"
    html_path, pdf_path = publish(notebook, out)
    return html_path, pdf_path


# --- finding the browser -----------------------------------------------------------------------


def test_find_chromium_reports_a_missing_jdl_chromium(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-chromium"
    monkeypatch.setenv("JDL_CHROMIUM", str(missing))
    with pytest.raises(ChromiumNotFoundError) as error:
        find_chromium()
    message = str(error.value)
    assert "JDL_CHROMIUM" in message and str(missing) in message
    assert "make setup" in message and "scripts/install-system-packages.sh" in message


def test_find_chromium_takes_jdl_chromium_then_the_system_one(monkeypatch, tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JDL_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.delenv("JDL_CHROMIUM")
    if os.access("/usr/bin/chromium", os.X_OK):
        assert find_chromium() == "/usr/bin/chromium"


def test_pdf_export_fails_cleanly_without_a_browser(notebook, monkeypatch, tmp_path):
    monkeypatch.setenv("JDL_CHROMIUM", str(tmp_path / "gone"))
    target = tmp_path / "out" / "report.pdf"
    with pytest.raises(ChromiumNotFoundError):
        publish(notebook, target.parent)
    assert not target.exists()
    # the HTML was written whole; no temporary file is left behind
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_publish_renders_the_page_once_for_both_files(notebook, monkeypatch, tmp_path):
    """The HTML file and the page printed to PDF are one rendering of the notebook (the PDF
    exporter's own page is the same page: same template, same settings)."""
    import jdl.report.publish as publishing

    rendered, printed = [], []
    render = publishing.ReportHTMLExporter.from_filename

    def counted(self, *args, **kwargs):
        rendered.append(args[0])
        return render(self, *args, **kwargs)

    monkeypatch.setattr(publishing.ReportHTMLExporter, "from_filename", counted)
    monkeypatch.setattr(SystemChromiumPDFExporter, "run_playwright", lambda self, html: printed.append(html) or b"%PDF")
    html_path, pdf_path = publish(notebook, tmp_path / "out")
    assert len(rendered) == 1 and printed == [html_path.read_text(encoding="utf-8")]
    assert pdf_path.read_bytes() == b"%PDF"
    # the page the PDF exporter would render itself is that page
    own, _ = publishing.ReportHTMLExporter.from_notebook_node(SystemChromiumPDFExporter(),
                                                              nbformat.read(notebook, as_version=4))
    assert own == printed[0]


def test_the_exporter_never_downloads_a_browser():
    exporter = SystemChromiumPDFExporter(allow_chromium_download=True)
    with pytest.raises(ValueError, match="never downloads"):
        exporter.run_playwright("<html></html>")


# --- HTML --------------------------------------------------------------------------------------


def test_external_references_lists_what_a_browser_would_fetch():
    page = """<html><head>
    <script src="https://cdn.example/require.js"></script>
    <link rel="stylesheet" href="http://fonts.example/font.css">
    <style>body { background: url('https://img.example/bg.png') } @import "//cdn.example/x.css";</style>
    </head><body>
    <a href="https://www.gov.uk/justice-data-lab">a link, not fetched</a>
    <img src="data:image/png;base64,AAAA"><img srcset="small.png 1x, https://img.example/big.png 2x">
    <div style="background-image: url(https://img.example/div.png)"></div>
    <svg><image href="https://img.example/svg.png"/></svg>
    </body></html>"""
    assert external_references(page) == [
        "https://cdn.example/require.js",
        "http://fonts.example/font.css",
        "https://img.example/bg.png",
        "//cdn.example/x.css",
        "https://img.example/big.png",
        "https://img.example/div.png",
        "https://img.example/svg.png",
    ]


def test_html_export_refuses_a_remote_image(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Report\n\n![logo](https://example.org/logo.png)")]
    path = tmp_path / "report.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ExternalReferenceError, match="example.org/logo.png"):
        export_html(path, tmp_path / "report.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.ipynb"]


def test_publish_names_the_files_after_the_notebook(published):
    html_path, pdf_path = published
    assert (html_path.name, pdf_path.name) == ("report.html", "report.pdf")
    assert html_path.parent == pdf_path.parent
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["report.html", "report.pdf"]


def test_html_hides_code_and_embeds_the_figure(published):
    html = published[0].read_text()
    assert "Test report" in html
    assert SOURCE_MARKER not in html
    assert re.search(r'<img[^>]+src="data:image/png;base64,', html)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert external_references(html) == []
    assert all(label in html for label in LABELS)


@pytest.mark.slow
def test_html_renders_offline_in_chromium(published):
    from playwright.sync_api import sync_playwright

    requested = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()

            def record(route):
                requested.append(route.request.url)
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", record)
            page.goto(published[0].as_uri(), wait_until="load")
            page.wait_for_timeout(300)  # anything the page's scripts would still ask for
            assert page.get_by_role("heading", name="Test report").is_visible()
            widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)")
            assert widths and all(width > 0 for width in widths)
            assert page.get_by_text("row_049").is_visible()
            assert SOURCE_MARKER not in page.inner_text("body")
        finally:
            browser.close()
    assert requested and requested[0].startswith("file:")
    remote = [url for url in requested if url.split(":", 1)[0].lower() in ("http", "https")]
    assert remote == []


# --- PDF ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf(published):
    path = published[1]
    info = run("pdfinfo", "-f", "1", "-l", "999", str(path))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    sizes = [tuple(map(float, m)) for m in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, re.MULTILINE)]
    texts = [run("pdftotext", "-f", str(n), "-l", str(n), "-layout", str(path), "-") for n in range(1, pages + 1)]
    return {"path": path, "pages": pages, "sizes": sizes, "texts": texts}


@needs_poppler
@pytest.mark.slow
def test_pdf_is_a4_and_runs_over_pages(pdf):
    assert pdf["path"].read_bytes().startswith(b"%PDF")
    assert pdf["pages"] >= 2
    assert len(pdf["sizes"]) == pdf["pages"]
    for width, height in pdf["sizes"]:
        assert width == pytest.approx(595.3, abs=1.5) and height == pytest.approx(841.9, abs=1.5)


@needs_poppler
@pytest.mark.slow
def test_pdf_text_has_the_report_and_not_the_code(pdf):
    text = "\n".join(pdf["texts"])
    assert "Test report" in text
    assert LABELS[-1] in text
    assert SOURCE_MARKER not in text
    assert "import pandas" not in text


@needs_poppler
@pytest.mark.slow
def test_pdf_table_breaks_between_rows_only(pdf):
    # the table does run over a page, and then no row is cut: each row label is printed exactly
    # once, on a line of its own with its value
    first, last = LABELS[0], LABELS[-1]
    page_of = {label: [n for n, text in enumerate(pdf["texts"]) if label in text] for label in (first, last)}
    assert page_of[first] != page_of[last], "the table should run over two pages in this test"
    text = "\n".join(pdf["texts"])
    for i, label in enumerate(LABELS):
        assert len(re.findall(rf"\b{label}\b", text)) == 1, label
        assert re.search(rf"^\s*{label}\s+{i * 1.5:.1f}\s+(north|south)\s*$", text, re.MULTILINE), label
    # the header is repeated on the page the table continues on
    assert all("value" in pdf["texts"][n] for n in range(page_of[first][0], page_of[last][0] + 1))


@needs_poppler
@pytest.mark.slow
def test_pdf_keeps_a_table_that_fits_on_one_page(pdf):
    pages = {n for label in SHORT_LABELS for n, text in enumerate(pdf["texts"]) if re.search(rf"\b{label}\b", text)}
    assert len(pages) == 1


@needs_poppler
@pytest.mark.slow
def test_pdf_pages_show_the_figure(pdf, tmp_path):
    run("pdftoppm", "-r", "50", "-png", str(pdf["path"]), str(tmp_path / "page"))
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == pdf["pages"]
    best_blue, best_ink = 0.0, 0.0
    for png in pngs:
        rgb = imread(png)[..., :3]
        rgb = (rgb * 255).astype(int) if rgb.dtype.kind == "f" else rgb.astype(int)
        ink = np.mean(rgb.min(axis=2) < 200)
        # tab:blue is (31, 119, 180)
        blue = np.mean((rgb[..., 2] > 140) & (rgb[..., 0] < 90) & (rgb[..., 1] < 160))
        best_blue, best_ink = max(best_blue, blue), max(best_ink, ink if blue > 0.02 else 0)
    assert best_blue > 0.03, "no page shows the blue figure"
    assert best_ink > 0.03


def test_the_document_title_is_the_first_level_1_heading_as_the_reader_sees_it():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from jdl.report.publish import DEFAULT_TITLE, document_title
    from jdl.words import markdown_text

    hostile = '<iframe src="x"></iframe> & [link](javascript:alert(1)) *Trust*'
    shown = new_output("display_data", data={"text/markdown": f"# Report on {markdown_text(hostile)}\n\nText"})
    notebook = new_notebook(cells=[new_markdown_cell("<!-- a comment -->\n## Not a title"),
                                   new_code_cell("x", outputs=[shown]), new_markdown_cell("# A later heading")])
    assert document_title(notebook) == f"Report on {hostile}"
    assert document_title(new_notebook(cells=[new_markdown_cell("## Only level 2")])) == DEFAULT_TITLE


def test_the_page_title_is_escaped_and_the_head_names_author_and_subject():
    from nbformat.v4 import new_markdown_cell, new_notebook

    from jdl.report.publish import AUTHOR, DEFAULT_SUBJECT, ReportHTMLExporter, page_metadata

    notebook = new_notebook(cells=[new_markdown_cell("# Trust \\<script\\> \\& Co")])
    page, _ = ReportHTMLExporter().from_notebook_node(notebook)
    assert re.findall(r"<title>(.*?)</title>", page) == ["Trust &lt;script&gt; &amp; Co"]
    assert page_metadata(page) == {"/Title": "Trust <script> & Co", "/Author": AUTHOR, "/Subject": DEFAULT_SUBJECT}
    notebook.metadata["jdl"] = {"subject": 'A "quoted" subject'}
    page, _ = ReportHTMLExporter().from_notebook_node(notebook)
    assert page_metadata(page)["/Subject"] == 'A "quoted" subject'


def test_with_metadata_sets_the_pdf_information_and_keeps_the_pages():
    import io

    from pypdf import PdfReader, PdfWriter

    from jdl.report.publish import with_metadata

    writer = PdfWriter()
    writer.add_blank_page(595.28, 841.89)
    writer.add_blank_page(595.28, 841.89)
    blank = io.BytesIO()
    writer.write(blank)
    pdf = with_metadata(blank.getvalue(), {"/Title": "T <1>", "/Author": "Justice Data Lab", "/Subject": "S"})
    reader = PdfReader(io.BytesIO(pdf))
    assert (reader.metadata.title, reader.metadata.author, reader.metadata.subject) == ("T <1>", "Justice Data Lab", "S")
    assert len(reader.pages) == 2


def test_a_browser_with_spare_pages_prints_each_page_in_a_fresh_page_of_its_own(tmp_path):
    """A kept browser (spare_pages) opens the next print's page after each print: every page is
    still printed in a new page of its own (nothing of the previous one), and prints as it should."""
    from jdl.report.publish import PrintingBrowser

    texts = []
    with PrintingBrowser(spare_pages=True) as browser:
        for word in ("Alpha", "Bravo", "Charlie"):
            page = tmp_path / f"{word}.html"
            page.write_text(f"<!DOCTYPE html><html><head><title>{word}</title></head><body><p>{word} page</p></body></html>")
            pdf = tmp_path / f"{word}.pdf"
            pdf.write_bytes(browser.print_page(str(page)))
            texts.append(" ".join(subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                                                 text=True).stdout.split()))
    assert texts == ["Alpha page", "Bravo page", "Charlie page"]
