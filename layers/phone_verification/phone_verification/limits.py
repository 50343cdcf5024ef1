"""Send limits that hold over any window of their length (a sliding window, not a fixed one).

A limit allows at most ``max_starts`` starts in any ``window`` seconds and, optionally, ``min_gap`` seconds
between two starts. It counts starts in buckets of ``granularity`` seconds: one second (exact) for limits
of up to 60 starts, such as a number's 5 per 10 minutes; a sixtieth of the window for larger ones, such as
a backend's 1,000 per hour, so the log stays small. A bucket counts for as long as any second in it is
inside the window, so a coarse bucket makes the limit stricter, never looser: no window of the limit's
length ever holds more than ``max_starts`` starts.

A fixed window ("5 per 10 minutes", reset every 10 minutes) lets 9 starts through in a few minutes across
the reset; this does not. Standard library only: the store keeps the log, this module decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# Up to this many starts a limit counts each second on its own.
_EXACT_UP_TO = 60

Rule = Literal["window", "gap", "contention"]


class LimitReached(Exception):
    """A start the limit does not allow now. ``wait``: seconds until it would (for ``contention``, other
    starts kept changing the log and the store gave up after a few rounds)."""

    def __init__(self, rule: Rule, wait: int) -> None:
        super().__init__(f"{rule} limit reached")
        self.rule = rule
        self.wait = max(1, wait)


@dataclass(frozen=True, slots=True)
class Limit:
    max_starts: int
    window: int
    min_gap: int = 0

    @property
    def granularity(self) -> int:
        if self.max_starts <= _EXACT_UP_TO:
            return 1
        return max(1, -(-self.window // _EXACT_UP_TO))

    def bucket(self, moment: int) -> int:
        return moment - moment % self.granularity

    def counts(self, bucket: int, now: int) -> bool:
        """Whether a bucket's starts are inside the window ending now (any of its seconds is)."""
        return bucket + self.granularity - 1 > now - self.window


@dataclass(frozen=True, slots=True)
class StartLog:
    """What a limit has counted: starts per bucket (bucket start, in seconds since the epoch) and the last
    start."""

    buckets: Mapping[int, int]
    last: int | None = None

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


EMPTY = StartLog({})


def take(limit: Limit, log: StartLog, now: int) -> StartLog:
    """The log with a start now, or ``LimitReached`` saying which rule refuses it and for how long."""
    kept = {bucket: count for bucket, count in log.buckets.items() if count > 0 and limit.counts(bucket, now)}
    waits: list[tuple[int, Rule]] = []
    excess = sum(kept.values()) - limit.max_starts + 1
    if excess > 0:
        # The start is allowed once enough of the oldest buckets have left the window.
        for bucket in sorted(kept):
            excess -= kept[bucket]
            if excess <= 0:
                waits.append((bucket + limit.granularity - 1 + limit.window - now, "window"))
                break
    if log.last is not None and log.last > now - limit.min_gap:
        waits.append((log.last + limit.min_gap - now, "gap"))
    if waits:
        wait, rule = max(waits)
        raise LimitReached(rule, wait)
    bucket = limit.bucket(now)
    kept[bucket] = kept.get(bucket, 0) + 1
    return StartLog(kept, now)
