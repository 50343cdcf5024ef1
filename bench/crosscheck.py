"""A plain cross-check of the cold-start figures: the same child, once more, under ``/usr/bin/time -v``.

The benchmark's own cold wall and peak RSS come from ``spawner.py`` (spawn to answer line; ``wait4``).
Here each variant runs again as an ordinary subprocess of the benchmark, under GNU time (``-v``: "Elapsed
(wall clock) time" and "Maximum resident set size"), with the same interpreter, flags, bytecode cache and
environment (the Lambda runtime's variables included), pinned to the measured CPU with ``taskset`` when
the benchmark pins. Without ``/usr/bin/time``, a small Python process runs the child instead and reports
its wall time and ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, and the table says so.

GNU time's wall runs from its fork to the child's exit, printed to the hundredth of a second; the
benchmark's from the spawn to the answer line. A cold child leaves with ``os._exit`` right after its
answer (child.py), so both end there. Each plain run follows the benchmark's own run of the same cold
start in the same round (``Runner``, given to ``measure.measure_cold`` as ``after_run``), so both meet the
emulator in the same state. They should agree within ``TOLERANCE``; ``python -m bench --check`` exits
with status 2 when they do not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import CHILD, CHILD_TIMEOUT, MARKER_TEXT, BenchError, ColdResult, Variant, pycache_flags

GNU_TIME = Path("/usr/bin/time")
TOLERANCE = 0.10
_ELAPSED = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\):\s*(\S+)")
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
# Without GNU time: a fresh small interpreter runs the child and reports what the kernel says about it.
_RUSAGE_HELPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - started
print(json.dumps({"wall_s": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "exit": code}), file=sys.stderr)
"""


@dataclass
class Check:
    """One variant in one bytecode mode: the cross-check's runs next to the benchmark's median."""

    variant: str
    mode: str
    wall_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    bench_wall_ms: float | None = None
    bench_rss_mb: float | None = None

    @property
    def wall(self) -> float | None:
        return statistics.median(self.wall_ms) if self.wall_ms else None

    @property
    def rss(self) -> float | None:
        return statistics.median(self.rss_mb) if self.rss_mb else None

    @property
    def wall_ratio(self) -> float | None:
        return self.wall / self.bench_wall_ms if self.wall and self.bench_wall_ms else None

    @property
    def rss_ratio(self) -> float | None:
        return self.rss / self.bench_rss_mb if self.rss and self.bench_rss_mb else None

    @property
    def agrees(self) -> bool | None:
        ratios = [self.wall_ratio, self.rss_ratio]
        if any(ratio is None for ratio in ratios):
            return None
        return all(abs(ratio - 1) <= TOLERANCE + 1e-9 for ratio in ratios if ratio is not None)


@dataclass
class CrossCheck:
    tool: str  # what measured: "/usr/bin/time -v" or the getrusage fallback
    pinning: str
    checks: list[Check] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Check]:
        return [check for check in self.checks if check.agrees is False]


def tool() -> str:
    return "/usr/bin/time -v" if GNU_TIME.is_file() and os.access(GNU_TIME, os.X_OK) else "getrusage"


def parse_gnu_time(text: str) -> tuple[float, float]:
    """(wall ms, max RSS MB) from GNU time's ``-v`` report."""
    elapsed, maxrss = _ELAPSED.search(text), _MAXRSS.search(text)
    if elapsed is None or maxrss is None:
        raise ValueError("no 'Elapsed (wall clock)' or 'Maximum resident set size' in GNU time's report")
    seconds = 0.0
    for part in elapsed[1].split(":"):
        seconds = seconds * 60 + float(part)
    return seconds * 1000, int(maxrss[1]) / 1024


def _once(
    variant: Variant, mode: str, *, round_no: int, workdir: Path, cpu: int | None, measure_with: str
) -> tuple[float, float]:
    spec_path = workdir / f"cross-{variant.name}-{mode}-{round_no}.json"
    spec_path.write_text(json.dumps(variant.spec(round_no)))
    child = [str(variant.python), "-E", *pycache_flags(mode, workdir, variant), str(CHILD), str(spec_path)]
    taskset = shutil.which("taskset") if cpu is not None else None
    prefix = [taskset, "-c", str(cpu)] if taskset else []
    if measure_with == "getrusage":
        argv = [*prefix, sys.executable, "-S", "-E", "-c", _RUSAGE_HELPER, *child]
    else:
        argv = [*prefix, str(GNU_TIME), "-v", *child]
    try:
        completed = subprocess.run(  # noqa: S603 - our interpreters and scripts
            argv,
            env=variant.environment("cross"),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    finally:
        spec_path.unlink(missing_ok=True)
    answers = [line for line in completed.stdout.splitlines() if line.startswith(MARKER_TEXT)]
    if completed.returncode != 0 or not answers:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise BenchError(
            f"cross-check of {variant.name} ({mode}) failed (exit {completed.returncode}):\n{tail}"
        )
    variant.check(json.loads(answers[-1][len(MARKER_TEXT) :]))
    if measure_with == "getrusage":
        report = json.loads(completed.stderr.strip().splitlines()[-1])
        return float(report["wall_s"]) * 1000, int(report["maxrss_kb"]) / 1024
    return parse_gnu_time(completed.stderr)


class Runner:
    """Runs the cross-check beside the cold rounds: after the benchmark's own run of a variant in a
    bytecode mode in one of the first ``runs`` rounds, the same cold start once more as a plain process
    (``after_run`` of ``measure.measure_cold``); ``result`` compares them once the rounds are done."""

    def __init__(self, *, runs: int, workdir: Path, cpu: int | None, progress: Callable[[str], None]) -> None:
        self.runs = runs
        self.workdir = workdir
        self.cpu = cpu
        self.measure_with = tool()
        taskset = shutil.which("taskset")
        if cpu is None:
            self.pinning = "not pinned (nor are the benchmark's children)"
        elif taskset:
            self.pinning = f"pinned to CPU {cpu} with taskset, as the benchmark pins its children"
        else:
            self.pinning = f"not pinned (no taskset), while the benchmark's children run on CPU {cpu}"
        self.checks: dict[tuple[str, str], Check] = {}
        progress(
            f"cross-check: {runs} plain run(s) per variant and bytecode mode under {self.measure_with}, "
            "each right after the benchmark's own run of the same cold start"
        )

    def __call__(self, variant: Variant, mode: str, round_no: int) -> None:
        if variant.mode != "cold" or round_no >= self.runs:
            return
        wall, rss = _once(
            variant,
            mode,
            round_no=1000 + round_no,
            workdir=self.workdir,
            cpu=self.cpu,
            measure_with=self.measure_with,
        )
        check = self.checks.setdefault((variant.name, mode), Check(variant.name, mode))
        check.wall_ms.append(wall)
        check.rss_mb.append(rss)

    def result(self, cold: ColdResult) -> CrossCheck:
        found = CrossCheck(self.measure_with, self.pinning)
        for (name, mode), check in self.checks.items():
            check.bench_wall_ms = cold.median(name, mode, "wall_ms")
            check.bench_rss_mb = cold.median(name, mode, "rss_mb")
            found.checks.append(check)
        found.checks.sort(key=lambda check: (check.variant.rsplit(".", 1)[-1], check.variant, check.mode))
        return found
