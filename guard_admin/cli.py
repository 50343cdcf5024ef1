"""``python -m guard_admin`` (``make guard``): the fraud guard's number prefixes, for operators.

  list [--state STATE] [--country CC]
        every prefix the guard holds: its id, country, state (paused: refused for want of a token;
        learning: no send converted yet; trusted: some did; safe: safe-listed), tokens now, sends,
        conversions, safe-listed numbers, last change
  unblock NUMBER|PREFIX|ID
        a refused prefix gets at least a full bucket (the budget)
  safelist [--remove] [--prefix] NUMBER|PREFIX|ID
        the number's (--prefix: its whole prefix's) sends pass the guard without a token; the
        per-number limits still apply. --remove takes it back

Which deployment: --stack NAME (a deployed stack's outputs), --local (make run), or --table with
--secret-arn. A prefix is a block of 10,000 numbers, a number without its last four digits (+4670123 for
+46701234567). The table keeps prefixes and numbers only as keyed hashes, so naming one in clear needs
the deployment's Sinch secret (its hash key); a prefix id from ``list`` (8 or more of its hex digits)
needs none. Nothing printed shows a number or a prefix beyond its country, except what the operator
typed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from guard_admin.deployment import DEFAULT_BUDGET, Deployment, DeploymentError, resolve
from guard_admin.destinations import UNKNOWN_COUNTRY, Destination, DestinationError, parse_destination
from phone_verification.fraud import GuardPolicy
from phone_verification.store_guard import REFUSAL_MEMORY_SECONDS
from phone_verification.store_guard_admin import GuardAdmin, GuardAdminError, GuardedPrefix

PROG = "python -m guard_admin"
STATES = ("paused", "learning", "trusted", "safe")  # also the order list shows them in
_COLUMNS = (
    "PREFIX ID",
    "COUNTRY",
    "STATE",
    "TOKENS",
    "SENDS",
    "CONVERSIONS",
    "SAFE NUMBERS",
    "LAST CHANGE (UTC)",
)


class CommandError(Exception):
    """The command could not do what was asked; the message says why (exit status 1)."""


def standing(policy: GuardPolicy, prefix: GuardedPrefix, now: int) -> str:
    """``safe`` (safe-listed: never refused), ``paused`` (fewer than one token now: sends are refused),
    ``trusted`` (some of its sends converted) or ``learning`` (none has yet)."""
    state = prefix.state
    if state.safe:
        return "safe"
    if prefix.tokens_now(policy, now) < 1:
        return "paused"
    return "trusted" if state.conversions else "learning"


def render(prefixes: Sequence[GuardedPrefix], policy: GuardPolicy, now: int) -> str:
    """The prefixes as a table, paused ones first, then by sends."""
    rows = sorted(
        ((standing(policy, prefix, now), prefix) for prefix in prefixes),
        key=lambda row: (STATES.index(row[0]), -row[1].state.sends, row[1].prefix_hash),
    )
    lines = [
        (
            prefix.prefix_id,
            prefix.country or "?",
            label,
            f"{prefix.tokens_now(policy, now):.1f}",
            str(prefix.state.sends),
            str(prefix.state.conversions),
            str(len(prefix.state.safe_numbers)),
            _when(prefix.state.updated),
        )
        for label, prefix in rows
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *lines]) for i in range(len(_COLUMNS))]
    numeric = {3, 4, 5, 6}
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [_COLUMNS, *lines]
    )


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S") if epoch else "-"


# ------------------------------------------------------------------------------------------ commands


def _list(admin: GuardAdmin, deployment: Deployment, options: argparse.Namespace, now: int) -> int:
    policy = GuardPolicy(budget=deployment.budget)
    prefixes = [
        prefix
        for prefix in admin.prefixes()
        if (options.country is None or (prefix.country or "").upper() == options.country.upper())
        and (options.state is None or standing(policy, prefix, now) == options.state)
    ]
    print(
        f"{len(prefixes)} guarded prefix{'es' if len(prefixes) != 1 else ''} in {deployment.table} "
        f"as of {_when(now)} UTC (budget: {deployment.budget} sends, refilled over a day)"
    )
    if prefixes:
        print(render(prefixes, policy, now))
    return 0


def _target(admin: GuardAdmin, deployment: Deployment, destination: Destination) -> tuple[str, str]:
    """The prefix hash and country a destination names (a prefix id: the one listed prefix it starts)."""
    if destination.prefix_id is None:
        assert destination.prefix is not None  # a number or a prefix in clear
        return deployment.hasher().prefix(destination.prefix), destination.country or UNKNOWN_COUNTRY
    matches = [p for p in admin.prefixes() if p.prefix_hash.startswith(destination.prefix_id)]
    if not matches:
        raise CommandError(f"no guarded prefix has an id starting {destination.typed} (see list)")
    if len(matches) > 1:
        raise CommandError(f"{destination.typed} starts {len(matches)} prefix ids: give more of it")
    return matches[0].prefix_hash, matches[0].country or UNKNOWN_COUNTRY


def _unblock(admin: GuardAdmin, deployment: Deployment, options: argparse.Namespace, now: int) -> int:
    destination = parse_destination(options.destination, whole_prefix=True)
    prefix_hash, country = _target(admin, deployment, destination)
    changed = admin.unblock(prefix_hash, policy=GuardPolicy(budget=deployment.budget), now=now)
    name = f"{destination.prefix_label()} ({prefix_hash[:12]}, {country})"
    if changed is None:
        raise CommandError(
            f"the guard holds nothing for {name}: it has had no counted send, so it is not blocked"
        )
    before, after = changed
    print(
        f"unblocked {name}: {after.state.tokens:g} tokens, had {before.state.tokens:g}. Each function "
        f"environment that refused it lately lets its sends through within {REFUSAL_MEMORY_SECONDS} seconds."
    )
    return 0


def _safelist(admin: GuardAdmin, deployment: Deployment, options: argparse.Namespace, now: int) -> int:
    destination = parse_destination(options.destination, whole_prefix=options.prefix)
    prefix_hash, country = _target(admin, deployment, destination)
    policy, safe = GuardPolicy(budget=deployment.budget), not options.remove
    name = (
        f"{destination.describe()} ({'prefix ' if destination.number else ''}{prefix_hash[:12]}, {country})"
    )
    if destination.number is not None:
        number_hash = deployment.hasher().number(destination.number)
        changed = admin.safelist_number(
            prefix_hash, number_hash, safe=safe, country=country, policy=policy, now=now
        )
        what = "its sends pass the guard without a token; its per-number limits still apply"
    else:
        changed = admin.safelist_prefix(prefix_hash, safe=safe, country=country, policy=policy, now=now)
        what = "every send to it passes the guard without a token; per-number limits still apply"
    if safe:
        print(f"{'safe-listed' if changed else 'already safe-listed:'} {name}: {what}")
    else:
        print(f"{name} {'is no longer' if changed else 'was not'} safe-listed")
    return 0


# ------------------------------------------------------------------------------------------ options


def _common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Where the table is; on the command and on each subcommand, so they go before or after it (a
    subcommand's copy keeps no default of its own, which would hide one given before it)."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    where = parser.add_argument_group("deployment")
    choice = where.add_mutually_exclusive_group()
    choice.add_argument(
        "--stack",
        default=default(None),
        metavar="NAME",
        help="a deployed stack: its TableName and SecretArn outputs and FraudGuardPrefixBudget",
    )
    choice.add_argument(
        "--local",
        action="store_true",
        default=default(False),
        help="the local stack of make run (its emulator, table and secret)",
    )
    where.add_argument(
        "--table", default=default(None), help="the verification table (the stack's TableName output)"
    )
    where.add_argument(
        "--secret-arn",
        default=default(None),
        metavar="ARN",
        help="the Sinch secret (SecretArn output): its hash key finds numbers and prefixes",
    )
    where.add_argument("--region", default=default(None), help="AWS region (default: the credential chain's)")
    where.add_argument(
        "--profile", default=default(None), help="AWS profile (default: the credential chain's)"
    )
    where.add_argument(
        "--endpoint-url",
        default=default(None),
        metavar="URL",
        help="AWS endpoint (default: $AWS_ENDPOINT_URL)",
    )
    where.add_argument(
        "--budget",
        type=_positive,
        default=default(None),
        metavar="N",
        help=f"the deployment's FraudGuardPrefixBudget (default: the stack's, else {DEFAULT_BUDGET})",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(__doc__ or "").split("\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,unblock,safelist}")
    listing = commands.add_parser("list", help="the prefixes the guard holds")
    listing.add_argument("--state", choices=STATES, help="only prefixes in this state")
    listing.add_argument("--country", metavar="CC", help="only prefixes of this country (ISO code)")
    unblock = commands.add_parser("unblock", help="give a refused prefix a full bucket")
    unblock.add_argument(
        "destination", metavar="NUMBER|PREFIX|ID", help="a number of the prefix, the prefix, or its id"
    )
    safelist = commands.add_parser("safelist", help="let a number's or a prefix's sends pass the guard")
    safelist.add_argument(
        "destination", metavar="NUMBER|PREFIX|ID", help="a number, a prefix, or a prefix id"
    )
    safelist.add_argument("--remove", action="store_true", help="take the safe-listing back")
    safelist.add_argument("--prefix", action="store_true", help="the whole prefix of the number given")
    for sub in (listing, unblock, safelist):
        _common(sub, defaults=False)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    command = {"list": _list, "unblock": _unblock, "safelist": _safelist}[options.command]
    try:
        deployment = resolve(options, os.environ if environ is None else environ)
        return command(
            GuardAdmin(deployment.table, deployment.dynamodb()), deployment, options, int(time.time())
        )
    except (DeploymentError, DestinationError) as error:
        print(f"guard-admin: {error}", file=sys.stderr)
        return 2
    except (CommandError, GuardAdminError) as error:
        print(f"guard-admin: {error}", file=sys.stderr)
        return 1
    except ClientError as error:
        details = error.response.get("Error", {})
        print(f"guard-admin: AWS refused: {details.get('Code')}: {details.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as error:
        local = isinstance(error, EndpointConnectionError) and options.local
        hint = " (is make run running?)" if local else ""
        print(f"guard-admin: {error}{hint}", file=sys.stderr)
        return 1
