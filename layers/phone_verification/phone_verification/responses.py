"""How a verification is shown to callers: the JSON of HTTP answers, direct invocations and the output a
waiting workflow is resumed with. All three are the same object, so a workflow sees what a backend sees.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from typing import Any

from .model import Verification

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_FIELDS = frozenset({"id", "method", "status", "attemptsRemaining", "expiresAt", "reason", "reference"})


def verification_body(verification: Verification) -> dict[str, Any]:
    """The verification as JSON: never the code, the CLI or the number."""
    body: dict[str, Any] = {
        "id": verification.id,
        "method": verification.method,
        "status": verification.status,
        "attemptsRemaining": verification.attempts_remaining,
        "expiresAt": time.strftime(_TIME_FORMAT, time.gmtime(verification.expires_at)),
    }
    if verification.reason:
        body["reason"] = verification.reason
    if verification.reference:
        body["reference"] = verification.reference
    body.update(verification.hints)
    return body


def verification_from_body(body: Mapping[str, Any]) -> Verification:
    """The inverse of ``verification_body``: an answer stored for idempotent replays, read back."""
    return Verification(
        id=body["id"],
        method=body["method"],
        status=body["status"],
        attempts_remaining=body["attemptsRemaining"],
        expires_at=calendar.timegm(time.strptime(body["expiresAt"], _TIME_FORMAT)),
        reason=body.get("reason"),
        reference=body.get("reference"),
        hints={key: value for key, value in body.items() if key not in _FIELDS},
    )
