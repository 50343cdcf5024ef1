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
# What users paste around and inside a code they were sent: spaces, tabs, line breaks, and the no-break,
# figure and thin spaces of formatted text. Listed, not ``\s``: Python's and JSON Schema's ``\s`` differ,
# and the OpenAPI document publishes these patterns as they are.
_SPACE_CHARS = r"\t\n\r \u00a0\u2007\u2009\u202f"
_SPACE = f"[{_SPACE_CHARS}]"
_SPACES = re.compile(_SPACE)
# A reported code: 1-32 letters, digits or '-', with any of those spaces around and between them.
_REPORTED_PATTERN = re.compile(rf"{_SPACE}*[A-Za-z0-9-](?:{_SPACE}*[A-Za-z0-9-]){{0,31}}{_SPACE}*")
# A flashcall CLI: the 4-15 digits of the calling number (E.164 has at most 15), optionally after '+',
# written with any of those spaces, parentheses or '-' between them.
_CLI_SEPARATOR = f"[{_SPACE_CHARS}()-]"
_CLI_PATTERN = re.compile(rf"{_SPACE}*\+?(?:{_CLI_SEPARATOR}*[0-9]){{4,15}}{_CLI_SEPARATOR}*")
MAX_REPORTED_LENGTH = 64


def generate(length: int) -> str:
    """A numeric code from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def chosen_code(value: object) -> str:
    """A caller-chosen SMS code, checked against what Sinch accepts."""
    if not isinstance(value, str) or not _CODE_PATTERN.fullmatch(value):
        raise InvalidRequest("code must be 4-10 characters: letters, digits or '-'.")
    return value


def _matches(pattern: re.Pattern[str], value: str) -> bool:
    return len(value) <= MAX_REPORTED_LENGTH and bool(pattern.fullmatch(value))


def reported_code(value: object) -> str:
    """The code as the user typed it, normalised: spaces of every kind dropped, letters in upper case
    (codes are compared case-insensitively)."""
    if not isinstance(value, str) or not _matches(_REPORTED_PATTERN, value):
        raise InvalidRequest("code must be the code the user received.")
    return _SPACES.sub("", value).upper()


def reported_cli(value: object) -> str:
    """A flashcall CLI as '+' and the digits of the calling number."""
    if not isinstance(value, str) or not _matches(_CLI_PATTERN, value):
        raise InvalidRequest("cli must be the full number that called, such as +46815600001.")
    return "+" + "".join(ch for ch in value if "0" <= ch <= "9")


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

    def prefix(self, prefix: str) -> str:
        return self._digest("prefix", prefix)


def same(left: str, right: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(left.encode(), right.encode())
