"""DynamoDB access: the only module that talks to the table (``ports.Store`` over DynamoDB).

One table, partition key ``pk``, three item kinds besides Powertools' idempotency records:

- ``verification#<id>``: method, status, reason, attempts, limits, times, the masked number, keyed hashes
  of the number, the owner and of the code or CLI the service checks itself, Sinch's reference.
- ``number#<hash of the number>``: the per-number start counter (fixed window + minimum gap) and the id of
  the number's latest verification (report by number, and superseding the previous one).
- ``caller#<hash of the caller>``: the caller's start counter (fixed window).

Every state change is one conditional write, so limits hold under any concurrency: the condition, not a
read before the write, decides (DynamoDB evaluates it atomically with the write, see
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
A failed condition returns the item as it was, which says why. How records become items is in
``store_items.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import RateLimited
from .model import Status, VerificationRecord
from .ports import BudgetKind, ConditionFailed, StartReservation
from .store_items import (
    abort_if_pending,
    attr_n,
    attr_s,
    aws_failure,
    failed_item,
    int_of,
    is_condition_failure,
    key_of,
    only_the_abort_failed,
    put_and_point,
    record_of,
    text_of,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

logger = logging.getLogger(__name__)

# Finished verifications stay readable this long after they expire, so a late report or status read
# gets "expired" or the final outcome instead of "not found"; DynamoDB's TTL removes them afterwards.
RETENTION_SECONDS = 24 * 3600
# A start that loses a race for the same item looks at it again; a few rounds settle any real contention.
_RACE_RETRIES = 3

_BUDGET_NAMES = {"#window": "windowStart", "#starts": "starts", "#last": "lastStart", "#ttl": "ttl"}

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


@dataclass(frozen=True, slots=True)
class _Budget:
    """One ``reserve`` call: whose window, as of when, and its limits."""

    kind: BudgetKind
    key_hash: str
    now: int
    max_starts: int
    window: int
    min_gap: int
    ttl: int  # when DynamoDB's TTL may delete the budget's item

    def reservation(self, previous: Mapping[str, Any]) -> StartReservation:
        """The slot taken now; ``previous`` is the item as it was before (its last start, and for a number
        its latest verification)."""
        waits = bool(previous.get("latestHasTaskToken", {}).get("BOOL", False))
        last, latest = int_of(previous, "lastStart"), text_of(previous, "latestId")
        return StartReservation(self.kind, self.key_hash, self.now, last, latest, waits)


def _wait_before_next_start(current: Mapping[str, Any], budget: _Budget) -> int | None:
    """How long the budget's item ``current`` makes a start wait: until its window ends if the window is
    full, for the rest of the minimum gap if the last start is too recent (the longer, at least 1 s). None
    if neither holds: the item refused the slot only because its window is over."""
    window_start, last = int_of(current, "windowStart"), int_of(current, "lastStart")
    waits = []
    if (
        window_start is not None
        and window_start > budget.now - budget.window
        and (int_of(current, "starts") or 0) >= budget.max_starts
    ):
        waits.append(window_start + budget.window - budget.now)
    if last is not None and last > budget.now - budget.min_gap:
        waits.append(last + budget.min_gap - budget.now)
    return max(1, *waits) if waits else None


class VerificationStore:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    # -------------------------------------------------------------------- start budgets (number, caller)

    def reserve(
        self,
        kind: BudgetKind,
        key_hash: str,
        *,
        now: int,
        max_starts: int,
        window: int,
        min_gap: int = 0,
        keep_for: int = 0,
    ) -> StartReservation:
        """Take a start slot in the window of ``kind#key_hash`` (a number or a caller) or raise
        ``RateLimited`` with the seconds to wait. ``keep_for`` keeps the item (and the number's pointer to
        its latest verification) at least that long."""
        ttl = now + max(window, keep_for) + RETENTION_SECONDS
        budget = _Budget(kind, key_hash, now, max_starts, window, min_gap, ttl)
        for _ in range(_RACE_RETRIES):
            taken = self._take_slot(budget)
            if isinstance(taken, StartReservation):
                return taken
            wait = _wait_before_next_start(taken, budget)
            if wait is not None:
                raise RateLimited(retry_after=wait)
            # Nothing forbids a start, so the window must be over (or the first write lost a race): open
            # a new one.
            opened = self._open_window(budget, taken)
            if opened is not None:
                return opened
        raise RateLimited(retry_after=max(1, min_gap))

    def _take_slot(self, budget: _Budget) -> StartReservation | Mapping[str, Any]:
        """The next slot in the budget's window, or, when the condition refuses one, the item as it was."""
        # One write for the two common cases: a key never seen (most numbers verify once) opens its
        # window, a key inside its window takes the next slot. Only a key whose window has run out is
        # refused here without being over a limit, and needs ``_open_window``.
        try:
            old = self._client.update_item(
                TableName=self._table,
                Key=key_of(budget.kind, budget.key_hash),
                UpdateExpression=(
                    "SET #window = if_not_exists(#window, :now),"
                    " #starts = if_not_exists(#starts, :zero) + :one, #last = :now, #ttl = :ttl"
                ),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (#window > :window_floor"
                    " AND #starts < :max AND (attribute_not_exists(#last) OR #last <= :gap_floor))"
                ),
                ExpressionAttributeNames=_BUDGET_NAMES,
                ExpressionAttributeValues={
                    ":zero": attr_n(0),
                    ":one": attr_n(1),
                    ":now": attr_n(budget.now),
                    ":ttl": attr_n(budget.ttl),
                    ":window_floor": attr_n(budget.now - budget.window),
                    ":max": attr_n(budget.max_starts),
                    ":gap_floor": attr_n(budget.now - budget.min_gap),
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ).get("Attributes", {})
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise aws_failure("reserve start", exc) from exc
            return failed_item(exc)
        except BotoCoreError as exc:
            raise aws_failure("reserve start", exc) from exc
        return budget.reservation(old)

    def _open_window(self, budget: _Budget, current: Mapping[str, Any]) -> StartReservation | None:
        """Start a new window with this start as its first, if ``current`` is still how the item is (its
        window over, the gap kept); None if another start changed it first."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key_of(budget.kind, budget.key_hash),
                UpdateExpression="SET #window = :now, #starts = :one, #last = :now, #ttl = :ttl",
                ConditionExpression=(
                    "(attribute_not_exists(pk) OR #window <= :window_floor) "
                    "AND (attribute_not_exists(#last) OR #last <= :gap_floor)"
                ),
                ExpressionAttributeNames=_BUDGET_NAMES,
                ExpressionAttributeValues={
                    ":one": attr_n(1),
                    ":now": attr_n(budget.now),
                    ":ttl": attr_n(budget.ttl),
                    ":window_floor": attr_n(budget.now - budget.window),
                    ":gap_floor": attr_n(budget.now - budget.min_gap),
                },
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise aws_failure("reserve start", exc) from exc
            return None
        except BotoCoreError as exc:
            raise aws_failure("reserve start", exc) from exc
        return budget.reservation(current)

    def release(self, reservation: StartReservation) -> None:
        """Give the slot back after a start that sent nothing (best effort: a lost release only delays)."""
        names = {"#starts": "starts", "#last": "lastStart"}
        values: dict[str, AttributeValueTypeDef] = {
            ":one": attr_n(1),
            ":taken": attr_n(reservation.taken_at),
        }
        if reservation.previous_start is None:
            update = "SET #starts = #starts - :one REMOVE #last"
        else:
            update = "SET #starts = #starts - :one, #last = :previous"
            values[":previous"] = attr_n(reservation.previous_start)
        try:
            # Only while this start is still the last one: a later start's gap must not be undone.
            self._client.update_item(
                TableName=self._table,
                Key=key_of(reservation.kind, reservation.key_hash),
                UpdateExpression=update,
                ConditionExpression="#last = :taken AND #starts >= :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not release a start slot; the number waits out its window instead")

    def latest_for_number(self, number_hash: str) -> str | None:
        item = self._get(key_of("number", number_hash), "latestId")
        return text_of(item, "latestId") if item else None

    # ------------------------------------------------------------------------------------- verifications

    def create(self, record: VerificationRecord, *, supersedes: str | None) -> None:
        """Store a started verification, point the number at it and abort the one it supersedes."""
        items = put_and_point(self._table, record, ttl=record.expires_at + RETENTION_SECONDS)
        if supersedes and supersedes != record.id:
            items.append(abort_if_pending(self._table, supersedes))
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if not only_the_abort_failed(exc):
                raise aws_failure("create verification", exc) from exc
            # The superseded verification already finished (verified, expired, ...): nothing to abort.
            try:
                self._client.transact_write_items(TransactItems=items[:2])
            except (ClientError, BotoCoreError) as retry_exc:
                raise aws_failure("create verification", retry_exc) from retry_exc
        except BotoCoreError as exc:
            raise aws_failure("create verification", exc) from exc

    def get(self, verification_id: str) -> VerificationRecord | None:
        item = self._get(key_of("verification", verification_id))
        return record_of(item) if item else None

    def succeed_if_matches(
        self, verification_id: str, *, secret_hash: str, owner_hash: str, now: int
    ) -> VerificationRecord:
        """Count the attempt and mark success in one write if the hash matches and the check is open."""
        return self._update(
            verification_id,
            update="SET #status = :successful, #attempts = #attempts + :one, #verified = :now",
            condition=f"{_OPEN} AND #secret = :secret",
            names={**_OPEN_NAMES, "#secret": "secretHash", "#verified": "verifiedAt"},
            values={
                **_open_values(owner_hash, now),
                ":successful": attr_s(Status.SUCCESSFUL.value),
                ":secret": attr_s(secret_hash),
            },
            action="succeed",
        )

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
    ) -> VerificationRecord:
        """One conditional write to a verification: the item as it is after it, or ``ConditionFailed``
        with the item as it was."""
        try:
            new = self._client.update_item(
                TableName=self._table,
                Key=key_of("verification", verification_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=dict(names),
                ExpressionAttributeValues=dict(values),
                ReturnValues="ALL_NEW",
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


def _open_values(owner_hash: str, now: int) -> dict[str, AttributeValueTypeDef]:
    """The values ``_OPEN`` refers to, plus ``:one`` for counting."""
    return {
        ":one": attr_n(1),
        ":now": attr_n(now),
        ":pending": attr_s(Status.PENDING.value),
        ":owner": attr_s(owner_hash),
    }
