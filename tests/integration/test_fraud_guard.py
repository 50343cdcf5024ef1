"""The fraud guard over HTTP through the local stack, with its defaults: pumping into one range is cut off,
legitimate traffic that converts (a burst in a range never seen before included) is not, ``monitor``
refuses nothing and logs exactly what ``enforce`` refuses, ``off`` costs no round trip, and nothing in
logs, metrics or items names a number, a range beyond its country code, or a rate key."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from contextlib import redirect_stdout

import pytest
import requests

from phone_verification import runtime
from tests.integration.conftest import (
    Deployment,
    LogLines,
    Product,
    captured_logs,
    fresh_product,
    launch,
    problem,
    recorded_aws_calls,
)

RANGE = "+4670123"  # one range of 10,000 numbers: +46 70 123 xxxx
BOT = "arn:aws:iam::000000000000:user/pumping-backend"


def pumped(count: int, prefix: str = RANGE) -> list[str]:
    return [f"{prefix}{n:04d}" for n in range(count)]


@pytest.fixture(scope="module")
def monitor_deployment() -> Iterator[Deployment]:
    yield from launch("guard-monitor", env={"FRAUD_GUARD": "monitor"})


@pytest.fixture(scope="module")
def off_deployment() -> Iterator[Deployment]:
    yield from launch("guard-off", env={"FRAUD_GUARD": "off"})


@pytest.fixture
def monitor(monitor_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(monitor_deployment, monkeypatch)


@pytest.fixture
def off(off_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(off_deployment, monkeypatch)


@pytest.fixture
def logs() -> Iterator[LogLines]:
    with captured_logs() as lines:
        yield lines


def pump(product: Product, count: int = 200, prefix: str = RANGE) -> list[requests.Response]:
    """A bot starting verifications to ``count`` numbers of one range, never entering a code."""
    return [product.start(number, principal=BOT) for number in pumped(count, prefix)]


def test_pumping_one_range_is_cut_off(product: Product) -> None:
    answers = pump(product)
    sent = [a.status_code == 201 for a in answers]
    # At most 25 % of the first 200 reach Sinch; at least 95 % of those after the first 100 are blocked.
    assert sum(sent) <= 50
    assert sent[100:].count(False) >= 95
    assert len(product.sinch_requests("start")) == sum(sent)
    refusal = next(a for a in answers if a.status_code == 403)
    body = problem(refusal, 403, "destination_denied")
    assert body["reason"] == "suspected_fraud"
    assert product.verification_items() != []  # what was sent is a verification like any other
    assert len(product.verification_items()) == sum(sent)


def test_a_burst_in_a_new_range_whose_users_verify_is_not_refused(product: Product) -> None:
    """A campaign: 100 sign-ups in 20 minutes in a range never seen before; 85 % type their code 10 s to
    5 min after the SMS (the product's and Sinch's clocks run simulated time)."""
    product.freeze()
    rng = random.Random(20261130)
    events: list[tuple[float, str, str]] = []  # (when, what, number)
    for n, number in enumerate(pumped(100, "+4670456")):
        events.append((n * 12.0, "start", number))
        if rng.random() < 0.85:
            events.append((n * 12.0 + rng.uniform(10, 300), "report", number))
    clock, refused, started = 0.0, 0, {}
    for when, what, number in sorted(events):
        product.advance(when - clock)
        clock = when
        if what == "start":
            answer = product.start(number)
            refused += answer.status_code == 403
            if answer.status_code == 201:
                started[number] = answer.json()["id"]
        elif number in started:
            reported = product.report(started[number], {"code": product.code(number)})
            assert reported.json()["status"] == "SUCCESSFUL", reported.text
    assert refused == 0  # at most 0.5 % of 100


def test_monitor_refuses_nothing_and_logs_exactly_what_enforce_refuses(
    product: Product, monitor: Product, logs: LogLines
) -> None:
    # A range of its own: the product remembers refused ranges for a few seconds, across tests too.
    enforced = [a.status_code for a in pump(product, 60, "+4670321")]
    logs.lines.clear()
    runtime.configure(None)  # the product's clients are per process: build them for the other stack
    watched = [a.status_code for a in pump(monitor, 60, "+4670321")]
    would = [line for line in logs.lines if line.startswith("the fraud guard would refuse a send")]
    assert watched == [201] * 60
    assert len(would) == enforced.count(403) == 40


def test_off_asks_dynamodb_nothing_about_ranges(off: Product) -> None:
    with recorded_aws_calls() as recorded:
        answers = pump(off, 30)
    assert [a.status_code for a in answers] == [201] * 30
    keys = [json.dumps(params.get("Key", {})) for _, operation, params in recorded if "Item" in operation]
    assert not [key for key in keys if "guard#" in key]


def test_no_number_range_or_rate_key_in_logs_metrics_or_items(product: Product, logs: LogLines) -> None:
    stdout = io.StringIO()
    numbers = pumped(25, "+4670789")
    rate_keys = [f"end-user-203.0.113.{n}" for n in range(25)]
    with redirect_stdout(stdout):  # the EMF metric documents
        answers = [
            product.start(number, principal=BOT, rateKey=key)
            for number, key in zip(numbers, rate_keys, strict=True)
        ]
        product.report(answers[0].json()["id"], {"code": product.code(numbers[0])}, principal=BOT)
    assert {a.status_code for a in answers} == {201, 403}
    written = "\n".join(logs.lines) + stdout.getvalue() + json.dumps(product.items())
    for secret in ("4670789", *rate_keys, *[n.removeprefix("+") for n in numbers]):
        assert secret not in written, secret
    assert '"country": "SE"' in written or '"country":"SE"' in written  # the country is named
