"""Client-boundary probes, loaded inside the benchmark's child processes (never by the handlers).

- AWS: botocore's ``BaseClient._make_api_call`` is wrapped, so every client's call is timed whole
  (serialisation, signing, the HTTP exchange, retries, parsing) and recorded with the capacity units it
  consumes; ``Endpoint._send`` counts the HTTP requests actually sent.
- Sinch: the product's ``on_call`` hook (``phone_verification.observability.record_sinch_call``, given to
  the ``SinchClient`` when the runtime builds it) is wrapped, so the seconds per Sinch call are those
  the client itself reports.

- X-Ray (tracing on): ``AWSXRayRecorder.record_subsegment``, through which the SDK's patches of botocore,
  requests and http.client open and close their subsegments, is wrapped, so the time the SDK spends
  around each call it wraps (opening the subsegment, its metadata, closing and streaming it over UDP) is
  known; inside a client call that time is the SDK's, not the client's, and own time takes it back.

- Steps (``--analyse`` only): ``install_spans`` wraps the functions of ``STEPS`` (the product's steps,
  the logging and the X-Ray SDK's own work) and records when the invoking thread was in each, so that
  the analysis can say where the own time goes without a profiler's overhead (~1 µs per wrapped call).

Every call is recorded with its start and end (``perf_counter_ns``) and whether the invoking thread made
it, from whichever thread made it: a child runs no servers (the local stack lives in the benchmark's
parent), and a handler that makes calls on worker threads is measured as it runs. The invoking thread's
waits for a worker (``concurrent.futures.Future.result``) are recorded too. Own time subtracts the
invoking thread's client calls and waits (what it spent blocked on the services), and the sequential
round trips are the longest chain of calls, on any thread, that do not overlap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


def _pk(request: Any) -> str:
    """The partition key of the item a request (or a transaction's part) names; "?" when it has none."""
    try:
        key = request.get("Key") or request.get("Item") or {}
        return str(key["pk"]["S"])
    except (AttributeError, KeyError, TypeError):
        return "?"


def _kind(request: Any) -> str:
    """ "caller" for an item keyed {"pk": {"S": "caller#..."}} (store_items.key_of), "?" otherwise."""
    return _pk(request).split("#", 1)[0]


def _writes(operation: str, params: dict[str, Any]) -> list[list[Any]]:
    """[partition key, write units] of each item a DynamoDB request writes (the hot-key count): 1 a plain
    write, 2 an item of a transaction (a condition check included)."""
    if operation in _WRITES:
        return [[_pk(params), 1.0]]
    if operation == "TransactWriteItems":
        return [[_pk(next(iter(item.values()), {})), 2.0] for item in params.get("TransactItems", [])]
    return []


def _batch_keys(params: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """A BatchGetItem's keys, each with whether its table's read is consistent."""
    return [
        ({"Key": key}, bool(table.get("ConsistentRead")))
        for table in (params.get("RequestItems") or {}).values()
        for key in table.get("Keys", [])
    ]


def _item_kinds(operation: str, params: dict[str, Any]) -> str:
    if operation.startswith("Transact"):
        return "+".join(_kind(next(iter(item.values()), {})) for item in params.get("TransactItems", []))
    if operation == "BatchGetItem":
        kinds = [_kind(key) for key, _ in _batch_keys(params)]
        return f"{len(kinds)} {kinds[0]}" if kinds and len(set(kinds)) == 1 else "+".join(kinds)
    return _kind(params)


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
    started: int = 0  # perf_counter_ns at the call's start and end
    ended: int = 0
    # DynamoDB: the kinds of item written or read ("caller", "guard", "number+verification").
    items_of: str = ""
    # DynamoDB: [partition key, write units] per item written (the hot-key count).
    writes: list[list[Any]] = field(default_factory=list)
    main: bool = True  # made by the invoking thread (not a worker of the handler's)


# (module, class or None for a module's function, attribute, what the analysis calls it): the steps whose
# own time ``--analyse`` reports. Nested steps are inclusive (a start's limits contain its transaction).
STEPS: tuple[tuple[str, str | None, str, str], ...] = (
    ("phone_verification.api", "Router", "resolve", "routing, parsing, the use case, the answer"),
    ("phone_verification.usecases.start", "StartVerification", "__call__", "start: the use case"),
    ("phone_verification.phone", None, "parse", "start: the number parsed and checked (phonenumbers)"),
    (
        "phone_verification.usecases.send_limits",
        "SendLimits",
        "take",
        "start: guard, budgets, number",
    ),
    ("phone_verification.usecases.send", "Sender", "send", "start: Sinch start (request, signature, answer)"),
    ("phone_verification.sinch.signing", None, "application_headers", "Sinch: the request's signature"),
    ("phone_verification.store", "VerificationStore", "create", "start: the verification written"),
    ("phone_verification.usecases.report", "ReportVerification", "__call__", "report: the use case"),
    ("phone_verification.usecases.report", "ReportVerification", "_verified", "report: guard credit, Sinch"),
    ("phone_verification.usecases.lifecycle", "Lifecycle", "changed", "lifecycle event (PutEvents)"),
    ("logging", "Logger", "info", "INFO log lines (Powertools Logger)"),
    ("phone_verification.observability", "EmfMetrics", "flush", "EMF metrics line"),
    ("aws_xray_sdk.core.recorder", "AWSXRayRecorder", "begin_subsegment", "X-Ray: subsegments opened"),
    ("aws_xray_sdk.core.recorder", "AWSXRayRecorder", "end_subsegment", "X-Ray: closed and streamed"),
    ("aws_xray_sdk.core.emitters.udp_emitter", "UDPEmitter", "send_entity", "X-Ray: serialised, sent (UDP)"),
    ("aws_xray_sdk.core.lambda_launcher", "LambdaContext", "_refresh_context", "X-Ray: trace header read"),
)


@dataclass
class Probe:
    calls: list[Call] = field(default_factory=list)
    http_sends: int = 0
    sinch: list[tuple[str, int, int, int, bool]] = field(
        default_factory=list
    )  # (operation, ns, start, end, main)
    # The X-Ray SDK's own work around the calls it wraps: (start, end) perf_counter_ns intervals.
    xray: list[tuple[int, int]] = field(default_factory=list)
    xray_installed: bool = False
    # The invoking thread blocked on a worker of the handler's (Future.result): (start, end).
    waits: list[tuple[int, int]] = field(default_factory=list)
    sinch_hook_installed: bool = False
    thread: int = field(default_factory=threading.get_ident)
    # Analysis only: a cProfile profiler that is paused inside client calls, so that what it records
    # is the invocation's own time.
    profiler: Any = None
    profiling: bool = False
    # The hot-key run only: record each DynamoDB call's items written (``Call.writes``); other runs leave
    # that work out of the invocation's own time.
    count_writes: bool = False
    # Analysis only: (step, start, end) of the invoking thread's steps (``install_spans``).
    spans: list[tuple[str, int, int]] = field(default_factory=list)

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
        self.xray = []
        self.waits = []
        self.spans = []

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
                ended = time.perf_counter_ns()
                service = client.meta.service_model.service_name
                probe.record(service, operation_name, api_params, started, ended)
                probe._resume(paused)

        def counted_send(endpoint: Any, request: Any) -> Any:
            probe.http_sends += 1
            return send(endpoint, request)

        setattr(BaseClient, "_make_api_call", timed_call)  # noqa: B010 - the benchmark's probe, by design
        setattr(Endpoint, "_send", counted_send)  # noqa: B010
        self._install_waits()

    def _install_waits(self) -> None:
        """Record the invoking thread's waits for the handler's worker threads (``Future.result``)."""
        from concurrent.futures import Future

        result = Future.result
        if getattr(result, "_bench_probe", False):
            return
        probe = self

        def timed_result(future: Any, timeout: float | None = None) -> Any:
            if threading.get_ident() != probe.thread:
                return result(future, timeout)
            started = time.perf_counter_ns()
            try:
                return result(future, timeout)
            finally:
                probe.waits.append((started, time.perf_counter_ns()))

        timed_result._bench_probe = True  # type: ignore[attr-defined]
        setattr(Future, "result", timed_result)  # noqa: B010 - the benchmark's probe, by design

    def record(self, service: str, operation: str, params: dict[str, Any], started: int, ended: int) -> None:
        call = Call(service, operation, ended - started, started=started, ended=ended)
        call.main = threading.get_ident() == self.thread
        if service == "dynamodb":
            call.items_of = _item_kinds(operation, params)
            if self.count_writes:
                call.writes = _writes(operation, params)
        if service == "dynamodb":
            if operation in _WRITES:
                call.wru = 1.0  # a write whose condition fails still consumes its unit
            elif operation in _READS:
                call.rru = 1.0 if params.get("ConsistentRead") else 0.5
            elif operation == "BatchGetItem":
                keys = _batch_keys(params)
                call.items = len(keys)
                call.rru = sum(1.0 if consistent else 0.5 for _, consistent in keys)
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
            # Called as the exchange ends: it ran from ``seconds`` ago until now.
            ended = time.perf_counter_ns()
            ns = round(call.seconds * 1e9)
            probe.sinch.append((call.operation, ns, ended - ns, ended, threading.get_ident() == probe.thread))
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

    # ---------------------------------------------------------------------------------------- X-Ray

    def install_xray(self) -> bool:
        """Time the X-Ray SDK's work around each call it wraps; False if the handler did not load it."""
        import sys

        module = sys.modules.get("aws_xray_sdk.core.recorder")
        recorder = getattr(module, "AWSXRayRecorder", None)
        if recorder is None:
            return False
        original = recorder.record_subsegment
        if getattr(original, "_bench_probe", False):
            self.xray_installed = True
            return True
        probe = self

        # (self, wrapped, instance, args, kwargs, name, namespace, meta_processor), as the SDK calls it.
        def record_subsegment(recorder_self: Any, wrapped: Any, *rest: Any, **named: Any) -> Any:
            inner: list[int] = []

            def call(*a: Any, **k: Any) -> Any:
                inner.append(time.perf_counter_ns())
                try:
                    return wrapped(*a, **k)
                finally:
                    inner.append(time.perf_counter_ns())

            started = time.perf_counter_ns()
            try:
                return original(recorder_self, call, *rest, **named)
            finally:
                ended = time.perf_counter_ns()
                if len(inner) == 2:
                    probe.xray += [(started, inner[0]), (inner[1], ended)]
                else:  # the SDK did not call through (an exception before it): all of it was its own
                    probe.xray.append((started, ended))

        record_subsegment._bench_probe = True  # type: ignore[attr-defined]
        setattr(recorder, "record_subsegment", record_subsegment)  # noqa: B010 - the benchmark's probe
        self.xray_installed = True
        return True

    # ---------------------------------------------------------------------------------------- steps

    def install_spans(self) -> None:
        """Analysis only: time the invoking thread's ``STEPS`` (those loaded: X-Ray's with tracing on)."""
        import functools
        import importlib
        import sys

        for module_name, owner_name, attribute, step in STEPS:
            module = sys.modules.get(module_name)
            if module is None and not module_name.startswith("aws_xray_sdk"):
                module = importlib.import_module(module_name)
            owner = getattr(module, owner_name, None) if owner_name else module
            original = getattr(owner, attribute, None)
            if original is None:
                continue
            setattr(owner, attribute, functools.wraps(original)(self._timed_step(original, step)))

    def _timed_step(self, original: Any, step: str) -> Any:
        probe = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != probe.thread:
                return original(*args, **kwargs)
            started = time.perf_counter_ns()
            try:
                return original(*args, **kwargs)
            finally:
                probe.spans.append((step, started, time.perf_counter_ns()))

        return timed

    # --------------------------------------------------------------------------------------- output

    def snapshot(self) -> dict[str, Any]:
        return {
            "aws": [
                [
                    c.service,
                    c.operation,
                    c.ns,
                    c.wru,
                    c.rru,
                    c.items,
                    c.started,
                    c.ended,
                    c.items_of,
                    c.main,
                    c.writes,
                ]
                for c in self.calls
            ],
            "http_sends": self.http_sends,
            "sinch": [list(call) for call in self.sinch],
            "xray": [list(interval) for interval in self.xray],
            "waits": [list(interval) for interval in self.waits],
            "spans": [list(span) for span in self.spans],
        }
