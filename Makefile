# Two commands are enough: `make train` (set up + train on the bundled story) and
# `make test` (set up + run the test suite). Everything lives in ./.venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and on its own so you can choose the build:
#   make train TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
# One test worker per core (pytest-xdist; WORKERS=0 runs them in this process, one by one).
WORKERS ?= auto

.PHONY: setup setup-dev train test lint clean gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/.base
	$(BIN)/pip install -q -e ".[dev,tf,hf,sweep]"
	touch $@

setup: $(VENV)/.base
setup-dev: $(VENV)/.dev

train: setup
	$(BIN)/python scripts/train.py $(ARGS)

test: setup-dev
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

# One GPU, a few minutes: does the GPU path work, and how fast (benchmarks/gpu_check.py; JSON out).
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py $(ARGS)

lint: setup-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
