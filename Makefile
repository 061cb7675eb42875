# gridapp: `make run` serves the demo on the embedded default; `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The web console: rebuilt when any of its sources is newer than the build.
CONSOLE_SOURCES := $(shell find console/src -type f 2>/dev/null) console/index.html \
	console/package.json console/package-lock.json console/vite.config.ts
CONSOLE_BUILD := gridapp/console/static/index.html

.PHONY: run test lint console console-deps browsers test-sqlite test-postgres bench openapi docs messages translations services clean faults

$(STAMP): pyproject.toml mobile-api/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -e ./mobile-api
	$(BIN)/pybabel compile --statistics -d gridapp/translations
	@touch $(STAMP)

# The catalogues change more often than the dependencies: compiled on every run (under a second).
translations: $(STAMP)
	@$(BIN)/pybabel compile --statistics -d gridapp/translations

$(CONSOLE_BUILD): $(CONSOLE_SOURCES)
	@bash scripts/build-console.sh
	@touch $(CONSOLE_BUILD)

console: $(CONSOLE_BUILD)

console-deps:
	@bash scripts/build-console.sh --deps

# Headless Chromium for the browser tests (Debian's; Playwright cannot download its own here).
browsers:
	@bash scripts/ensure-chromium.sh

run: $(STAMP) translations console
	$(BIN)/python -m gridapp.core.serve

services:
	@bash scripts/ensure-test-services.sh

lint: $(STAMP) console-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd console && npx vue-tsc --noEmit && npx eslint src

test-sqlite: $(STAMP) console browsers
	GRIDAPP_TEST_BACKEND=sqlite $(BIN)/pytest -p no:cacheprovider

test-postgres: $(STAMP) services console browsers
	GRIDAPP_TEST_BACKEND=postgres $(BIN)/pytest -p no:cacheprovider

# Both backends at once, one core each (scripts/test-backends.sh: each pass's log is printed
# whole when it ends, and any failing fails `make test`). PostgreSQL's browser tests run as a
# pass of their own once the SQLite pass ends: the PostgreSQL pass is the longer one. The
# install, the console build and the services are made once, before all.
BROWSER_TESTS = tests/gridapp/console/test_browser.py
test: $(STAMP) translations services console browsers lint
	@BIN=$(BIN) bash scripts/test-backends.sh sqlite postgres postgres:$(BROWSER_TESTS)

# Kill the RQ worker mid-job, stop Redis 30 s, kill a gunicorn worker mid-request, restart
# PostgreSQL, under load; then check nothing was lost or done twice (tests/faults.py; ~5 min).
faults: $(STAMP) translations services
	$(BIN)/python -m tests.faults

bench: $(STAMP) services
	$(BIN)/python -m bench

openapi: $(STAMP)
	$(BIN)/python -m gridapp.core.openapi > mobile-api/openapi.json

docs: $(STAMP)
	$(BIN)/python -m workflow.docs > docs/processes.md

# Extract the msgids from the code and update the catalogues; translate what is new in
# gridapp/translations/zh_Hans (a test fails while a msgid is untranslated or obsolete).
messages: $(STAMP)
	@mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg --project=gridapp --add-location=file --sort-by-file \
		-w 100 -o build/messages.pot gridapp mobile-api/mobile_api
	$(BIN)/pybabel update -i build/messages.pot -d gridapp/translations -w 100 \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile --statistics -d gridapp/translations

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache console/node_modules gridapp/console/static
