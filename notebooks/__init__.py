"""The notebooks installed with jdl: the report template (``request_report.ipynb``) and the
monthly summary (``monthly_summary.ipynb``). pyproject.toml maps the package ``jdl.notebooks`` to
this folder so that a wheel carries them; find them with :func:`jdl.paths.installed_notebook`."""
