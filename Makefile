# The project's task runner. `make test` is exactly what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install browser lint test quickstart bench clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' -c constraints/test.txt

# Debian's Chromium for the web UI's browser tests (tests/server/ui/test_ui_browser.py).
browser:
	bash scripts/install-browser.sh

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

quickstart: $(BIN)/python
	$(BIN)/python -m pip install --quiet .
	$(BIN)/setpoint quickstart

bench: install
	bash benchmarks/make_peer_env.sh
	$(BIN)/python benchmarks/bench_tracking.py

clean:
	rm -rf $(VENV) .setpoint build dist src/*.egg-info

# Re-pin the test environment after a dependency change: resolve afresh, then freeze.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --upgrade pip
	.venv-constraints/bin/python -m pip install --quiet -e '.[test]'
	{ sed -n '1,4p' constraints/test.txt; .venv-constraints/bin/python -m pip freeze --exclude-editable; } > constraints/test.txt.new
	mv constraints/test.txt.new constraints/test.txt
	rm -rf .venv-constraints
