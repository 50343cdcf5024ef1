"""The Sinch adapter: the use cases' ``SinchGateway`` port over ``SinchClient``.

It builds Sinch's requests from the domain's and turns Sinch's answers and errors into the outcomes the
use cases decide on: ``Sent``, ``Refused`` (Sinch answered and did nothing), ``Unavailable`` (with whether
the request may have reached Sinch) and ``Decided`` (Sinch's verdict on a report). Each failure carries the
fixed domain error the caller is told; Sinch's own messages can quote the phone number and stop here.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from phone_verification.errors import (
    DestinationDenied,
    InternalError,
    ProviderRejected,
    ProviderUnavailable,
    VerificationError,
    VerificationExpired,
)
from phone_verification.model import (
    Decided,
    Method,
    Refused,
    ReportOutcome,
    SendOutcome,
    SendRequest,
    Sent,
    Status,
    Unavailable,
)

from .errors import (
    SinchAuthenticationFailed,
    SinchError,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
)
from .models import ReportResult, StartResult, StatusResult
from .models import Status as SinchStatus
from .request_models import (
    CalloutStart,
    CliReport,
    CodeReport,
    FlashcallStart,
    Report,
    SmsStart,
    StartRequest,
    WhatsappStart,
)

logger = logging.getLogger(__name__)

# How long a caller should wait when Sinch gives no Retry-After of its own.
RETRY_AFTER_SECONDS = 5
# Sinch's "InvalidRequest" error code (400), one of the answers an account may give to a report on a
# verification it no longer takes reports for (Sinch does not document which; the README's "Sinch account
# modes" lists what the product does with each).
FINISHED = 40003


class SinchOperations(Protocol):
    """What the adapter uses of ``SinchClient`` (tests script it)."""

    def start(self, request: StartRequest) -> StartResult: ...

    def report(self, verification_id: str, report: Report) -> ReportResult: ...

    def status(self, verification_id: str) -> StatusResult: ...

    def status_by_reference(self, reference: str) -> StatusResult: ...


class SinchAdapter:
    def __init__(self, client: SinchOperations) -> None:
        self._client = client

    def start(self, request: SendRequest) -> SendOutcome:
        try:
            result = self._client.start(start_request(request))
        except SinchError as exc:
            # A 2xx whose body could not be read, or a request cut off after it was sent: Sinch may have
            # started the verification, so the caller must not be told that nothing went out.
            answered_ok = exc.http_status is not None and 200 <= exc.http_status < 300
            sent = isinstance(exc, SinchUnavailable) and exc.request_sent
            return _failure(
                exc,
                may_have_acted=sent and (exc.http_status is None or answered_ok),
                forbidden=DestinationDenied("The provider does not allow verifications to this number."),
            )
        flashcall = result.flashcall
        cli = flashcall.cli if flashcall else None
        within = flashcall.report_timeout if flashcall else None
        return Sent(result.id, result.method, cli, hints(result), report_within=within)

    def report(self, verification_id: str, method: Method, submitted: str) -> ReportOutcome:
        try:
            result = self._client.report(verification_id, report_body(method, submitted))
        except SinchNotFound:
            # Sinch takes no more reports for it: it ran out there, or an earlier report ended it.
            return self._finished(verification_id)
        except SinchRequestRejected as exc:
            if exc.error_code == FINISHED:
                # "Invalid request" for a well-formed report: the same, as some accounts answer it.
                return self._finished(verification_id)
            return _failure(exc, may_have_acted=False, forbidden=ProviderRejected())
        except SinchError as exc:
            sent = isinstance(exc, SinchUnavailable) and exc.request_sent
            return _failure(
                exc, may_have_acted=sent and exc.http_status is None, forbidden=ProviderRejected()
            )
        if result.status is SinchStatus.UNKNOWN:
            # A verdict this client cannot read: never a success, and Sinch may have counted the attempt.
            return Unavailable(ProviderUnavailable(retry_after=RETRY_AFTER_SECONDS), may_have_acted=True)
        return Decided(Status(result.status.value), result.reason)

    def _finished(self, verification_id: str) -> Decided:
        """How a verification Sinch takes no more reports for ended there. An earlier report whose answer
        was lost (a timeout) may have verified it: Sinch's status says so, and that success is the user's.
        Anything else, or no answer, is expiry to the caller."""
        try:
            found = self._client.status(verification_id)
        except SinchError:
            return Decided(Status.FAIL, "Expired")
        if found.status is SinchStatus.SUCCESSFUL:
            return Decided(Status.SUCCESSFUL)
        if found.status in (SinchStatus.DENIED, SinchStatus.ERROR):
            return Decided(Status(found.status.value), found.reason)
        return Decided(Status.FAIL, "Expired")

    def number_of(self, verification_id: str) -> str:
        """The number Sinch sent the verification to (its status says): the service keeps only a hash of
        it, and ``next`` sends the next channel to the same number."""
        try:
            found = self._client.status(verification_id)
        except SinchNotFound:
            raise VerificationExpired() from None
        except SinchError as exc:
            raise _failure(exc, may_have_acted=False, forbidden=ProviderRejected()).error from exc
        if not found.number:
            raise ProviderUnavailable(retry_after=RETRY_AFTER_SECONDS)
        return found.number

    def find_pending(self, reference: str) -> str | None:
        try:
            found = self._client.status_by_reference(reference)
        except SinchError:
            return None
        return found.id if found.status is SinchStatus.PENDING else None


def start_request(request: SendRequest) -> StartRequest:
    number, reference, locale = request.number, request.reference, request.locale
    if request.method is Method.SMS:
        return SmsStart(
            number=number,
            reference=reference,
            code=request.code,
            expiry_seconds=request.expiry_seconds,
            locale=locale,
        )
    if request.method is Method.FLASHCALL:
        return FlashcallStart(number=number, reference=reference)
    if request.method is Method.CALLOUT:
        return CalloutStart(number=number, reference=reference, locale=locale)
    return WhatsappStart(number=number, reference=reference)


def report_body(method: Method, submitted: str) -> Report:
    if method is Method.FLASHCALL:
        return CliReport(submitted)
    return CodeReport(method, submitted)


def hints(result: StartResult) -> dict[str, Any]:
    """What the client app may use from Sinch's answer; never the flashcall CLI itself."""
    if result.sms is not None:
        sms = {"interceptionTimeout": result.sms.interception_timeout, "template": result.sms.template}
        return {"sms": {k: v for k, v in sms.items() if v is not None}}
    if result.flashcall is not None:
        details = result.flashcall
        flashcall = {
            "cliFilter": details.cli_filter,
            "interceptionTimeout": details.interception_timeout,
            "reportTimeout": details.report_timeout,
            "denyCallAfter": details.deny_call_after,
        }
        return {"flashcall": {k: v for k, v in flashcall.items() if v is not None}}
    if result.whatsapp is not None and result.whatsapp.code_type:
        return {"whatsapp": {"codeType": result.whatsapp.code_type}}
    return {}


def _failure(exc: SinchError, *, may_have_acted: bool, forbidden: VerificationError) -> Refused | Unavailable:
    if isinstance(exc, SinchAuthenticationFailed):
        # Sinch refused the key and secret even after the client re-fetched them once: an operator must
        # fix the secret, so this is an error in the log and an internal error for the caller.
        logger.error("Sinch rejected the application key and secret in the Sinch secret; update the secret")
        return Refused(InternalError())
    if isinstance(exc, SinchRequestRejected):
        return Refused(forbidden if exc.http_status == 403 else ProviderRejected())
    if isinstance(exc, SinchRateLimited):
        wait = int(exc.retry_after) if exc.retry_after else RETRY_AFTER_SECONDS
        return Unavailable(ProviderUnavailable(retry_after=wait), may_have_acted=False)
    return Unavailable(ProviderUnavailable(retry_after=RETRY_AFTER_SECONDS), may_have_acted=may_have_acted)
