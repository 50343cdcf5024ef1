"""Running a scenario against the real handlers: a fresh stack state, a simulated clock, an event queue.

The product's clock (``runtime.current().service.context.clock``, as the integration tests replace it)
becomes a ``SimClock`` that the queue moves from event to event, and the sandbox's clock is moved by the
same amount, so a scenario of hours or days runs in seconds and Sinch agrees with the product about
when a verification was sent. Events (sends and the codes legitimate users type) are processed one at a
time in simulated-time order: the outcome does not depend on thread scheduling, only on the seed.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from fraud_sim.traffic import Scenario, Send

if TYPE_CHECKING:
    from local_stack import LocalStack
    from sinch_sandbox import SandboxServer

REPO_ROOT = Path(__file__).resolve().parent.parent
OPENAPI = REPO_ROOT / "openapi" / "openapi.yaml"
GUARD_LOGGER = "phone_verification.usecases.fraud_guard"
WOULD_REFUSE = "the fraud guard would refuse a send"
REFUSED = "the fraud guard refused a send"
GUARD_REFUSAL = "destination_denied (suspected_fraud)"  # a refusal's code and reason, as counted
HTTP_TIMEOUT = 30


class SimulationError(Exception):
    """The product answered something a scenario cannot go on from (a 5xx, a failed report)."""


class SimClock:
    """The product's clock: simulated epoch seconds, moved only by the event queue."""

    def __init__(self, start: float, sandbox: SandboxServer) -> None:
        self.start = float(int(start))
        self.now = self.start
        self._sandbox = sandbox

    def __call__(self) -> float:
        return self.now

    def advance_to(self, offset: float) -> None:
        """Move to ``offset`` seconds after the scenario's start (never back), Sinch's clock along."""
        target = self.start + offset
        if target > self.now:
            self._sandbox.advance_time(target - self.now)
            self.now = target


class GuardLog(logging.Handler):
    """Counts the guard's log lines: its refusals and, in monitor mode, what it would refuse."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.getMessage()] += 1

    def __enter__(self) -> GuardLog:
        logging.getLogger(GUARD_LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(GUARD_LOGGER).removeHandler(self)


@dataclass
class Result:
    """One scenario's outcome, counted as the sends happened."""

    scenario: Scenario
    attempted: int = 0
    sent: int = 0
    sinch_starts: int = 0  # what the sandbox saw: "sent" must equal it
    refusals: Counter[str] = field(default_factory=Counter)  # problem code (reason) -> count
    outcomes: list[str] = field(default_factory=list)  # per send in order: "sent" or the refusal
    pumping: list[bool] = field(default_factory=list)  # per pumping send in order: did it reach Sinch
    pumping_by_country: Counter[tuple[str, bool]] = field(default_factory=Counter)
    legit_attempted: int = 0
    legit_refused: int = 0
    conversions: int = 0
    first_refusal: float | None = None  # simulated seconds after the scenario's start
    guard_log: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())

    @property
    def guard_refused(self) -> int:
        return self.refusals[GUARD_REFUSAL]

    @property
    def would_refuse(self) -> int:
        return self.guard_log[WOULD_REFUSE]

    def count(self, send: Send, status: int, body: dict[str, Any]) -> None:
        self.attempted += 1
        ok = status == 201
        if ok:
            self.sent += 1
            self.outcomes.append("sent")
        else:
            reason = f" ({body['reason']})" if body.get("reason") else ""
            refusal = f"{body.get('code', status)}{reason}"
            self.refusals[refusal] += 1
            self.outcomes.append(refusal)
            if self.first_refusal is None:
                self.first_refusal = send.at
        if send.pumping:
            self.pumping.append(ok)
            self.pumping_by_country[(send.country, ok)] += 1
        else:
            self.legit_attempted += 1
            self.legit_refused += not ok


def rate_keys_supported(openapi: Path = OPENAPI) -> bool:
    """Whether the start body takes a rateKey (older versions of the product refuse unknown fields)."""
    try:
        return "rateKey:" in openapi.read_text(encoding="utf-8")
    except OSError:
        return False


class Api:
    """The product's HTTP API as one caller at a time sees it (the principal rides in a header)."""

    def __init__(self, url: str, *, rate_keys: bool) -> None:
        self._url = url
        self._rate_keys = rate_keys
        # One kept-alive connection: a new one per request costs more than the handler's own work.
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def start(self, send: Send) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"phoneNumber": send.number}
        if self._rate_keys:
            body["rateKey"] = send.rate_key
        return self._call("POST", "/verifications", body, send.principal)

    def report(self, verification_id: str, code: str, principal: str) -> tuple[int, dict[str, Any]]:
        return self._call("PUT", f"/verifications/{verification_id}", {"code": code}, principal)

    def _call(
        self, method: str, path: str, body: dict[str, Any], principal: str
    ) -> tuple[int, dict[str, Any]]:
        answer = self._session.request(
            method,
            self._url + path,
            json=body,
            headers={"x-local-principal": principal},
            timeout=HTTP_TIMEOUT,
        )
        if answer.status_code >= 500:
            raise SimulationError(f"{method} {path} answered {answer.status_code}: {answer.text[:300]}")
        parsed: dict[str, Any] = answer.json()
        return answer.status_code, parsed


def fresh_product(stack: LocalStack) -> SimClock:
    """An empty table and sandbox, the product's dependencies built anew for this stack (so nothing it
    remembers, such as the guard's short memory of refused prefixes, leaks between scenarios), and its
    clock replaced by a simulated one."""
    from phone_verification import runtime

    sandbox = stack.sandbox
    assert sandbox is not None  # the simulator always runs the sandbox
    runtime.configure(None)
    stack.reset_resources()
    sandbox.reset()
    try:
        stack.invoke("ReportVerificationFunction", {"id": "warm-up"})
    except Exception as error:
        if type(error).__name__ != "VerificationNotFound":  # the expected answer for an unknown id
            raise
    clock = SimClock(time.time(), sandbox)
    runtime.current().service.context.clock = clock
    return clock


def run(stack: LocalStack, scenario: Scenario, *, rate_keys: bool) -> Result:
    """Play ``scenario`` against ``stack`` from a fresh state and count what happened."""
    from phone_verification import runtime

    began = time.perf_counter()
    sandbox = stack.sandbox
    assert sandbox is not None
    clock = fresh_product(stack)
    result = Result(scenario)
    api = Api(stack.api_url, rate_keys=rate_keys)
    # (when, tie-break, send index, verification id or "" for a start). Starts are numbered before any
    # report, so at one instant the sends go first, in the traffic's order.
    queue: list[tuple[float, int, int, str]] = [(send.at, i, i, "") for i, send in enumerate(scenario.sends)]
    heapq.heapify(queue)
    order = len(scenario.sends)
    try:
        with GuardLog() as guard_log:
            while queue:
                at, _, index, verification_id = heapq.heappop(queue)
                clock.advance_to(at)
                send = scenario.sends[index]
                if verification_id:
                    _report(api, sandbox, send, verification_id, result)
                    continue
                status, body = api.start(send)
                result.count(send, status, body)
                if status == 201 and send.report_after is not None:
                    heapq.heappush(queue, (at + send.report_after, order, index, str(body["id"])))
                    order += 1
            result.guard_log = guard_log.counts
        result.sinch_starts = sum(1 for entry in sandbox.requests_log() if entry["operation"] == "start")
    finally:
        api.close()
        runtime.configure(None)
    result.wall_seconds = time.perf_counter() - began
    return result


def _report(api: Api, sandbox: SandboxServer, send: Send, verification_id: str, result: Result) -> None:
    """The user types the code the phone received."""
    code = str(sandbox.inbox(send.number)["messages"][-1]["code"])
    status, body = api.report(verification_id, code, send.principal)
    if status != 200 or body.get("status") != "SUCCESSFUL":
        raise SimulationError(f"a right code was not accepted: {status} {body}")
    result.conversions += 1
