"""Run a function's real handler in this process the way the Lambda Python runtime would.

The handler module is imported from the function's CodeUri by file path under a name unique to the
function and the stack, because every function here is an ``app.py``; the layer's import root is on
``sys.path`` like ``/opt/python``. The event and the result go through JSON exactly as they cross the
Lambda boundary, so a handler that returns something Lambda could not serialise fails here too.

The environment is the hard part of running several functions in one process: ``os.environ`` is
global, and the handlers read it (at import and per call). So a function's variables are applied to
``os.environ`` only while it runs and restored afterwards, through a gate: any number of invocations of
the *same* function run concurrently (as Lambda runs concurrent invocations), while another function
waits until they are done. Nothing leaks into the process between invocations.
"""

from __future__ import annotations

import decimal
import importlib
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from local_stack.template import FunctionSpec

Handler = Callable[[Any, Any], Any]


class HandlerLoadError(Exception):
    """The handler could not be imported (Lambda's Runtime.ImportModuleError / HandlerNotFound)."""


class MarshalError(Exception):
    """The handler returned something that is not JSON (Lambda's Runtime.MarshalError)."""


class LambdaContext:
    """The attributes and method the Lambda Python runtime's context object has."""

    def __init__(
        self,
        *,
        function_name: str,
        memory_mb: int,
        timeout_seconds: int,
        invoked_function_arn: str,
        aws_request_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._deadline_ms = int(clock() * 1000) + timeout_seconds * 1000
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn
        # The real runtime copies this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(self._clock() * 1000))


@contextmanager
def applied_environment(values: Mapping[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
    """Set and remove variables in os.environ, and put back exactly what was there before."""
    saved = {name: os.environ.get(name) for name in (*values, *unset)}
    try:
        os.environ.update(values)
        for name in unset:
            os.environ.pop(name, None)
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


class EnvironmentGate:
    """Holds os.environ for one function at a time; that function's invocations share it.

    A function that is waiting makes new invocations of the running one wait too, so a busy function
    cannot starve another. An invocation must not invoke a *different* function in-process (it would
    wait for itself); Lambda-to-Lambda calls go through the emulator or the local API instead.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._owner: str | None = None
        self._count = 0
        self._waiting = 0
        self._applied: AbstractContextManager[None] | None = None

    @contextmanager
    def hold(self, owner: str, values: Mapping[str, str], unset: Sequence[str]) -> Iterator[None]:
        with self._condition:
            registered = False
            while not (self._owner is None or (self._owner == owner and self._waiting == 0)):
                if not registered:
                    self._waiting += 1
                    registered = True
                self._condition.wait()
            if registered:
                self._waiting -= 1
            if self._count == 0:
                self._owner = owner
                self._applied = applied_environment(values, unset)
                self._applied.__enter__()
            self._count += 1
        try:
            yield
        finally:
            with self._condition:
                self._count -= 1
                if self._count == 0:
                    if self._applied is not None:
                        self._applied.__exit__(None, None, None)
                    self._applied = None
                    self._owner = None
                    self._condition.notify_all()


# One gate for the whole process: os.environ is shared by every stack and every thread.
ENVIRONMENT_GATE = EnvironmentGate()


def _lambda_json(value: Any) -> str:
    # The Python runtime serialises Decimal (what boto3's DynamoDB types give) as a number.
    def default(item: Any) -> Any:
        if isinstance(item, decimal.Decimal):
            return float(item)
        raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")

    return json.dumps(value, default=default)


class FunctionRuntime:
    """One function: its handler loaded once (one cold start per stack), invoked with its environment."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        function_name: str,
        environment: Mapping[str, str],
        unset: Sequence[str],
        region: str,
        account_id: str,
        module_tag: str,
    ) -> None:
        self.spec = spec
        self.function_name = function_name
        self.environment = dict(environment)
        self._unset = tuple(unset)
        self.arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self._module_name = f"_local_stack_{module_tag}_{spec.logical_id}"
        self._handler: Handler | None = None
        self._load_lock = threading.Lock()

    def invoke(self, event: Any, *, aws_request_id: str | None = None) -> Any:
        """Call the handler with a JSON copy of ``event``; exceptions propagate like a function error."""
        payload = json.loads(json.dumps(event))
        with ENVIRONMENT_GATE.hold(self._module_name, self.environment, self._unset):
            handler = self._load()
            context = LambdaContext(
                function_name=self.function_name,
                memory_mb=self.spec.memory_mb,
                timeout_seconds=self.spec.timeout_seconds,
                invoked_function_arn=self.arn,
                aws_request_id=aws_request_id,
            )
            result = handler(payload, context)
        try:
            return json.loads(_lambda_json(result))
        except (TypeError, ValueError) as error:
            raise MarshalError(f"Unable to marshal response: {error}") from None

    def _load(self) -> Handler:
        with self._load_lock:
            if self._handler is None:
                self._handler = self._import()
            return self._handler

    def _import(self) -> Handler:
        spec = self.spec
        module_path, _, attribute = spec.handler.rpartition(".")
        if spec.code_dir is None or not spec.code_dir.is_dir():
            raise HandlerLoadError(f"{spec.logical_id}: CodeUri {spec.code_dir} is not a local folder")
        # Layer roots stay on sys.path for the life of the process, as /opt/python does in Lambda:
        # other stacks in this process (and the layer's own lazy imports) rely on them.
        for layer in spec.layer_dirs:
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        importlib.invalidate_caches()
        code_dir = str(spec.code_dir)
        before = set(sys.modules)
        sys.path.insert(0, code_dir)
        try:
            module = self._import_module(spec.code_dir, module_path)
        except HandlerLoadError:
            raise
        except Exception as error:
            raise HandlerLoadError(
                f"Unable to import module '{module_path}' of {spec.logical_id}: {error!r}"
            ) from error
        finally:
            sys.path.remove(code_dir)
            self._forget_siblings(before, spec.code_dir)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise HandlerLoadError(f"Handler '{attribute}' missing on module '{module_path}'")
        return handler  # type: ignore[no-any-return]

    def _import_module(self, code_dir: Path, module_path: str) -> ModuleType:
        file = code_dir / f"{module_path}.py"
        if "." in module_path or not file.is_file():
            # A handler inside a package keeps its real name: relative imports need the package.
            return importlib.import_module(module_path)
        module_spec = importlib.util.spec_from_file_location(self._module_name, file)
        if module_spec is None or module_spec.loader is None:
            raise HandlerLoadError(f"cannot load {file}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[self._module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(self._module_name, None)
            raise
        return module

    def _forget_siblings(self, before: set[str], code_dir: Path) -> None:
        # Helper modules next to app.py (same names in every function) must not be shared between
        # functions: drop them from sys.modules once the handler module holds its own references.
        for name in set(sys.modules) - before:
            if name == self._module_name:
                continue
            file = getattr(sys.modules.get(name), "__file__", None)
            if file and Path(file).resolve().is_relative_to(code_dir):
                del sys.modules[name]

    def unload(self) -> None:
        """Forget the loaded handler: the next stack in this process gets its own cold start."""
        with self._load_lock:
            self._handler = None
            sys.modules.pop(self._module_name, None)
