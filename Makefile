# The two commands a newcomer needs: `make run` (the API on http://127.0.0.1:8000 with the article's dataset)
# and `make test` (the whole suite against a real PostGIS). Both set up the virtualenv first; with no
# DATABASE_URL both set up a local PostGIS themselves (see README).
VENV ?= .venv
PYTHON ?= python3
INSTALLED := $(VENV)/.installed
# Every version the project installs, with its hashes: LOCK (runtime, dev and bench extras) for the virtualenv
# and CI, RUNTIME_LOCK (the same versions, runtime only) for the image. `make lock` writes both.
LOCK := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt
# uv only resolves (in seconds, from PyPI's metadata); pip installs. Pinned, so every `make lock` resolves alike.
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
COMPILE := $(UV) pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' --quiet

.PHONY: run test lint lock bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Exactly the locked versions (--no-deps: nothing unlocked comes in), then the project itself; the checks stop
# here when pyproject.toml asks for something the lock does not hold.
$(INSTALLED): pyproject.toml $(LOCK) requirements/check.py | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(VENV)/bin/pip install --quiet --no-deps -e .
	$(VENV)/bin/python requirements/check.py dev bench
	$(VENV)/bin/pip check
	touch $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/territory up

test: $(INSTALLED)
	$(VENV)/bin/pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check app tests bench migrations requirements
	$(VENV)/bin/ruff format --check app tests bench migrations requirements
	$(VENV)/bin/mypy

# After changing dependencies in pyproject.toml: adds, removes and re-resolves what changed and keeps every
# other pin. `make lock UPGRADE=1` moves every pin to the newest release the ranges allow.
lock: | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	$(COMPILE) $(if $(UPGRADE),--upgrade) --extra dev --extra bench -o $(LOCK)
	$(COMPILE) --constraint $(LOCK) -o $(RUNTIME_LOCK)

bench: $(INSTALLED)
	$(VENV)/bin/python -m bench.run
