"""DynamoDB access: the only module that talks to the table.

One table, partition key ``pk``, two item kinds besides Powertools' idempotency records:

- ``verification#<id>``: method, status, reason, attempts, limits, times, the masked number, keyed hashes
  of the number, the owner and of the code or CLI the service checks itself, Sinch's reference.
- ``number#<hash of the number>``: the per-number start counter (fixed window + minimum gap) and the id of
  the number's latest verification (report by number, and superseding the previous one).

Every state change is one conditional write, so limits hold under any concurrency: the condition, not a
read before the write, decides. A failed condition returns the item as it was, which says why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import InternalError, RateLimited, ServiceUnavailable, VerificationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

logger = logging.getLogger(__name__)

PENDING = "PENDING"
SUCCESSFUL = "SUCCESSFUL"
FAIL = "FAIL"
DENIED = "DENIED"
ABORTED = "ABORTED"

# Finished verifications stay readable this long after they expire, so a late report or status read
# gets "expired" or the final outcome instead of "not found"; DynamoDB's TTL removes them afterwards.
RETENTION_SECONDS = 24 * 3600
_RACE_RETRIES = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationRecord:
    id: str
    method: str
    status: str
    attempts: int
    max_attempts: int
    created_at: int
    expires_at: int
    masked_number: str
    number_hash: str
    owner_hash: str
    checked_by: str  # "service": we compare secret_hash; "sinch": Sinch decides each report
    secret_hash: str | None = None
    reason: str | None = None
    reference: str | None = None
    task_token: str | None = None
    sinch_report_pending: bool = False

    def __repr__(self) -> str:
        return (
            f"VerificationRecord(id={self.id!r}, method={self.method!r}, status={self.status!r}, "
            f"attempts={self.attempts}/{self.max_attempts}, number={self.masked_number!r})"
        )


@dataclass(frozen=True, slots=True)
class StartReservation:
    """A start slot taken in a window (the number's or the caller's); released again if nothing was sent."""

    kind: str
    key_hash: str
    taken_at: int
    previous_start: int | None
    previous_id: str | None
    # Whether a Step Functions task waits on previous_id: only then must superseding it resume a workflow.
    previous_has_task_token: bool = False


class ConditionFailed(Exception):
    """A conditional write did not apply; ``record`` is the item as it was (None if it does not exist)."""

    def __init__(self, record: VerificationRecord | None) -> None:
        super().__init__("condition failed")
        self.record = record


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _key(kind: str, value: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": _s(f"{kind}#{value}")}


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if isinstance(value, Mapping) and "S" in value else None


def _int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None


def _record(item: Mapping[str, Any]) -> VerificationRecord:
    return VerificationRecord(
        id=_text(item, "id") or "",
        method=_text(item, "method") or "",
        status=_text(item, "status") or PENDING,
        attempts=_int(item, "attempts") or 0,
        max_attempts=_int(item, "maxAttempts") or 0,
        created_at=_int(item, "createdAt") or 0,
        expires_at=_int(item, "expiresAt") or 0,
        masked_number=_text(item, "maskedNumber") or "",
        number_hash=_text(item, "numberHash") or "",
        owner_hash=_text(item, "ownerHash") or "",
        checked_by=_text(item, "checkedBy") or "sinch",
        secret_hash=_text(item, "secretHash"),
        reason=_text(item, "reason"),
        reference=_text(item, "reference"),
        task_token=_text(item, "taskToken"),
        sinch_report_pending=bool(item.get("sinchReportPending", {}).get("BOOL", False)),
    )


def _item(record: VerificationRecord) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        **_key("verification", record.id),
        "id": _s(record.id),
        "method": _s(record.method),
        "status": _s(record.status),
        "attempts": _n(record.attempts),
        "maxAttempts": _n(record.max_attempts),
        "createdAt": _n(record.created_at),
        "expiresAt": _n(record.expires_at),
        "ttl": _n(record.expires_at + RETENTION_SECONDS),
        "maskedNumber": _s(record.masked_number),
        "numberHash": _s(record.number_hash),
        "ownerHash": _s(record.owner_hash),
        "checkedBy": _s(record.checked_by),
    }
    for name, value in (
        ("secretHash", record.secret_hash),
        ("reason", record.reason),
        ("reference", record.reference),
        ("taskToken", record.task_token),
    ):
        if value is not None:
            item[name] = _s(value)
    return item


def _waits(number_item: Mapping[str, Any]) -> bool:
    return bool(number_item.get("latestHasTaskToken", {}).get("BOOL", False))


def _failed_item(exc: ClientError) -> Mapping[str, Any]:
    """The item as it was when a condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    item: object = exc.response.get("Item")
    return item if isinstance(item, Mapping) else {}


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


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

    # ----------------------------------------------------------------------------------- per-number limits

    def reserve(
        self,
        kind: str,
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
        names = {"#window": "windowStart", "#starts": "starts", "#last": "lastStart", "#ttl": "ttl"}
        key = _key(kind, key_hash)
        ttl = _n(now + max(window, keep_for) + RETENTION_SECONDS)
        for _ in range(_RACE_RETRIES):
            try:
                # One write for the two common cases: a key never seen (most numbers verify once)
                # opens its window, a key inside its window takes the next slot. Only a key whose
                # window has run out fails here and needs the second write below.
                old = self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=(
                        "SET #window = if_not_exists(#window, :now),"
                        " #starts = if_not_exists(#starts, :zero) + :one, #last = :now, #ttl = :ttl"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR (#window > :window_floor"
                        " AND #starts < :max AND (attribute_not_exists(#last) OR #last <= :gap_floor))"
                    ),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":zero": _n(0),
                        ":one": _n(1),
                        ":now": _n(now),
                        ":ttl": ttl,
                        ":window_floor": _n(now - window),
                        ":max": _n(max_starts),
                        ":gap_floor": _n(now - min_gap),
                    },
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ).get("Attributes", {})
                return StartReservation(
                    kind, key_hash, now, _int(old, "lastStart"), _text(old, "latestId"), _waits(old)
                )
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise _aws_failure("reserve start", exc) from exc
                current = _failed_item(exc)
            except BotoCoreError as exc:
                raise _aws_failure("reserve start", exc) from exc
            window_start, last = _int(current, "windowStart"), _int(current, "lastStart")
            full = (
                window_start is not None
                and window_start > now - window
                and (_int(current, "starts") or 0) >= max_starts
            )
            too_soon = last is not None and last > now - min_gap
            if full or too_soon:
                waits = [1]
                if full and window_start is not None:
                    waits.append(window_start + window - now)
                if too_soon and last is not None:
                    waits.append(last + min_gap - now)
                raise RateLimited(retry_after=max(waits))
            # Nothing forbids a start, so the number's window must be over (or the first write lost a race):
            # open a new window.
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #window = :now, #starts = :one, #last = :now, #ttl = :ttl",
                    ConditionExpression=(
                        "(attribute_not_exists(pk) OR #window <= :window_floor) "
                        "AND (attribute_not_exists(#last) OR #last <= :gap_floor)"
                    ),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":one": _n(1),
                        ":now": _n(now),
                        ":ttl": ttl,
                        ":window_floor": _n(now - window),
                        ":gap_floor": _n(now - min_gap),
                    },
                )
                return StartReservation(
                    kind, key_hash, now, last, _text(current, "latestId"), _waits(current)
                )
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise _aws_failure("reserve start", exc) from exc
                # Another start won the race; look again.
            except BotoCoreError as exc:
                raise _aws_failure("reserve start", exc) from exc
        raise RateLimited(retry_after=max(1, min_gap))

    def release(self, reservation: StartReservation) -> None:
        """Give the slot back after a start that sent nothing (best effort: a lost release only delays)."""
        names = {"#starts": "starts", "#last": "lastStart"}
        values: dict[str, AttributeValueTypeDef] = {":one": _n(1), ":taken": _n(reservation.taken_at)}
        if reservation.previous_start is None:
            update = "SET #starts = #starts - :one REMOVE #last"
        else:
            update = "SET #starts = #starts - :one, #last = :previous"
            values[":previous"] = _n(reservation.previous_start)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(reservation.kind, reservation.key_hash),
                UpdateExpression=update,
                ConditionExpression="#last = :taken AND #starts >= :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not release a start slot; the number waits out its window instead")

    def latest_for_number(self, number_hash: str) -> str | None:
        item = self._get(_key("number", number_hash), "latestId")
        return _text(item, "latestId") if item else None

    # ------------------------------------------------------------------------------------- verifications

    def create(self, record: VerificationRecord, *, supersedes: str | None) -> None:
        """Store a started verification, point the number at it and abort the one it supersedes."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": _item(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        point: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table,
                "Key": _key("number", record.number_hash),
                "UpdateExpression": "SET #latest = :id, #waits = :waits",
                "ExpressionAttributeNames": {"#latest": "latestId", "#waits": "latestHasTaskToken"},
                "ExpressionAttributeValues": {
                    ":id": _s(record.id),
                    ":waits": {"BOOL": record.task_token is not None},
                },
            }
        }
        items = [put, point]
        if supersedes and supersedes != record.id:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key("verification", supersedes),
                        "UpdateExpression": "SET #status = :aborted, #reason = :reason",
                        "ConditionExpression": "#status = :pending",
                        "ExpressionAttributeNames": {"#status": "status", "#reason": "reason"},
                        "ExpressionAttributeValues": {
                            ":aborted": _s(ABORTED),
                            ":reason": _s("Superseded"),
                            ":pending": _s(PENDING),
                        },
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            reasons = exc.response.get("CancellationReasons", [])
            only_abort_failed = (
                code == "TransactionCanceledException"
                and len(reasons) == 3
                and reasons[2].get("Code") == "ConditionalCheckFailed"
                and all(r.get("Code") in (None, "None") for r in reasons[:2])
            )
            if not only_abort_failed:
                raise _aws_failure("create verification", exc) from exc
            # The superseded verification already finished (verified, expired, ...): nothing to abort.
            try:
                self._client.transact_write_items(TransactItems=[put, point])
            except (ClientError, BotoCoreError) as retry_exc:
                raise _aws_failure("create verification", retry_exc) from retry_exc
        except BotoCoreError as exc:
            raise _aws_failure("create verification", exc) from exc

    def get(self, verification_id: str) -> VerificationRecord | None:
        item = self._get(_key("verification", verification_id))
        return _record(item) if item else None

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
                ":successful": _s(SUCCESSFUL),
                ":secret": _s(secret_hash),
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
                Key=_key("verification", verification_id),
                UpdateExpression="SET #attempts = #attempts - :one",
                ConditionExpression="attribute_exists(pk) AND #attempts >= :one AND #status = :pending",
                ExpressionAttributeNames={"#attempts": "attempts", "#status": "status"},
                ExpressionAttributeValues={":one": _n(1), ":pending": _s(PENDING)},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not refund an attempt after a provider failure")

    def finish(
        self, verification_id: str, *, status: str, reason: str | None, now: int
    ) -> VerificationRecord:
        """Move a pending verification to a final status (Sinch's verdict); fails if it already finished."""
        names = {"#status": "status", "#finished": "finishedAt"}
        values: dict[str, AttributeValueTypeDef] = {
            ":status": _s(status),
            ":pending": _s(PENDING),
            ":now": _n(now),
        }
        update = "SET #status = :status, #finished = :now"
        if reason:
            update += ", #reason = :reason"
            names["#reason"] = "reason"
            values[":reason"] = _s(reason)
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
                Key=_key("verification", verification_id),
                UpdateExpression="SET #flag = :flag",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#flag": "sinchReportPending"},
                ExpressionAttributeValues={":flag": {"BOOL": pending}},
            )
        except (ClientError, BotoCoreError):
            logger.warning("could not record the state of the Sinch report")

    # ------------------------------------------------------------------------- Step Functions task tokens

    def take_task_token(self, verification_id: str, *, status: str | None = None) -> str | None:
        """Remove and return the verification's task token; None when it has none (any more).

        The condition lets exactly one caller take it, so a waiting workflow is resumed once however many
        reports race. ``status`` takes it only from a verification in that status. Best effort: a failed
        call is logged and gives None (the workflow's task timeout covers it), never an error for the
        report that ended the verification.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key("verification", verification_id),
            "UpdateExpression": "REMOVE #token",
            "ConditionExpression": "attribute_exists(#token)",
            "ExpressionAttributeNames": {"#token": "taskToken"},
            "ReturnValues": "UPDATED_OLD",
        }
        if status is not None:
            kwargs["ConditionExpression"] += " AND #status = :status"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            kwargs["ExpressionAttributeValues"] = {":status": _s(status)}
        try:
            old = self._client.update_item(**kwargs)
        except ClientError as exc:
            if not _is_condition_failure(exc):
                code = exc.response.get("Error", {}).get("Code")
                logger.warning("could not take the workflow's task token", extra={"aws_error": code})
            return None
        except BotoCoreError as exc:
            logger.warning(
                "could not take the workflow's task token", extra={"aws_error": type(exc).__name__}
            )
            return None
        return _text(old.get("Attributes", {}), "taskToken")

    def replace_task_token(self, verification_id: str, token: str) -> None:
        """Make a pending verification resume ``token``'s task instead (a retried start brings a new one);
        raises ``ConditionFailed`` with the record when the verification is no longer pending."""
        self._update(
            verification_id,
            update="SET #token = :token",
            condition="attribute_exists(pk) AND #status = :pending",
            names={"#token": "taskToken", "#status": "status"},
            values={":token": _s(token), ":pending": _s(PENDING)},
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
            raise _aws_failure("read", exc) from exc

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
                Key=_key("verification", verification_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=dict(names),
                ExpressionAttributeValues=dict(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                item = _failed_item(exc)
                raise ConditionFailed(_record(item) if item else None) from None
            raise _aws_failure(action, exc) from exc
        except BotoCoreError as exc:
            raise _aws_failure(action, exc) from exc
        return _record(new["Attributes"])


def _open_values(owner_hash: str, now: int) -> dict[str, AttributeValueTypeDef]:
    """The values ``_OPEN`` refers to, plus ``:one`` for counting."""
    return {":one": _n(1), ":now": _n(now), ":pending": _s(PENDING), ":owner": _s(owner_hash)}


# Throttling and transport failures pass: botocore already retried them, so the caller may try again soon.
_TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def _aws_failure(action: str, exc: Exception | None = None) -> VerificationError:
    """The error a failed DynamoDB call becomes, logged once here (with the AWS error code only)."""
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    if code == "TransactionCanceledException" and isinstance(exc, ClientError):
        reasons = exc.response.get("CancellationReasons", [])
        if any(r.get("Code") in _TRANSIENT or r.get("Code") == "ThrottlingError" for r in reasons):
            code = "ThrottlingException"
    transient = isinstance(exc, BotoCoreError) or code in _TRANSIENT
    logger.warning(
        "DynamoDB call failed",
        extra={"action": action, "aws_error": code or type(exc).__name__, "transient": transient},
    )
    return ServiceUnavailable(retry_after=1) if transient else InternalError()
