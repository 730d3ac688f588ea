"""Text from outside is data, never markup: params text is checked when it loads, every name is
escaped where it is shown (Markdown, tables, plot labels), uploads stay inside the uploads folder,
and a published page holds no script, loads nothing and carries a Content-Security-Policy.
Checks of rendered HTML walk its tags with an HTML parser."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import nbformat
import pytest
import yaml
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.v4 import new_code_cell, new_notebook, new_output

from jdl.report import text as report
from jdl.run import bulletin
from jdl.stats import subgroups
from jdl import words
from jdl.stats.compare import Comparison
from jdl.cohort.measures import MEASURES
from jdl.report.publish import (CONTENT_SECURITY_POLICY, ActiveContentError, SystemChromiumPDFExporter,
                                active_content, export_html, render_html)
from jdl.run.requests import (MAX_PARAMS_BYTES, ParamsError, check_text, confine_upload, glue_scraps,
                              load_month, load_request)

matplotlib.use("agg")

# What an attacker (or a careless copy and paste) might put in a params file's text.
HOSTILE = (
    '<iframe src="file:///etc/passwd"></iframe>',
    "<img src=x onerror=alert(1)>",
    "<b onmouseover=alert(1)>bold</b>",
    "[x](javascript:alert(1))",
    "<script>alert(1)</script>",
    "![pixel](http://evil.example/p.png)",
    "<http://evil.example>",
    "http://evil.example/x and www.evil.example",
    "$\\frac{1}{0}$ and $x",
    "`code` *em* __strong__ ~~gone~~",
    "# Heading",
    "1. listed",
    "> quoted",
    "| a | b |",
    "&lt;script&gt; &amp; &#60;b&#62;",
    "a\\b\\",
    "<!-- comment -->",
    "<style>body{display:none}</style>",
    "Women's Centre (North) - 50% \"better\"",
)


class Tags(HTMLParser):
    """Every start tag and its attributes, and the text, of an HTML fragment or page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def rendered(markdown: str) -> Tags:
    """``markdown`` rendered by nbconvert's own Markdown renderer (what publishes the reports)."""
    return Tags(markdown2html_mistune(markdown))


# ---------------------------------------------------------------- escaping in the words layer


def test_markdown_text_escapes_every_ascii_punctuation_character():
    assert words.markdown_text("Safe Ground") == "Safe Ground"
    assert words.markdown_text("<b>x</b>") == r"\<b\>x\<\/b\>"
    assert words.markdown_text("[x](javascript:alert(1))") == r"\[x\]\(javascript\:alert\(1\)\)"
    assert words.markdown_text("  two\nlines\r\n\tand tabs ") == "two lines and tabs"
    assert words.markdown_text(2014) == "2014"


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_exactly_that_text_and_no_markup(text):
    page = rendered(words.markdown_text(text))
    assert [tag for tag, _ in page.tags] == ["p"]
    assert "".join(page.text).strip() == " ".join(text.split())


@pytest.mark.parametrize("text", HOSTILE)
def test_report_sentences_show_hostile_names_as_text(text):
    headline = Comparison(0.30, 0.25, 0.35, 0.40, 0.39, 0.41, -0.10, -0.15, -0.05, 0.001, True, 100, 300.0,
                          150.0, 0.05)
    pieces = [report.title(text, text),
              report.summary_paragraph(text, text, headline, "significant reduction", 100, 400, MEASURES[0]),
              report.not_processed_letter(text, text, "fewer than 60 people were submitted (48)", 48, 40),
              *words.can_say("significant reduction", text, text, headline),
              *words.cannot_say("significant reduction", text, text, headline)]
    naming = [0, 1, 2, 3, 5, 6, 7]   # every piece but can_say's second sentence names them
    for i, piece in enumerate(pieces):
        page = rendered(piece)
        assert {tag for tag, _ in page.tags} <= {"p"}, piece
        assert (" ".join(text.split()) in "".join(page.text)) == (i in naming)


def test_subgroup_notes_escape_the_submitters_label():
    result = subgroups.SubgroupResult(dimension="Sub-group", level="<script>alert(1)</script>", people="40",
                                      status=subgroups.RUN, n_treated=40, n_comparison=200,
                                      n_comparison_effective=150.0, poor=("age",))
    notes = subgroups.subgroup_notes([result])
    page = rendered("\n\n".join(notes))
    assert {tag for tag, _ in page.tags} == {"p"}
    assert "sub-group: <script>alert(1)</script>" in "".join(page.text)


def test_bulletin_tables_escape_every_cell_and_keep_a_fixed_id():
    import pandas as pd

    frame = pd.DataFrame({"Organisation": ["<img src=x onerror=alert(1)>"], "<b>heading</b>": ["<script>x</script>"]})
    html = bulletin.table_style(frame, "results").to_html()
    page = Tags(html)
    assert {tag for tag, _ in page.tags} <= {"style", "table", "thead", "tbody", "tr", "th", "td"}
    assert "<img src=x onerror=alert(1)>" in page.text and "<script>x</script>" in page.text
    assert 'id="T_results"' in html
    assert bulletin.table_style(frame, "results").to_html() == html


def test_plot_labels_never_read_dollars_as_mathtext():
    import matplotlib.pyplot as plt

    assert words.plot_text("Costs $5 and $x^2$") == r"Costs \$5 and \$x^2\$"
    figure, axes = plt.subplots()
    bulletin._label_rows(axes, ["$\\frac{1}{0", "Costs $5 and $x^2$"])   # an unbalanced TeX group would raise
    figure.canvas.draw()
    assert [t.get_text() for t in axes.get_yticklabels()] == [r"\$\frac{1}{0", r"Costs \$5 and \$x^2\$"]
    plt.close(figure)


# ---------------------------------------------------------------- params checked when they load

GOOD = {"id": "2014-03-001", "organisation": "Safe Ground", "programme": "Family Man",
        "programme_type": "education", "date_received": "2014-01-15", "upload": "data/uploads/family-man.xlsx",
        "setting": "custody", "options": {"method": "nearest", "caliper": 0.1}}


def params_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "params" / "2014-03" / "a.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "uploads").mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**GOOD, **changes}, allow_unicode=True))
    return path


def refusal(path: Path, uploads_dir: Path | None = None) -> str:
    with pytest.raises(ParamsError) as error:
        load_request(path, uploads_dir=uploads_dir)
    return str(error.value)


@pytest.mark.parametrize("character, name", [
    ("\u202e", "RIGHT-TO-LEFT OVERRIDE"), ("\u2066", "LEFT-TO-RIGHT ISOLATE"), ("\u200b", "ZERO WIDTH SPACE"),
    ("\x1b", "ESCAPE"), ("\x00", "NUL"), ("\n", "LINE FEED"), ("\u2028", "LINE SEPARATOR"), ("\ufeff", "BOM"),
    ("\ue000", "PRIVATE USE"),
])
def test_control_and_bidi_characters_are_refused(tmp_path, character, name):
    path = params_file(tmp_path, organisation=f"Safe{character}Ground")
    assert refusal(path) == (f"{path}: field 'organisation' holds a control, bidirectional or other invisible "
                             f"character (U+{ord(character):04X} at character 5); use plain text")


def test_non_ascii_letters_and_hostile_markup_load_as_plain_text(tmp_path):
    """Markup is not refused: it is shown as written (escaped where it is rendered)."""
    request = load_request(params_file(tmp_path, organisation="Café Ümit <b>&</b>", programme=HOSTILE[0]))
    assert (request.organisation, request.programme) == ("Café Ümit <b>&</b>", HOSTILE[0])


def test_text_size_limits(tmp_path):
    path = params_file(tmp_path, programme="x" * 201)
    assert refusal(path) == f"{path}: field 'programme' is 201 characters long; the limit is 200"
    assert check_text("x" * 200) == "x" * 200
    big = tmp_path / "params" / "2014-03" / "big.yaml"
    big.write_text("organisation: " + "x" * MAX_PARAMS_BYTES + "\n")
    assert refusal(big) == f"{big}: the params file is {MAX_PARAMS_BYTES + 15:,} bytes; the limit is 65,536"


def test_unknown_field_names_that_are_not_plain_text_are_not_repeated(tmp_path):
    path = params_file(tmp_path, **{"<script>alert(1)</script>": 1, "extra": 2})
    assert refusal(path) == f"{path}: unknown field(s) (a field name that is not plain text), extra"


@pytest.mark.parametrize("options, message", [
    ({"method": "<script>"}, "option 'method' must be radius or nearest"),
    ({"caliper": -1}, "option 'caliper' must be a number above 0 and at most 5"),
    ({"caliper": float("nan")}, "option 'caliper' must be a number above 0 and at most 5"),
    ({"caliper": "0.2"}, "option 'caliper' must be a number above 0 and at most 5"),
    ({"ratio": 0}, "option 'ratio' must be a whole number from 1 to 10"),
    ({"ratio": True}, "option 'ratio' must be a whole number from 1 to 10"),
    ({"replace": "yes"}, "option 'replace' must be true or false"),
    ({"exact": ["sex", "<b>"]}, "option 'exact' must be a list of up to 10 column names"),
    ({"exact": "sex"}, "option 'exact' must be a list of up to 10 column names"),
])
def test_option_values_are_checked(tmp_path, options, message):
    path = params_file(tmp_path, options=options)
    assert refusal(path).startswith(f"{path}: {message}")


def test_good_options_load(tmp_path):
    options = {"method": "radius", "caliper": 0.2, "ratio": 2, "replace": True, "exact": ["sex", "region"]}
    assert load_request(params_file(tmp_path, options=options)).options == options
    assert load_request(params_file(tmp_path, options={"method": "nearest", "caliper": None})).options == {
        "method": "nearest", "caliper": None}


# ---------------------------------------------------------------- uploads confined to their folder

OUTSIDE = "must name a file inside the uploads folder"


def test_an_upload_inside_the_uploads_folder_loads(tmp_path):
    request = load_request(params_file(tmp_path))
    assert request.upload == tmp_path / "data/uploads/family-man.xlsx"
    assert request.uploads_dir == tmp_path / "data/uploads"
    assert request.parameters(tmp_path / "n")["uploads_dir"] == str(tmp_path / "data/uploads")


@pytest.mark.parametrize("upload", ["/etc/passwd", "data/uploads/../../../etc/passwd", "params/2014-03/a.yaml",
                                    "data/uploads", "data/other/x.csv"])
def test_an_upload_outside_the_uploads_folder_is_a_params_error(tmp_path, upload):
    path = params_file(tmp_path, upload=upload)
    message = refusal(path)
    assert message.startswith(f"{path}: field 'upload' {OUTSIDE} {tmp_path / 'data/uploads'}")
    assert "passwd" not in message


def test_a_symlink_out_of_the_uploads_folder_is_refused(tmp_path):
    path = params_file(tmp_path, upload="data/uploads/innocent.xlsx")
    (tmp_path / "data/uploads/innocent.xlsx").symlink_to("/etc/passwd")
    assert OUTSIDE in refusal(path)
    # a folder symlinked in from outside is no better
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.csv").write_text("surname\n")
    (tmp_path / "data/uploads/linked").symlink_to(tmp_path / "elsewhere")
    assert OUTSIDE in refusal(params_file(tmp_path, upload="data/uploads/linked/x.csv"))
    # a symlink that stays inside the folder is fine
    (tmp_path / "data/uploads/real.csv").write_text("surname\n")
    (tmp_path / "data/uploads/alias.csv").symlink_to(tmp_path / "data/uploads/real.csv")
    assert load_request(params_file(tmp_path, upload="data/uploads/alias.csv")).upload.name == "alias.csv"


def test_a_special_file_or_folder_inside_the_uploads_folder_is_refused(tmp_path):
    (tmp_path / "data/uploads/sub").mkdir(parents=True)
    assert "must name a regular file" in refusal(params_file(tmp_path, upload="data/uploads/sub"))
    os.mkfifo(tmp_path / "data/uploads/pipe.csv")
    assert "must name a regular file" in refusal(params_file(tmp_path, upload="data/uploads/pipe.csv"))


def test_the_uploads_folder_can_be_set(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = params_file(tmp_path, upload=str(inbox / "x.xlsx"))
    assert OUTSIDE in refusal(path)
    assert load_request(path, uploads_dir=inbox).upload == inbox / "x.xlsx"
    assert [r.id for r in load_month(path.parent, uploads_dir=inbox)] == ["2014-03-001"]


def test_readers_that_never_open_the_upload_can_skip_the_check(tmp_path):
    # the bulletin and retention describe requests whose upload lay elsewhere when they ran
    path = params_file(tmp_path, upload="/etc/passwd")
    assert OUTSIDE in refusal(path)
    assert load_request(path, confine=False).upload == Path("/etc/passwd")
    assert [r.id for r in load_month(path.parent, confine=False)] == ["2014-03-001"]


def test_confine_upload_is_what_the_notebook_checks(tmp_path):
    (tmp_path / "uploads").mkdir()
    assert confine_upload(tmp_path / "uploads" / "a.csv", tmp_path / "uploads") == tmp_path / "uploads" / "a.csv"
    with pytest.raises(ValueError, match=OUTSIDE):
        confine_upload(Path("/etc/passwd"), tmp_path / "uploads")


# ---------------------------------------------------------------- scraps are valid JSON


def test_glue_scraps_glues_infinity_as_text_and_refuses_unknown_names(monkeypatch):
    import scrapbook

    glued = []
    monkeypatch.setattr(scrapbook, "glue", lambda name, value, encoder: glued.append((name, value, encoder)))
    glue_scraps({"number_needed": float("inf"), "p_value": float("nan"), "reason": None, "organisation": "O",
                 "n_treated": 3, "subgroups": [{"p_value": float("nan"), "n_treated": 31}, float("inf")]})
    assert glued == [("number_needed", "inf", "text"), ("organisation", "O", "text"), ("n_treated", 3, "json"),
                     ("subgroups", [{"n_treated": 31}, None], "json")]
    with pytest.raises(ValueError, match="not scraps of the report contract: made_up"):
        glue_scraps({"made_up": 1})


# ---------------------------------------------------------------- published pages are inert


def notebook_with(tmp_path: Path, *outputs) -> Path:
    cell = new_code_cell("x", outputs=list(outputs))
    path = tmp_path / "page.ipynb"
    nbformat.write(new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                       "language": "python"}}), path)
    return path


def markdown_output(text: str):
    return new_output("display_data", data={"text/markdown": text, "text/plain": "<Markdown>"})


@pytest.mark.parametrize("page, found", [
    ("<p>fine <a href='#Summary'>anchor</a> <img src='data:image/png;base64,AA=='></p>", []),
    ("<script>alert(1)</script>", ["<script> element"]),
    ("<b onmouseover=alert(1)>x</b>", ["onmouseover attribute on <b>"]),
    ("<a href=' javascript:alert(1)'>x</a>", ["href URL on <a>"]),
    ("<a href='http://evil.example'>x</a>", ["href URL on <a>"]),
    ("<iframe src='file:///etc/passwd'></iframe>", ["<iframe> element", "src URL on <iframe>"]),
    ("<img src='file:///etc/passwd'>", ["src URL on <img>"]),
    ("<svg><use xlink:href='x.svg#a'/></svg>", ["xlink:href URL on <use>"]),
    ("<meta http-equiv='refresh' content='0;url=http://evil.example'>", ["<meta http-equiv=refresh>"]),
    ("<object data='x.pdf'></object>", ["<object> element", "data URL on <object>"]),
])
def test_active_content_is_found(page, found):
    assert active_content(page) == found


def test_a_published_page_carries_the_policy_and_shows_hostile_text_as_text(tmp_path):
    text = " ".join(HOSTILE)
    html_path = export_html(notebook_with(tmp_path, markdown_output(words.markdown_text(text))), tmp_path / "p.html")
    html = html_path.read_text()
    page = Tags(html)
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}) in page.tags
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert active_content(html) == []
    assert not [tag for tag, _ in page.tags if tag in ("script", "iframe", "img", "a", "object", "embed")]
    assert " ".join(text.split()) in " ".join("".join(page.text).split())


def test_a_page_with_active_content_is_never_written(tmp_path):
    script = new_output("display_data", data={"text/html": "<b onclick='steal()'>x</b>", "text/plain": "x"})
    target = tmp_path / "p.html"
    target.write_text("the earlier page")
    with pytest.raises(ActiveContentError, match=r"onclick attribute on <b>"):
        export_html(notebook_with(tmp_path, script), target)
    assert target.read_text() == "the earlier page"
    with pytest.raises(ActiveContentError):
        SystemChromiumPDFExporter().run_playwright("<p>x</p><script>1</script>")


def test_published_pages_hold_no_stderr_and_stable_cell_ids(tmp_path):
    warning = new_output("stream", name="stderr", text="/srv/jdl/x.py:3: UserWarning: careful\n")
    html = render_html(notebook_with(tmp_path, warning, new_output("stream", name="stdout", text="shown\n")))
    assert "UserWarning" not in html and "/srv/jdl" not in html and "shown" in html
    assert 'id="cell-id=cell-0"' in html


@pytest.mark.slow
def test_the_pdf_printer_loads_only_its_own_page(tmp_path):
    """Even a page that slipped past every check (here: straight to the printer) cannot pull a
    local file or another host into the PDF."""
    from jdl.report.publish import PrintingBrowser

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-LINE-42")
    page = tmp_path / "page.html"
    page.write_text(f"<html><body><p>visible text</p><iframe src='{secret.as_uri()}'></iframe>"
                    f"<img src='{secret.as_uri()}'><link rel=stylesheet href='http://127.0.0.1:9/x.css'></body></html>")
    with PrintingBrowser() as browser:
        pdf = browser.print_page(str(page))
    (tmp_path / "out.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "out.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "visible text" in text and "SECRET-LINE-42" not in text


def test_date_received_in_params_is_a_date_not_text(tmp_path):
    assert load_request(params_file(tmp_path)).date_received == dt.date(2014, 1, 15)


def test_love_plot_labels_from_the_national_data_are_never_mathtext():
    import pandas as pd

    from jdl.stats.balance import Balance, love_plot

    table = pd.DataFrame({"std_diff_before": [12.0, 3.0], "std_diff_after": [2.0, 1.0]},
                         index=["region_$\\frac{1}{", "age"])
    figure = love_plot(Balance(table=table, any_poor=False, poor=()))
    figure.canvas.draw()   # a bad TeX group would raise here
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == [r"region_\$\frac{1}{", "age"]
