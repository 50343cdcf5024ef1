"""Step Functions in the local stack: moto runs the state machines, their Lambda tasks run the real handlers.

moto's server speaks the Step Functions API, and with its configuration
``stepfunctions.execute_state_machine`` on it also *executes* state machines, with the ASL interpreter in
``moto.stepfunctions.parser`` (Pass, Choice, Task, Retry/Catch, TimeoutSeconds/TimeoutSecondsPath,
intrinsic functions, and the callback pattern: ``.waitForTaskToken`` with SendTaskSuccess, SendTaskFailure
and SendTaskHeartbeat). The configuration is
switched on through moto's own API (``POST /moto-api/config``) while a stack with Step Functions runs.

A Lambda task in that interpreter calls Lambda's Invoke API on moto, and moto's Lambda runs functions in
Docker. So the one function the interpreter invokes Lambda with,
``moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils._invoke_lambda_function``,
is replaced (once per process, while any stack needs it) by a dispatcher that calls the local stack's
function runtime in this process, the way ``LocalStack.invoke`` does, and answers as Lambda's Invoke API
would: the handler's result as the payload, or ``FunctionError: Unhandled`` with ``errorType`` = the
exception's class name, which is the error name ``Retry``/``Catch`` match. A function no local stack
knows answers ``Lambda.ResourceNotFoundException``. Both Lambda task forms go through it:
``arn:aws:states:::lambda:invoke`` (with or without ``.waitForTaskToken``) and a function ARN as Resource.

Everything else is moto's: the executions' state, history, timeouts and task tokens. Its known
differences from AWS that matter here: SendTaskFailure's ``cause`` is dropped (executions fail with the
error only), a token of a task that has ended answers ``InvalidToken`` (AWS: ``TaskTimedOut``), a retried
task keeps its task token, and an execution needs a name (``StartExecution`` without one is not usable).
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from botocore.exceptions import ClientError

from local_stack.runtime import HandlerLoadError, MarshalError
from local_stack.template import TemplateError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

Invoker = Callable[[Any], Any]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
_CONFIG_TIMEOUT = 5


def substitute(definition: str, substitutions: Mapping[str, str]) -> str:
    """The definition with its ``${Name}`` placeholders replaced, as CloudFormation applies a state
    machine's DefinitionSubstitutions. A placeholder without a value is an error here."""
    missing = sorted({name for name in _PLACEHOLDER.findall(definition) if name not in substitutions})
    if missing:
        raise TemplateError(f"no DefinitionSubstitutions for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], definition)


def function_name_of(function: str) -> str:
    """The function name in any form Lambda's FunctionName accepts (name, ARN, partial ARN, qualified)."""
    if ":function:" in function:
        function = function.split(":function:", 1)[1]
    return function.split(":", 1)[0]


# ------------------------------------------------------------------------------ Lambda tasks, in-process


class _LambdaRoutes:
    """Function name -> invoker, for every local stack in this process that runs Step Functions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, tuple[str, Invoker]] = {}
        self._original: Any = None

    def add(self, owner: str, invokers: Mapping[str, Invoker]) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        with self._lock:
            taken = sorted(name for name in invokers if name in self._routes)
            if taken:
                raise RuntimeError(
                    f"another local stack in this process already runs function(s) {', '.join(taken)} "
                    "for Step Functions; give this stack another stack_name"
                )
            for name, invoker in invokers.items():
                self._routes[name] = (owner, invoker)
            if self._original is None:
                self._original = lambda_eval_utils._invoke_lambda_function
                lambda_eval_utils._invoke_lambda_function = self._invoke

    def remove(self, owner: str) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        with self._lock:
            self._routes = {name: route for name, route in self._routes.items() if route[0] != owner}
            if not self._routes and self._original is not None:
                lambda_eval_utils._invoke_lambda_function = self._original
                self._original = None

    def _invoke(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        """What moto's interpreter gets from Lambda's Invoke API (the payload already parsed)."""
        function = str(parameters.get("FunctionName", ""))
        with self._lock:
            route = self._routes.get(function_name_of(function))
        request_id = str(uuid.uuid4())
        if route is None:
            answer: Any = {
                "Error": {"Code": "ResourceNotFoundException", "Message": f"Function not found: {function}"},
                "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": request_id},
            }
            raise ClientError(answer, "Invoke")
        raw = parameters.get("Payload")
        event = json.loads(raw) if raw else {}
        try:
            result = route[1](event)
        except Exception as error:  # every handler failure is a function error in Lambda
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "ExecutedVersion": "$LATEST",
                "Payload": _error_payload(error, request_id),
            }
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": result}


def _error_payload(error: Exception, request_id: str) -> dict[str, Any]:
    """The body the Lambda Python runtime returns for an unhandled exception."""
    if isinstance(error, HandlerLoadError):
        error_type = "Runtime.ImportModuleError"
    elif isinstance(error, MarshalError):
        error_type = "Runtime.MarshalError"
    else:
        error_type = type(error).__name__
    return {
        "errorMessage": str(error),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


_ROUTES = _LambdaRoutes()


class _ExecutionSwitch:
    """moto's ``stepfunctions.execute_state_machine``, on while at least one stack needs it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._before: dict[str, Any] | None = None

    def acquire(self, endpoint_url: str) -> None:
        from moto.core.config import default_user_config

        with self._lock:
            if self._users == 0:
                self._before = dict(default_user_config.get("stepfunctions", {}))
                _set_config(endpoint_url, {**self._before, "execute_state_machine": True})
            self._users += 1

    def release(self, endpoint_url: str) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._before is not None:
                _set_config(endpoint_url, self._before)
                self._before = None


def _set_config(endpoint_url: str, stepfunctions: Mapping[str, Any]) -> None:
    answer = requests.post(
        f"{endpoint_url}/moto-api/config",
        json={"stepfunctions": dict(stepfunctions)},
        timeout=_CONFIG_TIMEOUT,
    )
    answer.raise_for_status()


_EXECUTION = _ExecutionSwitch()


# ------------------------------------------------------------------------------------ one stack's side


class LocalStepFunctions:
    """The state machines of one local stack, executed by moto with their Lambda tasks in-process."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        client: Callable[[], SFNClient],
        invokers: Mapping[str, Invoker],
        role_arn: str,
        owner: str,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._client_factory = client
        self._invokers = dict(invokers)
        self._role_arn = role_arn
        self._owner = owner
        self._client: SFNClient | None = None
        self._created: list[str] = []
        self._running = False

    def start(self) -> LocalStepFunctions:
        _EXECUTION.acquire(self._endpoint_url)
        try:
            _ROUTES.add(self._owner, self._invokers)
        except BaseException:
            _EXECUTION.release(self._endpoint_url)
            raise
        self._running = True
        return self

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def create(
        self,
        name: str,
        definition: str,
        *,
        substitutions: Mapping[str, str] | None = None,
        machine_type: str = "STANDARD",
    ) -> str:
        """Create a state machine from a definition (``${Name}`` placeholders filled in); its ARN."""
        text = substitute(definition, substitutions or {})
        json.loads(text)  # a readable error here rather than moto's parser error
        existing = {machine["name"] for machine in self.client.list_state_machines().get("stateMachines", [])}
        if name in existing:
            name = f"{name[:67]}-{uuid.uuid4().hex[:12]}"  # another stack in this process has it
        arn = self.client.create_state_machine(
            name=name,
            definition=text,
            roleArn=self._role_arn,
            type="EXPRESS" if machine_type.upper() == "EXPRESS" else "STANDARD",
        )["stateMachineArn"]
        self._created.append(arn)
        return arn

    def wait(self, execution_arn: str, timeout: float) -> DescribeExecutionOutputTypeDef:
        """DescribeExecution until the execution is no longer running (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING" or time.monotonic() >= deadline:
                return described
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the running executions of this stack's state machines and delete the machines."""
        if not self._running:
            return
        self._running = False
        try:
            for arn in self._created:
                self._stop_executions(arn)
                self.client.delete_state_machine(stateMachineArn=arn)
        except ClientError:
            pass  # moto.mock_aws elsewhere in the process may have wiped them already
        finally:
            self._created = []
            _ROUTES.remove(self._owner)
            _EXECUTION.release(self._endpoint_url)

    def _stop_executions(self, state_machine_arn: str) -> None:
        paginator = self.client.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING"):
            for execution in page.get("executions", []):
                self.client.stop_execution(executionArn=execution["executionArn"])
