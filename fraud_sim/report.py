"""The simulator's one table, its header and notes, and the done-when criteria it is judged by."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fraud_sim import traffic
from fraud_sim.engine import GUARD_REFUSAL, REPO_ROOT, Result

PRICES = Path(__file__).resolve().parent / "sms_prices.csv"
# The done-when (defaults).
FIRST_SENDS, MAX_FIRST_SHARE = 200, 0.25
AFTER_SENDS, MIN_BLOCKED_AFTER = 100, 0.95
MAX_LEGIT_REFUSED = 0.005


@dataclass(frozen=True, slots=True)
class Prices:
    usd: Mapping[str, float]
    as_of: str

    def of(self, country: str) -> float:
        return self.usd.get(country, 0.0)


def load_prices(path: Path = PRICES) -> Prices:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    return Prices(
        {row["country"]: float(row["usd_per_sms"]) for row in rows}, rows[0]["date"] if rows else "?"
    )


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


def _row(results: Sequence[Result], key: str, mode: str) -> Result | None:
    return next((r for r in results if r.scenario.key == key and r.scenario.mode == mode), None)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


def _share(part: int, whole: int, separator: str) -> str:
    return f"{part}{separator}{whole} ({_percent(part, whole)})"


def _one_prefix_checks(results: Sequence[Result]) -> list[Check]:
    row = _row(results, "1", "enforce")
    if row is None or len(row.pumping) < FIRST_SENDS:
        return []
    first = sum(row.pumping[:FIRST_SENDS])
    after = row.pumping[AFTER_SENDS:]
    blocked = after.count(False)
    return [
        Check(
            f"(1) at most {MAX_FIRST_SHARE:.0%} of the first {FIRST_SENDS} pumping sends reach Sinch",
            first <= MAX_FIRST_SHARE * FIRST_SENDS,
            f"{first} of {FIRST_SENDS} ({_percent(first, FIRST_SENDS)})",
        ),
        Check(
            f"(1) at least {MIN_BLOCKED_AFTER:.0%} of the pumping sends after the first {AFTER_SENDS} "
            "blocked",
            blocked >= MIN_BLOCKED_AFTER * len(after),
            f"{blocked} of {len(after)} ({_percent(blocked, len(after))})",
        ),
    ]


def _mode_checks(results: Sequence[Result]) -> list[Check]:
    checks: list[Check] = []
    for row in results:
        key, mode = row.scenario.key, row.scenario.mode
        if mode == "monitor":
            enforced = _row(results, key, "enforce")
            expected = None
            if enforced is not None:
                expected = enforced.outcomes[: len(row.scenario.sends)].count(GUARD_REFUSAL)
            logged = f"logged {row.would_refuse} would-refuse lines"
            same = expected is None or row.would_refuse == expected
            detail = f"refused {row.refused}; {logged}" + (
                f"; enforce refused {expected} of the same sends" if expected is not None else ""
            )
            checks.append(
                Check(
                    f"({key}) monitor refuses nothing and logs what enforce refuses",
                    row.refused == 0 and same,
                    detail,
                )
            )
        elif mode == "off":
            quiet = not row.guard_log
            checks.append(
                Check(
                    f"({key}) off refuses nothing and the guard logs nothing",
                    row.refused == 0 and quiet,
                    f"refused {row.refused}; guard log lines {sum(row.guard_log.values())}",
                )
            )
    return checks


def checks(results: Sequence[Result]) -> list[Check]:
    found = _one_prefix_checks(results)
    for key in ("4", "5"):
        row = _row(results, key, "enforce")
        if row is not None:
            found.append(
                Check(
                    f"({key}) at most {MAX_LEGIT_REFUSED:.1%} of legitimate sends refused",
                    row.legit_refused <= MAX_LEGIT_REFUSED * row.legit_attempted,
                    _share(row.legit_refused, row.legit_attempted, " of "),
                )
            )
    found += _mode_checks(results)
    mismatched = [f"{r.scenario.key}/{r.scenario.mode}" for r in results if r.sent != r.sinch_starts]
    found.append(
        Check(
            "every 201 is a send Sinch saw, and nothing else reached it",
            not mismatched,
            "rows " + ", ".join(mismatched) if mismatched else "all rows",
        )
    )
    return found


# ------------------------------------------------------------------------------------------ the table

COLUMNS = (
    "#",
    "Scenario",
    "Guard",
    "Sends attempted",
    "Sent",
    "Refused",
    "Pumping blocked",
    "Legit refused",
    "Time to first block",
    "Pumping paid",
    "Money saved",
)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _refused_cell(row: Result) -> str:
    parts = [
        ("guard" if refusal == GUARD_REFUSAL else refusal) + f" {count}"
        for refusal, count in sorted(row.refusals.items())
    ]
    if row.would_refuse:
        parts.append(f"would refuse {row.would_refuse}")
    return f"{row.refused}" + (f" ({', '.join(parts)})" if parts else "")


def _money(row: Result, prices: Prices, sent: bool) -> str:
    if not row.pumping:
        return "—"
    total = sum(prices.of(country) * n for (country, ok), n in row.pumping_by_country.items() if ok is sent)
    return f"${total:,.2f}"


def table_row(row: Result, prices: Prices) -> list[str]:
    pumping, blocked = len(row.pumping), row.pumping.count(False)
    return [
        row.scenario.key,
        row.scenario.title,
        row.scenario.mode,
        str(row.attempted),
        f"{row.sent} ({row.conversions} verified)" if row.legit_attempted else str(row.sent),
        _refused_cell(row),
        _share(blocked, pumping, " / ") if pumping else "—",
        _share(row.legit_refused, row.legit_attempted, " / ") if row.legit_attempted else "—",
        duration(row.first_refusal),
        _money(row, prices, sent=True),
        _money(row, prices, sent=False),
    ]


def table(results: Sequence[Result], prices: Prices) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(table_row(row, prices)) + " |" for row in results]
    return "\n".join(lines)


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603 - git, with fixed arguments
            ["git", *args],  # noqa: S607 - whichever git is on PATH
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        # Untracked files count where they change what runs (a new module), not the results written.
        dirty = git("status", "--porcelain", "--", ".", ":(exclude)fraud_sim/results")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


# ------------------------------------------------------------------------------------------ the document


def _doc(key: str) -> str:
    """A scenario's description: its builder's docstring, on one line."""
    text = " ".join((traffic.SCENARIOS[key].__doc__ or "").split())
    return text.removeprefix(f"({key}) ")


def header(run: Mapping[str, str]) -> list[str]:
    return ["# Fraud guard simulation", "", *[f"- **{name}**: {value}" for name, value in run.items()], ""]


def criteria_lines(found: Sequence[Check]) -> list[str]:
    lines = ["## Done when", ""]
    lines += [f"- {'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in found]
    return [*lines, ""]


def notes(results: Sequence[Result]) -> list[str]:
    keys = list(dict.fromkeys(row.scenario.key for row in results))
    lines = [
        "## Notes",
        "",
        "- **Sends attempted**: `POST /verifications` calls, one per send of the scenario's traffic (decided "
        "from the seed before the run, so every guard mode sees the same sends).",
        "- **Sent**: answered `201`: the product asked Sinch to send. Checked against the Sinch sandbox's "
        "request log (the last criterion). *verified*: legitimate users who then typed the right code "
        "(the product answered `SUCCESSFUL`).",
        "- **Refused**: every other answer, by problem code: *guard* is `403 destination_denied` with "
        '`"reason": "suspected_fraud"`; `rate_limited` is a `429` from the per-number limit or a caller '
        "budget. *would refuse* (monitor rows) counts the guard's `the fraud guard would refuse a send` log "
        "lines: those sends went out.",
        "- **Pumping blocked**: pumping sends that did not reach Sinch, of all pumping sends. **Legit "
        "refused**: legitimate sends refused for any reason, of all legitimate sends.",
        "- **Time to first block**: simulated time from the scenario's start to its first refused send.",
        "- **Pumping paid** / **Money saved**: pumping sends that reached Sinch / were refused, times the "
        "destination's price per SMS (`fraud_sim/sms_prices.csv`: approximate list prices, see its header).",
        "- **Callers**: pumping comes from a pool of IAM principals (one per "
        f"{traffic.PUMP_SENDS_PER_PRINCIPAL} sends) with a fresh rateKey per send, so that the per-principal "
        "budget (1,000 an hour) and the per-rateKey budget (10 an hour) do not stop it before the guard: "
        "the table measures the guard. An attack through one backend's sign-up form (one principal) is "
        "also capped at 1,000 sends an hour by that principal's budget. Legitimate sends come from three "
        "backend principals with one rateKey per end user.",
        "- **Clock**: the product's clock is simulated and moves from event to event (the Sinch sandbox's "
        "with it); codes are typed 10 s - 5 min after their SMS, so hours and days run in seconds.",
    ]
    lines += [f"- **({key})** {_doc(key)}" for key in keys]
    modes = sorted(
        {
            (r.scenario.key, r.scenario.mode, len(r.scenario.sends))
            for r in results
            if r.scenario.mode != "enforce"
        }
    )
    lines += [
        f"- **({key}) {mode}**: `FRAUD_GUARD={mode}` on the first {count} sends of the same traffic."
        for key, mode, count in modes
    ]
    return lines


def document(results: Sequence[Result], run: Mapping[str, str], prices: Prices) -> tuple[str, bool]:
    """The Markdown document, and whether every criterion passed."""
    found = checks(results)
    text = "\n".join([*header(run), table(results, prices), "", *criteria_lines(found), *notes(results)])
    return text + "\n", all(check.passed for check in found)
