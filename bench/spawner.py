"""A small process that starts the benchmark's children and times them: ``python -S -E bench/spawner.py``.

Why not spawn them from the benchmark itself: Linux keeps a process's peak RSS across ``execve``, and a
child forked from the benchmark (which hosts moto and the sandbox, 100+ MB) would report the parent's
peak as its own ``ru_maxrss``. Forked from this process (a few MB), a child's ``ru_maxrss`` is its own.

CPU placement: with ``"cpu": N`` in a request, the child runs on CPU N only, from its first instruction
(a clone inherits its caller's affinity): this process pins itself to N for the ``posix_spawn`` and then
returns to its own CPUs (the benchmark's, away from the measured one), where it waits for the answer.
``posix_spawn`` has no pre-exec hook; pinning the caller around it keeps the same spawn (vfork + exec)
whether or not children are pinned, and this process's own small peak RSS is still all a child inherits.

Protocol, one JSON object per line: the request ``{"argv", "env", "stderr", "log", "timeout", "cpu"}`` on
stdin; the answer ``{"wall_ms", "maxrss_kb", "exit", "answer"}`` on stdout, where ``wall_ms`` runs from the
spawn to the child's ``@@BENCH@@`` line and ``answer`` is that line's JSON text (or null). The child's
other stdout goes to ``log`` (or nowhere). Exits when stdin closes, so it never outlives the benchmark.
"""

import json
import os
import select
import signal
import sys
import time

MARKER = b"@@BENCH@@ "


def run(request: dict) -> dict:  # type: ignore[type-arg]
    read_end, write_end = os.pipe()
    stderr = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    actions = [
        (os.POSIX_SPAWN_DUP2, write_end, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
        (os.POSIX_SPAWN_CLOSE, read_end),
    ]
    cpu = request.get("cpu")
    own_cpus = os.sched_getaffinity(0) if cpu is not None else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # the child inherits this at its clone
    try:
        started = time.perf_counter()
        pid = os.posix_spawn(request["argv"][0], request["argv"], request["env"], file_actions=actions)
    finally:
        if own_cpus is not None:
            os.sched_setaffinity(0, own_cpus)
    os.close(write_end)
    os.close(stderr)
    log = open(request["log"], "ab") if request.get("log") else None  # noqa: SIM115
    deadline = started + float(request.get("timeout", 120))
    answer, answered, pending = None, 0.0, b""
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if answer is None and line.startswith(MARKER):
                    answered = time.perf_counter()
                    answer = line[len(MARKER) :].decode()
                elif log is not None:
                    log.write(line + b"\n")
    finally:
        os.close(read_end)
        if log is not None:
            log.close()
    _, status, usage = os.wait4(pid, 0)
    return {
        "wall_ms": (answered - started) * 1000 if answer is not None else None,
        "maxrss_kb": usage.ru_maxrss,
        "exit": os.waitstatus_to_exitcode(status),
        "answer": answer,
    }


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
