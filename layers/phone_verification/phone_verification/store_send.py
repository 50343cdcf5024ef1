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
from .store_budgets import Budgets, Plan, refreshed, reservation, shards_of, take_item
from .store_guard import GuardPlan, GuardTable
from .store_items import aws_failure, cancelled_with_items, conflicted_items, is_conflict

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
        budgets: Budgets,
        *,
        retention: int,
        latest: Callable[[str, str], Latest | None],
    ) -> None:
        self._table = table_name
        self._client = client
        self._guard = guard
        self._budgets = budgets
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
        plans = self._first_plans(budgets, now, guard_plan)
        decided, taken, pointer = self._transact(
            guard, guard_plan, budgets, plans, now=now, latest_for=latest_for
        )
        if taken is None:  # the guard refused, once it had seen the prefix as it is
            return SendReservation(decided.verdict if decided else None, ())
        latest = pointer.result() if pointer else None
        verdict = _verdict(decided, now)
        reservations = tuple(reservation(ask, plan, now) for ask, plan in zip(budgets, taken, strict=True))
        guarded = self._guard.guarded(guard, decided) if guard and decided else None
        return SendReservation(verdict, reservations, latest, guarded)

    def _transact(
        self,
        guard: GuardAsk | None,
        guard_plan: GuardPlan | None,
        budgets: Sequence[BudgetAsk],
        plans: list[Plan],
        *,
        now: int,
        latest_for: tuple[str, str] | None,
    ) -> tuple[GuardPlan | None, list[Plan] | None, Future[Latest | None] | None]:
        """The transaction, sent until it applies: the guard's plan and the budgets' plans it applied
        with, or no plans when the guard refused under ``enforce``; and the number's latest verification,
        read meanwhile."""
        pointer: Future[Latest | None] | None = None
        for _ in range(ROUNDS):
            guard_items = self._guard.items(guard, guard_plan, now) if guard and guard_plan else []
            items = guard_items + self._budget_items(budgets, plans, now)
            if pointer is None:
                # Submitted once the items are built, so that the read's own work on its thread
                # overlaps this thread's wait for the transaction, not its work (one interpreter lock).
                pointer = self._read_latest(latest_for)
            try:
                if items:  # nothing to write when the guard decided alone (a safe-listing) and no budget
                    self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                guard_plan, replanned = self._cancelled(
                    exc, guard, guard_plan, budgets, plans, offset=len(guard_items), now=now
                )
                if replanned is None:
                    return guard_plan, None, pointer
                plans = replanned
                continue
            except BotoCoreError as exc:
                raise aws_failure("reserve send", exc) from exc
            return guard_plan, plans, pointer
        raise BudgetRefused(-1, LimitReached("contention", 1))

    def _cancelled(
        self,
        exc: ClientError,
        guard: GuardAsk | None,
        guard_plan: GuardPlan | None,
        budgets: Sequence[BudgetAsk],
        plans: list[Plan],
        *,
        offset: int,
        now: int,
    ) -> tuple[GuardPlan | None, list[Plan] | None]:
        """The plans for the next round after a cancelled transaction (``offset``: the guard's items come
        first): what refused decided on again, what conflicted sent elsewhere; no plans when the guard
        refuses under ``enforce``."""
        failed = cancelled_with_items(exc)
        if not failed:
            if not is_conflict(exc):
                raise aws_failure("reserve send", exc) from exc
            conflicted = conflicted_items(exc)
            if guard and guard_plan and any(index < offset for index in conflicted):
                guard_plan = self._guard.elsewhere(guard, guard_plan, now)
            return guard_plan, self._elsewhere(budgets, plans, conflicted, offset, now)
        guard_failed = {index: item for index, item in failed.items() if index < offset}
        if guard and guard_plan and guard_failed:
            guard_plan = self._guard.refreshed(guard, guard_plan, guard_failed, now)
            if _refuses(guard, guard_plan):
                return guard_plan, None
        try:
            return guard_plan, self._replanned(budgets, plans, failed, offset, now)
        except BudgetRefused as refused:
            refused.verdict = guard_plan.verdict if guard_plan else None
            raise

    def _first_plans(
        self, budgets: Sequence[BudgetAsk], now: int, guard_plan: GuardPlan | None
    ) -> list[Plan]:
        """A shard of each budget, at random among those not known full; a budget this environment
        found full a moment ago refuses without asking (its wait is still exact)."""
        plans = []
        for index, ask in enumerate(budgets):
            reached = self._budgets.memory.refusal(ask, now)
            if reached is not None:
                raise BudgetRefused(index, reached, guard_plan.verdict if guard_plan else None)
            plans.append(Plan(self._budgets.memory.choose(ask, now)))
        return plans

    def _replanned(
        self,
        budgets: Sequence[BudgetAsk],
        plans: list[Plan],
        failed: Mapping[int, Mapping[str, Any]],
        offset: int,
        now: int,
    ) -> list[Plan]:
        """Each budget whose update failed, decided on again on its item as it was; a full shard of a
        large budget sends the start to one with room (``Budgets.room``). The first budget (in order) that
        refuses the start refuses the send."""
        replanned = list(plans)
        for index, ask in enumerate(budgets):
            item = failed.get(index + offset)
            if item is None:
                continue
            try:
                try:
                    replanned[index] = refreshed(ask, plans[index], item, now)
                except LimitReached as reached:
                    self._budgets.memory.full(ask, plans[index].shard, reached, now)
                    if shards_of(ask) == 1:
                        raise
                    replanned[index] = self._budgets.room(ask, now)
            except LimitReached as reached:
                raise BudgetRefused(index, reached) from None
        return replanned

    def _elsewhere(
        self, budgets: Sequence[BudgetAsk], plans: list[Plan], conflicted: set[int], offset: int, now: int
    ) -> list[Plan]:
        """A budget's shard that another transaction was writing at the same moment: another shard next
        time (a busy caller's starts spread out instead of queueing on one item)."""
        moved = list(plans)
        for index, ask in enumerate(budgets):
            if index + offset in conflicted and plans[index].seen is None and shards_of(ask) > 1:
                moved[index] = Plan(self._budgets.memory.choose(ask, now, avoid=plans[index].shard))
        return moved

    def _budget_items(
        self, budgets: Sequence[BudgetAsk], plans: list[Plan], now: int
    ) -> list[TransactWriteItemTypeDef]:
        """One update per budget, in order (after the guard's)."""
        items: list[TransactWriteItemTypeDef] = []
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
