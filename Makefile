# livefold: `make run` brings the whole stack up; `make test` installs and runs the suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_CACHE_DIR := $(CURDIR)/.livefold/cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run stop test lint bench clean distclean install jars stripe-mock

run: jars
	$(VENV)/bin/livefold run

stop:
	@if [ -x $(VENV)/bin/livefold ]; then $(VENV)/bin/livefold stop; else echo "livefold: nothing was running"; fi

test: jars stripe-mock
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: jars
	$(PY) -m bench $(BENCH_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "livefold: $(PYTHON) not found; install Python 3.11 or set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q -e 'sdk/python[kafka]'
	touch $(STAMP)

jars: install
	$(PY) -m infra.fetch

# Stripe's API mock for the payment tests, built with Go into .livefold/cache/bin once.
stripe-mock: install
	$(PY) -m infra.stripe_mock

clean: stop
	@# data goes, downloads (.livefold/cache) stay
	@[ ! -d .livefold ] || find .livefold -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} +

distclean: clean
	rm -rf .livefold $(VENV)
