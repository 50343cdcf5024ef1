"""The sandbox's signature check is the oracle for every Sinch client in this project, so it must agree
with Sinch's published test vectors (reference §5.4) and must refuse anything that is not exactly right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from sinch_sandbox import SandboxConfig
from sinch_sandbox.auth import (
    authenticate,
    compute_signature,
    content_md5,
    decode_secret,
    parse_timestamp,
    signature_matches,
)
from tests.signing_vectors import V3_SECRET, VECTORS

IDS = [v[0] for v in VECTORS]


class Vector(NamedTuple):
    name: str
    secret: str
    method: str
    content_type: str
    timestamp: str
    path: str
    body: bytes
    md5: str
    signature: str


@pytest.mark.parametrize("vector", [Vector(*v) for v in VECTORS], ids=IDS)
def test_published_vectors_are_reproduced_and_accepted(vector: Vector) -> None:
    assert content_md5(vector.body) == vector.md5
    computed = compute_signature(
        vector.secret,
        method=vector.method,
        body=vector.body,
        content_type=vector.content_type,
        timestamp=vector.timestamp,
        path=vector.path,
    )
    assert computed == vector.signature
    assert signature_matches(
        vector.secret,
        vector.signature,
        method=vector.method,
        body=vector.body,
        content_type=vector.content_type,
        timestamp=vector.timestamp,
        target=vector.path,
    )


def _tampered(
    vector: tuple[str, str, str, str, str, str, bytes, str, str],
) -> list[tuple[str, dict[str, object]]]:
    _, secret, method, content_type, timestamp, path, body, _, signature = vector
    base: dict[str, object] = {
        "secret": secret,
        "signature": signature,
        "method": method,
        "body": body,
        "content_type": content_type,
        "timestamp": timestamp,
        "target": path,
    }
    return [
        ("verb", {**base, "method": "PUT" if method != "PUT" else "POST"}),
        ("body", {**base, "body": body + b" "}),
        ("content type", {**base, "content_type": content_type + ";x" if content_type else "text/plain"}),
        ("timestamp", {**base, "timestamp": timestamp.replace("20", "21", 1)}),
        ("path", {**base, "target": path + "x"}),
        ("secret", {**base, "secret": "d3Jvbmctc2VjcmV0"}),
        ("signature", {**base, "signature": signature[:-2] + ("A=" if signature[-2] != "A" else "B=")}),
        ("lower-case verb", {**base, "method": method.lower()}),
    ]


@pytest.mark.parametrize(
    ("name", "changes"),
    [(f"{vector[0]}: {what}", changes) for vector in VECTORS for what, changes in _tampered(vector)],
)
def test_any_change_to_a_signed_request_is_rejected(name: str, changes: dict[str, object]) -> None:
    secret = changes.pop("secret")
    signature = changes.pop("signature")
    assert isinstance(secret, str)
    assert isinstance(signature, str)
    assert not signature_matches(secret, signature, **changes)  # type: ignore[arg-type]


def test_lenient_secret_decoding_matches_node_and_java() -> None:
    assert decode_secret("app-secret").hex() == "6a9a7eb1e72b7a"
    assert decode_secret("9876543210") == decode_secret("9876543210==")
    assert decode_secret("c2FuZGJveC1zZWNyZXQ") == b"sandbox-secret"


def test_the_percent_decoded_path_is_accepted_as_well_as_the_raw_one() -> None:
    """Java signs the decoded path, Node and Python the raw one; both spellings of '+' must verify."""
    signed_decoded = compute_signature(
        V3_SECRET,
        method="GET",
        body=b"",
        content_type="",
        timestamp="2014-06-04T13:41:58Z",
        path="/verification/v1/verifications/sms/number/+46700000000",
    )
    assert signature_matches(
        V3_SECRET,
        signed_decoded,
        method="GET",
        body=b"",
        content_type="",
        timestamp="2014-06-04T13:41:58Z",
        target="/verification/v1/verifications/sms/number/%2B46700000000",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-22T09:10:11.999Z", datetime(2023, 11, 22, 9, 10, 11, 999000, UTC)),
        ("2024-01-19T09:19:28.9372196Z", datetime(2024, 1, 19, 9, 19, 28, 937219, UTC)),
        ("2024-01-19T09:19:28.937219+00:00", datetime(2024, 1, 19, 9, 19, 28, 937219, UTC)),
        ("2014-06-04T13:41:58Z", datetime(2014, 6, 4, 13, 41, 58, tzinfo=UTC)),
        ("2024-01-19T11:19:28+02:00", datetime(2024, 1, 19, 9, 19, 28, tzinfo=UTC)),
        ("2024-01-19T09:19:28.5", datetime(2024, 1, 19, 9, 19, 28, 500000, UTC)),
    ],
)
def test_timestamps_in_every_client_format_are_understood(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-01-19", "1705655968"])
def test_unparsable_timestamps_are_refused(text: str) -> None:
    assert parse_timestamp(text) is None


NOW = datetime(2024, 1, 19, 9, 19, 28, tzinfo=UTC)
CONFIG = SandboxConfig(application_key="my-key-id", application_secret="bXkta2V5LXNlY3JldA==")


def _auth(
    authorization: str | None, timestamp: str | None = "2024-01-19T09:19:28Z", **kw: object
) -> tuple[str, int | None]:
    body = kw.get("body", b"{}")
    assert isinstance(body, bytes)
    result = authenticate(
        CONFIG,
        method="POST",
        target="/verification/v1/verifications",
        body=body,
        authorization=authorization,
        x_timestamp=timestamp,
        content_type="application/json",
        now=NOW,
    )
    return result.scheme, None if result.error is None else result.error.error_code


def _signed(
    timestamp: str = "2024-01-19T09:19:28Z", key: str = "my-key-id", scheme: str = "Application"
) -> str:
    signature = compute_signature(
        CONFIG.application_secret,
        method="POST",
        body=b"{}",
        content_type="application/json",
        timestamp=timestamp,
        path="/verification/v1/verifications",
    )
    return f"{scheme} {key}:{signature}"


def test_authentication_outcomes_follow_sinchs_error_codes() -> None:
    assert _auth(_signed()) == ("application", None)
    assert _auth(_signed(scheme="application")) == ("application", None)
    assert _auth(None) == ("none", 40100)
    assert _auth("Bearer abc") == ("unknown", 40100)
    assert _auth("Application my-key-id") == ("public", 40301)
    assert _auth(_signed(), timestamp=None) == ("application", 40101)
    assert _auth(_signed(), timestamp="garbage") == ("application", 40101)
    assert _auth(_signed(key="other-key")) == ("application", 40102)
    assert _auth(_signed(), body=b"{ }") == ("application", 40102)
    assert _auth("Basic bXkta2V5LWlkOmJYa3RhMlY1TFhObFkzSmxkQT09") == ("basic", None)  # my-key-id:<secret>
    assert _auth("Basic d3Jvbmc6Y3JlZGVudGlhbHM=") == ("basic", 40108)
    assert _auth("Basic not*base64") == ("basic", 40100)


def test_the_timestamp_window_is_enforced_both_ways() -> None:
    window = CONFIG.timestamp_window_seconds
    inside = (NOW - timedelta(seconds=window - 1)).isoformat()
    too_old = (NOW - timedelta(seconds=window + 1)).isoformat()
    too_new = (NOW + timedelta(seconds=window + 1)).isoformat()
    assert _auth(_signed(inside), timestamp=inside) == ("application", None)
    assert _auth(_signed(too_old), timestamp=too_old) == ("application", 40101)
    assert _auth(_signed(too_new), timestamp=too_new) == ("application", 40101)
