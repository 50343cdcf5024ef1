"""Opt-in: checks against a deployed stack (`sam deploy`), over its real API with SigV4 (ApiAuth=IAM).

Set E2E_API_URL to the stack's ApiUrl output and have AWS credentials allowed to call it
(execute-api:Invoke). Without E2E_PHONE_NUMBER nothing is sent through Sinch: only answers that need no
SMS are checked. With it (a phone you hold), one real verification is started. Run: `make test-e2e`.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

API_URL = os.environ.get("E2E_API_URL", "").rstrip("/")
PHONE = os.environ.get("E2E_PHONE_NUMBER")
pytestmark = pytest.mark.skipif(not API_URL, reason="set E2E_API_URL to a deployed stack's ApiUrl to run")


def call(method: str, path: str, body: Any = None, *, sign: bool = True) -> requests.Response:
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{API_URL}{path}"
    data = json.dumps(body) if body is not None else None
    headers = {"content-type": "application/json"} if data else {}
    if sign:
        session = boto3.Session()
        host = urlsplit(API_URL).hostname or ""
        # https://{api-id}.execute-api.{region}.amazonaws.com
        region = host.split(".")[2] if ".execute-api." in host else session.region_name
        credentials = session.get_credentials()
        assert credentials is not None, "E2E tests need AWS credentials that may call the API"
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials, "execute-api", region).add_auth(request)
        headers = dict(request.headers.items())
    return requests.request(method, url, data=data, headers=headers, timeout=30)


def test_unsigned_calls_are_refused_by_the_api() -> None:
    assert call("POST", "/verifications", {"phoneNumber": "+46700000001"}, sign=False).status_code == 403


def test_bad_number_is_a_422_problem() -> None:
    response = call("POST", "/verifications", {"phoneNumber": "+4813"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_request"


def test_unknown_verification_is_not_found() -> None:
    response = call("GET", "/verifications/00000000-0000-0000-0000-000000000000")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.skipif(not PHONE, reason="set E2E_PHONE_NUMBER (a phone you hold) to send one real SMS")
def test_real_start_and_status() -> None:
    started = call("POST", "/verifications", {"phoneNumber": PHONE})
    assert started.status_code == 201, started.text
    status = call("GET", f"/verifications/{started.json()['id']}")
    assert status.json()["status"] == "PENDING"
