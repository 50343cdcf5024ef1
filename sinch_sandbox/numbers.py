"""Phone-number checks, worded like Sinch's ``Number +4813 is invalid. Too short.``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from sinch_sandbox.errors import SinchError

# Separators people paste with numbers; anything else (letters, vanity numbers) is refused rather than
# translated, because a sandbox that silently rewrites numbers would hide client bugs.
_ALLOWED = re.compile(r"^\+[0-9 ().\-]+$")

_POSSIBILITY_REASONS = {
    ValidationResult.TOO_SHORT: "Too short.",
    ValidationResult.TOO_LONG: "Too long.",
    ValidationResult.INVALID_COUNTRY_CODE: "Invalid country code.",
    ValidationResult.INVALID_LENGTH: "Invalid length.",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "Too short.",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "Invalid country code.",
    NumberParseException.NOT_A_NUMBER: "Not a number.",
    NumberParseException.TOO_SHORT_AFTER_IDD: "Too short.",
    NumberParseException.TOO_SHORT_NSN: "Too short.",
    NumberParseException.TOO_LONG: "Too long.",
}


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    country_id: str | None


def require_plus(number: str) -> None:
    if not number.startswith("+"):
        # The message says "invalid" because Sinch's own SDK e2e tests assert that word for bad numbers.
        raise SinchError(40005, f"Number {number} is invalid. It must start with a leading '+'.")


def validate_number(number: str) -> PhoneNumber:
    require_plus(number)
    if not _ALLOWED.match(number):
        raise SinchError(40001, f"Number {number} is invalid. Invalid characters.")
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException as exc:
        raise SinchError(
            40001, f"Number {number} is invalid. {_PARSE_REASONS.get(exc.error_type, 'Not a number.')}"
        ) from None
    outcome = phonenumbers.is_possible_number_with_reason(parsed)
    if outcome != ValidationResult.IS_POSSIBLE:
        reason = _POSSIBILITY_REASONS.get(outcome, "Not a number.")
        raise SinchError(40001, f"Number {number} is invalid. {reason}")
    region = phonenumbers.region_code_for_number(parsed)
    return PhoneNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        country_id=region if region and region != "ZZ" else None,
    )


def lookup_key(number: str) -> str:
    """Key under which verifications and the inbox are filed: the E.164 form, else '+' and the digits."""
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else "+" + number, None)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except NumberParseException:
        return "+" + "".join(ch for ch in number if ch in "0123456789")
