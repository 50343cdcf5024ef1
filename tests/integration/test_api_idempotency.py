"""Idempotent starts: a retried start with the same Idempotency-Key (HTTP) or ``idempotencyKey`` (direct
invocation) returns the first result and sends nothing; a reused key with another request is refused."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.integration.conftest import NUMBER, OTHER_NUMBER, STRANGER, Product, error_name, problem

KEY = {"Idempotency-Key": "signup-42"}


class TestIdempotencyKeyOverHttp:
    def test_a_retried_start_replays_the_first_answer_and_sends_one_sms(self, product: Product) -> None:
        first = product.start(reference="signup-42", headers=KEY)
        again = product.start(reference="signup-42", headers=KEY)

        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert again.json() == first.json()
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert len(product.sinch_requests("start")) == 1
        assert len(product.inbox()["messages"]) == 1

    def test_the_replay_is_the_first_answer_even_after_the_verification_moved_on(
        self, product: Product
    ) -> None:
        first = product.start(headers=KEY).json()
        product.report(first["id"], {"code": product.code()})

        again = product.start(headers=KEY)
        assert again.json() == first
        assert product.state(first["id"])["status"] == "SUCCESSFUL"
        assert len(product.inbox()["messages"]) == 1

    @pytest.mark.parametrize(
        "change",
        [{"phoneNumber": OTHER_NUMBER}, {"method": "callout"}, {"reference": "other"}, {"code": "5555"}],
        ids=["number", "method", "reference", "code"],
    )
    def test_the_same_key_with_another_request_is_refused(
        self, product: Product, change: dict[str, str]
    ) -> None:
        product.start(headers=KEY)
        fields = {"phoneNumber": NUMBER, **change}
        number = fields.pop("phoneNumber")

        refused = problem(product.start(number, headers=KEY, **fields), 409, "conflict")

        assert "Idempotency-Key" in refused["detail"]
        assert len(product.sinch_requests("start")) == 1

    def test_keys_belong_to_their_caller(self, product: Product) -> None:
        """Another caller's identical key is not a replay (it would reveal the first caller's id): it is a
        start of its own, which the number's rate limit then refuses."""
        product.start(headers=KEY)
        problem(product.start(headers=KEY, principal=STRANGER), 429, "rate_limited", retry_after=True)
        assert len(product.sinch_requests("start")) == 1

    @pytest.mark.parametrize("key", ["has space", "x" * 256, ""], ids=["space", "too-long", "empty"])
    def test_a_malformed_key_is_refused(self, product: Product, key: str) -> None:
        problem(product.start(headers={"Idempotency-Key": key}), 422, "invalid_request")
        assert product.sinch_requests() == []

    def test_a_retry_while_the_first_is_still_running_is_told_to_come_back(self, product: Product) -> None:
        """Sinch takes a second to answer the first start; the retry that arrives meanwhile gets 429 with
        Retry-After 1 instead of a second SMS, and a retry after that replays the first answer."""
        product.fault(kind="delay", seconds=1.0, method="POST")
        first: list[requests.Response] = []
        thread = threading.Thread(target=lambda: first.append(product.start(headers=KEY)))
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while not product.inbox()["messages"] and time.monotonic() < deadline:
                time.sleep(0.02)
            meanwhile = product.start(headers=KEY)
        finally:
            thread.join(10)

        refused = problem(meanwhile, 429, "rate_limited", retry_after=True)
        assert meanwhile.headers["Retry-After"] == "1"
        assert "still running" in refused["detail"]
        assert first[0].status_code == 201, first[0].text
        replay = product.start(headers=KEY)
        assert replay.json() == first[0].json()
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert len(product.inbox()["messages"]) == 1


EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:VerifyPhone:3f0c2a71-8d4b-4c6e-9a57-1b2c3d4e5f60"


class TestIdempotencyKeyForDirectInvocation:
    def test_a_retried_invocation_returns_the_first_result(self, product: Product) -> None:
        """Step Functions retries the start task with the execution id as the key: one SMS."""
        event = {"phoneNumber": NUMBER, "method": "sms", "idempotencyKey": EXECUTION}
        first = product.invoke_start(event)
        again = product.invoke_start(event)

        assert again == first
        assert "_replayed" not in again
        assert len(product.inbox()["messages"]) == 1

    def test_the_same_key_with_another_request_is_a_conflict(self, product: Product) -> None:
        product.invoke_start({"phoneNumber": NUMBER, "idempotencyKey": "execution-1"})
        name = error_name(
            lambda: product.invoke_start({"phoneNumber": OTHER_NUMBER, "idempotencyKey": "execution-1"})
        )
        assert name == "Conflict"
        assert product.inbox(OTHER_NUMBER)["messages"] == []

    def test_a_malformed_key_is_invalid(self, product: Product) -> None:
        assert error_name(lambda: product.invoke_start({"phoneNumber": NUMBER, "idempotencyKey": 42})) == (
            "InvalidRequest"
        )
