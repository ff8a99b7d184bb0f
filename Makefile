# RO-SVD appliance: every target sets itself up on a fresh machine (Python 3.11, Node 20,
# package registries). `make demo` runs the main job, `make test` the default suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
# Two workers: CI has two cores; simulator builds are the long poles.
PYTEST_WORKERS ?= 2

.PHONY: setup test test-long demo bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml package.json package-lock.json scripts/setup-system.sh
	bash scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	npm ci --no-audit --no-fund --loglevel=error
	node chain/compile.mjs
	touch $(STAMP)

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not slow" --durations=12

test-long: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m slow

demo: setup
	$(VENV)/bin/rosvd demo

bench: setup
	$(VENV)/bin/rosvd bench svd --n 32 --json
	$(VENV)/bin/rosvd bench certify --json
	$(VENV)/bin/rosvd bench fingerprint --json
	$(VENV)/bin/rosvd hw report --target xc7z020 --json

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf build .pytest_cache
