"""Hostile params through the real notebooks: a request whose organisation, programme and
programme type are markup, Markdown links, file: URLs and TeX is run by `jdl run` (papermill),
published (nbconvert HTML and PDF) and summarised in the bulletin (`jdl summary`). Every published
page is walked with an HTML parser and every PDF read with pdftotext: the names show as written,
nothing active survives, nothing is loaded, and the same request run twice publishes the same bytes.

The request is one of the session's shared report month (tests/session_data.py, built once by
tests/conftest.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jdl.cli import main
from jdl.report.publish import CONTENT_SECURITY_POLICY, active_content
from jdl.run.requests import load_request
from jdl.run.runner import execute_request
from session_data import HOSTILE_ID, ORGANISATION, PROGRAMME
from test_inert import Tags

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks/request_report.ipynb"


class Page(Tags):
    """A published page: its tags, and its text with whitespace collapsed."""

    @property
    def words(self) -> str:
        return " ".join("".join(self.text).split())


def pdf_text(path: Path) -> str:
    return " ".join(subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())


@pytest.fixture(scope="module")
def project(report_month):
    return {"root": report_month.root, "national": report_month.national, "run": report_month.run,
            "summary": report_month.summary, "params": report_month.params(HOSTILE_ID),
            "report": report_month.report(HOSTILE_ID), "month": report_month.out}


def published_pages(project) -> list[Path]:
    return [project["report"] / "report.html", project["month"] / "summary.html"]


def test_the_hostile_request_ran_and_was_published(project):
    assert project["run"]["exit_code"] == 0, project["run"]["output"]
    assert project["summary"]["exit_code"] == 0, project["summary"]["output"]
    outcomes = json.loads((project["month"] / "run.json").read_text())["outcomes"]
    [outcome] = [o for o in outcomes if o["id"] == HOSTILE_ID]
    assert outcome["status"] == "published"


def test_published_pages_show_the_names_as_text_and_hold_nothing_active(project):
    for html_path in published_pages(project):
        html = html_path.read_text()
        page = Page(html)
        assert active_content(html) == [], html_path
        assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}) in page.tags
        tags = {tag for tag, _ in page.tags}
        assert not tags & {"script", "iframe", "frame", "object", "embed", "base", "form"}, html_path
        for tag, attributes in page.tags:
            assert not [name for name in attributes if name.startswith("on")], (html_path, tag)
            if tag == "img":
                assert attributes["src"].startswith("data:image/svg+xml;base64,"), html_path
            if tag == "a":
                assert attributes.get("href", "#").startswith("#"), html_path
        assert ORGANISATION in page.words, html_path
        assert " ".join(PROGRAMME.split()) in page.words, html_path


def test_pdfs_show_the_names_as_text_and_never_the_servers_files(project):
    for pdf in (project["report"] / "report.pdf", project["month"] / "summary.pdf"):
        text = pdf_text(pdf)
        assert "root:x:0:0" not in text and "/bin/bash" not in text and "nologin" not in text
        assert '<iframe src="file:///etc/passwd"></iframe>' in text
        assert "<script>alert(1)</script>" in text


def test_no_warning_traceback_or_server_path_reaches_a_page(project):
    root = str(project["root"])
    for html_path in published_pages(project):
        text = Page(html_path.read_text()).words
        for marker in ("Warning", "Traceback", "Error:", root, "/site-packages/", str(ROOT)):
            assert marker not in text, (html_path, marker)
    for notebook in (project["report"] / "report.ipynb", project["month"] / "summary.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        streams = [o for c in cells for o in c.get("outputs", []) if o["output_type"] in ("stream", "error")
                   and o.get("name") != "stdout"]
        assert streams == [], notebook


def test_the_same_request_run_twice_publishes_the_same_bytes(project, tmp_path):
    request = load_request(project["params"])
    outcome = execute_request(request, NOTEBOOK, tmp_path / "again", project["national"], project["root"])
    assert outcome.status == "published", outcome.error
    first, second = project["report"], tmp_path / "again"
    # the same bytes but for the run time the provenance annex states (it must differ between runs)
    # and the source commit (which a commit made while the suite runs would change)
    run_at = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00|commit [0-9a-f]{40}")
    pages = [(folder / "report.html").read_text() for folder in (first, second)]
    assert all(run_at.search(page) for page in pages)
    assert run_at.sub("RUN", pages[0]) == run_at.sub("RUN", pages[1])
    assert run_at.sub("RUN", pdf_text(first / "report.pdf")) == run_at.sub("RUN", pdf_text(second / "report.pdf"))


def test_a_params_file_pointing_outside_the_uploads_folder_runs_nothing(project, tmp_path):
    # a project of its own (the shared month is read-only): the hostile params, with an upload
    # that is a symlink in the uploads folder to a file outside it
    month = tmp_path / "params" / "2014-02"
    month.mkdir(parents=True)
    uploads = tmp_path / "data" / "uploads"
    uploads.mkdir(parents=True)
    link = uploads / "looks-fine.csv"
    link.symlink_to("/etc/passwd")
    params = {**yaml.safe_load(project["params"].read_text()), "id": "2014-02-001",
              "upload": "data/uploads/looks-fine.csv"}
    (month / "a.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["run", str(month), "--outputs", str(tmp_path / "outputs"),
                                       "--national", str(project["national"]), "--notebook", str(NOTEBOOK)])
    assert result.exit_code == 2
    assert "field 'upload' must name a file inside the uploads folder" in result.output
    assert "root:" not in result.output
    assert not (tmp_path / "outputs" / "2014-02" / "2014-02-001").exists()
