# make demo: the main job on the embedded data; make test: the whole test suite (what CI runs, after make lint).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test unit e2e lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

test: install
	$(PY) -m pytest

unit: install
	$(PY) -m pytest -m "not e2e"

e2e: install
	$(PY) -m pytest -m e2e

lint: install
	$(VENV)/bin/ruff check xaicli tests bench scripts
	$(VENV)/bin/mypy

bench: install
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
