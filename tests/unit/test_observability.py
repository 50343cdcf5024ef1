"""The metrics the functions write (CloudWatch EMF on stdout): what the dashboards and the Sinch
failure-rate alarm read, one document per invocation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from phone_verification import observability, runtime
from phone_verification.observability import EmfMetrics, MetricOutcomes, record_sinch_call
from phone_verification.sinch import SinchCall
from tests.fakes import FakeContext, World, http_event, install, load_handler, make_world

start_app = load_handler("start_verification")


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def published(document: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric, ((dimension, value), ...)) as CloudWatch would store it from one EMF document."""
    series = set()
    for directive in document["_aws"]["CloudWatchMetrics"]:
        assert directive["Namespace"] == observability.NAMESPACE
        for names in directive["Dimensions"]:
            dimensions = tuple((name, document[name]) for name in names)
            for metric in directive["Metrics"]:
                assert metric["Unit"] == "Count"
                assert isinstance(document[metric["Name"]], int | float)
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
    }


def test_a_successful_sinch_call_is_counted_but_not_as_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    record_sinch_call(SinchCall("report", 200, 0.2))
    observability.metrics.flush()
    [document] = emf_lines(capsys.readouterr().out)
    assert {name for name, _ in published(document)} == {"SinchRequests"}


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
