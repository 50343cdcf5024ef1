"""The measurements, run from the benchmark's own process against a ``LocalStack`` on loopback.

The local stack (moto server + Sinch sandbox) lives in this process; everything measured runs in child
processes (``child.py``) with the function's environment, so neither the servers nor this process share
an interpreter (or a GIL) with the code under test.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.envs import REPO

BENCH = Path(__file__).resolve().parent
CHILD = BENCH / "child.py"
SPAWNER = BENCH / "spawner.py"
PROBES = BENCH / "probes.py"
START = "StartVerificationFunction"
REPORT = "ReportVerificationFunction"
CHILD_TIMEOUT = 120.0
MARKER_TEXT = "@@BENCH@@ "  # child.py's answer line starts with it
WARM_TIMEOUT = 3600.0
# What the Lambda python3.13 runtime itself brings, with bytecode: the AWS SDK. Everything else a
# deployment ships (the layer, the function, the peer's packages) is source only in what `sam build`
# produces, and Lambda's read-only file system cannot cache what it compiles.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "dateutil", "six"})
# The pycache modes a cold start is measured in.
CACHED, SHIPPED = "cached", "shipped"
BUILD = REPO / ".aws-sam" / "build"
# The bytecode the layer build ships (layers/phone_verification/Makefile): for the python3.13 runtime,
# used as is (pyc header flags: bit 0 hash-based, bit 1 check the source; unchecked-hash = 0b01).
RUNTIME_CACHE_TAG = "cpython-313"
UNCHECKED_HASH = 0b01
WRONG_CODE_FALLBACK = ("000000", "111111")

START_EVENT = json.loads((REPO / "events" / "start-sms.json").read_text())
REPORT_EVENT_TEXT = (REPO / "events" / "report-by-id.json").read_text()
CALLER_ARN = START_EVENT["requestContext"]["authorizer"]["iam"]["userArn"]
OWNER = f"iam:{CALLER_ARN}"


class BenchError(Exception):
    """A measurement could not be taken (a child failed, an answer was wrong)."""


class HandlerFailed(BenchError):
    """The handler answered, but not as expected (one retry, then the benchmark stops)."""


# A warm run goes on past this share of failed invocations (left out of the statistics, listed in the
# notes): the emulator occasionally drops a connection, and botocore's retry of a conditional write
# then fails where DynamoDB would honour the request's idempotency token (moto ignores it).
MAX_WARM_FAILURE_SHARE = 0.01


# --------------------------------------------------------------------------------------------- events


def start_event(number: str, serial: int, caller: Caller | None = None) -> dict[str, Any]:
    """A POST /verifications for ``number`` from ``caller`` (its IAM principal, and the end user behind
    it as the body's rateKey); without one, the sample event's principal and no rateKey."""
    event: dict[str, Any] = json.loads(json.dumps(START_EVENT))
    body: dict[str, Any] = {"phoneNumber": number, "method": "sms"}
    if caller is not None:
        event["requestContext"]["authorizer"]["iam"]["userArn"] = caller.arn
        body["rateKey"] = caller.rate_key
    event["body"] = json.dumps(body)
    event["requestContext"]["requestId"] = f"bench-start-{serial}"
    event["requestContext"]["timeEpoch"] = int(time.time() * 1000)
    return event


def report_event(
    verification_id: str, code: str, serial: int, caller_arn: str = CALLER_ARN
) -> dict[str, Any]:
    event: dict[str, Any]
    event = json.loads(REPORT_EVENT_TEXT.replace("REPLACE-WITH-VERIFICATION-ID", verification_id))
    event["requestContext"]["authorizer"]["iam"]["userArn"] = caller_arn
    event["body"] = json.dumps({"code": code})
    event["requestContext"]["requestId"] = f"bench-report-{serial}"
    event["requestContext"]["timeEpoch"] = int(time.time() * 1000)
    return event


@dataclass(frozen=True)
class Caller:
    arn: str  # the IAM principal API Gateway's IAM authorizer names
    rate_key: str  # the end user behind it (the start body's rateKey)


class Callers:
    """The callers of the benchmark's HTTP starts, so that the caller budgets run at their template
    defaults without refusing the benchmark: a backend principal per ``PER_PRINCIPAL`` starts (the
    default budget is 1,000 per principal and hour), an end user (rateKey) per ``PER_RATE_KEY`` starts
    (10 per rateKey and hour). One instance for the whole run: the budgets outlive a phase."""

    PER_PRINCIPAL = 200
    PER_RATE_KEY = 5

    def __init__(self) -> None:
        self._count = 0
        self._run = f"{os.getpid():x}{int(time.time()) % 100000:05d}"

    def take(self) -> Caller:
        index, self._count = self._count, self._count + 1
        return Caller(
            f"arn:aws:iam::123456789012:user/bench-backend-{self._run}-{index // self.PER_PRINCIPAL}",
            f"bench-user-{self._run}-{index // self.PER_RATE_KEY}",
        )


CALLERS = Callers()


def wrong_code(code: str) -> str:
    return WRONG_CODE_FALLBACK[0] if code != WRONG_CODE_FALLBACK[0] else WRONG_CODE_FALLBACK[1]


class Numbers:
    """Distinct valid Swedish mobile numbers, one block per purpose, spread over ranges of 10,000 numbers
    as real users are: each range gets a few starts, well inside the fraud guard's budget for a range
    nobody has proven (20 sends before one converts; README, "Fraud guard").

    A number is +46 7M B RR SSSS: the range (the first five national digits) is 7M B RR, with M one of the
    five mobile prefixes 70, 72, 73, 76, 79, B the block, RR 00-99: 500 ranges per block, taken in turn,
    so that 2,000 starts give each range 4. SSSS counts the rounds."""

    MOBILE = "02369"
    RANGES = len(MOBILE) * 100

    def __init__(self, block: int) -> None:
        if not 0 <= block <= 9:
            raise ValueError("a block is one digit")
        self._block = block
        self._next = 0

    def take(self) -> str:
        index, self._next = self._next, self._next + 1
        in_range, subscriber = index % self.RANGES, index // self.RANGES
        mobile, rr = self.MOBILE[in_range % len(self.MOBILE)], in_range // len(self.MOBILE)
        return f"+467{mobile}{self._block}{rr:02d}{subscriber % 10000:04d}"


# ------------------------------------------------------------------------------------------ processes


@dataclass
class ChildRun:
    wall_ms: float
    rss_mb: float
    answer: dict[str, Any]
    stderr: str = ""


@dataclass(frozen=True)
class Placement:
    """Which CPU the measured processes run on (None: not pinned), and what the table says about it."""

    child_cpu: int | None
    note: str


def _cpu_list(cpus: Iterable[int]) -> str:
    ordered = sorted(cpus)
    return f"CPU {ordered[0]}" if len(ordered) == 1 else "CPUs " + ", ".join(map(str, ordered))


def place_processes(pin: bool = True) -> Placement:
    """With 2 usable CPUs or more, give the measured children the last one and keep this process (the
    emulator, the sandbox and the orchestration) on the others, as in Lambda, where a function has its
    CPU to itself and the services are remote. Call before any thread starts: threads inherit it.

    Only this (the calling) thread's affinity is set here; the spawner, started later from it, inherits
    it too and pins each child to ``child_cpu`` as it spawns it (``spawner.py``).
    """
    if not hasattr(os, "sched_setaffinity"):
        return Placement(None, "not pinned (no sched_setaffinity on this platform)")
    allowed = sorted(os.sched_getaffinity(0))
    if not pin:
        return Placement(
            None,
            f"not pinned (--no-pin): measured processes, emulator and sandbox share {_cpu_list(allowed)}",
        )
    if len(allowed) < 2:
        return Placement(
            None, f"not pinned ({len(allowed)} usable CPU): measured processes, emulator and sandbox share it"
        )
    child, rest = allowed[-1], allowed[:-1]
    os.sched_setaffinity(0, rest)
    return Placement(
        child,
        f"measured processes pinned to CPU {child}; emulator, sandbox and orchestration on "
        f"{_cpu_list(rest)} (os.sched_setaffinity)",
    )


class Spawner:
    """The helper process (``spawner.py``) that starts and times every child; see its docstring."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self.child_cpu: int | None = None  # the CPU each child is pinned to from its start (None: not)

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(  # noqa: S603 - our interpreter, our script
                [sys.executable, "-S", "-E", str(SPAWNER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        return self._proc

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            proc = self._started()
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(json.dumps({**request, "cpu": self.child_cpu}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        if not line:
            raise BenchError("the spawner process died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


SPAWNER_PROCESS = Spawner()


def run_child(
    python: Path,
    spec: dict[str, Any],
    env: dict[str, str],
    workdir: Path,
    *,
    flags: Sequence[str] = (),
    stdout_file: Path | None = None,
    timeout: float = CHILD_TIMEOUT,
) -> ChildRun:
    """Run ``child.py``: wall time from spawn to its answer line, and the child's own peak RSS."""
    spec_path = workdir / f"spec-{time.perf_counter_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    stderr_path = spec_path.with_suffix(".stderr")
    reply = SPAWNER_PROCESS.run(
        {
            "argv": [str(python), "-E", *flags, str(CHILD), str(spec_path)],
            "env": env,
            "stderr": str(stderr_path),
            "log": str(stdout_file) if stdout_file is not None else None,
            "timeout": timeout,
        }
    )
    error_text = stderr_path.read_text(errors="replace") if stderr_path.exists() else ""
    spec_path.unlink(missing_ok=True)
    stderr_path.unlink(missing_ok=True)
    if reply["answer"] is None or reply["exit"] != 0:
        tail = "\n".join(error_text.strip().splitlines()[-25:])
        where = (spec.get("paths") or ["interpreter"])[0]
        raise BenchError(f"child {spec.get('mode')} {where} failed (exit {reply['exit']}):\n{tail}")
    return ChildRun(
        float(reply["wall_ms"]), reply["maxrss_kb"] / 1024, json.loads(reply["answer"]), error_text
    )


# ------------------------------------------------------------------------------------------ cold start


TRACING_MODES = ("off", "on")


def variant_name(base: str, tracing: str) -> str:
    """ "ours_start" with tracing "on" -> "ours_start.on" (the bare interpreter has no tracing mode)."""
    return f"{base}.{tracing}" if tracing else base


@dataclass
class Variant:
    """One kind of cold start: which handler, on which interpreter, with which environment."""

    name: str
    python: Path
    paths: list[str]
    env: dict[str, str]
    function_name: str
    mode: str = "cold"
    expect_status: int | None = 201
    prepare: Callable[[int], dict[str, Any]] | None = None  # round -> event
    # Modules its deployment ships compiled, by path under an import root ("phonenumbers/util.py"):
    # in the as-shipped mode they keep their bytecode (see build_shipped_cache).
    shipped: frozenset[str] = frozenset()
    base: str = ""  # "ours_start", "floor", ... (name without the tracing mode)
    tracing: str = ""  # "on", "off" ("": the bare interpreter, which runs no handler)
    # Variables a run adds for its purpose ("setup", "count", "cold", "cross", "profile"): the X-Ray
    # daemon's address, a socket of the benchmark's UDP sink per variant and purpose.
    run_env: Callable[[str], dict[str, str]] | None = None

    def environment(self, purpose: str) -> dict[str, str]:
        return {**self.env, **(self.run_env(purpose) if self.run_env is not None else {})}

    def spec(self, round_no: int, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """What child.py is given for one cold start (the event prepared now unless given)."""
        spec: dict[str, Any] = {
            "mode": self.mode,
            "paths": self.paths,
            "function_name": self.function_name,
            "probes": str(PROBES),
            "trace": self.tracing or None,
        }
        if event is not None:
            spec["event"] = event
        elif self.prepare is not None:
            spec["event"] = self.prepare(round_no)
        return spec

    def check(self, answer: dict[str, Any]) -> None:
        if self.expect_status is not None:
            status = (answer.get("result") or {}).get("statusCode")
            if status != self.expect_status:
                raise HandlerFailed(
                    f"{self.name}: expected HTTP {self.expect_status}, got {answer.get('result')}"
                )


@dataclass
class ColdResult:
    samples: dict[str, list[ChildRun]] = field(default_factory=dict)  # "<variant>/<mode>" -> runs
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant -> round trips
    failures: list[str] = field(default_factory=list)  # runs that were repeated, and why
    # variant -> its modules outside the standard library and the runtime's SDK: (kept, compiled at
    # each start) in the as-shipped mode, by path under their import root.
    shipped: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    runs: Counter[str] = field(default_factory=Counter)  # "<purpose>/<variant>" -> child runs started

    def median(self, variant: str, mode: str, attribute: str) -> float | None:
        runs = self.samples.get(f"{variant}/{mode}")
        if not runs:
            return None
        if attribute in ("import_ms", "invoke_ms"):
            values = [float(run.answer.get(attribute, 0.0)) for run in runs]
        else:
            values = [float(getattr(run, attribute)) for run in runs]
        return statistics.median(values)


def pycache_flags(mode: str, workdir: Path, variant: Variant | None = None) -> list[str]:
    if mode == CACHED:
        return ["-X", f"pycache_prefix={workdir / 'pyc-cached'}"]
    return ["-B", "-X", f"pycache_prefix={shipped_cache_dir(workdir, variant)}"]


def shipped_cache_dir(workdir: Path, variant: Variant | None) -> Path:
    # One folder per variant that ships bytecode: ours and the floor share an interpreter and its
    # site-packages, so the same module can be shipped compiled by one and not by the other.
    if variant is None or not variant.shipped:
        return workdir / "pyc-shipped"
    return workdir / f"pyc-shipped-{variant.name}"


def _import_path(module: Path, variant: Variant) -> str | None:
    """``module``'s path under the import root it has for ``variant`` (its interpreter's site-packages
    or one of its paths), or None: not a module this variant can import from what it deploys."""
    parts = module.parts
    if "site-packages" in parts:
        # Another venv's packages (the peer's) share the cache folder but are not this variant's.
        if not module.is_relative_to(variant.python.absolute().parent.parent):
            return None
        return "/".join(parts[parts.index("site-packages") + 1 :])
    for root in map(Path, variant.paths):
        if module.is_relative_to(root):
            return module.relative_to(root).as_posix()
    return None


def build_shipped_cache(
    workdir: Path, variants: Sequence[Variant] = ()
) -> dict[str, tuple[list[str], list[str]]]:
    """The cached bytecode minus what a deployment ships as source, per variant.

    Kept for every variant: the standard library and the runtime's SDK (Lambda's image has their
    bytecode). Also kept for a variant with ``shipped`` modules (ours: what the built layer ships
    compiled): those modules, with this interpreter's own bytecode, because the layer's is for 3.13
    while the bench may run another Python. Dropped: everything else, compiled at each start.

    Returns, per variant with ``shipped`` modules, the modules it deploys that are in the cache (those
    its cached warm-up imported, or the floor's from the same site-packages): (kept, compiled at each
    start), by path under their import root.
    """
    source = workdir / "pyc-cached"
    repo = Path(str(REPO).lstrip(os.sep))
    base = workdir / "pyc-shipped"
    owners = [variant for variant in variants if variant.shipped]
    summary: dict[str, tuple[list[str], list[str]]] = {variant.name: ([], []) for variant in owners}
    for target in [base, *(shipped_cache_dir(workdir, variant) for variant in owners)]:
        shutil.rmtree(target, ignore_errors=True)

    def link(path: Path, target: Path) -> None:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, destination)

    for path in source.rglob("*.pyc"):
        relative = path.relative_to(source)
        parts = relative.parts
        if "site-packages" in parts:
            in_runtime = parts[parts.index("site-packages") + 1].split(".")[0] in RUNTIME_PROVIDED
        else:
            in_runtime = not relative.is_relative_to(repo)  # the standard library
        if in_runtime:
            for target in [base, *(shipped_cache_dir(workdir, variant) for variant in owners)]:
                link(path, target)
            continue
        # pycache_prefix mirrors the source's folder: <prefix>/<source folder>/<name>.<tag>.pyc
        module = Path(os.sep, *parts[:-1], parts[-1].split(".")[0] + ".py")
        for variant in owners:
            where = _import_path(module, variant)
            if where is None:
                continue
            kept = where in variant.shipped
            summary[variant.name][0 if kept else 1].append(where)
            if kept:
                link(path, shipped_cache_dir(workdir, variant))
    return {name: (sorted(kept), sorted(compiled)) for name, (kept, compiled) in summary.items()}


# ------------------------------------------------------------------------------------ the built layer


def pyc_flags(path: Path) -> int | None:
    """The flags word of a .pyc header (None: no readable .pyc there)."""
    try:
        with path.open("rb") as file:
            header = file.read(16)
    except OSError:
        return None
    return int.from_bytes(header[4:8], "little") if len(header) == 16 else None


def compiled_modules(layer: Path) -> frozenset[str]:
    """The modules of a built layer (paths under its import root) that the python3.13 runtime loads
    from shipped bytecode: an unchecked-hash .pyc for 3.13 beside the source."""
    found = set()
    for source in layer.rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{RUNTIME_CACHE_TAG}.pyc"
        if pyc_flags(pyc) == UNCHECKED_HASH:
            found.add(source.relative_to(layer).as_posix())
    return frozenset(found)


def build_state(build: Path = BUILD) -> tuple[str | None, bool]:
    """When `sam build` last ran ("2026-11-25 19:43 UTC", None: no build) and whether a source of the
    layer, a function or the template changed since."""
    template = build / "template.yaml"
    if not template.is_file():
        return None, False
    built = template.stat().st_mtime
    sources = [p for d in ("layers", "functions") for p in (REPO / d).rglob("*") if p.is_file()]
    sources += [REPO / "template.yaml"]
    newest = max((p.stat().st_mtime for p in sources if "__pycache__" not in p.parts), default=0.0)
    return datetime.fromtimestamp(built, UTC).strftime("%Y-%m-%d %H:%M UTC"), newest > built


@dataclass(frozen=True)
class LayerBytecode:
    modules: frozenset[str]  # compiled in the built layers, by path under the import root
    note: str  # which build they come from
    warning: str | None = None  # why the build does not stand for the sources


def layer_bytecode(layer_dirs: Sequence[Path], build: Path = BUILD) -> LayerBytecode:
    """What the built counterparts of the template's layers (``layer_dirs``: their source folders) ship
    compiled. The bench runs ours from the sources; this says which of their modules Lambda would load
    from shipped bytecode rather than compile at each cold start."""
    from local_stack.template import load_document  # the parent's only: it needs PyYAML

    when, stale = build_state(build)
    if when is None:
        return LayerBytecode(
            frozenset(),
            "none (no build)",
            "no sam build output in .aws-sam/build (run `make build`): ours ran as shipped with its "
            "layer compiled at each start, as if the layer shipped no bytecode",
        )
    resources = load_document(REPO / "template.yaml").get("Resources") or {}
    modules: set[str] = set()
    found = []
    for layer_dir in dict.fromkeys(Path(path).resolve() for path in layer_dirs):  # functions share layers
        for logical_id, resource in resources.items():
            content = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content, str) and (REPO / content).resolve() == layer_dir:
                built = build / logical_id / "python"
                compiled = compiled_modules(built) if built.is_dir() else frozenset()
                shown = built.relative_to(REPO) if built.is_relative_to(REPO) else built
                total = sum(1 for _ in built.rglob("*.py"))
                found.append(f"`{shown}`: {len(compiled)} of {total} modules compiled")
                modules |= compiled
    note = f"the build of {when} ({'; '.join(found) or 'no built layer found'})"
    warning = None
    if not modules:
        warning = (
            f"the build of {when} has no layer bytecode (run `make build`): ours ran as shipped with its "
            "layer compiled at each start"
        )
    elif stale:
        warning = (
            f"the build of {when} is OLDER than the sources (run `make build`): ours as shipped kept "
            "bytecode for the modules that build compiled, which may not match the sources measured"
        )
    return LayerBytecode(frozenset(modules), note, warning)


def _cold_once(
    variant: Variant,
    mode: str,
    round_no: int,
    workdir: Path,
    *,
    purpose: str = "cold",
    flags: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
) -> ChildRun:
    spec = {**variant.spec(round_no, event), **(extra or {})}
    flags = [*pycache_flags(mode, workdir, variant), *flags]
    run = run_child(variant.python, spec, variant.environment(purpose), workdir, flags=flags)
    variant.check(run.answer)
    return run


def measure_cold(
    variants: list[Variant],
    *,
    rounds: int,
    workdir: Path,
    sinch_log: Callable[[], list[dict[str, Any]]],
    progress: Callable[[str], None],
    after_run: Callable[[Variant, str, int], None] | None = None,
) -> ColdResult:
    """``rounds`` cold starts of each variant in each bytecode mode, interleaved. ``after_run`` (the
    cross-check) is called after each measured run with (variant, mode, round), so that what it runs
    meets the emulator in the same state as the run it is compared with."""
    result = ColdResult()

    def once(
        variant: Variant, mode: str, round_no: int, event: dict[str, Any] | None = None, purpose: str = "cold"
    ) -> ChildRun:
        result.runs[f"{purpose}/{variant.name}"] += 1
        try:
            return _cold_once(variant, mode, round_no, workdir, event=event, purpose=purpose)
        except HandlerFailed as error:
            result.failures.append(f"cold {variant.name} ({mode}) repeated: {str(error)[:300]}")
            result.runs[f"{purpose}/{variant.name}"] += 1
            return _cold_once(variant, mode, round_no, workdir, purpose=purpose)

    progress("cold start: warm-up runs (fill the bytecode cache), then round-trip counts")
    for variant in variants:
        once(variant, CACHED, -1, purpose="setup")
    result.shipped = build_shipped_cache(workdir, variants)
    for variant in variants:
        if variant.mode != "cold":
            continue
        counted = Variant(**{**variant.__dict__, "mode": "count"})
        event = variant.prepare(-2) if variant.prepare is not None else None
        before = len(sinch_log())  # after prepare: a report's verification is started by this process
        run = once(counted, CACHED, -2, event, purpose="count")
        probe = dict(run.answer.get("probe") or {})
        probe["sinch_ops"] = [entry.get("operation") for entry in sinch_log()[before:]]
        result.counts[variant.name] = probe
    for round_no in range(rounds):
        progress(f"cold start: round {round_no + 1}/{rounds}")
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            for mode in (CACHED, SHIPPED):
                run = once(variant, mode, round_no)
                result.samples.setdefault(f"{variant.name}/{mode}", []).append(run)
                if after_run is not None:
                    after_run(variant, mode, round_no)
    return result


def import_profile(variant: Variant, workdir: Path, mode: str = CACHED) -> str:
    """The ``-X importtime`` report of one cold start of ``variant`` (stderr text)."""
    return _cold_once(variant, mode, -3, workdir, flags=["-X", "importtime"], purpose="profile").stderr


def profile_first_request(variant: Variant, workdir: Path) -> Path:
    """A cProfile of the first request of one cold start (the import is not in it)."""
    path = workdir / f"first-request-{variant.name}.prof"
    _cold_once(variant, CACHED, -4, workdir, extra={"profile": str(path)}, purpose="profile")
    return path


# ---------------------------------------------------------------------------------------------- warm


def merged(intervals: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """Intervals (start, end) merged where they overlap, in order."""
    out: list[tuple[int, int]] = []
    for start, end in sorted((int(i[0]), int(i[1])) for i in intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def covered(intervals: Iterable[Sequence[int]]) -> int:
    """The time the intervals cover together (overlaps once)."""
    return sum(end - start for start, end in merged(intervals))


def overlap(first: Iterable[Sequence[int]], second: Iterable[Sequence[int]]) -> int:
    """The time covered by both sets of intervals."""
    a, b = merged(first), merged(second)
    total, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def sequential(intervals: Iterable[Sequence[int]]) -> int:
    """Sequential round trips: the most calls that ran one after another, none overlapping the next
    (calls made in parallel count once). Earliest end first gives the longest such chain."""
    count, free_from = 0, None
    for start, end in sorted(((int(i[0]), int(i[1])) for i in intervals), key=lambda i: i[1]):
        if free_from is None or start >= free_from:
            count, free_from = count + 1, end
    return count


def dynamodb_waits(aws: Iterable[Sequence[Any]], sinch: Iterable[Sequence[Any]]) -> int:
    """The DynamoDB round trips a request waits for in sequence, counted as
    tests/integration/test_round_trips.py counts them: requests made in parallel count once, and one made
    while a call to another service is in flight (for most of its time) counts none, since the request
    waits for that call then (the fraud guard's credit while the success is put on the bus and Sinch is
    told of the right code)."""
    aws = list(aws)
    flights = [(int(call[2]), int(call[3])) for call in sinch]
    flights += [(int(call[6]), int(call[7])) for call in aws if call[0] != "dynamodb"]

    def hidden(start: int, end: int) -> bool:
        return 2 * sum(max(0, min(end, b) - max(start, a)) for a, b in flights) >= end - start

    return sequential([[c[6], c[7]] for c in aws if c[0] == "dynamodb" and not hidden(int(c[6]), int(c[7]))])


@dataclass
class Invocation:
    label: str
    total_ns: int
    # [service, operation, ns, wru, rru, items, start, end, item kinds, main thread, [[pk, wcu], ...]]
    aws: list[list[Any]]
    sinch: list[list[Any]]  # [operation, ns, start, end, main thread]
    http_sends: int
    status: int | None
    body: Any
    xray: list[list[int]] = field(default_factory=list)  # the X-Ray SDK's own work: [start, end]
    gc: list[list[int]] = field(default_factory=list)  # the garbage collector's pauses: [start, end]
    preempted: int = 0  # involuntary context switches of the worker process during the invocation
    waits: list[list[int]] = field(default_factory=list)  # the invoking thread blocked on a worker thread
    spans: list[list[Any]] = field(default_factory=list)  # --analyse: [step, start, end] (probes.STEPS)

    def step_own_ns(self) -> dict[str, int]:
        """--analyse: each step's own time in this invocation (its calls summed), counted as ``own_ns``
        counts the whole: its wall time less the invoking thread's waits on the services inside it."""
        clients = self._client_intervals()
        steps: dict[str, int] = {}
        for step, start, end in self.spans:
            inside = [[max(a, start), min(b, end)] for a, b in clients if b > start and a < end]
            waited = covered(inside) - overlap(self.xray, inside)
            steps[step] = steps.get(step, 0) + (end - start) - waited
        return steps

    def _client_intervals(self) -> list[list[int]]:
        """When the invoking thread was blocked on the services: its own client calls (AWS, Sinch) and its
        waits for the handler's worker threads (whose calls run meanwhile). A worker's call while the
        invoking thread works on is not subtracted: that work is on the request's path."""
        aws = [[int(c[6]), int(c[7])] for c in self.aws if len(c) < 10 or c[9]]
        sinch = [[int(c[2]), int(c[3])] for c in self.sinch if len(c) < 5 or c[4]]
        return aws + sinch + [[int(w[0]), int(w[1])] for w in self.waits]

    @property
    def wait_ns(self) -> int:
        """Time the invoking thread was blocked on the services (overlaps counted once), less the X-Ray
        SDK's own work inside that time (opening, closing and sending the subsegments of the calls its
        patches wrap), which is the handler's, not the services'."""
        clients = self._client_intervals()
        return covered(clients) - overlap(self.xray, clients)

    @property
    def own_ns(self) -> int:
        return self.total_ns - self.wait_ns

    @property
    def xray_ns(self) -> int:
        return covered(self.xray)

    @property
    def own_gc_ns(self) -> int:
        """The garbage collector's pauses in own time (outside the client calls)."""
        return covered(self.gc) - overlap(self.gc, self._client_intervals())

    def dynamodb_sequential(self) -> int:
        return dynamodb_waits(self.aws, self.sinch)

    def dynamodb_order(self) -> tuple[str, ...]:
        """The DynamoDB requests in the order they started: "UpdateItem caller", ..."""
        calls = sorted((c for c in self.aws if c[0] == "dynamodb"), key=lambda c: int(c[6]))
        return tuple(f"{c[1]} {c[8]}" if len(c) > 8 and c[8] else str(c[1]) for c in calls)

    def signature(self) -> tuple[str, ...]:
        names = [f"{call[0]}:{call[1]}" + (f"[{call[5]}]" if call[5] != 1 else "") for call in self.aws]
        return (*names, *(f"sinch:{call[0]}" for call in self.sinch))

    @property
    def wru(self) -> float:
        return sum(float(call[3]) for call in self.aws)

    @property
    def rru(self) -> float:
        return sum(float(call[4]) for call in self.aws)


@dataclass
class WarmResult:
    invocations: dict[str, list[Invocation]] = field(default_factory=dict)
    log_bytes_per_invocation: dict[str, float] = field(default_factory=dict)
    sinch_log_matches: bool | None = None
    failures: list[str] = field(default_factory=list)  # invocations left out, and why
    invoked: dict[str, int] = field(default_factory=dict)  # function -> invocations (warm-ups included)

    def of(self, label: str) -> list[Invocation]:
        return self.invocations.get(label, [])


def _run_worker(
    *,
    python: Path,
    function_id: str,
    paths: list[str],
    env: dict[str, str],
    events: Iterable[tuple[str, dict[str, Any]]],
    workdir: Path,
    profile: Path | None,
    tracing: str,
    spans: bool = False,
    writes: bool = False,
) -> tuple[list[Invocation], float, list[Invocation]]:
    events_path = workdir / f"events-{function_id}-{tracing}.jsonl"
    out_path = workdir / f"out-{function_id}-{tracing}.jsonl"
    logs_path = workdir / f"logs-{function_id}-{tracing}.txt"
    count = 0
    with events_path.open("w", encoding="utf-8") as file:
        for label, event in events:
            file.write(json.dumps({"label": label, "event": event}) + "\n")
            count += 1
    spec = {
        "mode": "warm",
        "paths": paths,
        "function_name": function_id,
        "probes": str(PROBES),
        "events": str(events_path),
        "out": str(out_path),
        "profile": str(profile) if profile else None,
        "spans": spans,
        "writes": writes,
        "trace": tracing,
        "log": str(logs_path),
    }
    run = run_child(
        python,
        spec,
        env,
        workdir,
        flags=pycache_flags(CACHED, workdir),
        timeout=WARM_TIMEOUT,
    )
    if not run.answer.get("sinch_hook"):
        raise BenchError(
            "could not hook the Sinch client's on_call (phone_verification.observability."
            "record_sinch_call); update bench/probes.py to the runtime's wiring"
        )
    if tracing == "on" and not run.answer.get("xray_probe"):
        raise BenchError(
            "tracing on, but the handler did not load the X-Ray SDK (aws_xray_sdk.core.recorder): is "
            "Powertools' Tracer disabled?"
        )
    invocations = []
    for line in out_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        invocations.append(
            Invocation(
                label=record["label"],
                total_ns=record["total_ns"],
                aws=record["aws"],
                sinch=record["sinch"],
                http_sends=record["http_sends"],
                status=record["status"],
                body=record["body"],
                xray=record.get("xray") or [],
                gc=record.get("gc") or [],
                preempted=int(record.get("preempted") or 0),
                waits=record.get("waits") or [],
                spans=record.get("spans") or [],
            )
        )
    log_bytes = logs_path.stat().st_size / max(1, count)
    return (
        invocations,
        log_bytes,
        _check(invocations, logs_path, warmup_status=201 if function_id == START else 200),
    )


def measure_warm(
    *,
    python: Path,
    start: tuple[list[str], dict[str, str]],
    report: tuple[list[str], dict[str, str]],
    count: int,
    warmup: int,
    repeats: int,
    inbox_code: Callable[[str], str],
    sinch_log_size: Callable[[], int],
    workdir: Path,
    profile_dir: Path | None,
    progress: Callable[[str], None],
    tracing: str = "off",
    number_block: int = 2,
    spans: bool = False,
) -> WarmResult:
    """``count`` warm starts, then reports on them (right code; a wrong one first for every other).

    With ``profile_dir``, the workers run under cProfile (paused inside client calls), and with
    ``spans`` their steps are timed (``probes.STEPS``): the timings are not representative then, and the
    analysis uses such runs, never the table.
    """
    result = WarmResult()
    numbers = Numbers(number_block)
    serial = iter(range(1, 10**9))
    warm_numbers = [numbers.take() for _ in range(warmup)]
    start_numbers = [numbers.take() for _ in range(count)]
    # "Number seen in window": a second start for each of ``repeats`` numbers, whose first start (unmeasured,
    # "prime") came before the measured new-number starts. One number per repeat, so that the fraud guard
    # (20 sends per range of 10,000 numbers before one converts) and the number's own limit (5 per 10
    # minutes) stay at their defaults.
    repeat_block = Numbers(number_block + 1)
    repeat_numbers = [repeat_block.take() for _ in range(repeats)]
    plan = [("warmup", n) for n in warm_numbers] + [("prime", n) for n in repeat_numbers]
    plan += [("start", n) for n in start_numbers] + [("start_repeat", n) for n in repeat_numbers]
    callers = [CALLERS.take() for _ in plan]
    events = [
        (label, start_event(number, next(serial), caller))
        for (label, number), caller in zip(plan, callers, strict=True)
    ]
    sinch_before = sinch_log_size()
    progress(
        f"warm, tracing {tracing}: {count} starts, {repeats} repeat starts (+{warmup} warm-up, "
        f"{repeats} first starts of the repeated numbers) in one process"
    )
    started, start_log, start_failed = _run_worker(
        python=python,
        function_id=START,
        paths=start[0],
        env=start[1],
        events=events,
        workdir=workdir,
        profile=profile_dir / "start.prof" if profile_dir else None,
        tracing=tracing,
        spans=spans,
    )
    pairs = [
        (inv.body["id"], inbox_code(number), caller.arn)
        for inv, (label, number), caller in zip(started, plan, callers, strict=True)
        if label in ("warmup", "start") and inv not in start_failed
    ]

    report_events: list[tuple[str, dict[str, Any]]] = []
    for index, (vid, code, arn) in enumerate(pairs):
        if index < warmup:
            report_events.append(("warmup", report_event(vid, code, next(serial), arn)))
            continue
        if index % 2 == 0:
            report_events.append(("report_wrong", report_event(vid, wrong_code(code), next(serial), arn)))
        report_events.append(("report_right", report_event(vid, code, next(serial), arn)))
    progress(
        f"warm, tracing {tracing}: {len(report_events) - warmup} reports (+{warmup} warm-up) in one process"
    )
    reported, report_log, report_failed = _run_worker(
        python=python,
        function_id=REPORT,
        paths=report[0],
        env=report[1],
        events=report_events,
        workdir=workdir,
        profile=profile_dir / "report.prof" if profile_dir else None,
        tracing=tracing,
        spans=spans,
    )
    for inv in reported:
        expected = "SUCCESSFUL" if inv.label in ("warmup", "report_right") else "PENDING"
        if inv not in report_failed and inv.body.get("status") != expected:
            report_failed.append(inv)
    failed = [*start_failed, *report_failed]
    if len(failed) > max(1, MAX_WARM_FAILURE_SHARE * (len(started) + len(reported))):
        raise BenchError(f"{len(failed)} warm invocations failed; first: {failed[0].label}: {failed[0].body}")
    result.failures = [
        f"warm {inv.label} left out: HTTP {inv.status} {json.dumps(inv.body)[:160]}"
        f" ({len(inv.aws)} AWS calls, {inv.http_sends} HTTP sends)"
        for inv in failed
    ]
    for inv in [*started, *reported]:
        if inv not in failed:
            result.invocations.setdefault(inv.label, []).append(inv)
    result.log_bytes_per_invocation = {"start": start_log, "report": report_log}
    result.invoked = {START: len(started), REPORT: len(reported)}
    sinch_calls = sum(len(inv.sinch) for inv in [*started, *reported])
    sinch_seen = sinch_log_size() - sinch_before
    result.sinch_log_matches = sinch_seen == sinch_calls if sinch_log_size() < 10_000 else None
    return result


# ------------------------------------------------------------------------------------------- hot keys

HOT_KEY_RATE = 1_000  # starts a second from one principal into one range (issue: "no hot key at 1,000/s")
PARTITION_WCU = 1_000  # what DynamoDB takes per partition key and second
# One principal with a large budget (32 shards) and one range whose bucket never runs dry (8 shards, as at
# the default budget of 20: a budget is split in min(8, budget ÷ 2)), so every start is sent.
HOT_KEY_ENV = {"MAX_STARTS_PER_PRINCIPAL": "1000000", "FRAUD_GUARD_PREFIX_BUDGET": "100000"}
HOT_KEY_PRINCIPAL = "arn:aws:sts::000000000000:assumed-role/busy-backend/bench"


@dataclass
class HotKind:
    """One kind of item (``pk`` prefix) in the hot-key run: how many items, and the write units the
    busiest one and the mean one took per start."""

    kind: str
    items: int
    busiest_per_start: float
    mean_per_start: float

    @property
    def busiest_wcu_per_second(self) -> float:
        return self.busiest_per_start * HOT_KEY_RATE


@dataclass
class HotKeys:
    starts: int
    sent: int
    reported: int
    kinds: list[HotKind]

    @property
    def busiest(self) -> HotKind | None:
        return max(self.kinds, key=lambda k: k.busiest_per_start, default=None)


def hot_kinds(invocations: Iterable[Invocation], starts: int) -> list[HotKind]:
    """Write units per item over a run, by kind of item, per start of the run."""
    per_item: dict[str, float] = {}
    for inv in invocations:
        for call in inv.aws:
            for pk, wcu in call[10] if len(call) > 10 else []:
                per_item[pk] = per_item.get(pk, 0.0) + float(wcu)
    by_kind: dict[str, list[float]] = {}
    for pk, wcu in per_item.items():
        by_kind.setdefault(pk.split("#", 1)[0], []).append(wcu)
    return sorted(
        (
            HotKind(kind, len(units), max(units) / starts, sum(units) / len(units) / starts)
            for kind, units in by_kind.items()
        ),
        key=lambda k: -k.busiest_per_start,
    )


def measure_hot_keys(
    *,
    python: Path,
    start: tuple[list[str], dict[str, str]],
    report: tuple[list[str], dict[str, str]],
    count: int,
    inbox_code: Callable[[str], str],
    workdir: Path,
    progress: Callable[[str], None],
    tracing: str = "off",
) -> HotKeys:
    """``count`` starts from one principal into one range (each for its own end user, as a busy backend
    sends them), then the right code for each: the write units each item takes, per start."""
    numbers = [f"+4670999{n:04d}" for n in range(count)]  # one range: 70999
    serial = iter(range(1, 10**9))
    run = f"{os.getpid():x}"
    events = [
        ("start", start_event(number, next(serial), Caller(HOT_KEY_PRINCIPAL, f"hot-{run}-{n}")))
        for n, number in enumerate(numbers)
    ]
    progress(f"hot keys: {count} starts from one principal into one range, then their right codes")
    (workdir / "hot").mkdir(exist_ok=True)
    started, _, start_failed = _run_worker(
        python=python,
        function_id=START,
        paths=start[0],
        env={**start[1], **HOT_KEY_ENV},
        events=events,
        workdir=workdir / "hot",
        profile=None,
        tracing=tracing,
        writes=True,
    )
    sent = [
        (inv, number)
        for inv, number in zip(started, numbers, strict=True)
        if inv not in start_failed and inv.status == 201
    ]
    reports = [
        ("report_right", report_event(inv.body["id"], inbox_code(number), next(serial), HOT_KEY_PRINCIPAL))
        for inv, number in sent
    ]
    reported, _, report_failed = _run_worker(
        python=python,
        function_id=REPORT,
        paths=report[0],
        env={**report[1], **HOT_KEY_ENV},
        events=reports,
        workdir=workdir / "hot",
        profile=None,
        tracing=tracing,
        writes=True,
    )
    succeeded = [
        inv for inv in reported if inv not in report_failed and inv.body.get("status") == "SUCCESSFUL"
    ]
    return HotKeys(count, len(sent), len(succeeded), hot_kinds([*started, *reported], count))


_STATUSES = {"start": 201, "start_repeat": 201, "report_wrong": 200, "report_right": 200}


def _check(invocations: list[Invocation], logs: Path, *, warmup_status: int) -> list[Invocation]:
    """The invocations that did not answer as expected; an error if there are too many of them."""
    failed = [inv for inv in invocations if inv.status != _STATUSES.get(inv.label, warmup_status)]
    if len(failed) > max(1, MAX_WARM_FAILURE_SHARE * len(invocations)):
        lines = logs.read_text(errors="replace").splitlines()
        errors = [line for line in lines if '"ERROR"' in line or '"WARNING"' in line] or lines[-10:]
        raise BenchError(
            f"{len(failed)} of {len(invocations)} invocations failed; first: {failed[0].label}: "
            f"HTTP {failed[0].status}: {failed[0].body}\n"
            "the handler's log: " + "\n".join(line[:3000] for line in errors[:3])
        )
    return failed


# ------------------------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p50 = the median's lower neighbour for even counts is fine here)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def round_trips(invocations: list[Invocation]) -> tuple[tuple[str, ...], int, int]:
    """The most common sequence of client calls, how many invocations had it, out of how many."""
    if not invocations:
        return (), 0, 0
    counter = Counter(inv.signature() for inv in invocations)
    signature, seen = counter.most_common(1)[0]
    return signature, seen, len(invocations)
