"""The fraud guard's part of the store contract, over both stores (in memory, and DynamoDB on moto), and
what the DynamoDB store costs under attack: a refused prefix is not a hot key."""

from __future__ import annotations

import threading
from typing import Any

from phone_verification.fraud import DAY, GuardPolicy
from phone_verification.ports import GuardAsk, Store
from phone_verification.store import VerificationStore
from phone_verification.store_guard import REFUSAL_MEMORY_SECONDS
from phone_verification.store_guard_shards import shard_name, shards_of
from tests.fakes import TABLE
from tests.unit.test_store import Serialised

NOW = 1_790_000_000
POLICY = GuardPolicy(budget=5)
PREFIX = "prefix-hash"


def take(store: Store, now: int = NOW, number: str = "number-hash") -> tuple[bool, bool]:
    verdict = store.reserve_send(GuardAsk(PREFIX, "SE", number, POLICY), (), now=now).verdict
    assert verdict is not None
    return verdict.allowed, verdict.counted


class TestGuardContract:
    def test_a_new_prefix_has_its_budget_and_then_is_refused(self, store: Store) -> None:
        assert [take(store, NOW + i) for i in range(7)] == [(True, True)] * 5 + [(False, False)] * 2

    def test_a_conversion_gives_a_refused_prefix_tokens_at_once(self, store: Store) -> None:
        # Given a prefix refused for want of tokens
        for i in range(6):
            take(store, NOW + i)
        # When one of its sends converts, then it may send three more (its own token and two earned)
        store.guard_credit(PREFIX, now=NOW + 7, policy=POLICY)
        assert [take(store, NOW + 8 + i)[0] for i in range(4)] == [True, True, True, False]

    def test_a_refund_gives_one_token_back(self, store: Store) -> None:
        for i in range(5):
            take(store, NOW + i)
        store.guard_refund(PREFIX, now=NOW + REFUSAL_MEMORY_SECONDS)
        assert [take(store, NOW + 20 + i)[0] for i in range(2)] == [True, False]

    def test_tokens_come_back_over_a_day_at_the_budget(self, store: Store) -> None:
        for i in range(5):
            take(store, NOW + i)
        assert take(store, NOW + DAY // 5 - 30) == (False, False)  # a whole token takes 4.8 hours
        assert take(store, NOW + DAY // 5 + 30) == (True, True)

    def test_prefixes_are_counted_apart(self, store: Store) -> None:
        for i in range(5):
            take(store, NOW + i)
        other = store.reserve_send(GuardAsk("other-prefix", "SE", "n", POLICY), (), now=NOW).verdict
        assert other is not None
        assert other.allowed


class TestUnderAttack:
    def test_a_refused_prefix_costs_no_write_per_start(self, dynamodb: Any) -> None:
        # Given an execution environment that found a prefix without tokens
        calls: list[str] = []
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
        store = VerificationStore(TABLE, dynamodb)
        for i in range(6):
            take(store, NOW + i)
        before = len(calls)
        # When 1,000 more starts come within the refusal memory, then DynamoDB hears of none of them
        for _ in range(1000):
            assert take(store, NOW + 6) == (False, False)
        assert len(calls) == before
        # And after it, one write looks again (and, the prefix's bucket being spread over two items, one
        # read of both says it is still empty)
        take(store, NOW + 6 + REFUSAL_MEMORY_SECONDS)
        assert calls[before:] == ["TransactWriteItems", "BatchGetItem"]

    def test_a_safe_listed_prefix_costs_one_write_per_environment_and_interval(self, dynamodb: Any) -> None:
        # Given a prefix an operator safe-listed (each item of its bucket says so), without tokens
        for shard in range(shards_of(POLICY)):
            dynamodb.put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": f"guard#{shard_name(PREFIX, shard)}"},
                    "tokens": {"N": "0"},
                    "updated": {"N": str(NOW)},
                    "version": {"N": "3"},
                    "safe": {"BOOL": True},
                },
            )
        calls: list[str] = []
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
        store = VerificationStore(TABLE, dynamodb)
        # When 1,000 starts go to it, then all pass without a token, and DynamoDB hears of the first only
        assert all(take(store, NOW, number=f"n{i}") == (True, False) for i in range(1000))
        assert calls == ["TransactWriteItems"]
        # And once the memory has passed, it is asked again (an operator's removal is seen by then)
        take(store, NOW + REFUSAL_MEMORY_SECONDS)
        assert calls == ["TransactWriteItems"] * 2

    def test_racing_environments_never_send_more_than_the_budget(self, dynamodb: Any) -> None:
        client: Any = Serialised(dynamodb)
        stores = [VerificationStore(TABLE, client) for _ in range(8)]
        allowed: list[bool] = []

        def send(store: VerificationStore) -> None:
            allowed.append(take(store, NOW)[0])

        for _ in range(2):
            threads = [threading.Thread(target=send, args=(store,)) for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert allowed.count(True) == 5
        assert len(allowed) == 16

    def test_the_item_holds_the_country_and_hashes_only(self, dynamodb: Any) -> None:
        store = VerificationStore(TABLE, dynamodb)
        take(store, NOW, number="number-hash")
        (item,) = dynamodb.scan(TableName=TABLE)["Items"]
        assert item["pk"]["S"] in {f"guard#{shard_name(PREFIX, k)}" for k in range(shards_of(POLICY))}
        assert item["country"] == {"S": "SE"}
        assert set(item) == {"pk", "tokens", "sends", "updated", "country", "ttl", "version"}
