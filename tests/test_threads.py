"""jdl.stats.threads: the analysis's BLAS work on one thread, whatever the default."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from jdl.analysis import Analysis
from jdl.report.sections import Report
from jdl.stats.threads import blas_threads, computed, one_blas_thread


def test_one_blas_thread_limits_every_blas_library_and_restores_it():
    with threadpool_limits(limits=2, user_api="blas"):
        assert set(blas_threads()) == {2}
        with one_blas_thread():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {2}


def test_a_computed_value_is_computed_on_one_thread_once():
    class Thing:
        calls = 0

        @computed
        def value(self):
            Thing.calls += 1
            return blas_threads(), float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))

    thing = Thing()
    with threadpool_limits(limits=2, user_api="blas"):
        assert thing.value == ([1] * len(blas_threads()), 9.0)
        assert thing.value == ([1] * len(blas_threads()), 9.0) and Thing.calls == 1
        assert set(blas_threads()) == {2}


class _Seen(Exception):
    pass


def test_the_analysis_and_the_report_compute_on_one_blas_thread(monkeypatch):
    """analyse, an Analysis's lazily computed parts and the report's sections run on one BLAS
    thread while the process's default is two."""
    import jdl.analysis
    from jdl.report import sections

    seen = []

    def spy(*_args, **_kwargs):
        seen.append(blas_threads())
        raise _Seen

    monkeypatch.setattr(jdl.analysis.NationalData, "open", spy)
    monkeypatch.setattr(jdl.analysis.attrition, "bucket_counts", spy)
    monkeypatch.setitem(sections.PROCESSED, "title", spy)
    analysis = object.__new__(Analysis)
    analysis.flow = pd.DataFrame({"bucket": []})
    with threadpool_limits(limits=2, user_api="blas"):
        for call in (lambda: jdl.analysis.analyse("upload.csv"), lambda: analysis.attrition,
                     lambda: Report(SimpleNamespace(processed=True)).parts("title")):
            with pytest.raises(_Seen):
                call()
        assert set(blas_threads()) == {2}
    assert len(seen) == 3 and all(set(threads) == {1} for threads in seen)
    assert sum(isinstance(value, computed) for value in vars(Analysis).values()) == 20
