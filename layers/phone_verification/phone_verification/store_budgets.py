"""The start limits' logs and the owners' latest verifications in DynamoDB (part of ``store.py``).

Items ``number#<hash>`` and ``caller#<hash>`` hold a limit's log (``limits.StartLog``) as top-level
attributes: ``b<bucket>`` (the starts counted in that bucket), ``total`` (the sum of all of them),
``oldest`` (the oldest bucket held), ``lastStart`` and ``prevStart`` (the start before it, which a
release puts back), ``version`` (every write adds one) and ``ttl``.

A start takes its slot with one conditional update that needs neither a read nor a memory of the item:
add one to its bucket and to ``total`` if ``total`` is below the limit (and, with a minimum gap, if
``lastStart`` is old enough). ``total`` counts every start the item holds, inside the window or not, so
"total below the limit" implies "fewer than the limit in any window": the update can never let one too
many through, and starts racing from many execution environments need nothing but DynamoDB's atomic
condition. Only when the condition fails is the log decided on (``limits.take``), on the item as it was
(``ReturnValuesOnConditionCheckFailure``): a refusal is always decided on the log as DynamoDB has it; a
start the window allows (the item held starts that have left it) is written with those buckets removed,
conditional on ``version``. Items of earlier releases (a ``log`` map, or a fixed window's ``starts``)
fail the first condition and are rewritten the same way. A large limit's item holds at most ``_SPARE``
buckets beyond its window (``oldest``), so it stays small.

These updates are items of the transaction that takes everything a send needs (``store_send.py``). A
number's item also holds, per owner, ``latest:<owner hash>`` (that owner's latest verification for the
number) and ``waits:<owner hash>`` (whether a workflow task waits on it): another owner's starts never
replace or reveal it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .limits import EMPTY, Limit, LimitReached, Rule, StartLog, take
from .ports import BudgetAsk, Latest, StartReservation
from .store_items import attr_n, int_of, key_of, read_all, text_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

logger = logging.getLogger(__name__.removesuffix("_budgets"))

# Buckets a large limit's item may hold beyond its window before a start prunes them (one extra round
# trip per item every _SPARE buckets at most): keeps the item, and so every write's cost, small.
_SPARE = 10
# A caller's budget is spread over one item per SHARD_SLOTS of it (up to MAX_SHARDS), chosen at random per
# start: DynamoDB takes about 1,000 write units a second per partition key and a transaction's update costs
# two, so one item would cap a busy caller near 500 starts a second (README, "Performance").
SHARD_SLOTS = 250
MAX_SHARDS = 32
# How long an environment refuses a full budget without asking DynamoDB again (never past the moment a slot
# frees): long enough that a refused caller hammering the API costs nothing, short enough that a slot
# another environment gave back is soon seen.
REFUSAL_MEMORY_SECONDS = 10
_LAST, _PREV = "lastStart", "prevStart"
# Attributes of the two earlier formats: a ``log`` map of buckets, and a fixed window's counters.
_OLD = ("log", "starts", "windowStart")


def latest_attribute(owner_hash: str) -> str:
    return f"latest:{owner_hash}"


def waits_attribute(owner_hash: str) -> str:
    return f"waits:{owner_hash}"


def latest_of(item: Mapping[str, Any], owner_hash: str | None) -> Latest | None:
    """The owner's latest verification as the number's item holds it."""
    latest = text_of(item, latest_attribute(owner_hash)) if owner_hash else None
    if latest is None or owner_hash is None:
        return None
    return Latest(latest, bool(item.get(waits_attribute(owner_hash), {}).get("BOOL", False)))


def budget_key(ask: BudgetAsk | StartReservation, shard: int = 0) -> dict[str, AttributeValueTypeDef]:
    """A budget's item; a large one is spread over several (``shard`` > 0)."""
    return key_of(ask.kind, ask.key_hash if shard == 0 else f"{ask.key_hash}#{shard}")


def shards_of(ask: BudgetAsk) -> int:
    """How many items hold a budget: one per ``SHARD_SLOTS`` of it, at most ``MAX_SHARDS``; a number's
    limit (a handful of starts, and the owners' pointers) is always one."""
    if ask.kind == "number":
        return 1
    return max(1, min(MAX_SHARDS, ask.limit.max_starts // SHARD_SLOTS))


def shard_limit(ask: BudgetAsk, shard: int) -> Limit:
    """A shard's share of the budget: the shares add up to the budget exactly."""
    count = shards_of(ask)
    if count == 1:
        return ask.limit
    share, extra = divmod(ask.limit.max_starts, count)
    return replace(ask.limit, max_starts=share + (1 if shard < extra else 0))


@dataclass(frozen=True, slots=True)
class Seen:
    """A log as an item held it: ``version`` None for an item without one; ``held``: the attributes that
    hold its buckets (and those of an earlier format)."""

    log: StartLog
    version: int | None
    exists: bool
    held: tuple[str, ...] = ()
    total: int | None = None
    oldest: int | None = None


def seen_of(item: Mapping[str, Any]) -> Seen:
    if not item:
        return Seen(EMPTY, None, exists=False)
    buckets = {int(name[1:], 36): int(value["N"]) for name, value in item.items() if _is_bucket(name, value)}
    held = tuple(name for name in item if name in _OLD or _is_bucket(name, item[name]))
    raw = item.get("log", {}).get("M")
    if isinstance(raw, Mapping):  # the previous release's map of buckets
        buckets |= {int(bucket): int(value["N"]) for bucket, value in raw.items()}
    elif "starts" in item:
        # A fixed window's count (an earlier release) is taken as the last start's: the strictest reading.
        count, last = int_of(item, "starts") or 0, int_of(item, _LAST)
        buckets |= {last: count} if count and last is not None else {}
    log = StartLog(buckets, int_of(item, _LAST))
    return Seen(log, int_of(item, "version"), True, held, int_of(item, "total"), int_of(item, "oldest"))


def bucket_name(bucket: int) -> str:
    """A bucket's attribute: ``b`` and its start in base 36 (7 bytes, not 11: a large limit's item holds
    up to 70 of them, and every write is billed by the item's size in 1 KB steps)."""
    digits = ""
    while bucket:
        bucket, digit = divmod(bucket, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return "b" + (digits or "0")


def _is_bucket(name: str, value: Any) -> bool:
    rest = name[1:]
    return (
        name[:1] == "b" and rest.isalnum() and rest.islower() and isinstance(value, Mapping) and "N" in value
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """How a budget's slot is taken in the next transaction: blind (``seen`` None) or written over the log
    as it was seen (then ``log`` is that log with this start in it)."""

    shard: int = 0
    seen: Seen | None = None
    log: StartLog | None = None


def refreshed(ask: BudgetAsk, plan: Plan, item: Mapping[str, Any], now: int) -> Plan:
    """The plan after the transaction's update of this budget failed its condition, ``item`` being the
    item as it was: raises ``LimitReached`` when the log as DynamoDB has it does not allow the start."""
    return _plan(ask, plan.shard, seen_of(item), now)


def _plan(ask: BudgetAsk, shard: int, seen: Seen, now: int) -> Plan:
    limit = shard_limit(ask, shard)
    log = take(limit, seen.log, now)
    if not seen.exists or _fits_blind(seen, limit, now):  # gone since (TTL), or room again: blind
        return Plan(shard)
    return Plan(shard, seen, log)


def _fits_blind(seen: Seen, limit: Limit, now: int) -> bool:
    """Whether the blind update's condition holds on the item as seen (then racing starts need not
    agree on its version)."""
    if seen.total is None or len(seen.held) != sum(1 for name in seen.held if name not in _OLD):
        return False
    gap = seen.log.last is None or seen.log.last <= now - limit.min_gap
    horizon = limit.granularity == 1 or (seen.oldest or 0) >= _horizon(limit, now)
    return seen.total < limit.max_starts and gap and horizon


def _horizon(limit: Limit, now: int) -> int:
    return limit.bucket(now - limit.window) - _SPARE * limit.granularity


def take_item(table: str, ask: BudgetAsk, plan: Plan, *, now: int, ttl: int) -> TransactWriteItemTypeDef:
    """The transaction's update that takes a slot of ``ask`` as ``plan`` says."""
    limit = shard_limit(ask, plan.shard)
    bucket = limit.bucket(now)
    names = {"#b": bucket_name(bucket), "#total": "total", "#oldest": "oldest", "#version": "version"}
    names |= {"#last": _LAST, "#prev": _PREV, "#ttl": "ttl"}
    values: dict[str, AttributeValueTypeDef] = {":one": attr_n(1), ":now": attr_n(now), ":ttl": attr_n(ttl)}
    if plan.seen is None or plan.log is None:
        values |= {":zero": attr_n(0), ":bucket": attr_n(bucket), ":max": attr_n(limit.max_starts)}
        # Written before #last is: DynamoDB reads every operand from the item as it was, and so does moto
        # when the action comes first.
        update = (
            "SET #b = if_not_exists(#b, :zero) + :one, #total = if_not_exists(#total, :zero) + :one,"
            " #oldest = if_not_exists(#oldest, :bucket), #prev = if_not_exists(#last, :zero),"
            " #last = :now, #ttl = :ttl ADD #version :one"
        )
        names |= {f"#old{i}": name for i, name in enumerate(_OLD)}
        fresh = " AND ".join(f"attribute_not_exists(#old{i})" for i in range(len(_OLD)))
        room = "#total < :max"
        if limit.granularity > 1:
            values[":horizon"] = attr_n(_horizon(limit, now))
            room += " AND #oldest >= :horizon"
        condition = f"((attribute_not_exists(#total) AND {fresh}) OR ({room}))"
        if limit.min_gap:
            values[":cutoff"] = attr_n(now - limit.min_gap)
            condition += " AND (attribute_not_exists(#last) OR #last <= :cutoff)"
    else:
        update, condition = _rewrite(plan.seen, plan.log, bucket, names, values)
    return {
        "Update": {
            "TableName": table,
            "Key": budget_key(ask, plan.shard),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _rewrite(
    seen: Seen, log: StartLog, bucket: int, names: dict[str, str], values: dict[str, AttributeValueTypeDef]
) -> tuple[str, str]:
    """Write ``log`` (the seen log with the start in it) over the item, if it is still as seen: buckets
    that left the window and attributes of earlier formats go."""
    kept = {bucket_name(held) for held in log.buckets}
    gone = [name for name in seen.held if name not in kept]
    names |= {f"#gone{i}": name for i, name in enumerate(gone)}
    values |= {
        ":count": attr_n(log.buckets[bucket]),
        ":total": attr_n(log.total),
        ":oldest": attr_n(min(log.buckets)),
        ":prev": attr_n(seen.log.last or 0),
        ":version": attr_n((seen.version or 0) + 1),
    }
    update = (
        "SET #b = :count, #total = :total, #oldest = :oldest, #prev = :prev, #last = :now, #ttl = :ttl,"
        " #version = :version"
    )
    del values[":one"]
    if gone:
        update += " REMOVE " + ", ".join(f"#gone{i}" for i in range(len(gone)))
    if not seen.exists:
        return update, "attribute_not_exists(pk)"
    if seen.version is None:
        return update, "attribute_exists(pk) AND attribute_not_exists(#version)"
    values[":seen"] = attr_n(seen.version)
    return update, "#version = :seen"


def reservation(ask: BudgetAsk, plan: Plan, now: int) -> StartReservation:
    return StartReservation(ask.kind, ask.key_hash, now, shard_limit(ask, plan.shard).bucket(now), plan.shard)


class Memory:
    """What this execution environment found full, and until when: a shard whose log refused a start is
    not chosen again until a slot of it frees (at most ``REFUSAL_MEMORY_SECONDS``), and a budget whose
    every shard is full is refused without asking DynamoDB, so a refused caller costs nothing per start
    (no hot key). A release in this environment forgets its budget at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (kind, key hash) -> shard -> (remembered until, when a slot frees, the rule that refused)
        self._full: dict[tuple[str, str], dict[int, tuple[int, int, Rule]]] = {}

    def refusal(self, ask: BudgetAsk, now: int) -> LimitReached | None:
        """The budget's refusal when every shard of it is remembered full."""
        known = self._known(ask, now)
        if len(known) < shards_of(ask):
            return None
        frees, rule = min((frees, rule) for _, frees, rule in known.values())
        return LimitReached(rule, frees - now)

    def full(self, ask: BudgetAsk, shard: int, reached: LimitReached, now: int) -> None:
        frees = now + reached.wait
        with self._lock:
            known = self._full.setdefault((ask.kind, ask.key_hash), {})
            known[shard] = (min(frees, now + REFUSAL_MEMORY_SECONDS), frees, reached.rule)

    def choose(self, ask: BudgetAsk, now: int, avoid: int | None = None) -> int:
        """A shard at random (spreading a busy caller's starts), among those not remembered full."""
        count = shards_of(ask)
        if count == 1:
            return 0
        known = self._known(ask, now)
        open_shards = [shard for shard in range(count) if shard not in known and shard != avoid]
        return random.choice(open_shards or range(count))  # noqa: S311 - spreading load, not a secret

    def forget(self, kind: str, key_hash: str) -> None:
        with self._lock:
            self._full.pop((kind, key_hash), None)

    def _known(self, ask: BudgetAsk, now: int) -> dict[int, tuple[int, int, Rule]]:
        with self._lock:
            known = self._full.get((ask.kind, ask.key_hash), {})
            return {shard: entry for shard, entry in known.items() if entry[0] > now}


class Budgets:
    """Finds room in a large budget's shards and gives slots back (the taking itself is part of a send's
    transaction); ``memory`` is this environment's."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self.memory = Memory()

    def room(self, ask: BudgetAsk, now: int) -> Plan:
        """A plan for a shard of ``ask`` that has room, read from every shard at once (one consistent
        ``BatchGetItem``) after the chosen one refused; ``LimitReached`` when none has: refused on the
        logs as DynamoDB has them, with the wait until the first slot of any shard frees."""
        keys = [budget_key(ask, shard) for shard in range(shards_of(ask))]
        found: list[Plan] = []
        for shard, item in enumerate(read_all(self._client, self._table, keys, "read budget shards")):
            if item is None:  # not read this time: neither chosen nor counted full
                continue
            try:
                found.append(_plan(ask, shard, seen_of(item), now))
            except LimitReached as reached:
                self.memory.full(ask, shard, reached, now)
        if found:
            return random.choice(found)  # noqa: S311 - spreading load, not a secret
        raise self.memory.refusal(ask, now) or LimitReached("contention", 1)

    def release(self, reservation: StartReservation) -> None:
        """One start fewer in its bucket, and the start before it back as the last one if this start is
        still the last (a later start's gap must not be undone). Best effort."""
        self.memory.forget(reservation.kind, reservation.key_hash)
        key = budget_key(reservation, reservation.shard)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #b = #b - :one, #total = #total - :one ADD #version :one",
                ConditionExpression="#b >= :one",
                ExpressionAttributeNames={
                    "#b": bucket_name(reservation.bucket),
                    "#total": "total",
                    "#version": "version",
                },
                ExpressionAttributeValues={":one": attr_n(1)},
            )
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #last = #prev",
                ConditionExpression="#last = :taken AND attribute_exists(#prev)",
                ExpressionAttributeNames={"#last": _LAST, "#prev": _PREV},
                ExpressionAttributeValues={":taken": attr_n(reservation.taken_at)},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not release a start slot; the limit counts it until it leaves the window")
