"""The fraud guard's bucket spread over several items (``store_guard_shards``): together they are the one
bucket of ``fraud.py`` (the same sends through, the same refusals), and no item takes every send."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from phone_verification.fraud import DAY, GuardPolicy
from phone_verification.ports import GuardAsk, SendReservation
from phone_verification.store import VerificationStore
from phone_verification.store_guard import guard_key
from phone_verification.store_guard_shards import shard_name, shard_policy, shards_of, split_name
from tests.fakes import TABLE
from tests.unit.test_store import Serialised

NOW = 1_790_000_000
POLICY = GuardPolicy(budget=20)  # the default: eight shards
PREFIX = "prefix-hash"


def send(store: VerificationStore, n: int, now: int = NOW) -> SendReservation:
    return store.reserve_send(GuardAsk(PREFIX, "SE", f"number-{n}", POLICY), (), now=now)


def allowed(store: VerificationStore, n: int, now: int = NOW) -> bool:
    verdict = send(store, n, now).verdict
    assert verdict is not None
    return verdict.allowed


def tokens(dynamodb: Any) -> dict[str, float]:
    items = dynamodb.scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: float(item["tokens"]["N"]) for item in items if "tokens" in item}


class TestShares:
    def test_the_default_budget_is_eight_shards_whose_shares_add_up(self) -> None:
        assert shards_of(POLICY) == 8
        policies = [shard_policy(POLICY, k) for k in range(8)]
        assert sum(p.budget for p in policies) == 20
        assert sum(p.ceiling for p in policies) == POLICY.ceiling

    def test_small_budgets_are_one_item(self) -> None:
        assert shards_of(GuardPolicy(budget=3)) == 1

    def test_names_carry_the_shard_after_the_first(self) -> None:
        assert [shard_name("p", k) for k in (0, 3)] == ["p", "p#3"]
        assert [split_name(name) for name in ("p", "p#3")] == [("p", 0), ("p", 3)]


class TestOneBucket:
    def test_a_new_prefix_sends_exactly_its_budget_whichever_environments_send(self, dynamodb: Any) -> None:
        outcomes = [allowed(VerificationStore(TABLE, dynamodb), n) for n in range(25)]
        assert outcomes == [True] * 20 + [False] * 5
        assert sum(tokens(dynamodb).values()) == 0

    def test_racing_environments_never_send_more_than_the_budget(self, dynamodb: Any) -> None:
        client: Any = Serialised(dynamodb)
        stores = [VerificationStore(TABLE, client) for _ in range(8)]
        outcomes: list[bool] = []

        def burst(store: VerificationStore, base: int) -> None:
            outcomes.extend(allowed(store, base + n) for n in range(4))

        threads = [threading.Thread(target=burst, args=(store, 10 * i)) for i, store in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count(True) == 20

    def test_fractions_of_a_token_in_several_shards_add_up_to_a_send(self, dynamodb: Any) -> None:
        # Given a prefix whose eight shards each hold a fifth of a token (1.6 in all), as of now
        for shard in range(8):
            dynamodb.put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": f"guard#{shard_name(PREFIX, shard)}"},
                    "tokens": {"N": "0.2"},
                    "sends": {"N": "3"},
                    "updated": {"N": str(NOW)},
                    "version": {"N": "5"},
                },
            )
        store = VerificationStore(TABLE, dynamodb)
        # When two sends come, then the first gets the token the fractions make up, the second is refused
        assert [allowed(store, n) for n in range(2)] == [True, False]
        assert sum(tokens(dynamodb).values()) == pytest.approx(0.6)

    def test_tokens_come_back_over_a_day_at_the_budget(self, dynamodb: Any) -> None:
        store = VerificationStore(TABLE, dynamodb)
        for n in range(20):
            assert allowed(store, n)
        # A token takes 72 minutes to come back to the whole bucket, as it did to one item
        assert not allowed(VerificationStore(TABLE, dynamodb), 100, NOW + DAY // 20 - 30)
        assert allowed(VerificationStore(TABLE, dynamodb), 101, NOW + DAY // 20 + 30)


class TestConversions:
    def test_a_conversion_goes_back_to_the_shard_its_send_took_from(self, dynamodb: Any) -> None:
        store = VerificationStore(TABLE, dynamodb)
        taken = send(store, 1)
        assert taken.guarded is not None
        before = tokens(dynamodb)[f"guard#{taken.guarded}"]
        store.guard_credit(taken.guarded, now=NOW + 5, policy=POLICY)
        after = dynamodb.get_item(TableName=TABLE, Key=guard_key(taken.guarded))["Item"]
        assert float(after["tokens"]["N"]) == before + 1 + POLICY.earn
        assert after["conversions"]["N"] == "1"
