"""Sinch's published request-signing test vectors (../shared/sinch-verification-api.md §5.4, V1-V9).

Shared by the client's and the sandbox's signing tests: both implementations, written independently,
must reproduce every one of them.
"""

from __future__ import annotations

V3_KEY = "669E367E-6BBA-48AB-AF15-266871C28135"
V3_SECRET = "BeIukql3pTKJ8RGL5zo0DA=="

# (name, secret, method, content type, x-timestamp, path, body, Content-MD5, signature)
VECTORS = [
    (
        "V1",
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
        "V2",
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
        "V3",
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
        "V4",
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
        "V5",
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
        "V6",
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
        # The secret is not padded base64; Java and Node decode it leniently as "9876543210==".
        "V7",
        "9876543210",
        "POST",
        "application/json; charset=utf-8",
        "2023-12-01T15:01:20.0406449Z",
        "/VerificationRequestEvent",
        b'{"id":"018c25e1-7163-5677-b8fb-467d7b1cffa5","event":"VerificationResultEvent","method":"sms",'
        b'"identity":{"verified":false,"type":"number","endpoint":"+33628254417"},'
        b'"status":"FAIL","reason":"Expired"}',
        "COfYO/MKetfU00r0d5TxkA==",
        "xfKhO0XvlRNJraahUBEJzzi1f3Fn3pYO41/ZzwOHPaQ=",
    ),
    (
        # "app-secret" is not base64 at all; Node maps '-' to '+' and drops the odd trailing bits.
        "V8",
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
        "V9 without Content-Type",
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
        "V9 with Content-Type",
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
