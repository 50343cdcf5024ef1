"""``python -m local_stack.demo`` (``make demo``): the README's walkthrough against a fresh local stack.

Starts its own stack on free loopback ports (so it runs beside ``make run``), then, over HTTP as a
backend would: starts an SMS verification, reads the code from the sandbox's phone, reports a wrong code,
the right code, reads the status, and verifies a flashcall. Prints each step and exits 1 at the first
step whose answer is not what the API promises.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

import requests

from local_stack.auth import unchecked_signature
from local_stack.stack import LocalStack

NUMBER = "+46700000001"
FLASHCALL_NUMBER = "+46700000002"


class StepFailed(Exception):
    pass


def _expect(
    step: str, response: requests.Response, status: int, check: Callable[[dict[str, Any]], bool]
) -> Any:
    body = response.json() if response.content else {}
    shown = {k: v for k, v in body.items() if k in ("id", "status", "reason", "attemptsRemaining", "code")}
    print(f"  {response.request.method} {response.request.path_url} -> {response.status_code} {shown}")
    if response.status_code != status or not check(body):
        raise StepFailed(f"{step}: expected HTTP {status}, got {response.status_code} {body}")
    return body


def walkthrough(stack: LocalStack) -> None:
    api, sandbox = stack.api_url, stack.sandbox
    assert sandbox is not None
    session = requests.Session()
    # Signed, as a backend's calls are (the local API checks that they are, not the signature).
    session.headers["Authorization"] = unchecked_signature(region=stack.region)

    print("1. Start an SMS verification")
    started = _expect(
        "start",
        session.post(f"{api}/verifications", json={"phoneNumber": NUMBER}, timeout=30),
        201,
        lambda b: b.get("status") == "PENDING" and b.get("attemptsRemaining") == 5,
    )
    verification = started["id"]

    print("2. Read the code from the sandbox's phone")
    code = sandbox.inbox(NUMBER)["messages"][-1]["code"]
    print(f"  GET {sandbox.url}/sandbox/v1/inbox/{NUMBER} -> code {code}")

    print("3. Report a wrong code: still pending, one attempt used")
    wrong = "000000" if code != "000000" else "111111"
    _expect(
        "wrong code",
        session.put(f"{api}/verifications/{verification}", json={"code": wrong}, timeout=30),
        200,
        lambda b: b.get("status") == "PENDING" and b.get("attemptsRemaining") == 4,
    )

    print("4. Report the right code")
    _expect(
        "right code",
        session.put(f"{api}/verifications/{verification}", json={"code": code}, timeout=30),
        200,
        lambda b: b.get("status") == "SUCCESSFUL",
    )

    print("5. Read the verification's state; a second report is refused (single use)")
    _expect(
        "status",
        session.get(f"{api}/verifications/{verification}", timeout=30),
        200,
        lambda b: b.get("status") == "SUCCESSFUL",
    )
    _expect(
        "reuse",
        session.put(f"{api}/verifications/{verification}", json={"code": code}, timeout=30),
        409,
        lambda b: b.get("code") == "already_verified",
    )

    print("6. Flashcall: the user reports the number that called")
    flash = _expect(
        "flashcall start",
        session.post(
            f"{api}/verifications", json={"phoneNumber": FLASHCALL_NUMBER, "method": "flashcall"}, timeout=30
        ),
        201,
        lambda b: b.get("status") == "PENDING" and "cliFilter" in b.get("flashcall", {}),
    )
    cli = sandbox.inbox(FLASHCALL_NUMBER)["calls"][-1]["cli"]
    print(f"  the phone rang from {cli}")
    _expect(
        "flashcall report",
        session.put(f"{api}/verifications/{flash['id']}", json={"cli": cli}, timeout=30),
        200,
        lambda b: b.get("status") == "SUCCESSFUL",
    )


def main() -> int:
    # The functions' own JSON logs and EMF metrics would drown the walkthrough; `make run` shows them.
    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    with LocalStack(env=quiet, log=io.StringIO()) as stack:
        print(f"Local stack: API {stack.api_url}, Sinch sandbox {stack.sinch_base_url}")
        try:
            walkthrough(stack)
        except (StepFailed, requests.RequestException, KeyError, IndexError) as error:
            print(f"DEMO FAILED: {error}", file=sys.stderr)
            return 1
    print("Demo passed: SMS and flashcall verified end to end.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
