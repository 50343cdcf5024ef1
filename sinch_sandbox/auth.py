"""Independent check of Sinch's request authentication (Basic and Application-signed).

Deliberately written from the published algorithm rather than shared with the product's client, so a
signing bug in the client cannot be mirrored here and go unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.errors import SinchError

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)
_AUTH_HEADER = re.compile(r"^(\S+)(?:\s+(.*))?$", re.DOTALL)
_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/]")


@dataclass(frozen=True)
class AuthResult:
    scheme: str  # "application" | "basic" | "public" | "none" | "unknown"
    error: SinchError | None = None

    @property
    def authenticated(self) -> bool:
        return self.error is None


def parse_timestamp(text: str) -> datetime | None:
    """Parse the x-timestamp styles the SDKs send: Java/Node ``…999Z``, .NET 7 digits, Python ``+00:00``."""
    match = _TIMESTAMP.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if zulu or not sign:
        # A zone-less stamp is read as UTC: every SDK sends UTC, so this only widens what is accepted.
        tz: timezone = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz
        )
    except ValueError:
        return None


def decode_secret(secret: str) -> bytes:
    """Base64-decode the application secret as leniently as Java's and Node's decoders do.

    Node maps the URL-safe alphabet onto the standard one, skips characters outside it and tolerates
    missing padding; Sinch's own test vectors (non-canonical secrets such as ``app-secret``) rely on that.
    """
    text = secret.strip().replace("-", "+").replace("_", "/").split("=", 1)[0]
    text = _BASE64_ALPHABET.sub("", text)
    if len(text) % 4 == 1:
        text = text[:-1]  # a lone trailing sextet cannot form a byte; Node drops it too
    return base64.b64decode(text + "=" * (-len(text) % 4))


def content_md5(body: bytes) -> str:
    if not body:
        return ""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def string_to_sign(*, method: str, body: bytes, content_type: str, timestamp: str, path: str) -> str:
    return "\n".join((method, content_md5(body), content_type, f"x-timestamp:{timestamp}", path))


def compute_signature(
    secret: str, *, method: str, body: bytes, content_type: str, timestamp: str, path: str
) -> str:
    message = string_to_sign(
        method=method, body=body, content_type=content_type, timestamp=timestamp, path=path
    ).encode("utf-8")
    digest = hmac.new(decode_secret(secret), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(
    secret: str, signature: str, *, method: str, body: bytes, content_type: str, timestamp: str, target: str
) -> bool:
    """True if ``signature`` signs any spelling of the request path that some SDK is known to sign."""
    path, _, query = target.partition("?")
    candidates = [path, unquote(path)]
    if query:
        candidates.append(target)  # .NET signs PathAndQuery
    expected = signature.encode("ascii", "replace")
    ok = False
    for candidate in dict.fromkeys(candidates):
        computed = compute_signature(
            secret, method=method, body=body, content_type=content_type, timestamp=timestamp, path=candidate
        )
        # Every candidate is computed and compared so timing does not reveal which spelling matched.
        ok |= hmac.compare_digest(computed.encode("ascii"), expected)
    return ok


def authenticate(
    config: SandboxConfig,
    *,
    method: str,
    target: str,
    body: bytes,
    authorization: str | None,
    x_timestamp: str | None,
    content_type: str | None,
    now: datetime,
) -> AuthResult:
    if authorization is None or not authorization.strip():
        return AuthResult("none", SinchError(40100, "Authorization header is missing."))
    match = _AUTH_HEADER.match(authorization.strip())
    scheme = match.group(1).lower() if match else ""
    credentials = (match.group(2) or "").strip() if match else ""
    if scheme == "basic":
        return AuthResult("basic", _check_basic(config, credentials))
    if scheme != "application":
        return AuthResult("unknown", SinchError(40100, "Unsupported authorization scheme."))
    if ":" not in credentials:
        if not credentials:
            return AuthResult("application", SinchError(40100, "Authorization header is malformed."))
        # "Application <key>" without a signature is the mobile SDKs' public auth, not for backends.
        return AuthResult("public", SinchError(40301, "Invalid authorization scheme for calling the method."))
    key, _, signature = credentials.partition(":")
    error = _check_timestamp(config, x_timestamp, now) or _check_signature(
        config,
        key,
        signature,
        method=method,
        body=body,
        content_type=content_type or "",
        timestamp=x_timestamp or "",
        target=target,
    )
    return AuthResult("application", error)


def _check_signature(
    config: SandboxConfig,
    key: str,
    signature: str,
    *,
    method: str,
    body: bytes,
    content_type: str,
    timestamp: str,
    target: str,
) -> SinchError | None:
    key_ok = hmac.compare_digest(key.encode("utf-8"), config.application_key.encode("utf-8"))
    signature_ok = signature_matches(
        config.application_secret,
        signature,
        method=method,
        body=body,
        content_type=content_type,
        timestamp=timestamp,
        target=target,
    )
    return None if key_ok and signature_ok else SinchError(40102, "Invalid Signature")


def _check_basic(config: SandboxConfig, credentials: str) -> SinchError | None:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return SinchError(40100, "Authorization header is malformed.")
    if ":" not in decoded:
        return SinchError(40100, "Authorization header is malformed.")
    expected = f"{config.application_key}:{config.application_secret}"
    if not hmac.compare_digest(decoded.encode("utf-8"), expected.encode("utf-8")):
        return SinchError(40108, "Invalid credentials.")
    return None


def _check_timestamp(config: SandboxConfig, x_timestamp: str | None, now: datetime) -> SinchError | None:
    if x_timestamp is None or not x_timestamp.strip():
        return SinchError(40101, "The x-timestamp header is missing.")
    sent = parse_timestamp(x_timestamp)
    if sent is None:
        return SinchError(40101, "The x-timestamp header is not a valid ISO-8601 timestamp.")
    if abs((now - sent).total_seconds()) > config.timestamp_window_seconds:
        return SinchError(40101, "The x-timestamp header is outside the allowed time window.")
    return None
