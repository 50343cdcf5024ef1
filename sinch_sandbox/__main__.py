"""``python -m sinch_sandbox`` (``make sandbox``): serve the sandbox on 127.0.0.1 until Ctrl-C or SIGTERM.

Exit status: 0 after a stop (Ctrl-C, SIGTERM, ``--stop-after``), 1 when it cannot listen (the port is in
use), 2 for a configuration error. A second Ctrl-C or SIGTERM while it stops ends it at once (128 + the
signal's number).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, NoReturn

from sinch_sandbox.config import SandboxConfig, describe_mode
from sinch_sandbox.server import SandboxServer

DEFAULT_PORT = 3001
# What a request still running (a delay fault) gets when the sandbox stops; its client is disconnected.
STOP_TIMEOUT = 2.0
# A stop taking longer than this ends the process anyway.
STOP_GRACE = 10.0


class _Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised in the main thread wherever it is (as KeyboardInterrupt would be)."""


class _Signals:
    """SIGINT and SIGTERM raise ``_Interrupted`` in the main thread until it stops; one arriving while it
    stops ends the process at once. The handler takes no lock and does not print (see local_stack's)."""

    def __init__(self) -> None:
        self.stopping = False
        self.signum: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.force_exit("a second signal: stopped without finishing the stop", 128 + signum)
        self.stopping = True
        self.signum = signum
        raise _Interrupted

    def force_exit(self, reason: str, status: int) -> NoReturn:
        os.write(2, f"sinch-sandbox: {reason}\n".encode())
        os._exit(status)

    def begin_stop(self) -> threading.Timer:
        self.stopping = True
        status = 128 + self.signum if self.signum is not None else 1
        reason = f"the stop took over {STOP_GRACE:.0f} s: stopped without finishing it"
        watchdog = threading.Timer(STOP_GRACE, self.force_exit, args=(reason, status))
        watchdog.daemon = True
        watchdog.start()
        return watchdog


def _print_request(entry: dict[str, Any]) -> None:
    # Method, path and status only: bodies carry codes, and that is what the inbox is for.
    fault = f" (fault: {entry['fault']})" if entry["fault"] else ""
    print(f"{entry['method']} {entry['path']} {entry['status']}{fault}", flush=True)


def _listen_message(port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"sinch-sandbox: port {port} (Sinch sandbox) is already in use "
            "(another sandbox or local stack? stop it, or set SANDBOX_PORT to a free port)"
        )
    return f"sinch-sandbox: cannot listen on 127.0.0.1:{port} (Sinch sandbox): {error.strerror or error}"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sinch_sandbox",
        description="Local Sinch Verification API sandbox (loopback only). Configured by SANDBOX_* env vars.",
    )
    parser.add_argument(
        "--stop-after", type=float, metavar="SECONDS", help="stop by itself after SECONDS (for scripted runs)"
    )
    return parser.parse_args(argv)


def _serve_until(stop_after: float | None) -> None:
    # time.sleep, not Event.wait: the signal handler raises out of a sleep without leaving a lock held.
    deadline = None if stop_after is None else time.monotonic() + stop_after
    while deadline is None or time.monotonic() < deadline:
        time.sleep(3600 if deadline is None else max(0.0, deadline - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    signals = _Signals()
    if threading.current_thread() is threading.main_thread():
        signals.install()
    server: SandboxServer | None = None
    try:
        args = _arguments(argv)
        try:
            port = int(os.environ.get("SANDBOX_PORT", str(DEFAULT_PORT)))
            if not 0 <= port <= 65535:
                raise ValueError(f"SANDBOX_PORT must be a port number, got {port}")
            config = SandboxConfig.from_env()
        except ValueError as error:
            print(f"sinch-sandbox: {error}", file=sys.stderr)
            return 2
        candidate = SandboxServer(config, port=port, on_request=_print_request)
        try:
            server = candidate.start()
        except OSError as error:
            print(_listen_message(port, error), file=sys.stderr)
            return 1
        print(
            f"Sinch sandbox on {server.url} - application key {config.application_key!r}; "
            f"read the phone at {server.url}/sandbox/v1/inbox/<+number>; mode: {describe_mode(config)}",
            flush=True,
        )
        _serve_until(args.stop_after)
    except _Interrupted:
        pass  # a signal: stop
    watchdog = signals.begin_stop()
    try:
        if server is not None:
            server.stop(STOP_TIMEOUT)
    finally:
        watchdog.cancel()
    print("Sinch sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
