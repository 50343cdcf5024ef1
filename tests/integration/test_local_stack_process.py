"""``python -m local_stack`` (``make run``) and ``python -m sinch_sandbox`` as processes: ports, signals, load

Each test runs the command as a subprocess of this interpreter on free ports (API_PORT, SANDBOX_PORT and
AWS_EMULATOR_PORT set to 0, or to a port a test occupies), with ``--stop-after`` as a safety net so that
nothing outlives a failing test, and kills it by pid in a ``finally``. What is checked:

- a port in use ends the command at once with status 1, naming the port and its server (each of the
  three); the emulator's bind, which moto would do in a thread of its own, fails in the caller's thread;
- SIGTERM and SIGINT stop it with status 0 while it serves, while it starts (moto importing, tables being
  created) and while a request is running (a Sinch sandbox delay fault holds it);
- 200 clients at once each get an HTTP answer from the API and from the sandbox, with their connections
  made while the server was frozen (SIGSTOP), so all 200 sit in the kernel's accept queue at once: that
  checks the listen backlog, not how fast the accept loop happens to drain it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests

from local_stack.auth import unchecked_signature
from local_stack.emulator import AwsEmulator
from local_stack.stack import ListenError, LocalStack
from tests.integration.conftest import http as signed_http

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = Path(__file__).parent / "local_stack_fixtures" / "template.yaml"
BANNER_END = "Ctrl-C stops everything"
CLIENTS = 200
# Long enough for a stack to start on a loaded machine; every process also stops itself after SAFETY_NET.
START_TIMEOUT = 30.0
SAFETY_NET = "60"
# How long a stop (or a refusal to start) may take to count as prompt.
PROMPT = 5.0
# When the handlers are installed is read from /proc/<pid>/status (Linux).
needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")


def _somaxconn() -> int | None:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text().strip())
    except (OSError, ValueError):
        return None


class _Process:
    """A command's process, its stdout and stderr read by threads (so a chatty process never blocks on a
    full pipe) into lines one can wait for."""

    def __init__(self, module: str, *args: str, env: dict[str, str]) -> None:
        environment = {
            **os.environ,
            "PYTHONPATH": f"{REPO_ROOT / 'layers' / 'phone_verification'}{os.pathsep}{REPO_ROOT}",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.popen = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", module, "--stop-after", SAFETY_NET, *args],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.popen.pid
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.popen.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, lines: list[str]) -> None:
        for text in stream:
            with self._changed:
                lines.append(text)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stdout(self) -> str:
        with self._changed:
            return "".join(self.out)

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self.err)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = START_TIMEOUT) -> str:
        """stdout so far, once a line of it satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(predicate(text) for text in self.out):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.popen.poll() is not None and not self._readers[0].is_alive()):
                    raise AssertionError(
                        f"no such line; status {self.popen.poll()}\nstdout:\n{''.join(self.out)}\n"
                        f"stderr:\n{''.join(self.err)}"
                    )
                self._changed.wait(min(remaining, 0.2))
            return "".join(self.out)

    def banner(self) -> str:
        return self.wait_for_line(lambda text: text.startswith(BANNER_END))

    def wait(self, timeout: float) -> int:
        """The exit status, which must come within ``timeout`` seconds (else AssertionError)."""
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout} s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            ) from None
        for reader in self._readers:
            reader.join(5)
        return status

    def handles(self, signum: int) -> bool:
        """Whether the process catches ``signum`` yet (Linux: /proc/<pid>/status SigCgt)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return False
        caught = re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.MULTILINE)
        return caught is not None and bool(int(caught.group(1), 16) >> (signum - 1) & 1)

    def wait_until_handling(self, signum: int, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.handles(signum):
            assert self.popen.poll() is None, self.stderr
            assert time.monotonic() < deadline, "the process never installed its signal handlers"
            time.sleep(0.005)

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # works on a stopped (SIGSTOP) process too
            self.popen.wait()
        for reader in self._readers:
            reader.join(5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


def _stack(*args: str, **env: str) -> _Process:
    ports = {"API_PORT": "0", "SANDBOX_PORT": "0", "AWS_EMULATOR_PORT": "0", "API_AUTH": "IAM"}
    return _Process("local_stack", *args, env={**ports, **env})


def _sandbox(**env: str) -> _Process:
    return _Process("sinch_sandbox", env={"SANDBOX_PORT": "0", **env})


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port another program listens on (a plain listening socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _url(banner: str, label: str) -> str:
    found = re.search(rf"^  {label}\s+(http://127\.0\.0\.1:\d+)", banner, re.MULTILINE)
    assert found is not None, banner
    return found.group(1)


# -- a port in use ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "server"),
    [("API_PORT", "API"), ("SANDBOX_PORT", "Sinch sandbox"), ("AWS_EMULATOR_PORT", "AWS emulator")],
)
def test_a_port_in_use_ends_make_run_at_once_naming_it(occupied: int, variable: str, server: str) -> None:
    process = _stack(**{variable: str(occupied)})
    try:
        status = process.wait(PROMPT)
    finally:
        process.kill()
    assert status == 1, process.stderr
    assert f"local-stack: port {occupied} ({server}) is already in use" in process.stderr
    assert variable in process.stderr  # how to choose another
    assert "Traceback" not in process.stderr
    assert BANNER_END not in process.stdout


def test_the_emulator_fails_to_bind_in_the_callers_thread(occupied: int) -> None:
    # moto's ThreadedMotoServer bound in its own thread: a busy port ended that thread, and start() waited
    # for it forever.
    started = time.monotonic()
    with pytest.raises(OSError, match="in use") as raised:
        AwsEmulator(port=occupied).start()
    assert raised.value.errno == errno.EADDRINUSE
    assert time.monotonic() - started < 2


def test_a_port_taken_after_the_check_still_fails_naming_it(
    occupied: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every port is tried before anything slow starts; one taken in between fails at the server's own bind.
    monkeypatch.setattr("local_stack.stack._probe", lambda server, host, port: None)
    stack = LocalStack(FIXTURE_TEMPLATE, aws_port=occupied)
    with pytest.raises(ListenError) as raised:
        stack.start()
    assert raised.value.server == "aws"
    assert str(raised.value) == f"port {occupied} (AWS emulator) is already in use"


# -- signals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_serving_stack(signum: int) -> None:
    process = _stack()
    try:
        api = _url(process.banner(), "API")
        answer = signed_http.get(f"{api}/verifications/{uuid.uuid4()}", timeout=10)
        assert answer.status_code == 404
        process.popen.send_signal(signum)
        status = process.wait(PROMPT)
    finally:
        process.kill()
    assert status == 0, process.stderr
    assert process.stdout.rstrip().endswith("local-stack: stopped")
    assert "Traceback" not in process.stderr


@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_start_up_stops_it(signum: int) -> None:
    process = _stack()
    try:
        # Both handlers are installed together, first thing in main(); the interpreter's own SIGINT
        # handler (KeyboardInterrupt) is there from the start, so SIGTERM's tells when ours are.
        process.wait_until_handling(signal.SIGTERM)
        process.popen.send_signal(signum)
        status = process.wait(PROMPT)
    finally:
        process.kill()
    assert status == 0, process.stderr
    assert BANNER_END not in process.stdout  # it never got to serve
    assert process.stdout.rstrip().endswith("local-stack: stopped")
    assert "Traceback" not in process.stderr


def test_sigint_with_a_request_running_stops_at_once() -> None:
    process = _stack()
    outcome: dict[str, Any] = {}

    def start_a_verification(api: str) -> None:
        try:
            outcome["status"] = signed_http.post(
                f"{api}/verifications", json={"phoneNumber": "+46700000001"}, timeout=30
            ).status_code
        except requests.RequestException as error:
            outcome["error"] = error

    try:
        banner = process.banner()
        api, sandbox = _url(banner, "API"), _url(banner, "Sinch sandbox")
        # The sandbox holds the next Sinch call for 30 s: the start is running while the signal comes.
        fault = {"kind": "delay", "seconds": 30}
        assert requests.post(f"{sandbox}/sandbox/v1/faults", json=fault, timeout=5).status_code == 201
        client = threading.Thread(target=start_a_verification, args=(api,), daemon=True)
        client.start()
        deadline = time.monotonic() + 10
        # The rule goes once a request has taken it: the start is then held in the sandbox.
        while requests.get(f"{sandbox}/sandbox/v1/faults", timeout=5).json().get("faults"):
            assert time.monotonic() < deadline, "the start never reached the sandbox"
            time.sleep(0.05)
        process.popen.send_signal(signal.SIGINT)
        status = process.wait(PROMPT)
        client.join(PROMPT)
    finally:
        process.kill()
    assert status == 0, process.stderr
    assert process.stdout.rstrip().endswith("local-stack: stopped")
    assert not client.is_alive()
    assert outcome  # the client got an answer or its connection was closed: it is not left hanging
    assert "Traceback" not in process.stderr


def test_a_second_signal_while_stopping_ends_the_process() -> None:
    from sinch_sandbox.stopping import Interrupted, Signals

    exits: list[int] = []

    class Recorded(Signals):
        def force_exit(self, reason: str, status: int) -> NoReturn:
            exits.append(status)
            raise SystemExit(status)

    signals = Recorded("local-stack")
    with pytest.raises(Interrupted):
        signals._handle(signal.SIGINT, None)  # the first: stop
    watchdog = signals.begin_stop(60)
    try:
        with pytest.raises(SystemExit):
            signals._handle(signal.SIGTERM, None)  # the second, while stopping: at once
    finally:
        watchdog.cancel()
    assert exits == [128 + signal.SIGTERM]


# -- python -m sinch_sandbox -----------------------------------------------------------------------------


def test_the_sandbox_command_refuses_a_port_in_use(occupied: int) -> None:
    process = _sandbox(SANDBOX_PORT=str(occupied))
    try:
        status = process.wait(PROMPT)
    finally:
        process.kill()
    assert status == 1
    assert f"sinch-sandbox: port {occupied} (Sinch sandbox) is already in use" in process.stderr
    assert "Traceback" not in process.stderr


@needs_proc
@pytest.mark.parametrize("when", ["serving", "starting"])
def test_sigterm_stops_the_sandbox_command(when: str) -> None:
    process = _sandbox()
    try:
        if when == "serving":
            process.wait_for_line(lambda text: text.startswith("Sinch sandbox on"))
        else:
            process.wait_until_handling(signal.SIGTERM)
        process.popen.send_signal(signal.SIGTERM)
        status = process.wait(PROMPT)
    finally:
        process.kill()
    assert status == 0, process.stderr
    assert process.stdout.rstrip().endswith("Sinch sandbox stopped")


# -- 200 clients at once ----------------------------------------------------------------------------------


def _connect(address: tuple[str, int]) -> socket.socket | BaseException:
    try:
        return socket.create_connection(address, timeout=3)
    except OSError as error:
        return error


def _ask(connection: socket.socket, request: bytes, ready: threading.Barrier) -> int | BaseException:
    try:
        ready.wait()
        connection.settimeout(30)
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as error:
        return error
    finally:
        connection.close()


def _burst(process: _Process, url: str, request: bytes) -> list[int | BaseException]:
    """CLIENTS connections made while the process is frozen (so every one waits in the accept queue),
    then all sending ``request`` at once; each one's HTTP status, or what went wrong."""
    host, port = url.removeprefix("http://").split(":")
    address = (host, int(port))
    with ThreadPoolExecutor(CLIENTS) as pool:
        os.kill(process.pid, signal.SIGSTOP)
        try:
            connected = list(pool.map(lambda _: _connect(address), range(CLIENTS)))
        finally:
            os.kill(process.pid, signal.SIGCONT)
        refused = [item for item in connected if not isinstance(item, socket.socket)]
        sockets = [item for item in connected if isinstance(item, socket.socket)]
        ready = threading.Barrier(len(sockets))
        answers = list(pool.map(lambda connection: _ask(connection, request, ready), sockets))
    return refused + answers


def _request(path: str, host: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


def test_200_clients_at_once_each_get_an_answer() -> None:
    somaxconn = _somaxconn()
    if somaxconn is not None and somaxconn < CLIENTS:
        # The kernel caps every listen backlog at net.core.somaxconn (128 before Linux 5.4): the frozen
        # server's queue could not hold 200 connections, whatever the backlog asked for.
        pytest.skip(f"net.core.somaxconn is {somaxconn}: the kernel cannot queue {CLIENTS} connections")
    process = _stack()
    try:
        banner = process.banner()
        api, sandbox = _url(banner, "API"), _url(banner, "Sinch sandbox")
        api_host, sandbox_host = api.removeprefix("http://"), sandbox.removeprefix("http://")
        # The API: each request runs the status handler, which reads DynamoDB on the emulator.
        signed = f"Authorization: {unchecked_signature()}"
        api_answers = _burst(process, api, _request(f"/verifications/{uuid.uuid4()}", api_host, signed))
        key = base64.b64encode(b"sandbox-key:c2FuZGJveC1zZWNyZXQ=").decode()
        unknown = f"/verification/v1/verifications/id/{uuid.uuid4().hex}"
        sandbox_answers = _burst(
            process, sandbox, _request(unknown, sandbox_host, f"Authorization: Basic {key}")
        )
        process.popen.send_signal(signal.SIGTERM)
        status = process.wait(PROMPT)
    finally:
        process.kill()
    assert [answer for answer in api_answers if answer != 404] == []
    assert [answer for answer in sandbox_answers if answer != 404] == []
    assert len(api_answers) == len(sandbox_answers) == CLIENTS
    assert status == 0, process.stderr
