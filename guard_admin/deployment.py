"""Which table the command works on and how it reaches it: the options, a CloudFormation stack's outputs
and parameters (``--stack``), or the local stack's well-known names (``--local``, for ``make run``).

AWS is reached with boto3's standard credential chain (environment, profile, SSO, instance role): the
operator's own credentials, never the functions'. The local stack takes any credentials, so ``--local``
brings its own dummy ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from phone_verification.codes import Hasher
from phone_verification.settings import ConfigurationError, Settings
from phone_verification.sinch_secret import parse_secret

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The budget a prefix gets when the deployment does not say: the product's own default.
DEFAULT_BUDGET = Settings.fraud_guard_prefix_budget
BUDGET_VARIABLE = "FRAUD_GUARD_PREFIX_BUDGET"
# The stack's outputs and parameter (template.yaml) that ``--stack`` reads.
TABLE_OUTPUT, SECRET_OUTPUT, BUDGET_PARAMETER = "TableName", "SecretArn", "FraudGuardPrefixBudget"
_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)


class DeploymentError(Exception):
    """The command cannot tell which table or secret to use, or cannot read the secret."""


@dataclass(frozen=True)
class Deployment:
    table: str
    secret_id: str | None
    budget: int
    session: boto3.Session
    endpoint_url: str | None = None

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url, config=_CONFIG)  # type: ignore[call-overload]

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb")
        return client

    def hasher(self) -> Hasher:
        """The deployment's keyed hashes, keyed from the Sinch secret as the functions key them."""
        if self.secret_id is None:
            raise DeploymentError(
                "numbers and prefixes are found by their keyed hashes: give --secret-arn (the stack's "
                f"{SECRET_OUTPUT} output) or --stack; prefix ids from list need no secret"
            )
        answer = self.client("secretsmanager").get_secret_value(SecretId=self.secret_id)
        try:
            value = json.loads(answer.get("SecretString") or "")
        except ValueError:
            raise DeploymentError("the Sinch secret is not JSON") from None
        try:
            return Hasher(parse_secret(value).hash_key)
        except ConfigurationError as error:
            raise DeploymentError(str(error)) from None


def resolve(options: Any, environ: Mapping[str, str]) -> Deployment:
    """The deployment the options name: explicit options win over ``--stack``'s and ``--local``'s."""
    if options.local:
        if options.stack:
            raise DeploymentError("--local or --stack, not both")
        return _local(options, environ)
    session = boto3.Session(profile_name=options.profile, region_name=options.region)
    endpoint = options.endpoint_url or environ.get("AWS_ENDPOINT_URL") or None
    table, secret, budget = options.table, options.secret_arn, options.budget
    if options.stack:
        outputs, parameters = _stack(session.client("cloudformation", endpoint_url=endpoint), options.stack)
        table = table or outputs.get(TABLE_OUTPUT)
        secret = secret or outputs.get(SECRET_OUTPUT)
        budget = budget or _budget(parameters.get(BUDGET_PARAMETER), f"the stack's {BUDGET_PARAMETER}")
    if not table:
        raise DeploymentError(
            f"which table? --table (the stack's {TABLE_OUTPUT} output), --stack NAME, or --local (make run)"
        )
    return Deployment(table, secret, budget or DEFAULT_BUDGET, session, endpoint)


def local_endpoint(environ: Mapping[str, str]) -> str:
    """Where ``make run`` serves its AWS emulator (``local_stack``'s ports and variables)."""
    from local_stack.__main__ import DEFAULT_PORTS

    port = environ.get("AWS_EMULATOR_PORT") or DEFAULT_PORTS["AWS_EMULATOR_PORT"]
    return f"http://127.0.0.1:{port}"


def _local(options: Any, environ: Mapping[str, str]) -> Deployment:
    # Imported here: the local stack's modules (and moto's) are a developer's, not an operator's.
    from local_stack.emulator import DUMMY_CREDENTIALS
    from local_stack.stack import DEFAULT_REGION, DEFAULT_SECRET_NAME, DEFAULT_STACK_NAME

    region = options.region or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    session = boto3.Session(
        region_name=region,
        aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
        aws_session_token=DUMMY_CREDENTIALS["aws_session_token"],
    )
    endpoint = options.endpoint_url or local_endpoint(environ)
    deployment = Deployment(
        table=options.table or "",
        # Secrets Manager takes a secret's name wherever it takes its ARN.
        secret_id=options.secret_arn or DEFAULT_SECRET_NAME,
        # make run gives the functions this variable from the shell it runs in, when it is set there.
        budget=options.budget or _budget(environ.get(BUDGET_VARIABLE), BUDGET_VARIABLE) or DEFAULT_BUDGET,
        session=session,
        endpoint_url=endpoint,
    )
    if deployment.table:
        return deployment
    return dataclasses.replace(deployment, table=_local_table(deployment, f"{DEFAULT_STACK_NAME}-"))


def _local_table(deployment: Deployment, start: str) -> str:
    """The local stack's table: it is named after the stack (``phone-verification-<logical id>``)."""
    names = [
        name
        for page in deployment.dynamodb().get_paginator("list_tables").paginate()
        for name in page.get("TableNames", [])
        if name.startswith(start)
    ]
    if len(names) != 1:
        found = ", ".join(names) if names else "none"
        raise DeploymentError(
            f"expected one table named {start}* at {deployment.endpoint_url} (found {found}); "
            "is make run running? --table names one"
        )
    return names[0]


def _stack(client: Any, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """A CloudFormation stack's outputs and parameters."""
    stacks = client.describe_stacks(StackName=name).get("Stacks", [])
    if not stacks:
        raise DeploymentError(f"no stack named {name}")
    stack = stacks[0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    parameters = {
        item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])
    }
    return outputs, parameters


def _budget(value: str | None, source: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        budget = int(value)
    except ValueError:
        raise DeploymentError(f"{source} must be a whole number, got {value!r}") from None
    if budget < 1:
        raise DeploymentError(f"{source} must be at least 1, got {value!r}")
    return budget
