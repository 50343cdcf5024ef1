"""``python -m local_stack.invoke`` (``make invoke``), and what ``sam local invoke`` gives the functions.

The command runs as a subprocess, as ``make invoke`` runs it: once with a stack of its own (which it must
stop: no listener left), and against a running local stack (a ``LocalStack`` on free ports here, found the
way ``make run``'s is), where every file in events/ goes through its function.

``sam local invoke`` needs Docker, which the tests do not have; SAM CLI's own code (in .venv-sam) runs the
documented command line up to the point where it would create the container, with a stand-in for the
Docker client that records what SAM CLI asks Docker for: the container's environment (template.yaml +
events/env.json + --region and the shell's credentials), its extra hosts and its network.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from local_stack import LocalStack
from local_stack.__main__ import DEFAULT_PORTS
from local_stack.stack import DEFAULT_SECRET_NAME, DEFAULT_STACK_NAME
from tests.integration.conftest import Deployment, bind_runtime, launch, refresh

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
START = "StartVerificationFunction"
REPORT = "ReportVerificationFunction"
RUNNING = "pv-invoke-running"  # the running stack's name: its table and secret are named after it
TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def invoke(*arguments: str, ports: Mapping[str, int], **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m local_stack.invoke`` as make invoke runs it, looking for a stack on ``ports``."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SINCH_", "SANDBOX_", "API_", "AWS_"))
        and name != "MIN_SECONDS_BETWEEN_STARTS"
    }
    environ.update(
        PYTHONPATH=f"{REPO / 'layers' / 'phone_verification'}{os.pathsep}{REPO}",
        PYTHONDONTWRITEBYTECODE="1",
        **{name: str(port) for name, port in ports.items()},
        **env,
    )
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "local_stack.invoke", *arguments],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def nowhere() -> dict[str, int]:
    """Ports nothing listens on: no running stack to find."""
    return {name: free_port() for name in DEFAULT_PORTS}


def body(result: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(result["body"]) if "statusCode" in result else result
    return answer


# ----------------------------------------------------------------------------------- a stack of its own


def test_one_event_on_a_stack_of_its_own_which_it_stops() -> None:
    done = invoke(START, "events/start-sms.json", ports=nowhere())
    assert done.returncode == 0, done.stderr
    # stdout is the handler's return value only, as sam local invoke prints it; the logs go to stderr.
    result = json.loads(done.stdout)
    assert result["statusCode"] == 201
    assert body(result)["status"] == "PENDING"
    assert '"verification started"' in done.stderr
    own = re.search(r"emulator (\S+), Sinch sandbox (\S+), API (\S+)", done.stderr)
    assert own is not None, done.stderr
    assert all(refused(port_of(url)) for url in own.groups()), own.groups()


# ----------------------------------------------------------------------------------- a running stack


@pytest.fixture(scope="module")
def running() -> Iterator[Deployment]:
    """A stack as ``make run`` serves one, under a name of its own (conftest's launch: the names in this
    process's shared moto memory stay unique); the subprocess finds it by its ports and ``--stack-name``."""
    yield from launch(RUNNING.removeprefix("pv-"))


@pytest.fixture
def fresh(running: Deployment) -> LocalStack:
    refresh(running)
    return running.stack


def ports_of(stack: LocalStack) -> dict[str, int]:
    assert stack.sinch_base_url is not None
    return {
        "API_PORT": port_of(stack.api_url),
        "SANDBOX_PORT": port_of(stack.sinch_base_url),
        "AWS_EMULATOR_PORT": port_of(stack.aws_endpoint_url),
    }


def resources(stack: LocalStack) -> list[str]:
    secrets = stack.secretsmanager().list_secrets()["SecretList"]
    return sorted(stack.dynamodb().list_tables()["TableNames"] + [secret["ARN"] for secret in secrets])


def test_one_event_against_the_running_stack(fresh: LocalStack) -> None:
    before = resources(fresh)
    done = invoke(START, "events/start-sms-rest-v1.json", "--stack-name", RUNNING, ports=ports_of(fresh))
    assert done.returncode == 0, done.stderr
    assert f"the local stack at {fresh.aws_endpoint_url}" in done.stderr
    verification = body(json.loads(done.stdout))["id"]
    # The verification is the running stack's: its table holds it, its sandbox's phone got the SMS.
    bind_runtime(fresh)
    status = json.loads(
        (EVENTS / "status.json").read_text().replace("REPLACE-WITH-VERIFICATION-ID", verification)
    )
    assert body(fresh.invoke(REPORT, status))["status"] == "PENDING"
    assert fresh.sandbox is not None
    assert len(fresh.sandbox.inbox("+46700000007")["messages"]) == 1
    # The invocation used the running stack's table and secret: it created (and deleted) none of its own.
    assert resources(fresh) == before


# What each file must answer, written out here rather than read from local_stack.invoke.PLAN.
EXPECTED = {
    "start-sms.json": (201, "PENDING", "sms"),
    "start-flashcall.json": (201, "PENDING", "flashcall"),
    "start-sms-custom-code.json": (201, "PENDING", "sms"),
    "start-callout.json": (201, "PENDING", "callout"),
    "start-whatsapp.json": (201, "PENDING", "whatsapp"),
    "start-with-idempotency-key.json": (201, "PENDING", "sms"),
    "start-sms-rest-v1.json": (201, "PENDING", "sms"),
    "start-direct.json": (None, "PENDING", "sms"),
    "start-sms-then-callout.json": (201, "PENDING", "sms"),
    "status.json": (200, "PENDING", "sms"),
    "report-by-id.json": (200, "SUCCESSFUL", "sms"),
    "report-by-number.json": (200, "SUCCESSFUL", "sms"),
    "report-flashcall.json": (200, "SUCCESSFUL", "flashcall"),
    "report-direct.json": (None, "SUCCESSFUL", "sms"),
    "cancel.json": (200, "CANCELLED", "whatsapp"),
    "next.json": (200, "PENDING", "callout"),
    "next-direct.json": (None, "PENDING", "callout"),
    "cancel-direct.json": (None, "CANCELLED", "callout"),
}


def runs(stdout: str) -> list[tuple[str, dict[str, Any], str]]:
    """(file name, result, verdict line) for each ``== events/<file> -> <function>`` block."""
    blocks = re.findall(r"^== events/(\S+) -> \S+.*\n(.*)\n(.*)$", stdout, flags=re.MULTILINE)
    return [(name, json.loads(result), verdict) for name, result, verdict in blocks]


def test_every_event_file_through_its_function_on_the_running_stack(fresh: LocalStack) -> None:
    # The stack's own MIN_SECONDS_BETWEEN_STARTS would make the next events wait 30 s; as in test_events.py
    # the functions run with 0 (the invocations run in the subprocess, with its environment).
    done = invoke("all", "--stack-name", RUNNING, ports=ports_of(fresh), MIN_SECONDS_BETWEEN_STARTS="0")
    assert done.returncode == 0, done.stdout + done.stderr
    results = runs(done.stdout)
    files = {p.name for p in EVENTS.glob("*.json") if not p.name.startswith("env")}
    assert {name for name, _, _ in results} == files == set(EXPECTED)
    ids: dict[str, list[str]] = {}
    for name, result, verdict in results:
        status_code, status, method = EXPECTED[name]
        assert verdict.startswith("ok: "), (name, verdict)
        assert result.get("statusCode") == status_code, (name, result)
        answer = body(result)
        assert (answer["status"], answer["method"]) == (status, method), (name, answer)
        ids.setdefault(name, []).append(answer["id"])
    # The events acting on a verification acted on the one their start started (start-direct.json runs
    # twice: direct events act only on directly started verifications, and one cannot be both reported
    # and cancelled).
    assert ids["status.json"] == ids["report-by-number.json"] == ids["start-sms.json"]
    assert ids["report-by-id.json"] == ids["start-sms-custom-code.json"]
    assert ids["report-flashcall.json"] == ids["start-flashcall.json"]
    assert ids["cancel.json"] == ids["start-whatsapp.json"]
    assert ids["next.json"] == ids["start-sms-then-callout.json"]
    first_direct, second_direct = ids["start-direct.json"]
    assert ids["report-direct.json"] == [first_direct]
    assert ids["next-direct.json"] == ids["cancel-direct.json"] == [second_direct]
    assert done.stdout.rstrip().endswith(f"{len(results)} invocations of {len(files)} event files: all ok")
    # They ran on the running stack: its sandbox's phone got every send.
    assert fresh.sandbox is not None
    assert len(fresh.sandbox.inbox("+46700000011")["calls"]) == 1  # next.json's callout


def test_an_unhandled_exception_prints_lambdas_error_object(fresh: LocalStack) -> None:
    # A direct report whose id is still the placeholder: the handler raises, as it would in Lambda.
    done = invoke(REPORT, "events/report-direct.json", "--stack-name", RUNNING, ports=ports_of(fresh))
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)
    assert error["errorType"] == "VerificationNotFound"
    assert error["errorMessage"]
    assert isinstance(error["stackTrace"], list)
    assert "Traceback" in done.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("NoSuchFunction", "events/start-sms.json"), "no function 'NoSuchFunction' in the template"),
        ((START, "events/no-such-event.json"), "no event file events/no-such-event.json"),
        (("events/no-such-event.json",), "no event file events/no-such-event.json"),
        (("NoSuchFunction", "all"), "no function 'NoSuchFunction' in the template"),
        (("template.yaml",), "which function is template.yaml for?"),
    ],
)
def test_usage_errors_exit_2_before_any_stack(arguments: tuple[str, ...], message: str) -> None:
    done = invoke(*arguments, ports=nowhere())
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stdout == ""
    assert "stack of its own" not in done.stderr


# ----------------------------------------------------------------------------------- sam local invoke

SAM_PYTHON = REPO / ".venv-sam" / "bin" / "python"

# SAM CLI's `sam local invoke` up to the Docker API call that creates the container: the Docker client and
# the image build are stood in for, the STS call SAM CLI makes for the account id is skipped (no
# network), and the arguments SAM CLI gives docker-py's containers.create are printed instead.
SAM_PROBE = """
import json, os, sys

from samcli.commands.local.cli_common.invoke_context import InvokeContext
from samcli.local.docker import manager
from samcli.local.docker.container import Container
from samcli.local.docker.container_client_factory import ContainerClientFactory
from samcli.local.docker.lambda_image import LambdaImage


class Containers:
    def create(self, image, **kwargs):
        kwargs.pop("volumes", None)
        sys.__stdout__.write("CONTAINER " + json.dumps(kwargs, default=str) + "\\n")
        sys.__stdout__.flush()
        os._exit(0)


class Networks:
    def get(self, name):
        raise SystemExit(f"SAM CLI looked up the Docker network {name!r}")


class Events:
    def __iter__(self):
        return iter(())

    def close(self):
        pass


class Client:
    containers = Containers()
    networks = Networks()

    def events(self, **kwargs):
        return Events()


def create(self, container, context):
    container.network_id = self.docker_network_id  # what ContainerManager.create does before Container.create
    container._validated_docker_client = Client()
    Container.create(container, context)


ContainerClientFactory.create_client = staticmethod(lambda: Client())  # every Docker client SAM CLI makes
manager.ContainerManager.create = create
LambdaImage.build = lambda self, *args, **kwargs: "samcli/lambda-probe:latest"
LambdaImage.get_config = lambda self, tag: {}
InvokeContext._add_account_id_to_global = lambda self: None

from samcli.cli.main import cli

sys.argv = ["sam", "local", "invoke", *sys.argv[1:]]
cli(prog_name="sam")
"""

needs_sam = pytest.mark.skipif(
    not SAM_PYTHON.is_file(),
    reason="SAM CLI's venv (.venv-sam) is missing: make sam-venv (make test builds it)",
)


def sam_container(tmp_path: Path, *arguments: str, **shell: str) -> dict[str, Any]:
    """What `sam local invoke <arguments>` (run in the repository, with ``shell`` as its environment's AWS
    part) would ask Docker to create."""
    probe = tmp_path / "sam_probe.py"
    probe.write_text(SAM_PROBE)
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no ~/.aws, no ~/.aws-sam of the developer's
        "SAM_CLI_TELEMETRY": "0",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        **shell,
    }
    done = subprocess.run(  # noqa: S603 - SAM CLI's interpreter, fixed arguments
        [str(SAM_PYTHON), str(probe), *arguments],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("CONTAINER ")]
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines, done.stdout + done.stderr
    created: dict[str, Any] = json.loads(lines[-1].removeprefix("CONTAINER "))
    return created


# The documented commands (README, "Local development"). -t template.yaml: the source template, whose
# environment `sam build` copies unchanged into .aws-sam/build/template.yaml (which sam uses by default).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
EVENT_FOR = {START: "events/start-sms.json", REPORT: "events/status.json"}


def documented(function: str, *extra: str) -> tuple[str, ...]:
    return (
        function,
        "-t",
        "template.yaml",
        "-e",
        EVENT_FOR[function],
        "-n",
        "events/env.json",
        "--region",
        "eu-west-1",
        *extra,
    )


def assert_points_at_make_run(environment: Mapping[str, str], function: str) -> None:
    # The region, and the credentials, of the shell; the table, secret and endpoints of make run's stack.
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert (environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert environment["TABLE_NAME"] == f"{DEFAULT_STACK_NAME}-VerificationTable"
    assert environment["SINCH_SECRET_ARN"] == DEFAULT_SECRET_NAME
    assert (
        environment["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{DEFAULT_PORTS['AWS_EMULATOR_PORT']}"
    )
    assert environment["SINCH_BASE_URL"] == f"http://host.docker.internal:{DEFAULT_PORTS['SANDBOX_PORT']}"
    # Every value events/env.json sets reaches the container: SAM CLI drops the ones the template does not
    # declare, so a file naming an undeclared variable would silently not apply.
    for name, value in json.loads((EVENTS / "env.json").read_text())[function].items():
        assert environment.get(name) == value, name


@needs_sam
@pytest.mark.parametrize("function", [START, REPORT])
def test_sam_local_invoke_on_docker_desktop(tmp_path: Path, function: str) -> None:
    created = sam_container(tmp_path, *documented(function), **CREDENTIALS)
    assert_points_at_make_run(created["environment"], function)


@needs_sam
def test_sam_local_invoke_on_linux(tmp_path: Path) -> None:
    created = sam_container(
        tmp_path, *documented(START, "--add-host", "host.docker.internal:host-gateway"), **CREDENTIALS
    )
    assert_points_at_make_run(created["environment"], START)
    # Docker resolves host-gateway to the default bridge's gateway: the host, as the container sees it.
    assert created["extra_hosts"] == {"host.docker.internal": "host-gateway"}
    assert "network_mode" not in created


@needs_sam
def test_what_sam_cli_ignores(tmp_path: Path) -> None:
    """Why the commands are what they are: SAM CLI takes the region and credentials from --region (or
    AWS_DEFAULT_REGION) and the shell, never from the env file (its AWS_* keys are not declared in the
    template), and reads no AWS_REGION; --docker-network host does not give the container the host's
    network (SAM CLI 1.170 creates it on the default bridge and skips connecting it to "host")."""
    old = tmp_path / "env-with-aws-keys.json"
    values = json.loads((EVENTS / "env.json").read_text())
    for function in values.values():
        function.update(AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1", AWS_ACCESS_KEY_ID="from-file")
    old.write_text(json.dumps(values))
    created = sam_container(
        tmp_path,
        START,
        "-t",
        "template.yaml",
        "-e",
        EVENT_FOR[START],
        "-n",
        str(old),
        "--docker-network",
        "host",
        AWS_REGION="eu-west-1",
        **CREDENTIALS,
    )
    environment = created["environment"]
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environment["AWS_ACCESS_KEY_ID"] == "testing"
    assert "network_mode" not in created
    assert "network" not in created
