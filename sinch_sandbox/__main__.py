"""``python -m sinch_sandbox`` (``make sandbox``): serve the sandbox on 127.0.0.1 until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from sinch_sandbox.config import SandboxConfig, describe_mode
from sinch_sandbox.server import SandboxServer

DEFAULT_PORT = 3001


def _print_request(entry: dict[str, Any]) -> None:
    # Method, path and status only: bodies carry codes, and that is what the inbox is for.
    fault = f" (fault: {entry['fault']})" if entry["fault"] else ""
    print(f"{entry['method']} {entry['path']} {entry['status']}{fault}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sinch_sandbox",
        description="Local Sinch Verification API sandbox (loopback only). Configured by SANDBOX_* env vars.",
    )
    parser.add_argument(
        "--stop-after", type=float, metavar="SECONDS", help="stop by itself after SECONDS (for scripted runs)"
    )
    args = parser.parse_args(argv)
    try:
        port = int(os.environ.get("SANDBOX_PORT", str(DEFAULT_PORT)))
        config = SandboxConfig.from_env()
    except ValueError as error:
        print(f"sinch-sandbox: {error}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server = SandboxServer(config, port=port, on_request=_print_request)
    try:
        server.start()
    except OSError as error:
        print(f"sinch-sandbox: cannot listen on 127.0.0.1:{port}: {error}", file=sys.stderr)
        return 1
    print(
        f"Sinch sandbox on {server.url} - application key {config.application_key!r}; "
        f"read the phone at {server.url}/sandbox/v1/inbox/<+number>; mode: {describe_mode(config)}",
        flush=True,
    )
    try:
        stop.wait(args.stop_after)
    finally:
        server.stop()
    print("Sinch sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
