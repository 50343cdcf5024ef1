"""The fraud guard's prefixes in DynamoDB (part of ``store.py``): item ``guard#<keyed hash of the prefix>``
with the prefix's bucket (``tokens``, ``updated``), its counts, its safe-list and its country (the only
part of a prefix kept in clear).

A send's part is one conditional update in the send's transaction (``store_send.py``) in the common case:
"take a token if one is left" (``fraud.decide`` with a token left). Only an empty bucket needs the rules'
clock (tokens come back over time): then the item as it was (``ReturnValuesOnConditionCheckFailure``) is
decided on, and the decided state goes into the transaction's next round, conditional on the item's
``version``. A refused prefix is remembered by this execution environment for a few seconds, so a prefix
under attack (thousands of starts a second) costs DynamoDB one write per environment and interval, never
one per start: no hot key. Conversions and refunds are atomic additions.

``GuardAdmin`` is the operators' side (``python -m guard_admin``): list the prefixes, unblock one, safe-list
a prefix or a number. Its writes bump ``version`` like the send path's, so a send decided on the item as it
was never overwrites them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .fraud import GuardPolicy, PrefixState, Verdict, decide
from .ports import GuardAsk
from .store_guard_memory import REFUSAL_MEMORY_SECONDS as _MEMORY
from .store_guard_memory import GuardMemory
from .store_items import attr_n, attr_s, int_of, is_condition_failure, key_of, text_of

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
    refusal, a safe-listing; no item), blind ("take a token if one is left"), or the decided ``state``
    written back over the item as it was (``current``), conditional on its version."""

    verdict: Verdict | None = None
    current: _Current | None = None
    state: PrefixState | None = None


class GuardTable:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self._memory = GuardMemory()

    def plan(self, ask: GuardAsk, now: int) -> GuardPlan:
        """A refusal or safe-listing this environment found a moment ago decides without asking
        (``store_guard_memory``); otherwise "take a token if one is left"."""
        return GuardPlan(self._memory.decided(ask, now))

    def forget(self) -> None:
        self._memory = GuardMemory()

    def item(self, ask: GuardAsk, plan: GuardPlan, now: int) -> TransactWriteItemTypeDef:
        if plan.current is not None and plan.state is not None:
            return self._write_back(ask.prefix_hash, plan.current, plan.state, now)
        return self._take_a_token(ask, now)

    def refreshed(self, ask: GuardAsk, item: Mapping[str, Any], now: int) -> GuardPlan:
        """The plan after the guard's update failed its condition, ``item`` being the prefix as it was:
        ``fraud.decide`` on it (an empty bucket's refill, a safe-listing)."""
        current = _Current(item)
        if not current.exists:  # gone since: it is a new prefix again
            return GuardPlan()
        state = current.state
        verdict = decide(ask.policy, state, now, ask.number_hash)
        if not verdict.allowed:
            self._memory.refuse(ask.prefix_hash, state.safe_numbers, now)
        if not verdict.counted:
            if verdict.allowed:  # safe-listed: remembered too, so a busy safe prefix is no hot key
                self._memory.passing(ask.prefix_hash, state.safe, state.safe_numbers, now)
            return GuardPlan(verdict)
        return GuardPlan(current=current, state=verdict.state)

    def credit(self, prefix_hash: str, *, now: int, policy: GuardPolicy) -> None:
        """A counted send converted: its token back plus ``earn``, below the ceiling (best effort)."""
        gain = 1 + policy.earn
        names = {
            "#tokens": "tokens",
            "#updated": "updated",
            "#conversions": "conversions",
            "#version": "version",
        }
        values = {":gain": attr_n(gain), ":now": attr_n(now), ":one": attr_n(1)}
        for attempt in (1, 2):
            try:
                self._update(
                    prefix_hash,
                    "SET #tokens = #tokens + :gain, #updated = :now ADD #conversions :one, #version :one",
                    "attribute_exists(pk) AND #tokens <= :limit",
                    names,
                    {**values, ":limit": attr_n(policy.ceiling - gain)},
                )
            except ClientError as exc:
                if is_condition_failure(exc):
                    self._count_only(prefix_hash)  # at the ceiling: the conversion is only counted
                elif _code(exc) == "TransactionConflictException" and attempt == 1:
                    continue  # a send's transaction held the prefix that moment; botocore does not retry it
                else:
                    logger.warning(
                        "could not credit a conversion to its prefix", extra={"aws_error": _code(exc)}
                    )
            except BotoCoreError as exc:
                logger.warning("could not credit a conversion", extra={"aws_error": type(exc).__name__})
            break
        self._memory.converted(prefix_hash)

    def refund(self, prefix_hash: str, *, now: int) -> None:
        """A counted send that went nowhere: its token back (best effort)."""
        try:
            self._update(
                prefix_hash,
                "SET #tokens = #tokens + :one, #sends = #sends - :one, #updated = :now ADD #version :one",
                "attribute_exists(pk)",
                {"#tokens": "tokens", "#sends": "sends", "#updated": "updated", "#version": "version"},
                {":one": attr_n(1), ":now": attr_n(now)},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not give a prefix its token back")

    # ------------------------------------------------------------------------------------------ helpers

    def _take_a_token(self, ask: GuardAsk, now: int) -> TransactWriteItemTypeDef:
        """The common case in one update: a new prefix, or one with a token left and no safe-listing."""
        values: dict[str, AttributeValueTypeDef] = {
            ":budget": attr_n(ask.policy.budget),
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
                "Key": guard_key(ask.prefix_hash),
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
        self, prefix_hash: str, current: _Current, state: PrefixState, now: int
    ) -> TransactWriteItemTypeDef:
        """The decided state, if the item is still as it was read."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": guard_key(prefix_hash),
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
