"""Fixture handler: answers 201 with everything it received, so tests can assert on the event."""

from __future__ import annotations

import json
from typing import Any

import helpers  # a sibling module with the same name as the other function's
from fixture_shared import snapshot


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-function": "start"},
        "body": json.dumps(snapshot(event, context, helper=helpers.NAME, module=__name__)),
    }
