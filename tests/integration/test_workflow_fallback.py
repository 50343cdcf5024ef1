"""The example workflow's automatic fallback: a channel not answered in time, the workflow sends the next.

Executed like test_workflow.py's proofs: the real definition on moto's Step Functions interpreter in the
local stack's emulator, its Lambda tasks the real start handler in-process, the codes reported over the
local HTTP API as the owner the workflow names. The stack allows a send to a number right after the last
(MinSecondsBetweenStarts=0), so a channel can wait a second: with the default 30 s gap, ``next`` within
30 s of the start is RateLimited, which is why the template's default channel wait is 120 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_stack import LocalStack
from phone_verification import runtime
from phone_verification.commands import report_command
from tests.integration.conftest import http, reset_stack, verification_of
from tests.integration.test_workflow import (
    DEFINITION,
    HTTP_TIMEOUT,
    OWNER,
    START,
    WAIT,
    ended,
    events,
    execute,
    verification_items,
    workflow_stack,
)

SMS_THEN_CALLOUT = ["sms", "callout"]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    yield from workflow_stack("pv-workflow-fallback", MinSecondsBetweenStarts="0")


@pytest.fixture
def fresh(stack: LocalStack) -> Iterator[LocalStack]:
    yield reset_stack(stack)
    assert stack.sandbox is not None
    stack.sandbox.clear_faults()
    # An execution a failed test left waiting would send its next channel into the next test.
    sfn = stack.stepfunctions()
    for machine in sfn.list_state_machines()["stateMachines"]:
        running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
        for execution in running["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])


# ----------------------------------------------------------------------------------------------- helpers


def delivered(
    stack: LocalStack, number: str, *, method: str, count: int = 1, timeout: float = 10.0
) -> dict[str, Any]:
    """The ``count``-th SMS, WhatsApp message or call of ``method`` to ``number``, once it has arrived and
    the product has stored it as the verification's current channel (which it does after Sinch's answer,
    a moment after the phone got it)."""
    assert stack.sandbox is not None
    box = "calls" if method in ("callout", "flashcall") else "messages"
    deadline = time.monotonic() + timeout
    while True:
        deliveries = [d for d in stack.sandbox.inbox(number)[box] if d["method"] == method]
        if len(deliveries) >= count:
            delivery: dict[str, Any] = deliveries[count - 1]
            item = stored(stack, verification_of(delivery))
            if item is not None and item["method"]["S"] == method:
                return delivery
        assert time.monotonic() < deadline, f"no {method} to {number} stored within {timeout} s"
        time.sleep(0.05)


def stored(stack: LocalStack, verification_id: str) -> dict[str, Any] | None:
    key = {"pk": {"S": f"verification#{verification_id}"}}
    item = stack.dynamodb().get_item(TableName=stack.table_name, Key=key, ConsistentRead=True).get("Item")
    return dict(item) if item is not None else None


def report(stack: LocalStack, verification_id: str, code: str) -> requests.Response:
    """The user's backend reports the code the user typed, by the verification's id."""
    return http.put(
        f"{stack.api_url}/verifications/{verification_id}", json={"code": code}, timeout=HTTP_TIMEOUT
    )


def entered(stack: LocalStack, execution_arn: str) -> list[str]:
    """The states the execution entered, in order."""
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in events(stack, execution_arn)
        if event["type"].endswith("StateEntered")
    ]


def scheduled(stack: LocalStack, execution_arn: str) -> list[dict[str, Any]]:
    """The payloads of the execution's Lambda tasks, in order."""
    return [
        json.loads(event["taskScheduledEventDetails"]["parameters"])["Payload"]
        for event in events(stack, execution_arn)
        if event["type"] == "TaskScheduled"
    ]


def failed_tasks(stack: LocalStack, execution_arn: str) -> list[str]:
    """The errors the execution's tasks failed with, in order."""
    return [
        event["taskFailedEventDetails"]["error"]
        for event in events(stack, execution_arn)
        if event["type"] == "TaskFailed"
    ]


def timed_out(stack: LocalStack, execution_arn: str) -> int:
    return sum(1 for event in events(stack, execution_arn) if event["type"] == "TaskTimedOut")


def short_lived_machine(stack: LocalStack, name: str) -> str:
    """The same definition, told the verification lasts 1 s and the margin is 1 s: the last channel
    waits 2 s."""
    return stack.create_state_machine(
        DEFINITION,
        name=name,
        substitutions={
            "StartVerificationFunctionArn": stack.function_arn(START),
            "VerificationTtlSeconds": "1",
            "WaitMarginSeconds": "1",
            "ChannelWaitSeconds": "1",
        },
    )


# ------------------------------------------------------------------------------------------------ proofs


def test_an_sms_never_answered_falls_back_to_a_callout_whose_code_verifies(fresh: LocalStack) -> None:
    """SMS, its wait runs out, the workflow sends the callout under the same id and waits on it: the SMS
    code is a wrong code from then on, the spoken code ends the workflow with the verification."""
    number = "+46700000601"
    execution = execute(fresh, number, channels=SMS_THEN_CALLOUT, channelWaitSeconds=1)
    sms = delivered(fresh, number, method="sms")
    verification = verification_of(sms)

    call = delivered(fresh, number, method="callout")
    payloads = scheduled(fresh, execution)
    waiting = stored(fresh, verification)
    assert fresh.stepfunctions().describe_execution(executionArn=execution)["status"] == "RUNNING"
    late_sms = report(fresh, verification, sms["code"])
    answer = report(fresh, verification, call["code"])
    outcome = ended(fresh, execution)

    assert verification_of(call) == verification
    assert (late_sms.status_code, late_sms.json()["status"]) == (200, "PENDING"), late_sms.text
    assert (late_sms.json()["reason"], late_sms.json()["attemptsRemaining"]) == ("Invalid code", 4)
    assert (answer.status_code, answer.json()["status"]) == (200, "SUCCESSFUL"), answer.text
    assert outcome["status"] == "SUCCEEDED"
    output = json.loads(outcome["output"])
    assert (output["id"], output["method"], output["status"]) == (verification, "callout", "SUCCESSFUL")

    # The start, the replay that found the id (no token, nothing sent), then next with its own key and
    # token, which the verification took over from the start's.
    start, find, send_next = payloads
    assert start["channels"] == SMS_THEN_CALLOUT
    assert "taskToken" in start
    assert {**find, "taskToken": start["taskToken"]} == start
    assert (send_next["action"], send_next["id"]) == ("next", verification)
    assert send_next["idempotencyKey"] == f"{execution}:next:1"
    assert waiting is not None
    assert waiting["taskToken"] == {"S": send_next["taskToken"]}
    assert timed_out(fresh, execution) == 1
    assert entered(fresh, execution) == [
        "Prepare",
        "OwnerGiven",
        "ChannelsGiven",
        "ChannelWaitGiven",
        "GivenChannelWait",
        "SeveralChannels",
        "FirstOfSeveralChannels",
        "StartWithChannels",
        "ChannelUnanswered",
        "FindVerification",
        "ChannelUnanswered",
        "ToLastChannel",
        "NextChannel",
        "Verified",
    ]
    assert fresh.sandbox is not None
    inbox = fresh.sandbox.inbox(number)
    assert (len(inbox["messages"]), len(inbox["calls"])) == (1, 1)
    assert "taskToken" not in verification_items(fresh)[0]


def test_when_no_channel_is_answered_the_workflow_fails_with_verification_expired(
    fresh: LocalStack,
) -> None:
    """Three channels, none answered: SMS (1 s), WhatsApp (1 s), then the callout, which as the last
    waits out the verification (here 1 s + 1 s margin): VerificationExpired, each channel sent once."""
    number = "+46700000602"
    machine = short_lived_machine(fresh, "pv-workflow-fallback-short")
    started = time.monotonic()
    execution = execute(fresh, number, machine=machine, channels=["sms", "whatsapp", "callout"])

    outcome = ended(fresh, execution)
    waited = time.monotonic() - started

    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "VerificationExpired"
    assert outcome["cause"] == "No code was reported before the verification expired."
    assert 4 <= waited < WAIT
    assert timed_out(fresh, execution) == 3
    assert fresh.sandbox is not None
    inbox = fresh.sandbox.inbox(number)
    deliveries = inbox["messages"] + inbox["calls"]
    assert [d["method"] for d in deliveries] == ["sms", "whatsapp", "callout"]
    assert len({verification_of(d) for d in deliveries}) == 1
    keys = [p["idempotencyKey"] for p in scheduled(fresh, execution) if p.get("action") == "next"]
    assert keys == [f"{execution}:next:1", f"{execution}:next:2"]
    assert [state for state in entered(fresh, execution) if state.startswith("To")] == [
        "ToNextChannel",
        "ToLastChannel",
    ]


@pytest.mark.parametrize("fallen_back", [False, True], ids=["while-the-sms-waits", "after-the-callout"])
def test_cancelling_the_verification_fails_the_workflow_with_verification_cancelled(
    fresh: LocalStack, fallen_back: bool
) -> None:
    number = "+46700000603"
    wait = 1 if fallen_back else 60
    execution = execute(fresh, number, channels=SMS_THEN_CALLOUT, channelWaitSeconds=wait)
    verification = verification_of(delivered(fresh, number, method="sms"))
    if fallen_back:
        delivered(fresh, number, method="callout")

    cancelled = http.delete(f"{fresh.api_url}/verifications/{verification}", timeout=HTTP_TIMEOUT)
    outcome = ended(fresh, execution)

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED"), cancelled.text
    assert (outcome["status"], outcome["error"]) == ("FAILED", "VerificationCancelled")
    assert outcome["cause"] == "The verification was cancelled."
    assert fresh.sandbox is not None
    assert len(fresh.sandbox.inbox(number)["calls"]) == (1 if fallen_back else 0)


def test_a_channel_the_backend_already_sent_is_waited_for_not_sent_again(fresh: LocalStack) -> None:
    """The backend sends the callout itself (POST /verifications/{id}/next) while the workflow waits on
    the SMS: when the SMS wait runs out, the workflow's next answers NoChannelLeft, and the workflow waits
    for the verification (an idempotent replay of the start with a new task token) instead of failing."""
    number = "+46700000604"
    execution = execute(fresh, number, channels=SMS_THEN_CALLOUT, channelWaitSeconds=1)
    verification = verification_of(delivered(fresh, number, method="sms"))
    sent = http.post(f"{fresh.api_url}/verifications/{verification}/next", timeout=HTTP_TIMEOUT)
    assert (sent.status_code, sent.json()["method"]) == (200, "callout"), sent.text
    call = delivered(fresh, number, method="callout")

    deadline = time.monotonic() + WAIT
    while "WaitForVerification" not in entered(fresh, execution):
        assert time.monotonic() < deadline, "the workflow did not get to WaitForVerification"
        time.sleep(0.05)
    answer = report(fresh, verification, call["code"])
    outcome = ended(fresh, execution)

    assert (answer.status_code, answer.json()["status"]) == (200, "SUCCESSFUL"), answer.text
    assert outcome["status"] == "SUCCEEDED"
    output = json.loads(outcome["output"])
    assert (output["id"], output["method"]) == (verification, "callout")
    assert failed_tasks(fresh, execution) == ["NoChannelLeft"]
    assert fresh.sandbox is not None
    assert len(fresh.sandbox.inbox(number)["calls"]) == 1


def test_an_sms_answered_just_as_its_wait_runs_out_still_verifies(
    fresh: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's code arrives between the SMS wait running out and the workflow's next (here: made to
    arrive exactly then): the report succeeds but cannot resume the timed-out task, next answers
    AlreadyVerified, and the workflow's replay of the start hands it the verification at once."""
    number = "+46700000605"
    execution = execute(fresh, number, channels=SMS_THEN_CALLOUT, channelWaitSeconds=1)
    sms = delivered(fresh, number, method="sms")
    verification = verification_of(sms)
    service = runtime.current().service
    original = service.next_channel_once
    answers: list[str] = []

    def user_answers_first(*args: Any, **kwargs: Any) -> Any:
        # The report the backend would PUT, through the same service: over HTTP it would wait for this
        # invocation to end (the local stack runs one function's environment at a time).
        command = report_command({"code": sms["code"]}, owner=OWNER, verification=verification)
        answers.append(service.report(command).status)
        return original(*args, **kwargs)

    monkeypatch.setattr(service, "next_channel_once", user_answers_first)
    outcome = ended(fresh, execution)

    assert answers == ["SUCCESSFUL"]
    assert outcome["status"] == "SUCCEEDED", outcome
    output = json.loads(outcome["output"])
    assert (output["id"], output["method"], output["status"]) == (verification, "sms", "SUCCESSFUL")
    assert failed_tasks(fresh, execution) == ["AlreadyVerified"]
    assert fresh.sandbox is not None
    assert fresh.sandbox.inbox(number)["calls"] == []


def test_a_sinch_outage_at_the_next_channel_is_retried_and_calls_once(fresh: LocalStack) -> None:
    assert fresh.sandbox is not None
    number = "+46700000606"
    execution = execute(fresh, number, channels=SMS_THEN_CALLOUT, channelWaitSeconds=1)
    verification = verification_of(delivered(fresh, number, method="sms"))
    fresh.sandbox.add_fault({"kind": "status", "status": 503, "method": "POST", "count": 1})

    call = delivered(fresh, number, method="callout")
    answer = report(fresh, verification, call["code"])
    outcome = ended(fresh, execution)

    assert (answer.status_code, outcome["status"]) == (200, "SUCCEEDED")
    assert len(fresh.sandbox.inbox(number)["calls"]) == 1
    starts = [r["status"] for r in fresh.sandbox.requests_log() if r["operation"] == "start"]
    assert starts == [200, 503, 200]
    assert failed_tasks(fresh, execution) == ["ProviderUnavailable"]


def test_one_channel_that_is_not_sms_waits_like_the_sms_does(fresh: LocalStack) -> None:
    number = "+46700000607"
    execution = execute(fresh, number, channels=["callout"], channelWaitSeconds=1)
    call = delivered(fresh, number, method="callout")
    time.sleep(1.2)  # longer than channelWaitSeconds, which does not apply to the last (only) channel

    answer = report(fresh, verification_of(call), call["code"])
    outcome = ended(fresh, execution)

    assert (answer.status_code, outcome["status"]) == (200, "SUCCEEDED"), answer.text
    assert json.loads(outcome["output"])["method"] == "callout"
    assert timed_out(fresh, execution) == 0


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"channels": SMS_THEN_CALLOUT, "channelWaitSeconds": "soon"}, "InvalidRequest"),
        ({"channels": SMS_THEN_CALLOUT, "channelWaitSeconds": 0}, "InvalidRequest"),
        ({"channels": ["sms", "sms"]}, "InvalidRequest"),
        ({"channels": "sms"}, "InvalidRequest"),
    ],
    ids=["wait-not-a-number", "wait-zero", "repeated-channel", "channels-not-a-list"],
)
def test_input_the_workflow_or_the_start_refuses_fails_at_once_and_sends_nothing(
    fresh: LocalStack, extra: dict[str, Any], error: str
) -> None:
    execution = execute(fresh, "+46700000608", **extra)
    outcome = ended(fresh, execution)
    assert (outcome["status"], outcome["error"]) == ("FAILED", error)
    assert verification_items(fresh) == []
