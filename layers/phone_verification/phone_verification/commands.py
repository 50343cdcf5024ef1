"""What callers ask for, read from request JSON into typed commands (the one place input is validated).

HTTP bodies and direct invocations (Step Functions) share these readers, so both get the same rules
and the same ``InvalidRequest`` messages. Unknown fields are ignored, as Sinch does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import codes
from .errors import InvalidRequest, VerificationNotFound
from .model import Method

__all__ = [
    "ANONYMOUS",
    "InvalidRequest",
    "NextCommand",
    "ReportCommand",
    "StartCommand",
    "next_command",
    "report_command",
    "start_command",
]

_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")
# Sinch puts the reference in a URL path segment; unreserved characters keep it unambiguous there.
_REFERENCE = re.compile(r"[A-Za-z0-9._~-]{1,100}")
_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# An HTTP header's value: visible ASCII.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Text a direct caller names (an owner, an idempotency key such as a Step Functions execution id, whose
# name may be in any script): no control characters, and no lone surrogates, which JSON can carry but
# UTF-8 (DynamoDB, hashing, logs) cannot.
_DIRECT_TEXT = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,256}")
# Step Functions task tokens are opaque visible ASCII.
_TASK_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartCommand:
    phone_number: str
    method: Method = Method.SMS
    reference: str | None = None
    locale: str | None = None
    code: str | None = None
    owner: str = ANONYMOUS
    # Who the per-caller send limit counts against: "iam:<principal>", "jwt:<iss>:<sub>" or "ip:<address>";
    # None for direct invocations, whose callers IAM already trusts.
    rate_key: str | None = None
    idempotency_key: str | None = None
    task_token: str | None = None
    # The caller's own rate key (the body's rateKey: an end user's IP address or account id), which gets
    # a budget of its own within the caller's; never logged, stored only as a keyed hash.
    user_rate_key: str | None = None
    # The channels ``next`` may send after ``method``, in order (``method`` first); empty: only ``method``.
    channels: tuple[Method, ...] = ()

    def __repr__(self) -> str:
        return f"StartCommand(method={self.method.value!r}, reference={self.reference!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class NextCommand:
    """``next``: send the verification's next channel, or ``method`` if it names a later one."""

    verification_id: str
    owner: str = ANONYMOUS
    method: Method | None = None
    locale: str | None = None
    rate_key: str | None = None
    user_rate_key: str | None = None
    idempotency_key: str | None = None
    task_token: str | None = None

    def __repr__(self) -> str:
        return f"NextCommand(verification_id={self.verification_id!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportCommand:
    """A report, validated and normalised by ``report_command``: ``code`` or ``cli`` as the service
    compares it (``codes.reported_code`` / ``codes.reported_cli``)."""

    verification_id: str | None = None
    phone_number: str | None = None
    code: str | None = None
    cli: str | None = None
    owner: str = ANONYMOUS

    def __repr__(self) -> str:
        return f"ReportCommand(verification_id={self.verification_id!r})"


def _object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequest("The body must be a JSON object.", unreadable=True)
    return body


def _optional(body: Mapping[str, Any], name: str) -> Any:
    """A field's value, None when it is absent; a field that is present must have a value (JSON's null
    is not one of the values the API takes, and the OpenAPI document says so)."""
    value = body.get(name)
    if value is None and name in body:
        raise InvalidRequest(f"{name} must not be null; leave it out instead.")
    return value


def _optional_text(body: Mapping[str, Any], name: str, pattern: re.Pattern[str], hint: str) -> str | None:
    value = _optional(body, name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRequest(f"{name} {hint}")
    return value


def verification_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        # An id we could never have issued is simply unknown: same answer as any other unknown id.
        raise VerificationNotFound()
    return value


def idempotency_key(value: object) -> str | None:
    """The ``Idempotency-Key`` header."""
    if value is None:
        return None
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidRequest("Idempotency-Key must be 1-255 visible ASCII characters.")
    return value


def direct_text(value: object, name: str) -> str | None:
    """A direct caller's ``owner`` or ``idempotencyKey``: absent (None) or 1-256 characters of text."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DIRECT_TEXT.fullmatch(value):
        raise InvalidRequest(f"{name} must be 1-256 characters of text.")
    return value


def direct_owner(value: object) -> str:
    """Who may report a directly started verification over HTTP; anonymous when the caller names none."""
    return direct_text(value, "owner") or ANONYMOUS


def start_command(
    body: object,
    *,
    owner: str = ANONYMOUS,
    rate_key: str | None = None,
    idempotency_key_value: object = None,
    task_token: object = None,
    direct: bool = False,
) -> StartCommand:
    """A start from an HTTP body, or with ``direct`` from a direct invocation's event, whose
    ``idempotencyKey`` may be any text (Step Functions execution names need not be ASCII)."""
    data = _object(body)
    number = data.get("phoneNumber")
    if number is None:
        raise InvalidRequest("phoneNumber is required.")
    if not isinstance(number, str):
        raise InvalidRequest("phoneNumber must be an E.164 string such as +46700000000.")
    channels = _channels(_optional(data, "channels"))
    raw_method = _optional(data, "method")
    method = _method(raw_method) if raw_method is not None else (channels[0] if channels else Method.SMS)
    if channels and channels[0] is not method:
        raise InvalidRequest("channels must start with method (or leave method out).")
    code = _optional(data, "code")
    if code is not None and method is not Method.SMS:
        raise InvalidRequest("code can only be chosen for sms verifications.")
    if code is not None and len(channels) > 1:
        # Only a hash of a chosen code is kept, so a later channel could not send it again.
        raise InvalidRequest("code cannot be chosen for a verification with more than one channel.")
    if code is not None:
        code = codes.chosen_code(code)
    token, key = _send_keys(task_token, idempotency_key_value, direct=direct)
    return StartCommand(
        phone_number=number,
        method=method,
        reference=_optional_text(data, "reference", _REFERENCE, "must be 1-100 letters, digits or . _ ~ -"),
        locale=_optional_text(data, "locale", _LOCALE, "must be a language tag such as en-US."),
        code=code,
        owner=owner,
        rate_key=rate_key,
        idempotency_key=key,
        task_token=token,
        user_rate_key=direct_text(_optional(data, "rateKey"), "rateKey"),
        channels=channels if len(channels) > 1 else (),
    )


_METHODS_HINT = "must be one of sms, flashcall, callout, whatsapp."
MAX_CHANNELS = len(Method)


def _method(value: object, name: str = "method") -> Method:
    try:
        if isinstance(value, str):
            return Method(value.lower())
    except ValueError:
        pass
    raise InvalidRequest(f"{name} {_METHODS_HINT}")


def _channels(value: object) -> tuple[Method, ...]:
    """The start body's ``channels``: 1-4 different methods, in the order ``next`` sends them."""
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CHANNELS:
        raise InvalidRequest("channels must be a list of 1-4 methods.")
    channels = tuple(_method(entry, "each channel") for entry in value)
    if len(set(channels)) != len(channels):
        raise InvalidRequest("channels must not repeat a method.")
    return channels


def _send_keys(
    task_token: object, idempotency_key_value: object, *, direct: bool
) -> tuple[str | None, str | None]:
    """What a start and a ``next`` both check: the task token (its shape), and the idempotency key (any text
    from a direct caller, the header's pattern over HTTP)."""
    if task_token is not None and (not isinstance(task_token, str) or not _TASK_TOKEN.fullmatch(task_token)):
        raise InvalidRequest("taskToken must be a Step Functions task token.")
    key = (
        direct_text(idempotency_key_value, "idempotencyKey")
        if direct
        else idempotency_key(idempotency_key_value)
    )
    return task_token, key


def next_command(
    body: object,
    *,
    verification: object,
    owner: str = ANONYMOUS,
    rate_key: str | None = None,
    idempotency_key_value: object = None,
    task_token: object = None,
    direct: bool = False,
) -> NextCommand:
    """``next`` from an HTTP body (optional: ``{}`` or none at all) or a direct invocation's event."""
    data = _object(body) if body is not None else {}
    raw_method = _optional(data, "method")
    token, key = _send_keys(task_token, idempotency_key_value, direct=direct)
    return NextCommand(
        verification_id=verification_id(verification),
        owner=owner,
        method=_method(raw_method) if raw_method is not None else None,
        locale=_optional_text(data, "locale", _LOCALE, "must be a language tag such as en-US."),
        rate_key=rate_key,
        user_rate_key=direct_text(_optional(data, "rateKey"), "rateKey"),
        idempotency_key=key,
        task_token=token,
    )


def report_command(
    body: object, *, owner: str = ANONYMOUS, verification: object = None, phone_number: object = None
) -> ReportCommand:
    """A report. The whole body is validated before anything is looked up, so a malformed report is
    refused alike whether or not the verification (or the number's) exists."""
    data = _object(body)
    code, cli = _optional(data, "code"), _optional(data, "cli")
    if (code is None) == (cli is None):
        raise InvalidRequest("Give either code (sms, callout, whatsapp) or cli (flashcall).")
    if phone_number is not None and not isinstance(phone_number, str):
        raise InvalidRequest("phoneNumber must be an E.164 string.")
    return ReportCommand(
        verification_id=verification_id(verification) if verification is not None else None,
        phone_number=phone_number,
        code=codes.reported_code(code) if code is not None else None,
        cli=codes.reported_cli(cli) if cli is not None else None,
        owner=owner,
    )
