"""The scenarios' traffic: every send decided up front from the seed, before the product answers anything.

A send says when it happens (seconds after the scenario starts, simulated), to which number, from which
caller, and, for a legitimate user, whether and when the user types the code. Deciding all of it first
makes a scenario the same traffic whatever the guard does, so enforce, monitor and off see identical
sends, and a replay of its first sends only is exactly the start of the full run.

Callers: pumping comes from a pool of IAM principals, one per ``PUMP_SENDS_PER_PRINCIPAL`` sends, and a
fresh rateKey per send (a proxy pool), so that neither the principal's budget (1,000 an hour) nor the
rate key's (10 an hour) stops it before the guard does: the table measures the guard. Legitimate traffic
comes from a few backend principals with one rateKey per end user, as a backend passing its users on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from fraud_sim import numbers
from phone_verification.fraud import GuardMode

ACCOUNT = "arn:aws:iam::000000000000"
PUMP_SENDS_PER_PRINCIPAL = 50
BACKENDS = (f"{ACCOUNT}:role/web-signup", f"{ACCOUNT}:role/ios-app", f"{ACCOUNT}:role/android-app")
# When a legitimate user types the code, if at all: the 10 s - 5 min after the send.
REPORT_DELAY = (10.0, 300.0)
# Steady legitimate traffic: country -> share of the traffic; each country's conversion is drawn in
# the 70-95 %.
STEADY_MIX = {
    "US": 0.25,
    "IN": 0.15,
    "BR": 0.10,
    "GB": 0.10,
    "DE": 0.08,
    "FR": 0.08,
    "MX": 0.07,
    "ES": 0.06,
    "IT": 0.06,
    "SE": 0.05,
}
STEADY_BLOCKS_PER_COUNTRY = 40  # the blocks a country's users come from (most blocks see a few users)


@dataclass(frozen=True, slots=True)
class Send:
    at: float  # seconds after the scenario's start, simulated
    number: str
    country: str
    pumping: bool
    principal: str
    rate_key: str
    report_after: float | None = None  # seconds after a successful send; None: the code never comes


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str  # "1", "2", ...: the numbering; "4b" is a stress row outside the criteria
    title: str
    sends: tuple[Send, ...]
    mode: GuardMode = "enforce"

    def with_mode(self, mode: GuardMode, first: int | None = None) -> Scenario:
        """The same traffic (its first ``first`` sends) under another guard mode."""
        return replace(self, mode=mode, sends=self.sends if first is None else self.sends[:first])

    @property
    def span(self) -> float:
        return max((send.at + (send.report_after or 0.0) for send in self.sends), default=0.0)


def _prefixes(count: int) -> str:
    return f"{count} prefix" if count == 1 else f"{count} prefixes"


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def proxy(index: int) -> str:
    """The rateKey of an attacker's request: a fresh address of a large proxy pool each time."""
    return f"100.{64 + index // 65536 % 64}.{index // 256 % 256}.{index % 256}"


def _pumps(times: list[float], targets: list[str], country: str, *, offset: int = 0) -> tuple[Send, ...]:
    sends = [
        Send(
            at=at,
            number=number,
            country=country,
            pumping=True,
            principal=f"{ACCOUNT}:user/pump-{(offset + i) // PUMP_SENDS_PER_PRINCIPAL}",
            rate_key=proxy(offset + i),
        )
        for i, (at, number) in enumerate(zip(times, targets, strict=True))
    ]
    return tuple(sorted(sends, key=lambda send: send.at))


def _arrivals(rng: random.Random, count: int, mean_gap: float) -> list[float]:
    """A Poisson process: ``count`` arrivals, ``mean_gap`` seconds apart on average."""
    times, now = [], 0.0
    for _ in range(count):
        now += rng.expovariate(1 / mean_gap)
        times.append(now)
    return times


def one_prefix(rng: random.Random, scale: float) -> Scenario:
    """(1) A bot walking one rented range: 240 numbers of one Uzbek block, one every 8 s on average.
    Never scaled down: the criteria look at its first 200 sends, and refusals cost next to nothing."""
    del scale
    block = numbers.prefixes("UZ", rng, 1)[0]
    targets = numbers.numbers_in(block, rng, 240)
    sends = _pumps(_arrivals(rng, len(targets), 8.0), targets, "UZ")
    return Scenario("1", "Pumping into one prefix (UZ)", sends)


def spread(rng: random.Random, scale: float) -> Scenario:
    """(2) The same bot spread over 16 blocks of one country (Indonesia), 25 numbers each, one send every
    4 s on average, blocks taken in random order."""
    blocks = numbers.prefixes("ID", rng, max(1, round(16 * scale)))
    targets = [number for block in blocks for number in numbers.numbers_in(block, rng, 25)]
    rng.shuffle(targets)
    sends = _pumps(_arrivals(rng, len(targets), 4.0), targets, "ID")
    return Scenario("2", f"Pumping spread over {_prefixes(len(blocks))} (ID)", sends)


def low_and_slow(rng: random.Random, scale: float) -> Scenario:
    """(3) Pumping that stays under the refill: 6 Kyrgyz blocks, each sent to every 75-100 min
    (about 16 a day, under the 20 a day that come back), for two simulated days."""
    blocks = numbers.prefixes("KG", rng, max(1, round(6 * scale)))
    times: list[float] = []
    targets: list[str] = []
    for block in blocks:
        at = rng.uniform(0, 3600)
        chosen: list[float] = []
        while at < 2 * 86_400:
            chosen.append(at)
            at += rng.uniform(75 * 60, 100 * 60)
        times += chosen
        targets += numbers.numbers_in(block, rng, len(chosen))
    sends = _pumps(times, targets, "KG")
    return Scenario("3", f"Low-and-slow pumping, {_prefixes(len(blocks))} (KG)", sends)


def _legit(rng: random.Random, at: float, number: str, country: str, *, conversion: float, user: int) -> Send:
    converts = rng.random() < conversion
    return Send(
        at=at,
        number=number,
        country=country,
        pumping=False,
        principal=rng.choice(BACKENDS),
        rate_key=f"user-{user}",
        report_after=rng.uniform(*REPORT_DELAY) if converts else None,
    )


def _burst(rng: random.Random, count: int, span: float, conversion: float) -> tuple[Send, ...]:
    block = numbers.prefixes("GB", rng, 1)[0]
    targets = numbers.numbers_in(block, rng, count)
    times = sorted(rng.uniform(0, span) for _ in targets)
    return tuple(
        _legit(rng, at, number, "GB", conversion=conversion, user=user)
        for user, (at, number) in enumerate(zip(times, targets, strict=True))
    )


def burst(rng: random.Random, scale: float) -> Scenario:
    """(4) A campaign in a block never seen before: 200 sign-ups in 40 minutes (5 a minute) into one UK
    block, 85 % of them typing the code 10 s - 5 min after the SMS."""
    count = max(1, round(200 * scale))
    sends = _burst(rng, count, count * 12.0, 0.85)
    return Scenario("4", f"Legitimate burst in a new prefix (GB, {count} in {_span(count * 12.0)})", sends)


def flash_burst(rng: random.Random, scale: float) -> Scenario:
    """(4b) A stress row, outside the criteria: 100 sign-ups in 5 minutes (20 a minute) into one new
    block, 85 % converting 10 s - 5 min later: faster than conversions can refill 20 tokens."""
    count = max(1, round(100 * scale))
    sends = _burst(rng, count, count * 3.0, 0.85)
    title = f"Flash burst in a new prefix (GB, {count} in {_span(count * 3.0)}; stress)"
    return Scenario("4b", title, sends)


def _unseen(rng: random.Random, blocks: list[str], seen: set[str]) -> str:
    """A user's number: a random one of a random block, never one an earlier user had."""
    while True:
        number = numbers.numbers_in(rng.choice(blocks), rng, 1)[0]
        if number not in seen:
            seen.add(number)
            return number


def steady(rng: random.Random, scale: float) -> Scenario:
    """(5) Two hours of ordinary sign-ups in ten countries (400 sends at scale 1), each country with its
    own conversion rate in 70-95 %, users from 40 blocks per country."""
    count = max(1, round(400 * scale))
    countries = sorted(STEADY_MIX)
    conversion = {country: rng.uniform(0.70, 0.95) for country in countries}
    blocks = {c: numbers.prefixes(c, rng, STEADY_BLOCKS_PER_COUNTRY) for c in countries}
    weights = [STEADY_MIX[c] for c in countries]
    times = sorted(rng.uniform(0, 7200 * scale) for _ in range(count))
    seen: set[str] = set()
    sends: list[Send] = []
    for user, at in enumerate(times):
        country = rng.choices(countries, weights)[0]
        number = _unseen(rng, blocks[country], seen)
        sends.append(_legit(rng, at, number, country, conversion=conversion[country], user=user))
    return Scenario("5", f"Steady legitimate traffic, {len(countries)} countries", tuple(sends))


Builder = Callable[[random.Random, float], Scenario]
SCENARIOS: dict[str, Builder] = {
    "1": one_prefix,
    "2": spread,
    "3": low_and_slow,
    "4": burst,
    "4b": flash_burst,
    "5": steady,
}


def build(key: str, seed: int, scale: float) -> Scenario:
    """One scenario's traffic; its own random stream, so each scenario is the same whatever runs."""
    stream = random.Random(f"fraud-sim/{seed}/{key}")  # noqa: S311 - reproducible traffic, not a secret
    return SCENARIOS[key](stream, scale)
