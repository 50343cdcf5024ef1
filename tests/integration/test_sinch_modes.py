"""The product over HTTP under every Sinch account mode the sandbox can play (README, "Sinch account
modes"): whether a flashcall start returns the CLI, whether a wrong code ends a verification, whether
``smsOptions.code`` is honoured, and what a report on a finished verification gets; plus verifications
Sinch denies or cannot deliver. In every combination: no 5xx, and no success Sinch would not have given.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from phone_verification import runtime
from tests.integration.conftest import Deployment, Product, fresh_product, launch, problem, wrong


@dataclass(frozen=True)
class Mode:
    flashcall_returns_cli: bool
    wrong_code_ends_verification: bool
    honour_custom_code: bool
    finished_report_answer: str

    @property
    def id(self) -> str:
        return "-".join(
            (
                "cli" if self.flashcall_returns_cli else "nocli",
                "ends" if self.wrong_code_ends_verification else "open",
                "code" if self.honour_custom_code else "owncode",
                self.finished_report_answer,
            )
        )


MODES = [
    Mode(*combination)
    for combination in itertools.product(
        (False, True), (True, False), (True, False), ("invalid_request", "not_found", "status")
    )
]
DEFAULT = Mode(False, True, True, "invalid_request")
NUMBER = "+46700000401"


@pytest.fixture(params=MODES, ids=lambda mode: mode.id)
def mode(request: pytest.FixtureRequest, product: Product) -> Mode:
    """The session's product against a sandbox in this account mode."""
    chosen: Mode = request.param
    product.sandbox.configure(**chosen.__dict__)
    return chosen


def started(product: Product, method: str, number: str = NUMBER) -> str:
    response = product.start(number, method=method)
    assert response.status_code == 201, response.text
    verification: str = response.json()["id"]
    return verification


def secret(product: Product, method: str, number: str = NUMBER) -> str:
    """What the user's phone got: the code, or for a flashcall the calling number."""
    if method == "flashcall":
        return product.cli(number)
    return product.spoken_code(number) if method == "callout" else product.code(number)


def report(product: Product, verification: str, method: str, value: str) -> requests.Response:
    response = product.report(verification, {"cli" if method == "flashcall" else "code": value})
    assert response.status_code < 500, response.text
    return response


def status(response: requests.Response) -> str:
    value: str = response.json().get("status") or response.json().get("code")
    return value


class TestEveryMode:
    def test_the_right_code_verifies_when_sinch_would_verify_it(self, product: Product, mode: Mode) -> None:
        for method in ("sms", "callout", "whatsapp", "flashcall"):
            product.advance(31)
            verification = started(product, method)
            answer = report(product, verification, method, secret(product, method))
            # A service-chosen SMS code that the account ignores never reached the user: the code the
            # phone shows is Sinch's own, which is not ours, so nothing may verify.
            expected = "PENDING" if method == "sms" and not mode.honour_custom_code else "SUCCESSFUL"
            assert status(answer) == expected, (method, answer.text)

    def test_a_wrong_code_then_the_right_one(self, product: Product, mode: Mode) -> None:
        for method in ("sms", "callout", "whatsapp", "flashcall"):
            product.advance(31)
            verification = started(product, method)
            right = secret(product, method)
            first = report(product, verification, method, wrong_value(method, right))
            second = report(product, verification, method, right)
            checked_here = method == "sms" or (method == "flashcall" and mode.flashcall_returns_cli)
            if checked_here:
                # The service checks it: a typo costs one attempt, and the right code still verifies.
                assert (status(first), first.json()["attemptsRemaining"]) == ("PENDING", 4)
                success = mode.honour_custom_code or method != "sms"
                assert status(second) == ("SUCCESSFUL" if success else "PENDING"), second.text
            else:
                # Sinch judges it, and a FAIL ends the verification (a default account's rule, applied
                # whatever the account does): the user starts anew.
                assert (status(first), first.json()["attemptsRemaining"]) == ("FAIL", 0)
                problem(second, 429, "too_many_attempts")

    def test_a_flashcall_reported_after_sinchs_report_timeout_has_expired(
        self, product: Product, mode: Mode
    ) -> None:
        product.advance(31)
        verification = started(product, "flashcall")
        cli = product.cli(NUMBER)
        product.advance(76)  # past Sinch's reportTimeout (75 s), well inside the product's own 600 s
        problem(report(product, verification, "flashcall", cli), 410, "expired")


def wrong_value(method: str, right: str) -> str:
    if method == "flashcall":
        return right[:-1] + ("1" if right[-1] != "1" else "2")
    return wrong(right)


class TestSinchEndsItOtherwise:
    @pytest.mark.parametrize(
        ("status_", "reason"),
        [("DENIED", "Fraud"), ("DENIED", "Blocked"), ("ERROR", "SMS delivery failure")],
    )
    @pytest.mark.parametrize("method", ["callout", "whatsapp"])
    def test_a_denied_or_undeliverable_verification_is_destination_denied(
        self, product: Product, status_: str, reason: str, method: str
    ) -> None:
        product.sandbox.add_outcome(status_, reason, number=NUMBER)
        verification = started(product, method)
        assert product.inbox(NUMBER)["messages" if method == "whatsapp" else "calls"] == []
        problem(report(product, verification, method, "1234"), 403, "destination_denied")
        problem(report(product, verification, method, "1234"), 403, "destination_denied")
        assert product.state(verification)["status"] == status_
        assert len(product.sinch_requests("report")) == 1  # final: Sinch is not asked again

    def test_a_waiting_workflow_is_resumed_with_destination_denied(self, product: Product) -> None:
        product.sandbox.add_outcome("DENIED", "Fraud")  # the next start, whatever its number
        token = "AQCEAAAAKgAAAAMAAAAAAAAAAf-denied-workflow"
        waiting = product.invoke_start({"phoneNumber": NUMBER, "method": "callout", "taskToken": token})
        event = {"id": waiting["id"], "code": "1234"}
        with pytest.raises(Exception, match="denied"):
            product.invoke_report(event)
        item = product.item(waiting["id"])
        assert item is not None
        assert "taskToken" not in item  # taken to resume the workflow (SendTaskFailure DestinationDenied)


# ------------------------------------------------------------------------- the product's own settings


@pytest.fixture(scope="module")
def lenient_deployment() -> Iterator[Deployment]:
    """A product told that its account lets users try again after a wrong code."""
    yield from launch("lenient", env={"SINCH_FAIL_ENDS_VERIFICATION": "false"})


@pytest.fixture
def lenient(lenient_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    runtime.configure(None)
    yield from fresh_product(lenient_deployment, monkeypatch)
    runtime.configure(None)


@pytest.mark.parametrize("answer", ["invalid_request", "not_found", "status"])
@pytest.mark.parametrize("ends", [True, False], ids=["account-ends", "account-open"])
def test_a_product_that_keeps_counting_is_right_with_either_account(
    lenient: Product, ends: bool, answer: str
) -> None:
    lenient.sandbox.configure(wrong_code_ends_verification=ends, finished_report_answer=answer)
    verification = started(lenient, "callout")
    right = lenient.spoken_code(NUMBER)
    first = report(lenient, verification, "callout", wrong(right))
    second = report(lenient, verification, "callout", right)
    assert (status(first), first.json()["attemptsRemaining"]) == ("PENDING", 4)
    if not ends:
        assert status(second) == "SUCCESSFUL"
    else:
        # The account ended it at the first FAIL: whatever it answers now, the user is not verified.
        assert status(second) != "SUCCESSFUL", second.text


def test_attempts_run_out_without_asking_sinch_again(lenient: Product) -> None:
    """With the deployment set to keep counting, an account that lets users try again still meets the
    product's own attempt limit: the fifth wrong code ends it, and the right one is not sent to Sinch."""
    lenient.sandbox.configure(wrong_code_ends_verification=False)
    verification = started(lenient, "callout")
    right = lenient.spoken_code(NUMBER)
    answers = [report(lenient, verification, "callout", wrong(right)).json() for _ in range(5)]
    assert [a["status"] for a in answers] == ["PENDING"] * 4 + ["FAIL"]
    problem(lenient.report(verification, {"code": right}), 429, "too_many_attempts")
    assert len(lenient.sinch_requests("report")) == 5


@pytest.fixture
def sinch_codes(policy_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    """A product with ``SmsCodeSource=sinch`` (and a Swedish/Norwegian allow-list)."""
    runtime.configure(None)
    yield from fresh_product(policy_deployment, monkeypatch)
    runtime.configure(None)


@pytest.mark.parametrize("honour", [True, False], ids=["honoured", "ignored"])
def test_sinchs_own_sms_codes_verify_whether_or_not_custom_codes_are_honoured(
    sinch_codes: Product, honour: bool
) -> None:
    """``SmsCodeSource=sinch``, the setting for an account that ignores ``smsOptions.code``: Sinch
    generates the code and judges it, so the account's choice does not matter."""
    sinch_codes.sandbox.configure(honour_custom_code=honour)
    verification = started(sinch_codes, "sms")
    assert status(report(sinch_codes, verification, "sms", sinch_codes.code(NUMBER))) == "SUCCESSFUL"
