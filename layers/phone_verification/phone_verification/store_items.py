"""The store's DynamoDB items and errors: verification records to and from items in DynamoDB's attribute
value format, the items of the transaction that creates a verification, and failed calls as the layer's
errors. Part of ``store.py``; nothing else uses it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from .errors import InternalError, ServiceUnavailable, VerificationError
from .model import CheckedBy, Method, Status, VerificationRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

# The store's logger: this module is part of the store, not a component with logs of its own.
logger = logging.getLogger(__name__.removesuffix("_items"))


def attr_s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def attr_n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def key_of(kind: str, value: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": attr_s(f"{kind}#{value}")}


def text_of(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if isinstance(value, Mapping) and "S" in value else None


def int_of(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None


def record_of(item: Mapping[str, Any]) -> VerificationRecord:
    return VerificationRecord(
        id=text_of(item, "id") or "",
        method=Method(text_of(item, "method") or ""),
        status=Status(text_of(item, "status") or Status.PENDING),
        attempts=int_of(item, "attempts") or 0,
        max_attempts=int_of(item, "maxAttempts") or 0,
        created_at=int_of(item, "createdAt") or 0,
        expires_at=int_of(item, "expiresAt") or 0,
        masked_number=text_of(item, "maskedNumber") or "",
        number_hash=text_of(item, "numberHash") or "",
        owner_hash=text_of(item, "ownerHash") or "",
        # Only this module writes the attribute, and only "service" or "sinch".
        checked_by=cast(CheckedBy, text_of(item, "checkedBy") or "sinch"),
        secret_hash=text_of(item, "secretHash"),
        reason=text_of(item, "reason"),
        reference=text_of(item, "reference"),
        task_token=text_of(item, "taskToken"),
        sinch_report_pending=bool(item.get("sinchReportPending", {}).get("BOOL", False)),
        guard_prefix=text_of(item, "guardPrefix"),
        country=text_of(item, "country"),
        sinch_id=text_of(item, "sinchId"),
        channels=tuple(Method(name) for name in texts_of(item, "channels")),
        channel=int_of(item, "channel") or 0,
        retired_hashes=texts_of(item, "retiredHashes"),
    )


def texts_of(item: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list of strings (DynamoDB's ``L`` of ``S``), in its order."""
    value = item.get(name)
    entries = value.get("L", []) if isinstance(value, Mapping) else []
    return tuple(entry["S"] for entry in entries if isinstance(entry, Mapping) and "S" in entry)


def attr_texts(values: tuple[str, ...] | list[str]) -> AttributeValueTypeDef:
    return {"L": [attr_s(value) for value in values]}


def item_of(record: VerificationRecord, *, ttl: int) -> dict[str, AttributeValueTypeDef]:
    """The record as an item; ``ttl`` is when DynamoDB's TTL may delete it (seconds since the epoch)."""
    item: dict[str, AttributeValueTypeDef] = {
        **key_of("verification", record.id),
        "id": attr_s(record.id),
        "method": attr_s(record.method.value),
        "status": attr_s(record.status.value),
        "attempts": attr_n(record.attempts),
        "maxAttempts": attr_n(record.max_attempts),
        "createdAt": attr_n(record.created_at),
        "expiresAt": attr_n(record.expires_at),
        "ttl": attr_n(ttl),
        "maskedNumber": attr_s(record.masked_number),
        "numberHash": attr_s(record.number_hash),
        "ownerHash": attr_s(record.owner_hash),
        "checkedBy": attr_s(record.checked_by),
        "channel": attr_n(record.channel),
    }
    if record.channels:
        item["channels"] = attr_texts([method.value for method in record.channels])
    if record.retired_hashes:
        item["retiredHashes"] = attr_texts(record.retired_hashes)
    for name, value in (
        ("secretHash", record.secret_hash),
        ("reason", record.reason),
        ("reference", record.reference),
        ("taskToken", record.task_token),
        ("guardPrefix", record.guard_prefix),
        ("country", record.country),
        ("sinchId", record.sinch_id),
    ):
        if value is not None:
            item[name] = attr_s(value)
    return item


def put_and_point(
    table: str, record: VerificationRecord, *, ttl: int, expected: str | None
) -> list[TransactWriteItemTypeDef]:
    """The first two items of the transaction that stores a started verification: put it (a new id
    only), and make it its owner's latest for the number, if the owner's latest is still ``expected``."""
    put: TransactWriteItemTypeDef = {
        "Put": {
            "TableName": table,
            "Item": item_of(record, ttl=ttl),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    values: dict[str, AttributeValueTypeDef] = {
        ":id": attr_s(record.id),
        ":waits": {"BOOL": record.task_token is not None},
    }
    if expected is None:
        condition = "attribute_not_exists(#latest)"
    else:
        condition = "#latest = :expected"
        values[":expected"] = attr_s(expected)
    point: TransactWriteItemTypeDef = {
        "Update": {
            "TableName": table,
            "Key": key_of("number", record.number_hash),
            "UpdateExpression": "SET #latest = :id, #waits = :waits",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {
                "#latest": f"latest:{record.owner_hash}",
                "#waits": f"waits:{record.owner_hash}",
            },
            "ExpressionAttributeValues": values,
            # A pointer that moved since (an overlapping start) is in the cancellation reason.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    return [put, point]


def abort_if_pending(table: str, verification_id: str) -> TransactWriteItemTypeDef:
    """The third item, when the new verification supersedes another: abort that one if still pending.
    Always the third: ``store.create`` reads the transaction's cancellation reasons by position."""
    return {
        "Update": {
            "TableName": table,
            "Key": key_of("verification", verification_id),
            "UpdateExpression": "SET #status = :aborted, #reason = :reason",
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#status": "status", "#reason": "reason"},
            "ExpressionAttributeValues": {
                ":aborted": attr_s(Status.ABORTED.value),
                ":reason": attr_s("Superseded"),
                ":pending": attr_s(Status.PENDING.value),
            },
        }
    }


def failed_item(exc: ClientError) -> Mapping[str, Any]:
    """The item as it was when a condition failed, which says why the write did not apply. DynamoDB
    returns it only for writes sent with ``ReturnValuesOnConditionCheckFailure=ALL_OLD``, see
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html"""
    item: object = exc.response.get("Item")
    return item if isinstance(item, Mapping) else {}


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def cancelled_items(exc: ClientError) -> set[int]:
    """The positions of the items whose condition cancelled a transaction. DynamoDB lists one
    cancellation reason per item, in the items' order, with code "None" for the items that would have
    applied, see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html"""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return set()
    reasons = exc.response.get("CancellationReasons", [])
    return {index for index, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"}


def cancelled_with_items(exc: ClientError) -> dict[int, Mapping[str, Any]]:
    """``cancelled_items`` with each item as it was when its condition failed (empty when it did not
    exist): DynamoDB returns it in the item's cancellation reason for updates sent with
    ``ReturnValuesOnConditionCheckFailure=ALL_OLD``."""
    reasons = exc.response.get("CancellationReasons", [])
    failed: dict[int, Mapping[str, Any]] = {}
    for index in cancelled_items(exc):
        item: object = reasons[index].get("Item")
        failed[index] = item if isinstance(item, Mapping) else {}
    return failed


def conflicted_items(exc: ClientError) -> set[int]:
    """The positions of the items another transaction was writing when this one was cancelled."""
    reasons = exc.response.get("CancellationReasons", [])
    return {index for index, reason in enumerate(reasons) if reason.get("Code") == "TransactionConflict"}


def is_conflict(exc: ClientError) -> bool:
    """A transaction cancelled because another write to one of its items was in progress: it may simply
    be sent again."""
    reasons = exc.response.get("CancellationReasons", [])
    return any(reason.get("Code") == "TransactionConflict" for reason in reasons)


# botocore has already retried these, so they are likely to pass soon: the caller is told to retry
# (503) instead of getting an internal error (500).
TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def aws_failure(action: str, exc: Exception | None = None) -> VerificationError:
    """The error a failed DynamoDB call becomes, logged once here (with the AWS error code only)."""
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    if code == "TransactionCanceledException" and isinstance(exc, ClientError):
        # A transaction names its cause per item, in CancellationReasons: throttling of any item is
        # as transient as throttling of a single write.
        reasons = exc.response.get("CancellationReasons", [])
        if any(r.get("Code") in TRANSIENT or r.get("Code") == "ThrottlingError" for r in reasons):
            code = "ThrottlingException"
    transient = isinstance(exc, BotoCoreError) or code in TRANSIENT
    logger.warning(
        "DynamoDB call failed",
        extra={"action": action, "aws_error": code or type(exc).__name__, "transient": transient},
    )
    return ServiceUnavailable(retry_after=1) if transient else InternalError()


def read_all(
    client: DynamoDBClient, table: str, keys: list[dict[str, AttributeValueTypeDef]], action: str
) -> list[Mapping[str, Any] | None]:
    """Each key's item, read at once and consistently (``BatchGetItem``): {} when there is none, None when
    DynamoDB left it unprocessed twice (then it is neither chosen nor counted)."""
    items: dict[str, Mapping[str, Any]] = {}
    pending = keys
    for _ in range(2):
        try:
            answer = client.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": True}})
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(action, exc) from exc
        for item in answer.get("Responses", {}).get(table, []):
            items[text_of(item, "pk") or ""] = item
        unprocessed = answer.get("UnprocessedKeys", {})
        left = list(unprocessed[table]["Keys"]) if table in unprocessed else []
        left_keys = {text_of(key, "pk") for key in left}
        for key in pending:  # answered without an item: there is none
            if text_of(key, "pk") not in left_keys:
                items.setdefault(text_of(key, "pk") or "", {})
        pending = left
        if not pending:
            break
    return [items.get(text_of(key, "pk") or "") for key in keys]
