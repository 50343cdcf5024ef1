"""Test doubles shared by the unit tests: a scripted Sinch (below the real Sinch adapter), an in-memory
store, and the service wired to them (or to moto's in-process DynamoDB, for what is stored)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from requests.adapters import BaseAdapter

from phone_verification.errors import Conflict, VerificationError
from phone_verification.model import Started, Verification
from phone_verification.ports import Events, Outcomes, WorkflowNotifier
from phone_verification.service import VerificationService
from phone_verification.settings import Settings
from phone_verification.sinch import (
    FlashcallStartDetails,
    Method,
    Report,
    ReportResult,
    SinchError,
    SinchNotFound,
    SinchRequestRejected,
    SinchUnavailable,
    SmsStart,
    SmsStartDetails,
    StartRequest,
    StartResult,
    Status,
    StatusResult,
)
from phone_verification.sinch.adapter import SinchAdapter
from phone_verification.store import VerificationStore
from tests.memory_store import InMemoryStore

TABLE = "verifications"
NUMBER = "+46700000001"
OTHER_NUMBER = "+46700000002"
FLASH_CLI = "+46815600001"


@dataclass
class ScriptedSinch:
    """Stands in for SinchClient (under the real ``SinchAdapter``): records calls and answers as the test
    says."""

    flashcall_cli: str | None = FLASH_CLI
    flashcall_report_timeout: int | None = 600  # the flashcall's reportTimeout, in seconds
    verdicts: list[ReportResult | SinchError] = field(default_factory=list)
    start_failure: SinchError | None = None
    by_reference: dict[str, StatusResult] = field(default_factory=dict)
    by_id: dict[str, StatusResult] = field(default_factory=dict)
    starts: list[StartRequest] = field(default_factory=list)
    reports: list[tuple[str, Report]] = field(default_factory=list)

    def start(self, request: StartRequest) -> StartResult:
        self.starts.append(request)
        verification_id = str(uuid.uuid4())
        self.by_id[verification_id] = StatusResult(
            id=verification_id, method=request.method, status=Status.PENDING, number=request.number
        )
        if self.start_failure is not None:
            failure, self.start_failure = self.start_failure, None
            if isinstance(failure, SinchUnavailable) and failure.request_sent and request.reference:
                self.by_reference[request.reference] = StatusResult(
                    id=verification_id, method=request.method, status=Status.PENDING
                )
            raise failure
        if request.method is Method.FLASHCALL:
            return StartResult(
                id=verification_id,
                method=request.method,
                flashcall=FlashcallStartDetails(
                    "(.*)8156(.*)",
                    45,
                    self.flashcall_report_timeout,
                    0,
                    verification_id,
                    self.flashcall_cli,
                ),
            )
        return StartResult(
            id=verification_id,
            method=request.method,
            sms=SmsStartDetails("Your code is {{CODE}}", 120, None) if request.method is Method.SMS else None,
        )

    def report(self, verification_id: str, report: Report) -> ReportResult:
        self.reports.append((verification_id, report))
        if not self.verdicts:
            return ReportResult(id=verification_id, method=report.method, status=Status.SUCCESSFUL)
        verdict = self.verdicts.pop(0)
        if isinstance(verdict, SinchError):
            raise verdict
        return verdict

    def status(self, verification_id: str) -> StatusResult:
        if verification_id in self.by_id:
            return self.by_id[verification_id]
        raise SinchNotFound("not found", http_status=404, error_code=40400)

    def status_by_reference(self, reference: str) -> StatusResult:
        if reference in self.by_reference:
            return self.by_reference[reference]
        raise SinchRequestRejected("not found", http_status=404, error_code=40400)


@dataclass
class Clock:
    now: float = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


class Keys:
    def hash_key(self) -> bytes:
        return b"k" * 32


@dataclass
class World:
    service: VerificationService
    sinch: ScriptedSinch
    clock: Clock
    store: InMemoryStore | VerificationStore
    dynamodb: Any = None  # moto's client when the store is the DynamoDB one

    def items(self) -> list[dict[str, Any]]:
        """The table's items as DynamoDB holds them (a world made with ``dynamodb=True``)."""
        assert self.dynamodb is not None, "make_world(dynamodb=True) keeps its state in DynamoDB"
        return list(self.dynamodb.scan(TableName=TABLE)["Items"])

    def at_sinch(self, verification_id: str) -> str:
        """Sinch's id for the verification's current channel (the service's id is its own)."""
        record = self.store.get(verification_id)
        assert record is not None
        return record.at_sinch

    def sent_code(self) -> str:
        request = self.sinch.starts[-1]
        assert isinstance(request, SmsStart)
        assert request.code is not None
        return request.code


def make_table() -> Any:
    """moto's DynamoDB client with the verification table; call inside ``mock_aws()``."""
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def make_world(
    *,
    outcomes: Outcomes | None = None,
    workflows: WorkflowNotifier | None = None,
    events: Events | None = None,
    dynamodb: bool = False,
    **settings: Any,
) -> World:
    """The service over an in-memory store and a scripted Sinch; with ``dynamodb``, over the real store
    and moto's DynamoDB instead (call inside ``mock_aws()``). ``outcomes``: where the service reports
    outcomes (metrics); ``workflows``: what resumes Step Functions tasks; ``events``: where lifecycle
    changes are published; none by default."""
    table: Any = make_table() if dynamodb else None
    store: InMemoryStore | VerificationStore = (
        VerificationStore(TABLE, table) if dynamodb else InMemoryStore()
    )
    sinch = ScriptedSinch()
    clock = Clock()
    service = VerificationService(
        settings=Settings(table_name=TABLE, sinch_secret_arn="arn:secret", **settings),
        store=store,
        sinch=SinchAdapter(sinch),
        keys=Keys(),
        clock=clock,
        outcomes=outcomes,
        workflows=workflows,
        events=events,
    )
    return World(service, sinch, clock, store, table)


def load_handler(function_dir: str) -> Any:
    """A function's ``app`` module, imported by path as the Lambda runtime does (both are named app.py)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "functions" / function_dir / "app.py"
    name = f"functions.{function_dir}.app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeContext:
    """The parts of the Lambda context that Powertools and the handlers read."""

    function_name: str = "phone-verification-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:000000000000:function:phone-verification-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/phone-verification-test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def http_event(
    method: str,
    route: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    principal: str | None = "arn:aws:iam::000000000000:user/backend",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as IAM authorization delivers it."""
    authorizer = {"iam": {"userArn": principal, "accountId": "000000000000"}} if principal else None
    context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "api",
        "domainName": "api.example.com",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "t",
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": f"{method} {route}",
        "stage": "$default",
        "time": "25/Nov/2026:18:00:00 +0000",
        "timeEpoch": 1_790_000_000_000,
    }
    if authorizer:
        context["authorizer"] = authorizer
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": context,
        "pathParameters": path_parameters or {},
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def install(service: VerificationService, dynamodb: Any) -> None:
    """Make ``service`` (over moto's in-process DynamoDB) what the handlers get from ``runtime.current()``."""
    from phone_verification import runtime

    runtime.configure(
        lambda: runtime.Dependencies(
            settings=service.settings,
            service=service,
            credentials=None,
            idempotency=runtime.persistence_layer(TABLE, dynamodb),
        )
    )


@dataclass
class MemoryReplays:
    """Stands in for Powertools' idempotency store (the ``Replays`` port): first answers in a dict."""

    answers: dict[tuple[str, str], tuple[dict[str, object], Verification]] = field(default_factory=dict)

    def once(
        self,
        *,
        owner_hash: str,
        key: str,
        fingerprint: Mapping[str, object],
        first: Callable[[], Verification],
    ) -> Started:
        stored = self.answers.get((owner_hash, key))
        if stored is None:
            verification = first()
            self.answers[(owner_hash, key)] = (dict(fingerprint), verification)
            return Started(verification)
        if stored[0] != dict(fingerprint):
            raise Conflict("This Idempotency-Key was already used with a different request.")
        return Started(stored[1], replayed=True)


@dataclass
class RecordedWorkflows:
    """Stands in for ``workflow.TaskCallbacks`` (the ``WorkflowNotifier`` port): what would be sent."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def succeeded(self, token: str, verification: Verification) -> bool:
        self.calls.append(("success", token, verification))
        return True

    def failed(self, token: str, error: VerificationError, *, verification_id: str) -> bool:
        self.calls.append(("failure", token, type(error).__name__))
        return True


CannedReply = tuple[int, Any, Mapping[str, str]] | Exception


class CannedHttp(BaseAdapter):
    """A ``requests`` transport that answers each request with the next canned reply (status, JSON body
    or bytes, headers; or an exception to raise) and keeps what was sent."""

    def __init__(self, *replies: CannedReply) -> None:
        super().__init__()
        self.replies = list(replies)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body, headers = reply
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.headers.update(headers)
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass
