# The two commands of the README: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test check bench clean redis-server chromium

$(BIN)/crawler: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("crawler needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(BIN)/crawler

demo: $(BIN)/crawler
	$(BIN)/crawler demo

test: $(BIN)/crawler redis-server chromium
	$(BIN)/python -m pytest

# The cluster tests start a real redis-server (Debian's package) of their own.
redis-server:
	@command -v redis-server >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -E); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q redis-server || \
	  { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q redis-server; }; }

# The web app's browser tests drive Debian's chromium through Playwright (no browser download).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -E); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q chromium || \
	  { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }

check: $(BIN)/crawler
	$(BIN)/ruff check crawler tests bench
	$(BIN)/ruff format --check crawler tests bench
	$(BIN)/mypy crawler

bench: $(BIN)/crawler
	$(BIN)/python bench/extraction.py
	$(BIN)/python bench/topics.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/polling.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/web.py

clean:
	rm -rf $(VENV) output/demo
