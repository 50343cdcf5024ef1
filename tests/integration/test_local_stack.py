"""The local stack end to end: real HTTP to the local API, the AWS emulator and the Sinch sandbox.

Runs against the fixture template in local_stack_fixtures/ (shaped like the product's template.yaml,
with handlers that report what they received), so it checks the runner, not the product.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local_stack import LOCAL_DEVELOPER_ARN, LocalStack, LocalStackError, TemplateError
from local_stack.auth import unchecked_signature
from tests.integration.conftest import http

FIXTURES = Path(__file__).parent / "local_stack_fixtures"
TEMPLATE = FIXTURES / "template.yaml"
REPO_ROOT = Path(__file__).resolve().parents[2]

# What a raw request adds to be let in: a SigV4 Authorization header (the signature is not checked).
SIGNED = f"Authorization: {unchecked_signature()}\r\n".encode()


class _SafeLog(io.StringIO):
    """The stack's log, written from request threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)


@pytest.fixture(scope="session")
def log() -> _SafeLog:
    return _SafeLog()


@pytest.fixture(scope="session")
def stack(log: _SafeLog) -> Iterator[LocalStack]:
    with LocalStack(TEMPLATE, log=log) as running:
        yield running


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _event(response: requests.Response) -> dict[str, Any]:
    event: dict[str, Any] = response.json()["event"]
    return event


# -- routing and the HTTP API 2.0 event ----------------------------------------------------------------


def test_post_builds_a_real_http_api_v2_event(stack: LocalStack) -> None:
    started = time.time()
    response = http.post(
        f"{stack.api_url}/verifications?lang=sv&tag=a&tag=b",
        json={"phoneNumber": "+46700000001"},
        headers={"Cookie": "session=abc; theme=dark", "X-Repeat": "one", "User-Agent": "local-test/1"},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.headers["x-function"] == "start"
    assert response.headers["apigw-requestid"]
    event = _event(response)

    assert set(event) == {
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "body",
        "isBase64Encoded",
    }
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /verifications"
    assert event["rawPath"] == "/verifications"
    assert event["rawQueryString"] == "lang=sv&tag=a&tag=b"
    assert event["queryStringParameters"] == {"lang": "sv", "tag": "a,b"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert "cookie" not in headers
    assert headers["x-repeat"] == "one"
    assert headers["content-type"] == "application/json"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert json.loads(event["body"]) == {"phoneNumber": "+46700000001"}
    assert event["isBase64Encoded"] is False

    context = event["requestContext"]
    assert context["accountId"] == "000000000000"
    assert context["apiId"] == "local"
    assert context["domainName"] == stack.api_url.removeprefix("http://")
    assert context["domainPrefix"] == "127"
    assert context["http"] == {
        "method": "POST",
        "path": "/verifications",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "local-test/1",
    }
    assert str(uuid.UUID(context["requestId"])) == context["requestId"]
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert context["routeKey"] == "POST /verifications"
    assert context["stage"] == "$default"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert started * 1000 - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000


def test_repeated_request_headers_are_comma_joined(stack: LocalStack) -> None:
    # requests cannot send a header twice; http.client can.
    connection = socket.create_connection(("127.0.0.1", int(stack.api_url.rsplit(":", 1)[1])), timeout=10)
    with connection:
        connection.sendall(
            b"GET /verifications/abc HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nX-Dup: 2\r\nConnection: close\r\n"
            + SIGNED
            + b"\r\n"
        )
        raw = b""
        while chunk := connection.recv(65536):
            raw += chunk
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["event"]["headers"]["x-dup"] == "1,2"


def test_path_parameters_are_matched_and_url_decoded(stack: LocalStack) -> None:
    by_number = http.put(f"{stack.api_url}/verifications/number/%2B46700000001", timeout=10)
    event = _event(by_number)
    assert event["routeKey"] == "PUT /verifications/number/{phoneNumber}"
    assert event["pathParameters"] == {"phoneNumber": "+46700000001"}
    assert event["rawPath"] == "/verifications/number/%2B46700000001"

    by_id = http.put(f"{stack.api_url}/verifications/a%20b", timeout=10)
    assert _event(by_id)["routeKey"] == "PUT /verifications/{id}"
    assert _event(by_id)["pathParameters"] == {"id": "a b"}

    status = http.get(f"{stack.api_url}/verifications/abc", timeout=10)
    assert _event(status)["routeKey"] == "GET /verifications/{id}"
    assert "body" not in _event(status)


def test_a_body_that_is_not_utf8_arrives_base64_encoded(stack: LocalStack) -> None:
    payload = b"\xff\x00\xfebinary"
    response = http.put(
        f"{stack.api_url}/verifications/abc",
        data=payload,
        headers={"content-type": "application/octet-stream"},
        timeout=10,
    )
    event = _event(response)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_chunked_request_body_is_read(stack: LocalStack) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"phone'
        yield b'Number":"+46700000001"}'

    response = http.post(
        f"{stack.api_url}/verifications",
        data=chunks(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert json.loads(_event(response)["body"]) == {"phoneNumber": "+46700000001"}


def test_unknown_route_is_a_404_problem(stack: LocalStack) -> None:
    response = http.get(f"{stack.api_url}/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == 404


def test_wrong_method_is_a_405_problem(stack: LocalStack) -> None:
    response = http.delete(f"{stack.api_url}/verifications", timeout=10)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "POST"
    assert response.json()["status"] == 405


def test_body_over_api_gateway_limit_is_413(stack: LocalStack) -> None:
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"POST /verifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485761\r\n\r\n"
        )
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413"


# -- responses -----------------------------------------------------------------------------------------


def test_base64_response_body_is_decoded(stack: LocalStack) -> None:
    response = http.get(f"{stack.api_url}/verifications/binary", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\xffbinary"


def test_headers_multi_value_headers_and_cookies_pass_through(stack: LocalStack) -> None:
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"GET /verifications/cookies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + SIGNED + b"\r\n"
        )
        raw = b""
        while chunk := connection.recv(65536):
            raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    assert head[0].split()[1] == "204"
    lines = [line.lower() for line in head[1:]]
    assert "x-single: one" in lines
    assert [line for line in lines if line.startswith("x-multi:")] == ["x-multi: a", "x-multi: b"]
    assert [line for line in lines if line.startswith("set-cookie:")] == [
        "set-cookie: a=1; path=/",
        "set-cookie: b=2; httponly",
    ]


def test_result_without_status_code_is_json_200(stack: LocalStack) -> None:
    response = http.get(f"{stack.api_url}/verifications/plain", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # Decimal (what boto3 gives for numbers) is serialised as the Lambda runtime does.
    assert response.json() == {"id": "plain", "status": "PENDING", "attempts": 2.0}


@pytest.mark.parametrize("case", ["boom", "bad-status", "not-json"])
def test_function_errors_are_api_gateway_500(stack: LocalStack, case: str) -> None:
    response = http.get(f"{stack.api_url}/verifications/{case}", timeout=10)
    assert response.status_code == 500
    assert response.text == '{"message":"Internal Server Error"}'
    assert response.headers["content-type"] == "application/json"


def test_handler_traceback_goes_to_the_log(stack: LocalStack, log: _SafeLog) -> None:
    http.get(f"{stack.api_url}/verifications/boom", timeout=10)
    text = log.getvalue()
    assert "RuntimeError: the fixture handler failed on purpose" in text
    assert "functions/report/app.py" in text


def test_rest_api_route_gets_a_payload_1_0_event(stack: LocalStack) -> None:
    response = http.get(f"{stack.api_url}/legacy/x%2By?a=1&a=2", timeout=10)
    event = _event(response)
    assert "version" not in event  # REST API events carry no version
    assert event["resource"] == "/legacy/{id}"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "x+y"}
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["requestContext"]["identity"]["userArn"] == LOCAL_DEVELOPER_ARN
    assert event["body"] is None


# -- IAM authorizer ------------------------------------------------------------------------------------


def test_iam_default_principal_is_the_local_developer(stack: LocalStack) -> None:
    event = _event(http.get(f"{stack.api_url}/verifications/abc", timeout=10))
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == LOCAL_DEVELOPER_ARN
    assert iam["accountId"] == "000000000000"
    assert iam["userId"] == iam["callerId"]
    assert {"accessKey", "cognitoIdentity", "principalOrgId"} <= set(iam)


def test_x_local_principal_overrides_the_caller(stack: LocalStack) -> None:
    alice = "arn:aws:iam::111122223333:user/alice"
    event = _event(
        http.get(f"{stack.api_url}/verifications/abc", headers={"x-local-principal": alice}, timeout=10)
    )
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == alice
    assert iam["accountId"] == "111122223333"
    assert "x-local-principal" not in event["headers"]

    bob = _event(
        http.get(
            f"{stack.api_url}/verifications/abc",
            headers={"x-local-principal": "arn:aws:sts::111122223333:assumed-role/App/bob"},
            timeout=10,
        )
    )["requestContext"]["authorizer"]["iam"]
    assert bob["userId"] != iam["userId"]
    assert bob["userId"].endswith(":bob")


def test_sigv4_access_key_is_reported(stack: LocalStack) -> None:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY123456/20260101/eu-west-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )
    event = _event(
        http.get(f"{stack.api_url}/verifications/abc", headers={"Authorization": authorization}, timeout=10)
    )
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "AKIAEXAMPLEKEY123456"


def test_a_principal_that_is_not_an_arn_is_refused(stack: LocalStack) -> None:
    response = http.get(
        f"{stack.api_url}/verifications/abc", headers={"x-local-principal": "alice"}, timeout=10
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_route_with_auth_none_has_no_authorizer(stack: LocalStack) -> None:
    event = _event(http.get(f"{stack.api_url}/health", timeout=10))
    assert "authorizer" not in event["requestContext"]


# -- emulator resources and the functions' environment -------------------------------------------------


def test_table_is_created_from_the_template(stack: LocalStack) -> None:
    dynamodb = stack.dynamodb()
    table = dynamodb.describe_table(TableName=stack.table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=stack.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    assert stack.aws_endpoint_url.startswith("http://127.0.0.1:")


def test_secret_holds_the_sandbox_credentials_and_a_generated_key(stack: LocalStack) -> None:
    assert stack.sandbox is not None
    value = json.loads(stack.secretsmanager().get_secret_value(SecretId=stack.secret_id)["SecretString"])
    assert set(value) == {"applicationKey", "applicationSecret", "hashKey"}
    assert value["applicationKey"] == stack.sandbox.config.application_key == "sandbox-key"
    assert value["applicationSecret"] == stack.sandbox.config.application_secret
    assert re.fullmatch(r"[A-Za-z0-9]{48}", value["hashKey"])  # PasswordLength 48, no punctuation
    assert ":secret:phone-verification/sinch" in stack.secret_id


def test_function_environment_is_resolved_from_the_template(stack: LocalStack) -> None:
    env = stack.function_environment("StartVerificationFunction")
    assert env["TABLE_NAME"] == stack.table_name
    assert env["TABLE_ARN"].endswith(f":table/{stack.table_name}")
    assert env["SINCH_SECRET_ARN"] == stack.secret_id
    assert env["SINCH_BASE_URL"] == stack.sinch_base_url
    assert stack.sandbox is not None
    assert stack.sinch_base_url == stack.sandbox.url
    assert env["VERIFICATION_TTL_SECONDS"] == "600"
    assert env["ALLOWED_COUNTRIES"] == "SE,NO"
    assert env["FIRST_COUNTRY"] == "SE"
    assert env["API_AUTH"] == "IAM"
    assert env["OWNER_REQUIRED"] == "true"
    assert env["DEV_SECRET"] == "yes"
    assert env["SERVICE_LABEL"] == "phone-verification-eu-west-1-IAM"
    assert env["LITERAL"] == "${NotAVariable}"
    assert env["SUB_LIST"] == f"pre-{env['TABLE_ARN']}"
    assert env["MIDDLE"] == "b"
    assert env["LOG_LEVEL"] == "DEBUG"
    assert "JWT_ONLY" not in env  # !Ref AWS::NoValue removes the variable
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "PhoneVerification"
    assert env["POWERTOOLS_SERVICE_NAME"] == "start-verification"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "1"
    assert env["AWS_ENDPOINT_URL"] == stack.aws_endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    report = stack.function_environment("ReportVerificationFunction")
    assert report["POWERTOOLS_SERVICE_NAME"] == "report-verification"


def test_handlers_see_their_environment_and_it_does_not_leak(stack: LocalStack) -> None:
    before = dict(os.environ)
    start = http.post(f"{stack.api_url}/verifications", json={}, timeout=10).json()
    report = http.get(f"{stack.api_url}/verifications/abc", timeout=10).json()
    assert start["env"]["POWERTOOLS_SERVICE_NAME"] == "start-verification"
    assert report["env"]["POWERTOOLS_SERVICE_NAME"] == "report-verification"
    assert start["env"]["TABLE_NAME"] == stack.table_name
    assert dict(os.environ) == before


def test_handlers_reach_the_emulator_through_the_environment_alone(stack: LocalStack) -> None:
    response = http.put(f"{stack.api_url}/verifications/aws", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "secret_keys": ["applicationKey", "applicationSecret", "hashKey"],
        "item_n": "7",
    }


def test_each_function_imports_its_own_app_module_and_siblings(stack: LocalStack) -> None:
    start = http.post(f"{stack.api_url}/verifications", json={}, timeout=10).json()
    report = http.get(f"{stack.api_url}/verifications/abc", timeout=10).json()
    assert start["helper"] == "start-helpers"
    assert report["helper"] == "report-helpers"
    assert start["module"] != report["module"]
    assert "helpers" not in sys.modules  # siblings do not leak into the test process


def test_lambda_context_mirrors_the_function(stack: LocalStack) -> None:
    context = http.get(f"{stack.api_url}/verifications/abc", timeout=10).json()["context"]
    assert context["function_name"] == "phone-verification-ReportVerificationFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(":function:phone-verification-ReportVerificationFunction")
    assert context["log_group_name"] == "/aws/lambda/phone-verification-ReportVerificationFunction"
    assert 0 < context["remaining_ms"] <= 5000  # the function's own Timeout: 5


# -- direct invocation ---------------------------------------------------------------------------------


def test_invoke_passes_the_plain_event_and_returns_the_plain_result(stack: LocalStack) -> None:
    result = stack.invoke("ReportVerificationFunction", {"id": "v-1", "code": "1234"})
    assert result["echo"] == {"id": "v-1", "code": "1234"}
    assert result["env"]["TABLE_NAME"] == stack.table_name
    assert result["context"]["remaining_ms"] > 0


def test_invoke_raises_the_handlers_exception(stack: LocalStack) -> None:
    with pytest.raises(Exception, match="expired") as raised:
        stack.invoke("ReportVerificationFunction", {"raise": True})
    assert type(raised.value).__name__ == "VerificationExpired"


def test_invoke_reaches_the_emulator(stack: LocalStack) -> None:
    assert stack.invoke("ReportVerificationFunction", {"aws": True})["item_n"] == "7"


def test_invoke_sends_event_files_through_their_handler(stack: LocalStack, tmp_path: Path) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"id": "from-file"}))
    result = stack.invoke("ReportVerificationFunction", json.loads(event_file.read_text()))
    assert result["echo"] == {"id": "from-file"}


def test_unknown_function_is_a_clear_error(stack: LocalStack) -> None:
    with pytest.raises(KeyError, match="NoSuchFunction"):
        stack.invoke("NoSuchFunction", {})


def test_reset_resources_empties_the_table(stack: LocalStack) -> None:
    stack.invoke("ReportVerificationFunction", {"aws": True})
    assert stack.dynamodb().scan(TableName=stack.table_name)["Count"] == 1
    stack.reset_resources()
    assert stack.dynamodb().scan(TableName=stack.table_name)["Count"] == 0
    ttl = stack.dynamodb().describe_time_to_live(TableName=stack.table_name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"


# -- a second stack: JWT, overrides, and a clean stop --------------------------------------------------


def _port_is_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_jwt_stack_with_overrides_stops_cleanly(stack: LocalStack) -> None:
    threads_before = set(threading.enumerate())
    jwt_stack = LocalStack(
        TEMPLATE,
        api_auth="JWT",
        env={"VERIFICATION_TTL_SECONDS": "60"},
        parameter_overrides={"AllowedCountries": "DK"},
        # Another stack's sandbox, addressed like a real Sinch: no second sandbox starts.
        sinch_base_url=stack.sinch_base_url,
        log=io.StringIO(),
    )
    with jwt_stack:
        api = jwt_stack.api_url
        urls = [api, jwt_stack.aws_endpoint_url]
        assert jwt_stack.sandbox is None
        # Both stacks share moto's memory in this process: the second gets its own table.
        assert jwt_stack.table_name != stack.table_name

        missing = http.get(f"{api}/verifications/abc", timeout=10)
        assert missing.status_code == 401
        assert missing.json() == {"message": "Unauthorized"}
        garbage = http.get(f"{api}/verifications/abc", headers={"Authorization": "Bearer x.y"}, timeout=10)
        assert garbage.status_code == 401
        expired = _jwt({"sub": "u1", "exp": int(time.time()) - 10})
        assert (
            http.get(
                f"{api}/verifications/abc", headers={"Authorization": f"Bearer {expired}"}, timeout=10
            ).status_code
            == 401
        )

        token = _jwt({"sub": "user-1", "scope": "verify admin", "exp": int(time.time()) + 600, "n": 5})
        response = http.get(
            f"{api}/verifications/abc", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200
        event = _event(response)
        jwt = event["requestContext"]["authorizer"]["jwt"]
        assert jwt["claims"]["sub"] == "user-1"
        assert jwt["claims"]["n"] == "5"  # API Gateway passes claims as strings
        assert jwt["scopes"] == ["verify", "admin"]

        env = jwt_stack.function_environment("StartVerificationFunction")
        assert env["API_AUTH"] == "JWT"
        assert env["JWT_ONLY"] == "jwt"
        assert env["VERIFICATION_TTL_SECONDS"] == "60"
        assert env["ALLOWED_COUNTRIES"] == "DK"
        assert env["SINCH_BASE_URL"] == stack.sinch_base_url
        secret = json.loads(
            jwt_stack.secretsmanager().get_secret_value(SecretId=jwt_stack.secret_id)["SecretString"]
        )
        assert secret["applicationKey"] == "sandbox-key"  # a loopback Sinch gets the sandbox's credentials
        table_name = jwt_stack.table_name

    assert all(_port_is_closed(url) for url in urls)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(threading.enumerate()) - threads_before:
        time.sleep(0.05)
    assert set(threading.enumerate()) - threads_before == set()
    # The stopped stack removed its table; the session stack's is untouched.
    assert table_name not in stack.dynamodb().list_tables()["TableNames"]
    assert stack.table_name in stack.dynamodb().list_tables()["TableNames"]


def test_a_bad_parameter_fails_before_anything_starts() -> None:
    with pytest.raises(LocalStackError, match="API auth must be one of"):
        LocalStack(TEMPLATE, parameter_overrides={"ApiAuth": "MAYBE"})
    with pytest.raises(LocalStackError, match="API auth must be one of"):
        LocalStack(TEMPLATE, api_auth="MAYBE")
    with pytest.raises(TemplateError, match="unknown template parameter"):
        LocalStack(TEMPLATE, parameter_overrides={"Nope": "1"})
    with pytest.raises(LocalStackError, match="SINCH_APPLICATION_KEY"):
        LocalStack(TEMPLATE, sinch_base_url="https://verification.api.sinch.com")


# -- the command line (make run) -----------------------------------------------------------------------


def test_command_line_serves_until_sigterm() -> None:
    env = {
        **os.environ,
        "API_PORT": "0",
        "SANDBOX_PORT": "0",
        "AWS_EMULATOR_PORT": "0",
        "API_AUTH": "NONE",
        "VERIFICATION_TTL_SECONDS": "120",
        "PYTHONPATH": f"{REPO_ROOT / 'layers' / 'phone_verification'}{os.pathsep}{REPO_ROOT}",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "local_stack", "--template", str(TEMPLATE), "--stop-after", "60"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        text = "".join(banner)
        api = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", text)
        assert api is not None, text
        assert "curl -s -X POST" in text
        assert "/sandbox/v1/inbox/%2B46700000001" in text

        response = http.post(f"{api.group(1)}/verifications", json={}, timeout=10)
        assert response.status_code == 201
        body = response.json()
        assert "authorizer" not in body["event"]["requestContext"]  # API_AUTH=NONE
        assert body["env"]["VERIFICATION_TTL_SECONDS"] == "120"  # taken from the shell

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
