"""One send through Sinch, for a start and for ``next``: what happens when Sinch fails it.

The send limits and the fraud guard's token are taken before the send. When Sinch certainly sent nothing
they go back; when it may have sent something (a timeout, an answer cut off) they stay taken, and the
send is looked up by its reference, which is always the service's own and unique per send, so what the
lookup finds is this send and nothing else.
"""

from __future__ import annotations

import logging

from phone_verification.model import Refused, SendRequest, Sent
from phone_verification.ports import StartReservation

from .fraud_guard import FraudGuard
from .send_limits import SendLimits
from .shared import Context

logger = logging.getLogger(__name__)


def sinch_reference(verification_id: str, channel: int) -> str:
    """What Sinch knows a send by: the verification's own id, and the channel after the first."""
    return f"pv-{verification_id}" if channel == 0 else f"pv-{verification_id}-{channel}"


class Sender:
    def __init__(self, context: Context, limits: SendLimits, guard: FraudGuard) -> None:
        self._context = context
        self._limits = limits
        self._guard = guard

    def send(
        self, request: SendRequest, reservations: list[StartReservation], guarded: str | None, now: int
    ) -> Sent:
        outcome = self._context.sinch.start(request)
        if isinstance(outcome, Sent):
            return outcome
        if isinstance(outcome, Refused) or not outcome.may_have_acted:
            # Nothing was sent: the slots and the guard's token go back.
            self._limits.release(reservations)
            self._guard.refund(guarded, now)
            raise outcome.error
        # Sinch may have started it (timed out, cut off after sending, an unreadable 2xx). Ask by the
        # reference before answering, so the caller neither loses a sent SMS nor gets a second one.
        found = self._context.sinch.find_pending(request.reference)
        if found is None:
            raise outcome.error
        logger.info("recovered a send whose answer was lost", extra={"sinch_id": found})
        return Sent(found, request.method)
