"""Domain errors: one class per row of the README's error table ("The API", "Errors").

The class names are the error names Step Functions sees (the Lambda runtime reports a raised
exception's class name as ``errorType``), so a state machine can ``Retry``/``Catch`` them by name. Each
class carries its API ``code`` and a fixed title; ``detail`` is a short, fixed sentence chosen by the
code that raises it, never built from user input or vendor text. Their HTTP statuses are the API
layer's business (``api.http_status``).
"""

from __future__ import annotations

from typing import ClassVar


class VerificationError(Exception):
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    default_detail: ClassVar[str] = "The request could not be completed."

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        self.detail = detail or self.default_detail
        self.retry_after = retry_after
        super().__init__(self.detail)


class InvalidRequest(VerificationError):
    code = "invalid_request"
    title = "Invalid request"
    default_detail = "The request is malformed."

    def __init__(
        self, detail: str | None = None, *, unreadable: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(detail, retry_after=retry_after)
        # The request is not even a JSON object (as opposed to one with a wrong field), so callers can
        # tell "fix your JSON" from "fix this value".
        self.unreadable = unreadable


class VerificationNotFound(VerificationError):
    code = "not_found"
    title = "Verification not found"
    default_detail = "No such verification."


class VerificationExpired(VerificationError):
    code = "expired"
    title = "Verification expired"
    default_detail = "The verification has expired; start a new one."


class VerificationCancelled(VerificationError):
    code = "cancelled"
    title = "Verification cancelled"
    default_detail = "The verification was cancelled; start a new one."


class NoChannelLeft(VerificationError):
    code = "no_channel_left"
    title = "No channel left"
    default_detail = "Every channel this verification allows has been sent; start a new one."


class AlreadyVerified(VerificationError):
    code = "already_verified"
    title = "Already verified"
    default_detail = "The verification already succeeded; a code can be used once."


class TooManyAttempts(VerificationError):
    code = "too_many_attempts"
    title = "Too many attempts"
    default_detail = "All attempts for this verification are used up; start a new one."


class RateLimited(VerificationError):
    code = "rate_limited"
    title = "Too many verifications"
    default_detail = "Too many verifications were started; try again later."


class DestinationDenied(VerificationError):
    """``reason``: set to ``suspected_fraud`` when the fraud guard refused (the problem body carries it)."""

    code = "destination_denied"
    title = "Destination denied"
    default_detail = "Verifications to this number are not allowed."

    def __init__(
        self, detail: str | None = None, *, reason: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.reason = reason


class Conflict(VerificationError):
    """A well-formed request that the state it addresses refuses: a code for a verification that
    expects a flashcall's CLI (or the reverse), or an ``Idempotency-Key`` that an earlier, different
    request holds. Fixing the request's fields would not help; the caller has the wrong target."""

    code = "conflict"
    title = "Conflict"
    default_detail = "The request conflicts with the state of its target."


class UnidentifiedCaller(VerificationError):
    """The API's authorizer let the request in but names no caller (a JWT without ``sub``): verifications
    belong to their owner, so a caller who cannot be named can own, read or report none."""

    code = "unidentified_caller"
    title = "Caller not identified"
    default_detail = "The request's credentials name no caller; use credentials with a subject."


class ProviderRejected(VerificationError):
    code = "provider_rejected"
    title = "Provider rejected the request"
    default_detail = "The verification provider refused the request."


class ProviderUnavailable(VerificationError):
    code = "provider_unavailable"
    title = "Provider unavailable"
    default_detail = "The verification provider is unavailable; try again later."


class ServiceUnavailable(VerificationError):
    """The package's own AWS dependencies (DynamoDB, Secrets Manager) are throttled or unreachable.

    A 500 would not tell the caller that retrying soon is right, and provider_unavailable would blame
    Sinch for an AWS problem.
    """

    code = "unavailable"
    title = "Service unavailable"
    default_detail = "The service is busy; try again shortly."


class InternalError(VerificationError):
    """Anything unexpected; raised for direct invocations so Step Functions sees a fixed name."""
