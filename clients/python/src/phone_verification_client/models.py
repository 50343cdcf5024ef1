"""What the API answers about a verification (OpenAPI ``StartResponse`` and ``Verification``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

# Statuses (OpenAPI ``Status``); kept as plain strings so a status added later still reads.
PENDING: Final = "PENDING"
SUCCESSFUL: Final = "SUCCESSFUL"
FAIL: Final = "FAIL"
DENIED: Final = "DENIED"
ABORTED: Final = "ABORTED"
ERROR: Final = "ERROR"
CANCELLED: Final = "CANCELLED"

# Methods (OpenAPI ``Method``).
METHODS: Final = ("sms", "flashcall", "callout", "whatsapp")


@dataclass(frozen=True)
class Verification:
    """A verification as the API answered it. Never holds the code, the CLI or the phone number.

    ``sms``, ``flashcall`` and ``whatsapp`` are Sinch's hints for the current channel (a start's or a
    ``next``'s answer only), e.g. ``flashcall["cliFilter"]``. ``raw`` is the answer's JSON as received.
    ``replayed`` is True when a start or next with an ``Idempotency-Key`` was answered from the first
    request (``Idempotent-Replayed: true``): nothing was sent this time.
    """

    id: str
    method: str
    status: str
    attempts_remaining: int
    expires_at: datetime
    reason: str | None = None
    reference: str | None = None
    sms: Mapping[str, Any] | None = field(default=None, hash=False)
    flashcall: Mapping[str, Any] | None = field(default=None, hash=False)
    whatsapp: Mapping[str, Any] | None = field(default=None, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)
    replayed: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, replayed: bool = False) -> Verification:
        """Raises ValueError (KeyError, TypeError) when a required field is missing or of the wrong type."""
        attempts = data["attemptsRemaining"]
        if not isinstance(attempts, int) or isinstance(attempts, bool):
            raise TypeError("attemptsRemaining is not an integer")
        return cls(
            id=_text(data, "id"),
            method=_text(data, "method"),
            status=_text(data, "status"),
            attempts_remaining=attempts,
            expires_at=parse_instant(_text(data, "expiresAt")),
            reason=_optional_text(data, "reason"),
            reference=_optional_text(data, "reference"),
            sms=_optional_object(data, "sms"),
            flashcall=_optional_object(data, "flashcall"),
            whatsapp=_optional_object(data, "whatsapp"),
            raw=dict(data),
            replayed=replayed,
        )

    @property
    def pending(self) -> bool:
        """Waiting for a report: the user may still enter the code."""
        return self.status == PENDING

    @property
    def succeeded(self) -> bool:
        """The number is verified (success is single-use: a second report answers ``AlreadyVerified``)."""
        return self.status == SUCCESSFUL

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED

    @property
    def failed(self) -> bool:
        """Ended without success: attempts used up, expired, denied, replaced, cancelled or an error."""
        return not self.pending and not self.succeeded

    @property
    def expired(self) -> bool:
        """Ended by expiry (``FAIL`` with reason ``Expired``), as a status read answers it."""
        return self.status == FAIL and self.reason == "Expired"


def parse_instant(value: str) -> datetime:
    """``expiresAt``: ISO 8601 in UTC with ``Z`` (any offset is accepted), as an aware datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _optional_object(data: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = data.get(name)
    return dict(value) if isinstance(value, dict) else None
