"""Everything the sandbox remembers, behind one lock: verifications, the phones' inbox, the request log,
pending fault and outcome rules, the movable clock and the runtime configuration."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.faults import FaultRule
from sinch_sandbox.outcomes import DENIED, ERROR, OutcomeRule

PENDING = "PENDING"
SUCCESSFUL = "SUCCESSFUL"
FAIL = "FAIL"
ABORTED = "ABORTED"
# Set at start by an outcome rule: the verification never reached the phone.
OUTCOME_STATUSES = (DENIED, ERROR)

# Bounded so a sandbox left running for days under a load test cannot grow without limit.
MAX_LOGGED_REQUESTS = 10_000
MAX_INBOX_ENTRIES = 100


class Clock:
    """Real time plus a forward-only offset, so tests can expire verifications without sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def reset(self) -> None:
        self._offset = 0.0


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sinch_timestamp(epoch: float) -> str:
    """Sinch's ``verificationTimestamp`` style: UTC, seven fractional digits, no zone designator."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


@dataclass
class Verification:
    id: str
    method: str
    number: str
    country_id: str | None
    reference: str | None
    # The code (sms, whatsapp, callout) or the full CLI (flashcall) that a correct report must carry.
    secret: str
    created_at: float
    expires_at: float
    status: str = PENDING
    reason: str | None = None
    reported: bool = False
    # False when an outcome rule denied or errored the verification at start: nothing reached the phone.
    delivered: bool = True

    def refresh(self, now: float) -> None:
        if self.status == PENDING and now >= self.expires_at:
            self.status = FAIL
            self.reason = "Expired"


@dataclass
class Inbox:
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        # Re-entrant so helpers can take the lock even when their caller already holds it.
        self.lock = threading.RLock()
        self.config = config
        self.clock = Clock()
        self.verifications: dict[str, Verification] = {}
        self.by_reference: dict[str, str] = {}
        self.by_number: dict[str, list[str]] = {}
        self.inboxes: dict[str, Inbox] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self.faults: list[FaultRule] = []
        self.outcomes: list[OutcomeRule] = []

    def reset(self) -> None:
        with self.lock:
            self.clock.reset()
            self.verifications.clear()
            self.by_reference.clear()
            self.by_number.clear()
            self.inboxes.clear()
            self.requests.clear()
            self.faults.clear()
            self.outcomes.clear()

    def now(self) -> float:
        return self.clock.now()

    # -- verifications -------------------------------------------------------------------------

    def get(self, verification_id: str) -> Verification | None:
        with self.lock:
            found = self.verifications.get(verification_id)
            if found is not None:
                found.refresh(self.now())
            return found

    def get_by_reference(self, reference: str) -> Verification | None:
        with self.lock:
            verification_id = self.by_reference.get(reference)
            return None if verification_id is None else self.get(verification_id)

    def latest_for_number(self, number: str, method: str) -> Verification | None:
        with self.lock:
            for verification_id in reversed(self.by_number.get(number, [])):
                found = self.get(verification_id)
                if found is not None and found.method == method:
                    return found
            return None

    def add(self, verification: Verification) -> None:
        """File a new verification, superseding any pending one for the same number (Sinch: ABORTED)."""
        with self.lock:
            now = self.now()
            for previous_id in self.by_number.get(verification.number, []):
                previous = self.verifications[previous_id]
                previous.refresh(now)
                if previous.status == PENDING:
                    previous.status = ABORTED
            self.verifications[verification.id] = verification
            self.by_number.setdefault(verification.number, []).append(verification.id)
            if verification.reference is not None:
                self.by_reference[verification.reference] = verification.id

    # -- the phones ----------------------------------------------------------------------------

    def deliver_message(self, number: str, entry: dict[str, Any]) -> None:
        with self.lock:
            _append_bounded(self.inboxes.setdefault(number, Inbox()).messages, entry)

    def deliver_call(self, number: str, entry: dict[str, Any]) -> None:
        with self.lock:
            _append_bounded(self.inboxes.setdefault(number, Inbox()).calls, entry)

    def inbox_view(self, number: str) -> dict[str, Any]:
        with self.lock:
            inbox = self.inboxes.get(number, Inbox())
            return {
                "phoneNumber": number,
                "messages": [dict(m) for m in inbox.messages],
                "calls": [dict(c) for c in inbox.calls],
            }

    # -- request log and faults ----------------------------------------------------------------

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def requests_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.requests]

    def add_fault(self, rule: FaultRule) -> None:
        with self.lock:
            self.faults.append(rule)

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        """Consume one hit of the oldest rule matching this request, if any."""
        with self.lock:
            for rule in self.faults:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.faults.remove(rule)
                    return rule
            return None

    def faults_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return [rule.to_json() for rule in self.faults]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    # -- outcome rules -------------------------------------------------------------------------

    def add_outcome(self, rule: OutcomeRule) -> None:
        with self.lock:
            self.outcomes.append(rule)

    def take_outcome(self, number: str) -> OutcomeRule | None:
        """The oldest rule that applies to a start to ``number``; a next-start rule is used up by it."""
        with self.lock:
            for rule in self.outcomes:
                if rule.matches(number):
                    if rule.number is None:
                        self.outcomes.remove(rule)
                    return rule
            return None

    def outcomes_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return [rule.to_json() for rule in self.outcomes]

    def clear_outcomes(self) -> None:
        with self.lock:
            self.outcomes.clear()


def _append_bounded(entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    entries.append(entry)
    if len(entries) > MAX_INBOX_ENTRIES:
        del entries[0]
