"""The ports: what the use cases need from the world, as protocols.

The adapters that implement them are ``store.VerificationStore`` (DynamoDB), ``sinch.adapter.SinchAdapter``
(the Sinch Verification API), ``workflow.TaskCallbacks`` (Step Functions), ``idempotency.PowertoolsReplays``
(Powertools' idempotency utility) and ``observability.MetricOutcomes`` (CloudWatch EMF); the unit tests
use in-memory fakes of each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from .errors import VerificationError
from .fraud import GuardPolicy, Verdict
from .limits import Limit, LimitReached
from .model import (
    ChannelSwitch,
    Method,
    ReportOutcome,
    SendOutcome,
    SendRequest,
    Started,
    Status,
    Verification,
    VerificationRecord,
)

# What a send budget is counted for: the number a start sends to, or the caller who asks.
BudgetKind = Literal["number", "caller"]


@dataclass(frozen=True, slots=True)
class Latest:
    """An owner's latest verification for a number: the one a new start by that owner supersedes, and
    the one that owner's report by number reaches."""

    id: str
    # Whether a Step Functions task waits on it: only then must superseding it resume a workflow.
    has_task_token: bool = False


@dataclass(frozen=True, slots=True)
class StartReservation:
    """A start slot taken in a limit's log; released again if nothing was sent."""

    kind: BudgetKind
    key_hash: str
    taken_at: int
    bucket: int  # the log's bucket the start was counted in
    shard: int = 0  # which of the budget's items holds it (a large budget is spread over several)


@dataclass(frozen=True, slots=True)
class GuardAsk:
    """The fraud guard's part of a send: the prefix's keyed hash, its country (the only part of it kept in
    clear), the number's keyed hash (safe-listed numbers pass) and the rules."""

    prefix_hash: str
    country: str
    number_hash: str
    policy: GuardPolicy


@dataclass(frozen=True, slots=True)
class BudgetAsk:
    """A send limit a send must fit in: whose log (``kind`` and keyed hash) and the limit. ``keep_for``:
    keep the log at least that long (a number's item also holds its owners' latest verifications)."""

    kind: BudgetKind
    key_hash: str
    limit: Limit
    keep_for: int = 0


@dataclass(frozen=True, slots=True)
class SendReservation:
    """What a send took: the guard's verdict (None when it was not asked), a slot of each budget in the
    order asked (none when the guard refused under ``enforce``), and the owner's latest verification for
    the number when it was asked for."""

    verdict: Verdict | None
    reservations: tuple[StartReservation, ...]
    latest: Latest | None = None
    # The guard's item the token came from, when one was taken: its conversion or refund goes back there.
    guarded: str | None = None


class BudgetRefused(Exception):
    """The budget asked for at ``index`` does not allow the send now (``reached``: which rule, for how
    long); nothing was taken. ``index`` -1: the budgets kept changing under the send (contention).
    ``verdict``: the guard's, when it had decided one (a refusal under ``monitor`` is still logged)."""

    def __init__(self, index: int, reached: LimitReached, verdict: Verdict | None = None) -> None:
        super().__init__(f"budget {index} refused the send: {reached}")
        self.index = index
        self.reached = reached
        self.verdict = verdict


class ConditionFailed(Exception):
    """A conditional write did not apply; ``record`` is the verification as it was (None if there is none)."""

    def __init__(self, record: VerificationRecord | None) -> None:
        super().__init__("condition failed")
        self.record = record


class Store(Protocol):
    """Verifications, send budgets and the fraud guard's prefixes. Every change is conditional: the
    condition, not a read before the write, decides, so limits hold under any concurrency. Failures of the
    store itself are raised as ``ServiceUnavailable`` (retry soon) or ``InternalError``."""

    def reserve_send(
        self,
        guard: GuardAsk | None,
        budgets: Sequence[BudgetAsk],
        *,
        now: int,
        latest_for: tuple[str, str] | None = None,
    ) -> SendReservation:
        """Take what a send needs, all or nothing: a token of the guard's prefix (``fraud.decide``) and a
        slot of each budget (``limits.take``), atomically. When the guard refuses under ``enforce``,
        nothing is taken and the refusal is returned; under ``monitor`` the budgets are taken without a
        token. When a budget refuses, ``BudgetRefused`` names the first in order that does. ``latest_for``
        (number hash, owner hash): also return that owner's latest verification for the number."""
        ...

    def release(self, reservation: StartReservation) -> None:
        """Give a slot back after a start that sent nothing (best effort)."""
        ...

    def latest_for_number(self, number_hash: str, owner_hash: str) -> str | None:
        """The id of ``owner_hash``'s latest verification for the number; never another owner's."""
        ...

    def create(self, record: VerificationRecord, *, replaces: Latest | None) -> Latest | None:
        """Store a started verification and make it its owner's latest for the number, in one transaction
        that also aborts the one it replaces if that is still pending. ``replaces`` is the latest as the
        caller last saw it; if another start of the same owner moved it since (overlapping starts), the
        one it points at now is replaced instead, so exactly one stays pending. Returns the verification
        that was aborted, if any."""
        ...

    def get(self, verification_id: str) -> VerificationRecord | None: ...

    def succeed_if_matches(
        self, verification_id: str, *, secret_hash: str, owner_hash: str, now: int, take_token: bool = False
    ) -> VerificationRecord:
        """Count the attempt and mark success if the hash matches and the verification is open;
        ``ConditionFailed`` otherwise. ``take_token``: also take the task token (``take_task_token``) in
        the same change; the returned record carries it, the stored one no longer does."""
        ...

    def count_attempt(self, verification_id: str, *, owner_hash: str, now: int) -> VerificationRecord:
        """Use up one attempt of an open verification; ``ConditionFailed`` if it is not open."""
        ...

    def refund_attempt(self, verification_id: str) -> None:
        """Give back an attempt that Sinch never judged (best effort)."""
        ...

    def finish(
        self, verification_id: str, *, status: Status, reason: str | None, now: int
    ) -> VerificationRecord:
        """Move a pending verification to a final status; ``ConditionFailed`` if it already ended."""
        ...

    def cancel(self, verification_id: str, *, owner_hash: str, now: int) -> VerificationRecord:
        """End an open verification of ``owner_hash`` as CANCELLED; ``ConditionFailed`` otherwise."""
        ...

    def advance(
        self, verification_id: str, switch: ChannelSwitch, *, owner_hash: str, now: int
    ) -> VerificationRecord:
        """Make ``switch.channel`` the current channel of an open verification of ``owner_hash`` that is
        still on ``switch.previous``, retiring the previous channel's code; ``ConditionFailed`` otherwise."""
        ...

    def set_sinch_report_pending(self, verification_id: str, pending: bool) -> None: ...

    def take_task_token(self, verification_id: str, *, status: Status | None = None) -> str | None:
        """Remove and return the verification's task token (only one caller gets it); None if it has none
        (any more), or if ``status`` is given and the verification is not in it."""
        ...

    def replace_task_token(self, verification_id: str, token: str) -> None:
        """Make a pending verification resume ``token``'s task; ``ConditionFailed`` if it is not pending."""
        ...

    # The fraud guard's prefixes (``fraud.py``), each by the keyed hash of the prefix.

    def guard_credit(self, guarded: str, *, now: int, policy: GuardPolicy) -> None:
        """``fraud.credit``: a counted send converted (best effort)."""
        ...

    def guard_refund(self, guarded: str, *, now: int) -> None:
        """``fraud.refund``: a counted send went nowhere (best effort)."""
        ...


class SinchGateway(Protocol):
    """The Sinch Verification API as the use cases see it: outcomes, never vendor errors."""

    def start(self, request: SendRequest) -> SendOutcome: ...

    def report(self, verification_id: str, method: Method, submitted: str) -> ReportOutcome:
        """Report a code (or for a flashcall, the CLI) the user gave."""
        ...

    def number_of(self, verification_id: str) -> str:
        """The E.164 number of a verification Sinch holds (``VerificationExpired`` if Sinch forgot it)."""
        ...

    def find_pending(self, reference: str) -> str | None:
        """The id of the pending verification Sinch holds under ``reference``, if any (a start whose
        answer was lost); None also when Sinch cannot be asked."""
        ...


class WorkflowNotifier(Protocol):
    """Resumes the Step Functions task that waits for a verification. Never raises: the user's answer
    stands whatever became of the workflow."""

    def succeeded(self, token: str, verification: Verification) -> bool: ...

    def failed(self, token: str, error: VerificationError, *, verification_id: str) -> bool: ...


class Replays(Protocol):
    """Idempotent starts: ``first`` runs once per (owner, key); later calls with the same fingerprint get
    its answer back, marked replayed."""

    def once(
        self,
        *,
        owner_hash: str,
        key: str,
        fingerprint: Mapping[str, object],
        first: Callable[[], Verification],
    ) -> Started: ...


# A change in a verification's life told to the world: EventBridge's detail-type is "Verification <change>".
Change = Literal["Started", "Succeeded", "Failed", "Expired", "Cancelled", "Blocked"]


class Events(Protocol):
    """Where lifecycle changes are published (EventBridge), each after the state change it tells of.
    Never raises: a change that cannot be published is logged and counted, and the request stands."""

    def publish(self, change: Change, record: VerificationRecord, *, now: int) -> None: ...


class NoEvents:
    def publish(self, change: Change, record: VerificationRecord, *, now: int) -> None:
        return None


# Seconds since the epoch (``time.time``).
Clock = Callable[[], float]


class HashKeySource(Protocol):
    """The deployment's key for the keyed hashes that stand in for numbers, codes and owners."""

    def hash_key(self) -> bytes: ...


class Outcomes(Protocol):
    """Where the use cases report what happened (metrics). ``country``: the destination's ISO code, for
    the outcomes counted per country (starts, conversions, fraud-guard refusals)."""

    def record(
        self, outcome: str, method: str, reason: str | None = None, country: str | None = None
    ) -> None: ...


class NoOutcomes:
    def record(
        self, outcome: str, method: str, reason: str | None = None, country: str | None = None
    ) -> None:
        return None
