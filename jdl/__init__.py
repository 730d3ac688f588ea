"""jdl: an open re-implementation of the Justice Data Lab.

``jdl.analyse(upload, setting, national)`` runs one request end to end and returns an
:class:`jdl.analysis.Analysis`. Each stage is a module with plain functions from plain data to
plain data: ``synth`` (synthetic national data and programmes), ``template`` (the blank Data
Upload Template), ``validate`` (checking a filled template), ``linkage``, ``index_events``,
``cohort``, ``matching``, ``balance``, ``compare``, ``subgroups``, ``disclosure``, ``report``,
``runner`` and ``bulletin``.
"""

__version__ = "0.1.0"

# ``jdl.match``, ``jdl.welch_compare`` and friends, imported on first use so ``import jdl`` stays light
_LAZY = {"analyse": "jdl.analysis", "Analysis": "jdl.analysis", "match": "jdl.matching", "MatchResult": "jdl.matching", "love_plot": "jdl.balance",
         "overlap_plot": "jdl.balance", "welch_compare": "jdl.compare", "Comparison": "jdl.compare"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jdl' has no attribute {name!r}")
