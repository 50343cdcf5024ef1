"""Fixture handler: the {id} path parameter picks a response shape to test API Gateway's mapping."""

from __future__ import annotations

import base64
import json
import os
from decimal import Decimal
from typing import Any

import boto3
import helpers
from fixture_shared import snapshot


class VerificationExpired(Exception):
    """Named like the product's errors: Step Functions would Catch it by this name."""


def _aws_roundtrip() -> dict[str, Any]:
    # Uses only the environment, exactly as the product's store and secrets code do.
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SINCH_SECRET_ARN"])
    table = boto3.client("dynamodb")
    table.put_item(TableName=os.environ["TABLE_NAME"], Item={"pk": {"S": "fixture"}, "n": {"N": "7"}})
    item = table.get_item(TableName=os.environ["TABLE_NAME"], Key={"pk": {"S": "fixture"}})["Item"]
    return {"secret_keys": sorted(json.loads(secret["SecretString"])), "item_n": item["n"]["N"]}


def lambda_handler(event: dict[str, Any], context: Any) -> Any:  # noqa: PLR0911 - one shape per case
    if "requestContext" not in event:  # direct invocation (Step Functions, lambda:Invoke)
        if event.get("raise"):
            raise VerificationExpired("the verification has expired")
        if event.get("aws"):
            return _aws_roundtrip()
        return {"echo": event, **snapshot(event, context, helper=helpers.NAME, module=__name__)}
    case = (event.get("pathParameters") or {}).get("id", "")
    if case == "boom":
        raise RuntimeError("the fixture handler failed on purpose")
    if case == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(b"\x00\xffbinary").decode(),
            "isBase64Encoded": True,
        }
    if case == "cookies":
        return {
            "statusCode": 204,
            "headers": {"x-single": "one"},
            "multiValueHeaders": {"x-multi": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        }
    if case == "plain":
        return {"id": "plain", "status": "PENDING", "attempts": Decimal("2")}
    if case == "bad-status":
        return {"statusCode": "teapot", "body": "x"}
    if case == "not-json":
        return {"statusCode": 200, "body": object()}
    if case == "aws":
        return {"statusCode": 200, "body": json.dumps(_aws_roundtrip())}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(snapshot(event, context, helper=helpers.NAME, module=__name__)),
    }
