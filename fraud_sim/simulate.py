"""Which runs make up a simulation, and one local stack per guard mode to run them on.

The guard's mode is read from the functions' environment (``FRAUD_GUARD``) when the product builds its
dependencies, so each mode gets a stack of its own; every scenario on it starts from an empty table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fraud_sim import engine, traffic
from fraud_sim.engine import Result
from fraud_sim.traffic import Scenario
from phone_verification.fraud import GuardMode

if TYPE_CHECKING:
    from local_stack import LocalStack

ALL_SCENARIOS = tuple(traffic.SCENARIOS)
MODES: tuple[GuardMode, ...] = ("enforce", "monitor", "off")
# The scenarios also run under monitor and off: pumping (what monitor would refuse) and a burst.
MODE_SCENARIOS = ("1", "4")
# Scenario 1's sends replayed under monitor and off at scales below 1 (at least this many, so that
# some of them pass the prefix's budget and monitor has something to log).
MIN_MODE_SENDS = 30


@dataclass(frozen=True)
class Options:
    seed: int = 2026
    scale: float = 1.0
    scenarios: tuple[str, ...] = ALL_SCENARIOS
    modes: tuple[GuardMode, ...] = MODES
    env: Mapping[str, str] = field(default_factory=dict)  # overrides of the functions' environment


def plan(options: Options) -> list[Scenario]:
    """Every run, in the table's order: each scenario under enforce, then under the other modes."""
    runs: list[Scenario] = []
    for key in options.scenarios:
        scenario = traffic.build(key, options.seed, options.scale)
        if "enforce" in options.modes:
            runs.append(scenario)
        if key not in MODE_SCENARIOS:
            continue
        first = None
        if key == "1" and options.scale < 1:
            first = min(len(scenario.sends), max(MIN_MODE_SENDS, round(len(scenario.sends) * options.scale)))
        runs += [scenario.with_mode(mode, first) for mode in options.modes if mode != "enforce"]
    return runs


@contextmanager
def faster_transactions() -> Iterator[str | None]:
    """The benchmark's fix for moto's TransactWriteItems (it copies whole tables per transaction), for
    the length of the simulation only: other stacks of this process (a test session) get moto back."""
    try:
        from moto.dynamodb.models import DynamoDBBackend
    except ImportError:
        yield None
        return
    from bench import emulator

    original = DynamoDBBackend.__dict__.get("transact_write_items")
    note = emulator.patch_moto_transactions()
    try:
        yield note
    finally:
        if original is not None:
            DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]


@dataclass
class Simulation:
    results: list[Result]
    settings: dict[str, str]
    wall_seconds: float
    notes: list[str]


def _settings(stack: LocalStack) -> dict[str, str]:
    """The product's settings as the start function reads them (defaults, template, overrides)."""
    from phone_verification.settings import Settings

    settings = Settings.from_env(stack.function_environment("StartVerificationFunction"))
    policy = settings.guard_policy
    return {
        "guard": (
            f"prefix budget {policy.budget} sends (and {policy.budget} back a day), a conversion returns "
            f"its send and earns {policy.earn}, ceiling {policy.ceiling}; safe countries: "
            f"{', '.join(sorted(policy.safe_countries)) or 'none'}"
        ),
        "limits": (
            f"{settings.max_starts_per_number} starts per number in {settings.start_window_seconds} s, "
            f"{settings.min_seconds_between_starts} s apart; per caller window "
            f"{settings.caller_window_seconds} s: {settings.max_starts_per_principal} per principal, "
            f"{settings.max_starts_per_user} per end user, {settings.max_starts_per_rate_key} per rateKey"
        ),
    }


def simulate(options: Options, progress: Callable[[str], None]) -> Simulation:
    from local_stack import LocalStack

    began = time.perf_counter()
    runs = plan(options)
    rate_keys = engine.rate_keys_supported()
    results: list[Result] = []
    settings: dict[str, str] = {}
    notes = [] if rate_keys else ["This version of the API has no rateKey: starts are sent without it."]
    with faster_transactions() as patched, open(os.devnull, "w", encoding="utf-8") as sink:
        if patched:
            notes.append(patched.replace("benchmark's process", "simulator's process"))
        for mode in options.modes:
            mine = [scenario for scenario in runs if scenario.mode == mode]
            if not mine:
                continue
            env = {**options.env, "FRAUD_GUARD": mode}
            name = f"fraud-sim-{mode}"
            with LocalStack(env=env, log=sink, stack_name=name, secret_name=f"{name}/sinch") as stack:
                settings = settings or _settings(stack)
                for scenario in mine:
                    result = engine.run(stack, scenario, rate_keys=rate_keys)
                    results.append(result)
                    progress(
                        f"({scenario.key}) {scenario.title}, {mode}: {result.attempted} sends, "
                        f"{result.refused} refused ({result.wall_seconds:.1f} s)"
                    )
    order = {(scenario.key, scenario.mode): i for i, scenario in enumerate(runs)}
    results.sort(key=lambda row: order[(row.scenario.key, row.scenario.mode)])
    return Simulation(results, settings, time.perf_counter() - began, notes)
