# Two commands: `make run` starts the product on the embedded default, `make test` runs the suite.
# Both create .venv from pyproject.toml when it is missing or older than pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 0.0.0.0
PORT ?= 8000
# With DEBUG off the settings refuse the public development SECRET_KEY. `make run` and the
# benchmarks run as production does (DEBUG off) on a random key made once for this checkout
# (var/dev-secret-key) unless SECRET_KEY is set; commands that only load the settings (lint,
# collectstatic) run with DEBUG on.
DEV_KEY := var/dev-secret-key
RUN_ENV = SECRET_KEY="$${SECRET_KEY:-$$(cat $(DEV_KEY))}"
DEV_ENV := DEBUG=$${DEBUG:-1}

.PHONY: run test lint format install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(DEV_KEY):
	mkdir -p var
	umask 077; $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(64))" > $@

run: $(STAMP) $(DEV_KEY)
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput -v0
	$(RUN_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Helpdesk is starting on http://acme.localhost:$(PORT)/agent/"
	@echo "  Logins (password: demo): agent@acme.test, admin@acme.test; agent@globex.test on http://globex.localhost:$(PORT)/agent/"
	@echo "  Outgoing mail is written to var/mail/. Stop everything with Ctrl-C."
	@echo ""
	@# config/run.py starts the web and the worker with beat, all with the same PUBLIC_PORT (this
	@# PORT unless set), and stops them together on Ctrl-C or when one of them stops.
	@$(RUN_ENV) exec $(BIN)/python -m config.run --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(DEV_ENV) $(BIN)/python manage.py makemigrations --check --dry-run -v0
	$(BIN)/lint-imports --no-cache  # the layers and the acyclic packages (pyproject.toml)
	$(DEV_ENV) $(BIN)/mypy  # the project, not the tests (pyproject.toml)
	@# Allowed: sla/services/scan.py streams the scan's timeline rows with COPY (see there);
	@# search/engine/ holds search's SQL (FTS5 and tsquery: bm25, snippet, ts_headline);
	@# tenants/db.py sets how PostgreSQL runs a transaction's statements (SET LOCAL);
	@# tickets/services/tags.py links tags with INSERT ... ON CONFLICT DO NOTHING RETURNING.
	@! git grep -nE '\.raw\(|scope\([a-z_]+=None|connection\.cursor\(\)' -- '*.py' ':!tests/*' ':!bench/*' \
		':!sla/services/scan.py' ':!search/engine/*' ':!tenants/db.py' ':!tickets/services/tags.py' \
		|| (echo "banned call (see STYLE.md, tooling)"; exit 1)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(DEV_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	@# In parallel (pytest-xdist), one worker per core up to 8: each has its own test database and
	@# its own Redis database (config/settings.py), so Redis's 16 leave room. PYTEST_WORKERS=0 runs
	@# in this process.
	$(BIN)/pytest -q -n $${PYTEST_WORKERS:-auto} --maxprocesses 8 $(PYTEST_ARGS)

bench: $(STAMP) $(DEV_KEY)
	$(RUN_ENV) $(BIN)/python bench/ticket_list.py

clean:
	rm -rf $(VENV) var test-artifacts
