# Every target builds the virtual environment it needs first, so a fresh clone needs only `make test`
# (or `make sandbox`). PYTHON picks the interpreter for the venv (the machines' python3 is 3.11).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/layers/phone_verification:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv test lint typecheck unit integration sandbox clean

$(BIN)/.installed: requirements-dev.txt layers/phone_verification/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q

integration: venv
	$(BIN)/pytest tests/integration -q

## The README's test command: lint, types, then the whole suite.
test: lint typecheck
	$(BIN)/pytest -q

## Sinch sandbox on 127.0.0.1:$${SANDBOX_PORT:-3001} (Ctrl-C stops it).
sandbox: venv
	$(BIN)/python -m sinch_sandbox

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .aws-sam
