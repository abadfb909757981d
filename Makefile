# Liaison: `make run` serves the demo, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test test-sqlite lint format migrate seed lock clean bench i18n chromium compose-test screenshots

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/pybabel -q compile
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its pinned dependencies

migrate: install ## Bring the database to the latest schema
	$(BIN)/liaison migrate

seed: migrate ## Load the demo content
	$(BIN)/liaison seed

run: seed ## Migrate, load the demo, serve the API on 127.0.0.1:8000 with the relay, a demo site agent and its website on 127.0.0.1:8080
	$(BIN)/liaison dev

chromium: ## Install Debian's Chromium for the console's browser tests, when it is missing
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium (the console's browser tests drive it)"; \
		apt-get install -y --no-install-recommends chromium >/dev/null \
			|| { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }; \
	fi

test: install chromium ## Run the whole test suite on SQLite, then on PostgreSQL
	LIAISON_TEST_BACKEND=sqlite $(BIN)/pytest
	LIAISON_TEST_BACKEND=postgres $(BIN)/pytest

test-sqlite: install chromium ## The suite on SQLite only (no PostgreSQL needed)
	LIAISON_TEST_BACKEND=sqlite $(BIN)/pytest

screenshots: install chromium ## Run the console's browser tests, writing PNGs of its main screens (1280 px) to docs/screenshots
	LIAISON_TEST_BACKEND=sqlite LIAISON_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/console -q

lint: install ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

i18n: install ## Extract the service's own messages, update the fr and en catalogs, compile them
	$(BIN)/pybabel -q extract --output-file translations/messages.pot.new
	@# The template changes only when its messages do, not on every run (POT-Creation-Date, year).
	@if [ -f translations/messages.pot ] && diff -q -I '^"POT-Creation-Date: ' -I '^# Copyright (C) ' -I '^# FIRST AUTHOR ' \
		translations/messages.pot translations/messages.pot.new >/dev/null; then \
		rm translations/messages.pot.new; \
	else \
		mv translations/messages.pot.new translations/messages.pot; \
	fi
	$(BIN)/pybabel -q update
	$(BIN)/pybabel -q compile

compose-test: install ## Start the compose stack in a project of its own, check it from the host, remove it (needs Docker, Compose >= 2.24)
	$(BIN)/python -m tests.compose_check

bench: install ## Read benchmark: liaison serve against a bare app on granian and uvicorn, and nginx (needs wrk)
	$(BIN)/python -m bench.read_bench

lock: ## Re-pin every dependency in constraints.txt (after changing pyproject.toml)
	$(BIN)/python -m pip freeze --exclude-editable --exclude liaison > constraints.txt

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) var
