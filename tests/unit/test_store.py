"""The store's contract (``ports.Store``), Given/When/Then, over both implementations: the in-memory fake
the use-case tests run on, and the DynamoDB store over moto's in-process DynamoDB. Passing on both is what
lets the use-case tests trust the fake."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from phone_verification.errors import InternalError
from phone_verification.limits import Limit
from phone_verification.model import ChannelSwitch, Method, Status, VerificationRecord
from phone_verification.ports import (
    BudgetAsk,
    BudgetRefused,
    ConditionFailed,
    Latest,
    StartReservation,
    Store,
)
from phone_verification.store import RETENTION_SECONDS, VerificationStore
from phone_verification.store_budgets import bucket_name
from tests.fakes import TABLE

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


def reserve(store: Store, now: int, *, key: str = NUMBER, max_starts: int = 3) -> StartReservation:
    """A start's slot of a number's limit: ``max_starts`` in 600 s, 30 s apart."""
    ask = BudgetAsk("number", key, Limit(max_starts, 600, 30), keep_for=600)
    return store.reserve_send(None, [ask], now=now).reservations[0]


def reserve_caller(store: Store, key: str, now: int, limit: Limit) -> StartReservation:
    return store.reserve_send(None, [BudgetAsk("caller", key, limit)], now=now).reservations[0]


def refused_for(store: Store, now: int, **limits: Any) -> tuple[str, int]:
    """Which rule refuses a reservation, and the seconds it says to wait."""
    with pytest.raises(BudgetRefused) as caught:
        reserve(store, now, **limits)
    return caught.value.reached.rule, caught.value.reached.wait


def created(store: Store, verification_id: str = "v1", **fields: Any) -> VerificationRecord:
    record = replace(RECORD, id=verification_id, **fields)
    latest = store.latest_for_number(record.number_hash, record.owner_hash)
    store.create(record, replaces=Latest(latest) if latest else None)
    return record


class TestReserve:
    def test_the_first_start_has_nothing_before_it(self, store: Store) -> None:
        assert reserve(store, NOW) == StartReservation("number", NUMBER, NOW, NOW)

    def test_a_full_window_waits_until_its_oldest_start_leaves_it(self, store: Store) -> None:
        # Given three starts, 30 s apart, in a window of 600 s
        for offset in (0, 30, 60):
            reserve(store, NOW + offset)
        # When a fourth comes at +100 s, then it waits until the first is 600 s old
        assert refused_for(store, NOW + 100) == ("window", 500)

    def test_a_start_inside_the_gap_waits_for_the_rest_of_it(self, store: Store) -> None:
        reserve(store, NOW)
        assert refused_for(store, NOW + 10) == ("gap", 20)

    def test_the_window_slides_so_no_window_of_its_length_holds_more(self, store: Store) -> None:
        # Given a full window: starts at 0, 30 and 60 s
        for offset in (0, 30, 60):
            reserve(store, NOW + offset)
        # When the first start leaves the window (at 600 s), one more fits, and no more until the second
        # leaves (at 630 s): a fixed window would have let three more through at once
        reserve(store, NOW + 600)
        assert refused_for(store, NOW + 629) == ("window", 1)
        reserve(store, NOW + 630)
        assert refused_for(store, NOW + 659) == ("window", 1)
        reserve(store, NOW + 660)
        assert refused_for(store, NOW + 700) == ("window", 500)

    def test_a_large_limit_counts_in_coarser_buckets_and_never_lets_more_through(self, store: Store) -> None:
        # Given a limit of 100 per hour, counted per minute, full: a start every 30 s from a minute's start
        limit, minute = Limit(100, 3600), NOW - NOW % 60
        for second in range(0, 100 * 30, 30):
            reserve_caller(store, "busy", minute + second, limit)
        # When the first start is an hour old, its minute still counts until all of that minute is
        with pytest.raises(BudgetRefused) as caught:
            reserve_caller(store, "busy", minute + 3600, limit)
        assert caught.value.reached.wait == 59
        reserve_caller(store, "busy", minute + 3659, limit)

    def test_limits_are_counted_per_kind_and_key(self, store: Store) -> None:
        reserve(store, NOW, max_starts=1)
        reserve(store, NOW + 30, key="other-number", max_starts=1)
        reserve_caller(store, NUMBER, NOW + 30, Limit(1, 600))
        assert refused_for(store, NOW + 30, max_starts=1) == ("window", 570)

    def test_a_released_slot_can_be_taken_again_without_a_gap(self, store: Store) -> None:
        # Given the window's only slot, taken by a start that sent nothing
        taken = reserve(store, NOW, max_starts=1)
        # When it is released, then the next start needs neither a free slot nor the gap
        store.release(taken)
        reserve(store, NOW + 1, max_starts=1)

    def test_a_release_puts_the_start_before_it_back_as_the_last(self, store: Store) -> None:
        # Given a start, and one 30 s later that sent nothing and gave its slot back
        reserve(store, NOW)
        store.release(reserve(store, NOW + 30))
        # Then the gap counts from the first again: 31 s after it a start fits, and the next waits for it
        reserve(store, NOW + 31)
        assert refused_for(store, NOW + 40) == ("gap", 21)

    def test_a_release_after_a_later_start_gives_the_slot_but_not_the_gap_back(self, store: Store) -> None:
        first = reserve(store, NOW, max_starts=2)
        reserve(store, NOW + 30, max_starts=2)
        store.release(first)
        assert refused_for(store, NOW + 40, max_starts=2) == ("gap", 20)
        reserve(store, NOW + 60, max_starts=2)  # the window holds one start: the first's slot came back

    def test_the_reservation_names_the_owners_latest_verification_only(self, store: Store) -> None:
        # Given a verification whose workflow waits on a task token
        reserve(store, NOW)
        created(store, task_token=TOKEN)
        ask = BudgetAsk("number", NUMBER, Limit(3, 600, 30), keep_for=600)
        # When its owner starts again, then the reservation names it and its waiting workflow
        again = store.reserve_send(None, [ask], now=NOW + 30, latest_for=(NUMBER, OWNER))
        assert again.latest == Latest("v1", True)
        # And when another owner starts for the number, nothing of the first owner's is named
        theirs = store.reserve_send(None, [ask], now=NOW + 60, latest_for=(NUMBER, "someone-else"))
        assert theirs.latest is None


class TestCreate:
    def test_a_created_verification_is_its_owners_latest_for_the_number(self, store: Store) -> None:
        record = created(store)
        assert store.get("v1") == record
        assert store.latest_for_number(NUMBER, OWNER) == "v1"
        assert store.latest_for_number(NUMBER, "someone-else") is None
        assert store.get("v2") is None
        assert store.latest_for_number("other-number", OWNER) is None

    def test_a_new_verification_aborts_the_pending_one_it_replaces(self, store: Store) -> None:
        created(store, "v1", task_token=TOKEN)
        newer = replace(RECORD, id="v2")
        replaced = store.create(newer, replaces=Latest("v1", True))
        old = store.get("v1")
        assert old is not None
        assert (old.status, old.reason) == (Status.ABORTED, "Superseded")
        assert replaced == Latest("v1", True)
        assert store.get("v2") == newer
        assert store.latest_for_number(NUMBER, OWNER) == "v2"

    def test_another_owners_verification_for_the_number_is_left_alone(self, store: Store) -> None:
        mine = created(store, "v1")
        theirs = created(store, "v2", owner_hash="someone-else")
        assert store.get("v1") == mine
        assert store.get("v2") == theirs
        assert (store.latest_for_number(NUMBER, OWNER), store.latest_for_number(NUMBER, "someone-else")) == (
            "v1",
            "v2",
        )

    def test_overlapping_starts_leave_one_pending_and_the_pointer_at_it(self, store: Store) -> None:
        # Given two starts of one owner that both saw v1 as the latest
        created(store, "v1")
        store.create(replace(RECORD, id="v2"), replaces=Latest("v1"))
        # When the slower one is stored last, then it replaces the one the pointer has moved to
        replaced = store.create(replace(RECORD, id="v3"), replaces=Latest("v1"))
        statuses = {vid: record.status for vid in ("v1", "v2", "v3") if (record := store.get(vid))}
        assert statuses == {"v1": Status.ABORTED, "v2": Status.ABORTED, "v3": Status.PENDING}
        assert replaced == Latest("v2")
        assert store.latest_for_number(NUMBER, OWNER) == "v3"

    def test_a_finished_verification_stays_as_it_ended(self, store: Store) -> None:
        created(store, "v1")
        verified = store.succeed_if_matches("v1", secret_hash=SECRET, owner_hash=OWNER, now=NOW)
        assert store.create(replace(RECORD, id="v2"), replaces=Latest("v1")) is None
        assert store.get("v1") == verified
        assert store.latest_for_number(NUMBER, OWNER) == "v2"

    def test_an_id_is_created_once(self, store: Store) -> None:
        created(store)
        with pytest.raises(InternalError):
            store.create(replace(RECORD, owner_hash="someone-else"), replaces=None)
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


class TestCancel:
    def test_a_pending_verification_is_cancelled(self, store: Store) -> None:
        # Given a pending verification with an attempt used
        created(store, attempts=1)
        # When its owner cancels it, then it is CANCELLED, as returned and as stored
        cancelled = store.cancel("v1", owner_hash=OWNER, now=NOW + 1)
        assert cancelled == replace(RECORD, attempts=1, status=Status.CANCELLED, reason="Cancelled")
        assert store.get("v1") == cancelled

    def test_a_cancelled_verification_is_cancelled_once(self, store: Store) -> None:
        created(store)
        cancelled = store.cancel("v1", owner_hash=OWNER, now=NOW)
        with pytest.raises(ConditionFailed) as caught:
            store.cancel("v1", owner_hash=OWNER, now=NOW + 1)
        assert caught.value.record == cancelled == store.get("v1")

    @pytest.mark.parametrize(
        ("stored", "owner", "now"),
        [
            ({}, "someone-else", NOW),
            ({"status": Status.SUCCESSFUL}, OWNER, NOW),
            ({"status": Status.DENIED, "reason": "Fraud"}, OWNER, NOW),
            ({"status": Status.ABORTED, "reason": "Superseded"}, OWNER, NOW),
            ({"attempts": 3}, OWNER, NOW),
            ({}, OWNER, NOW + 600),
        ],
        ids=["other owner", "verified", "denied", "superseded", "attempts used up", "expired"],
    )
    def test_otherwise_nothing_changes_and_the_record_says_why(
        self, store: Store, stored: dict[str, Any], owner: str, now: int
    ) -> None:
        record = created(store, **stored)
        with pytest.raises(ConditionFailed) as caught:
            store.cancel("v1", owner_hash=owner, now=now)
        assert caught.value.record == record
        assert store.get("v1") == record

    def test_a_missing_verification_fails_with_no_record(self, store: Store) -> None:
        with pytest.raises(ConditionFailed) as caught:
            store.cancel("gone", owner_hash=OWNER, now=NOW)
        assert caught.value.record is None
        assert store.get("gone") is None


SMS_THEN_CALLOUT = (Method.SMS, Method.CALLOUT)
CLI_HASH = "cli-hash"


def switch(**fields: Any) -> ChannelSwitch:
    """From the first channel (an SMS the service checks) to a callout Sinch checks, by default."""
    defaults: dict[str, Any] = {
        "previous": 0,
        "channel": 1,
        "method": Method.CALLOUT,
        "sinch_id": "sinch-2",
        "checked_by": "sinch",
        "secret_hash": None,
        "expires_at": NOW + 300,
        "retire": SECRET,
    }
    return ChannelSwitch(**(defaults | fields))


class TestAdvance:
    def test_the_next_channel_replaces_the_current_one_and_retires_its_code(self, store: Store) -> None:
        # Given an SMS verification with one attempt used, sent as Sinch's "sinch-1"
        record = created(store, attempts=1, sinch_id="sinch-1", channels=SMS_THEN_CALLOUT)
        # When it moves on to a callout that Sinch checks
        advanced = store.advance("v1", switch(), owner_hash=OWNER, now=NOW + 31)
        # Then method, channel, Sinch's id, who checks, the code and expiry are the callout's, the SMS
        # code's hash is retired, and everything else (attempts, id, owner) carries on
        assert advanced == replace(
            record,
            method=Method.CALLOUT,
            channel=1,
            sinch_id="sinch-2",
            checked_by="sinch",
            secret_hash=None,
            expires_at=NOW + 300,
            retired_hashes=(SECRET,),
        )
        assert store.get("v1") == advanced

    def test_a_channel_the_service_checks_gets_its_own_hash_and_retired_ones_add_up(
        self, store: Store
    ) -> None:
        # Given an SMS verification that may go on to a flashcall (its CLI known), then a callout
        created(store, channels=(Method.SMS, Method.FLASHCALL, Method.CALLOUT))
        # When it moves to the flashcall and then to the callout
        flashcall = store.advance(
            "v1",
            switch(method=Method.FLASHCALL, checked_by="service", secret_hash=CLI_HASH),
            owner_hash=OWNER,
            now=NOW + 31,
        )
        callout = store.advance(
            "v1", switch(previous=1, channel=2, retire=CLI_HASH), owner_hash=OWNER, now=NOW + 62
        )
        # Then the flashcall was checked by its CLI's hash, and both left codes are retired, in order
        assert (flashcall.checked_by, flashcall.secret_hash, flashcall.retired_hashes) == (
            "service",
            CLI_HASH,
            (SECRET,),
        )
        assert (callout.method, callout.channel, callout.secret_hash) == (Method.CALLOUT, 2, None)
        assert callout.retired_hashes == (SECRET, CLI_HASH)
        assert store.get("v1") == callout

    def test_a_channel_sinch_checked_leaves_no_code_to_retire(self, store: Store) -> None:
        created(store, method=Method.CALLOUT, checked_by="sinch", secret_hash=None)
        sms = switch(method=Method.SMS, checked_by="service", secret_hash="code-hash", retire=None)
        advanced = store.advance("v1", sms, owner_hash=OWNER, now=NOW + 31)
        assert (advanced.method, advanced.secret_hash, advanced.retired_hashes) == (
            Method.SMS,
            "code-hash",
            (),
        )
        assert store.get("v1") == advanced

    def test_the_guard_prefix_and_task_token_change_only_when_the_switch_names_them(
        self, store: Store
    ) -> None:
        # Given a verification whose send took a guard token and whose workflow waits
        created(
            store,
            guard_prefix="prefix-1",
            task_token=TOKEN,
            channels=(Method.SMS, Method.FLASHCALL, Method.CALLOUT),
        )
        # When the next channel names neither, then both stay; when the one after names both, both change
        kept = store.advance("v1", switch(method=Method.FLASHCALL), owner_hash=OWNER, now=NOW + 31)
        named = store.advance(
            "v1",
            switch(previous=1, channel=2, retire=None, guard_prefix="prefix-2", task_token="token-2"),
            owner_hash=OWNER,
            now=NOW + 62,
        )
        assert (kept.guard_prefix, kept.task_token) == ("prefix-1", TOKEN)
        assert (named.guard_prefix, named.task_token) == ("prefix-2", "token-2")

    def test_only_one_switch_from_a_channel_applies(self, store: Store) -> None:
        # Given two ``next`` requests that both read the verification on its first channel
        created(store, channels=(Method.SMS, Method.FLASHCALL, Method.CALLOUT))
        first = store.advance("v1", switch(), owner_hash=OWNER, now=NOW + 31)
        # When the slower one's switch arrives, then it fails with the verification as the first left it
        with pytest.raises(ConditionFailed) as caught:
            store.advance(
                "v1",
                switch(channel=2, method=Method.FLASHCALL, sinch_id="sinch-3"),
                owner_hash=OWNER,
                now=NOW + 32,
            )
        assert caught.value.record == first == store.get("v1")

    @pytest.mark.parametrize(
        ("stored", "owner", "now"),
        [
            ({}, "someone-else", NOW),
            ({"status": Status.SUCCESSFUL}, OWNER, NOW),
            ({"status": Status.CANCELLED, "reason": "Cancelled"}, OWNER, NOW),
            ({"status": Status.FAIL, "reason": "Expired"}, OWNER, NOW),
            ({"attempts": 3}, OWNER, NOW),
            ({}, OWNER, NOW + 600),
        ],
        ids=["other owner", "verified", "cancelled", "failed", "attempts used up", "expired"],
    )
    def test_a_closed_verification_does_not_advance(
        self, store: Store, stored: dict[str, Any], owner: str, now: int
    ) -> None:
        record = created(store, channels=SMS_THEN_CALLOUT, **stored)
        with pytest.raises(ConditionFailed) as caught:
            store.advance("v1", switch(), owner_hash=owner, now=now)
        assert caught.value.record == record
        assert store.get("v1") == record

    def test_a_missing_verification_fails_with_no_record(self, store: Store) -> None:
        with pytest.raises(ConditionFailed) as caught:
            store.advance("gone", switch(), owner_hash=OWNER, now=NOW)
        assert caught.value.record is None
        assert store.get("gone") is None

    def test_a_verification_stored_before_channels_is_on_its_first(
        self, store: Store, request: pytest.FixtureRequest
    ) -> None:
        # Given a verification as stored before channels existed: DynamoDB's item has no channel
        record = created(store)
        if isinstance(store, VerificationStore):
            request.getfixturevalue("dynamodb").update_item(
                TableName=TABLE, Key={"pk": {"S": "verification#v1"}}, UpdateExpression="REMOVE channel"
            )
        assert store.get("v1") == record
        # When a switch comes from a later channel, it fails; from the first, it applies, once
        with pytest.raises(ConditionFailed):
            store.advance("v1", switch(previous=1, channel=2), owner_hash=OWNER, now=NOW + 31)
        advanced = store.advance("v1", switch(), owner_hash=OWNER, now=NOW + 31)
        with pytest.raises(ConditionFailed) as caught:
            store.advance("v1", switch(sinch_id="sinch-3"), owner_hash=OWNER, now=NOW + 32)
        assert (advanced.channel, advanced.method, advanced.retired_hashes) == (1, Method.CALLOUT, (SECRET,))
        assert caught.value.record == advanced == store.get("v1")


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

    def test_a_success_takes_the_token_in_the_same_change_when_asked(self, store: Store) -> None:
        # Given a workflow's verification
        created(store, task_token=TOKEN)
        # When a wrong code comes with take_token, then nothing changes and the token stays
        with pytest.raises(ConditionFailed):
            store.succeed_if_matches("v1", secret_hash="wrong", owner_hash=OWNER, now=NOW, take_token=True)
        # And when the right one comes, the success returns the token and no one can take it again
        verified = store.succeed_if_matches(
            "v1", secret_hash=SECRET, owner_hash=OWNER, now=NOW, take_token=True
        )
        assert (verified.status, verified.attempts, verified.task_token) == (Status.SUCCESSFUL, 1, TOKEN)
        assert store.get("v1") == replace(verified, task_token=None)
        assert store.take_task_token("v1") is None

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
            "channel": {"N": "0"},
            "secretHash": {"S": SECRET},
            "reference": {"S": "order-1"},
            "taskToken": {"S": TOKEN},
        }
        assert items[f"number#{NUMBER}"] == {
            "pk": {"S": f"number#{NUMBER}"},
            bucket_name(NOW): {"N": "1"},
            "total": {"N": "1"},
            "oldest": {"N": str(NOW)},
            "lastStart": {"N": str(NOW)},
            "prevStart": {"N": "0"},
            "version": {"N": "1"},
            "ttl": {"N": str(NOW + 600 + RETENTION_SECONDS)},
            f"latest:{OWNER}": {"S": "v1"},
            f"waits:{OWNER}": {"BOOL": True},
        }


class Serialised:
    """moto's in-process DynamoDB, one request at a time: like DynamoDB, and unlike moto on parallel
    threads, a conditional write is then atomic (as ``local_stack.emulator`` makes moto's server)."""

    lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)

        def serialised(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return call(*args, **kwargs)

        return serialised


class TestConcurrency:
    """The DynamoDB store under racing starts: DynamoDB's atomic condition, not a read, decides."""

    def test_racing_starts_from_many_environments_never_exceed_the_limit(self, dynamodb: Any) -> None:
        # Given eight Lambda environments (each its own store)
        client: Any = Serialised(dynamodb)
        stores = [VerificationStore(TABLE, client) for _ in range(8)]
        ask, taken, refused = BudgetAsk("number", NUMBER, Limit(5, 600)), [], []

        def start(store: VerificationStore) -> None:
            try:
                taken.append(store.reserve_send(None, [ask], now=NOW))
            except BudgetRefused as caught:
                refused.append(caught.reached.rule)

        # When all of them start for one number at once, twice over
        for _ in range(2):
            threads = [threading.Thread(target=start, args=(store,)) for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        # Then exactly five starts got through, and every other was refused
        assert len(taken) == 5
        assert len(refused) == 11
        assert set(refused) <= {"window", "contention"}

    def test_a_start_with_room_is_one_write_whatever_other_environments_did(self, dynamodb: Any) -> None:
        # Given a caller's budget another environment has been using
        calls: list[str] = []
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
        limit = Limit(100, 3600)
        for second in range(5):
            reserve_caller(VerificationStore(TABLE, dynamodb), "backend", NOW + second, limit)
        # When a fresh environment starts for it, then it needs one transaction and no read
        calls.clear()
        reserve_caller(VerificationStore(TABLE, dynamodb), "backend", NOW + 5, limit)
        assert calls == ["TransactWriteItems"]

    def test_starts_that_left_the_window_are_dropped_by_the_start_that_finds_the_log_full(
        self, dynamodb: Any
    ) -> None:
        # Given a number whose three starts have all left the window
        store = VerificationStore(TABLE, dynamodb)
        for offset in (0, 30, 60):
            reserve(store, NOW + offset)
        # When it starts again, then the start gets through and the item holds only it
        reserve(store, NOW + 700)
        item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"number#{NUMBER}"}})["Item"]
        assert {name: item[name]["N"] for name in item if name.startswith("b") or name == "total"} == {
            bucket_name(NOW + 700): "1",
            "total": "1",
        }
        assert refused_for(store, NOW + 710) == ("gap", 20)

    def test_a_log_kept_in_fixed_windows_by_an_earlier_release_counts_in_full(self, dynamodb: Any) -> None:
        # Given a number item as the fixed-window release wrote it: a full window of 3
        dynamodb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": f"number#{NUMBER}"},
                "windowStart": {"N": str(NOW - 500)},
                "starts": {"N": "3"},
                "lastStart": {"N": str(NOW - 100)},
            },
        )
        store = VerificationStore(TABLE, dynamodb)
        # When a start comes, then the three count as the last start's, the strictest reading
        assert refused_for(store, NOW) == ("window", 500)
        reserve(store, NOW + 500)
        assert refused_for(store, NOW + 510) == ("gap", 20)

    def test_a_log_map_of_the_previous_release_is_read_and_rewritten(self, dynamodb: Any) -> None:
        # Given a number item as the previous release wrote it: a map of buckets under a version
        dynamodb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": f"number#{NUMBER}"},
                "log": {"M": {str(NOW - 100): {"N": "2"}, str(NOW - 50): {"N": "1"}}},
                "lastStart": {"N": str(NOW - 50)},
                "version": {"N": "7"},
                f"latest:{OWNER}": {"S": "v0"},
            },
        )
        store = VerificationStore(TABLE, dynamodb)
        # When starts come, then its three starts count, and the first start after them rewrites it
        assert refused_for(store, NOW) == ("window", 500)
        reserve(store, NOW + 500)
        item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"number#{NUMBER}"}})["Item"]
        assert "log" not in item
        assert (item["total"]["N"], item["version"]["N"], item[f"latest:{OWNER}"]["S"]) == ("2", "8", "v0")
