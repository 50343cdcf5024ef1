"""The operators' command for the fraud guard over the local stack, as an operator runs it: ``python -m
guard_admin`` in its own process, with its own credentials, against the deployment's table and secret,
while the product answers over HTTP.

The deployment gives a number range 3 sends before one converts, and no minimum gap between starts, so a
test pumps a range in a few requests. The product's clock is frozen and moved past the few seconds each
Lambda environment remembers a refused range (``store_guard.REFUSAL_MEMORY_SECONDS``): an operator's
change is seen once that memory has lapsed, not before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from phone_verification import runtime
from phone_verification.store_guard import REFUSAL_MEMORY_SECONDS
from tests.integration.conftest import Deployment, Product, fresh_product, launch, private, problem

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 3
# One block of 10,000 numbers (prefix +4670000): the pumped range.
PUMPED = [f"+467000002{ending:02d}" for ending in range(BUDGET)]
REFUSED = "+46700000299"
SAFE = "+46700000250"
NEIGHBOUR = "+46700000251"
PREFIX_DIGITS = "4670000"


@pytest.fixture(scope="module")
def guarded_deployment() -> Iterator[Deployment]:
    yield from launch(
        "guard-admin", env={"FRAUD_GUARD_PREFIX_BUDGET": str(BUDGET), "MIN_SECONDS_BETWEEN_STARTS": "0"}
    )


@pytest.fixture
def guarded(guarded_deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Product]:
    """The deployment, empty, with fresh Lambda environments (an emptied table does not make the cached
    ones forget the ranges they refused) and the product's clock frozen."""
    for product in fresh_product(guarded_deployment, monkeypatch):
        runtime.configure(None)
        product.freeze()
        yield product


def guard_admin(product: Product, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m guard_admin`` as an operator runs it against a deployment: its table, its secret, its
    region and endpoint, and credentials of the operator's own (the emulator takes any)."""
    stack = product.stack
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": "operator",
        "AWS_SECRET_ACCESS_KEY": "operator-secret",
        "PYTHONPATH": f"{ROOT / 'layers' / 'phone_verification'}{os.pathsep}{ROOT}",
    }
    options = ["--table", stack.table_name, "--secret-arn", stack.secret_id, "--region", stack.region]
    options += ["--endpoint-url", stack.aws_endpoint_url, "--budget", str(BUDGET)]
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "guard_admin", *options, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pump(product: Product, numbers: list[str]) -> None:
    """Starts to the range that never convert until the guard refuses the range."""
    for number in numbers:
        assert product.start(number).status_code == 201
    assert refused_as_fraud(product, REFUSED)


def refused_as_fraud(product: Product, number: str) -> bool:
    response = product.start(number)
    if response.status_code != 403:
        return False
    return problem(response, 403, "destination_denied").get("reason") == "suspected_fraud"


def let_environments_forget(product: Product) -> None:
    """Past the time a Lambda environment answers "refused" for a range without asking DynamoDB."""
    product.advance(REFUSAL_MEMORY_SECONDS + 1)


def row_of(listing: str, country: str) -> list[str]:
    rows = [line.split() for line in listing.splitlines()[2:] if line.split()[1:2] == [country]]
    assert len(rows) == 1, listing
    return rows[0]


def test_list_shows_a_pumped_range_paused_with_its_sends_and_no_number(guarded: Product) -> None:
    # Given a range pumped over the API until the guard refused it, and a Norwegian number verified
    pump(guarded, PUMPED)
    verification = guarded.started("+4791234567")
    assert guarded.report(verification["id"], {"code": guarded.code("+4791234567")}).status_code == 200

    # When an operator lists the guard's prefixes
    listed = guard_admin(guarded, "list")

    # Then the range is paused with its three sends, the Norwegian one trusted, and no number or range shown
    assert listed.returncode == 0, listed.stderr
    prefix_id, country, state, tokens, sends, conversions, safe_numbers = row_of(listed.stdout, "SE")[:7]
    assert len(prefix_id) == 12
    assert (country, state, tokens, sends, conversions, safe_numbers) == (
        "SE",
        "paused",
        "0.0",
        "3",
        "0",
        "0",
    )
    assert row_of(listed.stdout, "NO")[2:6] == ["trusted", "5.0", "1", "1"]
    private(listed.stdout, *PUMPED, REFUSED, "+4791234567")
    assert PREFIX_DIGITS not in listed.stdout


def test_an_unblocked_range_takes_starts_again(guarded: Product) -> None:
    # Given a pumped range, and its id as the operator's list shows it
    pump(guarded, PUMPED)
    prefix_id = row_of(guard_admin(guarded, "list").stdout, "SE")[0]

    # When the operator unblocks it by that id
    unblocked = guard_admin(guarded, "unblock", prefix_id[:8])

    # Then it is unblocked with its budget, and once the environments' memory of the refusal has lapsed
    # the next start goes through
    assert unblocked.returncode == 0, unblocked.stderr
    assert f"unblocked the prefix {prefix_id[:8]} ({prefix_id}, SE): 3 tokens, had 0" in unblocked.stdout
    let_environments_forget(guarded)
    assert guarded.start(REFUSED).status_code == 201
    assert row_of(guard_admin(guarded, "list").stdout, "SE")[2:5] == ["learning", "2.0", "4"]


def test_a_safe_listed_number_passes_a_paused_range_while_its_neighbours_are_refused(
    guarded: Product,
) -> None:
    # Given a pumped range
    pump(guarded, PUMPED)

    # When the operator safe-lists one number of it
    listed = guard_admin(guarded, "safelist", SAFE)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith(f"safe-listed {SAFE} (prefix ")
    let_environments_forget(guarded)

    # Then that number's starts pass (without a token: the range's bucket stays empty), up to the
    # number's own limit, and a neighbour in the range is still refused
    for _ in range(5):  # MAX_STARTS_PER_NUMBER's default
        assert guarded.start(SAFE).status_code == 201
    problem(guarded.start(SAFE), 429, "rate_limited", retry_after=True)
    assert refused_as_fraud(guarded, NEIGHBOUR)
    assert row_of(guard_admin(guarded, "list").stdout, "SE")[2:7] == ["paused", "0.0", "3", "0", "1"]


def test_a_number_taken_off_the_safe_list_is_refused_again(guarded: Product) -> None:
    # Given a safe-listed number of a pumped range
    pump(guarded, PUMPED)
    assert guard_admin(guarded, "safelist", SAFE).returncode == 0

    # When the operator takes it back
    removed = guard_admin(guarded, "safelist", "--remove", SAFE)

    # Then it is refused like its neighbours
    assert removed.returncode == 0, removed.stderr
    assert "is no longer safe-listed" in removed.stdout
    let_environments_forget(guarded)
    assert refused_as_fraud(guarded, SAFE)


def test_a_safe_listed_number_passes_right_after_a_neighbour_was_refused(guarded: Product) -> None:
    # Given a safe-listed number of a pumped range, whose start passes
    pump(guarded, PUMPED)
    assert guard_admin(guarded, "safelist", SAFE).returncode == 0
    let_environments_forget(guarded)
    assert guarded.start(SAFE).status_code == 201

    # When a neighbour is refused, as the pumping goes on
    assert refused_as_fraud(guarded, NEIGHBOUR)

    # Then the safe-listed number's next start still passes
    assert guarded.start(SAFE).status_code == 201
