"""IAM exactly as wide as the code: the AWS actions each function calls, recorded while every flow runs
through the local stack, are the actions template.yaml grants it (deployed with the example workflow, so
that the Step Functions callbacks are granted too). An action granted but never called, or called but not
granted, fails the test.

Calls are recorded on botocore's session, which the product's clients (and Powertools' idempotency store,
which shares the DynamoDB client) are created from; a transaction counts as the actions of its items, as
IAM authorizes it (TransactWriteItems needs PutItem, UpdateItem, DeleteItem or ConditionCheckItem).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from phone_verification import runtime, store_budgets
from tests.integration.conftest import (
    NUMBER,
    OTHER_NUMBER,
    Deployment,
    Product,
    fresh_product,
    launch,
    recorded_aws_calls,
    wrong,
)
from tests.unit.test_template import _as_list, _defaults, _statements

FUNCTIONS = {
    "-start-verification": "StartVerificationFunction",
    "-report-verification": "ReportVerificationFunction",
}
TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-iam-test-token"
BUS = "default"  # lifecycle events on: PutEvents is called, and granted on this bus only
BUDGET = 12  # each principal's starts in the window: the flows below stay within it
BUSY = "arn:aws:iam::000000000000:role/busy-backend"


def granted(function: str) -> set[str]:
    params = _defaults() | {"DeployExampleWorkflow": "true", "EventBusName": BUS}
    return {action for statement in _statements(function, params) for action in _as_list(statement["Action"])}


@pytest.fixture(scope="module")
def gapless_deployment() -> Iterator[Deployment]:
    """Starts for one number need no gap between them, so the flows need no clock moves (moving the
    product's clock would run a function to build its clients)."""
    env = {"MIN_SECONDS_BETWEEN_STARTS": "0", "EVENT_BUS_NAME": BUS, "MAX_STARTS_PER_PRINCIPAL": str(BUDGET)}
    yield from launch("iam", env=env)


@pytest.fixture
def product(gapless_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(gapless_deployment, monkeypatch)


def iam_actions(recorded: list[tuple[str, str, dict[str, Any]]]) -> dict[str, set[str]]:
    """function logical id -> the IAM actions its recorded calls need."""
    actions: dict[str, set[str]] = defaultdict(set)
    for name, operation, params in recorded:
        function = next((fid for suffix, fid in FUNCTIONS.items() if name.endswith(suffix)), name)
        if operation == "dynamodb:TransactWriteItems":
            # ``params`` is the request as botocore serialised it: the items are in its JSON body.
            for item in json.loads(params["body"])["TransactItems"]:
                actions[function] |= {f"dynamodb:{TRANSACTION_ACTIONS[kind]}" for kind in item}
        else:
            actions[function].add(operation)
    return actions


def exercise_start(product: Product) -> None:
    """Every way the start function touches AWS, from a cold start (each function runs in its own
    execution environment in Lambda, so each reads the secret itself)."""
    runtime.configure(None)
    first = product.started()  # secret, limits, the transaction
    product.started()  # supersedes the first: the transaction's abort
    key = {"Idempotency-Key": "iam-order-1"}
    product.started(OTHER_NUMBER, headers=key)
    assert product.start(OTHER_NUMBER, headers=key).headers.get("Idempotent-Replayed") == "true"
    product.fault(kind="status", status=503, method="POST")  # a keyed start that fails: its record goes
    assert product.start("+46700000003", headers={"Idempotency-Key": "iam-order-2"}).status_code == 503
    product.fault(kind="drop", method="POST", process=True)  # a lost answer, found again by reference
    assert product.start("+46700000008").status_code == 201
    waiting = product.invoke_start({"phoneNumber": NUMBER, "taskToken": TASK_TOKEN, "idempotencyKey": "exec"})
    product.invoke_start({"phoneNumber": NUMBER})  # supersedes a waiting workflow: SendTaskFailure
    product.invoke_start({"phoneNumber": NUMBER, "taskToken": TASK_TOKEN, "idempotencyKey": "exec"})
    assert first["id"] != waiting["id"]
    for _ in range(2):  # the number's fifth and sixth start in the window: refused on the log as it is
        product.start()
    ended = product.invoke_start(
        {"phoneNumber": "+46700000004", "taskToken": TASK_TOKEN, "idempotencyKey": "e2"}
    )
    product.invoke_report({"id": ended["id"], "code": product.code("+46700000004")})
    # A retried task whose verification already ended is resumed at once: SendTaskSuccess.
    product.invoke_start({"phoneNumber": "+46700000004", "taskToken": TASK_TOKEN, "idempotencyKey": "e2"})
    fallback = product.started("+46700000009", channels=["sms", "callout"])
    sent = product.request("POST", f"/verifications/{fallback['id']}/next", headers={"Idempotency-Key": "n1"})
    assert sent.json()["method"] == "callout"  # the number from Sinch, the guard, limits, the switch
    # A caller whose budget is spread over two items uses it up: the start that finds its shard full
    # reads both at once (BatchGetItem), and the one after it is refused. Each number its own range.
    answers = [product.start(f"+46701{n:02d}0001", principal=BUSY).status_code for n in range(BUDGET + 1)]
    assert answers == [201] * BUDGET + [429]


def exercise_report(product: Product) -> None:
    """Every way the report function touches AWS, from a cold start (the verifications it reports on are
    started first)."""
    started = product.started("+46700000005", method="callout")  # Sinch judges these reports
    waiting = product.invoke_start({"phoneNumber": "+46700000006", "taskToken": TASK_TOKEN})
    failing = product.invoke_start({"phoneNumber": "+46700000007", "taskToken": TASK_TOKEN})
    runtime.configure(None)
    product.report(started["id"], {"code": product.spoken_code("+46700000005")})  # count, finish
    code = product.code("+46700000006")
    product.invoke_report({"id": waiting["id"], "code": wrong(code)})
    product.invoke_report({"id": waiting["id"], "code": code})  # resumes the workflow: SendTaskSuccess
    for _ in range(5):  # the last wrong code fails the workflow: SendTaskFailure
        product.invoke_report({"id": failing["id"], "code": wrong(product.code("+46700000007"))})
    product.report_by_number("+46700000007", {"code": "123456"})
    product.status(started["id"])
    cancelled = product.invoke_start({"phoneNumber": "+46700000010", "taskToken": TASK_TOKEN})
    assert product.invoke_report({"action": "cancel", "id": cancelled["id"]})["status"] == "CANCELLED"
    assert product.request("DELETE", f"/verifications/{started['id']}").status_code == 409


def test_each_function_is_granted_exactly_what_it_calls(
    product: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_budgets, "SHARD_SLOTS", BUDGET // 2)  # two shards (1,000 would be one)
    with recorded_aws_calls() as recorded:
        exercise_start(product)
        exercise_report(product)
    actions = iam_actions(recorded)
    for function in FUNCTIONS.values():
        assert actions[function] == granted(function), function
    buses = {
        entry["EventBusName"]
        for _, operation, params in recorded
        if operation == "events:PutEvents"
        for entry in json.loads(params["body"])["Entries"]  # the request as sent
    }
    assert buses == {BUS}
