"""The command line's month argument and terminal output (jdl.cli, jdl.run.runner.outcome_line).

``jdl run`` and ``jdl summary`` take the month as a name under ``--params`` or as the month's
folder (``month_folder``); a request not processed says so once; and nothing a report's kernel
writes to its file descriptors reaches the terminal of ``jdl run``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import nbformat
import pytest
import yaml
from click.testing import CliRunner

from jdl.cli import DEFAULT_PARAMS, main, month_folder
from jdl.run import bulletin, runner

TEMPLATE = Path(__file__).resolve().parent / "notebooks" / "fake_report.ipynb"


@click.command()
@click.argument("month")
@click.option("--params", "params_root", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_PARAMS)
@click.pass_context
def probe(ctx: click.Context, month: str, params_root: Path) -> None:
    """What month_folder makes of MONTH and --params, as jdl run and jdl summary call it."""
    root, name = month_folder(ctx, month, params_root)
    click.echo(f"{root}|{name}")


def folder_of(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(probe, list(arguments))
    return result.exit_code, result.output.strip()


def test_a_month_s_name_is_looked_for_under_params():
    assert folder_of("2014-03") == (0, "params|2014-03")
    assert folder_of("2014-03", "--params", "elsewhere/params") == (0, "elsewhere/params|2014-03")


def test_a_month_s_folder_gives_its_parent_as_params():
    assert folder_of("params/2014-03") == (0, "params|2014-03")
    assert folder_of("params/2014-03/") == (0, "params|2014-03")
    assert folder_of("/srv/lab/params/2014-03") == (0, "/srv/lab/params|2014-03")


def test_a_folder_given_from_inside_it_is_resolved(tmp_path, monkeypatch):
    month = tmp_path / "params" / "2014-03"
    month.mkdir(parents=True)
    monkeypatch.chdir(month)
    assert folder_of("./") == (0, f"{tmp_path / 'params'}|2014-03")
    assert folder_of("../2014-03") == (0, "..|2014-03")


def test_a_folder_with_params_too_is_a_usage_error():
    code, output = folder_of("params/2014-03", "--params", "params")
    assert code == 2
    assert ("params/2014-03 is a folder's path; give a month's name (e.g. 2014-03) with --params, or the folder's "
            "path without --params") in output


@pytest.mark.parametrize("month", ["", ".", ".."])
def test_dots_and_nothing_are_not_months(month):
    code, output = folder_of(month)
    assert code == 2
    assert f"'{month}' is not a month: give one such as 2014-03" in output


def write_project(root: Path, month: str = "2014-03") -> Path:
    """A project with one request in params/<month>/ (its upload need not exist for the stand-in template)."""
    folder = root / "params" / month
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text(yaml.safe_dump({
        "id": "a", "organisation": "Org", "programme": "Family Man", "date_received": "2014-01-15",
        "upload": "data/uploads/a.csv"}))
    return folder


def test_jdl_run_refuses_a_folder_with_params_and_a_missing_month(tmp_path, monkeypatch):
    write_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    both = CliRunner().invoke(main, ["run", "params/2014-03", "--params", "params", "--notebook", str(TEMPLATE)])
    assert both.exit_code == 2 and "is a folder's path" in both.output
    missing = CliRunner().invoke(main, ["run", "2014-04", "--notebook", str(TEMPLATE)])
    assert missing.exit_code == 2 and "params/2014-04: no such params folder" in missing.output
    dots = CliRunner().invoke(main, ["run", "..", "--notebook", str(TEMPLATE)])
    assert dots.exit_code == 2 and "'..' is not a month" in dots.output
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("arguments,params_root", [
    (["2014-03"], Path("params")),
    (["params/2014-03"], Path("params")),
    (["2014-03", "--params", "other"], Path("other")),
    (["other/2014-03"], Path("other")),
])
def test_jdl_summary_takes_a_name_or_a_folder(tmp_path, monkeypatch, arguments, params_root):
    for root in ("params", "other"):
        (tmp_path / root / "2014-03").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    received = []

    def build(month, params, outputs, publish=True, publication_date=None):
        received.append((month, params, outputs, publish, publication_date))
        return Path(outputs) / month / "summary.ipynb"

    monkeypatch.setattr(bulletin, "build_summary", build)
    result = CliRunner().invoke(main, ["summary", *arguments, "--no-publish"])
    assert result.exit_code == 0, result.output
    assert received == [("2014-03", params_root, Path("outputs"), False, None)]
    assert result.output == "wrote outputs/2014-03/summary.ipynb\n"


def test_jdl_summary_takes_the_publication_date(tmp_path, monkeypatch):
    """--publication-date (YYYY-MM-DD) reaches build_summary as a date; a date that is not one is
    refused, naming the option, before anything is built."""
    import datetime as dt

    (tmp_path / "params" / "2014-03").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    received = []
    monkeypatch.setattr(bulletin, "build_summary",
                        lambda *a, publication_date=None, **k: received.append(publication_date) or tmp_path / "x")
    result = CliRunner().invoke(main, ["summary", "2014-03", "--publication-date", "2014-04-10", "--no-publish"])
    assert result.exit_code == 0, result.output
    assert received == [dt.date(2014, 4, 10)]
    for bad in ("2014-13-01", "10/04/2014", "<b>"):
        result = CliRunner().invoke(main, ["summary", "2014-03", "--publication-date", bad])
        assert result.exit_code == 2 and "Invalid value for '--publication-date'" in result.output, result.output
    assert received == [dt.date(2014, 4, 10)]


def test_jdl_summary_refuses_a_folder_with_params(tmp_path, monkeypatch):
    (tmp_path / "params" / "2014-03").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bulletin, "build_summary", lambda *a, **k: pytest.fail("nothing may be built"))
    result = CliRunner().invoke(main, ["summary", "params/2014-03", "--params", "params"])
    assert result.exit_code == 2 and "is a folder's path" in result.output


def test_a_request_not_processed_says_so_once(tmp_path):
    outputs = tmp_path / "outputs"
    notebook = outputs / "2014-03" / "x" / "report.ipynb"
    run = runner.MonthRun("2014-03", [
        runner.RequestOutcome("x", "not processed", "not processed", None, 3.24, notebook),
        runner.RequestOutcome("y", "published", "inconclusive", None, 12.0, notebook.with_name("y.ipynb")),
    ], outputs)
    assert runner.outcome_line(run.outcomes[0], run) == "x  not processed  3.2 s  2014-03/x/report.ipynb"
    assert runner.outcome_line(run.outcomes[1], run) == "y  published  inconclusive  12.0 s  2014-03/x/y.ipynb"


# ---------------------------------------------------------------------------------------------
# what a kernel writes stays off the terminal

NOISE = ("import atexit, os, subprocess\n"
         "os.write(1, b'KERNEL-FD1-NOISE\\n')\n"
         "os.write(2, b'KERNEL-FD2-NOISE\\n')\n"
         "subprocess.run(['sh', '-c', 'echo KERNEL-CHILD-NOISE >&2'])\n"
         "atexit.register(os.write, 2, b'KERNEL-EXIT-NOISE\\n')\n")
MARKERS = ("KERNEL-FD1-NOISE", "KERNEL-FD2-NOISE", "KERNEL-CHILD-NOISE", "KERNEL-EXIT-NOISE")


def noisy_template(folder: Path) -> Path:
    """The stand-in report template with a first code cell that writes to the kernel's file
    descriptors 1 and 2, from a child process, and when the kernel exits."""
    notebook = nbformat.read(TEMPLATE, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(NOISE))
    path = folder / "noisy.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_what_a_kernel_writes_never_reaches_the_terminal(tmp_path):
    write_project(tmp_path)
    template = noisy_template(tmp_path)
    # what the cell writes does reach the terminal of a plain papermill run
    alone = tmp_path / "noise.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOISE)]), alone)
    plain = subprocess.run([sys.executable, "-c", "import sys, papermill\n"
                            "papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name='python3', "
                            "progress_bar=False)", str(alone), str(tmp_path / "plain.ipynb")],
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert [marker for marker in MARKERS if marker in plain.stdout + plain.stderr] == list(MARKERS)
    # jdl run in a process of its own, the month given by name (under the default params/)
    result = subprocess.run([sys.executable, "-c", "from jdl.cli import main; main()", "run", "2014-03",
                             "--outputs", "outputs", "--national", "data/national", "--notebook", str(template),
                             "--no-publish", "--workers", "1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("a  published  inconclusive  ")
    assert (tmp_path / "outputs" / "2014-03" / "a" / "report.ipynb").is_file()
    terminal = result.stdout + result.stderr
    assert [marker for marker in MARKERS if marker in terminal] == []
    executed = nbformat.read(tmp_path / "outputs" / "2014-03" / "a" / "report.ipynb", as_version=4)
    assert executed.cells[1].source == NOISE and executed.cells[1].execution_count == 1   # the cell ran
