"""The output of `sam build` runs with only what Lambda provides: the python3.13 runtime (standard
library + the AWS SDK) and the built layer. Proves the layer ships everything the code imports, and
the bytecode Lambda loads instead of compiling the layer at every cold start.

`make build` produces .aws-sam/build and .aws-sam/lambda-runtime (boto3 as the runtime has it) and
records the Python 3.13 it used; `make test` runs this with REQUIRE_BUILD=1 so a missing build fails
instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack import LocalStack
from phone_verification import runtime

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_RUNTIME = ROOT / ".aws-sam" / "lambda-runtime"
PYTHON313_RECORD = ROOT / ".aws-sam" / "python313.env"
NUMBER = "+46700000077"
# What layers/phone_verification/Makefile compiles: every module but phonenumbers' per-country metadata.
NOT_COMPILED = re.compile(r"phonenumbers/(short)?data/region_\w+\.py")
# .pyc header flags (PEP 552): bit 0 hash-based, bit 1 check the source. Unchecked-hash: Lambda's
# import uses the .pyc whatever the source's mtime, which unzipping the layer does not keep.
UNCHECKED_HASH = 0b01

# Runs inside a bare python3.13 (-S: no site-packages, -E: no PYTHON* variables, -B: writes no .pyc but
# reads the shipped ones):
# the function's folder first, then the layer as /opt/python, then the runtime's own packages, as in Lambda.
RUNNER = """
import json, sys
function_dir, layer_dir, runtime_dir = sys.argv[1:4]
sys.path[:0] = [function_dir, layer_dir, runtime_dir]

class Context:
    function_name = "built-artifact-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:built-artifact-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/built-artifact-test"
    log_stream_name = "stream"
    def get_remaining_time_in_millis(self):
        return 20000

import app
event = json.loads(sys.stdin.read())
try:
    result = app.lambda_handler(event, Context())
except Exception as error:
    result = {"raised": type(error).__name__}
print("RESULT " + json.dumps(result))
print("MODULES " + json.dumps(sorted(sys.modules)))
"""


def _python313() -> str | None:
    if PYTHON313_RECORD.is_file():
        recorded = PYTHON313_RECORD.read_text().strip().removeprefix("PYTHON313=")
        if recorded and Path(recorded).is_file():
            return recorded
    return None


def _missing() -> str | None:
    if not (BUILD / "template.yaml").is_file():
        return "no sam build output in .aws-sam/build (run `make build`)"
    if not (LAMBDA_RUNTIME / ".installed").is_file():
        return "no Lambda runtime packages in .aws-sam/lambda-runtime (run `make build`)"
    if _python313() is None:
        return "no Python 3.13 recorded by `make build`"
    return None


@pytest.fixture(scope="module")
def built() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("REQUIRE_BUILD") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def stack(built: None) -> Iterator[LocalStack]:
    with LocalStack() as running:
        runtime.configure(None)
        yield running
    runtime.configure(None)


def invoke_built(
    stack: LocalStack, function_id: str, event: Any, layer: Path = BUILD / "VerificationLayer" / "python"
) -> tuple[Any, list[str]]:
    python = _python313()
    assert python is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        **stack.function_environment(function_id),
    }
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [
            python,
            "-B",  # write no bytecode into the build output that `sam deploy` ships
            "-S",
            "-E",
            "-c",
            RUNNER,
            str(BUILD / function_id),
            str(layer),
            str(LAMBDA_RUNTIME),
        ],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = dict(
        line.split(" ", 1) for line in completed.stdout.splitlines() if line.startswith(("RESULT", "MODULES"))
    )
    return json.loads(lines["RESULT"]), json.loads(lines["MODULES"])


def test_layer_leaves_the_aws_sdk_to_the_runtime(built: None) -> None:
    layer = BUILD / "VerificationLayer" / "python"
    assert (layer / "phone_verification" / "service.py").is_file()
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (layer / provided).exists(), f"{provided} would shadow the runtime's own copy"


def test_built_handlers_verify_a_number_end_to_end(stack: LocalStack) -> None:
    started, modules = invoke_built(stack, "StartVerificationFunction", {"phoneNumber": NUMBER})
    assert started.get("status") == "PENDING", started
    assert {"phone_verification", "aws_lambda_powertools", "requests", "phonenumbers", "botocore"} <= set(
        modules
    )
    assert stack.sandbox is not None
    code = stack.sandbox.inbox(NUMBER)["messages"][-1]["code"]
    reported, report_modules = invoke_built(
        stack, "ReportVerificationFunction", {"id": started["id"], "code": code}
    )
    assert reported["status"] == "SUCCESSFUL"

    # What a cold start does not load (issue 6): boto3's resource layer, Powertools' event handler and
    # idempotency (only for an Idempotency-Key), and in the report function libphonenumber (only to
    # report by number).
    never = {"boto3", "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.idempotency"}
    assert not never & set(modules)
    assert not (never | {"phonenumbers"}) & set(report_modules)


def test_built_handlers_answer_api_gateway_events(stack: LocalStack) -> None:
    event = json.loads((ROOT / "events" / "start-sms.json").read_text())
    event["body"] = json.dumps({"phoneNumber": "not a number"})
    response, _ = invoke_built(stack, "StartVerificationFunction", event)
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["code"] == "invalid_request"


def test_built_handlers_raise_named_errors_for_direct_calls(stack: LocalStack) -> None:
    result, _ = invoke_built(stack, "ReportVerificationFunction", {"id": "unknown", "code": "123456"})
    assert result == {"raised": "VerificationNotFound"}


def test_built_layer_ships_bytecode_that_the_runtime_uses(stack: LocalStack, tmp_path: Path) -> None:
    layer = BUILD / "VerificationLayer" / "python"
    sources = [path.relative_to(layer).as_posix() for path in layer.rglob("*.py")]
    assert "phone_verification/errors.py" in sources
    flags = {}
    for source in sources:
        pyc = (layer / source).parent / "__pycache__" / f"{Path(source).stem}.cpython-313.pyc"
        flags[source] = int.from_bytes(pyc.read_bytes()[4:8], "little") if pyc.is_file() else None
    wrong = {s: f for s, f in flags.items() if f != UNCHECKED_HASH and not NOT_COMPILED.fullmatch(s)}
    assert not wrong, f"{len(wrong)} modules without unchecked-hash 3.13 bytecode, e.g. {sorted(wrong)[:5]}"

    # As Lambda unzips it (new mtimes), with a source that no longer compiles: the handler still works
    # only if the import took the .pyc without looking at the source.
    copy = tmp_path / "python"
    shutil.copytree(layer, copy, copy_function=shutil.copy)
    (copy / "phone_verification" / "errors.py").write_text("this is not Python (\n", encoding="utf-8")
    result, modules = invoke_built(
        stack, "ReportVerificationFunction", {"id": "unknown", "code": "123456"}, layer=copy
    )
    assert result == {"raised": "VerificationNotFound"}  # an exception class from errors.py
    assert "phone_verification" in modules
