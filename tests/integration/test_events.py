"""Every file in events/ goes through its handler against the local stack (moto server + Sinch sandbox).

These are the files `sam local invoke -e` uses, so they must stay valid for the real handlers: a start
event starts, a report event with the placeholders filled in verifies, a status event reads, a next event
sends the next channel and a cancel event cancels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack import LocalStack
from local_stack.invoke import EVENTS_DIR as EVENTS
from local_stack.invoke import REPORT, START, number_of, with_body_value, with_id
from phone_verification import runtime
from tests.integration.conftest import reset_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # A next right after its start: no 30 s between sends to one number, as a user would have waited.
    with LocalStack(env={"MIN_SECONDS_BETWEEN_STARTS": "0"}) as running:
        runtime.configure(None)  # the product builds its clients against this stack on first use
        yield running
    runtime.configure(None)


@pytest.fixture
def fresh(stack: LocalStack) -> LocalStack:
    return reset_stack(stack)


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def body_of(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer, whether the event came through API Gateway or was a direct invocation."""
    if "statusCode" in result:
        assert result["statusCode"] in (200, 201), result
        answer: dict[str, Any] = json.loads(result["body"])
        return answer
    return result


START_EVENTS = sorted(p.name for p in EVENTS.glob("start-*.json"))


def test_every_event_file_is_covered() -> None:
    others = {"env.json", "report-by-id.json", "report-by-number.json", "report-direct.json"}
    others |= {"report-flashcall.json", "status.json", "next.json", "next-direct.json"}
    others |= {"cancel.json", "cancel-direct.json"}
    assert {p.name for p in EVENTS.glob("*.json")} == set(START_EVENTS) | others


@pytest.mark.parametrize("name", START_EVENTS)
def test_start_event(fresh: LocalStack, name: str) -> None:
    event = load(name)
    started = body_of(fresh.invoke(START, event))
    assert started["status"] == "PENDING"
    assert started["attemptsRemaining"] == 5
    assert fresh.sandbox is not None
    inbox = fresh.sandbox.inbox(number_of(event))
    assert len(inbox["messages"]) + len(inbox["calls"]) == 1
    if name == "start-with-idempotency-key.json":
        again = fresh.invoke(START, event)
        assert body_of(again) == started
        assert again["headers"]["Idempotent-Replayed"] == "true"
        assert len(fresh.sandbox.inbox(number_of(event))["messages"]) == 1


def _code(stack: LocalStack, number: str) -> str:
    assert stack.sandbox is not None
    code: str = stack.sandbox.inbox(number)["messages"][-1]["code"]
    return code


def _cli(stack: LocalStack, number: str) -> str:
    assert stack.sandbox is not None
    cli: str = stack.sandbox.inbox(number)["calls"][-1]["cli"]
    return cli


ReportCase = tuple[str, str, Callable[[LocalStack, dict[str, Any], str, str], dict[str, Any]]]
REPORT_CASES: list[ReportCase] = [
    (
        "report-by-id.json",
        "start-sms.json",
        lambda s, e, vid, n: with_body_value(with_id(e, vid), "code", _code(s, n)),
    ),
    ("report-by-number.json", "start-sms.json", lambda s, e, vid, n: with_body_value(e, "code", _code(s, n))),
    (
        "report-flashcall.json",
        "start-flashcall.json",
        lambda s, e, vid, n: with_body_value(with_id(e, vid), "cli", _cli(s, n)),
    ),
    (
        "report-direct.json",
        "start-direct.json",
        lambda s, e, vid, n: with_body_value(with_id(e, vid), "code", _code(s, n)),
    ),
]


@pytest.mark.parametrize(("name", "start_name", "fill"), REPORT_CASES, ids=[case[0] for case in REPORT_CASES])
def test_report_event(
    fresh: LocalStack,
    name: str,
    start_name: str,
    fill: Callable[[LocalStack, dict[str, Any], str, str], dict[str, Any]],
) -> None:
    start_event = load(start_name)
    verification_id = body_of(fresh.invoke(START, start_event))["id"]
    event = fill(fresh, load(name), verification_id, number_of(start_event))
    reported = body_of(fresh.invoke(REPORT, event))
    assert (reported["id"], reported["status"]) == (verification_id, "SUCCESSFUL")


def test_status_event(fresh: LocalStack) -> None:
    verification_id = body_of(fresh.invoke(START, load("start-sms.json")))["id"]
    status = body_of(fresh.invoke(REPORT, with_id(load("status.json"), verification_id)))
    assert (status["id"], status["status"]) == (verification_id, "PENDING")


@pytest.mark.parametrize(
    ("name", "start_name"),
    [("next.json", "start-sms-then-callout.json"), ("next-direct.json", "start-direct.json")],
)
def test_next_event(fresh: LocalStack, name: str, start_name: str) -> None:
    start_event = load(start_name)
    verification_id = body_of(fresh.invoke(START, start_event))["id"]
    sent = body_of(fresh.invoke(START, with_id(load(name), verification_id)))
    assert (sent["id"], sent["method"], sent["status"]) == (verification_id, "callout", "PENDING")
    assert fresh.sandbox is not None
    assert len(fresh.sandbox.inbox(number_of(start_event))["calls"]) == 1


@pytest.mark.parametrize(
    ("name", "start_name"), [("cancel.json", "start-sms.json"), ("cancel-direct.json", "start-direct.json")]
)
def test_cancel_event(fresh: LocalStack, name: str, start_name: str) -> None:
    verification_id = body_of(fresh.invoke(START, load(start_name)))["id"]
    cancelled = body_of(fresh.invoke(REPORT, with_id(load(name), verification_id)))
    assert (cancelled["id"], cancelled["status"]) == (verification_id, "CANCELLED")


def test_env_json_names_the_local_stacks_resources(stack: LocalStack) -> None:
    env = json.loads((EVENTS / "env.json").read_text())
    for function_id in (START, REPORT):
        values = env[function_id]
        assert values["TABLE_NAME"] == stack.table_name
        assert values["SINCH_SECRET_ARN"] == "phone-verification/sinch"
        # The region and credentials come from `--region` and the shell: SAM CLI ignores an env file's
        # AWS_* keys (the template cannot declare them). tests/integration/test_invoke.py runs SAM CLI.
        assert not [name for name in values if name.startswith("AWS_") and name != "AWS_ENDPOINT_URL"]
        assert values["SINCH_BASE_URL"].endswith(":3001")
        assert values["AWS_ENDPOINT_URL"].endswith(":3002")
