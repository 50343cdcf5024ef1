"""Lifecycle events on Amazon EventBridge: the ``Events`` port.

Each change in a verification's life (``ports.Change``) is put on the configured bus, after the state
change it tells of has been written, as one entry: source ``phone-verification``, detail-type
``Verification <change>``, and a detail that says what happened to which verification and nothing about
whom. The detail is built from an allow-list (``detail``), never from the record as a whole: no number
(not even masked), no keyed hash (a hash of a number is still a stable identifier of a person), no
owner, no code, CLI or task token. ``reference`` is in it: it is the caller's own label for its own
records (letters, digits and ``._~-``), which the API already answers back, and what a consumer matches
events to its records by.

Delivery is at most once and never fails the request: the user's answer stands whatever EventBridge
does. A put that fails (the client cannot be built, EventBridge refuses or is unreachable, or it
accepts the call but fails the entry) is logged once with the AWS error code and counted as
``EventPutFailed``; nothing here raises.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .model import VerificationRecord, view
from .observability import record_event_put_failed
from .ports import Change

logger = logging.getLogger(__name__)

SOURCE = "phone-verification"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class EventsClient(Protocol):
    """What this module uses of botocore's EventBridge client."""

    def put_events(self, *, Entries: list[dict[str, Any]]) -> Any: ...


def _instant(seconds: int) -> str:
    return time.strftime(_TIME_FORMAT, time.gmtime(seconds))


def detail(change: Change, record: VerificationRecord, *, now: int) -> dict[str, Any]:
    """The event's detail: the verification as of ``now`` (a pending one past its expiry shows as
    ``FAIL``/``Expired``, as a status read would), without anything that names or identifies a person."""
    shown = view(record, now)
    body: dict[str, Any] = {
        "id": record.id,
        "method": record.method.value,
        "channel": record.channel,
        "channels": [method.value for method in record.channel_list],
        "country": record.country,
        "status": shown.status,
        "attemptsUsed": record.attempts,
        "maxAttempts": record.max_attempts,
        "createdAt": _instant(record.created_at),
        "expiresAt": _instant(record.expires_at),
        "time": _instant(now),
    }
    if shown.reason is not None:
        body["reason"] = shown.reason
    if record.reference is not None:
        body["reference"] = record.reference
    return body


def entry(bus: str, change: Change, record: VerificationRecord, *, now: int) -> dict[str, Any]:
    """The PutEvents entry for one change."""
    put: dict[str, Any] = {
        "Source": SOURCE,
        "DetailType": f"Verification {change}",
        "Detail": json.dumps(detail(change, record, now=now), separators=(",", ":")),
        "EventBusName": bus,
    }
    # Lambda sets the invocation's X-Ray trace header: EventBridge carries it on to the rules' targets,
    # so a consumer's trace continues the request's.
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    if trace:
        put["TraceHeader"] = trace
    return put


class EventBridgeEvents:
    """``ports.Events`` over EventBridge's PutEvents. The client is created on the first change to
    publish, so an execution environment that publishes nothing never builds one."""

    def __init__(
        self,
        bus: str,
        client: Callable[[], EventsClient],
        *,
        on_failure: Callable[[], None] = record_event_put_failed,
    ) -> None:
        self.bus = bus
        self._client_factory = client
        self._client: EventsClient | None = None
        self._on_failure = on_failure

    def _events(self) -> EventsClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def publish(self, change: Change, record: VerificationRecord, *, now: int) -> None:
        put = entry(self.bus, change, record, now=now)
        try:
            answer = self._events().put_events(Entries=[put])
        except ClientError as exc:
            self._failed(change, record, exc.response.get("Error", {}).get("Code") or "ClientError")
            return
        except BotoCoreError as exc:
            self._failed(change, record, type(exc).__name__)
            return
        if answer.get("FailedEntryCount"):
            # PutEvents answers 200 and fails entries one by one (throttled, too large, no such bus...).
            entries = answer.get("Entries") or [{}]
            self._failed(change, record, entries[0].get("ErrorCode") or "FailedEntry")

    def _failed(self, change: Change, record: VerificationRecord, code: str) -> None:
        logger.error(
            "could not publish a lifecycle event",
            extra={"verification_id": record.id, "change": change, "event_bus": self.bus, "aws_error": code},
        )
        self._on_failure()
