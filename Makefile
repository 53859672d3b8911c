# K2: two set-up commands for a fresh machine — `make demo` and `make test`.
# Both install what is missing (system Java/Maven if absent, Python packages pinned by
# requirements.lock, Java artifacts from Maven Central on first use) and are safe to run twice.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
CDK := infra_cdk/node_modules/.bin/cdk
# jsii (the CDK's Python bridge) and the CDK CLI: quiet about Node versions, no network calls.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: demo test install prereqs lint typecheck unit integration up down status clean synth

demo: install
	$(BIN)/k2 local up
	$(BIN)/k2 demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

install: prereqs $(STAMP) $(CDK)

# Java 17+ runs the Kafka broker and Spark; Maven fetches their jars. Installed from Debian
# only when missing (the machines this project runs on ship both).
prereqs:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Java 17 and Maven from Debian"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (K2 needs Python 3.11)"; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm not found (the CDK CLI needs Node.js 20+)"; exit 1; }

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[local,dev,infra]'
	touch $(STAMP)

# The AWS CDK CLI, pinned by infra_cdk/package-lock.json (the app itself is Python).
$(CDK): infra_cdk/package.json infra_cdk/package-lock.json
	npm ci --prefix infra_cdk --no-audit --no-fund --loglevel=error
	touch $(CDK)

# Synthesise every stack offline into cdk.out/ (cdk-nag runs as part of it).
synth: install
	$(CDK) synth --quiet

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
