"""What a send takes (``Store.reserve_send``), over both stores (in memory, and DynamoDB on moto): the
guard's token and every budget's slot, all or nothing, in one round trip; the guard's refusal first."""

from __future__ import annotations

from typing import Any

import pytest

from phone_verification.fraud import GuardMode, GuardPolicy
from phone_verification.limits import Limit
from phone_verification.ports import BudgetAsk, BudgetRefused, GuardAsk, SendReservation, Store
from phone_verification.store import VerificationStore
from tests.fakes import TABLE

NOW = 1_790_000_000
PREFIX = "prefix-hash"


def guard(tokens: int = 2, mode: GuardMode = "enforce", number: str = "n") -> GuardAsk:
    return GuardAsk(PREFIX, "SE", number, GuardPolicy(mode=mode, budget=tokens))


def caller(max_starts: int = 2) -> BudgetAsk:
    return BudgetAsk("caller", "backend", Limit(max_starts, 3600))


def number(key: str, max_starts: int = 1) -> BudgetAsk:
    return BudgetAsk("number", key, Limit(max_starts, 600), keep_for=600)


def send(store: Store, *asks: BudgetAsk, guarded: GuardAsk | None = None, at: int = NOW) -> SendReservation:
    return store.reserve_send(guarded, asks, now=at)


def refusal(store: Store, *asks: BudgetAsk, guarded: GuardAsk | None = None) -> int:
    """Which budget refuses the send."""
    with pytest.raises(BudgetRefused) as caught:
        send(store, *asks, guarded=guarded)
    return caught.value.index


class TestAllOrNothing:
    def test_a_send_takes_a_slot_of_each_budget_and_a_token(self, store: Store) -> None:
        taken = send(store, caller(), number("n1"), guarded=guard())
        assert [(r.kind, r.key_hash, r.taken_at) for r in taken.reservations] == [
            ("caller", "backend", NOW),
            ("number", "n1", NOW),
        ]
        assert taken.verdict is not None
        assert (taken.verdict.allowed, taken.verdict.counted) == (True, True)

    def test_a_budget_that_refuses_leaves_the_others_and_the_guard_untouched(self, store: Store) -> None:
        # Given a send that took the caller's first slot, the number's only one and the first token
        send(store, caller(), number("n1"), guarded=guard())
        # When the next send to that number is refused by the number's limit (the second budget)
        assert refusal(store, caller(), number("n1"), guarded=guard()) == 1
        # Then it took nothing: the caller's second slot and the guard's second token are still there
        taken = send(store, caller(), number("n2"), guarded=guard())
        assert taken.verdict is not None
        assert taken.verdict.counted
        assert refusal(store, caller(), number("n3")) == 0  # now the caller's budget is spent

    def test_the_first_budget_that_refuses_is_the_one_named(self, store: Store) -> None:
        send(store, caller(1), number("n1"))
        assert refusal(store, caller(1), number("n1")) == 0

    def test_a_release_gives_a_slot_back_to_its_budget_only(self, store: Store) -> None:
        taken = send(store, caller(1), number("n1"))
        store.release(taken.reservations[0])
        send(store, caller(1), number("n2"))
        assert refusal(store, caller(1), number("n3")) == 0


class TestTheGuardFirst:
    def test_a_refusal_under_enforce_takes_nothing_and_wins_over_the_budgets(self, store: Store) -> None:
        # Given a prefix whose only token is spent, and a number whose only slot is
        send(store, caller(), number("n1"), guarded=guard(tokens=1))
        # When another send comes that both the guard and the number refuse, then the guard's is the answer
        refused = send(store, caller(), number("n1"), guarded=guard(tokens=1, number="m"))
        assert refused.verdict is not None
        assert (refused.verdict.allowed, refused.reservations) == (False, ())
        # And nothing was taken: the caller's second slot is still there
        send(store, caller(), number("n2"))

    def test_a_refusal_under_monitor_takes_the_budgets_without_a_token(self, store: Store) -> None:
        send(store, number("n1"), guarded=guard(tokens=1, mode="monitor"))
        watched = send(store, caller(1), number("n2"), guarded=guard(tokens=1, mode="monitor", number="m"))
        assert watched.verdict is not None
        assert (watched.verdict.allowed, len(watched.reservations)) == (False, 2)
        assert refusal(store, caller(1), number("n3")) == 0

    def test_a_budget_refusal_under_monitor_still_carries_the_guards_refusal(self, store: Store) -> None:
        send(store, caller(1), number("n1"), guarded=guard(tokens=1, mode="monitor"))
        with pytest.raises(BudgetRefused) as caught:
            send(store, caller(1), number("n2"), guarded=guard(tokens=1, mode="monitor", number="m"))
        assert caught.value.verdict is not None
        assert not caught.value.verdict.allowed

    def test_without_budgets_the_guard_alone_decides(self, store: Store) -> None:
        verdicts = [send(store, guarded=guard(tokens=1, number=f"m{i}")).verdict for i in range(2)]
        assert [(v.allowed, v.counted) for v in verdicts if v is not None] == [(True, True), (False, False)]


class TestOneRoundTrip:
    def test_a_send_with_room_everywhere_is_one_transaction(self, dynamodb: Any) -> None:
        calls: list[str] = []
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
        store = VerificationStore(TABLE, dynamodb)
        send(store, caller(5), number("n1"), guarded=guard(tokens=5))
        fresh = VerificationStore(TABLE, dynamodb)  # another execution environment, knowing nothing
        send(fresh, caller(5), number("n2"), number("n3"), guarded=guard(tokens=5), at=NOW + 1)
        assert calls == ["TransactWriteItems", "TransactWriteItems"]

    def test_the_owners_latest_verification_is_read_alongside(self, dynamodb: Any) -> None:
        calls: list[str] = []
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
        store = VerificationStore(TABLE, dynamodb)
        taken = store.reserve_send(guard(), [number("n1")], now=NOW, latest_for=("n1", "owner"))
        assert taken.latest is None
        assert sorted(calls) == ["GetItem", "TransactWriteItems"]
