"""The fraud guard's prefixes in DynamoDB (part of ``store.py``): items ``guard#<keyed hash of the prefix>``
(and ``guard#<hash>#<k>``: the bucket is spread over several items, ``store_guard_shards.py``) with the
bucket (``tokens``, ``updated``), its counts, the safe-list and the country (the only part of a prefix
kept in clear).

A send's part is one conditional update in the send's transaction (``store_send.py``) in the common case:
"take a token of a shard chosen at random if it has one" (``fraud.decide`` with a token left). Only a shard
without one needs the rules' clock (tokens come back over time): its item as it was
(``ReturnValuesOnConditionCheckFailure``) is decided on and, when it has none even so, every shard is read
at once and decided on together; the decided state goes into the transaction's next round, conditional on
the versions read. A refused (or safe-listed) prefix is remembered by this execution environment for a few
seconds (``store_guard_memory.py``), so a prefix under attack (thousands of starts a second) costs DynamoDB
one write per environment and interval, never one per start. Conversions and refunds are atomic additions
to the shard the send took from.

``GuardAdmin`` is the operators' side (``python -m guard_admin``): list the prefixes, unblock one, safe-list
a prefix or a number. Its writes bump ``version`` like the send path's, so a send decided on an item as it
was never overwrites them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .fraud import GuardPolicy, PrefixState, Verdict, decide
from .ports import GuardAsk
from .store_guard_memory import REFUSAL_MEMORY_SECONDS as _MEMORY
from .store_guard_memory import GuardMemory
from .store_guard_shards import pooled, shard_name, shard_of, shard_policy, shards_of, split_name
from .store_items import attr_n, attr_s, int_of, is_condition_failure, key_of, read_all, text_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    _Values = Mapping[str, AttributeValueTypeDef]

logger = logging.getLogger(__name__.removesuffix("_guard"))

# How long an environment answers "refused" for a prefix without asking (``store_guard_memory``); the
# operators' command tells how long an unblock takes to be seen everywhere from it.
REFUSAL_MEMORY_SECONDS = _MEMORY
# Guard items outlive their last change by this long (DynamoDB TTL): a month of trust, then a fresh start.
KEEP_SECONDS = 30 * 24 * 3600
# A safe-listed prefix is kept until the listing is taken back: its ``keep`` attribute holds a TTL far in
# the future, which every send writes back as the item's ``ttl`` instead of "a month from now".
KEEP_FOREVER = 4_102_444_800  # 2100-01-01
ROUNDS = 4  # the operators' writes (store_guard_admin) against racing sends
GUARD_NAMES = {
    "#tokens": "tokens",
    "#sends": "sends",
    "#updated": "updated",
    "#version": "version",
    "#country": "country",
    "#ttl": "ttl",
}


def guard_key(prefix_hash: str) -> dict[str, AttributeValueTypeDef]:
    return key_of("guard", prefix_hash)


def state_of(item: Mapping[str, Any]) -> PrefixState:
    tokens = item.get("tokens", {}).get("N")
    safe_numbers = item.get("safeNumbers", {}).get("SS", [])
    return PrefixState(
        tokens=float(tokens) if tokens is not None else 0.0,
        updated=int_of(item, "updated") or 0,
        sends=int_of(item, "sends") or 0,
        conversions=int_of(item, "conversions") or 0,
        safe=bool(item.get("safe", {}).get("BOOL", False)),
        safe_numbers=frozenset(safe_numbers),
    )


def attr_float(value: float) -> AttributeValueTypeDef:
    return {"N": f"{value:.6f}".rstrip("0").rstrip(".") or "0"}


@dataclass(frozen=True, slots=True)
class GuardPlan:
    """How the guard's part of a send goes into the next transaction: decided already (``verdict``: a
    refusal, a safe-listing; no item), blind ("take a token of ``shard`` if it has one"), or the decided
    ``state`` written back over the shard's item as it was (``current``), conditional on its version and
    on the versions of the other shards (``checks``) whose tokens made up the one it gives."""

    verdict: Verdict | None = None
    shard: int = 0
    current: _Current | None = None
    state: PrefixState | None = None
    checks: tuple[tuple[int, int], ...] = ()


class GuardTable:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self._memory = GuardMemory()

    def forget(self) -> None:
        self._memory = GuardMemory()

    def plan(self, ask: GuardAsk, now: int) -> GuardPlan:
        """A refusal or safe-listing this environment found a moment ago decides without asking
        (``store_guard_memory``); otherwise "take a token of a shard chosen at random"."""
        decided = self._memory.decided(ask, now)
        if decided is not None:
            return GuardPlan(decided)
        return GuardPlan(shard=self._memory.choose(ask.prefix_hash, shards_of(ask.policy), now))

    def elsewhere(self, ask: GuardAsk, plan: GuardPlan, now: int) -> GuardPlan:
        """Another shard, after a conflict with a racing send on this one."""
        if plan.current is not None or shards_of(ask.policy) == 1:
            return plan
        return GuardPlan(shard=self._memory.choose(ask.prefix_hash, shards_of(ask.policy), now))

    def items(self, ask: GuardAsk, plan: GuardPlan, now: int) -> list[TransactWriteItemTypeDef]:
        """The plan's updates: none when decided; the shard's first, then the other shards it counted."""
        if plan.verdict is not None:
            return []
        name = shard_name(ask.prefix_hash, plan.shard)
        if plan.current is not None and plan.state is not None:
            main = self._write_back(name, plan.current, plan.state, now)
        else:
            main = self._take_a_token(ask, plan.shard, now)
        return [main, *(self._unchanged(shard_name(ask.prefix_hash, k), v) for k, v in plan.checks)]

    def guarded(self, ask: GuardAsk, plan: GuardPlan) -> str | None:
        """The shard whose token the send took, which its conversion or refund goes back to."""
        return shard_name(ask.prefix_hash, plan.shard) if plan.verdict is None else None

    def refreshed(
        self, ask: GuardAsk, plan: GuardPlan, failed: Mapping[int, Mapping[str, Any]], now: int
    ) -> GuardPlan:
        """The plan after some of the plan's updates failed their conditions (by position; each with its
        item as it was): decided on the one shard when it can say, on all of them otherwise."""
        if set(failed) == {0} and not plan.checks:
            alone = self._alone(ask, plan.shard, failed[0], now)
            if alone is not None:
                return alone
        return self._pooled(ask, now)

    def _alone(self, ask: GuardAsk, shard: int, item: Mapping[str, Any], now: int) -> GuardPlan | None:
        """``fraud.decide`` on one shard as it was (a refill, a safe-listing); None when it has no token
        and other shards may."""
        current = _Current(item)
        if not current.exists:  # gone since: it is new again
            return GuardPlan(shard=shard)
        verdict = decide(shard_policy(ask.policy, shard), current.state, now, ask.number_hash)
        if verdict.allowed and not verdict.counted:  # safe-listed: remembered, so no hot key either
            self._memory.passing(ask.prefix_hash, current.state.safe, current.state.safe_numbers, now)
            return GuardPlan(verdict)
        if verdict.allowed:
            return GuardPlan(shard=shard, current=current, state=verdict.state)
        if shards_of(ask.policy) > 1:
            return None
        self._memory.refuse(ask.prefix_hash, current.state.safe_numbers, now)
        return GuardPlan(verdict)

    def _pooled(self, ask: GuardAsk, now: int) -> GuardPlan:
        """Every shard read at once and decided on together (``store_guard_shards.pooled``)."""
        names = [shard_name(ask.prefix_hash, k) for k in range(shards_of(ask.policy))]
        items = read_all(self._client, self._table, [guard_key(name) for name in names], "fraud guard")
        shards = [
            shard_of(ask.policy, k, item, state_of(item), now)
            for k, item in enumerate(items)
            if item is not None
        ]
        decision = pooled(shards, ask.number_hash)
        self._memory.emptied(ask.prefix_hash, decision.empty, now)
        states = [shard.state for shard in shards if shard.item]
        safe_numbers = frozenset().union(*(state.safe_numbers for state in states))
        if decision.safe:
            safe = any(state.safe for state in states)
            self._memory.passing(ask.prefix_hash, safe, safe_numbers, now)
            return GuardPlan(Verdict(True, False, PrefixState(tokens=0.0, updated=now)))
        take = decision.take
        if decision.refused or take is None:
            self._memory.refuse(ask.prefix_hash, safe_numbers, now)
            return GuardPlan(Verdict(False, False, PrefixState(tokens=0.0, updated=now)))
        current = _Current(take.item)
        if not take.item or (not decision.checks and current.state.tokens >= 1):
            return GuardPlan(shard=take.index)  # a token as stored: the blind update takes it
        state = replace(take.state, tokens=take.tokens - 1, sends=take.state.sends + 1, updated=now)
        return GuardPlan(shard=take.index, current=current, state=state, checks=decision.checks)

    def credit(self, name: str, *, now: int, policy: GuardPolicy) -> None:
        """A counted send converted: its token back to its shard (``name``) plus ``earn``, below the
        shard's share of the ceiling (best effort)."""
        prefix_hash, shard = split_name(name)
        gain = 1 + policy.earn
        names = {
            "#tokens": "tokens",
            "#updated": "updated",
            "#conversions": "conversions",
            "#version": "version",
        }
        values = {":gain": attr_n(gain), ":now": attr_n(now), ":one": attr_n(1)}
        limit = attr_n(shard_policy(policy, shard).ceiling - gain)
        for attempt in (1, 2):
            try:
                self._update(
                    name,
                    "SET #tokens = #tokens + :gain, #updated = :now ADD #conversions :one, #version :one",
                    "attribute_exists(pk) AND #tokens <= :limit",
                    names,
                    {**values, ":limit": limit},
                )
            except ClientError as exc:
                if is_condition_failure(exc):
                    self._count_only(name)  # at the ceiling: the conversion is only counted
                elif _code(exc) == "TransactionConflictException" and attempt == 1:
                    continue  # a send's transaction held the shard that moment; botocore does not retry it
                else:
                    logger.warning(
                        "could not credit a conversion to its prefix", extra={"aws_error": _code(exc)}
                    )
            except BotoCoreError as exc:
                logger.warning("could not credit a conversion", extra={"aws_error": type(exc).__name__})
            break
        self._memory.converted(prefix_hash)

    def refund(self, name: str, *, now: int) -> None:
        """A counted send that went nowhere: its token back to its shard (best effort)."""
        try:
            self._update(
                name,
                "SET #tokens = #tokens + :one, #sends = #sends - :one, #updated = :now ADD #version :one",
                "attribute_exists(pk)",
                {"#tokens": "tokens", "#sends": "sends", "#updated": "updated", "#version": "version"},
                {":one": attr_n(1), ":now": attr_n(now)},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not give a prefix its token back")
        self._memory.converted(split_name(name)[0])

    # ------------------------------------------------------------------------------------------ helpers

    def _take_a_token(self, ask: GuardAsk, shard: int, now: int) -> TransactWriteItemTypeDef:
        """The common case in one update: a new shard (its share of the budget), or one with a token left
        and no safe-listing."""
        values: dict[str, AttributeValueTypeDef] = {
            ":budget": attr_n(shard_policy(ask.policy, shard).budget),
            ":one": attr_n(1),
            ":zero": attr_n(0),
            ":now": attr_n(now),
            ":country": attr_s(ask.country),
            ":ttl": attr_n(now + KEEP_SECONDS),
            ":number": attr_s(ask.number_hash),
        }
        return {
            "Update": {
                "TableName": self._table,
                "Key": guard_key(shard_name(ask.prefix_hash, shard)),
                "UpdateExpression": (
                    "SET #tokens = if_not_exists(#tokens, :budget) - :one,"
                    " #sends = if_not_exists(#sends, :zero) + :one, #updated = :now, #country = :country,"
                    " #ttl = if_not_exists(#keep, :ttl), #version = if_not_exists(#version, :zero) + :one"
                ),
                "ConditionExpression": (
                    "attribute_not_exists(pk) OR (#tokens >= :one AND attribute_not_exists(#safe)"
                    " AND NOT contains(#safeNumbers, :number))"
                ),
                "ExpressionAttributeNames": {
                    **GUARD_NAMES,
                    "#safe": "safe",
                    "#safeNumbers": "safeNumbers",
                    "#keep": "keep",
                },
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _write_back(
        self, name: str, current: _Current, state: PrefixState, now: int
    ) -> TransactWriteItemTypeDef:
        """The decided state, if the item is still as it was read."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": guard_key(name),
                "UpdateExpression": (
                    "SET #tokens = :tokens, #sends = :sends, #updated = :now, #version = :version"
                ),
                "ConditionExpression": "#version = :seen",
                "ExpressionAttributeNames": {
                    "#tokens": "tokens",
                    "#sends": "sends",
                    "#updated": "updated",
                    "#version": "version",
                },
                "ExpressionAttributeValues": {
                    ":tokens": attr_float(state.tokens),
                    ":sends": attr_n(state.sends),
                    ":now": attr_n(now),
                    ":version": attr_n(current.version + 1),
                    ":seen": attr_n(current.version),
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _unchanged(self, name: str, version: int) -> TransactWriteItemTypeDef:
        """A shard whose tokens a pooled decision counted must be as it was read: an update of its
        version only (a ConditionCheck would need an IAM action of its own; both cost the same)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": guard_key(name),
                "UpdateExpression": "SET #version = :version",
                "ConditionExpression": "#version = :seen",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": attr_n(version + 1), ":seen": attr_n(version)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _count_only(self, prefix_hash: str) -> None:
        try:
            self._update(
                prefix_hash,
                "ADD #conversions :one, #version :one",
                "attribute_exists(pk)",
                {"#conversions": "conversions", "#version": "version"},
                {":one": attr_n(1)},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not count a conversion for its prefix")

    def _update(
        self,
        prefix_hash: str,
        update: str,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, AttributeValueTypeDef],
    ) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=guard_key(prefix_hash),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=dict(values),
        )


class _Current:
    """A prefix's item as read: its state and version (0 for none)."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.exists = bool(item)
        self.state = state_of(item) if item else PrefixState(tokens=0.0, updated=0)
        self.version = int_of(item, "version") or 0
        self.country = text_of(item, "country")


def _code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")
