"""The papermill engine the runner executes notebooks with (``engine_name=ENGINE_NAME``).

It is papermill's own nbclient engine, saving the executed notebook less often. Papermill's
execution manager writes the whole notebook to its output path before and after every cell, so
that someone watching the file sees the run progress. A report has 43 cells and ends about 1.5 MB
long (its figures), so those 86 writes took 1.3 s of each report, while the kernel waited. The
runner's output path is a hidden temporary file that nobody watches, renamed into place only once
the run has ended; so this engine writes it when the run starts, at a cell's start or end only
when papermill's autosave interval (``autosave_cell_every``, 30 s) has passed since the last
write, and when the run ends, whether it ended well or not (papermill's ``notebook_complete``).
A failed run's notebook is therefore as complete as with papermill's engine.

Registered with papermill's engine registry on import (papermill's documented extension point).
"""

from __future__ import annotations

import contextlib

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE_NAME = "jdl"


class EndsSavingManager(NotebookExecutionManager):
    """Papermill's execution manager, whose per-cell saves are skipped unless the autosave
    interval has passed; every other save (start, end, autosave) happens as in papermill."""

    _in_cell_event = False

    def _seconds_since_save(self) -> float:
        return (self.now() - self.last_save_time).total_seconds()

    def save(self, **kwargs):
        if self._in_cell_event and self._seconds_since_save() < self.autosave_cell_every:
            return None
        return super().save(**kwargs)

    @contextlib.contextmanager
    def _cell_event(self):
        self._in_cell_event = True
        try:
            yield
        finally:
            self._in_cell_event = False

    def cell_start(self, cell, cell_index=None, **kwargs):
        with self._cell_event():
            return super().cell_start(cell, cell_index, **kwargs)

    def cell_complete(self, cell, cell_index=None, **kwargs):
        with self._cell_event():
            return super().cell_complete(cell, cell_index, **kwargs)


class EndsSavingEngine(NBClientEngine):
    """Papermill's nbclient engine with :class:`EndsSavingManager` as its execution manager
    (:meth:`execute_notebook` is papermill's ``Engine.execute_notebook`` with that one change)."""

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                         autosave_cell_every=30, **kwargs):
        nb_man = EndsSavingManager(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                   autosave_cell_every=autosave_cell_every)
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, EndsSavingEngine)
