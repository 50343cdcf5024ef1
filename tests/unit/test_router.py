"""The functions' router: which route an API Gateway event reaches, and the proxy answer it gets back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phone_verification import api
from phone_verification.errors import AlreadyVerified
from tests.fakes import FakeContext, http_event

router = api.Router()


@router.get("/verifications/{id}")
def status(request: api.Request) -> api.Response:
    return api.json_response(200, {"id": api.path_parameter(request, "id"), "via": "status"})


@router.put("/verifications/number/{phoneNumber}")
def by_number(request: api.Request) -> api.Response:
    return api.json_response(200, {"number": api.path_parameter(request, "phoneNumber")})


@router.put("/verifications/{id}")
def report(request: api.Request) -> api.Response:
    raise AlreadyVerified()


@router.post("/verifications")
def broken(request: api.Request) -> api.Response:
    raise RuntimeError("a bug")


def resolve(event: dict[str, Any]) -> dict[str, Any]:
    context: Any = FakeContext()  # the attributes of Lambda's context that the handlers read
    return router.resolve(event, context)


def rest_event(method: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"httpMethod": method, "path": path, "requestContext": {"stage": "prod"}, "headers": {}, **extra}


def body(answer: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(answer["body"])
    return parsed


def test_routes_are_listed_in_the_templates_notation() -> None:
    assert router.routes == [
        ("GET", "/verifications/{id}"),
        ("PUT", "/verifications/number/{phoneNumber}"),
        ("PUT", "/verifications/{id}"),
        ("POST", "/verifications"),
    ]


def test_a_path_parameter_is_one_segment_so_number_routes_do_not_reach_the_id_route() -> None:
    event = http_event(
        "PUT",
        "/verifications/number/{phoneNumber}",
        "/verifications/number/+46700000001",
        path_parameters={"phoneNumber": "+46700000001"},
    )
    assert body(resolve(event)) == {"number": "+46700000001"}
    # Behind a catch-all route API Gateway matched nothing itself: the path is matched here.
    nested = http_event("GET", "$default", "/verifications/a/b")
    nested["routeKey"] = "$default"
    assert body(resolve(nested))["code"] == "not_found"
    caught = http_event("GET", "$default", "/verifications/v1")
    caught["routeKey"] = "$default"
    assert body(resolve(caught)) == {"id": "v1", "via": "status"}


@pytest.mark.parametrize("base_path", ["/v1", "/phone/v2", "/prod"])
def test_behind_a_custom_domains_base_path_the_route_api_gateway_matched_is_used(base_path: str) -> None:
    """A custom domain's API mapping keeps its base path in the raw path (HTTP API) and the path (REST
    API); the route API Gateway matched (``routeKey``, ``resource``) does not have it."""
    path = f"{base_path}/verifications/v1"
    http = http_event("GET", "/verifications/{id}", path, path_parameters={"id": "v1"})
    assert body(resolve(http)) == {"id": "v1", "via": "status"}
    rest = rest_event("GET", path, resource="/verifications/{id}", pathParameters={"id": "v1"})
    assert body(resolve(rest)) == {"id": "v1", "via": "status"}
    number = rest_event(
        "PUT",
        f"{base_path}/verifications/number/%2B46700000001",
        resource="/verifications/number/{phoneNumber}",
        pathParameters={"phoneNumber": "%2B46700000001"},
    )
    assert body(resolve(number)) == {"number": "+46700000001"}


def test_a_route_for_any_method_is_resolved_by_the_requests_method() -> None:
    event = http_event("GET", "/verifications/{id}", "/verifications/v1", path_parameters={"id": "v1"})
    event["routeKey"] = "ANY /verifications/{id}"
    assert body(resolve(event)) == {"id": "v1", "via": "status"}


def test_a_named_stage_in_the_raw_path_is_not_part_of_the_route() -> None:
    event = http_event("GET", "/verifications/{id}", "/prod/verifications/v1", path_parameters={"id": "v1"})
    event["requestContext"]["stage"] = "prod"
    assert body(resolve(event)) == {"id": "v1", "via": "status"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/verifications/v1"),
        ("GET", "/verifications"),
        ("GET", "/other"),
        ("GET", "/verifications/"),
    ],
)
def test_anything_else_is_a_not_found_problem(method: str, path: str) -> None:
    answer = resolve(http_event(method, path, path))
    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == api.PROBLEM_JSON
    assert body(answer)["code"] == "not_found"


def test_an_event_without_method_or_path_is_not_found_rather_than_a_crash() -> None:
    assert resolve({"requestContext": {}, "routeKey": "x"})["statusCode"] == 404
    assert resolve({"requestContext": {}, "httpMethod": "GET"})["statusCode"] == 404


def test_domain_errors_become_their_problem_and_bugs_a_fixed_500() -> None:
    refused = resolve(
        http_event("PUT", "/verifications/{id}", "/verifications/v1", path_parameters={"id": "v1"})
    )
    assert (refused["statusCode"], body(refused)["code"]) == (409, "already_verified")
    crashed = resolve(http_event("POST", "/verifications", "/verifications", body={}))
    assert crashed["statusCode"] == 500
    assert "a bug" not in crashed["body"]


def test_http_api_answers_carry_headers_and_rest_api_answers_multi_value_headers() -> None:
    http = resolve(
        http_event("GET", "/verifications/{id}", "/verifications/v1", path_parameters={"id": "v1"})
    )
    assert http["headers"] == {"Content-Type": "application/json", "Cache-Control": "no-store"}
    assert http["isBase64Encoded"] is False
    rest = resolve(rest_event("GET", "/verifications/v1", pathParameters={"id": "v1"}))
    assert rest["multiValueHeaders"] == {"Content-Type": ["application/json"], "Cache-Control": ["no-store"]}
    assert "headers" not in rest
    assert body(rest) == {"id": "v1", "via": "status"}
