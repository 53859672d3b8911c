# K2: two set-up commands for a fresh machine — `make demo` and `make test`.
# Both install what is missing (system Java/Maven if absent, Python packages pinned by
# requirements.lock, Java artifacts from Maven Central on first use) and are safe to run twice.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install prereqs lint typecheck unit integration up down status clean

demo: install
	$(BIN)/k2 local up
	$(BIN)/k2 demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

install: prereqs $(STAMP)

# Java 17+ runs the Kafka broker and Spark; Maven fetches their jars. Installed from Debian
# only when missing (the machines this project runs on ship both).
prereqs:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Java 17 and Maven from Debian"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (K2 needs Python 3.11)"; exit 1; }

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[local,dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

integration: install
	$(BIN)/pytest -m "integration or e2e" $(PYTEST_ARGS)

up: install
	$(BIN)/k2 local up

status: install
	$(BIN)/k2 local status

down:
	@test -x $(BIN)/k2 && $(BIN)/k2 local down || true

clean: down
	rm -rf .k2 $(VENV)
