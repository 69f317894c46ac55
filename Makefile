# One-command install, run and test. `make run` runs the whole product (web, worker, vector
# store) on the embedded defaults, on 127.0.0.1:8000, until Ctrl-C; `make test` is what CI runs
# (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := plugins/openai plugins/anthropic plugins/milvus plugins/pgvector plugins/webhook plugins/email plugins/slack
STAMP := $(VENV)/.installed
# The console's end-to-end tests: playwright-core (npm, pinned by its lock file) drives Debian's
# Chromium; neither downloads a browser.
BROWSER_DIR := tests/console/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.installed

.PHONY: install install-minilm run dev test lint typecheck bench clean

$(STAMP): setup.cfg pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --silent
	touch $(BROWSER_STAMP)

install: $(STAMP) $(BROWSER_STAMP)

# Optional: the all-MiniLM-L6-v2 embedder (plugins/minilm) and PyTorch's CPU build, pinned so
# pip never pulls the CUDA one. Neither `make install` nor CI installs it.
install-minilm: install
	$(BIN)/python -m pip install --quiet "torch==2.13.0" -e plugins/minilm

run: install
	$(BIN)/codex32 run

# The same, with the web workers restarted when the code changes.
dev: install
	$(BIN)/codex32 run --reload

lint: install
	$(BIN)/ruff check .

# The core, the tenancy package, the plugin API and the first-party plugins; see [tool.mypy].
typecheck: install
	$(BIN)/mypy

# In parallel (pytest-xdist): TEST_WORKERS processes, each with its own embedded PostgreSQL;
# tests marked xdist_group (modules sharing worker processes or a server) stay on one of them.
TEST_WORKERS ?= 3
test: install lint typecheck
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup \
		--cov --cov-report=term:skip-covered --cov-fail-under=80 -q

bench: install
	@command -v wrk >/dev/null || apt-get install -y wrk || (echo "install wrk (Debian: apt-get install wrk)"; exit 1)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .data .coverage .mypy_cache
