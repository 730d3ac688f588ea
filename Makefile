# The two commands a newcomer needs (see README):
#   make demo   set everything up, then build the synthetic data and run the monthly report set
#   make test   set everything up, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/jdl demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/bench_synth.py

clean:
	rm -rf $(VENV) data outputs/*/
