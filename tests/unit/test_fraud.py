"""The fraud guard's rules (fraud.py) and the guard in front of every send (the start use case over
in-memory ports), Given/When/Then."""

from __future__ import annotations

import pytest

from phone_verification.commands import StartCommand, report_command
from phone_verification.errors import DestinationDenied, ProviderRejected
from phone_verification.fraud import DAY, GuardPolicy, PrefixState, credit, decide, prefix_of, refund
from phone_verification.sinch import SinchRequestRejected
from tests.fakes import World, make_world

POLICY = GuardPolicy()
NOW = 1_790_000_000


def numbers(prefix: str, count: int) -> list[str]:
    """Distinct numbers of one 10,000-number range (``prefix`` plus four digits)."""
    return [f"{prefix}{n:04d}" for n in range(count)]


class TestPrefixes:
    @pytest.mark.parametrize(
        ("number", "country_code", "prefix"),
        [
            ("+46701234567", 46, "+4670123"),  # Sweden: +46 70 123 4567
            ("+14155550123", 1, "+1415555"),  # NANP: NPA-NXX, the block an operator holds
            ("+4915123456789", 49, "+491512345"),
            ("+35312345", 353, "+3531"),  # short numbers keep their country code and one more digit
        ],
    )
    def test_a_prefix_is_the_number_without_its_last_four_digits(
        self, number: str, country_code: int, prefix: str
    ) -> None:
        assert prefix_of(number, country_code) == prefix


class TestRules:
    def test_an_unproven_prefix_gets_its_budget_and_then_nothing(self) -> None:
        # Given a prefix nobody has proven
        state = PrefixState.new(POLICY, NOW)
        verdicts = []
        # When it is sent to 25 times in a minute
        for second in range(25):
            verdict = decide(POLICY, state, NOW + second, f"number-{second}")
            state = verdict.state
            verdicts.append(verdict.allowed)
        # Then the budget's 20 went through and the rest were refused
        assert verdicts == [True] * 20 + [False] * 5

    def test_a_refused_prefix_gets_its_budget_back_over_a_day(self) -> None:
        state = PrefixState(tokens=0.0, updated=NOW)
        assert not decide(POLICY, state, NOW + DAY // 20 - 60, "n").allowed  # not yet a whole token
        assert decide(POLICY, state, NOW + DAY // 20 + 60, "n").allowed  # 20 a day: one per 72 min
        refilled = decide(POLICY, state, NOW + 2 * DAY, "n").state
        assert refilled.tokens == POLICY.budget - 1  # never more than the budget comes back

    def test_each_conversion_returns_its_token_and_earns_two_up_to_the_ceiling(self) -> None:
        state = PrefixState(tokens=5.0, updated=NOW)
        assert credit(POLICY, state, NOW).tokens == 8
        full = PrefixState(tokens=POLICY.ceiling - 1.0, updated=NOW)
        assert credit(POLICY, full, NOW).tokens == POLICY.ceiling - 1  # only counted at the ceiling
        assert credit(POLICY, full, NOW).conversions == 1

    def test_a_send_that_went_nowhere_gets_its_token_back(self) -> None:
        taken = decide(POLICY, PrefixState.new(POLICY, NOW), NOW, "n").state
        assert refund(POLICY, taken, NOW).tokens == POLICY.budget

    def test_safe_listed_numbers_and_prefixes_take_no_token(self) -> None:
        empty = PrefixState(tokens=0.0, updated=NOW, safe_numbers=frozenset({"safe-number"}))
        verdict = decide(POLICY, empty, NOW, "safe-number")
        assert (verdict.allowed, verdict.counted, verdict.state) == (True, False, empty)
        safe = PrefixState(tokens=0.0, updated=NOW, safe=True)
        assert decide(POLICY, safe, NOW, "any").allowed


def start(world: World, number: str) -> str:
    return world.service.start(StartCommand(phone_number=number)).id


class TestGuardInFrontOfSends:
    def test_pumping_one_range_is_refused_after_its_budget_and_sends_nothing_more(self) -> None:
        # Given a bot starting verifications to 60 numbers of one range, never entering a code
        world = make_world()
        reasons = []
        for number in numbers("+4670123", 60):
            try:
                start(world, number)
            except DestinationDenied as denied:
                reasons.append(denied.reason)
        # Then the range's budget reached Sinch and nothing more did
        assert (len(world.sinch.starts), reasons) == (20, ["suspected_fraud"] * 40)

    def test_a_range_whose_users_verify_sends_on(self) -> None:
        # Given a range whose every verification is completed
        world = make_world()
        for number in numbers("+4670124", 60):
            verification = start(world, number)
            world.service.report(report_command({"code": world.sent_code()}, verification=verification))
        # Then none of its 60 starts was refused
        assert len(world.sinch.starts) == 60

    def test_monitor_refuses_nothing_and_counts_what_enforce_would(self) -> None:
        recorded: list[tuple[str, str | None, str | None]] = []

        class Outcomes:
            def record(
                self, outcome: str, method: str, reason: str | None = None, country: str | None = None
            ) -> None:
                recorded.append((outcome, reason, country))

        world = make_world(fraud_guard="monitor", outcomes=Outcomes())
        for number in numbers("+4670125", 25):
            start(world, number)
        assert len(world.sinch.starts) == 25
        assert recorded.count(("guard_would_refuse", "prefix_budget", "SE")) == 5

    def test_off_asks_the_store_nothing(self) -> None:
        world = make_world(fraud_guard="off")
        for number in numbers("+4670126", 25):
            start(world, number)
        assert len(world.sinch.starts) == 25
        assert world.store.prefixes == {}  # type: ignore[union-attr]

    def test_a_send_the_provider_refused_gives_the_ranges_token_back(self) -> None:
        world = make_world(fraud_guard_prefix_budget=1)
        world.sinch.start_failure = SinchRequestRejected("no credit", http_status=402)
        with pytest.raises(ProviderRejected):
            start(world, "+46701270001")
        start(world, "+46701270002")  # the budget of one is still there
        with pytest.raises(DestinationDenied):
            start(world, "+46701270003")

    def test_safe_countries_are_not_guarded(self) -> None:
        world = make_world(fraud_guard_prefix_budget=1, fraud_guard_safe_countries=frozenset({"SE"}))
        for number in numbers("+4670128", 5):
            start(world, number)
        assert len(world.sinch.starts) == 5
