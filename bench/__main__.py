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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import emulator, envs, measure, report
from bench.measure import REPORT, START, BenchError, Numbers, Variant

RESULTS = Path(__file__).resolve().parent / "results"
ANALYSIS_WARM = 300
# Limits high enough for thousands of starts by one caller in minutes (unknown names are ignored by
# versions of the product without that limit).
STACK_ENV = {
    "MAX_STARTS_PER_NUMBER": "1000",
    "MIN_SECONDS_BETWEEN_STARTS": "0",
    "MAX_STARTS_PER_PRINCIPAL": "1000000",
}


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
    return parser.parse_args(argv)


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


def _variants(
    stack: Any,
    interpreter: envs.Interpreter,
    peer: Path | None,
    bytecode: measure.LayerBytecode,
) -> list[Variant]:
    start_spec, report_spec = stack.functions[START], stack.functions[REPORT]
    start_env = envs.child_environment(stack.function_environment(START))
    report_env = envs.child_environment(stack.function_environment(REPORT))
    sandbox = stack.sandbox.config
    baseline_env = {
        **start_env,
        "SINCH_APPLICATION_KEY": sandbox.application_key,
        "SINCH_APPLICATION_SECRET": sandbox.application_secret,
    }
    numbers = Numbers(1)
    serial = iter(range(1, 10**9))

    def start_event(_: int) -> dict[str, Any]:
        return measure.start_event(numbers.take(), next(serial))

    def report_event(_: int) -> dict[str, Any]:
        number = numbers.take()
        with quiet_stdout():  # the product's log lines, printed by this process's in-process invocation
            started = stack.invoke(START, {"phoneNumber": number, "owner": measure.OWNER})
        code = stack.sandbox.inbox(number)["messages"][-1]["code"]
        return measure.report_event(started["id"], code, next(serial))

    layer = [str(path) for path in start_spec.layer_dirs]
    baselines = measure.BENCH / "baselines"
    variants = [
        Variant("bare", interpreter.python, [], start_env, "bare", mode="noop", expect_status=None),
        Variant(
            "floor",
            interpreter.python,
            [str(baselines / "floor")],
            baseline_env,
            "floor",
            prepare=start_event,
        ),
        Variant(
            "ours_start",
            interpreter.python,
            [str(start_spec.code_dir), *layer],
            start_env,
            str(start_env["AWS_LAMBDA_FUNCTION_NAME"]),
            prepare=start_event,
            shipped=bytecode.modules,
        ),
        Variant(
            "ours_report",
            interpreter.python,
            [str(report_spec.code_dir), *[str(p) for p in report_spec.layer_dirs]],
            report_env,
            str(report_env["AWS_LAMBDA_FUNCTION_NAME"]),
            expect_status=200,
            prepare=report_event,
            shipped=bytecode.modules,
        ),
    ]
    if peer is not None:
        variants.insert(
            2, Variant("peer", peer, [str(baselines / "peer")], baseline_env, "peer", prepare=start_event)
        )
    return variants


def _inbox_code(stack: Any) -> Any:
    def code(number: str) -> str:
        return str(stack.sandbox.inbox(number)["messages"][-1]["code"])

    return code


def run(args: argparse.Namespace) -> tuple[str, str | None]:
    # First: the emulator's and the sandbox's threads inherit this process's CPUs when they start.
    placement = measure.place_processes(pin=not args.no_pin)
    measure.SPAWNER_PROCESS.child_cpu = placement.child_cpu
    progress(f"cpu placement: {placement.note}")
    from local_stack import LocalStack  # the emulator and sandbox: only the parent needs them

    setup_log: list[str] = []
    interpreter = envs.ours(args.python, setup_log)
    peer_python = envs.peer(interpreter, args.python, args.peer, setup_log)
    peer_interpreter = envs.probe(peer_python) if peer_python else None
    patched = emulator.patch_moto_transactions()
    if patched:
        setup_log.append(patched)
    workdir = Path(tempfile.mkdtemp(prefix="phone-verification-bench-"))
    analysis_text: str | None = None
    try:
        progress(f"local stack up; children run on {interpreter.python} (Python {interpreter.version})")
        with LocalStack(env=STACK_ENV, log=io.StringIO()) as stack:
            sandbox = stack.sandbox
            assert sandbox is not None  # no SINCH_BASE_URL given: the stack runs the sandbox
            # Ours runs from the sources; the built layer says which of them Lambda gets as bytecode.
            functions = (stack.functions[START], stack.functions[REPORT])
            layer = measure.layer_bytecode([path for spec in functions for path in spec.layer_dirs])
            variants = _variants(stack, interpreter, peer_python, layer)
            cold = measure.measure_cold(
                variants,
                rounds=args.cold_runs,
                workdir=workdir,
                sinch_log=sandbox.requests_log,
                progress=progress,
            )
            by_name = {variant.name: variant for variant in variants}
            warm_args: dict[str, Any] = {
                "python": interpreter.python,
                "start": (by_name["ours_start"].paths, by_name["ours_start"].env),
                "report": (by_name["ours_report"].paths, by_name["ours_report"].env),
                "warmup": args.warmup,
                "repeats": args.repeats,
                "inbox_code": _inbox_code(stack),
                "sinch_log_size": lambda: len(sandbox.requests_log()),
                "workdir": workdir,
                "progress": progress,
            }
            warm = measure.measure_warm(count=args.warm, profile_dir=None, **warm_args)
            if args.analyse:
                from bench import analysis

                progress("analysis: a profiled warm run, -X importtime, a profiled first request")
                profile_dir = workdir / "profiles"
                profile_dir.mkdir()
                measure.measure_warm(
                    count=min(args.warm, ANALYSIS_WARM), profile_dir=profile_dir, number_block=4, **warm_args
                )
                analysis_text = analysis.write(by_name, workdir, profile_dir)
            memory_mb = stack.functions[START].memory_mb
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
    )
    table_rows = report.rows(inputs)
    info = report.machine(interpreter, peer_interpreter)
    settings = {
        "runs": (
            f"cold: median of {args.cold_runs} per variant and bytecode mode (after one warm-up each); "
            f"warm: {args.warm} starts, {len(warm.of('report_right'))} right-code and "
            f"{len(warm.of('report_wrong'))} wrong-code reports, {args.repeats} repeat starts, "
            f"after {args.warmup} warm-up invocations each"
        ),
        "stack": (
            "LocalStack on 127.0.0.1 (moto server + Sinch sandbox), the functions' environment from "
            f"template.yaml with {', '.join(f'{k}={v}' for k, v in STACK_ENV.items())}; "
            "POWERTOOLS_TRACE_DISABLED=1 (no X-Ray daemon here); interpreter flags -E, "
            "frozen modules at their default; "
            f"Lambda memory {memory_mb} MB (template)"
        ),
        "cpu placement": placement.note,
    }
    return report.document(table_rows, info, settings, notes(inputs, warm, setup_log, layer)), analysis_text


def notes(
    inputs: report.Inputs, warm: measure.WarmResult, setup_log: list[str], layer: measure.LayerBytecode
) -> list[str]:
    sinch_price = (
        report.ASSUMED_SINCH_MS / 1000 * 2 * inputs.memory_mb / 1024 * report.LAMBDA_ARM_GB_SECOND * 1e6
    )
    lines = [
        "**Cold start**: wall = spawn of a fresh interpreter → the handler's answer to its first request "
        "(an API Gateway HTTP API event: a new number's SMS start, or the right code for an existing "
        "verification), through the Sinch sandbox and the DynamoDB emulator; peak RSS = the child's "
        "ru_maxrss. *cached .pyc*: every module's bytecode is cached (pure import + work). *as shipped*: "
        "what each artefact ships, as in Lambda, where /opt and /var/task are read-only and nothing "
        "compiled at a start is kept: the standard library and the runtime's boto3/botocore/s3transfer "
        "keep their bytecode; ours' layer ships its own (.pyc for 3.13, unchecked-hash), the functions "
        "none, so their app.py are compiled at each start, and so are the floor's and the peer's "
        "handlers and packages (a user's `sam build` ships no bytecode). " + _shipped_note(inputs, layer),
        "**Floor**: boto3 + requests, one Application-signed Sinch start and one put_item, credentials from "
        "the environment. **Peer**: Powertools (Logger, Metrics, Tracer off) + its HTTP API resolver + "
        "boto3 + `sinch==1.1.4` (its own venv). Ours also reads the Sinch secret from Secrets Manager, "
        "takes the per-number and per-caller slots and writes transactionally (see round trips).",
        "**Own time** = handler time - time inside boto3 client calls (`_make_api_call`: serialise, sign, "
        "HTTP, parse, retries) - time inside Sinch HTTP calls (the SinchClient's `on_call` seconds). It "
        "contains the Powertools decorators, routing, logging and EMF metrics (written to stdout), "
        "validation, hashing, and our Sinch client's signing and JSON.",
        "**Round trips** are counted, not assumed: boto3 operations (a write whose condition fails is a "
        "round trip and consumes its write unit) and Sinch requests (the on_call hook in warm runs, the "
        "sandbox's request log in cold runs); the status compares each operation's count with the "
        "design's minimum. A start: 1 conditional UpdateItem per send limit that is on (here the "
        "per-number window and the per-caller budget: separate items, each taken before Sinch is asked "
        "to send), 1 Sinch start, then 1 TransactWriteItems (the verification and the number's pointer "
        "to it, atomically; the id is Sinch's, so it cannot be written before the send): DynamoDB 3 · "
        "Sinch 1, for a new number and a number seen in the window alike. A right-code report: 1 "
        "conditional UpdateItem + 1 Sinch report. A wrong-code report: 2 conditional UpdateItem, Sinch "
        "0: DynamoDB cannot branch inside one write, so the code check (succeeds only when the stored "
        "hash equals the candidate) goes first, the right code being the common case, and a wrong code "
        "then needs a second write that counts the attempt. A cold start adds 1 Secrets Manager "
        "GetSecretValue (once per execution environment, cached 300 s).",
        f"**Loopback**: here a DynamoDB call took {_median_call_ms(warm, 'dynamodb')} ms (median, moto) "
        f"and a Sinch call {_median_call_ms(warm, 'sinch')} ms (the sandbox); in AWS, DynamoDB takes a few "
        f"ms and Sinch ~{report.ASSUMED_SINCH_MS} ms. Totals here are not production latencies; own time, "
        "counts and ratios carry over.",
        f"**Cost**: AWS list prices, us-east-1, as of {report.PRICES_AS_OF} ({report.PRICE_SOURCES}); "
        "they may have changed. Lambda at the measured mean billed duration (per ms, rounded up) of a warm "
        "new-number start plus a right-code report; DynamoDB: 1 WRU per write (items < 1 KB, failed "
        "conditions included), 2 per item in a transaction, 1 RRU per strongly consistent read. With "
        f"Sinch at ~{report.ASSUMED_SINCH_MS} ms per call, Lambda would add ≈ ${sinch_price:.2f} per "
        "million verifications (2 calls). Secrets Manager ($0.05 per 10,000 calls) is read once per "
        "environment and 5 minutes, not per verification.",
        f"**Artefacts**: {inputs.artefact_note}; zipped with deflate as `sam deploy` uploads them.",
    ]
    if layer.warning:
        lines.insert(0, f"WARNING: {layer.warning}.")
    failures = [*inputs.cold.failures, *warm.failures]
    if failures:
        lines.append(
            f"{len(failures)} runs or invocations failed and were repeated (cold) or left out (warm); "
            "the emulator drops a connection now and then, and a conditional write retried by botocore "
            "then fails (moto ignores the idempotency token DynamoDB honours): " + "; ".join(failures[:3])
        )
    if warm.sinch_log_matches is False:
        lines.append(
            "WARNING: the Sinch calls seen by the on_call hook differ from the sandbox's request log."
        )
    sends = [inv for invs in warm.invocations.values() for inv in invs if inv.http_sends != len(inv.aws)]
    if sends:
        lines.append(f"{len(sends)} warm invocations sent more AWS HTTP requests than API calls (retries).")
    lines += setup_log
    return lines


def _shipped_note(inputs: report.Inputs, layer: measure.LayerBytecode) -> str:
    kept: set[str] = set()
    compiled: set[str] = set()
    for name in ("ours_start", "ours_report"):
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


def _median_call_ms(warm: measure.WarmResult, service: str) -> str:
    invocations = [inv for invs in warm.invocations.values() for inv in invs]
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
        text, analysis = run(args)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
