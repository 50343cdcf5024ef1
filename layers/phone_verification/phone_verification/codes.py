"""One-time codes and the keyed hashes that stand in for codes, CLIs and numbers at rest.

Only HMAC-SHA256 values keyed with the deployment's own secret key are stored: a leaked table gives
neither codes nor phone numbers, and the short code space cannot be brute-forced offline without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from .errors import InvalidRequest

# Sinch's limit for a caller-chosen SMS code (40001: "Maximum 10 characters. Valid characters: A-Z, a-z,
# 0-9, '-'"), with a floor of 4 so a chosen code is not trivially guessable within the attempt limit.
_CODE_PATTERN = re.compile(r"[A-Za-z0-9-]{4,10}")
_REPORTED_PATTERN = re.compile(r"[A-Za-z0-9 -]{1,32}")
_CLI_PATTERN = re.compile(r"\+?[0-9 ()-]{4,32}")


def generate(length: int) -> str:
    """A numeric code from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def chosen_code(value: object) -> str:
    """A caller-chosen SMS code, checked against what Sinch accepts."""
    if not isinstance(value, str) or not _CODE_PATTERN.fullmatch(value):
        raise InvalidRequest("code must be 4-10 characters: letters, digits or '-'.")
    return value


def reported_code(value: object) -> str:
    """The code as the user typed it, normalised: spaces dropped, letters compared case-insensitively."""
    if not isinstance(value, str) or not _REPORTED_PATTERN.fullmatch(value.strip()):
        raise InvalidRequest("code must be the code the user received.")
    return value.replace(" ", "").upper()


def reported_cli(value: object) -> str:
    """A flashcall CLI as the digits of the calling number."""
    if not isinstance(value, str) or not _CLI_PATTERN.fullmatch(value.strip()):
        raise InvalidRequest("cli must be the full number that called, such as +46815600001.")
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 4:
        raise InvalidRequest("cli must be the full number that called, such as +46815600001.")
    return "+" + digits


class Hasher:
    """Keyed hashes; the purpose and the verification id are mixed in so equal codes never hash alike."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _digest(self, *parts: str) -> str:
        return hmac.new(self._key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()

    def number(self, e164: str) -> str:
        return self._digest("number", e164)

    def code(self, verification_id: str, code: str) -> str:
        return self._digest("code", verification_id, code.upper())

    def cli(self, verification_id: str, cli: str) -> str:
        return self._digest("cli", verification_id, "+" + "".join(ch for ch in cli if ch.isdigit()))

    def caller(self, principal: str) -> str:
        return self._digest("caller", principal)


def same(left: str, right: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(left.encode(), right.encode())
