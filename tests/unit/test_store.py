"""The store's contract (``ports.Store``), Given/When/Then, over both implementations: the in-memory fake
the use-case tests run on, and the DynamoDB store over moto's in-process DynamoDB. Passing on both is what
lets the use-case tests trust the fake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws

from phone_verification.errors import InternalError, RateLimited
from phone_verification.model import Method, Status, VerificationRecord
from phone_verification.ports import ConditionFailed, StartReservation, Store
from phone_verification.store import RETENTION_SECONDS, VerificationStore
from tests.fakes import TABLE, make_table
from tests.memory_store import InMemoryStore

NOW = 1_790_000_000
NUMBER = "number-hash"
OWNER = "owner-hash"
SECRET = "secret-hash"
TOKEN = "task-token"
RECORD = VerificationRecord(
    id="v1",
    method=Method.SMS,
    status=Status.PENDING,
    attempts=0,
    max_attempts=3,
    created_at=NOW,
    expires_at=NOW + 600,
    masked_number="+46*******01",
    number_hash=NUMBER,
    owner_hash=OWNER,
    checked_by="service",
    secret_hash=SECRET,
    reference="order-1",
)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """moto's DynamoDB client with the verification table."""
    with mock_aws():
        yield make_table()


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryStore()
    return VerificationStore(TABLE, request.getfixturevalue("dynamodb"))


def reserve(store: Store, now: int, *, key: str = NUMBER, max_starts: int = 3) -> StartReservation:
    return store.reserve("number", key, now=now, max_starts=max_starts, window=600, min_gap=30, keep_for=600)


def refused_for(store: Store, now: int, **limits: Any) -> int:
    """The seconds a refused reservation says to wait."""
    with pytest.raises(RateLimited) as caught:
        reserve(store, now, **limits)
    assert caught.value.retry_after is not None
    return caught.value.retry_after


def created(store: Store, verification_id: str = "v1", **fields: Any) -> VerificationRecord:
    record = replace(RECORD, id=verification_id, **fields)
    store.create(record, supersedes=store.latest_for_number(record.number_hash))
    return record


class TestReserve:
    def test_the_first_start_opens_a_window_with_nothing_before_it(self, store: Store) -> None:
        assert reserve(store, NOW) == StartReservation("number", NUMBER, NOW, None, None, False)

    def test_a_full_window_waits_until_it_ends(self, store: Store) -> None:
        # Given three starts, 30 s apart, in a window of 600 s
        for offset in (0, 30, 60):
            reserve(store, NOW + offset)
        # When a fourth comes at +100 s, then it waits for the window's end
        assert refused_for(store, NOW + 100) == 500

    def test_a_start_inside_the_gap_waits_for_the_rest_of_it(self, store: Store) -> None:
        reserve(store, NOW)
        assert refused_for(store, NOW + 10) == 20

    def test_a_new_window_opens_when_the_old_one_ends(self, store: Store) -> None:
        # Given a full window
        for offset in (0, 30, 60):
            reserve(store, NOW + offset)
        # When the window has ended, then starts count afresh: three more, then the new window is full
        assert reserve(store, NOW + 600).previous_start == NOW + 60
        reserve(store, NOW + 630)
        reserve(store, NOW + 660)
        assert refused_for(store, NOW + 700) == 500

    def test_budgets_are_counted_per_kind_and_key(self, store: Store) -> None:
        reserve(store, NOW, max_starts=1)
        reserve(store, NOW + 30, key="other-number", max_starts=1)
        store.reserve("caller", NUMBER, now=NOW + 30, max_starts=1, window=600)
        assert refused_for(store, NOW + 30, max_starts=1) == 570

    def test_a_released_slot_can_be_taken_again_without_a_gap(self, store: Store) -> None:
        # Given the window's only slot, taken by a start that sent nothing
        taken = reserve(store, NOW, max_starts=1)
        # When it is released, then the next start needs neither a new window nor the gap
        store.release(taken)
        assert reserve(store, NOW + 1, max_starts=1).previous_start is None

    def test_a_release_puts_the_start_before_it_back_as_the_last(self, store: Store) -> None:
        reserve(store, NOW)
        store.release(reserve(store, NOW + 30))
        assert reserve(store, NOW + 40).previous_start == NOW

    def test_a_release_after_a_later_start_gives_nothing_back(self, store: Store) -> None:
        first = reserve(store, NOW, max_starts=2)
        reserve(store, NOW + 30, max_starts=2)
        store.release(first)
        assert refused_for(store, NOW + 60, max_starts=2) == 540

    def test_the_reservation_names_the_numbers_latest_verification(self, store: Store) -> None:
        # Given a verification whose workflow waits on a task token
        reserve(store, NOW)
        created(store, task_token=TOKEN)
        # When the number starts again, then the reservation names it and its waiting workflow
        again = reserve(store, NOW + 30)
        assert (again.previous_id, again.previous_has_task_token) == ("v1", True)
        assert again.previous_start == NOW


class TestCreate:
    def test_a_created_verification_is_the_numbers_latest(self, store: Store) -> None:
        record = created(store)
        assert store.get("v1") == record
        assert store.latest_for_number(NUMBER) == "v1"
        assert store.get("v2") is None
        assert store.latest_for_number("other-number") is None

    def test_a_new_verification_aborts_the_pending_one_it_supersedes(self, store: Store) -> None:
        created(store, "v1")
        newer = created(store, "v2")
        old = store.get("v1")
        assert old is not None
        assert (old.status, old.reason) == (Status.ABORTED, "Superseded")
        assert store.get("v2") == newer
        assert store.latest_for_number(NUMBER) == "v2"

    def test_a_finished_verification_stays_as_it_ended(self, store: Store) -> None:
        created(store, "v1")
        verified = store.succeed_if_matches("v1", secret_hash=SECRET, owner_hash=OWNER, now=NOW)
        created(store, "v2")
        assert store.get("v1") == verified
        assert store.latest_for_number(NUMBER) == "v2"

    def test_superseding_a_verification_that_is_gone_still_creates(self, store: Store) -> None:
        store.create(RECORD, supersedes="gone")
        assert store.get("v1") == RECORD

    def test_an_id_is_created_once(self, store: Store) -> None:
        created(store)
        with pytest.raises(InternalError):
            store.create(replace(RECORD, owner_hash="someone-else"), supersedes=None)
        assert store.get("v1") == RECORD


def refusal(store: Store, **report: Any) -> ConditionFailed:
    fields: dict[str, Any] = {"secret_hash": SECRET, "owner_hash": OWNER, "now": NOW} | report
    with pytest.raises(ConditionFailed) as caught:
        store.succeed_if_matches(fields.pop("verification_id", "v1"), **fields)
    return caught.value


class TestSucceedIfMatches:
    def test_the_right_hash_succeeds_and_uses_an_attempt(self, store: Store) -> None:
        created(store)
        verified = store.succeed_if_matches("v1", secret_hash=SECRET, owner_hash=OWNER, now=NOW + 1)
        assert (verified.status, verified.attempts) == (Status.SUCCESSFUL, 1)
        assert store.get("v1") == verified

    @pytest.mark.parametrize(
        ("stored", "report"),
        [
            ({}, {"secret_hash": "wrong-hash"}),
            ({}, {"owner_hash": "someone-else"}),
            ({}, {"now": NOW + 600}),
            ({"attempts": 3}, {}),
            ({"status": Status.SUCCESSFUL}, {}),
        ],
        ids=["wrong hash", "other owner", "expired", "attempts used up", "already verified"],
    )
    def test_otherwise_nothing_changes_and_the_record_says_why(
        self, store: Store, stored: dict[str, Any], report: dict[str, Any]
    ) -> None:
        record = created(store, **stored)
        assert refusal(store, **report).record == record
        assert store.get("v1") == record

    def test_a_missing_verification_fails_with_no_record(self, store: Store) -> None:
        assert refusal(store, verification_id="gone").record is None


class TestAttempts:
    def test_attempts_are_counted_up_to_the_limit(self, store: Store) -> None:
        created(store)
        counted = [store.count_attempt("v1", owner_hash=OWNER, now=NOW).attempts for _ in range(3)]
        with pytest.raises(ConditionFailed) as caught:
            store.count_attempt("v1", owner_hash=OWNER, now=NOW)
        assert counted == [1, 2, 3]
        assert caught.value.record == replace(RECORD, attempts=3)

    @pytest.mark.parametrize(
        ("verification_id", "owner", "now"),
        [("v1", "someone-else", NOW), ("v1", OWNER, NOW + 600), ("gone", OWNER, NOW)],
        ids=["other owner", "expired", "missing"],
    )
    def test_a_closed_verification_counts_nothing(
        self, store: Store, verification_id: str, owner: str, now: int
    ) -> None:
        created(store)
        with pytest.raises(ConditionFailed):
            store.count_attempt(verification_id, owner_hash=owner, now=now)
        assert store.get("v1") == RECORD

    def test_a_refund_gives_one_attempt_back_and_never_goes_below_zero(self, store: Store) -> None:
        created(store, attempts=1)
        store.refund_attempt("v1")
        store.refund_attempt("v1")
        store.refund_attempt("gone")
        assert store.get("v1") == RECORD

    def test_a_finished_verification_gets_no_refund(self, store: Store) -> None:
        created(store)
        verified = store.succeed_if_matches("v1", secret_hash=SECRET, owner_hash=OWNER, now=NOW)
        store.refund_attempt("v1")
        assert store.get("v1") == verified


class TestFinish:
    def test_a_pending_verification_takes_the_final_status_once(self, store: Store) -> None:
        # Given a pending verification that Sinch denied
        created(store)
        denied = store.finish("v1", status=Status.DENIED, reason="Fraud", now=NOW)
        # When another verdict comes, then it fails with the record as it ended
        with pytest.raises(ConditionFailed) as caught:
            store.finish("v1", status=Status.SUCCESSFUL, reason=None, now=NOW + 1)
        assert (denied.status, denied.reason) == (Status.DENIED, "Fraud")
        assert caught.value.record == denied == store.get("v1")

    def test_a_missing_verification_fails_with_no_record(self, store: Store) -> None:
        with pytest.raises(ConditionFailed) as caught:
            store.finish("gone", status=Status.FAIL, reason="Expired", now=NOW)
        assert caught.value.record is None

    def test_the_sinch_report_flag_is_set_and_cleared(self, store: Store) -> None:
        created(store)
        store.set_sinch_report_pending("v1", True)
        flagged = store.get("v1")
        store.set_sinch_report_pending("v1", False)
        store.set_sinch_report_pending("gone", True)
        assert flagged == replace(RECORD, sinch_report_pending=True)
        assert store.get("v1") == RECORD
        assert store.get("gone") is None


class TestTaskTokens:
    def test_the_token_is_taken_once(self, store: Store) -> None:
        created(store, task_token=TOKEN)
        assert [store.take_task_token("v1") for _ in range(2)] == [TOKEN, None]
        assert store.get("v1") == RECORD
        assert store.take_task_token("gone") is None

    def test_a_token_is_taken_only_in_the_status_asked_for(self, store: Store) -> None:
        # Given a workflow's verification, pending
        created(store, "v1", task_token=TOKEN)
        # When a newer start asks for it only once it is aborted, then it gets it only after superseding
        before = store.take_task_token("v1", status=Status.ABORTED)
        created(store, "v2")
        assert (before, store.take_task_token("v1", status=Status.ABORTED)) == (None, TOKEN)

    def test_a_pending_verification_resumes_the_new_token(self, store: Store) -> None:
        created(store, task_token=TOKEN)
        store.replace_task_token("v1", "retried-token")
        assert store.take_task_token("v1") == "retried-token"

    def test_a_finished_verification_keeps_its_token(self, store: Store) -> None:
        created(store, task_token=TOKEN)
        verified = store.succeed_if_matches("v1", secret_hash=SECRET, owner_hash=OWNER, now=NOW)
        with pytest.raises(ConditionFailed) as caught:
            store.replace_task_token("v1", "retried-token")
        assert caught.value.record == verified == store.get("v1")
        assert verified.task_token == TOKEN


class TestAtRest:
    """What DynamoDB holds: hashes, the masked number and counters; never a number, code or CLI."""

    def test_a_verification_is_stored_as_hashes_and_counters(self, dynamodb: Any) -> None:
        store = VerificationStore(TABLE, dynamodb)
        reserve(store, NOW)
        created(store, task_token=TOKEN)
        items = {item["pk"]["S"]: item for item in dynamodb.scan(TableName=TABLE)["Items"]}
        assert items["verification#v1"] == {
            "pk": {"S": "verification#v1"},
            "id": {"S": "v1"},
            "method": {"S": "sms"},
            "status": {"S": "PENDING"},
            "attempts": {"N": "0"},
            "maxAttempts": {"N": "3"},
            "createdAt": {"N": str(NOW)},
            "expiresAt": {"N": str(NOW + 600)},
            "ttl": {"N": str(NOW + 600 + RETENTION_SECONDS)},
            "maskedNumber": {"S": "+46*******01"},
            "numberHash": {"S": NUMBER},
            "ownerHash": {"S": OWNER},
            "checkedBy": {"S": "service"},
            "secretHash": {"S": SECRET},
            "reference": {"S": "order-1"},
            "taskToken": {"S": TOKEN},
        }
        assert items[f"number#{NUMBER}"] == {
            "pk": {"S": f"number#{NUMBER}"},
            "windowStart": {"N": str(NOW)},
            "starts": {"N": "1"},
            "lastStart": {"N": str(NOW)},
            "ttl": {"N": str(NOW + 600 + RETENTION_SECONDS)},
            "latestId": {"S": "v1"},
            "latestHasTaskToken": {"BOOL": True},
        }
