"""``python -m fraud_sim`` (``make fraud-sim``): the fraud guard against simulated traffic, through the real
handlers on the local stack; prints one table and writes it to ``fraud_sim/results/latest.md``.

Exits 1 when a done-when criterion fails (or 2 on bad options), so a smoke test can assert it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fraud_sim import report
from fraud_sim.engine import SimulationError
from fraud_sim.report import duration
from fraud_sim.simulate import ALL_SCENARIOS, MODES, Options, Simulation, simulate

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_SCALE = 0.1


def _pairs(values: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        name, separator, value = item.partition("=")
        if not separator or not name:
            raise argparse.ArgumentTypeError(f"--env expects NAME=VALUE, got {item!r}")
        pairs[name] = value
    return pairs


def _choices(text: str, allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{option} takes a comma-separated list of {', '.join(allowed)}")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fraud_sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026, help="seed of every scenario's traffic (2026)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="traffic volume, 1 = the issue's scenarios (about 2 min)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a smoke run: --scale {QUICK_SCALE} (scenario 1 stays whole)"
    )
    parser.add_argument(
        "--scenarios", default=",".join(ALL_SCENARIOS), help=f"which of {','.join(ALL_SCENARIOS)} (all)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="guard modes to run (enforce,monitor,off)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="function environment override"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where latest.md is written")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be in (0, 10]")
    try:
        args.scenario_keys = _choices(args.scenarios, ALL_SCENARIOS, "--scenarios")
        args.mode_names = _choices(args.modes, MODES, "--modes")
        args.env_pairs = _pairs(args.env)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    return args


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """File descriptor 1 to /dev/null: the handlers' JSON log lines and EMF metrics, thousands of them,
    are not the simulator's output (the guard's lines are counted through logging instead)."""
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
    print(f"fraud-sim: {message}", file=sys.stderr, flush=True)


def run_header(args: argparse.Namespace, simulation: Simulation, scale: float) -> dict[str, str]:
    simulated = sum(row.scenario.span for row in simulation.results)
    overrides = ", ".join(f"{k}={v}" for k, v in sorted(args.env_pairs.items()))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": report.commit(),
        "seed": str(args.seed),
        "scale": f"{scale:g}" + (" (--quick)" if args.quick else ""),
        **simulation.settings,
        "environment": (overrides or "the template's defaults") + "; FRAUD_GUARD per row",
        "prices": f"`fraud_sim/sms_prices.csv`, approximate list prices as of {report.load_prices().as_of}",
        "run": (
            f"{len(simulation.results)} scenario runs in {simulation.wall_seconds:.0f} s of wall time, "
            f"{duration(simulated)} of simulated time"
        ),
        **({"notes": " ".join(simulation.notes)} if simulation.notes else {}),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = QUICK_SCALE if args.quick else args.scale
    options = Options(
        seed=args.seed, scale=scale, scenarios=args.scenario_keys, modes=args.mode_names, env=args.env_pairs
    )
    try:
        with quiet_stdout():
            simulation = simulate(options, progress)
    except SimulationError as error:
        print(f"fraud-sim: failed: {error}", file=sys.stderr)
        return 2
    text, passed = report.document(
        simulation.results, run_header(args, simulation, scale), report.load_prices()
    )
    print(text)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    target = args.results_dir / "latest.md"
    target.write_text(text, encoding="utf-8")
    progress(f"wrote {target}")
    if not passed:
        progress("a done-when criterion failed (see 'Done when')")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
