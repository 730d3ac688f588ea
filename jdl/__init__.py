"""jdl: an open re-implementation of the Justice Data Lab.

Each stage is a module with plain functions from plain data to plain data:
``synth`` (synthetic national data and programmes), ``template`` (the blank Data Upload
Template), ``validate`` (checking a filled template), and later linkage, matching,
comparison and reporting.
"""

__version__ = "0.1.0"
