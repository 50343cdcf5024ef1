"""What every use case works with: the ports, the settings and the deployment's keyed hashes."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from phone_verification import codes
from phone_verification.ports import (
    Clock,
    Events,
    HashKeySource,
    NoEvents,
    NoOutcomes,
    Outcomes,
    SinchGateway,
    Store,
    WorkflowNotifier,
)
from phone_verification.settings import Settings


class Hashing:
    """The keyed hashes of the deployment's current key; rebuilt when the key changes (secret rotation)."""

    def __init__(self, keys: HashKeySource) -> None:
        self._keys = keys
        self._cached: tuple[bytes, codes.Hasher] | None = None

    def __call__(self) -> codes.Hasher:
        key = self._keys.hash_key()
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, codes.Hasher(key))
        return self._cached[1]


# Not frozen: the local stack's tests stop the clock of a running product (``context.clock``).
@dataclass(kw_only=True)
class Context:
    settings: Settings
    store: Store
    sinch: SinchGateway
    hashing: Hashing
    outcomes: Outcomes = field(default_factory=NoOutcomes)
    clock: Clock = time.time
    workflows: WorkflowNotifier | None = None
    events: Events = field(default_factory=NoEvents)

    def now(self) -> int:
        return int(self.clock())


# One worker per execution environment for side effects that need not hold up the answer: Lambda runs
# one request at a time per environment, so one worker is enough, and it starts on first use.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alongside")


@contextmanager
def alongside(task: Callable[[], None], needed: bool = True) -> Iterator[None]:
    """Run ``task`` (when ``needed``) on a worker thread while the block runs, and wait for both before
    going on: the request takes as long as the slower of the two, not their sum. The task sees the
    request's context variables (log keys)."""
    if not needed:
        yield
        return
    future = _WORKER.submit(contextvars.copy_context().run, task)
    try:
        yield
    finally:
        future.result()
