"""The product's routes and flows over real HTTP: the local API Gateway, the real handlers, moto's DynamoDB
and Secrets Manager, and the Sinch sandbox as "the phone".

Every response is checked for what a client relies on (status, fields, ``expiresAt`` in UTC with 'Z',
``attemptsRemaining``, method hints) and for what it must never show (the code, the full flashcall CLI,
the phone number).
"""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import (
    NUMBER,
    OTHER_NUMBER,
    SINCH_PREFIX,
    Product,
    iso_instant,
    private,
    problem,
    verification_of,
    wrong,
)


def sinch_reports(product: Product) -> list[str]:
    return [r["path"] for r in product.sinch_requests("report")]


# ------------------------------------------------------------------------------------------ start


class TestStart:
    def test_sms_by_default_answers_201_with_location_hints_and_no_secrets(self, product: Product) -> None:
        """Given nothing but a number, when a client starts, then Sinch sends one SMS with a 6-digit code
        the service chose, and the answer is 201 with the verification's id, its state and Sinch's hints."""
        before = time.time()
        response = product.start(NUMBER)

        assert response.status_code == 201, response.text
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        assert response.headers["Location"] == f"/verifications/{body['id']}"
        assert set(body) == {"id", "method", "status", "attemptsRemaining", "expiresAt", "sms"}
        assert (body["method"], body["status"], body["attemptsRemaining"]) == ("sms", "PENDING", 5)
        assert before + 600 - 2 <= iso_instant(body["expiresAt"]) <= time.time() + 600 + 1
        assert isinstance(body["sms"]["interceptionTimeout"], int)

        message = product.inbox()["messages"][-1]
        assert verification_of(message) == body["id"]
        assert message["code"].isdigit()
        assert len(message["code"]) == 6
        private(response.text, NUMBER, message["code"])
        assert len(product.sinch_requests("start")) == 1

    @pytest.mark.parametrize("method", ["flashcall", "callout", "whatsapp"])
    def test_other_methods_start_with_their_hints(self, product: Product, method: str) -> None:
        response = product.start(NUMBER, method=method)

        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["method"], body["status"], body["attemptsRemaining"]) == (method, "PENDING", 5)
        inbox = product.inbox()
        if method == "flashcall":
            call = inbox["calls"][-1]
            assert {"cliFilter", "interceptionTimeout"} <= set(body["flashcall"])
            assert "cli" not in body["flashcall"]
            private(response.text, NUMBER, call["cli"])
        elif method == "callout":
            assert set(body) == {"id", "method", "status", "attemptsRemaining", "expiresAt"}
            private(response.text, NUMBER, inbox["calls"][-1]["code"])
        else:
            assert body["whatsapp"]["codeType"]
            private(response.text, NUMBER, inbox["messages"][-1]["code"])
        delivered = inbox["calls"] if method in ("flashcall", "callout") else inbox["messages"]
        assert [verification_of(item) for item in delivered] == [body["id"]]

    def test_method_names_are_case_insensitive(self, product: Product) -> None:
        assert product.started(NUMBER, method="FlashCall")["method"] == "flashcall"

    def test_custom_code_locale_and_reference_reach_sinch(self, product: Product) -> None:
        """A caller-chosen code is the one in the SMS, the locale picks the SMS language, and the
        reference comes back; the chosen code is checked like a generated one (case-insensitively)."""
        response = product.start(NUMBER, code="AB-12cd", locale="sv-SE", reference="order-4711")

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["reference"] == "order-4711"
        message = product.inbox()["messages"][-1]
        assert message["code"] == "AB-12cd"
        assert message["text"].startswith("Din verifieringskod")
        private(response.text, NUMBER, "AB-12cd")

        reported = product.report(body["id"], {"code": "ab-12CD"})
        assert reported.status_code == 200, reported.text
        assert reported.json()["status"] == "SUCCESSFUL"

    def test_callout_locale_reaches_the_call(self, product: Product) -> None:
        product.started(NUMBER, method="callout", locale="de-DE")
        assert product.inbox()["calls"][-1]["locale"] == "de-DE"

    def test_number_is_normalised_to_e164(self, product: Product) -> None:
        """Spaces and dashes in an otherwise valid number are accepted; Sinch gets the E.164 form."""
        verification = product.started("+46 70-000 01 01")
        assert verification_of(product.inbox(NUMBER)["messages"][-1]) == verification["id"]


# ------------------------------------------------------------------------------------------ report


class TestReportSms:
    def test_wrong_code_then_right_code(self, product: Product) -> None:
        """A typo is a 200 PENDING that costs one attempt and no Sinch call; the right code then succeeds,
        Sinch hears of it by id, and the success is single-use."""
        verification = product.started()["id"]
        code = product.code()

        typo = product.report(verification, {"code": wrong(code)})
        assert typo.status_code == 200, typo.text
        assert typo.headers["Content-Type"] == "application/json"
        assert typo.json() | {"expiresAt": None} == {
            "id": verification,
            "method": "sms",
            "status": "PENDING",
            "reason": "Invalid code",
            "attemptsRemaining": 4,
            "expiresAt": None,
        }
        iso_instant(typo.json()["expiresAt"])
        assert sinch_reports(product) == []

        right = product.report(verification, {"code": code})
        assert right.status_code == 200, right.text
        assert right.json() | {"expiresAt": None} == {
            "id": verification,
            "method": "sms",
            "status": "SUCCESSFUL",
            "attemptsRemaining": 0,
            "expiresAt": None,
        }
        private(right.text, NUMBER, code)
        assert sinch_reports(product) == [f"{SINCH_PREFIX}/id/{product.sinch_id(verification)}"]

        assert product.state(verification)["status"] == "SUCCESSFUL"
        problem(product.report(verification, {"code": code}), 409, "already_verified")

    def test_a_code_with_spaces_is_accepted(self, product: Product) -> None:
        verification = product.started()["id"]
        code = product.code()
        spaced = f"{code[:3]} {code[3:]}"
        assert product.report(verification, {"code": spaced}).json()["status"] == "SUCCESSFUL"

    def test_five_wrong_codes_fail_and_then_nothing_is_accepted(self, product: Product) -> None:
        verification = product.started()["id"]
        code = product.code()

        answers = [product.report(verification, {"code": wrong(code)}).json() for _ in range(5)]
        assert [a["attemptsRemaining"] for a in answers] == [4, 3, 2, 1, 0]
        assert [a["status"] for a in answers] == ["PENDING"] * 4 + ["FAIL"]
        assert answers[-1]["reason"] == "Invalid code"

        problem(product.report(verification, {"code": wrong(code)}), 429, "too_many_attempts")
        problem(product.report(verification, {"code": code}), 429, "too_many_attempts")
        state = product.state(verification)
        assert (state["status"], state["reason"], state["attemptsRemaining"]) == ("FAIL", "Invalid code", 0)
        assert sinch_reports(product) == []

    def test_status_shows_remaining_attempts(self, product: Product) -> None:
        started = product.started()
        product.report(started["id"], {"code": wrong(product.code())})

        response = product.status(started["id"])
        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"] == "no-store"
        state = response.json()
        assert state == {
            "id": started["id"],
            "method": "sms",
            "status": "PENDING",
            "attemptsRemaining": 4,
            "expiresAt": started["expiresAt"],
        }
        private(response.text, NUMBER, product.code())


class TestExpiry:
    def test_a_report_after_expires_at_is_expired_before_any_ttl(self, product: Product) -> None:
        """Past expiresAt the right code is answered 410 expired and the state reads FAIL/Expired, while the
        item is still in the table (DynamoDB's TTL has not removed it)."""
        verification = product.started()["id"]
        code = product.code()
        product.advance(600)

        problem(product.report(verification, {"code": code}), 410, "expired")
        state = product.state(verification)
        assert (state["status"], state["reason"]) == ("FAIL", "Expired")
        item = product.item(verification)
        assert item is not None
        assert int(item["ttl"]["N"]) > time.time() + 600
        assert sinch_reports(product) == []

    def test_just_before_expiry_the_code_still_works(self, product: Product) -> None:
        verification = product.started()["id"]
        product.advance(598)
        assert product.report(verification, {"code": product.code()}).json()["status"] == "SUCCESSFUL"

    def test_a_sinch_decided_verification_expires_locally_too(self, product: Product) -> None:
        verification = product.started(method="callout")["id"]
        product.advance(601)
        problem(product.report(verification, {"code": product.spoken_code()}), 410, "expired")
        assert sinch_reports(product) == []


class TestSupersede:
    def test_a_second_start_replaces_the_first(self, product: Product) -> None:
        """A new start for the number (after the 30 s gap) aborts the first: its right code is answered
        410 expired with the "newer verification" detail, and only the new one can be verified."""
        first = product.started()["id"]
        first_code = product.code()
        problem(product.start(), 429, "rate_limited", retry_after=True)
        product.advance(31)
        second = product.started()["id"]
        second_code = product.code()

        state = product.state(first)
        assert (state["status"], state["attemptsRemaining"]) == ("ABORTED", 0)
        refused = problem(product.report(first, {"code": first_code}), 410, "expired")
        assert "newer verification" in refused["detail"]
        assert product.report(second, {"code": second_code}).json()["status"] == "SUCCESSFUL"

    def test_a_new_start_after_success_leaves_the_success_alone(self, product: Product) -> None:
        first = product.started()["id"]
        assert product.report(first, {"code": product.code()}).json()["status"] == "SUCCESSFUL"
        product.advance(31)
        second = product.started()["id"]

        assert product.state(first)["status"] == "SUCCESSFUL"
        assert product.state(second)["status"] == "PENDING"


class TestReportByNumber:
    @pytest.mark.parametrize("spelling", ["+46700000101", "%2B46700000101"], ids=["plus", "encoded-plus"])
    def test_reaches_the_latest_verification_and_sinch_by_id(self, product: Product, spelling: str) -> None:
        """PUT /verifications/number/{phoneNumber} reports on the number's newest verification; Sinch is
        still called by id, so the number never appears in a URL sent to Sinch."""
        first = product.started()["id"]
        product.advance(31)
        second = product.started()["id"]

        response = product.report_by_number(spelling, {"code": product.code()})

        assert response.status_code == 200, response.text
        assert response.json() | {"expiresAt": None} == {
            "id": second,
            "method": "sms",
            "status": "SUCCESSFUL",
            "attemptsRemaining": 0,
            "expiresAt": None,
        }
        assert product.state(first)["status"] == "ABORTED"
        assert sinch_reports(product) == [f"{SINCH_PREFIX}/id/{product.sinch_id(second)}"]
        for logged in product.sinch_requests():
            private(logged["path"], NUMBER)

    def test_a_wrong_code_by_number_counts_on_the_latest(self, product: Product) -> None:
        verification = product.started()["id"]
        response = product.report_by_number(NUMBER, {"code": wrong(product.code())})
        assert response.json()["status"] == "PENDING"
        assert product.state(verification)["attemptsRemaining"] == 4

    def test_flashcall_by_number(self, product: Product) -> None:
        verification = product.started(method="flashcall")["id"]
        response = product.report_by_number("%2B46700000101", {"cli": product.cli()})
        assert (response.json()["id"], response.json()["status"]) == (verification, "SUCCESSFUL")

    def test_another_number_has_no_verification(self, product: Product) -> None:
        product.started()
        problem(product.report_by_number(OTHER_NUMBER, {"code": product.code()}), 404, "not_found")


class TestFlashcall:
    def test_cli_from_the_start_response_is_checked_locally(self, product: Product) -> None:
        """An account that returns the CLI at start: a wrong CLI costs an attempt but no Sinch call; the
        right one, written any way a phone shows it, succeeds and is reported to Sinch by id."""
        product.sandbox.configure(flashcall_returns_cli=True)
        verification = product.started(method="flashcall")["id"]
        cli = product.cli()

        typo = product.report(verification, {"cli": "+46812345678"})
        assert typo.status_code == 200, typo.text
        assert (typo.json()["status"], typo.json()["reason"]) == ("PENDING", "Invalid CLI")
        assert typo.json()["attemptsRemaining"] == 4
        assert sinch_reports(product) == []

        spelled = f"{cli[:3]} {cli[3:6]}-{cli[6:]}"
        right = product.report(verification, {"cli": spelled})
        assert right.json()["status"] == "SUCCESSFUL"
        private(right.text, cli)
        assert sinch_reports(product) == [f"{SINCH_PREFIX}/id/{product.sinch_id(verification)}"]

    def test_without_cli_in_the_start_response_sinch_decides(self, product: Product) -> None:
        """A default account keeps the CLI to itself: Sinch judges the report, and its FAIL ends the
        flashcall (the user asks for a new call)."""
        verification = product.started(method="flashcall")["id"]
        cli = product.cli()

        typo = product.report(verification, {"cli": "+46812345678"})
        assert (typo.json()["status"], typo.json()["reason"]) == ("FAIL", "Invalid CLI")
        assert typo.json()["attemptsRemaining"] == 0
        assert len(sinch_reports(product)) == 1
        problem(product.report(verification, {"cli": cli}), 429, "too_many_attempts")

        product.advance(31)
        again = product.started(method="flashcall")["id"]
        assert product.report(again, {"cli": product.cli()}).json()["status"] == "SUCCESSFUL"
        assert len(sinch_reports(product)) == 2


class TestSinchDecides:
    @pytest.mark.parametrize("method", ["callout", "whatsapp"])
    def test_each_report_goes_to_sinch(self, product: Product, method: str) -> None:
        verification = product.started(method=method)["id"]
        code = product.spoken_code() if method == "callout" else product.code()

        right = product.report(verification, {"code": code})
        assert right.json() | {"expiresAt": None} == {
            "id": verification,
            "method": method,
            "status": "SUCCESSFUL",
            "attemptsRemaining": 0,
            "expiresAt": None,
        }
        assert sinch_reports(product) == [f"{SINCH_PREFIX}/id/{product.sinch_id(verification)}"]
        problem(product.report(verification, {"code": code}), 409, "already_verified")
        assert len(sinch_reports(product)) == 1

    @pytest.mark.parametrize("method", ["callout", "whatsapp"])
    def test_sinchs_fail_ends_the_verification(self, product: Product, method: str) -> None:
        verification = product.started(method=method)["id"]
        code = product.spoken_code() if method == "callout" else product.code()

        typo = product.report(verification, {"code": wrong(code)})
        assert typo.status_code == 200, typo.text
        assert (typo.json()["status"], typo.json()["reason"]) == ("FAIL", "Invalid code")
        assert typo.json()["attemptsRemaining"] == 0
        problem(product.report(verification, {"code": code}), 429, "too_many_attempts")
        assert len(sinch_reports(product)) == 1
