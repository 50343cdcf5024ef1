"""The metrics the functions write (CloudWatch EMF on stdout): what the dashboards and the Sinch
failure-rate alarm read, one document per invocation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from phone_verification import observability, runtime
from phone_verification.observability import EmfMetrics, MetricOutcomes, record_sinch_call
from phone_verification.sinch import SinchCall
from tests.fakes import FakeContext, World, http_event, install, load_handler, make_world
from tests.unit.test_template import PARAMETERS

start_app = load_handler("start_verification")


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [document for line in text.splitlines() if "_aws" in (document := _json_object(line))]


def _json_object(line: str) -> dict[str, Any]:
    try:
        loaded = json.loads(line)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def published(document: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric, ((dimension, value), ...)) as CloudWatch would store it from one EMF document."""
    series = set()
    for directive in document["_aws"]["CloudWatchMetrics"]:
        assert directive["Namespace"] == observability.NAMESPACE
        for names in directive["Dimensions"]:
            dimensions = tuple((name, document[name]) for name in names)
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                if metric["Unit"] == "Count":
                    assert isinstance(value, int)
                else:
                    assert metric["Unit"] == "Milliseconds"
                    assert value
                    assert all(isinstance(v, float | int) and v >= 0 for v in value)
                series.add((metric["Name"], dimensions))
    return series


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        world = make_world(outcomes=MetricOutcomes(), dynamodb=True)
        install(world.service, world.dynamodb)
        yield world
        runtime.configure(None)


def test_an_outcome_and_the_sinch_counters_share_one_document_with_their_own_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    MetricOutcomes().record("started", "sms")
    record_sinch_call(SinchCall("start", 503, 0.2))
    observability.metrics.flush()

    [document] = emf_lines(capsys.readouterr().out)
    service = ("service", observability.SERVICE)
    assert published(document) == {
        ("VerificationStarted", (("method", "sms"), service)),
        # What the Sinch failure-rate alarm divides: by service only (template.yaml, SinchFailureRateAlarm).
        ("SinchRequests", (service,)),
        ("ProviderFailure", (service,)),
        ("SinchLatency", (("operation", "start"), service)),
    }
    assert document["SinchLatency"] == [200.0]


def test_a_successful_sinch_call_is_counted_but_not_as_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    record_sinch_call(SinchCall("report", 200, 0.2))
    observability.metrics.flush()
    [document] = emf_lines(capsys.readouterr().out)
    assert {name for name, _ in published(document)} == {"SinchRequests", "SinchLatency"}


def test_outcomes_whose_dimensions_clash_go_to_separate_documents(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = MetricOutcomes()
    outcomes.record("refused", "sms", "too_many_attempts")
    outcomes.record("refused", "sms", "expired")
    outcomes.record("refused", "sms", "expired")
    observability.metrics.flush()

    documents = emf_lines(capsys.readouterr().out)
    assert len(documents) == 2
    counts = {document["reason"]: document["VerificationRefused"] for document in documents}
    assert counts == {"too_many_attempts": 1, "expired": 2}


def test_nothing_is_written_when_nothing_was_counted(capsys: pytest.CaptureFixture[str]) -> None:
    observability.metrics.flush()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("environment", "disabled"),
    [
        ({}, False),
        ({"POWERTOOLS_METRICS_DISABLED": "true"}, True),
        ({"AWS_SAM_LOCAL": "true"}, True),
        ({"AWS_SAM_LOCAL": "true", "POWERTOOLS_METRICS_DISABLED": "false"}, False),
    ],
)
def test_metrics_can_be_switched_off_as_with_powertools(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    disabled: bool,
) -> None:
    for name in ("POWERTOOLS_METRICS_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    metrics = EmfMetrics("Test", "svc")
    metrics.count("Thing")
    metrics.flush()
    assert bool(emf_lines(capsys.readouterr().out)) is not disabled


def test_each_invocation_writes_one_document_and_the_first_counts_the_cold_start(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = []
    for number in ("+46700000001", "+46700000002"):
        event = http_event("POST", "/verifications", "/verifications", body={"phoneNumber": number})
        assert start_app.lambda_handler(event, FakeContext())["statusCode"] == 201
        documents.append(emf_lines(capsys.readouterr().out))

    assert [len(found) for found in documents] == [1, 1]
    service = ("service", observability.SERVICE)
    started = ("VerificationStarted", (("method", "sms"), service))
    # The conversion rate per country divides SucceededByCountry by this.
    by_country = ("StartedByCountry", (("country", "SE"), ("method", "sms"), service))
    # Earlier tests in this process may have taken the cold start already; the second never has it.
    assert {started, by_country} <= published(documents[0][0])
    assert published(documents[1][0]) == {started, by_country}
    cold = [s for s in published(documents[0][0]) if s[0] == "ColdStart"]
    assert cold in ([], [("ColdStart", (("function_name", FakeContext().function_name), service))])


# Lambda's log-level filter for JSON application logs, as documented ("Log-level filtering", Lambda
# developer guide): a line's "level" (TRACE ... FATAL) counts only with a valid RFC 3339 "timestamp";
# otherwise, and for a line without a valid level, the line is INFO. Lines below the function's
# ApplicationLogLevel are dropped before they reach CloudWatch Logs, where EMF becomes metrics.
_LAMBDA_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def kept_by_lambda(line: str, application_log_level: str) -> bool:
    document = _json_object(line)
    level = str(document.get("level", "")).upper()
    if level not in _LAMBDA_LEVELS or not _RFC3339.fullmatch(str(document.get("timestamp", ""))):
        level = "INFO"
    return _LAMBDA_LEVELS.index(level) >= _LAMBDA_LEVELS.index(application_log_level)


def test_the_filter_model_drops_a_metric_line_without_a_level_at_warn() -> None:
    # What the functions printed before: an EMF document and nothing else, which Lambda calls INFO.
    bare = json.dumps({"_aws": {"Timestamp": 0, "CloudWatchMetrics": []}, "VerificationStarted": 1})
    assert kept_by_lambda(bare, "INFO")
    assert not kept_by_lambda(bare, "WARN")


@pytest.mark.parametrize("log_level", PARAMETERS["LogLevel"]["AllowedValues"])
def test_every_metric_line_passes_lambdas_log_level_filter_at_each_allowed_log_level(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, log_level: str
) -> None:
    # Given a function deployed with LogLevel=<level> (Lambda sets AWS_LAMBDA_LOG_LEVEL from it)
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", log_level)
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
    # When it starts a verification and refuses a report (outcome, Sinch, refusal metrics)
    event = http_event("POST", "/verifications", "/verifications", body={"phoneNumber": "+46700000009"})
    assert start_app.lambda_handler(event, FakeContext())["statusCode"] == 201
    lines = [line for line in capsys.readouterr().out.splitlines() if "_aws" in _json_object(line)]
    # Then every EMF line it printed reaches CloudWatch Logs, so every metric reaches CloudWatch
    assert lines
    assert all(kept_by_lambda(line, log_level) for line in lines), lines


def test_refusals_are_counted_by_code_for_http_and_direct_callers(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = "0b0e1f6e-7a7e-4c1e-9a55-000000000000"
    event = http_event(
        "GET", "/verifications/{id}", f"/verifications/{unknown}", path_parameters={"id": unknown}
    )
    assert load_handler("report_verification").lambda_handler(event, FakeContext())["statusCode"] == 404
    [document] = emf_lines(capsys.readouterr().out)
    assert ("RequestRefused", (("code", "not_found"), ("service", observability.SERVICE))) in published(
        document
    )
