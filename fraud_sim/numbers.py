"""Valid mobile numbers of real numbering plans, picked at random but reproducibly.

The guard keys on a number's 10,000-block (``fraud.prefix_of``: the E.164 digits without the last four),
so the simulator thinks in blocks: a block is drawn by varying the digits of the country's example
mobile number after its first two national digits (the operator code stays plausible), and numbers are
drawn inside a block by varying the last four. Every number is checked with ``phonenumbers`` as the
product checks it (valid, and mobile or "fixed line or mobile", since SMS to a fixed line is refused),
so a refusal in the table is never the product rejecting a malformed number.
"""

from __future__ import annotations

import random
from functools import cache

import phonenumbers
from phonenumbers import PhoneNumberType

BLOCK_DIGITS = 4  # as fraud.prefix_of: a prefix is a block of 10,000 numbers
# National digits of the example number kept when drawing a block (the mobile operator's code).
KEPT_DIGITS = 2
# Draws before giving up on a plan: a plan where valid mobiles are this rare is not worth simulating.
MAX_DRAWS = 2000
_SMS_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


class NumberPlanError(Exception):
    """No valid mobile numbers could be drawn for a country."""


def is_mobile(e164: str) -> bool:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _SMS_TYPES


@cache
def _example(region: str) -> tuple[int, str]:
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is None:
        raise NumberPlanError(f"phonenumbers has no example mobile number for {region}")
    return example.country_code or 0, phonenumbers.national_significant_number(example)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def prefixes(region: str, rng: random.Random, count: int) -> list[str]:
    """``count`` distinct blocks ("+<country code><digits>", without the last four) holding valid mobile
    numbers."""
    country_code, national = _example(region)
    head = national[:KEPT_DIGITS]
    free = len(national) - KEPT_DIGITS - BLOCK_DIGITS
    found: list[str] = []
    for _ in range(MAX_DRAWS):
        if len(found) == count:
            return found
        block = f"+{country_code}{head}{_digits(rng, free)}"
        if block not in found and is_mobile(block + _digits(rng, BLOCK_DIGITS)):
            found.append(block)
    if len(found) == count:
        return found
    raise NumberPlanError(f"found only {len(found)} of {count} mobile blocks for {region}")


def numbers_in(block: str, rng: random.Random, count: int) -> list[str]:
    """``count`` distinct valid numbers of one block, in random order (an attacker walking a range)."""
    found: list[str] = []
    candidates = rng.sample(range(10**BLOCK_DIGITS), min(10**BLOCK_DIGITS, count * 2 + 20))
    for suffix in candidates:
        number = f"{block}{suffix:0{BLOCK_DIGITS}d}"
        if is_mobile(number):
            found.append(number)
            if len(found) == count:
                return found
    raise NumberPlanError(f"found only {len(found)} of {count} valid numbers in a block")
