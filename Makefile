# One entry point for people and CI. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= data

.PHONY: install browser postgres run test lint format docs serve server stop clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The UI test drives Debian's Chromium (Playwright's own browser download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "chromium is not installed: the browser test will be skipped (install Debian's chromium)"; \
		fi; }

# The catalog tests start their own PostgreSQL cluster (Debian's server binaries; initdb, pg_ctl).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
		else \
			echo "PostgreSQL is not installed: the PostgreSQL catalog test will be skipped (install Debian's postgresql)"; \
		fi; }

run: install
	$(BIN)/docmill run seeds --data-dir $(DATA_DIR)

# Much of the suite waits on subprocesses and servers, so two processes (each with its own
# Prefect test server) finish it in about two thirds of the time even on two cores; a test
# file stays on one process, so its module fixtures start once. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: install browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# docs/views.md is generated from the view SQL headers (a test fails when it is stale).
docs: install
	$(BIN)/python -m docmill.warehouse.docs

# A local Prefect server on 127.0.0.1:4200 (state, log and pid under .prefect/), unless one
# already answers; `make stop` stops it.
PREFECT_PORT ?= 4200
PREFECT_STATE ?= $(CURDIR)/.prefect
server serve: export PREFECT_API_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api
server serve: export PREFECT_SERVER_ANALYTICS_ENABLED = false

server: install
	@if curl -fsS $(PREFECT_API_URL)/health >/dev/null 2>&1; then \
		echo "Prefect server already running at $(PREFECT_API_URL)"; \
	else \
		mkdir -p $(PREFECT_STATE); \
		PREFECT_HOME=$(PREFECT_STATE) PREFECT_UI_API_URL=$(PREFECT_API_URL) nohup \
			$(BIN)/prefect server start --host 127.0.0.1 \
			--port $(PREFECT_PORT) > $(PREFECT_STATE)/server.log 2>&1 & \
		echo $$! > $(PREFECT_STATE)/server.pid; \
		for i in $$(seq 1 60); do \
			curl -fsS $(PREFECT_API_URL)/health >/dev/null 2>&1 && break; sleep 1; \
		done; \
		echo "Prefect server started at $(PREFECT_API_URL) (UI: http://127.0.0.1:$(PREFECT_PORT), log: $(PREFECT_STATE)/server.log)"; \
	fi

# The pid file is where `prefect server stop` looks for a server of this PREFECT_HOME; the wait
# lets `make stop server` start a new one on the same port.
stop: install
	@PREFECT_HOME=$(PREFECT_STATE) $(BIN)/prefect server stop
	@for i in $$(seq 1 30); do \
		curl -fsS http://127.0.0.1:$(PREFECT_PORT)/api/health >/dev/null 2>&1 || exit 0; sleep 1; \
	done; \
	echo "a server still answers on port $(PREFECT_PORT) (one that make server did not start?)"; exit 1

serve: server
	DOCMILL_DATA_DIR=$(abspath $(DATA_DIR)) $(BIN)/docmill serve

clean:
	rm -rf $(DATA_DIR) .pytest_cache .ruff_cache
