"""The edge: API Gateway (HTTP API 2.0 and REST API 1.0) and direct invocations in, responses out.

Each function registers its routes on a ``Router``; ``entrypoint`` turns it into the Lambda handler.
Domain errors become RFC 9457 problem responses here and nowhere else; for direct invocations (Step
Functions, ``lambda:Invoke``) they are raised as they are, so their class names are the error names a
state machine can ``Retry`` and ``Catch``.

Why not Powertools' event handler: importing any of its resolvers imports all of them (AppSync with
asyncio, Bedrock agents, VPC Lattice, the OpenAPI machinery), about 100 ms of a cold start that is
~500 ms in all, and it added ~0.2 ms to every warm request. The package serves four fixed routes from
two event shapes; matching them is the few lines below. Logger, Tracer and Metrics stay Powertools.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .commands import ANONYMOUS
from .errors import InternalError, InvalidRequest, UnidentifiedCaller, VerificationError, VerificationNotFound
from .observability import logger, metrics, record_refusal, tracer
from .settings import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = [
    "Request",
    "Response",
    "Router",
    "caller",
    "entrypoint",
    "http_status",
    "json_response",
    "path_parameter",
    "problem",
    "rate_key",
    "read_json",
]

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 16 * 1024

Handler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]
DirectHandler = Callable[[Mapping[str, Any], "LambdaContext"], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    body: str
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_event(self, rest_api: bool) -> dict[str, Any]:
        """The proxy integration's answer: REST APIs (1.0) take multi-value headers, HTTP APIs (2.0) not."""
        headers = {"Content-Type": self.content_type, **self.headers}
        answer: dict[str, Any] = {"statusCode": self.status_code, "body": self.body, "isBase64Encoded": False}
        if rest_api:
            answer["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
        else:
            answer["headers"] = headers
            answer["cookies"] = []
        return answer


@dataclass(frozen=True, slots=True)
class Request:
    """An API Gateway proxy event (either payload version) and the invocation's context."""

    event: Mapping[str, Any]
    context: LambdaContext
    headers: Mapping[str, str]  # names in lower case: HTTP header names are case-insensitive
    # API Gateway's path parameters, or the router's own when it matched the path (a catch-all route).
    path_parameters: Mapping[str, Any]

    @classmethod
    def of(
        cls,
        event: Mapping[str, Any],
        context: LambdaContext,
        path_parameters: Mapping[str, Any] | None = None,
    ) -> Request:
        raw = event.get("headers")
        headers = (
            {str(name).lower(): value for name, value in raw.items()} if isinstance(raw, Mapping) else {}
        )
        if path_parameters is None:
            given = event.get("pathParameters")
            path_parameters = given if isinstance(given, Mapping) else {}
        return cls(event, context, headers, path_parameters)


RouteHandler = Callable[[Request], Response]


def _route_pattern(path: str) -> re.Pattern[str]:
    # "{name}" is one path segment, as in the template's routes and the OpenAPI document.
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


class Router:
    """A function's routes: ``(method, path template)`` to the function that answers them."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, re.Pattern[str], RouteHandler]] = []

    @property
    def routes(self) -> list[tuple[str, str]]:
        """``(METHOD, "/path/{param}")`` for every route, in the template's notation."""
        return [(method, path) for method, path, _, _ in self._routes]

    def route(self, method: str, path: str) -> Callable[[RouteHandler], RouteHandler]:
        def register(handler: RouteHandler) -> RouteHandler:
            self._routes.append((method.upper(), path, _route_pattern(path), handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("GET", path)

    def post(self, path: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("POST", path)

    def put(self, path: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("PUT", path)

    def delete(self, path: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("DELETE", path)

    def find(self, method: str, path: str) -> RouteHandler | None:
        found = self.match(method, path)
        return found[0] if found else None

    def match(self, method: str, path: str) -> tuple[RouteHandler, dict[str, str]] | None:
        """The route for a path, with its parameters."""
        for route_method, _, pattern, handler in self._routes:
            matched = pattern.match(path) if route_method == method else None
            if matched:
                return handler, matched.groupdict()
        return None

    def find_route(self, method: str, template: str) -> RouteHandler | None:
        for route_method, route_path, _, handler in self._routes:
            if route_method == method and route_path == template:
                return handler
        return None

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        rest_api = event.get("version") != "2.0"
        method, template = _method_and_route(event, rest_api)
        parameters: dict[str, str] | None = None
        if template is not None:
            handler = self.find_route(method, template)
        else:
            found = self.match(*_method_and_path(event, rest_api))
            handler, parameters = found if found else (None, None)
        try:
            if handler is None:
                raise VerificationNotFound("No such route.")
            response = handler(Request.of(event, context, parameters))
        except VerificationError as error:
            record_refusal(error.code)
            response = problem(error)
        except Exception as error:
            response = _unexpected(error)
        return response.to_event(rest_api)


def _method_and_route(event: Mapping[str, Any], rest_api: bool) -> tuple[str, str | None]:
    """The method and the route template API Gateway matched: ``routeKey`` (HTTP API) or ``resource``
    (REST API). They hold whatever the request's path was, so routing does not depend on a custom domain's
    base path mapping (``/v1/verifications/...``) or a stage. None for a catch-all route (``$default``,
    ``{proxy+}``), which leaves the path to match."""
    if rest_api:
        method, template = event.get("httpMethod"), event.get("resource")
    else:
        route_key = event.get("routeKey")
        method, _, template = route_key.partition(" ") if isinstance(route_key, str) else ("", "", None)
        if method == "ANY":  # a route for every method: the request's own is in the context
            method = _method_and_path(event, rest_api)[0]
    method = method.upper() if isinstance(method, str) else ""
    if not isinstance(template, str) or not template.startswith("/") or "+}" in template:
        return method, None
    return method, template


def _method_and_path(event: Mapping[str, Any], rest_api: bool) -> tuple[str, str]:
    if rest_api:
        method, path = event.get("httpMethod"), event.get("path")
    else:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        method = http.get("method") if isinstance(http, Mapping) else None
        path = event.get("rawPath")
        stage = context.get("stage") if isinstance(context, Mapping) else None
        # A named stage (not $default) is part of the raw path; routes are relative to the stage.
        if isinstance(path, str) and isinstance(stage, str) and stage != "$default":
            prefix = "/" + stage
            if path == prefix or path.startswith(prefix + "/"):
                path = path[len(prefix) :]
    return (method.upper() if isinstance(method, str) else "", path if isinstance(path, str) else "")


# The one place domain errors become HTTP statuses (the README's error table), by their API code.
HTTP_STATUS: Mapping[str, int] = {
    "invalid_request": 422,
    "not_found": 404,
    "expired": 410,
    "cancelled": 410,
    "no_channel_left": 409,
    "already_verified": 409,
    "conflict": 409,
    "too_many_attempts": 429,
    "rate_limited": 429,
    "destination_denied": 403,
    "unidentified_caller": 403,
    "provider_rejected": 422,
    "provider_unavailable": 503,
    "unavailable": 503,
    "internal_error": 500,
}


def http_status(error: VerificationError) -> int:
    """422 for a readable request with a wrong field, 400 for one that cannot be read at all."""
    if isinstance(error, InvalidRequest) and error.unreadable:
        return 400
    return HTTP_STATUS.get(error.code, 500)


def problem(error: VerificationError) -> Response:
    status = http_status(error)
    body = {
        "type": f"urn:phone-verification:problem:{error.code}",
        "title": error.title,
        "status": status,
        "detail": error.detail,
        "code": error.code,
    }
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        body["reason"] = reason
    headers = {"Cache-Control": "no-store"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, error.retry_after))
    return Response(status, json.dumps(body), PROBLEM_JSON, headers)


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status,
        json.dumps(body, separators=(",", ":")),
        "application/json",
        {"Cache-Control": "no-store", **(headers or {})},
    )


def read_json(request: Request) -> object:
    """The request body as JSON, or ``InvalidRequest`` (400) when it cannot be read."""
    raw = request.event.get("body")
    if not isinstance(raw, str) or raw == "":
        raise InvalidRequest("The request needs a JSON body.", unreadable=True)
    try:
        data = (
            base64.b64decode(raw, validate=True)
            if request.event.get("isBase64Encoded")
            else raw.encode("utf-8")
        )
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidRequest("The body could not be decoded.", unreadable=True) from None
    if len(data) > MAX_BODY_BYTES:
        raise InvalidRequest("The body is too large.", unreadable=True)
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON and undecodable bytes, and also an integer of more digits than
        # Python converts (sys.get_int_max_str_digits(), 4300 by default), which json.loads refuses
        # with a plain ValueError.
        raise InvalidRequest("The body is not valid JSON.", unreadable=True) from None


def path_parameter(request: Request, name: str) -> str:
    # HTTP API passes path parameters decoded; REST API and raw paths may still carry %2B for '+'.
    value = request.path_parameters.get(name)
    if not isinstance(value, str):
        raise VerificationNotFound()
    return unquote(value)


def caller(request: Request) -> str:
    """Who is calling, as the API's authorizer established it; verifications belong to their starter.

    An assumed role's session name is dropped, so every instance of a backend running under one role is
    the same caller. Without an authorizer (``ApiAuth=NONE``) every caller is the anonymous one. With one
    whose result names nobody (a JWT without ``sub``, a custom authorizer) the caller is refused: treating
    it as anonymous would hand it every verification started without an owner.
    """
    context: Mapping[str, Any] = request.event.get("requestContext") or {}
    authorizer: Mapping[str, Any] = context.get("authorizer") or {}
    identity: Mapping[str, Any] = context.get("identity") or {}
    if "jwt" in authorizer or "claims" in authorizer:  # HTTP API JWT, REST API Cognito authorizers
        return _jwt_caller(authorizer)
    arn = (authorizer.get("iam") or {}).get("userArn") or identity.get("userArn")
    if isinstance(arn, str) and arn:
        if ":assumed-role/" in arn:
            arn = arn.rsplit("/", 1)[0]
        return f"iam:{arn}"
    if authorizer or identity.get("accessKey"):
        # An IAM authorizer without a principal, or an authorizer of a kind this package does not read.
        raise UnidentifiedCaller()
    return ANONYMOUS


def _jwt_caller(authorizer: Mapping[str, Any]) -> str:
    jwt = authorizer.get("jwt")
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else authorizer.get("claims")
    sub = claims.get("sub") if isinstance(claims, Mapping) else None
    if not isinstance(claims, Mapping) or not isinstance(sub, str) or not sub:
        raise UnidentifiedCaller()
    return f"jwt:{claims.get('iss', '')}:{sub}"


def rate_key(request: Request) -> str | None:
    """What the per-caller send limit counts: the authenticated caller, or the source address on an
    open API (where everyone is the same anonymous owner)."""
    owner = caller(request)
    if owner != ANONYMOUS:
        return owner
    context: Mapping[str, Any] = request.event.get("requestContext") or {}
    address = (context.get("http") or {}).get("sourceIp") or (context.get("identity") or {}).get("sourceIp")
    return f"ip:{address}" if isinstance(address, str) and address else None


def _unexpected(error: Exception) -> Response:
    if isinstance(error, ConfigurationError):
        logger.error("the deployment is misconfigured", extra={"problem": str(error)})
    else:
        logger.exception("unexpected error")
    return problem(InternalError())


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
    cold_start = [True]

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        logger.set_correlation_id(_correlation_id(event, context))
        if cold_start[0]:
            cold_start[0] = False
            metrics.count("ColdStart", function_name=context.function_name)
        try:
            if _is_http(event):
                return router.resolve(event, context)
            return _direct(direct, event, context)
        finally:
            metrics.flush()

    # With tracing off (POWERTOOLS_TRACE_DISABLED, sam local, outside Lambda) Powertools would still
    # open and close a dummy subsegment per request.
    traced = handle if tracer.disabled else tracer.capture_lambda_handler(capture_response=False)(handle)
    lambda_handler: Handler = logger.inject_lambda_context(clear_state=True)(traced)
    return lambda_handler


def _direct(direct: DirectHandler, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return direct(event, context)
    except VerificationError as error:
        logger.info("request refused", extra={"code": error.code})
        record_refusal(error.code)
        raise
    except ConfigurationError as error:
        logger.error("the deployment is misconfigured", extra={"problem": str(error)})
        raise InternalError() from None
    except Exception:
        logger.exception("unexpected error")
        raise InternalError() from None
