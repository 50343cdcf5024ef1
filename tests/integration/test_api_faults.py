"""A Sinch outage leaves the product consistent: nothing half-stored, no second SMS, no lost attempts, and a
right code is never turned into an error. Sinch's failures come from the sandbox's fault rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import (
    SINCH_PREFIX,
    STRANGER,
    Deployment,
    Product,
    fresh_product,
    problem,
    verification_of,
    wrong,
)


@pytest.fixture
def slow(slow_sinch_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    """The product with a 0.5 s Sinch read timeout."""
    yield from fresh_product(slow_sinch_deployment, monkeypatch)


def start_requests(product: Product) -> list[dict[str, Any]]:
    return product.sinch_requests("start")


def reports(product: Product) -> list[dict[str, Any]]:
    return product.sinch_requests("report")


class TestStartDuringAnOutage:
    def test_sinch_503_stores_nothing_and_a_retry_right_away_succeeds(self, product: Product) -> None:
        """Sinch answered 503, so nothing was sent: the caller gets 503 with Retry-After, no verification
        is stored, the number's start slot is given back and the retry sends the one SMS."""
        product.fault(kind="status", status=503, method="POST")

        problem(product.start(), 503, "provider_unavailable", retry_after=True)
        assert product.verification_items() == []
        assert product.inbox()["messages"] == []

        retried = product.start()
        assert retried.status_code == 201, retried.text
        assert [verification_of(m) for m in product.inbox()["messages"]] == [retried.json()["id"]]
        assert [r["status"] for r in start_requests(product)] == [503, 200]

    def test_a_failed_start_with_an_idempotency_key_can_be_retried_with_that_key(
        self, product: Product
    ) -> None:
        product.fault(kind="status", status=503, method="POST")
        headers = {"Idempotency-Key": "order-4711-attempt"}

        problem(product.start(headers=headers), 503, "provider_unavailable", retry_after=True)
        retried = product.start(headers=headers)

        assert retried.status_code == 201, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert len(product.inbox()["messages"]) == 1

    @pytest.mark.parametrize("kind", ["malformed", "drop"])
    def test_a_start_that_went_through_but_whose_answer_was_garbled_is_recovered(
        self, product: Product, kind: str
    ) -> None:
        """Sinch sent the SMS but its answer was unreadable (HTML from a gateway) or the connection dropped:
        the product finds the verification by its reference instead of failing, so the caller gets the
        one SMS that went out, and the code in it works."""
        product.fault(kind=kind, method="POST", process=True)

        response = product.start()

        assert response.status_code == 201, response.text
        messages = product.inbox()["messages"]
        assert [verification_of(m) for m in messages] == [response.json()["id"]]
        assert response.headers["Location"] == f"/verifications/{response.json()['id']}"
        reported = product.report(response.json()["id"], {"code": product.code()})
        assert reported.json()["status"] == "SUCCESSFUL"

    def test_a_dropped_start_is_never_repeated_behind_the_callers_back(self, product: Product) -> None:
        """The connection dropped before Sinch did anything: 503, nothing stored, no SMS. The product
        cannot be sure Sinch did not start it, so the number's slot stays taken until the gap is over."""
        product.fault(kind="drop", method="POST")

        problem(product.start(), 503, "provider_unavailable", retry_after=True)
        assert product.verification_items() == []
        assert product.inbox()["messages"] == []
        assert len(start_requests(product)) == 1

        problem(product.start(), 429, "rate_limited", retry_after=True)
        product.advance(30)
        assert product.start().status_code == 201


class TestLostStartAnswer:
    def test_a_start_answered_too_late_is_recovered_by_reference(self, slow: Product) -> None:
        """Sinch took 1.5 s; the product stopped waiting after 0.5 s, asked Sinch by the reference it sent,
        and answers 201 with the verification that exists: one SMS, and its code works."""
        slow.fault(kind="delay", seconds=1.5, method="POST")

        response = slow.start()

        assert response.status_code == 201, response.text
        verification = response.json()
        assert (verification["status"], verification["attemptsRemaining"]) == ("PENDING", 5)
        assert [verification_of(m) for m in slow.inbox()["messages"]] == [verification["id"]]
        status_reads = [r["path"] for r in slow.sinch_requests("status")]
        assert len(status_reads) == 1
        assert status_reads[0].startswith(f"{SINCH_PREFIX}/reference/pv-")

        problem(slow.start(), 429, "rate_limited", retry_after=True)  # a retry cannot send a second SMS
        assert len(slow.inbox()["messages"]) == 1
        assert slow.report(verification["id"], {"code": slow.code()}).json()["status"] == "SUCCESSFUL"

    def test_when_the_lost_start_cannot_be_found_the_answer_is_503_and_no_second_sms(
        self, slow: Product
    ) -> None:
        """Sinch is too slow and then cannot be asked: 503 with Retry-After, nothing stored, and the
        number's slot stays taken (an SMS did go out), so a retry right away sends nothing."""
        slow.fault(kind="delay", seconds=1.5, method="POST")
        slow.fault(kind="status", status=503, method="GET", count=5)

        problem(slow.start(), 503, "provider_unavailable", retry_after=True)
        assert slow.verification_items() == []
        assert len(slow.inbox()["messages"]) == 1

        problem(slow.start(), 429, "rate_limited", retry_after=True)
        assert len(slow.inbox()["messages"]) == 1

    def test_a_start_that_times_out_before_sinch_did_anything_is_503(self, slow: Product) -> None:
        """Sinch hangs and then refuses: the product stopped waiting, found nothing under its reference and
        answers 503 with Retry-After; no SMS, nothing stored."""
        slow.fault(kind="delay", seconds=1.5, method="POST", process=False)

        problem(slow.start(), 503, "provider_unavailable", retry_after=True)
        assert slow.verification_items() == []
        assert slow.inbox()["messages"] == []

    def test_a_start_that_times_out_with_a_reference_of_the_callers_own(self, slow: Product) -> None:
        slow.fault(kind="delay", seconds=1.5, method="POST")
        response = slow.start(reference="order-4711")
        assert response.status_code == 201, response.text
        assert response.json()["reference"] == "order-4711"
        assert [verification_of(m) for m in slow.inbox()["messages"]] == [response.json()["id"]]


class TestReportDuringAnOutage:
    @pytest.mark.parametrize(
        "fault",
        [
            {"kind": "status", "status": 503},
            {"kind": "status", "status": 429, "errorCode": 42900},
            {"kind": "malformed", "process": False},
        ],
        ids=["503", "429", "malformed"],
    )
    def test_sinch_unavailable_refunds_the_attempt(self, product: Product, fault: dict[str, Any]) -> None:
        """A callout is decided by Sinch: when Sinch cannot judge the report, the caller gets 503 with
        Retry-After, the attempt is given back, and the same report succeeds once Sinch is back."""
        verification = product.started(method="callout")["id"]
        code = product.spoken_code()
        product.fault(method="PUT", **fault)

        problem(product.report(verification, {"code": code}), 503, "provider_unavailable", retry_after=True)
        state = product.state(verification)
        assert (state["status"], state["attemptsRemaining"]) == ("PENDING", 5)

        assert product.report(verification, {"code": code}).json()["status"] == "SUCCESSFUL"

    def test_sinch_rejecting_a_report_refunds_the_attempt(self, product: Product) -> None:
        verification = product.started(method="whatsapp")["id"]
        product.fault(kind="status", status=400, errorCode=40001, method="PUT")
        problem(product.report(verification, {"code": product.code()}), 422, "provider_rejected")
        assert product.state(verification)["attemptsRemaining"] == 5

    def test_flashcall_without_cli_during_an_outage(self, product: Product) -> None:
        product.sandbox.configure(flashcall_returns_cli=False)
        verification = product.started(method="flashcall")["id"]
        product.fault(kind="status", status=503, method="PUT")
        problem(
            product.report(verification, {"cli": product.cli()}),
            503,
            "provider_unavailable",
            retry_after=True,
        )
        assert product.state(verification)["attemptsRemaining"] == 5

    def test_a_report_answered_too_late_counts_and_the_retry_gets_sinchs_verdict(self, slow: Product) -> None:
        """Sinch judged the report but answered after the timeout: 503, and the attempt stays used (Sinch
        did see it). Reporting again gets Sinch's recorded verdict: SUCCESSFUL."""
        verification = slow.started(method="callout")["id"]
        code = slow.spoken_code()
        slow.fault(kind="delay", seconds=1.5, method="PUT")

        problem(slow.report(verification, {"code": code}), 503, "provider_unavailable", retry_after=True)
        assert slow.state(verification)["attemptsRemaining"] == 4

        retried = slow.report(verification, {"code": code})
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "SUCCESSFUL"

    def test_sinch_forgetting_the_verification_reads_as_expired(self, product: Product) -> None:
        verification = product.started(method="callout")["id"]
        code = product.spoken_code()
        product.sandbox.reset()  # Sinch no longer knows the id

        problem(product.report(verification, {"code": code}), 410, "expired")
        state = product.state(verification)
        assert (state["status"], state["reason"]) == ("FAIL", "Expired")

    def test_sinch_expiring_first_reads_as_expired(self, product: Product) -> None:
        verification = product.started(method="whatsapp")["id"]
        code = product.code()
        product.sandbox.advance_time(601)  # Sinch's clock only: the product still thinks it is open

        problem(product.report(verification, {"code": code}), 410, "expired")
        assert product.state(verification)["reason"] == "Expired"
        problem(product.report(verification, {"code": code}), 410, "expired")
        assert len(reports(product)) == 1


class TestLocalSuccessWhileSinchFails:
    @pytest.mark.parametrize(
        ("fault", "tries"),
        [
            ({"kind": "status", "status": 503, "count": 2}, 2),
            ({"kind": "drop", "count": 2}, 2),
            ({"kind": "status", "status": 400, "errorCode": 40003}, 1),
        ],
        ids=["503", "drop", "400"],
    )
    def test_the_right_code_still_succeeds(self, product: Product, fault: dict[str, Any], tries: int) -> None:
        """The service checked the SMS code itself; Sinch failing to take the report (even after one
        retry) is logged and flagged on the verification, and never turns the right code into an error."""
        verification = product.started()["id"]
        code = product.code()
        product.report(verification, {"code": wrong(code)})
        product.fault(method="PUT", **fault)

        response = product.report(verification, {"code": code})

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "SUCCESSFUL"
        assert len(reports(product)) == tries
        item = product.item(verification)
        assert item is not None
        assert item["sinchReportPending"] == {"BOOL": True}
        assert product.state(verification)["status"] == "SUCCESSFUL"
        problem(product.report(verification, {"code": code}), 409, "already_verified")

    def test_a_report_sinch_takes_is_not_flagged(self, product: Product) -> None:
        verification = product.started()["id"]
        product.report(verification, {"code": product.code()})
        item = product.item(verification)
        assert item is not None
        assert "sinchReportPending" not in item
        assert [r["status"] for r in reports(product)] == [200]


class TestCallersReference:
    def test_a_reference_is_the_callers_own_label_and_never_reaches_sinch(self, product: Product) -> None:
        """Sinch refuses a reference it has seen (40900) across the whole Sinch application, so a caller's
        reference sent to Sinch would let one tenant learn another's references (and block its starts).
        The product sends Sinch references of its own: two starts with one reference, by two callers,
        both start, and each SMS carries its own verification's reference."""
        first = product.started(reference="order-4711")
        product.advance(31)
        second = product.started(reference="order-4711", principal=STRANGER)

        assert first["reference"] == second["reference"] == "order-4711"
        messages = product.inbox()["messages"]
        assert [verification_of(m) for m in messages] == [first["id"], second["id"]]
        assert [m["reference"] for m in messages] == [f"pv-{first['id']}", f"pv-{second['id']}"]
        assert product.state(first["id"])["status"] == "PENDING"
