"""A verification's lifecycle as the world hears of it: each change is published (``ports.Events``) after
the state change that makes it true.

Expiry has no moment of its own: DynamoDB's TTL deletes a verification a day after it expired, and
nothing runs when ``expiresAt`` passes. So an expired verification is closed when it is next touched (a
report, a status read, ``next`` or a cancel by its owner): one conditional write moves it to
``FAIL``/``Expired``, and only the caller whose write applied publishes ``Expired``, so it is told once.
"""

from __future__ import annotations

from phone_verification.errors import VerificationError, VerificationExpired
from phone_verification.model import Status, VerificationRecord
from phone_verification.ports import Change, ConditionFailed

from .shared import Context

EXPIRED = "Expired"


class Lifecycle:
    def __init__(self, context: Context) -> None:
        self._context = context

    def changed(self, change: Change, record: VerificationRecord, now: int) -> None:
        self._context.events.publish(change, record, now=now)

    def touched(self, record: VerificationRecord | None, problem: VerificationError | None, now: int) -> None:
        """The owner touched a verification that ``problem`` says has expired: close it, once. One whose
        attempts were used up has already ended (told of as "Failed"), though its status stays PENDING."""
        if (
            record is None
            or not isinstance(problem, VerificationExpired)
            or record.status is not Status.PENDING
            or now < record.expires_at
            or record.attempts >= record.max_attempts
        ):
            return
        try:
            closed = self._context.store.finish(record.id, status=Status.FAIL, reason=EXPIRED, now=now)
        except ConditionFailed:
            return  # another request closed it (and told of it) first
        self.changed("Expired", closed, now)
