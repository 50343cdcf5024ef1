"""The two Lambda handlers end to end in one process: HTTP API, REST API and direct events in,
API responses or named exceptions out (DynamoDB is moto's in-process mock, Sinch a scripted double)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from phone_verification import errors, runtime
from phone_verification.settings import ConfigurationError
from tests.fakes import NUMBER, FakeContext, World, http_event, install, load_handler, make_world

start_app = load_handler("start_verification")
report_app = load_handler("report_verification")


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        world = make_world(dynamodb=True)
        install(world.service, world.dynamodb)
        yield world
        runtime.configure(None)


def start_http(body: Any, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = start_app.lambda_handler(
        http_event("POST", "/verifications", "/verifications", body=body, **kwargs), FakeContext()
    )
    return result


def report_http(verification_id: str, body: Any, **kwargs: Any) -> dict[str, Any]:
    event = http_event(
        "PUT",
        "/verifications/{id}",
        f"/verifications/{verification_id}",
        body=body,
        path_parameters={"id": verification_id},
        **kwargs,
    )
    result: dict[str, Any] = report_app.lambda_handler(event, FakeContext())
    return result


def problem_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response["body"])
    assert body["status"] == response["statusCode"]
    assert set(body) - {"reason"} == {"type", "title", "status", "detail", "code"}
    return body


class TestHttpApi:
    def test_start_answers_201_with_location_and_no_code(self, world: World) -> None:
        response = start_http({"phoneNumber": NUMBER})
        assert response["statusCode"] == 201
        body = json.loads(response["body"])
        assert response["headers"]["Location"] == f"/verifications/{body['id']}"
        assert body["status"] == "PENDING"
        assert world.sent_code() not in response["body"]

    def test_full_flow_wrong_then_right_code_then_status(self, world: World) -> None:
        verification = json.loads(start_http({"phoneNumber": NUMBER})["body"])["id"]
        wrong = report_http(verification, {"code": "000000" if world.sent_code() != "000000" else "111111"})
        assert (wrong["statusCode"], json.loads(wrong["body"])["status"]) == (200, "PENDING")
        right = report_http(verification, {"code": world.sent_code()})
        assert json.loads(right["body"]) | {"expiresAt": None} == {
            "id": verification,
            "method": "sms",
            "status": "SUCCESSFUL",
            "attemptsRemaining": 0,
            "expiresAt": None,
        }
        status = report_app.lambda_handler(
            http_event(
                "GET",
                "/verifications/{id}",
                f"/verifications/{verification}",
                path_parameters={"id": verification},
            ),
            FakeContext(),
        )
        assert json.loads(status["body"])["status"] == "SUCCESSFUL"

    def test_report_by_number_with_encoded_plus(self, world: World) -> None:
        start_http({"phoneNumber": NUMBER})
        event = http_event(
            "PUT",
            "/verifications/number/{phoneNumber}",
            "/verifications/number/%2B46700000001",
            body={"code": world.sent_code()},
            path_parameters={"phoneNumber": "%2B46700000001"},
        )
        response = report_app.lambda_handler(event, FakeContext())
        assert json.loads(response["body"])["status"] == "SUCCESSFUL"

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ("{not json", 400),
            ("", 400),
            ("[1, 2]", 400),
            ('"text"', 400),
            ("{}", 422),
            ({"phoneNumber": 46700000001}, 422),
            ({"phoneNumber": "+4813"}, 422),
            ({"phoneNumber": NUMBER, "method": "telegram"}, 422),
            ({"phoneNumber": NUMBER, "method": "flashcall", "code": "123456"}, 422),
            ({"phoneNumber": NUMBER, "code": "12"}, 422),
            ({"phoneNumber": NUMBER, "locale": "not a locale!"}, 422),
            ({"phoneNumber": NUMBER, "reference": "has/slash"}, 422),
            ("x" * 20_000, 400),
        ],
    )
    def test_bad_input_is_a_problem_response(self, world: World, body: Any, status: int) -> None:
        response = start_http(body)
        assert response["statusCode"] == status
        assert problem_of(response)["code"] == "invalid_request"
        assert world.sinch.starts == []

    def test_rate_limit_has_retry_after(self, world: World) -> None:
        start_http({"phoneNumber": NUMBER})
        response = start_http({"phoneNumber": NUMBER})
        assert response["statusCode"] == 429
        assert problem_of(response)["code"] == "rate_limited"
        assert response["headers"]["Retry-After"] == "30"

    def test_another_principal_gets_not_found(self, world: World) -> None:
        verification = json.loads(start_http({"phoneNumber": NUMBER})["body"])["id"]
        response = report_http(
            verification, {"code": world.sent_code()}, principal="arn:aws:iam::000000000000:user/x"
        )
        assert (response["statusCode"], problem_of(response)["code"]) == (404, "not_found")

    def test_assumed_role_sessions_of_one_role_are_one_caller(self, world: World) -> None:
        role = "arn:aws:sts::000000000000:assumed-role/backend"
        verification = json.loads(start_http({"phoneNumber": NUMBER}, principal=f"{role}/session-1")["body"])[
            "id"
        ]
        response = report_http(verification, {"code": world.sent_code()}, principal=f"{role}/session-2")
        assert json.loads(response["body"])["status"] == "SUCCESSFUL"

    def test_idempotency_key_replays_the_first_result_without_a_second_send(self, world: World) -> None:
        first = start_http({"phoneNumber": NUMBER}, headers={"idempotency-key": "order-42"})
        again = start_http({"phoneNumber": NUMBER}, headers={"idempotency-key": "order-42"})
        assert json.loads(again["body"]) == json.loads(first["body"])
        assert again["headers"]["Idempotent-Replayed"] == "true"
        assert len(world.sinch.starts) == 1
        other = start_http({"phoneNumber": "+46700000002"}, headers={"idempotency-key": "order-42"})
        assert (other["statusCode"], problem_of(other)["code"]) == (409, "conflict")
        assert len(world.sinch.starts) == 1

    def test_idempotency_records_hold_no_number(self, world: World) -> None:
        start_http({"phoneNumber": NUMBER}, headers={"idempotency-key": "order-42"})
        dump = json.dumps(world.items())
        assert NUMBER not in dump
        assert NUMBER[1:] not in dump

    def test_base64_body(self, world: World) -> None:
        event = http_event("POST", "/verifications", "/verifications")
        event["body"] = base64.b64encode(json.dumps({"phoneNumber": NUMBER}).encode()).decode()
        event["isBase64Encoded"] = True
        assert start_app.lambda_handler(event, FakeContext())["statusCode"] == 201

    def test_unknown_route_is_a_not_found_problem(self, world: World) -> None:
        event = http_event("PATCH", "/verifications/{id}", "/verifications/x", path_parameters={"id": "x"})
        response = report_app.lambda_handler(event, FakeContext())
        assert (response["statusCode"], problem_of(response)["code"]) == (404, "not_found")

    def test_unexpected_failure_is_a_fixed_500_problem(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_: Any) -> Any:
            raise ConfigurationError("SINCH_SECRET_ARN is not set")

        monkeypatch.setattr(world.service, "start_once", broken)
        response = start_http({"phoneNumber": NUMBER})
        body = problem_of(response)
        assert (response["statusCode"], body["code"]) == (500, "internal_error")
        assert "SINCH" not in response["body"]


class TestRestApi:
    def test_rest_v1_start(self, world: World) -> None:
        event = {
            "resource": "/verifications",
            "path": "/verifications",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": None,
            "pathParameters": None,
            "requestContext": {
                "resourcePath": "/verifications",
                "httpMethod": "POST",
                "requestId": "r-1",
                "stage": "prod",
                "identity": {"sourceIp": "192.0.2.1", "userArn": "arn:aws:iam::000000000000:user/backend"},
            },
            "body": json.dumps({"phoneNumber": NUMBER}),
            "isBase64Encoded": False,
        }
        response = start_app.lambda_handler(event, FakeContext())
        assert response["statusCode"] == 201
        assert json.loads(response["body"])["method"] == "sms"


class TestDirectInvocation:
    def test_start_and_report_with_plain_json(self, world: World) -> None:
        started = start_app.lambda_handler({"phoneNumber": NUMBER, "method": "sms"}, FakeContext())
        assert started["status"] == "PENDING"
        assert "statusCode" not in started
        reported = report_app.lambda_handler({"id": started["id"], "code": world.sent_code()}, FakeContext())
        assert reported["status"] == "SUCCESSFUL"
        status = report_app.lambda_handler({"id": started["id"]}, FakeContext())
        assert status["status"] == "SUCCESSFUL"

    @pytest.mark.parametrize(
        ("event", "error"),
        [
            ({"method": "sms"}, errors.InvalidRequest),
            ("not an object", errors.InvalidRequest),
            ({"phoneNumber": "+19005550123"}, errors.DestinationDenied),
        ],
    )
    def test_failures_are_raised_with_step_functions_error_names(
        self, world: World, event: Any, error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            start_app.lambda_handler(event, FakeContext())

    def test_report_errors_by_name(self, world: World) -> None:
        started = start_app.lambda_handler({"phoneNumber": NUMBER}, FakeContext())
        with pytest.raises(errors.VerificationNotFound):
            report_app.lambda_handler({"id": "unknown-id", "code": "123456"}, FakeContext())
        report_app.lambda_handler({"id": started["id"], "code": world.sent_code()}, FakeContext())
        with pytest.raises(errors.AlreadyVerified) as caught:
            report_app.lambda_handler({"id": started["id"], "code": world.sent_code()}, FakeContext())
        assert type(caught.value).__name__ == "AlreadyVerified"

    def test_idempotency_key_on_direct_invocation(self, world: World) -> None:
        event = {"phoneNumber": NUMBER, "idempotencyKey": "execution-1"}
        first = start_app.lambda_handler(event, FakeContext())
        assert start_app.lambda_handler(event, FakeContext()) == first
        assert len(world.sinch.starts) == 1

    def test_unexpected_failure_is_internal_error(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(world.service, "start_once", broken)
        with pytest.raises(errors.InternalError):
            start_app.lambda_handler({"phoneNumber": NUMBER}, FakeContext())
