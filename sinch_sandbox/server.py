"""HTTP front of the sandbox: standard-library server, HTTP/1.1 keep-alive, a daemon thread per connection."""

from __future__ import annotations

import contextlib
import dataclasses
import http
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.control import PREFIX as CONTROL_PREFIX
from sinch_sandbox.control import ControlApi, advance_time, apply_config
from sinch_sandbox.errors import SinchError, invalid_request
from sinch_sandbox.faults import FaultRule, parse_fault
from sinch_sandbox.numbers import lookup_key
from sinch_sandbox.outcomes import parse_outcome
from sinch_sandbox.responses import Response, error_response, json_response
from sinch_sandbox.sinch_api import (
    LogInfo,
    SinchApi,
    SinchRequest,
    classify_scheme,
    match_route,
)
from sinch_sandbox.state import SandboxState, iso_utc

RequestListener = Callable[[dict[str, Any]], None]

# What a gateway in front of a broken service tends to return: HTML, not JSON.
MALFORMED_BODY = b"<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>\n"
IDLE_CONNECTION_TIMEOUT = 60
# After refusing a body unread, how long and how much to drain before closing (see _lingering_close).
LINGER_SECONDS = 2.0
# Listen backlog (see _HTTPServer).
LISTEN_BACKLOG = 1024
LINGER_MAX_BYTES = 16 * 1024 * 1024
_MAX_REQUEST_LINE = 65536


class _BodyError(Exception):
    """The request body cannot be read safely; the connection must close afterwards."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops SYNs under a burst of parallel clients, costing them a 1 s retransmit;
    # 128 still does for 200 clients arriving while the accept loop is busy. The kernel caps it at
    # net.core.somaxconn (4096 on current Linux, 128 before 5.4).
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self, address: tuple[str, int], state: SandboxState, on_request: RequestListener | None
    ) -> None:
        self.state = state
        self.sinch_api = SinchApi(state)
        self.control_api = ControlApi(state)
        self.on_request = on_request
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.closing = False
        super().__init__(address, _Handler)

    @property
    def own_host(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A request still running (a delay fault) when stop() cut its connection cannot answer.
        if self.closing and isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        # Keep-alive clients would otherwise hold handler threads (and sockets) open after stop().
        self.closing = True
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT
    # Headers and body go out in two writes; without TCP_NODELAY the client's delayed ACK adds ~40 ms each.
    disable_nagle_algorithm = True
    _unread_input = False

    def handle_one_request(self) -> None:
        # Re-implemented so every verb reaches the router (the base class answers unknown verbs with an
        # HTML 501) and so socket errors end the connection quietly instead of printing tracebacks.
        try:
            self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > _MAX_REQUEST_LINE:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self.send_error(http.HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._unread_input = False
            self._serve()
            self.wfile.flush()
            if self._unread_input:
                self._lingering_close()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Used by the base class for malformed request lines and headers; answer in Sinch's JSON shape.
        status = code if 400 <= code <= 599 else 500
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            # An unparsable request line leaves the base class in HTTP/0.9 mode, which omits the status
            # line and headers; nobody speaks 0.9, so answer as HTTP/1.1.
            self.request_version = self.protocol_version
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        self._send(error_response(SinchError(status * 100, message or f"{phrase}."), close=True))

    def handle_expect_100(self) -> bool:
        length = (self.headers.get("Content-Length") or "").strip()
        if length.isdigit() and int(length) > self.server.state.config.max_body_bytes:
            return True  # no interim 100: the client should not start sending a body that will be refused
        return super().handle_expect_100()

    def version_string(self) -> str:
        return "SinchSandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the request log and the optional listener report traffic without bodies."""

    # -- dispatch ------------------------------------------------------------------------------

    def _serve(self) -> None:
        target = self.path
        if not target.startswith("/"):
            # Absolute-form request targets (proxies) carry scheme and host; keep path and query only.
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        path = target.split("?", 1)[0]
        headers = {name.lower(): value for name, value in reversed(self.headers.items())}
        try:
            if path == CONTROL_PREFIX.rstrip("/") or path.startswith(CONTROL_PREFIX):
                self._serve_control(path, headers)
            else:
                self._serve_sinch(target, path, headers)
        except OSError:
            raise
        except Exception:  # a sandbox bug must still produce a JSON answer, never a dropped connection
            traceback.print_exc()
            self._send(error_response(SinchError(50000, "Internal error."), close=True))

    def _serve_control(self, path: str, headers: dict[str, str]) -> None:
        try:
            body = self._read_body(headers)
        except _BodyError as error:
            self._unread_input = True
            response = json_response(400, {"error": str(error)})
            response.close = True
            self._send(response)
            return
        self._send(self.server.control_api.handle(self.command, path, body))

    def _serve_sinch(self, target: str, path: str, headers: dict[str, str]) -> None:
        method = self.command
        # What the log says about requests the API never saw (unreadable body, unprocessed fault).
        unseen = LogInfo(
            match_route(method, path).operation, auth_scheme=classify_scheme(headers.get("authorization"))
        )
        try:
            body = self._read_body(headers)
        except _BodyError as error:
            self._unread_input = True
            self._finish(path, unseen, error_response(invalid_request(str(error)), close=True), None)
            return

        fault = self.server.state.take_fault(method, path)
        response: Response | None = None
        info = unseen
        if fault is None or fault.process:
            response, info = self.server.sinch_api.handle(
                SinchRequest(method, target, headers, body), self.server.own_host
            )
        if fault is not None:
            response = self._apply_fault(fault, response)
        self._finish(path, info, response, fault)

    def _apply_fault(self, fault: FaultRule, response: Response | None) -> Response | None:
        if fault.kind == "drop":
            return None
        if fault.kind == "malformed":
            return Response(200, MALFORMED_BODY, "text/html; charset=utf-8")
        if fault.kind == "delay":
            time.sleep(fault.seconds)
            if response is not None:
                return response
        error = SinchError(fault.error_code, fault.message)
        faulted = error_response(error)
        if fault.retry_after is not None:
            faulted.headers.append(("Retry-After", str(fault.retry_after)))
        return faulted

    def _finish(self, path: str, info: LogInfo, response: Response | None, fault: FaultRule | None) -> None:
        entry = {
            "method": self.command,
            "path": path,
            "operation": info.operation,
            "verificationMethod": info.verification_method,
            "authScheme": info.auth_scheme,
            "authenticated": info.authenticated,
            "status": response.status if response is not None else 0,
            "fault": fault.kind if fault is not None else None,
            "at": iso_utc(self.server.state.now()),
        }
        # Logged before answering, so a client that reads /sandbox/v1/requests right after its own
        # response always finds its request there.
        self.server.state.log_request(entry)
        listener = self.server.on_request
        if listener is not None:
            try:
                listener(dict(entry))
            except Exception:  # a broken listener must not break the API
                traceback.print_exc()
        if response is None:
            self.close_connection = True
            return
        self._send(response)

    # -- I/O -----------------------------------------------------------------------------------

    def _lingering_close(self) -> None:
        # Closing a socket that still holds unread request bytes makes the kernel send RST, which can
        # destroy the 400 before the client reads it; half-close and drain for a moment instead.
        self.close_connection = True
        deadline = time.monotonic() + LINGER_SECONDS
        drained = 0
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            while drained < LINGER_MAX_BYTES and time.monotonic() < deadline:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        limit = self.server.state.config.max_body_bytes
        transfer_encoding = headers.get("transfer-encoding")
        if transfer_encoding is not None:
            if transfer_encoding.strip().lower() != "chunked":
                self.close_connection = True
                raise _BodyError(f"Transfer-Encoding {transfer_encoding!r} is not supported.")
            return self._read_chunked(limit)
        length_text = headers.get("content-length")
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            self.close_connection = True
            raise _BodyError("The Content-Length header is invalid.")
        length = int(length_text)
        if length > limit:
            # Not read at all: the rest of the stream is unusable, so the connection closes.
            self.close_connection = True
            raise _BodyError(f"The body is larger than {limit} bytes.")
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("client closed the connection mid-body")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise _BodyError("The chunked body is malformed.") from None
            if size == 0:
                while self.rfile.readline(1026).strip():
                    pass  # trailers carry nothing the sandbox needs
                return b"".join(chunks)
            total += size
            if total > limit:
                self.close_connection = True
                raise _BodyError(f"The body is larger than {limit} bytes.")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if response.close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class SandboxServer:
    """A Sinch Verification API look-alike on loopback, served from a background thread."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_request: RequestListener | None = None,
    ) -> None:
        if host != "localhost" and not host.startswith("127."):
            raise ValueError("the Sinch sandbox binds to loopback only (127.0.0.1)")
        self._address = ("127.0.0.1" if host == "localhost" else host, port)
        self._state = SandboxState(config or SandboxConfig())
        self._on_request = on_request
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Listen (OSError here, in the caller's thread, if the port is taken) and serve from a thread."""
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        httpd = _HTTPServer(self._address, self._state, self._on_request)
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sinch-sandbox", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            httpd.server_close()
            raise
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and end every connection, within about ``timeout`` seconds; a request still
        running (a delay fault) finishes on its daemon thread, its client already disconnected."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is None:
            return
        if thread is not None and thread.is_alive():
            httpd.shutdown()  # returns within the loop's poll interval (0.1 s)
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    @property
    def config(self) -> SandboxConfig:
        return self._state.config

    # -- in-process control API ----------------------------------------------------------------

    def reset(self) -> None:
        self._state.reset()

    def inbox(self, phone_number: str) -> dict[str, Any]:
        return self._state.inbox_view(lookup_key(phone_number))

    def requests_log(self) -> list[dict[str, Any]]:
        return self._state.requests_view()

    def add_fault(self, fault: dict[str, Any]) -> None:
        self._state.add_fault(parse_fault(fault))

    def faults(self) -> list[dict[str, Any]]:
        return self._state.faults_view()

    def clear_faults(self) -> None:
        self._state.clear_faults()

    def add_outcome(self, status: str, reason: str, number: str | None = None) -> None:
        """Make starts answer as Sinch does for a denied (DENIED) or failed (ERROR) verification: for every
        start to ``number``, or for the next start whatever its number. ValueError if invalid."""
        self._state.add_outcome(parse_outcome({"status": status, "reason": reason, "number": number}))

    def outcomes(self) -> list[dict[str, Any]]:
        return self._state.outcomes_view()

    def clear_outcomes(self) -> None:
        self._state.clear_outcomes()

    def advance_time(self, seconds: float) -> None:
        advance_time(self._state, seconds)

    def configure(self, **changes: Any) -> None:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(SandboxConfig)})
        if unknown:
            raise TypeError(f"unknown SandboxConfig field(s): {', '.join(unknown)}")
        apply_config(self._state, changes)
