"""One exception class per problem ``code`` of the API (README "Errors"), plus the answers that do not
come from the service itself: API Gateway's own refusals, unreadable answers and network failures.

Messages hold the problem's code, status, title and detail only: the service's details are fixed
sentences, and nothing the caller sent (a phone number, a code, a CLI) is ever put in a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:phone-verification:problem:"


class PhoneVerificationError(Exception):
    """Base class. ``code`` is the problem's ``code`` (or a client-side code for answers that are not
    problems: ``unauthorized``, ``forbidden``, ``throttled``, ``unexpected_response``,
    ``connection_failed``); ``status`` the HTTP status (None when no answer came); ``retry_after`` the
    seconds the service asked to wait (``Retry-After``), if any; ``problem`` the RFC 9457 body, if any."""

    default_code: ClassVar[str] = "error"
    default_title: ClassVar[str] = "Error"

    def __init__(
        self,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.status = status
        self.title = title or self.default_title
        self.detail = detail
        self.retry_after = retry_after
        self.problem: dict[str, Any] | None = dict(problem) if problem is not None else None
        super().__init__(self._message())

    def _message(self) -> str:
        status = f" ({self.status})" if self.status is not None else ""
        detail = f" {self.detail}" if self.detail else ""
        wait = f" Retry after {self.retry_after:g} s." if self.retry_after is not None else ""
        return f"{self.code}{status}: {self.title.rstrip('.')}.{detail}{wait}"


# -- problems the service answers (README "Errors") -------------------------------------------------


class InvalidRequest(PhoneVerificationError):
    """400: the body is not a JSON object; 422: a field is wrong (bad number, unknown method, ...)."""

    default_code = "invalid_request"
    default_title = "Invalid request"


class NotFound(PhoneVerificationError):
    """Unknown id, or another caller's verification (404)."""

    default_code = "not_found"
    default_title = "Verification not found"


class Expired(PhoneVerificationError):
    """Past ``expiresAt``, or replaced by a newer verification for the number (410)."""

    default_code = "expired"
    default_title = "Verification expired"


class Cancelled(PhoneVerificationError):
    """Its owner cancelled it (410)."""

    default_code = "cancelled"
    default_title = "Verification cancelled"


class NoChannelLeft(PhoneVerificationError):
    """``next`` after the last of the verification's channels was sent (409)."""

    default_code = "no_channel_left"
    default_title = "No channel left"


class AlreadyVerified(PhoneVerificationError):
    """A report after success: success is single-use (409)."""

    default_code = "already_verified"
    default_title = "Already verified"


class Conflict(PhoneVerificationError):
    """An ``Idempotency-Key`` used with another request, a code for a flashcall (or a CLI for a code), or a
    ``next`` method that is not one of the channels (409)."""

    default_code = "conflict"
    default_title = "Conflict"


class TooManyAttempts(PhoneVerificationError):
    """Every report attempt is used up; start a new verification (429, never retried)."""

    default_code = "too_many_attempts"
    default_title = "Too many attempts"


class RateLimited(PhoneVerificationError):
    """Too many starts for the number or the caller (429 with ``Retry-After``)."""

    default_code = "rate_limited"
    default_title = "Too many verifications"


class DestinationDenied(PhoneVerificationError):
    """The country is not allowed, the number's type cannot be verified, or Sinch denied it (403).
    ``reason`` is ``suspected_fraud`` when the fraud guard refused."""

    default_code = "destination_denied"
    default_title = "Destination denied"

    @property
    def reason(self) -> str | None:
        reason = (self.problem or {}).get("reason")
        return reason if isinstance(reason, str) else None


class UnidentifiedCaller(PhoneVerificationError):
    """The authorizer let the request in but names no caller (a JWT without ``sub``) (403)."""

    default_code = "unidentified_caller"
    default_title = "Caller not identified"


class ProviderRejected(PhoneVerificationError):
    """Sinch refused the request (422)."""

    default_code = "provider_rejected"
    default_title = "Provider rejected the request"


class TemporarilyUnavailable(PhoneVerificationError):
    """Base of the two 503 problems: nothing was half done, the call may be retried after ``retry_after``."""

    default_code = "unavailable"
    default_title = "Service unavailable"


class ProviderUnavailable(TemporarilyUnavailable):
    """Sinch failed: 5xx, 429, timeout, unreadable answer (503 with ``Retry-After``)."""

    default_code = "provider_unavailable"
    default_title = "Provider unavailable"


class Unavailable(TemporarilyUnavailable):
    """DynamoDB or Secrets Manager throttled or unreachable (503 with ``Retry-After``)."""

    default_code = "unavailable"
    default_title = "Service unavailable"


class InternalError(PhoneVerificationError):
    """Anything else; the service logged it with the request's id (500)."""

    default_code = "internal_error"
    default_title = "Internal error"


# -- answers that are not the service's problems ----------------------------------------------------


class Unauthorized(PhoneVerificationError):
    """401 from API Gateway's JWT authorizer: no token, or an unreadable, expired or wrong one."""

    default_code = "unauthorized"
    default_title = "Unauthorized"


class Forbidden(PhoneVerificationError):
    """403 from API Gateway itself: a missing or wrong SigV4 signature, or no ``execute-api:Invoke``."""

    default_code = "forbidden"
    default_title = "Forbidden"


class Throttled(RateLimited):
    """429 from API Gateway's own throttling (no function ran); retried like ``rate_limited``."""

    default_code = "throttled"
    default_title = "Too many requests"


class UnexpectedResponse(PhoneVerificationError):
    """An answer this client cannot read as the service's: an unknown problem code, a gateway 5xx, a body
    that is not JSON."""

    default_code = "unexpected_response"
    default_title = "Unexpected response"


class ConnectionFailed(PhoneVerificationError):
    """No answer: the connection failed or timed out (``status`` is None). ``sent`` is False when the
    request certainly never reached the API."""

    default_code = "connection_failed"
    default_title = "Connection failed"

    def __init__(self, *, detail: str | None = None, sent: bool = True) -> None:
        super().__init__(detail=detail)
        self.sent = sent


class MissingCredentials(PhoneVerificationError):
    """SigV4 signing found no AWS credentials (environment, shared files, SSO, instance or task role)."""

    default_code = "missing_credentials"
    default_title = "No AWS credentials"


class MissingRegion(PhoneVerificationError):
    """SigV4 signing needs a region: neither given, nor in the API's host, nor in the AWS configuration."""

    default_code = "missing_region"
    default_title = "No AWS region"


BY_CODE: dict[str, type[PhoneVerificationError]] = {
    cls.default_code: cls
    for cls in (
        InvalidRequest,
        NotFound,
        Expired,
        Cancelled,
        NoChannelLeft,
        AlreadyVerified,
        Conflict,
        TooManyAttempts,
        RateLimited,
        DestinationDenied,
        UnidentifiedCaller,
        ProviderRejected,
        ProviderUnavailable,
        Unavailable,
        InternalError,
    )
}

_GATEWAY_BY_STATUS: dict[int, type[PhoneVerificationError]] = {
    401: Unauthorized,
    403: Forbidden,
    429: Throttled,
}


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the service sends whole seconds; an HTTP date is not used by it)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(status: int, body: bytes, retry_after: str | None) -> PhoneVerificationError:
    """The exception for an error answer: by the problem's ``code``, else by who answered."""
    wait = parse_retry_after(retry_after)
    document: Any
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("code"), str):
        return _from_problem(status, document, wait)
    message = document.get("message") if isinstance(document, dict) else None
    detail = message if isinstance(message, str) and len(message) <= 200 else None
    cls = _GATEWAY_BY_STATUS.get(status, UnexpectedResponse)
    return cls(status=status, detail=detail, retry_after=wait)


def _from_problem(status: int, problem: dict[str, Any], wait: float | None) -> PhoneVerificationError:
    code: str = problem["code"]
    title = problem.get("title")
    detail = problem.get("detail")
    cls = BY_CODE.get(code, UnexpectedResponse)
    return cls(
        code=code,
        status=status,
        title=title if isinstance(title, str) and title else None,
        detail=detail if isinstance(detail, str) and detail else None,
        retry_after=wait,
        problem=problem,
    )
