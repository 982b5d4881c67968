# vm: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint images bench clean help

help:
	@echo "make run     create $(VENV), install vm, boot the bundled arm64 hello image"
	@echo "make test    install the test extras and run the test suite"
	@echo "make lint    ruff + mypy + import-linter (the translator's layers)"
	@echo "make images  rebuild guest-images/ from source (needs the Debian cross toolchains)"
	@echo "make bench   run the benchmarks in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "== installing vm and its dependencies into $(VENV) (numba, pyopencl and PoCL are large: a minute or two)"
	$(BIN)/pip install --progress-bar on -e .
	@touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	@echo "== installing vm with its test tools into $(VENV)"
	$(BIN)/pip install --progress-bar on -e '.[test]'
	@touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/vm run guest-images/bin/hello-arm64.elf

test: $(TSTAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(TSTAMP)
	$(BIN)/ruff check vmcli tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

images:
	$(MAKE) -C guest-images

bench: $(TSTAMP)
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
