"""``InMemoryStore``: ``ports.Store`` in memory, with the DynamoDB store's conditions (``store.py``) as plain
checks. tests/unit/test_store.py runs the same contract over both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from phone_verification.errors import InternalError
from phone_verification.fraud import GuardPolicy, PrefixState, Verdict, credit, decide, refund
from phone_verification.limits import EMPTY, LimitReached, StartLog, take
from phone_verification.model import ChannelSwitch, Status, VerificationRecord
from phone_verification.ports import (
    BudgetAsk,
    BudgetKind,
    BudgetRefused,
    ConditionFailed,
    GuardAsk,
    Latest,
    SendReservation,
    StartReservation,
)
from phone_verification.store_guard import REFUSAL_MEMORY_SECONDS


@dataclass
class Budget:
    """A number's or a caller's start log, and the start before its last one (which a release puts back);
    a number's also holds each owner's latest verification."""

    log: StartLog = EMPTY
    previous: int | None = None
    latest: dict[str, Latest] = field(default_factory=dict)


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
        self.prefixes: dict[str, PrefixState] = {}
        self.countries: dict[str, str] = {}
        self._refused: dict[str, tuple[int, frozenset[str]]] = {}
        self.writes = 0  # updates of stored verifications that applied (a failed condition writes nothing)

    # What a send takes: ``fraud``'s rules on a dict (with the DynamoDB store's memory of refusals) and
    # ``limits``' logs, all or nothing.

    def reserve_send(
        self,
        guard: GuardAsk | None,
        budgets: Sequence[BudgetAsk],
        *,
        now: int,
        latest_for: tuple[str, str] | None = None,
    ) -> SendReservation:
        verdict = self._guard_verdict(guard, now) if guard is not None else None
        if (
            guard is not None
            and verdict is not None
            and not verdict.allowed
            and guard.policy.mode == "enforce"
        ):
            return SendReservation(verdict, ())
        logs = []
        for index, ask in enumerate(budgets):
            budget = self.budgets.get((ask.kind, ask.key_hash), Budget())
            try:
                logs.append(take(ask.limit, budget.log, now))
            except LimitReached as reached:
                raise BudgetRefused(index, reached, verdict) from None
        if guard is not None and verdict is not None and verdict.allowed:
            self.prefixes[guard.prefix_hash] = verdict.state
            self.countries[guard.prefix_hash] = guard.country
        for ask, log in zip(budgets, logs, strict=True):
            budget = self.budgets.setdefault((ask.kind, ask.key_hash), Budget())
            budget.previous, budget.log = budget.log.last, log
        taken = tuple(StartReservation(a.kind, a.key_hash, now, a.limit.bucket(now)) for a in budgets)
        number = self.budgets.get(("number", latest_for[0])) if latest_for else None
        latest = number.latest.get(latest_for[1]) if number and latest_for else None
        guarded = guard.prefix_hash if guard is not None and verdict is not None and verdict.counted else None
        return SendReservation(verdict, taken, latest, guarded)

    def _guard_verdict(self, guard: GuardAsk, now: int) -> Verdict:
        until, safe_numbers = self._refused.get(guard.prefix_hash, (0, frozenset()))
        if until > now and guard.number_hash not in safe_numbers:
            return Verdict(False, False, PrefixState(tokens=0.0, updated=now))
        state = self.prefixes.get(guard.prefix_hash) or PrefixState.new(guard.policy, now)
        verdict = decide(guard.policy, state, now, guard.number_hash)
        if not verdict.allowed:
            self._refused[guard.prefix_hash] = (now + REFUSAL_MEMORY_SECONDS, state.safe_numbers)
        return verdict

    def guard_credit(self, guarded: str, *, now: int, policy: GuardPolicy) -> None:
        prefix_hash = guarded  # one item per prefix here
        if prefix_hash in self.prefixes:
            self.prefixes[prefix_hash] = credit(policy, self.prefixes[prefix_hash], now)
        self._refused.pop(prefix_hash, None)

    def guard_refund(self, guarded: str, *, now: int) -> None:
        prefix_hash = guarded
        if prefix_hash in self.prefixes:
            self.prefixes[prefix_hash] = refund(GuardPolicy(), self.prefixes[prefix_hash], now)

    def release(self, reservation: StartReservation) -> None:
        budget = self.budgets.get((reservation.kind, reservation.key_hash))
        if budget is None or budget.log.buckets.get(reservation.bucket, 0) < 1:
            return
        buckets = dict(budget.log.buckets)
        buckets[reservation.bucket] -= 1
        last = budget.previous if budget.log.last == reservation.taken_at else budget.log.last
        budget.log = StartLog(buckets, last)

    def latest_for_number(self, number_hash: str, owner_hash: str) -> str | None:
        budget = self.budgets.get(("number", number_hash))
        latest = budget.latest.get(owner_hash) if budget else None
        return latest.id if latest else None

    def create(self, record: VerificationRecord, *, replaces: Latest | None) -> Latest | None:
        if record.id in self.records:
            raise InternalError()  # DynamoDB's put is conditional on a new id
        self.records[record.id] = record
        budget = self.budgets.setdefault(("number", record.number_hash), Budget())
        # What the owner's pointer holds now wins over what the caller expected (overlapping starts).
        current = budget.latest.get(record.owner_hash)
        budget.latest[record.owner_hash] = Latest(record.id, record.task_token is not None)
        replaced = self.records.get(current.id) if current is not None and current.id != record.id else None
        if replaced is None or replaced.status is not Status.PENDING:
            return None
        self.records[replaced.id] = replace(replaced, status=Status.ABORTED, reason="Superseded")
        return current

    def get(self, verification_id: str) -> VerificationRecord | None:
        return self.records.get(verification_id)

    def succeed_if_matches(
        self, verification_id: str, *, secret_hash: str, owner_hash: str, now: int, take_token: bool = False
    ) -> VerificationRecord:
        record = self.records.get(verification_id)
        if record is None or not is_open(record, owner_hash, now) or record.secret_hash != secret_hash:
            raise ConditionFailed(record)
        verified = replace(record, status=Status.SUCCESSFUL, attempts=record.attempts + 1)
        if not take_token:
            return self._put(verified)
        self._put(replace(verified, task_token=None))
        return verified

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

    def cancel(self, verification_id: str, *, owner_hash: str, now: int) -> VerificationRecord:
        record = self.records.get(verification_id)
        if record is None or not is_open(record, owner_hash, now):
            raise ConditionFailed(record)
        return self._put(replace(record, status=Status.CANCELLED, reason="Cancelled"))

    def advance(
        self, verification_id: str, switch: ChannelSwitch, *, owner_hash: str, now: int
    ) -> VerificationRecord:
        record = self.records.get(verification_id)
        if record is None or not is_open(record, owner_hash, now) or record.channel != switch.previous:
            raise ConditionFailed(record)
        retired = record.retired_hashes + ((switch.retire,) if switch.retire else ())
        return self._put(
            replace(
                record,
                channel=switch.channel,
                method=switch.method,
                sinch_id=switch.sinch_id,
                checked_by=switch.checked_by,
                secret_hash=switch.secret_hash,
                expires_at=switch.expires_at,
                retired_hashes=retired,
                guard_prefix=switch.guard_prefix or record.guard_prefix,
                task_token=switch.task_token or record.task_token,
            )
        )

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
        self.writes += 1
        self.records[record.id] = record
        return record
