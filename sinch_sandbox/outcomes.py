"""Outcome rules: make Sinch deny a verification (DENIED) or fail to deliver it (ERROR) with a given reason,
for every start to one number or for the next start whatever its number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sinch_sandbox.errors import SinchError
from sinch_sandbox.numbers import validate_number

DENIED = "DENIED"
ERROR = "ERROR"
# Sinch's reason strings per status (reference §3.4, grouping from Sinch's community page).
REASONS: dict[str, tuple[str, ...]] = {
    DENIED: (
        "Fraud",
        "Not enough credit",
        "Blocked",
        "Denied by callback",
        "Invalid callback",
        "Destination denied",
    ),
    ERROR: ("Internal error", "Network error or number unreachable", "SMS delivery failure"),
}
_KNOWN_KEYS = {"status", "reason", "number"}


class OutcomeError(ValueError):
    """An outcome rule the control API refuses; the message says which field is wrong."""


@dataclass(frozen=True)
class OutcomeRule:
    status: str
    reason: str
    # E.164; None: the next start, whatever its number (used up by that start).
    number: str | None = None

    def matches(self, number: str) -> bool:
        return self.number is None or self.number == number

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "number": self.number}


def parse_outcome(data: Any) -> OutcomeRule:
    if not isinstance(data, dict):
        raise OutcomeError("an outcome rule must be a JSON object")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise OutcomeError(f"unknown outcome field(s): {', '.join(unknown)}")
    status = data.get("status")
    if not isinstance(status, str) or status.upper() not in REASONS:
        raise OutcomeError(f"status must be one of {', '.join(REASONS)}, got {status!r}")
    status = status.upper()
    reason = data.get("reason")
    # Sinch's spelling is kept whatever the caller's letter case, so answers carry the exact string.
    allowed = {r.casefold(): r for r in REASONS[status]}
    if not isinstance(reason, str) or reason.casefold() not in allowed:
        raise OutcomeError(f"reason for {status} must be one of {', '.join(REASONS[status])}, got {reason!r}")
    number = data.get("number")
    if number is not None:
        if not isinstance(number, str):
            raise OutcomeError("number must be an E.164 string such as +46700000000")
        try:
            number = validate_number(number).e164
        except SinchError as error:
            raise OutcomeError(f"number: {error.message}") from None
    return OutcomeRule(status, allowed[reason.casefold()], number)
