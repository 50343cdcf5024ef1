"""Fault rules: make the next matching Sinch requests fail the way real networks and gateways do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("status", "delay", "malformed", "drop")
MAX_DELAY_SECONDS = 60.0

_KNOWN_KEYS = {
    "kind",
    "count",
    "status",
    "errorCode",
    "retryAfter",
    "seconds",
    "method",
    "pathPrefix",
    "process",
}
_MESSAGES = {
    42900: "Capacity exceeded.",
    42901: "Velocity constraint exceeded.",
    50000: "Internal error.",
    50300: "Service temporarily unavailable.",
}
# A status or drop fault imitates a gateway that never reached the service; a delay or garbled answer
# imitates a service that did its work but answered badly. Callers can override either way.
_PROCESS_DEFAULT = {"status": False, "drop": False, "delay": True, "malformed": True}


class FaultError(ValueError):
    """A fault rule the control API refuses; the message says which field is wrong."""


@dataclass
class FaultRule:
    kind: str
    remaining: int
    status: int = 503
    error_code: int = 50300
    retry_after: int | None = None
    seconds: float = 0.0
    method: str | None = None
    path_prefix: str | None = None
    process: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    @property
    def message(self) -> str:
        return _MESSAGES.get(self.error_code, "Fault injected by the Sinch sandbox.")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "count": self.remaining, "process": self.process}
        if self.kind == "status":
            data["status"] = self.status
            data["errorCode"] = self.error_code
            data["retryAfter"] = self.retry_after
        if self.kind == "delay":
            data["seconds"] = self.seconds
        data["method"] = self.method
        data["pathPrefix"] = self.path_prefix
        return data


def parse_fault(data: Any) -> FaultRule:
    if not isinstance(data, dict):
        raise FaultError("a fault must be a JSON object")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise FaultError(f"unknown fault field(s): {', '.join(unknown)}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise FaultError(f"kind must be one of {', '.join(KINDS)}")
    count = _int(data, "count", 1, minimum=1)
    status = _int(data, "status", 503, minimum=400, maximum=599)
    default_code = 42900 if status == 429 else status * 100
    error_code = _int(data, "errorCode", default_code, minimum=10000, maximum=59999)
    if error_code // 100 != status:
        raise FaultError("errorCode must start with the three digits of status")
    retry_after = _optional_int(data, "retryAfter", minimum=0)
    seconds = data.get("seconds", 1.0 if kind == "delay" else 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise FaultError("seconds must be a number")
    if not 0 <= seconds <= MAX_DELAY_SECONDS:
        raise FaultError(f"seconds must be between 0 and {MAX_DELAY_SECONDS:g}")
    method = data.get("method")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise FaultError("method must be an HTTP verb such as POST")
    path_prefix = data.get("pathPrefix")
    if path_prefix is not None and (not isinstance(path_prefix, str) or not path_prefix.startswith("/")):
        raise FaultError("pathPrefix must be a string starting with '/'")
    process = data.get("process", _PROCESS_DEFAULT[kind])
    if not isinstance(process, bool):
        raise FaultError("process must be true or false")
    return FaultRule(
        kind=kind,
        remaining=count,
        status=status,
        error_code=error_code,
        retry_after=retry_after,
        seconds=float(seconds),
        method=method.upper() if method else None,
        path_prefix=path_prefix,
        process=process,
    )


def _int(data: dict[str, Any], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    value = _optional_int(data, name, minimum=minimum, maximum=maximum)
    return default if value is None else value


def _optional_int(data: dict[str, Any], name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{name} must be an integer")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise FaultError(f"{name} must be {bound}")
    return value
