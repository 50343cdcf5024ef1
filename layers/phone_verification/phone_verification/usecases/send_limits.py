"""What a send must hold before anything is sent: the fraud guard's token, the caller's budget, the budget
of the rate key the caller named, and the number's limit, taken together in one change of the store
(``Store.reserve_send``: all or nothing, so a refusal spends nothing of the others).

The limits hold over any window of their length (``limits``). The caller's budget is the caller's own, so
its refusal says exactly how long to wait. The number's limit protects the phone's holder from being
flooded and is shared by every caller, so its refusal must not tell one caller when another started: it
says only that the number is busy, with the limit's own window (or minimum gap) as ``Retry-After``. When
the guard refuses, that refusal is the answer, whatever the budgets would have said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from phone_verification.codes import Hasher
from phone_verification.commands import NextCommand, StartCommand
from phone_verification.errors import RateLimited, ServiceUnavailable, VerificationError
from phone_verification.limits import Limit
from phone_verification.phone import PhoneNumber
from phone_verification.ports import BudgetAsk, BudgetRefused, Latest, StartReservation

from .fraud_guard import FraudGuard
from .shared import Context

NUMBER_BUSY = "Too many verifications were sent to this number recently; try again later."
RATE_KEY_BUSY = "Too many verifications were started for this rateKey; try again later."

Budget = Literal["caller", "rate_key", "number"]


@dataclass(frozen=True, slots=True)
class Taken:
    """What a send holds: its budgets' slots (the number's last), the prefix whose token it took (its
    conversion is credited, its failure refunded) and, when asked for, the owner's latest verification
    for the number."""

    reservations: list[StartReservation]
    guarded: str | None
    latest: Latest | None = None


class SendLimits:
    def __init__(self, context: Context, guard: FraudGuard) -> None:
        self._context = context
        self._guard = guard

    def take(
        self,
        command: StartCommand | NextCommand,
        hasher: Hasher,
        number: PhoneNumber,
        *,
        number_hash: str,
        owner_hash: str,
        method: str,
        now: int,
        latest: bool,
    ) -> Taken:
        """The guard's token and the slots of the caller (when it has a budget), of the rate key the
        caller named (an end user behind it, counted within that caller) and of the number. ``latest``:
        also find the owner's latest verification for the number (a start supersedes it)."""
        budgets, asks = self._asks(command, hasher, number_hash)
        guard = self._guard.ask(number, hasher)
        try:
            reserved = self._context.store.reserve_send(
                guard, asks, now=now, latest_for=(number_hash, owner_hash) if latest else None
            )
        except BudgetRefused as refused:
            self._guard.judge(guard, refused.verdict, method)  # a refusal under monitor is still logged
            raise self._refusal(budgets, asks, refused) from None
        guarded = self._guard.judge(guard, reserved.verdict, method, reserved.guarded)
        return Taken(list(reserved.reservations), guarded, reserved.latest)

    def release(self, reservations: list[StartReservation]) -> None:
        for reservation in reservations:
            self._context.store.release(reservation)

    def _asks(
        self, command: StartCommand | NextCommand, hasher: Hasher, number_hash: str
    ) -> tuple[list[Budget], list[BudgetAsk]]:
        settings = self._context.settings
        window = settings.caller_window_seconds
        budgets: list[Budget] = []
        asks: list[BudgetAsk] = []
        if command.rate_key is not None:
            principal = command.rate_key.startswith("iam:")
            budget = settings.max_starts_per_principal if principal else settings.max_starts_per_user
            if budget:
                budgets.append("caller")
                asks.append(BudgetAsk("caller", hasher.caller(command.rate_key), Limit(budget, window)))
        if command.user_rate_key is not None and settings.max_starts_per_rate_key:
            user_key = f"rate-key\x1f{command.owner}\x1f{command.user_rate_key}"
            budgets.append("rate_key")
            asks.append(
                BudgetAsk("caller", hasher.caller(user_key), Limit(settings.max_starts_per_rate_key, window))
            )
        number_limit = Limit(
            settings.max_starts_per_number,
            settings.start_window_seconds,
            settings.min_seconds_between_starts,
        )
        budgets.append("number")
        asks.append(
            BudgetAsk("number", number_hash, number_limit, keep_for=settings.verification_ttl_seconds)
        )
        return budgets, asks

    def _refusal(
        self, budgets: list[Budget], asks: list[BudgetAsk], refused: BudgetRefused
    ) -> VerificationError:
        reached = refused.reached
        if reached.rule == "contention":
            # Starts kept racing for the same budgets: nothing is wrong with the request.
            return ServiceUnavailable(retry_after=1)
        budget, limit = budgets[refused.index], asks[refused.index].limit
        if budget == "number":
            return RateLimited(
                NUMBER_BUSY, retry_after=limit.window if reached.rule == "window" else limit.min_gap
            )
        if budget == "rate_key":
            return RateLimited(RATE_KEY_BUSY, retry_after=reached.wait)
        return RateLimited(retry_after=reached.wait)
