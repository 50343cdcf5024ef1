"""The API's client: one method per route, answers as :class:`Verification`, problems as exceptions.

Retries (README of this package, "Retries"): a call is sent again only while its ``deadline`` allows,
after the answer's ``Retry-After`` or a jittered backoff, and only when sending it again cannot do
anything twice:

- ``503`` problems (``unavailable``, ``provider_unavailable``) and ``429 rate_limited`` (and API Gateway's
  own 429): every call. The service did nothing for them (a report's attempt is given back).
  ``too_many_attempts`` is final and never retried.
- No answer (connection reset, read timeout) or a gateway 502/503/504 that is not the service's problem:
  only the calls that are idempotent: ``start`` and ``next`` (always with an ``Idempotency-Key``, the same
  one on every try), ``status`` and ``cancel``. A report may have been counted, or have succeeded, so it is
  not sent again: the caller gets :class:`ConnectionFailed` and decides (``status`` tells).
- A connection that could not be opened (the request never left): every call.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias
from urllib.parse import quote

import requests
import requests.auth

from phone_verification_client._version import __version__
from phone_verification_client.auth import SigV4Auth
from phone_verification_client.errors import (
    ConnectionFailed,
    PhoneVerificationError,
    RateLimited,
    TemporarilyUnavailable,
    UnexpectedResponse,
    error_from_response,
)
from phone_verification_client.models import Verification

DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_DEADLINE: Final = 10.0
DEFAULT_MAX_ATTEMPTS: Final = 5
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 4.0
_GATEWAY_FAILURES = frozenset({502, 503, 504})
USER_AGENT: Final = f"phone-verification-client/{__version__}"


class _Default:
    def __repr__(self) -> str:
        return "<SigV4 with the default AWS credentials>"


DEFAULT_AUTH: Final = _Default()

Auth: TypeAlias = requests.auth.AuthBase | Callable[[requests.PreparedRequest], requests.PreparedRequest]


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Safe to send again when an earlier try may have reached the service (no answer, a gateway 5xx).
    idempotent: bool = False


class Client:
    """A client of one deployment of the API (``api_url``: the stack's ``ApiUrl`` output, or
    ``http://127.0.0.1:3000`` for ``make run``).

    ``auth``: :class:`SigV4Auth` (the default, ``ApiAuth=IAM``), :class:`BearerAuth` (``ApiAuth=JWT``), None
    (``ApiAuth=NONE``) or any ``requests`` auth. ``timeout``: seconds for one HTTP try. ``deadline``: seconds
    for a whole call, retries included; a retry that would end after it is not made, and the last answer's
    exception is raised (with ``retry_after`` when the service asked to wait). ``session``: a
    ``requests.Session`` to use (proxies, adapters, pooling); by default the client's own.
    """

    def __init__(
        self,
        api_url: str,
        *,
        auth: Auth | _Default | None = DEFAULT_AUTH,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        session: requests.Session | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not api_url.startswith(("https://", "http://")):
            raise ValueError("api_url must be an http(s) URL, such as the stack's ApiUrl output")
        if timeout <= 0 or deadline <= 0 or max_attempts < 1:
            raise ValueError("timeout and deadline must be positive and max_attempts at least 1")
        self.api_url = api_url.rstrip("/")
        self.auth: Auth | None = SigV4Auth() if isinstance(auth, _Default) else auth
        self.timeout = timeout
        self.deadline = deadline
        self.max_attempts = max_attempts
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    def __repr__(self) -> str:
        return f"Client({self.api_url!r}, auth={self.auth!r}, deadline={self.deadline!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's own session (a session you passed in stays yours to close)."""
        if self._own_session:
            self._session.close()

    # -- the routes -------------------------------------------------------------------------------------

    def start(
        self,
        phone_number: str,
        *,
        method: str | None = "sms",
        locale: str | None = None,
        reference: str | None = None,
        code: str | None = None,
        channels: Sequence[str] | None = None,
        rate_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Verification:
        """``POST /verifications``: send the SMS (or call, or WhatsApp message). ``channels`` are those
        ``next`` may send later, starting with ``method``. An ``Idempotency-Key`` (a new UUID unless you pass
        one, e.g. your sign-up's id) makes every retry of this call answer the first answer and send
        nothing more; pass your own to make retries across processes safe too."""
        body = _fields(
            phoneNumber=phone_number,
            method=method,
            locale=locale,
            reference=reference,
            code=code,
            channels=list(channels) if channels is not None else None,
            rateKey=rate_key,
        )
        return self._verification(_Call("POST", "/verifications", body, _key(idempotency_key), True))

    def report(self, id: str, *, code: str | None = None, cli: str | None = None) -> Verification:
        """``PUT /verifications/{id}``: the code the user received (``cli``: the number that called, for a
        flashcall). A wrong code is no exception: ``status`` stays ``PENDING`` with fewer
        ``attempts_remaining`` (``FAIL`` after the last)."""
        return self._verification(_Call("PUT", f"/verifications/{_segment(id)}", _report_body(code, cli)))

    def report_by_number(
        self, phone_number: str, *, code: str | None = None, cli: str | None = None
    ) -> Verification:
        """``PUT /verifications/number/{phoneNumber}``: report to your latest verification for the number
        (its current channel). Prefer :meth:`report`: a number in a URL ends up in access logs."""
        path = f"/verifications/number/{_segment(phone_number)}"
        return self._verification(_Call("PUT", path, _report_body(code, cli)))

    def status(self, id: str) -> Verification:
        """``GET /verifications/{id}``: the verification's current state."""
        return self._verification(_Call("GET", f"/verifications/{_segment(id)}", idempotent=True))

    def cancel(self, id: str) -> Verification:
        """``DELETE /verifications/{id}``: end a pending verification as ``CANCELLED`` (again: the same
        answer)."""
        return self._verification(_Call("DELETE", f"/verifications/{_segment(id)}", idempotent=True))

    def next(
        self,
        id: str,
        *,
        method: str | None = None,
        locale: str | None = None,
        rate_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Verification:
        """``POST /verifications/{id}/next``: send the verification's next channel (or the later one
        ``method`` names), same id. A send like a start: rate limits apply, and an ``Idempotency-Key``
        makes retries send nothing more."""
        body = _fields(method=method, locale=locale, rateKey=rate_key)
        path = f"/verifications/{_segment(id)}/next"
        return self._verification(_Call("POST", path, body, _key(idempotency_key), True))

    # -- sending ----------------------------------------------------------------------------------------

    def _verification(self, call: _Call) -> Verification:
        response = self._send(call)
        try:
            data = response.json()
            if not isinstance(data, dict):
                raise TypeError("not an object")
            return Verification.from_json(
                data, replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true"
            )
        except (ValueError, TypeError, KeyError):
            raise UnexpectedResponse(
                status=response.status_code, detail="The answer is not a verification."
            ) from None

    def _send(self, call: _Call) -> requests.Response:
        give_up_at = self._clock() + self.deadline
        headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": USER_AGENT,
            **call.headers,
        }
        data = None
        if call.body is not None:
            headers["Content-Type"] = "application/json"
            data = _json(call.body)
        attempt = 0
        while True:
            attempt += 1
            error = self._try(call, headers, data, give_up_at)
            if isinstance(error, requests.Response):
                return error
            wait = self._wait_before_retry(call, error, attempt)
            if wait is None or attempt >= self.max_attempts or self._clock() + wait >= give_up_at:
                raise error
            self._sleep(wait)

    def _try(
        self, call: _Call, headers: Mapping[str, str], data: bytes | None, give_up_at: float
    ) -> requests.Response | PhoneVerificationError:
        """One HTTP try: the answer when it is a success, else the exception it stands for."""
        timeout = max(min(self.timeout, give_up_at - self._clock()), 0.001)
        try:
            response = self._session.request(
                call.method,
                self.api_url + call.path,
                data=data,
                headers=dict(headers),
                auth=self.auth,
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return _connection_failed(exc)
        if response.status_code < 400:
            return response
        return error_from_response(
            response.status_code, response.content, response.headers.get("Retry-After")
        )

    def _wait_before_retry(self, call: _Call, error: PhoneVerificationError, attempt: int) -> float | None:
        """Seconds to wait before sending ``call`` again after ``error``; None: do not send it again."""
        if isinstance(error, TemporarilyUnavailable | RateLimited):
            retryable = True
        elif isinstance(error, ConnectionFailed):
            retryable = call.idempotent or not error.sent
        elif isinstance(error, UnexpectedResponse) and error.problem is None:
            retryable = call.idempotent and error.status in _GATEWAY_FAILURES
        else:
            retryable = False
        if not retryable:
            return None
        if error.retry_after is not None:
            return error.retry_after
        # Jittered exponential backoff: between half and all of 0.25 s, 0.5 s, 1 s, ... (at most 4 s).
        ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._jitter() * ceiling / 2


def _fields(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _key(idempotency_key: str | None) -> dict[str, str]:
    """The call's ``Idempotency-Key``: fixed before the first try, so every retry sends the same one."""
    return {"Idempotency-Key": idempotency_key if idempotency_key is not None else str(uuid.uuid4())}


def _report_body(code: str | None, cli: str | None) -> dict[str, str]:
    if (code is None) == (cli is None):
        raise ValueError("report needs exactly one of code (sms, callout, whatsapp) or cli (flashcall)")
    return {"code": code} if code is not None else {"cli": cli or ""}


def _segment(value: str) -> str:
    """One URL path segment: '+' as %2B, '/' and everything else reserved encoded too."""
    if not value:
        raise ValueError("the id (or number) must not be empty")
    return quote(value, safe="")


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _connection_failed(exc: requests.RequestException) -> ConnectionFailed:
    """The failure without the exception's text (which holds the URL, and so a number reported by number)."""
    never_sent = isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _refused_before_sending(exc)
    )
    what = "No connection could be opened" if never_sent else "No answer came"
    return ConnectionFailed(detail=f"{what} ({type(exc).__name__}).", sent=not never_sent)


def _refused_before_sending(exc: requests.ConnectionError) -> bool:
    """urllib3 could not connect at all (refused, DNS): the request never left this process."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError  # DNS failures are NewConnectionErrors

    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)
