"""Every caller type on every route: HTTP API 2.0 through the local API Gateway (IAM principals, JWT, no
authorizer), REST API 1.0 events, and direct invocations (Step Functions, lambda:Invoke).

A verification belongs to the caller that started it: anyone else gets ``404 not_found`` (the same answer
as for an id that does not exist) and cannot use up its attempts.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    DEVELOPER,
    NUMBER,
    STRANGER,
    Deployment,
    Product,
    error_name,
    fresh_product,
    iso_instant,
    private,
    problem,
    wrong,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
ROLE = "arn:aws:sts::000000000000:assumed-role/checkout-backend"


# ------------------------------------------------------------------------------------------ direct


class TestDirectInvocation:
    def test_start_status_and_report_by_id(self, product: Product) -> None:
        """A state machine starts, reads the state and reports with plain JSON in and out."""
        started = product.invoke_start({"phoneNumber": NUMBER, "reference": "execution-7"})

        assert "statusCode" not in started
        assert (started["method"], started["status"], started["attemptsRemaining"]) == ("sms", "PENDING", 5)
        assert started["reference"] == "execution-7"
        assert "sms" in started
        iso_instant(started["expiresAt"])
        private(json.dumps(started), NUMBER, product.code())

        status = product.invoke_report({"id": started["id"]})
        assert (status["id"], status["status"]) == (started["id"], "PENDING")

        typo = product.invoke_report({"id": started["id"], "code": wrong(product.code())})
        assert (typo["status"], typo["reason"], typo["attemptsRemaining"]) == ("PENDING", "Invalid code", 4)
        verified = product.invoke_report({"id": started["id"], "code": product.code()})
        assert (verified["status"], verified["attemptsRemaining"]) == ("SUCCESSFUL", 0)
        assert product.invoke_report({"id": started["id"]})["status"] == "SUCCESSFUL"

    def test_report_by_number(self, product: Product) -> None:
        started = product.invoke_start({"phoneNumber": NUMBER})
        verified = product.invoke_report({"phoneNumber": NUMBER, "code": product.code()})
        assert (verified["id"], verified["status"]) == (started["id"], "SUCCESSFUL")
        assert all("/number/" not in r["path"] for r in product.sinch_requests())

    @pytest.mark.parametrize("method", ["flashcall", "callout", "whatsapp"])
    def test_every_method(self, product: Product, method: str) -> None:
        started = product.invoke_start({"phoneNumber": NUMBER, "method": method})
        assert started["method"] == method
        if method == "flashcall":
            assert "cli" not in started["flashcall"]
            report: dict[str, Any] = {"cli": product.cli()}
        else:
            report = {"code": product.spoken_code() if method == "callout" else product.code()}
        verified = product.invoke_report({"id": started["id"], **report})
        assert verified["status"] == "SUCCESSFUL"

    def test_the_owner_named_by_the_workflow_is_the_only_one_who_can_report(self, product: Product) -> None:
        started = product.invoke_start({"phoneNumber": NUMBER, "owner": "workflow-a"})

        assert error_name(lambda: product.invoke_report({"id": started["id"]})) == "VerificationNotFound"
        name = error_name(lambda: product.invoke_report({"id": started["id"], "code": product.code()}))
        assert name == "VerificationNotFound"
        problem(product.status(started["id"]), 404, "not_found")  # an HTTP caller is someone else too
        verified = product.invoke_report({"id": started["id"], "owner": "workflow-a", "code": product.code()})
        assert verified["status"] == "SUCCESSFUL"

    def test_a_workflow_can_start_on_behalf_of_an_http_caller(self, product: Product) -> None:
        """A trusted direct caller may name the owner; naming an HTTP caller's identity hands the
        verification to that caller's own API calls."""
        started = product.invoke_start({"phoneNumber": NUMBER, "owner": f"iam:{DEVELOPER}"})
        reported = product.report(started["id"], {"code": product.code()})
        assert reported.json()["status"] == "SUCCESSFUL"


# ------------------------------------------------------------------------------------------ REST 1.0


def rest_event(
    template: dict[str, Any], method: str, resource: str, path: str, **fields: Any
) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event.update(resource=resource, path=path, httpMethod=method, **fields)
    event["requestContext"].update(httpMethod=method, resourcePath=resource, path=f"/prod{path}")
    return event


class TestRestApiPayload:
    def test_start_report_and_status_with_rest_api_events(self, product: Product) -> None:
        """The same handlers behind a REST API (payload 1.0): the IAM user in requestContext.identity is the
        caller, and it is the same caller as that user on the HTTP API."""
        start = json.loads((EVENTS / "start-sms-rest-v1.json").read_text())
        number = json.loads(start["body"])["phoneNumber"]
        user = start["requestContext"]["identity"]["userArn"]

        started = product.invoke_start(start)
        assert started["statusCode"] == 201, started
        body = json.loads(started["body"])
        assert started["multiValueHeaders"]["Location"] == [f"/verifications/{body['id']}"]
        private(started["body"], number, product.code(number))

        vid = body["id"]
        report = rest_event(
            start,
            "PUT",
            "/verifications/{id}",
            f"/verifications/{vid}",
            pathParameters={"id": vid},
            body=json.dumps({"code": product.code(number)}),
        )
        reported = product.invoke_report(report)
        assert reported["statusCode"] == 200, reported
        assert json.loads(reported["body"])["status"] == "SUCCESSFUL"

        status = rest_event(
            start,
            "GET",
            "/verifications/{id}",
            f"/verifications/{vid}",
            pathParameters={"id": vid},
            body=None,
        )
        read = product.invoke_report(status)
        assert (read["statusCode"], json.loads(read["body"])["status"]) == (200, "SUCCESSFUL")

        problem(product.status(vid), 404, "not_found")  # the local developer is another caller
        assert product.state(vid, principal=user)["status"] == "SUCCESSFUL"

    def test_report_by_number_with_an_encoded_plus(self, product: Product) -> None:
        start = json.loads((EVENTS / "start-sms-rest-v1.json").read_text())
        number = json.loads(start["body"])["phoneNumber"]
        vid = json.loads(product.invoke_start(start)["body"])["id"]
        encoded = number.replace("+", "%2B")
        report = rest_event(
            start,
            "PUT",
            "/verifications/number/{phoneNumber}",
            f"/verifications/number/{encoded}",
            pathParameters={"phoneNumber": encoded},
            body=json.dumps({"code": product.code(number)}),
        )
        reported = product.invoke_report(report)
        assert reported["statusCode"] == 200, reported
        assert json.loads(reported["body"])["id"] == vid

    def test_a_problem_over_rest(self, product: Product) -> None:
        start = json.loads((EVENTS / "start-sms-rest-v1.json").read_text())
        start["body"] = "{not json"
        answered = product.invoke_start(start)
        assert answered["statusCode"] == 400
        assert answered["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
        assert json.loads(answered["body"])["code"] == "invalid_request"


# ------------------------------------------------------------------------------------------ IAM


class TestIamCallers:
    def test_another_principal_sees_nothing_and_cannot_spend_attempts(self, product: Product) -> None:
        verification = product.started()["id"]
        code = product.code()

        problem(product.status(verification, principal=STRANGER), 404, "not_found")
        problem(product.report(verification, {"code": wrong(code)}, principal=STRANGER), 404, "not_found")
        problem(product.report(verification, {"code": code}, principal=STRANGER), 404, "not_found")
        problem(product.report_by_number(NUMBER, {"code": code}, principal=STRANGER), 404, "not_found")

        assert product.state(verification)["attemptsRemaining"] == 5
        assert product.report(verification, {"code": code}).json()["status"] == "SUCCESSFUL"

    def test_sessions_of_one_role_are_one_caller(self, product: Product) -> None:
        verification = product.started(principal=f"{ROLE}/instance-1")["id"]
        problem(product.status(verification), 404, "not_found")
        reported = product.report(verification, {"code": product.code()}, principal=f"{ROLE}/instance-2")
        assert reported.json()["status"] == "SUCCESSFUL"


# ------------------------------------------------------------------------------------------ JWT


def bearer(sub: str, iss: str = "https://issuer.example.com") -> dict[str, str]:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = (
        f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'sub': sub, 'iss': iss, 'aud': 'app-client'})}.sig"
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def jwt_product(jwt_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(jwt_deployment, monkeypatch)


class TestJwtCallers:
    def test_every_route_for_the_tokens_subject(self, jwt_product: Product) -> None:
        alice = bearer("alice")
        started = jwt_product.start(headers=alice)
        assert started.status_code == 201, started.text
        vid = started.json()["id"]

        assert jwt_product.status(vid, headers=alice).json()["status"] == "PENDING"
        typo = jwt_product.report(vid, {"code": wrong(jwt_product.code())}, headers=alice)
        assert typo.json()["attemptsRemaining"] == 4
        verified = jwt_product.report_by_number("%2B46700000101", {"code": jwt_product.code()}, headers=alice)
        assert verified.json()["status"] == "SUCCESSFUL"

    def test_another_subject_or_issuer_is_another_caller(self, jwt_product: Product) -> None:
        vid = jwt_product.start(headers=bearer("alice")).json()["id"]
        problem(jwt_product.status(vid, headers=bearer("mallory")), 404, "not_found")
        problem(
            jwt_product.status(vid, headers=bearer("alice", "https://evil.example.com")), 404, "not_found"
        )
        problem(
            jwt_product.report(vid, {"code": jwt_product.code()}, headers=bearer("mallory")), 404, "not_found"
        )
        assert jwt_product.state(vid, headers=bearer("alice"))["attemptsRemaining"] == 5

    def test_no_token_is_api_gateways_401(self, jwt_product: Product) -> None:
        response = jwt_product.start()
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}
        assert jwt_product.sinch_requests() == []


# ------------------------------------------------------------------------------------------ no authorizer


@pytest.fixture
def open_product(open_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(open_deployment, monkeypatch)


class TestNoAuthorizer:
    def test_every_route_works_for_the_anonymous_caller(self, open_product: Product) -> None:
        vid = open_product.started(method="flashcall")["id"]
        assert open_product.state(vid)["status"] == "PENDING"
        typo = open_product.report(vid, {"cli": "+46812345678"})
        assert typo.json()["reason"] == "Invalid CLI"
        # A default Sinch account ends a flashcall at its first wrong CLI, so the number route is
        # tried on a second verification.
        open_product.advance(60)
        open_product.started(method="flashcall")
        verified = open_product.report_by_number(NUMBER, {"cli": open_product.cli()})
        assert verified.json()["status"] == "SUCCESSFUL"

    def test_a_direct_start_without_owner_is_reported_over_the_open_api(self, open_product: Product) -> None:
        """Without ``owner`` a directly started verification belongs to direct callers, and on an open API
        anonymous HTTP callers are the same caller (as the README says)."""
        started = open_product.invoke_start({"phoneNumber": NUMBER})
        reported = open_product.report(started["id"], {"code": open_product.code()})
        assert reported.json()["status"] == "SUCCESSFUL"
