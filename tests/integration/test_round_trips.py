"""How many DynamoDB round trips a start and a right-code report wait for, one after another, with every
feature on: the fraud guard enforcing, an IAM principal's budget and a rateKey's (README, "Performance").

Every AWS call is timed on botocore's session (``before-call`` to ``after-call``) and every Sinch call at
its HTTP request. Calls of one request that overlap in time are one round trip of waiting (they run in
parallel); a DynamoDB call made while a call to another service is in flight adds no waiting (Sinch
answers in hundreds of ms, DynamoDB in a few). What is left is the sequence the answer waits for.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from phone_verification import runtime
from tests.integration.conftest import Deployment, Product, fresh_product, launch

PRINCIPAL = "arn:aws:iam::000000000000:role/busy-backend"
NUMBERS = [f"+4670111{n:04d}" for n in range(20)]
AWS_DYNAMODB_SECONDS = 0.005  # a DynamoDB request's time on the wire in a region (a few ms)


@dataclass(frozen=True)
class Call:
    service: str  # "dynamodb", "sinch", ...
    operation: str
    start: float
    end: float
    items: int = 1  # a transaction's items

    def overlap(self, other: Call) -> float:
        return max(0.0, min(self.end, other.end) - max(self.start, other.start))


@contextlib.contextmanager
def timed_calls(product: Product) -> Iterator[list[Call]]:
    """Every AWS and Sinch call the product makes inside the block, with when it started and ended."""
    sinch_url = product.stack.sinch_base_url or ""
    calls: list[Call] = []
    session = runtime._aws_session()

    def before(model: Any, params: Any, context: Any, **_: Any) -> None:
        items = len(json.loads(params["body"]).get("TransactItems", [None])) if params.get("body") else 1
        context["timed"] = (model.service_model.signing_name, model.name, time.perf_counter(), items)

    def after(context: Any, **_: Any) -> None:
        service, operation, started, items = context.pop("timed")
        calls.append(Call(service, operation, started, time.perf_counter(), items))

    original = requests.Session.request

    def sinch(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, method, url, *args, **kwargs)
        finally:
            if url.startswith(sinch_url):
                calls.append(Call("sinch", method, started, time.perf_counter()))

    def network(request: Any, **_: Any) -> None:
        # A DynamoDB request takes its milliseconds as in AWS: here the emulator answers in this process,
        # whose threads share one interpreter lock, and without a wait on the wire the order in which they
        # get it, not the product, would decide which calls overlap.
        if "dynamodb" in request.url:
            time.sleep(AWS_DYNAMODB_SECONDS)

    session.register("before-call", before)
    session.register("after-call", after)
    session.register("after-call-error", after)
    session.register("before-send", network)
    runtime.configure(None)  # clients copy the session's hooks when they are built
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "request", sinch)
        try:
            yield calls
        finally:
            session.unregister("before-call", before)
            session.unregister("after-call", after)
            session.unregister("after-call-error", after)
            session.unregister("before-send", network)
            runtime.configure(None)


def waits(calls: list[Call]) -> list[list[Call]]:
    """The DynamoDB round trips a request waits for, in order: DynamoDB calls that overlap are one, and
    one made while a call to another service (Sinch, EventBridge) is in flight (most of its time) is none:
    the request waits for that call then."""
    others = [call for call in calls if call.service != "dynamodb"]

    def hidden(call: Call) -> bool:
        return sum(call.overlap(other) for other in others) >= (call.end - call.start) / 2

    waited = sorted((c for c in calls if c.service == "dynamodb" and not hidden(c)), key=lambda c: c.start)
    rounds: list[list[Call]] = []
    for call in waited:
        if rounds and call.start < max(c.end for c in rounds[-1]):
            rounds[-1].append(call)
        else:
            rounds.append([call])
    return rounds


def described(rounds: list[list[Call]]) -> str:
    return " → ".join(" ∥ ".join(f"{c.operation}[{c.items}]" for c in r) for r in rounds)


@pytest.fixture(scope="module")
def busy_deployment() -> Iterator[Deployment]:
    """Every send limit on: the guard (enforce, its default), the principal's budget (a default), the
    rateKey's budget (a default); starts for one number need no gap, so one number can be started twice."""
    yield from launch("round-trips", env={"MIN_SECONDS_BETWEEN_STARTS": "0"})


@pytest.fixture
def product(busy_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(busy_deployment, monkeypatch)


def measured(calls: list[Call], request: Any) -> tuple[requests.Response, list[list[Call]]]:
    """A request's answer and the DynamoDB round trips it waited for."""
    mark = len(calls)
    response = request()
    return response, waits(calls[mark:])


class TestStart:
    def test_a_start_waits_for_at_most_two_dynamodb_round_trips(self, product: Product) -> None:
        with timed_calls(product) as calls:
            product.started(NUMBERS[0], principal=PRINCIPAL, rateKey="user-0")  # clients, secret
            for n, number in enumerate(NUMBERS[1:4], start=1):
                body = {"principal": PRINCIPAL, "rateKey": f"user-{n}"}
                answer, rounds = measured(calls, lambda n=number, body=body: product.start(n, **body))
                assert answer.status_code == 201, answer.text
                print(f"\n[round trips] start, new number: {described(rounds)}")
                assert len(rounds) <= 2, described(rounds)

    def test_so_does_one_that_supersedes_from_an_environment_that_saw_nothing_before(
        self, product: Product
    ) -> None:
        product.started(NUMBERS[5], principal=PRINCIPAL, rateKey="user-1")
        with timed_calls(product) as calls:  # a new execution environment
            product.status("0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87")  # clients and secret, nothing else
            answer, rounds = measured(
                calls, lambda: product.start(NUMBERS[5], principal=PRINCIPAL, rateKey="user-2")
            )
        assert answer.status_code == 201, answer.text
        print(f"\n[round trips] start, superseding, fresh environment: {described(rounds)}")
        assert len(rounds) <= 2, described(rounds)


class TestReport:
    def test_a_right_code_report_waits_for_one_dynamodb_round_trip(self, product: Product) -> None:
        started = product.started(NUMBERS[6], principal=PRINCIPAL, rateKey="user-1")
        code = product.code(NUMBERS[6])
        # Sinch's answer to the report takes as long as a real one's (a share of its hundreds of ms).
        product.fault(kind="delay", seconds=0.2, method="PUT", count=1)
        with timed_calls(product) as calls:
            product.status(started["id"], principal=PRINCIPAL)  # clients and secret
            answer, rounds = measured(
                calls, lambda: product.report(started["id"], {"code": code}, principal=PRINCIPAL)
            )
        assert answer.json()["status"] == "SUCCESSFUL", answer.text
        print(f"\n[round trips] right-code report: {described(rounds)}")
        assert len(rounds) == 1, described(rounds)
