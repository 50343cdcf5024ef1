"""A large send budget spread over several items (``store_budgets.SHARD_SLOTS``), and budgets refused from
an environment's memory: never more starts than the budget in any window, refused only when every shard
is full as DynamoDB has them, and no item a busy or refused caller writes on every start."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from phone_verification import store_budgets
from phone_verification.limits import Limit
from phone_verification.ports import BudgetAsk, BudgetRefused, StartReservation
from phone_verification.store import VerificationStore
from phone_verification.store_budgets import REFUSAL_MEMORY_SECONDS, bucket_name, shard_limit, shards_of
from tests.fakes import TABLE
from tests.unit.test_store import Serialised

NOW = 1_790_000_000
BUDGET = BudgetAsk("caller", "busy-backend", Limit(6, 3600))  # three shards of two, with SHARD_SLOTS = 2


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_budgets, "SHARD_SLOTS", 2)


def calls_of(dynamodb: Any) -> list[str]:
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def start(store: VerificationStore, now: int = NOW, ask: BudgetAsk = BUDGET) -> StartReservation:
    return store.reserve_send(None, [ask], now=now).reservations[0]


def refused(store: VerificationStore, now: int = NOW) -> tuple[str, int]:
    with pytest.raises(BudgetRefused) as caught:
        start(store, now)
    return caught.value.reached.rule, caught.value.reached.wait


def totals(dynamodb: Any) -> dict[str, int]:
    items = dynamodb.scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: int(item["total"]["N"]) for item in items if "total" in item}


class TestShares:
    def test_the_shares_add_up_to_the_budget(self) -> None:
        ask = BudgetAsk("caller", "c", Limit(7, 3600))
        assert shards_of(ask) == 3
        assert [shard_limit(ask, shard).max_starts for shard in range(3)] == [3, 2, 2]

    def test_small_budgets_and_numbers_are_one_item(self) -> None:
        assert shards_of(BudgetAsk("caller", "c", Limit(3, 3600))) == 1
        assert shards_of(BudgetAsk("number", "n", Limit(1000, 600))) == 1

    def test_at_most_max_shards(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(store_budgets, "SHARD_SLOTS", 250)
        assert shards_of(BudgetAsk("caller", "c", Limit(1_000_000, 3600))) == store_budgets.MAX_SHARDS


class TestExact:
    def test_every_slot_of_every_shard_is_used_and_not_one_more(self, dynamodb: Any) -> None:
        # Given starts from fresh environments (none knows which shards are full), one a second
        taken = [start(VerificationStore(TABLE, dynamodb), NOW + second) for second in range(6)]
        # Then all six fit, spread over the three items, two each
        assert sorted(r.shard for r in taken) == [0, 0, 1, 1, 2, 2]
        assert totals(dynamodb) == {
            "caller#busy-backend": 2,
            "caller#busy-backend#1": 2,
            "caller#busy-backend#2": 2,
        }
        # And the seventh is refused until the first start has left the window (a share of two counts
        # each second), whichever environment asks
        assert refused(VerificationStore(TABLE, dynamodb), NOW + 10) == ("window", 3590)

    def test_racing_environments_never_take_more_than_the_budget(self, dynamodb: Any) -> None:
        client: Any = Serialised(dynamodb)
        stores = [VerificationStore(TABLE, client) for _ in range(8)]
        ask = BudgetAsk("caller", "busy-backend", Limit(10, 3600))  # five shards of two
        outcomes: list[bool] = []

        def race(store: VerificationStore) -> None:
            try:
                start(store, ask=ask)
                outcomes.append(True)
            except BudgetRefused:
                outcomes.append(False)

        for _ in range(2):
            threads = [threading.Thread(target=race, args=(store,)) for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert outcomes.count(True) == 10
        assert sum(totals(dynamodb).values()) == 10

    def test_a_full_shard_sends_the_start_to_one_with_room_in_one_read(self, dynamodb: Any) -> None:
        # Given a budget whose shards 0 and 1 are full and shard 2 is empty
        for shard in (0, 1):
            key = "busy-backend" if shard == 0 else f"busy-backend#{shard}"
            dynamodb.put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": f"caller#{key}"},
                    bucket_name(NOW - NOW % 60): {"N": "2"},
                    "total": {"N": "2"},
                    "oldest": {"N": str(NOW - NOW % 60)},
                    "version": {"N": "2"},
                },
            )
        calls = calls_of(dynamodb)
        # When environments that know nothing start, then each gets through: at worst its first choice is
        # full, one read of every shard finds the one with room
        store = VerificationStore(TABLE, dynamodb)
        assert start(store).shard == 2
        assert calls.count("BatchGetItem") <= 1
        assert set(calls) <= {"TransactWriteItems", "BatchGetItem"}


class TestMemory:
    def test_a_refused_budget_costs_no_call_until_a_slot_frees(self, dynamodb: Any) -> None:
        store = VerificationStore(TABLE, dynamodb)
        small = BudgetAsk("caller", "user", Limit(1, 3600))
        start(store, ask=small)
        with pytest.raises(BudgetRefused):
            start(store, NOW + 1, ask=small)
        calls = calls_of(dynamodb)
        # A thousand more within the memory: refused with the exact wait, DynamoDB hears of none
        for _ in range(1000):
            with pytest.raises(BudgetRefused) as caught:
                start(store, NOW + 2, ask=small)
            assert caught.value.reached.wait == 3600 - 2
        assert calls == []
        # After it, one transaction looks again
        with pytest.raises(BudgetRefused):
            start(store, NOW + 2 + REFUSAL_MEMORY_SECONDS, ask=small)
        assert calls == ["TransactWriteItems"]

    def test_a_release_in_this_environment_is_seen_at_once(self, dynamodb: Any) -> None:
        store = VerificationStore(TABLE, dynamodb)
        small = BudgetAsk("caller", "user", Limit(1, 3600))
        taken = start(store, ask=small)
        with pytest.raises(BudgetRefused):
            start(store, NOW + 1, ask=small)
        store.release(taken)
        start(store, NOW + 2, ask=small)
