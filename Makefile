# The two commands a newcomer needs: `make run` (the API on http://127.0.0.1:8000 with the article's dataset)
# and `make test` (the whole suite against a real PostGIS). Both set up the virtualenv first; with no
# DATABASE_URL both set up a local PostGIS themselves (see README).
VENV ?= .venv
PYTHON ?= python3
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/territory up

test: $(INSTALLED)
	$(VENV)/bin/pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check app tests bench migrations
	$(VENV)/bin/mypy

bench: $(INSTALLED)
	$(VENV)/bin/python -m bench.run
