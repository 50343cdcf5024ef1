"""``python -m bench`` (``make bench``): cold start, warm overhead, round trips, artefact size and cost of the
phone-verification handlers against the local stack on loopback, next to a floor and a peer handler.

Prints one Markdown table and writes it to ``bench/results/<date>-<host>.md`` and
``bench/results/latest.md``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import crosscheck, emulator, envs, measure, report, xray
from bench.measure import (
    REPORT,
    START,
    TRACING_MODES,
    BenchError,
    Numbers,
    Variant,
    variant_name,
)

RESULTS = Path(__file__).resolve().parent / "results"
ANALYSIS_WARM = 300
# Every feature at the template's defaults (fraud guard enforce, caller budgets: 1,000 starts per IAM
# principal and 10 per rateKey an hour, 5 starts per number in 10 minutes, Sinch secret cached 300 s...),
# lifecycle events on (EventBusName is empty by default: a deployment that wants them names a bus, here
# one the local stack creates on the emulator), and one exception: no minimum gap between two starts for
# a number (default 30 s), because a short run's "number seen in window" start follows its number's first
# start by less than that.
STACK_ENV = {"MIN_SECONDS_BETWEEN_STARTS": "0"}
BENCH_EVENT_BUS = "phone-verification-bench"
STACK_PARAMETERS = {"EventBusName": BENCH_EVENT_BUS}
# Warm runs: a block of numbers per tracing mode (Numbers), so no number is started twice.
WARM_NUMBER_BLOCKS = {"off": 2, "on": 6}
ANALYSIS_NUMBER_BLOCK = 4
# --analyse's runs that time the steps, per tracing mode (no repeat starts: the block after is not taken).
STEPS_NUMBER_BLOCKS = {"off": 0, "on": 8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=int(os.environ.get("BENCH_COLD_RUNS", "9")),
        help="measured cold starts per variant and bytecode mode (median; default 9)",
    )
    parser.add_argument(
        "--warm",
        type=int,
        default=int(os.environ.get("BENCH_WARM", "2000")),
        help="warm starts (and right-code reports; half as many wrong-code reports)",
    )
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured warm invocations first")
    parser.add_argument(
        "--hot-keys",
        type=int,
        default=1000,
        help="starts from one principal into one range whose writes per item are counted (0: none)",
    )
    parser.add_argument("--repeats", type=int, default=50, help="warm starts for a number seen in the window")
    parser.add_argument(
        "--peer",
        choices=("yes", "no", "if-installed"),
        default="yes",
        help="run the peer (yes: build .venv-peer from PyPI when needed)",
    )
    parser.add_argument(
        "--python",
        default=os.environ.get("BENCH_PYTHON") or None,
        help="interpreter for ours and the floor (default: .venv's; env BENCH_PYTHON)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        default=os.environ.get("BENCH_NO_PIN", "") not in ("", "0"),
        help="do not give the measured processes a CPU of their own (env BENCH_NO_PIN=1)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the table is written")
    parser.add_argument(
        "--analyse",
        action="store_true",
        help="also write -X importtime and cProfile summaries (bench/results/analysis-latest.md)",
    )
    parser.add_argument(
        "--tracing",
        choices=("both", *TRACING_MODES),
        default="both",
        help="measure with tracing off, on (X-Ray, as deployed with Tracing: Active), or both (default)",
    )
    parser.add_argument(
        "--cross-runs",
        type=int,
        default=None,
        help="plain runs per variant and bytecode mode under /usr/bin/time -v, one right after each of the "
        "first N cold rounds (default: every round, as many as --cold-runs; 0: no cross-check)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit non-zero when the cross-check and the bench disagree by more than "
        f"{crosscheck.TOLERANCE * 100:.0f} %% (wall or peak RSS)",
    )
    args = parser.parse_args(argv)
    if args.cross_runs is None or args.cross_runs > args.cold_runs:
        args.cross_runs = args.cold_runs
    return args


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (the Powertools logger holds the original sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def tracing_environment(env: dict[str, str], tracing: str) -> dict[str, str]:
    """The function's environment with tracing off (Powertools' Tracer disabled, as the local stack
    runs it) or on (as in Lambda with Tracing: Active: nothing disables it)."""
    env = dict(env)
    if tracing == "on":
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "1"
    return env


def _variants(
    stack: Any,
    interpreter: envs.Interpreter,
    peer: Path | None,
    bytecode: measure.LayerBytecode,
    *,
    sink: xray.UdpSink,
    modes: tuple[str, ...],
) -> list[Variant]:
    start_spec, report_spec = stack.functions[START], stack.functions[REPORT]
    sandbox = stack.sandbox.config
    numbers = Numbers(1)
    serial = iter(range(1, 10**9))

    def start_event(_: int) -> dict[str, Any]:
        return measure.start_event(numbers.take(), next(serial), measure.CALLERS.take())

    def report_event(_: int) -> dict[str, Any]:
        number = numbers.take()
        with quiet_stdout():  # the product's log lines, printed by this process's in-process invocation
            started = stack.invoke(START, {"phoneNumber": number, "owner": measure.OWNER})
        code = stack.sandbox.inbox(number)["messages"][-1]["code"]
        return measure.report_event(started["id"], code, next(serial))

    def daemon(name: str) -> Any:
        return lambda purpose: sink.environment(f"{purpose}/{name}")

    layer = [str(path) for path in start_spec.layer_dirs]
    baselines = measure.BENCH / "baselines"
    variants: list[Variant] = []
    for tracing in modes:
        start_env = tracing_environment(envs.child_environment(stack.function_environment(START)), tracing)
        report_env = tracing_environment(envs.child_environment(stack.function_environment(REPORT)), tracing)
        baseline_env = {
            **start_env,
            "SINCH_APPLICATION_KEY": sandbox.application_key,
            "SINCH_APPLICATION_SECRET": sandbox.application_secret,
        }
        if not variants:
            variants.append(
                Variant(
                    "bare",
                    interpreter.python,
                    [],
                    start_env,
                    "bare",
                    mode="noop",
                    expect_status=None,
                    base="bare",
                    run_env=daemon("bare"),
                )
            )
        name = variant_name("floor", tracing)
        variants.append(
            Variant(
                name,
                interpreter.python,
                [str(baselines / "floor")],
                {
                    **baseline_env,
                    "LAMBDA_TASK_ROOT": str(baselines / "floor"),
                    **({"FLOOR_XRAY": "1"} if tracing == "on" else {}),
                },
                "floor",
                prepare=start_event,
                base="floor",
                tracing=tracing,
                run_env=daemon(name),
            )
        )
        if peer is not None:
            name = variant_name("peer", tracing)
            variants.append(
                Variant(
                    name,
                    peer,
                    [str(baselines / "peer")],
                    {**baseline_env, "LAMBDA_TASK_ROOT": str(baselines / "peer")},
                    "peer",
                    prepare=start_event,
                    base="peer",
                    tracing=tracing,
                    run_env=daemon(name),
                )
            )
        name = variant_name("ours_start", tracing)
        variants.append(
            Variant(
                name,
                interpreter.python,
                [str(start_spec.code_dir), *layer],
                start_env,
                str(start_env["AWS_LAMBDA_FUNCTION_NAME"]),
                prepare=start_event,
                shipped=bytecode.modules,
                base="ours_start",
                tracing=tracing,
                run_env=daemon(name),
            )
        )
        name = variant_name("ours_report", tracing)
        variants.append(
            Variant(
                name,
                interpreter.python,
                [str(report_spec.code_dir), *[str(p) for p in report_spec.layer_dirs]],
                report_env,
                str(report_env["AWS_LAMBDA_FUNCTION_NAME"]),
                expect_status=200,
                prepare=report_event,
                shipped=bytecode.modules,
                base="ours_report",
                tracing=tracing,
                run_env=daemon(name),
            )
        )
    return variants


def _inbox_code(stack: Any) -> Any:
    def code(number: str) -> str:
        return str(stack.sandbox.inbox(number)["messages"][-1]["code"])

    return code


def _interpreters(args: argparse.Namespace) -> tuple[envs.Interpreter, Path | None, list[str]]:
    """Ours' and the floor's interpreter, the peer's (None: skipped), and what setting up said."""
    setup_log: list[str] = []
    interpreter = envs.ours(args.python, setup_log)
    peer_python = envs.peer(interpreter, args.python, args.peer, setup_log)
    patched = emulator.patch_moto_transactions()
    if patched:
        setup_log.append(patched)
    setup_log.append(_xray_versions(interpreter, peer_python))
    return interpreter, peer_python, setup_log


def run(args: argparse.Namespace) -> tuple[str, str | None, int]:
    """The document, the analysis (``--analyse``) and how many cross-checks disagreed."""
    # First: the emulator's and the sandbox's threads inherit this process's CPUs when they start.
    placement = measure.place_processes(pin=not args.no_pin)
    measure.SPAWNER_PROCESS.child_cpu = placement.child_cpu
    progress(f"cpu placement: {placement.note}")
    from local_stack import LocalStack  # the emulator and sandbox: only the parent needs them

    modes = TRACING_MODES if args.tracing == "both" else (args.tracing,)
    load_before = os.getloadavg()
    interpreter, peer_python, setup_log = _interpreters(args)
    peer_interpreter = envs.probe(peer_python) if peer_python else None
    workdir = Path(tempfile.mkdtemp(prefix="phone-verification-bench-"))
    analysis_text: str | None = None
    warm: dict[str, measure.WarmResult] = {}
    try:
        progress(f"local stack up; children run on {interpreter.python} (Python {interpreter.version})")
        with (
            xray.UdpSink() as sink,
            LocalStack(env=STACK_ENV, parameter_overrides=STACK_PARAMETERS, log=io.StringIO()) as stack,
        ):
            sandbox = stack.sandbox
            assert sandbox is not None  # no SINCH_BASE_URL given: the stack runs the sandbox
            features = report.features(stack.function_environment(START), stack.event_buses)
            # Ours runs from the sources; the built layer says which of them Lambda gets as bytecode.
            functions = (stack.functions[START], stack.functions[REPORT])
            layer = measure.layer_bytecode([path for spec in functions for path in spec.layer_dirs])
            variants = _variants(stack, interpreter, peer_python, layer, sink=sink, modes=modes)
            runner = (
                crosscheck.Runner(
                    runs=args.cross_runs,
                    workdir=workdir,
                    cpu=placement.child_cpu,
                    progress=progress,
                )
                if args.cross_runs > 0
                else None
            )
            cold = measure.measure_cold(
                variants,
                rounds=args.cold_runs,
                workdir=workdir,
                sinch_log=sandbox.requests_log,
                progress=progress,
                after_run=runner,
            )
            cross = runner.result(cold) if runner is not None else None
            by_name = {variant.name: variant for variant in variants}

            def warm_args(tracing: str) -> dict[str, Any]:
                start = by_name[variant_name("ours_start", tracing)]
                report_ = by_name[variant_name("ours_report", tracing)]
                return {
                    "python": interpreter.python,
                    "start": (start.paths, {**start.env, **sink.environment(f"warm/{START}/{tracing}")}),
                    "report": (
                        report_.paths,
                        {**report_.env, **sink.environment(f"warm/{REPORT}/{tracing}")},
                    ),
                    "warmup": args.warmup,
                    "repeats": args.repeats,
                    "inbox_code": _inbox_code(stack),
                    "sinch_log_size": lambda: len(sandbox.requests_log()),
                    "workdir": workdir,
                    "progress": progress,
                    "tracing": tracing,
                }

            for tracing in modes:
                warm[tracing] = measure.measure_warm(
                    count=args.warm,
                    profile_dir=None,
                    number_block=WARM_NUMBER_BLOCKS[tracing],
                    **warm_args(tracing),
                )
            hot = _hot_keys(args.hot_keys, warm_args(modes[0])) if args.hot_keys else None
            if args.analyse:
                analysis_text = _analyse(args, variants, modes, warm_args, workdir)
            memory_mb = stack.functions[START].memory_mb
            sent = {key: sink.tally(key) for key in _sink_keys(variants, modes)}
    finally:
        measure.SPAWNER_PROCESS.close()
        shutil.rmtree(workdir, ignore_errors=True)

    sizes, artefact_note = report.artefacts()
    inputs = report.Inputs(
        cold=cold,
        warm=warm,
        memory_mb=memory_mb,
        peer_skipped=peer_python is None,
        artefacts=sizes,
        artefact_note=artefact_note,
        modes=modes,
        xray=sent,
        cross=cross,
        features=features,
        hot=hot,
    )
    table_rows = report.rows(inputs)
    info = report.machine(interpreter, peer_interpreter)
    settings = _settings(args, inputs, features, placement.note, load_before)
    lines = notes(inputs, setup_log, layer)
    document = report.document(table_rows, info, settings, lines, report.extra_sections(inputs))
    return document, analysis_text, len(cross.disagreements) if cross is not None else 0


def _hot_keys(count: int, warm_args: dict[str, Any]) -> measure.HotKeys:
    return measure.measure_hot_keys(
        python=warm_args["python"],
        start=warm_args["start"],
        report=warm_args["report"],
        count=count,
        inbox_code=warm_args["inbox_code"],
        workdir=warm_args["workdir"],
        progress=warm_args["progress"],
        tracing=warm_args["tracing"],
    )


def _analyse(
    args: argparse.Namespace,
    variants: list[Variant],
    modes: tuple[str, ...],
    warm_args: Callable[[str], dict[str, Any]],
    workdir: Path,
) -> str:
    """``--analyse``: where each tracing mode's warm own time goes (the steps timed), then import times and
    profiles in the last tracing mode measured (on, by default)."""
    from bench import analysis

    steps = {}
    for mode in modes:
        progress(f"analysis (tracing {mode}): warm run with the steps timed")
        steps[mode] = measure.measure_warm(
            count=min(args.warm, ANALYSIS_WARM),
            profile_dir=None,
            number_block=STEPS_NUMBER_BLOCKS[mode],
            spans=True,
            **{**warm_args(mode), "repeats": 0},
        )
    tracing = modes[-1]
    progress(f"analysis (tracing {tracing}): profiled warm run, -X importtime, profiled first request")
    profile_dir = workdir / "profiles"
    profile_dir.mkdir()
    measure.measure_warm(
        count=min(args.warm, ANALYSIS_WARM),
        profile_dir=profile_dir,
        number_block=ANALYSIS_NUMBER_BLOCK,
        **warm_args(tracing),
    )
    bases = {v.base: v for v in variants if v.tracing in ("", tracing)}
    return analysis.write(bases, workdir, profile_dir, steps)


def _xray_versions(interpreter: envs.Interpreter, peer: Path | None) -> str:
    """Which X-Ray SDK each side traced with, and whether the built layer ships the same."""
    layer = measure.BUILD / "VerificationLayer" / "python"
    shipped = sorted(
        p.name.removesuffix(".dist-info").split("-", 1)[1] for p in layer.glob("aws_xray_sdk-*.dist-info")
    )
    ours = envs.installed_version(interpreter.python, "aws-xray-sdk")
    theirs = envs.installed_version(peer, "aws-xray-sdk") if peer is not None else None
    text = (
        f"**X-Ray SDK**: ours and the floor ran aws-xray-sdk {ours or 'not installed'}"
        + (f", the peer {theirs}" if peer is not None else "")
        + f" (pinned in requirements-bench.txt: {', '.join(envs.xray_pins()) or 'nothing'}); the layer build "
        + (f"ships {', '.join(shipped)}" if shipped else "was not found")
        + " (through Powertools' [tracer] extra: layers/phone_verification/requirements.txt does not pin it)."
    )
    if shipped and ours not in shipped:
        text = "WARNING: " + text + " The benchmark's X-Ray SDK is not the layer's."
    return text


def _settings(
    args: argparse.Namespace,
    inputs: report.Inputs,
    features: str,
    placement: str,
    load_before: tuple[float, float, float],
) -> dict[str, str]:
    any_warm = inputs.warm[inputs.modes[0]]
    return {
        "runs": (
            f"cold: median of {args.cold_runs} per variant, tracing mode and bytecode mode (after one "
            f"warm-up each); warm, per tracing mode: {args.warm} starts, "
            f"{len(any_warm.of('report_right'))} right-code and {len(any_warm.of('report_wrong'))} "
            f"wrong-code reports, {args.repeats} repeat starts, after {args.warmup} warm-up invocations "
            f"each; cross-check: {args.cross_runs} plain run(s) per variant and bytecode mode"
        ),
        "stack": (
            "LocalStack on 127.0.0.1 (moto server + Sinch sandbox), the functions' environment from "
            f"template.yaml with EventBusName={BENCH_EVENT_BUS} and "
            f"{', '.join(f'{k}={v}' for k, v in STACK_ENV.items())}; "
            "the Lambda runtime's variables (LAMBDA_TASK_ROOT, AWS_LAMBDA_*, AWS_XRAY_CONTEXT_MISSING, "
            "AWS_XRAY_DAEMON_ADDRESS, a fresh _X_AMZN_TRACE_ID per invocation...); interpreter flags -E, "
            f"frozen modules at their default; Lambda memory {inputs.memory_mb} MB (template)"
        ),
        "features": features,
        "tracing": report.tracing_setting(inputs.modes),
        "cpu placement": placement,
        "machine load": (
            "load average (1, 5, 15 min) "
            + " → ".join(", ".join(f"{v:.2f}" for v in load) for load in (load_before, os.getloadavg()))
            + f" on {os.cpu_count()} CPUs (start → end); what else runs on the measured CPU preempts the "
            "children: the warm rows count the preempted invocations"
        ),
    }


def _sink_keys(variants: list[Variant], modes: tuple[str, ...]) -> list[str]:
    keys = [f"{purpose}/{v.name}" for v in variants for purpose in ("setup", "count", "cold", "cross")]
    return keys + [f"warm/{function}/{tracing}" for function in (START, REPORT) for tracing in modes]


def notes(inputs: report.Inputs, setup_log: list[str], layer: measure.LayerBytecode) -> list[str]:
    sinch_price = (
        report.ASSUMED_SINCH_MS / 1000 * 2 * inputs.memory_mb / 1024 * report.LAMBDA_ARM_GB_SECOND * 1e6
    )
    all_warm = list(inputs.warm.values())
    lines = [
        "**Cold start**: wall = spawn of a fresh interpreter → the handler's answer to its first request "
        "(an API Gateway HTTP API event: a new number's SMS start, or the right code for an existing "
        "verification), through the Sinch sandbox and the DynamoDB emulator; peak RSS = the child's "
        "ru_maxrss. *cached .pyc*: every module's bytecode is cached (pure import + work). *as shipped*: "
        "what each artefact ships, as in Lambda, where /opt and /var/task are read-only and nothing "
        "compiled at a start is kept: the standard library and the runtime's boto3/botocore/s3transfer "
        "keep their bytecode; ours' layer ships its own (.pyc for 3.13, unchecked-hash), the functions "
        "none, so their app.py are compiled at each start, and so are the floor's and the peer's "
        "handlers and packages (a user's `sam build` ships no bytecode; the floor's X-Ray SDK with "
        "tracing on included). " + _shipped_note(inputs, layer),
        "**Tracing**: *off* = Powertools' Tracer disabled (POWERTOOLS_TRACE_DISABLED=1), the floor without "
        "the X-Ray SDK; *on* = as in Lambda with `Tracing: Active` (template.yaml): nothing disables the "
        "Tracer, so Powertools patches every module the X-Ray SDK knows (patch_all) and the handler runs "
        "in a `## handle` subsegment; the SDK runs in Lambda mode (LAMBDA_TASK_ROOT set: a facade segment "
        "per `_X_AMZN_TRACE_ID`, which each invocation gets fresh, Sampled=1) and streams every finished "
        "subsegment over UDP to AWS_XRAY_DAEMON_ADDRESS, a socket of the benchmark on 127.0.0.1 that "
        "counts them (the X-Ray rows). The floor with tracing on imports the X-Ray SDK and patches "
        "botocore and requests; the peer's Tracer runs as ours does. With tracing off the same sockets "
        "are set and receive nothing.",
        "**Floor**: boto3 + requests, one Application-signed Sinch start and one put_item, credentials from "
        "the environment. **Peer**: Powertools (Logger, Metrics, Tracer) + its HTTP API resolver + "
        "boto3 + `sinch==1.1.4` (its own venv). Ours also reads the Sinch secret from Secrets Manager, "
        "asks the fraud guard, takes the caller's, the rateKey's and the number's slots, writes "
        "transactionally and puts a lifecycle event on the bus (see round trips): every feature on.",
        "**Own time** = handler time - the time the invoking thread was blocked on the services: its "
        "client calls (boto3's `_make_api_call`: serialise, sign, HTTP, parse, retries; Sinch HTTP calls:"
        " the SinchClient's `on_call` seconds) and its waits for the handler's worker threads "
        "(`Future.result`), whose calls run meanwhile (a worker's call while the invoking thread works on"
        " is not subtracted: that work is on the request's path); overlaps counted once. + the X-Ray "
        "SDK's own work inside that time (its patches open, close and send a subsegment around each call:"
        " timed around `AWSXRayRecorder.record_subsegment`; the trace-header injection and wrapt's "
        "dispatch are left in the client time). It contains the Powertools decorators, routing, logging "
        "and EMF metrics (written to stdout: to a file in the warm runs, so that a slow reader never "
        "blocks a write), tracing, validation, hashing, and our Sinch client's signing and JSON. The own-"
        "time cells also give it without the garbage collector's pauses when there were any, and the "
        "invocations *preempted* (an involuntary context switch of the invoking thread: a kernel thread, "
        "another process on the measured CPU or the handler's own worker thread took the CPU) with the "
        "own time of the others.",
        "**Round trips** are counted, not assumed: boto3 operations (a write whose condition fails is a "
        "round trip and consumes its write unit) and Sinch requests (the on_call hook in warm runs, the "
        "sandbox's request log in cold runs). *DynamoDB sequential* = the longest chain of DynamoDB "
        "requests of one invocation that ran one after another (each started after the previous ended, "
        "from their timestamps; requests made in parallel count once, and one made while a call to "
        "another service (Sinch, EventBridge) is in flight for most of its time counts none, as "
        "tests/integration/test_round_trips.py counts them): the latency a start or a report pays in "
        "DynamoDB round trips. When some invocations waited for more, the most common sequence of those is "
        "given after their count. Targets: a start ≤ 2, a right-code report = 1. A cold start adds 1 "
        "Secrets Manager GetSecretValue (once per execution environment, cached 300 s).",
        f"**Loopback**: here a DynamoDB call took {_median_call_ms(all_warm, 'dynamodb')} ms (median, moto) "
        f"and a Sinch call {_median_call_ms(all_warm, 'sinch')} ms (the sandbox); in AWS, DynamoDB takes a "
        f"few ms and Sinch ~{report.ASSUMED_SINCH_MS} ms. Totals here are not production latencies; own "
        "time, counts and ratios carry over.",
        f"**Cost**: AWS list prices, us-east-1, as of {report.PRICES_AS_OF} ({report.PRICE_SOURCES}); "
        "they may have changed. Lambda at the measured mean billed duration (per ms, rounded up) of a warm "
        "new-number start plus a right-code report, tracing on (as deployed); DynamoDB: 1 WRU per write "
        "(items < 1 KB, failed conditions included), 2 per item in a transaction, 1 RRU per strongly "
        "consistent read; EventBridge PutEvents and X-Ray traces are not priced here. With "
        f"Sinch at ~{report.ASSUMED_SINCH_MS} ms per call, Lambda would add ≈ ${sinch_price:.2f} per "
        "million verifications (2 calls). Secrets Manager ($0.05 per 10,000 calls) is read once per "
        "environment and 5 minutes, not per verification.",
        f"**Artefacts**: {inputs.artefact_note}; zipped with deflate as `sam deploy` uploads them.",
    ]
    if layer.warning:
        lines.insert(0, f"WARNING: {layer.warning}.")
    failures = [*inputs.cold.failures, *(f for warm in all_warm for f in warm.failures)]
    if failures:
        lines.append(
            f"{len(failures)} runs or invocations failed and were repeated (cold) or left out (warm); "
            "the emulator drops a connection now and then, and a conditional write retried by botocore "
            "then fails (moto ignores the idempotency token DynamoDB honours): " + "; ".join(failures[:3])
        )
    if any(warm.sinch_log_matches is False for warm in all_warm):
        lines.append(
            "WARNING: the Sinch calls seen by the on_call hook differ from the sandbox's request log."
        )
    sends = [
        inv
        for warm in all_warm
        for invs in warm.invocations.values()
        for inv in invs
        if inv.http_sends != len(inv.aws)
    ]
    if sends:
        lines.append(f"{len(sends)} warm invocations sent more AWS HTTP requests than API calls (retries).")
    lines += setup_log
    return lines


def _shipped_note(inputs: report.Inputs, layer: measure.LayerBytecode) -> str:
    kept: set[str] = set()
    compiled: set[str] = set()
    for name in [variant_name(base, t) for base in ("ours_start", "ours_report") for t in inputs.modes]:
        modules = inputs.cold.shipped.get(name, ([], []))
        kept.update(modules[0])
        compiled.update(modules[1])
    shown = ", ".join(sorted(compiled)[:8]) + (f" and {len(compiled) - 8} more" if len(compiled) > 8 else "")
    return (
        f"Ours' layer bytecode: {layer.note}. Those .pyc are for CPython 3.13, which the bench interpreter "
        "need not be, so the bench emulates them: for exactly the modules the built layer ships compiled, "
        f"ours keeps this interpreter's own cached bytecode ({len(kept)} modules in this run); the rest "
        "is compiled at each start" + (f" ({shown})" if compiled else "") + "."
    )


def _median_call_ms(warms: list[measure.WarmResult], service: str) -> str:
    invocations = [inv for warm in warms for invs in warm.invocations.values() for inv in invs]
    if service == "sinch":
        values = [int(call[1]) / 1e6 for inv in invocations for call in inv.sinch]
    else:
        values = [int(call[2]) / 1e6 for inv in invocations for call in inv.aws if call[0] == service]
    return f"{measure.percentile(values, 0.5):.1f}" if values else "—"


def write(text: str, results_dir: Path, name: str = "latest.md") -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()) or "host"
    dated = results_dir / f"{time.strftime('%Y-%m-%d', time.gmtime())}-{host}.md"
    paths = [dated, results_dir / name]
    for path in paths:
        path.write_text(text, encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        text, analysis, disagreements = run(args)
    except (BenchError, envs.SetupError) as error:
        print(f"bench: failed: {error}", file=sys.stderr)
        return 1
    print(text)
    for path in write(text, args.results_dir):
        progress(f"wrote {path}")
    if analysis is not None:
        target = args.results_dir / "analysis-latest.md"
        heading = "\n".join([line for line in text.splitlines() if line.startswith("- **")][:7])
        title, _, body = analysis.partition("\n")
        target.write_text(f"{title}\n\n{heading}\n{body}", encoding="utf-8")
        progress(f"wrote {target}")
    if disagreements:
        progress(
            f"CROSS-CHECK: {disagreements} variant(s) disagree with /usr/bin/time by more than "
            f"{crosscheck.TOLERANCE:.0%} (see the cross-check table)"
        )
        if args.check:
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
