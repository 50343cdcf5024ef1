"""The Python client (clients/python) and its CLI against the real local stack over HTTP: the flows a backend
runs with it, its automatic Idempotency-Key during a Sinch outage, tenancy by credentials, JWT, and the
issue's "done when": the package installed (not editable) runs the README's example against a local stack.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.credentials import Credentials

import phone_verification_client as pvc
from phone_verification_client import BearerAuth, Client, SigV4Auth
from tests.integration.conftest import (
    NUMBER,
    STRANGER,
    Deployment,
    Product,
    fresh_product,
    verification_of,
    wrong,
)

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "clients" / "python"
GAP = 31  # the default MinSecondsBetweenStarts (30) has passed: a next is a send like a start
UNKNOWN_ID = "0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87"
REGION = "eu-west-1"


def signed(
    product: Product,
    access_key: str = "AKIALOCALDEVELOPER01",
    principal: str | None = None,
    session: requests.Session | None = None,
    **options: Any,
) -> Client:
    """A client signing with its own credentials; ``principal`` is the IAM identity they stand for (the
    local API checks that a request is signed, not the signature: it takes the caller from
    ``x-local-principal``)."""
    session = session or requests.Session()
    if principal is not None:
        session.headers["x-local-principal"] = principal
    credentials = Credentials(access_key, f"secret-of-{access_key}")
    return Client(
        product.url, auth=SigV4Auth(region=REGION, credentials=credentials), session=session, **options
    )


@pytest.fixture
def client(product: Product) -> Iterator[Client]:
    with signed(product, "AKIALOCALDEVELOPER01") as client:
        yield client


class TestFlows:
    def test_start_read_the_code_and_report_it(self, product: Product, client: Client) -> None:
        """Given a signed client, when it starts a verification and reports the code the phone received,
        then the number is verified, and the status read says so too."""
        started = client.start(NUMBER, reference="signup-42")

        assert (started.pending, started.method, started.attempts_remaining) == (True, "sms", 5)
        assert started.reference == "signup-42"
        assert started.sms is not None
        assert started.expires_at.timestamp() > time.time() + 500
        assert [verification_of(m) for m in product.inbox()["messages"]] == [started.id]

        verified = client.report(started.id, code=product.code())

        assert verified.succeeded
        assert client.status(started.id).succeeded
        with pytest.raises(pvc.AlreadyVerified):  # success is single-use
            client.report(started.id, code=product.code())

    def test_a_wrong_code_leaves_it_pending_and_the_number_can_report_the_right_one(
        self, product: Product, client: Client
    ) -> None:
        started = client.start(NUMBER)

        wrong_answer = client.report(started.id, code=wrong(product.code()))

        assert (wrong_answer.pending, wrong_answer.attempts_remaining) == (True, 4)
        assert wrong_answer.reason == "Invalid code"
        by_number = client.report_by_number(NUMBER, code=product.code())
        assert (by_number.id, by_number.succeeded) == (started.id, True)

    def test_a_cancelled_verification_refuses_its_code(self, product: Product, client: Client) -> None:
        started = client.start(NUMBER)

        assert client.cancel(started.id).cancelled

        with pytest.raises(pvc.Cancelled) as raised:
            client.report(started.id, code=product.code())
        assert (raised.value.status, raised.value.code) == (410, "cancelled")
        assert product.code() not in str(raised.value)
        with pytest.raises(pvc.Cancelled):
            client.status(started.id)

    def test_next_sends_the_next_channel_under_the_same_id(self, product: Product, client: Client) -> None:
        """Given a start with channels sms then callout, when the SMS is not answered and the backend asks
        for the next channel, then the same verification calls the number, and the spoken code verifies."""
        started = client.start(NUMBER, channels=["sms", "callout"])
        product.advance(GAP)

        called = client.next(started.id)

        assert (called.id, called.method, called.pending) == (started.id, "callout", True)
        product.advance(GAP)
        with pytest.raises(pvc.NoChannelLeft):  # the callout was the last channel
            client.next(started.id)
        assert client.report(started.id, code=product.spoken_code()).succeeded

    def test_two_credentials_are_two_tenants(self, product: Product, client: Client) -> None:
        """Given A's verification, B (other credentials, another IAM principal) can neither read nor
        report it: B gets the answer of an id that never existed, and A's attempts are untouched."""
        started = client.start(NUMBER)

        with signed(product, "AKIASOMEONEELSE00002", STRANGER) as stranger:
            with pytest.raises(pvc.NotFound):
                stranger.status(started.id)
            with pytest.raises(pvc.NotFound):
                stranger.report(started.id, code=product.code())
            with pytest.raises(pvc.NotFound):
                stranger.status(UNKNOWN_ID)

        assert client.status(started.id).attempts_remaining == 5
        assert client.report(started.id, code=product.code()).succeeded


class TestRetriesAgainstTheService:
    def test_a_start_retried_after_a_503_sends_one_sms(self, product: Product) -> None:
        """Given Sinch down for one request, when the client starts, then it waits the answer's Retry-After
        and sends the start again with the same Idempotency-Key: the caller gets the verification and the
        phone gets one SMS, whose code works."""
        product.fault(kind="status", status=503, method="POST")
        waits: list[float] = []
        keys: list[str | None] = []
        session = requests.Session()
        session.hooks["response"].append(
            lambda r, *_, **__: keys.append(r.request.headers.get("Idempotency-Key"))
        )
        client = signed(product, session=session, sleep=waits.append)  # the wait is not slept

        started = client.start(NUMBER)

        assert waits == [5.0]  # provider_unavailable's Retry-After
        assert len(keys) == 2
        assert keys[0] is not None
        assert keys[0] == keys[1]
        assert [r["status"] for r in product.sinch_requests("start")] == [503, 200]
        assert [verification_of(m) for m in product.inbox()["messages"]] == [started.id]
        assert client.report(started.id, code=product.code()).succeeded

    def test_a_start_repeated_with_its_key_answers_the_first_answer(self, product: Product) -> None:
        client = signed(product)
        first = client.start(NUMBER, idempotency_key="signup-42")

        again = client.start(NUMBER, idempotency_key="signup-42")

        assert (again.id, again.replayed, first.replayed) == (first.id, True, False)
        assert len(product.inbox()["messages"]) == 1

    def test_a_second_start_within_30_s_is_rate_limited_at_once(self, product: Product) -> None:
        """The number's 30 s gap is longer than the call's deadline: the client does not wait, it raises
        RateLimited with the wait, and no second SMS goes out."""
        client = signed(product, deadline=2)
        client.start(NUMBER)

        began = time.monotonic()
        with pytest.raises(pvc.RateLimited) as raised:
            client.start(NUMBER)

        assert time.monotonic() - began < 1.5
        assert raised.value.retry_after == 30
        assert raised.value.status == 429
        assert len(product.inbox()["messages"]) == 1


# ------------------------------------------------------------------------------------------ JWT


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.sig"


def user(sub: str) -> str:
    return jwt({"sub": sub, "iss": "https://issuer.example.com", "aud": "app-client"})


@pytest.fixture
def jwt_product(jwt_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    yield from fresh_product(jwt_deployment, monkeypatch)


class TestJwt:
    def test_bearer_tokens_name_the_tenant(self, jwt_product: Product) -> None:
        alice = Client(jwt_product.url, auth=BearerAuth(user("alice")))
        bob = Client(jwt_product.url, auth=BearerAuth(lambda: user("bob")))
        started = alice.start(NUMBER)

        with pytest.raises(pvc.NotFound):
            bob.report(started.id, code=jwt_product.code())
        assert alice.report(started.id, code=jwt_product.code()).succeeded

    def test_no_token_or_no_subject_is_refused(self, jwt_product: Product) -> None:
        with pytest.raises(pvc.Unauthorized) as raised:
            Client(jwt_product.url, auth=None).status(UNKNOWN_ID)
        assert (raised.value.status, raised.value.problem) == (401, None)
        with pytest.raises(pvc.UnidentifiedCaller):
            Client(jwt_product.url, auth=BearerAuth(jwt({"iss": "https://issuer.example.com"}))).start(NUMBER)
        assert jwt_product.inbox()["messages"] == []


# ------------------------------------------------------------------------------------------ the CLI


def cli(product: Product, *args: str) -> subprocess.CompletedProcess[str]:
    """``phone-verification`` as a user runs it, signing with AWS credentials from the environment."""
    env = {
        **os.environ,
        "PHONE_VERIFICATION_URL": product.url,
        "AWS_ACCESS_KEY_ID": "AKIACOMMANDLINE00001",
        "AWS_SECRET_ACCESS_KEY": "command-line-secret",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(variable, None)
    command = Path(sys.executable).with_name("phone-verification")
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(command), "--region", REGION, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


class TestCli:
    def test_answers_print_json_and_problems_exit_with_their_group(self, product: Product) -> None:
        started = cli(product, "start", NUMBER, "--reference", "cli-1")
        assert started.returncode == 0, started.stderr
        answer = json.loads(started.stdout)
        assert (answer["status"], answer["reference"]) == ("PENDING", "cli-1")

        limited = cli(product, "start", NUMBER)
        assert limited.returncode == 4
        assert limited.stderr.startswith("rate_limited: Too many verifications (retry after 30 s)")
        assert limited.stdout == ""

        unknown = cli(product, "status", UNKNOWN_ID)
        assert unknown.returncode == 3
        assert unknown.stderr.splitlines()[0] == "not_found: Verification not found"

        reported = cli(product, "report", answer["id"], product.code())
        assert reported.returncode == 0, reported.stderr
        assert json.loads(reported.stdout)["status"] == "SUCCESSFUL"


# ------------------------------------------------------------------------------------------ done when


def test_the_installed_package_runs_the_example_against_a_local_stack(
    product: Product, tmp_path: Path
) -> None:
    """Given the package built and installed from clients/python (offline, not editable), when the example
    script runs with only that on its path, then it starts and verifies a number against the local stack."""
    target = tmp_path / "site"
    install = subprocess.run(  # noqa: S603 - pip on our own package
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target), str(CLIENT_DIR)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    assert (target / "phone_verification_client" / "py.typed").is_file()
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "PHONE_VERIFICATION_URL": product.url,
        "SANDBOX_URL": product.sandbox.url,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the example, with the interpreter running the tests
            [sys.executable, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )

    where = run("-c", "import phone_verification_client as p; print(p.__file__)")
    assert where.stdout.strip() == str(target / "phone_verification_client" / "__init__.py"), where.stderr
    example = run(str(CLIENT_DIR / "examples" / "verify.py"))

    assert example.returncode == 0, example.stderr
    verification_id, status = example.stdout.split()
    assert status == "SUCCESSFUL"
    assert [verification_of(m) for m in product.inbox("+46700000001")["messages"]] == [verification_id]
