"""Powertools Logger, Tracer and Metrics, configured once for the whole package.

Nothing here logs request bodies, codes, CLIs, secrets or full numbers: modules log ids, methods, masked
numbers and error codes only. The package's stdlib loggers (Sinch client, store) are routed through the
Powertools Logger so every line is structured JSON with the correlation id.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from .sinch import SinchCall

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "phone-verification"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "PhoneVerification"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
copy_config_to_registered_loggers(source_logger=logger, include={"phone_verification"})

# At DEBUG the AWS SDK and urllib3 log whole requests and responses, and Secrets Manager's response is
# the Sinch secret. Lambda sets the root logger to the function's log level (LogLevel=DEBUG included),
# so these stay at WARNING whatever the function's level; SDK_LOG_LEVEL overrides it deliberately.
for _name in ("botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(os.environ.get("SDK_LOG_LEVEL", "WARNING").upper())

_OUTCOME_METRICS = {
    "started": "VerificationStarted",
    "verified": "VerificationSucceeded",
    "failed": "VerificationFailed",
    "refused": "VerificationRefused",
    "sinch_report_failed": "SinchReportFailed",
}


class MetricOutcomes:
    """EMF metrics per outcome, with the method (and reason) as dimensions."""

    def record(self, outcome: str, method: str, reason: str | None = None) -> None:
        if is_metrics_disabled():  # single_metric itself ignores POWERTOOLS_METRICS_DISABLED
            return
        name = _OUTCOME_METRICS.get(outcome, outcome)
        # One EMF document per outcome: dimensions differ between outcomes, and a shared blob would
        # force one dimension set on all of them.
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=1,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            metric.add_dimension(name="method", value=method)
            if reason:
                metric.add_dimension(name="reason", value=reason)


def record_sinch_call(call: SinchCall) -> None:
    """Service-level counters behind the "Sinch failure rate" alarm."""
    metrics.add_metric(name="SinchRequests", unit=MetricUnit.Count, value=1)
    if call.http_status is None or call.http_status in (401, 429) or call.http_status >= 500:
        metrics.add_metric(name="ProviderFailure", unit=MetricUnit.Count, value=1)
