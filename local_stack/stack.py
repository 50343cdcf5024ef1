"""``LocalStack``: the AWS emulator, the Sinch sandbox and the local API in one process.

Everything is read from the SAM template: the table and secret are created from their definitions,
each function gets the environment the template gives it (with the local endpoints), and the API's
routes come from the functions' events. Tests use it as a context manager on free ports; ``python -m
local_stack`` runs it on the well-known ports.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import string
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from local_stack.auth import LOCAL_ACCOUNT_ID, AuthMode, AuthorizerSimulator, parse_auth_mode
from local_stack.emulator import DUMMY_CREDENTIALS, AwsEmulator, secret_value
from local_stack.front import Front, Gateway
from local_stack.runtime import FunctionRuntime
from local_stack.step_functions import LocalStepFunctions
from local_stack.template import FunctionSpec, Resolver, Route, SecretSpec, TableSpec, Template, TemplateError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

    from sinch_sandbox import SandboxConfig, SandboxServer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_STACK_NAME = "phone-verification"
DEFAULT_SECRET_NAME = "phone-verification/sinch"  # noqa: S105 - a name, not a secret
DEFAULT_REGION = "eu-west-1"
# moto keeps state machines in its default account; the role a local state machine names is not used.
STATE_MACHINE_ROLE = "arn:aws:iam::123456789012:role/local-stack-state-machine"
API_AUTH_PARAMETER = "ApiAuth"
# How long stop() waits for requests still running (each server's wait; clients are disconnected at once).
STOP_TIMEOUT = 5.0
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_instance_counter = iter(range(1, sys.maxsize))
_instance_lock = threading.Lock()


class LocalStackError(Exception):
    """The local stack cannot start as configured."""


# The servers a stack listens with, as start() names them in a ListenError.
SERVER_NAMES = {"api": "API", "sandbox": "Sinch sandbox", "aws": "AWS emulator"}


class ListenError(OSError):
    """A server of the stack cannot listen on its port: ``server`` is a key of SERVER_NAMES."""

    def __init__(self, server: str, host: str, port: int, cause: OSError) -> None:
        name = SERVER_NAMES.get(server, server)
        if cause.errno == errno.EADDRINUSE:
            message = f"port {port} ({name}) is already in use"
        else:
            message = f"cannot listen on {host}:{port} ({name}): {cause.strerror or cause}"
        super().__init__(cause.errno, message)
        self.server = server
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


@contextlib.contextmanager
def _listening(server: str, host: str, port: int) -> Iterator[None]:
    """An OSError of a server's start (its bind or listen) as a ListenError naming it and its port."""
    try:
        yield
    except ListenError:
        raise
    except OSError as error:
        raise ListenError(server, host, port, error) from error


def _probe(server: str, host: str, port: int) -> None:
    """ListenError now if ``port`` is taken, bound as the servers bind (address reuse, so a previous
    run's connections in TIME_WAIT do not count). The servers bind again later: this only makes a busy
    port fail before anything slow (moto's import, the tables) has started."""
    with _listening(server, host, port), socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class LocalStack:
    """The product's real handlers behind a local API, with an AWS emulator and the Sinch sandbox.

    ``aws_endpoint_url`` uses an AWS emulator that is already running (LocalStack in Docker) instead of
    starting moto. ``sinch_base_url`` None (the default) starts the Sinch sandbox and points the
    functions at it; a URL points them at that Sinch instead (no sandbox), with
    ``sinch_application_key``/``_secret`` written into the secret (a loopback URL without them gets the
    sandbox's default credentials).

    With ``ApiAuth=IAM`` an unsigned request gets API Gateway's 403, as deployed; any SigV4 signature
    passes (it is not checked), and ``allow_unsigned`` lets unsigned requests in as the local developer.

    ``base_path`` serves the API under a path, as a custom domain's API mapping does (``/v1``): API
    Gateway keeps it in the event's raw path (HTTP API) or path (REST API), not in the route.

    ``step_functions=True`` lets moto execute state machines (see ``local_stack.step_functions``) with
    their Lambda tasks running this stack's handlers in-process, and creates the template's state
    machines (those whose Condition holds), with ``definition_substitutions`` over their
    DefinitionSubstitutions; ``create_state_machine`` adds others from any definition.
    """

    def __init__(
        self,
        template_path: str | Path = DEFAULT_TEMPLATE,
        *,
        host: str = "127.0.0.1",
        api_port: int = 0,
        sandbox_port: int = 0,
        aws_port: int = 0,
        aws_endpoint_url: str | None = None,
        api_auth: str | None = None,
        allow_unsigned: bool = False,
        parameter_overrides: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        inherit_environment: bool = False,
        region: str = DEFAULT_REGION,
        stack_name: str = DEFAULT_STACK_NAME,
        secret_name: str = DEFAULT_SECRET_NAME,
        sandbox_config: SandboxConfig | None = None,
        sinch_base_url: str | None = None,
        sinch_application_key: str | None = None,
        sinch_application_secret: str | None = None,
        log: TextIO | None = None,
        step_functions: bool = False,
        definition_substitutions: Mapping[str, str] | None = None,
        base_path: str = "",
    ) -> None:
        self.template = Template.load(template_path)
        self._base_path = base_path
        self.host = host
        self.region = region
        self.stack_name = stack_name
        self.account_id = LOCAL_ACCOUNT_ID
        self._ports = {"api": api_port, "sandbox": sandbox_port, "aws": aws_port}
        self._external_aws = aws_endpoint_url
        self._env_overrides = dict(env or {})
        self._inherit = inherit_environment
        self._secret_name = secret_name
        self._sandbox_config = sandbox_config
        self._log = log
        with _instance_lock:
            self._tag = f"{os.getpid()}_{next(_instance_counter)}"

        overrides = dict(parameter_overrides or {})
        self.api_auth: AuthMode = self._choose_api_auth(api_auth, overrides)
        self.allow_unsigned = allow_unsigned
        if API_AUTH_PARAMETER in self.template.parameters:
            # The template's own ApiAuth must agree, so conditions and env derived from it match.
            overrides[API_AUTH_PARAMETER] = self.api_auth
        self._parameter_overrides = overrides
        self.template.parameter_values(overrides)  # fail now on a bad or unknown parameter

        self._sinch_url = sinch_base_url.rstrip("/") if sinch_base_url else None
        self._sinch_credentials = self._choose_credentials(sinch_application_key, sinch_application_secret)

        self._emulator: AwsEmulator | None = None
        self._sandbox: SandboxServer | None = None
        self._front: Front | None = None
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._routes: list[Route] = []
        self._tables: dict[str, str] = {}  # logical id -> table name
        self._secrets: dict[str, str] = {}  # logical id -> secret ARN
        self._table_specs: list[TableSpec] = []
        self._secret_specs: list[SecretSpec] = []
        self._sinch_secret_id: str | None = None
        self._resolver: Resolver | None = None

        if step_functions and aws_endpoint_url is not None:
            raise LocalStackError(
                "step_functions needs the in-process AWS emulator (its Lambda tasks are run in this process)"
            )
        self._step_functions_wanted = step_functions
        self._definition_substitutions = dict(definition_substitutions or {})
        self._step_functions: LocalStepFunctions | None = None
        self._state_machines: dict[str, str] = {}  # logical id -> state machine ARN
        self._event_buses: dict[str, bool] = {}  # bus name -> whether this stack created it

    # -- configuration ---------------------------------------------------------------------------

    def _choose_api_auth(self, api_auth: str | None, overrides: Mapping[str, str]) -> AuthMode:
        try:
            if api_auth is not None:
                return parse_auth_mode(api_auth)
            if API_AUTH_PARAMETER in overrides:
                return parse_auth_mode(overrides[API_AUTH_PARAMETER])
            spec = self.template.parameters.get(API_AUTH_PARAMETER)
            # A template without an ApiAuth parameter has no authorizer to simulate.
            return parse_auth_mode(spec.default or "NONE") if spec is not None else "NONE"
        except ValueError as error:
            raise LocalStackError(str(error)) from None

    def _choose_credentials(self, key: str | None, secret: str | None) -> tuple[str, str] | None:
        if self._sinch_url is None:
            return None  # the sandbox's, known once it runs
        if key and secret:
            return key, secret
        if (urlsplit(self._sinch_url).hostname or "") in _LOOPBACK_HOSTS:
            from sinch_sandbox import SandboxConfig  # only needed for a local Sinch

            defaults = self._sandbox_config or SandboxConfig()
            return key or defaults.application_key, secret or defaults.application_secret
        raise LocalStackError(
            "SINCH_BASE_URL points at a real Sinch: "
            "set SINCH_APPLICATION_KEY and SINCH_APPLICATION_SECRET too"
        )

    # -- life cycle --------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start the emulator, the sandbox and the API. ListenError (an OSError naming the server and
        its port) if one cannot listen; every port is tried before anything slow starts."""
        if self._emulator is not None:
            raise RuntimeError("the local stack is already running")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _listeners(self) -> dict[str, int]:
        # The servers this stack starts, with the ports asked for (0: any free port).
        wanted = {"api": self._ports["api"]}
        if self._sinch_url is None:
            wanted["sandbox"] = self._ports["sandbox"]
        if self._external_aws is None:
            wanted["aws"] = self._ports["aws"]
        return wanted

    def _start(self) -> None:
        for server, port in self._listeners().items():
            if port:
                _probe(server, self.host, port)
        base = self.template.resolver(
            parameter_overrides=self._parameter_overrides,
            region=self.region,
            account_id=self.account_id,
            stack_name=self.stack_name,
            forced_conditions=self.template.conditions_of(
                "AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable", "AWS::SecretsManager::Secret"
            ),
        )
        with _listening("aws", self.host, self._ports["aws"]):
            self._emulator = AwsEmulator(
                host=self.host, port=self._ports["aws"], region=self.region, external_url=self._external_aws
            ).start()
        if self._sinch_url is None:
            from sinch_sandbox import SandboxConfig, SandboxServer  # the sandbox only when it runs

            config = self._sandbox_config or SandboxConfig()
            with _listening("sandbox", self.host, self._ports["sandbox"]):
                self._sandbox = SandboxServer(config, host=self.host, port=self._ports["sandbox"]).start()
            self._sinch_credentials = (config.application_key, config.application_secret)

        self._table_specs = self.template.tables(base)
        self._secret_specs = self.template.secrets(base)
        refs, attributes = self._create_resources()
        self._resolver = base.with_resources(refs, attributes)

        functions = self.template.functions(self._resolver)
        self._routes = self.template.routes(self._resolver)
        self._build_runtimes(functions, owned_values=set(refs.values()))
        self._create_event_buses()
        if self._step_functions_wanted:
            self._start_step_functions()

        gateway = Gateway(
            self._routes,
            self._invoke_for_gateway,
            AuthorizerSimulator(self.api_auth, allow_unsigned=self.allow_unsigned),
            account_id=self.account_id,
            log=self._log,
            base_path=self._base_path,
        )
        with _listening("api", self.host, self._ports["api"]):
            self._front = Front(gateway, host=self.host, port=self._ports["api"], log=self._log).start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the API, the sandbox and the emulator; put os.environ back as it was.

        Bounded: requests still running get ``timeout`` seconds (their clients are disconnected at
        once), then finish on their own daemon threads.
        """
        step_functions, self._step_functions = self._step_functions, None
        if step_functions is not None:
            step_functions.stop()  # first: running executions would still invoke the handlers
        self._state_machines = {}
        front, self._front = self._front, None
        if front is not None:
            front.close()  # no new requests; the clients of running ones are disconnected
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            # Before waiting for the API's requests: one waiting on the sandbox (a delay fault) now
            # fails at once, as a Sinch that hung up would make it.
            sandbox.stop(timeout)
        if front is not None:
            front.join(timeout)
        for runtime in self._runtimes.values():
            runtime.unload()
        self._runtimes = {}
        emulator, self._emulator = self._emulator, None
        if emulator is not None:
            # Other stacks in this process share moto's memory: leave no table or secret behind.
            for name in self._tables.values():
                emulator.delete_table(name)
            for arn in self._secrets.values():
                emulator.delete_secret(arn)
            for bus, created in self._event_buses.items():
                if created:
                    emulator.delete_event_bus(bus)
            emulator.stop(timeout)
        self._tables = {}
        self._secrets = {}
        self._event_buses = {}

    # -- resources -----------------------------------------------------------------------------

    def _suffix(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(12))

    def _create_resources(self) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        emulator = self._require_emulator()
        refs: dict[str, str] = {}
        attributes: dict[tuple[str, str], str] = {}
        for spec in self._table_specs:
            name = spec.table_name or f"{self.stack_name}-{spec.logical_id}"
            if emulator.table_exists(name):
                name = f"{name}-{self._suffix()}"  # CloudFormation-style suffix: another stack has it
            arn = emulator.create_table(spec, name)
            self._tables[spec.logical_id] = name
            refs[spec.logical_id] = name
            attributes[(spec.logical_id, "Arn")] = arn
        sinch = _sinch_secret(self._secret_specs)
        for secret in self._secret_specs:
            default = self._secret_name if secret is sinch else f"{self.stack_name}/{secret.logical_id}"
            name = secret.name or default
            if emulator.secret_exists(name):
                name = f"{name}-{self._suffix()}"
            value = secret_value(secret, credentials=self._sinch_credentials if secret is sinch else None)
            arn = emulator.create_secret(name, value)
            self._secrets[secret.logical_id] = arn
            refs[secret.logical_id] = arn
            attributes[(secret.logical_id, "Id")] = arn
            if secret is sinch:
                self._sinch_secret_id = arn
        return refs, attributes

    def reset_resources(self) -> None:
        """Empty the table(s) and restore the secret(s): a fresh start for the next test.

        The tables are deleted and created again from the template; items do not survive.
        """
        emulator = self._require_emulator()
        for spec in self._table_specs:
            name = self._tables[spec.logical_id]
            emulator.delete_table(name)
            emulator.create_table(spec, name)
        sinch = _sinch_secret(self._secret_specs)
        for secret in self._secret_specs:
            value = secret_value(secret, credentials=self._sinch_credentials if secret is sinch else None)
            emulator.secretsmanager().put_secret_value(
                SecretId=self._secrets[secret.logical_id], SecretString=value
            )

    # -- functions -----------------------------------------------------------------------------

    def _local_variables(self, spec: FunctionSpec, function_name: str) -> dict[str, str]:
        emulator = self._require_emulator()
        variables = {
            # What the Lambda service sets in every execution environment.
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(spec.code_dir or ""),
            # The local replacements for AWS itself: the emulator and credentials it accepts.
            "AWS_ENDPOINT_URL": emulator.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": DUMMY_CREDENTIALS["aws_session_token"],
            # A developer's ~/.aws profile must not redirect the functions (Lambda has none either).
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POWERTOOLS_TRACE_DISABLED": "1",
        }
        if spec.log_format.upper() == "JSON":
            # Lambda's advanced logging controls; Powertools' Logger follows AWS_LAMBDA_LOG_LEVEL.
            variables["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            variables["AWS_LAMBDA_LOG_LEVEL"] = (spec.application_log_level or "INFO").upper()
        return variables

    def _unset_variables(self) -> list[str]:
        # Variables that would send boto3 somewhere else than the emulator, or to a profile.
        names = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]
        names += [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
        return names

    def _build_runtimes(self, functions: Mapping[str, FunctionSpec], *, owned_values: set[str]) -> None:
        unset = self._unset_variables()
        environments: dict[str, dict[str, str]] = {}
        names: dict[str, str] = {}
        for logical_id, spec in functions.items():
            name = spec.function_name or f"{self.stack_name}-{logical_id}"
            names[logical_id] = name
            environment = dict(spec.environment)
            if self._inherit:
                # The shell may override a template variable, but never one naming a local resource.
                for key, value in spec.environment.items():
                    if key in os.environ and value not in owned_values:
                        environment[key] = os.environ[key]
            environment.update(self._local_variables(spec, name))
            if self.sinch_base_url is not None:
                # Always set: a template without it would leave the functions on Sinch's real default.
                environment["SINCH_BASE_URL"] = self.sinch_base_url
            environment.setdefault("POWERTOOLS_METRICS_NAMESPACE", "PhoneVerificationLocal")
            environment.update(self._env_overrides)
            environments[logical_id] = environment
        for logical_id, spec in functions.items():
            self._runtimes[logical_id] = FunctionRuntime(
                spec,
                function_name=names[logical_id],
                environment=environments[logical_id],
                unset=unset,
                region=self.region,
                account_id=self.account_id,
                module_tag=self._tag,
            )

    def _create_event_buses(self) -> None:
        """The bus each function puts lifecycle events on (EVENT_BUS_NAME, however it was set), on the
        emulator; moto, like every AWS account, already has ``default``."""
        emulator = self._require_emulator()
        for runtime in self._runtimes.values():
            bus = event_bus_name(runtime.environment.get("EVENT_BUS_NAME", ""))
            if bus and bus not in self._event_buses:
                self._event_buses[bus] = emulator.ensure_event_bus(bus)

    def _invoke_for_gateway(self, function_id: str, event: Any, request_id: str) -> Any:
        return self._runtime(function_id).invoke(event, aws_request_id=request_id)

    def _runtime(self, function_id: str) -> FunctionRuntime:
        if not self._runtimes:
            raise RuntimeError("the local stack is not running")
        try:
            return self._runtimes[function_id]
        except KeyError:
            known = ", ".join(sorted(self._runtimes))
            raise KeyError(f"no function {function_id!r} in the template (functions: {known})") from None

    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Invoke a function directly (lambda:Invoke, Step Functions): the event in, the result out.

        The handler's exception propagates unchanged: its class name is the error name Step
        Functions' Retry/Catch would see.
        """
        return self._runtime(function_logical_id).invoke(event)

    def function_arn(self, function_logical_id: str) -> str:
        """The function's ARN as the local stack names it (what a state machine's FunctionName gives)."""
        return self._runtime(function_logical_id).arn

    def function_environment(self, function_logical_id: str) -> dict[str, str]:
        """The environment the function runs with (template, local endpoints, overrides)."""
        return dict(self._runtime(function_logical_id).environment)

    # -- Step Functions --------------------------------------------------------------------------

    def _start_step_functions(self) -> None:
        assert self._resolver is not None
        emulator = self._require_emulator()
        self._step_functions = LocalStepFunctions(
            endpoint_url=emulator.endpoint_url,
            client=self.stepfunctions,
            invokers={
                runtime.function_name: self._invoker(logical_id)
                for logical_id, runtime in self._runtimes.items()
            },
            role_arn=STATE_MACHINE_ROLE,
            owner=self._tag,
        ).start()
        # The definitions name the functions as deployed: their names and ARNs are known now.
        resolver = self._resolver.with_resources(
            {logical_id: runtime.function_name for logical_id, runtime in self._runtimes.items()},
            {(logical_id, "Arn"): runtime.arn for logical_id, runtime in self._runtimes.items()},
        )
        for spec in self.template.state_machines(resolver):
            self._state_machines[spec.logical_id] = self._step_functions.create(
                spec.name or f"{self.stack_name}-{spec.logical_id}",
                spec.definition,
                substitutions={**spec.substitutions, **self._definition_substitutions},
                machine_type=spec.machine_type,
            )

    def _invoker(self, function_id: str) -> Callable[[Any], Any]:
        return lambda event: self.invoke(function_id, event)

    def _require_step_functions(self) -> LocalStepFunctions:
        if self._step_functions is None:
            raise RuntimeError("the local stack is not running with step_functions=True")
        return self._step_functions

    @property
    def state_machine_arns(self) -> dict[str, str]:
        """The template's state machines as created in the emulator: logical id -> ARN."""
        return dict(self._state_machines)

    def create_state_machine(
        self,
        definition: str | Path,
        *,
        name: str,
        substitutions: Mapping[str, str] | None = None,
        machine_type: str = "STANDARD",
    ) -> str:
        """Create a state machine from a definition file (or its JSON text), ``${Name}`` placeholders
        filled from ``substitutions``; its Lambda tasks run this stack's handlers. Returns its ARN."""
        text = definition.read_text(encoding="utf-8") if isinstance(definition, Path) else definition
        return self._require_step_functions().create(
            name, text, substitutions=substitutions, machine_type=machine_type
        )

    def wait_for_execution(self, execution_arn: str, timeout: float = 10.0) -> DescribeExecutionOutputTypeDef:
        """DescribeExecution until the execution has ended, or ``timeout`` seconds have passed (then
        its status is still RUNNING)."""
        return self._require_step_functions().wait(execution_arn, timeout)

    # -- what tests and the CLI read -------------------------------------------------------------

    def _require_emulator(self) -> AwsEmulator:
        if self._emulator is None:
            raise RuntimeError("the local stack is not running")
        return self._emulator

    @property
    def api_url(self) -> str:
        if self._front is None:
            raise RuntimeError("the local stack is not running")
        return self._front.url

    @property
    def aws_endpoint_url(self) -> str:
        return self._require_emulator().endpoint_url

    @property
    def sandbox(self) -> SandboxServer | None:
        return self._sandbox

    @property
    def sinch_base_url(self) -> str | None:
        if self._sandbox is not None:
            return self._sandbox.url
        return self._sinch_url

    @property
    def table_names(self) -> dict[str, str]:
        return dict(self._tables)

    @property
    def table_name(self) -> str:
        if not self._tables:
            raise LocalStackError("the template defines no DynamoDB table")
        return next(iter(self._tables.values()))

    @property
    def secret_arns(self) -> dict[str, str]:
        return dict(self._secrets)

    @property
    def secret_id(self) -> str:
        """The ARN of the secret holding the Sinch credentials."""
        if self._sinch_secret_id is None:
            raise LocalStackError("the template defines no Secrets Manager secret")
        return self._sinch_secret_id

    @property
    def event_buses(self) -> list[str]:
        """The EventBridge buses the functions put lifecycle events on (empty: events are off)."""
        return list(self._event_buses)

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    @property
    def function_ids(self) -> list[str]:
        return sorted(self._runtimes)

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return {logical_id: runtime.spec for logical_id, runtime in self._runtimes.items()}

    def dynamodb(self) -> DynamoDBClient:
        return self._require_emulator().dynamodb()

    def secretsmanager(self) -> SecretsManagerClient:
        return self._require_emulator().secretsmanager()

    def stepfunctions(self) -> SFNClient:
        client: SFNClient = self.client("stepfunctions")
        return client

    def client(self, service: str) -> Any:
        """A boto3 client for any service of the emulator (Step Functions, ...)."""
        return self._require_emulator().client(service)

    def aws_fault(self, operation: str, code: str, *, count: int = 1, body_contains: str = "") -> None:
        """Make the emulator fail the next ``count`` calls of ``operation`` (e.g.
        ``DynamoDB_20120810.PutItem``) whose body contains ``body_contains``, with AWS error ``code``."""
        self._require_emulator().fault(operation, code, count=count, body_contains=body_contains)

    def clear_aws_faults(self) -> None:
        self._require_emulator().clear_faults()


def event_bus_name(value: str) -> str:
    """The bus's name in EVENT_BUS_NAME, which may also be the bus's ARN (``...:event-bus/<name>``)."""
    value = value.strip()
    return value.rsplit("event-bus/", 1)[-1] if value.startswith("arn:") else value


def _sinch_secret(specs: list[SecretSpec]) -> SecretSpec | None:
    # The secret meant for Sinch is the one whose template names applicationKey; else the only one.
    for spec in specs:
        text = (spec.secret_string_template or "") + (spec.secret_string or "")
        if "applicationKey" in text:
            return spec
    return specs[0] if specs else None


__all__ = ["DEFAULT_TEMPLATE", "LocalStack", "LocalStackError", "TemplateError"]
