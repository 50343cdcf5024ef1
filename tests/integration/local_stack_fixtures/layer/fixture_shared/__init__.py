"""The fixture's layer: proves the layer's folder is importable like /opt/python."""

from __future__ import annotations

import os
from typing import Any

VARIABLES = (
    "TABLE_NAME",
    "SINCH_SECRET_ARN",
    "SINCH_BASE_URL",
    "VERIFICATION_TTL_SECONDS",
    "POWERTOOLS_SERVICE_NAME",
    "AWS_ENDPOINT_URL",
    "AWS_LAMBDA_FUNCTION_NAME",
)


def snapshot(event: Any, context: Any, *, helper: str, module: str) -> dict[str, Any]:
    return {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "env": {name: os.environ.get(name) for name in VARIABLES},
        "helper": helper,
        "module": module,
    }
