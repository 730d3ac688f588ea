"""Publishing an executed report notebook as a self-contained HTML page and an A4 PDF.

Papermill writes ``outputs/<month>/<id>/report.ipynb``; :func:`publish` turns it into
``report.html`` and ``report.pdf`` beside it. Code is hidden in both, and so are the template's
notes for reviewers (Markdown cells tagged :data:`TEMPLATE_NOTE`, removed by nbconvert's
TagRemovePreprocessor): a reader sees the report's text, tables and figures.

The HTML opens offline and makes the reader's browser contact no other host: it is rendered with
the ``jdl_report`` template (``jdl/report/templates/jdl_report``), JupyterLab's ``lab`` template with its
CDN scripts (require.js, MathJax, Mermaid, the widget manager) removed and images embedded as
``data:`` URIs; :func:`external_references` then checks the page and :func:`export_html` refuses to
write one that still points elsewhere (say, a Markdown image linked from the web). Without MathJax,
LaTeX maths in Markdown shows as its TeX source.

The page is inert: it carries the Content-Security-Policy :data:`CONTENT_SECURITY_POLICY` (no
script, no load of any kind but inline styles and ``data:`` images and fonts), and
:func:`active_content` checks that it holds no script element, no event-handler attribute, no
``javascript:`` (or other non-``data:``) URL in a loading attribute and no embedding element
(iframe, object, embed, frame); :func:`export_html` and :func:`export_pdf` refuse to publish a
page that does. Text from params files and uploads is escaped before it reaches the notebook
(:func:`jdl.words.markdown_text`, HTML-escaped tables); this is the check behind that.

Reproducible: the same executed notebook gives the same HTML bytes. Cells get ids from their
position (papermill gives the injected parameters cell a random id), scraps and anything written
to stderr (warnings) are left out of the page (warnings are handled in the package: a published
page must never show one, nor a server path).

The PDF is printed by the system Chromium (Debian's ``chromium``, installed by
``scripts/install-system-packages.sh``), driven through Playwright by nbconvert's webpdf exporter;
a browser is never downloaded. Print CSS keeps tables and figures whole on a page where they fit,
breaks long tables between rows only (repeating the header), keeps headings with what follows and
fits wide tables to the page by wrapping their header cells, never by shrinking their type.

The page's ``<title>`` is the report's own title (its first level-1 heading, escaped), and the
PDF carries the same Title with the Author "Justice Data Lab" and a Subject (set with pypdf after
printing, from the page's head: :func:`page_metadata`, :func:`with_metadata`).

Both files are written atomically (:func:`jdl.atomic.atomic_path`). While printing, the browser
may load the page itself and ``data:`` URLs, nothing else (not even other ``file:`` URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import tempfile
import threading
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

from nbconvert.exporters import HTMLExporter, WebPDFExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
from pypdf import PdfReader, PdfWriter
from traitlets import Bool, Unicode, default

from jdl.atomic import atomic_path

# The folder of the jdl_report template, package data of jdl.report found with importlib.resources
# (nbconvert needs a real folder: jdl is installed as files, as pip installs every wheel)
TEMPLATES_DIR = Path(str(files("jdl.report").joinpath("templates")))
TEMPLATE_NAME = "jdl_report"
# Cells of the template with this tag are notes for reviewers (what the next section is); they stay
# in the executed notebook and are left out of the published report.
TEMPLATE_NOTE = "template-note"

# The document's metadata, in the HTML head (<title>, <meta name="author">, <meta name="description">)
# and the PDF's information dictionary (Title, Author, Subject): the title is the page's first
# level-1 heading, as the reader sees it (:class:`DocumentTitlePreprocessor`); the subject is the
# notebook's metadata ``jdl.subject`` (the report template sets one) or DEFAULT_SUBJECT.
AUTHOR = "Justice Data Lab"
DEFAULT_TITLE = "Justice Data Lab"
DEFAULT_SUBJECT = "Justice Data Lab statistics: official statistics in development"
_HEADING_1 = re.compile(r"^ {0,3}# +(.+?)(?: +#+)? *$", re.MULTILINE)

# Where Debian's chromium package puts its launcher.
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Headless, and quiet on a machine with no network: without the background-networking flags
# Chromium keeps trying (and failing) to reach Google's hosts. --no-sandbox because reports are
# built as root in containers, where Chromium's sandbox cannot start; the page printed is our own
# rendered report, not something from the web. --disable-dev-shm-usage: Chromium crashes when
# /dev/shm is small (as in many containers).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

# A4 portrait with the margins of templates/jdl_report/static/report.css (the CSS @page rule
# wins where Chromium honours it; these are the same numbers for when it does not).
PAGE_FORMAT = "A4"
A4_MM = (210, 297)
MARGINS_MM = {"top": 15, "right": 14, "bottom": 17, "left": 14}
PAGE_MARGINS = {side: f"{mm}mm" for side, mm in MARGINS_MM.items()}
PX_PER_MM = 96 / 25.4
# The printable area in CSS pixels, the size the page is laid out at before printing.
PRINT_WIDTH_PX = int((A4_MM[0] - MARGINS_MM["left"] - MARGINS_MM["right"]) * PX_PER_MM)
PRINT_HEIGHT_PX = int((A4_MM[1] - MARGINS_MM["top"] - MARGINS_MM["bottom"]) * PX_PER_MM)

# Run in the page before printing, laid out at the printable size:
# - a table cell of text (at least TEXT_CELL_CHARACTERS long, with words) gets the class jdl-text:
#   it wraps between words (other cells, numbers and intervals, never wrap);
# - a table still wider than its room after layout (report.css wraps header cells and row labels,
#   never the numbers) lets its cells wrap between words too (class jdl-wrap), and one too wide
#   even then lets every cell break anywhere (jdl-wrap-anywhere); type is never scaled down, so
#   no table prints below report.css's 8.5pt and none runs off the page;
# - each figure and preformatted block no taller than a page, and each table no taller than half
#   a page, gets the class jdl-keep (break-inside: avoid in report.css), so it is never cut across
#   pages; longer ones may break, tables only between rows, repeating their header (a long table
#   kept whole would leave most of the page before it empty). Text is not kept whole: it flows,
#   with orphans and widows;
# - a heading that ends its output (and each enclosing block it ends) gets the class
#   jdl-ends-with-heading (break-after: avoid), so a heading is never left at the foot of a
#   page apart from the table or figure that follows it in the next output; an output holding a
#   heading and no more than a quarter of a page (a heading and its introduction) is kept whole
#   and with what follows it.
TEXT_CELL_CHARACTERS = 24
PREPARE_FOR_PRINT_JS = """([pageWidth, pageHeight, textCell]) => {
  for (const cell of document.querySelectorAll("td")) {
    const text = cell.textContent.trim();
    if (text.length >= textCell && /[A-Za-z]{3,}/.test(text) && text.includes(" ")) cell.classList.add("jdl-text");
  }
  for (const table of document.querySelectorAll("table")) {
    const room = Math.min(pageWidth, table.parentElement.getBoundingClientRect().width);
    if (table.getBoundingClientRect().width > room + 1) table.classList.add("jdl-wrap");
    if (table.getBoundingClientRect().width > room + 1) table.classList.add("jdl-wrap-anywhere");
  }
  for (const element of document.querySelectorAll("pre, figure, .jp-RenderedImage, .jp-RenderedSVG")) {
    if (element.getBoundingClientRect().height <= pageHeight) element.classList.add("jdl-keep");
  }
  for (const table of document.querySelectorAll("table")) {
    if (table.getBoundingClientRect().height <= pageHeight / 2) table.classList.add("jdl-keep");
  }
  const main = document.querySelector("main") || document.body;
  for (const heading of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    let element = heading;
    while (element.parentElement && element.parentElement !== main && !element.nextElementSibling) {
      element = element.parentElement;
      element.classList.add("jdl-ends-with-heading");
    }
    const output = heading.closest(".jp-OutputArea-child");
    if (output && output.getBoundingClientRect().height <= pageHeight / 4) {
      output.classList.add("jdl-keep", "jdl-ends-with-heading");
    }
  }
}"""

INSTALL_HINT = (
    "Install Debian's chromium package with `make setup` (which runs "
    "scripts/install-system-packages.sh), or `apt-get install chromium`; or set JDL_CHROMIUM to "
    "the path of a Chromium or Chrome executable. The project never downloads a browser."
)


# What a published page may do: nothing but show itself. Inline styles (the lab CSS and tables'
# style attributes) and data: images (the embedded figures) and fonts; no script, no connection,
# no frame, no form, no base URL, no plugin.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
                           "base-uri 'none'; form-action 'none'; object-src 'none'; frame-src 'none'")


class ChromiumNotFoundError(RuntimeError):
    """No Chromium executable to print PDFs with."""


class ExternalReferenceError(ValueError):
    """A rendered report would make the browser fetch something from another host."""


class ActiveContentError(ValueError):
    """A rendered report holds a script, an event handler, a javascript: URL or an embedded frame."""


def find_chromium() -> str:
    """Path of the Chromium that prints PDFs: ``$JDL_CHROMIUM`` if set (it must then be an
    executable file), else Debian's ``/usr/bin/chromium``, else the first of chromium,
    chromium-browser and google-chrome on ``PATH``. Raises :class:`ChromiumNotFoundError`
    saying what is missing and how to install it."""
    configured = os.environ.get("JDL_CHROMIUM")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise ChromiumNotFoundError(
            f"JDL_CHROMIUM is set to {configured!r}, which is not an executable file. "
            "Point it at a Chromium or Chrome executable, or unset it to use the system Chromium. "
            + INSTALL_HINT
        )
    if os.path.isfile(DEBIAN_CHROMIUM) and os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumNotFoundError(
        f"No Chromium found to print the PDF report: not {DEBIAN_CHROMIUM}, and none of "
        f"{', '.join(CHROMIUM_NAMES)} on PATH. " + INSTALL_HINT
    )


class ReaderOutputsPreprocessor(Preprocessor):
    """What a reader sees of each cell, the same on every run: outputs that only carry scrapbook
    scraps (``application/scrapbook.*``, data for the bulletin) and stream outputs on stderr
    (warnings, log lines) are left out, and each cell's id becomes ``cell-<position>`` (the page's
    anchors; papermill gives its injected cell a random id)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("data") and all(m.startswith("application/scrapbook.") for m in o["data"]))
                            and not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        cell.id = f"cell-{index}"
        return cell, resources


class _Text(HTMLParser):
    """The text of an HTML fragment, markup dropped and character references resolved."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)

    def text(self) -> str:
        return " ".join("".join(self.parts).split())


def _plain_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser.text()


def document_title(notebook) -> str:
    """The reader's title of ``notebook``: the text of its first level-1 Markdown heading (``# ...``,
    in a Markdown cell or a displayed Markdown output, in page order), rendered as the page renders
    it (so backslash escapes and entities become the characters they stand for); DEFAULT_TITLE when
    there is none. Plain text: the template escapes it into ``<title>``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            sources = [cell.source]
        elif cell.cell_type == "code":
            sources = [o["data"]["text/markdown"] for o in cell.get("outputs", [])
                       if o.get("output_type") in ("display_data", "execute_result") and "text/markdown" in o.get("data", {})]
        else:
            sources = []
        for source in sources:
            source = "".join(source) if isinstance(source, list) else source
            heading = _HEADING_1.search(source)
            if heading:
                title = _plain_text(markdown2html_mistune(heading.group(1)))
                if title:
                    return title
    return DEFAULT_TITLE


class DocumentTitlePreprocessor(Preprocessor):
    """Sets the notebook's metadata ``title`` (lab's template puts it in ``<title>``, escaped) to
    :func:`document_title`, and ``jdl.subject`` to DEFAULT_SUBJECT when the notebook sets none."""

    def preprocess(self, nb, resources):
        nb.metadata["title"] = document_title(nb)
        jdl = dict(nb.metadata.get("jdl", {}))
        if not isinstance(jdl.get("subject"), str) or not jdl["subject"].strip():
            jdl["subject"] = DEFAULT_SUBJECT
        nb.metadata["jdl"] = jdl
        return nb, resources


class _HeadMetadata(HTMLParser):
    """The document's title and the content of its ``<meta name=...>`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.meta: dict[str, str] = {}
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "meta" and attributes.get("name") and attributes.get("content") is not None:
            self.meta.setdefault(attributes["name"].lower(), attributes["content"])

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title.append(data)


def page_metadata(html: str) -> dict[str, str]:
    """The PDF information of a page: ``{"/Title": <title>, "/Author": <meta author>,
    "/Subject": <meta description>}``, read from its head (what is absent is left out)."""
    parser = _HeadMetadata()
    parser.feed(html)
    parser.close()
    found = {"/Title": " ".join("".join(parser.title).split()), "/Author": parser.meta.get("author", ""),
             "/Subject": parser.meta.get("description", "")}
    return {key: value for key, value in found.items() if value}


def with_metadata(pdf: bytes, metadata: dict[str, str]) -> bytes:
    """``pdf`` with ``metadata`` (``/Title``, ``/Author``, ``/Subject``...) set in its information
    dictionary (pypdf), pages and other entries unchanged."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_metadata(metadata)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class ReportHTMLExporter(HTMLExporter):
    """nbconvert's HTML exporter with the report settings: the ``jdl_report`` template, code and
    prompts hidden, images embedded, the page's Content-Security-Policy, and only what a reader
    should see (:class:`ReaderOutputsPreprocessor`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={TEMPLATE_NOTE}), enabled=True)
        self.register_preprocessor(ReaderOutputsPreprocessor, enabled=True)
        self.register_preprocessor(DocumentTitlePreprocessor, enabled=True)

    def _init_resources(self, resources):
        resources = super()._init_resources(resources)
        resources["content_security_policy"] = CONTENT_SECURITY_POLICY
        resources["author"] = AUTHOR
        return resources

    @default("extra_template_basedirs")
    def _report_template_basedirs(self):
        return [str(TEMPLATES_DIR)]

    @default("template_name")
    def _report_template_name(self):
        return TEMPLATE_NAME

    @default("exclude_input")
    def _report_exclude_input(self):
        return True

    @default("exclude_input_prompt")
    def _report_exclude_input_prompt(self):
        return True

    @default("exclude_output_prompt")
    def _report_exclude_output_prompt(self):
        return True

    @default("embed_images")
    def _report_embed_images(self):
        return True


class SystemChromiumPDFExporter(WebPDFExporter, ReportHTMLExporter):
    """nbconvert's webpdf exporter, printing with the system Chromium (:func:`find_chromium`)
    on A4 portrait pages, with the report settings of :class:`ReportHTMLExporter`.

    It replaces :meth:`WebPDFExporter.run_playwright`, the method that starts the browser, so as
    to pass Playwright the executable and the headless flags; it never downloads a browser. While
    printing, any request other than for the page itself or a ``data:`` URL is aborted, and the
    page is refused (:class:`ActiveContentError`) if it holds active content.
    The base class prints on Playwright's default paper, US Letter, when it paginates (and on one
    page as big as the report when ``paginate`` is False); this one prints A4 portrait pages and
    supports only ``paginate`` True. ``browser_args`` are passed after :data:`CHROMIUM_ARGS`."""

    allow_chromium_download = Bool(
        False, help="Must stay False: the system Chromium prints, a browser is never downloaded."
    ).tag(config=True)
    chromium_executable = Unicode(
        "", help="The Chromium to print with; empty: find_chromium()."
    ).tag(config=True)

    @default("template_name")
    def _report_template_name(self):
        return TEMPLATE_NAME

    @default("page_render_timeout")
    def _report_page_render_timeout(self):
        # nbconvert waits 100 ms after the page loads for its scripts (MathJax, widgets) to draw;
        # a report holds no script: it is drawn once loaded
        return 0

    def run_playwright(self, html):
        """Print ``html`` (a whole page) to PDF in the system Chromium; returns the PDF bytes.
        Printed in the browser kept open by :func:`keep_browser_open` when there is one, else in
        a browser started for this page and closed after it."""
        _check_inert(html, "the page to print")
        if self.allow_chromium_download:
            raise ValueError("SystemChromiumPDFExporter never downloads a browser")
        if not self.paginate:
            raise ValueError("SystemChromiumPDFExporter prints A4 pages only (paginate=True)")
        args = [*CHROMIUM_ARGS, *self.browser_args]
        # Chromium reads the page from a file; it is removed whatever happens.
        handle, html_file = tempfile.mkstemp(suffix=".html", prefix="jdl-report-")
        with os.fdopen(handle, "wb") as out:
            out.write(html.encode("utf-8"))
        try:
            kept = _kept_browser
            if kept is not None and kept.args == args and not self.chromium_executable:
                pdf = kept.print_page(html_file, self.page_render_timeout)
            else:
                with PrintingBrowser(self.chromium_executable or None, args) as browser:
                    pdf = browser.print_page(html_file, self.page_render_timeout)
        finally:
            os.unlink(html_file)
        # Chromium writes the Title (from <title>); the Author and Subject come from the same head
        return with_metadata(pdf, page_metadata(html))


class PrintingBrowser:
    """The system Chromium (:func:`find_chromium`, never a downloaded one), started through
    Playwright's async API on an event loop in a thread of its own (so that it also works where
    an event loop is already running: a notebook, papermill's engine), printing pages to A4 PDFs
    until :meth:`close`. While printing, any request other than for the page itself or a
    ``data:`` URL is aborted. ``spare_pages``: after each print, open the next print's page
    while the caller goes on (for a browser kept open for many prints)."""

    def __init__(self, executable: str | None = None, args=CHROMIUM_ARGS, spare_pages: bool = False):
        self.executable = executable or find_chromium()
        self.args = list(args)
        self.spare_pages = spare_pages
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="jdl-printing-browser", daemon=True)
        self._thread.start()
        self._playwright = self._browser = None
        self._spare = None   # a new page opened ahead of the next print
        try:
            self._call(self._start())
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> PrintingBrowser:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _start(self) -> None:
        try:
            from playwright.async_api import async_playwright
        except ModuleNotFoundError as error:  # pragma: no cover - a declared dependency
            raise RuntimeError("Playwright is not installed; it is a dependency of jdl: run `make setup`") from error
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.executable, args=self.args, headless=True,
                handle_sigint=False, handle_sigterm=False, handle_sighup=False)
        except Exception as error:
            raise ChromiumNotFoundError(f"Could not start Chromium at {self.executable} through Playwright: "
                                        f"{error}. " + INSTALL_HINT) from error
        await self._open_spare()

    async def _new_page(self):
        # a page (in a browser context of its own) laid out at the printable width, so that the
        # heights measured are those printed
        return await self._browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": PRINT_HEIGHT_PX})

    async def _open_spare(self) -> None:
        """Open the page the next print will use (0.15-0.2 s), while nothing waits for it."""
        if self._spare is None and self._browser is not None:
            with contextlib.suppress(Exception):   # the next print opens its own page instead
                self._spare = await self._new_page()

    def print_page(self, html_file: str, render_timeout: int = 0) -> bytes:
        """The page in the file ``html_file`` printed to A4 PDF (bytes), waiting
        ``render_timeout`` ms after it loads. Each page is printed in a new page of its own, closed
        after (with ``spare_pages``, opened after the previous print while the caller went on)."""
        try:
            return self._call(self._print(html_file, render_timeout))
        finally:
            if self.spare_pages and not self._loop.is_closed():
                asyncio.run_coroutine_threadsafe(self._open_spare(), self._loop)

    async def _print(self, html_file: str, render_timeout: int) -> bytes:
        page, self._spare = self._spare, None
        if page is None:
            page = await self._new_page()
        try:
            page_url = Path(html_file).as_uri()

            async def this_page_only(route):
                url = route.request.url
                if url == page_url or url.startswith("data:"):
                    await route.continue_()
                else:
                    await route.abort()

            await page.route("**/*", this_page_only)
            await page.emulate_media(media="print")
            await page.goto(page_url, wait_until="load")
            if render_timeout:
                await page.wait_for_timeout(render_timeout)
            # a little slack for rounding between screen layout and print layout
            await page.evaluate(PREPARE_FOR_PRINT_JS, [PRINT_WIDTH_PX, int(PRINT_HEIGHT_PX * 0.97), TEXT_CELL_CHARACTERS])
            return await page.pdf(format=PAGE_FORMAT, prefer_css_page_size=True, margin=PAGE_MARGINS,
                                  print_background=True)
        finally:
            await page.close()

    async def _stop(self) -> None:
        try:
            if self._browser is not None:
                await self._browser.close()
        finally:
            if self._playwright is not None:
                await self._playwright.stop()

    def close(self) -> None:
        """Close the browser and stop Playwright and the thread (a second call does nothing)."""
        if self._loop.is_closed():
            return
        try:
            if self._loop.is_running():
                self._call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            if not self._thread.is_alive():
                self._loop.close()


# The browser that SystemChromiumPDFExporter prints in, when one is kept open (keep_browser_open).
_kept_browser: PrintingBrowser | None = None
_kept_browser_lock = threading.Lock()


def keep_browser_open() -> PrintingBrowser:
    """Start a browser (the first time) that every later PDF of this process is printed in, and
    return it; it stays open until :func:`close_kept_browser` (a month runner's worker process
    prints all its reports in one browser instead of starting one per report). Thread-safe: a
    call while another thread is starting the browser waits for it and gets the same browser."""
    global _kept_browser
    with _kept_browser_lock:
        if _kept_browser is None:
            _kept_browser = PrintingBrowser(spare_pages=True)
        return _kept_browser


def close_kept_browser() -> None:
    """Close the browser :func:`keep_browser_open` started, if any."""
    global _kept_browser
    with _kept_browser_lock:
        browser, _kept_browser = _kept_browser, None
    if browser is not None:
        browser.close()


class _RemoteReferences(HTMLParser):
    """Collects the URLs in a page that a browser would fetch from another host."""

    # Attributes whose URL the browser loads on its own (<a href> is only followed on a click).
    FETCHED = frozenset({"src", "data", "poster", "background", "xlink:href"})
    HREF_FETCHED_BY = frozenset({"link", "image", "use", "feimage", "base"})
    REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
    CSS_REMOTE = re.compile(
        r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]*)""", re.IGNORECASE
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if not value:
                continue
            if name in self.FETCHED or (name == "href" and tag in self.HREF_FETCHED_BY):
                if self.REMOTE.match(value):
                    self.found.append(value.strip())
            elif name in ("srcset", "imagesrcset"):
                for candidate in value.split(","):
                    url = candidate.strip().split(" ")[0]
                    if self.REMOTE.match(url):
                        self.found.append(url)
            elif name == "style":
                self.found.extend(self.CSS_REMOTE.findall(value))
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found.extend(self.CSS_REMOTE.findall(data))


class _ActiveContent(HTMLParser):
    """Collects what in a page could run or embed something: script elements, embedding elements,
    event-handler attributes, and URLs other than ``data:`` (and in-page ``#`` anchors) in
    attributes a browser loads or follows on its own or on a click."""

    ELEMENTS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base",
                          "form", "portal", "noscript"})
    URL_ATTRIBUTES = frozenset({"src", "href", "data", "action", "formaction", "poster", "background",
                                "xlink:href", "srcdoc", "ping", "codebase", "manifest"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.ELEMENTS:
            self.found.append(f"<{tag}> element")
        if tag == "meta" and any(n == "http-equiv" and (v or "").strip().lower() == "refresh" for n, v in attrs):
            self.found.append("<meta http-equiv=refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name} attribute on <{tag}>")
            elif name in self.URL_ATTRIBUTES and value is not None:
                url = "".join(value.split()).lower()
                if url and not url.startswith(("data:", "#")):
                    self.found.append(f"{name} URL on <{tag}>")

    handle_startendtag = handle_starttag


def active_content(html: str) -> list[str]:
    """What in ``html`` could run a script, load or embed something, or navigate by itself: a
    description of each (element and attribute names only, never the text), in page order. A
    published report holds none (``href="#..."`` anchors and ``data:`` URLs are allowed)."""
    parser = _ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.found


def _check_inert(html: str, where) -> None:
    found = active_content(html)
    if found:
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        raise ActiveContentError(f"{where}: the page holds active content ({shown}); a published report "
                                 "must hold no script, event handler, link out or embedded frame")


def external_references(html: str) -> list[str]:
    """The URLs in ``html`` that a browser would fetch from another host (``http:``, ``https:``
    or scheme-relative ``//``): in src-like attributes, ``<link href>`` and the like, and CSS
    ``url()``/``@import``; links a reader may click are not fetched and not listed. Scripts'
    own code is not read: the report template has no remote scripts."""
    parser = _RemoteReferences()
    parser.feed(html)
    parser.close()
    return parser.found


def _check_self_contained(html: str, notebook_path: str | os.PathLike) -> None:
    remote = external_references(html)
    if remote:
        shown = ", ".join(remote[:5]) + (" ..." if len(remote) > 5 else "")
        raise ExternalReferenceError(
            f"{notebook_path}: the published report would load {len(remote)} resource(s) from "
            f"another host ({shown}); reports must be self-contained: embed the image or data "
            "instead of linking to it"
        )


def warm_up() -> None:
    """Do ahead of the first report what nbconvert does the first time it renders a page (its
    imports and first-use set-up, about 0.2 s): render a small page of the report's kinds of
    output and drop it. A pool worker calls it while its kernel runs the report."""
    import nbformat

    shown = nbformat.v4.new_code_cell("")
    shown.outputs = [nbformat.v4.new_output("display_data", data={
        "text/markdown": "Some *text*", "text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "1",
        "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'></svg>"})]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Warm-up"), shown])
    ReportHTMLExporter().from_notebook_node(notebook)


def render_html(notebook_path: str | os.PathLike) -> str:
    """The report page for ``notebook_path`` as a string (see :func:`export_html`)."""
    html, _ = ReportHTMLExporter().from_filename(str(notebook_path))
    _check_self_contained(html, notebook_path)
    _check_inert(html, notebook_path)
    return html


def export_html(notebook_path: str | os.PathLike, html_path: str | os.PathLike, html: str | None = None) -> Path:
    """Write the executed notebook as one self-contained HTML file, code hidden; atomically.
    Raises :class:`ExternalReferenceError` (writing nothing) if the page would fetch anything
    from another host, :class:`ActiveContentError` if it holds active content. ``html``: the page
    already rendered by :func:`render_html` for this notebook (rendered here when None)."""
    html = render_html(notebook_path) if html is None else html
    with atomic_path(html_path) as temp:
        temp.write_text(html, encoding="utf-8")
    return Path(html_path)


def export_pdf(notebook_path: str | os.PathLike, pdf_path: str | os.PathLike, html: str | None = None) -> Path:
    """Print the executed notebook to an A4 PDF with the system Chromium, code hidden;
    atomically. ``html``: the page already rendered by :func:`render_html` for this notebook
    (rendered here when None): the PDF exporter's own page is the same page (same template and
    settings), so a page rendered once serves both files."""
    html = render_html(notebook_path) if html is None else html
    pdf = SystemChromiumPDFExporter().run_playwright(html)
    with atomic_path(pdf_path) as temp:
        temp.write_bytes(pdf)
    return Path(pdf_path)


def publish(notebook_path: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.pdf`` for ``notebook_path`` into ``out_dir`` (e.g.
    report.ipynb -> report.html, report.pdf), from one rendering of the page; returns their paths."""
    notebook = Path(notebook_path)
    out = Path(out_dir)
    html = render_html(notebook)
    html_path = export_html(notebook, out / f"{notebook.stem}.html", html)
    pdf_path = export_pdf(notebook, out / f"{notebook.stem}.pdf", html)
    return html_path, pdf_path
