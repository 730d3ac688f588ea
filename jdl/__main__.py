"""``python -m jdl``: the ``jdl`` command (:func:`jdl.cli.main`), every sub-command included."""

from jdl.cli import main

if __name__ == "__main__":
    main()
