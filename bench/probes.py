"""Client-boundary probes, loaded inside the benchmark's child processes (never by the handlers).

- AWS: botocore's ``BaseClient._make_api_call`` is wrapped, so every client's call is timed whole
  (serialisation, signing, the HTTP exchange, retries, parsing) and recorded with the capacity units it
  consumes; ``Endpoint._send`` counts the HTTP requests actually sent.
- Sinch: the product's ``on_call`` hook (``phone_verification.observability.record_sinch_call``, given to
  the ``SinchClient`` when the runtime builds it) is wrapped, so the seconds per Sinch call are those
  the client itself reports.

Only the calls made on the thread that installed the probe count (the local stack's servers run in the
benchmark's parent, but be safe).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

# Items are under 1 KB (writes) and 4 KB (reads): one unit each, two for transactional requests.
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem"}


@dataclass
class Call:
    service: str
    operation: str
    ns: int
    wru: float = 0.0
    rru: float = 0.0
    items: int = 1


@dataclass
class Probe:
    calls: list[Call] = field(default_factory=list)
    http_sends: int = 0
    sinch: list[tuple[str, int]] = field(default_factory=list)  # (operation, ns)
    sinch_hook_installed: bool = False
    thread: int = field(default_factory=threading.get_ident)
    # Analysis only: a cProfile profiler that is paused inside client calls, so that what it records
    # is the invocation's own time.
    profiler: Any = None
    profiling: bool = False

    def _pause(self) -> bool:
        if self.profiling and threading.get_ident() == self.thread:
            self.profiler.disable()
            return True
        return False

    def _resume(self, paused: bool) -> None:
        if paused:
            self.profiler.enable()

    def reset(self) -> None:
        self.calls = []
        self.http_sends = 0
        self.sinch = []

    # ------------------------------------------------------------------------------------------ AWS

    def install_boto(self) -> None:
        """Time every AWS SDK call in this process, whichever session (boto3's or botocore's) made the
        client: the methods are wrapped on botocore's classes. Must run before the first call."""
        from botocore.client import BaseClient
        from botocore.endpoint import Endpoint

        probe = self
        # Private botocore methods (not in the type stubs), stable since botocore 1.0.
        make_api_call = getattr(BaseClient, "_make_api_call")  # noqa: B009
        send = getattr(Endpoint, "_send")  # noqa: B009

        def timed_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            paused = probe._pause()
            started = time.perf_counter_ns()
            try:
                return make_api_call(client, operation_name, api_params)
            finally:
                elapsed = time.perf_counter_ns() - started
                probe.record(client.meta.service_model.service_name, operation_name, api_params, elapsed)
                probe._resume(paused)

        def counted_send(endpoint: Any, request: Any) -> Any:
            if threading.get_ident() == probe.thread:
                probe.http_sends += 1
            return send(endpoint, request)

        setattr(BaseClient, "_make_api_call", timed_call)  # noqa: B010 - the benchmark's probe, by design
        setattr(Endpoint, "_send", counted_send)  # noqa: B010

    def record(self, service: str, operation: str, params: dict[str, Any], ns: int) -> None:
        if threading.get_ident() != self.thread:
            return
        call = Call(service, operation, ns)
        if service == "dynamodb":
            if operation in _WRITES:
                call.wru = 1.0  # a write whose condition fails still consumes its unit
            elif operation in _READS:
                call.rru = 1.0 if params.get("ConsistentRead") else 0.5
            elif operation == "TransactWriteItems":
                call.items = len(params.get("TransactItems", []))
                call.wru = 2.0 * call.items
            elif operation == "TransactGetItems":
                call.items = len(params.get("TransactItems", []))
                call.rru = 2.0 * call.items
        self.calls.append(call)

    # ---------------------------------------------------------------------------------------- Sinch

    def install_sinch(self) -> bool:
        """Wrap the product's ``on_call`` hook wherever the runtime picks it up; False if not found."""
        import importlib

        found = False
        for name in ("phone_verification.observability", "phone_verification.runtime"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            original = getattr(module, "record_sinch_call", None)
            if original is None or getattr(original, "_bench_probe", False):
                found = found or original is not None
                continue
            setattr(module, "record_sinch_call", self._sinch_hook(original))  # noqa: B010 - a module
            found = True
        self.sinch_hook_installed = found
        return found

    def _sinch_hook(self, original: Any) -> Any:
        probe = self

        def hook(call: Any) -> None:
            if threading.get_ident() == probe.thread:
                probe.sinch.append((call.operation, round(call.seconds * 1e9)))
            original(call)

        hook._bench_probe = True  # type: ignore[attr-defined]
        return hook

    def pause_profiler_in_sinch_calls(self, profiler: Any) -> None:
        """Analysis only: leave the HTTP exchange with Sinch (what ``on_call`` times) out of the profile."""
        import requests

        self.profiler = profiler
        probe = self
        original = requests.Session.request

        def request(session: Any, *args: Any, **kwargs: Any) -> Any:
            paused = probe._pause()
            try:
                return original(session, *args, **kwargs)
            finally:
                probe._resume(paused)

        setattr(requests.Session, "request", request)  # noqa: B010 - replaced for the analysis run only

    # --------------------------------------------------------------------------------------- output

    def snapshot(self) -> dict[str, Any]:
        return {
            "aws": [[c.service, c.operation, c.ns, c.wru, c.rru, c.items] for c in self.calls],
            "http_sends": self.http_sends,
            "sinch": [[operation, ns] for operation, ns in self.sinch],
        }
