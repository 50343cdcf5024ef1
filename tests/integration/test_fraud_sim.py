"""The fraud-guard simulator's smoke run (``python -m fraud_sim --quick``), in this process: its table has a
row per scenario and guard mode, the issue's done-when criteria hold on the numbers it prints, and its
exit code says when a criterion fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fraud_sim.__main__ import main
from phone_verification import runtime

EXPECTED_ROWS = {
    ("1", "enforce"),
    ("1", "monitor"),
    ("1", "off"),
    ("2", "enforce"),
    ("3", "enforce"),
    ("4", "enforce"),
    ("4", "monitor"),
    ("4", "off"),
    ("4b", "enforce"),
    ("5", "enforce"),
}


@dataclass
class Run:
    code: int
    text: str
    rows: dict[tuple[str, str], dict[str, str]]


def table_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[1:]
    ]
    return {(row["#"], row["Guard"]): row for row in rows}


def simulated(tmp: Path, *args: str) -> Run:
    code = main([*args, "--results-dir", str(tmp)])
    text = (tmp / "latest.md").read_text(encoding="utf-8")
    return Run(code, text, table_rows(text))


def leading(cell: str) -> int:
    match = re.match(r"\d+", cell)
    assert match, cell
    return int(match.group())


def share(cell: str) -> tuple[int, int]:
    """``12 / 240 (5.0 %)`` -> (12, 240)."""
    match = re.match(r"(\d+) / (\d+)", cell)
    assert match, cell
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield simulated(tmp_path_factory.mktemp("fraud-sim"), "--quick")
    runtime.configure(None)  # the next test's stack builds the product's clients anew


def test_the_quick_run_passes_and_prints_a_row_per_scenario_and_mode(quick: Run) -> None:
    assert quick.code == 0, quick.text
    assert set(quick.rows) == EXPECTED_ROWS
    assert "FAIL" not in quick.text
    assert quick.text.count("\n- PASS ") == 9
    for row in quick.rows.values():
        refused = leading(row["Refused"])
        assert leading(row["Sent"]) + refused == int(row["Sends attempted"]), row


def test_pumping_into_one_prefix_is_cut_off(quick: Run) -> None:
    row = quick.rows[("1", "enforce")]
    assert int(row["Sends attempted"]) == 240
    first = re.search(r"PASS \(1\) at most 25% of the first 200 .*: (\d+) of 200", quick.text)
    after = re.search(
        r"PASS \(1\) at least 95% of .* after the first 100 blocked: (\d+) of (\d+)", quick.text
    )
    assert first, quick.text
    assert after, quick.text
    assert int(first.group(1)) <= 50
    assert int(after.group(1)) >= 0.95 * int(after.group(2)) > 0
    blocked, pumping = share(row["Pumping blocked"])
    assert (blocked, pumping) == (240 - leading(row["Sent"]), 240)
    assert row["Refused"] == f"{blocked} (guard {blocked})"  # every refusal is the guard's
    assert re.fullmatch(r"\$\d+\.\d\d", row["Money saved"]), row
    assert row["Money saved"] != "$0.00"


def test_legitimate_traffic_that_converts_is_not_refused(quick: Run) -> None:
    for key in ("4", "5"):
        row = quick.rows[(key, "enforce")]
        refused, attempted = share(row["Legit refused"])
        assert attempted > 0
        assert refused <= 0.005 * attempted, row
        assert re.search(r"\((\d+) verified\)", row["Sent"]), row
        assert row["Pumping blocked"] == "—"


def test_monitor_refuses_nothing_and_logs_what_enforce_refuses(quick: Run) -> None:
    monitor = quick.rows[("1", "monitor")]
    attempted = int(monitor["Sends attempted"])
    would = re.fullmatch(r"0 \(would refuse (\d+)\)", monitor["Refused"])
    assert would, monitor
    # Scenario 1's first sends: the prefix's 20 tokens, then what enforce refused among them.
    assert int(would.group(1)) == attempted - 20 > 0
    assert leading(monitor["Sent"]) == attempted
    assert quick.rows[("4", "monitor")]["Refused"] == "0"


def test_off_refuses_nothing(quick: Run) -> None:
    for key in ("1", "4"):
        row = quick.rows[(key, "off")]
        assert row["Refused"] == "0"
        assert leading(row["Sent"]) == int(row["Sends attempted"]) > 0


def test_a_failed_criterion_makes_the_exit_code_non_zero(tmp_path: Path) -> None:
    """A prefix budget of 60 lets 60 of the first 200 pumping sends through: more than 25 %."""
    try:
        run = simulated(
            tmp_path, "--scenarios", "1", "--modes", "enforce", "--env", "FRAUD_GUARD_PREFIX_BUDGET=60"
        )
    finally:
        runtime.configure(None)
    assert run.code == 1
    failed = re.search(r"FAIL \(1\) at most 25% of the first 200 .*: (\d+) of 200", run.text)
    assert failed, run.text
    assert int(failed.group(1)) > 50
    assert set(run.rows) == {("1", "enforce")}
