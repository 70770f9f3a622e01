# dispatch-analytics: `make run` and `make test` are all a new user needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DISPATCH := $(VENV)/bin/dispatch
STAMP := $(VENV)/.installed
DEMO ?= .demo
PYTEST_ARGS ?=

.PHONY: help install run demo-data test lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the package with dev tools

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo-data: install ## Build the sample city and ingest it and the real SF week into $(DEMO)/data
	rm -rf $(DEMO)
	$(DISPATCH) sample --out $(DEMO)/city --incidents 5000 --seed 42
	$(DISPATCH) ingest $(DEMO)/city/sample_city.csv --mapping $(DEMO)/city/sample_city.toml --data-dir $(DEMO)/data
	$(DISPATCH) ingest sample_data/sf_week/sffd_calls_2016-12-31_2017-01-07.csv --profile sffd --data-dir $(DEMO)/data

run: demo-data ## Install, build the sample data into a fresh store, print its status
	$(DISPATCH) status --data-dir $(DEMO)/data
	@echo
	@echo "Try:  $(DISPATCH) sql \"select call_category, count(*) as n, median(total_response_s) as p50_s from incidents group by 1\" --data-dir $(DEMO)/data"

test: install ## Run every test
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install ## Ruff lint
	$(VENV)/bin/ruff check dispatch_analytics tests bench

bench: install ## Benchmarks (prints a table; nothing is asserted)
	$(PY) bench/bench_ingest.py

clean: ## Remove the venv, demo store and bench files
	rm -rf $(VENV) $(DEMO) bench/_work .pytest_cache
