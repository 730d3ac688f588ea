"""`jdl demo` end to end: the whole demo pilot (three months of requests, their reports and
bulletins) on the session's shared synthetic national data (tests/session_data.py), written to a
folder of the test's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
from click.testing import CliRunner

from jdl.cli import main
from jdl.run.requests import read_scraps

ROOT = Path(__file__).resolve().parents[1]


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_demo_runs_the_whole_pilot(synthetic_world, tmp_path):
    """`jdl demo` (the README's main command) on the session's small national data: every month's
    reports and bulletin, the request under the minimum criteria and the withdrawn one included."""
    from jdl.synth.demo import DEMO_PILOT, MONTHS

    root = synthetic_world.root
    result = CliRunner().invoke(main, ["demo", "--national", str(synthetic_world.national),
                                       "--uploads", str(synthetic_world.uploads), "--params", str(tmp_path / "params"),
                                       "--outputs", str(tmp_path / "outputs")])
    assert result.exit_code == 0, result.output
    for request in DEMO_PILOT:
        folder = tmp_path / "outputs" / request.month / request.id
        expected = [] if request.status == "withdrawn" else ["report.html", "report.ipynb", "report.pdf"]
        assert sorted(p.name for p in folder.glob("*")) == expected
    for month in MONTHS:
        assert (tmp_path / "outputs" / month / "summary.pdf").stat().st_size > 0
    last = read_scraps(tmp_path / "outputs" / "2014-02" / "2014-02-002" / "report.ipynb")
    assert last.status == "not processed"
    # by March two programme types hold two published results each: the library pools them
    march = " ".join(pdf_text(tmp_path / "outputs" / "2014-03" / "summary.pdf").split())
    assert "Mentoring and support: 2 results pooled" in march
    assert "Education and employment: 2 results pooled" in march
    for request in DEMO_PILOT:
        report_path = tmp_path / "outputs" / request.month / request.id / "report.ipynb"
        if request.status != "withdrawn" and read_scraps(report_path).status == "published":
            scraps = read_scraps(report_path).to_dict()
            assert scraps["standard_error"] > 0 and scraps["controlled_for_region"]["status"]
            assert scraps["subgroups"], request.slug
    # Work Ready (the employment programme; its synthetic truth is about +18 points on this world,
    # +15.6 on the default one): a significant, higher employment rate in its report and the bulletin
    work_ready = read_scraps(tmp_path / "outputs" / "2014-03" / "2014-03-001" / "report.ipynb")
    employed = work_ready.employment["employed_in_year"]
    assert employed["shown"] and employed["significant"] and employed["lower"] > 0
    assert employed["treated_mean"] > employed["comparison_mean"]
    assert work_ready.verdict == "inconclusive"           # the headline stays the re-offending rate's
    report_text = " ".join(pdf_text(tmp_path / "outputs" / "2014-03" / "2014-03-001" / "report.pdf").split())
    assert "Experimental: employment and benefits in the year after" in report_text
    assert ("The share in P45 employment at any time in the year after the index date of people who received the "
            "service was higher by between") in report_text
    assert "Experimental: employment in the year after" in march
    assert "Experimental: P45 employment over the year" in report_text
    assert "bulletin:" in result.output and "done in" in result.output
    # no warning, traceback or server path reaches a page, and no page holds active content
    from jdl.report.publish import active_content

    pages = sorted((tmp_path / "outputs").rglob("*.html"))
    assert len(pages) == 10   # seven reports (one withdrawn of eight) and three bulletins
    for page in pages:
        html = page.read_text()
        assert active_content(html) == [] and "Content-Security-Policy" in html, page.name
        for marker in ("Warning", "Traceback", str(ROOT), str(root), str(tmp_path), "site-packages"):
            assert marker not in html, (page.name, marker)
    for notebook in sorted((tmp_path / "outputs").rglob("*.ipynb")):
        outputs = [o for c in nbformat.read(notebook, as_version=4).cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], notebook.name
