"""Property-based fuzzing of the HTTP API from its published OpenAPI document.

Schemathesis reads ``openapi/openapi.yaml`` and generates requests for every operation: the document's
examples, its coverage cases (boundaries, missing and mistyped fields) and Hypothesis-driven fuzzing in
positive (schema-valid) and negative (schema-violating) modes. They go over loopback HTTP to the real
handlers behind the local stack (``template.yaml``, the local IAM principal, moto server, Sinch
sandbox). Every response must:

- not be a 5xx;
- if it is an error, be ``application/problem+json`` with exactly the problem keys and ``status`` equal to
  the HTTP status;
- have a documented status code, content type and headers, and a body valid against the document's schema
  for that status (so the implementation cannot drift from the document silently);
- not echo the phone number it was sent.

Generated requests alone would almost never name a verification that exists or a number that can be
verified, so the schema's hooks sometimes plug in valid Swedish mobile numbers, the ids, numbers and right
codes of verifications seeded before the run, and a few reused ``Idempotency-Key`` values. That reaches
201 starts, idempotent replays and conflicts, wrong codes, used-up attempts (429), single-use successes
(409) and replaced verifications (410). The run is derandomized (same cases every time) and counts the
requests it sends: at least ``MIN_REQUESTS`` across all routes.
"""

from __future__ import annotations

import io
import json
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local_stack import LocalStack
from phone_verification import runtime
from tests.integration.conftest import http

Case = schemathesis.Case[Any]
OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
MIN_REQUESTS = 1000
# Hypothesis examples per operation in the fuzzing phase; the examples and coverage phases add their own.
FUZZ_EXAMPLES_PER_OPERATION = 250
SEED = 20261125
HTTP_TIMEOUT = 30
PROBLEM_JSON = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
START = "POST /verifications"
REPORT_BY_ID = "PUT /verifications/{id}"
REPORT_BY_NUMBER = "PUT /verifications/number/{phoneNumber}"
STATUS = "GET /verifications/{id}"
OPERATIONS = {START, REPORT_BY_ID, REPORT_BY_NUMBER, STATUS}
# Valid Swedish mobile numbers for the fuzzer's starts; the seeded verifications use others.
MOBILES = tuple(f"+467000000{n:02d}" for n in range(1, 100))
SEED_METHODS = ("sms", "sms", "sms", "flashcall", "flashcall", "callout", "whatsapp", "sms", "sms")
SEED_NUMBERS = tuple(f"+46700000{n}" for n in range(100, 100 + len(SEED_METHODS)))
REPLACED_NUMBERS = ("+46700000120", "+46700000121")
# Valid numbers of types that cannot be verified: premium-rate and toll-free (403 destination_denied).
REFUSED_NUMBERS = ("+46900123456", "+46200123456", "+19005551234")
IDEMPOTENCY_KEYS = ("fuzz-key-1", "fuzz-key-2", "fuzz-key-3")
RETRY_CODES = {"rate_limited", "provider_unavailable", "unavailable"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Seeded:
    """A verification started before the run: its id, number and the report that verifies it."""

    id: str
    number: str
    field: str  # "code" or "cli"
    secret: str


@dataclass
class FuzzRun:
    """What the run has sent and seen (module state: the hooks and the tests share it)."""

    seeded: tuple[Seeded, ...] = ()
    started_at: float | None = None
    finished_at: float = 0.0
    sent: Counter[str] | None = None
    statuses: Counter[int] | None = None
    answers: Counter[str] | None = None
    phases: Counter[str] | None = None

    def record(self, case: Case, response: schemathesis.Response) -> None:
        if self.sent is None or self.statuses is None or self.answers is None or self.phases is None:
            self.sent, self.statuses, self.answers, self.phases = Counter(), Counter(), Counter(), Counter()
            self.started_at = time.monotonic()
        self.sent[case.operation.label] += 1
        self.statuses[response.status_code] += 1
        self.phases[case.meta.phase.name.value if case.meta is not None else "unknown"] += 1
        body = _json_or_none(response)
        code = body.get("code") if isinstance(body, dict) else None
        status = body.get("status") if isinstance(body, dict) else None
        self.answers[f"{response.status_code} {code or status or '-'}"] += 1
        self.finished_at = time.monotonic()


RUN = FuzzRun()

# Methods that no route has never reach a function: API Gateway answers them itself (and the local front
# differs there, see local_stack/README.md), so the coverage phase sends none.
# The project's schemathesis.toml (the local API's signature, the statuses state may add) with this run's
# seed and phases.
CONFIG = {
    **tomllib.loads((OPENAPI.parent.parent / "schemathesis.toml").read_text(encoding="utf-8")),
    "seed": SEED,
    "phases": {"coverage": {"unexpected-methods": []}},
}
schema = schemathesis.openapi.from_path(OPENAPI, config=schemathesis.Config.from_dict(CONFIG))


# ------------------------------------------------------------------------------------------ hooks


def _with_body(case: Case, **fields: Any) -> Case:
    if isinstance(case.body, dict):
        case.body = {**case.body, **fields}
    return case


def _with_path(case: Case, **parameters: str) -> Case:
    case.path_parameters = {**case.path_parameters, **parameters}
    return case


def _report(case: Case, seeded: Seeded, right: bool, **path: str) -> Case:
    _with_path(case, **path)
    if right:
        case.body = {seeded.field: seeded.secret}
    return case


def _start_variants(case: Case) -> st.SearchStrategy[Case]:
    if not isinstance(case.body, dict):
        return st.just(case)
    return st.one_of(
        st.just(case),
        st.sampled_from(MOBILES).map(lambda number: _with_body(case, phoneNumber=number)),
        st.sampled_from(REFUSED_NUMBERS).map(lambda number: _with_body(case, phoneNumber=number)),
        st.tuples(st.sampled_from(MOBILES), st.sampled_from(IDEMPOTENCY_KEYS)).map(
            lambda pair: _idempotent(_with_body(case, phoneNumber=pair[0]), pair[1])
        ),
    )


def _idempotent(case: Case, key: str) -> Case:
    headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict(case.headers or {})
    headers["Idempotency-Key"] = key
    case.headers = headers
    return case


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: Case) -> st.SearchStrategy[Case]:
    """Sometimes make a generated case meet real state: a verifiable number, a seeded verification
    (by id or by number, with its right code or the generated one), a reused Idempotency-Key."""
    label = case.operation.label
    seeded = RUN.seeded
    if label == START:
        return _start_variants(case)
    if not seeded:
        return st.just(case)
    pick = st.tuples(st.sampled_from(seeded), st.booleans())
    if label == STATUS:
        return st.one_of(st.just(case), st.sampled_from(seeded).map(lambda s: _with_path(case, id=s.id)))
    if label == REPORT_BY_ID:
        return st.one_of(st.just(case), pick.map(lambda p: _report(case, p[0], p[1], id=p[0].id)))
    if label == REPORT_BY_NUMBER:
        by_number = pick.map(lambda p: _report(case, p[0], p[1], phoneNumber=p[0].number))
        return st.one_of(st.just(case), by_number)
    return st.just(case)


# ------------------------------------------------------------------------------------------ the stack


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """The product behind the local API, with verifications of every method seeded."""
    runtime.configure(None)
    with LocalStack(
        stack_name="pv-fuzz",
        secret_name="pv-fuzz/sinch",
        # No minimum gap between starts to one number (the other limits stay): the fuzzer's valid starts
        # then mostly start, and a replaced verification can be seeded.
        env={"MIN_SECONDS_BETWEEN_STARTS": "0"},
        log=io.StringIO(),
    ) as stack:
        runtime.configure(None)  # the product caches its clients per process: build them for this stack
        RUN.seeded = tuple(_seed(stack))
        yield stack.api_url
    runtime.configure(None)


def _seed(stack: LocalStack) -> Iterator[Seeded]:
    assert stack.sandbox is not None
    url = f"{stack.api_url}/verifications"
    for number, method in zip(SEED_NUMBERS, SEED_METHODS, strict=True):
        started = http.post(url, json={"phoneNumber": number, "method": method}, timeout=HTTP_TIMEOUT)
        assert started.status_code == 201, started.text
        inbox = stack.sandbox.inbox(number)
        if method == "flashcall":
            yield Seeded(started.json()["id"], number, "cli", inbox["calls"][-1]["cli"])
        else:
            delivered = inbox["calls"] if method == "callout" else inbox["messages"]
            yield Seeded(started.json()["id"], number, "code", delivered[-1]["code"])
    # Verifications replaced by a newer one for the same number: reports to them answer 410.
    for number in REPLACED_NUMBERS:
        replaced = http.post(url, json={"phoneNumber": number}, timeout=HTTP_TIMEOUT)
        assert replaced.status_code == 201, replaced.text
        code = stack.sandbox.inbox(number)["messages"][-1]["code"]
        newer = http.post(url, json={"phoneNumber": number}, timeout=HTTP_TIMEOUT)
        assert newer.status_code == 201, newer.text
        yield Seeded(replaced.json()["id"], number, "code", code)


# ------------------------------------------------------------------------------------------ checks


def _json_or_none(response: schemathesis.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _header(response: schemathesis.Response, name: str) -> str | None:
    for key, values in response.headers.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def assert_problem_if_error(response: schemathesis.Response) -> None:
    if response.status_code < 400:
        return
    content_type = (_header(response, "Content-Type") or "").split(";")[0].strip()
    assert content_type == PROBLEM_JSON, (response.status_code, content_type, response.text)
    body = response.json()
    assert isinstance(body, dict), response.text
    assert set(body) - {"reason"} == PROBLEM_KEYS, body
    assert body["status"] == response.status_code, body
    if body["code"] in RETRY_CODES:
        assert int(_header(response, "Retry-After") or "0") >= 1, (body, response.headers)
    assert "Traceback" not in response.text


def assert_number_not_echoed(case: Case, response: schemathesis.Response) -> None:
    sent = [case.body.get("phoneNumber")] if isinstance(case.body, dict) else []
    sent.append(case.path_parameters.get("phoneNumber"))
    for number in sent:
        if isinstance(number, str) and len(number) >= 8 and number.startswith("+"):
            assert number not in response.text, (number, response.text)


# ------------------------------------------------------------------------------------------ the run


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    print_blob=True,
)
def test_api_keeps_its_document(case: Case, api: str) -> None:
    response = case.call(base_url=api, timeout=HTTP_TIMEOUT)
    RUN.record(case, response)
    case.validate_response(response, checks=CHECKS)
    assert_problem_if_error(response)
    assert_number_not_echoed(case, response)


def test_fuzzing_sent_enough_requests_to_every_route(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the fuzz test above (pytest keeps the order of a module's tests)."""
    if RUN.sent is None or set(RUN.sent) != OPERATIONS:
        pytest.skip("counts only a run of every operation of test_api_keeps_its_document")
    assert RUN.statuses is not None
    assert RUN.answers is not None
    assert RUN.phases is not None
    assert RUN.started_at is not None
    total = sum(RUN.sent.values())
    seconds = RUN.finished_at - RUN.started_at
    with capsys.disabled():
        print(
            f"\nfuzzing: {total} requests in {seconds:.1f} s"
            f"\n  per route: {dict(sorted(RUN.sent.items()))}"
            f"\n  per phase: {dict(sorted(RUN.phases.items()))}"
            f"\n  answers:   {dict(sorted(RUN.answers.items()))}"
        )
    assert total >= MIN_REQUESTS
    assert min(RUN.sent.values()) >= MIN_REQUESTS // 10
    # The hooks reached real state, not just 404s and 422s (the rarer answers are printed above).
    assert {200, 201, 400, 404, 409, 422, 429} <= set(RUN.statuses)


# ---------------------------------------------------------------------------------- hostile bodies

# Raw JSON tokens that are valid JSON (or that Python's json accepts) but hostile to what reads them:
# integers past Python's int-string limit, numbers no float holds, NaN, and text with lone surrogates,
# control characters, bidi overrides, a byte-order mark, non-ASCII digits and emoji.
_HUGE_INTEGERS = st.integers(min_value=4301, max_value=6000).map(lambda digits: "9" * digits)
_ODD_NUMBERS = st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "-0", "0.1e-400", "123456.0"])
_ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=["Cs", "Cc", "Cf", "Nd", "Zs", "So"]),
        st.sampled_from(["\u202e", "\ufeff", "\u0663", "\uff11", "+", "4", "6", "7", "0", " ", "\n"]),
    ),
    max_size=40,
).map(json.dumps)  # ensure_ascii: lone surrogates become \ud8xx escapes
_PLAUSIBLE = st.sampled_from(['"+46700000101"', '"123456"', '"sms"', '"flashcall"', '"+46815600001"'])
_LEAVES = st.one_of(_HUGE_INTEGERS, _ODD_NUMBERS, _ODD_TEXT, _PLAUSIBLE, st.sampled_from(["true", "null"]))
UNKNOWN_ID = "0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87"
_FIELDS = ("phoneNumber", "method", "code", "cli", "reference", "locale", "owner", "id")


def _object_text(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.one_of(st.sampled_from(_FIELDS), st.text(max_size=5)).map(json.dumps)
    pairs = st.lists(st.tuples(keys, children), max_size=5)
    return pairs.map(lambda items: "{" + ",".join(f"{key}:{value}" for key, value in items) + "}")


_JSON_TEXTS = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        _object_text(children),
    ),
    max_leaves=12,
)
_DEEP = st.integers(min_value=500, max_value=5000).flatmap(
    lambda depth: st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])
)
HOSTILE_BODIES = st.one_of(
    st.one_of(
        _object_text(_JSON_TEXTS),  # the fields the routes read, each set to a hostile value
        _JSON_TEXTS,  # any JSON, objects or not
        _DEEP,
        st.sampled_from(["", " ", "\ufeff{}", '{"phoneNumber": "+46700000101"', "null", "[]", '"text"']),
    ).map(str.encode),
    st.binary(max_size=64),  # not UTF-8 at all, mostly
)
HOSTILE_SEGMENTS = st.one_of(
    st.sampled_from(
        ["%2B46700000101", "0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87", "%ED%A0%80", "%00", "%E2%80%AE"]
    ),
    st.text(min_size=1, max_size=20).map(lambda text: quote(text, safe="")),
)
HOSTILE_ROUTES = st.sampled_from(
    [
        ("POST", "/verifications"),
        ("PUT", "/verifications/{segment}"),
        ("PUT", "/verifications/number/{segment}"),
        ("GET", "/verifications/{segment}"),
    ]
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(route=HOSTILE_ROUTES, segment=HOSTILE_SEGMENTS, body=HOSTILE_BODIES)
def test_hostile_bodies_and_paths_never_get_a_5xx(
    api: str, route: tuple[str, str], segment: str, body: str
) -> None:
    """Huge numbers, deep nesting, odd Unicode and bodies that are not objects (or not JSON, or not
    UTF-8), on every route: each is a 4xx problem (or the answer a valid request gets), never a 5xx."""
    method, path = route
    response = http.request(
        method,
        api + path.format(segment=segment),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith(PROBLEM_JSON):
        body_json = response.json()
        assert set(body_json) - {"reason"} == PROBLEM_KEYS, body_json
        assert body_json["status"] == response.status_code
    assert "Traceback" not in response.text
