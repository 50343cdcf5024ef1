"""Requests to the Sinch Verification API (start and report bodies), as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from phone_verification.model import Method

from .models import CodeType


def _identity(number: str) -> dict[str, str]:
    return {"type": "number", "endpoint": number}


def _expiry(seconds: int) -> str:
    if not 0 < seconds < 24 * 3600:
        raise ValueError("expiry must be between 1 second and 23:59:59")
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Start:
    number: str
    reference: str | None = None
    custom: str | None = None

    method: ClassVar[Method]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"identity": _identity(self.number), "method": self.method.value}
        if self.reference is not None:
            body["reference"] = self.reference
        if self.custom is not None:
            body["custom"] = self.custom
        return body

    def headers(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsStart(_Start):
    """An SMS verification. ``code`` is a code chosen by the caller (``smsOptions.code``: not in Sinch's
    public API reference, so whether an account honours it is up to Sinch); ``locale`` picks
    the SMS language through ``Accept-Language``, as Sinch's Java and Node SDKs send it."""

    code: str | None = None
    expiry_seconds: int | None = None
    code_type: CodeType | None = None
    locale: str | None = None

    method: ClassVar[Method] = Method.SMS

    def body(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.code is not None:
            options["code"] = self.code
        if self.expiry_seconds is not None:
            options["expiry"] = _expiry(self.expiry_seconds)
        if self.code_type is not None:
            options["codeType"] = self.code_type.value
        body = _Start.body(self)
        body["smsOptions"] = options
        return body

    def headers(self) -> dict[str, str]:
        return {"Accept-Language": self.locale} if self.locale else {}


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashcallStart(_Start):
    """A flashcall verification; both timeouts are seconds between 5 and 120 (Sinch's bounds)."""

    dial_timeout: int | None = None
    interception_timeout: int | None = None

    method: ClassVar[Method] = Method.FLASHCALL

    def body(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key, value in (
            ("dialTimeout", self.dial_timeout),
            ("interceptionTimeout", self.interception_timeout),
        ):
            if value is not None:
                if not 5 <= value <= 120:
                    raise ValueError(f"{key} must be between 5 and 120 seconds")
                options[key] = value
        body = _Start.body(self)
        if options:
            body["flashCallOptions"] = options
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class CalloutStart(_Start):
    """A phone call that speaks the code; ``locale`` is the speech locale (``calloutOptions.speech``)."""

    locale: str | None = None

    method: ClassVar[Method] = Method.CALLOUT

    def body(self) -> dict[str, Any]:
        body = _Start.body(self)
        if self.locale:
            body["calloutOptions"] = {"speech": {"locale": self.locale}}
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsappStart(_Start):
    code_type: CodeType | None = None

    method: ClassVar[Method] = Method.WHATSAPP

    def body(self) -> dict[str, Any]:
        body = _Start.body(self)
        if self.code_type is not None:
            body["whatsappOptions"] = {"codeType": self.code_type.value}
        return body


StartRequest = SmsStart | FlashcallStart | CalloutStart | WhatsappStart


@dataclass(frozen=True, slots=True)
class CodeReport:
    """The code the user received by SMS, callout or WhatsApp."""

    method: Method
    code: str

    def __post_init__(self) -> None:
        if self.method is Method.FLASHCALL:
            raise ValueError("a flashcall is reported with CliReport")

    def body(self) -> dict[str, Any]:
        return {"method": self.method.value, self.method.value: {"code": self.code}}

    def __repr__(self) -> str:
        return f"CodeReport(method={self.method.value!r}, code=<hidden>)"


@dataclass(frozen=True, slots=True)
class CliReport:
    """The full E.164 number that called the user in a flashcall."""

    cli: str

    method: ClassVar[Method] = Method.FLASHCALL

    def body(self) -> dict[str, Any]:
        # Lowercase "flashcall" key, as the method's own name and Sinch's Android SDK write it; current
        # server SDKs write "flashCall", and Sinch reads the key either way.
        return {"method": "flashcall", "flashcall": {"cli": self.cli}}

    def __repr__(self) -> str:
        return "CliReport(cli=<hidden>)"


Report = CodeReport | CliReport
