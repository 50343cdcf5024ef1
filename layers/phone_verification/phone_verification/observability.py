"""Powertools Logger and Tracer for the whole package, and its metrics in CloudWatch's Embedded Metric
Format (EMF).

Nothing here logs request bodies, codes, CLIs, secrets or full numbers: modules log ids, methods, masked
numbers and error codes only. The package's stdlib loggers (Sinch client, store) are routed through the
Powertools Logger so every line is structured JSON with the correlation id.

Metrics are counted during an invocation and written as one EMF document when it ends. Why not
Powertools Metrics: it flushes one dimension set per document, while the outcome metrics carry the
method (and reason) and the Sinch counters behind the failure-rate alarm carry the service only. That
took a ``single_metric`` document per outcome plus the invocation's own, each built, validated and
printed separately (~0.15 ms of a ~1 ms warm request). EMF allows several metric directives, each
with its own dimensions, in one document: same metrics in CloudWatch, one line in the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from .sinch import SinchCall

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "phone-verification"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "PhoneVerification"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
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
    "next": "NextChannelSent",
    "cancelled": "VerificationCancelled",
}

Dimensions = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
Value = int | list[float]  # a count, or the values observed (EMF takes up to 100 per metric and document)

# Metrics that are not counts, with their CloudWatch unit.
_UNITS = {"SinchLatency": "Milliseconds"}

# Lambda's JSON log format filters application logs by their "level" (TRACE ... FATAL) and gives a line
# without one INFO: at LogLevel WARN or ERROR every EMF line would be dropped, and every metric with it.
_LAMBDA_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def emf_log_level() -> str:
    """The level an EMF line carries: the function's own log level (``AWS_LAMBDA_LOG_LEVEL``, which
    Lambda sets from the template's ``ApplicationLogLevel``), the lowest level its filter lets through."""
    raw = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO").upper()
    level = _LEVEL_ALIASES.get(raw, raw)
    return level if level in _LAMBDA_LEVELS else "INFO"


def _rfc3339(milliseconds: int) -> str:
    # Lambda honours a line's level only with a valid RFC 3339 "timestamp" beside it.
    seconds, fraction = divmod(milliseconds, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:03d}Z"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "y", "t")


def metrics_disabled() -> bool:
    """As Powertools decides it: POWERTOOLS_METRICS_DISABLED, else off under ``sam local``."""
    explicit = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    if explicit is not None:
        return _truthy(explicit)
    return _truthy(os.environ.get("AWS_SAM_LOCAL"))


class EmfMetrics:
    """Counters of the current invocation, written to stdout as EMF when ``flush`` is called.

    Pending counts are per thread: Lambda runs one invocation at a time, but the local stack serves
    concurrent requests from threads of one process.
    """

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace = namespace
        self.service = service
        self.disabled = metrics_disabled()
        self._pending = threading.local()

    def _counts(self) -> dict[tuple[str, Dimensions], Value]:
        counts: dict[tuple[str, Dimensions], Value] | None = getattr(self._pending, "counts", None)
        if counts is None:
            counts = self._pending.counts = {}
        return counts

    def count(self, name: str, **dimensions: str | None) -> None:
        if self.disabled:
            return
        pairs = {"service": self.service, **{k: v for k, v in dimensions.items() if v}}
        key = (name, tuple(sorted(pairs.items())))
        counts = self._counts()
        count = counts.get(key, 0)
        counts[key] = (count if isinstance(count, int) else 0) + 1

    def observe(self, name: str, value: float, **dimensions: str | None) -> None:
        """One more value of ``name`` (a unit from ``_UNITS``): CloudWatch keeps its percentiles."""
        if self.disabled:
            return
        pairs = {"service": self.service, **{k: v for k, v in dimensions.items() if v}}
        key = (name, tuple(sorted(pairs.items())))
        counts = self._counts()
        values = counts.get(key)
        if isinstance(values, list):
            values.append(round(value, 3))
        else:
            counts[key] = [round(value, 3)]

    def flush(self) -> None:
        counts = self._counts()
        if not counts:
            return
        entries = list(counts.items())
        counts.clear()
        timestamp = int(time.time() * 1000)
        level = {"level": emf_log_level(), "timestamp": _rfc3339(timestamp)}
        for document in emf_documents(self.namespace, entries, timestamp):
            print(json.dumps({**level, **document}, separators=(",", ":")), flush=True)


def emf_documents(
    namespace: str, entries: Iterable[tuple[tuple[str, Dimensions], Value]], timestamp: int
) -> list[dict[str, object]]:
    """As few EMF documents as the entries fit in: a document holds each metric name once and one value
    per dimension name, so entries that would clash go to the next one."""
    documents: list[tuple[dict[str, str], dict[str, Value], dict[tuple[str, ...], list[str]]]] = []
    for (name, dimensions), value in entries:
        fits = (
            document
            for document in documents
            if name not in document[1] and all(document[0].get(k, v) == v for k, v in dimensions)
        )
        document = next(fits, None)
        if document is None:
            document = ({}, {}, {})
            documents.append(document)
        values, metrics, directives = document
        values.update(dimensions)
        metrics[name] = value
        directives.setdefault(tuple(k for k, _ in dimensions), []).append(name)
    return [
        {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(names)],
                        "Metrics": [
                            {"Name": metric, "Unit": _UNITS.get(metric, "Count")} for metric in names_metrics
                        ],
                    }
                    for names, names_metrics in directives.items()
                ],
            },
            **values,
            **metrics,
        }
        for values, metrics, directives in documents
    ]


metrics = EmfMetrics(NAMESPACE, SERVICE)


# Outcomes also counted per destination country and method: the conversion rate per country (succeeded /
# started) behind the dashboards, and the fraud guard's refusals by country and rule.
_BY_COUNTRY = {
    "started": "StartedByCountry",
    # A channel sent by ``next`` is a send like a start's: the conversion rate counts sends.
    "next": "StartedByCountry",
    "verified": "SucceededByCountry",
    "guard_refused": "FraudGuardRefused",
    "guard_would_refuse": "FraudGuardWouldRefuse",
}


class MetricOutcomes:
    """A metric per outcome, with the method (and the reason, when there is one) as dimensions; the
    outcomes of ``_BY_COUNTRY`` once more by country."""

    def record(
        self, outcome: str, method: str, reason: str | None = None, country: str | None = None
    ) -> None:
        by_country = _BY_COUNTRY.get(outcome)
        if outcome in _OUTCOME_METRICS or by_country is None:
            metrics.count(_OUTCOME_METRICS.get(outcome, outcome), method=method, reason=reason)
        if by_country is not None and country:
            if outcome.startswith("guard_"):
                metrics.count(by_country, country=country, rule=reason)
            else:
                metrics.count(by_country, country=country, method=method)


def record_sinch_call(call: SinchCall) -> None:
    """Service-level counters behind the "Sinch failure rate" alarm, and the call's latency by operation
    (start, report, status) for the dashboard."""
    metrics.count("SinchRequests")
    metrics.observe("SinchLatency", call.seconds * 1000, operation=call.operation)
    if call.http_status is None or call.http_status in (401, 429) or call.http_status >= 500:
        metrics.count("ProviderFailure")


def record_refusal(code: str) -> None:
    """A request answered with a domain error (rate_limited, destination_denied, not_found, ...), by its
    code: every refusal of every route and caller type, where the outcome metrics count only some."""
    metrics.count("RequestRefused", code=code)


def record_event_put_failed() -> None:
    """A lifecycle event that was not put on EventBridge (``events.EventBridgeEvents``), by service only:
    one series for every function and change."""
    metrics.count("EventPutFailed")
