"""AWS failures at the client boundary (botocore's Stubber): clear errors, nothing counted twice."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from phone_verification.errors import InternalError, ServiceUnavailable
from phone_verification.limits import Limit
from phone_verification.model import Method, Status, VerificationRecord
from phone_verification.ports import BudgetAsk
from phone_verification.settings import ConfigurationError
from phone_verification.sinch_secret import SecretsManagerCredentials
from phone_verification.store import VerificationStore

ARN = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:sinch-AbCdEf"
RECORD = VerificationRecord(
    id="v1",
    method=Method.SMS,
    status=Status.PENDING,
    attempts=0,
    max_attempts=5,
    created_at=1,
    expires_at=601,
    masked_number="+46*******01",
    number_hash="n",
    owner_hash="o",
    checked_by="service",
)


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def secretsmanager() -> Any:
    return boto3.client(
        "secretsmanager", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


class TestDynamoDB:
    @pytest.mark.parametrize(
        "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
    )
    def test_throttling_is_a_retryable_503_and_nothing_else_is_written(self, code: str) -> None:
        client = dynamodb()
        store = VerificationStore("t", client)
        with Stubber(client) as stub:
            stub.add_client_error("transact_write_items", service_error_code=code, http_status_code=400)
            with pytest.raises(ServiceUnavailable) as caught:
                store.reserve_send(None, [BudgetAsk("number", "h", Limit(5, 600, 30))], now=1000)
            stub.assert_no_pending_responses()
        assert caught.value.retry_after == 1

    def test_an_attempt_is_not_counted_when_the_write_is_throttled(self) -> None:
        client = dynamodb()
        store = VerificationStore("t", client)
        with Stubber(client) as stub:
            stub.add_client_error("update_item", service_error_code="ProvisionedThroughputExceededException")
            with pytest.raises(ServiceUnavailable):
                store.count_attempt("v1", owner_hash="o", now=1000)
            stub.assert_no_pending_responses()  # exactly one write tried, and it did not apply

    def test_a_transaction_cancelled_by_throttling_is_retryable(self) -> None:
        client = dynamodb()
        store = VerificationStore("t", client)
        with Stubber(client) as stub:
            stub.add_client_error(
                "transact_write_items",
                service_error_code="TransactionCanceledException",
                modeled_fields={"CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}]},
            )
            with pytest.raises(ServiceUnavailable):
                store.create(RECORD, replaces=None)
            stub.assert_no_pending_responses()

    def test_a_validation_error_is_an_internal_error(self) -> None:
        client = dynamodb()
        store = VerificationStore("t", client)
        with Stubber(client) as stub:
            stub.add_client_error("get_item", service_error_code="ValidationException")
            with pytest.raises(InternalError):
                store.get("v1")


class TestSecretsManager:
    def provider(self, client: Any) -> SecretsManagerCredentials:
        return SecretsManagerCredentials(ARN, client=client, max_age=300)

    @pytest.mark.parametrize(
        "code", ["ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"]
    )
    def test_a_missing_or_unreadable_secret_is_a_configuration_error_naming_it(self, code: str) -> None:
        client = secretsmanager()
        with Stubber(client) as stub:
            stub.add_client_error("get_secret_value", service_error_code=code)
            with pytest.raises(ConfigurationError, match=code):
                self.provider(client).get()

    def test_throttling_is_retryable(self) -> None:
        client = secretsmanager()
        with Stubber(client) as stub:
            stub.add_client_error("get_secret_value", service_error_code="ThrottlingException")
            with pytest.raises(ServiceUnavailable):
                self.provider(client).get()

    @pytest.mark.parametrize(
        ("secret", "message"),
        [
            ("not json", "not valid JSON"),
            ('["a"]', "JSON object"),
            ('{"applicationKey": "k"}', "applicationSecret"),
            (
                '{"applicationKey": "REPLACE_WITH_SINCH_APPLICATION_KEY", "applicationSecret": "s"}',
                "applicationKey",
            ),
        ],
    )
    def test_a_malformed_secret_says_which_field_without_showing_values(
        self, secret: str, message: str
    ) -> None:
        client = secretsmanager()
        with Stubber(client) as stub:
            stub.add_response(
                "get_secret_value",
                {"ARN": ARN, "Name": "sinch", "SecretString": secret, "VersionId": "v" * 32},
            )
            with pytest.raises(ConfigurationError, match=message) as caught:
                self.provider(client).get()
        assert "REPLACE" not in str(caught.value)

    def test_the_secret_is_cached_and_refetched_only_when_forced(self) -> None:
        client = secretsmanager()
        value = {"applicationKey": "k", "applicationSecret": "c2VjcmV0", "hashKey": "h" * 32}
        with Stubber(client) as stub:
            for _ in range(2):
                stub.add_response(
                    "get_secret_value",
                    {"ARN": ARN, "Name": "sinch", "SecretString": json.dumps(value), "VersionId": "v" * 32},
                )
            provider = self.provider(client)
            first = provider.get()
            assert provider.get() == first  # cached: no second call
            assert provider.get(force_refresh=True) == first  # forced: the second stubbed response
            stub.assert_no_pending_responses()
        assert provider.hash_key() == b"h" * 32
