"""What API Gateway's authorizer would put in the event, simulated without an AWS account.

Nothing is verified here (no SigV4 signature check, no JWT signature, issuer or audience check): the
local stack exists to exercise the handlers, and the handlers only ever see the authorizer's result.
What is simulated faithfully is the *shape* of that result, the 401 for a missing or unreadable token
and, with IAM, API Gateway's 403 for a request that is not signed at all (any SigV4 ``Authorization``
passes, with any credentials; ``x-local-principal`` names the caller; ``allow_unsigned`` lets unsigned
requests in as the local developer, as the local API did before).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

AuthMode = Literal["IAM", "JWT", "NONE"]
AUTH_MODES: tuple[AuthMode, ...] = ("IAM", "JWT", "NONE")

LOCAL_ACCOUNT_ID = "000000000000"
LOCAL_DEVELOPER_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/local-developer"
# Shaped like a temporary access key id (ASIA + 16), so code that checks the prefix behaves as deployed.
LOCAL_ACCESS_KEY = "ASIALOCALDEVELOPER00"
PRINCIPAL_HEADER = "x-local-principal"

_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]+)/")
_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+Credential=[A-Za-z0-9]+/", re.IGNORECASE)


def parse_auth_mode(value: str) -> AuthMode:
    mode = value.strip().upper()
    if mode == "IAM":
        return "IAM"
    if mode == "JWT":
        return "JWT"
    if mode == "NONE":
        return "NONE"
    raise ValueError(f"API auth must be one of {', '.join(AUTH_MODES)}, got {value!r}")


class Unauthorized(Exception):
    """API Gateway would answer 401 before the function runs."""

    def __init__(self, reason: str, www_authenticate: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.www_authenticate = www_authenticate


class Forbidden(Exception):
    """API Gateway would answer 403 before the function runs: IAM authorization, and no signature."""


class BadPrincipal(Exception):
    """The local-only x-local-principal header does not hold an ARN."""


@dataclass(frozen=True)
class IamPrincipal:
    access_key: str
    account_id: str
    caller_id: str
    user_arn: str
    user_id: str

    def http_api_authorizer(self) -> dict[str, Any]:
        return {
            "iam": {
                "accessKey": self.access_key,
                "accountId": self.account_id,
                "callerId": self.caller_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": self.user_arn,
                "userId": self.user_id,
            }
        }


@dataclass(frozen=True)
class JwtPrincipal:
    claims: dict[str, str]
    scopes: list[str] | None

    def http_api_authorizer(self) -> dict[str, Any]:
        return {
            "jwt": {
                "claims": dict(self.claims),
                "scopes": None if self.scopes is None else list(self.scopes),
            },
            "principalId": "",
            "integrationLatency": 0,
        }


Principal = IamPrincipal | JwtPrincipal


class AuthorizerSimulator:
    """Turns a request's headers into the principal API Gateway would pass on, or a 401."""

    def __init__(
        self, mode: AuthMode, *, clock: Callable[[], float] = time.time, allow_unsigned: bool = False
    ) -> None:
        self.mode = mode
        self._clock = clock
        self.allow_unsigned = allow_unsigned

    def authorize(self, headers: Mapping[str, str]) -> Principal | None:
        """``headers`` are lower-cased. Returns None when the API has no authorizer."""
        if self.mode == "IAM":
            return self._iam(headers)
        if self.mode == "JWT":
            return self._jwt(headers)
        return None

    def _iam(self, headers: Mapping[str, str]) -> IamPrincipal:
        authorization = headers.get("authorization", "")
        named = headers.get(PRINCIPAL_HEADER, "").strip()
        if not (_SIGV4.match(authorization.strip()) or named or self.allow_unsigned):
            raise Forbidden("the request is not signed (SigV4)")
        match = _CREDENTIAL.search(authorization)
        access_key = match.group(1) if match else LOCAL_ACCESS_KEY
        return iam_principal(named or LOCAL_DEVELOPER_ARN, access_key)

    def _jwt(self, headers: Mapping[str, str]) -> JwtPrincipal:
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token", "Bearer")
        try:
            claims = decode_jwt_claims(token.strip())
        except ValueError as error:
            raise Unauthorized(str(error), _invalid_token(str(error))) from None
        now = self._clock()
        # API Gateway checks exp and nbf even though the signature is what proves the token.
        expires = claims.get("exp")
        if isinstance(expires, int | float) and not isinstance(expires, bool) and expires <= now:
            raise Unauthorized("the token has expired", _invalid_token("the token has expired"))
        not_before = claims.get("nbf")
        if isinstance(not_before, int | float) and not isinstance(not_before, bool) and not_before > now:
            raise Unauthorized("the token is not valid yet", _invalid_token("the token is not valid yet"))
        return JwtPrincipal(claims={k: claim_text(v) for k, v in claims.items()}, scopes=_scopes(claims))


def unchecked_signature(access_key: str = LOCAL_ACCESS_KEY, region: str = "eu-west-1") -> str:
    """An ``Authorization`` header shaped like a SigV4 signature, for scripts and tests against the local
    API, which checks only that a request is signed, never the signature (its access key is kept)."""
    scope = f"{access_key}/20260101/{region}/execute-api/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature={'0' * 64}"


def _invalid_token(description: str) -> str:
    return f'Bearer scope="" error="invalid_token" error_description="{description}"'


def iam_principal(arn: str, access_key: str = LOCAL_ACCESS_KEY) -> IamPrincipal:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        raise BadPrincipal(f"{PRINCIPAL_HEADER} must be an IAM ARN, got {arn!r}")
    account_id = parts[4] or LOCAL_ACCOUNT_ID
    # Real ids are opaque; a digest of the ARN keeps each local principal's id stable across requests.
    digest = base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()[:17]
    resource = parts[5]
    if resource.startswith("assumed-role/"):
        session = resource.rsplit("/", 1)[-1]
        user_id = f"AROA{digest}:{session}"
    else:
        user_id = f"AIDA{digest}"
    return IamPrincipal(
        access_key=access_key, account_id=account_id, caller_id=user_id, user_arn=arn, user_id=user_id
    )


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, read without checking the signature (local use only)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("the token is not a JWT (expected header.payload.signature)")
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValueError("the token's payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise ValueError("the token's payload is not a JSON object")
    return claims


def claim_text(value: Any) -> str:
    """API Gateway hands claims to the function as strings; arrays read as "[a b]"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, list):
        return "[" + " ".join(claim_text(item) for item in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def _scopes(claims: Mapping[str, Any]) -> list[str] | None:
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in value]
    return None
