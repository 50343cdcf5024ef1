"""Client for the Sinch Verification REST API (start, report, status; signed or Basic auth), and the
adapter (``sinch.adapter``) that puts it behind the use cases' ``SinchGateway`` port."""

from phone_verification.model import Method

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
    CodeType,
    FlashcallStartDetails,
    ReportResult,
    SmsStartDetails,
    StartResult,
    Status,
    StatusResult,
)
from .request_models import (
    CalloutStart,
    CliReport,
    CodeReport,
    FlashcallStart,
    Report,
    SmsStart,
    StartRequest,
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
    "FlashcallStartDetails",
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
    "SmsStartDetails",
    "StartRequest",
    "StartResult",
    "StaticCredentials",
    "Status",
    "StatusResult",
    "WhatsappStart",
]
