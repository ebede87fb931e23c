# Two commands on a fresh machine: `make train` (the main job) and `make test` (the CI suite).
# Each creates .venv, installs what it needs (CPU torch first when no torch is present, so pip never
# pulls a multi-GB CUDA build), and installs MuJoCo's GL libraries when MuJoCo cannot render.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
ARGS ?=

.PHONY: setup gl train test lint bench clean

# EXTRAS: what `make setup`/`make train` install besides the package (the tests also need the
# report's `analysis` extra and exercise the wandb/mlflow backends: `make test` adds them).
EXTRAS ?= dev
TEST_EXTRAS ?= dev,analysis,logging

$(VENV)/.installed: setup.cfg
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_CPU)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[$(TEST_EXTRAS)]'
	touch $@

setup: $(VENV)/.installed

# Probe MuJoCo rendering (EGL, then OSMesa); install the Debian packages once when neither works.
gl: setup
	bash scripts/ensure_gl.sh $(PY)

# Without CUDA it first says what is about to run, how long that takes on a CPU, and a CPU-sized
# command instead (never asks: CI has no stdin), then trains.
train: gl
	$(PY) -m worldmodels.training.cpu_notice $(ARGS)
	$(PY) -m worldmodels.train $(ARGS)

# one pytest worker per core (pytest-xdist; each test is single-threaded, tests/conftest.py);
# TEST_JOBS=0 runs them in one process
TEST_JOBS ?= auto
test: gl $(VENV)/.installed-test
	$(PY) -m pytest -q --timeout=900 -n $(TEST_JOBS) --dist worksteal $(ARGS)

lint: setup
	$(VENV)/bin/ruff check worldmodels tests scripts benchmarks
	$(VENV)/bin/ruff format --check worldmodels tests scripts benchmarks
	$(VENV)/bin/mypy

bench: setup
	$(PY) scripts/bench.py all

clean:
	rm -rf $(VENV) runs outputs multirun
