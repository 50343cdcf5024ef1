"""The Sinch client's requests, error groups and credential refresh, over an in-memory transport."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from phone_verification.sinch import (
    CliReport,
    CodeReport,
    Credentials,
    Method,
    SinchAuthenticationFailed,
    SinchCall,
    SinchClient,
    SinchError,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
    SmsStart,
    Status,
)
from phone_verification.sinch.signing import signature
from tests.fakes import CannedHttp, CannedReply

BASE = "https://sinch.test"
CREDS = Credentials("app-key", "c2FuZGJveC1zZWNyZXQ=")
NUMBER = "+46700000001"
NOW = datetime(2026, 11, 25, 18, 0, 0, 123_000, tzinfo=UTC)

Reply = CannedReply


FakeSinch = CannedHttp


def client_with(
    *replies: Reply, credentials: Any = CREDS, auth_scheme: Any = "signed", **kwargs: Any
) -> tuple[SinchClient, FakeSinch]:
    fake = FakeSinch(*replies)
    session = requests.Session()
    session.mount(BASE, fake)
    client = SinchClient(
        credentials, base_url=BASE, auth_scheme=auth_scheme, session=session, clock=lambda: NOW, **kwargs
    )
    return client, fake


def ok(body: Any, **headers: str) -> Reply:
    return (200, body, headers)


def sinch_error(status: int, code: int, **headers: str) -> Reply:
    return (
        status,
        {"errorCode": code, "message": f"Number {NUMBER} is invalid.", "reference": "ref-9"},
        headers,
    )


class TestWhatIsSent:
    def test_start_is_signed_over_the_exact_bytes_sent(self) -> None:
        client, fake = client_with(ok({"id": "v1", "method": "sms", "sms": {"interceptionTimeout": 60}}))
        client.start(SmsStart(number=NUMBER, code="123456", locale="es-ES"))
        request = fake.sent[0]
        assert (request.method, request.url) == ("POST", f"{BASE}/verification/v1/verifications")
        body = request.body
        assert isinstance(body, bytes)
        assert json.loads(body)["smsOptions"] == {"code": "123456"}
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert request.headers["Accept-Language"] == "es-ES"
        assert request.headers["x-timestamp"] == "2026-11-25T18:00:00.123Z"
        expected = signature(
            CREDS.application_secret,
            verb="POST",
            body=body,
            content_type="application/json; charset=utf-8",
            timestamp="2026-11-25T18:00:00.123Z",
            path="/verification/v1/verifications",
        )
        assert request.headers["Authorization"] == f"Application app-key:{expected}"

    def test_status_get_has_no_body_and_no_content_type(self) -> None:
        client, fake = client_with(ok({"id": "v1", "method": "sms", "status": "PENDING"}))
        client.status("v1")
        request = fake.sent[0]
        assert request.body is None
        assert "Content-Type" not in request.headers
        expected = signature(
            CREDS.application_secret,
            verb="GET",
            body=b"",
            content_type="",
            timestamp="2026-11-25T18:00:00.123Z",
            path="/verification/v1/verifications/id/v1",
        )
        assert request.headers["Authorization"] == f"Application app-key:{expected}"

    def test_base_url_path_prefix_is_part_of_the_signed_path(self) -> None:
        fake = FakeSinch(ok({"id": "v1", "method": "sms", "status": "PENDING"}))
        session = requests.Session()
        session.mount("https://proxy.test", fake)
        client = SinchClient(CREDS, base_url="https://proxy.test/sinch/", session=session, clock=lambda: NOW)
        client.status("v1")
        assert fake.sent[0].url == "https://proxy.test/sinch/verification/v1/verifications/id/v1"
        expected = signature(
            CREDS.application_secret,
            verb="GET",
            body=b"",
            content_type="",
            timestamp="2026-11-25T18:00:00.123Z",
            path="/sinch/verification/v1/verifications/id/v1",
        )
        assert fake.sent[0].headers["Authorization"].endswith(expected)

    def test_basic_auth_sends_no_timestamp(self) -> None:
        client, fake = client_with(
            ok({"id": "v1", "method": "sms", "status": "PENDING"}), auth_scheme="basic"
        )
        client.status("v1")
        assert fake.sent[0].headers["Authorization"].startswith("Basic ")
        assert "x-timestamp" not in fake.sent[0].headers

    def test_unknown_auth_scheme_is_a_configuration_error(self) -> None:
        with pytest.raises(ValueError, match="auth scheme"):
            SinchClient(CREDS, auth_scheme="bearer")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("call", "path"),
        [
            (
                lambda c: c.status_by_reference("order 42/a"),
                "/verification/v1/verifications/reference/order%2042%2Fa",
            ),
            (
                lambda c: c.status_by_number(NUMBER, Method.FLASHCALL),
                f"/verification/v1/verifications/flashcall/number/{NUMBER}",
            ),
        ],
    )
    def test_path_segments_keep_plus_and_escape_the_rest(self, call: Any, path: str) -> None:
        client, fake = client_with(ok({"id": "v1", "method": "flashcall", "status": "PENDING"}))
        call(client)
        assert fake.sent[0].path_url == path

    def test_report_by_id_and_by_number(self) -> None:
        client, fake = client_with(
            ok({"id": "v1", "method": "sms", "status": "SUCCESSFUL"}),
            ok(
                {
                    "id": "v2",
                    "method": "flashcall",
                    "status": "FAIL",
                    "reason": "Invalid CLI",
                    "callComplete": True,
                }
            ),
        )
        first = client.report("v1", CodeReport(Method.SMS, "1234"))
        second = client.report_by_number(NUMBER, CliReport("+18156540001"))
        assert (first.status, second.status, second.reason) == (Status.SUCCESSFUL, Status.FAIL, "Invalid CLI")
        assert [r.method for r in fake.sent] == ["PUT", "PUT"]
        assert fake.sent[0].path_url == "/verification/v1/verifications/id/v1"
        assert fake.sent[1].path_url == f"/verification/v1/verifications/number/{NUMBER}"

    def test_content_language_of_the_start_answer_is_kept(self) -> None:
        client, _ = client_with(ok({"id": "v1", "method": "sms", "sms": {}}, **{"Content-Language": "sv-SE"}))
        assert client.start(SmsStart(number=NUMBER, locale="sv-SE")).content_language == "sv-SE"

    def test_every_exchange_is_reported_to_the_on_call_hook(self) -> None:
        calls: list[SinchCall] = []
        client, _ = client_with(
            ok({"id": "v1", "method": "sms", "status": "PENDING"}),
            sinch_error(404, 40400),
            on_call=calls.append,
        )
        client.status("v1")
        with pytest.raises(SinchNotFound):
            client.status("v2")
        assert [(c.operation, c.http_status) for c in calls] == [("status", 200), ("status", 404)]
        assert all(c.seconds >= 0 for c in calls)


class TestErrorGroups:
    @pytest.mark.parametrize(
        ("reply", "error_type", "code"),
        [
            (sinch_error(400, 40001), SinchRequestRejected, 40001),
            (sinch_error(403, 40300), SinchRequestRejected, 40300),
            (sinch_error(404, 40400), SinchNotFound, 40400),
            (sinch_error(409, 40900), SinchRequestRejected, 40900),
            (sinch_error(422, 42201), SinchRequestRejected, 42201),
            (sinch_error(429, 42900), SinchRateLimited, 42900),
            (sinch_error(500, 50000), SinchUnavailable, 50000),
            (sinch_error(503, 50300), SinchUnavailable, 50300),
            ((502, b"<html>Bad gateway</html>", {}), SinchUnavailable, None),
            ((302, b"", {"Location": "https://elsewhere"}), SinchUnavailable, None),
        ],
    )
    def test_status_codes_map_to_error_groups(
        self, reply: Reply, error_type: type[SinchError], code: int | None
    ) -> None:
        client, _ = client_with(reply)
        with pytest.raises(error_type) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.error_code == code
        # The exception's text names the group and codes, never Sinch's message (it may quote the number).
        assert NUMBER not in str(caught.value)

    def test_rejected_error_keeps_sinchs_message_and_reference_for_the_caller(self) -> None:
        client, _ = client_with(sinch_error(400, 40001))
        with pytest.raises(SinchRequestRejected) as caught:
            client.start(SmsStart(number=NUMBER))
        assert (caught.value.http_status, caught.value.reference) == (400, "ref-9")
        assert "invalid" in caught.value.message

    def test_rate_limit_carries_retry_after(self) -> None:
        client, _ = client_with(sinch_error(429, 42901, **{"Retry-After": "7"}))
        with pytest.raises(SinchRateLimited) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.retry_after == 7.0

    @pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
    def test_success_status_with_unreadable_body_is_unavailable(self, body: bytes) -> None:
        client, _ = client_with((200, body, {}))
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.request_sent is True

    def test_error_without_sinch_body_still_maps(self) -> None:
        client, _ = client_with((401, b"Unauthorized", {}))
        with pytest.raises(SinchAuthenticationFailed) as caught:
            client.status("v1")
        assert (caught.value.http_status, caught.value.error_code) == (401, None)

    def test_refused_connection_never_reached_sinch(self) -> None:
        refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))  # type: ignore[arg-type]
        client, _ = client_with(refused)
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.request_sent is False

    def test_connect_timeout_never_reached_sinch(self) -> None:
        client, _ = client_with(requests.ConnectTimeout("connect timed out"))
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.request_sent is False

    @pytest.mark.parametrize(
        "error",
        [
            requests.ReadTimeout("read timed out"),
            requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())),
        ],
    )
    def test_timeout_or_drop_after_sending_may_have_reached_sinch(self, error: Exception) -> None:
        client, _ = client_with(error)
        with pytest.raises(SinchUnavailable) as caught:
            client.start(SmsStart(number=NUMBER))
        assert caught.value.request_sent is True


@dataclass
class RotatingSecret:
    """A credentials provider whose secret was rotated: the cached value is stale until refreshed."""

    cached: Credentials
    current: Credentials
    refreshes: int = 0
    seen: list[bool] = field(default_factory=list)

    def get(self, *, force_refresh: bool = False) -> Credentials:
        self.seen.append(force_refresh)
        if force_refresh:
            self.refreshes += 1
            self.cached = self.current
        return self.cached


class TestCredentialRefresh:
    def test_a_401_refetches_the_secret_and_retries_once(self) -> None:
        provider = RotatingSecret(cached=CREDS, current=Credentials("app-key", "bmV3LXNlY3JldA=="))
        client, fake = client_with(
            sinch_error(401, 40102), ok({"id": "v1", "method": "sms", "sms": {}}), credentials=provider
        )
        assert client.start(SmsStart(number=NUMBER)).id == "v1"
        assert provider.refreshes == 1
        assert len(fake.sent) == 2
        assert fake.sent[0].headers["Authorization"] != fake.sent[1].headers["Authorization"]

    def test_a_second_401_is_an_authentication_failure(self) -> None:
        provider = RotatingSecret(cached=CREDS, current=Credentials("app-key", "bmV3LXNlY3JldA=="))
        client, fake = client_with(sinch_error(401, 40102), sinch_error(401, 40102), credentials=provider)
        with pytest.raises(SinchAuthenticationFailed):
            client.start(SmsStart(number=NUMBER))
        assert len(fake.sent) == 2

    def test_unchanged_secret_is_not_retried(self) -> None:
        provider = RotatingSecret(cached=CREDS, current=CREDS)
        client, fake = client_with(sinch_error(401, 40102), credentials=provider)
        with pytest.raises(SinchAuthenticationFailed):
            client.status("v1")
        assert len(fake.sent) == 1
        assert provider.seen == [False, True]


def test_logs_never_hold_code_number_secret_or_authorization(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, fake = client_with(
        sinch_error(400, 40001),
        requests.ReadTimeout("read timed out"),
        (200, b"<html>", {}),
    )
    for _ in range(3):
        with pytest.raises((SinchRequestRejected, SinchUnavailable)):
            client.start(SmsStart(number=NUMBER, code="987654"))
    assert caplog.records, "failures are logged"
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    authorization = fake.sent[0].headers["Authorization"]
    for secret in ("987654", NUMBER, CREDS.application_secret, authorization.split(":")[1]):
        assert secret not in text
