"""jdl.run.engine: papermill's nbclient engine, saving the executed notebook at the start and the
end of a run (and at a cell's start or end once papermill's autosave interval has passed),
instead of before and after every cell."""

from __future__ import annotations

import datetime as dt

import nbformat
import papermill
import papermill.engines
import pytest
from papermill.exceptions import PapermillExecutionError

from jdl.run.engine import ENGINE_NAME, EndsSavingManager


def notebook(path, sources) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return str(path)


@pytest.fixture
def saves(monkeypatch):
    """The notebooks written by papermill's execution managers, in order (each a copy)."""
    written = []
    real = papermill.engines.write_ipynb

    def write(nb, path):
        written.append(nbformat.from_dict(nb.copy()))
        return real(nb, path)

    monkeypatch.setattr(papermill.engines, "write_ipynb", write)
    return written


def test_a_run_is_saved_when_it_starts_and_when_it_ends_only(tmp_path, saves):
    source = notebook(tmp_path / "in.ipynb", ["x = 1", "y = x + 1", "print(y)", "z = 3"])
    papermill.execute_notebook(source, str(tmp_path / "out.ipynb"), engine_name=ENGINE_NAME, progress_bar=False)
    assert len(saves) == 2
    assert [c.metadata.papermill.status for c in saves[0].cells] == ["pending"] * 4
    assert [c.metadata.papermill.status for c in saves[1].cells] == ["completed"] * 4
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[2].outputs[0].text == "2\n"
    # papermill's own engine writes before and after every cell
    saves.clear()
    papermill.execute_notebook(source, str(tmp_path / "out2.ipynb"), progress_bar=False)
    assert len(saves) == 2 + 2 * 4


def test_a_failed_run_is_saved_up_to_the_failing_cell(tmp_path, saves):
    source = notebook(tmp_path / "in.ipynb", ["x = 1", "raise ValueError('no')", "y = 2"])
    with pytest.raises(PapermillExecutionError):
        papermill.execute_notebook(source, str(tmp_path / "out.ipynb"), engine_name=ENGINE_NAME, progress_bar=False)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    cells = [c for c in executed.cells if "papermill" in c.metadata]    # not papermill's error banner
    assert [c.metadata.papermill.status for c in cells] == ["completed", "failed", "pending"]
    assert cells[1].outputs[0].ename == "ValueError"
    assert executed.metadata.papermill.exception is True


def test_a_cell_event_saves_once_the_autosave_interval_has_passed(tmp_path, monkeypatch):
    nb = nbformat.read(notebook(tmp_path / "in.ipynb", ["x = 1"]), as_version=4)
    nb.metadata.papermill = {}
    written = []
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: written.append(path))
    manager = EndsSavingManager(nb, output_path="out.ipynb", progress_bar=False, autosave_cell_every=30)
    manager.notebook_start()
    cell = nb.cells[0]
    manager.cell_start(cell, 0)
    manager.cell_complete(cell, 0)
    assert len(written) == 1                        # the start only
    manager.last_save_time -= dt.timedelta(seconds=31)
    manager.cell_start(cell, 0)
    assert len(written) == 2                        # 31 s since the last save
    manager.save()
    assert len(written) == 3                        # any other save happens as in papermill
