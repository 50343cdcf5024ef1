"""The package's configuration: one validated object read from the environment once per cold start.

Every value has the default the README's "Configuration" gives, except the two that name the
deployment's own resources (``TABLE_NAME``, ``SINCH_SECRET_ARN``). A missing or malformed value raises
``ConfigurationError`` naming the variable, so a broken deployment says what to fix instead of failing on
first use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from .fraud import GuardMode, GuardPolicy

# What PutEvents accepts as EventBusName: a bus's name or ARN, not a partner bus's (whose names have a
# '/'); the pattern is the API model's (NonPartnerEventBusNameOrArn), the length CreateEventBus's.
_EVENT_BUS = re.compile(
    r"(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[.\-_A-Za-z0-9]{1,256}", re.ASCII
)

SmsCodeSource = Literal["service", "sinch"]
SinchAuthScheme = Literal["signed", "basic"]


class ConfigurationError(Exception):
    """The deployment's settings or secret are missing or malformed (an operator must fix them)."""


# No __slots__: the class attributes double as the defaults that from_env falls back to.
@dataclass(frozen=True, kw_only=True)
class Settings:
    table_name: str
    sinch_secret_arn: str
    sinch_base_url: str = "https://verification.api.sinch.com"
    sinch_auth_scheme: SinchAuthScheme = "signed"
    sinch_connect_timeout_seconds: float = 3.05
    sinch_read_timeout_seconds: float = 8.0
    verification_ttl_seconds: int = 600
    max_report_attempts: int = 5
    code_length: int = 6
    sms_code_source: SmsCodeSource = "service"
    max_starts_per_number: int = 5
    start_window_seconds: int = 600
    min_seconds_between_starts: int = 30
    # Per-caller send budgets (0 turns one off): a backend's IAM principal gets a large one that caps what
    # a compromised backend can spend; an end user (JWT subject, or source IP on an open API) a small one.
    max_starts_per_principal: int = 1000
    max_starts_per_user: int = 10
    caller_window_seconds: int = 3600
    allowed_countries: frozenset[str] = frozenset()
    secret_max_age_seconds: int = 300
    # A caller-supplied rate key (the start body's rateKey: an end user's IP or account id) gets its own
    # budget per caller_window_seconds, for backends whose end users all share the backend's principal.
    max_starts_per_rate_key: int = 10
    # The fraud guard (fraud.py): enforce, monitor (log and count only) or off.
    fraud_guard: GuardMode = "enforce"
    fraud_guard_prefix_budget: int = 20
    fraud_guard_safe_countries: frozenset[str] = frozenset()
    # Whether a wrong code Sinch judges (callout, WhatsApp, flashcall without CLI, Sinch's own SMS codes)
    # ends the verification, as Sinch's guidance says it does ("once a verification fails, start a new
    # one"); false keeps counting attempts, for accounts that let a user try again.
    sinch_fail_ends_verification: bool = True
    # The EventBridge bus that receives lifecycle events (events.py); empty publishes none.
    event_bus_name: str = ""

    @property
    def guard_policy(self) -> GuardPolicy:
        return GuardPolicy(
            mode=self.fraud_guard,
            budget=self.fraud_guard_prefix_budget,
            safe_countries=self.fraud_guard_safe_countries,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        settings = cls(
            table_name=reader.text("TABLE_NAME"),
            sinch_secret_arn=reader.text("SINCH_SECRET_ARN"),
            sinch_base_url=reader.url("SINCH_BASE_URL", cls.sinch_base_url),
            sinch_auth_scheme=reader.choice("SINCH_AUTH_SCHEME", ("signed", "basic"), cls.sinch_auth_scheme),  # type: ignore[arg-type]
            sinch_connect_timeout_seconds=reader.number(
                "SINCH_CONNECT_TIMEOUT_SECONDS", cls.sinch_connect_timeout_seconds, 0.1, 25
            ),
            sinch_read_timeout_seconds=reader.number(
                "SINCH_READ_TIMEOUT_SECONDS", cls.sinch_read_timeout_seconds, 0.1, 25
            ),
            verification_ttl_seconds=reader.integer(
                "VERIFICATION_TTL_SECONDS", cls.verification_ttl_seconds, 60, 86_399
            ),
            max_report_attempts=reader.integer("MAX_REPORT_ATTEMPTS", cls.max_report_attempts, 1, 20),
            code_length=reader.integer("CODE_LENGTH", cls.code_length, 4, 10),
            sms_code_source=reader.choice("SMS_CODE_SOURCE", ("service", "sinch"), cls.sms_code_source),  # type: ignore[arg-type]
            max_starts_per_number=reader.integer("MAX_STARTS_PER_NUMBER", cls.max_starts_per_number, 1, 1000),
            start_window_seconds=reader.integer("START_WINDOW_SECONDS", cls.start_window_seconds, 1, 86_400),
            min_seconds_between_starts=reader.integer(
                "MIN_SECONDS_BETWEEN_STARTS", cls.min_seconds_between_starts, 0, 86_400
            ),
            max_starts_per_principal=reader.integer(
                "MAX_STARTS_PER_PRINCIPAL", cls.max_starts_per_principal, 0, 1_000_000
            ),
            max_starts_per_user=reader.integer("MAX_STARTS_PER_USER", cls.max_starts_per_user, 0, 1_000_000),
            caller_window_seconds=reader.integer(
                "CALLER_WINDOW_SECONDS", cls.caller_window_seconds, 1, 86_400
            ),
            allowed_countries=reader.countries("ALLOWED_COUNTRIES"),
            secret_max_age_seconds=reader.integer(
                "SECRET_MAX_AGE_SECONDS", cls.secret_max_age_seconds, 0, 86_400
            ),
            max_starts_per_rate_key=reader.integer(
                "MAX_STARTS_PER_RATE_KEY", cls.max_starts_per_rate_key, 0, 1_000_000
            ),
            fraud_guard=reader.choice("FRAUD_GUARD", ("enforce", "monitor", "off"), cls.fraud_guard),  # type: ignore[arg-type]
            fraud_guard_prefix_budget=reader.integer(
                "FRAUD_GUARD_PREFIX_BUDGET", cls.fraud_guard_prefix_budget, 1, 100_000
            ),
            fraud_guard_safe_countries=reader.countries("FRAUD_GUARD_SAFE_COUNTRIES"),
            sinch_fail_ends_verification=reader.flag(
                "SINCH_FAIL_ENDS_VERIFICATION", cls.sinch_fail_ends_verification
            ),
            event_bus_name=reader.event_bus("EVENT_BUS_NAME"),
        )
        if settings.sinch_connect_timeout_seconds + settings.sinch_read_timeout_seconds >= 29:
            # API Gateway gives up after 29-30 s; a slower Sinch answer could never reach the caller.
            raise ConfigurationError(
                "SINCH_CONNECT_TIMEOUT_SECONDS + SINCH_READ_TIMEOUT_SECONDS must stay under 29"
            )
        return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str) -> str:
        value = self._raw(name)
        if value is None:
            raise ConfigurationError(f"{name} is not set")
        return value

    def url(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigurationError(f"{name} must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = (self._raw(name) or default).lower()
        if value not in options:
            raise ConfigurationError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = (self._raw(name) or str(default)).lower()
        if value not in ("true", "false"):
            raise ConfigurationError(f"{name} must be true or false, got {value!r}")
        return value == "true"

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self._raw(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self._raw(name)
        try:
            value = default if raw is None else float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def event_bus(self, name: str) -> str:
        value = self._raw(name) or ""
        if value and not _EVENT_BUS.fullmatch(value):
            raise ConfigurationError(f"{name} must be an EventBridge bus name or ARN, got {value!r}")
        return value

    def countries(self, name: str) -> frozenset[str]:
        codes = frozenset(part.strip().upper() for part in (self._raw(name) or "").split(",") if part.strip())
        bad = sorted(code for code in codes if len(code) != 2 or not code.isalpha())
        if bad:
            raise ConfigurationError(f"{name} must list ISO 3166 alpha-2 country codes, got {', '.join(bad)}")
        return codes
