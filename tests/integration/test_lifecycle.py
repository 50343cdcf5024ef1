"""A verification's lifecycle over HTTP through the local stack: cancel, the next channel under one id, and
what a stranger can (not) do to either.

Each test is a user story against the real handlers, moto's DynamoDB and the Sinch sandbox as the phone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.integration.conftest import (
    NUMBER,
    SINCH_PREFIX,
    STRANGER,
    Product,
    error_name,
    private,
    problem,
    recorded_aws_calls,
    verification_of,
    wrong,
)

OTHER = "+46700000102"
UNKNOWN_ID = "0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87"
GAP = 31  # the default MinSecondsBetweenStarts (30) has passed: a next is a send like a start


def cancel(product: Product, verification_id: str, **options: Any) -> requests.Response:
    return product.request("DELETE", f"/verifications/{verification_id}", **options)


def send_next(product: Product, verification_id: str, body: Any = None, **options: Any) -> requests.Response:
    return product.request("POST", f"/verifications/{verification_id}/next", body=body, **options)


def next_sent(product: Product, verification_id: str, body: Any = None, **options: Any) -> dict[str, Any]:
    response = send_next(product, verification_id, body, **options)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# ------------------------------------------------------------------------------------------ cancel


class TestCancel:
    def test_a_cancelled_verification_refuses_every_later_report(self, product: Product) -> None:
        """Given a pending SMS verification, when its owner cancels it, then the answer is the verification
        as CANCELLED, and the right code, by id or by number, is refused with 410 cancelled."""
        verification = product.started()["id"]
        code = product.code()

        cancelled = cancel(product, verification)

        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert (body["id"], body["status"], body["attemptsRemaining"]) == (verification, "CANCELLED", 0)
        assert cancelled.headers["Cache-Control"] == "no-store"
        problem(product.report(verification, {"code": code}), 410, "cancelled")
        problem(product.report_by_number("%2B46700000101", {"code": code}), 410, "cancelled")
        # DELETE removed it: reading it answers 410 cancelled, not the verification (schemathesis'
        # use-after-free check: a deleted resource must not answer 2xx).
        problem(product.status(verification), 410, "cancelled")
        private(cancelled.text, NUMBER, code)

    def test_cancel_is_idempotent(self, product: Product) -> None:
        verification = product.started()["id"]
        first = cancel(product, verification)
        again = cancel(product, verification)
        assert (again.status_code, again.json()) == (200, first.json())

    def test_cancelling_a_finished_verification_answers_how_it_ended(self, product: Product) -> None:
        verified = product.started()["id"]
        product.report(verified, {"code": product.code()})
        problem(cancel(product, verified), 409, "already_verified")
        assert product.state(verified)["status"] == "SUCCESSFUL"

        product.advance(GAP)
        used_up = product.started()["id"]
        for _ in range(5):
            product.report(used_up, {"code": wrong(product.code())})
        problem(cancel(product, used_up), 429, "too_many_attempts")
        assert product.state(used_up)["status"] == "FAIL"

    def test_cancelling_an_expired_verification_is_410_expired(self, product: Product) -> None:
        verification = product.started()["id"]
        product.advance(601)
        problem(cancel(product, verification), 410, "expired")
        state = product.state(verification)
        assert (state["status"], state["reason"]) == ("FAIL", "Expired")

    def test_a_direct_invocation_cancels_too(self, product: Product) -> None:
        """A Step Functions task or a backend with lambda:InvokeFunction cancels with the report
        function and ``"action": "cancel"``; a later direct report fails with VerificationCancelled."""
        verification = product.invoke_start({"phoneNumber": NUMBER})["id"]
        cancelled = product.invoke_report({"action": "cancel", "id": verification})
        assert (cancelled["id"], cancelled["status"]) == (verification, "CANCELLED")
        name = error_name(lambda: product.invoke_report({"id": verification, "code": product.code()}))
        assert name == "VerificationCancelled"

    def test_an_unknown_action_is_refused(self, product: Product) -> None:
        verification = product.invoke_start({"phoneNumber": NUMBER})["id"]
        assert error_name(lambda: product.invoke_report({"action": "delete", "id": verification})) == (
            "InvalidRequest"
        )
        assert product.invoke_report({"id": verification})["status"] == "PENDING"


# ------------------------------------------------------------------------------------------ next channel


class TestNextChannel:
    def test_sms_then_callout_under_one_id(self, product: Product) -> None:
        """Given an SMS verification with a callout to fall back on, when the SMS is not answered and the
        backend asks for the next channel, then the same verification calls the number: same id, attempts
        and expiry, method callout; the SMS code is now a wrong code, the spoken one verifies."""
        started = product.started(channels=["sms", "callout"])
        sms_code = product.code()
        product.advance(GAP)

        sent = next_sent(product, started["id"])

        assert (sent["id"], sent["method"], sent["status"]) == (started["id"], "callout", "PENDING")
        assert (sent["attemptsRemaining"], sent["expiresAt"]) == (5, started["expiresAt"])
        calls = product.inbox()["calls"]
        assert [(verification_of(call), call["method"]) for call in calls] == [(started["id"], "callout")]
        private(str(sent), NUMBER, sms_code)

        refused = product.report(started["id"], {"code": sms_code})
        assert refused.status_code == 200, refused.text
        assert (refused.json()["status"], refused.json()["attemptsRemaining"]) == ("PENDING", 4)
        assert product.sinch_requests("report") == []  # a retired code is judged without asking Sinch

        verified = product.report(started["id"], {"code": product.spoken_code()})
        assert (verified.json()["status"], verified.json()["method"]) == ("SUCCESSFUL", "callout")
        assert [r["path"] for r in product.sinch_requests("report")] == [
            f"{SINCH_PREFIX}/id/{product.sinch_id(started['id'])}"
        ]

    def test_a_report_by_number_follows_the_current_channel(self, product: Product) -> None:
        started = product.started(channels=["sms", "whatsapp"])
        product.advance(GAP)
        next_sent(product, started["id"])
        whatsapp_code = product.inbox()["messages"][-1]["code"]
        assert product.inbox()["messages"][-1]["method"] == "whatsapp"

        verified = product.report_by_number("%2B46700000101", {"code": whatsapp_code})

        assert (verified.json()["id"], verified.json()["status"]) == (started["id"], "SUCCESSFUL")

    def test_a_later_channel_can_be_named_and_the_ones_before_it_are_skipped(self, product: Product) -> None:
        started = product.started(channels=["sms", "whatsapp", "callout"])
        product.advance(GAP)
        assert (
            next_sent(product, started["id"], {"method": "callout", "locale": "sv-SE"})["method"] == "callout"
        )
        assert product.inbox()["calls"][-1]["locale"] == "sv-SE"
        product.advance(GAP)
        problem(send_next(product, started["id"], {"method": "whatsapp"}), 409, "no_channel_left")

    def test_when_the_channels_run_out_next_says_so(self, product: Product) -> None:
        """The last channel sent, ``next`` answers 409 no_channel_left; the verification stays usable."""
        started = product.started(channels=["sms", "callout"])
        product.advance(GAP)
        next_sent(product, started["id"])
        product.advance(GAP)

        problem(send_next(product, started["id"]), 409, "no_channel_left")
        problem(send_next(product, product.started(OTHER)["id"]), 409, "no_channel_left")  # one channel
        assert len(product.inbox()["calls"]) == 1
        verified = product.report(started["id"], {"code": product.spoken_code()})
        assert verified.json()["status"] == "SUCCESSFUL"

    def test_a_channel_that_is_not_the_verifications_is_a_conflict(self, product: Product) -> None:
        started = product.started(channels=["sms", "callout"])
        product.advance(GAP)
        problem(send_next(product, started["id"], {"method": "flashcall"}), 409, "conflict")
        problem(send_next(product, started["id"], {"method": "telegram"}), 422, "invalid_request")
        assert product.inbox()["calls"] == []

    def test_each_send_counts_against_the_send_limits(self, product: Product) -> None:
        """A next is a send to the number: right after the SMS it waits the number's 30 s like a start."""
        started = product.started(channels=["sms", "callout"])
        problem(send_next(product, started["id"]), 429, "rate_limited", retry_after=True)
        assert product.inbox()["calls"] == []
        product.advance(GAP)
        assert next_sent(product, started["id"])["method"] == "callout"

    def test_an_idempotency_key_makes_a_retried_next_send_nothing(self, product: Product) -> None:
        started = product.started(channels=["sms", "callout"])
        product.advance(GAP)
        key = {"Idempotency-Key": "fallback-1"}
        first = send_next(product, started["id"], headers=key)
        again = send_next(product, started["id"], headers=key)
        assert (again.status_code, again.json()) == (200, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert len(product.inbox()["calls"]) == 1
        problem(send_next(product, started["id"], {"method": "callout"}, headers=key), 409, "conflict")

    def test_a_cancelled_or_finished_verification_has_no_next(self, product: Product) -> None:
        cancelled = product.started(channels=["sms", "callout"])["id"]
        cancel(product, cancelled)
        product.advance(GAP)
        problem(send_next(product, cancelled), 410, "cancelled")
        verified = product.started(channels=["sms", "callout"])["id"]
        product.report(verified, {"code": product.code()})
        product.advance(GAP)
        problem(send_next(product, verified), 409, "already_verified")
        assert product.inbox()["calls"] == []

    def test_a_start_with_channels_is_validated(self, product: Product) -> None:
        refused: list[dict[str, Any]] = [
            {"channels": []},
            {"channels": ["sms", "sms"]},
            {"channels": ["sms", "fax"]},
            {"channels": "sms"},
            {"method": "callout", "channels": ["sms", "callout"]},
            {"code": "482913", "channels": ["sms", "callout"]},
        ]
        for fields in refused:
            problem(product.start(**fields), 422, "invalid_request")
        assert product.inbox()["messages"] == []
        assert product.started(channels=["callout", "sms"])["method"] == "callout"  # method from channels

    def test_a_direct_invocation_sends_the_next_channel(self, product: Product) -> None:
        started = product.invoke_start({"phoneNumber": NUMBER, "channels": ["sms", "callout"]})
        product.advance(GAP)
        sent = product.invoke_start({"action": "next", "id": started["id"]})
        assert (sent["id"], sent["method"]) == (started["id"], "callout")
        assert (
            error_name(lambda: product.invoke_start({"action": "next", "id": started["id"]}))
            == "NoChannelLeft"
        )


# ------------------------------------------------------------------------------------------ strangers


class TestStrangers:
    Probe = Callable[..., requests.Response]

    @pytest.mark.parametrize("action", ["cancel", "next", "next callout"])
    def test_a_stranger_cannot_cancel_or_advance_and_learns_nothing(
        self, product: Product, action: str
    ) -> None:
        """B's cancel or next on A's verification answers exactly as one on an id that never existed, with
        the same AWS calls, and A's verification is untouched."""
        mine = product.started(channels=["sms", "callout"])
        code = product.code()
        product.advance(GAP)
        probes: dict[str, tuple[TestStrangers.Probe, tuple[Any, ...]]] = {
            "cancel": (cancel, ()),
            "next": (send_next, ()),
            "next callout": (send_next, ({"method": "callout"},)),
        }
        probe, args = probes[action]
        with recorded_aws_calls() as recorded:
            product.status(UNKNOWN_ID, principal=STRANGER)  # builds the clients and reads the secret first
            mark = len(recorded)
            probed = probe(product, mine["id"], *args, principal=STRANGER)
            used = [operation for _, operation, _ in recorded[mark:]]
            mark = len(recorded)
            never = probe(product, UNKNOWN_ID, *args, principal=STRANGER)
            fresh = [operation for _, operation, _ in recorded[mark:]]

        problem(probed, 404, "not_found")
        assert (probed.status_code, probed.json()) == (never.status_code, never.json())
        assert used == fresh
        assert product.inbox()["calls"] == []
        state = product.state(mine["id"])
        assert (state["status"], state["method"], state["attemptsRemaining"]) == ("PENDING", "sms", 5)
        assert product.report(mine["id"], {"code": code}).json()["status"] == "SUCCESSFUL"
