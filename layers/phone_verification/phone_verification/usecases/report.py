"""Reporting the code (or flashcall CLI) a user received, by verification id or by number.

Every report is first tried as a success in one conditional write (right hash, open, the caller's own),
so a right code needs no read before it. Otherwise the verification as it was says why: ended (refused
with how it ended), checked by the service (a wrong code, one attempt used), or judged by Sinch (one
attempt used, given back if Sinch never judged it).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from phone_verification import phone
from phone_verification.commands import ReportCommand
from phone_verification.errors import (
    AlreadyVerified,
    Conflict,
    DestinationDenied,
    InvalidRequest,
    TooManyAttempts,
    VerificationError,
    VerificationExpired,
    VerificationNotFound,
)
from phone_verification.model import (
    SUPERSEDED,
    UNREACHABLE,
    Decided,
    Method,
    Status,
    Unavailable,
    Verification,
    VerificationRecord,
    refusal,
    view,
    wrong_reason,
)
from phone_verification.ports import ConditionFailed

from .fraud_guard import FraudGuard
from .lifecycle import Lifecycle
from .resume import Resumer
from .shared import Context, alongside

logger = logging.getLogger(__name__)


class ReportVerification:
    def __init__(self, context: Context, resumer: Resumer) -> None:
        self._context = context
        self._resumer = resumer
        self._guard = FraudGuard(context)
        self._lifecycle = Lifecycle(context)

    def __call__(self, command: ReportCommand) -> Verification:
        context = self._context
        hasher, now = context.hashing(), context.now()
        owner_hash = hasher.caller(command.owner)
        verification_id = command.verification_id or self._latest_for(command.phone_number, owner_hash)
        if command.cli is not None:
            submitted = command.cli
            candidate = hasher.cli(verification_id, submitted)
        else:
            submitted = command.code or ""
            candidate = hasher.code(verification_id, submitted)
        try:
            # A waiting workflow's task token is taken by the same write: no second round trip for it.
            record = context.store.succeed_if_matches(
                verification_id,
                secret_hash=candidate,
                owner_hash=owner_hash,
                now=now,
                take_token=context.workflows is not None,
            )
        except ConditionFailed as failed:
            return self._not_matched(failed.record, command, owner_hash, (submitted, candidate), now)
        verified = view(record, now)
        self._resumer.taken(record, verified)
        self._verified(record, submitted, now)
        return verified

    def _not_matched(
        self,
        current: VerificationRecord | None,
        command: ReportCommand,
        owner_hash: str,
        given: tuple[str, str],
        now: int,
    ) -> Verification:
        """``given``: the code (or CLI) as reported, and its keyed hash."""
        problem = refusal(current, owner_hash, now)
        if problem is not None:
            self._context.outcomes.record("refused", current.method if current else "unknown", problem.code)
            self._lifecycle.touched(current, problem, now)
            self._resumer.refused(current, problem, now)
            raise problem
        assert current is not None  # refusal() is NotFound for a missing record
        wants_cli = current.method is Method.FLASHCALL
        if wants_cli != (command.cli is not None):
            raise Conflict(
                "This verification expects cli." if wants_cli else "This verification expects code."
            )
        submitted, candidate = given
        if current.checked_by == "service" or candidate in current.retired_hashes:
            # Checked here, or the code of a channel ``next`` left behind: a wrong code, Sinch not asked.
            return self._wrong(self._count_attempt(current.id, owner_hash, now), now)
        return self._ask_sinch(current, owner_hash, submitted, now)

    def _latest_for(self, phone_number: str | None, owner_hash: str) -> str:
        """The caller's own latest verification for the number: another owner's is never reached, and a
        number with only other owners' verifications answers as one with none."""
        if phone_number is None:
            raise VerificationNotFound()
        try:
            number = phone.parse(phone_number)
        except (InvalidRequest, DestinationDenied):
            raise VerificationNotFound() from None
        number_hash = self._context.hashing().number(number.e164)
        latest = self._context.store.latest_for_number(number_hash, owner_hash)
        if latest is None:
            raise VerificationNotFound()
        return latest

    def _count_attempt(self, verification_id: str, owner_hash: str, now: int) -> VerificationRecord:
        try:
            return self._context.store.count_attempt(verification_id, owner_hash=owner_hash, now=now)
        except ConditionFailed as failed:
            # Lost a race to the last attempt (or to expiry): answer as the verification now stands.
            problem = refusal(failed.record, owner_hash, now) or TooManyAttempts()
            self._resumer.refused(failed.record, problem, now)
            raise problem from None

    def _wrong(self, record: VerificationRecord, now: int) -> Verification:
        self._context.outcomes.record("failed", record.method, "wrong_code")
        if record.attempts >= record.max_attempts:  # the last attempt: the verification has failed
            self._lifecycle.changed("Failed", record, now)
            self._resumer.ended(record, TooManyAttempts())
        result = view(record, now)
        return Verification(
            id=result.id,
            method=result.method,
            status=result.status,
            reason=wrong_reason(record.method),
            attempts_remaining=result.attempts_remaining,
            expires_at=result.expires_at,
            reference=result.reference,
        )

    def _ask_sinch(
        self, current: VerificationRecord, owner_hash: str, submitted: str, now: int
    ) -> Verification:
        """A verification Sinch judges: count the attempt first (the limit holds under concurrency), then
        ask; give the attempt back when Sinch certainly did not judge it."""
        store, verification_id = self._context.store, current.id
        record = self._count_attempt(verification_id, owner_hash, now)
        outcome = self._context.sinch.report(current.at_sinch, current.method, submitted)
        if not isinstance(outcome, Decided):
            if not (isinstance(outcome, Unavailable) and outcome.may_have_acted):
                store.refund_attempt(verification_id)
            raise outcome.error
        if outcome.status is Status.SUCCESSFUL:
            finished = self._finish(verification_id, Status.SUCCESSFUL, None, now)
            self._context.outcomes.record("verified", finished.method, country=finished.country)
            self._guard.converted(finished, now)
            verified = view(finished, now)
            self._lifecycle.changed("Succeeded", finished, now)
            self._resumer.ended(finished, verified)
            return verified
        ended = _ending(outcome)
        if (
            ended is None
            and outcome.status is Status.FAIL
            and self._context.settings.sinch_fail_ends_verification
        ):
            return self._failed_at_sinch(verification_id, outcome.reason, now)
        if ended is None:
            return self._wrong(record, now)
        finished = self._finish(verification_id, outcome.status, outcome.reason, now)
        if isinstance(ended, VerificationExpired) and outcome.expired:
            self._lifecycle.changed("Expired", finished, now)
        elif isinstance(ended, DestinationDenied):
            self._lifecycle.changed("Blocked", finished, now)
        self._resumer.ended(finished, ended)
        raise ended

    def _failed_at_sinch(self, verification_id: str, reason: str | None, now: int) -> Verification:
        """Sinch said FAIL to a wrong code, and at Sinch that ends the verification (its guidance: once a
        verification fails, start a new one): ours ends with it, answered as a last wrong attempt."""
        finished = self._finish(verification_id, Status.FAIL, reason or "Invalid code", now)
        self._context.outcomes.record("failed", finished.method, "wrong_code")
        self._lifecycle.changed("Failed", finished, now)
        self._resumer.ended(finished, TooManyAttempts())
        result = view(finished, now)
        return replace(result, reason=wrong_reason(finished.method), attempts_remaining=0)

    def _finish(
        self, verification_id: str, status: Status, reason: str | None, now: int
    ) -> VerificationRecord:
        try:
            return self._context.store.finish(verification_id, status=status, reason=reason, now=now)
        except ConditionFailed as failed:
            if failed.record is not None and failed.record.status is Status.SUCCESSFUL:
                raise AlreadyVerified() from None
            raise VerificationExpired() from None

    def _verified(self, record: VerificationRecord, submitted: str, now: int) -> None:
        """The service found the code right: credit the guard and tell Sinch too, for its statistics and
        billing. The guard's credit is a write of its own (its prefix is known only from the record), so
        it runs while Sinch is told and the answer does not wait for it. Our verdict stands: a failure of
        either is counted and logged, never an error for the user."""
        context = self._context
        context.outcomes.record("verified", record.method, country=record.country)
        logger.info("verification succeeded", extra={"verification_id": record.id, "method": record.method})
        with alongside(lambda: self._guard.converted(record, now), record.guard_prefix is not None):
            self._lifecycle.changed("Succeeded", record, now)
            self._tell_sinch(record, submitted)

    def _tell_sinch(self, record: VerificationRecord, submitted: str) -> None:
        """The code is not kept for a later retry (no plaintext codes at rest), so the one retry happens
        now; a report Sinch never took is flagged on the verification."""
        context = self._context
        for attempt in (1, 2):
            outcome = context.sinch.report(record.at_sinch, record.method, submitted)
            if isinstance(outcome, Decided) and not outcome.expired:
                return
            if attempt == 2 or not isinstance(outcome, Unavailable):
                break
        context.outcomes.record("sinch_report_failed", record.method)
        context.store.set_sinch_report_pending(record.id, True)


def _ending(outcome: Decided) -> VerificationError | None:
    """The error a Sinch verdict ends the verification with; None for a wrong code (it stays open)."""
    if outcome.expired:
        return VerificationExpired()
    if outcome.status is Status.DENIED:
        return DestinationDenied("The provider denied this verification.")
    if outcome.status is Status.ABORTED:
        return VerificationExpired(SUPERSEDED)
    if outcome.status is Status.ERROR:
        return DestinationDenied(UNREACHABLE)
    return None
