"""The published OpenAPI document, openapi/openapi.yaml, cannot drift from the code.

The document is written by hand (the runtime carries no pydantic, so Powertools cannot generate it), so
these tests tie each part of it to the code it describes:

- it is valid OpenAPI 3.1;
- its operations are the template's HttpApi routes, the routes in the API's ``DefinitionBody``, and the
  routes each function's handler registers;
- its problem ``code`` enum is the codes of the error classes, and each problem response pairs a status
  with exactly the codes the code can answer with that status;
- every example in it validates against its own schema, and problem examples carry their class's title;
- its request schemas use the validators' own patterns and enums;
- the bodies the code builds (problems, start and report answers) validate against its schemas.

``test_fuzz_api.py`` checks the other direction at run time: every real response against the document.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import phone_verification
from local_stack import Template
from phone_verification import api, codes, commands, errors, phone
from phone_verification.model import Status, Verification
from phone_verification.responses import verification_body
from phone_verification.sinch import Method, StartResult
from phone_verification.sinch.adapter import hints as start_hints
from tests.fakes import load_handler

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "openapi" / "openapi.yaml"
TEMPLATE = ROOT / "template.yaml"
PACKAGE = Path(phone_verification.__file__).resolve().parent
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
DOC_URI = "urn:phone-verification:openapi"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}

Operation = tuple[str, str]  # ("PUT", "/verifications/{id}")


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return document


DOC = load_document()
REGISTRY: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOC))


# ------------------------------------------------------------------------------------------ helpers


def pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def at(location: str) -> Any:
    node: Any = DOC
    for part in location.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def resolve(node: Any) -> tuple[str | None, Any]:
    """Follow a local ``$ref`` (to its end); returns the target's pointer (None if no ref) and the node."""
    location = None
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        assert ref.startswith("#/"), ref
        location = ref[1:]
        node = at(location)
    return location, node


def validator(location: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at ``location`` in the document, with its ``$ref``s resolvable."""
    reference = {"$ref": DOC_URI + "#" + quote(location, safe="/~")}
    return jsonschema.Draft202012Validator(
        reference, registry=REGISTRY, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def assert_valid(location: str, instance: Any) -> None:
    problems = [error.message for error in validator(location).iter_errors(instance)]
    assert not problems, (location, instance, problems)


def document_operations() -> set[Operation]:
    return {
        (method.upper(), path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def operation_responses() -> Iterator[tuple[Operation, int, str, Any]]:
    """(operation, status, pointer of the response, resolved response) for every documented response."""
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in operation["responses"].items():
                location, resolved = resolve(response)
                location = location or pointer("paths", path, method, "responses", status)
                yield (method.upper(), path), int(status), location, resolved


def error_classes() -> list[type[errors.VerificationError]]:
    found: list[type[errors.VerificationError]] = [errors.VerificationError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub not in found)
    return found


def producible_problems() -> set[tuple[int, str]]:
    """Every (HTTP status, code) the package can answer: each error class's status as the API maps it,
    plus the statuses of the variants its raisers ask for (``InvalidRequest(..., unreadable=True)``),
    found in the package source."""
    classes = {cls.__name__: cls for cls in error_classes()}
    pairs = {(api.http_status(cls()), cls.code) for cls in classes.values()}
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in classes:
                continue
            for keyword in node.keywords:
                if keyword.arg == "unreadable":
                    value = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
                    assert isinstance(value, bool), f"{source}:{node.lineno}: unreadable is not a literal"
                    pairs.add((api.http_status(classes[name](unreadable=value)), classes[name].code))  # type: ignore[call-arg]
    return pairs


def documented_problems() -> dict[tuple[int, str], set[Operation]]:
    """(HTTP status, code) -> the operations whose documented problem responses allow it."""
    found: dict[tuple[int, str], set[Operation]] = {}
    for operation, status, location, response in operation_responses():
        media = response.get("content", {}).get(api.PROBLEM_JSON)
        if media is None:
            continue
        schema = media["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}, location
        narrowed = schema["allOf"][1]["properties"]
        assert narrowed["status"] == {"const": status}, location
        for code in narrowed["code"]["enum"]:
            found.setdefault((status, code), set()).add(operation)
    return found


# ------------------------------------------------------------------------------------------ the document


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1")
    validate(DOC, cls=OpenAPIV31SpecValidator)


def test_its_operations_are_the_templates_http_api_routes() -> None:
    template = Template.load(TEMPLATE)
    resolver = template.resolver(region="eu-west-1", account_id="000000000000", stack_name="openapi-test")
    routes = {
        (route.method, route.path) for route in template.routes(resolver) if route.api_type == "HttpApi"
    }
    assert document_operations() == routes
    # The API's own OpenAPI body (where each route's authorization is set) lists the same routes.
    apis = [r for r in template.resources.values() if r.get("Type") == "AWS::Serverless::HttpApi"]
    assert len(apis) == 1
    body_paths = apis[0]["Properties"]["DefinitionBody"]["paths"]
    body_routes = {(method.upper(), path) for path, item in body_paths.items() for method in item}
    assert document_operations() == body_routes


def test_its_operations_are_the_routes_the_handlers_register() -> None:
    template = Template.load(TEMPLATE)
    resolver = template.resolver(region="eu-west-1", account_id="000000000000", stack_name="openapi-test")
    by_function: dict[str, set[Operation]] = {}
    for route in template.routes(resolver):
        by_function.setdefault(route.function_id, set()).add((route.method, route.path))
    registered: set[Operation] = set()
    for function_id, routes in by_function.items():
        code_uri = template.resources[function_id]["Properties"]["CodeUri"]
        handler = load_handler(Path(code_uri).name)
        own = set(handler.router.routes)
        assert own == routes, function_id  # each function serves exactly its template routes
        registered |= own
    assert document_operations() == registered


def test_its_problem_codes_are_the_error_classes_codes() -> None:
    enum = DOC["components"]["schemas"]["ProblemCode"]["enum"]
    assert len(enum) == len(set(enum))
    assert set(enum) == {cls.code for cls in error_classes()}
    problem = DOC["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == PROBLEM_KEYS
    assert set(problem["properties"]) == PROBLEM_KEYS | {"reason"}  # the fraud guard's refusals
    assert problem["additionalProperties"] is False


def test_each_problem_response_has_the_statuses_and_codes_the_code_answers_with() -> None:
    documented = documented_problems()
    producible = producible_problems()
    assert set(documented) == producible
    # Every status the package answers is in the design's table, and documented for some operation.
    assert {status for status, _ in producible} <= {400, 403, 404, 409, 410, 422, 429, 500, 503}
    # Retry-After is documented where the code sends it: rate limits and unavailability.
    for operation, status, location, response in operation_responses():
        if status in (503,) or (status == 429 and operation[0] == "POST"):
            assert "Retry-After" in response.get("headers", {}), (operation, location)
        if status == 503:
            _, header = resolve(response["headers"]["Retry-After"])
            assert header["required"] is True, (operation, location)


def iter_examples(node: Any, location: str = "") -> Iterator[tuple[str, Any]]:
    """(pointer of the schema, example) for every example in the document."""
    if isinstance(node, dict):
        if "schema" in node:  # media type, parameter or header object
            schema_location = location + "/schema"
            if "example" in node:
                yield schema_location, node["example"]
            for name, example in (node.get("examples") or {}).items():
                _, resolved = resolve(example)
                assert "value" in resolved, (location, name)
                yield schema_location, resolved["value"]
        elif isinstance(node.get("examples"), list):  # a JSON Schema's own examples
            for example in node["examples"]:
                yield location, example
        for key, value in node.items():
            if key not in ("example", "examples"):
                yield from iter_examples(value, location + pointer(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_examples(item, f"{location}/{index}")


def test_every_example_validates_against_its_schema() -> None:
    assert "date-time" in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    titles = {cls.code: cls.title for cls in error_classes()}
    producible = producible_problems()
    examples = list(iter_examples(DOC))
    for location, example in examples:
        assert_valid(location, example)
        if isinstance(example, dict) and PROBLEM_KEYS <= set(example) <= PROBLEM_KEYS | {"reason"}:
            assert example["type"] == f"urn:phone-verification:problem:{example['code']}", example
            assert example["title"] == titles[example["code"]], example
            assert (example["status"], example["code"]) in producible, example
    assert len(examples) >= 30


def test_request_schemas_use_the_validators_rules() -> None:
    schemas = DOC["components"]["schemas"]
    start, report = schemas["StartRequest"]["properties"], schemas["ReportRequest"]["properties"]
    parameters = DOC["components"]["parameters"]

    def anchored(pattern: re.Pattern[str]) -> str:
        return f"^{pattern.pattern}$"

    assert schemas["PhoneNumber"]["pattern"] == anchored(phone.SYNTAX)
    assert start["reference"]["pattern"] == anchored(commands._REFERENCE)
    assert start["locale"]["pattern"] == anchored(commands._LOCALE)
    assert schemas["NextRequest"]["properties"]["locale"]["pattern"] == anchored(commands._LOCALE)
    assert schemas["NextRequest"]["properties"]["rateKey"] == start["rateKey"] | {
        "description": schemas["NextRequest"]["properties"]["rateKey"]["description"]
    }
    assert start["channels"]["maxItems"] == commands.MAX_CHANNELS
    assert start["code"]["pattern"] == anchored(codes._CODE_PATTERN)
    assert report["code"]["pattern"] == anchored(codes._REPORTED_PATTERN)
    assert report["cli"]["pattern"] == anchored(codes._CLI_PATTERN)
    assert parameters["VerificationId"]["schema"]["pattern"] == anchored(commands._ID)
    assert schemas["VerificationId"]["pattern"] == anchored(commands._ID)
    assert parameters["IdempotencyKey"]["schema"]["pattern"] == anchored(commands._IDEMPOTENCY_KEY)
    assert parameters["IdempotencyKey"]["name"].lower() == "idempotency-key"  # the header the handler reads
    assert schemas["Method"]["enum"] == [method.value for method in Method]
    assert start["method"]["default"] == commands.StartCommand(phone_number="+1").method.value
    assert schemas["Status"]["enum"] == [status.value for status in Status]
    assert schemas["StartRequest"]["required"] == ["phoneNumber"]
    assert [branch["required"] for branch in schemas["ReportRequest"]["oneOf"]] == [["code"], ["cli"]]


@pytest.mark.parametrize("error", error_classes(), ids=lambda cls: cls.__name__)
def test_the_problem_bodies_the_code_builds_match_the_schema(error: type[errors.VerificationError]) -> None:
    response = api.problem(error(retry_after=3))
    assert response.content_type == api.PROBLEM_JSON
    assert isinstance(response.body, str)
    assert_valid("/components/schemas/Problem", json.loads(response.body))


SINCH_STARTS: list[tuple[Method, dict[str, Any]]] = [
    (
        Method.SMS,
        {"id": "a1", "method": "sms", "sms": {"template": "Code {{CODE}}", "interceptionTimeout": 298}},
    ),
    (
        Method.FLASHCALL,
        {
            "id": "a2",
            "method": "flashcall",
            "flashCall": {
                "cliFilter": "(.*)5600(.*)",
                "interceptionTimeout": 45,
                "reportTimeout": 75,
                "denyCallAfter": 0,
                "cli": "+46815600001",
                "callId": "c1",
            },
        },
    ),
    (Method.CALLOUT, {"id": "a3", "method": "callout", "callout": {}}),
    (Method.WHATSAPP, {"id": "a4", "method": "whatsapp", "whatsapp": {"codeType": "Numeric"}}),
]


@pytest.mark.parametrize(("method", "sinch"), SINCH_STARTS, ids=lambda value: str(value)[:9])
def test_the_answers_the_code_builds_match_the_schemas(method: Method, sinch: dict[str, Any]) -> None:
    hints = start_hints(StartResult.from_json(sinch, requested=method))
    started = verification_body(
        Verification(
            id="0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87",
            method=method.value,
            status="PENDING",
            attempts_remaining=5,
            expires_at=1_795_634_400,
            reference="signup-42",
            hints=hints,
        )
    )
    assert_valid("/components/schemas/StartResponse", started)
    assert "+46815600001" not in json.dumps(started)  # the flashcall CLI is the code: never answered
    for status in Status:
        state = verification_body(
            Verification(
                id="0198b5a6-7c1e-7d42-9a51-3c2f1e0d9b87",
                method=method.value,
                status=status.value,
                attempts_remaining=0,
                expires_at=1_795_634_400,
                reason="Invalid code",
                reference="signup-42",
            )
        )
        assert_valid("/components/schemas/Verification", state)
