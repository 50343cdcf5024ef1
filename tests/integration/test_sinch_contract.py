"""Contract: the product's Sinch client against the Sinch sandbox over loopback HTTP.

Every operation and method, both auth schemes, every error group, retries that can and cannot happen,
and timeouts. The sandbox checks signatures with its own independent implementation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from phone_verification.sinch import (
    CalloutStart,
    CliReport,
    CodeReport,
    CodeType,
    Credentials,
    FlashcallStart,
    Method,
    SinchAuthenticationFailed,
    SinchCall,
    SinchClient,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
    SmsStart,
    Status,
    WhatsappStart,
)
from sinch_sandbox import SandboxServer

CREDENTIALS = Credentials("sandbox-key", "c2FuZGJveC1zZWNyZXQ=")
NUMBER = "+46700000001"
START_PATH = "/verification/v1/verifications"


@pytest.fixture(params=["signed", "basic"])
def client(request: pytest.FixtureRequest, sandbox: SandboxServer) -> SinchClient:
    return SinchClient(CREDENTIALS, base_url=sandbox.url, auth_scheme=request.param, read_timeout=2.0)


def sinch_requests(sandbox: SandboxServer, operation: str | None = None) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests_log() if operation is None or r["operation"] == operation]


def last_message(sandbox: SandboxServer, number: str = NUMBER) -> dict[str, Any]:
    messages: list[dict[str, Any]] = sandbox.inbox(number)["messages"]
    return messages[-1]


def last_call(sandbox: SandboxServer, number: str = NUMBER) -> dict[str, Any]:
    calls: list[dict[str, Any]] = sandbox.inbox(number)["calls"]
    return calls[-1]


class TestOperations:
    def test_sms_with_chosen_code_language_and_expiry(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        sandbox.configure(wrong_code_ends_verification=False)  # an account that lets users try again
        started = client.start(
            SmsStart(number=NUMBER, code="482913", expiry_seconds=120, locale="sv-SE", reference="ref-sms-1")
        )
        assert started.method is Method.SMS
        assert started.sms is not None
        assert started.sms.interception_timeout == 120
        assert started.content_language == "sv-SE"
        assert {link.rel for link in started.links} == {"status", "report"}
        assert all(link.href.startswith(sandbox.url) for link in started.links)
        assert last_message(sandbox)["code"] == "482913"

        assert client.report(started.id, CodeReport(Method.SMS, "000000")).status is Status.FAIL
        result = client.report(started.id, CodeReport(Method.SMS, "482913"))
        assert (result.id, result.status) == (started.id, Status.SUCCESSFUL)

        status = client.status(started.id)
        assert (status.status, status.reference, status.country_id) == (Status.SUCCESSFUL, "ref-sms-1", "SE")
        assert status.number == NUMBER
        assert status.verified_at is not None
        assert client.status_by_reference("ref-sms-1").id == started.id
        assert client.status_by_number(NUMBER, Method.SMS).id == started.id

    def test_sms_code_type(self, client: SinchClient, sandbox: SandboxServer) -> None:
        started = client.start(SmsStart(number=NUMBER, code_type=CodeType.ALPHA))
        assert started.sms is not None
        assert started.sms.code_type == "Alpha"
        assert last_message(sandbox)["code"].isalpha()

    def test_a_default_account_takes_no_report_after_a_wrong_code(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        started = client.start(SmsStart(number=NUMBER, code="482913"))
        failed = client.report(started.id, CodeReport(Method.SMS, "000000"))
        assert (failed.status, failed.reason) == (Status.FAIL, "Invalid code")
        with pytest.raises(SinchRequestRejected) as caught:
            client.report(started.id, CodeReport(Method.SMS, "482913"))
        assert (caught.value.http_status, caught.value.error_code) == (400, 40003)
        assert client.status(started.id).status is Status.FAIL

    def test_flashcall_with_cli_in_the_start_answer(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        sandbox.configure(flashcall_returns_cli=True, wrong_code_ends_verification=False)
        started = client.start(FlashcallStart(number=NUMBER, dial_timeout=20, interception_timeout=30))
        details = started.flashcall
        assert details is not None
        assert details.cli is not None
        assert details.cli == last_call(sandbox)["cli"]
        assert details.interception_timeout == 30
        assert client.report(started.id, CliReport("+46000000000")).reason == "Invalid CLI"
        assert client.report(started.id, CliReport(details.cli)).status is Status.SUCCESSFUL

    def test_flashcall_without_cli_reported_by_number(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        sandbox.configure(flashcall_returns_cli=False)
        started = client.start(FlashcallStart(number=NUMBER))
        assert started.flashcall is not None
        assert started.flashcall.cli is None
        assert started.flashcall.cli_filter
        result = client.report_by_number(NUMBER, CliReport(last_call(sandbox)["cli"]))
        assert (result.id, result.status, result.call_complete) == (started.id, Status.SUCCESSFUL, True)

    def test_callout_with_speech_locale(self, client: SinchClient, sandbox: SandboxServer) -> None:
        started = client.start(CalloutStart(number=NUMBER, locale="fr-FR"))
        assert started.method is Method.CALLOUT
        assert started.callout is not None
        call = last_call(sandbox)
        assert call["method"] == "callout"
        assert client.report(started.id, CodeReport(Method.CALLOUT, call["code"])).status is Status.SUCCESSFUL

    def test_whatsapp(self, client: SinchClient, sandbox: SandboxServer) -> None:
        started = client.start(WhatsappStart(number=NUMBER, code_type=CodeType.NUMERIC))
        assert started.method is Method.WHATSAPP
        code = last_message(sandbox)["code"]
        assert client.report(started.id, CodeReport(Method.WHATSAPP, code)).status is Status.SUCCESSFUL

    def test_new_start_aborts_the_previous_and_expiry_fails_reports(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        sandbox.configure(finished_report_answer="status")  # an account that answers with the status
        first = client.start(SmsStart(number=NUMBER))
        second = client.start(SmsStart(number=NUMBER))
        assert client.status(first.id).status is Status.ABORTED
        sandbox.advance_time(601)
        expired = client.report(second.id, CodeReport(Method.SMS, last_message(sandbox)["code"]))
        assert (expired.status, expired.reason) == (Status.FAIL, "Expired")

    def test_report_by_id_keeps_the_number_out_of_the_url(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        started = client.start(SmsStart(number=NUMBER))
        client.report(started.id, CodeReport(Method.SMS, last_message(sandbox)["code"]))
        report = sinch_requests(sandbox, "report")[-1]
        assert NUMBER not in report["path"]
        assert "%2B" not in report["path"]


class TestErrors:
    def test_unknown_id_is_not_found(self, client: SinchClient) -> None:
        with pytest.raises(SinchNotFound) as caught:
            client.status("no-such-id")
        assert (caught.value.http_status, caught.value.error_code) == (404, 40400)

    @pytest.mark.parametrize(("number", "code"), [("+4813", 40001), ("+46abc", 40001)])
    def test_invalid_number_is_a_rejected_request(self, client: SinchClient, number: str, code: int) -> None:
        with pytest.raises(SinchRequestRejected) as caught:
            client.start(SmsStart(number=number))
        assert caught.value.error_code == code
        assert number not in str(caught.value)

    def test_reused_reference_is_a_conflict(self, client: SinchClient) -> None:
        client.start(SmsStart(number=NUMBER, reference="once"))
        with pytest.raises(SinchRequestRejected) as caught:
            client.start(SmsStart(number="+46700000002", reference="once"))
        assert caught.value.error_code == 40900

    @pytest.mark.parametrize("scheme", ["signed", "basic"])
    def test_wrong_secret_is_an_authentication_failure(self, sandbox: SandboxServer, scheme: Any) -> None:
        client = SinchClient(Credentials("sandbox-key", "d3Jvbmc="), base_url=sandbox.url, auth_scheme=scheme)
        with pytest.raises(SinchAuthenticationFailed) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.error_code == (40102 if scheme == "signed" else 40108)
        assert sandbox.inbox(NUMBER)["messages"] == []

    def test_clock_skew_beyond_the_window_is_an_authentication_failure(self, sandbox: SandboxServer) -> None:
        from datetime import UTC, datetime, timedelta

        skewed = SinchClient(
            CREDENTIALS, base_url=sandbox.url, clock=lambda: datetime.now(UTC) - timedelta(minutes=20)
        )
        with pytest.raises(SinchAuthenticationFailed) as caught:
            skewed.status("x")
        assert caught.value.error_code == 40101

    def test_rate_limit_with_retry_after(self, client: SinchClient, sandbox: SandboxServer) -> None:
        sandbox.add_fault({"kind": "status", "status": 429, "errorCode": 42900, "retryAfter": 3})
        with pytest.raises(SinchRateLimited) as caught:
            client.start(SmsStart(number=NUMBER))
        assert (caught.value.error_code, caught.value.retry_after) == (42900, 3.0)

    @pytest.mark.parametrize(
        "fault",
        [
            {"kind": "status", "status": 503},
            {"kind": "status", "status": 500, "errorCode": 50000},
            {"kind": "malformed"},
            {"kind": "drop"},
        ],
    )
    def test_outages_are_unavailable_and_a_start_is_never_repeated(
        self, client: SinchClient, sandbox: SandboxServer, fault: dict[str, Any]
    ) -> None:
        sandbox.add_fault({**fault, "count": 5})
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.request_sent is True
        assert len(sinch_requests(sandbox, "start")) == 1

    def test_a_start_slower_than_the_read_timeout_times_out_once(self, sandbox: SandboxServer) -> None:
        client = SinchClient(CREDENTIALS, base_url=sandbox.url, read_timeout=0.3)
        sandbox.add_fault({"kind": "delay", "seconds": 1.0})
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER, reference="slow-1"))
        assert caught.value.request_sent is True
        assert caught.value.http_status is None
        # Sinch did start it (the delay came after the work): findable by reference, sent exactly once.
        assert client.status_by_reference("slow-1").status is Status.PENDING
        deadline = time.monotonic() + 3  # the sandbox logs the start once its delayed answer is written
        while not sinch_requests(sandbox, "start") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sinch_requests(sandbox, "start")) == 1
        assert len(sandbox.inbox(NUMBER)["messages"]) == 1

    def test_status_reads_are_retried_through_outages(
        self, client: SinchClient, sandbox: SandboxServer
    ) -> None:
        started = client.start(SmsStart(number=NUMBER))
        sandbox.add_fault({"kind": "status", "status": 503, "count": 2, "method": "GET"})
        assert client.status(started.id).status is Status.PENDING
        assert len(sinch_requests(sandbox, "status")) == 3

    def test_dropped_status_read_is_retried(self, client: SinchClient, sandbox: SandboxServer) -> None:
        started = client.start(SmsStart(number=NUMBER))
        sandbox.add_fault({"kind": "drop", "count": 1, "method": "GET"})
        assert client.status(started.id).id == started.id

    def test_reports_are_never_repeated(self, client: SinchClient, sandbox: SandboxServer) -> None:
        started = client.start(SmsStart(number=NUMBER))
        sandbox.add_fault({"kind": "status", "status": 503, "count": 3, "method": "PUT"})
        with pytest.raises(SinchUnavailable):
            client.report(started.id, CodeReport(Method.SMS, "1234"))
        assert len(sinch_requests(sandbox, "report")) == 1

    def test_connection_refused_never_reached_sinch(self) -> None:
        import socket

        with socket.socket() as probe:  # a port that nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = SinchClient(CREDENTIALS, base_url=f"http://127.0.0.1:{port}", retries=1)
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.request_sent is False


def test_one_connection_is_reused_across_calls(sandbox: SandboxServer) -> None:
    calls: list[SinchCall] = []
    client = SinchClient(CREDENTIALS, base_url=sandbox.url, on_call=calls.append)
    started = client.start(SmsStart(number=NUMBER))
    for _ in range(5):
        client.status(started.id)
    adapter: Callable[..., Any] = client._session.get_adapter(sandbox.url + "/")  # type: ignore[assignment]
    pools = adapter.poolmanager.pools  # type: ignore[attr-defined]
    assert len(pools.keys()) == 1
    pool = pools[next(iter(pools.keys()))]
    assert pool.num_connections == 1
    assert [c.operation for c in calls] == ["start"] + ["status"] * 5
