"""The sandbox's own API under /sandbox/v1/: read the phone, inspect traffic, inject faults, move time,
switch account behaviour and make Sinch deny or fail verifications (outcomes).

No auth and never subject to faults: it is how tests and developers observe and steer the sandbox.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.faults import FaultError, parse_fault
from sinch_sandbox.numbers import lookup_key
from sinch_sandbox.outcomes import OutcomeError, parse_outcome
from sinch_sandbox.responses import Response, json_response
from sinch_sandbox.state import SandboxState, iso_utc

PREFIX = "/sandbox/v1/"

# Control-API field -> SandboxConfig field, for the runtime toggles.
CONFIG_FIELDS = {
    "flashcallReturnsCli": "flashcall_returns_cli",
    "flashcallReportTimeout": "flashcall_report_timeout",
    "wrongCodeEndsVerification": "wrong_code_ends_verification",
    "honourCustomCode": "honour_custom_code",
    "finishedReportAnswer": "finished_report_answer",
    "expirySeconds": "expiry_seconds",
    "timestampWindowSeconds": "timestamp_window_seconds",
}


class ControlError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def config_view(config: SandboxConfig) -> dict[str, Any]:
    view: dict[str, Any] = {"applicationKey": config.application_key}
    view.update({key: getattr(config, name) for key, name in CONFIG_FIELDS.items()})
    view["maxBodyBytes"] = config.max_body_bytes
    return view


def apply_config(state: SandboxState, changes: dict[str, Any]) -> SandboxConfig:
    """Replace the runtime config; raises ValueError naming the bad field and leaves the old one in place."""
    with state.lock:
        state.config = dataclasses.replace(state.config, **changes)
        return state.config


def advance_time(state: SandboxState, seconds: Any) -> dict[str, Any]:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        # Backwards time would let finished verifications look pending again; nothing needs it.
        raise ValueError("advanceSeconds must be a non-negative number")
    with state.lock:
        state.clock.advance(float(seconds))
        return {"offsetSeconds": state.clock.offset, "now": iso_utc(state.now())}


class ControlApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def handle(self, method: str, path: str, body: bytes) -> Response:
        try:
            return self._route(method, path[len(PREFIX) :] if path.startswith(PREFIX) else "", body)
        except ControlError as error:
            return json_response(error.status, {"error": str(error)})
        except ValueError as error:
            return json_response(400, {"error": str(error)})

    def _route(self, method: str, rest: str, body: bytes) -> Response:
        name, _, argument = rest.partition("/")
        handler = self._routes().get((method, name))
        if handler is None or bool(argument) != (name == "inbox"):
            raise ControlError(404, f"no sandbox control route {method} {PREFIX}{rest}")
        return handler(argument, body)

    def _routes(self) -> dict[tuple[str, str], Callable[[str, bytes], Response]]:
        return {
            ("GET", "health"): lambda _a, _b: json_response(200, {"status": "ok"}),
            ("GET", "inbox"): self._inbox,
            ("GET", "requests"): lambda _a, _b: json_response(200, {"requests": self.state.requests_view()}),
            ("GET", "faults"): lambda _a, _b: json_response(200, {"faults": self.state.faults_view()}),
            ("POST", "faults"): self._add_fault,
            ("DELETE", "faults"): self._clear_faults,
            ("POST", "reset"): self._reset,
            ("POST", "time"): self._time,
            ("GET", "config"): lambda _a, _b: json_response(200, config_view(self.state.config)),
            ("POST", "config"): self._config,
            ("GET", "outcomes"): lambda _a, _b: json_response(200, {"outcomes": self.state.outcomes_view()}),
            ("POST", "outcomes"): self._add_outcome,
            ("DELETE", "outcomes"): self._clear_outcomes,
        }

    def _inbox(self, number: str, _body: bytes) -> Response:
        raw = unquote(number)
        if not any(ch in "0123456789" for ch in raw):
            raise ControlError(
                400, "the inbox path needs a phone number, e.g. /sandbox/v1/inbox/+46700000000"
            )
        return json_response(200, self.state.inbox_view(lookup_key(raw)))

    def _add_fault(self, _argument: str, body: bytes) -> Response:
        try:
            rule = parse_fault(_json(body))
        except FaultError as error:
            raise ControlError(400, str(error)) from None
        self.state.add_fault(rule)
        return json_response(201, {"fault": rule.to_json()})

    def _clear_faults(self, _argument: str, _body: bytes) -> Response:
        self.state.clear_faults()
        return json_response(200, {"faults": []})

    def _add_outcome(self, _argument: str, body: bytes) -> Response:
        try:
            rule = parse_outcome(_json(body))
        except OutcomeError as error:
            raise ControlError(400, str(error)) from None
        self.state.add_outcome(rule)
        return json_response(201, {"outcome": rule.to_json()})

    def _clear_outcomes(self, _argument: str, _body: bytes) -> Response:
        self.state.clear_outcomes()
        return json_response(200, {"outcomes": []})

    def _reset(self, _argument: str, _body: bytes) -> Response:
        self.state.reset()
        return json_response(200, {"status": "ok"})

    def _time(self, _argument: str, body: bytes) -> Response:
        data = _json(body)
        if "advanceSeconds" not in data:
            raise ControlError(400, "advanceSeconds is required")
        return json_response(200, advance_time(self.state, data["advanceSeconds"]))

    def _config(self, _argument: str, body: bytes) -> Response:
        data = _json(body)
        unknown = sorted(set(data) - set(CONFIG_FIELDS))
        if unknown:
            raise ControlError(400, f"unknown config field(s): {', '.join(unknown)}")
        config = apply_config(self.state, {CONFIG_FIELDS[k]: v for k, v in data.items()})
        return json_response(200, config_view(config))


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ControlError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data
