"""Everything a send needs, taken in one DynamoDB transaction before Sinch is asked (part of ``store.py``).

Before it sends, a start (or ``next``) must hold a token of the fraud guard's prefix and a slot of each
send budget: the caller's, the rate key's and the number's. Each is one conditional update
(``store_guard.py``, ``store_budgets.py``) that needs no read first, and all of them go in one
``TransactWriteItems``: one round trip, all or nothing, so a refusal by one spends nothing of the others.
Every update carries ``ReturnValuesOnConditionCheckFailure=ALL_OLD``: a cancelled transaction's
``CancellationReasons`` say which items refused and how they are now; those are decided on
(``fraud.decide``, ``limits.take``), and the transaction goes again with their decided updates, or the send
is refused (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
A transaction cancelled by a conflict with another one on the same item goes again as it was.

The owner's latest verification for the number (the one a new start supersedes) is read meanwhile on a
worker thread: a transaction that applies returns nothing, and a read after it would be a round trip of
its own. By the time the new verification is stored it may be out of date; ``store.create`` then finds
the one the number points at by then.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import VerificationError
from .fraud import PrefixState, Verdict
from .limits import LimitReached
from .ports import BudgetAsk, BudgetRefused, GuardAsk, Latest, SendReservation
from .store_budgets import Plan, refreshed, reservation, take_item
from .store_guard import GuardPlan, GuardTable
from .store_items import aws_failure, cancelled_with_items, is_conflict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

logger = logging.getLogger(__name__.removesuffix("_send"))

# Rounds of "send, learn why it was cancelled, decide again" before giving up (each round, at least one
# racing start gets through); a start that gives up is told to retry (503).
ROUNDS = 6


class SendTransaction:
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        guard: GuardTable,
        *,
        retention: int,
        latest: Callable[[str, str], Latest | None],
    ) -> None:
        self._table = table_name
        self._client = client
        self._guard = guard
        self._retention = retention
        self._latest = latest
        self._worker: ThreadPoolExecutor | None = None

    def reserve(
        self,
        guard: GuardAsk | None,
        budgets: Sequence[BudgetAsk],
        *,
        now: int,
        latest_for: tuple[str, str] | None,
    ) -> SendReservation:
        guard_plan = self._guard.plan(guard, now) if guard is not None else None
        if _refuses(guard, guard_plan):
            return SendReservation(guard_plan.verdict if guard_plan else None, ())
        pointer = self._read_latest(latest_for)
        plans = [Plan() for _ in budgets]
        for _ in range(ROUNDS):
            items = self._items(guard, guard_plan, budgets, plans, now)
            try:
                if items:  # nothing to write when the guard decided alone (a safe-listing) and no budget
                    self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                failed = cancelled_with_items(exc)
                if not failed:
                    if is_conflict(exc):
                        continue
                    raise aws_failure("reserve send", exc) from exc
                offset = int(guard_plan is not None and guard_plan.verdict is None)
                if offset and 0 in failed and guard is not None:
                    guard_plan = self._guard.refreshed(guard, failed[0], now)
                    if _refuses(guard, guard_plan):
                        return SendReservation(guard_plan.verdict, ())
                try:
                    plans = _replanned(budgets, plans, failed, offset, now)
                except BudgetRefused as refused:
                    refused.verdict = guard_plan.verdict if guard_plan else None
                    raise
                continue
            except BotoCoreError as exc:
                raise aws_failure("reserve send", exc) from exc
            verdict = _verdict(guard_plan, now)
            taken = tuple(reservation(ask, plan, now) for ask, plan in zip(budgets, plans, strict=True))
            return SendReservation(verdict, taken, pointer.result() if pointer else None)
        raise BudgetRefused(-1, LimitReached("contention", 1))

    def _items(
        self,
        guard: GuardAsk | None,
        guard_plan: GuardPlan | None,
        budgets: Sequence[BudgetAsk],
        plans: list[Plan],
        now: int,
    ) -> list[TransactWriteItemTypeDef]:
        """The guard's update first (unless it is decided already), then one per budget, in order."""
        items: list[TransactWriteItemTypeDef] = []
        if guard is not None and guard_plan is not None and guard_plan.verdict is None:
            items.append(self._guard.item(guard, guard_plan, now))
        for ask, plan in zip(budgets, plans, strict=True):
            ttl = now + max(ask.limit.window, ask.keep_for) + self._retention
            items.append(take_item(self._table, ask, plan, now=now, ttl=ttl))
        return items

    def _read_latest(self, latest_for: tuple[str, str] | None) -> Future[Latest | None] | None:
        if latest_for is None:
            return None
        if self._worker is None:
            # One worker: Lambda runs one request at a time per environment.
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-latest")
        number_hash, owner_hash = latest_for

        def read() -> Latest | None:
            try:
                return self._latest(number_hash, owner_hash)
            except VerificationError:
                return None  # logged; ``store.create`` finds the latest by itself, one round trip later

        return self._worker.submit(contextvars.copy_context().run, read)


def _refuses(guard: GuardAsk | None, plan: GuardPlan | None) -> bool:
    """The guard has refused and enforces it: nothing else is to be taken."""
    refused = plan is not None and plan.verdict is not None and not plan.verdict.allowed
    return refused and guard is not None and guard.policy.mode == "enforce"


def _verdict(plan: GuardPlan | None, now: int) -> Verdict | None:
    if plan is None:
        return None
    # Its update applied: a token was taken (the state it leaves is not read back).
    return plan.verdict or Verdict(True, True, PrefixState(tokens=0.0, updated=now))


def _replanned(
    budgets: Sequence[BudgetAsk],
    plans: list[Plan],
    failed: Mapping[int, Mapping[str, Any]],
    offset: int,
    now: int,
) -> list[Plan]:
    """Each budget whose update failed, decided on again on its item as it was; the first (in order)
    that refuses the start refuses the send."""
    replanned = list(plans)
    for index, ask in enumerate(budgets):
        item = failed.get(index + offset)
        if item is None:
            continue
        try:
            replanned[index] = refreshed(ask, plans[index], item, now)
        except LimitReached as reached:
            raise BudgetRefused(index, reached) from None
    return replanned
