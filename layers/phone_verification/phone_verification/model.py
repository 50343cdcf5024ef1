"""The domain model: what a verification is, the states it goes through and what Sinch did with a request.

Standard library only. The use cases read and write these values through the ports (``ports.py``); the
store, the Sinch adapter and the workflow notifier translate them to and from DynamoDB items, Sinch's
JSON and Step Functions calls, and the API layer (``responses.py``) shows them to callers.

Who checks the code: for SMS the service generates the code, sends it through Sinch and keeps only a
keyed hash, so it checks reports itself (``checked_by == "service"``); the same holds for a caller-chosen
code and for a flashcall whose CLI Sinch returned at start. Otherwise (callout, WhatsApp, flashcall
without CLI, SMS with Sinch's own codes) Sinch judges each report (``checked_by == "sinch"``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from .errors import (
    AlreadyVerified,
    DestinationDenied,
    TooManyAttempts,
    VerificationCancelled,
    VerificationError,
    VerificationExpired,
    VerificationNotFound,
)


class Method(StrEnum):
    """How the code reaches the user; the values are Sinch's wire names."""

    SMS = "sms"
    FLASHCALL = "flashcall"
    CALLOUT = "callout"
    WHATSAPP = "whatsapp"


class Status(StrEnum):
    """A verification's stored status. Expiry and used-up attempts are derived from the clock and the
    counters (``view``), so a PENDING record may show as FAIL."""

    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAIL = "FAIL"
    DENIED = "DENIED"  # Sinch refused to go on (fraud, blocked destination)
    ABORTED = "ABORTED"  # a newer verification for the same number replaced it
    ERROR = "ERROR"  # Sinch could not reach the number (delivery failure, network error)
    CANCELLED = "CANCELLED"  # its owner ended it (DELETE /verifications/{id})


CheckedBy = Literal["service", "sinch"]
# Channel details a client app may use (an SMS template, a flashcall's CLI filter...), keyed by channel
# as the API answers them; never the code or the flashcall CLI.
Hints = Mapping[str, Any]

SUPERSEDED = "A newer verification for this number replaced this one; use that one."
UNREACHABLE = "The provider could not reach this number; start a new verification, perhaps by another method."


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationRecord:
    """A verification as the service keeps it: hashes and counters, never a code, a CLI or a full number."""

    id: str
    method: Method
    status: Status
    attempts: int
    max_attempts: int
    created_at: int
    expires_at: int
    masked_number: str
    number_hash: str
    owner_hash: str
    checked_by: CheckedBy
    secret_hash: str | None = None
    reason: str | None = None
    reference: str | None = None
    task_token: str | None = None
    sinch_report_pending: bool = False
    # The keyed hash of the number's prefix when the fraud guard counted the send: its conversion is
    # credited there.
    guard_prefix: str | None = None
    country: str | None = None  # the destination's ISO 3166 code, for metrics per country
    # Sinch's id for the current channel's send; the verification's own id is the product's, so it stays
    # the same when ``next`` sends another channel. None in records from before channels: the id itself.
    sinch_id: str | None = None
    # The ordered channels the starter allowed (empty: just ``method``), and which one was sent last.
    channels: tuple[Method, ...] = ()
    channel: int = 0
    # Keyed hashes of codes (or CLIs) of channels already left behind: reported now, they are wrong codes
    # the service recognises without asking Sinch.
    retired_hashes: tuple[str, ...] = ()

    @property
    def at_sinch(self) -> str:
        """The id Sinch knows the current channel's send by."""
        return self.sinch_id or self.id

    @property
    def channel_list(self) -> tuple[Method, ...]:
        return self.channels or (self.method,)

    def __repr__(self) -> str:
        return (
            f"VerificationRecord(id={self.id!r}, method={self.method.value!r}, status={self.status.value!r}, "
            f"attempts={self.attempts}/{self.max_attempts}, number={self.masked_number!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSwitch:
    """``next``: the verification moves from channel ``previous`` to ``channel``, sent as ``sinch_id``.
    The code (or CLI) of the channel it leaves stops working; attempts carry on."""

    previous: int
    channel: int
    method: Method
    sinch_id: str
    checked_by: CheckedBy
    secret_hash: str | None
    expires_at: int
    # The left channel's code hash, as read before the switch (the channel condition keeps it current).
    retire: str | None = None
    guard_prefix: str | None = None  # set when this send took a fraud-guard token
    task_token: str | None = None  # a workflow that waits for this channel

    def __repr__(self) -> str:
        return f"ChannelSwitch({self.previous} -> {self.channel}, method={self.method.value!r})"


@dataclass(frozen=True, slots=True)
class Verification:
    """A verification as callers see it: the record's state at one moment, plus the channel's hints."""

    id: str
    method: str
    status: str
    attempts_remaining: int
    expires_at: int
    reason: str | None = None
    reference: str | None = None
    hints: Hints = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Started:
    """What a start answers: the verification, and whether it is the stored answer of an earlier start
    with the same ``Idempotency-Key`` (nothing was sent this time)."""

    verification: Verification
    replayed: bool = False


def wrong_reason(method: str) -> str:
    return "Invalid CLI" if method == Method.FLASHCALL else "Invalid code"


def view(record: VerificationRecord, now: int, *, hints: Hints | None = None) -> Verification:
    """The record's state as of ``now``: expiry and used-up attempts are derived, not stored."""
    status, reason = record.status, record.reason
    if status is Status.PENDING and now >= record.expires_at:
        status, reason = Status.FAIL, "Expired"
    elif status is Status.PENDING and record.attempts >= record.max_attempts:
        status, reason = Status.FAIL, wrong_reason(record.method)
    open_or_failed = status in (Status.PENDING, Status.FAIL)
    return Verification(
        id=record.id,
        method=record.method.value,
        status=status.value,
        reason=reason,
        attempts_remaining=max(0, record.max_attempts - record.attempts) if open_or_failed else 0,
        expires_at=record.expires_at,
        reference=record.reference,
        hints=hints or {},
    )


def owned_by(record: VerificationRecord | None, owner_hash: str) -> bool:
    """Whether ``owner_hash`` started this verification (compared in constant time)."""
    return record is not None and hmac.compare_digest(record.owner_hash.encode(), owner_hash.encode())


def refusal(  # noqa: PLR0911 - a decision table reads best as one early return per row
    record: VerificationRecord | None, owner_hash: str, now: int
) -> VerificationError | None:
    """Why a report on this verification cannot be taken, or None if it is open. Another owner's
    verification is answered exactly as one that does not exist."""
    if record is None or not owned_by(record, owner_hash):
        return VerificationNotFound()
    if record.status is Status.SUCCESSFUL:
        return AlreadyVerified()
    if record.status is Status.ABORTED:
        return VerificationExpired(SUPERSEDED)
    if record.status is Status.DENIED:
        return DestinationDenied("The provider denied this verification.")
    if record.status is Status.ERROR:
        return DestinationDenied(UNREACHABLE)
    if record.status is Status.CANCELLED:
        return VerificationCancelled()
    if now >= record.expires_at or record.reason == "Expired":
        return VerificationExpired()
    if record.attempts >= record.max_attempts or record.status is not Status.PENDING:
        return TooManyAttempts()
    return None


# ------------------------------------------------------------------------------ what is asked of Sinch


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    """One send through Sinch: the channel, the number (E.164) and what the message needs."""

    method: Method
    number: str
    reference: str
    expiry_seconds: int
    locale: str | None = None
    code: str | None = None  # a code the service chose (SMS only); None lets Sinch choose

    def __repr__(self) -> str:
        return f"SendRequest(method={self.method.value!r}, reference={self.reference!r})"


# ------------------------------------------------------------------------------ what Sinch did with it


@dataclass(frozen=True, slots=True)
class Sent:
    """Sinch took the start: the message or call is on its way."""

    id: str
    method: Method
    cli: str | None = None  # the flashcall's calling number when Sinch returns it: the code to check
    hints: Hints = field(default_factory=dict)
    # How long Sinch accepts reports for it, when Sinch says (a flashcall's reportTimeout): the
    # verification cannot outlive that.
    report_within: int | None = None

    def __repr__(self) -> str:
        return f"Sent(id={self.id!r}, method={self.method.value!r})"


@dataclass(frozen=True, slots=True)
class Refused:
    """Sinch answered and did nothing: nothing was sent and no attempt was judged. ``error`` is what the
    caller is told."""

    error: VerificationError


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Sinch could not be asked or gave no usable answer. ``may_have_acted``: the request may have reached
    Sinch, so a message may have been sent or an attempt judged."""

    error: VerificationError
    may_have_acted: bool


@dataclass(frozen=True, slots=True)
class Decided:
    """Sinch's verdict on a report: SUCCESSFUL; PENDING or FAIL for a wrong code (FAIL with reason
    "Expired" when the verification ran out at Sinch); DENIED; ABORTED; ERROR (Sinch could not reach the
    number)."""

    status: Status
    reason: str | None = None

    @property
    def expired(self) -> bool:
        return self.status is Status.FAIL and self.reason == "Expired"


SendOutcome = Sent | Refused | Unavailable
ReportOutcome = Decided | Refused | Unavailable
