"""Python client for the phone-verification API (AWS SAM + Sinch Verification).

from phone_verification_client import Client

client = Client("https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com")  # SigV4, your AWS credentials
started = client.start("+46700000001")
verified = client.report(started.id, code="482913").succeeded
"""

from phone_verification_client._version import __version__
from phone_verification_client.auth import BearerAuth, SigV4Auth
from phone_verification_client.client import Client
from phone_verification_client.errors import (
    AlreadyVerified,
    Cancelled,
    Conflict,
    ConnectionFailed,
    DestinationDenied,
    Expired,
    Forbidden,
    InternalError,
    InvalidRequest,
    MissingCredentials,
    MissingRegion,
    NoChannelLeft,
    NotFound,
    PhoneVerificationError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TemporarilyUnavailable,
    Throttled,
    TooManyAttempts,
    Unauthorized,
    Unavailable,
    UnexpectedResponse,
    UnidentifiedCaller,
)
from phone_verification_client.models import Verification

__all__ = [
    "AlreadyVerified",
    "BearerAuth",
    "Cancelled",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "DestinationDenied",
    "Expired",
    "Forbidden",
    "InternalError",
    "InvalidRequest",
    "MissingCredentials",
    "MissingRegion",
    "NoChannelLeft",
    "NotFound",
    "PhoneVerificationError",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimited",
    "SigV4Auth",
    "TemporarilyUnavailable",
    "Throttled",
    "TooManyAttempts",
    "Unauthorized",
    "Unavailable",
    "UnexpectedResponse",
    "UnidentifiedCaller",
    "Verification",
    "__version__",
]
