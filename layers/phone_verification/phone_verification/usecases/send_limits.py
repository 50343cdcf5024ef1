"""The send limits a start must pass before anything is sent: the caller's budget, then the number's.

Both hold over any window of their length (``limits``). The caller's budget is the caller's own, so its
refusal says exactly how long to wait. The number's limit protects the phone's holder from being flooded
and is shared by every caller, so its refusal must not tell one caller when another started: it says only
that the number is busy, with the limit's own window (or minimum gap) as ``Retry-After``.
"""

from __future__ import annotations

from phone_verification.codes import Hasher
from phone_verification.commands import NextCommand, StartCommand
from phone_verification.errors import RateLimited, ServiceUnavailable, VerificationError
from phone_verification.limits import Limit, LimitReached
from phone_verification.ports import StartReservation

from .shared import Context

NUMBER_BUSY = "Too many verifications were sent to this number recently; try again later."
RATE_KEY_BUSY = "Too many verifications were started for this rateKey; try again later."


class SendLimits:
    def __init__(self, context: Context) -> None:
        self._context = context

    def take(
        self,
        command: StartCommand | NextCommand,
        hasher: Hasher,
        number_hash: str,
        owner_hash: str,
        now: int,
    ) -> list[StartReservation]:
        """The caller's slot (when the caller has a budget), the slot of the rate key the caller named (an
        end user behind it, counted within that caller), then the number's, last in the list. The
        number's reservation carries the owner's latest verification for the number."""
        taken: list[StartReservation] = []
        if command.rate_key is not None:
            principal = command.rate_key.startswith("iam:")
            taken += self._caller(hasher.caller(command.rate_key), principal, now)
        try:
            if command.user_rate_key is not None:
                user_key = f"rate-key\x1f{command.owner}\x1f{command.user_rate_key}"
                taken += self._rate_key(hasher.caller(user_key), now)
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

    def _rate_key(self, key_hash: str, now: int) -> list[StartReservation]:
        settings = self._context.settings
        if not settings.max_starts_per_rate_key:
            return []
        limit = Limit(settings.max_starts_per_rate_key, settings.caller_window_seconds)
        try:
            return [self._context.store.reserve("caller", key_hash, now=now, limit=limit)]
        except LimitReached as reached:
            if reached.rule == "contention":
                raise ServiceUnavailable(retry_after=1) from None
            raise RateLimited(RATE_KEY_BUSY, retry_after=reached.wait) from None

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
