"""The check itself: one SMS verification with a chosen code, and what the phone got."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote

import boto3
import requests

from phone_verification import codes, phone
from phone_verification.errors import VerificationError
from phone_verification.settings import ConfigurationError
from phone_verification.sinch import CodeReport, Credentials, Method, SinchClient, SinchError, SmsStart
from phone_verification.sinch_secret import parse_secret

HONOURED, IGNORED, FAILED = 0, 3, 1
SECRET_OUTPUT, BASE_URL_PARAMETER, AUTH_PARAMETER = "SecretArn", "SinchBaseUrl", "SinchAuthScheme"
DEFAULT_BASE_URL = "https://verification.api.sinch.com"


@dataclass(frozen=True)
class Target:
    """Where the check sends its SMS and how it learns what arrived."""

    credentials: Credentials
    base_url: str
    auth_scheme: str
    inbox_url: str | None = None  # the sandbox's phone (--local); None: ask the operator


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sinch_check", description=__doc__)
    parser.add_argument("--number", required=True, help="a test number of yours that can receive SMS (E.164)")
    parser.add_argument("--stack", help="a deployed stack: its SecretArn output and Sinch parameters")
    parser.add_argument("--secret-arn", help="the Sinch secret (Secrets Manager ARN or name)")
    parser.add_argument("--local", action="store_true", help="make run's local stack and Sinch sandbox")
    parser.add_argument("--region", help="AWS region (default: the credential chain's)")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--endpoint-url", help="AWS endpoint (the local stack's emulator)")
    parser.add_argument("--sinch-base-url", help=f"Sinch's API (default: the stack's, or {DEFAULT_BASE_URL})")
    options = parser.parse_args(argv)
    if not (options.stack or options.secret_arn or options.local) or (options.stack and options.local):
        parser.error("which Sinch account? --stack NAME, --secret-arn ARN, or --local (make run)")
    return options


def resolve(options: argparse.Namespace) -> Target:
    if options.local:
        return _local(options)
    session = boto3.Session(profile_name=options.profile, region_name=options.region)
    secret_id, base_url, scheme = options.secret_arn, options.sinch_base_url, "signed"
    if options.stack:
        stack = session.client("cloudformation", endpoint_url=options.endpoint_url).describe_stacks(
            StackName=options.stack
        )["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        secret_id = outputs[SECRET_OUTPUT]
        base_url = base_url or parameters.get(BASE_URL_PARAMETER)
        scheme = parameters.get(AUTH_PARAMETER) or scheme
    secrets = session.client("secretsmanager", endpoint_url=options.endpoint_url)
    return Target(_credentials(secrets, secret_id), base_url or DEFAULT_BASE_URL, scheme)


def _local(options: argparse.Namespace) -> Target:
    # Imported here: the local stack is a developer's tool, not an operator's.
    from local_stack.__main__ import DEFAULT_PORTS
    from local_stack.emulator import DUMMY_CREDENTIALS
    from local_stack.stack import DEFAULT_REGION, DEFAULT_SECRET_NAME

    endpoint = options.endpoint_url or f"http://127.0.0.1:{DEFAULT_PORTS['AWS_EMULATOR_PORT']}"
    sandbox = options.sinch_base_url or f"http://127.0.0.1:{DEFAULT_PORTS['SANDBOX_PORT']}"
    session = boto3.Session(
        region_name=DEFAULT_REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
        aws_session_token=DUMMY_CREDENTIALS["aws_session_token"],
    )
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    credentials = _credentials(secrets, options.secret_arn or DEFAULT_SECRET_NAME)
    return Target(credentials, sandbox, "signed", inbox_url=f"{sandbox}/sandbox/v1/inbox/")


def _credentials(secrets: Any, secret_id: str) -> Credentials:
    value = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    return parse_secret(value).credentials


def run(target: Target, number: str, read: Callable[[str], str], out: TextIO) -> int:
    """Send the chosen code, compare it with what arrived, close the verification; the exit status."""
    e164 = phone.parse(number, sms=True).e164
    chosen = codes.generate(6)
    scheme: Any = target.auth_scheme  # "signed" or "basic", as the template allows
    client = SinchClient(target.credentials, base_url=target.base_url, auth_scheme=scheme)
    started = client.start(SmsStart(number=e164, reference=f"sinch-check-{uuid.uuid4().hex}", code=chosen))
    print(
        f"Sent an SMS verification ({started.id}) to {phone.mask(e164)} with a code this check chose.",
        file=out,
    )
    if target.inbox_url is not None:
        inbox = requests.get(target.inbox_url + quote(e164, safe="+"), timeout=10).json()
        received = inbox["messages"][-1]["code"]
    else:
        received = read("Type the code the phone received (or nothing if no SMS arrived): ")
    arrived = codes.reported_code(received) if received.strip() else ""
    if not arrived:
        print("No code arrived, so the check cannot tell; try again with a phone that gets SMS.", file=out)
        return FAILED
    client.report(started.id, CodeReport(Method.SMS, arrived))  # closes the verification at Sinch
    if arrived == chosen:
        print("Your account honours smsOptions.code: keep SmsCodeSource=service (the default).", file=out)
        return HONOURED
    print(
        "Your account ignores smsOptions.code: the phone got Sinch's own code, so with SmsCodeSource="
        "service no user could verify. Deploy with SmsCodeSource=sinch (Sinch generates and checks codes).",
        file=out,
    )
    return IGNORED


def main(
    argv: Sequence[str] | None = None, *, read: Callable[[str], str] = input, out: TextIO = sys.stdout
) -> int:
    options = parse(argv)
    try:
        return run(resolve(options), options.number, read, out)
    except (SinchError, VerificationError, ConfigurationError, KeyError, ValueError) as error:
        print(f"sinch_check: {type(error).__name__}: {error}", file=sys.stderr)
        return FAILED
