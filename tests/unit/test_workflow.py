"""Step Functions callbacks: ``workflow.TaskCallbacks`` against botocore's Stubber, the use cases resuming a
waiting workflow exactly once at each way a verification ends (in-memory ports, scripted Sinch), and the
start handler's replay rule (moto's in-process DynamoDB, for Powertools' idempotency records).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from phone_verification import runtime
from phone_verification.commands import ReportCommand, StartCommand
from phone_verification.errors import (
    DestinationDenied,
    TooManyAttempts,
    VerificationError,
    VerificationExpired,
    VerificationNotFound,
)
from phone_verification.model import Verification
from phone_verification.responses import verification_body
from phone_verification.service import VerificationService
from phone_verification.sinch import Method, ReportResult, SinchNotFound, Status
from phone_verification.store import RETENTION_SECONDS
from phone_verification.store_items import item_of
from phone_verification.workflow import TaskCallbacks
from tests.fakes import NUMBER, TABLE, FakeContext, World, install, load_handler, make_world

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAcIVN-task-token-of-the-first-attempt"
OTHER_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAcIVN-task-token-of-the-retry"
OWNER = "iam:arn:aws:sts::123456789012:assumed-role/backend"


# ---------------------------------------------------------------------------------------- TaskCallbacks

VERIFIED = Verification(
    id="v-1", method="sms", status="SUCCESSFUL", attempts_remaining=0, expires_at=1_790_000_600
)


def sfn_client() -> SFNClient:
    return boto3.client(
        "stepfunctions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stubbed() -> Iterator[tuple[TaskCallbacks, Stubber]]:
    client = sfn_client()
    with Stubber(client) as stubber:
        yield TaskCallbacks(lambda: client), stubber
        stubber.assert_no_pending_responses()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def workflow_logs() -> Iterator[_Lines]:
    lines = _Lines()
    logger = logging.getLogger("phone_verification.workflow")
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


class TestTaskCallbacks:
    def test_success_sends_the_verification_as_the_tasks_output(
        self, stubbed: tuple[TaskCallbacks, Stubber]
    ) -> None:
        callbacks, stubber = stubbed
        result = verification_body(VERIFIED)
        stubber.add_response(
            "send_task_success", {}, {"taskToken": TOKEN, "output": json.dumps(result, separators=(",", ":"))}
        )
        assert callbacks.succeeded(TOKEN, VERIFIED) is True

    @pytest.mark.parametrize(
        "error",
        [
            TooManyAttempts(),
            VerificationExpired(),
            DestinationDenied("The provider denied this verification."),
        ],
        ids=lambda error: type(error).__name__,
    )
    def test_failure_names_the_error_as_a_direct_invocation_would_and_gives_its_fixed_sentence(
        self, stubbed: tuple[TaskCallbacks, Stubber], error: VerificationError
    ) -> None:
        callbacks, stubber = stubbed
        stubber.add_response(
            "send_task_failure",
            {},
            {"taskToken": TOKEN, "error": type(error).__name__, "cause": error.detail},
        )
        assert callbacks.failed(TOKEN, error, verification_id="v-1") is True

    @pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
    def test_a_token_the_workflow_no_longer_waits_on_is_logged_and_ignored(
        self, stubbed: tuple[TaskCallbacks, Stubber], workflow_logs: _Lines, code: str
    ) -> None:
        callbacks, stubber = stubbed
        stubber.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
        stubber.add_client_error("send_task_failure", service_error_code=code, http_status_code=400)

        assert callbacks.succeeded(TOKEN, VERIFIED) is False
        assert callbacks.failed(TOKEN, TooManyAttempts(), verification_id="v-1") is False

        assert [r.levelno for r in workflow_logs.records] == [logging.INFO, logging.INFO]
        assert {r.__dict__["aws_error"] for r in workflow_logs.records} == {code}
        assert {r.__dict__["verification_id"] for r in workflow_logs.records} == {"v-1"}

    @pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException", "InvalidOutput"])
    def test_any_other_refusal_is_logged_as_an_error_and_never_raised(
        self, stubbed: tuple[TaskCallbacks, Stubber], workflow_logs: _Lines, code: str
    ) -> None:
        callbacks, stubber = stubbed
        stubber.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
        assert callbacks.succeeded(TOKEN, VERIFIED) is False
        (record,) = workflow_logs.records
        assert (record.levelno, record.__dict__["aws_error"]) == (logging.ERROR, code)

    def test_an_unreachable_step_functions_is_logged_and_never_raised(self, workflow_logs: _Lines) -> None:
        class Unreachable:
            def send_task_failure(self, **_: Any) -> Any:
                raise EndpointConnectionError(endpoint_url="https://states.eu-west-1.amazonaws.com")

        callbacks = TaskCallbacks(Unreachable)  # type: ignore[arg-type]
        assert callbacks.failed(TOKEN, VerificationExpired(), verification_id="v-1") is False
        (record,) = workflow_logs.records
        assert record.__dict__["aws_error"] == "EndpointConnectionError"

    def test_the_token_is_never_logged(
        self, stubbed: tuple[TaskCallbacks, Stubber], workflow_logs: _Lines
    ) -> None:
        callbacks, stubber = stubbed
        stubber.add_response("send_task_failure", {})
        stubber.add_client_error("send_task_success", service_error_code="TaskTimedOut")
        callbacks.failed(TOKEN, TooManyAttempts(), verification_id="v-1")
        callbacks.succeeded(TOKEN, VERIFIED)
        logged = [f"{r.getMessage()} {r.__dict__}" for r in workflow_logs.records]
        assert len(logged) == 2
        assert not [line for line in logged if TOKEN in line]

    def test_the_client_is_created_on_first_use_only(self) -> None:
        client = sfn_client()
        made: list[SFNClient] = []

        def factory() -> SFNClient:
            made.append(client)
            return client

        callbacks = TaskCallbacks(factory)
        assert made == []
        with Stubber(client) as stubber:
            stubber.add_response("send_task_success", {})
            stubber.add_response("send_task_failure", {})
            callbacks.succeeded(TOKEN, VERIFIED)
            callbacks.failed(TOKEN, TooManyAttempts(), verification_id="v-1")
        assert made == [client]


# ------------------------------------------------------------------------------------ the service's hooks


@dataclass
class Recorder:
    """Stands in for TaskCallbacks: what would have been sent to Step Functions."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def succeeded(self, token: str, verification: Verification) -> bool:
        self.calls.append(("success", token, verification_body(verification)))
        return True

    def failed(self, token: str, error: VerificationError, *, verification_id: str) -> bool:
        self.calls.append(("failure", token, type(error).__name__))
        return True


@dataclass
class Flow:
    world: World
    service: VerificationService
    workflows: Recorder

    def start(self, token: str | None = TOKEN, number: str = NUMBER) -> str:
        command = StartCommand(phone_number=number, owner=OWNER, task_token=token)
        return self.service.start(command).id

    def report(self, verification_id: str, code: str, owner: str = OWNER) -> Any:
        return self.service.report(ReportCommand(verification_id=verification_id, code=code, owner=owner))

    def item(self, verification_id: str) -> dict[str, Any]:
        """The verification's item as DynamoDB holds it (for the in-memory store: as it would)."""
        if self.world.dynamodb is None:
            record = self.world.store.get(verification_id)
            assert record is not None
            return item_of(record, ttl=record.expires_at + RETENTION_SECONDS)
        key = {"pk": {"S": f"verification#{verification_id}"}}
        item: dict[str, Any] = self.world.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]
        return item


def make_flow(*, dynamodb: bool = False, **settings: Any) -> Flow:
    workflows = Recorder()
    world = make_world(workflows=workflows, dynamodb=dynamodb, **settings)
    return Flow(world, world.service, workflows)


@pytest.fixture
def flow() -> Flow:
    return make_flow()


@pytest.fixture
def sinch_flow() -> Flow:
    """Sinch generates the SMS code and decides every report."""
    return make_flow(sms_code_source="sinch")


def wrong(code: str) -> str:
    return "".join("1" if ch == "0" else "0" for ch in code)


class TestResumingTheWorkflow:
    def test_the_token_is_kept_with_the_verification_while_it_waits(self, flow: Flow) -> None:
        verification = flow.start()
        assert flow.item(verification)["taskToken"] == {"S": TOKEN}
        assert flow.workflows.calls == []

    def test_the_right_code_resumes_it_with_the_verification_once(self, flow: Flow) -> None:
        verification = flow.start()
        answer = flow.report(verification, flow.world.sent_code())
        assert answer.status == "SUCCESSFUL"  # the report's own answer is unchanged
        assert flow.workflows.calls == [("success", TOKEN, verification_body(answer))]
        assert "taskToken" not in flow.item(verification)
        with pytest.raises(Exception, match="already"):
            flow.report(verification, flow.world.sent_code())
        assert len(flow.workflows.calls) == 1

    def test_sinchs_success_resumes_it_too(self, sinch_flow: Flow) -> None:
        verification = sinch_flow.start()
        answer = sinch_flow.report(verification, "123456")  # the scripted Sinch says SUCCESSFUL
        assert sinch_flow.workflows.calls == [("success", TOKEN, verification_body(answer))]

    def test_the_last_wrong_code_fails_it_with_too_many_attempts(self, flow: Flow) -> None:
        verification = flow.start()
        bad = wrong(flow.world.sent_code())
        answers = [flow.report(verification, bad) for _ in range(5)]
        assert [a.status for a in answers] == ["PENDING"] * 4 + ["FAIL"]  # the API's answers as before
        assert flow.workflows.calls == [("failure", TOKEN, "TooManyAttempts")]
        with pytest.raises(TooManyAttempts):
            flow.report(verification, bad)
        assert len(flow.workflows.calls) == 1

    def test_sinchs_fail_ends_it_with_too_many_attempts(self, sinch_flow: Flow) -> None:
        """A default Sinch account ends a verification at its first FAIL (start a new one), so ours ends
        with it and so does the workflow."""
        verification = sinch_flow.start()
        fail = ReportResult(id=verification, method=Method.SMS, status=Status.FAIL, reason="Invalid code")
        sinch_flow.world.sinch.verdicts = [fail]
        answer = sinch_flow.report(verification, "123456")
        assert (answer.status, answer.attempts_remaining) == ("FAIL", 0)
        assert sinch_flow.workflows.calls == [("failure", TOKEN, "TooManyAttempts")]
        with pytest.raises(TooManyAttempts):
            sinch_flow.report(verification, "654321")
        assert len(sinch_flow.world.sinch.reports) == 1  # nothing more is asked of Sinch

    def test_sinchs_last_fail_fails_it_with_too_many_attempts(self) -> None:
        lenient = make_flow(sms_code_source="sinch", sinch_fail_ends_verification=False)
        verification = lenient.start()
        fail = ReportResult(id=verification, method=Method.SMS, status=Status.FAIL, reason="Invalid code")
        lenient.world.sinch.verdicts = [fail] * 5
        for _ in range(5):
            lenient.report(verification, "123456")
        assert lenient.workflows.calls == [("failure", TOKEN, "TooManyAttempts")]

    def test_a_report_after_expiry_fails_it_with_verification_expired(self, flow: Flow) -> None:
        verification = flow.start()
        flow.world.clock.now += 601
        for _ in range(2):
            with pytest.raises(VerificationExpired):
                flow.report(verification, flow.world.sent_code())
        assert flow.workflows.calls == [("failure", TOKEN, "VerificationExpired")]

    @pytest.mark.parametrize(
        ("verdict", "error"),
        [
            (
                ReportResult(id="x", method=Method.SMS, status=Status.DENIED, reason="Blocked"),
                "DestinationDenied",
            ),
            (
                ReportResult(id="x", method=Method.SMS, status=Status.FAIL, reason="Expired"),
                "VerificationExpired",
            ),
            (ReportResult(id="x", method=Method.SMS, status=Status.ABORTED), "VerificationExpired"),
            (SinchNotFound("gone", http_status=404), "VerificationExpired"),
        ],
        ids=["denied", "expired", "aborted", "not-found"],
    )
    def test_sinchs_final_verdicts_fail_it_with_the_reason(
        self, sinch_flow: Flow, verdict: Any, error: str
    ) -> None:
        verification = sinch_flow.start()
        sinch_flow.world.sinch.verdicts = [verdict]
        with pytest.raises(VerificationError) as raised:
            sinch_flow.report(verification, "123456")
        assert type(raised.value).__name__ == error
        assert sinch_flow.workflows.calls == [("failure", TOKEN, error)]

    def test_another_callers_report_never_touches_it(self, flow: Flow) -> None:
        verification = flow.start()
        flow.world.clock.now += 601  # even once it has expired
        with pytest.raises(VerificationNotFound):
            flow.report(verification, flow.world.sent_code(), owner="iam:arn:aws:iam::1:user/stranger")
        assert flow.workflows.calls == []
        assert flow.item(verification)["taskToken"] == {"S": TOKEN}

    def test_a_newer_start_for_the_number_fails_the_replaced_ones_workflow(self, flow: Flow) -> None:
        first = flow.start()
        flow.world.clock.now += 31
        second = flow.start(OTHER_TOKEN)
        assert flow.workflows.calls == [("failure", TOKEN, "VerificationExpired")]
        assert "taskToken" not in flow.item(first)
        assert flow.item(second)["taskToken"] == {"S": OTHER_TOKEN}

    def test_a_newer_start_leaves_a_finished_ones_workflow_alone(self, flow: Flow) -> None:
        first = flow.start()
        flow.report(first, flow.world.sent_code())
        flow.world.clock.now += 31
        flow.start(None)
        assert [call[0] for call in flow.workflows.calls] == ["success"]

    def test_verifications_without_a_token_resume_nothing(self, flow: Flow) -> None:
        verification = flow.start(None)
        flow.report(verification, flow.world.sent_code())
        flow.world.clock.now += 31
        flow.start(None)
        assert flow.workflows.calls == []
        assert "taskToken" not in flow.item(verification)

    def test_a_retried_task_brings_its_own_token_and_that_one_is_resumed(self, flow: Flow) -> None:
        verification = flow.start(TOKEN)
        flow.service.attach_task_token(verification, OTHER_TOKEN)
        flow.report(verification, flow.world.sent_code())
        assert [call[:2] for call in flow.workflows.calls] == [("success", OTHER_TOKEN)]

    def test_a_retried_task_whose_verification_already_ended_is_resumed_at_once(self, flow: Flow) -> None:
        verification = flow.start(TOKEN)
        answer = flow.report(verification, flow.world.sent_code())
        flow.service.attach_task_token(verification, OTHER_TOKEN)
        assert flow.workflows.calls == [
            ("success", TOKEN, verification_body(answer)),
            ("success", OTHER_TOKEN, verification_body(answer)),
        ]

    def test_the_token_is_taken_once_however_often_it_is_asked_for(self, flow: Flow) -> None:
        verification = flow.start()
        taken = [flow.world.store.take_task_token(verification) for _ in range(3)]
        assert taken == [TOKEN, None, None]


# ------------------------------------------------------------------------------------ the start handler

start_app = load_handler("start_verification")


@pytest.fixture
def handler_flow() -> Iterator[Flow]:
    with mock_aws():
        flow = make_flow(dynamodb=True)
        install(flow.service, flow.world.dynamodb)
        yield flow
        runtime.configure(None)


class TestStartHandler:
    def test_a_direct_start_keeps_the_task_token_and_answers_as_before(self, handler_flow: Flow) -> None:
        event = {"phoneNumber": NUMBER, "idempotencyKey": "arn:execution:1", "taskToken": TOKEN}
        answer = start_app.lambda_handler(event, FakeContext())
        assert set(answer) >= {"id", "status", "expiresAt"}
        assert "taskToken" not in answer
        assert handler_flow.item(answer["id"])["taskToken"] == {"S": TOKEN}

    def test_a_retried_start_sends_nothing_and_waits_on_the_retrys_token(self, handler_flow: Flow) -> None:
        first = start_app.lambda_handler(
            {"phoneNumber": NUMBER, "idempotencyKey": "arn:execution:1", "taskToken": TOKEN}, FakeContext()
        )
        retried = start_app.lambda_handler(
            {"phoneNumber": NUMBER, "idempotencyKey": "arn:execution:1", "taskToken": OTHER_TOKEN},
            FakeContext(),
        )
        assert retried == first
        assert len(handler_flow.world.sinch.starts) == 1
        assert handler_flow.item(first["id"])["taskToken"] == {"S": OTHER_TOKEN}

    @pytest.mark.parametrize("token", ["", 42, "x" * 4097])
    def test_a_task_token_that_cannot_be_one_is_refused(self, handler_flow: Flow, token: Any) -> None:
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the class name is what Step Functions sees
            start_app.lambda_handler({"phoneNumber": NUMBER, "taskToken": token}, FakeContext())
        assert type(raised.value).__name__ == "InvalidRequest"
