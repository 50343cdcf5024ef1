"""Bad input is the caller's problem, never the server's: malformed JSON, bodies that are not objects, wrong
types for every field, missing fields, huge bodies, invalid numbers, unknown methods, impossible reports and
ids no one could have been given are all answered with 4xx problem bodies, cost no Sinch call, no attempt
and no stored state, and never echo the number back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import requests

from tests.integration.conftest import DEVELOPER, NUMBER, Product, client_error, error_name, private, problem

BAD_BODIES: list[tuple[str, bytes | str]] = [
    ("malformed", "{not json"),
    ("truncated", '{"phoneNumber": "+46700000101"'),
    ("empty", ""),
    ("array", '["+46700000101"]'),
    ("string", '"+46700000101"'),
    ("number", "46700000101"),
    ("null", "null"),
    ("true", "true"),
    ("form-encoded", "phoneNumber=%2B46700000101"),
    ("not-utf8", b'{"phoneNumber": "\xff\xfe"}'),
    ("deeply-nested", "[" * 5000 + "]" * 5000),
    ("one-megabyte", '{"phoneNumber": "+46700000101", "padding": "' + "x" * 1_000_000 + '"}'),
    ("just-over-limit", '{"phoneNumber": "+46700000101", "padding": "' + "x" * 16_400 + '"}'),
]

BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("no-phone-number", {"method": "sms"}),
    ("phone-number-null", {"phoneNumber": None}),
    ("phone-number-int", {"phoneNumber": 46700000101}),
    ("phone-number-float", {"phoneNumber": 4.67e10}),
    ("phone-number-bool", {"phoneNumber": True}),
    ("phone-number-list", {"phoneNumber": [NUMBER]}),
    ("phone-number-object", {"phoneNumber": {"e164": NUMBER}}),
    ("phone-number-empty", {"phoneNumber": ""}),
    ("phone-number-blank", {"phoneNumber": "   "}),
    ("method-int", {"phoneNumber": NUMBER, "method": 1}),
    ("method-null", {"phoneNumber": NUMBER, "method": None}),
    ("method-list", {"phoneNumber": NUMBER, "method": ["sms"]}),
    ("method-empty", {"phoneNumber": NUMBER, "method": ""}),
    ("method-unknown", {"phoneNumber": NUMBER, "method": "telegram"}),
    ("method-seamless", {"phoneNumber": NUMBER, "method": "seamless"}),
    ("reference-int", {"phoneNumber": NUMBER, "reference": 42}),
    ("reference-empty", {"phoneNumber": NUMBER, "reference": ""}),
    ("reference-space", {"phoneNumber": NUMBER, "reference": "order 42"}),
    ("reference-slash", {"phoneNumber": NUMBER, "reference": "a/b"}),
    ("reference-long", {"phoneNumber": NUMBER, "reference": "r" * 101}),
    ("locale-int", {"phoneNumber": NUMBER, "locale": 46}),
    ("locale-empty", {"phoneNumber": NUMBER, "locale": ""}),
    ("locale-prose", {"phoneNumber": NUMBER, "locale": "Swedish please"}),
    ("locale-underscore", {"phoneNumber": NUMBER, "locale": "sv_SE"}),
    ("code-int", {"phoneNumber": NUMBER, "code": 123456}),
    ("code-short", {"phoneNumber": NUMBER, "code": "123"}),
    ("code-long", {"phoneNumber": NUMBER, "code": "12345678901"}),
    ("code-space", {"phoneNumber": NUMBER, "code": "12 34"}),
    ("code-symbols", {"phoneNumber": NUMBER, "code": "12_34"}),
    ("code-unicode", {"phoneNumber": NUMBER, "code": "äöäö"}),
    ("code-for-flashcall", {"phoneNumber": NUMBER, "method": "flashcall", "code": "123456"}),
    ("code-for-callout", {"phoneNumber": NUMBER, "method": "callout", "code": "123456"}),
    ("code-for-whatsapp", {"phoneNumber": NUMBER, "method": "whatsapp", "code": "123456"}),
]

INVALID_NUMBERS = [
    "+4813",  # too short
    "+46abc000101",  # letters
    "46700000101",  # no '+'
    "0046700000101",  # international prefix instead of '+'
    "+467000001011",  # too long for Sweden
    "+46700000101000000000000000000000000",  # longer than any number
    "+999700000101",  # no such country code
    "tel:+46700000101",
    "+",
]


def nothing_happened(product: Product) -> None:
    assert product.sinch_requests() == []
    assert product.items() == []


def every_case_refused(
    cases: Iterable[tuple[str, Any]],
    send: Callable[[Any], requests.Response],
    status: int | None,
    code: str = "invalid_request",
    *,
    never_shown: tuple[str, ...] = (NUMBER,),
) -> None:
    """Send every case and check each answer is the problem expected (``status`` None: any 4xx); the
    failures are reported together, each with the case's name."""
    failures = []
    for name, payload in cases:
        response = send(payload)
        try:
            if status is None:
                client_error(response, code)
            else:
                problem(response, status, code)
            private(response.text, *never_shown)
        except AssertionError:
            failures.append(f"{name}: {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)


class TestStartBody:
    def test_an_unreadable_body_is_400(self, product: Product) -> None:
        every_case_refused(BAD_BODIES, lambda body: product.request("POST", "/verifications", data=body), 400)
        nothing_happened(product)

    def test_a_bad_field_is_422(self, product: Product) -> None:
        every_case_refused(BAD_FIELDS, lambda body: product.request("POST", "/verifications", body=body), 422)
        nothing_happened(product)

    def test_an_invalid_number_is_422_and_not_echoed(self, product: Product) -> None:
        for number in INVALID_NUMBERS:
            every_case_refused([(number, number)], product.start, 422, never_shown=(number,))
        nothing_happened(product)

    def test_a_bad_field_for_a_direct_invocation_is_invalid_request(self, product: Product) -> None:
        cases: list[tuple[str, object]] = [*BAD_FIELDS, *((n, {"phoneNumber": n}) for n in INVALID_NUMBERS)]
        cases += [("list", [NUMBER]), ("string", NUMBER), ("number", 46700000101), ("null", None)]
        names = {name: error_name(lambda event=event: product.invoke_start(event)) for name, event in cases}
        assert {name: error for name, error in names.items() if error != "InvalidRequest"} == {}
        nothing_happened(product)

    def test_unknown_fields_are_ignored(self, product: Product) -> None:
        assert product.start(NUMBER, custom="x", smsOptions={"code": "9999"}).status_code == 201
        assert len(product.code()) == 6


BAD_REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("neither", {}),
    ("both", {"code": "123456", "cli": "+46812345678"}),
    ("code-null", {"code": None}),
    ("code-int", {"code": 123456}),
    ("code-list", {"code": ["123456"]}),
    ("code-empty", {"code": ""}),
    ("code-too-long", {"code": "1" * 33}),
    ("code-injection", {"code": "1' OR '1'='1"}),
    ("cli-int", {"cli": 46812345678}),
    ("cli-letters", {"cli": "call me"}),
    ("cli-too-short", {"cli": "+12"}),
]
BAD_REPORT_BODIES: list[tuple[str, str]] = [
    ("malformed", "{not json"),
    ("array", "[]"),
    ("string", '"123456"'),
    ("number", "123456"),
    ("empty", ""),
    ("huge", '{"code": "' + "1" * 1_000_000 + '"}'),
]


class TestReportBody:
    def test_an_impossible_report_is_422_and_costs_nothing(self, product: Product) -> None:
        """None of the impossible reports, by id or by number, uses an attempt or reaches Sinch; the right
        code still works afterwards."""
        verification = product.started()["id"]

        every_case_refused(BAD_REPORTS, lambda body: product.report(verification, body), 422)
        every_case_refused(BAD_REPORTS, lambda body: product.report_by_number(NUMBER, body), 422)
        owner = f"iam:{DEVELOPER}"  # the HTTP caller who started it, named by a trusted direct caller
        for name, body in BAD_REPORTS[1:]:  # a direct event with neither code nor cli reads the state
            event = {"id": verification, "owner": owner, **body}
            assert error_name(lambda e=event: product.invoke_report(e)) == "InvalidRequest", name

        assert product.state(verification)["attemptsRemaining"] == 5
        assert product.sinch_requests("report") == []
        assert product.report(verification, {"code": product.code()}).json()["status"] == "SUCCESSFUL"

    def test_an_unreadable_report_is_400(self, product: Product) -> None:
        verification = product.started()["id"]
        every_case_refused(
            BAD_REPORT_BODIES,
            lambda body: product.request("PUT", f"/verifications/{verification}", data=body),
            400,
        )
        every_case_refused(
            BAD_REPORT_BODIES,
            lambda body: product.request("PUT", "/verifications/number/%2B46700000101", data=body),
            400,
        )
        assert product.state(verification)["attemptsRemaining"] == 5

    @pytest.mark.parametrize(
        ("method", "body"),
        [
            ("flashcall", {"code": "123456"}),
            ("callout", {"cli": "+46812345678"}),
            ("whatsapp", {"cli": "+46812345678"}),
            ("sms", {"cli": "+46812345678"}),
        ],
        ids=["code-for-flashcall", "cli-for-callout", "cli-for-whatsapp", "cli-for-sms"],
    )
    def test_the_wrong_kind_of_answer_for_the_method_is_a_conflict(
        self, product: Product, method: str, body: dict[str, Any]
    ) -> None:
        """A well-formed report that the verification's method refuses: 409, nothing used."""
        verification = product.started(method=method)["id"]
        refused = problem(product.report(verification, body), 409, "conflict")
        assert ("cli" if method == "flashcall" else "code") in refused["detail"]
        assert product.state(verification)["attemptsRemaining"] == 5
        assert product.sinch_requests("report") == []

    def test_a_code_for_a_flashcall_that_sinch_decides_is_a_conflict(self, product: Product) -> None:
        product.sandbox.configure(flashcall_returns_cli=False)
        verification = product.started(method="flashcall")["id"]
        problem(product.report(verification, {"code": "1234"}), 409, "conflict")
        assert product.state(verification)["attemptsRemaining"] == 5
        assert product.sinch_requests("report") == []


ODD_IDS = [
    ("65-chars", "x" * 65),
    ("5000-chars", "x" * 5000),
    ("encoded-slash", "abc%2Fdef"),
    ("traversal", "..%2F..%2Fetc%2Fpasswd"),
    ("dot-dot", "%2E%2E"),
    ("non-ascii", "%C3%A9t%C3%A9"),
    ("nul", "id%00"),
    ("blank", "%20"),
    ("a-number", "%2B46700000101"),
    ("quote", "'%20OR%20'1'='1"),
    ("hash", "verification%23abc"),
    ("unknown-uuid", "0b7c3f5e-3c1a-4f57-9d1e-8d3f4a5b6c7d"),
]
ODD_NUMBERS = [
    ("letters", "abc"),
    ("too-short", "%2B4813"),
    ("no-plus", "46700000101"),
    ("no-such-country", "%2B999700000101"),
    ("pluses", "%2B" * 40),
    ("premium-rate", "%2B19005550123"),
]


class TestOddIds:
    def test_an_id_no_one_was_given_is_404(self, product: Product) -> None:
        product.started()
        every_case_refused(ODD_IDS, product.status, 404, "not_found")
        every_case_refused(
            ODD_IDS, lambda raw: product.report(raw, {"code": product.code()}), 404, "not_found"
        )
        assert product.sinch_requests("report") == []

    def test_report_by_an_invalid_number_is_404(self, product: Product) -> None:
        product.started()
        every_case_refused(
            ODD_NUMBERS, lambda raw: product.report_by_number(raw, {"code": product.code()}), 404, "not_found"
        )
        assert product.sinch_requests("report") == []
