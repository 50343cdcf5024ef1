"""The send limits a start must pass before anything is sent: the caller's budget, then the number's.

Both hold over any window of their length (``limits``). The caller's budget is the caller's own, so its
refusal says exactly how long to wait. The number's limit protects the phone's holder from being flooded
and is shared by every caller, so its refusal must not tell one caller when another started: it says only
that the number is busy, with the limit's own window (or minimum gap) as ``Retry-After``.
"""

from __future__ import annotations

from phone_verification.errors import RateLimited, ServiceUnavailable, VerificationError
from phone_verification.limits import Limit, LimitReached
from phone_verification.ports import StartReservation

from .shared import Context

NUMBER_BUSY = "Too many verifications were sent to this number recently; try again later."


class SendLimits:
    def __init__(self, context: Context) -> None:
        self._context = context

    def take(
        self, *, rate_key_hash: str | None, principal: bool, number_hash: str, owner_hash: str, now: int
    ) -> list[StartReservation]:
        """The caller's slot (when the caller has a budget), then the number's, last in the list. The
        number's reservation carries the owner's latest verification for the number."""
        taken: list[StartReservation] = []
        if rate_key_hash is not None:
            taken += self._caller(rate_key_hash, principal, now)
        try:
            taken.append(self._number(number_hash, owner_hash, now))
        except VerificationError:
            self.release(taken)
            raise
        return taken

    def release(self, reservations: list[StartReservation]) -> None:
        for reservation in reservations:
            self._context.store.release(reservation)

    def _caller(self, key_hash: str, principal: bool, now: int) -> list[StartReservation]:
        settings = self._context.settings
        budget = settings.max_starts_per_principal if principal else settings.max_starts_per_user
        if not budget:
            return []
        limit = Limit(budget, settings.caller_window_seconds)
        try:
            return [self._context.store.reserve("caller", key_hash, now=now, limit=limit)]
        except LimitReached as reached:
            if reached.rule == "contention":
                # The caller's own starts kept racing for its budget: nothing is wrong with the request.
                raise ServiceUnavailable(retry_after=1) from None
            raise RateLimited(retry_after=reached.wait) from None

    def _number(self, number_hash: str, owner_hash: str, now: int) -> StartReservation:
        settings = self._context.settings
        limit = Limit(
            settings.max_starts_per_number,
            settings.start_window_seconds,
            settings.min_seconds_between_starts,
        )
        try:
            return self._context.store.reserve(
                "number",
                number_hash,
                now=now,
                limit=limit,
                keep_for=settings.verification_ttl_seconds,
                owner_hash=owner_hash,
            )
        except LimitReached as reached:
            wait = limit.window if reached.rule == "window" else limit.min_gap
            raise RateLimited(NUMBER_BUSY, retry_after=wait) from None
