"""``python -m local_stack`` (``make run``): the whole product on 127.0.0.1 until Ctrl-C or SIGTERM.

Ports and modes come from the environment: API_PORT (3000), SANDBOX_PORT (3001), AWS_EMULATOR_PORT
(3002), API_AUTH (the template's ApiAuth default), AWS_DEFAULT_REGION (eu-west-1). With ApiAuth IAM an
unsigned request gets API Gateway's 403 (any SigV4 signature passes, unchecked); LOCAL_ALLOW_UNSIGNED=1
lets unsigned requests in as the local developer. SINCH_BASE_URL with
SINCH_APPLICATION_KEY and SINCH_APPLICATION_SECRET send the functions to that Sinch instead of the
sandbox. A variable named in the template's function environment (VERIFICATION_TTL_SECONDS, ...) takes
its value from this shell when set here; EVENT_BUS_NAME (e.g. ``default``) turns lifecycle events on, creates
that bus on the emulator unless it is ``default``, and ``python -m local_stack.events`` prints them.

Exit status: 0 after a stop (Ctrl-C, SIGTERM, ``--stop-after``; a signal during start-up too), 1 when a
server cannot listen (a port in use: every port is tried before anything slow starts), 2 for a
configuration error. Stopping waits a few seconds at most for requests still running; a second Ctrl-C or
SIGTERM while it stops ends the process at once (status 128 + the signal's number, as a shell reports it).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from local_stack.auth import LOCAL_DEVELOPER_ARN, PRINCIPAL_HEADER
from local_stack.template import TemplateError
from sinch_sandbox.stopping import Interrupted, Signals

if TYPE_CHECKING:
    from local_stack.stack import LocalStack

# local_stack.stack (the AWS SDK, moto) is imported once the signal handlers are in: a Ctrl-C during the
# second it takes to import stops the start-up like any other.

DEFAULT_PORTS = {"API_PORT": 3000, "SANDBOX_PORT": 3001, "AWS_EMULATOR_PORT": 3002}
PORT_VARIABLES = {"api": "API_PORT", "sandbox": "SANDBOX_PORT", "aws": "AWS_EMULATOR_PORT"}
EXAMPLE_NUMBER = "+46700000001"
# What requests still running get when the stack stops (their clients are disconnected at once).
STOP_TIMEOUT = 2.0
# A stop taking longer than this (a handler stuck, a thread that will not end) ends the process anyway.
STOP_GRACE = 15.0


def _serve_until(stop_after: float | None) -> None:
    # time.sleep, not Event.wait: the signal handler raises out of a sleep without leaving a lock held.
    deadline = None if stop_after is None else time.monotonic() + stop_after
    while deadline is None or time.monotonic() < deadline:
        time.sleep(3600 if deadline is None else max(0.0, deadline - time.monotonic()))


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        name, separator, value = item.partition("=")
        if not separator or not name:
            raise ValueError(f"{option} expects NAME=VALUE, got {item!r}")
        pairs[name] = value
    return pairs


def _port(name: str) -> int:
    raw = os.environ.get(name, str(DEFAULT_PORTS[name]))
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{name} must be a port number, got {raw!r}")
    return port


def _unsigned_example_token() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    return (
        f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'local-developer', 'scope': 'verify'})}.local"
    )


def _sinch_lines(stack: LocalStack) -> list[str]:
    if stack.sandbox is None:
        return [f"  Sinch          {stack.sinch_base_url}   (no sandbox: the functions call this Sinch)"]
    from sinch_sandbox.config import describe_mode  # only when the sandbox runs

    config = stack.sandbox.config
    return [
        f"  Sinch sandbox  {stack.sandbox.url}   "
        f"(application key {config.application_key!r}; the phone: /sandbox/v1/inbox/<number>)",
        # Which side of Sinch's per-account and undocumented behaviours the sandbox plays (SANDBOX_* vars).
        f"  Sinch mode     {describe_mode(config)}",
    ]


def _aws_lines(stack: LocalStack) -> list[str]:
    lines = [f"  AWS emulator   {stack.aws_endpoint_url}   (moto; region {stack.region}, any credentials)"]
    for logical_id, name in stack.table_names.items():
        lines.append(f"                   table  {name}  ({logical_id})")
    for logical_id, arn in stack.secret_arns.items():
        lines.append(f"                   secret {arn}  ({logical_id})")
    lines += [
        f"                   state machine {arn}  ({logical_id}; tasks run the handlers)"
        for logical_id, arn in stack.state_machine_arns.items()
    ]
    for bus in stack.event_buses:
        watch = "make events" if bus == "default" else f"EVENT_BUS_NAME={bus} make events"
        lines.append(
            f"                   event bus {bus}  (lifecycle events, source phone-verification; "
            f"watch them: {watch})"
        )
    return lines


def _banner(stack: LocalStack, template: Path) -> str:
    lines = [f"Local stack for {template} (no AWS account, no Docker; loopback only)", ""]
    lines.append(f"  API            {stack.api_url}")
    for route in stack.routes:
        lines.append(f"                   {route.route_key:<45} -> {route.function_id}")
    lines += _sinch_lines(stack)
    lines += _aws_lines(stack)
    for logical_id, spec in stack.functions.items():
        if spec.code_dir is None or not spec.code_dir.is_dir():
            lines.append(
                f"  NOTE: {logical_id}'s code ({spec.code_dir}) is missing: its routes will answer 500."
            )
    lines.append("")
    auth = ""
    if stack.api_auth == "IAM" and stack.allow_unsigned:
        lines.append(
            f"  ApiAuth IAM: unsigned requests are let in as {LOCAL_DEVELOPER_ARN} (LOCAL_ALLOW_UNSIGNED); "
            f"send '{PRINCIPAL_HEADER}: <arn>' to act as another caller."
        )
    elif stack.api_auth == "IAM":
        # curl signs with SigV4 itself; any credentials do, the local API checks only that a call is signed.
        auth = f" --aws-sigv4 'aws:amz:{stack.region}:execute-api' --user local:local"
        lines.append(
            f"  ApiAuth IAM: unsigned requests get 403, as from API Gateway; a signed one (any credentials, "
            f"the signature is not checked) runs as {LOCAL_DEVELOPER_ARN}, or as '{PRINCIPAL_HEADER}: <arn>'."
        )
    elif stack.api_auth == "JWT":
        token = _unsigned_example_token()
        auth = f" -H 'authorization: Bearer {token}'"
        lines.append(
            "  ApiAuth JWT: WARNING - tokens are decoded WITHOUT verifying their signature (local only)."
        )
        lines.append(f"  Example token: {token}")
    else:
        lines.append("  ApiAuth NONE: no authorizer.")
    if any(route.route_key == "POST /verifications" for route in stack.routes):
        api = stack.api_url
        encoded = EXAMPLE_NUMBER.replace("+", "%2B")
        lines += [
            "",
            "Try it:",
            "  # 1. start an SMS verification (note the id in the answer)",
            f"  curl -s -X POST {api}/verifications{auth} -H 'content-type: application/json' "
            f'-d \'{{"phoneNumber":"{EXAMPLE_NUMBER}"}}\'',
        ]
        if stack.sandbox is not None:
            lines += [
                "  # 2. read the code the phone received",
                f"  curl -s {stack.sandbox.url}/sandbox/v1/inbox/{encoded}",
            ]
        lines += [
            "  # 3. report it",
            f"  curl -s -X PUT {api}/verifications/<id>{auth} -H 'content-type: application/json' "
            '-d \'{"code":"<code>"}\'',
            "  # 4. the verification's state",
            f"  curl -s {api}/verifications/<id>{auth}",
        ]
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    from local_stack.stack import DEFAULT_TEMPLATE

    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (template.yaml)"
    )
    parser.add_argument("--stop-after", type=float, metavar="SECONDS", help="stop by itself after SECONDS")
    parser.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE", help="template parameter override"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="function environment override"
    )
    parser.add_argument(
        "--step-functions",
        action="store_true",
        help="execute state machines (the template's, e.g. with --parameter DeployExampleWorkflow=true) "
        "with their Lambda tasks running the handlers",
    )
    return parser.parse_args(argv)


def _stack(args: argparse.Namespace) -> LocalStack:
    from local_stack.stack import DEFAULT_REGION, LocalStack

    sinch_url = os.environ.get("SINCH_BASE_URL", "").strip() or None
    sandbox_config = None
    if sinch_url is None:
        from sinch_sandbox import SandboxConfig  # only when the sandbox runs

        sandbox_config = SandboxConfig.from_env()
    return LocalStack(
        args.template,
        api_port=_port("API_PORT"),
        sandbox_port=_port("SANDBOX_PORT"),
        aws_port=_port("AWS_EMULATOR_PORT"),
        api_auth=os.environ.get("API_AUTH") or None,
        allow_unsigned=os.environ.get("LOCAL_ALLOW_UNSIGNED", "").strip().lower() in ("1", "true", "yes"),
        parameter_overrides=_pairs(args.parameter, "--parameter"),
        env=_pairs(args.env, "--env"),
        inherit_environment=True,
        region=os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        sandbox_config=sandbox_config,
        sinch_base_url=sinch_url,
        sinch_application_key=os.environ.get("SINCH_APPLICATION_KEY") or None,
        sinch_application_secret=os.environ.get("SINCH_APPLICATION_SECRET") or None,
        step_functions=args.step_functions,
    )


def _start(stack: LocalStack) -> int:
    """0 once the stack serves, else the exit status, its reason printed."""
    from local_stack.stack import ListenError, LocalStackError

    try:
        stack.start()
    except ListenError as error:
        variable = PORT_VARIABLES.get(error.server, "its port variable")
        print(
            f"local-stack: {error} (another local stack? stop it, or set {variable} to a free port)",
            file=sys.stderr,
        )
        return 1
    except OSError as error:
        print(f"local-stack: cannot listen: {error}", file=sys.stderr)
        return 1
    except (TemplateError, LocalStackError) as error:
        print(f"local-stack: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    signals = Signals("local-stack")
    # First: start-up is the slow part (moto's import, the tables), and Ctrl-C must end it too.
    signals.install()
    stack: LocalStack | None = None
    try:
        args = _arguments(argv)
        from local_stack.stack import LocalStackError

        try:
            stack = _stack(args)
        except (ValueError, TemplateError, LocalStackError) as error:
            print(f"local-stack: {error}", file=sys.stderr)
            return 2
        status = _start(stack)
        if status:
            return status
        print(_banner(stack, args.template), flush=True)
        _serve_until(args.stop_after)
    except Interrupted:
        pass  # a signal: stop whatever has started
    watchdog = signals.begin_stop(STOP_GRACE)
    try:
        if stack is not None:
            stack.stop(STOP_TIMEOUT)
    finally:
        watchdog.cancel()
    print("local-stack: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
