"""Deployment settings that change what callers see, on a stack of their own: a country allow-list, and
Sinch generating the SMS codes (so Sinch decides every SMS report)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import (
    NUMBER,
    SINCH_PREFIX,
    Deployment,
    Product,
    error_name,
    fresh_product,
    private,
    problem,
    verification_of,
    wrong,
)

NORWAY = "+4791234567"
FINLAND = "+358401234567"


@pytest.fixture
def policy(policy_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    """ALLOWED_COUNTRIES=SE,NO and SMS_CODE_SOURCE=sinch."""
    yield from fresh_product(policy_deployment, monkeypatch)


class TestCountryAllowList:
    def test_a_country_outside_the_list_is_destination_denied(self, policy: Product) -> None:
        response = policy.start(FINLAND)
        problem(response, 403, "destination_denied")
        private(response.text, FINLAND)
        assert policy.sinch_requests() == []
        assert policy.items() == []

    def test_countries_on_the_list_are_verified(self, policy: Product) -> None:
        assert policy.start(NUMBER).status_code == 201
        assert policy.start(NORWAY, method="callout").status_code == 201

    def test_premium_rate_numbers_stay_refused(self, policy: Product) -> None:
        problem(policy.start("+46900123456"), 403, "destination_denied")

    def test_a_direct_invocation_is_refused_by_name(self, policy: Product) -> None:
        assert error_name(lambda: policy.invoke_start({"phoneNumber": FINLAND})) == "DestinationDenied"


class TestSinchGeneratedCodes:
    def test_sinch_decides_every_sms_report(self, policy: Product) -> None:
        """Sinch chose the code, so the service cannot check it: each report goes to Sinch by id, and a
        wrong one ends the verification as a default account does (the user asks for a new code)."""
        verification = policy.started()["id"]
        code = policy.code()
        assert verification_of(policy.inbox()["messages"][-1]) == verification

        typo = policy.report(verification, {"code": wrong(code)})
        assert (typo.json()["status"], typo.json()["attemptsRemaining"]) == ("FAIL", 0)
        problem(policy.report(verification, {"code": code}), 429, "too_many_attempts")

        policy.advance(31)
        again = policy.started()["id"]
        right = policy.report(again, {"code": policy.code()})
        assert right.json()["status"] == "SUCCESSFUL"
        private(right.text, NUMBER, code)
        assert [r["path"] for r in policy.sinch_requests("report")] == [
            f"{SINCH_PREFIX}/id/{policy.sinch_id(verification)}",
            f"{SINCH_PREFIX}/id/{policy.sinch_id(again)}",
        ]

    def test_a_sinch_outage_on_report_refunds_the_attempt(self, policy: Product) -> None:
        verification = policy.started()["id"]
        policy.fault(kind="status", status=503, method="PUT")
        problem(
            policy.report(verification, {"code": policy.code()}),
            503,
            "provider_unavailable",
            retry_after=True,
        )
        assert policy.state(verification)["attemptsRemaining"] == 5

    def test_a_caller_chosen_code_is_still_checked_by_the_service(self, policy: Product) -> None:
        verification = policy.started(code="7391")["id"]
        assert policy.code() == "7391"
        assert policy.report(verification, {"code": "0000"}).json()["attemptsRemaining"] == 4
        assert policy.sinch_requests("report") == []
        assert policy.report(verification, {"code": "7391"}).json()["status"] == "SUCCESSFUL"
        assert len(policy.sinch_requests("report")) == 1
