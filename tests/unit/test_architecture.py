"""The layer's shape: a domain core that knows no I/O, and modules and functions small enough to read."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import phone_verification

PACKAGE = Path(phone_verification.__file__).resolve().parent
CORE = ("phone_verification.model", "phone_verification.ports", "phone_verification.usecases")
# The edges: the AWS SDK, the HTTP client, Powertools, and the adapters that use them.
FORBIDDEN = (
    "boto3",
    "botocore",
    "requests",
    "urllib3",
    "aws_lambda_powertools",
    "phone_verification.store",
    "phone_verification.store_items",
    "phone_verification.store_budgets",
    "phone_verification.store_guard",
    "phone_verification.store_guard_admin",
    "phone_verification.store_guard_memory",
    "phone_verification.store_guard_shards",
    "phone_verification.store_send",
    "phone_verification.sinch",
    "phone_verification.sinch_secret",
    "phone_verification.workflow",
    "phone_verification.idempotency",
    "phone_verification.observability",
    "phone_verification.runtime",
    "phone_verification.api",
)
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def module_path(name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative / "__init__.py", (PACKAGE / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports_of(name: str) -> Iterator[str]:
    """Every module ``name`` imports, at the top or inside a function, relative imports resolved."""
    path = module_path(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            yield module
            # ``from package import module`` imports the module too.
            yield from (
                f"{module}.{alias.name}" for alias in node.names if module_path(f"{module}.{alias.name}")
            )


def core_modules() -> list[str]:
    names = ["phone_verification.model", "phone_verification.ports"]
    names += [f"phone_verification.usecases.{p.stem}" for p in sorted((PACKAGE / "usecases").glob("*.py"))]
    return [name.removesuffix(".__init__") for name in names]


def with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a`` and ``a.b`` first."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(2, len(parts) + 1)]


def reachable(start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or through the package's own modules (their packages'
    ``__init__`` included): name -> importer."""
    seen: dict[str, str] = {}
    queue = with_parents(start)
    while queue:
        current = queue.pop()
        for imported in imports_of(current):
            for module in (
                with_parents(imported) if imported.startswith("phone_verification.") else [imported]
            ):
                if module in seen:
                    continue
                seen[module] = current
                if module.startswith("phone_verification.") and module_path(module) is not None:
                    queue.append(module)
    return seen


def forbidden(module: str) -> bool:
    return any(module == edge or module.startswith(edge + ".") for edge in FORBIDDEN)


@pytest.mark.parametrize("module", core_modules())
def test_the_domain_core_imports_nothing_that_does_io(module: str) -> None:
    found = {name: importer for name, importer in reachable(module).items() if forbidden(name)}
    assert found == {}, f"{module} reaches {found} (module -> the module that imports it)"


def test_the_walk_sees_what_an_adapter_imports() -> None:
    assert forbidden("botocore.exceptions")
    assert "botocore.exceptions" in reachable("phone_verification.store")
    assert "requests" in reachable("phone_verification.sinch.adapter")


def test_importing_the_service_and_the_input_rules_loads_no_aws_sdk_or_http_client() -> None:
    code = (
        "import sys\n"
        "import phone_verification.service, phone_verification.commands\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'requests', 'urllib3'}))"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE.parent), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.stdout.strip() == "[]"


def layer_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("source", layer_sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_small(source: Path) -> None:
    text = source.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert long == {}


def test_comments_cite_only_what_a_reader_can_open() -> None:
    """Sources outside the repository (the team's design notes) mean nothing to a reader of the layer."""
    cited = [
        f"{source.relative_to(PACKAGE)}:{number}"
        for source in layer_sources()
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
        if any(phrase in line.lower() for phrase in ("the design", "design.md", "the seed", "design,"))
    ]
    assert cited == []
