"""``python -m sinch_sandbox`` (``make sandbox``): serve the sandbox on 127.0.0.1 until Ctrl-C or SIGTERM.

Exit status: 0 after a stop (Ctrl-C, SIGTERM, ``--stop-after``), 1 when it cannot listen (the port is in
use), 2 for a configuration error. A second Ctrl-C or SIGTERM while it stops ends it at once (128 + the
signal's number).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from typing import Any

from sinch_sandbox.config import SandboxConfig, describe_mode
from sinch_sandbox.server import SandboxServer
from sinch_sandbox.stopping import Interrupted, Signals

DEFAULT_PORT = 3001
# What a request still running (a delay fault) gets when the sandbox stops; its client is disconnected.
STOP_TIMEOUT = 2.0
# A stop taking longer than this ends the process anyway.
STOP_GRACE = 10.0


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
    signals = Signals("sinch-sandbox")
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
    except Interrupted:
        pass  # a signal: stop
    watchdog = signals.begin_stop(STOP_GRACE)
    try:
        if server is not None:
            server.stop(STOP_TIMEOUT)
    finally:
        watchdog.cancel()
    print("Sinch sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
