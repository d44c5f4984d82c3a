# tap-discord developer commands. Everything runs from the project's own .venv,
# which the first target that needs it creates (and refreshes when pyproject.toml
# changes).
#
#   make demo    sync the emulated demo guild into a throwaway PostgreSQL, twice
#   make test    ruff, mypy, then the whole pytest suite (end-to-end included)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Soaks marked `slow` are for manual runs (`make soak`), not for every test run. Most
# tests wait on the emulator's rate limits or on subprocesses rather than the CPU, so
# they run in several pytest-xdist workers, a module to a worker (modules share costly
# fixtures). The end-to-end tests run beside them, one at a time: runs of one extractor
# in a Meltano project share `.meltano/run/<plugin>/`. `make -O` prints each part's
# output whole when it ends.
PYTEST_WORKERS ?= 4

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help venv lint format typecheck static bytecode unit test e2e soak demo meltano-install dagster-venv clean

help:
	@echo "make demo             run the README demo (emulator -> meltano -> PostgreSQL)"
	@echo "make test             lint, format check, mypy, then all tests (e2e included)"
	@echo "make e2e              only the Meltano end-to-end tests"
	@echo "make lint|typecheck   the static checks alone"
	@echo "make format           apply ruff format and safe fixes"
	@echo "make meltano-install  install the Meltano plugins into .meltano/"
	@echo "make dagster-venv     install Dagster and dagster-meltano into .venv-dagster/"
	@echo "make clean            delete .venv, .meltano and caches"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy tap_discord

# Dagster's virtualenv (a minute of pip in a fresh clone) is installed beside the static
# checks, not inside the end-to-end tests, the longer of the two test chains.
test: $(STAMP)
	$(MAKE) --no-print-directory -j2 -O static dagster-venv
	$(MAKE) --no-print-directory -j2 -O unit e2e

static: lint typecheck

# Python writes no bytecode when PYTHONDONTWRITEBYTECODE is set (the machines this
# project is developed on set it); the tests start the tap some 400 times, and each
# start would compile the package from source again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q tap_discord tests scripts bench

unit: bytecode
	$(BIN)/pytest -m "not e2e and not slow" -n $(PYTEST_WORKERS) --dist loadscope --durations=25

e2e: bytecode
	$(BIN)/pytest -m "e2e and not slow" --durations=10

soak: $(STAMP)
	$(BIN)/pytest -m slow

meltano-install: $(STAMP)
	$(BIN)/meltano install

# Dagster runs the Meltano jobs (orchestrate/dagster/); it has a virtualenv of its own.
DAGSTER_STAMP := .venv-dagster/.installed

$(DAGSTER_STAMP): orchestrate/dagster/requirements.txt
	test -x .venv-dagster/bin/python || $(PYTHON) -m venv .venv-dagster
	.venv-dagster/bin/python -m pip install --quiet -r orchestrate/dagster/requirements.txt
	touch $(DAGSTER_STAMP)

dagster-venv: $(DAGSTER_STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .venv-dagster .meltano .mypy_cache .ruff_cache .pytest_cache
