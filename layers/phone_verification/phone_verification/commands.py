"""What callers ask for, read from request JSON into typed commands (the one place input is validated).

HTTP bodies and direct invocations (Step Functions) share these readers, so both get the same rules
and the same ``InvalidRequest`` messages. Unknown fields are ignored, as Sinch does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest, VerificationNotFound
from .model import Method

__all__ = ["ANONYMOUS", "InvalidRequest", "ReportCommand", "StartCommand", "report_command", "start_command"]

_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")
# Sinch puts the reference in a URL path segment; unreserved characters keep it unambiguous there.
_REFERENCE = re.compile(r"[A-Za-z0-9._~-]{1,100}")
_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
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

    def __repr__(self) -> str:
        return f"StartCommand(method={self.method.value!r}, reference={self.reference!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportCommand:
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


def _optional_text(body: Mapping[str, Any], name: str, pattern: re.Pattern[str], hint: str) -> str | None:
    value = body.get(name)
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
    if value is None:
        return None
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidRequest("Idempotency-Key must be 1-255 visible ASCII characters.")
    return value


def start_command(
    body: object,
    *,
    owner: str = ANONYMOUS,
    rate_key: str | None = None,
    idempotency_key_value: object = None,
    task_token: object = None,
) -> StartCommand:
    data = _object(body)
    number = data.get("phoneNumber")
    if number is None:
        raise InvalidRequest("phoneNumber is required.")
    if not isinstance(number, str):
        raise InvalidRequest("phoneNumber must be an E.164 string such as +46700000000.")
    raw_method = data.get("method", "sms")
    try:
        method = Method(raw_method.lower()) if isinstance(raw_method, str) else None
    except ValueError:
        method = None
    if method is None:
        raise InvalidRequest("method must be one of sms, flashcall, callout, whatsapp.")
    code = data.get("code")
    if code is not None and method is not Method.SMS:
        raise InvalidRequest("code can only be chosen for sms verifications.")
    if code is not None and not isinstance(code, str):
        raise InvalidRequest("code must be a string.")
    if task_token is not None and (not isinstance(task_token, str) or not 1 <= len(task_token) <= 4096):
        raise InvalidRequest("taskToken must be a Step Functions task token.")
    return StartCommand(
        phone_number=number,
        method=method,
        reference=_optional_text(data, "reference", _REFERENCE, "must be 1-100 letters, digits or . _ ~ -"),
        locale=_optional_text(data, "locale", _LOCALE, "must be a language tag such as en-US."),
        code=code,
        owner=owner,
        rate_key=rate_key,
        idempotency_key=idempotency_key(idempotency_key_value),
        task_token=task_token,
    )


def report_command(
    body: object, *, owner: str = ANONYMOUS, verification: object = None, phone_number: object = None
) -> ReportCommand:
    data = _object(body)
    code, cli = data.get("code"), data.get("cli")
    if (code is None) == (cli is None):
        raise InvalidRequest("Give either code (sms, callout, whatsapp) or cli (flashcall).")
    for name, value in (("code", code), ("cli", cli)):
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string.")
    if phone_number is not None and not isinstance(phone_number, str):
        raise InvalidRequest("phoneNumber must be an E.164 string.")
    return ReportCommand(
        verification_id=verification_id(verification) if verification is not None else None,
        phone_number=phone_number,
        code=code,
        cli=cli,
        owner=owner,
    )
