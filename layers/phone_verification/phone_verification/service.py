"""The verification service: the domain rules for starting, reporting and reading verifications.

Who checks the code (design, "Who checks the code"): for SMS the service generates the code, sends it
as ``smsOptions.code``, keeps only a keyed hash and checks reports itself, so a typo can be retried and
a wrong code costs no Sinch call; the same holds for a caller-chosen code and for a flashcall whose CLI
Sinch returned at start. Otherwise (callout, WhatsApp, flashcall without CLI, SMS with Sinch's codes)
Sinch decides each report and each ``FAIL`` uses up one attempt. Either way attempts, expiry and
single-use success are enforced by conditional writes in the store.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import codes, phone
from .commands import ReportCommand, StartCommand
from .errors import (
    AlreadyVerified,
    DestinationDenied,
    InternalError,
    InvalidRequest,
    ProviderRejected,
    ProviderUnavailable,
    TooManyAttempts,
    VerificationError,
    VerificationExpired,
    VerificationNotFound,
)
from .settings import Settings
from .sinch import (
    CalloutStart,
    CliReport,
    CodeReport,
    FlashcallStart,
    Method,
    Report,
    SinchAuthenticationFailed,
    SinchClient,
    SinchError,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
    SmsStart,
    StartRequest,
    StartResult,
    Status,
    WhatsappStart,
)
from .store import (
    ABORTED,
    DENIED,
    FAIL,
    PENDING,
    SUCCESSFUL,
    ConditionFailed,
    StartReservation,
    VerificationRecord,
    VerificationStore,
)

logger = logging.getLogger(__name__)


class Outcomes(Protocol):
    """Where the service reports what happened (metrics); a no-op in tests that do not care."""

    def record(self, outcome: str, method: str, reason: str | None = None) -> None: ...


class NoOutcomes:
    def record(self, outcome: str, method: str, reason: str | None = None) -> None:
        return None


class HashKeySource(Protocol):
    def hash_key(self) -> bytes: ...


class Workflows(Protocol):
    """Resumes the Step Functions task waiting for a verification (``workflow.TaskCallbacks``)."""

    def succeeded(self, token: str, result: Mapping[str, Any], *, verification_id: str) -> bool: ...

    def failed(self, token: str, error: VerificationError, *, verification_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Verification:
    """A verification as the API shows it: never the code, the CLI or the full number."""

    id: str
    method: str
    status: str
    attempts_remaining: int
    expires_at: int
    reason: str | None = None
    reference: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "method": self.method,
            "status": self.status,
            "attemptsRemaining": self.attempts_remaining,
            "expiresAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at)),
        }
        if self.reason:
            body["reason"] = self.reason
        if self.reference:
            body["reference"] = self.reference
        body.update(self.hints)
        return body


def _wrong_reason(method: str) -> str:
    return "Invalid CLI" if method == Method.FLASHCALL.value else "Invalid code"


def view(record: VerificationRecord, now: int, *, hints: dict[str, Any] | None = None) -> Verification:
    """The record's state as of ``now``: expiry and used-up attempts are derived, not stored."""
    status, reason = record.status, record.reason
    if status == PENDING and now >= record.expires_at:
        status, reason = FAIL, "Expired"
    elif status == PENDING and record.attempts >= record.max_attempts:
        status, reason = FAIL, _wrong_reason(record.method)
    return Verification(
        id=record.id,
        method=record.method,
        status=status,
        reason=reason,
        attempts_remaining=max(0, record.max_attempts - record.attempts) if status in (PENDING, FAIL) else 0,
        expires_at=record.expires_at,
        reference=record.reference,
        hints=hints or {},
    )


def refusal(  # noqa: PLR0911 - a decision table reads best as one early return per row
    record: VerificationRecord | None, owner_hash: str, now: int
) -> VerificationError | None:
    """Why a report on this verification cannot be taken, or None if it is open."""
    if record is None or not codes.same(record.owner_hash, owner_hash):
        return VerificationNotFound()
    if record.status == SUCCESSFUL:
        return AlreadyVerified()
    if record.status == ABORTED:
        return VerificationExpired("A newer verification for this number replaced this one; use that one.")
    if record.status == DENIED:
        return DestinationDenied("The provider denied this verification.")
    if now >= record.expires_at or record.reason == "Expired":
        return VerificationExpired()
    if record.attempts >= record.max_attempts or record.status != PENDING:
        return TooManyAttempts()
    return None


class VerificationService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: VerificationStore,
        sinch: SinchClient,
        keys: HashKeySource,
        outcomes: Outcomes | None = None,
        clock: Callable[[], float] = time.time,
        workflows: Workflows | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sinch = sinch
        self._keys = keys
        self._outcomes = outcomes or NoOutcomes()
        self._clock = clock
        self._workflows = workflows
        self._hasher_cache: tuple[bytes, codes.Hasher] | None = None

    def _hasher(self) -> codes.Hasher:
        key = self._keys.hash_key()
        if self._hasher_cache is None or self._hasher_cache[0] != key:
            self._hasher_cache = (key, codes.Hasher(key))
        return self._hasher_cache[1]

    def _now(self) -> int:
        return int(self._clock())

    # --------------------------------------------------------------------------------------------- start

    def fingerprint(self, command: StartCommand) -> dict[str, Any]:
        """What makes two starts "the same request" for idempotency, as keyed hashes: Powertools stores
        an unkeyed hash of it, which must not let anyone recover the number or a chosen code."""
        hasher = self._hasher()
        return {
            "owner": hasher.caller(command.owner),
            "number": hasher.number(command.phone_number.strip()),
            "method": command.method.value,
            "reference": command.reference,
            "locale": command.locale,
            "code": hasher.code("idempotency", command.code) if command.code is not None else None,
        }

    def start(self, command: StartCommand) -> Verification:
        settings = self._settings
        method = command.method
        number = phone.parse(
            command.phone_number, allowed_countries=settings.allowed_countries, sms=method is Method.SMS
        )
        chosen = codes.chosen_code(command.code) if command.code is not None else None
        hasher = self._hasher()
        now = self._now()
        reservations = self._reserve(command, hasher, hasher.number(number.e164), now)
        code = chosen
        if method is Method.SMS and code is None and settings.sms_code_source == "service":
            code = codes.generate(settings.code_length)
        # Our own reference when the caller gave none: it lets a start whose answer was lost be found again.
        reference = command.reference or f"pv-{uuid.uuid4().hex}"
        request = self._sinch_start_request(method, number.e164, reference, command.locale, code)
        result = self._send_start(request, reservations)
        reservation = reservations[-1]  # the number's: it knows the verification this one supersedes

        cli = result.flashcall.cli if result.flashcall else None
        secret_hash: str | None = None
        if code is not None:
            secret_hash = hasher.code(result.id, code)
        elif method is Method.FLASHCALL and cli:
            secret_hash = hasher.cli(result.id, cli)
        record = VerificationRecord(
            id=result.id,
            method=method.value,
            status=PENDING,
            attempts=0,
            max_attempts=settings.max_report_attempts,
            created_at=now,
            expires_at=now + settings.verification_ttl_seconds,
            masked_number=number.masked,
            number_hash=reservation.key_hash,
            owner_hash=hasher.caller(command.owner),
            checked_by="service" if secret_hash else "sinch",
            secret_hash=secret_hash,
            reference=command.reference,
            task_token=command.task_token,
        )
        self._store.create(record, supersedes=reservation.previous_id)
        if reservation.previous_has_task_token and reservation.previous_id not in (None, record.id):
            self._resume_superseded(reservation.previous_id)
        self._outcomes.record("started", method.value)
        logger.info(
            "verification started",
            extra={"verification_id": record.id, "method": method.value, "phone": number.masked},
        )
        return view(record, now, hints=_hints(result))

    def _reserve(
        self, command: StartCommand, hasher: codes.Hasher, number_hash: str, now: int
    ) -> list[StartReservation]:
        """Take the caller's slot, then the number's; the number's comes last in the list."""
        settings = self._settings
        taken: list[StartReservation] = []
        if command.rate_key is not None:
            principal = command.rate_key.startswith("iam:")
            limit = settings.max_starts_per_principal if principal else settings.max_starts_per_user
            if limit:
                taken.append(
                    self._store.reserve(
                        "caller",
                        hasher.caller(command.rate_key),
                        now=now,
                        max_starts=limit,
                        window=settings.caller_window_seconds,
                    )
                )
        try:
            taken.append(
                self._store.reserve(
                    "number",
                    number_hash,
                    now=now,
                    max_starts=settings.max_starts_per_number,
                    window=settings.start_window_seconds,
                    min_gap=settings.min_seconds_between_starts,
                    keep_for=settings.verification_ttl_seconds,
                )
            )
        except VerificationError:
            self._release(taken)
            raise
        return taken

    def _release(self, reservations: list[StartReservation]) -> None:
        for reservation in reservations:
            self._store.release(reservation)

    def _sinch_start_request(
        self, method: Method, e164: str, reference: str, locale: str | None, code: str | None
    ) -> StartRequest:
        ttl = self._settings.verification_ttl_seconds
        if method is Method.SMS:
            return SmsStart(number=e164, reference=reference, code=code, expiry_seconds=ttl, locale=locale)
        if method is Method.FLASHCALL:
            return FlashcallStart(number=e164, reference=reference)
        if method is Method.CALLOUT:
            return CalloutStart(number=e164, reference=reference, locale=locale)
        return WhatsappStart(number=e164, reference=reference)

    def _send_start(self, request: StartRequest, reservations: list[StartReservation]) -> StartResult:
        try:
            return self._sinch.start(request)
        except SinchUnavailable as exc:
            answered_ok = exc.http_status is not None and 200 <= exc.http_status < 300
            if exc.request_sent and (exc.http_status is None or answered_ok):
                # Timed out, cut off after sending, or a 2xx we could not read: Sinch may have started
                # it. Ask by our reference before answering, so the caller neither loses a sent SMS nor
                # gets a second one.
                found = self._find_started(request)
                if found is not None:
                    return found
            else:
                self._release(reservations)
            raise ProviderUnavailable(retry_after=5) from exc
        except SinchRequestRejected as exc:
            self._release(reservations)
            if exc.http_status == 403:
                raise DestinationDenied("The provider does not allow verifications to this number.") from exc
            raise ProviderRejected() from exc
        except SinchAuthenticationFailed as exc:
            self._release(reservations)
            raise _credentials_rejected() from exc
        except SinchRateLimited as exc:
            self._release(reservations)
            raise ProviderUnavailable(retry_after=int(exc.retry_after) if exc.retry_after else 5) from exc
        except SinchError as exc:
            self._release(reservations)
            raise ProviderUnavailable(retry_after=5) from exc

    def _find_started(self, request: StartRequest) -> StartResult | None:
        if request.reference is None:
            return None
        try:
            status = self._sinch.status_by_reference(request.reference)
        except SinchError:
            return None
        if status.status is not Status.PENDING:
            return None
        if self._store.get(status.id) is not None:
            # A verification we already hold is not this start's: the caller reused a reference, so
            # Sinch refused this start and the lookup found the earlier one.
            return None
        logger.info("recovered a start whose answer was lost", extra={"verification_id": status.id})
        return StartResult(id=status.id, method=status.method)

    # -------------------------------------------------------------------------------------------- report

    def report(self, command: ReportCommand) -> Verification:
        hasher = self._hasher()
        owner_hash = hasher.caller(command.owner)
        now = self._now()
        verification_id = command.verification_id or self._latest_for(command.phone_number, hasher)
        if command.cli is not None:
            submitted = codes.reported_cli(command.cli)
            candidate = hasher.cli(verification_id, submitted)
        else:
            submitted = codes.reported_code(command.code)
            candidate = hasher.code(verification_id, submitted)
        try:
            record = self._store.succeed_if_matches(
                verification_id, secret_hash=candidate, owner_hash=owner_hash, now=now
            )
        except ConditionFailed as failed:
            current = failed.record
        else:
            verified = view(record, now)
            self._resume(record, verified)
            self._verified(record, _sinch_report(record.method, submitted))
            return verified

        problem = refusal(current, owner_hash, now)
        if problem is not None:
            self._outcomes.record("refused", current.method if current else "unknown", problem.code)
            self._resume_refused(current, problem, now)
            raise problem
        assert current is not None  # refusal() returns NotFound for a missing record
        wants_cli = current.method == Method.FLASHCALL.value
        if wants_cli != (command.cli is not None):
            raise InvalidRequest(
                "This verification expects cli." if wants_cli else "This verification expects code.",
                http_status=422,
            )
        if current.checked_by == "service":
            return self._wrong(self._count_attempt(verification_id, owner_hash, now), now)
        return self._report_to_sinch(
            verification_id, owner_hash, now, _sinch_report(current.method, submitted)
        )

    def _latest_for(self, phone_number: str | None, hasher: codes.Hasher) -> str:
        if phone_number is None:
            raise VerificationNotFound()
        try:
            number = phone.parse(phone_number)
        except (InvalidRequest, DestinationDenied):
            raise VerificationNotFound() from None
        latest = self._store.latest_for_number(hasher.number(number.e164))
        if latest is None:
            raise VerificationNotFound()
        return latest

    def _count_attempt(self, verification_id: str, owner_hash: str, now: int) -> VerificationRecord:
        try:
            return self._store.count_attempt(verification_id, owner_hash=owner_hash, now=now)
        except ConditionFailed as failed:
            # Lost a race to the last attempt (or to expiry): answer as the verification now stands.
            problem = refusal(failed.record, owner_hash, now) or TooManyAttempts()
            self._resume_refused(failed.record, problem, now)
            raise problem from None

    def _wrong(self, record: VerificationRecord, now: int) -> Verification:
        result = view(record, now)
        self._outcomes.record("failed", record.method, "wrong_code")
        if record.attempts >= record.max_attempts:  # the last attempt: the verification has failed
            self._resume(record, TooManyAttempts())
        return Verification(
            id=result.id,
            method=result.method,
            status=result.status,
            reason=_wrong_reason(record.method),
            attempts_remaining=result.attempts_remaining,
            expires_at=result.expires_at,
            reference=result.reference,
        )

    def _report_to_sinch(
        self, verification_id: str, owner_hash: str, now: int, report: Report
    ) -> Verification:
        record = self._count_attempt(verification_id, owner_hash, now)
        try:
            result = self._sinch.report(verification_id, report)
        except SinchNotFound as exc:
            raise self._ended(
                self._finish(verification_id, FAIL, "Expired", now), VerificationExpired()
            ) from exc
        except SinchRequestRejected as exc:
            self._store.refund_attempt(verification_id)
            raise ProviderRejected() from exc
        except SinchError as exc:
            judged = isinstance(exc, SinchUnavailable) and exc.request_sent and exc.http_status is None
            if not judged:  # Sinch answered with an error or was never reached: the attempt was not used
                self._store.refund_attempt(verification_id)
            if isinstance(exc, SinchAuthenticationFailed):
                raise _credentials_rejected() from exc
            retry_after = exc.retry_after if isinstance(exc, SinchRateLimited) and exc.retry_after else 5
            raise ProviderUnavailable(retry_after=int(retry_after)) from exc

        if result.status is Status.SUCCESSFUL:
            finished = self._finish(verification_id, SUCCESSFUL, None, now)
            self._outcomes.record("verified", finished.method)
            verified = view(finished, now)
            self._resume(finished, verified)
            return verified
        if result.status is Status.FAIL and result.reason == "Expired":
            raise self._ended(self._finish(verification_id, FAIL, "Expired", now), VerificationExpired())
        if result.status is Status.DENIED:
            finished = self._finish(verification_id, DENIED, result.reason, now)
            raise self._ended(finished, DestinationDenied("The provider denied this verification."))
        if result.status is Status.ABORTED:
            raise self._ended(self._finish(verification_id, ABORTED, result.reason, now), _superseded())
        if result.status is Status.ERROR:
            self._store.refund_attempt(verification_id)
            raise ProviderUnavailable(retry_after=5)
        return self._wrong(record, now)

    def _finish(self, verification_id: str, status: str, reason: str | None, now: int) -> VerificationRecord:
        try:
            return self._store.finish(verification_id, status=status, reason=reason, now=now)
        except ConditionFailed as failed:
            if failed.record is not None and failed.record.status == SUCCESSFUL:
                raise AlreadyVerified() from None
            raise VerificationExpired() from None

    def _verified(self, record: VerificationRecord, report: Report) -> None:
        self._outcomes.record("verified", record.method)
        logger.info("verification succeeded", extra={"verification_id": record.id, "method": record.method})
        # Sinch's statistics and billing want the report too, but our verdict stands: a failure here is
        # logged and never turns a right code into an error. The code cannot be kept for a later retry
        # (no plaintext codes at rest), so the retry happens now, once.
        for attempt in (1, 2):
            try:
                self._sinch.report(record.id, report)
                return
            except SinchError as exc:
                if attempt == 2 or not isinstance(exc, SinchUnavailable | SinchRateLimited):
                    break
        self._outcomes.record("sinch_report_failed", record.method)
        self._store.set_sinch_report_pending(record.id, True)

    # ----------------------------------------------------------------------------- Step Functions tasks

    def _resume(self, record: VerificationRecord, outcome: Verification | VerificationError) -> None:
        """Resume the workflow task waiting for this verification, if one is: exactly once, because the
        token is taken from the verification by a conditional write before it is used."""
        if self._workflows is None or record.task_token is None:
            return
        token = self._store.take_task_token(record.id)
        if token is not None:
            self._send(token, record.id, outcome)

    def _ended(self, record: VerificationRecord, problem: VerificationError) -> VerificationError:
        """Resume the workflow with the error that ended the verification; returns it for raising."""
        self._resume(record, problem)
        return problem

    def _send(self, token: str, verification_id: str, outcome: Verification | VerificationError) -> None:
        assert self._workflows is not None
        if isinstance(outcome, VerificationError):
            self._workflows.failed(token, outcome, verification_id=verification_id)
        else:
            self._workflows.succeeded(token, outcome.to_json(), verification_id=verification_id)

    def _resume_refused(
        self, record: VerificationRecord | None, problem: VerificationError, now: int
    ) -> None:
        """A report refused because the verification has ended still ends its waiting workflow (a report
        after expiry is how an expiry becomes known). Never for a caller who does not own it."""
        if record is None or isinstance(problem, VerificationNotFound):
            return
        self._resume(record, view(record, now) if isinstance(problem, AlreadyVerified) else problem)

    def _resume_superseded(self, previous_id: str) -> None:
        """A new start for the number aborted its previous verification: fail that one's workflow now."""
        if self._workflows is None:
            return
        token = self._store.take_task_token(previous_id, status=ABORTED)
        if token is not None:
            self._send(token, previous_id, _superseded())

    def attach_task_token(self, verification_id: str, token: str) -> None:
        """A retried start (an idempotent replay) brings the retry's task token: resume that one. If the
        verification has already ended, resume it at once with how it ended."""
        try:
            self._store.replace_task_token(verification_id, token)
        except ConditionFailed as failed:
            record, now = failed.record, self._now()
            if record is None or self._workflows is None:
                return
            ended = (
                view(record, now) if record.status == SUCCESSFUL else refusal(record, record.owner_hash, now)
            )
            self._send(token, verification_id, ended or TooManyAttempts())

    # -------------------------------------------------------------------------------------------- status

    def status(self, verification_id: str, owner: str) -> Verification:
        hasher = self._hasher()
        record = self._store.get(verification_id)
        if record is None or not codes.same(record.owner_hash, hasher.caller(owner)):
            raise VerificationNotFound()
        return view(record, self._now())


def _superseded() -> VerificationExpired:
    return VerificationExpired("A newer verification for this number replaced this one; use that one.")


def _credentials_rejected() -> InternalError:
    """Sinch refused the key and secret even after the client re-fetched them once: an operator must fix
    the secret, so this is logged as an error and answered as an internal error, not as an outage."""
    logger.error("Sinch rejected the application key and secret in the Sinch secret; update the secret")
    return InternalError()


def _sinch_report(method: str, submitted: str) -> Report:
    if method == Method.FLASHCALL.value:
        return CliReport(submitted)
    return CodeReport(Method(method), submitted)


def _hints(result: StartResult) -> dict[str, Any]:
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
