# Every target builds what it needs first (virtual environments included), so on a fresh machine
# `make run` runs the product locally and `make test` runs every check. The machines' python3 is 3.11;
# PYTHON picks another interpreter for the venvs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/layers/phone_verification:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv run events invoke demo sandbox guard sinch-check fraud-sim test test-docker test-e2e check lint typecheck unit integration validate build \
	sam-venv clean bench

help:
	@grep -E '^## ' Makefile | sed 's/^## //'

$(BIN)/.installed: requirements-dev.txt layers/phone_verification/requirements.txt clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

## make run       the whole product locally (no AWS account, no Docker): the real handlers behind
##                127.0.0.1:3000 (API_PORT), the Sinch sandbox on :3001 (SANDBOX_PORT), moto on :3002
run: venv
	$(BIN)/python -m local_stack

## make events    print the lifecycle events of a running `make run` started with EVENT_BUS_NAME=default
##                (another bus: EVENT_BUS_NAME=<it> make events too) until Ctrl-C; EVENTS_ARGS: options,
##                e.g. EVENTS_ARGS="--stop-after 60"
events: venv
	$(BIN)/python -m local_stack.events $(EVENTS_ARGS)

## make invoke    a function's real handler with an event file, as `sam local invoke` runs it but without
##                Docker: make invoke FUNCTION=StartVerificationFunction EVENT=events/start-sms.json (the
##                result on stdout, logs on stderr); against make run's stack when it runs, else a stack of
##                its own. No EVENT (or EVENT=all): every file in events/ through its function, each result
##                checked. INVOKE_ARGS: options, e.g. INVOKE_ARGS="--id <verification id> --set code=<code>"
invoke: venv
	$(BIN)/python -m local_stack.invoke $(FUNCTION) $(or $(EVENT),all) $(INVOKE_ARGS)

## make demo      the README walkthrough against a fresh local stack; exits non-zero if a step fails
demo: venv
	$(BIN)/python -m local_stack.demo

## make sandbox   only the Sinch sandbox, on 127.0.0.1:3001 (SANDBOX_PORT)
sandbox: venv
	$(BIN)/python -m sinch_sandbox

## make guard     the fraud guard's operators' command (README "Operating the fraud guard") against the
##                local stack of `make run`: make guard ARGS="list" | ARGS="unblock <number|range|id>" |
##                ARGS="safelist [--remove] [--prefix] <number|range|id>"; a deployed stack with
##                GUARD_TARGET="--stack <stack name> --region <region>" (your AWS credentials)
GUARD_TARGET ?= --local
guard: venv
	$(BIN)/python -m guard_admin $(GUARD_TARGET) $(ARGS)

## make sinch-check  does your Sinch account send the SMS code the product chooses? (README "Sinch account
##                modes"): make sinch-check ARGS="--stack <stack name> --number <a test phone of yours>";
##                against make run: ARGS="--local --number +46700000001"
sinch-check: venv
	$(BIN)/python -m sinch_check $(ARGS)

## make test      everything CI runs: lint, types, template checks, sam build, unit then integration tests
##                (the opt-in Docker and deployed-stack suites run too and say why they skip)
# Unit and integration tests run in separate processes: moto's in-process mock (unit) and its server
# (integration) share one memory, and a mock starting or stopping would wipe the server's tables.
test: check validate build
	$(BIN)/pytest tests/unit -q
	REQUIRE_BUILD=1 $(BIN)/pytest tests/integration -q
	$(BIN)/pytest tests/docker tests/e2e -q

## make test-docker  the walkthrough against LocalStack in Docker (needs a Docker engine)
test-docker: venv
	$(BIN)/pytest tests/docker -q

## make test-e2e  checks against a deployed stack: E2E_API_URL=<ApiUrl output> [E2E_PHONE_NUMBER=+...]
test-e2e: venv
	$(BIN)/pytest tests/e2e -q

## make bench     the benchmark (README "Performance"): cold start next to a floor and a peer handler, warm
##                overhead, round trips, artefact size, cost, with tracing off and on (X-Ray to a local UDP
##                sink) and every feature on, checked against /usr/bin/time; writes bench/results/latest.md
##                (8-12 minutes). Runs on the functions' runtime, Python 3.13 (PYTHON313), in its own venvs;
##                another interpreter with BENCH_PYTHON=/path/to/python (e.g. .venv/bin/python); BENCH_ARGS:
##                options, e.g. BENCH_ARGS=--check (exit non-zero when the cross-check disagrees by > 10 %)
BENCH_PYTHON ?= $(PYTHON313)
bench: venv
	@test -f .aws-sam/build/template.yaml || $(MAKE) build
	$(BIN)/python -m bench $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON)) $(BENCH_ARGS)

## make fraud-sim the fraud guard against seeded traffic through the real handlers on the local stack
##                (README "The simulator"): one table, also in fraud_sim/results/latest.md;
##                exits non-zero if a done-when criterion fails (about 2 minutes). SIM_ARGS: options,
##                e.g. SIM_ARGS=--quick (a smoke run), SIM_ARGS="--seed 7 --scenarios 1,4"
fraud-sim: venv
	$(BIN)/python -m fraud_sim $(SIM_ARGS)

## make check     lint and types only (seconds)
check: lint typecheck

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

## make unit      the unit tests (no sockets; seconds)
unit: venv
	$(BIN)/pytest tests/unit -q

## make integration  the integration tests over loopback HTTP (emulator, sandbox, local API)
integration: venv
	$(BIN)/pytest tests/integration -q

# ---- Template tooling. SAM CLI and cfn-lint get their own venv: SAM CLI pins its own boto3 & co.
SAM_VENV ?= .venv-sam
SAM_BIN := $(SAM_VENV)/bin
SAM := env -u PYTHONPATH SAM_CLI_TELEMETRY=0 $(SAM_BIN)/sam
# `sam build` without Docker runs the functions' runtime, python3.13, from PATH. Found through pyenv
# (pyenv's python3.13 shim fails unless 3.13 is the selected version) or a working python3.13 on PATH;
# override with PYTHON313=/path/to/python3.13.
PYTHON313 ?= $(shell p="$$(pyenv prefix 3.13 2>/dev/null | head -n 1)"; \
	if [ -x "$$p/bin/python3.13" ]; then echo "$$p/bin/python3.13"; \
	elif python3.13 -c '' >/dev/null 2>&1; then command -v python3.13; fi)
# What the Lambda python3.13 runtime itself provides besides the standard library: the AWS SDK. The
# built-artefact test runs the handlers with only this and the built layer on the path.
LAMBDA_RUNTIME_PACKAGES := boto3==1.39.17
LAMBDA_RUNTIME_DIR := .aws-sam/lambda-runtime

$(SAM_BIN)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

sam-venv: $(SAM_BIN)/.installed

## make validate  cfn-lint and sam validate --lint on template.yaml
validate: sam-venv
	env -u PYTHONPATH $(SAM_BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template-file template.yaml

## make build     sam build (arm64, no Docker) into .aws-sam/build, plus the runtime's own packages
build: sam-venv
	@if [ -z "$(PYTHON313)" ] || ! "$(PYTHON313)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		echo "make build: no Python 3.13 found; sam build needs the functions' runtime without Docker." >&2; \
		echo "  Install it (pyenv install 3.13) or run: make build PYTHON313=/path/to/python3.13" >&2; \
		exit 1; \
	fi
	@mkdir -p .aws-sam/bin && ln -sf "$(PYTHON313)" .aws-sam/bin/python3.13
	PATH="$(CURDIR)/.aws-sam/bin:$$PATH" $(SAM) build --template-file template.yaml --build-dir .aws-sam/build
	@test -f $(LAMBDA_RUNTIME_DIR)/.installed || { \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile --target $(LAMBDA_RUNTIME_DIR) \
			--python-version 3.13 --only-binary=:all: $(LAMBDA_RUNTIME_PACKAGES) && touch $(LAMBDA_RUNTIME_DIR)/.installed; }
	@echo "PYTHON313=$(PYTHON313)" > .aws-sam/python313.env

clean:
	rm -rf $(VENV) $(SAM_VENV) .venv-peer* .venv-bench-* .aws-sam .mypy_cache .pytest_cache .ruff_cache .hypothesis
