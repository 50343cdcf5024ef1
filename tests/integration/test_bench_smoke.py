"""`make bench` runs: the benchmark's entry point with tiny counts produces the whole table.

No timing is asserted here (timings belong to the benchmark's report, not to a test). The peer runs only
if its venv (.venv-peer) is already built, so this stays offline and fast; its cells then say "skipped".
The benchmark runs in its own process: it starts its own local stack, and moto's in-process state must
not mix with this test session's stacks.

The quick run measures both tracing modes and the plain cross-check (one run each): with tracing on, the
X-Ray SDK must have sent segments to the benchmark's UDP sink, and with tracing off nothing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench import crosscheck, measure, xray
from bench.report import COLUMNS, ROWS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    results = tmp_path_factory.mktemp("bench-results")
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
            "--hot-keys",
            "6",
            "--cross-runs",
            "1",
            "--peer",
            "if-installed",
            "--results-dir",
            str(results),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert len(list(results.glob("????-??-??-*.md"))) == 1  # written under the date and host
    return completed, (results / "latest.md").read_text(encoding="utf-8")


def _cells(latest: str) -> dict[str, list[str]]:
    table = latest.split("\n\n## ", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    return {line.split(" | ")[0].removeprefix("| "): line.split(" | ") for line in lines[1:]}


def test_bench_with_tiny_counts_writes_every_row_and_target(
    quick_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    completed, latest = quick_run
    assert latest.strip() in completed.stdout  # the same table is printed
    for key in (
        "date",
        "cpu",
        "python (ours, floor)",
        "python (peer)",
        "cpu placement",
        "features",
        "tracing",
    ):
        assert f"- **{key}**: " in latest

    cells = _cells(latest)
    for row in ROWS:
        assert row in cells, f"missing row: {row}"
        assert len(cells[row]) == len(COLUMNS), f"row {row!r} has {len(cells[row])} cells"
    for row, parts in cells.items():
        target, status = parts[-2], parts[-1].removesuffix(" |")
        if target != "—" and parts[1] != "not built":  # no `make build` yet: no artefact to size
            assert status in ("met", "missed"), f"{row}: target {target!r} without a verdict ({status!r})"


def test_every_feature_is_on_lifecycle_events_included(
    quick_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    _, latest = quick_run
    features = next(line for line in latest.splitlines() if line.startswith("- **features**: "))
    assert "fraud guard enforce" in features
    assert "MAX_STARTS_PER_PRINCIPAL=1000 " in features  # the template's default, not an override
    cells = _cells(latest)
    assert "EventBridge 1 (1 PutEvents)" in cells["Round trips, warm start (new number)"][1]
    assert "DynamoDB sequential " in cells["Round trips, warm report (right code)"][1]


def test_the_hot_key_run_counts_each_kind_of_item_s_writes(
    quick_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    _, latest = quick_run
    (row,) = (cells for name, cells in _cells(latest).items() if name.startswith("Hot keys at 1,000"))
    # 6 starts from one principal into one range, all sent and verified: the range's guard shards, the
    # principal's budget shards and the rateKeys, and each start's number and verification were written.
    assert "measured: 6 starts, 6 sent, 6 right codes" in row[1]
    for kind in ("guard", "caller", "number", "verification"):
        assert re.search(rf"{kind} [\d,]+ \(\d+%; mean [\d,]+; [\d,]+ items\)", row[1]), kind
    assert re.search(r"number [\d,]+ \(\d+%; mean [\d,]+; 6 items\)", row[1])  # a number per start


def test_tracing_on_sent_segments_to_the_udp_sink_and_off_sent_none(
    quick_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    _, latest = quick_run
    cells = _cells(latest)
    on = cells["X-Ray sent per cold start (start handler): datagrams / KB (tracing on)"]
    off = cells["X-Ray sent per cold start (start handler): datagrams / KB (tracing off)"]
    assert float(on[1].split(" / ")[0]) > 0  # ours
    assert float(on[2].split(" / ")[0]) > 0  # the floor, with the X-Ray SDK patching botocore and requests
    assert float(off[1].split(" / ")[0]) == 0
    assert float(off[2].split(" / ")[0]) == 0
    warm_on = cells["X-Ray sent per warm invocation (ours): datagrams, start / report (tracing on)"][1]
    start, report = (float(value) for value in warm_on.split(" (")[0].split(" / "))
    assert start > 0
    assert report > 0

    targets = latest.split("## Targets", 1)[1].split("\n## ", 1)[0]
    tracing_line = next(line for line in targets.splitlines() if line.startswith("| Tracing sent X-Ray"))
    counts = [int(n.replace(",", "")) for n in re.findall(r"UDP sink: ([\d,]+) datagrams", tracing_line)]
    assert counts[0] == 0  # tracing off
    assert counts[1] > 0  # tracing on
    assert tracing_line.count("**met**") == 2


def test_the_cross_check_ran_every_variant_under_a_plain_measurement(
    quick_run: tuple[subprocess.CompletedProcess[str], str],
) -> None:
    _, latest = quick_run
    section = latest.split("## Cross-check", 1)[1].split("\n## ", 1)[0].split("\nNotes:", 1)[0]
    assert ("/usr/bin/time -v" in section) == Path("/usr/bin/time").exists()
    rows = [
        line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "---" not in line
    ][1:]
    variants = {row[0].removeprefix("| ") for row in rows}
    for base in ("floor", "ours_start", "ours_report"):
        assert {f"{base}.off", f"{base}.on"} <= variants
    for row in rows:
        assert float(row[3].replace(",", "")) > 0  # the plain measurement's wall ms
        assert float(row[6]) > 0  # and its max RSS MB
        assert row[8].removesuffix(" |") in ("yes", "**NO**")


def test_gnu_time_report_and_agreement_are_read_as_documented() -> None:
    report = (
        '\tCommand being timed: "python child.py"\n'
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:01.25\n"
        "\tMaximum resident set size (kbytes): 53248\n"
    )
    assert crosscheck.parse_gnu_time(report) == (1250.0, 52.0)
    check = crosscheck.Check(
        "ours_start.on", "cached", [1100.0], [52.0], bench_wall_ms=1000.0, bench_rss_mb=52.0
    )
    assert check.agrees is True
    check.wall_ms = [1150.0]
    assert check.agrees is False


def test_sequential_round_trips_count_parallel_calls_once() -> None:
    assert measure.sequential([[0, 10], [10, 20], [20, 30]]) == 3
    assert measure.sequential([[0, 10], [2, 12], [12, 20]]) == 2  # the first two ran in parallel
    # A right code: the verification's update, then the guard's credit while Sinch is told (hidden), as
    # test_round_trips counts it; a DynamoDB call mostly outside the Sinch call still counts.
    update, credit = (
        ["dynamodb", "UpdateItem", 0, 0, 0, 1, 0, 10],
        ["dynamodb", "UpdateItem", 0, 0, 0, 1, 12, 18],
    )
    assert measure.dynamodb_waits([update, credit], [["report", 0, 11, 30]]) == 1
    assert measure.dynamodb_waits([update, credit], [["report", 0, 17, 30]]) == 2
    # ... or while the success is put on the bus (EventBridge, before Sinch is told): hidden too.
    put = ["events", "PutEvents", 0, 0, 0, 1, 11, 25]
    assert measure.dynamodb_waits([update, credit, put], [["report", 0, 26, 30]]) == 1
    assert measure.dynamodb_waits([update, credit, put], []) == 1
    late_put = ["events", "PutEvents", 0, 0, 0, 1, 16, 25]
    assert measure.dynamodb_waits([update, credit, late_put], []) == 2
    assert measure.covered([[0, 10], [5, 15], [20, 25]]) == 20
    assert measure.overlap([[0, 4], [8, 12]], [[2, 10]]) == 4


def test_the_udp_sink_counts_xray_documents_per_key() -> None:
    with xray.UdpSink() as sink:
        host, port = sink.address("k").split(":")
        document = {
            "type": "subsegment",
            "name": "dynamodb",
            "trace_id": "1-00000000-000000000000000000000001",
        }
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(3):
                sender.sendto(xray.HEADER + b"\n" + json.dumps(document).encode(), (host, int(port)))
            sender.sendto(b"not x-ray", (host, int(port)))
        tally = sink.tally("k")
    assert (tally.datagrams, tally.subsegments, tally.malformed) == (4, 3, 1)
    assert tally.traces == {"1-00000000-000000000000000000000001"}
    assert tally.names == {"dynamodb": 3}


def test_a_step_s_own_time_leaves_out_the_waits_inside_it_but_not_the_xray_sdk_s_work() -> None:
    # The use case runs 0-30; DynamoDB is called 10-20 (the X-Ray SDK's own work 10-12 inside it); the
    # write step (12-18) is all wait; the log line (22-25) all work.
    invocation = measure.Invocation(
        label="start",
        total_ns=30,
        aws=[["dynamodb", "PutItem", 10, 1, 0, 1, 10, 20, "verification", True]],
        sinch=[],
        http_sends=1,
        status=201,
        body={},
        xray=[[10, 12]],
        spans=[["use case", 0, 30], ["write", 12, 18], ["log", 22, 25], ["log", 26, 28]],
    )
    assert invocation.step_own_ns() == {"use case": 22, "write": 0, "log": 5}
    assert invocation.own_ns == 22


def test_the_analysis_tables_each_step_s_median_own_time_per_kind_of_invocation() -> None:
    from bench import analysis
    from bench.probes import STEPS

    step = STEPS[0][3]

    def run(own_ms: float) -> measure.Invocation:
        ns = int(own_ms * 1e6)
        return measure.Invocation("start", ns, [], [], 0, 201, {}, spans=[[step, 0, ns]])

    result = measure.WarmResult(invocations={"start": [run(1.0), run(2.0), run(3.0)]})
    text = "\n".join(analysis.steps_section({"off": result}))
    assert "| Step | start (new number), tracing off |" in text
    assert "| **own time (whole invocation)** | **2.000** |" in text
    assert f"| {step} | 2.000 |" in text
    assert STEPS[1][3] not in text  # a step no invocation went through has no row


def test_the_benchmark_s_help_prints() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "--check" in completed.stdout


def test_a_batch_read_of_the_guard_s_shards_is_named_and_priced_per_key() -> None:
    from bench.probes import Probe

    keys = [{"pk": {"S": f"guard#ab{'' if k == 0 else f'#{k}'}"}, "sk": {"S": "guard"}} for k in range(8)]
    probe = Probe()
    probe.record(
        "dynamodb", "BatchGetItem", {"RequestItems": {"t": {"Keys": keys, "ConsistentRead": True}}}, 0, 1
    )
    (call,) = probe.calls
    assert (call.items_of, call.items, call.rru, call.wru) == ("8 guard", 8, 8.0, 0.0)


def test_the_benchmark_s_venv_is_not_rebuilt_from_its_own_interpreter(tmp_path: Path) -> None:
    from bench import envs

    venv = tmp_path / ".venv-bench-3.13"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    with pytest.raises(envs.SetupError, match=r"own \.venv-bench-3\.13"):
        envs._ensure_venv(venv / "bin" / "python", venv, ["boto3"], "another build", [])
    assert (venv / "bin" / "python").exists()
