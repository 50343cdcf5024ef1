"""What an operator names on the command line: a phone number, a prefix (a block of 10,000 numbers, as
``fraud.prefix_of`` cuts them) or a prefix id (the start of a prefix's keyed hash, as ``list`` and the
guard's logs show it).

Only what the operator typed is ever printed back: the table holds no number or prefix in clear, and this
command adds none to a terminal's scrollback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phone_verification import phone
from phone_verification.errors import DestinationDenied, VerificationError
from phone_verification.fraud import prefix_of

MIN_ID_LENGTH = 8
_ID = re.compile(rf"[0-9a-f]{{{MIN_ID_LENGTH},64}}")
_PREFIX = re.compile(r"\+[1-9][0-9]{1,14}")
# Endings tried to find a valid number in a typed prefix's block: numbering plans validate a number by
# its leading digits, so any one valid number of the block shows the prefix is where the guard cuts.
_SAMPLE_ENDINGS = ("0000", "1234", "5678", "9999", "0001", "4321")
# Where the guard files a number of no known region (usecases/fraud_guard.py).
UNKNOWN_COUNTRY = "ZZ"


class DestinationError(ValueError):
    """The operator's text names no number, prefix or prefix id (the message says what would)."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A number, a prefix or a prefix id; ``typed`` is the text as the operator wrote it."""

    typed: str
    prefix: str | None = None  # the block's prefix in clear (None for a prefix id)
    number: str | None = None  # the number in E.164, when the number itself is meant
    country: str | None = None
    prefix_id: str | None = None
    typed_a_number: bool = False

    def describe(self) -> str:
        """How messages name what is meant, in the operator's own words."""
        return self.typed if self.number is not None else self.prefix_label()

    def prefix_label(self) -> str:
        return f"the prefix of {self.typed}" if self.typed_a_number else f"the prefix {self.typed}"


def parse_destination(text: str, *, whole_prefix: bool = False) -> Destination:
    """``text`` as a number (its prefix with ``whole_prefix``), a prefix or a prefix id."""
    typed = text.strip()
    if _ID.fullmatch(typed.lower()):
        return Destination(typed, prefix_id=typed.lower())
    if not typed.startswith("+"):
        raise DestinationError(
            f"{typed!r} is not a number or a prefix (those are E.164, with '+'), nor a prefix id "
            f"(at least {MIN_ID_LENGTH} hex digits of one shown by list)"
        )
    number = _number(typed)
    if number is not None:
        country = number.country or UNKNOWN_COUNTRY
        prefix = prefix_of(number.e164, number.country_code)
        e164 = None if whole_prefix else number.e164
        return Destination(typed, prefix=prefix, number=e164, country=country, typed_a_number=True)
    found = _block(re.sub(r"[ -]", "", typed))
    if found is None:
        raise DestinationError(
            f"{typed} is neither a valid phone number nor the prefix of a block of 10,000 numbers "
            "(a number without its last four digits, such as +4670123 for +46701234567)"
        )
    return Destination(typed, prefix=found[0], country=found[1])


def _number(typed: str) -> phone.PhoneNumber | None:
    try:
        return phone.parse(typed)
    except DestinationDenied:
        # Valid, but never sent to (premium rate, toll free...): the guard never sees it.
        raise DestinationError(
            f"{typed} is a number the product never sends to, so no guard needed"
        ) from None
    except VerificationError:
        return None


def _block(prefix: str) -> tuple[str, str] | None:
    """The prefix and its country when ``prefix`` is exactly where the guard cuts its block's numbers."""
    if not _PREFIX.fullmatch(prefix):
        return None
    for ending in _SAMPLE_ENDINGS:
        try:
            number = phone.parse(prefix + ending)
        except VerificationError:
            continue
        if prefix_of(number.e164, number.country_code) == prefix:
            return prefix, number.country or UNKNOWN_COUNTRY
    return None
