# gdcli: set-up, demo, tests and benchmarks.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the compiled loops are rebuilt by the install when their source changes
NATIVE := gdcli/engine/_native.c
# setuptools tells of every editable install with an extension; nothing to act on
INSTALL := PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet

$(STAMP): $(BIN)/python pyproject.toml setup.py $(NATIVE)
	$(INSTALL) -e .
	touch $@

$(DEVSTAMP): $(BIN)/python pyproject.toml setup.py $(NATIVE)
	$(INSTALL) -e '.[dev]'
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/gdcli grad "3*x**3 + 10*y**2" --at 3,3
	$(BIN)/gdcli descend configs/cubic-saddle.yaml --out runs/demo-cubic --force
	$(BIN)/gdcli train-mlp configs/breast-cancer.yaml --out runs/demo-breast-cancer --force

test: $(DEVSTAMP)
	$(BIN)/python -m pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEVSTAMP)
	$(BIN)/python -m benchmarks

# Regenerate the README's file reference and the tour (docs/tour.md) from real runs.
docs: $(DEVSTAMP)
	$(BIN)/python -m gdcli.render.reference
	$(BIN)/python -m gdcli.render.optimizers
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python docs/build_tour.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache build gdcli/engine/_native.*.so
