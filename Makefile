# The dev loop. `make test` is what CI runs (.ci/run); it installs everything it needs itself.
# Installs come from the locks: requirements.lock (running) and requirements-test.lock (tests,
# lint, browse), exact versions with hashes; `make lock` refreshes them (then run make check).
# Before it reads a lock, the venv gets the locked pip (requirements-pip.lock, version and hash),
# so the locks install alike whatever pip the machine's python3 ships: pip 23.2 in hash mode
# refuses a lock once the registry has a newer release of a package asked for with an extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat pyproject.toml requirements-test.lock | cksum | cut -d' ' -f1)
BROWSE_STAMP := $(VENV)/.installed-browse-$(shell cat pyproject.toml requirements-browse.lock | cksum | cut -d' ' -f1)

.PHONY: install install-test install-browse run browse test browser redis demo check lint bench lock clean

PIP_STAMP := $(VENV)/.installed-pip-$(shell cat requirements-pip.lock | cksum | cut -d' ' -f1)
# wirewatch itself, editable. setuptools warns on every editable install of a project whose
# packages sit at its root ("be careful with folders in your working directory with the same
# name as your package"): here those folders are the project, so the banner only alarms.
EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install \
	--quiet --no-deps -e .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The installer first, hash-checked by whichever pip the venv came with (any pip since 8 can).
$(PIP_STAMP): requirements-pip.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements-pip.lock
	rm -f $(VENV)/.installed-pip-*
	touch $(PIP_STAMP)

# pip installs the exact locked versions, each checked against its hash; then wirewatch itself.
$(RUN_STAMP): pyproject.toml requirements.lock $(PIP_STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(EDITABLE)
	rm -f $(VENV)/.installed-run-* $(VENV)/.installed-test-*
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml requirements-test.lock $(PIP_STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-test.lock
	$(EDITABLE)
	rm -f $(VENV)/.installed-run-* $(VENV)/.installed-test-*
	touch $(TEST_STAMP) $(RUN_STAMP)

# The running install and the browse extra (Datasette and its plugins), from their own lock.
$(BROWSE_STAMP): pyproject.toml requirements-browse.lock $(PIP_STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-browse.lock
	$(EDITABLE)
	rm -f $(VENV)/.installed-run-* $(VENV)/.installed-browse-*
	touch $(BROWSE_STAMP) $(RUN_STAMP)

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

install-browse: $(BROWSE_STAMP)

# New locks from pyproject.toml's ranges: the newest versions they admit, with their hashes.
# Then `make check` must pass before they are committed.
lock: install-test
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --upgrade --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --upgrade --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --extra test --extra browse \
		-o requirements-test.lock pyproject.toml
	cp requirements-test.lock requirements-browse.lock  # the same versions, fewer packages
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --extra browse \
		-o requirements-browse.lock pyproject.toml
	{ sed -n '1,2p' requirements-pip.lock; \
	  awk '/^pip==/ {on=1} on && !/^    #/ {print} on && !/\\$$/ {on=0}' requirements.lock; } \
		> requirements-pip.lock.new && mv requirements-pip.lock.new requirements-pip.lock

run: install  ## start the monitor on ./wirewatch.toml
	$(BIN)/wirewatch --config wirewatch.toml run

browse: install-browse  ## the archive of ./wirewatch.toml in Datasette (installs the browse extra)
	$(BIN)/wirewatch --config wirewatch.toml browse

# The suite on 3 workers (pytest-xdist): most tests wait on servers, daemons and clocks, so 3
# keep 2 cores busy (4 were slower here, and left the daemon tests' deadlines too little CPU);
# the 15 slowest tests are listed at the end. TEST_JOBS=1 runs them in turn.
TEST_JOBS ?= 3
test: install-test browser redis  ## install what the tests need and run them all
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist worksteal --durations=15

# Debian's chromium and chromedriver drive the `wirewatch browse` tests; where apt cannot
# install them (not root, not Debian), those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null) \
		|| echo "make: could not install chromium; the browser tests will be skipped"; \
	else echo "make: no chromium (apt-get needs root); the browser tests will be skipped"; fi

# Debian's redis-server is the cluster tests' Redis (tests/test_cluster.py starts its own on a
# free port of 127.0.0.1); where apt cannot install it, those tests skip and say why.
redis:
	@if command -v redis-server >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			redis-server >/dev/null) \
		|| echo "make: could not install redis-server; the cluster tests will be skipped"; \
	else echo "make: no redis-server (apt-get needs root); the cluster tests will be skipped"; fi

demo: install  ## offline tour on the bundled fixture pages; its files stay in ./demo-out
	$(BIN)/wirewatch demo --keep demo-out

lint: install-test  ## ruff, mypy, and the layers of the house (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

bench: install-test  ## all benchmarks (about an hour; each script also runs alone)
	$(BIN)/python bench/aeb.py
	$(BIN)/python bench/extraction.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/neardup.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/push.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
