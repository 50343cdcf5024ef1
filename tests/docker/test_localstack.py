"""Opt-in: the product's walkthrough with AWS emulated by LocalStack in Docker (pytest-localstack).

The default suite uses moto over loopback; this runs the same real handlers against LocalStack's
DynamoDB and Secrets Manager, for teams that standardise on it. Skipped, with the reason, when no Docker
engine answers (as on machines without one). Run: `make test-docker`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local_stack import LocalStack
from local_stack.demo import walkthrough
from phone_verification import runtime


def _docker_problem() -> str | None:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as error:  # any failure means: no engine to run LocalStack in
        return f"{type(error).__name__}: {error}"
    return None


PROBLEM = _docker_problem()
pytestmark = pytest.mark.skipif(
    PROBLEM is not None, reason=f"needs a reachable Docker engine to run LocalStack ({PROBLEM})"
)

if PROBLEM is None:
    import pytest_localstack

    localstack = pytest_localstack.session_fixture(scope="module", services=["dynamodb", "secretsmanager"])
else:

    @pytest.fixture(scope="module")
    def localstack() -> Any:
        pytest.skip("no Docker engine")


@pytest.fixture(scope="module")
def stack(localstack: Any) -> Iterator[LocalStack]:
    with LocalStack(aws_endpoint_url=localstack.endpoint_url("dynamodb")) as running:
        runtime.configure(None)
        yield running
    runtime.configure(None)


def test_walkthrough_against_localstack(stack: LocalStack) -> None:
    walkthrough(stack)
