"""Two tenants on one deployment, over HTTP through the local stack: B attacks A.

A and B are two backends (IAM principals, ``x-local-principal``) or two end users (JWT subjects). Whatever
B does (starts for A's numbers, reports and reads by A's ids, reports by A's numbers, malformed bodies),
A's verifications keep their state, answers and waiting workflows, B's answers are those of a number or
id that never existed (status, body, and the same DynamoDB calls: the same timing class), and B learns
nothing about whether a number has history. Also here: every other hostile input of the round (issue 11).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local_stack import LocalStack
from phone_verification import runtime
from tests.integration.conftest import (
    NUMBER,
    OTHER_NUMBER,
    Deployment,
    Product,
    fresh_product,
    http,
    launch,
    problem,
    recorded_aws_calls,
    verification_of,
    wrong,
)
from tests.integration.test_api_callers import bearer

A = "arn:aws:iam::000000000000:user/tenant-a"
B = "arn:aws:iam::000000000000:user/tenant-b"
ISSUER = "https://issuer.example.com"
FRESH_NUMBER = "+46700000199"  # never used by anyone
UNKNOWN_ID = "0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87"
A_NUMBER, FRESH = "%2B46700000101", "%2B46700000199"  # NUMBER and FRESH_NUMBER in a path
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-tenant-a-workflow"


def answer(response: requests.Response) -> tuple[int, Any]:
    """What a caller can tell from an answer: status and body, without the per-request id headers."""
    return response.status_code, response.json()


def calls_of(
    recorded: list[tuple[str, str, dict[str, Any]]],
    request: Callable[..., requests.Response],
    *args: Any,
    **kwargs: Any,
) -> tuple[requests.Response, list[str]]:
    """A request's answer and the AWS operations the product made for it (its timing class)."""
    mark = len(recorded)
    response = request(*args, **kwargs)
    return response, [operation for _, operation, _ in recorded[mark:]]


class TestAnotherTenantsStarts:
    def test_bs_start_for_as_number_leaves_as_verification_pending_and_its_code_working(
        self, product: Product
    ) -> None:
        # Given A's verification for a number
        product.freeze()
        mine = product.started(principal=A)
        my_code = product.code()
        # When B starts one for the same number, once the number's gap has passed
        product.advance(31)
        theirs = product.started(principal=B)
        # Then A's is still pending, reachable by number, and A's code verifies it
        assert product.state(mine["id"], principal=A)["status"] == "PENDING"
        by_number = product.report_by_number("%2B46700000101", {"code": my_code}, principal=A)
        assert (by_number.status_code, by_number.json()["id"]) == (200, mine["id"])
        assert by_number.json()["status"] == "SUCCESSFUL"
        # And B's own is untouched by A's report
        assert product.state(theirs["id"], principal=B)["status"] == "PENDING"

    def test_bs_start_never_resumes_as_waiting_workflow(self, product: Product) -> None:
        # Given a workflow of A's waiting on a verification (a direct start with a task token)
        product.freeze()
        waiting = product.invoke_start({"phoneNumber": NUMBER, "owner": f"iam:{A}", "taskToken": TASK_TOKEN})
        # When B starts for the same number
        product.advance(31)
        product.started(principal=B)
        # Then A's verification keeps its token (nothing resumed its workflow) and stays pending
        item = product.item(waiting["id"])
        assert item is not None
        assert (item["taskToken"]["S"], item["status"]["S"]) == (TASK_TOKEN, "PENDING")

    def test_the_numbers_shared_limit_is_the_only_thing_b_can_spend(self, product: Product) -> None:
        """The per-number limit protects the phone's holder from being flooded, so it is shared (README,
        "Abuse protection and security"): B's starts use it, and A's next start is told the number is
        busy, with the limit's own window and nothing about when B started."""
        product.freeze()
        mine = product.started(principal=A)
        for _ in range(4):
            product.advance(31)
            product.started(principal=B)
        product.advance(31)
        busy = product.start(principal=A)
        body = problem(busy, 429, "rate_limited", retry_after=True)
        assert busy.headers["Retry-After"] == "600"
        assert "number" in body["detail"]
        assert product.state(mine["id"], principal=A)["status"] == "PENDING"  # what A has, A keeps


class TestProbes:
    """B's attempts to learn about A's verifications answer exactly as if there were none."""

    def test_a_report_by_number_tells_b_nothing_about_the_numbers_history(self, product: Product) -> None:
        mine = product.started(principal=A)
        with recorded_aws_calls() as recorded:
            product.status(UNKNOWN_ID, principal=B)  # builds the clients and reads the secret first
            for body in ({"code": "!"}, {"code": "123456"}, {"cli": "+46815600001"}, {}):
                probed, used = calls_of(recorded, product.report_by_number, A_NUMBER, body, principal=B)
                never, fresh = calls_of(recorded, product.report_by_number, FRESH, body, principal=B)
                assert answer(probed) == answer(never), body
                assert used == fresh, body
                assert [op for op in used if op != "dynamodb:GetItem"] == [], body
        assert product.state(mine["id"], principal=A)["attemptsRemaining"] == 5

    def test_bs_reports_and_reads_by_as_id_are_an_unknown_ids(self, product: Product) -> None:
        mine = product.started(principal=A)
        code = product.code()
        probes: list[tuple[Callable[..., requests.Response], tuple[Any, ...]]] = [
            (product.report, ({"code": code},)),
            (product.report, ({"code": wrong(code)},)),
            (product.report, ({"cli": "+46815600001"},)),
            (product.status, ()),
        ]
        with recorded_aws_calls() as recorded:
            product.status(UNKNOWN_ID, principal=B)  # builds the clients and reads the secret first
            for probe, args in probes:
                probed, used = calls_of(recorded, probe, mine["id"], *args, principal=B)
                never, fresh = calls_of(recorded, probe, UNKNOWN_ID, *args, principal=B)
                assert probed.status_code == 404
                assert answer(probed) == answer(never)
                assert used == fresh
        # And none of it used an attempt of A's or changed A's verification
        assert product.state(mine["id"], principal=A)["attemptsRemaining"] == 5
        verified = product.report(mine["id"], {"code": code}, principal=A)
        assert verified.json()["status"] == "SUCCESSFUL"

    def test_a_malformed_report_is_refused_before_anything_is_looked_up(self, product: Product) -> None:
        mine = product.started(principal=A)
        with recorded_aws_calls() as used:
            refused = product.report(mine["id"], {"code": "!"}, principal=B)
            by_number = product.report_by_number("%2B46700000101", {"code": "!"}, principal=B)
        problem(refused, 422, "invalid_request")
        problem(by_number, 422, "invalid_request")
        assert used == []


class TestIdentity:
    @pytest.fixture
    def jwt_product(self, jwt_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
        yield from fresh_product(jwt_deployment, monkeypatch)

    def test_a_token_without_a_subject_is_refused_on_every_route(self, jwt_product: Product) -> None:
        # Given a verification started without an owner (a workflow's: anonymous), and one of alice's
        anonymous = jwt_product.invoke_start({"phoneNumber": NUMBER})
        alices = jwt_product.start(OTHER_NUMBER, headers=bearer("alice")).json()
        for claims in ({}, {"sub": ""}):
            token = ".".join(
                (_b64({"alg": "RS256"}), _b64({"iss": ISSUER, "aud": "app-client", **claims}), "s")
            )
            headers = {"Authorization": f"Bearer {token}"}
            for response in (
                jwt_product.start(FRESH_NUMBER, headers=headers),
                jwt_product.status(anonymous["id"], headers=headers),
                jwt_product.report(anonymous["id"], {"code": jwt_product.code()}, headers=headers),
                jwt_product.report_by_number("%2B46700000101", {"code": jwt_product.code()}, headers=headers),
                jwt_product.status(alices["id"], headers=headers),
            ):
                problem(response, 403, "unidentified_caller")
        assert len(jwt_product.inbox(FRESH_NUMBER)["messages"]) == 0
        assert jwt_product.invoke_report({"id": anonymous["id"]})["status"] == "PENDING"

    def test_two_subjects_are_two_tenants(self, jwt_product: Product) -> None:
        alices = jwt_product.start(headers=bearer("alice")).json()
        problem(
            jwt_product.report(alices["id"], {"code": jwt_product.code()}, headers=bearer("bob")),
            404,
            "not_found",
        )
        problem(
            jwt_product.report_by_number(
                "%2B46700000101", {"code": jwt_product.code()}, headers=bearer("bob")
            ),
            404,
            "not_found",
        )
        reported = jwt_product.report(alices["id"], {"code": jwt_product.code()}, headers=bearer("alice"))
        assert reported.json()["status"] == "SUCCESSFUL"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# ------------------------------------------------------------------------------------ hostile input


class TestHostileInput:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/verifications"),
            ("PUT", f"/verifications/{UNKNOWN_ID}"),
            ("PUT", "/verifications/number/%2B46700000101"),
        ],
    )
    def test_an_integer_of_thousands_of_digits_is_a_bad_request_not_a_500(
        self, product: Product, method: str, path: str
    ) -> None:
        huge = "9" * 5000
        for body in (f'{{"phoneNumber": {huge}}}', f'{{"code": {huge}}}', f"[{huge}]", huge):
            problem(product.request(method, path, data=body), 400, "invalid_request")

    @pytest.mark.parametrize("typed", ["{c}\n", "\t{c}", "{c}\u00a0", " {c3} {c_3}\r\n"])
    def test_the_right_code_with_pasted_whitespace_is_the_right_code(
        self, product: Product, typed: str
    ) -> None:
        started = product.started()
        code = product.code()
        reported = product.report(started["id"], {"code": typed.format(c=code, c3=code[:3], c_3=code[3:])})
        assert (reported.status_code, reported.json()["status"]) == (200, "SUCCESSFUL")

    def test_a_workflow_named_in_any_script_is_an_idempotency_key(self, product: Product) -> None:
        event = {
            "phoneNumber": NUMBER,
            "idempotencyKey": "arn:aws:states:eu-west-1:1:execution:signup:ärende-1",
        }
        first = product.invoke_start(event)
        again = product.invoke_start(event)
        assert again == first
        assert len(product.inbox()["messages"]) == 1

    def test_a_throttled_idempotency_store_is_unavailable_not_an_internal_error(
        self, product: Product
    ) -> None:
        # Powertools' records are the table's only plain PutItem calls: throttle every attempt at one.
        product.stack.aws_fault(
            "DynamoDB_20120810.PutItem", "ProvisionedThroughputExceededException", count=10
        )
        refused = product.start(headers={"Idempotency-Key": "order-throttled"})
        problem(refused, 503, "unavailable", retry_after=True)
        assert product.inbox()["messages"] == []
        product.stack.clear_aws_faults()
        assert product.start(headers={"Idempotency-Key": "order-throttled"}).status_code == 201


@pytest.fixture(scope="module")
def gapless_deployment() -> Iterator[Deployment]:
    """No minimum gap between starts to one number (the template allows it), so starts can overlap."""
    yield from launch("overlap", env={"MIN_SECONDS_BETWEEN_STARTS": "0"})


@pytest.fixture
def gapless(gapless_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(gapless_deployment, monkeypatch)


class TestOverlappingStarts:
    def test_two_starts_in_flight_at_once_leave_one_pending_and_the_number_pointing_at_it(
        self, gapless: Product
    ) -> None:
        product = gapless
        # Given a first start that Sinch answers slowly, and a second that overtakes it
        product.fault(kind="delay", seconds=1.0, method="POST", count=1)
        answers: list[requests.Response] = []
        slow = threading.Thread(target=lambda: answers.append(product.start()))
        slow.start()
        threading.Event().wait(0.3)
        answers.append(product.start())
        slow.join(timeout=30)
        # Then both were sent, exactly one is pending, and a report by number reaches that one
        assert [response.status_code for response in answers] == [201, 201]
        states = {r.json()["id"]: product.state(r.json()["id"])["status"] for r in answers}
        assert sorted(states.values()) == ["ABORTED", "PENDING"]
        pending = next(vid for vid, status in states.items() if status == "PENDING")
        messages = product.inbox()["messages"]
        code = next(m["code"] for m in messages if verification_of(m) == pending)
        reported = product.report_by_number("%2B46700000101", {"code": code})
        assert (reported.json()["id"], reported.json()["status"]) == (pending, "SUCCESSFUL")


@pytest.fixture(scope="module")
def mapped() -> Iterator[LocalStack]:
    """The API behind a custom domain whose API mapping has the base path /v1."""
    runtime.configure(None)
    with LocalStack(stack_name="pv-mapped", secret_name="pv-mapped/sinch", base_path="/v1") as stack:
        yield stack
    runtime.configure(None)


class TestCustomDomain:
    def test_every_route_answers_under_an_api_mappings_base_path(self, mapped: LocalStack) -> None:
        url = mapped.api_url + "/v1"
        started = http.post(f"{url}/verifications", json={"phoneNumber": NUMBER}, timeout=30)
        assert started.status_code == 201, started.text
        vid = started.json()["id"]
        assert mapped.sandbox is not None
        code = mapped.sandbox.inbox(NUMBER)["messages"][-1]["code"]
        assert http.get(f"{url}/verifications/{vid}", timeout=30).json()["status"] == "PENDING"
        typo = http.put(f"{url}/verifications/{vid}", json={"code": wrong(code)}, timeout=30)
        assert typo.json()["status"] == "PENDING"
        reported = http.put(f"{url}/verifications/number/%2B46700000101", json={"code": code}, timeout=30)
        assert reported.json()["status"] == "SUCCESSFUL"
        assert http.get(f"{mapped.api_url}/verifications/{vid}", timeout=30).status_code == 403
