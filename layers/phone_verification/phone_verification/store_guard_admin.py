"""The fraud guard's prefixes as operators see and change them (``python -m guard_admin``): part of
``store.py``, beside ``store_guard.py``, which the product's sends use. A prefix's bucket may be spread over
several items (``store_guard_shards``): operators see their sum, and every change is made to each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .fraud import GuardPolicy, PrefixState, tokens_at, unblocked
from .store_guard import GUARD_NAMES, KEEP_FOREVER, KEEP_SECONDS, ROUNDS, attr_float, guard_key, state_of
from .store_guard_shards import MAX_SHARDS, shard_name, shard_policy, shards_of, split_name
from .store_items import attr_n, attr_s, int_of, is_condition_failure, read_all, text_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    _Values = Mapping[str, AttributeValueTypeDef]


# ------------------------------------------------------------------------------------------ operators

# The attributes a new prefix starts with, for an operator's safe-listing of a prefix nobody has sent to
# yet: what the send path's first write would give it (the budget, no sends), so sends to its other
# numbers find a bucket as usual. An existing prefix keeps its own: its clock (``updated``) above all,
# since moving it would cost the tokens an empty bucket has got back since.
_CREATED = (
    "#tokens = if_not_exists(#tokens, :budget), #sends = if_not_exists(#sends, :zero),"
    " #updated = if_not_exists(#updated, :now), #country = if_not_exists(#country, :country),"
    " #version = if_not_exists(#version, :zero) + :one"
)


def tokens_now(policy: GuardPolicy, state: PrefixState, now: int) -> float:
    """The tokens the next send finds (``fraud.tokens_at``)."""
    return tokens_at(policy, state, now)


@dataclass(frozen=True, slots=True)
class GuardedPrefix:
    """A prefix as an operator sees it: its keyed hash (never the prefix), its country, its state as
    stored (its shards added up: tokens, sends and conversions summed, the last change), the version of
    its first item, when DynamoDB's TTL may delete it (None: kept, as safe-listed ones are), and each
    shard's own state."""

    prefix_hash: str
    country: str | None
    state: PrefixState
    version: int = 0
    expires: int | None = None
    shards: tuple[tuple[int, PrefixState, int], ...] = ()  # (shard, its state, its version)

    @property
    def prefix_id(self) -> str:
        """What the guard's logs name the prefix by (``usecases/fraud_guard.py``)."""
        return self.prefix_hash[:12]

    def tokens_now(self, policy: GuardPolicy, now: int) -> float:
        """The tokens the next sends find, all shards together (one with no item yet: its full share)."""
        count = shards_of(policy)
        if count == 1 or not self.shards:
            return tokens_at(policy, self.state, now)
        held = {shard: state for shard, state, _ in self.shards}
        return sum(
            tokens_at(
                shard_policy(policy, k), held.get(k) or PrefixState.new(shard_policy(policy, k), now), now
            )
            for k in range(count)
        )


def _guarded(prefix_hash: str, items: list[tuple[int, Mapping[str, Any]]]) -> GuardedPrefix:
    """A prefix from its items (shard, item), its first item's attributes first."""
    items = sorted(items, key=lambda entry: entry[0])
    shards = tuple((shard, state_of(item), int_of(item, "version") or 0) for shard, item in items)
    states = [state for _, state, _ in shards]
    first = items[0][1]
    state = PrefixState(
        tokens=sum(s.tokens for s in states),
        updated=max(s.updated for s in states),
        sends=sum(s.sends for s in states),
        conversions=sum(s.conversions for s in states),
        safe=any(s.safe for s in states),
        safe_numbers=frozenset().union(*(s.safe_numbers for s in states)),
    )
    kept = any("keep" in item for _, item in items)
    return GuardedPrefix(
        prefix_hash=prefix_hash,
        country=next((text_of(item, "country") for _, item in items if text_of(item, "country")), None),
        state=state,
        version=int_of(first, "version") or 0,
        expires=None if kept else max((int_of(item, "ttl") or 0 for _, item in items), default=None),
        shards=shards,
    )


class GuardAdminError(Exception):
    """An operator's change could not be made."""


class GuardAdmin:
    """The operators' reads and writes of the guard's prefixes. AWS errors propagate: an operator at a
    terminal wants DynamoDB's own words, not the API's 503."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def prefixes(self) -> list[GuardedPrefix]:
        """Every prefix the guard holds. A Scan filtered by DynamoDB: the guard's items share the table
        with verifications, so each listing reads (and is billed for) the whole table, which is fine for
        an operator's occasional look and the reason nothing in the product lists them."""
        found: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :guard)",
            ExpressionAttributeValues={":guard": attr_s("guard#")},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                prefix_hash, shard = split_name((text_of(item, "pk") or "").removeprefix("guard#"))
                found.setdefault(prefix_hash, []).append((shard, item))
        return [_guarded(prefix_hash, items) for prefix_hash, items in found.items()]

    def prefix(self, prefix_hash: str) -> GuardedPrefix | None:
        """One prefix, every shard it may have read at once."""
        keys = [guard_key(shard_name(prefix_hash, shard)) for shard in range(MAX_SHARDS)]
        items = read_all(self._client, self._table, keys, "read a prefix")
        held = [(shard, item) for shard, item in enumerate(items) if item]
        return _guarded(prefix_hash, held) if held else None

    def unblock(
        self, prefix_hash: str, *, policy: GuardPolicy, now: int
    ) -> tuple[GuardedPrefix, GuardedPrefix] | None:
        """At least an unproven prefix's full bucket (``fraud.unblocked``, each shard its share): the
        prefix before and after, or None when the guard holds no such prefix (nothing is created: a
        prefix it does not hold is not blocked). Each shard is written only over the version read, so a
        send taken meanwhile is decided on again."""
        for _ in range(ROUNDS):
            before = self.prefix(prefix_hash)
            if before is None:
                return None
            shards = [
                (shard, unblocked(shard_policy(policy, shard), state, now), seen)
                for shard, state, seen in before.shards
            ]
            if all(
                self._unblock_shard(shard_name(prefix_hash, k), state, seen, now) for k, state, seen in shards
            ):
                total = replace(before.state, tokens=sum(state.tokens for _, state, _ in shards), updated=now)
                after = tuple((k, state, seen + 1) for k, state, seen in shards)
                return before, replace(before, state=total, version=before.version + 1, shards=after)
        raise GuardAdminError("the prefix kept changing while it was unblocked; try again")

    def _unblock_shard(self, name: str, state: PrefixState, seen: int, now: int) -> bool:
        """Whether the shard, read at version ``seen``, took its unblocked ``state`` (False: it changed
        since, and the prefix is read again)."""
        update = "SET #tokens = :tokens, #updated = :now ADD #version :one"
        values = {
            ":tokens": attr_float(state.tokens),
            ":now": attr_n(now),
            ":one": attr_n(1),
            ":seen": attr_n(seen),
        }
        return bool(self._write_if(name, update, "#version = :seen", values))

    def safelist_prefix(
        self, prefix_hash: str, *, safe: bool, country: str, policy: GuardPolicy, now: int
    ) -> bool:
        """Let every send to the prefix pass without a token (``safe``), or stop doing so; whether that
        changed anything. A safe-listed prefix has no TTL: the operator's word lasts until taken back."""
        changed = False
        for shard in range(shards_of(policy)):
            name = shard_name(prefix_hash, shard)
            if safe:
                values: _Values = {
                    **_created_values(shard_policy(policy, shard), country, now),
                    ":true": {"BOOL": True},
                }
                update = f"SET #safe = :true, {_CREATED}, #keep = :forever, #ttl = :forever"
                old = self._write(name, update, None, {**values, ":forever": attr_n(KEEP_FOREVER)})
            else:  # removed, not set to false: the send path's one-write case needs the attribute absent
                old = self._take_back(name, "REMOVE #safe ADD #version :one", {":one": attr_n(1)}, now)
            changed = changed or bool(old.get("safe", {}).get("BOOL", False)) != safe
        return changed

    def safelist_number(
        self, prefix_hash: str, number_hash: str, *, safe: bool, country: str, policy: GuardPolicy, now: int
    ) -> bool:
        """Let every send to one number of the prefix pass without a token (``safe``), or stop doing so;
        whether that changed anything. The number's own limits still apply: the guard only counts."""
        numbers: AttributeValueTypeDef = {"SS": [number_hash]}
        changed = False
        for shard in range(shards_of(policy)):
            name = shard_name(prefix_hash, shard)
            if safe:
                values = {**_created_values(shard_policy(policy, shard), country, now), ":numbers": numbers}
                update = f"SET {_CREATED}, #keep = :forever, #ttl = :forever ADD #safeNumbers :numbers"
                old = self._write(name, update, None, {**values, ":forever": attr_n(KEEP_FOREVER)})
            else:
                update = "DELETE #safeNumbers :numbers ADD #version :one"
                old = self._take_back(name, update, {":numbers": numbers, ":one": attr_n(1)}, now)
            changed = changed or (number_hash in old.get("safeNumbers", {}).get("SS", [])) != safe
        return changed

    def _take_back(self, name: str, update: str, values: _Values, now: int) -> Mapping[str, Any]:
        """A safe-listing taken back (nothing to do for a prefix the guard does not hold); a prefix with
        nothing safe-listed left is deleted after a month without changes again, like any other
        (DynamoDB drops an emptied set, so absent attributes say nothing is left)."""
        old = self._write_if(name, update, "attribute_exists(pk)", values)
        self._write_if(name, "SET #ttl = :ttl REMOVE #keep", _UNLISTED, {":ttl": attr_n(now + KEEP_SECONDS)})
        return old

    def _write_if(self, name: str, update: str, condition: str, values: _Values) -> Mapping[str, Any]:
        """A conditional write's answer (the item before), or nothing when its condition did not hold."""
        try:
            return self._write(name, update, condition, values)
        except ClientError as exc:
            if is_condition_failure(exc):
                return {}
            raise

    def _write(self, name: str, update: str, condition: str | None, values: _Values) -> Mapping[str, Any]:
        """One update, with the attribute names it uses; the item as it was before (empty for none)."""
        options: dict[str, Any] = {
            "ExpressionAttributeNames": {
                name: _ADMIN_NAMES[name] for name in re.findall(r"#\w+", f"{update} {condition or ''}")
            },
            "ExpressionAttributeValues": dict(values),
            "ReturnValues": "ALL_OLD",
        }
        if condition is not None:
            options["ConditionExpression"] = condition
        answer = self._client.update_item(
            TableName=self._table, Key=guard_key(name), UpdateExpression=update, **options
        )
        return answer.get("Attributes", {})


_ADMIN_NAMES = {**GUARD_NAMES, "#safe": "safe", "#safeNumbers": "safeNumbers", "#keep": "keep"}
_UNLISTED = "attribute_exists(pk) AND attribute_not_exists(#safe) AND attribute_not_exists(#safeNumbers)"


def _created_values(policy: GuardPolicy, country: str, now: int) -> dict[str, AttributeValueTypeDef]:
    return {
        ":budget": attr_n(policy.budget),
        ":zero": attr_n(0),
        ":one": attr_n(1),
        ":now": attr_n(now),
        ":country": attr_s(country),
    }
