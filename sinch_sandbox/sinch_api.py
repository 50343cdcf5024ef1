"""Sinch Verification API v1: routing, authentication, and the verification life cycle (start, report,
status). Request bodies are read in ``bodies``; what a start sends and answers per method is in ``plans``."""

from __future__ import annotations

import hmac
import re
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sinch_sandbox import auth
from sinch_sandbox.bodies import (
    CALL_METHODS,
    REPORT_METHODS,
    START_METHODS,
    known_method,
    parse_json_object,
    reported_value,
    required_method,
    validate_start,
)
from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.errors import SinchError, invalid_parameter, invalid_request, not_found
from sinch_sandbox.numbers import lookup_key, require_plus
from sinch_sandbox.plans import PLANNERS
from sinch_sandbox.responses import Response, error_response, json_response
from sinch_sandbox.state import (
    FAIL,
    OUTCOME_STATUSES,
    PENDING,
    SUCCESSFUL,
    SandboxState,
    Verification,
    iso_utc,
    sinch_timestamp,
)

PREFIX = "/verification/v1/"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

# Fictional list prices (EUR); the SMS one is the figure Sinch's mock server returns.
PRICES = {"sms": 0.0453, "whatsapp": 0.025, "flashcall": 0.0124, "callout": 0.065}
# Both call methods: the phone picked up (a flashcall is "answered" by the device that intercepts it).
CALL_RESULT = "ANSWERED"
FINISHED_MESSAGE = "The verification is no longer pending; start a new one."


@dataclass(frozen=True)
class Route:
    operation: str  # "start" | "report" | "status" | "unknown"
    action: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class LogInfo:
    operation: str
    verification_method: str | None = None
    auth_scheme: str = "none"
    authenticated: bool = False


@dataclass(frozen=True)
class SinchRequest:
    method: str
    target: str  # request-target exactly as received (path and optional query)
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


UNKNOWN = Route("unknown", "unknown")


def match_route(method: str, path: str) -> Route:
    if not path.startswith(PREFIX):
        return UNKNOWN
    # Split before decoding so an encoded '/' inside an id or reference stays inside its segment.
    parts = [unquote(part) for part in path[len(PREFIX) :].split("/")]
    if parts[0] != "verifications" or any(not p for p in parts):
        return UNKNOWN
    rest = parts[1:]
    route = UNKNOWN
    if not rest:
        route = Route("start", "start") if method == "POST" else UNKNOWN
    elif len(rest) == 2:
        kind, value = rest
        route = {
            ("PUT", "id"): Route("report", "put_id", {"id": value}),
            ("GET", "id"): Route("status", "get_id", {"id": value}),
            ("PUT", "number"): Route("report", "put_number", {"number": value}),
            ("GET", "reference"): Route("status", "get_reference", {"reference": value}),
        }.get((method, kind), UNKNOWN)
    elif len(rest) == 3 and rest[1] == "number" and method == "GET":
        route = Route("status", "get_identity", {"method": rest[0], "number": rest[2]})
    return route


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch in "0123456789")


def secret_matches(method: str, expected: str, reported: str) -> bool:
    if method == "flashcall":
        # CLIs compare on digits so "+1 815-654 0001" and "18156540001" both match "+18156540001".
        left, right = _digits(expected), _digits(reported)
        return bool(left) and hmac.compare_digest(left.encode(), right.encode())
    return hmac.compare_digest(expected.casefold().encode("utf-8"), reported.casefold().encode("utf-8"))


class SinchApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def handle(self, request: SinchRequest, own_host: str) -> tuple[Response, LogInfo]:
        route = match_route(request.method, request.path)
        info = LogInfo(route.operation)
        if route.action == "get_identity":
            info.verification_method = known_method(route.params["method"], START_METHODS)
        try:
            if route is UNKNOWN:
                # Checked before auth so a typo in a path reads as "not found", not as a credentials problem.
                info.auth_scheme = classify_scheme(request.headers.get("authorization"))
                raise not_found()
            result = auth.authenticate(
                self.state.config,
                method=request.method,
                target=request.target,
                body=request.body,
                authorization=request.headers.get("authorization"),
                x_timestamp=request.headers.get("x-timestamp"),
                content_type=request.headers.get("content-type"),
                now=datetime.now(UTC),
            )
            info.auth_scheme = result.scheme
            info.authenticated = result.authenticated
            if result.error is not None:
                raise result.error
            return self._dispatch(route, request, info, own_host), info
        except SinchError as error:
            return error_response(error), info
        except Exception:  # the sandbox must answer in Sinch's shape even when it has a bug
            traceback.print_exc()
            return error_response(SinchError(50000, "Internal error.")), info

    def _dispatch(self, route: Route, request: SinchRequest, info: LogInfo, own_host: str) -> Response:
        if route.action == "start":
            return self._start(request, info, own_host)
        if route.operation == "report":
            return self._report(route, request, info)
        return self._status(route, info)

    # -- start ---------------------------------------------------------------------------------

    def _start(self, request: SinchRequest, info: LogInfo, own_host: str) -> Response:
        body = parse_json_object(request.body)
        info.verification_method = known_method(body.get("method"), START_METHODS)
        method, number, reference = validate_start(body)
        verification_id = str(uuid.uuid4())
        plan = PLANNERS[method](body, request.headers, self.state.config, verification_id)
        payload: dict[str, Any] = {"id": verification_id, "method": method}
        if plan.section is not None:
            payload[plan.section[0]] = plan.section[1]
        payload["_links"] = _links(request.headers.get("host"), own_host, verification_id)

        with self.state.lock:
            now = self.state.now()
            if reference is not None and reference in self.state.by_reference:
                raise SinchError(40900, "A verification with this reference already exists.")
            verification = Verification(
                id=verification_id,
                method=method,
                number=number.e164,
                country_id=number.country_id,
                reference=reference,
                secret=plan.secret,
                created_at=now,
                expires_at=now + plan.lifetime,
            )
            outcome = self.state.take_outcome(number.e164)
            if outcome is not None:
                # Denied or failed at Sinch's end: the start still answers 200, but nothing is sent.
                verification.status, verification.reason = outcome.status, outcome.reason
                verification.delivered = False
            self.state.add(verification)
            if verification.delivered:
                delivery = {"verificationId": verification_id, "method": method, **plan.delivery}
                if reference is not None:
                    # What a test tells the client's own verifications by (the client's id, not Sinch's).
                    delivery["reference"] = reference
                delivery["at"] = iso_utc(now)
                if method in CALL_METHODS:
                    self.state.deliver_call(number.e164, delivery)
                else:
                    self.state.deliver_message(number.e164, delivery)
        return json_response(200, payload, plan.headers)

    # -- report --------------------------------------------------------------------------------

    def _report(self, route: Route, request: SinchRequest, info: LogInfo) -> Response:
        body = parse_json_object(request.body)
        info.verification_method = known_method(body.get("method"), REPORT_METHODS)
        method = required_method(body, REPORT_METHODS)
        reported = reported_value(body, method)
        with self.state.lock:
            if route.action == "put_id":
                verification = self.state.get(route.params["id"])
                if verification is None:
                    raise not_found()
                if verification.method != method:
                    raise invalid_parameter(
                        "method",
                        f"'{method}' does not match the verification's method '{verification.method}'",
                    )
            else:
                number = route.params["number"]
                require_plus(number)
                verification = self.state.latest_for_number(lookup_key(number), method)
                if verification is None:
                    raise not_found()
            return json_response(200, evaluate_report(verification, reported, self.state.config))

    # -- status --------------------------------------------------------------------------------

    def _status(self, route: Route, info: LogInfo) -> Response:
        with self.state.lock:
            if route.action == "get_id":
                verification = self.state.get(route.params["id"])
            elif route.action == "get_reference":
                verification = self.state.get_by_reference(route.params["reference"])
            else:
                method = known_method(route.params["method"], START_METHODS)
                if method is None:
                    raise invalid_parameter("method", f"must be one of {', '.join(START_METHODS)}")
                require_plus(route.params["number"])
                verification = self.state.latest_for_number(lookup_key(route.params["number"]), method)
            if verification is None:
                raise not_found()
            info.verification_method = verification.method
            return json_response(200, status_view(verification))


def evaluate_report(verification: Verification, reported: str, config: SandboxConfig) -> dict[str, Any]:
    """Apply one report to a verification (caller holds the state lock) and return the answer's body.

    Raises the configured error for a verification that is no longer PENDING (expired included); a
    verification an outcome rule denied or errored answers its status instead, as a real account does.
    """
    if verification.status in OUTCOME_STATUSES:
        return report_view(verification, verification.status, verification.reason)
    if verification.status != PENDING:
        if config.finished_report_answer == "not_found":
            raise not_found()
        if config.finished_report_answer == "invalid_request":
            raise invalid_request(FINISHED_MESSAGE)
        return report_view(verification, verification.status, verification.reason)
    verification.reported = True
    if secret_matches(verification.method, verification.secret, reported):
        verification.status = SUCCESSFUL
        return report_view(verification, SUCCESSFUL, None)
    reason = "Invalid CLI" if verification.method == "flashcall" else "Invalid code"
    if config.wrong_code_ends_verification:
        verification.status, verification.reason = FAIL, reason
    # Otherwise the verification stays open: only this answer says FAIL.
    return report_view(verification, FAIL, reason)


def report_view(verification: Verification, status: str, reason: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": verification.id, "method": verification.method, "status": status}
    if reason is not None:
        payload["reason"] = reason
    if verification.reference is not None:
        payload["reference"] = verification.reference
    if verification.method in CALL_METHODS:
        payload["callComplete"] = verification.delivered
    return payload


def status_view(verification: Verification) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": verification.id,
        "method": verification.method,
        "status": verification.status,
    }
    if verification.reason is not None:
        view["reason"] = verification.reason
    if verification.reference is not None:
        view["reference"] = verification.reference
    view["identity"] = {"type": "number", "endpoint": verification.number}
    if verification.country_id is not None:
        view["countryId"] = verification.country_id
    view["verificationTimestamp"] = sinch_timestamp(verification.created_at)
    if verification.reported and verification.method != "callout":
        view["source"] = "manual"
    if verification.method in CALL_METHODS:
        view["callComplete"] = verification.delivered
        if verification.delivered:
            view["callResult"] = CALL_RESULT
    # Nothing was sent for a denied or errored verification, so nothing is charged.
    if verification.status != PENDING and verification.delivered:
        view["price"] = {"verificationPrice": {"currencyId": "EUR", "amount": PRICES[verification.method]}}
    return view


def classify_scheme(authorization: str | None) -> str:
    """Auth scheme for the request log when the credentials themselves were not checked."""
    if authorization is None or not authorization.strip():
        return "none"
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        return "basic"
    if scheme.lower() == "application":
        return "application" if ":" in rest else "public"
    return "unknown"


def _links(host_header: str | None, own_host: str, verification_id: str) -> list[dict[str, str]]:
    # Sinch points _links at the data centre that served the start; the sandbox is that data centre.
    host = host_header.strip() if host_header and _HOST.match(host_header.strip()) else own_host
    href = f"http://{host}{PREFIX}verifications/id/{verification_id}"
    return [
        {"rel": "status", "href": href, "method": "GET"},
        {"rel": "report", "href": href, "method": "PUT"},
    ]
