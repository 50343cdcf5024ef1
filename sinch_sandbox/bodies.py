"""Sinch request bodies: JSON parsing, the verification method, start validation and report values,
refused with Sinch's error codes (40001 invalid parameter, 40002 missing parameter, 40003 invalid request)."""

from __future__ import annotations

import json
import re
from typing import Any

from sinch_sandbox.errors import SinchError, invalid_parameter, invalid_request, missing_parameter
from sinch_sandbox.numbers import PhoneNumber, validate_number

START_METHODS = ("sms", "flashcall", "callout", "whatsapp", "seamless")
REPORT_METHODS = ("sms", "flashcall", "callout", "whatsapp")
CALL_METHODS = ("flashcall", "callout")
CODE_TYPES = {"numeric": "Numeric", "alpha": "Alpha", "alphanumeric": "Alphanumeric"}
_EXPIRY = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)$")


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request("The body is not valid UTF-8.") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise invalid_request("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise invalid_request("The body must be a JSON object.")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def known_method(value: Any, allowed: tuple[str, ...]) -> str | None:
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    return None


def required_method(body: dict[str, Any], allowed: tuple[str, ...]) -> str:
    value = body.get("method")
    if value is None:
        raise missing_parameter("method")
    method = known_method(value, allowed)
    if method is None:
        raise invalid_parameter("method", f"must be one of {', '.join(allowed)}")
    return method


def validate_start(body: dict[str, Any]) -> tuple[str, PhoneNumber, str | None]:
    identity = body.get("identity")
    if identity is None:
        raise missing_parameter("identity")
    if not isinstance(identity, dict):
        raise invalid_parameter("identity", "must be an object")
    identity_type = identity.get("type")
    if identity_type is None:
        raise missing_parameter("identity.type")
    if identity_type != "number":
        raise invalid_parameter("identity.type", "must be 'number'")
    endpoint = identity.get("endpoint")
    if endpoint is None:
        raise missing_parameter("identity.endpoint")
    if not isinstance(endpoint, str):
        raise invalid_parameter("identity.endpoint", "must be a string")
    method = required_method(body, START_METHODS)
    number = validate_number(endpoint)
    reference = body.get("reference")
    if reference is not None and (not isinstance(reference, str) or not reference):
        raise invalid_parameter("reference", "must be a non-empty string")
    custom = body.get("custom")
    if custom is not None and (not isinstance(custom, str) or len(custom) > 4096):
        raise invalid_parameter("custom", "must be a string of at most 4096 characters")
    if method == "seamless":
        raise SinchError(40300, "Seamless verification not available for given destination.")
    return method, number, reference


def options(body: dict[str, Any], name: str) -> dict[str, Any]:
    found = body.get(name)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise invalid_parameter(name, "must be an object")
    return found


def expiry(sms_options: dict[str, Any], default: int) -> int:
    value = sms_options.get("expiry")
    if value is None:
        return default
    match = _EXPIRY.match(value) if isinstance(value, str) else None
    seconds = int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3]) if match else 0
    if seconds <= 0:
        raise invalid_parameter("smsOptions.expiry", "must be a positive duration 'HH:MM:SS'")
    return seconds


def code_type(method_options: dict[str, Any], name: str) -> str | None:
    value = method_options.get("codeType")
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in CODE_TYPES:
        raise invalid_parameter(f"{name}.codeType", "must be one of Numeric, Alpha, Alphanumeric")
    return CODE_TYPES[value.lower()]


def timeout(flashcall_options: dict[str, Any], name: str) -> int | None:
    value = flashcall_options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 120:
        raise invalid_parameter(f"flashCallOptions.{name}", "must be an integer between 5 and 120")
    return value


def speech_locale(callout_options: dict[str, Any]) -> str | None:
    speech = callout_options.get("speech")
    if speech is None:
        return None
    if not isinstance(speech, dict):
        raise invalid_parameter("calloutOptions.speech", "must be an object")
    locale = speech.get("locale")
    if locale is not None and (not isinstance(locale, str) or not locale):
        raise invalid_parameter("calloutOptions.speech.locale", "must be a non-empty string")
    return locale


def reported_value(body: dict[str, Any], method: str) -> str:
    """The code (flashcall: the CLI) a report carries; a flashcall report may use flashCall or flashcall."""
    keys = ("flashCall", "flashcall") if method == "flashcall" else (method,)
    field_name = "cli" if method == "flashcall" else "code"
    key = next((k for k in keys if k in body), keys[0])
    section = body.get(key)
    if section is not None and not isinstance(section, dict):
        raise invalid_parameter(key, "must be an object")
    value = (section or {}).get(field_name)
    if value is None:
        # Older clients send a method-agnostic top-level "code" (flashcall: the CLI).
        value = body.get(field_name, body.get("code"))
    if value is None or value == "":
        raise missing_parameter(f"{key}.{field_name}")
    if not isinstance(value, str):
        raise invalid_parameter(f"{key}.{field_name}", "must be a string")
    return value
