"""A verification's lifecycle, Given/When/Then over in-memory ports (the store, and a scripted Sinch under
the real Sinch adapter): cancelling, ``next`` (the next channel under the same id), expiry closed once when
the verification is next touched, the events each change publishes, and the waiting workflow a cancel
resumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from phone_verification import api
from phone_verification.commands import NextCommand, StartCommand, report_command
from phone_verification.errors import (
    AlreadyVerified,
    Conflict,
    DestinationDenied,
    NoChannelLeft,
    RateLimited,
    VerificationCancelled,
    VerificationError,
    VerificationExpired,
    VerificationNotFound,
)
from phone_verification.model import Method, Started, Verification, VerificationRecord
from phone_verification.ports import Change
from phone_verification.sinch import (
    CalloutStart,
    CliReport,
    CodeReport,
    FlashcallStart,
    ReportResult,
    SmsStart,
)
from phone_verification.sinch import Status as SinchStatus
from tests.fakes import FLASH_CLI, NUMBER, MemoryReplays, RecordedWorkflows, World, make_world
from tests.memory_store import InMemoryStore

OWNER = "iam:arn:aws:iam::000000000000:role/backend"
STRANGER = "iam:arn:aws:iam::000000000000:role/someone-else"
UNKNOWN_ID = "0198f3c2-7d1e-7000-8000-000000000000"
TOKEN = "task-token-of-the-workflow"
GAP = 31  # just over the number's minimum gap between sends (30 s by default)


@dataclass
class RecordedEvents:
    """Stands in for ``events.EventBridgeEvents`` (the ``Events`` port): each change with the record it
    tells of, and the record as the store held it at that moment (a change is published after it)."""

    store: InMemoryStore | None = None
    published: list[tuple[Change, VerificationRecord]] = field(default_factory=list)
    stored_then: list[VerificationRecord | None] = field(default_factory=list)

    def publish(self, change: Change, record: VerificationRecord, *, now: int) -> None:
        self.published.append((change, record))
        self.stored_then.append(self.store.get(record.id) if self.store else None)

    @property
    def changes(self) -> list[Change]:
        return [change for change, _ in self.published]


def world_with(events: RecordedEvents, **options: Any) -> World:
    world = make_world(events=events, **options)
    assert isinstance(world.store, InMemoryStore)
    events.store = world.store
    return world


@pytest.fixture
def events() -> RecordedEvents:
    return RecordedEvents()


@pytest.fixture
def world(events: RecordedEvents) -> World:
    """The use cases over in-memory ports, publishing to ``events``."""
    return world_with(events)


def start(world: World, *channels: Method, owner: str = OWNER, **fields: Any) -> str:
    """A start by ``owner``; with more than one channel, ``next`` may send the later ones."""
    method = channels[0] if channels else Method.SMS
    command = StartCommand(
        phone_number=NUMBER,
        method=method,
        channels=channels if len(channels) > 1 else (),
        owner=owner,
        **fields,
    )
    return world.service.start(command).id


def next_channel(
    world: World,
    verification_id: str,
    *,
    owner: str = OWNER,
    replays: MemoryReplays | None = None,
    **fields: Any,
) -> Started:
    command = NextCommand(verification_id=verification_id, owner=owner, **fields)
    return world.service.next_channel_once(command, replays or MemoryReplays())


def report(
    world: World, verification_id: str, *, code: str | None = None, cli: str | None = None, owner: str = OWNER
) -> Verification:
    body = {"code": code} if cli is None else {"cli": cli}
    return world.service.report(report_command(body, verification=verification_id, owner=owner))


def cancel(world: World, verification_id: str, owner: str = OWNER) -> Verification:
    return world.service.cancel(verification_id, owner)


def stored(world: World, verification_id: str) -> VerificationRecord:
    record = world.store.get(verification_id)
    assert record is not None
    return record


def writes(world: World) -> int:
    assert isinstance(world.store, InMemoryStore)
    return world.store.writes


def refused(call: Any, *args: Any, **kwargs: Any) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        call(*args, **kwargs)
    return caught.value


def as_told(error: VerificationError) -> tuple[type, str, str, int]:
    """What a caller learns from an error: its kind, code, detail and HTTP status."""
    return type(error), error.code, error.detail, api.http_status(error)


class TestCancel:
    def test_a_cancelled_verification_refuses_even_the_right_code(self, world: World) -> None:
        # Given a pending SMS verification
        verification = start(world)
        code = world.sent_code()

        # When its owner cancels it
        cancelled = cancel(world, verification)

        # Then it reads as cancelled, and the code it sent is refused with 410 cancelled, Sinch not asked
        assert (cancelled.id, cancelled.status, cancelled.reason) == (verification, "CANCELLED", "Cancelled")
        assert cancelled.attempts_remaining == 0
        error = refused(report, world, verification, code=code)
        assert isinstance(error, VerificationCancelled)
        assert (error.code, api.http_status(error)) == ("cancelled", 410)
        assert isinstance(refused(world.service.status, verification, OWNER), VerificationCancelled)
        assert world.sinch.reports == []

    def test_cancelling_again_gives_the_same_answer_and_writes_nothing(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given a cancelled verification
        verification = start(world)
        first = cancel(world, verification)
        written = writes(world)

        # When its owner cancels it again, a minute later
        world.clock.now += 60
        again = cancel(world, verification)

        # Then the answer is the same, nothing was written and the cancel was told of once
        assert again == first
        assert writes(world) == written
        assert events.changes == ["Started", "Cancelled"]

    def test_cancelling_a_verified_verification_answers_already_verified(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given a verification the user completed
        verification = start(world)
        report(world, verification, code=world.sent_code())

        # When its owner then cancels it, then it is refused as already verified and stays verified
        with pytest.raises(AlreadyVerified):
            cancel(world, verification)
        assert world.service.status(verification, OWNER).status == "SUCCESSFUL"
        assert events.changes == ["Started", "Succeeded"]

    def test_cancelling_an_expired_verification_answers_expired_and_tells_of_the_expiry(
        self, world: World, events: RecordedEvents
    ) -> None:
        verification = start(world)
        world.clock.now += 601
        with pytest.raises(VerificationExpired):
            cancel(world, verification)
        state = world.service.status(verification, OWNER)
        assert (state.status, state.reason) == ("FAIL", "Expired")
        assert events.changes == ["Started", "Expired"]

    def test_a_strangers_cancel_is_answered_as_one_for_an_unknown_id_and_changes_nothing(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given the owner's pending verification
        verification = start(world)
        before, written = stored(world, verification), writes(world)

        # When someone else cancels it, and when the owner cancels an id that does not exist
        strangers = refused(cancel, world, verification, STRANGER)
        unknown = refused(cancel, world, UNKNOWN_ID, OWNER)

        # Then both are told the same "not found", and the verification is as it was: still the owner's
        assert isinstance(strangers, VerificationNotFound)
        assert as_told(strangers) == as_told(unknown)
        assert stored(world, verification) == before
        assert writes(world) == written
        assert events.changes == ["Started"]
        assert report(world, verification, code=world.sent_code()).status == "SUCCESSFUL"

    def test_a_stranger_learns_nothing_of_a_cancelled_verification(self, world: World) -> None:
        # Given a verification its owner cancelled
        verification = start(world)
        cancel(world, verification)

        # When someone else cancels it (what would be an idempotent repeat for its owner)
        strangers = refused(cancel, world, verification, STRANGER)

        # Then they are told "not found", as for an id that does not exist, not the cancelled verification
        assert isinstance(strangers, VerificationNotFound)
        assert as_told(strangers) == as_told(refused(cancel, world, UNKNOWN_ID, STRANGER))

    def test_a_waiting_workflow_is_resumed_once_with_cancelled(self, events: RecordedEvents) -> None:
        # Given a workflow waiting on its task token for a verification
        workflows = RecordedWorkflows()
        world = world_with(events, workflows=workflows)
        verification = start(world, task_token=TOKEN)

        # When the verification is cancelled
        cancel(world, verification)

        # Then the workflow is resumed at once, with the VerificationCancelled error its Catch can name
        assert workflows.calls == [("failure", TOKEN, "VerificationCancelled")]

        # And a second cancel or a later report resumes nothing more
        cancel(world, verification)
        with pytest.raises(VerificationCancelled):
            report(world, verification, code=world.sent_code())
        assert len(workflows.calls) == 1


class TestNextChannel:
    def test_sms_then_callout_keeps_the_id_the_attempts_and_the_expiry(self, world: World) -> None:
        # Given an SMS verification that may go on to a callout, with one wrong code reported
        started = world.service.start(
            StartCommand(phone_number=NUMBER, channels=(Method.SMS, Method.CALLOUT), owner=OWNER)
        )
        report(world, started.id, code="000000" if world.sent_code() != "000000" else "111111")

        # When the SMS does not arrive and the app asks for the next channel
        world.clock.now += GAP
        answer = next_channel(world, started.id).verification

        # Then the same verification is now a callout to the same number, with the attempts it had left
        # and its expiry unchanged
        assert (answer.id, answer.method, answer.status) == (started.id, "callout", "PENDING")
        assert answer.attempts_remaining == 4
        assert answer.expires_at == started.expires_at
        callout = world.sinch.starts[-1]
        assert isinstance(callout, CalloutStart)
        assert callout.number == NUMBER
        assert callout.reference == f"pv-{started.id}-1"

    def test_after_the_switch_the_sms_code_is_a_wrong_code_and_the_callouts_code_works(
        self, world: World
    ) -> None:
        # Given an SMS verification switched to a callout
        verification = start(world, Method.SMS, Method.CALLOUT)
        sms_code, sms_at_sinch = world.sent_code(), world.at_sinch(verification)
        world.clock.now += GAP
        next_channel(world, verification)

        # When the late SMS's code is reported, then it is wrong, costs an attempt and Sinch is not asked
        late = report(world, verification, code=sms_code)
        assert (late.status, late.reason, late.attempts_remaining) == ("PENDING", "Invalid code", 4)
        assert world.sinch.reports == []

        # When the callout's code is reported, then Sinch judges it, on the callout
        verified = report(world, verification, code="1234")
        assert (verified.id, verified.status) == (verification, "SUCCESSFUL")
        callout_at_sinch = world.at_sinch(verification)
        assert callout_at_sinch != sms_at_sinch
        assert world.sinch.reports == [(callout_at_sinch, CodeReport(Method.CALLOUT, "1234"))]

    def test_a_flashcall_cannot_outlive_sinchs_report_timeout(self, world: World) -> None:
        # Given an SMS verification that may go on to a flashcall, which Sinch takes reports for 75 s
        world.sinch.flashcall_report_timeout = 75
        verification = start(world, Method.SMS, Method.FLASHCALL)
        world.clock.now += GAP

        # When the flashcall is sent
        answer = next_channel(world, verification).verification

        # Then the verification expires when Sinch stops taking reports, before its own 600 s were up
        assert answer.method == "flashcall"
        assert answer.expires_at == int(world.clock.now) + 75
        assert isinstance(world.sinch.starts[-1], FlashcallStart)
        world.clock.now += 75
        with pytest.raises(VerificationExpired):
            report(world, verification, cli=FLASH_CLI)

    def test_the_flashcalls_cli_is_checked_by_the_service_and_reported_to_sinch(self, world: World) -> None:
        verification = start(world, Method.SMS, Method.FLASHCALL)
        world.clock.now += GAP
        next_channel(world, verification)
        assert report(world, verification, cli="+46815600009").status == "PENDING"
        assert report(world, verification, cli=FLASH_CLI).status == "SUCCESSFUL"
        assert world.sinch.reports == [(world.at_sinch(verification), CliReport(FLASH_CLI))]

    def test_naming_a_later_channel_skips_the_ones_before_it(self, world: World) -> None:
        # Given a verification with three channels
        verification = start(world, Method.SMS, Method.FLASHCALL, Method.CALLOUT)
        world.clock.now += GAP

        # When the app names the callout, then the callout is sent and the flashcall skipped for good
        assert next_channel(world, verification, method=Method.CALLOUT).verification.method == "callout"
        world.clock.now += GAP
        with pytest.raises(NoChannelLeft, match="flashcall was already sent"):
            next_channel(world, verification, method=Method.FLASHCALL)
        with pytest.raises(NoChannelLeft):
            next_channel(world, verification)
        assert [type(request) for request in world.sinch.starts] == [SmsStart, CalloutStart]

    def test_a_method_that_is_not_one_of_the_channels_is_a_conflict_and_sends_nothing(
        self, world: World
    ) -> None:
        verification = start(world, Method.SMS, Method.CALLOUT)
        world.clock.now += GAP
        with pytest.raises(Conflict, match="not one of this verification's channels"):
            next_channel(world, verification, method=Method.WHATSAPP)
        assert len(world.sinch.starts) == 1
        # Nothing was spent on it: the callout may go at once
        assert next_channel(world, verification, method=Method.CALLOUT).verification.method == "callout"

    @pytest.mark.parametrize("channels", [(Method.SMS,), (Method.SMS, Method.CALLOUT)], ids=["one", "two"])
    def test_when_the_channels_run_out_next_is_409_no_channel_left(
        self, world: World, channels: tuple[Method, ...]
    ) -> None:
        # Given a verification whose channels have all been sent
        verification = start(world, *channels)
        for _ in channels[1:]:
            world.clock.now += GAP
            next_channel(world, verification)
        sent = len(world.sinch.starts)

        # When the app asks for another, then there is none, and the verification goes on as it was
        world.clock.now += GAP
        error = refused(next_channel, world, verification)
        assert isinstance(error, NoChannelLeft)
        assert (error.code, api.http_status(error)) == ("no_channel_left", 409)
        assert len(world.sinch.starts) == sent
        assert world.service.status(verification, OWNER).status == "PENDING"

    def test_next_keeps_the_numbers_minimum_gap(self, world: World) -> None:
        # Given a verification just started
        verification = start(world, Method.SMS, Method.CALLOUT)

        # When the app asks for the callout at once, then the number is busy and nothing is sent
        with pytest.raises(RateLimited, match="this number"):
            next_channel(world, verification)
        assert len(world.sinch.starts) == 1
        assert stored(world, verification).method is Method.SMS

        # And once the gap has passed, it is sent
        world.clock.now += 30
        assert next_channel(world, verification).verification.method == "callout"

    def test_next_counts_against_the_numbers_send_limit(self, events: RecordedEvents) -> None:
        # Given a number that may be sent two verifications in ten minutes, and one start for it
        world = world_with(events, max_starts_per_number=2)
        verification = start(world, Method.SMS, Method.FLASHCALL, Method.CALLOUT)

        # When the app asks for the next channel twice, then the second is over the number's limit
        world.clock.now += GAP
        next_channel(world, verification)
        world.clock.now += GAP
        error = refused(next_channel, world, verification)

        # And it is rate_limited, with nothing sent and the flashcall still the channel
        assert isinstance(error, RateLimited)
        assert (error.code, api.http_status(error), error.retry_after) == ("rate_limited", 429, 600)
        assert len(world.sinch.starts) == 2
        assert stored(world, verification).method is Method.FLASHCALL

    def test_next_asks_the_fraud_guard_first(self, events: RecordedEvents) -> None:
        # Given a number range that may be sent one verification, and that one started
        world = world_with(events, fraud_guard_prefix_budget=1)
        verification = start(world, Method.SMS, Method.CALLOUT)
        code = world.sent_code()

        # When the app asks for the callout, then the guard refuses it as suspected fraud, nothing is sent
        world.clock.now += GAP
        error = refused(next_channel, world, verification)
        assert isinstance(error, DestinationDenied)
        assert error.reason == "suspected_fraud"
        assert len(world.sinch.starts) == 1

        # And the SMS verification goes on: its code still works
        assert report(world, verification, code=code).status == "SUCCESSFUL"

    def test_an_idempotency_key_makes_a_retried_next_send_nothing(self, world: World) -> None:
        # Given a next with an Idempotency-Key that went through
        verification = start(world, Method.SMS, Method.FLASHCALL, Method.CALLOUT)
        world.clock.now += GAP
        replays = MemoryReplays()
        first = next_channel(world, verification, idempotency_key="retry-1", replays=replays)

        # When the app retries it, then it gets the first answer, marked replayed, and nothing is sent
        world.clock.now += GAP
        retried = next_channel(world, verification, idempotency_key="retry-1", replays=replays)
        assert (first.replayed, retried.replayed) == (False, True)
        assert retried.verification == first.verification
        assert len(world.sinch.starts) == 2

        # And a different request under the same key is a conflict, and sends nothing either
        with pytest.raises(Conflict, match="different request"):
            next_channel(
                world, verification, method=Method.CALLOUT, idempotency_key="retry-1", replays=replays
            )
        assert len(world.sinch.starts) == 2
        assert stored(world, verification).method is Method.FLASHCALL

    def test_next_on_an_expired_verification_is_expired_and_tells_of_the_expiry_once(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given a verification that expired with nobody looking
        verification = start(world, Method.SMS, Method.CALLOUT)
        world.clock.now += 601

        # When the app asks for the next channel twice
        for _ in range(2):
            with pytest.raises(VerificationExpired):
                next_channel(world, verification)

        # Then nothing was sent, the expiry was told of once, and the verification reads as expired
        assert len(world.sinch.starts) == 1
        assert events.changes == ["Started", "Expired"]
        assert events.published[-1][1] == stored(world, verification) == events.stored_then[-1]
        state = world.service.status(verification, OWNER)
        assert (state.status, state.reason) == ("FAIL", "Expired")
        assert events.changes == ["Started", "Expired"]

    def test_two_requests_that_both_found_it_open_tell_of_the_expiry_once(
        self, world: World, events: RecordedEvents, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given an expired verification that two racing ``next`` requests both read before either closed it
        verification = start(world, Method.SMS, Method.CALLOUT)
        world.clock.now += 601
        as_read = stored(world, verification)
        monkeypatch.setattr(world.store, "get", lambda verification_id: as_read)

        # When both find it expired
        for _ in range(2):
            with pytest.raises(VerificationExpired):
                next_channel(world, verification)

        # Then only the one whose write closed it tells of the expiry
        assert events.changes == ["Started", "Expired"]

    def test_a_cancelled_verification_has_no_next(self, world: World) -> None:
        verification = start(world, Method.SMS, Method.CALLOUT)
        cancel(world, verification)
        world.clock.now += GAP
        with pytest.raises(VerificationCancelled):
            next_channel(world, verification)
        assert len(world.sinch.starts) == 1

    def test_a_strangers_next_is_answered_as_one_for_an_unknown_id_and_sends_nothing(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given the owner's verification, which may go on to a callout
        verification = start(world, Method.SMS, Method.CALLOUT)
        before = stored(world, verification)
        world.clock.now += GAP

        # When someone else asks for its next channel, and the owner for an id that does not exist
        strangers = refused(next_channel, world, verification, owner=STRANGER)
        unknown = refused(next_channel, world, UNKNOWN_ID)

        # Then both are told the same "not found"; nothing was sent, changed or told
        assert isinstance(strangers, VerificationNotFound)
        assert as_told(strangers) == as_told(unknown)
        assert len(world.sinch.starts) == 1
        assert stored(world, verification) == before
        assert events.changes == ["Started"]
        # And the owner's next is not held up by it
        assert next_channel(world, verification).verification.method == "callout"


class TestEvents:
    def test_each_change_is_told_after_it_with_the_verification_as_it_became(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given a start with two channels, its next channel, and the right code for it
        verification = start(world, Method.SMS, Method.CALLOUT)
        world.clock.now += GAP
        next_channel(world, verification)
        report(world, verification, code="1234")

        # Then each was told: two sends and a success, each with the record the store held by then
        assert events.changes == ["Started", "Started", "Succeeded"]
        records = [record for _, record in events.published]
        assert records == events.stored_then
        assert [(record.id, record.method, record.channel) for record in records] == [
            (verification, Method.SMS, 0),
            (verification, Method.CALLOUT, 1),
            (verification, Method.CALLOUT, 1),
        ]
        assert records[-1] == stored(world, verification)

    def test_a_right_code_checked_by_the_service_is_succeeded(
        self, world: World, events: RecordedEvents
    ) -> None:
        verification = start(world)
        report(world, verification, code=world.sent_code())
        assert events.changes == ["Started", "Succeeded"]
        assert events.published[-1][1] == stored(world, verification)

    def test_wrong_codes_tell_nothing_until_the_last_attempt_is_failed(
        self, world: World, events: RecordedEvents
    ) -> None:
        verification = start(world)
        wrong = "000000" if world.sent_code() != "000000" else "111111"
        for _ in range(4):
            report(world, verification, code=wrong)
        assert events.changes == ["Started"]
        assert report(world, verification, code=wrong).status == "FAIL"
        assert events.changes == ["Started", "Failed"]

    def test_a_cancel_is_cancelled(self, world: World, events: RecordedEvents) -> None:
        verification = start(world)
        cancel(world, verification)
        assert events.changes == ["Started", "Cancelled"]
        assert events.published[-1][1] == stored(world, verification) == events.stored_then[-1]

    @pytest.mark.parametrize(
        ("verdict", "change"),
        [
            ((SinchStatus.SUCCESSFUL, None), "Succeeded"),
            ((SinchStatus.FAIL, "Invalid code"), "Failed"),
            ((SinchStatus.FAIL, "Expired"), "Expired"),
            ((SinchStatus.DENIED, "Fraud"), "Blocked"),
            ((SinchStatus.ERROR, "Network error"), "Blocked"),
        ],
        ids=["successful", "fail", "expired", "denied", "error"],
    )
    def test_sinchs_verdict_on_a_callout_is_told_as_its_change(
        self, world: World, events: RecordedEvents, verdict: tuple[SinchStatus, str | None], change: Change
    ) -> None:
        # Given a callout, which Sinch judges (on an account where a wrong code ends the verification)
        verification = start(world, Method.CALLOUT)
        status, reason = verdict
        world.sinch.verdicts = [
            ReportResult(id=world.at_sinch(verification), method=Method.CALLOUT, status=status, reason=reason)
        ]

        # When the user's code gets this verdict (an expiry or a block is the report's error too)
        error = {"Expired": VerificationExpired, "Blocked": DestinationDenied}.get(change)
        if error is None:
            report(world, verification, code="1234")
        else:
            with pytest.raises(error):
                report(world, verification, code="1234")

        # Then the verification's end is told once, as this change, with the record as it ended
        assert events.changes == ["Started", change]
        assert events.published[-1][1] == stored(world, verification) == events.stored_then[-1]

    def test_a_refused_request_tells_nothing(self, world: World, events: RecordedEvents) -> None:
        verification = start(world)
        world.clock.now += GAP
        with pytest.raises(NoChannelLeft):
            next_channel(world, verification)
        with pytest.raises(VerificationNotFound):
            cancel(world, verification, STRANGER)
        with pytest.raises(VerificationNotFound):
            report(world, verification, code=world.sent_code(), owner=STRANGER)
        assert events.changes == ["Started"]

    def test_a_verification_that_failed_is_not_told_of_again_when_it_expires(
        self, world: World, events: RecordedEvents
    ) -> None:
        # Given a verification whose attempts were all used up (told of as Failed)
        verification = start(world)
        wrong = "000000" if world.sent_code() != "000000" else "111111"
        for _ in range(5):
            report(world, verification, code=wrong)

        # When it is read, cancelled and reported after its expiry
        world.clock.now += 601
        world.service.status(verification, OWNER)
        with pytest.raises(VerificationError):
            cancel(world, verification)
        with pytest.raises(VerificationError):
            report(world, verification, code=wrong)

        # Then its end was told once
        assert events.changes == ["Started", "Failed"]
