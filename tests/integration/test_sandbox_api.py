"""The Sinch sandbox over real loopback HTTP: Sinch's routes, auth, errors and verification life cycle,
the control API, fault injection and connection handling, as a client of the real API would see them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import requests

from sinch_sandbox import SandboxConfig, SandboxServer

KEY = SandboxConfig().application_key
SECRET = SandboxConfig().application_secret
V = "/verification/v1/verifications"
NUMBER = "+46700000000"
ROOT = Path(__file__).resolve().parents[2]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def now_stamp(offset_seconds: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign(
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    *,
    timestamp: str | None = None,
    key: str = KEY,
    secret: str = SECRET,
    scheme: str = "Application",
) -> dict[str, str]:
    """Sinch's Application signing, written out here (not imported) so test and sandbox cannot share a bug."""
    stamp = timestamp or now_stamp()
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode() if body else ""
    to_sign = f"{method}\n{md5}\n{content_type or ''}\nx-timestamp:{stamp}\n{path}"
    digest = hmac.new(base64.b64decode(secret), to_sign.encode(), hashlib.sha256).digest()
    headers = {"Authorization": f"{scheme} {key}:{base64.b64encode(digest).decode()}", "x-timestamp": stamp}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def basic(key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


class Api:
    """A signed Sinch client over one keep-alive session."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.base = server.url
        self.http = requests.Session()

    def send(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 5,
    ) -> requests.Response:
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        if headers is None:
            headers = sign(method, path, body, content_type if body else None)
        elif body and "Content-Type" not in headers:
            headers = {**headers, "Content-Type": content_type}
        return self.http.request(
            method, self.base + path, data=body or None, headers=headers, timeout=timeout
        )

    def start(self, number: str = NUMBER, method: str = "sms", **extra: Any) -> requests.Response:
        return self.send(
            "POST", V, {"identity": {"type": "number", "endpoint": number}, "method": method, **extra}
        )

    def started(self, number: str = NUMBER, method: str = "sms", **extra: Any) -> dict[str, Any]:
        response = self.start(number, method, **extra)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def report(self, verification_id: str, body: dict[str, Any]) -> requests.Response:
        return self.send("PUT", f"{V}/id/{verification_id}", body)

    def status(self, path: str) -> requests.Response:
        return self.send("GET", f"{V}/{path}")

    def control(self, method: str, path: str, payload: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.base}/sandbox/v1/{path}", json=payload, timeout=5)


def sinch_error(
    response: requests.Response, status: int, code: int, message: str | None = None
) -> dict[str, Any]:
    """Assert Sinch's error contract: JSON body, errorCode whose first digits are the HTTP status."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"errorCode", "message", "reference"}
    assert body["errorCode"] == code
    assert str(code)[:3] == str(status)
    assert UUID_RE.match(body["reference"])
    if message is not None:
        assert message in body["message"], body["message"]
    return body


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[Api]:
    client = Api(sandbox)
    yield client
    client.http.close()


def sms_code(sandbox: SandboxServer, number: str = NUMBER) -> str:
    code: str = sandbox.inbox(number)["messages"][-1]["code"]
    return code


# -- start -------------------------------------------------------------------------------------------


def test_sms_start_sends_a_code_to_the_phone_and_answers_like_sinch(api: Api, sandbox: SandboxServer) -> None:
    response = api.start(reference="order-1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Language"] == "en-US"
    body = response.json()
    assert set(body) == {"id", "method", "sms", "_links"}
    assert UUID_RE.match(body["id"])
    assert body["method"] == "sms"
    assert body["sms"] == {
        "template": "Your verification code is {{CODE}}.",
        "interceptionTimeout": 300,
        "codeType": "Numeric",
    }
    href = f"{sandbox.url}{V}/id/{body['id']}"
    assert body["_links"] == [
        {"rel": "status", "href": href, "method": "GET"},
        {"rel": "report", "href": href, "method": "PUT"},
    ]
    [message] = sandbox.inbox(NUMBER)["messages"]
    assert re.fullmatch(r"\d{4}", message["code"])
    assert message["text"] == f"Your verification code is {message['code']}."
    assert (message["verificationId"], message["method"]) == (body["id"], "sms")


def test_links_follow_the_host_the_client_used(api: Api) -> None:
    headers = {**basic(), "Host": f"localhost:{api.server.port}"}
    response = api.send(
        "POST", V, {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms"}, headers=headers
    )
    body = response.json()
    assert body["_links"][0]["href"] == f"http://localhost:{api.server.port}{V}/id/{body['id']}"


@pytest.mark.parametrize(
    ("accept_language", "content_language", "template"),
    [
        ("sv-SE", "sv-SE", "Din verifieringskod är {{CODE}}."),
        ("es-ES", "es-ES", "Tu código de verificación es {{CODE}}."),
        ("fr", "fr-FR", "Votre code de vérification est {{CODE}}."),
        ("de-DE,en;q=0.5", "de-DE", "Ihr Bestätigungscode lautet {{CODE}}."),
        ("ja-JP", "en-US", "Your verification code is {{CODE}}."),
    ],
)
def test_accept_language_chooses_the_sms_language(
    api: Api, sandbox: SandboxServer, accept_language: str, content_language: str, template: str
) -> None:
    body = json.dumps({"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms"}).encode()
    headers = {**sign("POST", V, body, "application/json"), "Accept-Language": accept_language}
    response = api.send("POST", V, raw=body, headers=headers)
    assert response.headers["Content-Language"] == content_language
    assert response.json()["sms"]["template"] == template
    message = sandbox.inbox(NUMBER)["messages"][-1]
    assert message["text"] == template.replace("{{CODE}}", message["code"])


def test_sms_options_choose_the_code_its_type_and_lifetime(api: Api, sandbox: SandboxServer) -> None:
    chosen = api.started(smsOptions={"code": "ab-12", "expiry": "00:00:30"})
    assert chosen["sms"]["codeType"] == "Alphanumeric"
    assert chosen["sms"]["interceptionTimeout"] == 30
    assert sms_code(sandbox) == "ab-12"

    alpha = api.started("+46700000001", smsOptions={"codeType": "alpha"})
    assert alpha["sms"]["codeType"] == "Alpha"
    assert re.fullmatch(r"[A-Z]{4}", sms_code(sandbox, "+46700000001"))

    mixed = api.started("+46700000002", smsOptions={"codeType": "Alphanumeric", "template": "Code: {{CODE}}"})
    assert mixed["sms"]["template"] == "Code: {{CODE}}"
    assert re.fullmatch(r"Code: [A-Z0-9]{4}", sandbox.inbox("+46700000002")["messages"][0]["text"])


def test_flashcall_start_returns_a_filter_that_matches_the_cli_that_calls(
    api: Api, sandbox: SandboxServer
) -> None:
    body = api.started(method="flashCall", flashCallOptions={"dialTimeout": 10, "interceptionTimeout": 20})
    assert body["method"] == "flashcall"
    assert set(body) == {"id", "method", "flashCall", "_links"}
    flash = body["flashCall"]
    # By default the CLI is not in the response: at Sinch, returning it is an account option.
    assert set(flash) == {"cliFilter", "interceptionTimeout", "reportTimeout", "denyCallAfter", "callId"}
    assert (flash["interceptionTimeout"], flash["reportTimeout"], flash["denyCallAfter"]) == (20, 75, 0)
    assert flash["callId"] == body["id"]
    [call] = sandbox.inbox(NUMBER)["calls"]
    assert re.fullmatch(flash["cliFilter"], call["cli"])
    assert call == {"verificationId": body["id"], "method": "flashcall", "cli": call["cli"], "at": call["at"]}


def test_flashcall_cli_is_only_revealed_when_the_account_allows_it(api: Api, sandbox: SandboxServer) -> None:
    assert api.control("GET", "config").json()["flashcallReturnsCli"] is False
    assert "cli" not in api.started(method="flashcall")["flashCall"]

    assert api.control("POST", "config", {"flashcallReturnsCli": True}).json()["flashcallReturnsCli"] is True
    flash = api.started("+46700000001", method="flashcall")["flashCall"]
    # The phone is called from the same CLI either way.
    assert flash["cli"] == sandbox.inbox("+46700000001")["calls"][0]["cli"]
    assert re.fullmatch(flash["cliFilter"], flash["cli"])

    sandbox.configure(flashcall_returns_cli=False)
    assert "cli" not in api.started("+46700000002", method="flashcall")["flashCall"]
    assert len(sandbox.inbox("+46700000002")["calls"]) == 1


def test_flashcall_report_timeout_is_the_flashcalls_lifetime(api: Api, sandbox: SandboxServer) -> None:
    flash = api.started(method="flashcall")
    sms = api.started("+46700000001")
    assert (flash["flashCall"]["reportTimeout"], flash["flashCall"]["interceptionTimeout"]) == (75, 45)
    sandbox.advance_time(74)
    assert api.status(f"id/{flash['id']}").json()["status"] == "PENDING"
    sandbox.advance_time(1)
    expired = api.status(f"id/{flash['id']}").json()
    assert (expired["status"], expired["reason"]) == ("FAIL", "Expired")
    # Other methods keep their own lifetime (expiry_seconds).
    assert api.status(f"id/{sms['id']}").json()["status"] == "PENDING"


def test_flashcall_report_timeout_is_configurable(api: Api, sandbox: SandboxServer) -> None:
    assert (
        api.control("POST", "config", {"flashcallReportTimeout": 30}).json()["flashcallReportTimeout"] == 30
    )
    flash = api.started(method="flashcall")
    # interceptionTimeout never outlasts the verification.
    assert (flash["flashCall"]["reportTimeout"], flash["flashCall"]["interceptionTimeout"]) == (30, 30)
    cli = sandbox.inbox(NUMBER)["calls"][0]["cli"]
    sandbox.advance_time(30)
    sinch_error(api.report(flash["id"], {"method": "flashcall", "flashcall": {"cli": cli}}), 400, 40003)
    assert api.status(f"id/{flash['id']}").json()["reason"] == "Expired"

    sandbox.configure(flashcall_report_timeout=120)
    assert api.started("+46700000001", method="flashcall")["flashCall"]["reportTimeout"] == 120


def test_callout_and_whatsapp_starts(api: Api, sandbox: SandboxServer) -> None:
    callout = api.started(method="callout", calloutOptions={"speech": {"locale": "fr-FR"}})
    assert set(callout) == {"id", "method", "_links"}
    assert callout["method"] == "callout"
    call = sandbox.inbox(NUMBER)["calls"][0]
    assert (call["method"], call["locale"]) == ("callout", "fr-FR")
    assert re.fullmatch(r"\d{4}", call["code"])

    whatsapp = api.started("+46700000001", method="WhatsApp", whatsappOptions={"codeType": "Alphanumeric"})
    assert set(whatsapp) == {"id", "method", "whatsapp", "_links"}
    assert whatsapp["whatsapp"] == {"codeType": "Alphanumeric"}
    message = sandbox.inbox("+46700000001")["messages"][0]
    assert message["method"] == "whatsapp"
    assert message["text"] == f"Your verification code is {message['code']}."


def test_unknown_body_fields_are_ignored(api: Api) -> None:
    response = api.start(
        custom="x", metadata={"os": "android"}, honourEarlyReject=True, smsOptions={"my key": 1}
    )
    assert response.status_code == 200


# -- report and life cycle ---------------------------------------------------------------------------


def _wrong(code: str) -> str:
    return "0000" if code != "0000" else "1111"


def test_a_wrong_code_ends_the_verification(api: Api, sandbox: SandboxServer) -> None:
    started = api.started()
    code = sms_code(sandbox)

    response = api.report(started["id"], {"method": "sms", "sms": {"code": _wrong(code)}})
    assert response.status_code == 200
    failed = {"id": started["id"], "method": "sms", "status": "FAIL", "reason": "Invalid code"}
    assert response.json() == failed
    status = api.status(f"id/{started['id']}").json()
    assert (status["status"], status["reason"], status["source"]) == ("FAIL", "Invalid code", "manual")
    assert "price" in status

    # Sinch: once a verification failed you cannot re-report; start a new one.
    sinch_error(api.report(started["id"], {"method": "sms", "sms": {"code": code}}), 400, 40003)
    assert api.status(f"id/{started['id']}").json()["status"] == "FAIL"


def test_a_wrong_cli_ends_a_flashcall(api: Api, sandbox: SandboxServer) -> None:
    started = api.started(method="flashcall")
    cli = sandbox.inbox(NUMBER)["calls"][0]["cli"]
    wrong = api.report(started["id"], {"method": "flashcall", "flashcall": {"cli": "+15555550100"}})
    assert wrong.json() == {
        "id": started["id"],
        "method": "flashcall",
        "status": "FAIL",
        "reason": "Invalid CLI",
        "callComplete": True,
    }
    assert api.status(f"id/{started['id']}").json()["reason"] == "Invalid CLI"
    sinch_error(api.report(started["id"], {"method": "flashcall", "flashcall": {"cli": cli}}), 400, 40003)


def test_with_wrong_code_ends_verification_off_the_verification_stays_open(
    api: Api, sandbox: SandboxServer
) -> None:
    view = api.control("POST", "config", {"wrongCodeEndsVerification": False}).json()
    assert view["wrongCodeEndsVerification"] is False
    started = api.started()
    code = sms_code(sandbox)

    for _ in range(3):  # no attempt limit
        response = api.report(started["id"], {"method": "sms", "sms": {"code": _wrong(code)}})
        assert response.json() == {
            "id": started["id"],
            "method": "sms",
            "status": "FAIL",
            "reason": "Invalid code",
        }
        status = api.status(f"id/{started['id']}").json()
        assert (status["status"], status.get("reason")) == ("PENDING", None)

    response = api.report(started["id"], {"method": "sms", "sms": {"code": code}})
    assert response.json() == {"id": started["id"], "method": "sms", "status": "SUCCESSFUL"}

    sandbox.configure(wrong_code_ends_verification=True)
    other = api.started("+46700000001")
    api.report(other["id"], {"method": "sms", "sms": {"code": _wrong(sms_code(sandbox, "+46700000001"))}})
    assert api.status(f"id/{other['id']}").json()["status"] == "FAIL"


def test_codes_compare_case_insensitively_and_a_top_level_code_is_accepted(
    api: Api, sandbox: SandboxServer
) -> None:
    started = api.started(smsOptions={"code": "AbC-9"})
    assert api.report(started["id"], {"method": "sms", "code": "abc-9"}).json()["status"] == "SUCCESSFUL"


def test_after_expiry_the_verification_is_finished(api: Api, sandbox: SandboxServer) -> None:
    started = api.started()
    code = sms_code(sandbox)
    sandbox.advance_time(600)
    status = api.status(f"id/{started['id']}").json()
    assert (status["status"], status["reason"]) == ("FAIL", "Expired")
    sinch_error(api.report(started["id"], {"method": "sms", "sms": {"code": code}}), 400, 40003)

    api.control("POST", "config", {"finishedReportAnswer": "status"})
    expired = {"id": started["id"], "method": "sms", "status": "FAIL", "reason": "Expired"}
    assert api.report(started["id"], {"method": "sms", "sms": {"code": code}}).json() == expired
    assert api.report(started["id"], {"method": "sms", "sms": {"code": code}}).json() == expired


def test_sms_expiry_option_sets_the_lifetime(api: Api, sandbox: SandboxServer) -> None:
    started = api.started(smsOptions={"expiry": "00:01:00"})
    code = sms_code(sandbox)
    sandbox.advance_time(59)
    assert api.status(f"id/{started['id']}").json()["status"] == "PENDING"
    sandbox.advance_time(1)
    assert api.status(f"id/{started['id']}").json()["reason"] == "Expired"
    sinch_error(api.report(started["id"], {"method": "sms", "sms": {"code": code}}), 400, 40003)


def test_a_new_start_for_the_same_number_aborts_the_pending_one(api: Api, sandbox: SandboxServer) -> None:
    first = api.started()
    first_code = sms_code(sandbox)
    second = api.started(method="callout")
    status = api.status(f"id/{first['id']}").json()
    assert status["status"] == "ABORTED"
    assert "reason" not in status
    sinch_error(api.report(first["id"], {"method": "sms", "sms": {"code": first_code}}), 400, 40003)
    assert api.status(f"id/{second['id']}").json()["status"] == "PENDING"


def test_report_by_number_uses_the_latest_verification_of_that_method(
    api: Api, sandbox: SandboxServer
) -> None:
    api.started()
    latest = api.started()
    code = sms_code(sandbox)
    response = api.send("PUT", f"{V}/number/{NUMBER}", {"method": "sms", "sms": {"code": code}})
    assert response.json() == {"id": latest["id"], "method": "sms", "status": "SUCCESSFUL"}
    # No flashcall was ever started for the number.
    missing = api.send("PUT", f"{V}/number/{NUMBER}", {"method": "flashcall", "flashCall": {"cli": "+1"}})
    sinch_error(missing, 404, 40400, "Requested resource was not found.")


def test_report_by_number_accepts_an_encoded_plus(api: Api, sandbox: SandboxServer) -> None:
    started = api.started(method="callout")
    code = sandbox.inbox(NUMBER)["calls"][0]["code"]
    response = api.send("PUT", f"{V}/number/%2B46700000000", {"method": "callout", "callout": {"code": code}})
    assert response.json() == {
        "id": started["id"],
        "method": "callout",
        "status": "SUCCESSFUL",
        "callComplete": True,
    }


def test_flashcall_report_matches_the_cli_on_digits(api: Api, sandbox: SandboxServer) -> None:
    started = api.started(method="flashcall")
    cli = sandbox.inbox(NUMBER)["calls"][0]["cli"]
    spaced = f"{cli[:4]} {cli[4:8]}-{cli[8:]}"
    right = api.report(started["id"], {"method": "flashcall", "flashcall": {"cli": spaced}})
    assert right.json() == {
        "id": started["id"],
        "method": "flashcall",
        "status": "SUCCESSFUL",
        "callComplete": True,
    }


@pytest.mark.parametrize("method", ["flashcall", "flashCall"])
@pytest.mark.parametrize("key", ["flashcall", "flashCall"])
def test_flashcall_reports_accept_either_spelling_of_the_key(
    api: Api, sandbox: SandboxServer, method: str, key: str
) -> None:
    started = api.started(method="flashcall")
    cli = sandbox.inbox(NUMBER)["calls"][0]["cli"]
    response = api.report(started["id"], {"method": method, key: {"cli": cli}})
    assert response.json()["status"] == "SUCCESSFUL"


def test_report_answers_carry_the_reference(api: Api, sandbox: SandboxServer) -> None:
    sms = api.started(reference="order-7")
    response = api.report(sms["id"], {"method": "sms", "sms": {"code": sms_code(sandbox)}})
    assert response.json() == {
        "id": sms["id"],
        "method": "sms",
        "status": "SUCCESSFUL",
        "reference": "order-7",
    }

    call = api.started("+46700000001", method="callout", reference="order-8")
    wrong = api.report(call["id"], {"method": "callout", "callout": {"code": "x"}})
    assert wrong.json() == {
        "id": call["id"],
        "method": "callout",
        "status": "FAIL",
        "reason": "Invalid code",
        "reference": "order-8",
        "callComplete": True,
    }


def test_whatsapp_report(api: Api, sandbox: SandboxServer) -> None:
    started = api.started(method="whatsapp")
    code = sms_code(sandbox)
    response = api.report(started["id"], {"method": "whatsapp", "whatsapp": {"code": code}})
    assert response.json() == {"id": started["id"], "method": "whatsapp", "status": "SUCCESSFUL"}


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"sms": {"code": "1234"}}, 400, 40002, "Missing parameter: method"),
        ({"method": "sms"}, 400, 40002, "Missing parameter: sms.code"),
        ({"method": "sms", "sms": {"code": ""}}, 400, 40002, "Missing parameter: sms.code"),
        ({"method": "sms", "sms": "1234"}, 400, 40001, "sms"),
        ({"method": "sms", "sms": {"code": 1234}}, 400, 40001, "sms.code"),
        ({"method": "pigeon", "code": "1"}, 400, 40001, "method"),
        ({"method": "seamless", "code": "1"}, 400, 40001, "method"),
        ({"method": "callout", "callout": {"code": "1234"}}, 400, 40001, "does not match"),
    ],
)
def test_bad_reports_are_refused(
    api: Api, body: dict[str, Any], status: int, code: int, message: str
) -> None:
    started = api.started()
    sinch_error(api.report(started["id"], body), status, code, message)


def test_reporting_an_unknown_id_is_not_found(api: Api) -> None:
    response = api.report(str(uuid.uuid4()), {"method": "sms", "sms": {"code": "1234"}})
    sinch_error(response, 404, 40400, "Requested resource was not found.")


# -- finished verifications, custom codes ------------------------------------------------------------


def _finish_successful(api: Api, sandbox: SandboxServer) -> tuple[str, str, str | None]:
    started = api.started(reference="done-1")
    api.report(started["id"], {"method": "sms", "sms": {"code": sms_code(sandbox)}})
    return started["id"], "SUCCESSFUL", None


def _finish_failed(api: Api, sandbox: SandboxServer) -> tuple[str, str, str | None]:
    started = api.started(reference="done-1")
    api.report(started["id"], {"method": "sms", "sms": {"code": _wrong(sms_code(sandbox))}})
    return started["id"], "FAIL", "Invalid code"


def _finish_aborted(api: Api, sandbox: SandboxServer) -> tuple[str, str, str | None]:
    started = api.started(reference="done-1")
    api.started(method="callout")
    return started["id"], "ABORTED", None


def _finish_expired(api: Api, sandbox: SandboxServer) -> tuple[str, str, str | None]:
    started = api.started(reference="done-1")
    sandbox.advance_time(600)
    return started["id"], "FAIL", "Expired"


@pytest.mark.parametrize("finish", [_finish_successful, _finish_failed, _finish_aborted, _finish_expired])
@pytest.mark.parametrize("answer", ["invalid_request", "not_found", "status", None])
def test_a_report_on_a_finished_verification_gets_the_configured_answer(
    api: Api, sandbox: SandboxServer, finish: Any, answer: str | None
) -> None:
    if answer is not None:
        assert api.control("POST", "config", {"finishedReportAnswer": answer}).status_code == 200
    verification_id, status, reason = finish(api, sandbox)
    code = sandbox.inbox(NUMBER)["messages"][0]["code"]  # the right code does not reopen it either
    by_id = api.report(verification_id, {"method": "sms", "sms": {"code": code}})
    by_number = api.send("PUT", f"{V}/number/{NUMBER}", {"method": "sms", "sms": {"code": code}})
    for response in (by_id, by_number):
        if answer in ("invalid_request", None):  # the default
            sinch_error(response, 400, 40003, "Invalid request")
        elif answer == "not_found":
            sinch_error(response, 404, 40400, "Requested resource was not found.")
        else:
            expected = {"id": verification_id, "method": "sms", "status": status, "reason": reason}
            expected["reference"] = "done-1"
            assert response.json() == {k: v for k, v in expected.items() if v is not None}
    after = api.status(f"id/{verification_id}").json()
    assert (after["status"], after.get("reason")) == (status, reason)


def test_an_ignored_custom_code_is_validated_but_not_sent(api: Api, sandbox: SandboxServer) -> None:
    assert api.control("POST", "config", {"honourCustomCode": False}).json()["honourCustomCode"] is False
    started = api.started(smsOptions={"code": "2468"})
    assert started["sms"]["codeType"] == "Numeric"
    [message] = sandbox.inbox(NUMBER)["messages"]
    assert re.fullmatch(r"\d{4}", message["code"])
    assert message["code"] != "2468"
    assert message["text"] == f"Your verification code is {message['code']}."
    # Reporting the code the caller chose is a wrong code.
    wrong = api.report(started["id"], {"method": "sms", "sms": {"code": "2468"}})
    assert (wrong.json()["status"], wrong.json()["reason"]) == ("FAIL", "Invalid code")

    other = api.started("+46700000001", smsOptions={"code": "ab-12", "codeType": "Alpha"})
    assert other["sms"]["codeType"] == "Alpha"
    sent = sms_code(sandbox, "+46700000001")
    assert re.fullmatch(r"[A-Z]{4}", sent)
    right = api.report(other["id"], {"method": "sms", "sms": {"code": sent}})
    assert right.json()["status"] == "SUCCESSFUL"

    # Still validated as Sinch validates it.
    sinch_error(api.start(smsOptions={"code": "12345678901"}), 400, 40001, "The SMS code is not valid.")


def test_a_custom_code_is_honoured_by_default(api: Api, sandbox: SandboxServer) -> None:
    assert api.control("GET", "config").json()["honourCustomCode"] is True
    started = api.started(smsOptions={"code": "2468"})
    assert sms_code(sandbox) == "2468"
    assert (
        api.report(started["id"], {"method": "sms", "sms": {"code": "2468"}}).json()["status"] == "SUCCESSFUL"
    )


# -- outcomes: DENIED and ERROR ----------------------------------------------------------------------


def test_a_next_start_outcome_denies_one_verification_whatever_its_number(
    api: Api, sandbox: SandboxServer
) -> None:
    created = api.control("POST", "outcomes", {"status": "DENIED", "reason": "Fraud"})
    assert created.status_code == 201
    rule = {"status": "DENIED", "reason": "Fraud", "number": None}
    assert created.json() == {"outcome": rule}
    assert api.control("GET", "outcomes").json() == {"outcomes": [rule]}

    denied = api.start("+46700000009", reference="denied-1")
    assert denied.status_code == 200
    body = denied.json()
    assert set(body) == {"id", "method", "sms", "_links"}
    assert sandbox.inbox("+46700000009") == {"phoneNumber": "+46700000009", "messages": [], "calls": []}
    status = api.status(f"id/{body['id']}").json()
    assert (status["status"], status["reason"]) == ("DENIED", "Fraud")
    assert "price" not in status  # nothing was sent
    # A report answers the verification's status, whatever the finished-report answer is.
    report = api.report(body["id"], {"method": "sms", "sms": {"code": "1234"}})
    assert report.status_code == 200
    assert report.json() == {
        "id": body["id"],
        "method": "sms",
        "status": "DENIED",
        "reason": "Fraud",
        "reference": "denied-1",
    }
    assert api.status(f"id/{body['id']}").json()["status"] == "DENIED"

    # Used up: the next start is delivered as usual.
    assert api.control("GET", "outcomes").json() == {"outcomes": []}
    normal = api.started("+46700000009")
    assert api.status(f"id/{normal['id']}").json()["status"] == "PENDING"
    assert len(sandbox.inbox("+46700000009")["messages"]) == 1


def test_a_number_outcome_applies_to_every_start_to_that_number_until_cleared(
    api: Api, sandbox: SandboxServer
) -> None:
    api.control("POST", "outcomes", {"status": "ERROR", "reason": "SMS delivery failure", "number": NUMBER})
    for method in ("sms", "whatsapp", "sms"):
        started = api.started(method=method)
        status = api.status(f"id/{started['id']}").json()
        assert (status["status"], status["reason"]) == ("ERROR", "SMS delivery failure")
    assert sandbox.inbox(NUMBER)["messages"] == []
    other = api.started("+46700000001")
    assert api.status(f"id/{other['id']}").json()["status"] == "PENDING"
    assert api.control("GET", "outcomes").json()["outcomes"][0]["number"] == NUMBER

    assert api.control("DELETE", "outcomes").json() == {"outcomes": []}
    cleared = api.started()
    assert api.status(f"id/{cleared['id']}").json()["status"] == "PENDING"
    assert len(sandbox.inbox(NUMBER)["messages"]) == 1


@pytest.mark.parametrize("method", ["flashcall", "callout"])
def test_a_denied_call_is_never_placed(api: Api, sandbox: SandboxServer, method: str) -> None:
    sandbox.add_outcome("DENIED", "Blocked", number=NUMBER)
    started = api.started(method=method)
    assert sandbox.inbox(NUMBER)["calls"] == []
    status = api.status(f"id/{started['id']}").json()
    assert (status["status"], status["reason"], status["callComplete"]) == ("DENIED", "Blocked", False)
    assert "callResult" not in status
    body = {"method": method, "flashcall": {"cli": "+18156540001"}, "callout": {"code": "1234"}}
    assert api.report(started["id"], body).json() == {
        "id": started["id"],
        "method": method,
        "status": "DENIED",
        "reason": "Blocked",
        "callComplete": False,
    }


def test_outcome_rules_are_tried_oldest_first(api: Api, sandbox: SandboxServer) -> None:
    sandbox.add_outcome("DENIED", "Destination denied", number="+46 70 000 00 01")
    sandbox.add_outcome("ERROR", "Internal error")
    assert sandbox.outcomes() == [
        {"status": "DENIED", "reason": "Destination denied", "number": "+46700000001"},
        {"status": "ERROR", "reason": "Internal error", "number": None},
    ]
    first = api.started("+46700000001")  # the older number rule decides; the next-start rule waits
    second = api.started("+46700000002")
    third = api.started("+46700000003")
    assert [api.status(f"id/{s['id']}").json().get("reason") for s in (first, second, third)] == [
        "Destination denied",
        "Internal error",
        None,
    ]
    sandbox.clear_outcomes()
    assert sandbox.outcomes() == []


def test_a_refused_or_unprocessed_start_does_not_use_up_a_next_start_outcome(
    api: Api, sandbox: SandboxServer
) -> None:
    sandbox.add_outcome("ERROR", "Network error or number unreachable")
    sinch_error(api.start("+4813"), 400, 40001)
    sandbox.add_fault({"kind": "status"})
    sinch_error(api.start(), 503, 50300)
    assert len(sandbox.outcomes()) == 1
    started = api.started()
    assert api.status(f"id/{started['id']}").json()["status"] == "ERROR"


def test_a_denied_start_still_supersedes_the_pending_verification(api: Api, sandbox: SandboxServer) -> None:
    first = api.started()
    sandbox.add_outcome("DENIED", "Not enough credit")
    api.started()
    assert api.status(f"id/{first['id']}").json()["status"] == "ABORTED"


def test_reset_clears_outcomes(api: Api, sandbox: SandboxServer) -> None:
    sandbox.add_outcome("DENIED", "Fraud", number=NUMBER)
    api.control("POST", "reset")
    assert api.control("GET", "outcomes").json() == {"outcomes": []}
    started = api.started()
    assert api.status(f"id/{started['id']}").json()["status"] == "PENDING"


@pytest.mark.parametrize(
    "body",
    [
        [1],
        {},
        {"status": "FAIL", "reason": "Invalid code"},
        {"status": "DENIED"},
        {"status": "DENIED", "reason": "SMS delivery failure"},
        {"status": "ERROR", "reason": "Fraud"},
        {"status": "ERROR", "reason": "Internal error", "number": "46700000000"},
        {"status": "ERROR", "reason": "Internal error", "number": 46700000000},
        {"status": "ERROR", "reason": "Internal error", "colour": "red"},
    ],
)
def test_invalid_outcome_rules_are_refused(api: Api, sandbox: SandboxServer, body: Any) -> None:
    response = api.control("POST", "outcomes", body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert api.control("GET", "outcomes").json() == {"outcomes": []}
    if isinstance(body, dict) and set(body) <= {"status", "reason", "number"}:
        with pytest.raises(ValueError, match=r"\w"):
            sandbox.add_outcome(body.get("status", ""), body.get("reason", ""), body.get("number"))


# -- status ------------------------------------------------------------------------------------------


def test_status_by_id_reference_and_number_describe_the_verification(
    api: Api, sandbox: SandboxServer
) -> None:
    started = api.started(reference="ref/ü 1")
    status = api.status(f"id/{started['id']}").json()
    assert status["status"] == "PENDING"
    assert "price" not in status
    assert "source" not in status

    api.report(started["id"], {"method": "sms", "sms": {"code": sms_code(sandbox)}})
    by_id = api.status(f"id/{started['id']}").json()
    assert set(by_id) == {
        "id",
        "method",
        "status",
        "reference",
        "identity",
        "countryId",
        "verificationTimestamp",
        "source",
        "price",
    }
    assert by_id["status"] == "SUCCESSFUL"
    assert by_id["identity"] == {"type": "number", "endpoint": NUMBER}
    assert by_id["countryId"] == "SE"
    assert by_id["reference"] == "ref/ü 1"
    assert by_id["source"] == "manual"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}", by_id["verificationTimestamp"])
    assert by_id["price"] == {"verificationPrice": {"currencyId": "EUR", "amount": 0.0453}}

    assert api.status("reference/ref%2F%C3%BC%201").json() == by_id
    assert api.status(f"sms/number/{NUMBER}").json() == by_id
    assert api.status("SMS/number/%2B46700000000").json() == by_id


@pytest.mark.parametrize("method", ["flashcall", "callout"])
def test_call_statuses_carry_call_fields(api: Api, sandbox: SandboxServer, method: str) -> None:
    started = api.started("+33628254417", method=method)
    status = api.status(f"{method}/number/+33628254417").json()
    assert (status["method"], status["countryId"]) == (method, "FR")
    assert (status["callComplete"], status["callResult"]) == (True, "ANSWERED")
    assert status["id"] == started["id"]


@pytest.mark.parametrize(
    "path",
    [f"id/{uuid.uuid4()}", "reference/nope", f"sms/number/{NUMBER}", "callout/number/+33628254417"],
)
def test_unknown_verifications_are_not_found(api: Api, path: str) -> None:
    sinch_error(api.status(path), 404, 40400, "Requested resource was not found.")


def test_status_by_number_with_an_unknown_method_is_a_bad_parameter(api: Api) -> None:
    sinch_error(api.status(f"carrier-pigeon/number/{NUMBER}"), 400, 40001, "method")


# -- validation --------------------------------------------------------------------------------------


def _start_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (_start_body(identity=None), 400, 40002, "Missing parameter: identity"),
        (_start_body(method=None), 400, 40002, "Missing parameter: method"),
        (_start_body(identity="+46700000000"), 400, 40001, "identity"),
        (_start_body(identity={"type": "email", "endpoint": NUMBER}), 400, 40001, "identity.type"),
        (_start_body(identity={"type": "number"}), 400, 40002, "Missing parameter: identity.endpoint"),
        (_start_body(identity={"type": "number", "endpoint": 46700000000}), 400, 40001, "identity.endpoint"),
        (_start_body(method="pigeon"), 400, 40001, "method"),
        (_start_body(method=7), 400, 40001, "method"),
        (_start_body(identity={"type": "number", "endpoint": "46700000000"}), 400, 40005, "46700000000"),
        (
            _start_body(identity={"type": "number", "endpoint": "+4813"}),
            400,
            40001,
            "Number +4813 is invalid. Too short.",
        ),
        (
            _start_body(identity={"type": "number", "endpoint": "+4670000000000000000"}),
            400,
            40001,
            "Number +4670000000000000000 is invalid. Too long.",
        ),
        (_start_body(reference=12), 400, 40001, "reference"),
        (_start_body(smsOptions=[]), 400, 40001, "smsOptions"),
        (_start_body(smsOptions={"expiry": "10 minutes"}), 400, 40001, "smsOptions.expiry"),
        (_start_body(smsOptions={"codeType": "Emoji"}), 400, 40001, "smsOptions.codeType"),
        (_start_body(smsOptions={"template": "no placeholder"}), 400, 40001, "smsOptions.template"),
        (
            _start_body(smsOptions={"code": "12345678901"}),
            400,
            40001,
            "The SMS code is not valid. Maximum 10 characters. Valid characters: A-Z, a-z, 0-9, '-'",
        ),
        (_start_body(smsOptions={"code": "12 34"}), 400, 40001, "The SMS code is not valid."),
        (
            _start_body(method="flashcall", flashCallOptions={"dialTimeout": 4}),
            400,
            40001,
            "flashCallOptions.dialTimeout",
        ),
        (
            _start_body(method="flashcall", flashCallOptions={"interceptionTimeout": "30"}),
            400,
            40001,
            "flashCallOptions.interceptionTimeout",
        ),
        (_start_body(method="flashcall", flashCallOptions={"dialTimeout": True}), 400, 40001, "dialTimeout"),
        (_start_body(method="flashcall", flashCallOptions=5), 400, 40001, "flashCallOptions"),
        (_start_body(method="callout", calloutOptions={"speech": "fr"}), 400, 40001, "calloutOptions.speech"),
        (
            _start_body(method="whatsapp", whatsappOptions={"codeType": "x"}),
            400,
            40001,
            "whatsappOptions.codeType",
        ),
        (
            _start_body(method="seamless"),
            403,
            40300,
            "Seamless verification not available for given destination.",
        ),
    ],
)
def test_bad_starts_are_refused_with_sinchs_codes(
    api: Api, body: dict[str, Any], status: int, code: int, message: str
) -> None:
    sinch_error(api.send("POST", V, body), status, code, message)
    assert api.server.inbox(NUMBER) == {"phoneNumber": NUMBER, "messages": [], "calls": []}


def test_a_reused_reference_is_a_conflict(api: Api) -> None:
    api.started(reference="once")
    sinch_error(api.start("+46700000001", reference="once"), 409, 40900)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"identity": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"sms"', "must be a JSON object"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"method": NaN}', "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "JSON"),
    ],
)
def test_unreadable_bodies_are_invalid_requests(api: Api, raw: bytes, message: str) -> None:
    sinch_error(api.send("POST", V, raw=raw), 400, 40003, message)


def test_an_empty_start_body_is_an_invalid_request(api: Api) -> None:
    headers = {**sign("POST", V, b"", "application/json"), "Content-Length": "0"}
    sinch_error(api.http.post(api.base + V, data=b"", headers=headers, timeout=5), 400, 40003)


def test_an_oversized_body_is_refused_and_the_server_keeps_serving(api: Api, sandbox: SandboxServer) -> None:
    big = json.dumps(
        {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms", "pad": "x" * 70_000}
    )
    response = api.send("POST", V, raw=big.encode())
    sinch_error(response, 400, 40003, "larger than 65536 bytes")
    assert response.headers["Connection"] == "close"
    assert sandbox.inbox(NUMBER)["messages"] == []
    assert api.start().status_code == 200


def test_an_oversized_body_is_refused_before_it_is_sent(sandbox: SandboxServer) -> None:
    """Only headers are sent, announcing 10 MB: the answer must come at once, not after a body timeout."""
    request = (
        f"POST {V} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    raw = _raw_exchange(sandbox.port, request)
    assert time.monotonic() - started < 1.5
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in head
    assert json.loads(body)["errorCode"] == 40003


def test_chunked_bodies_are_read(api: Api) -> None:
    body = json.dumps(_start_body()).encode()
    headers = sign("POST", V, body, "application/json")
    response = api.http.post(api.base + V, data=iter([body[:10], body[10:]]), headers=headers, timeout=5)
    assert response.status_code == 200, response.text


# -- auth --------------------------------------------------------------------------------------------


def test_basic_auth_is_accepted_with_the_right_credentials(api: Api) -> None:
    assert api.send("POST", V, _start_body(), headers=basic()).status_code == 200
    sinch_error(api.send("POST", V, _start_body(), headers=basic(secret="wrong")), 401, 40108)
    sinch_error(api.send("POST", V, _start_body(), headers={"Authorization": "Basic %%%"}), 401, 40100)


@pytest.mark.parametrize(
    "stamp",
    [
        now_stamp(),  # Java / Node
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z",  # .NET, seven digits
        datetime.now(UTC).isoformat(),  # Python, +00:00
        now_stamp(-300),  # half the default window old
    ],
)
def test_signed_requests_in_every_client_timestamp_style_are_accepted(api: Api, stamp: str) -> None:
    body = json.dumps(_start_body()).encode()
    headers = sign("POST", V, body, "application/json; charset=UTF-8", timestamp=stamp, scheme="application")
    assert api.send("POST", V, raw=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers_for", "status", "code", "scheme"),
    [
        (lambda body: {}, 401, 40100, "none"),
        (lambda body: {"Authorization": "Bearer abc.def"}, 401, 40100, "unknown"),
        (lambda body: {"Authorization": f"Application {KEY}"}, 403, 40301, "public"),
        (
            lambda body: {
                k: v for k, v in sign("POST", V, body, "application/json").items() if k != "x-timestamp"
            },
            401,
            40101,
            "application",
        ),
        (
            lambda body: sign("POST", V, body, "application/json", timestamp="last tuesday"),
            401,
            40101,
            "application",
        ),
        (
            lambda body: sign("POST", V, body, "application/json", timestamp=now_stamp(-601)),
            401,
            40101,
            "application",
        ),
        (
            lambda body: sign("POST", V, body, "application/json", timestamp=now_stamp(601)),
            401,
            40101,
            "application",
        ),
        (
            lambda body: sign("POST", V, body, "application/json", secret="d3Jvbmc="),
            401,
            40102,
            "application",
        ),
        (lambda body: sign("POST", V, body, "application/json", key="other-key"), 401, 40102, "application"),
        (lambda body: sign("POST", V, body + b" ", "application/json"), 401, 40102, "application"),
        (lambda body: sign("POST", V, body, "text/plain"), 401, 40102, "application"),
        (lambda body: sign("POST", V + "/", body, "application/json"), 401, 40102, "application"),
    ],
    ids=[
        "no header",
        "unknown scheme",
        "public auth",
        "no x-timestamp",
        "garbled x-timestamp",
        "stale x-timestamp",
        "future x-timestamp",
        "wrong secret",
        "unknown key",
        "body changed",
        "content type changed",
        "path changed",
    ],
)
def test_requests_that_fail_auth_are_refused_and_logged(
    api: Api, headers_for: Any, status: int, code: int, scheme: str
) -> None:
    sandbox = api.server
    body = json.dumps(_start_body()).encode()
    headers = {**headers_for(body), "Content-Type": "application/json"}
    message = "Invalid Signature" if code == 40102 else None
    sinch_error(api.send("POST", V, raw=body, headers=headers), status, code, message)
    assert sandbox.inbox(NUMBER)["messages"] == []
    [entry] = sandbox.requests_log()
    assert (entry["authScheme"], entry["authenticated"], entry["status"]) == (scheme, False, status)


def test_auth_is_checked_before_the_body_is_parsed(api: Api) -> None:
    sinch_error(api.send("POST", V, raw=b"{not json", headers={}), 401, 40100)


def test_signing_the_decoded_path_of_an_encoded_number_is_accepted(api: Api, sandbox: SandboxServer) -> None:
    api.started()
    headers = sign("GET", f"{V}/sms/number/{NUMBER}")
    response = api.http.get(f"{api.base}{V}/sms/number/%2B46700000000", headers=headers, timeout=5)
    assert response.status_code == 200


# -- routes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/verification/v1/nothing-here"),
        ("GET", V),
        ("DELETE", f"{V}/id/abc"),
        ("PATCH", f"{V}/number/{NUMBER}"),
        ("BREW", V),
        ("GET", "/"),
        ("POST", "/verification/v2/verifications"),
    ],
)
def test_unknown_routes_and_verbs_are_not_found_in_json(api: Api, method: str, path: str) -> None:
    sinch_error(api.send(method, path), 404, 40400, "Requested resource was not found.")


def test_a_garbled_request_line_gets_a_json_error_not_an_html_page(sandbox: SandboxServer) -> None:
    raw = _raw_exchange(sandbox.port, b"this is not http\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["errorCode"] == 40000


# -- faults ------------------------------------------------------------------------------------------


def test_a_status_fault_answers_a_sinch_error_without_sending_the_sms(
    api: Api, sandbox: SandboxServer
) -> None:
    created = api.control("POST", "faults", {"kind": "status"})
    assert created.status_code == 201
    assert created.json()["fault"]["errorCode"] == 50300
    sinch_error(api.start(), 503, 50300)
    assert sandbox.inbox(NUMBER)["messages"] == []
    assert api.start().status_code == 200
    assert [e["fault"] for e in sandbox.requests_log()] == ["status", None]


def test_a_429_fault_carries_retry_after(api: Api) -> None:
    api.control("POST", "faults", {"kind": "status", "status": 429, "retryAfter": 2})
    response = api.start()
    sinch_error(response, 429, 42900)
    assert response.headers["Retry-After"] == "2"


def test_a_processed_status_fault_sends_the_sms_but_still_fails(api: Api, sandbox: SandboxServer) -> None:
    api.control("POST", "faults", {"kind": "status", "status": 500, "process": True})
    sinch_error(api.start(), 500, 50000)
    assert len(sandbox.inbox(NUMBER)["messages"]) == 1


def test_a_delay_fault_slows_the_answer_down(api: Api, sandbox: SandboxServer) -> None:
    sandbox.add_fault({"kind": "delay", "seconds": 0.2})
    started = time.monotonic()
    assert api.start().status_code == 200
    assert time.monotonic() - started >= 0.2
    sandbox.add_fault({"kind": "delay", "seconds": 0.3})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.send("POST", V, _start_body(identity={"type": "number", "endpoint": "+46700000001"}), timeout=0.1)
    # The slow request was still carried out: the phone got its SMS although the client gave up.
    assert len(sandbox.inbox("+46700000001")["messages"]) == 1
    # Let the slow answer finish so it cannot land in the next test's request log.
    deadline = time.monotonic() + 2
    while len(sandbox.requests_log()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [e["fault"] for e in sandbox.requests_log()] == ["delay", "delay"]


def test_a_malformed_fault_answers_html_after_doing_the_work(api: Api, sandbox: SandboxServer) -> None:
    sandbox.add_fault({"kind": "malformed"})
    response = api.start()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert len(sandbox.inbox(NUMBER)["messages"]) == 1


@pytest.mark.parametrize(("process", "delivered"), [(False, 0), (True, 1)])
def test_a_drop_fault_closes_the_connection_without_an_answer(
    api: Api, sandbox: SandboxServer, process: bool, delivered: int
) -> None:
    sandbox.add_fault({"kind": "drop", "process": process})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.start()
    assert len(sandbox.inbox(NUMBER)["messages"]) == delivered
    [entry] = sandbox.requests_log()
    assert (entry["fault"], entry["status"]) == ("drop", 0)


def test_faults_match_method_and_path_and_count_down(api: Api, sandbox: SandboxServer) -> None:
    api.control("POST", "faults", {"kind": "status", "count": 2, "method": "GET", "pathPrefix": f"{V}/id/"})
    started = api.started()
    assert api.control("GET", "faults").json()["faults"][0]["count"] == 2
    sinch_error(api.status(f"id/{started['id']}"), 503, 50300)
    sinch_error(api.status(f"id/{started['id']}"), 503, 50300)
    assert api.status(f"id/{started['id']}").status_code == 200
    assert api.control("GET", "faults").json() == {"faults": []}


def test_faults_never_touch_the_control_api_and_can_be_cleared(api: Api, sandbox: SandboxServer) -> None:
    sandbox.add_fault({"kind": "drop", "count": 5})
    assert api.control("GET", "health").json() == {"status": "ok"}
    assert api.control("GET", "faults").json()["faults"][0]["count"] == 5
    assert api.control("DELETE", "faults").json() == {"faults": []}
    assert api.start().status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "meteor"},
        {"kind": "status", "count": 0},
        {"kind": "status", "status": 503, "errorCode": 40000},
        [1],
    ],
)
def test_invalid_fault_rules_are_refused_with_a_json_error(api: Api, body: Any) -> None:
    response = api.control("POST", "faults", body)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]
    with pytest.raises(ValueError, match=r"\w"):
        api.server.add_fault(body)


# -- control API -------------------------------------------------------------------------------------


def test_inbox_lists_messages_and_calls_newest_last(api: Api, sandbox: SandboxServer) -> None:
    sms = api.started()
    call = api.started(method="flashcall")
    inbox = api.control("GET", "inbox/%2B46700000000").json()
    assert inbox["phoneNumber"] == NUMBER
    assert [m["verificationId"] for m in inbox["messages"]] == [sms["id"]]
    assert [c["verificationId"] for c in inbox["calls"]] == [call["id"]]
    assert set(inbox["messages"][0]) == {"verificationId", "method", "text", "code", "at"}
    assert set(inbox["calls"][0]) == {"verificationId", "method", "cli", "at"}
    assert api.control("GET", f"inbox/{NUMBER}").json() == inbox == sandbox.inbox("46700000000")
    assert api.control("GET", "inbox/+15555550100").json() == {
        "phoneNumber": "+15555550100",
        "messages": [],
        "calls": [],
    }


def test_the_request_log_describes_traffic_but_never_holds_codes(api: Api, sandbox: SandboxServer) -> None:
    started = api.started(smsOptions={"code": "SECRET42"})
    api.report(started["id"], {"method": "sms", "sms": {"code": "SECRET42"}})
    api.send("GET", "/nowhere", headers=basic())
    log = api.control("GET", "requests").json()["requests"]
    assert "SECRET42" not in json.dumps(log)
    assert [
        (e["method"], e["operation"], e["verificationMethod"], e["authScheme"], e["status"]) for e in log
    ] == [
        ("POST", "start", "sms", "application", 200),
        ("PUT", "report", "sms", "application", 200),
        ("GET", "unknown", None, "basic", 404),
    ]
    assert set(log[0]) == {
        "method",
        "path",
        "operation",
        "verificationMethod",
        "authScheme",
        "authenticated",
        "status",
        "fault",
        "at",
    }
    assert log[1]["path"] == f"{V}/id/{started['id']}"
    assert log == sandbox.requests_log()


def test_reset_forgets_everything_but_the_config(api: Api, sandbox: SandboxServer) -> None:
    api.control("POST", "config", {"expirySeconds": 30})
    started = api.started(reference="r")
    sandbox.add_fault({"kind": "drop", "method": "DELETE"})
    sandbox.advance_time(5)
    assert api.control("POST", "reset").json() == {"status": "ok"}
    assert sandbox.inbox(NUMBER)["messages"] == []
    assert sandbox.requests_log() == []
    assert api.control("GET", "faults").json() == {"faults": []}
    sinch_error(api.status(f"id/{started['id']}"), 404, 40400)
    assert api.started(reference="r")["id"] != started["id"]
    assert api.control("GET", "config").json()["expirySeconds"] == 30


def test_time_can_be_moved_forward_over_http(api: Api, sandbox: SandboxServer) -> None:
    started = api.started()
    moved = api.control("POST", "time", {"advanceSeconds": 601})
    assert moved.json()["offsetSeconds"] == 601
    assert api.status(f"id/{started['id']}").json()["reason"] == "Expired"
    for bad in ({"advanceSeconds": -1}, {"advanceSeconds": "soon"}, {}):
        assert api.control("POST", "time", bad).status_code == 400
    with pytest.raises(ValueError, match="non-negative"):
        sandbox.advance_time(-5)


DEFAULT_CONFIG_VIEW = {
    "applicationKey": KEY,
    "flashcallReturnsCli": False,
    "flashcallReportTimeout": 75,
    "wrongCodeEndsVerification": True,
    "honourCustomCode": True,
    "finishedReportAnswer": "invalid_request",
    "expirySeconds": 600,
    "timestampWindowSeconds": 600,
    "maxBodyBytes": 65536,
}
ALL_SWITCHES = {
    "flashcallReturnsCli": True,
    "flashcallReportTimeout": 20,
    "wrongCodeEndsVerification": False,
    "honourCustomCode": False,
    "finishedReportAnswer": "not_found",
    "expirySeconds": 5,
    "timestampWindowSeconds": 30,
}


def test_config_toggles_at_runtime(api: Api, sandbox: SandboxServer) -> None:
    assert api.control("GET", "config").json() == DEFAULT_CONFIG_VIEW
    view = api.control("POST", "config", ALL_SWITCHES).json()
    assert view == {**DEFAULT_CONFIG_VIEW, **ALL_SWITCHES}
    assert api.control("GET", "config").json() == view
    assert sandbox.config.finished_report_answer == "not_found"
    flash = api.started(method="flashcall")["flashCall"]
    assert (flash["reportTimeout"], "cli" in flash) == (20, True)
    sms = api.started("+46700000001")
    assert api.status(f"id/{sms['id']}").json()["status"] == "PENDING"
    sandbox.advance_time(5)
    assert api.status(f"id/{sms['id']}").json()["reason"] == "Expired"
    sandbox.configure(flashcall_returns_cli=False, finished_report_answer="status")
    assert api.control("GET", "config").json()["finishedReportAnswer"] == "status"
    assert "cli" not in api.started("+46700000002", method="flashcall")["flashCall"]
    with pytest.raises(TypeError):
        sandbox.configure(colour="blue")
    with pytest.raises(ValueError, match="finished_report_answer"):
        sandbox.configure(finished_report_answer="teapot")


@pytest.mark.parametrize(
    "bad",
    [
        {"expirySeconds": 0},
        {"expirySeconds": "5"},
        {"flashcallReturnsCli": "no"},
        {"flashcallReportTimeout": 0},
        {"flashcallReportTimeout": 7.5},
        {"flashcallReportTimeout": True},
        {"wrongCodeEndsVerification": 1},
        {"honourCustomCode": "false"},
        {"finishedReportAnswer": "teapot"},
        {"finishedReportAnswer": None},
        {"colour": 1},
    ],
)
def test_bad_config_changes_are_refused_and_change_nothing(api: Api, bad: dict[str, Any]) -> None:
    response = api.control("POST", "config", {"flashcallReturnsCli": True, **bad})
    assert response.status_code == 400
    assert response.json()["error"]
    assert api.control("GET", "config").json() == DEFAULT_CONFIG_VIEW


def test_unknown_control_routes_are_json_404s(api: Api) -> None:
    for method, path in (("GET", "nothing"), ("POST", "health"), ("GET", "inbox"), ("GET", "inbox/abc")):
        response = api.control(method, path)
        assert response.status_code in (400, 404)
        assert response.headers["Content-Type"] == "application/json"


# -- banners -----------------------------------------------------------------------------------------


def test_the_command_line_takes_switches_from_the_environment_and_prints_them() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SANDBOX_PORT": str(port),
        "SANDBOX_FLASHCALL_RETURNS_CLI": "true",
        "SANDBOX_FLASHCALL_REPORT_TIMEOUT": "40",
        "SANDBOX_WRONG_CODE_ENDS_VERIFICATION": "0",
        "SANDBOX_HONOUR_CUSTOM_CODE": "no",
        "SANDBOX_FINISHED_REPORT_ANSWER": "status",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sinch_sandbox", "--stop-after", "10"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.rstrip().endswith(
            "mode: flashcallReturnsCli=true flashcallReportTimeout=40 wrongCodeEndsVerification=false "
            "honourCustomCode=false finishedReportAnswer=status"
        ), banner
        config = requests.get(f"http://127.0.0.1:{port}/sandbox/v1/config", timeout=5).json()
        assert (config["flashcallReportTimeout"], config["finishedReportAnswer"]) == (40, "status")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate(timeout=10)


def test_make_run_prints_the_sandbox_mode() -> None:
    from local_stack.__main__ import _sinch_lines

    config = SandboxConfig(finished_report_answer="not_found")
    stack = SimpleNamespace(sandbox=SimpleNamespace(url="http://127.0.0.1:3001", config=config))
    lines = _sinch_lines(cast(Any, stack))
    assert lines[-1].split() == [
        "Sinch",
        "mode",
        "flashcallReturnsCli=false",
        "flashcallReportTimeout=75",
        "wrongCodeEndsVerification=true",
        "honourCustomCode=true",
        "finishedReportAnswer=not_found",
    ]
    assert "application key 'sandbox-key'" in lines[0]
    assert _sinch_lines(cast(Any, SimpleNamespace(sandbox=None, sinch_base_url="https://x")))[0].split()[
        :2
    ] == [
        "Sinch",
        "https://x",
    ]


# -- connections -------------------------------------------------------------------------------------


def test_one_keep_alive_connection_serves_many_requests_including_errors(sandbox: SandboxServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        body = json.dumps(_start_body()).encode()
        exchanges = [
            ("POST", V, body, sign("POST", V, body, "application/json")),
            ("POST", V, b"{oops", {}),
            ("GET", "/verification/v1/nowhere", b"", {}),
            ("GET", "/sandbox/v1/health", b"", {}),
            ("POST", V, body, sign("POST", V, body, "application/json")),
        ]
        sockets = set()
        for method, path, payload, headers in exchanges:
            connection.request(method, path, body=payload or None, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.getheader("Content-Length") is not None
            assert response.getheader("Connection") != "close"
            sockets.add(id(connection.sock))
        assert len(sockets) == 1
        assert [e["status"] for e in sandbox.requests_log()] == [200, 401, 404, 200]
    finally:
        connection.close()


def test_parallel_clients_are_served_consistently(api: Api, sandbox: SandboxServer) -> None:
    numbers = [f"+4670000{i:04d}" for i in range(20)]
    statuses: list[int] = []

    def run(number: str) -> None:
        with requests.Session() as session:
            body = json.dumps(_start_body(identity={"type": "number", "endpoint": number})).encode()
            response = session.post(
                api.base + V, data=body, headers=sign("POST", V, body, "application/json")
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=run, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 20
    assert all(len(sandbox.inbox(n)["messages"]) == 1 for n in numbers)


def test_stop_closes_idle_keep_alive_connections() -> None:
    with SandboxServer() as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/sandbox/v1/health")
        connection.getresponse().read()
    started = time.monotonic()
    assert connection.sock is not None
    assert connection.sock.recv(1) == b""  # the server hung up rather than leaving the socket open
    assert time.monotonic() - started < 1
    connection.close()


def _raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(data)
        chunks = []
        while chunk := raw.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
