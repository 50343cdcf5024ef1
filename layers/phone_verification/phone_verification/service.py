"""The verification service: the use cases (``usecases/``) wired to one set of ports.

What the handlers call, and what a program that embeds the layer would: ``start``, ``start_once``
(idempotent, with the Step Functions replay rule), ``report``, ``status``, ``cancel`` and
``next_channel_once``. The rules themselves live in
the use cases, each in its own module; this class only builds them around a shared ``Context``.
"""

from __future__ import annotations

import time

from .commands import NextCommand, ReportCommand, StartCommand
from .model import Started, Verification
from .ports import (
    Clock,
    Events,
    HashKeySource,
    NoEvents,
    NoOutcomes,
    Outcomes,
    Replays,
    SinchGateway,
    Store,
    WorkflowNotifier,
)
from .settings import Settings
from .usecases.cancel import CancelVerification
from .usecases.next_channel import NextChannel
from .usecases.report import ReportVerification
from .usecases.resume import Resumer
from .usecases.shared import Context, Hashing
from .usecases.start import StartVerification
from .usecases.status import ReadVerification


class VerificationService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        sinch: SinchGateway,
        keys: HashKeySource,
        outcomes: Outcomes | None = None,
        clock: Clock = time.time,
        workflows: WorkflowNotifier | None = None,
        events: Events | None = None,
    ) -> None:
        self.context = Context(
            settings=settings,
            store=store,
            sinch=sinch,
            hashing=Hashing(keys),
            outcomes=outcomes or NoOutcomes(),
            clock=clock,
            workflows=workflows,
            events=events or NoEvents(),
        )
        resumer = Resumer(self.context)
        self._resumer = resumer
        self._start = StartVerification(self.context, resumer)
        self._report = ReportVerification(self.context, resumer)
        self._read = ReadVerification(self.context)
        self._cancel = CancelVerification(self.context, resumer)
        self._next = NextChannel(self.context, resumer)

    @property
    def settings(self) -> Settings:
        return self.context.settings

    def start(self, command: StartCommand) -> Verification:
        """Start a verification (``command.idempotency_key`` is not looked at: see ``start_once``)."""
        return self._start(command)

    def start_once(self, command: StartCommand, replays: Replays) -> Started:
        """Start a verification at most once per ``Idempotency-Key``."""
        return self._start.once(command, replays)

    def report(self, command: ReportCommand) -> Verification:
        return self._report(command)

    def status(self, verification_id: str, owner: str) -> Verification:
        return self._read(verification_id, owner)

    def cancel(self, verification_id: str, owner: str) -> Verification:
        """End the owner's pending verification as CANCELLED (idempotent)."""
        return self._cancel(verification_id, owner)

    def next_channel_once(self, command: NextCommand, replays: Replays) -> Started:
        """Send the verification's next channel under the same id, at most once per ``Idempotency-Key``."""
        return self._next.once(command, replays)

    def attach_task_token(self, verification_id: str, token: str) -> None:
        """Make the verification resume ``token``'s workflow task (a retried task brings a new token)."""
        self._resumer.adopt(verification_id, token)
