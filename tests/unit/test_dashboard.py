"""template.yaml's CloudWatch dashboard reads the metrics the functions write: every PhoneVerification
metric a widget names, with its dimensions, is one the code prints as EMF, and the AWS metrics name this
stack's functions and API. A widget that reads a misspelt metric or a dimension the code does not write
shows an empty graph in CloudWatch, and nobody notices until an incident."""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest
from moto import mock_aws

from phone_verification import observability, runtime
from phone_verification.api import Router, entrypoint
from phone_verification.model import Method
from phone_verification.observability import MetricOutcomes, record_event_put_failed, record_sinch_call
from phone_verification.sinch import SinchCall
from tests.fakes import FakeContext, http_event, install, load_handler, make_world
from tests.unit.test_observability import emf_lines
from tests.unit.test_template import RESOURCES, TEMPLATE

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

STACK = "stack"
SUBSTITUTIONS = {
    "AWS::Region": "eu-west-1",
    "AWS::StackName": STACK,
    "StartVerificationFunction": f"{STACK}-start-verification",
    "ReportVerificationFunction": f"{STACK}-report-verification",
    "VerificationApi": "a1b2c3d4e5",
}
_SEARCH = re.compile(
    r"SEARCH\('\{(?P<namespace>[^,}]+),(?P<dimensions>[^}]+)\} MetricName=\"(?P<name>\w+)\"', "
    r"'(?P<stat>Sum|p50|p99)', (?P<period>\d+)\)"
)

Series = tuple[str, frozenset[tuple[str, str]]]  # metric name, (dimension, value) pairs


@dataclass(frozen=True)
class Read:
    """One metric a widget reads: explicit dimension values, or only dimension names (SEARCH)."""

    namespace: str
    name: str
    dimensions: dict[str, str | None]


def dashboard() -> dict[str, Any]:
    body = RESOURCES["VerificationDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}!]+)\}", body))
    assert names <= set(SUBSTITUTIONS), names - set(SUBSTITUTIONS)
    for name in names - {"AWS::Region", "AWS::StackName"}:
        assert name in RESOURCES
    loaded = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: SUBSTITUTIONS[m.group(1)], body))
    assert isinstance(loaded, dict)
    return loaded


def reads(widget: dict[str, Any]) -> list[Read]:
    found = []
    for entry in widget["properties"]["metrics"]:
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        expression = options.get("expression")
        if expression is None:
            namespace, name, *pairs = [part for part in entry if not isinstance(part, dict)]
            found.append(Read(namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
        elif expression.startswith("SEARCH"):
            match = _SEARCH.fullmatch(expression)
            assert match, expression
            names = match["dimensions"].split(",")
            found.append(Read(match["namespace"], match["name"], dict.fromkeys(names)))
    return found


def expression_ids(widget: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The ids a widget defines, and those its math expressions use."""
    defined, used = set(), set()
    for entry in widget["properties"]["metrics"]:
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        if "id" in options:
            defined.add(options["id"])
        expression = options.get("expression", "")
        if expression and not expression.startswith("SEARCH"):
            used |= set(re.findall(r"\b[a-z]\w*\b", expression)) - {"FILL"}
    return defined, used


@pytest.fixture(scope="module")
def written() -> set[Series]:
    """The series the code writes, from the EMF it prints: real requests through the handlers, and the
    outcomes only rarer paths reach recorded as their use cases record them."""
    printed = io.StringIO()
    with mock_aws(), contextlib.redirect_stdout(printed):
        world = make_world(outcomes=MetricOutcomes(), dynamodb=True)
        install(world.service, world.dynamodb)
        start, report = load_handler("start_verification"), load_handler("report_verification")
        context = FakeContext(function_name=SUBSTITUTIONS["StartVerificationFunction"])
        created = start.lambda_handler(
            http_event("POST", "/verifications", "/verifications", body={"phoneNumber": "+46700000009"}),
            context,
        )
        verification = json.loads(created["body"])["id"]
        for code in ("000000", "999999"):
            report.lambda_handler(
                http_event(
                    "PUT",
                    "/verifications/{id}",
                    f"/verifications/{verification}",
                    body={"code": code},
                    path_parameters={"id": verification},
                ),
                context,
            )
        unknown = "0b0e1f6e-7a7e-4c1e-9a55-000000000000"
        report.lambda_handler(
            http_event(
                "GET", "/verifications/{id}", f"/verifications/{unknown}", path_parameters={"id": unknown}
            ),
            context,
        )
        outcomes = MetricOutcomes()
        outcomes.record("verified", "sms", country="SE")
        outcomes.record("next", "callout", country="SE")
        outcomes.record("cancelled", "sms")
        outcomes.record("sinch_report_failed", "sms")
        outcomes.record("guard_refused", "sms", "prefix_budget", country="SE")
        outcomes.record("guard_would_refuse", "sms", "prefix_budget", country="SE")
        record_event_put_failed()
        # The scripted Sinch of the unit world has no HTTP client: what the real one's on_call hook gets.
        record_sinch_call(SinchCall("start", 503, 0.25))
        observability.metrics.flush()
        # A fresh handler's first invocation is a cold start, whatever ran before in this process.
        for function in ("StartVerificationFunction", "ReportVerificationFunction"):
            fresh = entrypoint(Router(), lambda event, context: {})
            fresh(
                {"action": "noop"}, cast("LambdaContext", FakeContext(function_name=SUBSTITUTIONS[function]))
            )
        runtime.configure(None)
    series = set()
    for document in emf_lines(printed.getvalue()):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == observability.NAMESPACE
            for names in directive["Dimensions"]:
                dimensions = frozenset((name, document[name]) for name in names)
                series |= {(metric["Name"], dimensions) for metric in directive["Metrics"]}
    return series


def widgets() -> list[dict[str, Any]]:
    return [widget for widget in dashboard()["widgets"] if widget["type"] == "metric"]


def all_reads() -> list[Read]:
    return [read for widget in widgets() for read in reads(widget)]


def test_the_namespace_the_dashboard_reads_is_the_one_the_functions_write() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "PhoneVerification"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "phone-verification"
    assert {read.namespace for read in all_reads()} == {"PhoneVerification", "AWS/Lambda", "AWS/ApiGateway"}


def test_every_product_metric_on_the_dashboard_is_written_with_those_dimensions(written: set[Series]) -> None:
    service = observability.SERVICE
    assert service == "phone-verification"  # the value the widgets name
    for read in all_reads():
        if read.namespace != "PhoneVerification":
            continue
        names = frozenset(read.dimensions)
        candidates = [dims for name, dims in written if name == read.name and {k for k, _ in dims} == names]
        assert candidates, f"{read.name} by {sorted(names)} is never written"
        explicit = {(k, v) for k, v in read.dimensions.items() if v is not None}
        # An explicit value must be one the code writes: a method the service has, or a value written
        # here (the service, the function's own name, ...).
        for name, value in explicit:
            if name == "method":
                assert value in {method.value for method in Method}, (read.name, value)
            else:
                assert any((name, value) in dims for dims in candidates), (read.name, name, value)


def test_the_aws_metrics_name_this_stacks_functions_and_api() -> None:
    functions = {SUBSTITUTIONS["StartVerificationFunction"], SUBSTITUTIONS["ReportVerificationFunction"]}
    for read in all_reads():
        if read.namespace == "AWS/Lambda":
            assert read.name in {"Invocations", "Errors", "Throttles", "Duration"}
            assert read.dimensions.keys() == {"FunctionName"}
            assert read.dimensions["FunctionName"] in functions
        elif read.namespace == "AWS/ApiGateway":
            assert read.name in {"Count", "4xx", "5xx", "Latency", "IntegrationLatency"}
            assert read.dimensions == {"ApiId": SUBSTITUTIONS["VerificationApi"]}


def test_the_dashboard_shows_what_operators_ask_for() -> None:
    shown = {(read.namespace, read.name) for read in all_reads()}
    product = {name for namespace, name in shown if namespace == "PhoneVerification"}
    assert {
        "VerificationStarted",
        "VerificationSucceeded",
        "StartedByCountry",
        "SucceededByCountry",
    } <= product
    assert {
        "RequestRefused",
        "FraudGuardRefused",
        "SinchLatency",
        "SinchRequests",
        "ProviderFailure",
    } <= product
    assert "ColdStart" in product
    assert {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Duration"), ("AWS/ApiGateway", "4xx")} <= shown
    assert ("AWS/ApiGateway", "5xx") in shown


def test_every_metric_the_functions_write_is_somewhere_on_the_dashboard(written: set[Series]) -> None:
    shown = {read.name for read in all_reads()}
    # VerificationRefused counts report refusals by method, a subset of RequestRefused (by code), shown.
    assert {name for name, _ in written} - shown <= {"VerificationRefused"}


def test_math_expressions_use_only_ids_their_widget_defines() -> None:
    for widget in widgets():
        defined, used = expression_ids(widget)
        assert used <= defined, (widget["properties"]["title"], used - defined)


def test_widgets_fit_the_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard()["widgets"]:
        assert widget["x"] >= 0
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not area & cells, widget
        cells |= area


def test_the_dashboards_url_is_an_output() -> None:
    url = TEMPLATE["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert "#dashboards:name=${VerificationDashboard}" in url
