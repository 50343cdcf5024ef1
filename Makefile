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

## The whole product locally, no AWS account and no Docker (Ctrl-C stops it): the real handlers behind
## 127.0.0.1:$${API_PORT:-3000}, the Sinch sandbox on :$${SANDBOX_PORT:-3001}, moto on :$${AWS_EMULATOR_PORT:-3002}.
.PHONY: run
run: venv
	$(BIN)/python -m local_stack

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .aws-sam

## ---- Template tooling: `make validate` (cfn-lint + sam validate --lint), `make build` (sam build).
# SAM CLI and cfn-lint get their own venv from requirements-sam.txt: SAM CLI pins its own boto3 & co.
SAM_VENV ?= .venv-sam
SAM_BIN := $(SAM_VENV)/bin
SAM := env -u PYTHONPATH SAM_CLI_TELEMETRY=0 $(SAM_BIN)/sam
# `sam build` without Docker runs the functions' runtime, python3.13, from PATH. Found through pyenv
# (pyenv's python3.13 shim fails unless 3.13 is the selected version) or a working python3.13 on PATH;
# override with PYTHON313=/path/to/python3.13.
PYTHON313 ?= $(shell p="$$(pyenv prefix 3.13 2>/dev/null | head -n 1)"; \
	if [ -x "$$p/bin/python3.13" ]; then echo "$$p/bin/python3.13"; \
	elif python3.13 -c '' >/dev/null 2>&1; then command -v python3.13; fi)

.PHONY: sam-venv validate build clean-sam

$(SAM_BIN)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

sam-venv: $(SAM_BIN)/.installed

validate: sam-venv
	env -u PYTHONPATH $(SAM_BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template-file template.yaml

## Builds the layer and both functions for arm64 into .aws-sam/build (no Docker needed).
build: sam-venv
	@if [ -z "$(PYTHON313)" ] || ! "$(PYTHON313)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		echo "make build: no Python 3.13 found; sam build needs the functions' runtime without Docker." >&2; \
		echo "  Install it (pyenv install 3.13) or run: make build PYTHON313=/path/to/python3.13" >&2; \
		exit 1; \
	fi
	@mkdir -p .aws-sam/bin && ln -sf "$(PYTHON313)" .aws-sam/bin/python3.13
	PATH="$(CURDIR)/.aws-sam/bin:$$PATH" $(SAM) build --template-file template.yaml --build-dir .aws-sam/build

clean: clean-sam
clean-sam:
	rm -rf $(SAM_VENV) .aws-sam
