"""Fixtures of the product's API tests: the real handlers behind the local stack, over loopback HTTP.

One product stack (the real ``template.yaml``: local API Gateway, moto server, Sinch sandbox) serves the
whole session; every test gets it back empty: no items in the table, the sandbox reset to its default
configuration, the secret as it was at start. Settings that need a deployment of their own get a few
module-scoped stacks: a short Sinch timeout; a country allow-list with Sinch-generated SMS codes; a JWT
authorizer; no authorizer.

The product keeps its dependencies (settings, boto3 clients, Sinch client) per process in
``phone_verification.runtime``, built on first invocation from the environment the local stack applies.
Several stacks live in one process, so before each test the cache is dropped when it was built for
another stack; the product then builds it against this test's stack on its next invocation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests

from local_stack import LocalStack
from local_stack.auth import unchecked_signature
from phone_verification import runtime
from phone_verification.store import VerificationStore
from sinch_sandbox import SandboxConfig, SandboxServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef
    from mypy_boto3_secretsmanager import SecretsManagerClient

START = "StartVerificationFunction"
REPORT = "ReportVerificationFunction"
NUMBER = "+46700000101"
OTHER_NUMBER = "+46700000102"
DEVELOPER = "arn:aws:iam::000000000000:user/local-developer"  # the local API's default IAM principal
STRANGER = "arn:aws:iam::000000000000:user/someone-else"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
SINCH_PREFIX = "/verification/v1/verifications"
HTTP_TIMEOUT = 30


# The reference the product sends Sinch with each channel: its own id, "pv-<id>" or "pv-<id>-<channel>".
_SINCH_REFERENCE = re.compile(r"pv-(?P<id>[0-9a-f-]{36})(-(?P<channel>[0-9]+))?")


def verification_of(delivery: Mapping[str, Any]) -> str:
    """The product's verification id behind an SMS or call in the sandbox's inbox."""
    found = _SINCH_REFERENCE.fullmatch(delivery.get("reference") or "")
    assert found is not None, delivery
    return found["id"]


# ------------------------------------------------------------------------------------------ deployments


@dataclass
class Deployment:
    """A running local stack, the secret it started with (restored before every test) and clients of
    its emulator (a boto3 client costs more to create than a dozen calls)."""

    stack: LocalStack
    secret: str
    dynamodb: DynamoDBClient
    secretsmanager: SecretsManagerClient

    @classmethod
    def of(cls, stack: LocalStack) -> Deployment:
        secretsmanager = stack.secretsmanager()
        secret = secretsmanager.get_secret_value(SecretId=stack.secret_id)["SecretString"]
        return cls(stack, secret, stack.dynamodb(), secretsmanager)

    @property
    def sandbox(self) -> SandboxServer:
        assert self.stack.sandbox is not None
        return self.stack.sandbox

    def restore_secret(self) -> None:
        self.secretsmanager.put_secret_value(SecretId=self.stack.secret_id, SecretString=self.secret)

    def empty_table(self) -> None:
        """What ``LocalStack.reset_resources`` does for the table, without dropping and creating it
        (which costs ~90 ms a test): every item goes, so no state, limit or idempotency record is left."""
        table = self.stack.table_name
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="pk", ConsistentRead=True
        ):
            keys: list[WriteRequestTypeDef] = [
                {"DeleteRequest": {"Key": {"pk": item["pk"]}}} for item in page.get("Items", [])
            ]
            for start in range(0, len(keys), 25):
                self.dynamodb.batch_write_item(RequestItems={table: keys[start : start + 25]})


def bind_runtime(stack: LocalStack) -> None:
    """Drop the product's cached dependencies if they were built for another stack."""
    current = runtime._current  # read-only peek: which stack the cache was built for
    if current is None:
        return
    settings = current.settings
    if settings.sinch_base_url != stack.sinch_base_url or settings.table_name != stack.table_name:
        runtime.configure(None)


def forget_memory(stack: LocalStack) -> None:
    """The product's memory of refusals and full budgets goes with the items it was about (a Lambda
    environment never sees its table emptied under it)."""
    current = runtime._current  # read-only peek, as bind_runtime's
    if current is None or current.settings.table_name != stack.table_name:
        return
    store = current.service.context.store
    if isinstance(store, VerificationStore):
        store.forget()


def reset_stack(stack: LocalStack) -> LocalStack:
    """A module's own stack as new: an empty table and secret, the sandbox forgotten and back at its
    default configuration, and the product's clients bound to this stack."""
    bind_runtime(stack)
    stack.reset_resources()
    forget_memory(stack)
    assert stack.sandbox is not None
    stack.sandbox.reset()
    stack.sandbox.configure(**dataclasses.asdict(SandboxConfig()))
    return stack


class QuietAccessLog(io.TextIOBase):
    """The local API's log without its one line per request (printed from server threads, they land
    between tests' captured output); everything else, such as a failed handler's traceback, goes on to
    whatever ``sys.stderr`` is at the time, so pytest shows it with the test."""

    _ACCESS = re.compile(r"[A-Z]+ \S+ \d{3} \d+ms")

    def __init__(self) -> None:
        super().__init__()
        self._dropped_line = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._ACCESS.fullmatch(text):
            self._dropped_line = True
            return len(text)
        if self._dropped_line and text == "\n":
            self._dropped_line = False
            return len(text)
        self._dropped_line = False
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def launch(name: str, **options: Any) -> Iterator[Deployment]:
    """A product stack with names of its own, so other stacks in this process keep the default names."""
    runtime.configure(None)
    options.setdefault("log", QuietAccessLog())
    with LocalStack(stack_name=f"pv-{name}", secret_name=f"pv-{name}/sinch", **options) as stack:
        runtime.configure(None)
        yield Deployment.of(stack)
    runtime.configure(None)


def refresh(deployment: Deployment) -> None:
    """An empty table, the starting secret, a sandbox with no state, faults, offset or config changes.

    The secret keeps the value it started with (``reset_resources`` would generate a new hashKey, while
    the product caches the secret for minutes).
    """
    deployment.empty_table()
    forget_memory(deployment.stack)
    deployment.restore_secret()
    deployment.sandbox.reset()
    deployment.sandbox.configure(**dataclasses.asdict(SandboxConfig()))
    bind_runtime(deployment.stack)


@pytest.fixture(scope="session")
def product_deployment() -> Iterator[Deployment]:
    """The product as the template defines it, with the local API's IAM authorizer."""
    yield from launch("api-tests")


@pytest.fixture(scope="module")
def slow_sinch_deployment() -> Iterator[Deployment]:
    """A product that gives up on Sinch after 0.5 s, so a slow Sinch answer is a lost answer."""
    yield from launch("slow-sinch", env={"SINCH_READ_TIMEOUT_SECONDS": "0.5"})


@pytest.fixture(scope="module")
def policy_deployment() -> Iterator[Deployment]:
    """A product that only verifies Swedish and Norwegian numbers, and lets Sinch generate SMS codes (so
    Sinch decides every report on an SMS whose code the caller did not choose)."""
    yield from launch("policy", env={"ALLOWED_COUNTRIES": "SE,NO", "SMS_CODE_SOURCE": "sinch"})


@pytest.fixture(scope="module")
def jwt_deployment() -> Iterator[Deployment]:
    """The API behind a JWT authorizer (the local API decodes tokens without checking signatures)."""
    yield from launch(
        "jwt",
        api_auth="JWT",
        parameter_overrides={"JwtIssuer": "https://issuer.example.com", "JwtAudience": "app-client"},
    )


@pytest.fixture(scope="module")
def open_deployment() -> Iterator[Deployment]:
    """The API with no authorizer (ApiAuth=NONE, for development stacks)."""
    yield from launch("open", api_auth="NONE")


# ------------------------------------------------------------------------------------------ the client


@dataclass
class Product:
    """One test's view of a deployment: HTTP calls, direct invocations, the phone and the clocks."""

    deployment: Deployment
    monkeypatch: pytest.MonkeyPatch
    offset: float = 0.0
    _frozen_at: float | None = None

    @property
    def stack(self) -> LocalStack:
        return self.deployment.stack

    @property
    def sandbox(self) -> SandboxServer:
        return self.deployment.sandbox

    @property
    def url(self) -> str:
        return self.stack.api_url

    # -- HTTP ------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: str | bytes | None = None,
        principal: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if principal is not None:
            sent["x-local-principal"] = principal
        if not any(name.lower() == "authorization" for name in sent):
            # Signed, as a backend's requests are (the local API does not check the signature).
            sent["Authorization"] = unchecked_signature()
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        # A new connection per request: on a reused one the local servers' separate header and body
        # writes meet Nagle's algorithm and delayed ACKs, which costs 40 ms a request.
        return requests.request(method, self.url + path, data=data, headers=sent, timeout=HTTP_TIMEOUT)

    def start(self, number: str | None = NUMBER, **fields: Any) -> requests.Response:
        """POST /verifications; ``principal`` and ``headers`` are request options, the rest body fields."""
        principal = fields.pop("principal", None)
        headers = fields.pop("headers", None)
        body = {"phoneNumber": number, **fields} if number is not None else fields
        return self.request("POST", "/verifications", body=body, principal=principal, headers=headers)

    def started(self, number: str = NUMBER, **fields: Any) -> dict[str, Any]:
        response = self.start(number, **fields)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def report(self, verification_id: str, body: Any, **options: Any) -> requests.Response:
        return self.request("PUT", f"/verifications/{verification_id}", body=body, **options)

    def report_by_number(self, number_in_path: str, body: Any, **options: Any) -> requests.Response:
        return self.request("PUT", f"/verifications/number/{number_in_path}", body=body, **options)

    def status(self, verification_id: str, **options: Any) -> requests.Response:
        return self.request("GET", f"/verifications/{verification_id}", **options)

    def state(self, verification_id: str, **options: Any) -> dict[str, Any]:
        response = self.status(verification_id, **options)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    # -- direct invocation (Step Functions, lambda:Invoke) -------------------------------------------

    def invoke_start(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.stack.invoke(START, event)
        return result

    def invoke_report(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.stack.invoke(REPORT, event)
        return result

    # -- the phone and Sinch's side ---------------------------------------------------------------

    def inbox(self, number: str = NUMBER) -> dict[str, Any]:
        inbox: dict[str, Any] = self.sandbox.inbox(number)
        return inbox

    def code(self, number: str = NUMBER) -> str:
        code: str = self.inbox(number)["messages"][-1]["code"]
        return code

    def spoken_code(self, number: str = NUMBER) -> str:
        code: str = self.inbox(number)["calls"][-1]["code"]
        return code

    def cli(self, number: str = NUMBER) -> str:
        cli: str = self.inbox(number)["calls"][-1]["cli"]
        return cli

    def sinch_id(self, verification_id: str) -> str:
        """The id Sinch gave the verification's current channel (kept in the table, never answered)."""
        item = self.item(verification_id)
        assert item is not None, verification_id
        sinch_id: str = item["sinchId"]["S"]
        return sinch_id

    def sinch_requests(self, operation: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.sandbox.requests_log() if operation is None or r["operation"] == operation]

    def fault(self, **rule: Any) -> None:
        self.sandbox.add_fault(rule)

    # -- state at rest ------------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        scan = self.deployment.dynamodb.scan(TableName=self.stack.table_name, ConsistentRead=True)
        return list(scan.get("Items", []))

    def verification_items(self) -> list[dict[str, Any]]:
        return [item for item in self.items() if item["pk"]["S"].startswith("verification#")]

    def item(self, verification_id: str) -> dict[str, Any] | None:
        found = self.deployment.dynamodb.get_item(
            TableName=self.stack.table_name, Key={"pk": {"S": f"verification#{verification_id}"}}
        )
        item: dict[str, Any] | None = found.get("Item")
        return item

    # -- time ---------------------------------------------------------------------------------------

    def freeze(self) -> None:
        """Stop the product's clock at the current second (it then moves only by ``advance``), so a test can
        expect exact seconds such as a Retry-After; call it before the first start of such a test."""
        if self._frozen_at is None:
            self._warm_up()
            frozen_at = float(int(time.time()))
            self._frozen_at = frozen_at
            context = runtime.current().service.context
            self.monkeypatch.setattr(context, "clock", lambda: frozen_at + self.offset)

    def advance(self, seconds: float, *, sinch: bool = True) -> None:
        """Move the product's clock (frozen from now on, see ``freeze``) and by default Sinch's forward."""
        self.freeze()
        self.offset += seconds
        if sinch:
            self.sandbox.advance_time(seconds)

    def _warm_up(self) -> None:
        # The first invocation builds the product's dependencies against this stack.
        try:
            self.invoke_report({"id": "warm-up"})
        except Exception as error:
            if type(error).__name__ != "VerificationNotFound":  # the expected answer for an unknown id
                raise


def fresh_product(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    refresh(deployment)
    product = Product(deployment, monkeypatch)
    try:
        yield product
    finally:
        deployment.sandbox.clear_faults()
        deployment.stack.clear_aws_faults()


@pytest.fixture
def product(product_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    """The session's product stack, empty, with the default sandbox."""
    yield from fresh_product(product_deployment, monkeypatch)


# ------------------------------------------------------------------------------------------ assertions


def problem(
    response: requests.Response, status: int, code: str, *, retry_after: bool = False
) -> dict[str, Any]:
    """Assert an RFC 9457 problem response of the design's error table and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) - {"reason"} == PROBLEM_KEYS, body
    assert "reason" not in body or body["code"] == "destination_denied", body
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"] == f"urn:phone-verification:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    if retry_after:
        assert int(response.headers["Retry-After"]) >= 1
    else:
        assert "Retry-After" not in response.headers
    return body


def client_error(response: requests.Response, code: str = "invalid_request") -> dict[str, Any]:
    """Any 4xx problem response with the given code (bad input must never be a 5xx)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return problem(response, response.status_code, code)


def private(text: str, *secrets: str) -> None:
    """None of the numbers, codes or CLIs appears in a response, with or without its '+'."""
    for secret in secrets:
        digits = re.sub(r"\D", "", secret)
        assert secret not in text
        if len(digits) >= 6:
            assert digits not in text


def iso_instant(value: str) -> float:
    """An ISO 8601 UTC instant with 'Z', as seconds since the epoch."""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def wrong(code: str) -> str:
    """A code of the same shape that is not ``code``."""
    return "".join("1" if ch == "0" else "0" for ch in code) if code.isdigit() else "0000"


def error_name(call: Any) -> str:
    """The name Step Functions would see for a direct invocation's error (module identity may differ)."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the class is what is being checked
        call()
    return type(raised.value).__name__


# ------------------------------------------------------------------------------------------ AWS calls


@contextlib.contextmanager
def recorded_aws_calls() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """(function name, operation, parameters) of every AWS call the product makes inside the block, in
    order. Recorded on botocore's session, which the product's clients (and Powertools' idempotency store)
    are created from; the product's clients are built anew on the next invocation so that they carry the
    hook (clients copy the session's events when they are created)."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        calls.append((function, f"{model.service_model.signing_name}:{model.name}", dict(params)))

    session = runtime._aws_session()
    session.register("before-call", record)
    runtime.configure(None)
    try:
        yield calls
    finally:
        session.unregister("before-call", record)
        runtime.configure(None)


class SignedHttp:
    """requests' verbs, each request signed as a backend's are: the local API, like API Gateway with IAM
    authorization, refuses an unsigned request (it checks that a request is signed, not the signature).
    An ``Authorization`` header given by the test (a JWT, a malformed one) is sent instead."""

    def request(self, method: str, url: str, **options: Any) -> requests.Response:
        headers = dict(options.pop("headers", None) or {})
        if not any(name.lower() == "authorization" for name in headers):
            headers["Authorization"] = unchecked_signature()
        timeout = options.pop("timeout", HTTP_TIMEOUT)
        return requests.request(method, url, headers=headers, timeout=timeout, **options)

    def get(self, url: str, **options: Any) -> requests.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> requests.Response:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> requests.Response:
        return self.request("PUT", url, **options)

    def delete(self, url: str, **options: Any) -> requests.Response:
        return self.request("DELETE", url, **options)


http = SignedHttp()


class LogLines(logging.Handler):
    """Every record the product's loggers handle, as one line each: the message first, then the logger,
    the level and every attribute of the record (where a leaked value would sit)."""

    def __init__(self, *, emulator: bool) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._emulator = emulator
        self._lines_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not self._emulator and record.name.startswith(("moto", "werkzeug")):
            return
        attributes = json.dumps(record.__dict__, default=str)
        line = f"{record.getMessage()} {record.name} {record.levelname} {attributes}"
        with self._lines_lock:
            self.lines.append(line)


@contextlib.contextmanager
def captured_logs(*, debug: bool = False, emulator: bool = False) -> Iterator[LogLines]:
    """The log records of every logger the product writes to (Powertools' logger does not propagate to
    the root), at the levels the functions run with, or at DEBUG everywhere with ``debug``; the
    emulator's own records (moto, werkzeug) only with ``emulator``."""
    capture = LogLines(emulator=emulator)
    loggers = [logging.getLogger(name) for name in ("", "phone-verification", "phone_verification")]
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture)
        if debug:
            logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for logger, level in saved:
            logger.removeHandler(capture)
            logger.setLevel(level)
