"""The Python client (clients/python) over an in-memory transport: what it sends, how it signs, how it reads
answers and problems, and when it sends a call again. No sockets; time is a fake clock, so no test waits.
"""

from __future__ import annotations

import json
import re
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.auth
import botocore.session
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

import phone_verification_client as pvc
from phone_verification_client import BearerAuth, Client, SigV4Auth, Verification
from phone_verification_client.auth import region_of_url
from phone_verification_client.cli import exit_code
from phone_verification_client.cli import main as cli_main
from tests.fakes import CannedHttp, CannedReply

API = "https://a1b2c3d4e5.execute-api.eu-north-1.amazonaws.com"
NUMBER = "+46700000001"
CODE = "482913"
VERIFICATION_ID = "0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87"
ANSWER = {
    "id": VERIFICATION_ID,
    "method": "sms",
    "status": "PENDING",
    "attemptsRemaining": 5,
    "expiresAt": "2026-11-25T18:10:00Z",
    "sms": {"interceptionTimeout": 300, "template": "Your verification code is {{CODE}}."},
}
# Every code of README "Errors" with its HTTP status and the class a caller catches.
PROBLEMS: list[tuple[str, int, type[pvc.PhoneVerificationError]]] = [
    ("invalid_request", 422, pvc.InvalidRequest),
    ("not_found", 404, pvc.NotFound),
    ("expired", 410, pvc.Expired),
    ("cancelled", 410, pvc.Cancelled),
    ("no_channel_left", 409, pvc.NoChannelLeft),
    ("already_verified", 409, pvc.AlreadyVerified),
    ("conflict", 409, pvc.Conflict),
    ("too_many_attempts", 429, pvc.TooManyAttempts),
    ("rate_limited", 429, pvc.RateLimited),
    ("destination_denied", 403, pvc.DestinationDenied),
    ("unidentified_caller", 403, pvc.UnidentifiedCaller),
    ("provider_rejected", 422, pvc.ProviderRejected),
    ("provider_unavailable", 503, pvc.ProviderUnavailable),
    ("unavailable", 503, pvc.Unavailable),
    ("internal_error", 500, pvc.InternalError),
]

Reply = CannedReply


def problem_body(code: str, status: int) -> dict[str, Any]:
    return {
        "type": f"urn:phone-verification:problem:{code}",
        "title": f"Title of {code}",
        "status": status,
        "detail": f"Detail of {code}.",
        "code": code,
    }


def problem(code: str, status: int, **headers: str) -> Reply:
    return (status, problem_body(code, status), {"Content-Type": "application/problem+json", **headers})


def ok(body: Any = None, status: int = 200, **headers: str) -> Reply:
    return (status, ANSWER if body is None else body, {"Content-Type": "application/json", **headers})


def not_connected() -> requests.ConnectionError:
    """What requests raises when no connection could be opened (the request never left)."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, f"/verifications/number/%2B{NUMBER[1:]}", reason))  # type: ignore[arg-type]


def dropped() -> requests.ConnectionError:
    """The connection broke after the request was sent: the text holds the URL, and so a number."""
    return requests.ConnectionError(
        ProtocolError("Connection aborted.", f"RemoteDisconnected /verifications/number/%2B{NUMBER[1:]}")
    )


class FakeApi(CannedHttp):
    """The API's canned replies, with what the client sent read back."""

    def body(self, index: int = -1) -> Any:
        raw = self.sent[index].body
        assert isinstance(raw, bytes)
        return json.loads(raw)

    def paths(self) -> list[str]:
        return [re.sub(r"^https?://[^/]+", "", request.url or "") for request in self.sent]


@dataclass
class FakeTime:
    """A monotonic clock that moves only when the client sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_with(
    *replies: Reply, auth: Any = None, url: str = API, **options: Any
) -> tuple[Client, FakeApi, FakeTime]:
    fake, time = FakeApi(*replies), FakeTime()
    session = requests.Session()
    session.mount(url, fake)
    options.setdefault("jitter", lambda: 0.5)
    client = Client(url, auth=auth, session=session, clock=time.clock, sleep=time.sleep, **options)
    return client, fake, time


FROZEN = ReadOnlyCredentials(
    "ASIAEXAMPLEKEY000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session-token"
)


def resigned(request: requests.PreparedRequest, credentials: ReadOnlyCredentials, region: str) -> str:
    """The Authorization header botocore's own SigV4 signer computes for the request as it was sent: the
    same method, URL, body and signed headers, at the same X-Amz-Date."""
    authorization = request.headers["Authorization"]
    signed_names = re.search(r"SignedHeaders=([^,]+)", authorization)
    assert signed_names is not None, authorization
    names = signed_names[1].split(";")
    headers = {name: request.headers[name] for name in names if name != "host"}
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    aws_request = AWSRequest(method=request.method, url=request.url, headers=headers, data=body)
    aws_request.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = botocore.auth.SigV4Auth(credentials, "execute-api", region)
    canonical = signer.canonical_request(aws_request)
    signature = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    scope = f"{credentials.access_key}/{request.headers['X-Amz-Date'][:8]}/{region}/execute-api/aws4_request"
    signed = signer.signed_headers(signer.headers_to_sign(aws_request))
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed}, Signature={signature}"


# ------------------------------------------------------------------------------------------ what is sent


class TestWhatIsSent:
    def test_start_sends_the_fields_given_and_reads_the_answer(self) -> None:
        """Given a start with every option, then the body holds exactly those fields in the API's names and
        the answer is a typed verification with an aware expiry and Sinch's hints."""
        client, fake, _ = client_with(ok(status=201, Location=f"/verifications/{VERIFICATION_ID}"))

        started = client.start(
            NUMBER, method="sms", locale="sv-SE", reference="signup-42", channels=["sms", "callout"]
        )

        request = fake.sent[0]
        assert (request.method, fake.paths()) == ("POST", ["/verifications"])
        assert request.headers["Content-Type"] == "application/json"
        assert fake.body() == {
            "phoneNumber": NUMBER,
            "method": "sms",
            "locale": "sv-SE",
            "reference": "signup-42",
            "channels": ["sms", "callout"],
        }
        assert started.id == VERIFICATION_ID
        assert (started.method, started.status, started.attempts_remaining) == ("sms", "PENDING", 5)
        assert started.expires_at == datetime(2026, 11, 25, 18, 10, tzinfo=UTC)
        assert started.sms == ANSWER["sms"]
        assert started.flashcall is None
        assert started.raw == ANSWER
        assert started.pending
        assert not started.succeeded
        assert not started.replayed

    def test_report_by_number_encodes_the_plus_and_report_by_id_sends_the_cli(self) -> None:
        client, fake, _ = client_with(ok(), ok())

        client.report_by_number(NUMBER, code=CODE)
        client.report(VERIFICATION_ID, cli="+46815600001")

        assert fake.paths() == ["/verifications/number/%2B46700000001", f"/verifications/{VERIFICATION_ID}"]
        assert [fake.body(0), fake.body(1)] == [{"code": CODE}, {"cli": "+46815600001"}]
        assert [request.method for request in fake.sent] == ["PUT", "PUT"]

    def test_an_id_cannot_reach_another_path(self) -> None:
        client, fake, _ = client_with(problem("not_found", 404))
        with pytest.raises(pvc.NotFound):
            client.status("../verifications")
        assert fake.paths() == ["/verifications/..%2Fverifications"]

    def test_status_cancel_and_next_use_their_routes(self) -> None:
        client, fake, _ = client_with(
            ok(), ok({**ANSWER, "status": "CANCELLED"}), ok({**ANSWER, "method": "callout"})
        )

        assert client.status(VERIFICATION_ID).pending
        assert client.cancel(VERIFICATION_ID).cancelled
        advanced = client.next(VERIFICATION_ID, method="callout", locale="sv-SE")

        assert [(r.method, path) for r, path in zip(fake.sent, fake.paths(), strict=True)] == [
            ("GET", f"/verifications/{VERIFICATION_ID}"),
            ("DELETE", f"/verifications/{VERIFICATION_ID}"),
            ("POST", f"/verifications/{VERIFICATION_ID}/next"),
        ]
        assert fake.sent[0].body is None
        assert fake.body() == {"method": "callout", "locale": "sv-SE"}
        assert advanced.method == "callout"

    def test_a_report_needs_exactly_one_of_code_and_cli(self) -> None:
        client, fake, _ = client_with()
        with pytest.raises(ValueError, match="exactly one"):
            client.report(VERIFICATION_ID)
        with pytest.raises(ValueError, match="exactly one"):
            client.report(VERIFICATION_ID, code=CODE, cli="+46815600001")
        assert fake.sent == []

    def test_the_answers_states_read_as_properties(self) -> None:
        verified = Verification.from_json({**ANSWER, "status": "SUCCESSFUL", "attemptsRemaining": 4})
        expired = Verification.from_json({**ANSWER, "status": "FAIL", "reason": "Expired"})
        assert (verified.succeeded, verified.failed, verified.pending) == (True, False, False)
        assert (expired.failed, expired.expired, expired.succeeded) == (True, True, False)
        with pytest.raises(KeyError):
            Verification.from_json({"id": VERIFICATION_ID})


# ------------------------------------------------------------------------------------------ idempotency


class TestIdempotencyKey:
    def test_each_start_and_next_gets_a_new_uuid_and_reads_report_and_cancel_none(self) -> None:
        client, fake, _ = client_with(ok(status=201), ok(status=201), ok(), ok(), ok(), ok())

        client.start(NUMBER)
        client.start(NUMBER)
        client.next(VERIFICATION_ID)
        client.report(VERIFICATION_ID, code=CODE)
        client.status(VERIFICATION_ID)
        client.cancel(VERIFICATION_ID)

        keys = [request.headers.get("Idempotency-Key") for request in fake.sent]
        assert all(keys[:3])
        assert len(set(keys[:3])) == 3
        assert all(uuid.UUID(str(key)).version == 4 for key in keys[:3])
        assert keys[3:] == [None, None, None]

    def test_the_callers_key_is_sent_as_given(self) -> None:
        client, fake, _ = client_with(ok(status=201), ok())
        client.start(NUMBER, idempotency_key="signup-42-sms")
        client.next(VERIFICATION_ID, idempotency_key="signup-42-call")
        assert [r.headers["Idempotency-Key"] for r in fake.sent] == ["signup-42-sms", "signup-42-call"]

    def test_a_retried_start_sends_the_same_key_and_body(self) -> None:
        """Given a start answered 503 then 201, when the client retries it, then the retry carries the first
        try's key, so the service answers the first answer instead of sending a second SMS."""
        client, fake, _ = client_with(
            problem("provider_unavailable", 503, **{"Retry-After": "1"}),
            dropped(),
            ok(status=201, **{"Idempotent-Replayed": "true"}),
        )

        started = client.start(NUMBER)

        keys = {request.headers["Idempotency-Key"] for request in fake.sent}
        assert len(fake.sent) == 3
        assert len(keys) == 1
        assert {request.body for request in fake.sent} == {fake.sent[0].body}
        assert started.replayed


# ------------------------------------------------------------------------------------------ problems


class TestProblems:
    @pytest.mark.parametrize(("code", "status", "cls"), PROBLEMS)
    def test_every_code_is_its_own_exception(
        self, code: str, status: int, cls: type[pvc.PhoneVerificationError]
    ) -> None:
        """Given a problem body with ``code``, then the caller can catch it by its class and read every
        field of the problem, and the message names neither the number nor the code."""
        client, _, _ = client_with(problem(code, status), max_attempts=1)

        with pytest.raises(cls) as raised:
            client.report_by_number(NUMBER, code=CODE)

        error = raised.value
        assert type(error) is cls
        assert isinstance(error, pvc.PhoneVerificationError)
        assert (error.code, error.status) == (code, status)
        assert (error.title, error.detail) == (f"Title of {code}", f"Detail of {code}.")
        assert error.problem is not None
        assert error.problem["code"] == code
        assert code in str(error)
        assert NUMBER[1:] not in str(error)
        assert CODE not in str(error)

    def test_the_problem_classes_are_distinct(self) -> None:
        assert len({cls for _, _, cls in PROBLEMS}) == len(PROBLEMS)
        assert not issubclass(pvc.TooManyAttempts, pvc.RateLimited)

    def test_a_denial_by_the_fraud_guard_says_so(self) -> None:
        body = {**problem_body("destination_denied", 403), "reason": "suspected_fraud"}
        client, _, _ = client_with((403, body, {"Content-Type": "application/problem+json"}))
        with pytest.raises(pvc.DestinationDenied) as raised:
            client.start(NUMBER)
        assert raised.value.reason == "suspected_fraud"

    @pytest.mark.parametrize(
        ("status", "body", "cls", "code"),
        [
            (401, {"message": "Unauthorized"}, pvc.Unauthorized, "unauthorized"),
            (403, {"message": "Forbidden"}, pvc.Forbidden, "forbidden"),
            (429, {"message": "Too Many Requests"}, pvc.Throttled, "throttled"),
            (500, {"message": "Internal Server Error"}, pvc.UnexpectedResponse, "unexpected_response"),
            (502, b"<html>Bad Gateway</html>", pvc.UnexpectedResponse, "unexpected_response"),
        ],
    )
    def test_api_gateways_own_answers_are_not_mistaken_for_the_services(
        self, status: int, body: Any, cls: type[pvc.PhoneVerificationError], code: str
    ) -> None:
        client, _, _ = client_with((status, body, {"Content-Type": "application/json"}), max_attempts=1)
        with pytest.raises(cls) as raised:
            client.report(VERIFICATION_ID, code=CODE)
        assert (raised.value.code, raised.value.status, raised.value.problem) == (code, status, None)

    def test_a_problem_code_this_client_does_not_know_is_an_unexpected_response_that_keeps_it(self) -> None:
        client, _, _ = client_with(problem("quota_exceeded", 402))
        with pytest.raises(pvc.UnexpectedResponse) as raised:
            client.status(VERIFICATION_ID)
        assert (raised.value.code, raised.value.status) == ("quota_exceeded", 402)

    def test_a_success_that_is_not_a_verification_is_an_unexpected_response(self) -> None:
        client, _, _ = client_with(ok({"message": "hello"}))
        with pytest.raises(pvc.UnexpectedResponse):
            client.status(VERIFICATION_ID)


# ------------------------------------------------------------------------------------------ retries


class TestRetries:
    def test_a_503_is_retried_after_its_retry_after(self) -> None:
        client, fake, time = client_with(problem("unavailable", 503, **{"Retry-After": "2"}), ok())

        assert client.status(VERIFICATION_ID).pending

        assert len(fake.sent) == 2
        assert time.sleeps == [2.0]

    def test_a_retry_after_past_the_deadline_is_raised_at_once_with_the_wait(self) -> None:
        """Given a start refused for 30 s and a 10 s deadline, then the client does not wait: the caller gets
        RateLimited at once, with retry_after to schedule the next try."""
        client, fake, time = client_with(problem("rate_limited", 429, **{"Retry-After": "30"}), deadline=10)

        with pytest.raises(pvc.RateLimited) as raised:
            client.start(NUMBER)

        assert raised.value.retry_after == 30
        assert (len(fake.sent), time.sleeps) == (1, [])

    def test_retries_stop_at_the_deadline(self) -> None:
        busy = problem("provider_unavailable", 503, **{"Retry-After": "4"})
        client, fake, time = client_with(busy, busy, busy, busy, deadline=10)

        with pytest.raises(pvc.ProviderUnavailable) as raised:
            client.start(NUMBER)

        assert time.sleeps == [4.0, 4.0]  # a third wait would end at 12 s
        assert len(fake.sent) == 3
        assert raised.value.retry_after == 4

    def test_a_rate_limit_that_fits_the_deadline_is_waited_out(self) -> None:
        """The first try with this key is still running (429, Retry-After: 1): the retry gets its answer."""
        client, fake, time = client_with(problem("rate_limited", 429, **{"Retry-After": "1"}), ok(status=201))
        assert client.start(NUMBER).id == VERIFICATION_ID
        assert (len(fake.sent), time.sleeps) == (2, [1.0])

    def test_without_retry_after_the_backoff_grows_with_jitter(self) -> None:
        throttled: Reply = (429, {"message": "Too Many Requests"}, {})
        client, _, time = client_with(throttled, throttled, throttled, ok(), jitter=lambda: 1.0)
        client.status(VERIFICATION_ID)
        assert time.sleeps == [0.25, 0.5, 1.0]

        client, _, time = client_with(throttled, throttled, ok(), jitter=lambda: 0.0)
        client.status(VERIFICATION_ID)
        assert time.sleeps == [0.125, 0.25]

    def test_attempts_are_capped(self) -> None:
        busy = problem("unavailable", 503, **{"Retry-After": "1"})
        client, fake, _ = client_with(*[busy] * 3, max_attempts=3, deadline=60)
        with pytest.raises(pvc.Unavailable):
            client.status(VERIFICATION_ID)
        assert len(fake.sent) == 3

    def test_too_many_attempts_is_final(self) -> None:
        client, fake, time = client_with(problem("too_many_attempts", 429), ok())
        with pytest.raises(pvc.TooManyAttempts):
            client.report(VERIFICATION_ID, code=CODE)
        assert (len(fake.sent), time.sleeps) == (1, [])

    @pytest.mark.parametrize(
        ("code", "status"), [("not_found", 404), ("internal_error", 500), ("conflict", 409)]
    )
    def test_other_problems_are_not_retried(self, code: str, status: int) -> None:
        client, fake, _ = client_with(problem(code, status), ok())
        with pytest.raises(pvc.PhoneVerificationError):
            client.status(VERIFICATION_ID)
        assert len(fake.sent) == 1

    def test_a_report_answered_503_is_retried(self) -> None:
        """The service gives a report's attempt back when it answers 503, so sending it again is safe."""
        client, fake, _ = client_with(problem("provider_unavailable", 503, **{"Retry-After": "1"}), ok())
        assert client.report(VERIFICATION_ID, code=CODE).pending
        assert len(fake.sent) == 2

    def test_a_report_without_an_answer_is_not_sent_again(self) -> None:
        """The report may have been counted, or have succeeded: a second one could spend an attempt or answer
        already_verified, so the caller gets ConnectionFailed (without the number in it) and decides."""
        client, fake, _ = client_with(dropped(), ok())

        with pytest.raises(pvc.ConnectionFailed) as raised:
            client.report_by_number(NUMBER, code=CODE)

        assert len(fake.sent) == 1
        assert (raised.value.sent, raised.value.status) == (True, None)
        logged = "".join(traceback.format_exception(raised.value))  # as a log's exc_info would show it
        assert NUMBER[1:] not in logged

    def test_a_report_that_never_left_is_sent_again(self) -> None:
        client, fake, _ = client_with(not_connected(), ok())
        assert client.report(VERIFICATION_ID, code=CODE).pending
        assert len(fake.sent) == 2

    @pytest.mark.parametrize("call", ["status", "cancel", "next", "start"])
    def test_idempotent_calls_without_an_answer_are_sent_again(self, call: str) -> None:
        client, fake, time = client_with(dropped(), requests.ReadTimeout("read timed out"), ok())
        if call == "start":
            client.start(NUMBER)
        else:
            getattr(client, call)(VERIFICATION_ID)
        assert len(fake.sent) == 3
        assert len(time.sleeps) == 2

    def test_a_gateway_503_is_retried_only_for_idempotent_calls(self) -> None:
        gateway: Reply = (503, {"message": "Service Unavailable"}, {})
        client, fake, _ = client_with(gateway, ok())
        assert client.status(VERIFICATION_ID).pending
        assert len(fake.sent) == 2

        client, fake, _ = client_with(gateway, ok())
        with pytest.raises(pvc.UnexpectedResponse):
            client.report(VERIFICATION_ID, code=CODE)
        assert len(fake.sent) == 1

    def test_each_try_waits_at_most_the_time_left(self) -> None:
        seen: list[Any] = []

        class Recording(FakeApi):
            def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
                seen.append(kwargs.get("timeout"))
                return super().send(request, *args, **kwargs)

        fake, time = Recording(problem("unavailable", 503, **{"Retry-After": "7"}), ok()), FakeTime()
        session = requests.Session()
        session.mount(API, fake)
        client = Client(
            API, auth=None, session=session, clock=time.clock, sleep=time.sleep, timeout=5, deadline=10
        )
        client.status(VERIFICATION_ID)
        assert seen == [5, 3]


# ------------------------------------------------------------------------------------------ auth


class TestSigV4:
    def test_the_signature_verifies_with_botocores_signer(self) -> None:
        """Given frozen credentials, then the Authorization header is exactly what botocore's SigV4 signer
        computes for the request as sent, in the region of the execute-api host, over the body, the
        content type and the Idempotency-Key (so none of them can be changed on the way)."""
        client, fake, _ = client_with(ok(status=201), auth=SigV4Auth(credentials=FROZEN))

        client.start(NUMBER, reference="signup-42")

        request = fake.sent[0]
        assert request.headers["Authorization"] == resigned(request, FROZEN, "eu-north-1")
        assert "/eu-north-1/execute-api/aws4_request" in request.headers["Authorization"]
        assert (
            "SignedHeaders=content-type;host;idempotency-key;x-amz-date;x-amz-security-token,"
            in (request.headers["Authorization"])
        )
        assert request.headers["X-Amz-Security-Token"] == "session-token"
        assert re.fullmatch(r"\d{8}T\d{6}Z", request.headers["X-Amz-Date"])

    def test_a_report_by_number_is_signed_over_the_encoded_path(self) -> None:
        long_lived = ReadOnlyCredentials("AKIAEXAMPLEKEY000002", "secret", None)
        client, fake, _ = client_with(ok(), auth=SigV4Auth(credentials=long_lived, region="eu-west-1"))

        client.report_by_number(NUMBER, code=CODE)

        request = fake.sent[0]
        assert request.url == f"{API}/verifications/number/%2B46700000001"
        assert request.headers["Authorization"] == resigned(request, long_lived, "eu-west-1")
        assert "X-Amz-Security-Token" not in request.headers

    def test_a_changed_body_would_not_verify(self) -> None:
        client, fake, _ = client_with(ok(), auth=SigV4Auth(credentials=FROZEN))
        client.report(VERIFICATION_ID, code=CODE)
        request = fake.sent[0]
        request.body = b'{"code":"000000"}'
        assert request.headers["Authorization"] != resigned(request, FROZEN, "eu-north-1")

    def test_credentials_are_frozen_again_for_every_request(self) -> None:
        """Refreshable credentials (a role, SSO): each request uses what get_frozen_credentials gives now."""

        class Rotating(Credentials):
            def __init__(self) -> None:
                super().__init__("unused", "unused")
                self.calls = 0

            def get_frozen_credentials(self) -> ReadOnlyCredentials:
                self.calls += 1
                return ReadOnlyCredentials(f"ASIAROTATED0000000{self.calls:02d}", "secret", "token")

        rotating = Rotating()
        client, fake, _ = client_with(ok(), ok(), auth=SigV4Auth(credentials=rotating))
        client.status(VERIFICATION_ID)
        client.status(VERIFICATION_ID)
        keys = [re.search(r"Credential=(\w+)/", r.headers["Authorization"]) for r in fake.sent]
        assert [key[1] for key in keys if key] == ["ASIAROTATED000000001", "ASIAROTATED000000002"]

    def test_the_default_auth_signs_with_the_standard_credential_chain(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-environment")
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        fake = FakeApi(ok())
        session = requests.Session()
        session.mount(API, fake)

        Client(API, session=session).status(VERIFICATION_ID)

        frozen = ReadOnlyCredentials("AKIAFROMENVIRONMENT1", "from-environment", None)
        assert fake.sent[0].headers["Authorization"] == resigned(fake.sent[0], frozen, "eu-north-1")

    @pytest.mark.parametrize(
        ("url", "region"),
        [
            ("https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", "eu-west-1"),
            ("https://a1b2c3d4e5.execute-api.us-gov-west-1.amazonaws.com/v1", "us-gov-west-1"),
            ("https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn", "cn-north-1"),
            (
                "https://a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.ap-southeast-2.amazonaws.com",
                "ap-southeast-2",
            ),
            ("https://verify.example.com", None),
            ("https://execute-api.eu-west-1.amazonaws.com.evil.example", None),
        ],
    )
    def test_the_region_is_read_from_an_execute_api_host(self, url: str, region: str | None) -> None:
        assert region_of_url(url) == region

    def test_a_custom_domain_signs_for_the_configured_region_unless_one_is_given(self) -> None:
        session = botocore.session.Session()
        session.set_config_variable("region", "ap-south-1")
        assert SigV4Auth(botocore_session=session).region_for("https://verify.example.com") == "ap-south-1"
        assert SigV4Auth(region="eu-west-1", botocore_session=session).region_for(API) == "eu-west-1"

    def test_no_region_and_no_credentials_are_clear_errors(self) -> None:
        class Empty(botocore.session.Session):
            def get_credentials(self) -> None:
                return None

            def get_config_variable(self, logical_name: str, methods: Any = None) -> Any:
                return None

        auth = SigV4Auth(botocore_session=Empty())
        with pytest.raises(pvc.MissingRegion):
            auth.region_for("https://verify.example.com")
        client, fake, _ = client_with(ok(), auth=auth)
        with pytest.raises(pvc.MissingCredentials):
            client.status(VERIFICATION_ID)
        assert fake.sent == []


class TestBearer:
    def test_a_token_is_sent_as_a_bearer(self) -> None:
        client, fake, _ = client_with(ok(), auth=BearerAuth("eyJ.token.sig"))
        client.status(VERIFICATION_ID)
        assert fake.sent[0].headers["Authorization"] == "Bearer eyJ.token.sig"

    def test_a_token_function_is_asked_for_every_request(self) -> None:
        tokens = iter(["first.jwt.sig", "Bearer second.jwt.sig"])
        client, fake, _ = client_with(ok(), ok(), auth=BearerAuth(lambda: next(tokens)))
        client.status(VERIFICATION_ID)
        client.status(VERIFICATION_ID)
        assert [r.headers["Authorization"] for r in fake.sent] == [
            "Bearer first.jwt.sig",
            "Bearer second.jwt.sig",
        ]

    def test_no_auth_sends_no_authorization(self) -> None:
        client, fake, _ = client_with(ok(), auth=None)
        client.status(VERIFICATION_ID)
        assert "Authorization" not in fake.sent[0].headers


# ------------------------------------------------------------------------------------------ the CLI


class TestCliWithoutNetwork:
    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (pvc.NotFound(), 3),
            (pvc.TooManyAttempts(), 3),
            (pvc.RateLimited(retry_after=30), 4),
            (pvc.Throttled(), 4),
            (pvc.Forbidden(), 5),
            (pvc.MissingCredentials(), 5),
            (pvc.ProviderUnavailable(), 6),
            (pvc.ConnectionFailed(), 6),
            (pvc.InternalError(), 7),
            (pvc.UnexpectedResponse(), 7),
        ],
    )
    def test_each_group_of_problems_has_its_exit_status(
        self, error: pvc.PhoneVerificationError, status: int
    ) -> None:
        assert exit_code(error) == status

    def test_without_a_url_it_is_a_usage_error(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("PHONE_VERIFICATION_URL", raising=False)
        with pytest.raises(SystemExit) as raised:
            cli_main(["status", VERIFICATION_ID])
        assert raised.value.code == 2
        assert "PHONE_VERIFICATION_URL" in capsys.readouterr().err

    def test_jwt_without_a_token_is_a_usage_error(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("PHONE_VERIFICATION_TOKEN", raising=False)
        with pytest.raises(SystemExit) as raised:
            cli_main(["--url", API, "--auth", "jwt", "status", VERIFICATION_ID])
        assert raised.value.code == 2
        assert "--token" in capsys.readouterr().err
