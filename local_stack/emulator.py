"""The AWS side of the local stack: moto's server on loopback HTTP, with the template's table and secret.

The handlers reach it exactly as they reach AWS, through boto3 with ``AWS_ENDPOINT_URL``, so nothing in
the product knows it is local. moto keeps its state in this process's memory: every emulator started in
one process shares it (and ``moto.mock_aws`` resets it), which is why resource names get a suffix when
another stack in the process already uses them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import secrets
import socket
import string
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from mypy_boto3_dynamodb import DynamoDBClient
from mypy_boto3_secretsmanager import SecretsManagerClient

from local_stack.template import SecretSpec, TableSpec

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
_GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
_LSI_KEYS = ("IndexName", "KeySchema", "Projection")
# The listen backlog (werkzeug's is 128): the handlers of a burst of API calls connect at once, and a full
# queue drops their SYNs (a 1 s retransmit each). The kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024


@dataclass
class AwsFault:
    """Answer the next ``count`` requests for ``operation`` (a JSON-protocol target such as
    ``DynamoDB_20120810.PutItem``) whose body contains ``body_contains`` with the error ``code``, as AWS
    answers a throttled or failing call (HTTP 400 for client-side codes, 500 for InternalServerError)."""

    operation: str
    code: str
    count: int = 1
    body_contains: str = ""

    def answer(self) -> tuple[str, bytes]:
        status = "500 Internal Server Error" if self.code.startswith("InternalServer") else "400 Bad Request"
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{self.code}", "message": self.code})
        return status, body.encode()


class _OneRequestAtATime:
    """Serialise the emulator's requests, and answer the ones a fault rule names with its error.

    DynamoDB applies each conditional write atomically, and the product's limits (attempts, starts,
    single-use success) rest on that. moto's server handles requests on parallel threads and does not
    promise the same for one item, so the concurrency tests would prove moto's behaviour rather than
    the product's. One request at a time gives the guarantee DynamoDB gives.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.faults: list[AwsFault] = []

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        with self._lock:
            fault = self._fault_for(environ)
            if fault is not None:
                status, body = fault.answer()
                start_response(status, [("Content-Type", "application/x-amz-json-1.0")])
                return [body]
            return list(self._app(environ, start_response))

    def _fault_for(self, environ: Any) -> AwsFault | None:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        rules = [rule for rule in self.faults if rule.count > 0 and rule.operation == target]
        if not rules:
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # the app reads the body again
        text = body.decode("utf-8", "replace")
        for rule in rules:
            if rule.body_contains in text:
                rule.count -= 1
                return rule
        return None


class AwsEmulator:
    """moto's server (its WSGI app in werkzeug's threaded server) bound to loopback, plus typed clients
    pointed at it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "eu-west-1",
        external_url: str | None = None,
    ) -> None:
        if host != "localhost" and not host.startswith("127."):
            raise ValueError("the AWS emulator binds to loopback only (127.0.0.1)")
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self.region = region
        self._server: Any = None
        self._thread: threading.Thread | None = None
        # An emulator someone else runs (LocalStack in Docker): used as it is, never started or stopped.
        self._external_url = external_url.rstrip("/") if external_url else None

    def start(self) -> AwsEmulator:
        """Listen (OSError, in the caller's thread, if the port is taken) and serve from a daemon thread.

        Not moto's ThreadedMotoServer: it binds inside its own thread, where a port in use ends that
        thread (werkzeug calls sys.exit) while start() waits forever for a server that never comes.
        """
        if self._external_url is not None:
            return self
        if self._server is not None:
            raise RuntimeError("the AWS emulator is already running")
        listener = _listen(self._host, self._port)  # before the slow import: a busy port fails at once
        try:
            server = _moto_server(self._host, listener)
        finally:
            listener.close()  # the server serves a duplicate of it
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="aws-emulator", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            server.server_close()
            raise
        self._server, self._thread = server, thread
        return self

    def fault(self, operation: str, code: str, *, count: int = 1, body_contains: str = "") -> None:
        """Fail the next ``count`` matching requests with AWS error ``code`` (see ``AwsFault``)."""
        if self._server is None:
            raise RuntimeError("faults need the emulator this process runs")
        self._server.app.faults.append(AwsFault(operation, code, count, body_contains))

    def clear_faults(self) -> None:
        if self._server is not None:
            self._server.app.faults.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and serving; returns within about ``timeout`` seconds. Requests still running
        finish on their (daemon) threads; their connections are not waited for."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        if thread is not None and thread.is_alive():
            # shutdown() waits for serve_forever's loop without a timeout; the loop polls every 0.1 s.
            stopper = threading.Thread(target=server.shutdown, name="aws-emulator-stop", daemon=True)
            stopper.start()
            stopper.join(timeout)
            thread.join(timeout)
        server.server_close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the AWS emulator is not running")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        if self._external_url is not None:
            return self._external_url
        return f"http://{self._host}:{self.port}"

    def _config(self) -> Config:
        return Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=10)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` pointed at the emulator, with dummy credentials."""
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=self._config(),
            aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
            aws_session_token=DUMMY_CREDENTIALS["aws_session_token"],
        )

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb")
        return client

    def secretsmanager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self.client("secretsmanager")
        return client

    # -- resources ---------------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        try:
            self.dynamodb().describe_table(TableName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True

    def create_table(self, spec: TableSpec, name: str) -> str:
        """Create the table as CloudFormation would from ``spec``; returns its ARN."""
        client = self.dynamodb()
        arguments: dict[str, Any] = {
            "TableName": name,
            "KeySchema": spec.key_schema,
            "AttributeDefinitions": spec.attribute_definitions,
            "BillingMode": spec.billing_mode,
        }
        on_demand = spec.billing_mode == "PAY_PER_REQUEST"
        if not on_demand:
            arguments["ProvisionedThroughput"] = spec.provisioned_throughput or {
                "ReadCapacityUnits": 5,
                "WriteCapacityUnits": 5,
            }
        if spec.global_secondary_indexes:
            arguments["GlobalSecondaryIndexes"] = [
                _index(index, _GSI_KEYS, drop_throughput=on_demand) for index in spec.global_secondary_indexes
            ]
        if spec.local_secondary_indexes:
            arguments["LocalSecondaryIndexes"] = [
                _index(index, _LSI_KEYS, drop_throughput=True) for index in spec.local_secondary_indexes
            ]
        description = client.create_table(**arguments)["TableDescription"]
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": spec.ttl_attribute, "Enabled": True},
            )
        return description.get("TableArn", "")

    def delete_table(self, name: str) -> None:
        # Already gone is fine: moto.mock_aws elsewhere in the process may have reset everything.
        with contextlib.suppress(ClientError):
            self.dynamodb().delete_table(TableName=name)

    def secret_exists(self, name: str) -> bool:
        try:
            self.secretsmanager().describe_secret(SecretId=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True

    def create_secret(self, name: str, secret_string: str) -> str:
        """Create the secret with its value; returns its ARN."""
        return self.secretsmanager().create_secret(Name=name, SecretString=secret_string)["ARN"]

    def delete_secret(self, secret_id: str) -> None:
        with contextlib.suppress(ClientError):  # already gone, as for tables
            self.secretsmanager().delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)

    def ensure_event_bus(self, name: str) -> bool:
        """Create the EventBridge bus unless it exists (every account has ``default``); True if this call
        created it."""
        if name == "default":
            return False
        client = self.client("events")
        try:
            client.create_event_bus(Name=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceAlreadyExistsException":
                return False  # another stack in this process made it, and removes it
            raise
        return True

    def delete_event_bus(self, name: str) -> None:
        with contextlib.suppress(ClientError):  # already gone, as for tables
            self.client("events").delete_event_bus(Name=name)


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port), as werkzeug would bind it (address
    reuse: a previous run's connections in TIME_WAIT do not block the port) but with a deep backlog."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
    except BaseException:
        listener.close()
        raise
    return listener


def _moto_server(host: str, listener: socket.socket) -> Any:
    """moto's app (requests serialised, faults injectable) in werkzeug's threaded server on ``listener``."""
    # Imported here: moto is large, and only a running emulator needs it.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    werkzeug_log = logging.getLogger("werkzeug")
    if werkzeug_log.level == logging.NOTSET:
        # Werkzeug otherwise logs every DynamoDB call to stderr, drowning the handlers' own logs.
        werkzeug_log.setLevel(logging.WARNING)
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    # With fd, werkzeug neither binds nor listens: it serves a duplicate of the listener as it is.
    port = listener.getsockname()[1]
    return make_server(
        host, port, app, threaded=True, request_handler=MotoRequestHandler, fd=listener.fileno()
    )


def _index(index: dict[str, Any], keys: tuple[str, ...], *, drop_throughput: bool) -> dict[str, Any]:
    # CloudFormation's index properties are the API's plus a few of its own (ContributorInsights...).
    kept = {key: index[key] for key in keys if key in index}
    if drop_throughput:
        kept.pop("ProvisionedThroughput", None)
    return kept


def secret_value(
    spec: SecretSpec,
    *,
    credentials: tuple[str, str] | None,
) -> str:
    """The SecretString CloudFormation would create, with the Sinch credentials the stack uses.

    ``credentials`` (applicationKey, applicationSecret) replace the template's placeholders; the
    GenerateStringKey gets a random value the way Secrets Manager's GenerateSecretString would.
    """
    source = spec.secret_string_template if spec.secret_string_template is not None else spec.secret_string
    document: Any
    try:
        document = json.loads(source) if source is not None else {}
    except ValueError:
        document = None
    if not isinstance(document, dict):
        # Not a JSON object: nothing to fill in, the value is used as the template wrote it.
        return source or ""
    if credentials is not None:
        document["applicationKey"], document["applicationSecret"] = credentials
    if spec.generate_string_key:
        document[spec.generate_string_key] = generate_password(spec)
    return json.dumps(document)


def generate_password(spec: SecretSpec) -> str:
    alphabet = string.ascii_letters + string.digits
    if not spec.exclude_punctuation:
        alphabet += string.punctuation
    alphabet = "".join(ch for ch in alphabet if ch not in spec.exclude_characters) or string.ascii_letters
    return "".join(secrets.choice(alphabet) for _ in range(max(1, spec.password_length)))
