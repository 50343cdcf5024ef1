"""Sandbox rules that need no socket: routing, languages, numbers, fault rules, configuration, and the
API core driven directly (Given a request, When the API handles it, Then the response says ...)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from sinch_sandbox import SandboxConfig
from sinch_sandbox.errors import SinchError
from sinch_sandbox.faults import FaultError, parse_fault
from sinch_sandbox.numbers import lookup_key, validate_number
from sinch_sandbox.sinch_api import SinchApi, SinchRequest, choose_language, draw_cli, match_route
from sinch_sandbox.state import SandboxState, sinch_timestamp

P = "/verification/v1/verifications"


@pytest.mark.parametrize(
    ("method", "path", "action", "params"),
    [
        ("POST", P, "start", {}),
        ("PUT", f"{P}/id/abc", "put_id", {"id": "abc"}),
        ("GET", f"{P}/id/abc", "get_id", {"id": "abc"}),
        ("PUT", f"{P}/number/%2B46700000000", "put_number", {"number": "+46700000000"}),
        ("GET", f"{P}/reference/a%2Fb", "get_reference", {"reference": "a/b"}),
        (
            "GET",
            f"{P}/flashCall/number/+46700000000",
            "get_identity",
            {"method": "flashCall", "number": "+46700000000"},
        ),
        ("GET", P, "unknown", {}),
        ("DELETE", f"{P}/id/abc", "unknown", {}),
        ("PUT", f"{P}/id/abc/", "unknown", {}),
        ("GET", f"{P}/number/+46700000000", "unknown", {}),
        ("POST", "/verification/v2/verifications", "unknown", {}),
    ],
)
def test_routes(method: str, path: str, action: str, params: dict[str, str]) -> None:
    route = match_route(method, path)
    assert (route.action, route.params) == (action, params)


@pytest.mark.parametrize(
    ("header", "language", "starts"),
    [
        (None, "en-US", "Your verification code"),
        ("sv-SE", "sv-SE", "Din verifieringskod"),
        ("es", "es-ES", "Tu código"),
        ("xx-YY, de;q=0.4, fr;q=0.8", "fr-FR", "Votre code"),
        ("ja-JP", "en-US", "Your verification code"),
        ("fr;q=0, de-AT", "de-AT", "Ihr Bestätigungscode"),
    ],
)
def test_accept_language_picks_the_sms_template(header: str | None, language: str, starts: str) -> None:
    chosen, template = choose_language(header)
    assert chosen == language
    assert template.startswith(starts)
    assert "{{CODE}}" in template


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        ("46700000000", 40005, "Number 46700000000 is invalid."),
        ("+4813", 40001, "Number +4813 is invalid. Too short."),
        ("+46700000000000000000", 40001, "Number +46700000000000000000 is invalid. Too long."),
        ("+999123456", 40001, "Number +999123456 is invalid. Invalid country code."),
        ("+1800FLOWERS", 40001, "Number +1800FLOWERS is invalid. Invalid characters."),
    ],
)
def test_invalid_numbers_are_refused_in_sinchs_words(number: str, code: int, message: str) -> None:
    with pytest.raises(SinchError) as caught:
        validate_number(number)
    assert caught.value.error_code == code
    assert caught.value.message.startswith(message)


def test_valid_numbers_are_normalised_and_get_a_country() -> None:
    number = validate_number("+46 70-000 00 00")
    assert (number.e164, number.country_id) == ("+46700000000", "SE")
    assert lookup_key("46700000000") == lookup_key("+46 700 000 000") == "+46700000000"


def test_every_cli_in_the_pool_matches_the_filter_returned_with_it() -> None:
    for _ in range(50):
        cli, cli_filter = draw_cli()
        assert re.fullmatch(cli_filter, cli)
        validate_number(cli)


def test_verification_timestamps_have_seven_fraction_digits_and_no_zone() -> None:
    assert sinch_timestamp(1716370739.559043) == "2024-05-22T09:38:59.5590430"


def test_fault_rules_get_kind_specific_defaults() -> None:
    assert parse_fault({"kind": "status"}).to_json() == {
        "kind": "status",
        "count": 1,
        "process": False,
        "status": 503,
        "errorCode": 50300,
        "retryAfter": None,
        "method": None,
        "pathPrefix": None,
    }
    assert parse_fault({"kind": "status", "status": 429}).error_code == 42900
    assert parse_fault({"kind": "delay"}).process is True
    assert parse_fault({"kind": "malformed"}).process is True
    assert parse_fault({"kind": "drop"}).process is False
    assert parse_fault({"kind": "drop", "method": "put"}).matches("PUT", P + "/id/x")
    assert not parse_fault({"kind": "drop", "pathPrefix": "/x"}).matches("PUT", P)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"kind": "explode"},
        {"kind": "status", "count": 0},
        {"kind": "status", "status": 200},
        {"kind": "status", "status": 503, "errorCode": 42900},
        {"kind": "delay", "seconds": -1},
        {"kind": "delay", "seconds": 3600},
        {"kind": "drop", "process": "yes"},
        {"kind": "drop", "pathPrefix": "verification"},
        {"kind": "drop", "colour": "red"},
    ],
)
def test_bad_fault_rules_are_refused(body: object) -> None:
    with pytest.raises(FaultError):
        parse_fault(body)


def test_config_from_env_reads_every_variable() -> None:
    config = SandboxConfig.from_env(
        {
            "SANDBOX_APPLICATION_KEY": "k",
            "SANDBOX_APPLICATION_SECRET": "czM=",
            "SANDBOX_EXPIRY_SECONDS": "30",
            "SANDBOX_TIMESTAMP_WINDOW_SECONDS": "5",
            "SANDBOX_FLASHCALL_RETURNS_CLI": "0",
        }
    )
    assert config == SandboxConfig("k", "czM=", 30, 5, False)
    assert SandboxConfig.from_env({}) == SandboxConfig()
    assert SandboxConfig.from_env({"SANDBOX_FLASHCALL_RETURNS_CLI": "TRUE"}).flashcall_returns_cli is True


@pytest.mark.parametrize(
    "env",
    [
        {"SANDBOX_EXPIRY_SECONDS": "ten"},
        {"SANDBOX_EXPIRY_SECONDS": "0"},
        {"SANDBOX_FLASHCALL_RETURNS_CLI": "maybe"},
        {"SANDBOX_APPLICATION_KEY": "a:b"},
    ],
)
def test_bad_config_is_refused_at_startup(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"SANDBOX_|application_key|expiry_seconds"):
        SandboxConfig.from_env(env)


def _basic() -> str:
    config = SandboxConfig()
    return (
        "Basic " + base64.b64encode(f"{config.application_key}:{config.application_secret}".encode()).decode()
    )


def test_api_core_runs_a_whole_verification_without_sockets() -> None:
    # Given a fresh sandbox state
    state = SandboxState(SandboxConfig())
    api = SinchApi(state)
    headers = {"authorization": _basic(), "content-type": "application/json", "host": "sandbox.test:1"}
    body = json.dumps({"identity": {"type": "number", "endpoint": "+46700000000"}, "method": "sms"}).encode()
    # When an SMS verification starts
    response, info = api.handle(SinchRequest("POST", P, headers, body), "127.0.0.1:9")
    assert response.status == 200
    started = response.json()
    assert started["_links"][0]["href"] == f"http://sandbox.test:1{P}/id/{started['id']}"
    assert (info.operation, info.verification_method, info.auth_scheme, info.authenticated) == (
        "start",
        "sms",
        "basic",
        True,
    )
    # Then the phone got the code, and reporting it succeeds
    code = state.inbox_view("+46700000000")["messages"][0]["code"]
    report = json.dumps({"method": "sms", "sms": {"code": code}}).encode()
    response, _ = api.handle(SinchRequest("PUT", f"{P}/id/{started['id']}", headers, report), "x")
    assert response.json() == {"id": started["id"], "method": "sms", "status": "SUCCESSFUL"}
