"""What the benchmark runs in a fresh interpreter: ``python -E bench/child.py SPEC.json``.

Modes (``spec["mode"]``):

- ``noop``: answer at once (the interpreter's own start-up, for scale);
- ``cold``: import the handler module and serve one event, as a Lambda cold start does; the parent
  times spawn to answer and reads the peak RSS of this process when it exits;
- ``count``: the same with the client-boundary probes installed first (not timed: probes cost time);
- ``warm``: import the handler, then serve a list of events one after another in this process, timing
  each handler call and what it spent inside the AWS and Sinch clients (``probes.py``).

With ``spec["trace"]`` ("on" or "off"), each invocation gets a fresh ``_X_AMZN_TRACE_ID`` in the
environment before the handler is called, as the Lambda runtime sets it from the invocation's
``Lambda-Runtime-Trace-Id`` (sampled with active tracing, not sampled otherwise); never during the import,
which Lambda runs before any invocation.

The answer is one line on stdout starting with ``MARKER``; the handler's own log lines come before it.
Nothing here imports more than the standard library before the handler does. After a cold start's answer
the process leaves at once (``os._exit``): the interpreter's shutdown (60-100 ms with botocore loaded) is
no part of a Lambda cold start, where the environment lives on, and this way a plain ``/usr/bin/time``
of the same child ends where the benchmark's wall does (crosscheck.py).
"""

import json
import os
import sys
import time

MARKER = "@@BENCH@@ "


class Context:
    """The attributes of the Lambda Python runtime's context object that handlers read."""

    def __init__(self, function_name: str, request_id: str, memory_mb: str = "256") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:000000000000:function:{function_name}"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]bench"
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + 20

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _trace(spec: dict) -> None:  # type: ignore[type-arg]
    """A new X-Ray trace header for the next invocation, as the runtime writes it."""
    sampled = {"on": "1", "off": "0"}.get(spec.get("trace") or "")
    if sampled is None:
        return
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    os.environ["_X_AMZN_TRACE_ID"] = f"Root={root};Parent={os.urandom(8).hex()};Sampled={sampled}"


_ANSWER_FD: list = []  # type: ignore[type-arg]  # warm mode: the spawner's pipe, once stdout is the log


def _answer(payload: object) -> None:
    if _ANSWER_FD:
        sys.stdout.flush()
        os.write(_ANSWER_FD[0], (MARKER + json.dumps(payload) + "\n").encode())
        return
    sys.stdout.write(MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _load_probes(path: str):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_probes", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_probes"] = module
    spec.loader.exec_module(module)
    return module.Probe()


def _import_handler(spec: dict):  # type: ignore[no-untyped-def,type-arg]
    import importlib

    sys.path[:0] = spec["paths"]
    return importlib.import_module(spec.get("module", "app")).lambda_handler


def cold(spec: dict, probe: object = None) -> None:  # type: ignore[type-arg]
    started = time.perf_counter()
    handler = _import_handler(spec)
    imported = time.perf_counter()
    context = Context(spec["function_name"], "00000000-0000-4000-8000-000000000001")
    _trace(spec)
    if spec.get("profile"):  # analysis only: never in a timed run
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(handler, spec["event"], context)
        profiler.dump_stats(spec["profile"])
    else:
        result = handler(spec["event"], context)
    answered = time.perf_counter()
    payload = {
        "import_ms": (imported - started) * 1000,
        "invoke_ms": (answered - imported) * 1000,
        "result": result,
    }
    if probe is not None:
        payload["probe"] = probe.snapshot()  # type: ignore[attr-defined]
    _answer(payload)


def _log_to_file(path: str) -> None:
    """Warm mode: the handler's stdout (its log lines and EMF metrics) goes straight to a file, and only
    the answer line to the spawner's pipe. Thousands of invocations' log lines through a pipe that the
    spawner drains from the emulator's busy CPU would block the handler's writes now and then, and that
    wait would count as own time; in Lambda, the runtime's log pipe is drained by the service."""
    _ANSWER_FD.append(os.dup(1))
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.close(log)


def _install_probes(probe, spec: dict):  # type: ignore[no-untyped-def,type-arg]
    """The probes a warm worker needs after the handler's import; the analysis' profiler, if asked for."""
    probe.install_sinch()
    probe.install_xray()
    if spec.get("spans"):
        probe.install_spans()
    probe.count_writes = bool(spec.get("writes"))
    if not spec.get("profile"):
        return None
    import cProfile

    profiler = cProfile.Profile()
    probe.pause_profiler_in_sinch_calls(profiler)
    return profiler


def warm(spec: dict) -> None:  # type: ignore[type-arg]
    import gc
    import resource
    import uuid

    if spec.get("log"):
        _log_to_file(spec["log"])

    # The garbage collector's pauses, per invocation (it runs inside whatever allocates, own time or not).
    pauses: list[list[int]] = []

    def on_gc(phase: str, _info: dict) -> None:  # type: ignore[type-arg]
        if phase == "start":
            pauses.append([time.perf_counter_ns(), 0])
        elif pauses:
            pauses[-1][1] = time.perf_counter_ns()

    gc.callbacks.append(on_gc)
    probe = _load_probes(spec["probes"])
    probe.install_boto()
    handler = _import_handler(spec)
    profiler = _install_probes(probe, spec)
    with open(spec["events"], encoding="utf-8") as source, open(spec["out"], "w", encoding="utf-8") as out:
        for line in source:
            item = json.loads(line)
            event = item["event"]
            context = Context(spec["function_name"], str(uuid.uuid4()))
            _trace(spec)
            probe.reset()
            pauses.clear()
            active = profiler if item["label"] != "warmup" else None
            probe.profiling = active is not None
            if active is not None:
                active.enable()
            before = resource.getrusage(resource.RUSAGE_THREAD)
            started = time.perf_counter_ns()
            result = handler(event, context)
            total = time.perf_counter_ns() - started
            after = resource.getrusage(resource.RUSAGE_THREAD)
            if active is not None:
                active.disable()
                probe.profiling = False
            record = {"label": item["label"], "total_ns": total, "gc": pauses, **probe.snapshot()}
            # Involuntary context switches of the invoking thread: the CPU was taken from it (a kernel
            # thread, another process on the measured CPU, the handler's own worker thread).
            record["preempted"] = after.ru_nivcsw - before.ru_nivcsw
            record["status"] = result.get("statusCode")
            record["body"] = json.loads(result.get("body") or "null")
            out.write(json.dumps(record) + "\n")
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    _answer({"sinch_hook": probe.sinch_hook_installed, "xray_probe": probe.xray_installed})


def main() -> None:
    del sys.path[0]  # this folder: the code under test must not see the benchmark's modules
    with open(sys.argv[1], encoding="utf-8") as file:
        spec = json.load(file)
    mode = spec["mode"]
    if mode == "noop":
        _answer({})
    elif mode == "cold":
        cold(spec)
    elif mode == "count":
        probe = _load_probes(spec["probes"])
        probe.install_boto()
        cold(spec, probe)
    elif mode == "warm":
        warm(spec)
        return
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    sys.stderr.flush()
    os._exit(0)  # answered and flushed: no interpreter shutdown (see above)


if __name__ == "__main__":
    main()
