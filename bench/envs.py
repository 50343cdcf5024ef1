"""The interpreters the benchmark runs its child processes with, and the virtual environments behind them.

- **ours** and the **floor** run on the same interpreter: the project's ``.venv`` by default, or
  ``BENCH_PYTHON`` (e.g. ``python3.13``), for which ``.venv-bench-<X.Y>`` is created from the layer's
  requirements plus the pinned boto3 (what the Lambda runtime provides).
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


def ours(requested: str | None, log: list[str]) -> Interpreter:
    """The interpreter for ours, the floor and the warm runs."""
    if not requested:
        default = REPO / ".venv" / "bin" / "python"
        return probe(default if default.exists() else Path(sys.executable))
    found = shutil.which(requested) or requested
    base = probe(found)
    venv = REPO / f".venv-bench-{base.short}"
    wanted = _requirements_hash(LAYER_REQUIREMENTS, DEV_REQUIREMENTS, extra=str(base.python))
    python = _ensure_venv(base.python, venv, ["-r", str(LAYER_REQUIREMENTS), _boto3_pin()], wanted, log)
    return probe(python)


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


def child_environment(function_env: dict[str, str]) -> dict[str, str]:
    """What a child process runs with: the function's environment plus a minimal shell environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}  # noqa: S108
    env["LANG"] = "C.UTF-8"
    env.update(function_env)
    return env
