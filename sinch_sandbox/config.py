"""Sandbox settings: the credentials it accepts and the account-level behaviour it imitates.

The behaviour switches cover what varies per Sinch account or is undocumented; their defaults are the
less convenient side (see README.md, "Behaviour switches"), so a client tested here is ready for either.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# What a report on a verification that is no longer PENDING answers (Sinch: undocumented).
FINISHED_REPORT_ANSWERS = ("status", "not_found", "invalid_request")
_POSITIVE_INTS = ("expiry_seconds", "timestamp_window_seconds", "flashcall_report_timeout", "max_body_bytes")
_BOOLS = ("flashcall_returns_cli", "wrong_code_ends_verification", "honour_custom_code")

# The switches a banner reports, as (SandboxConfig field, control-API JSON key).
MODE_SWITCHES = (
    ("flashcall_returns_cli", "flashcallReturnsCli"),
    ("flashcall_report_timeout", "flashcallReportTimeout"),
    ("wrong_code_ends_verification", "wrongCodeEndsVerification"),
    ("honour_custom_code", "honourCustomCode"),
    ("finished_report_answer", "finishedReportAnswer"),
)


@dataclass(frozen=True)
class SandboxConfig:
    application_key: str = "sandbox-key"
    # Sinch hands out secrets as base64 text and signs with the decoded bytes, so the default is base64 too.
    application_secret: str = "c2FuZGJveC1zZWNyZXQ="  # noqa: S105 - a published dummy, not a credential
    # Lifetime of sms (unless smsOptions.expiry), callout and whatsapp verifications.
    expiry_seconds: int = 600
    timestamp_window_seconds: int = 600
    # Account option at Sinch: the flashcall start response reveals the full CLI. Off unless asked for.
    flashcall_returns_cli: bool = False
    # The flashcall start response's reportTimeout and the flashcall's lifetime (Sinch's fixtures: 75).
    flashcall_report_timeout: int = 75
    # A wrong code or CLI ends the verification (FAIL) instead of leaving it open for another report.
    wrong_code_ends_verification: bool = True
    # smsOptions.code (undocumented, per account at Sinch) is the code sent; false: validated, then ignored.
    honour_custom_code: bool = True
    # One of FINISHED_REPORT_ANSWERS.
    finished_report_answer: str = "invalid_request"
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if (
            not isinstance(self.application_key, str)
            or not self.application_key
            or ":" in self.application_key
        ):
            # ':' separates key and signature in the Authorization header, so such a key could never match.
            raise ValueError("application_key must be non-empty and must not contain ':'")
        if not isinstance(self.application_secret, str) or not self.application_secret:
            raise ValueError("application_secret must be non-empty")
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in _BOOLS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.finished_report_answer not in FINISHED_REPORT_ANSWERS:
            raise ValueError(
                f"finished_report_answer must be one of {', '.join(FINISHED_REPORT_ANSWERS)}, "
                f"got {self.finished_report_answer!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for var, (name, parse) in _ENVIRONMENT.items():
            if var in env:
                kwargs[name] = parse(env[var], var)
        return cls(**kwargs)


def parse_bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true/false/1/0, got {text!r}")


def _parse_int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def _parse_text(text: str, name: str) -> str:
    return text


def _parse_finished_answer(text: str, name: str) -> str:
    value = text.strip().lower()
    if value not in FINISHED_REPORT_ANSWERS:
        raise ValueError(f"{name} must be one of {', '.join(FINISHED_REPORT_ANSWERS)}, got {text!r}")
    return value


_ENVIRONMENT: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "SANDBOX_APPLICATION_KEY": ("application_key", _parse_text),
    "SANDBOX_APPLICATION_SECRET": ("application_secret", _parse_text),
    "SANDBOX_EXPIRY_SECONDS": ("expiry_seconds", _parse_int),
    "SANDBOX_TIMESTAMP_WINDOW_SECONDS": ("timestamp_window_seconds", _parse_int),
    "SANDBOX_FLASHCALL_RETURNS_CLI": ("flashcall_returns_cli", parse_bool),
    "SANDBOX_FLASHCALL_REPORT_TIMEOUT": ("flashcall_report_timeout", _parse_int),
    "SANDBOX_WRONG_CODE_ENDS_VERIFICATION": ("wrong_code_ends_verification", parse_bool),
    "SANDBOX_HONOUR_CUSTOM_CODE": ("honour_custom_code", parse_bool),
    "SANDBOX_FINISHED_REPORT_ANSWER": ("finished_report_answer", _parse_finished_answer),
}


def config_field_names() -> set[str]:
    return {f.name for f in fields(SandboxConfig)}


def describe_mode(config: SandboxConfig) -> str:
    """One line naming every behaviour switch and its value, for banners (JSON keys of POST /config)."""
    parts = []
    for name, key in MODE_SWITCHES:
        value = getattr(config, name)
        parts.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return " ".join(parts)
