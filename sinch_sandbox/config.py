"""Sandbox settings: the credentials it accepts and the account-level behaviour it imitates."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SandboxConfig:
    application_key: str = "sandbox-key"
    # Sinch hands out secrets as base64 text and signs with the decoded bytes, so the default is base64 too.
    application_secret: str = "c2FuZGJveC1zZWNyZXQ="  # noqa: S105 - a published dummy, not a credential
    expiry_seconds: int = 600
    timestamp_window_seconds: int = 600
    # An account-level switch at Sinch (per the seed): the flashcall start response reveals the full CLI.
    flashcall_returns_cli: bool = True
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if not self.application_key or ":" in self.application_key:
            # ':' separates key and signature in the Authorization header, so such a key could never match.
            raise ValueError("application_key must be non-empty and must not contain ':'")
        if not self.application_secret:
            raise ValueError("application_secret must be non-empty")
        for name in ("expiry_seconds", "timestamp_window_seconds", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.flashcall_returns_cli, bool):
            raise ValueError("flashcall_returns_cli must be a bool")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SandboxConfig:
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        if "SANDBOX_APPLICATION_KEY" in env:
            kwargs["application_key"] = env["SANDBOX_APPLICATION_KEY"]
        if "SANDBOX_APPLICATION_SECRET" in env:
            kwargs["application_secret"] = env["SANDBOX_APPLICATION_SECRET"]
        for var, name in (
            ("SANDBOX_EXPIRY_SECONDS", "expiry_seconds"),
            ("SANDBOX_TIMESTAMP_WINDOW_SECONDS", "timestamp_window_seconds"),
        ):
            if var in env:
                try:
                    kwargs[name] = int(env[var])
                except ValueError:
                    raise ValueError(f"{var} must be an integer, got {env[var]!r}") from None
        if "SANDBOX_FLASHCALL_RETURNS_CLI" in env:
            kwargs["flashcall_returns_cli"] = parse_bool(
                env["SANDBOX_FLASHCALL_RETURNS_CLI"], "SANDBOX_FLASHCALL_RETURNS_CLI"
            )
        return cls(**kwargs)


def parse_bool(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true/false/1/0, got {text!r}")


def config_field_names() -> set[str]:
    return {f.name for f in fields(SandboxConfig)}
