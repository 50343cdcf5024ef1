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
from tests.signing_vectors import V3_KEY, V3_SECRET, VECTORS


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
