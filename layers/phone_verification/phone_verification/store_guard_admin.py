"""The fraud guard's prefixes as operators see and change them (``python -m guard_admin``): part of
``store.py``, beside ``store_guard.py``, which the product's sends use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .fraud import GuardPolicy, PrefixState, tokens_at, unblocked
from .store_guard import GUARD_NAMES, KEEP_FOREVER, KEEP_SECONDS, ROUNDS, attr_float, guard_key, state_of
from .store_items import attr_n, attr_s, int_of, is_condition_failure, text_of

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
    stored, its version, and when DynamoDB's TTL may delete it (None: kept, as safe-listed ones are)."""

    prefix_hash: str
    country: str | None
    state: PrefixState
    version: int = 0
    expires: int | None = None

    @property
    def prefix_id(self) -> str:
        """What the guard's logs name the prefix by (``usecases/fraud_guard.py``)."""
        return self.prefix_hash[:12]


def _guarded(item: Mapping[str, Any]) -> GuardedPrefix:
    return GuardedPrefix(
        prefix_hash=(text_of(item, "pk") or "").removeprefix("guard#"),
        country=text_of(item, "country"),
        state=state_of(item),
        version=int_of(item, "version") or 0,
        expires=None if "keep" in item else int_of(item, "ttl"),
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
        found: list[GuardedPrefix] = []
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :guard)",
            ExpressionAttributeValues={":guard": attr_s("guard#")},
            ConsistentRead=True,
        ):
            found += [_guarded(item) for item in page.get("Items", [])]
        return found

    def prefix(self, prefix_hash: str) -> GuardedPrefix | None:
        answer = self._client.get_item(TableName=self._table, Key=guard_key(prefix_hash), ConsistentRead=True)
        item = answer.get("Item")
        return _guarded(item) if item else None

    def unblock(
        self, prefix_hash: str, *, policy: GuardPolicy, now: int
    ) -> tuple[GuardedPrefix, GuardedPrefix] | None:
        """At least an unproven prefix's full bucket (``fraud.unblocked``): the prefix before and after,
        or None when the guard holds no such prefix (nothing is created: a prefix it does not hold is not
        blocked). Written only over the version read, so a send taken meanwhile is decided on again."""
        for _ in range(ROUNDS):
            before = self.prefix(prefix_hash)
            if before is None:
                return None
            state = unblocked(policy, before.state, now)
            update = "SET #tokens = :tokens, #updated = :now ADD #version :one"
            values = {":tokens": attr_float(state.tokens), ":now": attr_n(now), ":one": attr_n(1)}
            if self._write_if(
                prefix_hash, update, "#version = :seen", {**values, ":seen": attr_n(before.version)}
            ):
                return before, replace(before, state=state, version=before.version + 1)
        raise GuardAdminError("the prefix kept changing while it was unblocked; try again")

    def safelist_prefix(
        self, prefix_hash: str, *, safe: bool, country: str, policy: GuardPolicy, now: int
    ) -> bool:
        """Let every send to the prefix pass without a token (``safe``), or stop doing so; whether that
        changed anything. A safe-listed prefix has no TTL: the operator's word lasts until taken back."""
        if safe:
            values: _Values = {**_created_values(policy, country, now), ":true": {"BOOL": True}}
            update = f"SET #safe = :true, {_CREATED}, #keep = :forever, #ttl = :forever"
            old = self._write(prefix_hash, update, None, {**values, ":forever": attr_n(KEEP_FOREVER)})
        else:  # removed, not set to false: the send path's one-write case needs the attribute absent
            old = self._take_back(prefix_hash, "REMOVE #safe ADD #version :one", {":one": attr_n(1)}, now)
        return bool(old.get("safe", {}).get("BOOL", False)) != safe

    def safelist_number(
        self, prefix_hash: str, number_hash: str, *, safe: bool, country: str, policy: GuardPolicy, now: int
    ) -> bool:
        """Let every send to one number of the prefix pass without a token (``safe``), or stop doing so;
        whether that changed anything. The number's own limits still apply: the guard only counts."""
        numbers: AttributeValueTypeDef = {"SS": [number_hash]}
        if safe:
            values = {**_created_values(policy, country, now), ":numbers": numbers}
            update = f"SET {_CREATED}, #keep = :forever, #ttl = :forever ADD #safeNumbers :numbers"
            old = self._write(prefix_hash, update, None, {**values, ":forever": attr_n(KEEP_FOREVER)})
        else:
            update = "DELETE #safeNumbers :numbers ADD #version :one"
            old = self._take_back(prefix_hash, update, {":numbers": numbers, ":one": attr_n(1)}, now)
        return (number_hash in old.get("safeNumbers", {}).get("SS", [])) != safe

    def _take_back(self, prefix_hash: str, update: str, values: _Values, now: int) -> Mapping[str, Any]:
        """A safe-listing taken back (nothing to do for a prefix the guard does not hold); a prefix with
        nothing safe-listed left is deleted after a month without changes again, like any other
        (DynamoDB drops an emptied set, so absent attributes say nothing is left)."""
        old = self._write_if(prefix_hash, update, "attribute_exists(pk)", values)
        self._write_if(
            prefix_hash, "SET #ttl = :ttl REMOVE #keep", _UNLISTED, {":ttl": attr_n(now + KEEP_SECONDS)}
        )
        return old

    def _write_if(self, prefix_hash: str, update: str, condition: str, values: _Values) -> Mapping[str, Any]:
        """A conditional write's answer (the item before), or nothing when its condition did not hold."""
        try:
            return self._write(prefix_hash, update, condition, values)
        except ClientError as exc:
            if is_condition_failure(exc):
                return {}
            raise

    def _write(
        self, prefix_hash: str, update: str, condition: str | None, values: _Values
    ) -> Mapping[str, Any]:
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
            TableName=self._table, Key=guard_key(prefix_hash), UpdateExpression=update, **options
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
