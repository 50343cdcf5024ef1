"""``python -m local_stack.invoke`` (``make invoke``): a function's real handler with an event file, as
``sam local invoke`` runs it, without Docker.

    python -m local_stack.invoke StartVerificationFunction events/start-sms.json
    python -m local_stack.invoke events/status.json --id <verification id>    (function from the file name)
    python -m local_stack.invoke all                  (every file in events/, each through its function)

The handler runs in this process with the environment the local stack gives the function (template.yaml's
variables, what the Lambda service sets, the local endpoints) and a Lambda context object. Its return
value is printed as JSON on stdout, its logs go to stderr; an unhandled exception prints Lambda's error
object (``errorType``, ``errorMessage``, ``stackTrace``) and exits 1. An unknown function or a missing or
unreadable event file exits 2.

Which stack: ``make run``'s, when its AWS emulator (127.0.0.1:AWS_EMULATOR_PORT, 3002) holds the
template's table and secret (named after the stack, ``phone-verification``; ``--stack-name`` for
another) and its Sinch sandbox (SANDBOX_PORT, 3001) answers: the handler then works on that stack's table,
as the local API's requests do. Otherwise a stack of its own on free ports, for this run only.

``all`` runs the files in an order where each works (PLAN): the start events first, then the events that
act on a verification, their ``REPLACE-WITH-VERIFICATION-ID`` replaced by the id a start answered and their
code (or flashcall CLI) read off the sandbox's phone, as tests/integration/test_events.py does. Each number
is started once, so no reset is needed and the run also works on ``make run``'s stack; direct events act
only on directly started verifications, so start-direct.json also runs to a second number. A ``next``
event waits out MIN_SECONDS_BETWEEN_STARTS after its start (a stack of its own runs with 0), and a start
refused only because its number was sent to within that gap (by the previous run) is tried again once it
has passed. Each result is checked; any unexpected one exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from local_stack.__main__ import DEFAULT_PORTS
from local_stack.runtime import HandlerLoadError, MarshalError
from local_stack.stack import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DEFAULT_TEMPLATE,
    REPO_ROOT,
    LocalStack,
    LocalStackError,
    _sinch_secret,
)
from local_stack.template import Template, TemplateError

EVENTS_DIR = REPO_ROOT / "events"
PLACEHOLDER = "REPLACE-WITH-VERIFICATION-ID"
START = "StartVerificationFunction"
REPORT = "ReportVerificationFunction"
USAGE_ERROR = 2


@dataclass(frozen=True)
class Step:
    """One file of events/ in the ``all`` run: the function it is for and the answer it must get."""

    event: str
    function: str
    status: str  # the verification's status in the answer
    after: str | None = None  # the start (its key) whose verification this one acts on
    phone: str | None = None  # body field read off the sandbox's phone: "code" (SMS) or "cli" (flashcall)
    method: str | None = None  # the method the answer must name
    number: str | None = None  # a start sent to this number instead of the file's
    key: str | None = None  # how later steps name this start (default: its file name)

    @property
    def name(self) -> str:
        return self.key or self.event


# Every number in events/ is started once, so the run needs no reset between files and does not trip
# MIN_SECONDS_BETWEEN_STARTS on a running stack; only the next events wait for it. Direct events act only
# on verifications started directly (their owner), so start-direct.json also runs to a second number.
SECOND_DIRECT = "start-direct.json, second number"
PLAN: tuple[Step, ...] = (
    Step("start-sms.json", START, "PENDING"),
    Step("start-flashcall.json", START, "PENDING"),
    Step("start-sms-custom-code.json", START, "PENDING"),
    Step("start-callout.json", START, "PENDING"),
    Step("start-whatsapp.json", START, "PENDING"),
    Step("start-with-idempotency-key.json", START, "PENDING"),
    Step("start-sms-rest-v1.json", START, "PENDING"),
    Step("start-direct.json", START, "PENDING"),
    Step("start-direct.json", START, "PENDING", number="+46700000009", key=SECOND_DIRECT),
    Step("start-sms-then-callout.json", START, "PENDING"),
    Step("status.json", REPORT, "PENDING", after="start-sms.json"),
    Step("report-by-id.json", REPORT, "SUCCESSFUL", after="start-sms-custom-code.json", phone="code"),
    Step("report-by-number.json", REPORT, "SUCCESSFUL", after="start-sms.json", phone="code"),
    Step("report-flashcall.json", REPORT, "SUCCESSFUL", after="start-flashcall.json", phone="cli"),
    Step("report-direct.json", REPORT, "SUCCESSFUL", after="start-direct.json", phone="code"),
    Step("cancel.json", REPORT, "CANCELLED", after="start-whatsapp.json"),
    Step("next.json", START, "PENDING", after="start-sms-then-callout.json", method="callout"),
    Step("next-direct.json", START, "PENDING", after=SECOND_DIRECT, method="callout"),
    Step("cancel-direct.json", REPORT, "CANCELLED", after=SECOND_DIRECT),
)
STEPS = {step.event: step for step in PLAN}


class UsageError(Exception):
    """Bad arguments: exit 2."""


# -- the events' placeholders (the mechanism of tests/integration/test_events.py) --------------------------


def with_id(event: dict[str, Any], verification_id: str) -> dict[str, Any]:
    """The event with every ``REPLACE-WITH-VERIFICATION-ID`` replaced by ``verification_id``."""
    filled: dict[str, Any] = json.loads(json.dumps(event).replace(PLACEHOLDER, verification_id))
    return filled


def with_body_value(event: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """The event with ``key`` set in its JSON body (API Gateway) or at its top level (direct)."""
    if isinstance(event.get("body"), str):
        body = json.loads(event["body"])
        body[key] = value
        return {**event, "body": json.dumps(body)}
    return {**event, key: value}


def number_of(event: Mapping[str, Any]) -> str:
    """The phone number a start event starts."""
    body = event.get("body")
    data = json.loads(body) if isinstance(body, str) else event
    number: str = data["phoneNumber"]
    return number


def body_of(result: Any) -> dict[str, Any]:
    """The JSON answer, whether the event came through API Gateway or was a direct invocation."""
    if isinstance(result, dict) and "statusCode" in result:
        answer: dict[str, Any] = json.loads(result.get("body") or "{}")
        return answer
    return result if isinstance(result, dict) else {}


def load_event(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"no event file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"{path} is not a JSON event: {error}") from None


def event_files(directory: Path) -> list[Path]:
    """The event files of ``directory``: every JSON file but the ``sam local invoke -n`` files (env*.json)."""
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("env"))


# -- the stack ---------------------------------------------------------------------------------------------


class RunningStack(LocalStack):
    """A stack whose AWS side is one that already runs (``make run``'s): its emulator, table(s) and
    secret(s) are found and used as they are, never created, reset or deleted. The functions' environment
    is built exactly as the local stack builds it, around those resources."""

    found_resources: dict[str, str]  # logical id -> the running stack's table name or secret ARN

    def _create_resources(self) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        emulator = self._require_emulator()
        where = f"at {emulator.endpoint_url} in {self.region}"
        dynamodb, secretsmanager = emulator.dynamodb(), emulator.secretsmanager()
        tables = [
            name
            for page in dynamodb.get_paginator("list_tables").paginate()
            for name in page.get("TableNames", [])
        ]
        refs: dict[str, str] = {}
        attributes: dict[tuple[str, str], str] = {}
        for spec in self._table_specs:
            wanted = spec.table_name or f"{self.stack_name}-{spec.logical_id}"
            name = _named(tables, wanted, f"no table {wanted} {where}")
            refs[spec.logical_id] = name
            attributes[(spec.logical_id, "Arn")] = dynamodb.describe_table(TableName=name)["Table"][
                "TableArn"
            ]
        arns = {
            secret["Name"]: secret["ARN"]
            for page in secretsmanager.get_paginator("list_secrets").paginate()
            for secret in page.get("SecretList", [])
        }
        sinch = _sinch_secret(self._secret_specs)
        for secret in self._secret_specs:
            default = self._secret_name if secret is sinch else f"{self.stack_name}/{secret.logical_id}"
            wanted = secret.name or default
            arn = arns[_named(list(arns), wanted, f"no secret {wanted} {where}")]
            refs[secret.logical_id] = arn
            attributes[(secret.logical_id, "Id")] = arn
            if secret is sinch:
                self._sinch_secret_id = arn
        # Not recorded in self._tables/_secrets: stop() deletes those, and these belong to the running stack.
        self.found_resources = dict(refs)
        return refs, attributes


def _named(names: list[str], wanted: str, missing: str) -> str:
    # The local stack adds a suffix when the name is taken in the emulator's memory (another stack there).
    if wanted in names:
        return wanted
    suffixed = [name for name in names if name.startswith(f"{wanted}-")]
    if len(suffixed) == 1:
        return suffixed[0]
    raise LocalStackError(missing if not suffixed else f"{missing} (several: {', '.join(sorted(suffixed))})")


def _port(environ: Mapping[str, str], name: str) -> int:
    raw = environ.get(name) or str(DEFAULT_PORTS[name])
    try:
        port = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < port <= 65535:
        raise UsageError(f"{name} must be a port number, got {raw!r}")
    return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _sandbox_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/sandbox/v1/health", timeout=2) as answer:  # noqa: S310 - loopback
            return bool(json.loads(answer.read()).get("status") == "ok")
    except (OSError, ValueError, AttributeError):
        return False


def _stack_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """What ``python -m local_stack`` (make run) builds its stack from, read from the same variables."""
    return {
        "api_auth": environ.get("API_AUTH") or None,
        "inherit_environment": True,
        "region": environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
    }


@contextlib.contextmanager
def _own_stack(
    template: Path, environ: Mapping[str, str], env: Mapping[str, str], note: str, log: TextIO
) -> Iterator[LocalStack]:
    from sinch_sandbox import SandboxConfig  # the sandbox runs in a stack of its own

    stack = LocalStack(
        template, env=env, sandbox_config=SandboxConfig.from_env(), log=log, **_stack_options(environ)
    )
    with stack:
        print(
            f"local-stack invoke: {note}a stack of its own for this run: AWS emulator "
            f"{stack.aws_endpoint_url}, Sinch sandbox {stack.sinch_base_url}, API {stack.api_url}",
            file=log,
        )
        yield stack


def _running_stack(
    template: Path, environ: Mapping[str, str], stack_name: str, log: TextIO
) -> tuple[RunningStack | None, str]:
    """The stack make run serves, started around its resources; (None, why not) when there is none."""
    aws = f"http://127.0.0.1:{_port(environ, 'AWS_EMULATOR_PORT')}"
    sandbox = f"http://127.0.0.1:{_port(environ, 'SANDBOX_PORT')}"
    if not _listening(_port(environ, "AWS_EMULATOR_PORT")):
        return None, f"no local stack at {aws}; "
    sinch = sandbox if _sandbox_answers(sandbox) else (environ.get("SINCH_BASE_URL") or "").strip()
    if not sinch:
        return None, f"something listens at {aws} but no Sinch sandbox answers at {sandbox}; "
    stack = RunningStack(
        template,
        aws_endpoint_url=aws,
        sinch_base_url=sinch,
        sinch_application_key=environ.get("SINCH_APPLICATION_KEY") or None,
        sinch_application_secret=environ.get("SINCH_APPLICATION_SECRET") or None,
        stack_name=stack_name,
        secret_name=f"{stack_name}/sinch",
        log=log,
        **_stack_options(environ),
    )
    try:
        stack.start()
    except LocalStackError as error:
        return None, f"{error}; "
    except Exception as error:  # not an AWS emulator, or not ours: it answered something else
        return None, f"{aws} is not a local stack's AWS emulator ({type(error).__name__}); "
    print(
        f"local-stack invoke: the local stack at {aws} (Sinch {sinch}): "
        + ", ".join(f"{logical_id} {name}" for logical_id, name in stack.found_resources.items()),
        file=log,
    )
    return stack, ""


@contextlib.contextmanager
def local_stack(
    template: Path,
    environ: Mapping[str, str],
    *,
    stack_name: str,
    own: bool,
    own_env: Mapping[str, str],
    log: TextIO,
) -> Iterator[LocalStack]:
    """make run's stack when one runs (and ``own`` is false), else a stack of its own."""
    note = "asked for "
    if not own:
        running, note = _running_stack(template, environ, stack_name, log)
        if running is not None:
            try:
                yield running
            finally:
                running.stop()
            return
    with _own_stack(template, environ, own_env, note, log) as stack:
        yield stack


# -- one event ---------------------------------------------------------------------------------------------


def lambda_error(error: BaseException) -> dict[str, Any]:
    """The error object the Lambda Python runtime answers an unhandled exception with."""
    if isinstance(error, HandlerLoadError):
        kind = "Runtime.ImportModuleError"
    elif isinstance(error, MarshalError):
        kind = "Runtime.MarshalError"
    else:
        kind = type(error).__name__
    return {
        "errorMessage": str(error),
        "errorType": kind,
        "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__)),
    }


def invoke_one(stack: LocalStack, function: str, event: Any, out: TextIO, log: TextIO) -> int:
    try:
        result = stack.invoke(function, event)
    except Exception as error:
        traceback.print_exception(error, file=log)  # what Lambda writes to the function's log
        print(json.dumps(lambda_error(error)), file=out, flush=True)
        return 1
    print(json.dumps(result), file=out, flush=True)
    return 0


# -- every event -------------------------------------------------------------------------------------------


def read_phone(stack: LocalStack, number: str, field: str) -> str:
    """The last code (SMS) or CLI (call) the sandbox's phone at ``number`` received."""
    url = f"{stack.sinch_base_url}/sandbox/v1/inbox/{quote(number, safe='')}"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the local sandbox
        inbox = json.loads(answer.read())
    value: str = inbox["messages"][-1]["code"] if field == "code" else inbox["calls"][-1]["cli"]
    return value


def _problem(step: Step, result: Any, verification_id: str | None) -> str | None:
    if isinstance(result, dict) and "statusCode" in result and result["statusCode"] not in (200, 201):
        return f"HTTP {result['statusCode']}"
    body = body_of(result)
    if body.get("status") != step.status:
        return f"status {body.get('status')!r}, expected {step.status}"
    if verification_id is not None and body.get("id") != verification_id:
        return f"verification {body.get('id')!r}, expected {verification_id}"
    if step.method is not None and body.get("method") != step.method:
        return f"method {body.get('method')!r}, expected {step.method}"
    return None


def _summary(result: Any) -> str:
    status = f"{result['statusCode']} " if isinstance(result, dict) and "statusCode" in result else ""
    body = body_of(result)
    return f"{status}{body.get('status')} {body.get('method')} {body.get('id')}"


def _min_gap(stack: LocalStack) -> float:
    """MIN_SECONDS_BETWEEN_STARTS as the start function runs with it here."""
    raw = stack.function_environment(START).get("MIN_SECONDS_BETWEEN_STARTS") or "0"
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 0.0


def _wait(seconds: float, why: str, log: TextIO) -> None:
    print(f"local-stack invoke: waiting {seconds:.0f} s: {why}", file=log, flush=True)
    time.sleep(seconds)


def _wait_for_gap(stack: LocalStack, started_at: float, log: TextIO) -> None:
    gap = _min_gap(stack)
    # +1 s: the product keeps send times in whole seconds.
    remaining = gap + 1 - (time.monotonic() - started_at) if gap > 0 else 0
    if remaining > 0:
        _wait(remaining, f"MIN_SECONDS_BETWEEN_STARTS={gap:g} between a start and its next", log)


def _retry_after(outcome: Any) -> int | None:
    """The seconds a rate-limited start says to wait (an HTTP 429's Retry-After, a direct RateLimited's)."""
    if isinstance(outcome, dict) and outcome.get("statusCode") == 429:
        raw = (outcome.get("headers") or {}).get("Retry-After", "")
        return int(raw) if str(raw).isdigit() else None
    if isinstance(outcome, Exception) and type(outcome).__name__ == "RateLimited":
        seconds = getattr(outcome, "retry_after", None)
        return seconds if isinstance(seconds, int) else None
    return None


def _invoke(stack: LocalStack, step: Step, event: Any, log: TextIO) -> Any:
    """The step's result, or the exception its handler raised. A start refused only for the gap between
    two sends to one number (the number was sent to shortly before, e.g. by the previous run) is tried once
    more when that gap has passed."""
    for attempt in (1, 2):
        try:
            outcome: Any = stack.invoke(step.function, event)
        except Exception as error:
            outcome = error
        wait = _retry_after(outcome) if step.function == START and attempt == 1 else None
        if wait is None or wait > _min_gap(stack) + 1:
            return outcome
        _wait(wait + 1, f"{step.event}'s number was sent to less than MIN_SECONDS_BETWEEN_STARTS ago", log)
    return outcome


def plan_for(events_dir: Path, function: str | None) -> list[Step]:
    """The steps that run: every event file's (all of them named in PLAN), or one function's and the starts
    they act on."""
    unknown = [p.name for p in event_files(events_dir) if p.name not in STEPS]
    if unknown:
        raise UsageError(f"{', '.join(unknown)} in {events_dir}: not in local_stack/invoke.py's PLAN")
    present = {p.name for p in event_files(events_dir)}
    steps = [step for step in PLAN if step.event in present]
    if function is None:
        return steps
    chosen = {step.name for step in steps if step.function == function}
    chosen |= {step.after for step in steps if step.name in chosen and step.after is not None}
    return [step for step in steps if step.name in chosen]


def _shown(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def invoke_all(stack: LocalStack, steps: list[Step], events_dir: Path, out: TextIO, log: TextIO) -> int:
    started: dict[str, tuple[str, str, float]] = {}  # start's name -> (verification id, number, when)
    failed = 0
    for step in steps:
        path = _shown(events_dir / step.event)
        event = load_event(path)
        verification_id = None
        notes = ""
        if step.number is not None:
            event = with_body_value(event, "phoneNumber", step.number)
            notes = f" (to {step.number})"
        if step.after is not None:
            if step.after not in started:
                print(f"== {path} -> {step.function}\nFAILED: {step.after} did not start", file=out)
                failed += 1
                continue
            verification_id, number, started_at = started[step.after]
            event = with_id(event, verification_id)
            notes = f" (the verification of {step.after}"
            if step.phone is not None:
                event = with_body_value(event, step.phone, read_phone(stack, number, step.phone))
                notes += f", its {step.phone} from the sandbox's phone"
            notes += ")"
            if step.function == START:
                _wait_for_gap(stack, started_at, log)
        print(f"== {path} -> {step.function}{notes}", file=out, flush=True)
        result = _invoke(stack, step, event, log)
        if isinstance(result, Exception):
            print(json.dumps(lambda_error(result)), file=out)
            print(f"FAILED: {type(result).__name__}: {result}", file=out, flush=True)
            failed += 1
            continue
        print(json.dumps(result), file=out)
        problem = _problem(step, result, verification_id)
        if problem is not None:
            print(f"FAILED: {problem}", file=out, flush=True)
            failed += 1
            continue
        print(f"ok: {_summary(result)}", file=out, flush=True)
        if step.after is None:
            started[step.name] = (str(body_of(result)["id"]), number_of(event), time.monotonic())
    verdict = f"{failed} FAILED" if failed else "all ok"
    files = len({step.event for step in steps})
    print(f"{len(steps)} invocations of {files} event files: {verdict}", file=out, flush=True)
    return 1 if failed else 0


# -- the command -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    function: str | None  # None: every function (all) or the one the event file's name says
    event: Path | None  # None: all


def _request(arguments: list[str], functions: list[str]) -> Request:
    if len(arguments) > 2:
        raise UsageError("expected [FUNCTION] [EVENT_FILE|all]")
    function = None
    if len(arguments) == 2 or (arguments and arguments[0] in functions):
        function = arguments.pop(0)
        if function not in functions:
            raise UsageError(f"no function {function!r} in the template (functions: {', '.join(functions)})")
    target = arguments[0] if arguments else "all"
    if target == "all":
        return Request(function, None)
    path = Path(target)
    if not path.is_file():
        raise UsageError(f"no event file {target}")
    if function is None:
        step = STEPS.get(path.name)
        if step is None:
            raise UsageError(f"which function is {target} for? name it: FUNCTION {target}")
        function = step.function
    return Request(function, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.invoke",
        description="Run a function's real handler with an event file, as sam local invoke does, without "
        "Docker; FUNCTION may be left out for the files of events/, whose names say it; all (the default) "
        "runs every file in events/ through its function and checks each result.",
        usage="%(prog)s [FUNCTION] [EVENT_FILE|all] [options]",
    )
    parser.add_argument("arguments", nargs="*", metavar="FUNCTION EVENT_FILE", help=argparse.SUPPRESS)
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (template.yaml)"
    )
    parser.add_argument(
        "--events-dir", type=Path, default=EVENTS_DIR, help="the event files of all (events/)"
    )
    parser.add_argument(
        "--stack-name",
        default=DEFAULT_STACK_NAME,
        help="the running stack's name, which its table and secret are named after (phone-verification)",
    )
    parser.add_argument(
        "--own-stack", action="store_true", help="a stack of its own even when make run's is running"
    )
    parser.add_argument(
        "--id",
        dest="verification_id",
        help=f"one event: the verification id to put in place of {PLACEHOLDER}",
    )
    parser.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one event: set a body field, e.g. --set code=123456",
    )
    return parser


def _fill(event: Any, verification_id: str | None, values: list[str]) -> Any:
    if not isinstance(event, dict):
        if verification_id or values:
            raise UsageError("--id and --set need an event that is a JSON object")
        return event
    if verification_id:
        event = with_id(event, verification_id)
    for item in values:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        event = with_body_value(event, key, value)
    return event


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    out, log = sys.stdout, sys.stderr
    options = _parser().parse_args(argv)
    try:
        functions = Template.load(options.template).function_ids()
        request = _request(list(options.arguments), functions)
        if request.event is not None:
            event = _fill(load_event(request.event), options.verification_id, options.values)
            steps: list[Step] = []
        else:
            if options.verification_id or options.values:
                raise UsageError("--id and --set are for one event, not all")
            steps = plan_for(options.events_dir, request.function)
    except (UsageError, TemplateError, OSError) as error:
        print(f"local-stack invoke: {error}", file=log)
        return USAGE_ERROR
    # A stack of its own runs the next events without waiting, as the events test stack does.
    own_env = {"MIN_SECONDS_BETWEEN_STARTS": "0"} if request.event is None else {}
    # The handlers' logs (and anything else printed) go to stderr: stdout is the results', as with sam.
    with contextlib.redirect_stdout(log):
        try:
            with local_stack(
                options.template,
                environ,
                stack_name=options.stack_name,
                own=options.own_stack,
                own_env=own_env,
                log=log,
            ) as stack:
                if request.event is not None:
                    assert request.function is not None
                    return invoke_one(stack, request.function, event, out, log)
                return invoke_all(stack, steps, options.events_dir, out, log)
        except UsageError as error:
            print(f"local-stack invoke: {error}", file=log)
            return USAGE_ERROR
        except (LocalStackError, TemplateError, urllib.error.URLError, OSError) as error:
            print(f"local-stack invoke: {error}", file=log)
            return 1


if __name__ == "__main__":
    sys.exit(main())
