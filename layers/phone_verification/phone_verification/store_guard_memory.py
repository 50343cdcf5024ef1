"""What one execution environment remembers of the fraud guard's prefixes (part of ``store_guard.py``), so
that a prefix many starts go to costs DynamoDB next to nothing when the answer is already known:

- **Refusals.** A prefix found without tokens is refused without asking DynamoDB for
  ``REFUSAL_MEMORY_SECONDS`` (its safe-listed numbers pass all the same).
- **Safe-listings.** A prefix (or a number of it) found safe-listed passes without asking for as long: an
  operator's ``safelist --remove`` is seen that much later, as an ``unblock`` is.
- **Empty shards.** A shard of a prefix's bucket (``store_guard_shards``) found without a token is not
  chosen again for as long, unless a conversion or refund here gives the prefix tokens.

Lambda runs one request at a time per environment, but the local stack serves several at once from one
process: every change is made under a lock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from .fraud import PrefixState, Verdict
from .ports import GuardAsk

# How long this environment answers "refused" (or "safe-listed") for a prefix without asking DynamoDB
# again: short, so an operator's unblock or a conversion is seen soon, long enough that an attack costs
# next to nothing.
REFUSAL_MEMORY_SECONDS = 10


@dataclass
class GuardMemory:
    # prefix hash -> (until when, the product's clock; the numbers of it that are safe-listed)
    refused: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)
    # prefix hash -> (until when; the whole prefix safe-listed; its safe-listed numbers)
    passes: dict[str, tuple[int, bool, frozenset[str]]] = field(default_factory=dict)
    # prefix hash -> shard -> until when it is not chosen
    empty: dict[str, dict[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decided(self, ask: GuardAsk, now: int) -> Verdict | None:
        """The verdict this environment can give without asking: a remembered refusal or safe-listing."""
        with self.lock:
            until, safe_numbers = self.refused.get(ask.prefix_hash, (0, frozenset()))
            if until > now and ask.number_hash not in safe_numbers:
                return Verdict(False, False, PrefixState(tokens=0.0, updated=now))
            until, safe, numbers = self.passes.get(ask.prefix_hash, (0, False, frozenset()))
            if until > now and (safe or ask.number_hash in numbers):
                return Verdict(True, False, PrefixState(tokens=0.0, updated=now))
            return None

    def refuse(self, prefix_hash: str, safe_numbers: frozenset[str], now: int) -> None:
        with self.lock:
            self.refused[prefix_hash] = (now + REFUSAL_MEMORY_SECONDS, safe_numbers)

    def passing(self, prefix_hash: str, safe: bool, safe_numbers: frozenset[str], now: int) -> None:
        with self.lock:
            self.passes[prefix_hash] = (now + REFUSAL_MEMORY_SECONDS, safe, safe_numbers)

    def converted(self, prefix_hash: str) -> None:
        """A conversion (or refund) gives the prefix tokens: look again."""
        with self.lock:
            self.refused.pop(prefix_hash, None)
            self.empty.pop(prefix_hash, None)

    def emptied(self, prefix_hash: str, shards: Iterable[int], now: int) -> None:
        with self.lock:
            known = self.empty.setdefault(prefix_hash, {})
            known.update(dict.fromkeys(shards, now + REFUSAL_MEMORY_SECONDS))

    def choose(self, prefix_hash: str, count: int, now: int) -> int:
        """A shard at random among those not known empty (all of them when every one is)."""
        if count == 1:
            return 0
        with self.lock:
            known = self.empty.get(prefix_hash, {})
            left = [shard for shard in range(count) if known.get(shard, 0) <= now]
        return random.choice(left or range(count))  # noqa: S311 - spreading load, not a secret
