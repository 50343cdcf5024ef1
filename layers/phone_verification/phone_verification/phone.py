"""Phone numbers: E.164 validation with Google's libphonenumber rules, country checks and masking.

``phonenumbers`` is imported on the first ``parse``: importing the package compiles some hundred
regular expressions (~25 ms of a cold start), and the report function needs it only to report by
number. ``mask`` needs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .errors import DestinationDenied, InvalidRequest

# E.164 ('+', a country code, at most 15 digits), written with single spaces or '-' between digits if
# the caller likes; the OpenAPI document publishes this pattern as it is.
SYNTAX = re.compile(r"\+[1-9](?:[ -]?[0-9]){6,14}")


@cache
def _refused_types() -> frozenset[int]:
    from phonenumbers import PhoneNumberType

    # Types that cannot receive an SMS or a verification call, or that are classic toll-fraud targets.
    return frozenset(
        {
            PhoneNumberType.PREMIUM_RATE,
            PhoneNumberType.SHARED_COST,
            PhoneNumberType.TOLL_FREE,
            PhoneNumberType.PAGER,
            PhoneNumberType.UAN,
            PhoneNumberType.VOICEMAIL,
        }
    )


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str
    country: str | None
    country_code: int = 0  # the calling code, 46 for Sweden

    @property
    def masked(self) -> str:
        return mask(self.e164)

    def __repr__(self) -> str:
        return f"PhoneNumber({self.masked!r}, country={self.country!r})"


def parse(
    value: object, *, allowed_countries: frozenset[str] = frozenset(), sms: bool = False
) -> PhoneNumber:
    """A valid number in E.164 form, or ``InvalidRequest`` / ``DestinationDenied`` saying why not.

    With ``sms``, a number known to be a fixed line is refused too: it cannot receive the message, and
    SMS to landlines is a known pumping pattern. Numbers whose type is ambiguous (fixed line or mobile,
    as in the US) pass.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequest("phoneNumber must be an E.164 string such as +46700000000.")
    text = value
    if not SYNTAX.fullmatch(text):
        raise InvalidRequest("phoneNumber must be in E.164 form: a plus sign, the country code, the number.")
    import phonenumbers
    from phonenumbers import PhoneNumberType

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidRequest("phoneNumber is not a phone number.") from None
    # is_valid_number(n) is number_type(n) != UNKNOWN for the number's own region; asking for the
    # type once saves matching the number against its region's patterns twice.
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise InvalidRequest("phoneNumber is not a valid phone number.")
    country = phonenumbers.region_code_for_number(number)
    if allowed_countries and country not in allowed_countries:
        raise DestinationDenied("Verifications to this country are not allowed.")
    if number_type in _refused_types():
        raise DestinationDenied("This type of number cannot be verified.")
    if sms and number_type == PhoneNumberType.FIXED_LINE:
        raise DestinationDenied("This number is a fixed line and cannot receive SMS.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(e164, country, number.country_code or 0)


def mask(e164: str) -> str:
    """``+46*******01``: the country code's first digits and the last two, enough to tell numbers apart."""
    digits = e164.removeprefix("+")
    if len(digits) <= 4:
        return "+" + "*" * len(digits)
    return "+" + digits[:2] + "*" * (len(digits) - 4) + digits[-2:]
