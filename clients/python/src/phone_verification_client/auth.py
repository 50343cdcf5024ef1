"""How a request proves who is calling: the deployment's ``ApiAuth`` decides which.

- ``ApiAuth=IAM`` (the default): :class:`SigV4Auth` signs with AWS Signature Version 4, service
  ``execute-api``, with the standard AWS credential chain.
- ``ApiAuth=JWT``: :class:`BearerAuth` sends ``Authorization: Bearer <token>``.
- ``ApiAuth=NONE`` (development stacks): no auth (``Client(..., auth=None)``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests.auth

from phone_verification_client.errors import MissingCredentials, MissingRegion

if TYPE_CHECKING:
    from botocore.credentials import Credentials, ReadOnlyCredentials
    from botocore.session import Session as BotocoreSession
    from requests import PreparedRequest

SERVICE = "execute-api"

# <api id>.execute-api.<region>.amazonaws.com (also .com.cn, and private APIs' <api id>-<vpce id>.execute-api.
# <region>.vpce.amazonaws.com).
_EXECUTE_API_HOST = re.compile(
    r"^[a-z0-9-]+\.execute-api\.(?P<region>[a-z0-9-]+-\d+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$"
)

# The headers that are signed: the ones the API reads, never those a proxy or the HTTP stack may change
# on the way (Connection, Accept-Encoding, User-Agent, Content-Length).
_SIGNED_HEADERS = ("host", "content-type", "idempotency-key")
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def region_of_url(url: str) -> str | None:
    """The region in an ``execute-api`` host (the stack's ``ApiUrl``); None for a custom domain."""
    host = (urlsplit(url).hostname or "").lower()
    found = _EXECUTE_API_HOST.match(host)
    return found["region"] if found else None


class SigV4Auth(requests.auth.AuthBase):
    """AWS Signature Version 4 for ``execute-api``, as API Gateway's IAM authorization expects.

    ``credentials``: botocore credentials (``Credentials``, refreshable or not, or frozen
    ``ReadOnlyCredentials``); by default the standard chain (environment, shared config and credential
    files, SSO, container and instance roles) through ``botocore.session.get_session()``, looked up on the
    first request. Refreshable credentials (an assumed role, SSO, instance metadata) are refreshed as
    botocore does: ``get_frozen_credentials()`` is called for every request.

    ``region``: by default the region in the API's host (``<id>.execute-api.<region>.amazonaws.com``),
    else the AWS configuration's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``).
    """

    def __init__(
        self,
        region: str | None = None,
        credentials: Credentials | ReadOnlyCredentials | None = None,
        *,
        botocore_session: BotocoreSession | None = None,
    ) -> None:
        self.region = region
        self._credentials = credentials
        self._session = botocore_session
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SigV4Auth(region={self.region!r})"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        from botocore.auth import SigV4Auth as BotocoreSigV4Auth
        from botocore.awsrequest import AWSRequest

        url = request.url or ""
        signed = {name: value for name, value in request.headers.items() if name.lower() in _SIGNED_HEADERS}
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        aws_request = AWSRequest(method=request.method, url=url, headers=signed, data=body or b"")
        BotocoreSigV4Auth(self.frozen_credentials(), SERVICE, self.region_for(url)).add_auth(aws_request)
        for name in _SIGNATURE_HEADERS:
            value = aws_request.headers.get(name)
            if value is not None:
                request.headers[name] = value
        return request

    def region_for(self, url: str) -> str:
        region = self.region or region_of_url(url) or self._botocore_session().get_config_variable("region")
        if not region:
            raise MissingRegion(
                detail="Pass SigV4Auth(region=...) or set AWS_REGION: the API's host names no region."
            )
        return str(region)

    def frozen_credentials(self) -> ReadOnlyCredentials:
        """This request's credentials (refreshed first when they are about to expire)."""
        from botocore.credentials import ReadOnlyCredentials

        credentials = self._credentials
        if credentials is None:
            with self._lock:
                if self._credentials is None:
                    self._credentials = self._botocore_session().get_credentials()
                credentials = self._credentials
        if credentials is None:
            raise MissingCredentials(
                detail="No AWS credentials were found (environment, ~/.aws, SSO or a role)."
            )
        if isinstance(credentials, ReadOnlyCredentials):
            return credentials
        return credentials.get_frozen_credentials()

    def _botocore_session(self) -> BotocoreSession:
        if self._session is None:
            import botocore.session

            self._session = botocore.session.get_session()
        return self._session


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` for ``ApiAuth=JWT``.

    ``token`` is the JWT, or a function that returns a current one; it is called for every request, so it
    can cache and refresh a token from your identity provider.
    """

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        token = self._token() if callable(self._token) else self._token
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise ValueError("BearerAuth: the token is empty")
        request.headers["Authorization"] = f"Bearer {token}"
        return request
