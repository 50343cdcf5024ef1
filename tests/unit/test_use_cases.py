"""The seams of the domain core, Given/When/Then over in-memory fakes of the ports (no moto, no sockets):
idempotent starts and the replay rule for workflows, the Sinch adapter's outcomes, how a verification is
shown, and where domain errors become HTTP statuses."""

from __future__ import annotations

import pytest

from phone_verification import api, errors
from phone_verification.commands import ReportCommand, StartCommand
from phone_verification.model import (
    Decided,
    Method,
    Refused,
    SendRequest,
    Sent,
    Status,
    Unavailable,
    Verification,
)
from phone_verification.responses import verification_body, verification_from_body
from phone_verification.sinch import (
    ReportResult,
    SinchAuthenticationFailed,
    SinchError,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
    StatusResult,
)
from phone_verification.sinch import Status as SinchStatus
from phone_verification.sinch.adapter import SinchAdapter
from tests.fakes import NUMBER, OTHER_NUMBER, MemoryReplays, RecordedWorkflows, ScriptedSinch, make_world

TOKEN = "task-token-of-the-first-attempt"
RETRY_TOKEN = "task-token-of-the-retry"


class TestIdempotentStarts:
    def test_a_retried_start_gets_the_first_answer_and_sends_nothing(self) -> None:
        # Given a start with an idempotency key that went through
        world, replays = make_world(), MemoryReplays()
        command = StartCommand(phone_number=NUMBER, idempotency_key="order-1")
        first = world.service.start_once(command, replays)

        # When the caller retries it
        retried = world.service.start_once(command, replays)

        # Then the retry is the first answer, marked replayed, and Sinch was asked once
        assert (first.replayed, retried.replayed) == (False, True)
        assert retried.verification == first.verification
        assert len(world.sinch.starts) == 1

    def test_the_same_key_for_another_number_is_refused_and_sends_nothing(self) -> None:
        # Given a key already used for one number
        world, replays = make_world(), MemoryReplays()
        world.service.start_once(StartCommand(phone_number=NUMBER, idempotency_key="order-1"), replays)

        # When it comes back with another number
        # Then it is refused, and nothing more was sent
        with pytest.raises(errors.Conflict, match="different request"):
            world.service.start_once(
                StartCommand(phone_number=OTHER_NUMBER, idempotency_key="order-1"), replays
            )
        assert len(world.sinch.starts) == 1

    def test_a_start_without_a_key_never_touches_the_idempotency_store(self) -> None:
        # Given an idempotency store
        world, replays = make_world(), MemoryReplays()

        # When two starts without a key run, 31 s apart
        world.service.start_once(StartCommand(phone_number=NUMBER), replays)
        world.clock.now += 31
        world.service.start_once(StartCommand(phone_number=NUMBER), replays)

        # Then both were sent and nothing was stored for replays
        assert len(world.sinch.starts) == 2
        assert replays.answers == {}

    def test_a_retried_workflow_task_is_resumed_on_its_own_token(self) -> None:
        # Given a workflow's start that waits on its task token
        workflows = RecordedWorkflows()
        world, replays = make_world(workflows=workflows), MemoryReplays()
        first = StartCommand(phone_number=NUMBER, idempotency_key="execution-1", task_token=TOKEN)
        started = world.service.start_once(first, replays)

        # When Step Functions retries the task with a new token, and the user then enters the code
        retry = StartCommand(phone_number=NUMBER, idempotency_key="execution-1", task_token=RETRY_TOKEN)
        world.service.start_once(retry, replays)
        answer = world.service.report(
            ReportCommand(verification_id=started.verification.id, code=world.sent_code())
        )

        # Then the retry's token is the one resumed, once, with the report's answer
        assert workflows.calls == [("success", RETRY_TOKEN, answer)]

    def test_a_retry_after_the_verification_ended_resumes_the_new_token_at_once(self) -> None:
        # Given a workflow's verification that has already succeeded
        workflows = RecordedWorkflows()
        world, replays = make_world(workflows=workflows), MemoryReplays()
        first = StartCommand(phone_number=NUMBER, idempotency_key="execution-1", task_token=TOKEN)
        verification = world.service.start_once(first, replays).verification
        world.service.report(ReportCommand(verification_id=verification.id, code=world.sent_code()))

        # When a retried task arrives
        retry = StartCommand(phone_number=NUMBER, idempotency_key="execution-1", task_token=RETRY_TOKEN)
        world.service.start_once(retry, replays)

        # Then its token is resumed right away with how the verification ended
        assert [call[:2] for call in workflows.calls] == [("success", TOKEN), ("success", RETRY_TOKEN)]


START = SendRequest(method=Method.SMS, number=NUMBER, reference="pv-1", expiry_seconds=600, code="123456")


class TestSinchAdapter:
    @pytest.mark.parametrize(
        ("failure", "expected"),
        [
            (SinchRequestRejected("no", http_status=403), Refused(errors.DestinationDenied())),
            (SinchRequestRejected("no credit", http_status=402), Refused(errors.ProviderRejected())),
            (SinchAuthenticationFailed("key", http_status=401), Refused(errors.InternalError())),
            (SinchRateLimited("slow down", retry_after=7), Unavailable(errors.ProviderUnavailable(), False)),
            (
                SinchUnavailable("refused", request_sent=False),
                Unavailable(errors.ProviderUnavailable(), False),
            ),
            (SinchUnavailable("503", http_status=503), Unavailable(errors.ProviderUnavailable(), False)),
            (
                SinchUnavailable("read timeout", request_sent=True),
                Unavailable(errors.ProviderUnavailable(), True),
            ),
            (SinchUnavailable("html", http_status=200), Unavailable(errors.ProviderUnavailable(), True)),
        ],
        ids=["403", "402", "401", "429", "unreached", "503", "timeout", "unreadable-2xx"],
    )
    def test_a_failed_start_is_an_outcome_with_a_fixed_error(
        self, failure: SinchError, expected: Refused | Unavailable
    ) -> None:
        # Given Sinch failing a start this way
        sinch = ScriptedSinch(start_failure=failure)

        # When the adapter starts
        outcome = SinchAdapter(sinch).start(START)

        # Then the use case learns whether anything may have gone out, and what to tell the caller
        assert type(outcome) is type(expected)
        assert type(outcome.error) is type(expected.error)
        if isinstance(expected, Unavailable):
            assert isinstance(outcome, Unavailable)
            assert outcome.may_have_acted is expected.may_have_acted
        assert "no credit" not in str(outcome.error.detail)  # Sinch's own words stop at the adapter

    def test_sinchs_retry_after_reaches_the_caller(self) -> None:
        outcome = SinchAdapter(ScriptedSinch(start_failure=SinchRateLimited("x", retry_after=7.5))).start(
            START
        )
        assert isinstance(outcome, Unavailable)
        assert outcome.error.retry_after == 7

    def test_a_sent_flashcall_keeps_its_cli_out_of_the_hints(self) -> None:
        sinch = ScriptedSinch()
        outcome = SinchAdapter(sinch).start(
            SendRequest(method=Method.FLASHCALL, number=NUMBER, reference="pv-2", expiry_seconds=600)
        )
        assert isinstance(outcome, Sent)
        assert sinch.flashcall_cli is not None
        assert outcome.cli == sinch.flashcall_cli
        assert sinch.flashcall_cli not in str(outcome.hints)

    @pytest.mark.parametrize(
        ("answer", "expected"),
        [
            (
                ReportResult(id="v", method=Method.SMS, status=SinchStatus.SUCCESSFUL),
                Decided(Status.SUCCESSFUL),
            ),
            (
                ReportResult(id="v", method=Method.SMS, status=SinchStatus.FAIL, reason="Expired"),
                Decided(Status.FAIL, "Expired"),
            ),
            (SinchNotFound("gone", http_status=404), Decided(Status.FAIL, "Expired")),
            (
                ReportResult(id="v", method=Method.SMS, status=SinchStatus.DENIED, reason="Fraud"),
                Decided(Status.DENIED, "Fraud"),
            ),
        ],
        ids=["successful", "expired", "not-found", "denied"],
    )
    def test_sinchs_verdicts_are_decided_outcomes(
        self, answer: ReportResult | SinchError, expected: Decided
    ) -> None:
        sinch = ScriptedSinch(verdicts=[answer])
        assert SinchAdapter(sinch).report("v", Method.SMS, "123456") == expected

    def test_an_error_verdict_is_decided_sinch_could_not_reach_the_number(self) -> None:
        error = ReportResult(
            id="v", method=Method.SMS, status=SinchStatus.ERROR, reason="SMS delivery failure"
        )
        outcome = SinchAdapter(ScriptedSinch(verdicts=[error])).report("v", Method.SMS, "123456")
        assert outcome == Decided(Status.ERROR, "SMS delivery failure")

    def test_a_verdict_this_client_cannot_read_is_never_a_success(self) -> None:
        unknown = ReportResult(id="v", method=Method.SMS, status=SinchStatus.UNKNOWN)
        outcome = SinchAdapter(ScriptedSinch(verdicts=[unknown])).report("v", Method.SMS, "123456")
        assert isinstance(outcome, Unavailable)
        assert outcome.may_have_acted is True  # Sinch answered: the attempt stays counted

    @pytest.mark.parametrize(("code", "expected"), [(40003, "expired"), (40001, "rejected")])
    def test_a_report_sinch_takes_no_more_of_reads_as_expired(self, code: int, expected: str) -> None:
        refusal = SinchRequestRejected("Invalid request", http_status=400, error_code=code)
        outcome = SinchAdapter(ScriptedSinch(verdicts=[refusal])).report("v", Method.CALLOUT, "1234")
        if expected == "expired":
            assert outcome == Decided(Status.FAIL, "Expired")
        else:
            assert isinstance(outcome, Refused)

    @pytest.mark.parametrize(
        ("finished", "expected"),
        [
            (SinchStatus.SUCCESSFUL, Decided(Status.SUCCESSFUL)),
            (SinchStatus.FAIL, Decided(Status.FAIL, "Expired")),
            (SinchStatus.DENIED, Decided(Status.DENIED, "Fraud")),
            (None, Decided(Status.FAIL, "Expired")),
        ],
        ids=["verified-by-a-lost-report", "failed", "denied", "unknown-to-sinch"],
    )
    def test_a_report_sinch_takes_no_more_of_gets_how_it_ended(
        self, finished: SinchStatus | None, expected: Decided
    ) -> None:
        # Given Sinch refusing the report as finished, and its status for the verification
        sinch = ScriptedSinch(
            verdicts=[SinchRequestRejected("Invalid request", http_status=400, error_code=40003)]
        )
        if finished is not None:
            reason = "Fraud" if finished is SinchStatus.DENIED else "Invalid code"
            sinch.by_id["v"] = StatusResult(id="v", method=Method.CALLOUT, status=finished, reason=reason)

        # When the adapter reports
        outcome = SinchAdapter(sinch).report("v", Method.CALLOUT, "1234")

        # Then only a success Sinch itself recorded verifies; any other end reads as expiry or denial
        assert outcome == expected

    def test_a_report_whose_answer_was_lost_may_have_been_judged(self) -> None:
        sinch = ScriptedSinch(verdicts=[SinchUnavailable("read timeout", request_sent=True)])
        outcome = SinchAdapter(sinch).report("v", Method.CALLOUT, "1234")
        assert isinstance(outcome, Unavailable)
        assert outcome.may_have_acted is True


class TestHowAVerificationIsShown:
    def test_the_stored_answer_of_a_start_reads_back_as_the_same_verification(self) -> None:
        # Given a start's answer with hints, a reason and a reference
        verification = Verification(
            id="v-1",
            method="flashcall",
            status="PENDING",
            attempts_remaining=5,
            expires_at=1_790_000_600,
            reason="Invalid CLI",
            reference="signup-42",
            hints={"flashcall": {"cliFilter": "(.*)8156(.*)", "interceptionTimeout": 45}},
        )

        # When it is stored as JSON (for idempotent replays) and read back
        body = verification_body(verification)

        # Then it is the same verification, and the JSON is what the API documents
        assert verification_from_body(body) == verification
        assert body["expiresAt"] == "2026-09-21T14:23:20Z"
        assert list(body)[:5] == ["id", "method", "status", "attemptsRemaining", "expiresAt"]


class TestHttpStatuses:
    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (errors.InvalidRequest("phoneNumber is required."), 422),
            (errors.InvalidRequest("The body is not valid JSON.", unreadable=True), 400),
            (errors.VerificationNotFound(), 404),
            (errors.VerificationExpired(), 410),
            (errors.AlreadyVerified(), 409),
            (errors.Conflict(), 409),
            (errors.TooManyAttempts(), 429),
            (errors.RateLimited(retry_after=3), 429),
            (errors.DestinationDenied(), 403),
            (errors.ProviderRejected(), 422),
            (errors.ProviderUnavailable(retry_after=5), 503),
            (errors.ServiceUnavailable(retry_after=1), 503),
            (errors.InternalError(), 500),
        ],
        ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
    )
    def test_each_domain_error_has_its_status_in_one_place(
        self, error: errors.VerificationError, status: int
    ) -> None:
        assert api.http_status(error) == status
        assert api.problem(error).status_code == status
