"""``python -m bench --analyse``: where the cold start and the warm own time go.

- ``-X importtime`` of one cold start of ours and of the floor (bytecode cached): self time summed per
  top-level package, and the slowest single modules;
- cProfile of the first request of a cold start (after the import): what building the clients costs;
- cProfile of the warm runs (start and report workers), by package and by function, without the time
  blocked on sockets;
- before those, per tracing mode, a warm run with the product's steps timed (``probes.STEPS``): the median
  own time of each step per invocation, counted as the table counts own time, so that the steps add up
  to the table's figure (each wrapped call adds ~1 µs).
"""

from __future__ import annotations

import pstats
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from bench.measure import (
    CACHED,
    SHIPPED,
    Variant,
    WarmResult,
    import_profile,
    percentile,
    profile_first_request,
)
from bench.probes import STEPS

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
_BLOCKING = ("recv_into", "'poll'", "'select'", "sendall", "'connect'", "sleep", "acquire", "readinto")


def parse_importtime(text: str) -> list[tuple[str, int, int, int]]:
    """(module, self µs, cumulative µs, depth) per imported module."""
    rows = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            rows.append((match[4], int(match[1]), int(match[2]), len(match[3]) // 2))
    return rows


def _package_totals(rows: list[tuple[str, int, int, int]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for module, self_us, _, _ in rows:
        totals[module.split(".")[0]] += self_us
    return totals


def importtime_section(name: str, text: str, top: int = 10) -> list[str]:
    rows = parse_importtime(text)
    total_ms = sum(r[1] for r in rows) / 1000
    lines = [f"### {name}: {len(rows)} modules, {total_ms:.0f} ms of import (sum of self times)", ""]
    lines += ["| Top-level package | self ms | share |", "|---|---|---|"]
    for package, micros in _package_totals(rows).most_common(top):
        lines.append(f"| {package} | {micros / 1000:.1f} | {micros / 1000 / total_ms:.0%} |")
    lines += ["", "| Slowest modules (self) | self ms | cumulative ms |", "|---|---|---|"]
    for module, self_us, cumulative, _ in sorted(rows, key=lambda r: -r[1])[:top]:
        lines.append(f"| {module} | {self_us / 1000:.1f} | {cumulative / 1000:.1f} |")
    return [*lines, ""]


def _group(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/phone_verification/" in filename:
        return "phone_verification"
    if "/functions/" in filename:
        return "functions (app.py)"
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "stdlib:" + Path(filename).stem


def profile_section(name: str, path: Path, top: int = 20) -> list[str]:
    stats = pstats.Stats(str(path))
    raw: Mapping[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    by_group: dict[str, float] = {}
    functions: list[tuple[float, float, int, str]] = []
    blocked = 0.0
    for (filename, line, function), (_, calls, tottime, cumtime, _) in raw.items():
        label = f"{_group(filename)}:{Path(filename).name}:{line}({function})"
        if any(marker in function for marker in _BLOCKING):
            blocked += tottime
            continue
        by_group[_group(filename)] = by_group.get(_group(filename), 0.0) + tottime
        functions.append((tottime, cumtime, calls, label))
    total = sum(by_group.values())
    # The handler's entry: the product's own (api.py's ``handle``; ``lambda_handler`` in older versions).
    invocations = max(
        (
            calls
            for (filename, _, function), (_, calls, *_rest) in raw.items()
            if function == "lambda_handler" or (function == "handle" and filename.endswith("api.py"))
        ),
        default=1,
    )
    per = 1000 / invocations  # seconds in the profile -> ms per invocation
    lines = [
        f"### {name}: {invocations} invocations, {total * per:.2f} ms of own time each in the profile "
        f"(cProfile overhead included; {blocked * per:.2f} ms blocked on sockets/locks left out)",
        "",
        "| Package | ms per invocation | share |",
        "|---|---|---|",
    ]
    for group, seconds in sorted(by_group.items(), key=lambda item: -item[1])[: top // 2]:
        lines.append(f"| {group} | {seconds * per:.3f} | {seconds / total:.0%} |")
    lines += ["", "| Function | tottime ms/inv | cumtime ms/inv | calls/inv |", "|---|---|---|---|"]
    for tottime, cumtime, calls, label in sorted(functions, reverse=True)[:top]:
        lines.append(f"| {label} | {tottime * per:.3f} | {cumtime * per:.3f} | {calls / invocations:g} |")
    return [*lines, ""]


def cumulative_section(name: str, path: Path, top: int = 25) -> list[str]:
    """Functions by cumulative time (what a one-off call such as the first request is made of)."""
    stats = pstats.Stats(str(path))
    raw: Mapping[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(
        (
            (cumtime, tottime, calls, f"{_group(f)}:{Path(f).name}:{line}({fn})")
            for (f, line, fn), (_, calls, tottime, cumtime, _) in raw.items()
        ),
        reverse=True,
    )
    lines = [f"### {name}", "", "| Function | cumtime ms | tottime ms | calls |", "|---|---|---|---|"]
    for cumtime, tottime, calls, label in rows[:top]:
        lines.append(f"| {label} | {cumtime * 1000:.0f} | {tottime * 1000:.0f} | {calls} |")
    return [*lines, ""]


_STEP_KINDS = (
    ("start", "start (new number)"),
    ("report_right", "right code"),
    ("report_wrong", "wrong code"),
)


def steps_section(runs: Mapping[str, WarmResult]) -> list[str]:
    """Per tracing mode and kind of invocation, each step's median own time per invocation (ms)."""
    columns = [(mode, label, name) for mode in runs for label, name in _STEP_KINDS if runs[mode].of(label)]
    if not columns:
        return []
    head = " | ".join(f"{name}, tracing {mode}" for mode, _, name in columns)
    lines = [
        "## Warm: where the own time goes (steps timed, median ms per invocation)",
        "",
        "Each step's wall time less the invoking thread's waits on the services inside it (as the table's "
        "own time; the X-Ray SDK's work inside a client call is the step's). Steps nest: a start's use case "
        "holds its limits, its Sinch start and its write, and every row holds the log lines and X-Ray work "
        "made inside it. Runs of their own with every step wrapped (~1 µs per call), so the totals run a "
        "little above the table's.",
        "",
        f"| Step | {head} |",
        "|---|" + "---|" * len(columns),
    ]
    totals = [percentile([inv.own_ns / 1e6 for inv in runs[m].of(lbl)], 0.5) for m, lbl, _ in columns]
    lines.append("| **own time (whole invocation)** | " + " | ".join(f"**{t:.3f}**" for t in totals) + " |")
    for _module, _owner, _attribute, step in STEPS:
        cells = []
        for mode, label, _ in columns:
            invocations = runs[mode].of(label)
            values = [inv.step_own_ns().get(step, 0) / 1e6 for inv in invocations]
            cells.append(f"{percentile(values, 0.5):.3f}" if any(values) else "—")
        if any(cell != "—" for cell in cells):
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def write(
    variants: Mapping[str, Variant],
    workdir: Path,
    profile_dir: Path | None,
    steps: Mapping[str, WarmResult] | None = None,
) -> str:
    lines = ["# Benchmark analysis: import time and profiles", ""]
    lines += steps_section(steps or {})
    lines += ["## Cold start: `-X importtime` (one run each)", ""]
    for mode in (CACHED, SHIPPED):
        for name in ("ours_start", "floor", "peer"):
            if name in variants:
                text = import_profile(variants[name], workdir, mode)
                lines += importtime_section(f"{name} ({mode})", text)
    lines += ["## Cold start: the first request, after the import (cProfile, cached bytecode)", ""]
    for name in ("ours_start", "floor"):
        path = profile_first_request(variants[name], workdir)
        lines += cumulative_section(f"{name}: first request", path)
    if profile_dir is not None:
        lines += ["## Warm: the measured invocations (cProfile)", ""]
        for name in ("start", "report"):
            path = profile_dir / f"{name}.prof"
            if path.is_file():
                lines += profile_section(f"warm {name} (client calls paused: own time only)", path)
                lines += cumulative_section(f"warm {name} by cumulative time (own time only)", path)
    return "\n".join(lines)
