"""A prefix's bucket of sends spread over several items (part of ``store_guard.py``).

One item per prefix would take every send to the prefix and every conversion of it: at a thousand starts
a second into one prefix that is about 2,000 write units a second for the sends (each an update in a
transaction, which counts twice) and more for the conversions, against DynamoDB's ~1,000 per partition
key. So the bucket is split into ``shards_of(policy)`` items, ``guard#<prefix hash>`` and
``guard#<prefix hash>#<k>``; each holds its share of the budget and of the ceiling (the shares add up to
them exactly) and refills at its share a day, so together they are the one bucket of ``fraud.py``:

- a send takes a token from one shard chosen at random, when that shard has one (one update, no read);
- otherwise every shard is read at once (``BatchGetItem``) and the rules decide on their sum: a shard with
  a token after its refill gives it; failing that, when the shards' fractions add up to a token, the
  richest gives it (going below zero), conditional on every shard counted being unchanged; a prefix is
  refused only when all of them together hold less than one token, exactly as the single bucket was;
- a conversion or refund goes back to the shard its send took from (the verification keeps its key).

Differences from one item: a conversion that would take its shard above the shard's share of the ceiling
is only counted, though the prefix as a whole might be below the ceiling (fewer tokens, never more); and
the operators' command adds the shards up. Budgets below ``2 * SHARD_TOKENS`` stay one item.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .fraud import GuardPolicy, PrefixState, tokens_at

# A shard per two tokens of an unproven prefix's budget, at most eight: the default budget of 20 is eight
# shards (sends of 2 or 3 each, ceiling 25 each), so a thousand sends a second into one prefix are about
# 125 a second per item.
SHARD_TOKENS = 2
MAX_SHARDS = 8


def shards_of(policy: GuardPolicy) -> int:
    return max(1, min(MAX_SHARDS, policy.budget // SHARD_TOKENS))


def _share(total: int, count: int, shard: int) -> int:
    share, extra = divmod(total, count)
    return share + (1 if shard < extra else 0)


def shard_policy(policy: GuardPolicy, shard: int) -> GuardPolicy:
    """The rules one shard follows: its share of the budget (what it starts with and refills a day) and
    of the ceiling."""
    count = shards_of(policy)
    if count == 1:
        return policy
    return replace(
        policy, budget=_share(policy.budget, count, shard), ceiling=_share(policy.ceiling, count, shard)
    )


def shard_name(prefix_hash: str, shard: int) -> str:
    """What a shard is keyed by (after ``guard#``), and what a verification keeps to credit its send."""
    return prefix_hash if shard == 0 else f"{prefix_hash}#{shard}"


def split_name(name: str) -> tuple[str, int]:
    """``shard_name``'s prefix hash and shard."""
    prefix_hash, _, shard = name.partition("#")
    return prefix_hash, int(shard) if shard.isdigit() else 0


@dataclass(frozen=True, slots=True)
class Shard:
    """A shard as read: its state as stored (a new one's full share when there is no item), its version,
    and the tokens the next send finds in it."""

    index: int
    item: Mapping[str, Any]
    state: PrefixState
    version: int
    tokens: float


@dataclass(frozen=True, slots=True)
class Pooled:
    """The rules' decision on every shard read at once: ``refused``; or ``take`` from that shard (it has a
    token, or it is the richest and ``checks`` are the other shards, with their versions, whose tokens
    made up the one it gives)."""

    refused: bool
    safe: bool = False
    take: Shard | None = None
    checks: tuple[tuple[int, int], ...] = ()
    empty: tuple[int, ...] = ()  # shards without a token of their own


def pooled(shards: Sequence[Shard], number_hash: str) -> Pooled:
    states = [shard.state for shard in shards if shard.item]
    if any(state.safe or number_hash in state.safe_numbers for state in states):
        return Pooled(refused=False, safe=True)
    empty = tuple(shard.index for shard in shards if shard.tokens < 1)
    ready = [shard for shard in shards if shard.tokens >= 1]
    if ready:  # one at random: racing sends spread over them
        return Pooled(refused=False, take=random.choice(ready), empty=empty)  # noqa: S311 - load, not secrets
    if sum(shard.tokens for shard in shards) < 1:
        return Pooled(refused=True, empty=empty)
    richest = max(shards, key=lambda shard: shard.tokens)
    checks = tuple(
        (shard.index, shard.version) for shard in shards if shard is not richest and shard.tokens > 0
    )
    return Pooled(refused=False, take=richest, checks=checks, empty=empty)


def shard_of(policy: GuardPolicy, index: int, item: Mapping[str, Any], state: PrefixState, now: int) -> Shard:
    rules = shard_policy(policy, index)
    if not item:
        state = PrefixState.new(rules, now)
    version = int(item.get("version", {}).get("N", 0)) if item else 0
    return Shard(index, item, state, version, tokens_at(rules, state, now))
