# Two commands set up everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test system-deps bench

run: $(VENV)/.runtime-installed
	$(BIN)/gunicorn -c configs/gunicorn.conf.py app:app

test: system-deps $(VENV)/.dev-installed node_modules/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian packages the tests drive: chromium for tests/test_pages_browser.py (a downloaded browser
# build is not an option), curl to run the docs page's "copy as cURL" commands, redis-server for the
# Redis store tests (tests/support/auth_fixtures.py starts a throwaway one on a free loopback port).
system-deps:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	command -v curl >/dev/null || (apt-get update && apt-get install -y curl)
	command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)

# axe-core (accessibility checks in the browser tests) and the Claude Code, Gemini CLI and Codex CLI
# packages (tests/test_agents.py), pinned in package-lock.json; the pages need no npm.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# The streaming benchmark (bench/README.md): loopback only, ends by itself; BENCH_ARGS=--quick for a short run.
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.run $(BENCH_ARGS)
