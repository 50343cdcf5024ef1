"""``python -m sinch_sandbox`` (what ``make sandbox`` runs): banner, one line per request, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _launch(*args: str, port: int, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "SANDBOX_PORT": str(port), "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and a fixed argument list
        [sys.executable, "-m", "sinch_sandbox", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_serves_logs_each_request_without_bodies_and_stops_by_itself() -> None:
    port = _free_port()
    process = _launch("--stop-after", "5", port=port, SANDBOX_APPLICATION_KEY="cli-key")
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        assert "cli-key" in banner
        assert "/sandbox/v1/inbox/" in banner
        body = '{"identity": {"type": "number", "endpoint": "+46700000000"}, "method": "sms"}'
        response = requests.post(
            f"http://127.0.0.1:{port}/verification/v1/verifications", data=body, timeout=5
        )
        assert response.status_code == 401
        assert process.stdout.readline().strip() == "POST /verification/v1/verifications 401"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "46700000000" not in out  # the body (and so any code) never reaches the console
    assert out.strip().endswith("Sinch sandbox stopped")


def test_stop_after_ends_a_scripted_run() -> None:
    process = _launch("--stop-after", "0.2", port=_free_port())
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.count("\n") == 2  # banner and the stop line


def test_bad_environment_is_reported_not_traced() -> None:
    process = _launch(port=_free_port(), SANDBOX_EXPIRY_SECONDS="soon")
    _, err = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "SANDBOX_EXPIRY_SECONDS" in err
    assert "Traceback" not in err
