# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the suite).
# Both create ./.venv when missing and install the project with the pinned dev/CI versions
# from constraints/ci.txt. A stamp file keyed on the install inputs makes re-runs instant.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints/ci.txt | cksum | cut -d' ' -f1)
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints/ci.txt

.PHONY: install browser test test-fast lint demo bench mutate reproduce-micro clean

$(STAMP): pyproject.toml constraints/ci.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel
	$(PIP_INSTALL) -e ".[dev,all]"
	SAM2_BUILD_CUDA=0 $(PIP_INSTALL) --no-build-isolation "sam2==1.1.0"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests" >&2; fi; }

test: $(STAMP) browser
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

demo: $(STAMP)
	$(VENV)/bin/regionreasoner demo

# The micro RegionReasoner recipe (hours on a 2-core CPU; resumable: run it again to continue).
reproduce-micro: $(STAMP)
	THREADS=$${THREADS:-2} recipes/micro/run.sh

bench: $(STAMP)
	$(PY) benchmarks/convert.py
	$(PY) benchmarks/rewards.py

# Curated mutations (benchmarks/mutations.yaml) against the tests that must catch them.
mutate: $(STAMP)
	$(PY) benchmarks/mutate.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
