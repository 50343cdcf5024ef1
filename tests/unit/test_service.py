"""The use cases' rules, Given/When/Then, over in-memory fakes of the ports: the store, and a scripted Sinch
behind the real Sinch adapter (no moto, no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phone_verification.commands import ReportCommand, StartCommand, report_command
from phone_verification.errors import (
    AlreadyVerified,
    Conflict,
    DestinationDenied,
    InvalidRequest,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TooManyAttempts,
    VerificationExpired,
    VerificationNotFound,
)
from phone_verification.model import Verification
from phone_verification.responses import verification_body
from phone_verification.sinch import (
    CliReport,
    CodeReport,
    Method,
    ReportResult,
    SinchRequestRejected,
    SinchUnavailable,
    SmsStart,
    Status,
)
from tests.fakes import FLASH_CLI, NUMBER, OTHER_NUMBER, World, make_world


def start(world: World, number: str = NUMBER, **fields: Any) -> str:
    return world.service.start(StartCommand(phone_number=number, **fields)).id


def report(
    world: World, verification_id: str, *, code: str | None = None, cli: str | None = None, **fields: Any
) -> Verification:
    """A report as the handlers make it: the body validated and normalised by ``report_command``."""
    body = {"code": code} if cli is None else {"cli": cli}
    return world.service.report(report_command(body, verification=verification_id, **fields))


class TestSmsWithServiceCode:
    def test_start_sends_a_six_digit_code_as_sms_options_and_never_shows_it(self, world: World) -> None:
        result = world.service.start(StartCommand(phone_number=NUMBER, locale="sv-SE"))
        code = world.sent_code()
        assert code.isdigit()
        assert len(code) == 6
        body = verification_body(result)
        assert body["status"] == "PENDING"
        assert body["attemptsRemaining"] == 5
        assert body["sms"] == {"interceptionTimeout": 120, "template": "Your code is {{CODE}}"}
        assert body["expiresAt"].endswith("Z")
        assert code not in json.dumps(body)
        request = world.sinch.starts[-1]
        assert isinstance(request, SmsStart)
        assert request.expiry_seconds == 600
        assert request.locale == "sv-SE"

    def test_right_code_succeeds_once_and_is_still_reported_to_sinch(self, world: World) -> None:
        verification = start(world)
        code = world.sent_code()
        assert report(world, verification, code=code).status == "SUCCESSFUL"
        assert world.sinch.reports == [(world.at_sinch(verification), CodeReport(Method.SMS, code))]
        with pytest.raises(AlreadyVerified):
            report(world, verification, code=code)

    def test_wrong_codes_use_up_attempts_then_the_right_code_is_refused(self, world: World) -> None:
        verification = start(world)
        code = world.sent_code()
        wrong = "000000" if code != "000000" else "111111"
        answers = [report(world, verification, code=wrong) for _ in range(5)]
        assert [a.status for a in answers] == ["PENDING"] * 4 + ["FAIL"]
        assert [a.attempts_remaining for a in answers] == [4, 3, 2, 1, 0]
        assert all(a.reason == "Invalid code" for a in answers)
        with pytest.raises(TooManyAttempts):
            report(world, verification, code=wrong)
        with pytest.raises(TooManyAttempts):
            report(world, verification, code=code)
        # A wrong code costs no Sinch round trip.
        assert world.sinch.reports == []

    def test_a_typo_can_be_corrected(self, world: World) -> None:
        verification = start(world)
        code = world.sent_code()
        assert report(world, verification, code="12").status == "PENDING"
        result = report(world, verification, code=f" {code[:3]} {code[3:]} ")
        assert result.status == "SUCCESSFUL"

    def test_caller_chosen_code(self, world: World) -> None:
        verification = start(world, code="482913")
        assert world.sent_code() == "482913"
        assert report(world, verification, code="482913").status == "SUCCESSFUL"

    def test_expired_before_ttl_deletion(self, world: World) -> None:
        verification = start(world)
        world.clock.now += 601
        with pytest.raises(VerificationExpired):
            report(world, verification, code=world.sent_code())
        state = world.service.status(verification, "anonymous")
        assert (state.status, state.reason) == ("FAIL", "Expired")

    def test_a_new_start_supersedes_the_pending_one(self, world: World) -> None:
        first = start(world)
        first_code = world.sent_code()
        world.clock.now += 31
        second = start(world)
        assert world.service.status(first, "anonymous").status == "ABORTED"
        with pytest.raises(VerificationExpired, match="newer verification"):
            report(world, first, code=first_code)
        assert world.service.status(second, "anonymous").status == "PENDING"

    def test_report_by_number_goes_to_the_latest_verification(self, world: World) -> None:
        start(world)
        world.clock.now += 31
        latest = start(world)
        result = world.service.report(ReportCommand(phone_number=NUMBER, code=world.sent_code()))
        assert (result.id, result.status) == (latest, "SUCCESSFUL")
        assert world.sinch.reports[0][0] == world.at_sinch(latest)

    def test_report_by_unknown_number_is_not_found(self, world: World) -> None:
        with pytest.raises(VerificationNotFound):
            world.service.report(ReportCommand(phone_number=OTHER_NUMBER, code="123456"))

    def test_a_cli_for_an_sms_verification_is_a_conflict_and_costs_no_attempt(self, world: World) -> None:
        verification = start(world)
        with pytest.raises(Conflict, match="expects code"):
            report(world, verification, cli=FLASH_CLI)
        assert world.service.status(verification, "anonymous").attempts_remaining == 5

    def test_sinch_generated_codes_are_judged_by_sinch(self) -> None:
        # An account that lets a user try again after a wrong code (SinchFailEndsVerification=false)
        world = make_world(sms_code_source="sinch", sinch_fail_ends_verification=False)
        verification = start(world)
        request = world.sinch.starts[-1]
        assert isinstance(request, SmsStart)
        assert request.code is None
        world.sinch.verdicts = [
            ReportResult(id=verification, method=Method.SMS, status=Status.FAIL, reason="Invalid code"),
            ReportResult(id=verification, method=Method.SMS, status=Status.SUCCESSFUL),
        ]
        assert report(world, verification, code="1111").status == "PENDING"
        assert report(world, verification, code="2222").status == "SUCCESSFUL"
        assert len(world.sinch.reports) == 2


class TestStartLimits:
    def test_second_start_within_30_seconds_is_rate_limited(self, world: World) -> None:
        start(world)
        world.clock.now += 10
        with pytest.raises(RateLimited, match="this number") as caught:
            start(world)
        # The number's limit is shared by every caller: its Retry-After is the gap itself, not the rest
        # of it, which would tell a caller when someone else started.
        assert caught.value.retry_after == 30
        world.clock.now += 20
        start(world)

    def test_sixth_start_in_the_window_waits_until_the_first_leaves_it(self, world: World) -> None:
        for _ in range(5):
            start(world)
            world.clock.now += 30
        with pytest.raises(RateLimited) as caught:
            start(world)
        assert caught.value.retry_after == 600  # the window itself, for the same reason
        world.clock.now += 600 - 150 - 1
        with pytest.raises(RateLimited):
            start(world)
        world.clock.now += 1  # the first start is now 600 s old: one slot, and only one, is free
        start(world)
        world.clock.now += 29
        with pytest.raises(RateLimited):
            start(world)

    def test_other_numbers_are_not_affected(self, world: World) -> None:
        start(world)
        start(world, OTHER_NUMBER)

    def test_a_start_that_sent_nothing_gives_its_slot_back(self, world: World) -> None:
        world.sinch.start_failure = SinchUnavailable("refused", request_sent=False)
        with pytest.raises(ProviderUnavailable) as caught:
            start(world)
        assert caught.value.retry_after == 5
        start(world)  # no 30-second wait: nothing was sent

    def test_a_start_whose_answer_was_lost_is_recovered_by_reference(self, world: World) -> None:
        world.sinch.start_failure = SinchUnavailable("read timeout", request_sent=True)
        result = world.service.start(StartCommand(phone_number=NUMBER))
        assert result.status == "PENDING"
        assert len(world.sinch.starts) == 1
        assert report(world, result.id, code=world.sent_code()).status == "SUCCESSFUL"

    def test_sinch_refusal_is_provider_rejected_and_frees_the_slot(self, world: World) -> None:
        world.sinch.start_failure = SinchRequestRejected("no credit", http_status=402, error_code=40200)
        with pytest.raises(ProviderRejected):
            start(world)
        start(world)

    @pytest.mark.parametrize(
        "number", ["0700000001", "+4813", "+46 70", "", "+1900555012345678901234567890123"]
    )
    def test_invalid_numbers_are_refused_before_anything_is_sent(self, world: World, number: str) -> None:
        with pytest.raises(InvalidRequest):
            start(world, number)
        assert world.sinch.starts == []

    def test_premium_rate_numbers_are_denied(self, world: World) -> None:
        with pytest.raises(DestinationDenied):
            start(world, "+19005550123")

    def test_country_allow_list(self) -> None:
        world = make_world(allowed_countries=frozenset({"SE"}))
        start(world)
        with pytest.raises(DestinationDenied):
            start(world, "+4915123456789")


class TestOwnership:
    def test_another_caller_cannot_see_or_report_a_verification(self, world: World) -> None:
        verification = start(world, owner="iam:arn:aws:iam::1:role/a")
        with pytest.raises(VerificationNotFound):
            world.service.status(verification, "iam:arn:aws:iam::1:role/b")
        with pytest.raises(VerificationNotFound):
            report(world, verification, code=world.sent_code(), owner="iam:arn:aws:iam::1:role/b")
        assert report(
            world, verification, code=world.sent_code(), owner="iam:arn:aws:iam::1:role/a"
        ).status == ("SUCCESSFUL")


class TestFlashcall:
    def test_cli_returned_at_start_is_checked_locally_and_reported(self, world: World) -> None:
        verification = start(world, method=Method.FLASHCALL)
        body = verification_body(world.service.status(verification, "anonymous"))
        assert FLASH_CLI not in json.dumps(body)
        assert report(world, verification, cli="+46815600009").status == "PENDING"
        assert world.sinch.reports == []
        assert report(world, verification, cli=FLASH_CLI).status == "SUCCESSFUL"
        assert world.sinch.reports == [(world.at_sinch(verification), CliReport(FLASH_CLI))]

    def test_start_answer_hides_the_cli(self, world: World) -> None:
        body = verification_body(
            world.service.start(StartCommand(phone_number=NUMBER, method=Method.FLASHCALL))
        )
        assert body["flashcall"]["cliFilter"] == "(.*)8156(.*)"
        assert FLASH_CLI not in json.dumps(body)

    def test_without_cli_sinch_decides_and_each_fail_uses_an_attempt(self) -> None:
        world = make_world(sinch_fail_ends_verification=False)  # an account that lets users try again
        world.sinch.flashcall_cli = None
        verification = start(world, method=Method.FLASHCALL)
        world.sinch.verdicts = [
            ReportResult(id=verification, method=Method.FLASHCALL, status=Status.FAIL, reason="Invalid CLI"),
            ReportResult(id=verification, method=Method.FLASHCALL, status=Status.SUCCESSFUL),
        ]
        first = report(world, verification, cli="+46815600009")
        assert (first.status, first.reason, first.attempts_remaining) == ("PENDING", "Invalid CLI", 4)
        assert report(world, verification, cli=FLASH_CLI).status == "SUCCESSFUL"


class TestSinchDecides:
    def test_a_default_accounts_fail_ends_the_verification(self, world: World) -> None:
        # Given a callout, which Sinch judges, on an account where a wrong code ends the verification
        verification = start(world, method=Method.CALLOUT)
        world.sinch.verdicts = [
            ReportResult(id=verification, method=Method.CALLOUT, status=Status.FAIL, reason="Invalid code"),
        ]
        # When the user gets it wrong, then it has failed, and the next report is refused without Sinch
        failed = report(world, verification, code="1111")
        assert (failed.status, failed.reason, failed.attempts_remaining) == ("FAIL", "Invalid code", 0)
        with pytest.raises(TooManyAttempts):
            report(world, verification, code="2222")
        assert len(world.sinch.reports) == 1
        assert world.service.status(verification, "anonymous").status == "FAIL"

    def test_sinch_errors_and_denials_end_it_with_destination_denied(self, world: World) -> None:
        for status, reason in ((Status.ERROR, "SMS delivery failure"), (Status.DENIED, "Fraud")):
            verification = start(world, method=Method.WHATSAPP)
            world.sinch.verdicts = [
                ReportResult(id=verification, method=Method.WHATSAPP, status=status, reason=reason)
            ]
            with pytest.raises(DestinationDenied):
                report(world, verification, code="1111")
            with pytest.raises(DestinationDenied):
                report(world, verification, code="1111")  # final: Sinch is not asked again
            assert world.service.status(verification, "anonymous").status == status.value
            world.clock.now += 31

    def test_callout_success_after_a_failure(self) -> None:
        world = make_world(sinch_fail_ends_verification=False)  # an account that lets users try again
        verification = start(world, method=Method.CALLOUT)
        world.sinch.verdicts = [
            ReportResult(id=verification, method=Method.CALLOUT, status=Status.FAIL, reason="Invalid code"),
            ReportResult(id=verification, method=Method.CALLOUT, status=Status.SUCCESSFUL),
        ]
        assert report(world, verification, code="1111").attempts_remaining == 4
        assert report(world, verification, code="2222").status == "SUCCESSFUL"

    def test_provider_outage_gives_the_attempt_back(self, world: World) -> None:
        verification = start(world, method=Method.WHATSAPP)
        world.sinch.verdicts = [SinchUnavailable("503", http_status=503)]
        with pytest.raises(ProviderUnavailable):
            report(world, verification, code="1111")
        assert world.service.status(verification, "anonymous").attempts_remaining == 5

    def test_sinch_expiry_and_denial_are_final(self, world: World) -> None:
        expired = start(world, method=Method.CALLOUT)
        world.sinch.verdicts = [
            ReportResult(id=expired, method=Method.CALLOUT, status=Status.FAIL, reason="Expired"),
        ]
        with pytest.raises(VerificationExpired):
            report(world, expired, code="1111")
        denied = start(world, OTHER_NUMBER, method=Method.CALLOUT)
        world.sinch.verdicts = [
            ReportResult(id=denied, method=Method.CALLOUT, status=Status.DENIED, reason="Fraud")
        ]
        with pytest.raises(DestinationDenied):
            report(world, denied, code="1111")
        with pytest.raises(DestinationDenied):
            report(world, denied, code="1111")


A = "iam:arn:aws:iam::1:role/a"
B = "iam:arn:aws:iam::1:role/b"


class TestTenancy:
    def test_another_owners_start_for_the_number_leaves_mine_pending_and_working(self, world: World) -> None:
        # Given A's verification for a number
        mine = start(world, owner=A)
        my_code = world.sent_code()
        # When B starts one for the same number (after the number's gap)
        world.clock.now += 31
        theirs = start(world, owner=B)
        their_code = world.sent_code()
        # Then both stay pending, and each owner's code verifies their own
        assert world.service.status(mine, A).status == "PENDING"
        assert report(world, mine, code=my_code, owner=A).status == "SUCCESSFUL"
        assert report(world, theirs, code=their_code, owner=B).status == "SUCCESSFUL"

    def test_report_by_number_reaches_only_the_callers_own_verification(self, world: World) -> None:
        # Given A's verification for a number, and B's for the same number after it
        start(world, owner=A)
        my_code = world.sent_code()
        world.clock.now += 31
        start(world, owner=B)
        # When A reports by number, then A's own (not the number's latest) is reached
        mine = world.service.report(report_command({"code": my_code}, owner=A, phone_number=NUMBER))
        assert mine.status == "SUCCESSFUL"
        # And a third caller, who has none, is told what a number without verifications is told
        with pytest.raises(VerificationNotFound) as stranger:
            world.service.report(report_command({"code": my_code}, owner="jwt:x:c", phone_number=NUMBER))
        with pytest.raises(VerificationNotFound) as nobody:
            world.service.report(
                report_command({"code": my_code}, owner="jwt:x:c", phone_number=OTHER_NUMBER)
            )
        assert stranger.value.detail == nobody.value.detail

    def test_a_malformed_report_by_number_is_refused_before_anything_is_looked_up(self, world: World) -> None:
        start(world, owner=A)
        with pytest.raises(InvalidRequest):
            report_command({"code": "!"}, owner=B, phone_number=NUMBER)
        with pytest.raises(InvalidRequest):
            report_command({"code": "!"}, owner=B, phone_number=OTHER_NUMBER)

    @pytest.mark.parametrize("typed", ["{c}\n", "\t{c}", "{c3}\u00a0{c_3}", "{c}\r\n", " {c3} {c_3} "])
    def test_the_right_code_with_whitespace_pasted_around_it_is_the_right_code(
        self, world: World, typed: str
    ) -> None:
        verification = start(world)
        code = world.sent_code()
        answer = report(world, verification, code=typed.format(c=code, c3=code[:3], c_3=code[3:]))
        assert (answer.status, answer.attempts_remaining) == ("SUCCESSFUL", 0)
