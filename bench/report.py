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

from bench.crosscheck import TOLERANCE, CrossCheck
from bench.envs import REPO, Interpreter
from bench.measure import (
    BUILD,
    CACHED,
    HOT_KEY_RATE,
    PARTITION_WCU,
    SHIPPED,
    TRACING_MODES,
    UNCHECKED_HASH,
    ColdResult,
    HotKeys,
    Invocation,
    WarmResult,
    build_state,
    percentile,
    pyc_flags,
    round_trips,
    variant_name,
)
from bench.xray import Tally

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
# Issue 16: with every feature on at its defaults, tracing off and on.
COLD_VS_FLOOR = 1.2
RSS_VS_FLOOR = 1.1
COLD_VS_PEER = 0.7
OWN_P50_MS = 1.0
OWN_P99_MS = 2.0
DYNAMODB_SEQUENTIAL_START = 2  # at most
DYNAMODB_SEQUENTIAL_REPORT_RIGHT = 1  # exactly
LAYER_ZIPPED_MB = 5.0

COLUMNS = ("Measure", "Ours", "Floor", "Peer", "Ours/floor", "Ours/peer", "Target", "Status")
# As shipped: ours' layer carries bytecode, functions (ours, and the floor's and the peer's with their
# packages) are compiled at start; details in the notes.
MODE_LABEL = {CACHED: "cached .pyc", SHIPPED: "as shipped: layer .pyc, functions compiled at start"}
MODE_SHORT = {CACHED: "cached", SHIPPED: "as shipped"}

_COLD_KINDS = (
    "Cold start, start handler: wall ms",
    "Cold start, start handler: peak RSS MB",
    "Cold start, start handler: import / first request ms",
    "Cold start, report handler: wall ms",
    "Cold start, report handler: peak RSS MB",
)
_WARM_KINDS = (
    ("start", "Warm start (new number)", True),
    ("start_repeat", "Warm start (number seen in window)", False),
    ("report_right", "Warm report, right code", True),
    ("report_wrong", "Warm report, wrong code", True),
)
_TRIP_KINDS = (
    "Round trips, cold start (start handler)",
    "Round trips, cold start (report handler)",
    "Round trips, warm start (new number)",
    "Round trips, warm start (number seen in window)",
    "Round trips, warm report (right code)",
    "Round trips, warm report (wrong code)",
)
_XRAY_KINDS = (
    "X-Ray sent per cold start (start handler): datagrams / KB",
    "X-Ray sent per warm invocation (ours): datagrams, start / report",
)


def cold_label(kind: str, mode: str, tracing: str) -> str:
    return f"{kind} ({MODE_LABEL[mode]}; tracing {tracing})"


def warm_label(name: str, what: str, tracing: str) -> str:
    return f"{name}: {what} p50 / p99 ms (tracing {tracing})"


def xray_label(kind: str, tracing: str) -> str:
    return f"{kind} (tracing {tracing})"


def _all_rows() -> tuple[str, ...]:
    rows = [
        cold_label(kind, mode, t) for mode in (CACHED, SHIPPED) for kind in _COLD_KINDS for t in TRACING_MODES
    ]
    rows.append("Bare interpreter: wall ms / peak RSS MB")
    for _, name, has_total in _WARM_KINDS:
        for t in TRACING_MODES:
            if has_total:
                rows.append(warm_label(name, "total", t))
            rows.append(warm_label(name, "own time", t))
    rows += _TRIP_KINDS
    rows += [xray_label(kind, t) for kind in _XRAY_KINDS for t in TRACING_MODES]
    return (*rows, *_ARTEFACT_ROWS, *_COST_ROWS, *_HOT_ROWS)


_ARTEFACT_ROWS = (
    "Artefact: layer, zipped MB (unzipped)",
    "Artefact: start function, zipped KB",
    "Artefact: report function, zipped KB",
)
_COST_ROWS = (
    "Cost per 1M verifications: Lambda USD",
    "Cost per 1M verifications: API Gateway HTTP API USD",
    "Cost per 1M verifications: DynamoDB on-demand USD",
    "Cost per 1M verifications: total USD",
    "Cost per 1M verifications: CloudWatch Logs USD (not in total)",
)
_HOT_ROWS = (
    f"Hot keys at {HOT_KEY_RATE:,} starts/s from one principal into one range: WCU/s on the busiest item "
    "of each kind (mean item; items)",
)
ROWS = _all_rows()


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
    warm: dict[str, WarmResult]  # by tracing mode
    memory_mb: int
    peer_skipped: bool
    artefacts: dict[str, tuple[int, int]] | None  # name -> (zipped, unzipped) bytes
    artefact_note: str
    modes: tuple[str, ...] = TRACING_MODES  # tracing modes measured
    xray: dict[str, Tally] = field(default_factory=dict)  # UDP sink key -> what it received
    cross: CrossCheck | None = None
    features: str = ""
    notes: list[str] = field(default_factory=list)
    hot: HotKeys | None = None  # the hot-key run (--hot-keys)


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


def _x(value: float | None) -> str:
    return _fmt(value, 2) + "x" if value else "—"


# --------------------------------------------------------------------------------------------- cold


def cold_ratios(inputs: Inputs, mode: str, tracing: str) -> dict[str, float | None]:
    """Ours' start handler against the floor and the peer, in one bytecode and one tracing mode."""
    cold = inputs.cold

    def median(base: str, attribute: str) -> float | None:
        return cold.median(variant_name(base, tracing), mode, attribute)

    return {
        "wall_vs_floor": _ratio(median("ours_start", "wall_ms"), median("floor", "wall_ms")),
        "wall_vs_peer": _ratio(median("ours_start", "wall_ms"), median("peer", "wall_ms")),
        "rss_vs_floor": _ratio(median("ours_start", "rss_mb"), median("floor", "rss_mb")),
    }


def _cold_rows_for(inputs: Inputs, mode: str) -> list[Row]:
    cold = inputs.cold
    rows: dict[tuple[str, str], Row] = {}
    for tracing in inputs.modes:

        def median(base: str, attribute: str, tracing: str = tracing) -> float | None:
            return cold.median(variant_name(base, tracing), mode, attribute)

        def peer_cell(text: str) -> str:
            return "skipped" if inputs.peer_skipped else text

        ratios = cold_ratios(inputs, mode, tracing)
        kinds = iter(_COLD_KINDS)
        rows[(next(kinds), tracing)] = Row(
            "",
            _fmt(median("ours_start", "wall_ms")),
            _fmt(median("floor", "wall_ms")),
            peer_cell(_fmt(median("peer", "wall_ms"))),
            _x(ratios["wall_vs_floor"]),
            _x(ratios["wall_vs_peer"]),
            f"≤ {COLD_VS_FLOOR}x floor, ≤ {COLD_VS_PEER}x peer",
            _status(
                [
                    ratios["wall_vs_floor"] <= COLD_VS_FLOOR if ratios["wall_vs_floor"] else None,
                    ratios["wall_vs_peer"] <= COLD_VS_PEER if ratios["wall_vs_peer"] else None,
                ]
            ),
        )
        rss_vs_peer = _ratio(median("ours_start", "rss_mb"), median("peer", "rss_mb"))
        rows[(next(kinds), tracing)] = Row(
            "",
            _fmt(median("ours_start", "rss_mb"), 1),
            _fmt(median("floor", "rss_mb"), 1),
            peer_cell(_fmt(median("peer", "rss_mb"), 1)),
            _x(ratios["rss_vs_floor"]),
            _x(rss_vs_peer),
            f"≤ {RSS_VS_FLOOR}x floor",
            _status([ratios["rss_vs_floor"] <= RSS_VS_FLOOR if ratios["rss_vs_floor"] else None]),
        )

        def split(base: str, tracing: str = tracing) -> str:
            name = variant_name(base, tracing)
            imported, invoked = cold.median(name, mode, "import_ms"), cold.median(name, mode, "invoke_ms")
            return "—" if imported is None else f"{_fmt(imported)} / {_fmt(invoked)}"

        rows[(next(kinds), tracing)] = Row("", split("ours_start"), split("floor"), peer_cell(split("peer")))
        report_wall = median("ours_report", "wall_ms")
        ratio = _ratio(report_wall, median("floor", "wall_ms"))
        rows[(next(kinds), tracing)] = Row(
            "",
            _fmt(report_wall) + f" ({split('ours_report')})",
            vs_floor=(_fmt(ratio, 2) + "x floor start") if ratio else "—",
        )
        rows[(next(kinds), tracing)] = Row("", _fmt(median("ours_report", "rss_mb"), 1))
    ordered = []
    for kind in _COLD_KINDS:
        for tracing in inputs.modes:
            row = rows[(kind, tracing)]
            row.measure = cold_label(kind, mode, tracing)
            ordered.append(row)
    return ordered


# --------------------------------------------------------------------------------------------- warm


def _p(invocations: list[Invocation], attribute: str) -> tuple[float, float]:
    values = [_ms(getattr(inv, attribute)) for inv in invocations]
    return percentile(values, 0.50), percentile(values, 0.99)


def own_time(inputs: Inputs, label: str, tracing: str) -> tuple[float, float, int]:
    warm = inputs.warm.get(tracing)
    invocations = warm.of(label) if warm is not None else []
    own50, own99 = _p(invocations, "own_ns")
    return own50, own99, len(invocations)


def _warm_rows(inputs: Inputs) -> list[Row]:
    rows = []
    for label, name, has_total in _WARM_KINDS:
        for tracing in inputs.modes:
            invocations = inputs.warm[tracing].of(label)
            n = len(invocations)
            if has_total:
                p50, p99 = _p(invocations, "total_ns")
                rows.append(
                    Row(warm_label(name, "total", tracing), f"{_fmt(p50, 2)} / {_fmt(p99, 2)} (n={n})")
                )
        for tracing in inputs.modes:
            invocations = inputs.warm[tracing].of(label)
            n = len(invocations)
            own50, own99 = _p(invocations, "own_ns")
            detail = f"n={n}"
            if any(inv.xray for inv in invocations):
                inside = percentile([_ms(overlap_ns(inv)) for inv in invocations], 0.5)
                detail += f"; of which X-Ray SDK inside client calls p50 {inside:.2f}"
            if any(inv.gc for inv in invocations):
                no_gc = [_ms(inv.own_ns - inv.own_gc_ns) for inv in invocations]
                detail += f"; without GC pauses {percentile(no_gc, 0.5):.2f} / {percentile(no_gc, 0.99):.2f}"
            preempted = [inv for inv in invocations if inv.preempted]
            if preempted:
                calm = [_ms(inv.own_ns) for inv in invocations if not inv.preempted]
                detail += f"; {len(preempted)} preempted"
                if calm:
                    detail += (
                        f", the {len(calm)} others {percentile(calm, 0.5):.2f} / {percentile(calm, 0.99):.2f}"
                    )
            rows.append(
                Row(
                    warm_label(name, "own time", tracing),
                    f"{_fmt(own50, 2)} / {_fmt(own99, 2)} ({detail})",
                    target=f"p50 ≤ {OWN_P50_MS:g}, p99 ≤ {OWN_P99_MS:g}" if has_total else "—",
                    status=_status([own50 <= OWN_P50_MS, own99 <= OWN_P99_MS] if n and has_total else []),
                )
            )
    # Interleave: total off, total on, own off, own on for each kind (already in that order).
    return rows


def overlap_ns(inv: Invocation) -> int:
    """The X-Ray SDK's own work inside the invocation's client calls (own time takes it back)."""
    from bench.measure import overlap

    return overlap(inv.xray, inv._client_intervals())


# -------------------------------------------------------------------------------------- round trips

_SERVICE_NAMES = {
    "dynamodb": "DynamoDB",
    "secretsmanager": "Secrets Manager",
    "sinch": "Sinch",
    "events": "EventBridge",
}


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
    for service, ops in by_service.items():
        detail = ", ".join(f"{count} {op}" for op, count in sorted(ops.items()))
        parts.append(f"{_SERVICE_NAMES.get(service, service)} {sum(ops.values())} ({detail})")
    return " · ".join(parts)


def _cold_names(probe: dict[str, Any] | None) -> list[str] | None:
    if probe is None:
        return None
    names = [f"{c[0]}:{c[1]}" + (f"[{c[5]}]" if c[5] != 1 else "") for c in probe.get("aws", [])]
    return names + [f"sinch:{op}" for op in probe.get("sinch_ops", [])]


def _order_text(order: Sequence[str]) -> str:
    """("UpdateItem caller", "UpdateItem caller", "UpdateItem number") -> "2 UpdateItem caller → UpdateItem
    number": the DynamoDB requests in the order they started, repeats folded."""
    parts: list[list[Any]] = []
    for name in order:
        if parts and parts[-1][0] == name:
            parts[-1][1] += 1
        else:
            parts.append([name, 1])
    return " → ".join(f"{count} {name}" if count > 1 else str(name) for name, count in parts)


def _cold_order(probe: dict[str, Any] | None) -> str:
    calls = sorted((c for c in (probe or {}).get("aws", []) if c[0] == "dynamodb"), key=lambda c: int(c[6]))
    return _order_text([f"{c[1]} {c[8]}" if len(c) > 8 and c[8] else str(c[1]) for c in calls])


def _cold_sequential(probe: dict[str, Any] | None) -> int | None:
    if probe is None:
        return None
    from bench.measure import dynamodb_waits

    return dynamodb_waits(probe.get("aws", []), probe.get("sinch", []))


@dataclass(frozen=True)
class SequentialTarget:
    """DynamoDB round trips one after another: at most (or exactly) ``limit``."""

    limit: int
    exact: bool = False

    @property
    def text(self) -> str:
        return f"DynamoDB sequential {'=' if self.exact else '≤'} {self.limit}"

    def check(self, value: int | None) -> bool | None:
        if value is None:
            return None
        return value == self.limit if self.exact else value <= self.limit


START_TARGET = SequentialTarget(DYNAMODB_SEQUENTIAL_START)
REPORT_RIGHT_TARGET = SequentialTarget(DYNAMODB_SEQUENTIAL_REPORT_RIGHT, exact=True)


def sequential_counts(inputs: Inputs, label: str, tracing: str) -> Counter[int]:
    """How many warm invocations of ``label`` had each number of sequential DynamoDB round trips."""
    warm = inputs.warm.get(tracing)
    return Counter(inv.dynamodb_sequential() for inv in (warm.of(label) if warm is not None else []))


def cold_sequential(inputs: Inputs, base: str, tracing: str) -> int | None:
    return _cold_sequential(inputs.cold.counts.get(variant_name(base, tracing)))


def _sequential_text(counts: Counter[int], longest: str = "") -> str:
    if not counts:
        return "—"
    common, seen = counts.most_common(1)[0]
    total = sum(counts.values())
    text = f"DynamoDB sequential {common}"
    if seen != total:
        text += f" ({seen} of {total}; max {max(counts)}{longest})"
    return text


def _longest_text(inputs: Inputs, label: str, tracing: str) -> str:
    """What the invocations with the most sequential round trips did (their DynamoDB requests in order):
    why they waited longer than the others, when they did."""
    warm = inputs.warm.get(tracing)
    invocations = warm.of(label) if warm is not None else []
    counts = Counter(inv.dynamodb_sequential() for inv in invocations)
    if len(counts) < 2:
        return ""
    most = max(counts)
    orders = Counter(inv.dynamodb_order() for inv in invocations if inv.dynamodb_sequential() == most)
    order, seen = orders.most_common(1)[0]
    return f" in {counts[most]}, {seen} of them: {_order_text(order)}"


def _trip_rows(inputs: Inputs) -> list[Row]:
    rows = []
    shown = inputs.modes[-1]  # tracing on when measured; the other mode is named when it differs
    counts = inputs.cold.counts

    def cold_cell(base: str) -> str:
        texts = {}
        for tracing in inputs.modes:
            probe = counts.get(variant_name(base, tracing))
            names = _cold_names(probe)
            if names is None:
                continue
            text = describe_calls(names)
            if base.startswith("ours"):
                text += f" · DynamoDB sequential {_cold_sequential(probe)}: {_cold_order(probe)}"
            texts[tracing] = text
        if not texts:
            return "skipped" if base == "peer" and inputs.peer_skipped else "—"
        main = texts.get(shown) or next(iter(texts.values()))
        others = [f"tracing {t}: {text}" for t, text in texts.items() if text != main]
        return main + (f" ({'; '.join(others)})" if others else "")

    for base, kind, target in (
        ("ours_start", _TRIP_KINDS[0], START_TARGET),
        ("ours_report", _TRIP_KINDS[1], REPORT_RIGHT_TARGET),
    ):
        checks = [target.check(cold_sequential(inputs, base, t)) for t in inputs.modes]
        row = Row(kind, cold_cell(base), target=target.text, status=_status(checks))
        if base == "ours_start":
            row.floor, row.peer = cold_cell("floor"), cold_cell("peer")
        rows.append(row)
    warm_kinds: tuple[tuple[str, str, SequentialTarget | None], ...] = (
        ("start", _TRIP_KINDS[2], START_TARGET),
        ("start_repeat", _TRIP_KINDS[3], START_TARGET),
        ("report_right", _TRIP_KINDS[4], REPORT_RIGHT_TARGET),
        ("report_wrong", _TRIP_KINDS[5], None),
    )
    for label, kind, warm_target in warm_kinds:
        texts = {}
        warm_checks: list[bool | None] = []
        for tracing in inputs.modes:
            signature, seen, total = round_trips(inputs.warm[tracing].of(label))
            if not total:
                continue
            text = describe_calls(signature)
            if seen != total:
                text += f" ({seen} of {total} invocations)"
            sequential_counts_ = sequential_counts(inputs, label, tracing)
            orders = Counter(inv.dynamodb_order() for inv in inputs.warm[tracing].of(label))
            text += (
                " · "
                + _sequential_text(sequential_counts_, _longest_text(inputs, label, tracing))
                + ": "
                + _order_text(orders.most_common(1)[0][0])
            )
            texts[tracing] = text
            if warm_target is not None:
                warm_checks += [warm_target.check(value) for value in sequential_counts_]
        main = texts.get(shown) or next(iter(texts.values()), "—")
        others = [f"tracing {t}: {text}" for t, text in texts.items() if text != main]
        rows.append(
            Row(
                kind,
                main + (f" ({'; '.join(others)})" if others else ""),
                target=warm_target.text if warm_target is not None else "—",
                status=_status(warm_checks),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------- X-Ray


def _tally(inputs: Inputs, key: str) -> Tally:
    return inputs.xray.get(key) or Tally()


def cold_xray(inputs: Inputs, base: str, tracing: str) -> tuple[float, float] | None:
    """Datagrams and bytes per measured cold start of ``base`` (None: not measured)."""
    name = variant_name(base, tracing)
    runs = inputs.cold.runs.get(f"cold/{name}", 0)
    if not runs:
        return None
    tally = _tally(inputs, f"cold/{name}")
    return tally.datagrams / runs, tally.size / runs


def warm_xray(inputs: Inputs, function: str, tracing: str) -> tuple[float, int] | None:
    """Datagrams per warm invocation of the function's worker (warm-ups included), and the distinct
    trace ids seen."""
    warm = inputs.warm.get(tracing)
    if warm is None:
        return None
    invocations = warm.invoked.get(function, 0)
    if not invocations:
        return None
    tally = _tally(inputs, f"warm/{function}/{tracing}")
    return tally.datagrams / invocations, len(tally.traces)


def xray_sent_ok(inputs: Inputs, tracing: str) -> bool | None:
    """Tracing on: every variant's cold start and both warm workers sent X-Ray documents (and nothing
    malformed); off: nothing was sent at all."""
    checks = []
    for base in ("ours_start", "ours_report", "floor", *(() if inputs.peer_skipped else ("peer",))):
        sent = cold_xray(inputs, base, tracing)
        if sent is not None:
            checks.append(sent[0] > 0 if tracing == "on" else sent[0] == 0)
    for function in ("StartVerificationFunction", "ReportVerificationFunction"):
        sent_warm = warm_xray(inputs, function, tracing)
        if sent_warm is not None:
            checks.append(sent_warm[0] > 0 if tracing == "on" else sent_warm[0] == 0)
    malformed = sum(t.malformed for t in _mode_tallies(inputs, tracing))
    if not checks:
        return None
    return all(checks) and malformed == 0


def _xray_rows(inputs: Inputs) -> list[Row]:
    rows = []
    target = "on: > 0 · off: 0"
    for tracing in inputs.modes:

        def cell(base: str, tracing: str = tracing) -> str:
            sent = cold_xray(inputs, base, tracing)
            if sent is None:
                return "skipped" if base == "peer" and inputs.peer_skipped else "—"
            return f"{sent[0]:.1f} / {sent[1] / 1024:.1f}"

        status = _status([xray_sent_ok(inputs, tracing)])
        rows.append(
            Row(
                xray_label(_XRAY_KINDS[0], tracing),
                cell("ours_start"),
                cell("floor"),
                cell("peer"),
                target=target,
                status=status,
            )
        )
    for tracing in inputs.modes:
        start = warm_xray(inputs, "StartVerificationFunction", tracing)
        report = warm_xray(inputs, "ReportVerificationFunction", tracing)
        text = "—"
        if start is not None and report is not None:
            text = f"{start[0]:.1f} / {report[0]:.1f} ({start[1] + report[1]} trace ids)"
        rows.append(
            Row(
                xray_label(_XRAY_KINDS[1], tracing),
                text,
                target=target,
                status=_status([xray_sent_ok(inputs, tracing)]),
            )
        )
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
    # As deployed (Tracing: Active): tracing on when it was measured.
    tracing = inputs.modes[-1]
    cost = cost_per_million(inputs.warm[tracing], inputs.memory_mb)
    if cost is None:
        return [Row(name) for name in _COST_ROWS]
    others = {t: cost_per_million(inputs.warm[t], inputs.memory_mb) for t in inputs.modes if t != tracing}
    other = "".join(
        f"; tracing {t}: {c.lambda_usd:.2f} ({c.billed_ms:.0f} billed ms)" for t, c in others.items() if c
    )
    return [
        Row(
            _COST_ROWS[0],
            f"{cost.lambda_usd:.2f} (tracing {tracing}: {cost.billed_ms:.0f} billed ms, "
            f"{inputs.memory_mb} MB arm64, 2 requests{other})",
        ),
        Row(_COST_ROWS[1], f"{cost.api_usd:.2f} (2 requests)"),
        Row(_COST_ROWS[2], f"{cost.dynamodb_usd:.2f} ({cost.wru:g} WRU + {cost.rru:g} RRU)"),
        Row(_COST_ROWS[3], f"{cost.total:.2f}"),
        Row(_COST_ROWS[4], f"{cost.logs_usd:.2f} ({cost.log_bytes:.0f} log bytes per verification)"),
    ]


def hot_key_check(hot: HotKeys | None) -> bool | None:
    busiest = hot.busiest if hot is not None else None
    if hot is None or busiest is None:
        return None
    return hot.sent == hot.starts and busiest.busiest_wcu_per_second <= PARTITION_WCU


def _hot_text(hot: HotKeys) -> str:
    kinds = " · ".join(
        f"{k.kind} {k.busiest_wcu_per_second:,.0f} ({k.busiest_wcu_per_second / PARTITION_WCU:.0%}; "
        f"mean {k.mean_per_start * HOT_KEY_RATE:,.0f}; {k.items:,} items)"
        for k in hot.kinds
    )
    return (
        f"{kinds} — measured: {hot.starts:,} starts, {hot.sent:,} sent, {hot.reported:,} right codes "
        f"(each item's write units per start, times {HOT_KEY_RATE:,})"
    )


def _hot_rows(inputs: Inputs) -> list[Row]:
    if inputs.hot is None:
        return [Row(name, "not run (--hot-keys 0)") for name in _HOT_ROWS]
    return [
        Row(
            _HOT_ROWS[0],
            _hot_text(inputs.hot),
            target=f"≤ {PARTITION_WCU:,} WCU/s per item",
            status=_status([hot_key_check(inputs.hot)]),
        )
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
        *_xray_rows(inputs),
        *_artefact_rows(inputs),
        *_cost_rows(inputs),
        *_hot_rows(inputs),
    ]


# --------------------------------------------------------------------------------- targets, cross-check


@dataclass(frozen=True)
class Verdict:
    target: str
    cells: dict[str, tuple[str, bool | None]]  # tracing mode -> (what was measured, met)


def verdicts(inputs: Inputs) -> list[Verdict]:
    """The issue's targets, every feature on, per tracing mode."""
    out = []

    def cold(key: str, limit: float) -> dict[str, tuple[str, bool | None]]:
        cells = {}
        for tracing in inputs.modes:
            values = {mode: cold_ratios(inputs, mode, tracing)[key] for mode in (CACHED, SHIPPED)}
            known = [v for v in values.values() if v is not None]
            text = " · ".join(f"{MODE_SHORT[mode]} {_x(v)}" for mode, v in values.items())
            cells[tracing] = (text, all(v <= limit for v in known) if known else None)
        return cells

    out.append(
        Verdict(
            f"Cold start wall ≤ {COLD_VS_FLOOR}x the floor's (start handler)",
            cold("wall_vs_floor", COLD_VS_FLOOR),
        )
    )
    out.append(
        Verdict(f"Cold start peak RSS ≤ {RSS_VS_FLOOR}x the floor's", cold("rss_vs_floor", RSS_VS_FLOOR))
    )
    out.append(Verdict(f"Cold start wall ≤ {COLD_VS_PEER}x the peer's", cold("wall_vs_peer", COLD_VS_PEER)))
    for label, name in (
        ("start", "warm start (new number)"),
        ("report_right", "warm report, right code"),
        ("report_wrong", "warm report, wrong code"),
    ):
        cells = {}
        for tracing in inputs.modes:
            p50, p99, n = own_time(inputs, label, tracing)
            met = p50 <= OWN_P50_MS and p99 <= OWN_P99_MS if n else None
            text = f"p50 {_fmt(p50, 2)} / p99 {_fmt(p99, 2)} ms"
            warm = inputs.warm.get(tracing)
            calm = [_ms(inv.own_ns) for inv in (warm.of(label) if warm else []) if not inv.preempted]
            if n and len(calm) < n:
                text += f" (not preempted, {len(calm)} of {n}: {_fmt(percentile(calm, 0.5), 2)} / "
                text += f"{_fmt(percentile(calm, 0.99), 2)})"
            cells[tracing] = (text, met)
        out.append(Verdict(f"Own time, {name}: p50 ≤ {OWN_P50_MS:g} ms, p99 ≤ {OWN_P99_MS:g} ms", cells))
    for label, base, target, name in (
        ("start", "ours_start", START_TARGET, "a start (new number)"),
        ("report_right", "ours_report", REPORT_RIGHT_TARGET, "a right-code report"),
    ):
        cells = {}
        for tracing in inputs.modes:
            counts = sequential_counts(inputs, label, tracing)
            cold_value = cold_sequential(inputs, base, tracing)
            checks = [target.check(value) for value in counts] + [target.check(cold_value)]
            longest = _longest_text(inputs, label, tracing)
            warm_text = _sequential_text(counts, longest).removeprefix("DynamoDB sequential ")
            text = f"warm {warm_text} · cold {cold_value if cold_value is not None else '—'}"
            known = [c for c in checks if c is not None]
            cells[tracing] = (text, all(known) if known else None)
        relation = "=" if target.exact else "≤"
        out.append(Verdict(f"DynamoDB sequential round trips, {name} {relation} {target.limit}", cells))
    out.append(
        Verdict(
            "Tracing sent X-Ray segments to the daemon address (on: every variant > 0; off: none)",
            {t: ("UDP sink: " + _sink_summary(inputs, t), xray_sent_ok(inputs, t)) for t in inputs.modes},
        )
    )
    if inputs.hot is not None and inputs.hot.busiest is not None:
        busiest = inputs.hot.busiest
        text = (
            f"busiest item {busiest.kind} {busiest.busiest_wcu_per_second:,.0f} WCU/s "
            f"({busiest.busiest_wcu_per_second / PARTITION_WCU:.0%} of {PARTITION_WCU:,}); "
            f"{inputs.hot.sent:,} of {inputs.hot.starts:,} starts sent (the writes do not depend on tracing)"
        )
        out.append(
            Verdict(
                f"No hot key at {HOT_KEY_RATE:,} starts/s from one principal into one range: every item "
                f"≤ {PARTITION_WCU:,} WCU/s",
                {inputs.modes[0]: (text, hot_key_check(inputs.hot))},
            )
        )
    return out


def _mode_tallies(inputs: Inputs, tracing: str) -> list[Tally]:
    """What the sink's sockets of one tracing mode received ("cold/floor.on", "warm/<function>/on")."""
    return [t for key, t in inputs.xray.items() if key.endswith((f".{tracing}", f"/{tracing}"))]


def _sink_summary(inputs: Inputs, tracing: str) -> str:
    tallies = _mode_tallies(inputs, tracing)
    datagrams = sum(t.datagrams for t in tallies)
    size = sum(t.size for t in tallies)
    traces = len(set().union(*(t.traces for t in tallies))) if tallies else 0
    return f"{datagrams:,} datagrams, {size / 1024:,.0f} KB, {traces:,} trace ids"


def targets_section(inputs: Inputs) -> list[str]:
    found = verdicts(inputs)
    lines = ["## Targets: every feature on, tracing " + " and ".join(inputs.modes), ""]
    lines.append("| Target | " + " | ".join(f"Tracing {t}" for t in inputs.modes) + " |")
    lines.append("|---|" + "---|" * len(inputs.modes))
    met = total = 0
    for verdict in found:
        cells = []
        for tracing in inputs.modes:
            text, ok = verdict.cells.get(tracing, ("—", None))
            word = {True: "**met**", False: "**MISSED**", None: "—"}[ok]
            cells.append(f"{text}: {word}")
            if ok is not None:
                total += 1
                met += bool(ok)
        lines.append(f"| {verdict.target} | " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    lines += ["", f"{met} of {total} met.", ""]
    return lines


def cross_section(cross: CrossCheck | None) -> list[str]:
    if cross is None:
        return []
    tool_text = (
        "`/usr/bin/time -v` (GNU time: Elapsed (wall clock), Maximum resident set size)"
        if cross.tool != "getrusage"
        else "NO /usr/bin/time here: a plain subprocess's wall time and resource.getrusage(RUSAGE_CHILDREN)"
        ".ru_maxrss, measured by a small Python process"
    )
    runs = max((len(c.wall_ms) for c in cross.checks), default=0)
    lines = [
        f"## Cross-check: the same cold starts as plain subprocesses under {tool_text}",
        "",
        f"Median of {runs} plain run(s) per row, {cross.pinning}, with the variant's environment (the Lambda "
        f"runtime's variables included); flagged when it differs from the bench's median by more than "
        f"{TOLERANCE:.0%}. Each plain run follows the benchmark's own run of the same cold start in the same "
        "round (the emulator in the same state). GNU time's wall runs from its fork to the child's exit, to "
        "10 ms; the child leaves with os._exit right after its answer line (in the benchmark's runs too: "
        "the interpreter's shutdown is no part of a Lambda cold start), so both end at the answer.",
        "",
        "| Variant | Bytecode | Bench wall ms | time wall ms | ratio | Bench peak RSS MB | time max RSS MB "
        "| ratio | Agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for check in cross.checks:
        agree = {True: "yes", False: "**NO**", None: "—"}[check.agrees]
        lines.append(
            f"| {check.variant} | {MODE_SHORT.get(check.mode, check.mode)} | {_fmt(check.bench_wall_ms)} | "
            f"{_fmt(check.wall)} | {_fmt(check.wall_ratio, 2)} | {_fmt(check.bench_rss_mb, 1)} | "
            f"{_fmt(check.rss, 1)} | {_fmt(check.rss_ratio, 2)} | {agree} |"
        )
    bad = cross.disagreements
    lines += ["", f"{len(bad)} of {len(cross.checks)} disagree." if bad else "All agree.", ""]
    return lines


def extra_sections(inputs: Inputs) -> list[str]:
    return [*targets_section(inputs), *cross_section(inputs.cross)]


def features(function_env: dict[str, str], event_buses: Sequence[str]) -> str:
    """What the functions ran with, as the table's notes state it."""
    env = function_env
    guard = env.get("FRAUD_GUARD", "?")
    return (
        f"fraud guard {guard} (FRAUD_GUARD_PREFIX_BUDGET={env.get('FRAUD_GUARD_PREFIX_BUDGET', '?')}); "
        "caller budgets at their defaults: "
        f"MAX_STARTS_PER_PRINCIPAL={env.get('MAX_STARTS_PER_PRINCIPAL', '?')} "
        f"and MAX_STARTS_PER_RATE_KEY={env.get('MAX_STARTS_PER_RATE_KEY', '?')} per "
        f"CALLER_WINDOW_SECONDS={env.get('CALLER_WINDOW_SECONDS', '?')} (every HTTP start names an IAM "
        "principal and a rateKey, a new principal every 200 starts and a new rateKey every 5, so neither "
        f"refuses the benchmark; MAX_STARTS_PER_USER={env.get('MAX_STARTS_PER_USER', '?')} counts JWT and "
        "open-API callers, not IAM principals); lifecycle events on "
        f"(EVENT_BUS_NAME={env.get('EVENT_BUS_NAME') or 'none'}, a bus on the emulator: "
        f"{', '.join(event_buses) or 'none'}); per-number limit "
        f"MAX_STARTS_PER_NUMBER={env.get('MAX_STARTS_PER_NUMBER', '?')} per "
        f"START_WINDOW_SECONDS={env.get('START_WINDOW_SECONDS', '?')} (default) with "
        f"MIN_SECONDS_BETWEEN_STARTS={env.get('MIN_SECONDS_BETWEEN_STARTS', '?')} (default 30: the only "
        "override, as a short run's repeat start follows its number's first by less); "
        f"SMS_CODE_SOURCE={env.get('SMS_CODE_SOURCE', '?')}, "
        f"SECRET_MAX_AGE_SECONDS={env.get('SECRET_MAX_AGE_SECONDS', '?')}, "
        "API auth IAM (the template's default)"
    )


def tracing_setting(modes: Sequence[str]) -> str:
    texts = {
        "off": "off (POWERTOOLS_TRACE_DISABLED=1; floor without the X-Ray SDK)",
        "on": "on (as Lambda with Tracing: Active: Powertools Tracer active, X-Ray SDK in Lambda mode, a "
        "sampled _X_AMZN_TRACE_ID per invocation, segments over UDP to the benchmark's sink; floor: X-Ray "
        "SDK patching botocore and requests)",
    }
    return "; ".join(texts[mode] for mode in modes)


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
    table_rows: Sequence[Row],
    info: dict[str, str],
    settings: dict[str, str],
    notes: Sequence[str],
    sections: Sequence[str] = (),
) -> str:
    lines = ["# Benchmark: phone verification handlers", ""]
    lines += [f"- **{key}**: {value}" for key, value in info.items()]
    lines += [f"- **{key}**: {value}" for key, value in settings.items()]
    lines += ["", markdown_table(table_rows), ""]
    lines += sections
    if notes:
        lines += ["Notes:", ""]
        lines += [f"- {note}" for note in notes]
        lines.append("")
    return "\n".join(lines)
