"""Sandbox rules that need no socket: routing, languages, numbers, fault rules, configuration, and the
API core driven directly (Given a request, When the API handles it, Then the response says ...)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from typing import Any

import pytest

from sinch_sandbox import SandboxConfig
from sinch_sandbox.config import describe_mode
from sinch_sandbox.errors import SinchError
from sinch_sandbox.faults import FaultError, parse_fault
from sinch_sandbox.numbers import lookup_key, validate_number
from sinch_sandbox.outcomes import REASONS, OutcomeError, parse_outcome
from sinch_sandbox.plans import choose_language, draw_cli, generate_code, plan_flashcall, plan_sms
from sinch_sandbox.sinch_api import SinchApi, SinchRequest, evaluate_report, match_route, status_view
from sinch_sandbox.state import SandboxState, Verification, sinch_timestamp

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


def test_config_defaults_take_the_less_convenient_side_of_each_account_behaviour() -> None:
    config = SandboxConfig()
    assert (config.flashcall_returns_cli, config.flashcall_report_timeout) == (False, 75)
    assert (config.wrong_code_ends_verification, config.honour_custom_code) == (True, True)
    assert config.finished_report_answer == "invalid_request"
    assert describe_mode(config) == (
        "flashcallReturnsCli=false flashcallReportTimeout=75 wrongCodeEndsVerification=true "
        "honourCustomCode=true finishedReportAnswer=invalid_request"
    )


def test_config_from_env_reads_every_variable() -> None:
    config = SandboxConfig.from_env(
        {
            "SANDBOX_APPLICATION_KEY": "k",
            "SANDBOX_APPLICATION_SECRET": "czM=",
            "SANDBOX_EXPIRY_SECONDS": "30",
            "SANDBOX_TIMESTAMP_WINDOW_SECONDS": "5",
            "SANDBOX_FLASHCALL_RETURNS_CLI": "1",
            "SANDBOX_FLASHCALL_REPORT_TIMEOUT": "20",
            "SANDBOX_WRONG_CODE_ENDS_VERIFICATION": "false",
            "SANDBOX_HONOUR_CUSTOM_CODE": "off",
            "SANDBOX_FINISHED_REPORT_ANSWER": " Not_Found ",
        }
    )
    assert config == SandboxConfig(
        application_key="k",
        application_secret="czM=",
        expiry_seconds=30,
        timestamp_window_seconds=5,
        flashcall_returns_cli=True,
        flashcall_report_timeout=20,
        wrong_code_ends_verification=False,
        honour_custom_code=False,
        finished_report_answer="not_found",
    )
    assert describe_mode(config) == (
        "flashcallReturnsCli=true flashcallReportTimeout=20 wrongCodeEndsVerification=false "
        "honourCustomCode=false finishedReportAnswer=not_found"
    )
    assert SandboxConfig.from_env({}) == SandboxConfig()
    assert SandboxConfig.from_env({"SANDBOX_FLASHCALL_RETURNS_CLI": "TRUE"}).flashcall_returns_cli is True
    assert (
        SandboxConfig.from_env({"SANDBOX_FINISHED_REPORT_ANSWER": "status"}).finished_report_answer
        == "status"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SANDBOX_EXPIRY_SECONDS": "ten"}, "SANDBOX_EXPIRY_SECONDS"),
        ({"SANDBOX_EXPIRY_SECONDS": "0"}, "expiry_seconds"),
        ({"SANDBOX_FLASHCALL_RETURNS_CLI": "maybe"}, "SANDBOX_FLASHCALL_RETURNS_CLI"),
        ({"SANDBOX_APPLICATION_KEY": "a:b"}, "application_key"),
        ({"SANDBOX_FLASHCALL_REPORT_TIMEOUT": "75s"}, "SANDBOX_FLASHCALL_REPORT_TIMEOUT"),
        ({"SANDBOX_FLASHCALL_REPORT_TIMEOUT": "-1"}, "flashcall_report_timeout"),
        ({"SANDBOX_WRONG_CODE_ENDS_VERIFICATION": "sometimes"}, "SANDBOX_WRONG_CODE_ENDS_VERIFICATION"),
        ({"SANDBOX_HONOUR_CUSTOM_CODE": ""}, "SANDBOX_HONOUR_CUSTOM_CODE"),
        ({"SANDBOX_FINISHED_REPORT_ANSWER": "200"}, "SANDBOX_FINISHED_REPORT_ANSWER"),
    ],
)
def test_bad_config_is_refused_at_startup(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SandboxConfig.from_env(env)


@pytest.mark.parametrize(
    "changes",
    [
        {"flashcall_report_timeout": 0},
        {"flashcall_report_timeout": True},
        {"flashcall_report_timeout": "75"},
        {"flashcall_returns_cli": 1},
        {"wrong_code_ends_verification": "yes"},
        {"honour_custom_code": None},
        {"finished_report_answer": "STATUS"},
        {"finished_report_answer": "gone"},
    ],
)
def test_config_refuses_bad_switch_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        SandboxConfig(**changes)


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


# -- behaviour switches, driven on the core ---------------------------------------------------------


def _verification(method: str = "sms", code: str = "1234", **changes: Any) -> Verification:
    fields: dict[str, Any] = {
        "id": "v1",
        "method": method,
        "number": "+46700000000",
        "country_id": "SE",
        "reference": None,
        "secret": code,
        "created_at": 0.0,
        "expires_at": 600.0,
    }
    return Verification(**{**fields, **changes})


@pytest.mark.parametrize(("method", "reason"), [("sms", "Invalid code"), ("flashcall", "Invalid CLI")])
def test_a_wrong_code_ends_the_verification_unless_switched_off(method: str, reason: str) -> None:
    ending = _verification(method)
    answer = evaluate_report(ending, "9999", SandboxConfig())
    assert (answer["status"], answer["reason"]) == ("FAIL", reason)
    assert (ending.status, ending.reason, ending.reported) == ("FAIL", reason, True)

    lenient = _verification(method)
    answer = evaluate_report(lenient, "9999", SandboxConfig(wrong_code_ends_verification=False))
    assert (answer["status"], answer["reason"]) == ("FAIL", reason)
    assert (lenient.status, lenient.reason) == ("PENDING", None)


@pytest.mark.parametrize("status", ["SUCCESSFUL", "FAIL", "ABORTED"])
def test_a_report_on_a_finished_verification_gets_the_configured_answer(status: str) -> None:
    finished = _verification(status=status, reference="r1")
    with pytest.raises(SinchError) as caught:
        evaluate_report(finished, "1234", SandboxConfig())
    assert (caught.value.error_code, caught.value.message.startswith("Invalid request")) == (40003, True)
    with pytest.raises(SinchError) as caught:
        evaluate_report(finished, "1234", SandboxConfig(finished_report_answer="not_found"))
    assert (caught.value.error_code, caught.value.message) == (40400, "Requested resource was not found.")
    answer = evaluate_report(finished, "1234", SandboxConfig(finished_report_answer="status"))
    assert answer == {"id": "v1", "method": "sms", "status": status, "reference": "r1"}
    assert finished.status == status


def test_an_expired_verification_counts_as_finished() -> None:
    state = SandboxState(SandboxConfig())
    state.add(_verification(created_at=state.now() - 601, expires_at=state.now() - 1))
    expired = state.get("v1")
    assert expired is not None
    assert (expired.status, expired.reason) == ("FAIL", "Expired")
    with pytest.raises(SinchError, match="Invalid request"):
        evaluate_report(expired, "1234", SandboxConfig())


@pytest.mark.parametrize("answer", ["invalid_request", "not_found", "status"])
def test_a_denied_or_errored_verification_reports_its_status_whatever_the_finished_answer(
    answer: str,
) -> None:
    denied = _verification("callout", status="ERROR", reason="Internal error", delivered=False)
    config = SandboxConfig(finished_report_answer=answer)
    assert evaluate_report(denied, "1234", config) == {
        "id": "v1",
        "method": "callout",
        "status": "ERROR",
        "reason": "Internal error",
        "callComplete": False,
    }
    assert (denied.status, denied.reported) == ("ERROR", False)
    view = status_view(denied)
    assert (view["callComplete"], "callResult" in view, "price" in view) == (False, False, False)


def test_flashcalls_answer_with_call_result_answered() -> None:
    view = status_view(_verification("flashcall"))
    assert (view["callComplete"], view["callResult"]) == (True, "ANSWERED")


def test_flashcall_report_timeout_sets_report_timeout_and_lifetime() -> None:
    plan = plan_flashcall({}, {}, SandboxConfig(flashcall_report_timeout=30), "v1")
    assert plan.lifetime == 30
    assert plan.section is not None
    assert (plan.section[1]["reportTimeout"], plan.section[1]["interceptionTimeout"]) == (30, 30)
    assert "cli" not in plan.section[1]
    revealed = plan_flashcall({}, {}, SandboxConfig(flashcall_returns_cli=True), "v1")
    assert revealed.section is not None
    assert revealed.section[1]["cli"] == revealed.secret == revealed.delivery["cli"]
    assert revealed.lifetime == 75


def test_an_ignored_custom_code_is_replaced_by_a_fresh_one() -> None:
    body = {"smsOptions": {"code": "7777"}}
    honoured = plan_sms(body, {}, SandboxConfig(), "v1")
    assert honoured.secret == honoured.delivery["code"] == "7777"
    ignored = plan_sms(body, {}, SandboxConfig(honour_custom_code=False), "v1")
    assert ignored.secret == ignored.delivery["code"] != "7777"
    assert ignored.section == (
        "sms",
        {
            "template": "Your verification code is {{CODE}}.",
            "interceptionTimeout": 300,
            "codeType": "Numeric",
        },
    )
    with pytest.raises(SinchError, match="The SMS code is not valid"):
        plan_sms({"smsOptions": {"code": "a b"}}, {}, SandboxConfig(honour_custom_code=False), "v1")


def test_a_generated_code_never_equals_the_code_it_must_avoid(monkeypatch: pytest.MonkeyPatch) -> None:
    # A random source whose first draw is exactly the code to avoid (in another letter case).
    draws = iter("abcdefgh")
    monkeypatch.setattr("sinch_sandbox.plans.secrets.choice", lambda alphabet: next(draws))
    assert generate_code("Alpha", avoid="ABCD") == "efgh"
    draws = iter("abcdefgh")
    assert generate_code("Alpha") == "abcd"


@pytest.mark.parametrize(("status", "reasons"), sorted(REASONS.items()))
def test_outcome_rules_accept_sinchs_reasons_for_their_status(status: str, reasons: tuple[str, ...]) -> None:
    for reason in reasons:
        assert parse_outcome({"status": status.lower(), "reason": reason.upper()}).to_json() == {
            "status": status,
            "reason": reason,
            "number": None,
        }
    other = next(s for s in REASONS if s != status)
    with pytest.raises(OutcomeError, match=f"reason for {status}"):
        parse_outcome({"status": status, "reason": REASONS[other][0]})
    assert parse_outcome({"status": status, "reason": reasons[0], "number": "+46 (70) 000-00-01"}).number == (
        "+46700000001"
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"status": "PENDING", "reason": "Fraud"},
        {"status": "DENIED", "reason": "Expired"},
        {"status": "DENIED", "reason": "Fraud", "number": "+4813"},
        {"status": "DENIED", "reason": "Fraud", "count": 2},
    ],
)
def test_bad_outcome_rules_are_refused(body: Any) -> None:
    with pytest.raises(OutcomeError):
        parse_outcome(body)


def test_state_uses_up_next_start_outcomes_and_keeps_number_outcomes() -> None:
    state = SandboxState(SandboxConfig())
    state.add_outcome(parse_outcome({"status": "DENIED", "reason": "Blocked", "number": "+46700000001"}))
    state.add_outcome(parse_outcome({"status": "ERROR", "reason": "Internal error"}))
    taken = [state.take_outcome(n) for n in ("+46700000001", "+46700000002", "+46700000003", "+46700000001")]
    assert [rule.reason if rule else None for rule in taken] == ["Blocked", "Internal error", None, "Blocked"]
    assert state.outcomes_view() == [{"status": "DENIED", "reason": "Blocked", "number": "+46700000001"}]
    state.reset()
    assert state.outcomes_view() == []


def test_api_core_applies_outcomes_and_switches_without_sockets() -> None:
    # Given a sandbox that denies the next start and ignores custom codes
    state = SandboxState(dataclasses.replace(SandboxConfig(), honour_custom_code=False))
    state.add_outcome(parse_outcome({"status": "DENIED", "reason": "Fraud"}))
    api = SinchApi(state)
    headers = {"authorization": _basic(), "content-type": "application/json"}
    start = {"identity": {"type": "number", "endpoint": "+46700000000"}, "method": "sms"}
    # When two verifications start
    denied, _ = api.handle(SinchRequest("POST", P, headers, json.dumps(start).encode()), "x")
    start["smsOptions"] = {"code": "2468"}
    sent, _ = api.handle(SinchRequest("POST", P, headers, json.dumps(start).encode()), "x")
    # Then only the second reached the phone, with a code of the sandbox's choosing
    [message] = state.inbox_view("+46700000000")["messages"]
    assert message["verificationId"] == sent.json()["id"]
    assert message["code"] != "2468"
    report = json.dumps({"method": "sms", "sms": {"code": "2468"}}).encode()
    answer, _ = api.handle(SinchRequest("PUT", f"{P}/id/{denied.json()['id']}", headers, report), "x")
    assert (answer.status, answer.json()["status"], answer.json()["reason"]) == (200, "DENIED", "Fraud")
    answer, _ = api.handle(SinchRequest("PUT", f"{P}/id/{sent.json()['id']}", headers, report), "x")
    assert (answer.json()["status"], answer.json()["reason"]) == ("FAIL", "Invalid code")
    answer, _ = api.handle(SinchRequest("PUT", f"{P}/id/{sent.json()['id']}", headers, report), "x")
    assert (answer.status, answer.json()["errorCode"]) == (400, 40003)
