"""jdl: an open re-implementation of the Justice Data Lab.

``jdl.analyse(upload, setting, national)`` runs one request end to end and returns an
:class:`jdl.analysis.Analysis`. The sub-packages follow the data flow; each imports only those
before it (tests/test_layout.py checks there is no import cycle, between modules or packages):

- ``jdl.upload``: the Data Upload Template (columns, the blank workbook), reading and checking a
  filled one (``validate``), identifiers and names (``identifiers``);
- ``jdl.cohort``: the national data, linkage, index events, attrition, the
  measures (covariates and outcomes in DuckDB), and the cohort (``build``);
- ``jdl.stats``: the design matrix, the propensity model and matching, the match plan, balance,
  comparisons, sensitivity, sub-groups, power, disclosure control and the profile;
- ``jdl.report``: the report's words and method notes (``text``), the human labels of every name
  its tables show and the results tables built with them (``labels``), figures, provenance, the
  "About these statistics" block (``about``), and nbconvert export (``publish``, its ``templates``
  and house style);
- ``jdl.run``: params files (``requests``), the lab's settings (``settings``), the papermill
  runner, the safe error channel (``errors``), the bulletin and retention;
- ``jdl.synth``: the synthetic national data and uploads (``world``) and the demo month (``demo``).

Shared by all: ``jdl.contract`` (the typed contract between the report, the runner and the
bulletin: ``Status``, ``Verdict``, ``ReportScraps``), ``jdl.words`` (numbers and verdicts in
words), ``jdl.window`` (the national data's window: extract date, follow-up, the dates a request
may use), ``jdl.atomic`` (safe file writes), ``jdl.paths``. On top: ``jdl.analysis`` (one request as one object) and ``jdl.cli`` (the ``jdl``
command, also ``python -m jdl``).
"""

__version__ = "0.1.0"

# ``jdl.match``, ``jdl.welch_compare`` and friends, imported on first use so ``import jdl`` stays light
_LAZY = {"analyse": "jdl.analysis", "Analysis": "jdl.analysis", "match": "jdl.stats.matching", "MatchResult": "jdl.stats.matching", "love_plot": "jdl.stats.balance",
         "overlap_plot": "jdl.stats.balance", "welch_compare": "jdl.stats.compare", "Comparison": "jdl.stats.compare"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jdl' has no attribute {name!r}")
