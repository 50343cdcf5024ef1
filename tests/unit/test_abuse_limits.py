"""Send limits per caller and number types refused for SMS (the start use case over in-memory ports)."""

from __future__ import annotations

import pytest

from phone_verification.commands import StartCommand
from phone_verification.errors import DestinationDenied, RateLimited
from phone_verification.sinch import Method
from tests.fakes import World, make_world

BACKEND = "iam:arn:aws:iam::000000000000:role/backend"


@pytest.fixture
def strict() -> World:
    return make_world(max_starts_per_principal=3, max_starts_per_user=2, caller_window_seconds=3600)


def start(world: World, number: str, rate_key: str | None) -> None:
    world.service.start(StartCommand(phone_number=number, rate_key=rate_key))


def test_a_principal_is_capped_across_numbers(strict: World) -> None:
    for n in range(3):
        start(strict, f"+4670000020{n}", BACKEND)
    with pytest.raises(RateLimited) as caught:
        start(strict, "+46700000209", BACKEND)
    assert caught.value.retry_after == 3600
    assert len(strict.sinch.starts) == 3


def test_an_end_user_gets_the_small_budget(strict: World) -> None:
    start(strict, "+46700000201", "jwt:https://issuer:user-1")
    start(strict, "+46700000202", "jwt:https://issuer:user-1")
    with pytest.raises(RateLimited):
        start(strict, "+46700000203", "jwt:https://issuer:user-1")
    start(strict, "+46700000204", "jwt:https://issuer:user-2")  # another user has their own budget


def test_source_addresses_are_limited_on_an_open_api(strict: World) -> None:
    start(strict, "+46700000201", "ip:198.51.100.7")
    start(strict, "+46700000202", "ip:198.51.100.7")
    with pytest.raises(RateLimited):
        start(strict, "+46700000203", "ip:198.51.100.7")


def test_direct_invocations_have_no_caller_budget(strict: World) -> None:
    for n in range(4):
        start(strict, f"+4670000021{n}", None)
    assert len(strict.sinch.starts) == 4


def test_a_number_limit_refusal_gives_the_callers_slot_back(strict: World) -> None:
    start(strict, "+46700000201", BACKEND)
    with pytest.raises(RateLimited):
        start(strict, "+46700000201", BACKEND)  # 30 s gap for the number
    start(strict, "+46700000202", BACKEND)
    start(strict, "+46700000203", BACKEND)  # the refused start did not use the principal's third slot


def test_the_caller_window_reopens(strict: World) -> None:
    for n in range(3):
        start(strict, f"+4670000020{n}", BACKEND)
    strict.clock.now += 3600
    start(strict, "+46700000209", BACKEND)


def test_zero_turns_a_caller_limit_off() -> None:
    world = make_world(max_starts_per_user=0)
    for n in range(12):
        start(world, f"+467000002{n:02d}", "ip:198.51.100.7")


class TestNumberTypes:
    def test_sms_to_a_fixed_line_is_denied_before_sending(self, world: World) -> None:
        with pytest.raises(DestinationDenied, match="fixed line"):
            world.service.start(StartCommand(phone_number="+46815600001"))
        assert world.sinch.starts == []

    def test_a_call_to_a_fixed_line_is_allowed(self, world: World) -> None:
        world.service.start(StartCommand(phone_number="+46815600001", method=Method.CALLOUT))

    def test_numbers_that_may_be_mobile_pass(self, world: World) -> None:
        world.service.start(StartCommand(phone_number="+14155550123"))  # US: fixed line or mobile

    @pytest.mark.parametrize("number", ["+19005550123", "+18005550123"])  # premium rate, toll free
    def test_premium_rate_and_toll_free_are_denied_for_every_method(self, world: World, number: str) -> None:
        for method in Method:
            with pytest.raises(DestinationDenied):
                world.service.start(StartCommand(phone_number=number, method=method))


class TestRateKeys:
    """Behind one backend principal every end user is the same caller: the start body's rateKey names the
    end user, who gets a budget of their own (within the backend's)."""

    def test_each_rate_key_has_its_own_budget(self) -> None:
        world = make_world(max_starts_per_rate_key=2, caller_window_seconds=3600)

        def start_for(number: str, key: str) -> None:
            world.service.start(StartCommand(phone_number=number, rate_key=BACKEND, user_rate_key=key))

        start_for("+46700000301", "203.0.113.7")
        start_for("+46700000302", "203.0.113.7")
        with pytest.raises(RateLimited, match="rateKey") as caught:
            start_for("+46700000303", "203.0.113.7")
        assert caught.value.retry_after == 3600
        start_for("+46700000304", "198.51.100.1")  # another end user of the same backend
        assert len(world.sinch.starts) == 3

    def test_rate_keys_of_different_callers_are_different_budgets(self) -> None:
        world = make_world(max_starts_per_rate_key=1)
        for backend in (BACKEND, "iam:arn:aws:iam::000000000000:role/other-backend"):
            world.service.start(
                StartCommand(phone_number="+46700000311", owner=backend, rate_key=backend, user_rate_key="k")
            )
            world.clock.now += 31
        assert len(world.sinch.starts) == 2
