# Two entry points for a new machine: `make demo` (the main job) and `make test` (every test and gate).
# Both create .venv and install the pinned dependencies from pyproject.toml on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/backupctl preview
	$(BIN)/backupctl check

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

test: lint
	$(BIN)/python -m pytest -n 2

bench: $(BIN)/.installed
	$(BIN)/python bench/preview_scale.py
	$(BIN)/python bench/check_speed.py
	$(BIN)/python bench/drill_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info
