"""The design's error table, row by row: over HTTP (status, ``application/problem+json``, the five body keys,
``Retry-After`` where the table says) and for direct invocations (the exception name Step Functions sees).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from phone_verification import runtime
from tests.integration.conftest import (
    NUMBER,
    OTHER_NUMBER,
    STRANGER,
    Product,
    error_name,
    private,
    problem,
    wrong,
)

UNKNOWN_ID = "0b7c3f5e-3c1a-4f57-9d1e-8d3f4a5b6c7d"
PREMIUM_RATE = "+19005550123"


def nothing_stored(product: Product) -> None:
    assert product.verification_items() == []


@pytest.fixture
def broken_secret(product: Product) -> Iterator[Product]:
    """The Sinch secret is not JSON any more (an operator pasted something wrong)."""
    deployment = product.deployment
    deployment.secretsmanager.put_secret_value(SecretId=deployment.stack.secret_id, SecretString="{not json")
    runtime.configure(None)  # a cold start: the product reads the secret again
    try:
        yield product
    finally:
        deployment.restore_secret()
        runtime.configure(None)


class TestErrorTableOverHttp:
    @pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', "42", "null"])
    def test_invalid_request_400_when_the_body_cannot_be_read(self, product: Product, body: str) -> None:
        problem(product.request("POST", "/verifications", data=body), 400, "invalid_request")
        assert product.sinch_requests() == []

    def test_invalid_request_422_for_a_bad_field(self, product: Product) -> None:
        body = problem(product.start("+4813"), 422, "invalid_request")
        private(str(body), "+4813")
        problem(product.start(NUMBER, method="telegram"), 422, "invalid_request")
        assert product.sinch_requests() == []

    def test_not_found_404_for_an_unknown_id(self, product: Product) -> None:
        problem(product.status(UNKNOWN_ID), 404, "not_found")
        problem(product.report(UNKNOWN_ID, {"code": "123456"}), 404, "not_found")
        problem(product.report_by_number(NUMBER, {"code": "123456"}), 404, "not_found")

    def test_not_found_404_for_another_callers_verification(self, product: Product) -> None:
        verification = product.started()["id"]
        problem(product.status(verification, principal=STRANGER), 404, "not_found")
        problem(product.report(verification, {"code": product.code()}, principal=STRANGER), 404, "not_found")

    def test_expired_410(self, product: Product) -> None:
        verification = product.started()["id"]
        product.advance(601)
        problem(product.report(verification, {"code": product.code()}), 410, "expired")

    def test_already_verified_409(self, product: Product) -> None:
        verification = product.started()["id"]
        product.report(verification, {"code": product.code()})
        body = problem(product.report(verification, {"code": product.code()}), 409, "already_verified")
        private(str(body), product.code())

    def test_too_many_attempts_429_without_retry_after(self, product: Product) -> None:
        verification = product.started()["id"]
        for _ in range(5):
            product.report(verification, {"code": wrong(product.code())})
        problem(product.report(verification, {"code": product.code()}), 429, "too_many_attempts")

    def test_rate_limited_429_with_retry_after_for_the_gap_between_starts(self, product: Product) -> None:
        product.freeze()
        product.started()
        product.advance(10)
        refused = product.start()
        problem(refused, 429, "rate_limited", retry_after=True)
        # The number's limit is shared by every caller: Retry-After is the gap itself, not the rest of it,
        # which would tell a caller when someone else started for the number.
        assert refused.headers["Retry-After"] == "30"
        assert len(product.sinch_requests("start")) == 1
        assert product.start(OTHER_NUMBER).status_code == 201  # the limit is per number
        product.advance(20)
        assert product.start().status_code == 201

    def test_rate_limited_429_with_retry_after_for_the_window(self, product: Product) -> None:
        """Five starts per number in any 600 s: the sixth waits until the first is 600 s old, and then
        one start, and only one, works again (a fixed window would let five more through at once)."""
        product.freeze()
        for _ in range(5):
            product.started()
            product.advance(31)
        refused = product.start()
        problem(refused, 429, "rate_limited", retry_after=True)
        assert refused.headers["Retry-After"] == "600"  # the window itself: nothing about others' starts
        product.advance(600 - 5 * 31)
        assert product.start().status_code == 201
        product.advance(30)
        problem(product.start(), 429, "rate_limited", retry_after=True)

    def test_destination_denied_403_for_a_premium_rate_number(self, product: Product) -> None:
        body = problem(product.start(PREMIUM_RATE), 403, "destination_denied")
        private(str(body), PREMIUM_RATE)
        assert product.sinch_requests() == []

    def test_destination_denied_403_when_sinch_refuses_the_destination(self, product: Product) -> None:
        product.fault(kind="status", status=403, errorCode=40300, method="POST")
        problem(product.start(), 403, "destination_denied")
        nothing_stored(product)

    @pytest.mark.parametrize(("status", "error_code"), [(400, 40001), (402, 40200), (409, 40900)])
    def test_provider_rejected_422_when_sinch_refuses_the_request(
        self, product: Product, status: int, error_code: int
    ) -> None:
        product.fault(kind="status", status=status, errorCode=error_code, method="POST")
        problem(product.start(), 422, "provider_rejected")
        nothing_stored(product)
        assert product.start().status_code == 201  # nothing was sent, so the start slot was given back

    @pytest.mark.parametrize(
        "fault",
        [
            {"kind": "status", "status": 503},
            {"kind": "status", "status": 500, "errorCode": 50000},
            {"kind": "status", "status": 502},
            {"kind": "status", "status": 429, "errorCode": 42900},
            {"kind": "malformed", "process": False},
            {"kind": "drop"},
        ],
        ids=["503", "500", "502", "429", "malformed", "drop"],
    )
    def test_provider_unavailable_503_with_retry_after(self, product: Product, fault: dict[str, Any]) -> None:
        product.fault(method="POST", **fault)
        problem(product.start(), 503, "provider_unavailable", retry_after=True)
        nothing_stored(product)
        assert product.inbox()["messages"] == []

    def test_provider_unavailable_passes_on_sinchs_retry_after(self, product: Product) -> None:
        product.fault(kind="status", status=429, errorCode=42900, retryAfter=7, method="POST")
        refused = product.start()
        problem(refused, 503, "provider_unavailable", retry_after=True)
        assert refused.headers["Retry-After"] == "7"

    @pytest.mark.usefixtures("broken_secret")
    def test_internal_error_500_for_a_broken_secret(self, product: Product) -> None:
        response = product.start()
        body = problem(response, 500, "internal_error")
        assert "not json" not in response.text
        assert "secret" not in body["detail"].lower()
        assert product.sinch_requests() == []
        problem(product.status(UNKNOWN_ID), 500, "internal_error")


# ------------------------------------------------------------------------------------------ direct


def _expired(product: Product) -> Callable[[], Any]:
    verification = product.invoke_start({"phoneNumber": NUMBER})["id"]
    product.advance(601)
    return lambda: product.invoke_report({"id": verification, "code": product.code()})


def _already_verified(product: Product) -> Callable[[], Any]:
    verification = product.invoke_start({"phoneNumber": NUMBER})["id"]
    product.invoke_report({"id": verification, "code": product.code()})
    return lambda: product.invoke_report({"id": verification, "code": product.code()})


def _too_many_attempts(product: Product) -> Callable[[], Any]:
    verification = product.invoke_start({"phoneNumber": NUMBER})["id"]
    for _ in range(5):
        product.invoke_report({"id": verification, "code": wrong(product.code())})
    return lambda: product.invoke_report({"id": verification, "code": product.code()})


def _rate_limited(product: Product) -> Callable[[], Any]:
    product.invoke_start({"phoneNumber": NUMBER})
    return lambda: product.invoke_start({"phoneNumber": NUMBER})


def _not_found_for_another_owner(product: Product) -> Callable[[], Any]:
    verification = product.invoke_start({"phoneNumber": NUMBER, "owner": "workflow-a"})["id"]
    return lambda: product.invoke_report({"id": verification, "owner": "workflow-b"})


def _sinch_fault(**rule: Any) -> Callable[[Product], Callable[[], Any]]:
    def arrange(product: Product) -> Callable[[], Any]:
        product.fault(method="POST", **rule)
        return lambda: product.invoke_start({"phoneNumber": NUMBER})

    return arrange


def _start_with(event: Any) -> Callable[[Product], Callable[[], Any]]:
    return lambda product: lambda: product.invoke_start(event)


def _report_with(event: Any) -> Callable[[Product], Callable[[], Any]]:
    return lambda product: lambda: product.invoke_report(event)


DIRECT_ROWS: list[tuple[str, str, Callable[[Product], Callable[[], Any]]]] = [
    ("InvalidRequest", "no-number", _start_with({"method": "sms"})),
    ("InvalidRequest", "number-type", _start_with({"phoneNumber": 46700000101})),
    ("InvalidRequest", "bad-number", _start_with({"phoneNumber": "+4813"})),
    ("InvalidRequest", "list-event", _start_with([NUMBER])),
    ("InvalidRequest", "string-event", _report_with("text")),
    ("InvalidRequest", "code-and-cli", _report_with({"id": UNKNOWN_ID, "code": "1234", "cli": "+4612345"})),
    ("VerificationNotFound", "unknown-id", _report_with({"id": UNKNOWN_ID, "code": "123456"})),
    ("VerificationNotFound", "unknown-status", _report_with({"id": UNKNOWN_ID})),
    ("VerificationNotFound", "bad-id", _report_with({"id": "../../etc/passwd"})),
    ("VerificationNotFound", "no-id", _report_with({})),
    ("VerificationNotFound", "other-owner", _not_found_for_another_owner),
    ("VerificationExpired", "expired", _expired),
    ("AlreadyVerified", "verified", _already_verified),
    ("TooManyAttempts", "attempts", _too_many_attempts),
    ("RateLimited", "second-start", _rate_limited),
    ("DestinationDenied", "premium-rate", _start_with({"phoneNumber": PREMIUM_RATE})),
    ("DestinationDenied", "sinch-403", _sinch_fault(kind="status", status=403, errorCode=40300)),
    ("ProviderRejected", "sinch-400", _sinch_fault(kind="status", status=400, errorCode=40001)),
    ("ProviderUnavailable", "sinch-503", _sinch_fault(kind="status", status=503)),
    ("ProviderUnavailable", "sinch-429", _sinch_fault(kind="status", status=429, errorCode=42900)),
    ("ProviderUnavailable", "sinch-drop", _sinch_fault(kind="drop")),
]


class TestErrorTableForDirectInvocation:
    @pytest.mark.parametrize(
        ("name", "arrange"), [(row[0], row[2]) for row in DIRECT_ROWS], ids=[row[1] for row in DIRECT_ROWS]
    )
    def test_errors_are_raised_under_the_designs_names(
        self, product: Product, name: str, arrange: Callable[[Product], Callable[[], Any]]
    ) -> None:
        call = arrange(product)
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the class name is what is checked
            call()
        assert type(raised.value).__name__ == name
        private(str(raised.value), NUMBER, PREMIUM_RATE)

    @pytest.mark.usefixtures("broken_secret")
    def test_internal_error_for_a_broken_secret(self, product: Product) -> None:
        assert error_name(lambda: product.invoke_start({"phoneNumber": NUMBER})) == "InternalError"
        assert error_name(lambda: product.invoke_report({"id": UNKNOWN_ID})) == "InternalError"
