"""The client's request signing matches every published Sinch test vector (reference §5.4, V1-V9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from phone_verification.sinch import Credentials
from phone_verification.sinch.signing import (
    application_headers,
    basic_headers,
    content_md5,
    decode_secret,
    format_timestamp,
    signature,
)

V3_KEY = "669E367E-6BBA-48AB-AF15-266871C28135"
V3_SECRET = "BeIukql3pTKJ8RGL5zo0DA=="

# (name, secret, verb, content type, timestamp, path, body, expected Content-MD5, expected signature)
VECTORS = [
    (
        "V1 Java+Node SDK tests",
        "bXkta2V5LXNlY3JldA==",
        "POST",
        "application/json; charset=UTF-8",
        "2023-11-22T09:10:11.999Z",
        "/path/pathParamValue",
        b'{"identity":{"type":"number","endpoint":"+33444555666"},"method":"sms"}',
        "RkD29EocJh6t7zr5QfKM4g==",
        "QP3OzQZVzRZAEev6DBLvJkgpiqyZPuXYsc7oyjUV0K8=",
    ),
    (
        "V2 Node SDK, no body",
        "bXkta2V5LXNlY3JldA==",
        "GET",
        "application/json",
        "2023-11-22T09:10:11.999Z",
        "/path/pathParamValue",
        b"",
        "",
        "nsrLDvP6KVD/dAxb3IfAncdwjPFJVWSrseEFOcZge+A=",
    ),
    (
        "V3 .NET SDK",
        V3_SECRET,
        "POST",
        "application/json",
        "2014-06-04T13:41:58Z",
        "/verification/v1/verifications",
        b'{"identity": {"type": "number", "endpoint": "+46700000000"}, "method": "sms"}',
        "c5jl2EZiU6BpQ2QiBOJ/gQ==",
        "h6rXrFayOoggyHW4ymnLlfSDkZZPg6j98lHzvOXVjvw=",
    ),
    (
        "V4 .NET SDK, empty body",
        V3_SECRET,
        "POST",
        "application/json",
        "2014-06-04T13:41:58Z",
        "/verification/v1/verifications",
        b"",
        "",
        "srx3SkKXw/ryFJLfwFFzZTigPxR/1+9Ae+eB3olDIjM=",
    ),
    (
        "V5 2021 docs",
        "JViE5vDor0Sw3WllZka15Q==",
        "POST",
        "application/json",
        "2014-06-04T13:41:58Z",
        "/v1/sms/+46700000000",
        b'{"message":"Hello world"}',
        "jANzQ+rgAHyf1MWQFSwvYw==",
        "qDXMwzfaxCRS849c/2R0hg0nphgdHciTo7OdM6MsdnM=",
    ),
    (
        "V6 callback signing",
        V3_SECRET,
        "POST",
        "application/json",
        "2014-09-24T10:59:41Z",
        "/sinch/callback/ace",
        b'{"event":"ace","callid":"822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257",'
        b'"timestamp":"2014-09-24T10:59:41Z","version":1}',
        "REWF+X220L4/Gw1spXOU7g==",
        "Tg6fMyo8mj9pYfWQ9ssbx3Tc1BNC87IEygAfLbJqZb4=",
    ),
    (
        "V7 Java SDK callback, unpadded secret",
        "9876543210",
        "POST",
        "application/json; charset=utf-8",
        "2023-12-01T15:01:20.0406449Z",
        "/VerificationRequestEvent",
        b'{"id":"018c25e1-7163-5677-b8fb-467d7b1cffa5","event":"VerificationResultEvent","method":"sms",'
        b'"identity":{"verified":false,"type":"number","endpoint":"+33628254417"},"status":"FAIL",'
        b'"reason":"Expired"}',
        "COfYO/MKetfU00r0d5TxkA==",
        "xfKhO0XvlRNJraahUBEJzzi1f3Fn3pYO41/ZzwOHPaQ=",
    ),
    (
        "V8 Node SDK, non-canonical secret",
        "app-secret",
        "POST",
        "application/json; charset=utf-8",
        "2024-01-19T09:19:28.9372196Z",
        "/webhook",
        b'{"id":"018d2104-aaa-bbbb-1234","price":{"amount":0.0308},"rate":{"amount":0.0}}',
        "zvgV0+i8tMaEPl5sArRgSg==",
        "p7hUz20oz16Fhfogs4Z0X+VA/Nhuu505I1alXYqwlKw=",
    ),
    (
        "V9a derived GET, no Content-Type",
        V3_SECRET,
        "GET",
        "",
        "2014-06-04T13:41:58Z",
        "/verification/v1/verifications/id/1234567890",
        b"",
        "",
        "GuPRq+xOeg2rk+3Fy5mmNIPyf7yxjgA8FxjbViNk5xw=",
    ),
    (
        "V9b derived GET, application/json",
        V3_SECRET,
        "GET",
        "application/json",
        "2014-06-04T13:41:58Z",
        "/verification/v1/verifications/id/1234567890",
        b"",
        "",
        "EvjHUpHDV/clv/9eZBAG5ifqkAkav4taa7Kc5J6fW9k=",
    ),
]


@pytest.mark.parametrize(
    ("secret", "verb", "content_type", "timestamp", "path", "body", "md5", "expected"),
    [vector[1:] for vector in VECTORS],
    ids=[vector[0] for vector in VECTORS],
)
def test_signature_matches_published_vector(  # noqa: PLR0917 - one argument per vector column
    secret: str, verb: str, content_type: str, timestamp: str, path: str, body: bytes, md5: str, expected: str
) -> None:
    assert content_md5(body) == md5
    assert (
        signature(secret, verb=verb, body=body, content_type=content_type, timestamp=timestamp, path=path)
        == expected
    )


def test_application_headers_form_the_authorization_header_sinch_expects() -> None:
    # Given V1's inputs, when the client builds its headers, then they equal the Java/Node SDK tests'.
    headers = application_headers(
        Credentials("my-key-id", "bXkta2V5LXNlY3JldA=="),
        verb="POST",
        body=b'{"identity":{"type":"number","endpoint":"+33444555666"},"method":"sms"}',
        content_type="application/json; charset=UTF-8",
        path="/path/pathParamValue",
        timestamp="2023-11-22T09:10:11.999Z",
    )
    assert headers == {
        "Authorization": "Application my-key-id:QP3OzQZVzRZAEev6DBLvJkgpiqyZPuXYsc7oyjUV0K8=",
        "x-timestamp": "2023-11-22T09:10:11.999Z",
    }


def test_basic_header_uses_the_secret_as_text() -> None:
    expected = "NjY5RTM2N0UtNkJCQS00OEFCLUFGMTUtMjY2ODcxQzI4MTM1OkJlSXVrcWwzcFRLSjhSR0w1em8wREE9PQ=="
    assert basic_headers(Credentials(V3_KEY, V3_SECRET)) == {"Authorization": f"Basic {expected}"}


def test_one_changed_byte_changes_the_signature() -> None:
    base = {
        "verb": "POST",
        "content_type": "application/json",
        "timestamp": "2014-06-04T13:41:58Z",
        "path": "/p",
    }
    assert signature(V3_SECRET, body=b'{"a":1}', **base) != signature(V3_SECRET, body=b'{"a":2}', **base)


@pytest.mark.parametrize(
    ("secret", "decoded"),
    [
        ("c2FuZGJveC1zZWNyZXQ=", b"sandbox-secret"),
        ("c2FuZGJveC1zZWNyZXQ", b"sandbox-secret"),  # padding lost when copied by hand
        (" c2FuZGJveC1z\nZWNyZXQ= ", b"sandbox-secret"),
        ("app-secret", bytes.fromhex("6a9a7eb1e72b7a")),  # Node's decoding of the URL-safe alphabet
    ],
)
def test_secret_decoding_is_as_lenient_as_sinchs_sdks(secret: str, decoded: bytes) -> None:
    assert decode_secret(secret) == decoded


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2023, 11, 22, 9, 10, 11, 999_999, tzinfo=UTC), "2023-11-22T09:10:11.999Z"),
        (
            datetime(2023, 11, 22, 10, 10, 11, 5_000, tzinfo=timezone(timedelta(hours=1))),
            "2023-11-22T09:10:11.005Z",
        ),
    ],
)
def test_timestamp_is_utc_with_milliseconds(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text
