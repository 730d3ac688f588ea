"""Packaging: the notebooks and report templates are package resources, ``python -m jdl`` is the
``jdl`` command, and a built wheel, installed elsewhere, runs the reports from an empty folder.

The slow test builds the wheel from a copy of this working tree, installs it with
``pip install --target`` into a temporary folder put on PYTHONPATH (so the installed copy, not this
checkout, is imported: it checks ``jdl.__file__``), and from an empty folder runs
``python -m jdl synth`` (20,000 people), ``python -m jdl run`` for the demo's first month (two
requests) without ``--notebook``, and ``python -m jdl summary``; then checks the reports and the
bulletin were written from the notebooks inside the installed package. (``jdl demo`` itself, three
months of reports, takes over two minutes on a small machine, too long for a test; it was run by
hand the same way.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import nbformat
import pytest

from jdl.cli import main
from jdl.paths import REPORT_TEMPLATE, SUMMARY_TEMPLATE, installed_notebook

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MONTH = "2014-01"


def test_every_package_is_listed_for_the_wheel():
    setuptools = PYPROJECT["tool"]["setuptools"]
    on_disk = {"jdl"} | {f"jdl.{init.parent.name}" for init in (ROOT / "jdl").glob("*/__init__.py")}
    assert sorted(setuptools["packages"]) == sorted(on_disk | {"jdl.notebooks"})
    assert not list((ROOT / "jdl").glob("*/*/__init__.py"))  # no deeper package the list would miss
    assert setuptools["package-dir"] == {"jdl.notebooks": "notebooks"}
    assert setuptools["package-data"]["jdl.notebooks"] == ["*.ipynb"]


def test_the_installed_notebooks_are_the_checkouts_own():
    # an editable install (pip install -e .) maps jdl.notebooks to the project's notebooks/ folder
    with installed_notebook(REPORT_TEMPLATE) as report, installed_notebook(SUMMARY_TEMPLATE) as summary:
        assert report == ROOT / "notebooks" / "request_report.ipynb"
        assert summary == ROOT / "notebooks" / "monthly_summary.ipynb"
    with pytest.raises(FileNotFoundError, match="^missing.ipynb: not installed with jdl"):
        with installed_notebook("missing.ipynb"):
            pass


def test_the_report_templates_are_the_packages_own():
    from jdl.report.publish import TEMPLATE_NAME, TEMPLATES_DIR

    assert TEMPLATES_DIR == ROOT / "jdl" / "report" / "templates"
    assert (TEMPLATES_DIR / TEMPLATE_NAME / "index.html.j2").is_file()


def _jdl(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jdl", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_python_m_jdl_help_lists_every_command():
    done = _jdl("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: python -m jdl [OPTIONS] COMMAND [ARGS]...")
    listed = done.stdout.split("Commands:\n", 1)[1].split()
    assert set(main.commands) <= set(listed)
    assert set(main.commands) >= {"demo", "power", "purge", "run", "summary", "synth", "template", "validate"}


@pytest.mark.parametrize("command", sorted(main.commands))
def test_python_m_jdl_command_help(command):
    done = _jdl(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: python -m jdl {command} [OPTIONS]")
    assert isinstance(main.commands[command], click.Command)


def _copy_source(destination: Path) -> Path:
    """The project's files as they are in this working tree, without what is generated."""
    shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(
        ".git", ".venv", "data", "outputs", "params", "build", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ipynb_checkpoints"))
    return destination


@pytest.mark.slow
def test_an_installed_wheel_runs_the_reports_from_an_empty_folder(tmp_path):
    source = _copy_source(tmp_path / "source")
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("jdl-*.whl")
    subprocess.run([*pip, "install", "--quiet", "--no-index", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    shutil.rmtree(source)  # nothing of the source is left to be found by accident
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(site)}

    where = subprocess.run([sys.executable, "-c", "import jdl; print(jdl.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(site / "jdl" / "__init__.py")

    synth = _jdl("synth", "--people", "20000", cwd=work, env=env)
    assert synth.returncode == 0, synth.stderr
    params = subprocess.run([sys.executable, "-c", "from pathlib import Path; from jdl.synth.demo import "
                             "write_demo_params; write_demo_params(Path('params'))"], cwd=work, env=env,
                            capture_output=True, text=True, check=False)
    assert params.returncode == 0, params.stderr
    run = _jdl("run", MONTH, "--workers", "2", cwd=work, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = _jdl("summary", MONTH, cwd=work, env=env, timeout=600)
    assert summary.returncode == 0, summary.stdout + summary.stderr

    month = work / "outputs" / MONTH
    reports = sorted(month.glob("*/report.ipynb"))
    assert [r.parent.name for r in reports] == [f"{MONTH}-001", f"{MONTH}-002"]
    for report in reports:
        assert (report.parent / "report.html").is_file() and (report.parent / "report.pdf").is_file()
        executed = nbformat.read(str(report), as_version=4)
        assert executed.metadata.papermill.input_path == str(site / "jdl" / "notebooks" / REPORT_TEMPLATE)
    assert (month / "summary.html").is_file() and (month / "summary.pdf").is_file()
    bulletin = nbformat.read(str(month / "summary.ipynb"), as_version=4)
    assert bulletin.metadata.papermill.input_path == str(site / "jdl" / "notebooks" / SUMMARY_TEMPLATE)


def test_importing_nbformat_does_not_compile_the_iri_grammars():
    """Every report kernel imports scrapbook, so papermill, nbformat and jsonschema: jsonschema 4.25
    and later import rfc3987-syntax, whose ~38 Earley grammars take over a second to compile in
    every process. pyproject.toml keeps jsonschema below 4.25 (its IRI checks then need no grammar)."""
    code = "import sys, scrapbook, nbformat; print(sorted(m for m in sys.modules if m.startswith(('rfc3987', 'lark'))))"
    found = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert found.strip() == "[]"
