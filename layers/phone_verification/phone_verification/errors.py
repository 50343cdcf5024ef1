"""Domain errors: one class per row of the design's error table.

The class names are the error names Step Functions sees (the Lambda runtime reports a raised
exception's class name as ``errorType``), so a state machine can ``Retry``/``Catch`` them by name. Each
class carries its API ``code``, HTTP status and a fixed title; ``detail`` is a short, fixed sentence
chosen by the code that raises it, never built from user input or vendor text.
"""

from __future__ import annotations

from typing import ClassVar


class VerificationError(Exception):
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    default_detail: ClassVar[str] = "The request could not be completed."
    http_status: int = 500

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = None, http_status: int | None = None
    ) -> None:
        self.detail = detail or self.default_detail
        self.retry_after = retry_after
        if http_status is not None:
            self.http_status = http_status
        super().__init__(self.detail)


class InvalidRequest(VerificationError):
    code = "invalid_request"
    http_status = 400
    title = "Invalid request"
    default_detail = "The request is malformed."
    # 400 for a body that cannot be read at all; 422 (passed by the raiser) for a readable body with a bad
    # field, so callers can tell "fix your JSON" from "fix this value".


class VerificationNotFound(VerificationError):
    code = "not_found"
    http_status = 404
    title = "Verification not found"
    default_detail = "No such verification."


class VerificationExpired(VerificationError):
    code = "expired"
    http_status = 410
    title = "Verification expired"
    default_detail = "The verification has expired; start a new one."


class AlreadyVerified(VerificationError):
    code = "already_verified"
    http_status = 409
    title = "Already verified"
    default_detail = "The verification already succeeded; a code can be used once."


class TooManyAttempts(VerificationError):
    code = "too_many_attempts"
    http_status = 429
    title = "Too many attempts"
    default_detail = "All attempts for this verification are used up; start a new one."


class RateLimited(VerificationError):
    code = "rate_limited"
    http_status = 429
    title = "Too many verifications"
    default_detail = "Too many verifications were started; try again later."


class DestinationDenied(VerificationError):
    code = "destination_denied"
    http_status = 403
    title = "Destination denied"
    default_detail = "Verifications to this number are not allowed."


class ProviderRejected(VerificationError):
    code = "provider_rejected"
    http_status = 422
    title = "Provider rejected the request"
    default_detail = "The verification provider refused the request."


class ProviderUnavailable(VerificationError):
    code = "provider_unavailable"
    http_status = 503
    title = "Provider unavailable"
    default_detail = "The verification provider is unavailable; try again later."


class ServiceUnavailable(VerificationError):
    """The package's own AWS dependencies (DynamoDB, Secrets Manager) are throttled or unreachable.

    Not in the design's first table: a 500 would not tell the caller that retrying soon is right, and
    provider_unavailable would blame Sinch for an AWS problem.
    """

    code = "unavailable"
    http_status = 503
    title = "Service unavailable"
    default_detail = "The service is busy; try again shortly."


class InternalError(VerificationError):
    """Anything unexpected; raised for direct invocations so the name matches the design's table."""
