"""Ctrl-C and SIGTERM for the local servers' commands (``python -m sinch_sandbox``, ``python -m local_stack``
and ``python -m local_stack.events``): stop in any state, and never hang while stopping.

Here rather than in local_stack because the sandbox runs on its own and depends on nothing of the local
stack, while the local stack already uses the sandbox.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import NoReturn


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised in the main thread wherever it is (as KeyboardInterrupt would be)."""


class Signals:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread, which may be importing, waiting on a
    server or sleeping: start-up is abandoned, serving ends. One arriving while the command stops ends the
    process at once, as does a stop taking longer than its grace.

    The handler only sets plain attributes and raises: it takes no lock (the main thread may hold the one
    it would need) and writes with os.write (print could re-enter a buffered write it interrupted)."""

    def __init__(self, prog: str, *, unfinished: str = "stopped without finishing the stop") -> None:
        self.prog = prog
        self.unfinished = unfinished  # what a forced exit leaves undone, for its message
        self.stopping = False
        self.signum: int | None = None

    def install(self) -> None:
        """Only from the main thread (Python's rule), and first: before the slow imports."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle)
            signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.force_exit(f"a second signal: {self.unfinished}", 128 + signum)
        self.stopping = True
        self.signum = signum
        raise Interrupted

    def force_exit(self, reason: str, status: int) -> NoReturn:
        os.write(2, f"{self.prog}: {reason}\n".encode())
        os._exit(status)

    def begin_stop(self, grace: float) -> threading.Timer:
        """From here a signal ends the process at once, as does a stop taking longer than ``grace``; the
        status is a shell's for the signal that asked for the stop (1 when none did)."""
        self.stopping = True
        status = 128 + self.signum if self.signum is not None else 1
        reason = f"stopping took over {grace:.0f} s: {self.unfinished}"
        watchdog = threading.Timer(grace, self.force_exit, args=(reason, status))
        watchdog.daemon = True
        watchdog.start()
        return watchdog
