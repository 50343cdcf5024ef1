"""The interpreters the benchmark runs its child processes with, and the virtual environments behind them.

- **ours** and the **floor** run on the same interpreter: the project's ``.venv`` by default, or
  ``BENCH_PYTHON`` (e.g. ``python3.13``), for which ``.venv-bench-<X.Y>`` is created from the layer's
  requirements plus the pinned boto3 (what the Lambda runtime provides) and the X-Ray SDK pinned as in
  ``requirements-bench.txt`` (the layer gets it through Powertools' ``[tracer]`` extra; the floor with
  tracing on imports it too).
- the **peer** runs in ``.venv-peer`` (``.venv-peer-<X.Y>`` for ``BENCH_PYTHON``), built from
  ``requirements-bench.txt`` with the same base interpreter.

A venv is (re)built when its marker does not match the requirement files' hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYER_REQUIREMENTS = REPO / "layers" / "phone_verification" / "requirements.txt"
DEV_REQUIREMENTS = REPO / "requirements-dev.txt"
PEER_REQUIREMENTS = REPO / "requirements-bench.txt"
MARKER = ".bench-installed"


class SetupError(Exception):
    """An interpreter or virtual environment the benchmark needs is not usable."""


@dataclass(frozen=True)
class Interpreter:
    python: Path
    version: str  # "3.11.7"
    description: str  # sys.version on one line

    @property
    def short(self) -> str:
        return ".".join(self.version.split(".")[:2])


def probe(python: str | Path) -> Interpreter:
    try:
        completed = subprocess.run(  # noqa: S603 - an interpreter the user named
            [
                str(python),
                "-E",
                "-c",
                "import sys, platform; print(platform.python_version()); print(sys.version)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SetupError(f"cannot run {python}: {error}") from None
    version, description = completed.stdout.splitlines()[:2]
    return Interpreter(Path(python), version, " ".join(description.split()))


def _requirements_hash(*files: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _boto3_pin() -> str:
    for line in DEV_REQUIREMENTS.read_text().splitlines():
        if line.strip().startswith("boto3=="):
            return line.strip()
    return "boto3"


def _ensure_venv(base: Path, venv: Path, requirements: list[str], wanted: str, log: list[str]) -> Path:
    python = venv / "bin" / "python"
    marker = venv / MARKER
    if python.exists() and marker.is_file() and marker.read_text().strip() == wanted:
        return python
    if base.absolute().is_relative_to(venv.absolute()):
        # Rebuilding would delete the interpreter it is to be built from.
        raise SetupError(
            f"{base} is the benchmark's own {venv.name}, built from another interpreter: pass that one "
            f"(make bench BENCH_PYTHON=...) or nothing"
        )
    log.append(f"building {venv.name} (pip, from PyPI) ...")
    print(f"bench: building {venv.relative_to(REPO)} from {base} (one-time) ...", file=sys.stderr, flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    try:
        subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=300)  # noqa: S603
        subprocess.run([*pip, *requirements], check=True, timeout=1200)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as error:
        raise SetupError(f"could not build {venv}: {error}") from None
    marker.write_text(wanted + "\n")
    return python


# The tracer's packages, pinned for the venv of ours and the floor as the peer pins them.
XRAY_PACKAGES = ("aws-xray-sdk", "wrapt")


def xray_pins() -> list[str]:
    """``aws-xray-sdk==X`` and ``wrapt==Y`` as requirements-bench.txt pins them (empty if it does not)."""
    pins = []
    for line in PEER_REQUIREMENTS.read_text().splitlines():
        name = line.split("==", 1)[0].strip().lower()
        if "==" in line and name in XRAY_PACKAGES:
            pins.append(line.split("#", 1)[0].strip())
    return pins


def ours(requested: str | None, log: list[str]) -> Interpreter:
    """The interpreter for ours, the floor and the warm runs."""
    if not requested:
        default = REPO / ".venv" / "bin" / "python"
        return probe(default if default.exists() else Path(sys.executable))
    found = shutil.which(requested) or requested
    base = probe(found)
    venv = REPO / f".venv-bench-{base.short}"
    pins = xray_pins()
    wanted = _requirements_hash(LAYER_REQUIREMENTS, DEV_REQUIREMENTS, extra=str(base.python) + " ".join(pins))
    requirements = ["-r", str(LAYER_REQUIREMENTS), _boto3_pin(), *pins]
    return probe(_ensure_venv(base.python, venv, requirements, wanted, log))


def installed_version(python: Path, distribution: str) -> str | None:
    """The version of ``distribution`` in ``python``'s environment (None: not installed)."""
    code = (
        "import importlib.metadata as m, sys\n"
        "try:\n print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError:\n print('')"
    )
    completed = subprocess.run(  # noqa: S603 - an interpreter of the benchmark
        [str(python), "-E", "-c", code, distribution], capture_output=True, text=True, timeout=60, check=False
    )
    return completed.stdout.strip() or None


def peer_venv(interpreter: Interpreter, requested: str | None) -> Path:
    return REPO / (f".venv-peer-{interpreter.short}" if requested else ".venv-peer")


def peer(interpreter: Interpreter, requested: str | None, mode: str, log: list[str]) -> Path | None:
    """The peer's python, or None when it is skipped (``mode``: yes, no, if-installed)."""
    if mode == "no":
        return None
    venv = peer_venv(interpreter, requested)
    wanted = _requirements_hash(PEER_REQUIREMENTS, extra=str(interpreter.python.resolve()))
    marker = venv / MARKER
    ready = (venv / "bin" / "python").exists() and marker.is_file() and marker.read_text().strip() == wanted
    if mode == "if-installed" and not ready:
        log.append(f"peer skipped: {venv.name} is not installed (run `make bench` once)")
        return None
    base = _base_python(interpreter.python)
    return _ensure_venv(base, venv, ["-r", str(PEER_REQUIREMENTS)], wanted, log)


def _base_python(python: Path) -> Path:
    """The interpreter a venv was made from (a venv made from a venv would chain to it)."""
    completed = subprocess.run(  # noqa: S603
        [str(python), "-E", "-c", "import sys; print(getattr(sys, '_base_executable', sys.executable))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    base = Path(completed.stdout.strip())
    return base if base.exists() else python


# What the Lambda runtime sets in every execution environment besides what the local stack already gives
# each function (AWS_LAMBDA_FUNCTION_NAME, _MEMORY_SIZE, _VERSION, AWS_LAMBDA_LOG_GROUP_NAME,
# AWS_EXECUTION_ENV, _HANDLER, LAMBDA_TASK_ROOT, AWS_REGION, the credentials): the X-Ray daemon's address
# (the benchmark's UDP sink, set per run) and what the SDK does without a trace context, the log stream,
# the runtime API, the initialization type, the runtime's folder and the time zone. ``_X_AMZN_TRACE_ID``
# is set per invocation by child.py, as the runtime does. LANG stays C.UTF-8 (Lambda's en_US.UTF-8 need
# not exist here; Python reads UTF-8 either way).
LAMBDA_RUNTIME_ENV = {
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "TZ": ":UTC",
}


def child_environment(function_env: dict[str, str]) -> dict[str, str]:
    """What a child process runs with: a minimal shell environment, the Lambda runtime's variables and
    the function's environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}  # noqa: S108
    env["LANG"] = "C.UTF-8"
    env.update(LAMBDA_RUNTIME_ENV)
    env.update(function_env)
    return env
