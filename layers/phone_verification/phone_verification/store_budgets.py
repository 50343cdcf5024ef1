"""The start limits' logs and the owners' latest verifications in DynamoDB (part of ``store.py``).

Items ``number#<hash>`` and ``caller#<hash>`` hold a limit's log (``limits.StartLog``): ``log`` (a map of
bucket -> starts), ``lastStart`` and ``version``. ``limits.take`` decides from the log as it was; the write
that records the start is conditional on ``version`` being unchanged, so two starts that read the same log
cannot both take its last slot: the loser gets the item as it now is (``ReturnValuesOnConditionCheckFailure``)
and decides again. A log this store instance wrote last is remembered, so a busy caller's next start
needs one write; a refusal is only ever decided on the log as DynamoDB has it.

A number's item also holds, per owner, ``latest:<owner hash>`` (that owner's latest verification for
the number) and ``waits:<owner hash>`` (whether a workflow task waits on it): another owner's starts
never replace or reveal it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .limits import EMPTY, Limit, LimitReached, StartLog, take
from .ports import BudgetKind, Latest, StartReservation
from .store_items import attr_n, aws_failure, failed_item, int_of, is_condition_failure, key_of, text_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

logger = logging.getLogger(__name__.removesuffix("_budgets"))

# Rounds of "decide, write, lose to a concurrent start" before giving up; each round one start wins.
_ROUNDS = 6
_REMEMBERED = 512
_NAMES = {"#log": "log", "#last": "lastStart", "#version": "version", "#ttl": "ttl"}


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


@dataclass(frozen=True, slots=True)
class _Seen:
    """A log as an item held it: ``version`` None for an item without one (none at all, or older)."""

    log: StartLog
    version: int | None
    exists: bool


def _seen(item: Mapping[str, Any]) -> _Seen:
    if not item:
        return _Seen(EMPTY, None, exists=False)
    raw = item.get("log", {}).get("M")
    if isinstance(raw, Mapping):
        buckets = {int(bucket): int(value["N"]) for bucket, value in raw.items()}
    else:
        # An item from a release that counted starts per fixed window: its count is taken as the last
        # start's, the strictest reading.
        count, last = int_of(item, "starts") or 0, int_of(item, "lastStart")
        buckets = {last: count} if count and last is not None else {}
    return _Seen(StartLog(buckets, int_of(item, "lastStart")), int_of(item, "version"), exists=True)


class Budgets:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self._remembered: dict[tuple[BudgetKind, str], _Seen] = {}

    def reserve(
        self,
        kind: BudgetKind,
        key_hash: str,
        *,
        now: int,
        limit: Limit,
        ttl: int,
        owner_hash: str | None = None,
    ) -> StartReservation:
        remembered = self._remembered.get((kind, key_hash))
        seen = remembered or _Seen(EMPTY, None, exists=False)
        for _ in range(_ROUNDS):
            try:
                log = take(limit, seen.log, now)
            except LimitReached:
                if seen is not remembered:
                    raise
                seen = self._read(kind, key_hash)  # refuse only on the log as it is, not as remembered
                remembered = None
                continue
            written = self._write(kind, key_hash, seen, log, ttl)
            if isinstance(written, _Seen):
                seen, remembered = written, None
                continue
            self._remember((kind, key_hash), _Seen(log, (seen.version or 0) + 1, exists=True))
            bucket = limit.bucket(now)
            return StartReservation(
                kind, key_hash, now, bucket, seen.log.last, latest_of(written, owner_hash)
            )
        raise LimitReached("contention", limit.min_gap)

    def release(self, reservation: StartReservation) -> None:
        """Give the slot back: one start fewer in its bucket, and the last start as it was before, if this
        start is still the last one (a later start's gap must not be undone). Best effort."""
        self._remembered.pop((reservation.kind, reservation.key_hash), None)
        key = key_of(reservation.kind, reservation.key_hash)
        names = {"#log": "log", "#bucket": str(reservation.bucket), "#version": "version"}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #log.#bucket = #log.#bucket - :one, #version = #version + :one",
                ConditionExpression="#log.#bucket >= :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":one": attr_n(1)},
            )
            restore = "REMOVE #last" if reservation.previous_start is None else "SET #last = :previous"
            values: dict[str, AttributeValueTypeDef] = {":taken": attr_n(reservation.taken_at)}
            if reservation.previous_start is not None:
                values[":previous"] = attr_n(reservation.previous_start)
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=restore,
                ConditionExpression="#last = :taken",
                ExpressionAttributeNames={"#last": "lastStart"},
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not release a start slot; the limit counts it until it leaves the window")

    def _write(
        self, kind: BudgetKind, key_hash: str, seen: _Seen, log: StartLog, ttl: int
    ) -> Mapping[str, Any] | _Seen:
        """Record ``log`` if the item is still as ``seen``: the item as it was before (``ALL_OLD``), or,
        when another start changed it first, how it is now."""
        values: dict[str, AttributeValueTypeDef] = {
            ":log": {"M": {str(bucket): attr_n(count) for bucket, count in log.buckets.items()}},
            ":last": attr_n(log.last or 0),
            ":ttl": attr_n(ttl),
            ":version": attr_n((seen.version or 0) + 1),
        }
        if not seen.exists:
            condition = "attribute_not_exists(pk)"
        elif seen.version is None:
            condition = "attribute_exists(pk) AND attribute_not_exists(#version)"
        else:
            condition = "#version = :seen"
            values[":seen"] = attr_n(seen.version)
        try:
            old = self._client.update_item(
                TableName=self._table,
                Key=key_of(kind, key_hash),
                UpdateExpression=(
                    "SET #log = :log, #last = :last, #version = :version, #ttl = :ttl"
                    " REMOVE #starts, #window"  # the fixed window's counters, on items from before
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={**_NAMES, "#starts": "starts", "#window": "windowStart"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ).get("Attributes", {})
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise aws_failure("reserve start", exc) from exc
            return _seen(failed_item(exc))
        except BotoCoreError as exc:
            raise aws_failure("reserve start", exc) from exc
        return old

    def _read(self, kind: BudgetKind, key_hash: str) -> _Seen:
        try:
            item = self._client.get_item(
                TableName=self._table, Key=key_of(kind, key_hash), ConsistentRead=True
            ).get("Item", {})
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure("read start limit", exc) from exc
        return _seen(item)

    def _remember(self, key: tuple[BudgetKind, str], seen: _Seen) -> None:
        self._remembered.pop(key, None)
        if len(self._remembered) >= _REMEMBERED:
            self._remembered.pop(next(iter(self._remembered)))
        self._remembered[key] = seen
