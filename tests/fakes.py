"""Test doubles shared by the unit tests: a scripted Sinch and an in-memory (moto) service world."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

from phone_verification.service import VerificationService
from phone_verification.settings import Settings
from phone_verification.sinch import (
    FlashcallStartDetails,
    Method,
    Report,
    ReportResult,
    SinchError,
    SinchRequestRejected,
    SinchUnavailable,
    SmsStart,
    SmsStartDetails,
    StartRequest,
    StartResult,
    Status,
    StatusResult,
)
from phone_verification.store import VerificationStore

TABLE = "verifications"
NUMBER = "+46700000001"
OTHER_NUMBER = "+46700000002"
FLASH_CLI = "+46815600001"


@dataclass
class ScriptedSinch:
    """Stands in for SinchClient: records calls and answers as the test says."""

    flashcall_cli: str | None = FLASH_CLI
    verdicts: list[ReportResult | SinchError] = field(default_factory=list)
    start_failure: SinchError | None = None
    by_reference: dict[str, StatusResult] = field(default_factory=dict)
    starts: list[StartRequest] = field(default_factory=list)
    reports: list[tuple[str, Report]] = field(default_factory=list)

    def start(self, request: StartRequest) -> StartResult:
        self.starts.append(request)
        verification_id = str(uuid.uuid4())
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
                    "(.*)8156(.*)", 45, 600, 0, verification_id, self.flashcall_cli
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
    dynamodb: Any

    def items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=TABLE)["Items"])

    def sent_code(self) -> str:
        request = self.sinch.starts[-1]
        assert isinstance(request, SmsStart)
        assert request.code is not None
        return request.code


def make_world(*, outcomes: Any = None, **settings: Any) -> World:
    """A service over moto's DynamoDB; call inside ``mock_aws()``. ``outcomes``: where the service
    reports outcomes (metrics); none by default."""
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sinch = ScriptedSinch()
    clock = Clock()
    service = VerificationService(
        settings=Settings(table_name=TABLE, sinch_secret_arn="arn:secret", **settings),
        store=VerificationStore(TABLE, dynamodb),
        sinch=sinch,  # type: ignore[arg-type]
        keys=Keys(),
        clock=clock,
        outcomes=outcomes,
    )
    return World(service, sinch, clock, dynamodb)


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
            settings=service._settings,
            service=service,
            credentials=None,
            idempotency=runtime.persistence_layer(TABLE, dynamodb),
        )
    )
