"""The fraud guard against SMS pumping: trust is earned per number prefix.

SMS pumping ("artificially inflated traffic") starts verifications to number ranges whose operators pay
the attacker per message, and never enters a code. Its mark is sends that never convert, concentrated
in ranges. So every number prefix holds a bucket of send tokens:

- A prefix is the number without its last four digits: a block of 10,000 numbers, the size in which
  numbering plans assign ranges to operators (a NANP NPA-NXX, most European mobile blocks), so the range
  an attacker rents is one or a few prefixes, while legitimate users of one block are few.
- A prefix nobody has proven gets ``budget`` tokens; each send takes one. A send that converts (the right
  code comes back, whenever it does) returns its token and earns ``earn`` more, up to ``ceiling``: a
  prefix whose users verify can send bursts, and late conversions are credited when they come. Sends that
  never convert earn nothing, and the tokens they took come back only at ``budget`` per day.
- A prefix without a token is refused (``403 destination_denied``, reason ``suspected_fraud``) until a
  token comes back; an operator can unblock it (a full bucket) or safe-list it or a number.

The rules are written so that one conditional DynamoDB write applies them in the common case (a bucket
with a token left takes one): ``store_guard.py``.

Pumping into one prefix therefore gets ``budget`` sends a day through; pumping spread over many fresh
prefixes gets ``budget`` per prefix, which the callers' own budgets bound (README, "Fraud guard").
Standard library only: the store keeps each prefix's state, this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

GuardMode = Literal["enforce", "monitor", "off"]
REASON = "suspected_fraud"
RULE = "prefix_budget"
DAY = 24 * 3600
# Digits left off a number to make its prefix: a block of 10,000 numbers.
_BLOCK_DIGITS = 4


def prefix_of(e164: str, country_code: int) -> str:
    """The number's block of 10,000 (its E.164 digits without the last four), never shorter than its
    country code and one more digit."""
    digits = e164.removeprefix("+")
    keep = max(len(str(country_code)) + 1, len(digits) - _BLOCK_DIGITS)
    return "+" + digits[:keep]


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    mode: GuardMode = "enforce"
    budget: int = 20  # tokens of a prefix nobody has proven; also how many come back per day
    earn: int = 2  # tokens a conversion earns, besides returning its own
    ceiling: int = 200  # the most tokens a prefix can hold, however well it converts
    safe_countries: frozenset[str] = frozenset()

    @property
    def on(self) -> bool:
        return self.mode != "off"


@dataclass(frozen=True, slots=True)
class PrefixState:
    """A prefix's bucket as of its last change (``updated``), and, for operators, its sends and
    conversions since it was first seen. Refusals are counted in metrics, not here: writing each one
    would make a prefix under attack a hot key."""

    tokens: float
    updated: int
    sends: int = 0
    conversions: int = 0
    safe: bool = False
    safe_numbers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def new(cls, policy: GuardPolicy, now: int) -> PrefixState:
        return cls(tokens=float(policy.budget), updated=now)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard decided for one send: ``allowed`` (and ``counted`` when it took a token, so the
    send's conversion is credited and its failure refunded), and the prefix's state after it."""

    allowed: bool
    counted: bool
    state: PrefixState


def tokens_at(policy: GuardPolicy, state: PrefixState, now: int) -> float:
    """The tokens the next send finds: a bucket with a token left as it is, an empty one with what has
    come back since its last change. Below 1, sends are refused."""
    return state.tokens if state.tokens >= 1 else _refilled(policy, state, now)


def _refilled(policy: GuardPolicy, state: PrefixState, now: int) -> float:
    """The tokens an empty bucket has got back since the prefix's last change: ``budget`` a day, up to
    ``budget``. (A bucket with a token left takes the next send without looking at the clock, so time
    counts only from the last change: tokens come back at most at that rate, never faster.)"""
    elapsed = max(0, now - state.updated)
    return min(float(policy.budget), state.tokens + elapsed * policy.budget / DAY)


def decide(policy: GuardPolicy, state: PrefixState, now: int, number_hash: str) -> Verdict:
    """One send to the prefix: take a token, or refuse for want of one. Safe-listed prefixes and numbers
    pass without taking one."""
    if state.safe or number_hash in state.safe_numbers:
        return Verdict(True, False, state)
    tokens = tokens_at(policy, state, now)
    if tokens < 1:
        return Verdict(False, False, state)
    return Verdict(True, True, replace(state, tokens=tokens - 1, sends=state.sends + 1, updated=now))


def credit(policy: GuardPolicy, state: PrefixState, now: int) -> PrefixState:
    """A counted send converted: its token comes back and it earns ``earn`` more, unless that would pass
    the ceiling (then the conversion is only counted)."""
    gain = 1 + policy.earn
    tokens = state.tokens + gain if state.tokens + gain <= policy.ceiling else state.tokens
    return replace(state, tokens=tokens, conversions=state.conversions + 1, updated=now)


def refund(policy: GuardPolicy, state: PrefixState, now: int) -> PrefixState:
    """A counted send that went nowhere (the provider refused it): its token comes back."""
    return replace(state, tokens=state.tokens + 1, sends=max(0, state.sends - 1), updated=now)


def unblocked(policy: GuardPolicy, state: PrefixState, now: int) -> PrefixState:
    """An operator's unblock: at least an unproven prefix's full bucket."""
    return replace(state, tokens=max(state.tokens, float(policy.budget)), updated=now)
