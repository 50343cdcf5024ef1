"""The X-Ray daemon's stand-in: UDP sockets on 127.0.0.1 that count what the X-Ray SDK sends.

In Lambda with ``Tracing: Active`` the X-Ray SDK streams every finished subsegment as one UDP datagram
(``{"format":"json","version":1}`` + a newline + the subsegment's JSON) to ``AWS_XRAY_DAEMON_ADDRESS``.
The benchmark points that variable at one of these sockets, so a measurement with tracing on also
proves that tracing sent something (and one with tracing off that it sent nothing).

One socket per key (``"cold/ours_start.on"``, ``"warm/StartVerificationFunction/on"``...), so what each
kind of run sent is known without timing guesses; one reader thread (a daemon, in the benchmark's own
process) drains them all. Datagrams are counted, with their bytes, the documents that parse as X-Ray
segments or subsegments, and the trace ids seen.
"""

from __future__ import annotations

import array
import fcntl
import json
import selectors
import socket
import termios
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

HEADER = b'{"format":"json","version":1}'
_RECEIVE_BUFFER = 4 * 1024 * 1024  # the kernel caps it at net.core.rmem_max


@dataclass
class Tally:
    datagrams: int = 0
    size: int = 0  # bytes
    subsegments: int = 0  # documents of type "subsegment"
    segments: int = 0  # other X-Ray documents (whole segments)
    malformed: int = 0  # datagrams without the X-Ray header or with a body that is not JSON
    traces: set[str] = field(default_factory=set)
    names: dict[str, int] = field(default_factory=dict)  # subsegment name -> count

    def add(self, data: bytes) -> None:
        self.datagrams += 1
        self.size += len(data)
        header, _, body = data.partition(b"\n")
        try:
            document = json.loads(body) if header.replace(b" ", b"") == HEADER else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            self.malformed += 1
            return
        if document.get("type") == "subsegment":
            self.subsegments += 1
        else:
            self.segments += 1
        trace = document.get("trace_id")
        if isinstance(trace, str):
            self.traces.add(trace)
        name = str(document.get("name"))
        self.names[name] = self.names.get(name, 0) + 1


class UdpSink:
    """``address(key)``: a fresh 127.0.0.1 UDP port for ``key``; ``tally(key)``: what it received."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._sockets: dict[str, socket.socket] = {}
        self._tallies: dict[str, Tally] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-xray-sink", daemon=True)
        self._thread.start()

    def __enter__(self) -> UdpSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def address(self, key: str) -> str:
        with self._lock:
            sock = self._sockets.get(key)
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
                self._sockets[key] = sock
                self._tallies[key] = Tally()
                self._selector.register(sock, selectors.EVENT_READ, key)
            host, port = sock.getsockname()
        return f"{host}:{port}"

    def environment(self, key: str) -> dict[str, str]:
        """The variables Lambda sets for the X-Ray daemon, pointing at ``key``'s socket."""
        address = self.address(key)
        host, _, port = address.partition(":")
        return {
            "AWS_XRAY_DAEMON_ADDRESS": address,
            "_AWS_XRAY_DAEMON_ADDRESS": host,
            "_AWS_XRAY_DAEMON_PORT": port,
        }

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                # Registering a socket from another thread meanwhile is safe (epoll; GIL-atomic dicts).
                events = self._selector.select(timeout=0.05)
            except (OSError, ValueError):
                return
            # Received and counted under the lock: settle() sees a datagram either pending or counted.
            with self._lock:
                for selected, _ in events:
                    sock = selected.fileobj
                    assert isinstance(sock, socket.socket)
                    while True:
                        try:
                            data = sock.recv(65536)
                        except OSError:  # BlockingIOError: drained
                            break
                        self._tallies[selected.data].add(data)

    @staticmethod
    def _pending(sock: socket.socket) -> int:
        size = array.array("i", [0])
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, size, True)
        except OSError:
            return 0
        return size[0]

    def settle(self, timeout: float = 5.0) -> None:
        """Return once every datagram sent so far is counted (loopback UDP is queued at the receiver by
        the time ``sendto`` returns, so after a child exits its datagrams are all pending or counted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(self._pending(sock) for sock in self._sockets.values()):
                    return
            time.sleep(0.005)

    def tally(self, key: str) -> Tally:
        self.settle()
        with self._lock:
            found = self._tallies.get(key)
            if found is None:
                return Tally()
            return Tally(
                found.datagrams,
                found.size,
                found.subsegments,
                found.segments,
                found.malformed,
                set(found.traces),
                dict(found.names),
            )

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        with self._lock:
            for sock in self._sockets.values():
                self._selector.unregister(sock)
                sock.close()
            self._sockets.clear()
            self._selector.close()
