"""The local API Gateway's rules and the Lambda runtime stand-in, without sockets or servers."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from local_stack.auth import (
    LOCAL_DEVELOPER_ARN,
    PRINCIPAL_HEADER,
    AuthorizerSimulator,
    Unauthorized,
    claim_text,
    decode_jwt_claims,
    iam_principal,
    unchecked_signature,
)
from local_stack.front import (
    Gateway,
    HttpRequest,
    InvalidResponse,
    MethodNotAllowed,
    RouteMatch,
    RouteTable,
    http_response_from_result,
)
from local_stack.runtime import (
    EnvironmentGate,
    FunctionRuntime,
    HandlerLoadError,
    LambdaContext,
    MarshalError,
    applied_environment,
)
from local_stack.template import FunctionSpec, Route


def _route(method: str, path: str, function_id: str = "Fn", **kwargs: Any) -> Route:
    return Route(
        method=method,
        path=path,
        function_id=function_id,
        event_name="E",
        api_type=kwargs.pop("api_type", "HttpApi"),
        payload_version=kwargs.pop("payload_version", "2.0"),
        **kwargs,
    )


def test_the_most_specific_route_wins() -> None:
    table = RouteTable(
        [
            _route("GET", "/items/{id}", "ById"),
            _route("GET", "/items/latest", "Latest"),
            _route("ANY", "/items/{id}", "Any"),
            _route("GET", "/files/{path+}", "Files"),
        ]
    )
    latest = table.match("GET", "/items/latest")
    assert isinstance(latest, RouteMatch)
    assert latest.route.function_id == "Latest"
    by_id = table.match("GET", "/items/42")
    assert isinstance(by_id, RouteMatch)
    assert by_id.route.function_id == "ById"
    anything = table.match("DELETE", "/items/42")
    assert isinstance(anything, RouteMatch)
    assert anything.route.function_id == "Any"
    files = table.match("GET", "/files/a/b%20c")
    assert isinstance(files, RouteMatch)
    assert files.path_parameters == {"path": "a/b c"}
    assert table.match("GET", "/items/") is None  # an empty parameter matches nothing
    assert table.match("GET", "/items/1/2") is None


def test_method_not_allowed_and_default_route() -> None:
    table = RouteTable([_route("POST", "/items")])
    assert table.match("GET", "/items") == MethodNotAllowed(("POST",))
    with_default = RouteTable([_route("POST", "/items"), _route("ANY", "$default", "Fallback")])
    fallback = with_default.match("GET", "/items")
    assert isinstance(fallback, RouteMatch)
    assert fallback.route.function_id == "Fallback"


def _gateway(
    mode: str, result: Any = None, error: Exception | None = None, *, allow_unsigned: bool = False
) -> tuple[Gateway, list[Any]]:
    seen: list[Any] = []

    def invoker(function_id: str, event: Any, request_id: str) -> Any:
        seen.append(event)
        if error is not None:
            raise error
        return result if result is not None else {"statusCode": 200, "body": "ok"}

    routes = [_route("GET", "/v2/{id}"), _route("GET", "/rest/{id}", api_type="Api", payload_version="1.0")]
    authorizer = AuthorizerSimulator(mode, allow_unsigned=allow_unsigned)  # type: ignore[arg-type]
    return Gateway(routes, invoker, authorizer, account_id="000000000000", log=io.StringIO()), seen


def _request(path: str, headers: list[tuple[str, str]] | None = None) -> HttpRequest:
    return HttpRequest(method="GET", target=path, headers=headers or [], body=b"", source_ip="127.0.0.1")


@pytest.mark.parametrize(
    "headers",
    [[], [("authorization", "Bearer abc")], [("authorization", "AWS4-HMAC-SHA256")]],
    ids=["unsigned", "a-bearer-token", "no-credential"],
)
def test_iam_refuses_a_request_that_is_not_signed_with_api_gateways_403(
    headers: list[tuple[str, str]],
) -> None:
    # Given ApiAuth=IAM, When a request carries no SigV4 signature, Then API Gateway's own 403 answers it
    # and the function never runs (as deployed: the authorizer refuses before the integration).
    gateway, seen = _gateway("IAM")
    response = gateway.handle(_request("/v2/1", headers))
    assert (response.status, json.loads(response.body)) == (403, {"message": "Forbidden"})
    assert seen == []


def test_iam_lets_in_any_signature_and_the_local_principal_header() -> None:
    gateway, seen = _gateway("IAM")
    signed = gateway.handle(
        _request("/v2/1", [("authorization", unchecked_signature("AKIAOTHERKEY0000000"))])
    )
    named = gateway.handle(_request("/v2/1", [(PRINCIPAL_HEADER, "arn:aws:iam::000000000000:user/bob")]))
    assert (signed.status, named.status) == (200, 200)
    iam = [event["requestContext"]["authorizer"]["iam"] for event in seen]
    assert iam[0]["accessKey"] == "AKIAOTHERKEY0000000"
    assert iam[1]["userArn"] == "arn:aws:iam::000000000000:user/bob"


def test_iam_lets_unsigned_requests_in_only_when_told_to() -> None:
    gateway, seen = _gateway("IAM", allow_unsigned=True)
    assert gateway.handle(_request("/v2/1")).status == 200
    assert seen[0]["requestContext"]["authorizer"]["iam"]["userArn"] == LOCAL_DEVELOPER_ARN


def test_auth_none_sends_no_authorizer() -> None:
    gateway, seen = _gateway("NONE")
    assert gateway.handle(_request("/v2/1")).status == 200
    assert "authorizer" not in seen[0]["requestContext"]


def test_jwt_without_a_token_is_401_before_the_function() -> None:
    gateway, seen = _gateway("JWT")
    response = gateway.handle(_request("/v2/1"))
    assert response.status == 401
    assert json.loads(response.body) == {"message": "Unauthorized"}
    assert response.header("www-authenticate") == "Bearer"
    assert seen == []
    assert gateway.handle(_request("/v2/1", [("Authorization", "Basic abc")])).status == 401


def test_rest_route_errors_are_502_like_api_gateway() -> None:
    gateway, _ = _gateway("NONE", error=RuntimeError("boom"))
    rest = gateway.handle(_request("/rest/1"))
    assert rest.status == 502
    assert json.loads(rest.body) == {"message": "Internal server error"}
    http = gateway.handle(_request("/v2/1"))
    assert http.status == 500
    assert json.loads(http.body) == {"message": "Internal Server Error"}


def test_response_mapping_rules() -> None:
    plain = http_response_from_result("hello", payload_version="2.0")
    assert (plain.status, plain.body) == (200, b'"hello"')
    assert http_response_from_result(None, payload_version="2.0").body == b"null"
    with pytest.raises(InvalidResponse):
        http_response_from_result({"body": "x"}, payload_version="1.0")
    with pytest.raises(InvalidResponse):
        http_response_from_result({"statusCode": 200, "body": {"not": "a string"}}, payload_version="2.0")
    with pytest.raises(InvalidResponse):
        http_response_from_result(
            {"statusCode": 200, "body": "%%%", "isBase64Encoded": True}, payload_version="2.0"
        )
    both = http_response_from_result(
        {"statusCode": 200, "headers": {"X-A": "1"}, "multiValueHeaders": {"x-a": ["2"], "x-b": [3]}},
        payload_version="1.0",
    )
    assert both.headers == [("X-A", "1"), ("x-b", "3")]


def test_jwt_claims_are_strings_like_api_gateway() -> None:
    assert claim_text(["a", "b"]) == "[a b]"
    assert claim_text(True) == "true"
    assert claim_text(1700000000.0) == "1700000000"
    assert claim_text({"k": 1}) == '{"k":1}'
    with pytest.raises(ValueError, match="not a JWT"):
        decode_jwt_claims("abc")
    simulator = AuthorizerSimulator("JWT", clock=lambda: 1000.0)
    with pytest.raises(Unauthorized, match="not valid yet"):
        simulator.authorize({"authorization": "Bearer e30.eyJuYmYiOjIwMDB9.x"})  # {"nbf":2000}
    principal = simulator.authorize({"authorization": "Bearer e30.eyJzY3AiOlsiYSJdfQ.x"})  # {"scp":["a"]}
    assert principal is not None
    assert principal.http_api_authorizer()["jwt"]["scopes"] == ["a"]


def test_iam_principal_ids_are_stable_per_arn() -> None:
    first = iam_principal("arn:aws:iam::123456789012:user/alice")
    again = iam_principal("arn:aws:iam::123456789012:user/alice")
    other = iam_principal("arn:aws:iam::123456789012:user/bob")
    assert first == again
    assert first.user_id != other.user_id
    assert first.user_id.startswith("AIDA")


def test_lambda_context_counts_down_from_the_timeout() -> None:
    now = [100.0]
    context = LambdaContext(
        function_name="f", memory_mb=128, timeout_seconds=3, invoked_function_arn="arn", clock=lambda: now[0]
    )
    assert context.get_remaining_time_in_millis() == 3000
    now[0] += 1.25
    assert context.get_remaining_time_in_millis() == 1750
    now[0] += 10
    assert context.get_remaining_time_in_millis() == 0
    assert context.memory_limit_in_mb == "128"


def test_applied_environment_restores_exactly() -> None:
    os.environ["LOCAL_STACK_TEST_KEEP"] = "before"
    try:
        with applied_environment({"LOCAL_STACK_TEST_NEW": "1", "LOCAL_STACK_TEST_KEEP": "during"}, ["HOME"]):
            assert os.environ["LOCAL_STACK_TEST_KEEP"] == "during"
            assert "HOME" not in os.environ
        assert os.environ["LOCAL_STACK_TEST_KEEP"] == "before"
        assert "LOCAL_STACK_TEST_NEW" not in os.environ
        assert "HOME" in os.environ
    finally:
        del os.environ["LOCAL_STACK_TEST_KEEP"]


def _runtime(code_dir: Path | None, handler: str = "app.handler") -> FunctionRuntime:
    spec = FunctionSpec(
        logical_id="Fn",
        code_dir=code_dir,
        handler=handler,
        runtime="python3.11",
        timeout_seconds=3,
        memory_mb=128,
        function_name=None,
        layer_dirs=(),
        environment={},
    )
    return FunctionRuntime(
        spec,
        function_name="fn",
        environment={"LOCAL_STACK_TEST_VAR": "x"},
        unset=[],
        region="eu-west-1",
        account_id="000000000000",
        module_tag="gateway_test",
    )


def test_missing_code_or_handler_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(HandlerLoadError, match="not a local folder"):
        _runtime(tmp_path / "missing").invoke({})
    (tmp_path / "app.py").write_text("def other(event, context):\n    return 1\n")
    with pytest.raises(HandlerLoadError, match="Handler 'handler' missing"):
        _runtime(tmp_path).invoke({})
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(HandlerLoadError, match="Unable to import module 'broken'"):
        _runtime(tmp_path, "broken.handler").invoke({})


def test_results_cross_the_lambda_boundary_as_json(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    if event.get('bad'):\n"
        "        return {'x': object()}\n"
        "    return {'seen': event, 'var': os.environ['LOCAL_STACK_TEST_VAR'], 't': (1, 2)}\n"
    )
    runtime = _runtime(tmp_path)
    try:
        assert runtime.invoke({"a": 1}) == {"seen": {"a": 1}, "var": "x", "t": [1, 2]}
        assert "LOCAL_STACK_TEST_VAR" not in os.environ
        with pytest.raises(MarshalError):
            runtime.invoke({"bad": True})
    finally:
        runtime.unload()


def test_environment_gate_lets_one_function_run_concurrently_and_others_wait() -> None:
    gate = EnvironmentGate()
    inside_a = threading.Barrier(3, timeout=5)
    release_a = threading.Event()
    order: list[str] = []

    def run_a() -> None:
        with gate.hold("A", {"LOCAL_STACK_GATE": "a"}, []):
            inside_a.wait()  # both A invocations are inside at once
            release_a.wait(5)
            order.append(f"A:{os.environ['LOCAL_STACK_GATE']}")

    def run_b() -> None:
        with gate.hold("B", {"LOCAL_STACK_GATE": "b"}, []):
            order.append(f"B:{os.environ['LOCAL_STACK_GATE']}")

    first, second = threading.Thread(target=run_a), threading.Thread(target=run_a)
    first.start()
    second.start()
    inside_a.wait()
    other = threading.Thread(target=run_b)
    other.start()
    other.join(0.2)
    assert other.is_alive()  # B waits while A's environment is applied
    release_a.set()
    for thread in (first, second, other):
        thread.join(5)
    assert order == ["A:a", "A:a", "B:b"]
    assert "LOCAL_STACK_GATE" not in os.environ
