"""Client for the Sinch Verification REST API (start, report, status; signed or Basic auth)."""

from .client import DEFAULT_BASE_URL, CredentialsProvider, SinchCall, SinchClient, StaticCredentials
from .errors import (
    SinchAuthenticationFailed,
    SinchError,
    SinchNotFound,
    SinchRateLimited,
    SinchRequestRejected,
    SinchUnavailable,
)
from .models import (
    CalloutStart,
    CliReport,
    CodeReport,
    CodeType,
    FlashcallStart,
    Method,
    Report,
    ReportResult,
    SmsStart,
    StartRequest,
    StartResult,
    Status,
    StatusResult,
    WhatsappStart,
)
from .signing import Credentials

__all__ = [
    "DEFAULT_BASE_URL",
    "CalloutStart",
    "CliReport",
    "CodeReport",
    "CodeType",
    "Credentials",
    "CredentialsProvider",
    "FlashcallStart",
    "Method",
    "Report",
    "ReportResult",
    "SinchAuthenticationFailed",
    "SinchCall",
    "SinchClient",
    "SinchError",
    "SinchNotFound",
    "SinchRateLimited",
    "SinchRequestRejected",
    "SinchUnavailable",
    "SmsStart",
    "StartRequest",
    "StartResult",
    "StaticCredentials",
    "Status",
    "StatusResult",
    "WhatsappStart",
]
