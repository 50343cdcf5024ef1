"""HTTP client for the Sinch Verification API.

One ``requests.Session`` per client keeps connections alive across warm Lambda invocations. Retries are
limited to what cannot send a second SMS or call: connection attempts that never reached Sinch (any
verb), and status reads (GET) that failed or got a 5xx. A start or report that reached Sinch is never
repeated by this client.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

from phone_verification.model import Method

from . import signing
from .errors import (
    SinchAuthenticationFailed,
    SinchError,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
)
from .models import JsonObject, ReportResult, StartResult, StatusResult
from .request_models import Report, StartRequest
from .signing import Credentials

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://verification.api.sinch.com"
API_PREFIX = "/verification/v1/verifications"
CONTENT_TYPE = "application/json; charset=utf-8"
AuthScheme = Literal["signed", "basic"]


class CredentialsProvider(Protocol):
    """Where the client gets the application key and secret, e.g. a cached Secrets Manager secret."""

    def get(self, *, force_refresh: bool = False) -> Credentials: ...


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """Credentials that never change (tests, local runs, or a caller that manages rotation itself)."""

    credentials: Credentials

    def get(self, *, force_refresh: bool = False) -> Credentials:
        return self.credentials


@dataclass(frozen=True, slots=True)
class SinchCall:
    """What one HTTP exchange with Sinch cost; handed to the ``on_call`` hook (metrics, benchmarks)."""

    operation: str
    http_status: int | None
    seconds: float


def _retry_policy(attempts: int) -> Retry:
    # urllib3 applies `connect` retries to every verb (the request never left this machine), while
    # `read` and `status` retries are limited to `allowed_methods`, i.e. to status reads.
    return Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=frozenset({500, 502, 503, 504}),
        backoff_factor=0.1,
        backoff_max=1.0,
        raise_on_status=False,
        respect_retry_after_header=False,
    )


class SinchClient:
    """The operations a backend needs: start, report (by id or by number) and status reads."""

    def __init__(
        self,
        credentials: Credentials | CredentialsProvider,
        *,
        base_url: str = DEFAULT_BASE_URL,
        auth_scheme: AuthScheme = "signed",
        connect_timeout: float = 3.05,
        read_timeout: float = 8.0,
        retries: int = 2,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_call: Callable[[SinchCall], None] | None = None,
    ) -> None:
        if auth_scheme not in ("signed", "basic"):
            raise ValueError(f"unknown Sinch auth scheme {auth_scheme!r}; use 'signed' or 'basic'")
        self._credentials: CredentialsProvider = (
            StaticCredentials(credentials) if isinstance(credentials, Credentials) else credentials
        )
        self._base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self._base_url).path
        self._auth_scheme = auth_scheme
        self._timeout = (connect_timeout, read_timeout)
        self._clock = clock
        self._on_call = on_call
        if session is None:
            # An injected session keeps its own adapters (and so its own retry policy).
            session = requests.Session()
            session.mount(self._base_url + "/", HTTPAdapter(max_retries=_retry_policy(retries)))
        self._session = session

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------------------------------ operations

    def start(self, request: StartRequest) -> StartResult:
        """Start a verification: Sinch sends the SMS, places the call or sends the WhatsApp message."""
        data, headers = self._call(
            "start", "POST", API_PREFIX, body=request.body(), extra_headers=request.headers()
        )
        return StartResult.from_json(
            data, requested=request.method, content_language=headers.get("Content-Language")
        )

    def report(self, verification_id: str, report: Report) -> ReportResult:
        """Report what the user received, by verification id (keeps personal data out of the URL)."""
        data, _ = self._call(
            "report", "PUT", f"{API_PREFIX}/id/{_segment(verification_id)}", body=report.body()
        )
        return ReportResult.from_json(data, requested=report.method, verification_id=verification_id)

    def report_by_number(self, number: str, report: Report) -> ReportResult:
        """Report for the number's latest verification. Prefer ``report``: this puts the number in the URL."""
        data, _ = self._call("report", "PUT", f"{API_PREFIX}/number/{_segment(number)}", body=report.body())
        return ReportResult.from_json(data, requested=report.method)

    def status(self, verification_id: str) -> StatusResult:
        data, _ = self._call("status", "GET", f"{API_PREFIX}/id/{_segment(verification_id)}")
        return StatusResult.from_json(data)

    def status_by_reference(self, reference: str) -> StatusResult:
        data, _ = self._call("status", "GET", f"{API_PREFIX}/reference/{_segment(reference)}")
        return StatusResult.from_json(data)

    def status_by_number(self, number: str, method: Method) -> StatusResult:
        data, _ = self._call("status", "GET", f"{API_PREFIX}/{method.value}/number/{_segment(number)}")
        return StatusResult.from_json(data, requested=method)

    # -------------------------------------------------------------------------------------------- transport

    def _call(
        self,
        operation: str,
        verb: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[JsonObject, Mapping[str, str]]:
        # Serialised once: the signature's Content-MD5 must cover exactly the bytes that are sent.
        payload = (
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() if body is not None else b""
        )
        credentials = self._credentials.get()
        response = self._send(
            operation=operation,
            verb=verb,
            path=path,
            payload=payload,
            extra_headers=extra_headers,
            credentials=credentials,
        )
        if response.status_code == 401:
            # A rotated secret: fetch it again and retry once. Sinch rejected the first request before
            # doing anything, so repeating it cannot send a second message.
            fresh = self._credentials.get(force_refresh=True)
            if fresh != credentials:
                logger.info("Sinch rejected the credentials; retrying once with a re-fetched secret")
                response.close()
                response = self._send(
                    operation=operation,
                    verb=verb,
                    path=path,
                    payload=payload,
                    extra_headers=extra_headers,
                    credentials=fresh,
                )
        return _parse(operation, response), response.headers

    def _send(
        self,
        *,
        operation: str,
        verb: str,
        path: str,
        payload: bytes,
        extra_headers: Mapping[str, str] | None,
        credentials: Credentials,
    ) -> requests.Response:
        headers = {"Accept": "application/json", **(extra_headers or {})}
        # Like Sinch's Java and .NET SDKs, a GET has no Content-Type and so signs an empty line for it.
        content_type = CONTENT_TYPE if payload else ""
        if content_type:
            headers["Content-Type"] = content_type
        if self._auth_scheme == "signed":
            headers.update(
                signing.application_headers(
                    credentials,
                    verb=verb,
                    body=payload,
                    content_type=content_type,
                    path=self._base_path + path,
                    timestamp=signing.format_timestamp(self._clock()),
                )
            )
        else:
            headers.update(signing.basic_headers(credentials))
        started = time.perf_counter()
        status: int | None = None
        try:
            response = self._session.request(
                verb,
                self._base_url + path,
                data=payload or None,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
            status = response.status_code
            return response
        except requests.RequestException as exc:
            sent = _may_have_reached_sinch(exc)
            logger.warning(
                "Sinch request failed",
                extra={"sinch_operation": operation, "error": type(exc).__name__, "request_sent": sent},
            )
            raise SinchUnavailable(f"{type(exc).__name__} talking to Sinch", request_sent=sent) from exc
        finally:
            if self._on_call is not None:
                self._on_call(SinchCall(operation, status, time.perf_counter() - started))


def _segment(value: str) -> str:
    # "+" stays literal in the path, as every Sinch SDK sends it; anything else unsafe is escaped.
    return quote(value, safe="+")


def _may_have_reached_sinch(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)


def _parse(operation: str, response: requests.Response) -> JsonObject:
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    if 200 <= status < 300:
        if not isinstance(data, Mapping):
            logger.warning(
                "Sinch answered with an unreadable body",
                extra={"sinch_operation": operation, "http_status": status},
            )
            raise SinchUnavailable("Sinch answered with an unreadable body", http_status=status)
        return data
    error = _error(status, data if isinstance(data, Mapping) else {}, response.headers)
    logger.warning(
        "Sinch refused the request",
        extra={
            "sinch_operation": operation,
            "http_status": status,
            "sinch_error_code": error.error_code,
            "sinch_reference": error.reference,
        },
    )
    raise error


def _error(status: int, body: JsonObject, headers: Mapping[str, str]) -> SinchError:
    code = body.get("errorCode")
    error_code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    message = body.get("message")
    text = message if isinstance(message, str) else f"HTTP {status}"
    reference = body.get("reference") if isinstance(body.get("reference"), str) else None
    details: dict[str, Any] = {"http_status": status, "error_code": error_code, "reference": reference}
    if status == 401:
        return SinchAuthenticationFailed(text, **details)
    if status == 429:
        return SinchRateLimited(text, retry_after=_retry_after(headers.get("Retry-After")), **details)
    if status == 404:
        return SinchNotFound(text, **details)
    if 400 <= status < 500:
        return SinchRequestRejected(text, **details)
    return SinchUnavailable(text, **details)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
