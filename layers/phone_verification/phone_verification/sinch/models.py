"""Results from the Sinch Verification API, and its enumerations, as typed values (requests are in
``request_models``).

Parsing is tolerant the way the real API needs: method values in any case (``flashCall`` and
``flashcall``), the flashcall object under either key, unknown extra fields ignored, optional fields
missing, and the legacy callout start object (``startPollingAfter``...) or an empty one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from phone_verification.model import Method

from .errors import SinchUnavailable

JsonObject = Mapping[str, Any]


class Status(StrEnum):
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAIL = "FAIL"
    DENIED = "DENIED"
    ABORTED = "ABORTED"
    ERROR = "ERROR"
    # A status this client does not know (Sinch may add some, as its SDKs allow): never a success.
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> Status:
        try:
            return cls(str(value).upper())
        except ValueError:
            return cls.UNKNOWN


def parse_method(value: object) -> Method:
    """A method from Sinch's wire value, in any case; ``phonecall`` is the SDKs' name for callout."""
    text = str(value).lower()
    if text == "phonecall":
        return Method.CALLOUT
    try:
        return Method(text)
    except ValueError:
        raise SinchUnavailable(f"unexpected verification method {value!r}") from None


class CodeType(StrEnum):
    NUMERIC = "Numeric"
    ALPHA = "Alpha"
    ALPHANUMERIC = "Alphanumeric"


# ----------------------------------------------------------------------------------------------- results


def _get(obj: JsonObject, key: str) -> Any:
    """``obj[key]`` matched case-insensitively: Sinch writes ``flashCall`` and ``flashcall``."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for name, value in obj.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def _object(obj: JsonObject, key: str) -> JsonObject | None:
    value = _get(obj, key)
    return value if isinstance(value, Mapping) else None


def _str(obj: JsonObject, key: str) -> str | None:
    value = _get(obj, key)
    return value if isinstance(value, str) else None


def _int(obj: JsonObject, key: str) -> int | None:
    value = _get(obj, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _float(obj: JsonObject, key: str) -> float | None:
    value = _get(obj, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _bool(obj: JsonObject, key: str) -> bool | None:
    value = _get(obj, key)
    return value if isinstance(value, bool) else None


def _required_str(obj: JsonObject, key: str) -> str:
    value = _str(obj, key)
    if not value:
        raise SinchUnavailable(f"Sinch response has no {key!r}")
    return value


def _method(obj: JsonObject, fallback: Method | None) -> Method:
    """The answer's method; the one asked for when Sinch names none or one this client does not know (as
    Sinch's SDKs keep unknown values instead of failing)."""
    value = _get(obj, "method")
    if fallback is not None:
        try:
            return fallback if value is None else parse_method(value)
        except SinchUnavailable:
            return fallback
    return parse_method(value)


def _timestamp(value: str | None) -> datetime | None:
    """Sinch's ``verificationTimestamp``: UTC without a zone and with up to 7 fractional digits."""
    if not value:
        return None
    text = value.strip().removesuffix("Z")
    if "." in text:
        whole, fraction = text.split(".", 1)
        text = f"{whole}.{fraction[:6]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Link:
    rel: str
    href: str
    method: str


@dataclass(frozen=True, slots=True)
class SmsStartDetails:
    template: str | None
    interception_timeout: int | None
    code_type: str | None


@dataclass(frozen=True, slots=True)
class FlashcallStartDetails:
    cli_filter: str | None
    interception_timeout: int | None
    report_timeout: int | None
    deny_call_after: int | None
    call_id: str | None
    # Only on accounts that Sinch configured to return it: the number that will call, i.e. the OTP.
    cli: str | None

    def __repr__(self) -> str:
        return (
            f"FlashcallStartDetails(cli_filter={self.cli_filter!r}, "
            f"interception_timeout={self.interception_timeout!r}, report_timeout={self.report_timeout!r}, "
            f"deny_call_after={self.deny_call_after!r}, call_id={self.call_id!r}, "
            f"cli={'<hidden>' if self.cli else None})"
        )


@dataclass(frozen=True, slots=True)
class CalloutStartDetails:
    """Empty on current accounts; the legacy API sent polling hints."""

    start_polling_after: int | None = None
    stop_polling_after: int | None = None
    polling_interval: int | None = None


@dataclass(frozen=True, slots=True)
class WhatsappStartDetails:
    code_type: str | None


@dataclass(frozen=True, slots=True)
class StartResult:
    id: str
    method: Method
    sms: SmsStartDetails | None = None
    flashcall: FlashcallStartDetails | None = None
    callout: CalloutStartDetails | None = None
    whatsapp: WhatsappStartDetails | None = None
    links: tuple[Link, ...] = ()
    content_language: str | None = None

    @classmethod
    def from_json(
        cls, data: JsonObject, *, requested: Method, content_language: str | None = None
    ) -> StartResult:
        method = _method(data, requested)
        sms = _object(data, "sms")
        flashcall = _object(data, "flashCall")
        callout = _object(data, "callout")
        whatsapp = _object(data, "whatsapp")
        links = _get(data, "_links")
        return cls(
            id=_required_str(data, "id"),
            method=method,
            sms=SmsStartDetails(
                template=_str(sms, "template"),
                interception_timeout=_int(sms, "interceptionTimeout"),
                code_type=_str(sms, "codeType"),
            )
            if sms is not None
            else None,
            flashcall=FlashcallStartDetails(
                cli_filter=_str(flashcall, "cliFilter"),
                interception_timeout=_int(flashcall, "interceptionTimeout"),
                report_timeout=_int(flashcall, "reportTimeout"),
                deny_call_after=_int(flashcall, "denyCallAfter"),
                call_id=_str(flashcall, "callId"),
                cli=_str(flashcall, "cli"),
            )
            if flashcall is not None
            else None,
            callout=CalloutStartDetails(
                start_polling_after=_int(callout, "startPollingAfter"),
                stop_polling_after=_int(callout, "stopPollingAfter"),
                polling_interval=_int(callout, "pollingInterval"),
            )
            if callout is not None
            else (CalloutStartDetails() if method is Method.CALLOUT else None),
            whatsapp=WhatsappStartDetails(code_type=_str(whatsapp, "codeType"))
            if whatsapp is not None
            else None,
            links=tuple(
                Link(
                    rel=_str(link, "rel") or "",
                    href=_str(link, "href") or "",
                    method=_str(link, "method") or "",
                )
                for link in (links if isinstance(links, list) else [])
                if isinstance(link, Mapping)
            ),
            content_language=content_language,
        )


@dataclass(frozen=True, slots=True)
class ReportResult:
    id: str
    method: Method
    status: Status
    reason: str | None = None
    call_complete: bool | None = None
    reference: str | None = None
    source: str | None = None

    @classmethod
    def from_json(
        cls, data: JsonObject, *, requested: Method, verification_id: str | None = None
    ) -> ReportResult:
        return cls(
            id=_str(data, "id") or verification_id or _required_str(data, "id"),
            method=_method(data, requested),
            status=Status.parse(_get(data, "status")),
            reason=_str(data, "reason"),
            call_complete=_bool(data, "callComplete"),
            reference=_str(data, "reference"),
            source=_str(data, "source"),
        )


@dataclass(frozen=True, slots=True)
class Money:
    currency: str | None
    amount: float | None


@dataclass(frozen=True, slots=True)
class Price:
    verification: Money | None = None
    termination: Money | None = None
    billable_duration: int | None = None


def _money(obj: JsonObject | None) -> Money | None:
    if obj is None:
        return None
    return Money(currency=_str(obj, "currencyId"), amount=_float(obj, "amount"))


@dataclass(frozen=True, slots=True)
class StatusResult:
    id: str
    method: Method
    status: Status
    reason: str | None = None
    reference: str | None = None
    number: str | None = None
    country_id: str | None = None
    verified_at: datetime | None = None
    source: str | None = None
    call_complete: bool | None = None
    call_result: str | None = None
    price: Price | None = None

    def __repr__(self) -> str:
        # The number is personal data; keep it out of reprs that end up in logs and tracebacks.
        return (
            f"StatusResult(id={self.id!r}, method={self.method.value!r}, status={self.status.value!r}, "
            f"reason={self.reason!r}, reference={self.reference!r}, country_id={self.country_id!r})"
        )

    @classmethod
    def from_json(cls, data: JsonObject, *, requested: Method | None = None) -> StatusResult:
        identity = _object(data, "identity")
        price = _object(data, "price")
        return cls(
            id=_required_str(data, "id"),
            method=_method(data, requested),
            status=Status.parse(_get(data, "status")),
            reason=_str(data, "reason"),
            reference=_str(data, "reference"),
            number=_str(identity, "endpoint") if identity is not None else None,
            country_id=_str(data, "countryId"),
            verified_at=_timestamp(_str(data, "verificationTimestamp")),
            source=_str(data, "source"),
            call_complete=_bool(data, "callComplete"),
            call_result=_str(data, "callResult"),
            price=Price(
                verification=_money(_object(price, "verificationPrice")),
                termination=_money(_object(price, "terminationPrice")),
                billable_duration=_int(price, "billableDuration"),
            )
            if price is not None
            else None,
        )
