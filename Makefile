# dispatch-analytics: `make run` and `make test` are all a new user needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DISPATCH := $(VENV)/bin/dispatch
STAMP := $(VENV)/.installed
DEMO ?= .demo
PYTEST_ARGS ?=
PORT ?= 8050

.PHONY: help install run demo-data browser postgres test test-fast lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the package with dev tools

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

CITY_AGENCY := Sample City FD
SF_AGENCY := SFFD

demo-data: install ## Build the sample city and the real SF week into $(DEMO)/data: two agencies
	rm -rf $(DEMO)
	$(DISPATCH) sample --out $(DEMO)/city --incidents 5000 --seed 42
	$(DISPATCH) ingest $(DEMO)/city/sample_city.csv --mapping $(DEMO)/city/sample_city.toml --data-dir $(DEMO)/data
	$(DISPATCH) ingest sample_data/sf_week/sffd_calls_2016-12-31_2017-01-07.csv --profile sffd --data-dir $(DEMO)/data
	$(DISPATCH) zones load $(DEMO)/city/station_areas.geojson --layer station_areas --id-field station_id --name-field name --agency "$(CITY_AGENCY)" --data-dir $(DEMO)/data
	$(DISPATCH) zones load $(DEMO)/city/battalions.geojson --layer battalions --id-field battalion_id --name-field name --agency "$(CITY_AGENCY)" --data-dir $(DEMO)/data
	$(DISPATCH) zones load sample_data/sf_week/sf_analysis_neighborhoods.geojson --layer sf_neighborhoods --id-field nhood --name-field nhood --agency "$(SF_AGENCY)" --data-dir $(DEMO)/data
	$(DISPATCH) stations load $(DEMO)/city/stations.geojson --id-field station_id --name-field name --agency "$(CITY_AGENCY)" --data-dir $(DEMO)/data

run: demo-data ## Install, build the two agencies' sample data into a fresh store, serve the dashboard
	$(DISPATCH) status --data-dir $(DEMO)/data
	$(DISPATCH) report --agency "$(CITY_AGENCY)" --profile nfpa1710 --data-dir $(DEMO)/data
	$(DISPATCH) report --agency "$(SF_AGENCY)" --profile nfpa1710 --data-dir $(DEMO)/data
	$(DISPATCH) serve --data-dir $(DEMO)/data --host 127.0.0.1 --port $(PORT)

browser: ## Install Debian chromium + chromium-driver for the browser tests (if missing)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing chromium and chromium-driver (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

postgres: ## Install Debian postgresql for the live-feed tests (if initdb / pg_ctl are missing)
	@{ command -v initdb >/dev/null && command -v pg_ctl >/dev/null; } || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# pytest with bytecode on (the environment may turn it off): rewritten test modules are cached
# in __pycache__, so a second run's collection is 3.4 s a worker, not 7.3 (docs/testing.md)
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest

test: install browser postgres ## Run every test (browser tests in headless Chromium, feeds against PostgreSQL)
	$(PYTEST) -q $(PYTEST_ARGS)

test-fast: install ## Every test but the browser and slow ones, on every core (about 2 minutes on a quiet 2-core machine: docs/testing.md)
	$(PYTEST) -q -m "not browser and not slow" -n auto --dist loadfile --hypothesis-profile=fast $(PYTEST_ARGS)

lint: install ## Ruff lint and format check, mypy on the library
	$(VENV)/bin/ruff check dispatch_analytics dash_app tests bench docs
	$(VENV)/bin/ruff format --check dispatch_analytics dash_app tests bench docs
	$(VENV)/bin/mypy

bench: install postgres ## Benchmarks (prints tables; nothing is asserted)
	$(PY) bench/bench_ingest.py
	$(PY) bench/bench_incremental.py
	$(PY) bench/bench_zones.py
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_dash.py
	$(PY) bench/bench_serve.py
	$(PY) bench/bench_coverage.py
	$(PY) bench/bench_watch.py
	$(PY) bench/bench_compact.py
	$(PY) bench/goals.py

clean: ## Remove the venv, demo store and bench files
	rm -rf $(VENV) $(DEMO) bench/_work .pytest_cache
