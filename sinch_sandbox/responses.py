"""What a handler hands back to the HTTP layer, independent of sockets so it can be unit-tested."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sinch_sandbox.errors import SinchError

JSON = "application/json"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    # ASCII-escaped JSON is valid whatever charset a client assumes for a bare application/json.
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return Response(status, body, JSON, list(headers or []))


def error_response(error: SinchError, *, close: bool = False) -> Response:
    response = json_response(error.status, error.body())
    response.close = close
    return response
