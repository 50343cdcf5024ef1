"""``InMemoryStore``: ``ports.Store`` in memory, with the DynamoDB store's conditions (``store.py``) as plain
checks. tests/unit/test_store.py runs the same contract over both."""

from __future__ import annotations

from dataclasses import dataclass, replace

from phone_verification.errors import InternalError, RateLimited
from phone_verification.model import Status, VerificationRecord
from phone_verification.ports import BudgetKind, ConditionFailed, StartReservation


@dataclass
class Budget:
    """A number's or a caller's start window; a number's also points at its latest verification."""

    window_start: int | None = None
    starts: int = 0
    last_start: int | None = None
    latest_id: str | None = None
    latest_has_task_token: bool = False


def is_open(record: VerificationRecord, owner_hash: str, now: int) -> bool:
    """DynamoDB's ``_OPEN`` condition: pending, unexpired, within its attempts and the caller's own."""
    return (
        record.status is Status.PENDING
        and record.attempts < record.max_attempts
        and record.expires_at > now
        and record.owner_hash == owner_hash
    )


class InMemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, VerificationRecord] = {}
        self.budgets: dict[tuple[BudgetKind, str], Budget] = {}

    def reserve(
        self,
        kind: BudgetKind,
        key_hash: str,
        *,
        now: int,
        max_starts: int,
        window: int,
        min_gap: int = 0,
        keep_for: int = 0,  # how long DynamoDB keeps the item; memory keeps everything
    ) -> StartReservation:
        budget = self.budgets.get((kind, key_hash))
        if budget is None:
            self.budgets[kind, key_hash] = Budget(window_start=now, starts=1, last_start=now)
            return StartReservation(kind, key_hash, now, None, None)
        previous = StartReservation(
            kind, key_hash, now, budget.last_start, budget.latest_id, budget.latest_has_task_token
        )
        in_window = budget.window_start is not None and budget.window_start > now - window
        gap_kept = budget.last_start is None or budget.last_start <= now - min_gap
        if in_window and budget.starts < max_starts and gap_kept:
            budget.starts, budget.last_start = budget.starts + 1, now
            return previous
        waits = []
        if in_window and budget.window_start is not None and budget.starts >= max_starts:
            waits.append(budget.window_start + window - now)
        if budget.last_start is not None and not gap_kept:
            waits.append(budget.last_start + min_gap - now)
        if waits:
            raise RateLimited(retry_after=max(1, *waits))
        if budget.window_start is None:  # DynamoDB's conditions never open a window on such an item
            raise RateLimited(retry_after=max(1, min_gap))
        budget.window_start, budget.starts, budget.last_start = now, 1, now
        return previous

    def release(self, reservation: StartReservation) -> None:
        budget = self.budgets.get((reservation.kind, reservation.key_hash))
        if budget is not None and budget.last_start == reservation.taken_at and budget.starts >= 1:
            budget.starts, budget.last_start = budget.starts - 1, reservation.previous_start

    def latest_for_number(self, number_hash: str) -> str | None:
        budget = self.budgets.get(("number", number_hash))
        return budget.latest_id if budget else None

    def create(self, record: VerificationRecord, *, supersedes: str | None) -> None:
        if record.id in self.records:
            raise InternalError()  # DynamoDB's put is conditional on a new id
        self.records[record.id] = record
        budget = self.budgets.setdefault(("number", record.number_hash), Budget())
        budget.latest_id, budget.latest_has_task_token = record.id, record.task_token is not None
        superseded = self.records.get(supersedes or "")
        if superseded is not None and superseded.id != record.id and superseded.status is Status.PENDING:
            self.records[superseded.id] = replace(superseded, status=Status.ABORTED, reason="Superseded")

    def get(self, verification_id: str) -> VerificationRecord | None:
        return self.records.get(verification_id)

    def succeed_if_matches(
        self, verification_id: str, *, secret_hash: str, owner_hash: str, now: int
    ) -> VerificationRecord:
        record = self.records.get(verification_id)
        if record is None or not is_open(record, owner_hash, now) or record.secret_hash != secret_hash:
            raise ConditionFailed(record)
        return self._put(replace(record, status=Status.SUCCESSFUL, attempts=record.attempts + 1))

    def count_attempt(self, verification_id: str, *, owner_hash: str, now: int) -> VerificationRecord:
        record = self.records.get(verification_id)
        if record is None or not is_open(record, owner_hash, now):
            raise ConditionFailed(record)
        return self._put(replace(record, attempts=record.attempts + 1))

    def refund_attempt(self, verification_id: str) -> None:
        record = self.records.get(verification_id)
        if record is not None and record.attempts >= 1 and record.status is Status.PENDING:
            self._put(replace(record, attempts=record.attempts - 1))

    def finish(
        self, verification_id: str, *, status: Status, reason: str | None, now: int
    ) -> VerificationRecord:
        record = self.records.get(verification_id)
        if record is None or record.status is not Status.PENDING:
            raise ConditionFailed(record)
        return self._put(replace(record, status=status, reason=reason or record.reason))

    def set_sinch_report_pending(self, verification_id: str, pending: bool) -> None:
        record = self.records.get(verification_id)
        if record is not None:
            self._put(replace(record, sinch_report_pending=pending))

    def take_task_token(self, verification_id: str, *, status: Status | None = None) -> str | None:
        record = self.records.get(verification_id)
        if record is None or record.task_token is None or status not in (None, record.status):
            return None
        self._put(replace(record, task_token=None))
        return record.task_token

    def replace_task_token(self, verification_id: str, token: str) -> None:
        record = self.records.get(verification_id)
        if record is None or record.status is not Status.PENDING:
            raise ConditionFailed(record)
        self._put(replace(record, task_token=token))

    def _put(self, record: VerificationRecord) -> VerificationRecord:
        self.records[record.id] = record
        return record
