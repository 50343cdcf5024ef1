"""Sinch request authentication: the "Application" signed scheme (HMAC-SHA256) and Basic.

The string to sign is, joined by newlines: the HTTP verb, Base64(MD5(body bytes)) or "" for no body,
the Content-Type header exactly as sent (or "" when none is sent), ``x-timestamp:<value>``, and the
request path. The key is the base64-decoded application secret. Every Sinch SDK computes the same
string; the test vectors V1-V9 of ../shared/sinch-verification-api.md pin it down.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

TIMESTAMP_HEADER = "x-timestamp"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A Sinch Verification application's key and secret (the secret as the dashboard shows it)."""

    application_key: str
    application_secret: str = field(repr=False)


def decode_secret(secret: str) -> bytes:
    """Base64-decode an application secret as leniently as Sinch's Java and Node SDKs do.

    Dashboard secrets are canonical base64, but hand-copied ones lose their padding, and Node also
    accepts the URL-safe alphabet; rejecting those would fail requests that Sinch itself accepts.
    """
    text = "".join(secret.split()).replace("-", "+").replace("_", "/").rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def content_md5(body: bytes) -> str:
    """Base64(MD5(body)), or "" for an empty body (every SDK leaves the line empty then)."""
    if not body:
        return ""
    # MD5 is what the protocol mandates here, as a body checksum inside an HMAC, not as a security hash.
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def string_to_sign(*, verb: str, body_md5: str, content_type: str, timestamp: str, path: str) -> str:
    return "\n".join((verb.upper(), body_md5, content_type, f"{TIMESTAMP_HEADER}:{timestamp}", path))


def signature(secret: str, *, verb: str, body: bytes, content_type: str, timestamp: str, path: str) -> str:
    """The Base64 HMAC-SHA256 signature of one request."""
    message = string_to_sign(
        verb=verb, body_md5=content_md5(body), content_type=content_type, timestamp=timestamp, path=path
    )
    digest = hmac.new(decode_secret(secret), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, as the Java and Node SDKs send it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def application_headers(
    credentials: Credentials, *, verb: str, body: bytes, content_type: str, path: str, timestamp: str
) -> dict[str, str]:
    """The ``Authorization`` and ``x-timestamp`` headers of an Application-signed request."""
    sig = signature(
        credentials.application_secret,
        verb=verb,
        body=body,
        content_type=content_type,
        timestamp=timestamp,
        path=path,
    )
    return {"Authorization": f"Application {credentials.application_key}:{sig}", TIMESTAMP_HEADER: timestamp}


def basic_headers(credentials: Credentials) -> dict[str, str]:
    """The ``Authorization`` header of a Basic request (the secret is used as text, not decoded)."""
    token = f"{credentials.application_key}:{credentials.application_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode("ascii")}
