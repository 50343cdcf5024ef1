"""The local API Gateway: HTTP request -> route -> real Lambda event -> handler -> HTTP response.

``Gateway`` holds the API Gateway behaviour and does no I/O, so it can be exercised directly; ``Front``
serves it on loopback with a threading HTTP server. Events are built to AWS's payload formats (2.0 for
HTTP API routes, 1.0 for REST ``Api`` routes and HTTP API routes that ask for it), and responses follow
API Gateway's rules for what a function may return.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote

from local_stack.auth import (
    PRINCIPAL_HEADER,
    AuthorizerSimulator,
    BadPrincipal,
    Forbidden,
    IamPrincipal,
    JwtPrincipal,
    Principal,
    Unauthorized,
)
from local_stack.template import Route

# API Gateway's payload limit for both HTTP and REST APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Listen backlog of the API (see _Server).
LISTEN_BACKLOG = 1024
_PACKAGE = Path(__file__).resolve().parent
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Invoker = Callable[[str, Any, str], Any]  # (function logical id, event, aws request id) -> result


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # the request target as sent: raw path plus "?query"
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0] or "/"

    @property
    def raw_query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


class RouteTable:
    """API Gateway's route selection: the most specific path wins, then $default, else no route."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        self._default = next((r for r in self.routes if r.path == "$default"), None)

    def match(self, method: str, raw_path: str) -> RouteMatch | MethodNotAllowed | None:
        segments = raw_path.split("/")[1:]
        candidates: list[tuple[tuple[int, int], RouteMatch]] = []
        allowed: set[str] = set()
        for route in self.routes:
            if route.path == "$default":
                continue
            captured = _match_path(route.path, segments)
            if captured is None:
                continue
            allowed.add(route.method)
            if route.method in (method, "ANY"):
                literal = sum(1 for part in route.path.split("/") if not part.startswith("{"))
                # An exact method beats ANY on the same path; more literal segments beat parameters.
                candidates.append(((literal, route.method != "ANY"), RouteMatch(route, captured)))
        if candidates:
            return max(candidates, key=lambda item: item[0])[1]
        if self._default is not None:
            return RouteMatch(self._default, {})
        if allowed:
            return MethodNotAllowed(tuple(sorted(allowed)))
        return None


def _match_path(pattern: str, segments: list[str]) -> dict[str, str] | None:
    parts = pattern.split("/")[1:]
    captured: dict[str, str] = {}
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or rest == [""]:
                return None
            captured[part[1:-2]] = unquote("/".join(rest))
            return captured
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if segments[index] == "":
                return None  # API Gateway does not match an empty path parameter
            captured[part[1:-1]] = unquote(segments[index])
        elif unquote(segments[index]) != part:
            return None
    return captured if len(parts) == len(segments) else None


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------


def _request_time(now: float) -> str:
    # Built by hand: strftime's %b follows the locale, API Gateway's month names do not.
    moment = time.gmtime(now)
    clock = time.strftime("%H:%M:%S", moment)
    return f"{moment.tm_mday:02d}/{_MONTHS[moment.tm_mon - 1]}/{moment.tm_year}:{clock} +0000"


def _body_fields(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _host_parts(headers: Mapping[str, str], fallback: str) -> tuple[str, str]:
    domain = headers.get("host", fallback)
    return domain, domain.split(".", 1)[0].split(":", 1)[0]


def http_api_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    principal: Principal | None,
    request_id: str,
    now: float,
    account_id: str,
    api_id: str,
    fallback_host: str,
) -> dict[str, Any]:
    """API Gateway HTTP API payload format 2.0."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == PRINCIPAL_HEADER:
            continue  # a local-only header: the deployed API never sends it on
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}")
    domain, prefix = _host_parts(headers, fallback_host)
    headers.setdefault("x-forwarded-port", domain.rsplit(":", 1)[1] if ":" in domain else "80")
    route = match.route
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": prefix,
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": _request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if principal is not None:
        context["authorizer"] = principal.http_api_authorizer()
    event["requestContext"] = context
    body, encoded = _body_fields(request.body)
    if body is not None:
        event["body"] = body
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    event["isBase64Encoded"] = encoded
    return event


def rest_api_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    principal: Principal | None,
    request_id: str,
    now: float,
    account_id: str,
    api_id: str,
    fallback_host: str,
) -> dict[str, Any]:
    """Payload format 1.0 (REST API Lambda proxy integration, or an HTTP API route that asks for it)."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower() == PRINCIPAL_HEADER:
            continue
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    lowered = {k.lower(): v for k, v in headers.items()}
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[key] = value
        multi_query.setdefault(key, []).append(value)
    domain, prefix = _host_parts(lowered, fallback_host)
    route = match.route
    stage = "Prod" if route.api_type == "Api" else "$default"
    identity: dict[str, Any] = {
        "accessKey": None,
        "accountId": None,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": request.source_ip,
        "user": None,
        "userAgent": lowered.get("user-agent", ""),
        "userArn": None,
    }
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": prefix,
        "extendedRequestId": request_id,
        "httpMethod": request.method,
        "identity": identity,
        "path": request.raw_path,
        "protocol": request.protocol,
        "requestId": request_id,
        "requestTime": _request_time(now),
        "requestTimeEpoch": int(now * 1000),
        "resourceId": route.route_key,
        "resourcePath": route.path,
        "stage": stage,
    }
    if isinstance(principal, IamPrincipal):
        identity.update(
            accessKey=principal.access_key,
            accountId=principal.account_id,
            caller=principal.caller_id,
            user=principal.user_id,
            userArn=principal.user_arn,
        )
    elif isinstance(principal, JwtPrincipal):
        context["authorizer"] = {"claims": dict(principal.claims), "scopes": principal.scopes}
    body, encoded = _body_fields(request.body)
    event: dict[str, Any] = {
        "resource": route.path,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": context,
        "pathParameters": dict(match.path_parameters) or None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": encoded,
    }
    if route.api_type == "HttpApi":
        event = {"version": "1.0", **event}
    return event


# --------------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------------


class InvalidResponse(Exception):
    """The function's result is not something API Gateway can turn into an HTTP response."""


def _json_response(status: int, payload: Any, *, content_type: str = "application/json") -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HttpResponse(status, [("Content-Type", content_type)], body)


def problem(status: int, title: str, detail: str, code: str) -> HttpResponse:
    """RFC 9457 problem details, the product's own error format, for the front's own refusals."""
    return _json_response(
        status,
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code},
        content_type="application/problem+json",
    )


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidResponse(f"header value {value!r} is not a string")


def _response_body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidResponse(f"body must be a string, got {type(body).__name__}")
    if result.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            raise InvalidResponse("isBase64Encoded is true but body is not base64") from None
    return body.encode("utf-8")


def http_response_from_result(result: Any, *, payload_version: str) -> HttpResponse:
    """API Gateway's mapping of a function's result to the HTTP response (raises InvalidResponse)."""
    if payload_version == "2.0" and not (isinstance(result, dict) and "statusCode" in result):
        # HTTP API, format 2.0: any JSON without statusCode is the body of a 200 JSON response.
        return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(result).encode())
    if not isinstance(result, dict) or "statusCode" not in result:
        raise InvalidResponse("the result has no statusCode")
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidResponse(f"statusCode {result['statusCode']!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in dict(result.get("headers") or {}).items():
        headers.append((str(name), _header_text(value)))
    single = {name.lower() for name, _ in headers}
    for name, values in dict(result.get("multiValueHeaders") or {}).items():
        if str(name).lower() in single:
            continue  # API Gateway: a name in both maps keeps the single-value one
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_text(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", _header_text(cookie)))
    body = _response_body(result)
    if body and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, body)


# --------------------------------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------------------------------


class Gateway:
    """API Gateway's part: route, authorize, build the event, invoke, map the result."""

    def __init__(
        self,
        routes: Sequence[Route],
        invoker: Invoker,
        authorizer: AuthorizerSimulator,
        *,
        account_id: str,
        api_id: str = "local",
        fallback_host: str = "127.0.0.1",
        log: TextIO | None = None,
        base_path: str = "",
    ) -> None:
        self.table = RouteTable(routes)
        self._base_path = base_path.rstrip("/")
        self._invoke = invoker
        self._authorizer = authorizer
        self._account_id = account_id
        self._api_id = api_id
        self.fallback_host = fallback_host
        self._log = log

    def _stderr(self) -> TextIO:
        return self._log if self._log is not None else sys.stderr

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        response = self._handle(request, request_id)
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        path = request.raw_path
        if self._base_path:
            # A custom domain's API mapping: the rest of the path is matched against the API's routes.
            if path != self._base_path and not path.startswith(self._base_path + "/"):
                return _json_response(403, {"message": "Forbidden"})
            path = path[len(self._base_path) :] or "/"
        found = self.table.match(request.method, path)
        if found is None:
            return problem(
                404, "Not Found", f"No route matches {request.method} {request.raw_path}", "not_found"
            )
        if isinstance(found, MethodNotAllowed):
            response = problem(
                405,
                "Method Not Allowed",
                f"{request.raw_path} does not accept {request.method}",
                "method_not_allowed",
            )
            response.headers.append(("Allow", ", ".join(found.allowed)))
            return response
        principal = self._authorized(found.route, request)
        if isinstance(principal, HttpResponse):
            return principal
        return self._integrate(request, found, principal, request_id)

    def _authorized(self, route: Route, request: HttpRequest) -> Principal | HttpResponse | None:
        """The authorizer's result, or the answer API Gateway gives instead of calling the function."""
        try:
            return self._authorize(route, request)
        except Unauthorized as refusal:
            response = _json_response(401, {"message": "Unauthorized"})
            response.headers.append(("www-authenticate", refusal.www_authenticate))
            return response
        except Forbidden:
            return _json_response(403, {"message": "Forbidden"})
        except BadPrincipal as error:
            return problem(400, "Bad Request", str(error), "invalid_request")

    def _integrate(
        self, request: HttpRequest, found: RouteMatch, principal: Principal | None, request_id: str
    ) -> HttpResponse:
        route = found.route
        build = http_api_event if route.payload_version == "2.0" else rest_api_event
        event = build(
            request,
            found,
            principal=principal,
            request_id=request_id,
            now=time.time(),
            account_id=self._account_id,
            api_id=self._api_id,
            fallback_host=self.fallback_host,
        )
        try:
            result = self._invoke(route.function_id, event, str(uuid.uuid4()))
            return http_response_from_result(result, payload_version=route.payload_version)
        except Exception as error:  # a function error of any kind is API Gateway's 500/502, not ours
            self._report(route, error)
            if route.api_type == "Api":
                return _json_response(502, {"message": "Internal server error"})
            return _json_response(500, {"message": "Internal Server Error"})

    def _authorize(self, route: Route, request: HttpRequest) -> Principal | None:
        if route.authorizer == "NONE":
            return None
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        return self._authorizer.authorize(headers)

    def _report(self, route: Route, error: Exception) -> None:
        # What CloudWatch would hold for the function, printed where the developer is looking.
        stream = self._stderr()
        if isinstance(error, InvalidResponse):
            print(f"[{route.function_id}] invalid response for API Gateway: {error}", file=stream, flush=True)
            return
        # Lambda's log shows the handler's frames only; the local stack's own frames are noise there.
        frames = error.__traceback__
        while frames is not None and _is_ours(frames.tb_frame.f_code.co_filename):
            frames = frames.tb_next
        print(f"[{route.function_id}] {route.route_key} failed: [ERROR] {type(error).__name__}", file=stream)
        traceback.print_exception(type(error), error, frames or error.__traceback__, file=stream)
        stream.flush()


# --------------------------------------------------------------------------------------------------
# The HTTP server
# --------------------------------------------------------------------------------------------------


def _is_ours(filename: str) -> bool:
    return Path(filename).resolve().is_relative_to(_PACKAGE)


class _BodyTooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of parallel callers (a client's thread pool,
    # the concurrency tests) would see connections dropped before API Gateway would have throttled them.
    # The kernel caps it at net.core.somaxconn (4096 on current kernels, 128 before Linux 5.4).
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], gateway: Gateway, log: TextIO | None) -> None:
        self.gateway = gateway
        self.log = log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._request_threads: list[threading.Thread] = []
        self.closing = False
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Tracked (not daemon-forgotten) so that stop() can close keep-alive connections and join.
        with self._connections_lock:
            self._connections.add(request)
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="local-api-request"
        )
        thread.daemon = True
        self._request_threads = [t for t in self._request_threads if t.is_alive()]
        self._request_threads.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        self.closing = True
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A request still running when stop() cut its connection cannot answer; that is no error.
        if self.closing and isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def join_requests(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._request_threads):
            thread.join(max(0.0, deadline - time.monotonic()))


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the second waits for the
    # client's delayed ACK on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server
    # An idle keep-alive connection is dropped after this long, as load balancers do.
    timeout = 60

    def _handle(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            response = _json_response(413, {"message": "Request Entity Too Large"})
        except (ValueError, OSError):
            self.close_connection = True
            response = problem(400, "Bad Request", "The request body could not be read", "invalid_request")
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            response = self.server.gateway.handle(request)
        self._send(response)
        elapsed = (time.monotonic() - started) * 1000
        stream = self.server.log if self.server.log is not None else sys.stderr
        print(f"{self.command} {self.path} {response.status} {elapsed:.0f}ms", file=stream, flush=True)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with its own HTML 501. API Gateway routes
        # every method (TRACE, CONNECT, made-up ones) like any other: no route is 404, another method's
        # route is 405.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection"):
                continue  # framing is this server's business, not the function's
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # _handle prints one line per request; the base class would print to stderr again


class Front:
    """The gateway served on loopback HTTP from a background thread."""

    def __init__(
        self, gateway: Gateway, *, host: str = "127.0.0.1", port: int = 0, log: TextIO | None = None
    ) -> None:
        if host != "localhost" and not host.startswith("127."):
            raise ValueError("the local API binds to loopback only (127.0.0.1)")
        self._address = ("127.0.0.1" if host == "localhost" else host, port)
        self._gateway = gateway
        self._log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> Front:
        """Listen (OSError here, in the caller's thread, if the port is taken) and serve from a thread."""
        if self._server is not None:
            raise RuntimeError("the local API is already running")
        server = _Server(self._address, self._gateway, self._log)
        self._gateway.fallback_host = f"{self._address[0]}:{server.server_address[1]}"
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-api", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            server.server_close()
            raise
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """``close`` then ``join``: within about ``timeout`` seconds whatever the requests do."""
        self.close()
        self.join(timeout)

    def close(self) -> None:
        """Stop accepting, and end the connections (keep-alive ones and those of running requests)."""
        server, thread = self._server, self._thread
        if server is None or self._closed:
            return
        self._closed = True
        if thread is not None and thread.is_alive():
            server.shutdown()  # returns within the loop's poll interval (0.1 s)
        server.close_connections()
        server.server_close()

    def join(self, timeout: float = 5.0) -> None:
        """Wait up to ``timeout`` seconds for the requests still running (their handlers), then forget
        the server; a request still running after that finishes on its daemon thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.close()
        deadline = time.monotonic() + timeout
        server.join_requests(timeout=timeout)
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None
        self._closed = False

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the local API is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"
