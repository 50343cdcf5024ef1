"""Lifecycle events on EventBridge, through the local stack as ``EVENT_BUS_NAME=default make run`` runs it.

A rule on the emulator's default bus sends the product's events to an SQS queue (``local_stack.events``,
what ``make events`` prints); the tests drive verifications over HTTP and read the queue: one event per
lifecycle change, in order, and nothing personal in any of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.events import EventTail
from tests.integration.conftest import (
    DEVELOPER,
    NUMBER,
    OTHER_NUMBER,
    Deployment,
    Product,
    fresh_product,
    launch,
    problem,
    wrong,
)

ROOT = Path(__file__).resolve().parents[2]
GAP = 31  # past the number's 30 s between sends
DENIED_NUMBER = "+46700000103"


@pytest.fixture(scope="module")
def events_deployment() -> Iterator[Deployment]:
    yield from launch("events", env={"EVENT_BUS_NAME": "default"})


@pytest.fixture
def product(events_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(events_deployment, monkeypatch)


@pytest.fixture
def tail(events_deployment: Deployment) -> Iterator[EventTail]:
    stack = events_deployment.stack
    with EventTail(stack.client("events"), stack.client("sqs"), "default") as watching:
        yield watching


def drain(tail: EventTail, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The events on the queue once ``expected`` arrived, and one more second's worth (so an extra event
    would be seen), oldest first."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(events) < expected and time.monotonic() < deadline:
        events.extend(tail.receive(wait_seconds=1))
    events.extend(tail.receive(wait_seconds=1))
    return sorted(events, key=lambda event: (event["time"], event["detail"]["time"]))


def changes(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["detail-type"].removeprefix("Verification "), event["detail"]["id"]) for event in events]


def test_each_lifecycle_change_puts_one_event_and_none_holds_personal_data(
    product: Product, tail: EventTail
) -> None:
    """Given events on the default bus, when verifications start, fall back, succeed, fail, get cancelled,
    expire or are denied, then each change arrives once, from source phone-verification, with a detail
    that says what happened to which verification and never the number, a code, a CLI or the caller."""
    secrets: list[str] = []
    # Started (sms) -> Started (callout, channel 1) -> Succeeded
    fallback = product.started(channels=["sms", "callout"], reference="signup-42")["id"]
    secrets.append(product.code())
    product.advance(GAP)
    product.request("POST", f"/verifications/{fallback}/next")
    spoken = product.spoken_code()
    secrets.append(spoken)
    assert product.report(fallback, {"code": spoken}).json()["status"] == "SUCCESSFUL"
    # Started -> Failed (attempts used up)
    product.advance(GAP)
    failed = product.started(OTHER_NUMBER)["id"]
    code = product.code(OTHER_NUMBER)
    secrets.append(code)
    for _ in range(5):
        product.report(failed, {"code": wrong(code)})
    # Started -> Cancelled
    product.advance(GAP)
    cancelled = product.started()["id"]
    secrets.append(product.code())
    assert product.request("DELETE", f"/verifications/{cancelled}").status_code == 200
    # Started -> Expired, published once although touched twice
    product.advance(GAP)
    expired = product.started(OTHER_NUMBER)["id"]
    secrets.append(product.code(OTHER_NUMBER))
    product.advance(601)
    assert product.state(expired)["reason"] == "Expired"
    problem(product.report(expired, {"code": product.code(OTHER_NUMBER)}), 410, "expired")
    # Started -> Blocked (Sinch denied it after the start)
    product.sandbox.add_outcome("DENIED", "Fraud", DENIED_NUMBER)
    blocked = product.started(DENIED_NUMBER, method="callout")["id"]
    problem(product.report(blocked, {"code": "1234"}), 403, "destination_denied")

    events = drain(tail, 11)

    assert changes(events) == [
        ("Started", fallback),
        ("Started", fallback),
        ("Succeeded", fallback),
        ("Started", failed),
        ("Failed", failed),
        ("Started", cancelled),
        ("Cancelled", cancelled),
        ("Started", expired),
        ("Expired", expired),
        ("Started", blocked),
        ("Blocked", blocked),
    ]
    assert {event["source"] for event in events} == {"phone-verification"}
    details = [event["detail"] for event in events]
    assert [(d["method"], d["channel"], d["status"]) for d in details[:3]] == [
        ("sms", 0, "PENDING"),
        ("callout", 1, "PENDING"),
        ("callout", 1, "SUCCESSFUL"),
    ]
    assert details[0]["channels"] == ["sms", "callout"]
    assert details[0]["reference"] == "signup-42"
    assert (details[4]["status"], details[4]["reason"], details[4]["attemptsUsed"]) == (
        "FAIL",
        "Invalid code",
        5,
    )
    assert (details[6]["status"], details[8]["status"], details[8]["reason"]) == (
        "CANCELLED",
        "FAIL",
        "Expired",
    )
    assert details[10]["status"] == "DENIED"
    assert {d["country"] for d in details} == {"SE"}

    text = json.dumps(events)
    for secret in [NUMBER, OTHER_NUMBER, DENIED_NUMBER, DEVELOPER, *secrets]:
        for form in {secret, secret.lstrip("+"), re.sub(r"\D", "", secret)[-9:]}:
            assert form not in text, form
    assert "ownerHash" not in text
    assert "numberHash" not in text
    for detail in details:  # nothing of a number's shape (timestamps are ISO strings)
        assert not re.search(r"\d{7,}", json.dumps({**detail, "id": None})), detail


def test_a_failed_put_never_fails_the_request(
    product: Product, tail: EventTail, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """EventBridge refusing the put (throttled, on its retry too) is logged and counted as EventPutFailed;
    the start still answers 201, and the next change's event is put as usual."""
    product.stack.aws_fault("AWSEvents.PutEvents", "ThrottlingException", count=2)
    capsys.readouterr()
    verification = product.started()["id"]
    assert '"EventPutFailed":1' in capsys.readouterr().out
    failures = [r for r in caplog.records if r.getMessage() == "could not publish a lifecycle event"]
    assert [(r.levelname, r.__dict__["aws_error"]) for r in failures] == [("ERROR", "ThrottlingException")]
    assert product.state(verification)["status"] == "PENDING"
    assert product.request("DELETE", f"/verifications/{verification}").status_code == 200
    assert changes(drain(tail, 1)) == [("Cancelled", verification)]


def test_make_events_prints_them(events_deployment: Deployment, product: Product) -> None:
    """``python -m local_stack.events`` (``make events``) against the running stack's emulator prints each
    event as it arrives, one line each, and stops by itself."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'phone_verification'}{os.pathsep}{ROOT}",
        "PYTHONUNBUFFERED": "1",
    }
    stack = events_deployment.stack
    command = [sys.executable, "-m", "local_stack.events", "--endpoint-url", stack.aws_endpoint_url]
    command += ["--region", stack.region, "--stop-after", "3"]
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        assert "watching event bus 'default'" in process.stderr.readline()
        verification = product.started()["id"]
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    (line,) = out.splitlines()
    assert line.startswith("Verification Started  {")
    assert json.loads(line.split("  ", 1)[1])["id"] == verification
    assert NUMBER.lstrip("+") not in line


def test_a_bus_of_its_own_is_created_on_the_emulator() -> None:
    for deployment in launch("events-own-bus", env={"EVENT_BUS_NAME": "signups"}):
        stack = deployment.stack
        assert stack.event_buses == ["signups"]
        names = [bus["Name"] for bus in stack.client("events").list_event_buses()["EventBuses"]]
        assert "signups" in names
