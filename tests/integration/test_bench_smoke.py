"""`make bench` runs: the benchmark's entry point with tiny counts produces the whole table.

No timing is asserted here (timings belong to the benchmark's report, not to a test). The peer runs only
if its venv (.venv-peer) is already built, so this stays offline and fast; its cells then say "skipped".
The benchmark runs in its own process: it starts its own local stack, and moto's in-process state must
not mix with this test session's stacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.report import COLUMNS, ROWS

ROOT = Path(__file__).resolve().parents[2]


def test_bench_with_tiny_counts_writes_every_row_and_target(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "phone_verification"), str(ROOT)]),
    }
    env.pop("BENCH_PYTHON", None)
    completed = subprocess.run(  # noqa: S603 - this interpreter, the repository's own module
        [
            sys.executable,
            "-m",
            "bench",
            "--cold-runs",
            "1",
            "--warm",
            "20",
            "--warmup",
            "2",
            "--repeats",
            "2",
            "--peer",
            "if-installed",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]

    latest = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert latest.strip() in completed.stdout  # the same table is printed
    assert len(list(tmp_path.glob("????-??-??-*.md"))) == 1  # and written under the date and host
    for key in ("date", "cpu", "python (ours, floor)", "python (peer)", "cpu placement"):
        assert f"- **{key}**: " in latest

    lines = [line for line in latest.splitlines() if line.startswith("| ")]
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    cells = {line.split(" | ")[0].removeprefix("| "): line.split(" | ") for line in lines[1:]}
    for row in ROWS:
        assert row in cells, f"missing row: {row}"
        assert len(cells[row]) == len(COLUMNS), f"row {row!r} has {len(cells[row])} cells"
    for row, parts in cells.items():
        target, status = parts[-2], parts[-1].removesuffix(" |")
        if target != "—" and parts[1] != "not built":  # no `make build` yet: no artefact to size
            assert status in ("met", "missed"), f"{row}: target {target!r} without a verdict ({status!r})"
