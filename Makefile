# The README's two commands. Each one sets up .venv itself, then runs.
#   make train   trains the built-in default job (PyBullet Panda reach, W&B offline)
#   make test    runs the test suite (TEST_ARGS="-m slow" for the slow tests)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch lies on this machine kind's disk; a plain `torch` from PyPI
# would pull a multi-GB CUDA build. Override TORCH_SPEC elsewhere if you like.
TORCH_SPEC ?= torch==2.13.0
TRAIN_ARGS ?=
TEST_ARGS ?=

.PHONY: train test setup lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" || $(BIN)/python -m pip install --quiet torch
	$(BIN)/python -m pip install --quiet -e ".[dev,sweep,export]"
	touch $@

setup: $(VENV)/.installed

train: setup
	$(BIN)/rl-train $(TRAIN_ARGS)

test: setup
	$(BIN)/python -m pytest $(TEST_ARGS)

lint: setup
	$(BIN)/ruff check rl_train envs tests benchmarks
	$(BIN)/ruff format --check rl_train envs tests benchmarks

clean-venv:
	rm -rf $(VENV)
