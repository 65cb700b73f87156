# The two commands of the README: `make reproduce` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install reproduce test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# Main job, for now: a short training run of each method on the pendulum, written under data/runs/demo.
REPRO_STEPS ?= 20000
reproduce: install
	for m in fixed-small fixed-medium fixed-large random nas; do \
	  $(BIN)/nasdqn train --experiment demo --method $$m --steps $(REPRO_STEPS) --force || exit 1; \
	done

lint: install
	$(BIN)/ruff check nasdqn tests benchmarks

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) _build .pytest_cache
