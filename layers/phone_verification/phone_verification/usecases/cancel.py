"""Cancelling a verification: its owner ends it before it is used (the user left, the backend gave up).

One conditional write, with the condition a report has, so only the owner can cancel and a stranger's
cancel is answered as one for an id that never existed. Cancelling again answers the cancelled
verification (idempotent); cancelling one that ended otherwise answers how it ended. Later reports get
``410 cancelled``; a waiting workflow is resumed with ``VerificationCancelled``.
"""

from __future__ import annotations

import logging

from phone_verification.errors import VerificationCancelled
from phone_verification.model import Status, Verification, owned_by, refusal, view
from phone_verification.ports import ConditionFailed

from .lifecycle import Lifecycle
from .resume import Resumer
from .shared import Context

logger = logging.getLogger(__name__)


class CancelVerification:
    def __init__(self, context: Context, resumer: Resumer) -> None:
        self._context = context
        self._resumer = resumer
        self._lifecycle = Lifecycle(context)

    def __call__(self, verification_id: str, owner: str) -> Verification:
        context = self._context
        owner_hash, now = context.hashing().caller(owner), context.now()
        try:
            cancelled = context.store.cancel(verification_id, owner_hash=owner_hash, now=now)
        except ConditionFailed as failed:
            current = failed.record
            if current is not None and current.status is Status.CANCELLED and owned_by(current, owner_hash):
                return view(current, now)
            problem = refusal(current, owner_hash, now)
            assert problem is not None  # the write's condition is refusal()'s "open"
            self._lifecycle.touched(current, problem, now)
            self._resumer.refused(current, problem, now)
            raise problem from None
        context.outcomes.record("cancelled", cancelled.method)
        logger.info("verification cancelled", extra={"verification_id": cancelled.id})
        self._lifecycle.changed("Cancelled", cancelled, now)
        self._resumer.ended(cancelled, VerificationCancelled())
        return view(cancelled, now)
