"""The local stack on the product's own template.yaml: the README's walkthrough, over loopback HTTP.

Skipped until template.yaml and both functions exist; the rest of the local stack's tests use the
fixture template so that they never depend on the product's progress.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack import DEFAULT_TEMPLATE, LocalStack, Template
from phone_verification import runtime
from tests.integration.conftest import http

NUMBER = "+46700000042"


def _product_present() -> bool:
    if not DEFAULT_TEMPLATE.is_file():
        return False
    template = Template.load(DEFAULT_TEMPLATE)
    for logical_id in template.function_ids():
        code_uri = (template.resources[logical_id].get("Properties") or {}).get("CodeUri")
        if not (DEFAULT_TEMPLATE.parent / str(code_uri) / "app.py").is_file():
            return False
    return True


pytestmark = pytest.mark.skipif(
    not _product_present(), reason="template.yaml or the functions are not there yet"
)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        # The product caches its clients per process: build them against this stack, not another one.
        runtime.configure(None)
        yield running
    runtime.configure(None)


def test_routes_and_resources_come_from_template_yaml(stack: LocalStack) -> None:
    keys = {route.route_key for route in stack.routes}
    assert {
        "POST /verifications",
        "PUT /verifications/{id}",
        "PUT /verifications/number/{phoneNumber}",
        "GET /verifications/{id}",
    } <= keys
    env = stack.function_environment("StartVerificationFunction")
    assert env["TABLE_NAME"] == stack.table_name
    assert env["SINCH_SECRET_ARN"] == stack.secret_id
    assert env["SINCH_BASE_URL"] == stack.sinch_base_url
    assert env["AWS_ENDPOINT_URL"] == stack.aws_endpoint_url


def test_sms_walkthrough_start_read_the_phone_report_status(stack: LocalStack) -> None:
    assert stack.sandbox is not None
    started = http.post(f"{stack.api_url}/verifications", json={"phoneNumber": NUMBER}, timeout=30)
    assert started.status_code == 201, started.text
    verification_id = started.json()["id"]
    assert started.json()["status"] == "PENDING"

    messages = stack.sandbox.inbox(NUMBER)["messages"]
    code = messages[-1]["code"]

    reported = http.put(f"{stack.api_url}/verifications/{verification_id}", json={"code": code}, timeout=30)
    assert reported.status_code == 200, reported.text
    assert reported.json()["status"] == "SUCCESSFUL"

    status = http.get(f"{stack.api_url}/verifications/{verification_id}", timeout=30)
    assert status.status_code == 200
    assert status.json()["status"] == "SUCCESSFUL"
