"""Issue 5's proof: the example workflow runs, its task waiting for the user without polling.

The real definition (statemachines/phone_verification/definition.asl.json, with the DefinitionSubstitutions
template.yaml gives it when DeployExampleWorkflow=true) is executed by moto's Step Functions interpreter in
the local stack's emulator (``LocalStack(step_functions=True)``, see local_stack/step_functions.py). Its
Lambda task runs the real start handler in-process; the code arrives as the user's backend sends it, over
the local HTTP API, and the report handler resumes the waiting task with SendTaskSuccess/SendTaskFailure
over HTTP to the same emulator. Executions are always named; every wait is bounded.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from local_stack import LOCAL_DEVELOPER_ARN, LocalStack, TemplateError
from phone_verification import runtime
from tests.integration.conftest import captured_logs, http, reset_stack, verification_of

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "statemachines" / "phone_verification" / "definition.asl.json"
WORKFLOW = "ExampleVerificationWorkflow"
START = "StartVerificationFunction"
REPORT = "ReportVerificationFunction"
# The local API's default caller; the workflow names it as the owner who reports over HTTP.
OWNER = f"iam:{LOCAL_DEVELOPER_ARN}"
TTL_SECONDS = 600  # the template's VerificationTtlSeconds default
HTTP_TIMEOUT = 30
WAIT = 10.0  # seconds an execution may take to end once the verification has ended


class _Quiet:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def workflow_stack(name: str, **overrides: str) -> Iterator[LocalStack]:
    """A stack of its own with the example workflow deployed and executed (module fixtures)."""
    runtime.configure(None)
    with LocalStack(
        stack_name=name,
        secret_name=f"{name}/sinch",
        parameter_overrides={"DeployExampleWorkflow": "true", **overrides},
        step_functions=True,
        log=_Quiet(),  # type: ignore[arg-type]
    ) as running:
        runtime.configure(None)
        yield running
    runtime.configure(None)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    yield from workflow_stack("pv-workflow")


@pytest.fixture
def fresh(stack: LocalStack) -> Iterator[LocalStack]:
    yield reset_stack(stack)
    assert stack.sandbox is not None
    stack.sandbox.clear_faults()


# ----------------------------------------------------------------------------------------------- helpers


def execute(stack: LocalStack, number: str, *, machine: str | None = None, **extra: Any) -> str:
    """Start a named execution of the workflow for ``number``; its ARN."""
    arn = machine or stack.state_machine_arns[WORKFLOW]
    execution_input = {"phoneNumber": number, "owner": OWNER, **extra}
    started = stack.stepfunctions().start_execution(
        stateMachineArn=arn, name=f"verify-{uuid.uuid4().hex[:12]}", input=json.dumps(execution_input)
    )
    return started["executionArn"]


def sms_code(stack: LocalStack, number: str, *, count: int = 1, timeout: float = 10.0) -> str:
    """The code of the ``count``-th SMS to ``number``, once it has arrived (the workflow sends it) and
    the product has stored its verification (which it does after Sinch's answer, a moment after the SMS
    reaches the phone)."""
    assert stack.sandbox is not None
    deadline = time.monotonic() + timeout
    while True:
        messages = stack.sandbox.inbox(number)["messages"]
        if len(messages) >= count:
            message = messages[count - 1]
            key = {"pk": {"S": f"verification#{verification_of(message)}"}}
            if stack.dynamodb().get_item(TableName=stack.table_name, Key=key).get("Item"):
                code: str = message["code"]
                return code
        assert time.monotonic() < deadline, f"no SMS to {number} stored within {timeout} s"
        time.sleep(0.05)


def report(stack: LocalStack, number: str, code: str) -> requests.Response:
    """What the user's backend does with the code the user typed: PUT it over HTTP, by number."""
    return http.put(
        f"{stack.api_url}/verifications/number/{number}", json={"code": code}, timeout=HTTP_TIMEOUT
    )


def ended(stack: LocalStack, execution_arn: str) -> DescribeExecutionOutputTypeDef:
    described = stack.wait_for_execution(execution_arn, timeout=WAIT)
    assert described["status"] != "RUNNING", f"the execution did not end within {WAIT} s"
    return described


def events(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    history = stack.stepfunctions().get_execution_history(executionArn=execution_arn, maxResults=1000)
    return [dict(event) for event in history["events"]]


def task_token(stack: LocalStack, execution_arn: str) -> str:
    """The token Step Functions put in the start task's payload (from the execution's history)."""
    for event in events(stack, execution_arn):
        details = event.get("taskScheduledEventDetails")
        if details:
            token: str = json.loads(details["parameters"])["Payload"]["taskToken"]
            return token
    raise AssertionError("no TaskScheduled event")


def verification_items(stack: LocalStack) -> list[dict[str, Any]]:
    items = stack.dynamodb().scan(TableName=stack.table_name, ConsistentRead=True)["Items"]
    return [dict(item) for item in items if item["pk"]["S"].startswith("verification#")]


def wrong(code: str) -> str:
    return "".join("1" if ch == "0" else "0" for ch in code)


def move_product_clock(stack: LocalStack, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the product's clock forward (its dependencies are built against this stack first)."""
    with pytest.raises(Exception, match="No such verification"):  # the class of the function's own module
        stack.invoke(REPORT, {"id": "warm-up"})
    context = runtime.current().service.context
    monkeypatch.setattr(context, "clock", lambda: time.time() + seconds)


# ------------------------------------------------------------------------------------------------ proofs


def test_the_template_deploys_the_real_definition_with_its_substitutions(fresh: LocalStack) -> None:
    described = fresh.stepfunctions().describe_state_machine(
        stateMachineArn=fresh.state_machine_arns[WORKFLOW]
    )
    definition = json.loads(described["definition"])
    expected = json.loads(
        DEFINITION.read_text(encoding="utf-8")
        .replace("${StartVerificationFunctionArn}", fresh.function_arn(START))
        .replace("${VerificationTtlSeconds}", str(TTL_SECONDS))
        .replace("${WaitMarginSeconds}", "60")
        .replace("${ChannelWaitSeconds}", "120")
    )
    assert definition == expected
    assert described["name"] == "pv-workflow-phone-verification"
    assert described["type"] == "STANDARD"


def test_the_right_code_over_http_resumes_the_workflow_with_the_verification(fresh: LocalStack) -> None:
    """start -> wait for the code -> succeed: the output is the verification; the task token was kept
    with the verification only while the workflow waited, and no log line ever held it."""
    number = "+46700000501"
    # At the levels the functions run with (test_security proves DEBUG).
    with captured_logs() as capture:
        execution = execute(fresh, number)
        code = sms_code(fresh, number)
        (waiting,) = verification_items(fresh)
        token = task_token(fresh, execution)
        assert waiting["taskToken"] == {"S": token}
        assert fresh.stepfunctions().describe_execution(executionArn=execution)["status"] == "RUNNING"

        answer = report(fresh, number, code)
        outcome = ended(fresh, execution)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "SUCCESSFUL"
    assert outcome["status"] == "SUCCEEDED"
    output = json.loads(outcome["output"])
    assert output["id"] == answer.json()["id"] == waiting["id"]["S"]
    assert (output["status"], output["method"]) == ("SUCCESSFUL", "sms")
    assert "taskToken" not in verification_items(fresh)[0], "the token is used once and dropped"
    pattern = re.compile(re.escape(token))
    assert any("workflow resumed" in line for line in capture.lines), "the handlers' logs were captured"
    assert not [line for line in capture.lines if pattern.search(line)], "a log line holds the task token"


def test_five_wrong_codes_fail_the_workflow_with_too_many_attempts(fresh: LocalStack) -> None:
    number = "+46700000502"
    execution = execute(fresh, number)
    bad = wrong(sms_code(fresh, number))

    answers = [report(fresh, number, bad) for _ in range(5)]
    outcome = ended(fresh, execution)

    # The HTTP answers are the API's as always: 200 with the attempts counting down, FAIL at the last.
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["status"] for a in answers] == ["PENDING"] * 4 + ["FAIL"]
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "TooManyAttempts"
    assert outcome["cause"] == "The phone number was not verified; the error names the reason."
    assert report(fresh, number, bad).json()["code"] == "too_many_attempts"
    failed = [e for e in events(fresh, execution) if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["TooManyAttempts"]


def test_a_code_reported_after_expiry_fails_the_workflow_with_verification_expired(
    fresh: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = "+46700000503"
    execution = execute(fresh, number)
    code = sms_code(fresh, number)
    move_product_clock(fresh, monkeypatch, TTL_SECONDS + 1)

    answer = report(fresh, number, code)
    outcome = ended(fresh, execution)

    assert (answer.status_code, answer.json()["code"]) == (410, "expired")
    assert (outcome["status"], outcome["error"]) == ("FAILED", "VerificationExpired")


def test_a_user_who_never_answers_times_the_task_out_and_a_late_code_still_stands(
    fresh: LocalStack,
) -> None:
    """The task waits the verification's lifetime plus a margin (TimeoutSecondsPath). The same definition,
    deployed with substitutions that make that 2 s, fails with VerificationExpired when nobody reports;
    a code that arrives afterwards (the verification itself lasts 600 s) is still a success for the API:
    Step Functions refuses the spent token and the product logs and ignores that."""
    number = "+46700000504"
    machine = fresh.create_state_machine(
        DEFINITION,
        name="pv-workflow-short-wait",
        substitutions={
            "StartVerificationFunctionArn": fresh.function_arn(START),
            "VerificationTtlSeconds": "1",
            "WaitMarginSeconds": "1",
            "ChannelWaitSeconds": "1",
        },
    )
    started = time.monotonic()
    execution = execute(fresh, number, machine=machine)
    code = sms_code(fresh, number)

    outcome = ended(fresh, execution)
    waited = time.monotonic() - started
    late = report(fresh, number, code)

    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "VerificationExpired"
    assert outcome["cause"] == "No code was reported before the verification expired."
    assert 1.5 <= waited < WAIT
    assert "TaskTimedOut" in [e["type"] for e in events(fresh, execution)]
    assert (late.status_code, late.json()["status"]) == (200, "SUCCESSFUL")
    assert "taskToken" not in verification_items(fresh)[0]


def test_a_sinch_outage_at_start_is_retried_by_the_workflow_and_sends_one_sms(fresh: LocalStack) -> None:
    """Sinch answers the first start with 503: the start task fails with ProviderUnavailable, the
    workflow's Retry starts it again (same execution id as idempotency key), and the user gets one SMS."""
    assert fresh.sandbox is not None
    number = "+46700000505"
    fresh.sandbox.add_fault({"kind": "status", "status": 503, "method": "POST", "count": 1})
    execution = execute(fresh, number)
    code = sms_code(fresh, number)

    answer = report(fresh, number, code)
    outcome = ended(fresh, execution)

    assert answer.status_code == 200, answer.text
    assert outcome["status"] == "SUCCEEDED"
    assert len(fresh.sandbox.inbox(number)["messages"]) == 1
    starts = [r["status"] for r in fresh.sandbox.requests_log() if r["operation"] == "start"]
    assert starts == [503, 200]
    failed = [e for e in events(fresh, execution) if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["ProviderUnavailable"]
    assert len(verification_items(fresh)) == 1


def test_a_newer_start_for_the_number_fails_the_waiting_workflow_at_once(
    fresh: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user asked for a new code (a new start for the number, here over HTTP): the verification the
    workflow waits for is replaced, so the workflow fails now with VerificationExpired instead of
    waiting out its timeout."""
    number = "+46700000506"
    execution = execute(fresh, number)
    sms_code(fresh, number)
    move_product_clock(fresh, monkeypatch, 31)  # past the minimum gap between two starts to a number

    newer = http.post(f"{fresh.api_url}/verifications", json={"phoneNumber": number}, timeout=HTTP_TIMEOUT)
    outcome = ended(fresh, execution)

    assert newer.status_code == 201, newer.text
    assert (outcome["status"], outcome["error"]) == ("FAILED", "VerificationExpired")


@pytest.mark.parametrize(
    ("number", "error"),
    [("+4670000", "InvalidRequest"), ("+46812345678", "DestinationDenied")],
    ids=["not-a-number", "sms-to-a-fixed-line"],
)
def test_a_start_the_product_refuses_fails_the_workflow_with_the_reason(
    fresh: LocalStack, number: str, error: str
) -> None:
    execution = execute(fresh, number)
    outcome = ended(fresh, execution)
    assert (outcome["status"], outcome["error"]) == ("FAILED", error)
    assert verification_items(fresh) == []


def test_without_an_owner_the_verification_belongs_to_direct_callers(fresh: LocalStack) -> None:
    """owner is optional: without it an HTTP caller cannot report (not_found), a direct invocation can."""
    number = "+46700000507"
    arn = fresh.state_machine_arns[WORKFLOW]
    execution = fresh.stepfunctions().start_execution(
        stateMachineArn=arn, name=f"verify-{uuid.uuid4().hex[:12]}", input=json.dumps({"phoneNumber": number})
    )["executionArn"]
    code = sms_code(fresh, number)

    over_http = report(fresh, number, code)
    direct = fresh.invoke(REPORT, {"phoneNumber": number, "code": code})
    outcome = ended(fresh, execution)

    assert (over_http.status_code, over_http.json()["code"]) == (404, "not_found")
    assert direct["status"] == "SUCCESSFUL"
    assert outcome["status"] == "SUCCEEDED"


# ------------------------------------------------------------------------------- the local stack's side


def test_a_task_for_a_function_the_stack_does_not_have_fails_like_lambda(fresh: LocalStack) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:000000000000:function:nope"},
                "End": True,
            }
        },
    }
    machine = fresh.create_state_machine(json.dumps(definition), name="pv-workflow-unknown-function")
    execution = fresh.stepfunctions().start_execution(stateMachineArn=machine, name="unknown-function")
    outcome = ended(fresh, execution["executionArn"])
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")


def test_a_placeholder_without_a_substitution_is_refused(fresh: LocalStack) -> None:
    with pytest.raises(TemplateError, match="WaitMarginSeconds"):
        fresh.create_state_machine(
            DEFINITION,
            name="pv-workflow-incomplete",
            substitutions={"StartVerificationFunctionArn": "x", "VerificationTtlSeconds": "1"},
        )
