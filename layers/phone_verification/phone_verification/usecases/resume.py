"""Resuming the Step Functions task that waits for a verification (the callback pattern).

A workflow that starts a verification with ``lambda:invoke.waitForTaskToken`` passes its task token; the
verification keeps it and, when it ends, the workflow is resumed once: with the verification when it
succeeded, with the error that ended it otherwise. Once, because the token is taken from the verification
by a conditional write before it is used, however many reports race.
"""

from __future__ import annotations

from phone_verification.errors import (
    AlreadyVerified,
    TooManyAttempts,
    VerificationError,
    VerificationExpired,
    VerificationNotFound,
)
from phone_verification.model import SUPERSEDED, Status, Verification, VerificationRecord, refusal, view
from phone_verification.ports import ConditionFailed

from .shared import Context


class Resumer:
    def __init__(self, context: Context) -> None:
        self._context = context

    def ended(self, record: VerificationRecord, outcome: Verification | VerificationError) -> None:
        """The verification has ended with ``outcome``: resume its waiting task, if one waits."""
        if self._context.workflows is None or record.task_token is None:
            return
        token = self._context.store.take_task_token(record.id)
        if token is not None:
            self._send(token, record.id, outcome)

    def taken(self, record: VerificationRecord, outcome: Verification) -> None:
        """The write that ended the verification took its task token (``record.task_token``): resume
        the waiting task with it."""
        if self._context.workflows is not None and record.task_token is not None:
            self._send(record.task_token, record.id, outcome)

    def refused(self, record: VerificationRecord | None, problem: VerificationError, now: int) -> None:
        """A report refused because the verification has ended still ends its waiting task (a report after
        expiry is how an expiry becomes known). Never for a caller who does not own it."""
        if record is None or isinstance(problem, VerificationNotFound):
            return
        self.ended(record, view(record, now) if isinstance(problem, AlreadyVerified) else problem)

    def superseded(self, previous_id: str) -> None:
        """A new start for the number aborted its previous verification: fail that one's task now."""
        if self._context.workflows is None:
            return
        token = self._context.store.take_task_token(previous_id, status=Status.ABORTED)
        if token is not None:
            self._send(token, previous_id, VerificationExpired(SUPERSEDED))

    def adopt(self, verification_id: str, token: str) -> None:
        """A retried start (an idempotent replay) brings the retry's task token: resume that one. If the
        verification has already ended, resume it at once with how it ended."""
        context = self._context
        try:
            context.store.replace_task_token(verification_id, token)
        except ConditionFailed as failed:
            record, now = failed.record, context.now()
            if record is None or context.workflows is None:
                return
            ended = (
                view(record, now)
                if record.status is Status.SUCCESSFUL
                else refusal(record, record.owner_hash, now)
            )
            self._send(token, verification_id, ended or TooManyAttempts())

    def _send(self, token: str, verification_id: str, outcome: Verification | VerificationError) -> None:
        workflows = self._context.workflows
        assert workflows is not None
        if isinstance(outcome, VerificationError):
            workflows.failed(token, outcome, verification_id=verification_id)
        else:
            workflows.succeeded(token, outcome)
