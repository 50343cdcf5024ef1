"""DynamoDB access: the only module that talks to the table (``ports.Store`` over DynamoDB).

One table, partition key ``pk``, four item kinds besides Powertools' idempotency records:

- ``verification#<id>``: method, status, reason, attempts, limits, times, the masked number, keyed hashes
  of the number, the owner and of the code or CLI the service checks itself, Sinch's reference.
- ``number#<hash of the number>``: the per-number start limit's log (sliding window + minimum gap), and
  per owner the id of that owner's latest verification for the number (report by number, and superseding
  the owner's previous one); see ``store_budgets.py``.
- ``caller#<hash of the caller>``: the caller's start limit's log (sliding window).
- ``guard#<hash of a prefix>``: the fraud guard's bucket of sends for a number range (``store_guard.py``).

Every state change is conditional, so limits hold under any concurrency: the condition, not an unguarded
read before the write, decides (DynamoDB evaluates it atomically with the write, see
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
A failed condition returns the item as it was, which says why. A start makes two round trips: one
transaction takes everything the send needs (``store_send.py``), one after the send stores the
verification and its number's pointer (``create``); a right code is one conditional update. How records
become items is in ``store_items.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from .fraud import GuardPolicy
from .model import ChannelSwitch, Status, VerificationRecord
from .ports import BudgetAsk, ConditionFailed, GuardAsk, Latest, SendReservation, StartReservation
from .store_budgets import Budgets, Memory, latest_attribute, latest_of, waits_attribute
from .store_guard import GuardTable
from .store_items import (
    abort_if_pending,
    attr_n,
    attr_s,
    attr_texts,
    aws_failure,
    cancelled_with_items,
    failed_item,
    is_condition_failure,
    is_conflict,
    key_of,
    put_and_point,
    record_of,
    text_of,
)
from .store_send import SendTransaction

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

logger = logging.getLogger(__name__)

# Finished verifications stay readable this long after they expire, so a late report or status read
# gets "expired" or the final outcome instead of "not found"; DynamoDB's TTL removes them afterwards.
RETENTION_SECONDS = 24 * 3600
# A verification's creation that loses a race for its owner's pointer looks at it again.
_RACE_RETRIES = 3

# A verification can change only while it is pending, unexpired, within its attempts and the caller's own.
_OPEN = (
    "attribute_exists(pk) AND #status = :pending AND #attempts < #max AND #expires > :now AND #owner = :owner"
)
_OPEN_NAMES = {
    "#status": "status",
    "#attempts": "attempts",
    "#max": "maxAttempts",
    "#expires": "expiresAt",
    "#owner": "ownerHash",
}


class VerificationStore:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        self._budgets = Budgets(table_name, client)
        self._guard = GuardTable(table_name, client)
        self._send = SendTransaction(
            table_name, client, self._guard, self._budgets, retention=RETENTION_SECONDS, latest=self._latest
        )

    # --------------------------------------------------------------- what a send takes (guard, limits)

    def reserve_send(
        self,
        guard: GuardAsk | None,
        budgets: Sequence[BudgetAsk],
        *,
        now: int,
        latest_for: tuple[str, str] | None = None,
    ) -> SendReservation:
        """The guard's token and every budget's slot in one transaction (``store_send``)."""
        return self._send.reserve(guard, budgets, now=now, latest_for=latest_for)

    def forget(self) -> None:
        """Forget what this execution environment remembers (refusals, full shards, safe-listings), as a
        new environment would: for the local stack and its tests, which empty the table under a running
        product."""
        self._budgets.memory = Memory()
        self._guard.forget()

    def release(self, reservation: StartReservation) -> None:
        self._budgets.release(reservation)

    def guard_credit(self, guarded: str, *, now: int, policy: GuardPolicy) -> None:
        self._guard.credit(guarded, now=now, policy=policy)

    def guard_refund(self, guarded: str, *, now: int) -> None:
        self._guard.refund(guarded, now=now)

    def latest_for_number(self, number_hash: str, owner_hash: str) -> str | None:
        item = self._get(key_of("number", number_hash), latest_attribute(owner_hash))
        return text_of(item, latest_attribute(owner_hash)) if item else None

    # ------------------------------------------------------------------------------------- verifications

    def create(self, record: VerificationRecord, *, replaces: Latest | None) -> Latest | None:
        """Store a started verification, make it its owner's latest for the number and abort the one it
        replaces, in one transaction. Overlapping starts of one owner for one number race for the
        pointer: a transaction whose expected pointer moved learns where it points now (the number's item
        as it was, in the cancellation reason) and replaces that one."""
        ttl = record.expires_at + RETENTION_SECONDS
        expected = replaces
        for _ in range(_RACE_RETRIES):
            aborts = expected is not None and expected.id != record.id
            items = put_and_point(self._table, record, ttl=ttl, expected=expected.id if expected else None)
            if aborts and expected is not None:
                items.append(abort_if_pending(self._table, expected.id))
            try:
                self._client.transact_write_items(TransactItems=items)
                return expected if aborts else None
            except ClientError as exc:
                failed = cancelled_with_items(exc)
                if failed and set(failed) <= {1, 2} and 1 in failed:
                    # Another start of this owner moved the pointer: replace the one it points at now.
                    expected = latest_of(failed[1], record.owner_hash)
                elif set(failed) == {2}:  # the replaced one already ended (verified, expired...): keep it
                    self._create_without_abort(items[:2])
                    return None
                elif not is_conflict(exc):
                    raise aws_failure("create verification", exc) from exc
            except BotoCoreError as exc:
                raise aws_failure("create verification", exc) from exc
        raise aws_failure("create verification")

    def _create_without_abort(self, items: list[TransactWriteItemTypeDef]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure("create verification", exc) from exc

    def _latest(self, number_hash: str, owner_hash: str) -> Latest | None:
        """The owner's latest verification for the number, read while a start's slots are taken."""
        names = (latest_attribute(owner_hash), waits_attribute(owner_hash))
        return latest_of(self._get(key_of("number", number_hash), *names) or {}, owner_hash)

    def get(self, verification_id: str) -> VerificationRecord | None:
        item = self._get(key_of("verification", verification_id))
        return record_of(item) if item else None

    def succeed_if_matches(
        self, verification_id: str, *, secret_hash: str, owner_hash: str, now: int, take_token: bool = False
    ) -> VerificationRecord:
        """Count the attempt and mark success in one write if the hash matches and the check is open.
        ``take_token``: the same write removes the waiting workflow's task token, which the returned record
        carries (a success ends the verification, so no other request may resume its workflow)."""
        update = "SET #status = :successful, #attempts = #attempts + :one, #verified = :now"
        names = {**_OPEN_NAMES, "#secret": "secretHash", "#verified": "verifiedAt"}
        if take_token:
            update += " REMOVE #token"
            names["#token"] = "taskToken"
        record = self._update(
            verification_id,
            update=update,
            condition=f"{_OPEN} AND #secret = :secret",
            names=names,
            values={
                **_open_values(owner_hash, now),
                ":successful": attr_s(Status.SUCCESSFUL.value),
                ":secret": attr_s(secret_hash),
            },
            action="succeed",
            returned="ALL_OLD" if take_token else "ALL_NEW",
        )
        if not take_token:
            return record
        # The item as it was, with this write's changes: the token stays in the record, not in the item.
        return replace(record, status=Status.SUCCESSFUL, attempts=record.attempts + 1)

    def count_attempt(self, verification_id: str, *, owner_hash: str, now: int) -> VerificationRecord:
        """Use up one attempt of an open verification; the condition keeps the count within the limit."""
        return self._update(
            verification_id,
            update="SET #attempts = #attempts + :one",
            condition=_OPEN,
            names=_OPEN_NAMES,
            values=_open_values(owner_hash, now),
            action="count attempt",
        )

    def refund_attempt(self, verification_id: str) -> None:
        """Give back an attempt that Sinch never judged (it was unavailable)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key_of("verification", verification_id),
                UpdateExpression="SET #attempts = #attempts - :one",
                ConditionExpression="attribute_exists(pk) AND #attempts >= :one AND #status = :pending",
                ExpressionAttributeNames={"#attempts": "attempts", "#status": "status"},
                ExpressionAttributeValues={
                    ":one": attr_n(1),
                    ":pending": attr_s(Status.PENDING.value),
                },
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not refund an attempt after a provider failure")

    def finish(
        self, verification_id: str, *, status: Status, reason: str | None, now: int
    ) -> VerificationRecord:
        """Move a pending verification to a final status (Sinch's verdict); fails if it already finished."""
        names = {"#status": "status", "#finished": "finishedAt"}
        values: dict[str, AttributeValueTypeDef] = {
            ":status": attr_s(status.value),
            ":pending": attr_s(Status.PENDING.value),
            ":now": attr_n(now),
        }
        update = "SET #status = :status, #finished = :now"
        if reason:
            update += ", #reason = :reason"
            names["#reason"] = "reason"
            values[":reason"] = attr_s(reason)
        return self._update(
            verification_id,
            update=update,
            condition="attribute_exists(pk) AND #status = :pending",
            names=names,
            values=values,
            action="finish verification",
        )

    def cancel(self, verification_id: str, *, owner_hash: str, now: int) -> VerificationRecord:
        """End an open verification as CANCELLED: the same condition as a report's, so a stranger's
        cancel fails exactly as one for an id that does not exist."""
        return self._update(
            verification_id,
            update="SET #status = :cancelled, #reason = :reason, #finished = :now",
            condition=_OPEN,
            names={**_OPEN_NAMES, "#reason": "reason", "#finished": "finishedAt"},
            values={
                **_open_values(owner_hash, now, counting=False),
                ":cancelled": attr_s(Status.CANCELLED.value),
                ":reason": attr_s("Cancelled"),
            },
            action="cancel verification",
        )

    def advance(
        self, verification_id: str, switch: ChannelSwitch, *, owner_hash: str, now: int
    ) -> VerificationRecord:
        """Switch an open verification to its next channel, if no other ``next`` did first (the channel
        index is the condition). The left channel's code hash moves to ``retiredHashes``."""
        names = {**_OPEN_NAMES, "#channel": "channel", "#method": "method", "#sinch": "sinchId"}
        names |= {"#checked": "checkedBy", "#retired": "retiredHashes"}
        values = {
            **_open_values(owner_hash, now, counting=False),
            ":previous": attr_n(switch.previous),
            ":channel": attr_n(switch.channel),
            ":method": attr_s(switch.method.value),
            ":sinch": attr_s(switch.sinch_id),
            ":checked": attr_s(switch.checked_by),
            ":expires_at": attr_n(switch.expires_at),
            ":empty": attr_texts([]),
        }
        sets = [
            "#channel = :channel",
            "#method = :method",
            "#sinch = :sinch",
            "#checked = :checked",
            "#expires = :expires_at",
        ]
        if switch.retire is not None:
            # DynamoDB cannot append an attribute's own value to a list, so the hash comes from the read
            # before the switch; the channel condition guarantees it is still the current one.
            sets.append("#retired = list_append(if_not_exists(#retired, :empty), :retire)")
            values[":retire"] = attr_texts([switch.retire])
        else:
            del names["#retired"], values[":empty"]
        for name, attribute, value in (
            ("secret", "secretHash", switch.secret_hash),
            ("guard", "guardPrefix", switch.guard_prefix),
            ("token", "taskToken", switch.task_token),
        ):
            if value is not None:
                names[f"#{name}"] = attribute
                values[f":{name}"] = attr_s(value)
                sets.append(f"#{name} = :{name}")
        update = "SET " + ", ".join(sets)
        if switch.secret_hash is None:  # Sinch checks the new channel's code
            names["#secret"] = "secretHash"
            update += " REMOVE #secret"
        return self._update(
            verification_id,
            update=update,
            # Verifications stored before channels existed have no index: they are on their first.
            condition=f"{_OPEN} AND (#channel = :previous"
            + (" OR attribute_not_exists(#channel))" if switch.previous == 0 else ")"),
            names=names,
            values=values,
            action="next channel",
        )

    def set_sinch_report_pending(self, verification_id: str, pending: bool) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key_of("verification", verification_id),
                UpdateExpression="SET #flag = :flag",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#flag": "sinchReportPending"},
                ExpressionAttributeValues={":flag": {"BOOL": pending}},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not record the state of the Sinch report")

    # ------------------------------------------------------------------------- Step Functions task tokens

    def take_task_token(self, verification_id: str, *, status: Status | None = None) -> str | None:
        """Remove and return the verification's task token; None when it has none (any more).

        The condition lets exactly one caller take it, so a waiting workflow is resumed once however many
        reports race. ``status`` takes it only from a verification in that status. Best effort: a failed
        call is logged and gives None (the workflow's task timeout covers it), never an error for the
        report that ended the verification.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": key_of("verification", verification_id),
            "UpdateExpression": "REMOVE #token",
            "ConditionExpression": "attribute_exists(#token)",
            "ExpressionAttributeNames": {"#token": "taskToken"},
            "ReturnValues": "UPDATED_OLD",
        }
        if status is not None:
            kwargs["ConditionExpression"] += " AND #status = :status"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            kwargs["ExpressionAttributeValues"] = {":status": attr_s(status.value)}
        try:
            old = self._client.update_item(**kwargs)
        except ClientError as exc:
            if not is_condition_failure(exc):
                code = exc.response.get("Error", {}).get("Code")
                logger.warning("could not take the workflow's task token", extra={"aws_error": code})
            return None
        except BotoCoreError as exc:
            logger.warning(
                "could not take the workflow's task token", extra={"aws_error": type(exc).__name__}
            )
            return None
        return text_of(old.get("Attributes", {}), "taskToken")

    def replace_task_token(self, verification_id: str, token: str) -> None:
        """Make a pending verification resume ``token``'s task instead (a retried start brings a new one);
        raises ``ConditionFailed`` with the record when the verification is no longer pending."""
        self._update(
            verification_id,
            update="SET #token = :token",
            condition="attribute_exists(pk) AND #status = :pending",
            names={"#token": "taskToken", "#status": "status"},
            values={":token": attr_s(token), ":pending": attr_s(Status.PENDING.value)},
            action="replace task token",
        )

    # ------------------------------------------------------------------------------------------- helpers

    def _get(self, key: dict[str, AttributeValueTypeDef], *attributes: str) -> Mapping[str, Any] | None:
        kwargs: dict[str, Any] = {"TableName": self._table, "Key": key, "ConsistentRead": True}
        if attributes:
            kwargs["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
            kwargs["ExpressionAttributeNames"] = {f"#a{i}": name for i, name in enumerate(attributes)}
        try:
            return self._client.get_item(**kwargs).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure("read", exc) from exc

    def _update(
        self,
        verification_id: str,
        *,
        update: str,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, AttributeValueTypeDef],
        action: str,
        returned: Literal["ALL_NEW", "ALL_OLD"] = "ALL_NEW",
    ) -> VerificationRecord:
        """One conditional write to a verification: the item as it is after it (``returned``: or as it was
        before), or ``ConditionFailed`` with the item as it was."""
        try:
            new = self._client.update_item(
                TableName=self._table,
                Key=key_of("verification", verification_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=dict(names),
                ExpressionAttributeValues=dict(values),
                ReturnValues=returned,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                item = failed_item(exc)
                raise ConditionFailed(record_of(item) if item else None) from None
            raise aws_failure(action, exc) from exc
        except BotoCoreError as exc:
            raise aws_failure(action, exc) from exc
        return record_of(new["Attributes"])


def _open_values(owner_hash: str, now: int, *, counting: bool = True) -> dict[str, AttributeValueTypeDef]:
    """The values ``_OPEN`` refers to, plus ``:one`` for a write that counts an attempt (DynamoDB refuses
    a value the expressions do not use)."""
    values = {
        ":now": attr_n(now),
        ":pending": attr_s(Status.PENDING.value),
        ":owner": attr_s(owner_hash),
    }
    return values | {":one": attr_n(1)} if counting else values
