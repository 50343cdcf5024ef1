"""Typed errors of the Sinch client, grouped by what a caller can do about them.

- ``SinchRequestRejected`` (4xx): Sinch refused this request; repeating it will not help.
- ``SinchAuthenticationFailed`` (401): the key or secret is wrong; re-fetch the secret once, then give up.
- ``SinchRateLimited`` (429): back off, honouring ``retry_after`` when Sinch sends it.
- ``SinchUnavailable`` (5xx, timeout, connection error, unreadable body): try again later. ``request_sent``
  says whether the request may have reached Sinch, i.e. whether a start may have sent a message.

``message`` is Sinch's own text. It can quote the phone number ("Number +4813 is invalid"), so it is
kept for callers but never logged and never passed on to end users.
"""

from __future__ import annotations


class SinchError(Exception):
    """Base class of everything the Sinch client raises."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_code: int | None = None,
        reference: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_code = error_code
        self.reference = reference

    def __str__(self) -> str:
        # The summary that lands in tracebacks carries no Sinch text, which may hold a phone number.
        parts = [type(self).__name__]
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.error_code is not None:
            parts.append(f"errorCode {self.error_code}")
        if self.reference:
            parts.append(f"reference {self.reference}")
        return " ".join(parts)


class SinchRequestRejected(SinchError):
    """Sinch answered 4xx (other than 401 and 429): the request itself is wrong or not allowed."""


class SinchNotFound(SinchRequestRejected):
    """Sinch answered 404: no such verification (id, reference or number)."""


class SinchAuthenticationFailed(SinchError):
    """Sinch answered 401: wrong application key or secret, or a clock too far off for ``x-timestamp``."""


class SinchRateLimited(SinchError):
    """Sinch answered 429."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = 429,
        error_code: int | None = None,
        reference: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, error_code=error_code, reference=reference)
        self.retry_after = retry_after


class SinchUnavailable(SinchError):
    """Sinch could not be reached or answered with something other than a usable reply."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_code: int | None = None,
        reference: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, http_status=http_status, error_code=error_code, reference=reference)
        self.request_sent = request_sent
