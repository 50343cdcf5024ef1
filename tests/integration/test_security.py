"""Issue 4's proofs over real HTTP through the local stack: attempts and single use under concurrency,
send budgets, idempotency, ownership, secret rotation, and nothing secret at rest or in any log line.

Each proof prints what it measured (run with -s to see the numbers quoted in the issue note).
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local_stack import LocalStack
from phone_verification import runtime
from tests.integration.conftest import captured_logs, http, reset_stack

TIMEOUT = 30
REPORT_PATH = "/verification/v1/verifications"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # DEBUG everywhere, as a function deployed with LogLevel=DEBUG runs: the log proof needs every line.
    with LocalStack(env={"POWERTOOLS_LOG_LEVEL": "DEBUG"}, log=io.StringIO()) as running:
        runtime.configure(None)
        yield running
    runtime.configure(None)


@pytest.fixture
def fresh(stack: LocalStack) -> LocalStack:
    return reset_stack(stack)


def start(stack: LocalStack, number: str, **extra: Any) -> requests.Response:
    headers = extra.pop("headers", {})
    return http.post(
        f"{stack.api_url}/verifications",
        json={"phoneNumber": number, **extra},
        headers=headers,
        timeout=TIMEOUT,
    )


def report(stack: LocalStack, verification_id: str, code: str, **headers: str) -> requests.Response:
    return http.put(
        f"{stack.api_url}/verifications/{verification_id}",
        json={"code": code},
        headers=headers,
        timeout=TIMEOUT,
    )


def code_of(stack: LocalStack, number: str) -> str:
    assert stack.sandbox is not None
    code: str = stack.sandbox.inbox(number)["messages"][-1]["code"]
    return code


def sinch_calls(stack: LocalStack, operation: str) -> int:
    assert stack.sandbox is not None
    return sum(1 for r in stack.sandbox.requests_log() if r["operation"] == operation)


class TestAttemptsUnderConcurrency:
    def test_fifty_parallel_wrong_reports_count_exactly_the_limit(self, fresh: LocalStack) -> None:
        number = "+46700000301"
        verification = start(fresh, number).json()["id"]
        code = code_of(fresh, number)
        wrong = "000000" if code != "000000" else "111111"
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _: report(fresh, verification, wrong), range(50)))
        counted = [a for a in answers if a.status_code == 200]
        refused = [a for a in answers if a.status_code == 429]
        print(
            f"\n[attempts] fired 50 concurrent wrong reports: {len(counted)} counted, {len(refused)} refused"
        )
        assert len(counted) == 5
        assert sorted(a.json()["attemptsRemaining"] for a in counted) == [0, 1, 2, 3, 4]
        assert all(a.json()["code"] == "too_many_attempts" for a in refused)
        assert len(counted) + len(refused) == 50
        state = http.get(f"{fresh.api_url}/verifications/{verification}", timeout=TIMEOUT).json()
        assert (state["status"], state["attemptsRemaining"]) == ("FAIL", 0)
        late = report(fresh, verification, code)
        assert (late.status_code, late.json()["code"]) == (429, "too_many_attempts")
        assert sinch_calls(fresh, "report") == 0  # wrong codes never reach Sinch

    def test_the_right_code_raced_against_itself_succeeds_once(self, fresh: LocalStack) -> None:
        number = "+46700000302"
        verification = start(fresh, number).json()["id"]
        code = code_of(fresh, number)
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: report(fresh, verification, code), range(20)))
        statuses = sorted(a.status_code for a in answers)
        won, refused = statuses.count(200), statuses.count(409)
        print(f"\n[single use] 20 concurrent right codes: {won} success, {refused} already_verified")
        assert statuses == [200] + [409] * 19
        assert sinch_calls(fresh, "report") == 1  # Sinch hears about the success once


class TestIdempotencyAndOwnership:
    def test_one_send_per_idempotency_key_even_when_retried_in_parallel(self, fresh: LocalStack) -> None:
        number = "+46700000303"
        key = {"Idempotency-Key": "signup-7781"}
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(lambda _: start(fresh, number, headers=key), range(10)))
        settled = [start(fresh, number, headers=key) for _ in range(3)]
        ids = {a.json()["id"] for a in answers + settled if a.status_code == 201}
        sends = sinch_calls(fresh, "start")
        print(f"\n[idempotency] 13 starts with one key: {sends} send(s), ids {len(ids)}")
        assert sends == 1
        assert len(ids) == 1
        assert all(a.status_code in (201, 429) for a in answers)  # 429: the first is still running
        assert all(a.status_code == 201 and a.headers["Idempotent-Replayed"] == "true" for a in settled)

    def test_another_principal_cannot_enumerate_verifications(self, fresh: LocalStack) -> None:
        number = "+46700000304"
        verification = start(fresh, number).json()["id"]
        stranger = {"x-local-principal": "arn:aws:iam::000000000000:role/other-team"}
        read = http.get(f"{fresh.api_url}/verifications/{verification}", headers=stranger, timeout=TIMEOUT)
        unknown = http.get(f"{fresh.api_url}/verifications/no-such-id", headers=stranger, timeout=TIMEOUT)
        assert read.status_code == unknown.status_code == 404
        assert read.json() == unknown.json() | {"detail": read.json()["detail"]}
        assert report(fresh, verification, code_of(fresh, number), **stranger).status_code == 404
        assert report(fresh, verification, code_of(fresh, number)).json()["status"] == "SUCCESSFUL"


class TestSecretRotation:
    def test_a_rotated_secret_is_fetched_again_once_then_a_wrong_one_fails_clearly(
        self, fresh: LocalStack
    ) -> None:
        assert fresh.sandbox is not None
        assert start(fresh, "+46700000305").status_code == 201  # the secret is now cached
        secrets = fresh.secretsmanager()
        old = json.loads(secrets.get_secret_value(SecretId=fresh.secret_id)["SecretString"])
        rotated = {**old, "applicationSecret": "cm90YXRlZC1zZWNyZXQ="}
        fresh.sandbox.configure(application_secret=rotated["applicationSecret"])
        secrets.put_secret_value(SecretId=fresh.secret_id, SecretString=json.dumps(rotated))

        assert start(fresh, "+46700000306").status_code == 201
        log = [r for r in fresh.sandbox.requests_log() if r["operation"] == "start"]
        assert [r["status"] for r in log] == [200, 401, 200]  # stale secret, re-fetch, retry once

        fresh.sandbox.configure(application_secret="b3RoZXItc2VjcmV0")  # Sinch now wants a secret we lack
        failed = start(fresh, "+46700000307")
        assert (failed.status_code, failed.json()["code"]) == (500, "internal_error")
        log = [r for r in fresh.sandbox.requests_log() if r["operation"] == "start"]
        # The 401 made the client re-fetch the secret; it had not changed, so nothing was sent again.
        assert [r["status"] for r in log] == [200, 401, 200, 401]
        assert fresh.sandbox.inbox("+46700000307")["messages"] == []
        retry = start(fresh, "+46700000307")
        assert retry.status_code == 500  # the failed start did not use the number's 30-second slot


def test_no_code_cli_secret_or_number_in_any_log_line_or_table_item(fresh: LocalStack) -> None:
    """Given DEBUG logging on every logger, when the whole flow runs (SMS wrong + right code, a caller's
    own code, flashcall, callout, report by number, a Sinch outage, bad input), then neither the log
    lines nor the table items contain any number, code, CLI or secret that was used."""
    assert fresh.sandbox is not None
    secret = json.loads(fresh.secretsmanager().get_secret_value(SecretId=fresh.secret_id)["SecretString"])
    numbers = [f"+4670000031{n}" for n in range(6)]
    used: set[str] = set(numbers) | {n.lstrip("+") for n in numbers}
    used |= {secret["applicationSecret"], secret["hashKey"]}
    with captured_logs(debug=True, emulator=True) as capture:
        sms = start(fresh, numbers[0]).json()["id"]
        code = code_of(fresh, numbers[0])
        used.add(code)
        report(fresh, sms, "999999" if code != "999999" else "888888")
        report(fresh, sms, code)
        own = start(fresh, numbers[1], code="73914826").json()["id"]
        used.add("73914826")
        http.put(
            f"{fresh.api_url}/verifications/number/{numbers[1]}", json={"code": "73914826"}, timeout=TIMEOUT
        )
        flash = start(fresh, numbers[2], method="flashcall").json()["id"]
        cli = fresh.sandbox.inbox(numbers[2])["calls"][-1]["cli"]
        used |= {cli, cli.lstrip("+")}
        requests.put(f"{fresh.api_url}/verifications/{flash}", json={"cli": cli}, timeout=TIMEOUT)
        callout = start(fresh, numbers[3], method="callout").json()["id"]
        spoken = fresh.sandbox.inbox(numbers[3])["calls"][-1]["code"]
        used.add(spoken)
        report(fresh, callout, spoken)
        fresh.sandbox.add_fault({"kind": "status", "status": 503, "count": 1})
        start(fresh, numbers[4])
        start(fresh, numbers[5], locale="!!")
        http.get(f"{fresh.api_url}/verifications/{own}", timeout=TIMEOUT)
    items = fresh.dynamodb().scan(TableName=fresh.table_name)["Items"]
    dump = json.dumps(items)
    # A value counts as leaked where it stands as its own token: a short code may occur by chance inside
    # a request id or a timestamp, but a leak prints it whole.
    patterns = {value: re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])") for value in used}
    log_text = "\n".join(capture.lines)
    leaks_in_logs = sorted(value for value, pattern in patterns.items() if pattern.search(log_text))
    leaks_at_rest = sorted(value for value, pattern in patterns.items() if pattern.search(dump))
    print(
        f"\n[no leaks] scanned {len(capture.lines)} log lines and {len(items)} table items "
        f"for {len(used)} numbers, codes, CLIs and secrets"
    )
    assert len(capture.lines) > 50, "the flow must actually have logged at DEBUG"
    assert leaks_in_logs == []
    assert leaks_at_rest == []


def _token(sub: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'sub': sub, 'iss': 'https://issuer.example'})}.x"


@pytest.mark.parametrize("api_auth", ["JWT", "NONE"])
def test_end_users_get_a_small_send_budget(api_auth: str) -> None:
    """JWT: per subject; open API: per source address. 429 with Retry-After once it is spent."""
    limits = {"MAX_STARTS_PER_USER": "2", "CALLER_WINDOW_SECONDS": "3600", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with LocalStack(api_auth=api_auth, env=limits, log=io.StringIO()) as stack:
        runtime.configure(None)
        try:
            alice = {"Authorization": f"Bearer {_token('alice')}"} if api_auth == "JWT" else {}
            answers = [start(stack, f"+4670000032{n}", headers=alice).status_code for n in range(3)]
            refused = start(stack, "+46700000329", headers=alice)
            assert answers == [201, 201, 429]
            assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
            assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
            if api_auth == "JWT":
                bob = {"Authorization": f"Bearer {_token('bob')}"}
                assert start(stack, "+46700000330", headers=bob).status_code == 201
            assert stack.sandbox is not None
            assert sum(r["operation"] == "start" for r in stack.sandbox.requests_log()) == 2 + (
                api_auth == "JWT"
            )
        finally:
            runtime.configure(None)
