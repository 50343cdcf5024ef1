"""The floor of the start flow: the least a handler can import and do for one SMS verification start.

One Sinch start (Application-signed, as the product signs by default) and one DynamoDB ``put_item``;
no validation, no logging, no metrics, no rate limit, no secret fetch (the credentials come from the
environment). Clients are created at import, as most hand-written handlers do.

With tracing on (``FLOOR_XRAY=1``, set by the benchmark) it is the least a traced function does: the
X-Ray SDK patches botocore and requests, so each call is a subsegment of Lambda's facade segment,
streamed to the X-Ray daemon as it ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

if os.environ.get("FLOOR_XRAY") == "1":
    from aws_xray_sdk.core import patch  # type: ignore[import-untyped]

    patch(("botocore", "requests"))

TABLE = os.environ["TABLE_NAME"]
BASE_URL = os.environ["SINCH_BASE_URL"].rstrip("/")
KEY = os.environ["SINCH_APPLICATION_KEY"]
SECRET = base64.b64decode(os.environ["SINCH_APPLICATION_SECRET"])
PATH = "/verification/v1/verifications"
CONTENT_TYPE = "application/json; charset=utf-8"

dynamodb = boto3.client("dynamodb")
session = requests.Session()


def _signed(body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    message = f"POST\n{md5}\n{CONTENT_TYPE}\nx-timestamp:{timestamp}\n{PATH}".encode()
    signature = base64.b64encode(hmac.new(SECRET, message, hashlib.sha256).digest()).decode()
    return {
        "Authorization": f"Application {KEY}:{signature}",
        "x-timestamp": timestamp,
        "Content-Type": CONTENT_TYPE,
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    number = json.loads(event["body"])["phoneNumber"]
    body = json.dumps({"identity": {"type": "number", "endpoint": number}, "method": "sms"}).encode()
    started = session.post(BASE_URL + PATH, data=body, headers=_signed(body), timeout=(3.05, 8)).json()
    dynamodb.put_item(
        TableName=TABLE, Item={"pk": {"S": f"floor#{started['id']}"}, "status": {"S": "PENDING"}}
    )
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"id": started["id"], "status": "PENDING"}),
    }
