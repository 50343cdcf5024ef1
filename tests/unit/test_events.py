"""Lifecycle events: ``events.EventBridgeEvents`` against botocore's Stubber (the entry, nothing personal in
it, failures logged and counted and never raised), the setting that turns them on, the wiring, and the
template's parameter and IAM grant."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, NoRegionError
from botocore.stub import Stubber

from phone_verification import observability, runtime
from phone_verification.events import EventBridgeEvents, detail, entry
from phone_verification.model import Method, Status, VerificationRecord
from phone_verification.phone import mask
from phone_verification.settings import ConfigurationError, Settings
from tests.unit.test_observability import emf_lines, published
from tests.unit.test_template import (
    GLOBAL_ENV,
    NO_VALUE,
    PARAMETERS,
    RESOURCES,
    TEMPLATE,
    _as_list,
    _condition,
    _defaults,
    _settings_env,
    _statements,
)

NUMBER = "+46700000101"
OWNER = "iam:arn:aws:sts::123456789012:assumed-role/backend"
BUS = "signups"
CREATED = 1_790_000_000  # 2026-09-21T14:13:20Z
# Everything a verification's record holds that names, identifies or unlocks something: none of it may
# leave in an event.
PERSONAL = {
    "number": NUMBER,
    "number without +": NUMBER.removeprefix("+"),
    "national number": "700000101",
    "masked number": mask(NUMBER),
    "number hash": "6f1d0c4b9a7e3f25d8c1b0a9e8f7d6c5b4a3928170f6e5d4c3b2a1908f7e6d5c",
    "owner hash": "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "secret hash": "f9e8d7c6b5a4938271605f4e3d2c1b0af9e8d7c6b5a4938271605f4e3d2c1b0a",
    "retired hash": "1234abcd5678ef901234abcd5678ef901234abcd5678ef901234abcd5678ef90",
    "prefix hash": "deadbeefcafebabe0011223344556677deadbeefcafebabe0011223344556677",
    "task token": "AQCEAAAAKgAAAAMAAAAAAAAAAcIVN-task-token-of-the-workflow",
    "Sinch id": "1234567890abcdef",
    "owner": OWNER,
}


def record(**changes: Any) -> VerificationRecord:
    fields: dict[str, Any] = {
        "id": "0198f3c2-7d1e-7000-8000-5a1b2c3dabcd",
        "method": Method.CALLOUT,
        "status": Status.PENDING,
        "attempts": 1,
        "max_attempts": 5,
        "created_at": CREATED,
        "expires_at": CREATED + 600,
        "masked_number": PERSONAL["masked number"],
        "number_hash": PERSONAL["number hash"],
        "owner_hash": PERSONAL["owner hash"],
        "checked_by": "sinch",
        "secret_hash": PERSONAL["secret hash"],
        "reference": "signup-42",
        "task_token": PERSONAL["task token"],
        "guard_prefix": PERSONAL["prefix hash"],
        "country": "SE",
        "sinch_id": PERSONAL["Sinch id"],
        "channels": (Method.SMS, Method.CALLOUT),
        "channel": 1,
        "retired_hashes": (PERSONAL["retired hash"],),
    }
    return VerificationRecord(**(fields | changes))


def events_client() -> Any:
    return boto3.client(
        "events", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


class Failures:
    """Stands in for the EventPutFailed counter."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def stubbed() -> Iterator[tuple[EventBridgeEvents, Stubber, Failures]]:
    client = events_client()
    failures = Failures()
    with Stubber(client) as stubber:
        yield EventBridgeEvents(BUS, lambda: client, on_failure=failures), stubber, failures
        stubber.assert_no_pending_responses()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def event_logs() -> Iterator[_Lines]:
    lines = _Lines()
    logger = logging.getLogger("phone_verification.events")
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


def accepted() -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": "11111111-2222-3333-4444-555555555555"}]}


# ---------------------------------------------------------------------------------------------- the entry


def test_one_entry_from_the_products_source_on_the_configured_bus(
    stubbed: tuple[EventBridgeEvents, Stubber, Failures], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    events, stubber, failures = stubbed
    expected = {
        "Entries": [
            {
                "Source": "phone-verification",
                "DetailType": "Verification Started",
                "Detail": json.dumps(detail("Started", record(), now=CREATED), separators=(",", ":")),
                "EventBusName": BUS,
            }
        ]
    }
    stubber.add_response("put_events", accepted(), expected)
    events.publish("Started", record(), now=CREATED)
    assert failures.count == 0


def test_the_detail_says_what_happened_to_which_verification() -> None:
    body = detail("Failed", record(attempts=5, status=Status.FAIL, reason="Invalid code"), now=CREATED + 90)
    assert body == {
        "id": "0198f3c2-7d1e-7000-8000-5a1b2c3dabcd",
        "method": "callout",
        "channel": 1,
        "channels": ["sms", "callout"],
        "country": "SE",
        "status": "FAIL",
        "reason": "Invalid code",
        "attemptsUsed": 5,
        "maxAttempts": 5,
        "reference": "signup-42",
        "createdAt": "2026-09-21T14:13:20Z",
        "expiresAt": "2026-09-21T14:23:20Z",
        "time": "2026-09-21T14:14:50Z",
    }


def test_the_status_is_the_verifications_as_of_the_change() -> None:
    # A pending record past its expiry is expired, as a status read shows it.
    expired = detail("Expired", record(), now=CREATED + 600)
    assert (expired["status"], expired["reason"]) == ("FAIL", "Expired")
    used_up = detail("Failed", record(attempts=5), now=CREATED + 10)
    assert (used_up["status"], used_up["reason"]) == ("FAIL", "Invalid code")
    cancelled = detail("Cancelled", record(status=Status.CANCELLED), now=CREATED + 10)
    assert cancelled["status"] == "CANCELLED"


def test_absent_reason_and_reference_are_left_out_not_null() -> None:
    body = detail("Started", record(reference=None, reason=None, channels=(), channel=0), now=CREATED)
    assert "reason" not in body
    assert "reference" not in body
    assert (body["channel"], body["channels"]) == (0, ["callout"])


def test_the_lambda_trace_header_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    assert entry(BUS, "Started", record(), now=CREATED)["TraceHeader"] == trace


@pytest.mark.parametrize("change", ["Started", "Succeeded", "Failed", "Expired", "Cancelled", "Blocked"])
def test_nothing_personal_leaves_in_an_event(change: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    serialized = json.dumps(entry(BUS, change, record(), now=CREATED + 30))
    leaked = {name for name, value in PERSONAL.items() if value in serialized}
    assert leaked == set()
    # Nor anything of the number's shape: a run of 7 or more digits (timestamps are ISO strings).
    assert not re.search(r"\d{7,}", json.dumps(json.loads(serialized)["Detail"]))


# ---------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "AccessDeniedException", "ResourceNotFoundException"]
)
def test_a_refused_put_is_logged_once_counted_and_never_raised(
    stubbed: tuple[EventBridgeEvents, Stubber, Failures], event_logs: _Lines, code: str
) -> None:
    events, stubber, failures = stubbed
    stubber.add_client_error("put_events", service_error_code=code, http_status_code=400)
    events.publish("Succeeded", record(status=Status.SUCCESSFUL), now=CREATED)
    (line,) = event_logs.records
    assert (line.levelno, line.__dict__["aws_error"]) == (logging.ERROR, code)
    assert (line.__dict__["verification_id"], line.__dict__["change"]) == (record().id, "Succeeded")
    assert failures.count == 1


def test_a_failed_entry_in_an_accepted_call_is_a_failure_too(
    stubbed: tuple[EventBridgeEvents, Stubber, Failures], event_logs: _Lines
) -> None:
    events, stubber, failures = stubbed
    failed = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "something about +46700000101"}],
    }
    stubber.add_response("put_events", failed)
    events.publish("Started", record(), now=CREATED)
    (line,) = event_logs.records
    assert line.__dict__["aws_error"] == "InternalFailure"
    assert failures.count == 1


def test_an_unreachable_eventbridge_or_a_client_that_cannot_be_built_is_logged_and_never_raised(
    event_logs: _Lines,
) -> None:
    class Unreachable:
        def put_events(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://events.eu-west-1.amazonaws.com")

    def no_region() -> Any:
        raise NoRegionError

    failures = Failures()
    EventBridgeEvents(BUS, Unreachable, on_failure=failures).publish("Started", record(), now=CREATED)
    EventBridgeEvents(BUS, no_region, on_failure=failures).publish("Started", record(), now=CREATED)
    assert [line.__dict__["aws_error"] for line in event_logs.records] == [
        "EndpointConnectionError",
        "NoRegionError",
    ]
    assert failures.count == 2


def test_a_failure_log_line_holds_nothing_personal(
    stubbed: tuple[EventBridgeEvents, Stubber, Failures], event_logs: _Lines
) -> None:
    events, stubber, _ = stubbed
    stubber.add_client_error(
        "put_events", service_error_code="ValidationException", service_message=f"bad detail {NUMBER}"
    )
    events.publish("Started", record(), now=CREATED)
    (line,) = event_logs.records
    text = f"{line.getMessage()} {line.__dict__}"
    assert {name for name, value in PERSONAL.items() if value in text} == set()


def test_a_failure_is_counted_as_the_event_put_failed_metric(
    capsys: pytest.CaptureFixture[str], event_logs: _Lines
) -> None:
    observability.metrics.flush()  # whatever earlier tests left pending in this thread
    capsys.readouterr()
    client = events_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("put_events", service_error_code="ThrottlingException")
        EventBridgeEvents(BUS, lambda: client).publish("Started", record(), now=CREATED)
    observability.metrics.flush()
    [document] = emf_lines(capsys.readouterr().out)
    assert published(document) == {("EventPutFailed", (("service", observability.SERVICE),))}


def test_the_client_is_created_on_first_use_only() -> None:
    made: list[int] = []
    client = events_client()

    def factory() -> Any:
        made.append(1)
        return client

    events = EventBridgeEvents(BUS, factory)
    assert made == []
    with Stubber(client) as stubber:
        stubber.add_response("put_events", accepted())
        stubber.add_response("put_events", accepted())
        events.publish("Started", record(), now=CREATED)
        events.publish("Succeeded", record(status=Status.SUCCESSFUL), now=CREATED)
    assert made == [1]


# ---------------------------------------------------------------------------------------------- setting


def test_events_are_off_unless_a_bus_is_configured() -> None:
    settings = Settings.from_env({"TABLE_NAME": "t", "SINCH_SECRET_ARN": "arn:s"})
    assert settings.event_bus_name == ""
    assert runtime._events(settings) is None


@pytest.mark.parametrize(
    "bus",
    [
        "default",
        "signups",
        "my.bus_name-2",
        "a" * 256,
        "arn:aws:events:eu-west-1:123456789012:event-bus/signups",
        "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/default",
    ],
)
def test_a_bus_name_or_arn_turns_them_on(bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    settings = Settings.from_env(
        {"TABLE_NAME": "t", "SINCH_SECRET_ARN": "arn:s", "EVENT_BUS_NAME": f" {bus} "}
    )
    assert settings.event_bus_name == bus
    events = runtime._events(settings)
    assert isinstance(events, EventBridgeEvents)
    assert events.bus == bus


@pytest.mark.parametrize(
    "bus",
    [
        "aws.partner/example.com/123/bus",  # a partner bus: PutEvents cannot put to it
        "my bus",
        "a" * 257,
        "arn:aws:events:eu-west-1:123456789012:rule/signups",
        "arn:aws:sns:eu-west-1:123456789012:topic",
        "bus*",
    ],
)
def test_anything_else_is_a_configuration_error(bus: str) -> None:
    with pytest.raises(ConfigurationError, match="EVENT_BUS_NAME"):
        Settings.from_env({"TABLE_NAME": "t", "SINCH_SECRET_ARN": "arn:s", "EVENT_BUS_NAME": bus})


def test_the_service_is_built_with_eventbridge_when_a_bus_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(table_name="t", sinch_secret_arn="arn:s", event_bus_name=BUS)
    events = runtime.build(settings).service.context.events
    assert isinstance(events, EventBridgeEvents)
    assert events.bus == BUS


def test_without_a_bus_the_events_module_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from phone_verification import runtime\n"
        "from phone_verification.settings import Settings\n"
        "assert runtime._events(Settings(table_name='t', sinch_secret_arn='s')) is None\n"
        "print('phone_verification.events' in sys.modules)"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------- template

BUS_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
}


def test_the_parameter_is_off_by_default_and_reaches_both_functions() -> None:
    assert PARAMETERS["EventBusName"]["Default"] == ""
    assert GLOBAL_ENV["EVENT_BUS_NAME"] == {"Ref": "EventBusName"}
    assert not _condition("HasEventBus", _defaults())
    assert _condition("HasEventBus", _defaults() | {"EventBusName": "default"})
    settings = Settings.from_env(_settings_env() | {"EVENT_BUS_NAME": PARAMETERS["EventBusName"]["Default"]})
    assert settings.event_bus_name == ""


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("default", True),
        ("signups-prod.v2_x", True),
        ("a" * 256, True),
        ("a" * 257, False),
        ("arn:aws:events:eu-west-1:123456789012:event-bus/signups", False),  # the grant is built from a name
        ("aws.partner/example.com/123/bus", False),
        ("my bus", False),
        ("*", False),
    ],
)
def test_the_parameter_admits_bus_names_that_settings_accepts(value: str, accepted: bool) -> None:
    assert bool(re.fullmatch(PARAMETERS["EventBusName"]["AllowedPattern"], value)) is accepted
    if accepted:
        Settings.from_env(_settings_env() | {"EVENT_BUS_NAME": value})


@pytest.mark.parametrize("function", ["StartVerificationFunction", "ReportVerificationFunction"])
def test_each_function_may_put_events_on_that_bus_only_and_only_when_one_is_set(function: str) -> None:
    def puts(params: dict[str, str]) -> list[Any]:
        return [
            statement
            for statement in _statements(function, params)
            if any(action.startswith("events:") for action in _as_list(statement["Action"]))
        ]

    assert puts(_defaults()) == []
    (statement,) = puts(_defaults() | {"EventBusName": "signups"})
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["events:PutEvents"]
    assert statement["Resource"] == BUS_ARN
    assert "Condition" not in statement
    written = [s for s in RESOURCES[function]["Properties"]["Policies"][0]["Statement"] if "Fn::If" in s]
    assert [s["Fn::If"][0] for s in written if s["Fn::If"][1].get("Sid") == "LifecycleEvents"] == [
        "HasEventBus"
    ]
    assert all(s["Fn::If"][2] == NO_VALUE for s in written)


def test_the_parameter_is_grouped_for_the_console() -> None:
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert {"Label": {"default": "Lifecycle events"}, "Parameters": ["EventBusName"]} in groups
