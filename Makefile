# The dev loop. `make test` is what CI runs (.ci/run); it installs everything it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test browser demo check lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install  ## start the monitor on ./wirewatch.toml
	$(BIN)/wirewatch --config wirewatch.toml run

test: install browser  ## install what the tests need and run them all
	$(BIN)/python -m pytest

# Debian's chromium and chromedriver drive the `wirewatch browse` tests; where apt cannot
# install them (not root, not Debian), those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null) \
		|| echo "make: could not install chromium; the browser tests will be skipped"; \
	else echo "make: no chromium (apt-get needs root); the browser tests will be skipped"; fi

demo: install  ## offline tour on the bundled fixture pages
	$(BIN)/wirewatch demo

lint: install  ## ruff, mypy, and the layers of the house (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

bench: install  ## all benchmarks (about 45 minutes; each script also runs alone)
	$(BIN)/python bench/aeb.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/neardup.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/crawl.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
