# livefold: `make run` brings the whole stack up; `make test` installs and runs the suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_CACHE_DIR := $(CURDIR)/.livefold/cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run stop test lint bench clean distclean install jars stripe-mock web chromium

run: jars web
	$(VENV)/bin/livefold run

stop:
	@if [ -x $(VENV)/bin/livefold ]; then $(VENV)/bin/livefold stop; else echo "livefold: nothing was running"; fi

test: jars stripe-mock web chromium
	$(PY) -m pytest --durations=30 $(PYTEST_ARGS)

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

# The web app (web/), built into web/dist, which the gateway serves; needs Node 20 and npm.
WEB_SOURCES := $(shell find web/src web/public web/scripts sdk/typescript/src -type f 2>/dev/null) \
	web/index.html web/package.json web/package-lock.json web/tsconfig.json web/vite.config.ts
web: web/dist/index.html

web/dist/index.html: $(WEB_SOURCES)
	@command -v npm >/dev/null || { echo "livefold: npm not found; install Node.js 20 or later with npm"; exit 1; }
	cd web && npm_config_cache=$(CURDIR)/.livefold/cache/npm npm ci --no-audit --no-fund && npm_config_cache=$(CURDIR)/.livefold/cache/npm npm run build
	touch $@

# Debian's chromium, which the browser tests drive (Playwright's own browser download fails here),
# and the colour emoji font the app's reaction buttons show (every phone and desktop has one).
chromium:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || \
		{ apt-get update && apt-get install -y chromium fonts-noto-color-emoji; }

clean: stop
	@# data goes, downloads (.livefold/cache) stay
	@[ ! -d .livefold ] || find .livefold -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} +

distclean: clean
	rm -rf .livefold $(VENV)
