"""``phone-verification``: the API from a shell. Prints the API's answer as JSON on stdout; a problem prints
``code: title`` (and the problem's detail) on stderr and exits with the code of its group:

    0  answered (a wrong code too: read "status" and "attemptsRemaining")
    2  usage: bad arguments, no --url, no token for --auth jwt
    3  refused: a problem about the request or the verification (invalid_request, not_found, expired,
       cancelled, no_channel_left, already_verified, conflict, too_many_attempts, destination_denied,
       provider_rejected)
    4  rate limited: rate_limited or API Gateway's throttling; stderr says when to retry
    5  not allowed: unauthorized, forbidden, unidentified_caller, no AWS credentials or region
    6  unavailable: a 503 problem or no answer, after the client's retries; try again later
    7  internal_error or an answer the client cannot read
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from phone_verification_client._version import __version__
from phone_verification_client.auth import BearerAuth, SigV4Auth
from phone_verification_client.client import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, Auth, Client
from phone_verification_client.errors import (
    ConnectionFailed,
    Forbidden,
    InternalError,
    MissingCredentials,
    MissingRegion,
    PhoneVerificationError,
    RateLimited,
    TemporarilyUnavailable,
    Unauthorized,
    UnexpectedResponse,
    UnidentifiedCaller,
)
from phone_verification_client.models import Verification

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_RATE_LIMITED = 4
EXIT_NOT_ALLOWED = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERNAL = 7

URL_VARIABLE = "PHONE_VERIFICATION_URL"
TOKEN_VARIABLE = "PHONE_VERIFICATION_TOKEN"  # noqa: S105 - the variable's name, not a token


def exit_code(error: PhoneVerificationError) -> int:
    """The exit status for a problem (the module's docstring lists them)."""
    if isinstance(error, RateLimited):
        return EXIT_RATE_LIMITED
    if isinstance(error, Unauthorized | Forbidden | UnidentifiedCaller | MissingCredentials | MissingRegion):
        return EXIT_NOT_ALLOWED
    if isinstance(error, TemporarilyUnavailable | ConnectionFailed):
        return EXIT_UNAVAILABLE
    if isinstance(error, InternalError | UnexpectedResponse):
        return EXIT_INTERNAL
    return EXIT_REFUSED


def _connection_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (SUPPRESS: a later default cannot erase an
    earlier value)."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the API's URL (the stack's ApiUrl); default ${URL_VARIABLE}",
    )
    group.add_argument(
        "--auth",
        choices=("iam", "jwt", "none"),
        default=argparse.SUPPRESS,
        help="the stack's ApiAuth: iam (SigV4 with your AWS credentials, the default), jwt, none",
    )
    group.add_argument(
        "--token", default=argparse.SUPPRESS, help=f"the JWT for --auth jwt; default ${TOKEN_VARIABLE}"
    )
    group.add_argument(
        "--region",
        default=argparse.SUPPRESS,
        help="AWS region for SigV4 (default: from the URL or AWS config)",
    )
    group.add_argument(
        "--deadline",
        type=float,
        default=argparse.SUPPRESS,
        help=f"seconds for the whole call, retries included (default {DEFAULT_DEADLINE:g})",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        help=f"seconds for one HTTP try (default {DEFAULT_TIMEOUT:g})",
    )
    return options


def _parser() -> argparse.ArgumentParser:
    options = _connection_options()
    parser = argparse.ArgumentParser(
        prog="phone-verification",
        description="Call the phone-verification API; prints its answer as JSON.",
        epilog="Exit status: 0 answered, 2 usage, 3 refused, 4 rate limited, 5 not allowed, "
        "6 unavailable, 7 internal error or unreadable answer.",
        parents=[options],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser("start", parents=[options], help="start a verification")
    start.add_argument("phone_number", metavar="NUMBER", help="E.164, e.g. +46700000001")
    start.add_argument("--method", choices=("sms", "flashcall", "callout", "whatsapp"))
    start.add_argument("--locale", help="SMS language or callout speech, e.g. sv-SE")
    start.add_argument("--reference", help="your own label, answered back")
    start.add_argument("--code", help="your own SMS code instead of a generated one")
    start.add_argument("--channels", help="channels `next` may send, in order, e.g. sms,callout")
    start.add_argument("--rate-key", help="whom this start counts for behind your credentials")
    start.add_argument("--idempotency-key", help="default: a new UUID (retries within this call reuse it)")

    for name, what in (("report", "ID"), ("report-number", "NUMBER")):
        report = commands.add_parser(
            name,
            parents=[options],
            help="report the code the user received"
            + (" by id" if what == "ID" else " to the number's latest verification"),
        )
        report.add_argument("target", metavar=what)
        report.add_argument("code", metavar="CODE", nargs="?", help="the code (sms, callout, whatsapp)")
        report.add_argument("--cli", help="the number that called (flashcall) instead of a CODE")

    for name, text in (("status", "the verification's current state"), ("cancel", "cancel it")):
        command = commands.add_parser(name, parents=[options], help=text)
        command.add_argument("id", metavar="ID")

    after = commands.add_parser("next", parents=[options], help="send the verification's next channel")
    after.add_argument("id", metavar="ID")
    after.add_argument("--method", choices=("sms", "flashcall", "callout", "whatsapp"))
    after.add_argument("--locale")
    after.add_argument("--rate-key")
    after.add_argument("--idempotency-key")
    return parser


def _auth(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Auth | None:
    mode = getattr(args, "auth", None) or os.environ.get("PHONE_VERIFICATION_AUTH", "iam").lower()
    if mode == "none":
        return None
    if mode == "jwt":
        token = getattr(args, "token", None) or os.environ.get(TOKEN_VARIABLE)
        if not token:
            parser.error(f"--auth jwt needs --token or ${TOKEN_VARIABLE}")
        return BearerAuth(token)
    if mode != "iam":
        parser.error("--auth must be iam, jwt or none")
    return SigV4Auth(region=getattr(args, "region", None))


def _call(client: Client, args: argparse.Namespace) -> Verification:
    command: str = args.command
    if command == "start":
        channels = [c.strip() for c in args.channels.split(",") if c.strip()] if args.channels else None
        method = args.method or (channels[0] if channels else "sms")
        return client.start(
            args.phone_number,
            method=method,
            locale=args.locale,
            reference=args.reference,
            code=args.code,
            channels=channels,
            rate_key=args.rate_key,
            idempotency_key=args.idempotency_key,
        )
    if command == "report":
        return client.report(args.target, code=args.code, cli=args.cli)
    if command == "report-number":
        return client.report_by_number(args.target, code=args.code, cli=args.cli)
    if command == "status":
        return client.status(args.id)
    if command == "cancel":
        return client.cancel(args.id)
    return client.next(
        args.id,
        method=args.method,
        locale=args.locale,
        rate_key=args.rate_key,
        idempotency_key=args.idempotency_key,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    url = getattr(args, "url", None) or os.environ.get(URL_VARIABLE)
    if not url:
        parser.error(f"no API URL: pass --url or set ${URL_VARIABLE}")
    if args.command in ("report", "report-number") and (args.code is None) == (args.cli is None):
        parser.error(f"{args.command} needs either a CODE or --cli, not both")
    try:
        client = Client(
            url,
            auth=_auth(parser, args),
            deadline=getattr(args, "deadline", DEFAULT_DEADLINE),
            timeout=getattr(args, "timeout", DEFAULT_TIMEOUT),
        )
    except ValueError as error:
        parser.error(str(error))
    with client:
        try:
            verification = _call(client, args)
        except PhoneVerificationError as error:
            _print_problem(error)
            return exit_code(error)
    print(json.dumps(dict(verification.raw), indent=2))
    return EXIT_OK


def _print_problem(error: PhoneVerificationError) -> None:
    line = f"{error.code}: {error.title}"
    if error.retry_after is not None:
        line += f" (retry after {error.retry_after:g} s)"
    print(line, file=sys.stderr)
    if error.detail:
        print(error.detail, file=sys.stderr)
