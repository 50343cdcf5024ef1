"""The peer: the start handler a user would write without this package.

Powertools (Logger, Tracer, Metrics; the tracer on or off, POWERTOOLS_TRACE_DISABLED, as for ours) and
its HTTP API resolver, boto3, and Sinch's own Python SDK ``sinch==1.1.4`` (the last release with
Verification), which generates the code itself. One Sinch start and one ``put_item``; credentials from
the environment. It runs in its own virtual environment (requirements-bench.txt).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from sinch import SinchClient

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "PeerVerification"))
app = APIGatewayHttpResolver()

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
sinch = SinchClient(
    application_key=os.environ["SINCH_APPLICATION_KEY"],
    application_secret=os.environ["SINCH_APPLICATION_SECRET"],
)
_base = urlsplit(os.environ.get("SINCH_BASE_URL", "https://verification.api.sinch.com"))
sinch.configuration.verification_origin = _base.netloc
sinch.configuration.disable_https = _base.scheme == "http"


@app.post("/verifications")
@tracer.capture_method(capture_response=False)
def start() -> tuple[dict[str, Any], int]:
    body = app.current_event.json_body
    started = sinch.verification.verifications.start_sms(
        identity={"type": "number", "endpoint": body["phoneNumber"]}
    )
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"peer#{started.id}"}, "status": {"S": "PENDING"}})
    metrics.add_metric(name="VerificationStarted", unit=MetricUnit.Count, value=1)
    logger.info("verification started", extra={"verification_id": started.id})
    return {"id": started.id, "status": "PENDING"}, 201


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
