# make demo: install and start the provider with a demo contract and storage frontend.
# make test: install and run the whole test suite (starts its own PostgreSQL, Redis, SMTP).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-packages demo test test-fast lint bench clean

$(STAMP): setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-packages:
	bash scripts/ensure-system-packages.sh

demo: install
	IDP_DEV=1 $(BIN)/idp demo

test: install system-packages lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not browser" -x

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install
	$(BIN)/python bench/login_bench.py

clean:
	rm -rf $(VENV) instance test-artifacts
