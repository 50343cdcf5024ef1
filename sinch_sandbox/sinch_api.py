"""Sinch Verification API v1: routing, request validation, and the verification life cycle."""

from __future__ import annotations

import hmac
import json
import re
import secrets
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sinch_sandbox import auth
from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.errors import (
    SinchError,
    invalid_parameter,
    invalid_request,
    missing_parameter,
    not_found,
)
from sinch_sandbox.numbers import PhoneNumber, lookup_key, require_plus, validate_number
from sinch_sandbox.responses import Response, error_response, json_response
from sinch_sandbox.state import PENDING, SUCCESSFUL, SandboxState, Verification, iso_utc, sinch_timestamp

PREFIX = "/verification/v1/"
START_METHODS = ("sms", "flashcall", "callout", "whatsapp", "seamless")
REPORT_METHODS = ("sms", "flashcall", "callout", "whatsapp")
CALL_METHODS = ("flashcall", "callout")

CODE_TYPES = {"numeric": "Numeric", "alpha": "Alpha", "alphanumeric": "Alphanumeric"}
_CODE_ALPHABETS = {
    "Numeric": "0123456789",
    "Alpha": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "Alphanumeric": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
}
CODE_LENGTH = 4
CUSTOM_CODE = re.compile(r"^[A-Za-z0-9-]{1,10}$")
CUSTOM_CODE_MESSAGE = "The SMS code is not valid. Maximum 10 characters. Valid characters: A-Z, a-z, 0-9, '-'"
_EXPIRY = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

# Language -> (Content-Language when the client asked only for the bare language, template).
TEMPLATES = {
    "en": ("en-US", "Your verification code is {{CODE}}."),
    "sv": ("sv-SE", "Din verifieringskod är {{CODE}}."),
    "es": ("es-ES", "Tu código de verificación es {{CODE}}."),
    "fr": ("fr-FR", "Votre code de vérification est {{CODE}}."),
    "de": ("de-DE", "Ihr Bestätigungscode lautet {{CODE}}."),
}
DEFAULT_LANGUAGE = "en"

# (fixed prefix, cliFilter): the prefix contains the filter's digits, so every CLI drawn matches its filter.
CLI_POOL = (
    ("+1815654", "(.*)8156(.*)", 4),
    ("+4420795312", "(.*)5312(.*)", 2),
    ("+4685566", "(.*)5566(.*)", 4),
)
FLASHCALL_INTERCEPTION_TIMEOUT = 45
SMS_INTERCEPTION_TIMEOUT = 300
# Fictional list prices (EUR); the SMS one is the figure Sinch's mock server returns.
PRICES = {"sms": 0.0453, "whatsapp": 0.025, "flashcall": 0.0124, "callout": 0.065}
CALL_RESULTS = {"flashcall": "COMPLETED", "callout": "ANSWERED"}


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


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request("The body is not valid UTF-8.") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise invalid_request("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise invalid_request("The body must be a JSON object.")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def choose_language(accept_language: str | None) -> tuple[str, str]:
    """Pick (Content-Language, template) from an Accept-Language header, falling back to English."""
    candidates: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and quality > 0:
            candidates.append((-quality, index, tag.strip()))
    for _, _, tag in sorted(candidates):
        language = tag.split("-", 1)[0].lower()
        if language in TEMPLATES:
            # Echo the caller's own tag when it names a region, as Sinch echoes e.g. "es-ES".
            return (tag if "-" in tag else TEMPLATES[language][0], TEMPLATES[language][1])
    return TEMPLATES[DEFAULT_LANGUAGE]


def generate_code(code_type: str) -> str:
    alphabet = _CODE_ALPHABETS[code_type]
    return "".join(secrets.choice(alphabet) for _ in range(CODE_LENGTH))


def draw_cli() -> tuple[str, str]:
    prefix, cli_filter, free_digits = secrets.choice(CLI_POOL)
    suffix = "".join(secrets.choice("0123456789") for _ in range(free_digits))
    return prefix + suffix, cli_filter


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
            info.verification_method = _known_method(route.params["method"], START_METHODS)
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
        info.verification_method = _known_method(body.get("method"), START_METHODS)
        method, number, reference = _validate_start(body)
        config = self.state.config
        verification_id = str(uuid.uuid4())
        plan = _PLANNERS[method](body, request, config, verification_id)
        payload: dict[str, Any] = {"id": verification_id, "method": method}
        if plan.section is not None:
            payload[plan.section[0]] = plan.section[1]
        payload["_links"] = _links(request.headers.get("host"), own_host, verification_id)

        with self.state.lock:
            now = self.state.now()
            if reference is not None and reference in self.state.by_reference:
                raise SinchError(40900, "A verification with this reference already exists.")
            self.state.add(
                Verification(
                    id=verification_id,
                    method=method,
                    number=number.e164,
                    country_id=number.country_id,
                    reference=reference,
                    secret=plan.secret,
                    created_at=now,
                    expires_at=now + plan.lifetime,
                )
            )
            delivery = {
                "verificationId": verification_id,
                "method": method,
                **plan.delivery,
                "at": iso_utc(now),
            }
            if method in CALL_METHODS:
                self.state.deliver_call(number.e164, delivery)
            else:
                self.state.deliver_message(number.e164, delivery)
        return json_response(200, payload, plan.headers)

    # -- report --------------------------------------------------------------------------------

    def _report(self, route: Route, request: SinchRequest, info: LogInfo) -> Response:
        body = parse_json_object(request.body)
        info.verification_method = _known_method(body.get("method"), REPORT_METHODS)
        method = _required_method(body, REPORT_METHODS)
        reported = _reported_value(body, method)
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
            status, reason = verification.status, verification.reason
            if status == PENDING:
                verification.reported = True
                if secret_matches(method, verification.secret, reported):
                    verification.status, status = SUCCESSFUL, SUCCESSFUL
                else:
                    # The verification stays open: only this answer says FAIL (see README, "wrong code").
                    status, reason = "FAIL", "Invalid CLI" if method == "flashcall" else "Invalid code"
            payload: dict[str, Any] = {"id": verification.id, "method": method, "status": status}
            if reason is not None:
                payload["reason"] = reason
            if method in CALL_METHODS:
                payload["callComplete"] = True
        return json_response(200, payload)

    # -- status --------------------------------------------------------------------------------

    def _status(self, route: Route, info: LogInfo) -> Response:
        with self.state.lock:
            if route.action == "get_id":
                verification = self.state.get(route.params["id"])
            elif route.action == "get_reference":
                verification = self.state.get_by_reference(route.params["reference"])
            else:
                method = _known_method(route.params["method"], START_METHODS)
                if method is None:
                    raise invalid_parameter("method", f"must be one of {', '.join(START_METHODS)}")
                require_plus(route.params["number"])
                verification = self.state.latest_for_number(lookup_key(route.params["number"]), method)
            if verification is None:
                raise not_found()
            info.verification_method = verification.method
            return json_response(200, status_view(verification))


@dataclass
class _Plan:
    """How one start request plays out for its method: what the phone gets and what the response says."""

    secret: str
    lifetime: int
    delivery: dict[str, Any]
    section: tuple[str, dict[str, Any]] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def _validate_start(body: dict[str, Any]) -> tuple[str, PhoneNumber, str | None]:
    identity = body.get("identity")
    if identity is None:
        raise missing_parameter("identity")
    if not isinstance(identity, dict):
        raise invalid_parameter("identity", "must be an object")
    identity_type = identity.get("type")
    if identity_type is None:
        raise missing_parameter("identity.type")
    if identity_type != "number":
        raise invalid_parameter("identity.type", "must be 'number'")
    endpoint = identity.get("endpoint")
    if endpoint is None:
        raise missing_parameter("identity.endpoint")
    if not isinstance(endpoint, str):
        raise invalid_parameter("identity.endpoint", "must be a string")
    method = _required_method(body, START_METHODS)
    number = validate_number(endpoint)
    reference = body.get("reference")
    if reference is not None and (not isinstance(reference, str) or not reference):
        raise invalid_parameter("reference", "must be a non-empty string")
    custom = body.get("custom")
    if custom is not None and (not isinstance(custom, str) or len(custom) > 4096):
        raise invalid_parameter("custom", "must be a string of at most 4096 characters")
    if method == "seamless":
        raise SinchError(40300, "Seamless verification not available for given destination.")
    return method, number, reference


def _plan_sms(
    body: dict[str, Any], request: SinchRequest, config: SandboxConfig, verification_id: str
) -> _Plan:
    options = _options(body, "smsOptions")
    lifetime = _expiry(options, config.expiry_seconds)
    language, template = choose_language(request.headers.get("accept-language"))
    custom_template = options.get("template")
    if custom_template is not None:
        if not isinstance(custom_template, str) or "{{CODE}}" not in custom_template:
            raise invalid_parameter("smsOptions.template", "must be a string containing {{CODE}}")
        template = custom_template
    code_type = _code_type(options, "smsOptions")
    custom_code = options.get("code")
    if custom_code is not None and (not isinstance(custom_code, str) or not CUSTOM_CODE.match(custom_code)):
        raise SinchError(40001, CUSTOM_CODE_MESSAGE)
    code = custom_code if custom_code is not None else generate_code(code_type or "Numeric")
    section = {
        "template": template,
        "interceptionTimeout": min(SMS_INTERCEPTION_TIMEOUT, lifetime),
        "codeType": code_type or _infer_code_type(code),
    }
    return _Plan(
        secret=code,
        lifetime=lifetime,
        delivery={"text": template.replace("{{CODE}}", code), "code": code},
        section=("sms", section),
        headers=[("Content-Language", language)],
    )


def _plan_whatsapp(
    body: dict[str, Any], request: SinchRequest, config: SandboxConfig, verification_id: str
) -> _Plan:
    options = _options(body, "whatsappOptions")
    code_type = _code_type(options, "whatsappOptions") or "Numeric"
    _, template = choose_language(request.headers.get("accept-language"))
    code = generate_code(code_type)
    return _Plan(
        secret=code,
        lifetime=config.expiry_seconds,
        delivery={"text": template.replace("{{CODE}}", code), "code": code},
        section=("whatsapp", {"codeType": code_type}),
    )


def _plan_flashcall(
    body: dict[str, Any], request: SinchRequest, config: SandboxConfig, verification_id: str
) -> _Plan:
    options = _options(body, "flashCallOptions")
    _timeout(options, "dialTimeout")
    interception = _timeout(options, "interceptionTimeout") or FLASHCALL_INTERCEPTION_TIMEOUT
    lifetime = config.expiry_seconds
    cli, cli_filter = draw_cli()
    section: dict[str, Any] = {
        "cliFilter": cli_filter,
        "interceptionTimeout": min(interception, lifetime),
        "reportTimeout": lifetime,
        "denyCallAfter": 0,
        # Not in Sinch's OpenAPI models, but present in real and mock responses.
        "callId": verification_id,
    }
    if config.flashcall_returns_cli:
        section["cli"] = cli
    return _Plan(secret=cli, lifetime=lifetime, delivery={"cli": cli}, section=("flashCall", section))


def _plan_callout(
    body: dict[str, Any], request: SinchRequest, config: SandboxConfig, verification_id: str
) -> _Plan:
    options = _options(body, "calloutOptions")
    locale = _speech_locale(options)
    code = generate_code("Numeric")
    delivery: dict[str, Any] = {"code": code}
    if locale is not None:
        delivery["locale"] = locale
    return _Plan(secret=code, lifetime=config.expiry_seconds, delivery=delivery)


_PLANNERS: dict[str, Callable[[dict[str, Any], SinchRequest, SandboxConfig, str], _Plan]] = {
    "sms": _plan_sms,
    "whatsapp": _plan_whatsapp,
    "flashcall": _plan_flashcall,
    "callout": _plan_callout,
}


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
        view["callComplete"] = True
        view["callResult"] = CALL_RESULTS[verification.method]
    if verification.status != PENDING:
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


def _known_method(value: Any, allowed: tuple[str, ...]) -> str | None:
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    return None


def _required_method(body: dict[str, Any], allowed: tuple[str, ...]) -> str:
    value = body.get("method")
    if value is None:
        raise missing_parameter("method")
    method = _known_method(value, allowed)
    if method is None:
        raise invalid_parameter("method", f"must be one of {', '.join(allowed)}")
    return method


def _options(body: dict[str, Any], name: str) -> dict[str, Any]:
    options = body.get(name)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise invalid_parameter(name, "must be an object")
    return options


def _expiry(options: dict[str, Any], default: int) -> int:
    expiry = options.get("expiry")
    if expiry is None:
        return default
    match = _EXPIRY.match(expiry) if isinstance(expiry, str) else None
    seconds = int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3]) if match else 0
    if seconds <= 0:
        raise invalid_parameter("smsOptions.expiry", "must be a positive duration 'HH:MM:SS'")
    return seconds


def _code_type(options: dict[str, Any], name: str) -> str | None:
    value = options.get("codeType")
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in CODE_TYPES:
        raise invalid_parameter(f"{name}.codeType", "must be one of Numeric, Alpha, Alphanumeric")
    return CODE_TYPES[value.lower()]


def _infer_code_type(code: str) -> str:
    if code.isdigit():
        return "Numeric"
    return "Alpha" if code.isalpha() else "Alphanumeric"


def _timeout(options: dict[str, Any], name: str) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 120:
        raise invalid_parameter(f"flashCallOptions.{name}", "must be an integer between 5 and 120")
    return value


def _speech_locale(options: dict[str, Any]) -> str | None:
    speech = options.get("speech")
    if speech is None:
        return None
    if not isinstance(speech, dict):
        raise invalid_parameter("calloutOptions.speech", "must be an object")
    locale = speech.get("locale")
    if locale is not None and (not isinstance(locale, str) or not locale):
        raise invalid_parameter("calloutOptions.speech.locale", "must be a non-empty string")
    return locale


def _reported_value(body: dict[str, Any], method: str) -> str:
    keys = ("flashCall", "flashcall") if method == "flashcall" else (method,)
    field_name = "cli" if method == "flashcall" else "code"
    key = next((k for k in keys if k in body), keys[0])
    section = body.get(key)
    if section is not None and not isinstance(section, dict):
        raise invalid_parameter(key, "must be an object")
    value = (section or {}).get(field_name)
    if value is None:
        # Older clients send a method-agnostic top-level "code" (flashcall: the CLI).
        value = body.get(field_name, body.get("code"))
    if value is None or value == "":
        raise missing_parameter(f"{key}.{field_name}")
    if not isinstance(value, str):
        raise invalid_parameter(f"{key}.{field_name}", "must be a string")
    return value


def _links(host_header: str | None, own_host: str, verification_id: str) -> list[dict[str, str]]:
    # Sinch points _links at the data centre that served the start; the sandbox is that data centre.
    host = host_header.strip() if host_header and _HOST.match(host_header.strip()) else own_host
    href = f"http://{host}{PREFIX}verifications/id/{verification_id}"
    return [
        {"rel": "status", "href": href, "method": "GET"},
        {"rel": "report", "href": href, "method": "PUT"},
    ]
