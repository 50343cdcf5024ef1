"""The benchmark's table: rows, targets, artefact sizes, the cost model and the machine it ran on."""

from __future__ import annotations

import io
import math
import os
import platform
import socket
import subprocess
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.envs import REPO, Interpreter
from bench.measure import (
    BUILD,
    CACHED,
    SHIPPED,
    UNCHECKED_HASH,
    ColdResult,
    Invocation,
    WarmResult,
    build_state,
    percentile,
    pyc_flags,
    round_trips,
)

# ------------------------------------------------------------------------------------------- prices
# AWS public list prices, us-east-1, as published on the pages below when this file was written
# (2025-06). They are constants, not fetched: check the pages, prices may have changed since.
PRICES_AS_OF = "2025-06"
LAMBDA_ARM_GB_SECOND = 0.0000133334  # aws.amazon.com/lambda/pricing (Arm, first 7.5 B GB-s / month)
LAMBDA_PER_MILLION_REQUESTS = 0.20  # aws.amazon.com/lambda/pricing
HTTP_API_PER_MILLION = 1.00  # aws.amazon.com/api-gateway/pricing (HTTP API, first 300 M / month)
DYNAMODB_PER_MILLION_WRU = 0.625  # aws.amazon.com/dynamodb/pricing/on-demand (since 2024-11-01)
DYNAMODB_PER_MILLION_RRU = 0.125  # same page
CLOUDWATCH_LOGS_PER_GB = 0.50  # aws.amazon.com/cloudwatch/pricing (ingestion, standard class)
PRICE_SOURCES = (
    "https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/api-gateway/pricing/, "
    "https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/cloudwatch/pricing/"
)
ASSUMED_SINCH_MS = 300  # for the note only: Sinch's real latency from a Lambda, per call, order of magnitude

# ------------------------------------------------------------------------------------------ targets
COLD_VS_FLOOR = 1.5
COLD_VS_PEER = 0.8
RSS_VS_FLOOR = 1.3
OWN_P50_MS = 1.0
OWN_P99_MS = 3.0
LAYER_ZIPPED_MB = 5.0

COLUMNS = ("Measure", "Ours", "Floor", "Peer", "Ours/floor", "Ours/peer", "Target", "Status")
# As shipped: ours' layer carries bytecode, functions (ours, and the floor's and the peer's with their
# packages) are compiled at start; details in the notes.
MODE_LABEL = {CACHED: "cached .pyc", SHIPPED: "as shipped: layer .pyc, functions compiled at start"}


def _cold_rows() -> list[str]:
    rows = []
    for mode in (CACHED, SHIPPED):
        label = MODE_LABEL[mode]
        rows += [
            f"Cold start, start handler: wall ms ({label})",
            f"Cold start, start handler: peak RSS MB ({label})",
            f"Cold start, start handler: import / first request ms ({label})",
            f"Cold start, report handler: wall ms ({label})",
            f"Cold start, report handler: peak RSS MB ({label})",
        ]
    return rows


ROWS = (
    *_cold_rows(),
    "Bare interpreter: wall ms / peak RSS MB",
    "Warm start (new number): total p50 / p99 ms",
    "Warm start (new number): own time p50 / p99 ms",
    "Warm start (number seen in window): own time p50 / p99 ms",
    "Warm report, right code: total p50 / p99 ms",
    "Warm report, right code: own time p50 / p99 ms",
    "Warm report, wrong code: total p50 / p99 ms",
    "Warm report, wrong code: own time p50 / p99 ms",
    "Round trips, cold start (start handler)",
    "Round trips, cold start (report handler)",
    "Round trips, warm start (new number)",
    "Round trips, warm start (number seen in window)",
    "Round trips, warm report (right code)",
    "Round trips, warm report (wrong code)",
    "Artefact: layer, zipped MB (unzipped)",
    "Artefact: start function, zipped KB",
    "Artefact: report function, zipped KB",
    "Cost per 1M verifications: Lambda USD",
    "Cost per 1M verifications: API Gateway HTTP API USD",
    "Cost per 1M verifications: DynamoDB on-demand USD",
    "Cost per 1M verifications: total USD",
    "Cost per 1M verifications: CloudWatch Logs USD (not in total)",
)


@dataclass
class Row:
    measure: str
    ours: str = "—"
    floor: str = "—"
    peer: str = "—"
    vs_floor: str = "—"
    vs_peer: str = "—"
    target: str = "—"
    status: str = "—"

    def cells(self) -> tuple[str, ...]:
        return (
            self.measure,
            self.ours,
            self.floor,
            self.peer,
            self.vs_floor,
            self.vs_peer,
            self.target,
            self.status,
        )


@dataclass
class Inputs:
    cold: ColdResult
    warm: WarmResult
    memory_mb: int
    peer_skipped: bool
    artefacts: dict[str, tuple[int, int]] | None  # name -> (zipped, unzipped) bytes
    artefact_note: str
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- helpers


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _ratio(ours: float | None, other: float | None) -> float | None:
    return ours / other if ours is not None and other else None


def _status(checks: Sequence[bool | None]) -> str:
    known = [check for check in checks if check is not None]
    if not known:
        return "—"
    return "met" if all(known) else "missed"


def _ms(ns: float) -> float:
    return ns / 1e6


# --------------------------------------------------------------------------------------------- cold


def _cold_rows_for(inputs: Inputs, mode: str) -> list[Row]:
    cold = inputs.cold
    label = MODE_LABEL[mode]
    rows = []
    wall = {name: cold.median(name, mode, "wall_ms") for name in ("ours_start", "floor", "peer")}
    rss = {name: cold.median(name, mode, "rss_mb") for name in ("ours_start", "floor", "peer")}
    vs_floor, vs_peer = _ratio(wall["ours_start"], wall["floor"]), _ratio(wall["ours_start"], wall["peer"])
    rows.append(
        Row(
            f"Cold start, start handler: wall ms ({label})",
            _fmt(wall["ours_start"]),
            _fmt(wall["floor"]),
            _fmt(wall["peer"]) if not inputs.peer_skipped else "skipped",
            _fmt(vs_floor, 2) + "x" if vs_floor else "—",
            _fmt(vs_peer, 2) + "x" if vs_peer else "—",
            f"≤ {COLD_VS_FLOOR}x floor, ≤ {COLD_VS_PEER}x peer",
            _status(
                [
                    vs_floor <= COLD_VS_FLOOR if vs_floor else None,
                    vs_peer <= COLD_VS_PEER if vs_peer else None,
                ]
            ),
        )
    )
    rss_floor, rss_peer = _ratio(rss["ours_start"], rss["floor"]), _ratio(rss["ours_start"], rss["peer"])
    rows.append(
        Row(
            f"Cold start, start handler: peak RSS MB ({label})",
            _fmt(rss["ours_start"], 1),
            _fmt(rss["floor"], 1),
            _fmt(rss["peer"], 1) if not inputs.peer_skipped else "skipped",
            _fmt(rss_floor, 2) + "x" if rss_floor else "—",
            _fmt(rss_peer, 2) + "x" if rss_peer else "—",
            f"≤ {RSS_VS_FLOOR}x floor",
            _status([rss_floor <= RSS_VS_FLOOR if rss_floor else None]),
        )
    )

    def split(name: str) -> str:
        imported, invoked = cold.median(name, mode, "import_ms"), cold.median(name, mode, "invoke_ms")
        return "—" if imported is None else f"{_fmt(imported)} / {_fmt(invoked)}"

    rows.append(
        Row(
            f"Cold start, start handler: import / first request ms ({label})",
            split("ours_start"),
            split("floor"),
            split("peer") if not inputs.peer_skipped else "skipped",
        )
    )
    report_wall = cold.median("ours_report", mode, "wall_ms")
    report_rss = cold.median("ours_report", mode, "rss_mb")
    ratio = _ratio(report_wall, wall["floor"])
    rows.append(
        Row(
            f"Cold start, report handler: wall ms ({label})",
            _fmt(report_wall) + f" ({split('ours_report')})",
            vs_floor=(_fmt(ratio, 2) + "x floor start") if ratio else "—",
        )
    )
    rows.append(Row(f"Cold start, report handler: peak RSS MB ({label})", _fmt(report_rss, 1)))
    return rows


# --------------------------------------------------------------------------------------------- warm


def _p(invocations: list[Invocation], attribute: str) -> tuple[float, float]:
    values = [_ms(getattr(inv, attribute)) for inv in invocations]
    return percentile(values, 0.50), percentile(values, 0.99)


def _warm_rows(inputs: Inputs) -> list[Row]:
    warm = inputs.warm
    rows = []
    for label, name in (
        ("start", "Warm start (new number)"),
        ("start_repeat", "Warm start (number seen in window)"),
        ("report_right", "Warm report, right code"),
        ("report_wrong", "Warm report, wrong code"),
    ):
        invocations = warm.of(label)
        n = len(invocations)
        if label != "start_repeat":
            p50, p99 = _p(invocations, "total_ns")
            rows.append(Row(f"{name}: total p50 / p99 ms", f"{_fmt(p50, 2)} / {_fmt(p99, 2)} (n={n})"))
        own50, own99 = _p(invocations, "own_ns")
        rows.append(
            Row(
                f"{name}: own time p50 / p99 ms",
                f"{_fmt(own50, 2)} / {_fmt(own99, 2)} (n={n})",
                target=f"p50 ≤ {OWN_P50_MS:g}, p99 ≤ {OWN_P99_MS:g}",
                status=_status([own50 <= OWN_P50_MS, own99 <= OWN_P99_MS] if n else []),
            )
        )
    return rows


# -------------------------------------------------------------------------------------- round trips

_SERVICE_NAMES = {"dynamodb": "DynamoDB", "secretsmanager": "Secrets Manager", "sinch": "Sinch"}


def describe_calls(names: Sequence[str]) -> str:
    """("dynamodb:UpdateItem", "sinch:start", ...) -> "DynamoDB 2 (2 UpdateItem) · Sinch 1 (start)"."""
    by_service: dict[str, Counter[str]] = {}
    for name in names:
        service, _, operation = name.partition(":")
        by_service.setdefault(service, Counter())[operation] += 1
    parts = []
    for service in ("secretsmanager", "dynamodb", "sinch"):
        ops = by_service.pop(service, Counter())
        total = sum(ops.values())
        detail = ", ".join(f"{count} {op}" for op, count in sorted(ops.items()))
        parts.append(f"{_SERVICE_NAMES[service]} {total}" + (f" ({detail})" if detail else ""))
    parts += [f"{service} {sum(ops.values())}" for service, ops in by_service.items()]
    return " · ".join(parts)


def _cold_names(probe: dict[str, Any] | None) -> list[str] | None:
    if probe is None:
        return None
    names = [f"{c[0]}:{c[1]}" + (f"[{c[5]}]" if c[5] != 1 else "") for c in probe.get("aws", [])]
    return names + [f"sinch:{op}" for op in probe.get("sinch_ops", [])]


@dataclass(frozen=True)
class TripTarget:
    """The design's minimum for one kind of invocation: how many calls of each operation
    ("dynamodb:UpdateItem", "sinch:start"), and the text the table shows for it."""

    operations: dict[str, int]
    text: str

    def plus(self, operations: dict[str, int], text: str) -> TripTarget:
        merged = Counter(self.operations)
        merged.update(operations)
        return TripTarget(dict(merged), text)

    def check(self, names: Sequence[str] | None) -> bool | None:
        """Met: no operation called more often than the target allows, and none it does not list (a
        transaction counts once, whatever its items: "dynamodb:TransactWriteItems[2]")."""
        if names is None:
            return None
        counted = Counter(name.split("[", 1)[0] for name in names)
        return all(count <= self.operations.get(op, 0) for op, count in counted.items())


# Both send limits are on in the benchmark's environment (MAX_STARTS_PER_PRINCIPAL is set): each is a
# separate item, taken by its own conditional write before Sinch is asked to send; the verification and
# the number's pointer to it are then written in one transaction (the id is Sinch's).
START_TARGET = TripTarget(
    {"dynamodb:UpdateItem": 2, "dynamodb:TransactWriteItems": 1, "sinch:start": 1},
    "DynamoDB 3 (2 conditional UpdateItem + 1 TransactWriteItems) · Sinch 1",
)
REPORT_RIGHT_TARGET = TripTarget(
    {"dynamodb:UpdateItem": 1, "sinch:report": 1}, "DynamoDB 1 (conditional UpdateItem) · Sinch 1 (report)"
)
# The code check (a write that succeeds only when the stored hash matches) first, as the right code is
# the common case; a wrong code then needs a second write that counts the attempt.
REPORT_WRONG_TARGET = TripTarget(
    {"dynamodb:UpdateItem": 2}, "DynamoDB 2 (2 conditional UpdateItem) · Sinch 0"
)
COLD_SECRET = {"secretsmanager:GetSecretValue": 1}
COLD_START_TARGET = START_TARGET.plus(COLD_SECRET, "the warm start + Secrets Manager 1 (GetSecretValue)")
COLD_REPORT_TARGET = REPORT_RIGHT_TARGET.plus(
    COLD_SECRET, "the warm right-code report + Secrets Manager 1 (GetSecretValue)"
)


def _trip_rows(inputs: Inputs) -> list[Row]:
    rows = []
    counts = inputs.cold.counts
    ours_start, ours_report = _cold_names(counts.get("ours_start")), _cold_names(counts.get("ours_report"))
    floor, peer = _cold_names(counts.get("floor")), _cold_names(counts.get("peer"))
    rows.append(
        Row(
            "Round trips, cold start (start handler)",
            describe_calls(ours_start) if ours_start is not None else "—",
            describe_calls(floor) if floor is not None else "—",
            describe_calls(peer) if peer is not None else ("skipped" if inputs.peer_skipped else "—"),
            target=COLD_START_TARGET.text,
            status=_status([COLD_START_TARGET.check(ours_start)]),
        )
    )
    rows.append(
        Row(
            "Round trips, cold start (report handler)",
            describe_calls(ours_report) if ours_report is not None else "—",
            target=COLD_REPORT_TARGET.text,
            status=_status([COLD_REPORT_TARGET.check(ours_report)]),
        )
    )
    for label, name, target in (
        ("start", "Round trips, warm start (new number)", START_TARGET),
        ("start_repeat", "Round trips, warm start (number seen in window)", START_TARGET),
        ("report_right", "Round trips, warm report (right code)", REPORT_RIGHT_TARGET),
        ("report_wrong", "Round trips, warm report (wrong code)", REPORT_WRONG_TARGET),
    ):
        signature, seen, total = round_trips(inputs.warm.of(label))
        names = list(signature) if total else None
        text = describe_calls(signature) if total else "—"
        if total and seen != total:
            text += f" ({seen} of {total} invocations)"
        rows.append(Row(name, text, target=target.text, status=_status([target.check(names)])))
    return rows


# ---------------------------------------------------------------------------------------- artefacts


def artefacts(build: Path = BUILD) -> tuple[dict[str, tuple[int, int]] | None, str]:
    """Zipped and unzipped bytes of the built layer and functions, as `sam deploy` would upload them."""
    when, stale = build_state(build)
    if when is None:
        return None, "no sam build output in .aws-sam/build (run `make build`)"
    sizes = {}
    for name in ("VerificationLayer", "StartVerificationFunction", "ReportVerificationFunction"):
        folder = build / name
        if folder.is_dir():
            sizes[name] = _zip_size(folder)
    return sizes, f"build of {when}" + (" — OLDER than the sources: run `make build`" if stale else "")


def _zip_size(folder: Path) -> tuple[int, int]:
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            # The layer build's .pyc are unchecked-hash; any other .pyc was written by running the
            # build output (a test without -B), which `sam deploy` would upload but the build does not make.
            if path.is_file() and (path.suffix != ".pyc" or pyc_flags(path) == UNCHECKED_HASH):
                archive.write(path, path.relative_to(folder))
                unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def _artefact_rows(inputs: Inputs) -> list[Row]:
    sizes = inputs.artefacts or {}
    layer = sizes.get("VerificationLayer")
    rows = [
        Row(
            "Artefact: layer, zipped MB (unzipped)",
            f"{layer[0] / 1e6:.2f} ({layer[1] / 1e6:.1f})" if layer else "not built",
            target=f"≤ {LAYER_ZIPPED_MB:g} MB zipped",
            status=_status([layer[0] / 1e6 <= LAYER_ZIPPED_MB] if layer else []),
        )
    ]
    for key, name in (
        ("StartVerificationFunction", "Artefact: start function, zipped KB"),
        ("ReportVerificationFunction", "Artefact: report function, zipped KB"),
    ):
        size = sizes.get(key)
        rows.append(Row(name, f"{size[0] / 1e3:.1f}" if size else "not built"))
    return rows


# --------------------------------------------------------------------------------------------- cost


@dataclass(frozen=True)
class Cost:
    lambda_usd: float
    api_usd: float
    dynamodb_usd: float
    logs_usd: float
    billed_ms: float
    wru: float
    rru: float
    log_bytes: float

    @property
    def total(self) -> float:
        return self.lambda_usd + self.api_usd + self.dynamodb_usd


def cost_per_million(warm: WarmResult, memory_mb: int) -> Cost | None:
    starts, reports = warm.of("start"), warm.of("report_right")
    if not starts or not reports:
        return None

    def billed(invocations: list[Invocation]) -> float:
        return sum(math.ceil(_ms(inv.total_ns)) for inv in invocations) / len(invocations)

    def median(values: list[float]) -> float:
        return percentile(values, 0.5)

    billed_ms = billed(starts) + billed(reports)
    gb_seconds = billed_ms / 1000 * memory_mb / 1024
    million = 1_000_000
    lambda_usd = million * gb_seconds * LAMBDA_ARM_GB_SECOND + 2 * LAMBDA_PER_MILLION_REQUESTS
    api_usd = 2 * HTTP_API_PER_MILLION
    wru = median([inv.wru for inv in starts]) + median([inv.wru for inv in reports])
    rru = median([inv.rru for inv in starts]) + median([inv.rru for inv in reports])
    dynamodb_usd = wru * DYNAMODB_PER_MILLION_WRU + rru * DYNAMODB_PER_MILLION_RRU
    log_bytes = sum(warm.log_bytes_per_invocation.values())
    logs_usd = million * log_bytes / 1e9 * CLOUDWATCH_LOGS_PER_GB
    return Cost(lambda_usd, api_usd, dynamodb_usd, logs_usd, billed_ms, wru, rru, log_bytes)


def _cost_rows(inputs: Inputs) -> list[Row]:
    cost = cost_per_million(inputs.warm, inputs.memory_mb)
    if cost is None:
        return [Row(name) for name in ROWS if name.startswith("Cost per 1M")]
    return [
        Row(
            "Cost per 1M verifications: Lambda USD",
            f"{cost.lambda_usd:.2f} ({cost.billed_ms:.0f} billed ms, {inputs.memory_mb} MB arm64,"
            " 2 requests)",
        ),
        Row("Cost per 1M verifications: API Gateway HTTP API USD", f"{cost.api_usd:.2f} (2 requests)"),
        Row(
            "Cost per 1M verifications: DynamoDB on-demand USD",
            f"{cost.dynamodb_usd:.2f} ({cost.wru:g} WRU + {cost.rru:g} RRU)",
        ),
        Row("Cost per 1M verifications: total USD", f"{cost.total:.2f}"),
        Row(
            "Cost per 1M verifications: CloudWatch Logs USD (not in total)",
            f"{cost.logs_usd:.2f} ({cost.log_bytes:.0f} log bytes per verification)",
        ),
    ]


# ------------------------------------------------------------------------------------------- render


def rows(inputs: Inputs) -> list[Row]:
    bare_wall = inputs.cold.median("bare", CACHED, "wall_ms")
    bare_rss = inputs.cold.median("bare", CACHED, "rss_mb")
    return [
        *_cold_rows_for(inputs, CACHED),
        *_cold_rows_for(inputs, SHIPPED),
        Row("Bare interpreter: wall ms / peak RSS MB", f"{_fmt(bare_wall)} / {_fmt(bare_rss, 1)}"),
        *_warm_rows(inputs),
        *_trip_rows(inputs),
        *_artefact_rows(inputs),
        *_cost_rows(inputs),
    ]


def markdown_table(table_rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in table_rows]
    return "\n".join(lines)


def machine(interpreter: Interpreter, peer: Interpreter | None) -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(  # noqa: S603
            ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=10"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown (not a git checkout)"
    commit = os.environ.get("BENCH_SOURCE") or commit  # e.g. "c30015e (clean export)" for an export
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": socket.gethostname(),
        "cpu": f"{cpu}, {os.cpu_count()} cores ({platform.machine()})",
        "os": platform.platform(),
        "python (ours, floor)": f"{interpreter.description} — {interpreter.python}",
        "python (peer)": f"{peer.description} — {peer.python}" if peer else "skipped",
        "commit": commit,
    }


def document(
    table_rows: Sequence[Row], info: dict[str, str], settings: dict[str, str], notes: Sequence[str]
) -> str:
    lines = ["# Benchmark: phone verification handlers", ""]
    lines += [f"- **{key}**: {value}" for key, value in info.items()]
    lines += [f"- **{key}**: {value}" for key, value in settings.items()]
    lines += ["", markdown_table(table_rows), ""]
    if notes:
        lines += ["Notes:", ""]
        lines += [f"- {note}" for note in notes]
        lines.append("")
    return "\n".join(lines)
