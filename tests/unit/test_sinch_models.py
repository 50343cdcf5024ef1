"""Request bodies the client sends and how tolerantly it reads what Sinch answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from phone_verification.sinch import (
    CalloutStart,
    CliReport,
    CodeReport,
    CodeType,
    FlashcallStart,
    Method,
    ReportResult,
    SinchUnavailable,
    SmsStart,
    StartResult,
    Status,
    StatusResult,
    WhatsappStart,
)

NUMBER = "+46700000000"


class TestStartBodies:
    def test_sms_with_every_option(self) -> None:
        request = SmsStart(
            number=NUMBER,
            code="123456",
            expiry_seconds=3723,
            code_type=CodeType.NUMERIC,
            locale="sv-SE",
            reference="ref-1",
            custom="c",
        )
        assert request.body() == {
            "identity": {"type": "number", "endpoint": NUMBER},
            "method": "sms",
            "reference": "ref-1",
            "custom": "c",
            "smsOptions": {"code": "123456", "expiry": "01:02:03", "codeType": "Numeric"},
        }
        # The language travels as a header, never in the body (as in Sinch's Java and Node SDKs).
        assert request.headers() == {"Accept-Language": "sv-SE"}

    def test_plain_sms_sends_empty_options_and_no_language(self) -> None:
        request = SmsStart(number=NUMBER)
        assert request.body() == {
            "identity": {"type": "number", "endpoint": NUMBER},
            "method": "sms",
            "smsOptions": {},
        }
        assert request.headers() == {}

    def test_flashcall_timeouts(self) -> None:
        assert FlashcallStart(number=NUMBER, dial_timeout=17, interception_timeout=23).body() == {
            "identity": {"type": "number", "endpoint": NUMBER},
            "method": "flashcall",
            "flashCallOptions": {"dialTimeout": 17, "interceptionTimeout": 23},
        }

    @pytest.mark.parametrize("timeout", [4, 121])
    def test_flashcall_timeout_outside_sinchs_bounds_is_refused_before_sending(self, timeout: int) -> None:
        with pytest.raises(ValueError, match="dialTimeout"):
            FlashcallStart(number=NUMBER, dial_timeout=timeout).body()

    def test_callout_speech_locale(self) -> None:
        assert CalloutStart(number=NUMBER, locale="fr-FR").body()["calloutOptions"] == {
            "speech": {"locale": "fr-FR"}
        }

    def test_whatsapp_code_type(self) -> None:
        body = WhatsappStart(number=NUMBER, code_type=CodeType.ALPHANUMERIC).body()
        assert body["method"] == "whatsapp"
        assert body["whatsappOptions"] == {"codeType": "Alphanumeric"}

    @pytest.mark.parametrize("seconds", [0, 24 * 3600])
    def test_sms_expiry_must_fit_hh_mm_ss(self, seconds: int) -> None:
        with pytest.raises(ValueError, match="expiry"):
            SmsStart(number=NUMBER, expiry_seconds=seconds).body()


class TestReportBodies:
    @pytest.mark.parametrize("method", [Method.SMS, Method.CALLOUT, Method.WHATSAPP])
    def test_code_report(self, method: Method) -> None:
        assert CodeReport(method, "1234").body() == {"method": method.value, method.value: {"code": "1234"}}

    def test_flashcall_report_uses_the_seeds_lowercase_key(self) -> None:
        assert CliReport("+18156540001").body() == {
            "method": "flashcall",
            "flashcall": {"cli": "+18156540001"},
        }

    def test_a_flashcall_cannot_be_reported_with_a_code(self) -> None:
        with pytest.raises(ValueError, match="CliReport"):
            CodeReport(Method.FLASHCALL, "1234")

    def test_reprs_hide_the_code_and_cli(self) -> None:
        assert "1234" not in repr(CodeReport(Method.SMS, "1234"))
        assert "8156" not in repr(CliReport("+18156540001"))


LINKS = [
    {"rel": "status", "href": "https://h/verification/v1/verifications/id/x", "method": "GET"},
    {"rel": "report", "href": "https://h/verification/v1/verifications/id/x", "method": "PUT"},
]


class TestStartResult:
    def test_sms_fixture_from_sinchs_node_sdk(self) -> None:
        result = StartResult.from_json(
            {
                "id": "018bdf5b-8e85-1d11-d2ed-710fb8a2861f",
                "method": "sms",
                "sms": {
                    "template": "Your verification code is {{CODE}}. Verified by Sinch",
                    "interceptionTimeout": 298,
                },
                "_links": LINKS,
            },
            requested=Method.SMS,
            content_language="en-US",
        )
        assert result.id == "018bdf5b-8e85-1d11-d2ed-710fb8a2861f"
        assert result.method is Method.SMS
        assert result.sms is not None
        assert result.sms.interception_timeout == 298
        assert [link.rel for link in result.links] == ["status", "report"]
        assert result.content_language == "en-US"

    @pytest.mark.parametrize("key", ["flashCall", "flashcall"])
    def test_flashcall_under_either_key_and_method_in_any_case(self, key: str) -> None:
        result = StartResult.from_json(
            {
                "id": "1ce0ffee",
                "method": "flashCall",
                key: {
                    "cliFilter": "(.*)8156(.*)",
                    "interceptionTimeout": 45,
                    "reportTimeout": 75,
                    "denyCallAfter": 0,
                    "callId": "1ce0ffee",
                    "cli": "+18156540001",
                    "somethingNew": {"x": 1},
                },
                "_links": LINKS,
                "earlyReject": False,
            },
            requested=Method.FLASHCALL,
        )
        assert result.method is Method.FLASHCALL
        assert result.flashcall is not None
        assert result.flashcall.cli_filter == "(.*)8156(.*)"
        assert result.flashcall.report_timeout == 75
        assert result.flashcall.cli == "+18156540001"
        assert "8156540001" not in repr(result)

    @pytest.mark.parametrize(
        ("body", "polling"),
        [
            ({"id": "c1", "method": "callout", "_links": LINKS}, None),
            ({"id": "c1", "method": "callout", "callout": {}}, None),
            (
                {
                    "id": "c1",
                    "method": "callout",
                    "callout": {"startPollingAfter": 3, "stopPollingAfter": 30},
                },
                3,
            ),
        ],
    )
    def test_callout_current_and_legacy_shapes(self, body: dict[str, object], polling: int | None) -> None:
        result = StartResult.from_json(body, requested=Method.CALLOUT)
        assert result.callout is not None
        assert result.callout.start_polling_after == polling

    def test_missing_optional_fields_and_method(self) -> None:
        result = StartResult.from_json({"id": "w1"}, requested=Method.WHATSAPP)
        assert result.method is Method.WHATSAPP
        assert result.whatsapp is None
        assert result.links == ()

    def test_a_start_without_id_is_an_unusable_answer(self) -> None:
        with pytest.raises(SinchUnavailable):
            StartResult.from_json({"method": "sms"}, requested=Method.SMS)


class TestReportResult:
    def test_flashcall_fail_with_call_complete(self) -> None:
        result = ReportResult.from_json(
            {
                "id": "018beea3",
                "method": "flashcall",
                "status": "FAIL",
                "reason": "Expired",
                "callComplete": True,
            },
            requested=Method.FLASHCALL,
        )
        assert (result.status, result.reason, result.call_complete) == (Status.FAIL, "Expired", True)

    def test_deprecated_fields_are_kept_and_unknown_ones_ignored(self) -> None:
        result = ReportResult.from_json(
            {
                "id": "x",
                "method": "sms",
                "status": "SUCCESSFUL",
                "reference": "r",
                "source": "manual",
                "new": 1,
            },
            requested=Method.SMS,
        )
        assert (result.status, result.reference, result.source) == (Status.SUCCESSFUL, "r", "manual")

    def test_an_unknown_status_or_method_is_kept_as_unknown_as_sinchs_sdks_do(self) -> None:
        result = ReportResult.from_json(
            {"id": "x", "status": "MAYBE", "method": "pigeon"}, requested=Method.SMS
        )
        assert (result.status, result.method) == (Status.UNKNOWN, Method.SMS)


class TestStatusResult:
    def test_flashcall_fixture_from_sinchs_java_sdk(self) -> None:
        result = StatusResult.from_json(
            {
                "id": "the id",
                "method": "flashcall",
                "status": "FAIL",
                "reason": "Fraud",
                "reference": "my reference",
                "identity": {"type": "number", "endpoint": "+34600000000"},
                "countryId": "ES",
                "verificationTimestamp": "2024-05-22T09:38:59.5590437",
                "source": "manual",
                "price": {
                    "verificationPrice": {"currencyId": "EUR", "amount": 3.141516},
                    "terminationPrice": {"currencyId": "EUR", "amount": 6.62607},
                    "billableDuration": 34,
                },
                "callResult": "ANSWERED",
                "callComplete": False,
            }
        )
        assert result.status is Status.FAIL
        assert result.country_id == "ES"
        assert result.verified_at == datetime(2024, 5, 22, 9, 38, 59, 559043, tzinfo=UTC)
        assert result.price is not None
        assert result.price.verification is not None
        assert result.price.verification.amount == pytest.approx(3.141516)
        assert result.price.billable_duration == 34
        assert (result.call_result, result.call_complete) == ("ANSWERED", False)
        # The number is parsed for callers but kept out of the repr that logs and tracebacks show.
        assert result.number == "+34600000000"
        assert "+34600000000" not in repr(result)

    def test_pending_sms_without_price_or_timestamp(self) -> None:
        result = StatusResult.from_json({"id": "s", "method": "sms", "status": "PENDING"})
        assert (result.price, result.verified_at, result.reason) == (None, None, None)

    def test_unreadable_timestamp_is_dropped_not_fatal(self) -> None:
        result = StatusResult.from_json(
            {"id": "s", "method": "sms", "status": "PENDING", "verificationTimestamp": "?"}
        )
        assert result.verified_at is None
