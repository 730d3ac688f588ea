"""BLAS threads for the analysis's small-matrix work.

NumPy and SciPy call OpenBLAS, which by default runs each matrix operation on as many threads as
the machine has cores. The analysis of one request does hundreds of small operations (the
propensity model's Newton steps on a cohort of a few thousand rows and ~30 columns, the balance
tables' weighted moments, triangular solves, the sub-groups' refits). Split over two threads, each
such operation waits for both; when another process keeps one core busy, every operation waits
for a thread the system has descheduled. Measured on a 2-core machine with one core busy, a report's
analysis took 5.3-7.3 s on two BLAS threads against 2.9-3.9 s on one (cProfile: the centred Gram
products 3.2 s against 0.13 s, the balance moments 2.6 s against almost nothing).

So the analysis runs its work on one BLAS thread, whatever the machine's default, in Jupyter,
papermill and ``jdl run`` alike: :func:`one_blas_thread` limits the BLAS libraries loaded in this
process (threadpoolctl, the library scikit-learn uses for the same purpose) for the duration of a
block, and :class:`computed` is a :func:`functools.cached_property` whose value is computed that
way. The propensity fit and the balance table do so even when called on their own
(jdl.stats.matching, jdl.stats.balance): at a million rows, with another process on one of two
cores, X'WX took 1.0-3.2 s on two threads and 0.15 s on one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from functools import cached_property


@functools.cache
def _controller():
    """The BLAS libraries loaded in this process (found once, on first use, when NumPy and SciPy
    have loaded theirs)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with every loaded BLAS library limited to one thread (restored after). As
    a decorator (``@one_blas_thread()``, contextlib's ContextDecorator), each call of the function
    runs so."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


def blas_threads() -> list[int]:
    """The number of threads of each loaded BLAS library, now."""
    return [info["num_threads"] for info in _controller().select(user_api="blas").info()]


class computed(cached_property):
    """A :func:`functools.cached_property` computed on one BLAS thread (once: afterwards the
    value is read from the instance, without this descriptor)."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with one_blas_thread():
            return super().__get__(instance, owner)
