# The two commands a newcomer needs (see README):
#   make demo   set everything up, then build the synthetic data and run the monthly report set
#   make test   set everything up, then run the test suite (in parallel: pytest-xdist)
# and, while working on the code, make test-fast: the unit tests only (not those marked slow).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test test-fast bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(BIN)/jdl demo

# pytest-xdist: one worker a core; each test module stays on one worker, so its module fixtures
# are built once; modules are handed out in the order tests/conftest.py gives (long ones first;
# the shared session data, the synthetic world and the report month, built once for all workers)
test: setup
	$(BIN)/python -m pytest -n auto --dist loadscope --no-loadscope-reorder

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/python bench/bench_synth.py

clean:
	rm -rf $(VENV) data outputs/*/
