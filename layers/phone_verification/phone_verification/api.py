"""The edge: API Gateway (HTTP API 2.0 and REST API 1.0) and direct invocations in, responses out.

Routing is Powertools' event handler, one ``Router`` per function shared by an HTTP API resolver and a
REST API resolver. Domain errors become RFC 9457 problem responses here and nowhere else; for direct
invocations (Step Functions, ``lambda:Invoke``) they are raised as they are, so their class names are
the error names a state machine can ``Retry`` and ``Catch``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from .commands import ANONYMOUS
from .errors import InternalError, InvalidRequest, VerificationError, VerificationNotFound
from .observability import logger, metrics, tracer
from .settings import ConfigurationError

__all__ = [
    "Response",
    "caller",
    "entrypoint",
    "json_response",
    "path_parameter",
    "problem",
    "rate_key",
    "read_json",
]

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 16 * 1024

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
DirectHandler = Callable[[Mapping[str, Any], LambdaContext], dict[str, Any]]


def problem(error: VerificationError) -> Response[str]:
    body = {
        "type": f"urn:phone-verification:problem:{error.code}",
        "title": error.title,
        "status": error.http_status,
        "detail": error.detail,
        "code": error.code,
    }
    headers = {"Cache-Control": "no-store"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, error.retry_after))
    return Response(
        status_code=error.http_status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=headers
    )


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def read_json(event: BaseProxyEvent) -> object:
    """The request body as JSON, or ``InvalidRequest`` (400) when it cannot be read."""
    raw = event.body
    if raw is None or raw == "":
        raise InvalidRequest("The request needs a JSON body.")
    try:
        data = base64.b64decode(raw, validate=True) if event.is_base64_encoded else raw.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidRequest("The body could not be decoded.") from None
    if len(data) > MAX_BODY_BYTES:
        raise InvalidRequest("The body is too large.")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidRequest("The body is not valid JSON.") from None


def path_parameter(event: BaseProxyEvent, name: str) -> str:
    # HTTP API passes path parameters decoded; REST API and raw paths may still carry %2B for '+'.
    value = (event.get("pathParameters") or {}).get(name)
    if not isinstance(value, str):
        raise VerificationNotFound()
    return unquote(value)


def caller(event: BaseProxyEvent) -> str:
    """Who is calling, as the API's authorizer established it; verifications belong to their starter.

    An assumed role's session name is dropped, so every instance of a backend running under one role is
    the same caller.
    """
    context: Mapping[str, Any] = event.get("requestContext") or {}
    authorizer: Mapping[str, Any] = context.get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims") or {}
    if isinstance(claims, Mapping) and claims.get("sub"):
        return f"jwt:{claims.get('iss', '')}:{claims['sub']}"
    arn = (authorizer.get("iam") or {}).get("userArn") or (context.get("identity") or {}).get("userArn")
    if isinstance(arn, str) and arn:
        if ":assumed-role/" in arn:
            arn = arn.rsplit("/", 1)[0]
        return f"iam:{arn}"
    return ANONYMOUS


def rate_key(event: BaseProxyEvent) -> str | None:
    """What the per-caller send limit counts: the authenticated caller, or the source address on an
    open API (where everyone is the same anonymous owner)."""
    owner = caller(event)
    if owner != ANONYMOUS:
        return owner
    context: Mapping[str, Any] = event.get("requestContext") or {}
    address = (context.get("http") or {}).get("sourceIp") or (context.get("identity") or {}).get("sourceIp")
    return f"ip:{address}" if isinstance(address, str) and address else None


def _unexpected(error: Exception) -> Response[str]:
    if isinstance(error, ConfigurationError):
        logger.error("the deployment is misconfigured", extra={"problem": str(error)})
    else:
        logger.exception("unexpected error")
    return problem(InternalError())


def _not_found(_: Exception) -> Response[str]:
    return problem(VerificationNotFound("No such route."))


def _is_http(event: object) -> bool:
    return (
        isinstance(event, Mapping)
        and "requestContext" in event
        and ("routeKey" in event or "httpMethod" in event)
    )


def _correlation_id(event: object, context: LambdaContext) -> str:
    request_context = event.get("requestContext") if isinstance(event, Mapping) else None
    request_id = request_context.get("requestId") if isinstance(request_context, Mapping) else None
    return request_id if isinstance(request_id, str) else context.aws_request_id


def entrypoint(router: Router, direct: DirectHandler) -> Handler:
    """The Lambda handler for a function: HTTP events through ``router``, anything else to ``direct``."""
    router.exception_handler(VerificationError)(problem)
    router.exception_handler(Exception)(_unexpected)
    http_api = APIGatewayHttpResolver()
    rest_api = APIGatewayRestResolver()
    for resolver in (http_api, rest_api):
        resolver.include_router(router)
        resolver.not_found(_not_found)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        logger.set_correlation_id(_correlation_id(event, context))
        if _is_http(event):
            resolver = http_api if event.get("version") == "2.0" else rest_api
            return resolver.resolve(event, context)
        try:
            return direct(event, context)
        except VerificationError as error:
            logger.info("request refused", extra={"code": error.code})
            raise
        except ConfigurationError as error:
            logger.error("the deployment is misconfigured", extra={"problem": str(error)})
            raise InternalError() from None
        except Exception:
            logger.exception("unexpected error")
            raise InternalError() from None

    handler: Handler = lambda_handler
    return handler
