# The two commands of the README: `make reproduce` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install reproduce book check-book test lint bench bench-competence agilerl-env bench-agilerl browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependency list or the exact builds change (constraints.txt: the libraries
# whose arithmetic decides a run's bits).
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# Main job: regenerate the paper grid into $(REPRODUCED)/ (the committed data stay untouched; cells
# already done there are kept, so a killed job resumes), compare every run with its committed twin
# ("N of N runs reproduced bit for bit"), then build the book from the regenerated runs; chapters
# on other experiments read the committed runs, linked in. The book is built even when the check
# fails, and the job then fails after it.
GRID ?= experiments/paper.yaml
REPRODUCED ?= reproduced
reproduce: install
	mkdir -p $(REPRODUCED)/runs
	$(BIN)/nasdqn verify $(GRID) --into $(REPRODUCED) --report $(REPRODUCED)/verify.csv; echo $$? > $(REPRODUCED)/.verify-status
	for d in data/runs/*/; do n=$$(basename $$d); [ -e $(REPRODUCED)/runs/$$n ] || ln -s ../../data/runs/$$n $(REPRODUCED)/runs/$$n; done
	NASDQN_DATA=$(CURDIR)/$(REPRODUCED) $(BIN)/nasdqn book .
	exit $$(cat $(REPRODUCED)/.verify-status)

# The book from the committed data only: _build/html/index.html. `nasdqn book` is `jupyter-book build
# . --all -W --keep-going` with the chapters executed in parallel (one per core), and it prints each
# chapter's time. Every chapter is executed on every build: its inputs are data, not only its text.
book: install
	$(BIN)/nasdqn book .

# Every page of the built book rendered offline by headless Chromium: no raw TeX, broken image,
# unresolved role, nan in a table, or anything fetched from the network.
check-book: book browser
	$(BIN)/python -m nasdqn.bookcheck _build/html

# ruff, and the package's layer contract (pyproject.toml, [tool.importlinter]): no import climbs a layer
# and no import circles back.
lint: install
	$(BIN)/ruff check nasdqn tests benchmarks
	$(BIN)/lint-imports --no-cache

# A headless browser for the book's offline reading check (tests/test_book.py), from Debian's packages.
browser:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium-headless-shell >/dev/null; else echo "make browser: run as root, or install chromium-headless-shell"; fi; }

test: install lint browser
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/speed.py

# Is our DQN a competent DQN? Our runs of experiments/competence.yaml, then SB3's DQN on the same cells.
bench-competence: install
	$(BIN)/nasdqn batch experiments/competence.yaml
	$(BIN)/python benchmarks/competence.py experiments/competence.yaml --workers 2

# AgileRL, a peer measured against (benchmarks/agilerl_peer.py), in a virtual environment of its own:
# its dependencies (jax, wandb, minari, ...) stay out of the project's. Version 2.58 imports peft at
# import time although it lists it only in an extra, hence peft here.
AGILERL_VENV := .venv-agilerl
$(AGILERL_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AGILERL_VENV)
	$(AGILERL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AGILERL_VENV)/bin/pip install --quiet 'torch==2.13.*' 'agilerl==2.58.0' 'peft==0.21.0' -e .
	touch $@

agilerl-env: $(AGILERL_VENV)/.installed

# AgileRL's evolutionary DQN on the paper's pendulum and CartPole, 3 seeds each (about 1.5 CPU-hours on an idle machine).
bench-agilerl: agilerl-env
	$(AGILERL_VENV)/bin/python benchmarks/agilerl_peer.py --task paper-pendulum --seeds 0-2
	$(AGILERL_VENV)/bin/python benchmarks/agilerl_peer.py --task cartpole --seeds 0-2

clean:
	rm -rf $(VENV) $(AGILERL_VENV) _build .pytest_cache
