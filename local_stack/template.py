"""Read a SAM template the way the local stack needs it: routes, handlers, environment, table and secret.

Nothing here is specific to this product: every route, handler, variable and table attribute comes from
the template it is given, so a change to ``template.yaml`` is picked up without touching the runner.
Intrinsic functions are resolved as far as a stack without CloudFormation can: parameters from their
defaults (or overrides), conditions evaluated, ``!Ref``/``!GetAtt`` of resources mapped to the local
stand-ins, and anything that only exists in a real account turned into a readable placeholder.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

ParameterValue = str | list[str]
PayloadVersion = Literal["1.0", "2.0"]
ApiType = Literal["HttpApi", "Api"]


class TemplateError(Exception):
    """The template cannot be read, or asks for something the local stack cannot provide."""


class _NoValue:
    """``AWS::NoValue``: the property is removed, not set to an empty value."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --------------------------------------------------------------------------------------------------
# YAML with CloudFormation short tags
# --------------------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader plus the ``!Ref``/``!Sub``/... short forms, turned into their long JSON forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{suffix}")
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        # "!GetAtt Res.Attr.Sub" names attribute "Attr.Sub" of "Res": only the first dot separates.
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)
# An unquoted AWSTemplateFormatVersion (2010-09-09) would otherwise become a datetime.date.
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"cannot read {path}: {error}") from error
    try:
        document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader is a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return document


# --------------------------------------------------------------------------------------------------
# Intrinsic functions
# --------------------------------------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str
    default: str | None
    allowed_values: tuple[str, ...]

    @property
    def is_list(self) -> bool:
        return self.type == "CommaDelimitedList" or self.type.startswith("List<")


class Resolver:
    """Evaluates intrinsic functions against parameter values and the local stand-ins for resources."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, ParameterValue],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        pseudo: Mapping[str, str],
        resource_refs: Mapping[str, str],
        resource_attributes: Mapping[tuple[str, str], str],
        forced_conditions: frozenset[str] = frozenset(),
    ) -> None:
        self._parameters = dict(parameters)
        self._conditions = dict(conditions)
        self._mappings = dict(mappings)
        self._pseudo = dict(pseudo)
        self._refs = dict(resource_refs)
        self._attributes = dict(resource_attributes)
        self._forced = forced_conditions
        self._condition_cache: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    @property
    def parameters(self) -> dict[str, ParameterValue]:
        return dict(self._parameters)

    def with_resources(
        self, resource_refs: Mapping[str, str], resource_attributes: Mapping[tuple[str, str], str]
    ) -> Resolver:
        return Resolver(
            parameters=self._parameters,
            conditions=self._conditions,
            mappings=self._mappings,
            pseudo=self._pseudo,
            resource_refs={**self._refs, **resource_refs},
            resource_attributes={**self._attributes, **resource_attributes},
            forced_conditions=self._forced,
        )

    # -- conditions ---------------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name in self._forced:
            return True
        if name in self._condition_cache:
            return self._condition_cache[name]
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(self._conditions[name])
        finally:
            self._evaluating.discard(name)
        self._condition_cache[name] = value
        return value

    def _truth(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1 and "Condition" in expression:
            return self.condition(str(expression["Condition"]))
        value = self.resolve(expression)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TemplateError(f"condition expression does not evaluate to a boolean: {expression!r}")

    # -- resolution ---------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                if key == "Ref":
                    return self._ref(argument)
                if isinstance(key, str) and key.startswith("Fn::"):
                    return self._function(key, argument)
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        return value

    def resolve_string(self, value: Any) -> str:
        return to_text(self.resolve(value))

    def _ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if not isinstance(name, str):
            raise TemplateError(f"!Ref needs a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._refs:
            return self._refs[name]
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def _get_att(self, resource: str, attribute: str) -> str:
        found = self._attributes.get((resource, attribute))
        if found is not None:
            return found
        # Best effort: something ARN-shaped that names what it stands for, so a misuse reads clearly.
        region, account = self._pseudo["AWS::Region"], self._pseudo["AWS::AccountId"]
        return f"arn:aws:local:{region}:{account}:{resource}/{attribute}"

    def _function(self, name: str, argument: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per function
        if name == "Fn::If":
            condition, when_true, when_false = _arguments(name, argument, 3)
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if name == "Fn::Equals":
            left, right = _arguments(name, argument, 2)
            return to_text(self.resolve(left)) == to_text(self.resolve(right))
        if name == "Fn::Not":
            (operand,) = _arguments(name, argument, 1)
            return not self._truth(operand)
        if name == "Fn::And":
            return all(self._truth(operand) for operand in _list(name, argument))
        if name == "Fn::Or":
            return any(self._truth(operand) for operand in _list(name, argument))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::GetAtt":
            parts = self.resolve(argument)
            if not isinstance(parts, list) or len(parts) != 2:
                raise TemplateError(f"!GetAtt needs Resource.Attribute, got {argument!r}")
            return self._get_att(str(parts[0]), str(parts[1]))
        if name == "Fn::Join":
            delimiter, items = _arguments(name, argument, 2)
            values = self.resolve(items)
            if not isinstance(values, list):
                raise TemplateError(f"!Join needs a list, got {values!r}")
            return to_text(self.resolve(delimiter)).join(to_text(item) for item in values)
        if name == "Fn::Select":
            index, items = _arguments(name, argument, 2)
            values = self.resolve(items)
            position = int(to_text(self.resolve(index)))
            if not isinstance(values, list) or not 0 <= position < len(values):
                raise TemplateError(f"!Select index {position} is out of range for {values!r}")
            return values[position]
        if name == "Fn::Split":
            delimiter, text = _arguments(name, argument, 2)
            return self.resolve_string(text).split(to_text(self.resolve(delimiter)))
        if name == "Fn::FindInMap":
            map_name, top, second = (self.resolve_string(part) for part in _arguments(name, argument, 3))
            try:
                return self.resolve(self._mappings[map_name][top][second])
            except (KeyError, TypeError):
                raise TemplateError(f"!FindInMap {map_name}/{top}/{second} is not in Mappings") from None
        if name == "Fn::Base64":
            return base64.b64encode(self.resolve_string(argument).encode()).decode()
        if name == "Fn::GetAZs":
            region = self._pseudo["AWS::Region"]
            return [f"{region}a", f"{region}b", f"{region}c"]
        if name == "Fn::ImportValue":
            return f"local-import-{self.resolve_string(argument)}"
        if name == "Fn::ToJsonString":
            return json.dumps(self.resolve(argument), separators=(",", ":"))
        if name == "Fn::Length":
            values = self.resolve(argument)
            return len(values) if isinstance(values, list) else 0
        raise TemplateError(f"{name} is not supported by the local stack")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = _arguments("Fn::Sub", argument, 2)
            local = {str(k): self.resolve(v) for k, v in dict(variables).items()}
        else:
            text, local = argument, {}
        if not isinstance(text, str):
            raise TemplateError(f"!Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is the escape for a literal ${Literal}
            if name in local:
                return to_text(local[name])
            if "." in name and name.split(".", 1)[0] not in self._parameters:
                resource, attribute = name.split(".", 1)
                return self._get_att(resource, attribute)
            return to_text(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)


def _arguments(name: str, argument: Any, count: int) -> list[Any]:
    if not isinstance(argument, list) or len(argument) != count:
        raise TemplateError(f"{name} needs {count} arguments, got {argument!r}")
    return argument


def _list(name: str, argument: Any) -> list[Any]:
    if not isinstance(argument, list):
        raise TemplateError(f"{name} needs a list, got {argument!r}")
    return argument


def to_text(value: Any) -> str:
    """The string CloudFormation would put where a string is required (environment values, names)."""
    if value is NO_VALUE:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ",".join(to_text(item) for item in value)
    return json.dumps(value)


# --------------------------------------------------------------------------------------------------
# What the local stack reads
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One API route as API Gateway would match it."""

    method: str  # upper case, or "ANY"
    path: str  # "/verifications/{id}", or "$default" for the catch-all
    function_id: str
    event_name: str
    api_type: ApiType
    payload_version: PayloadVersion
    # "NONE" when the route opts out of the API's authorizer, else None (the API's default applies).
    authorizer: str | None = None

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path | None  # None when the code is not a local folder (S3 location, InlineCode)
    handler: str  # "module.function" or "package.module.function"
    runtime: str
    timeout_seconds: int
    memory_mb: int
    function_name: str | None  # the template's FunctionName, when it sets one
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    log_format: str = "Text"  # LoggingConfig.LogFormat
    application_log_level: str | None = None  # LoggingConfig.ApplicationLogLevel


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    table_name: str | None  # the template's TableName, when it sets one
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    billing_mode: str
    ttl_attribute: str | None
    provisioned_throughput: dict[str, int] | None = None
    global_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)
    local_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str | None  # the template's Name, when it sets one
    secret_string: str | None
    secret_string_template: str | None
    generate_string_key: str | None
    password_length: int = 32
    exclude_characters: str = ""
    exclude_punctuation: bool = False


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str | None  # the template's Name / StateMachineName, when it sets one
    definition: str  # the ASL JSON text, ${Name} placeholders not yet filled in
    substitutions: dict[str, str]  # DefinitionSubstitutions, resolved
    machine_type: str  # STANDARD or EXPRESS


_DEFAULT_TIMEOUT_SECONDS = 3
_DEFAULT_MEMORY_MB = 128


class Template:
    """A parsed SAM template and the questions the local stack asks of it."""

    def __init__(self, document: Mapping[str, Any], base_dir: Path) -> None:
        self.document = dict(document)
        self.base_dir = base_dir
        resources = self.document.get("Resources")
        if not isinstance(resources, dict):
            raise TemplateError("the template has no Resources section")
        self.resources: dict[str, dict[str, Any]] = resources

    @classmethod
    def load(cls, path: str | Path) -> Template:
        template_path = Path(path).resolve()
        return cls(load_document(template_path), template_path.parent)

    # -- parameters and resolution ------------------------------------------------------------

    @property
    def parameters(self) -> dict[str, ParameterSpec]:
        specs: dict[str, ParameterSpec] = {}
        for name, declared in (self.document.get("Parameters") or {}).items():
            body = declared or {}
            default = body.get("Default")
            specs[name] = ParameterSpec(
                name=name,
                type=str(body.get("Type", "String")),
                default=None if default is None else to_text(default),
                allowed_values=tuple(to_text(v) for v in body.get("AllowedValues") or ()),
            )
        return specs

    def parameter_values(self, overrides: Mapping[str, str] | None = None) -> dict[str, ParameterValue]:
        """Each parameter's default, or its override; checked against AllowedValues like a deploy."""
        overrides = dict(overrides or {})
        specs = self.parameters
        unknown = sorted(set(overrides) - set(specs))
        if unknown:
            raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
        values: dict[str, ParameterValue] = {}
        for name, spec in specs.items():
            # A parameter without a default would make a deploy ask for it; locally it reads as empty.
            text = overrides.get(name, spec.default if spec.default is not None else "")
            if spec.allowed_values and text not in spec.allowed_values:
                raise TemplateError(
                    f"parameter {name} must be one of {', '.join(spec.allowed_values)}, got {text!r}"
                )
            values[name] = [part.strip() for part in text.split(",")] if spec.is_list and text else text
            if spec.is_list and not text:
                values[name] = []
        return values

    def resolver(
        self,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        region: str,
        account_id: str,
        stack_name: str,
        forced_conditions: frozenset[str] = frozenset(),
    ) -> Resolver:
        pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": "",
        }
        refs, attributes = self._placeholder_references(region, account_id, stack_name)
        return Resolver(
            parameters=self.parameter_values(parameter_overrides),
            conditions=self.document.get("Conditions") or {},
            mappings=self.document.get("Mappings") or {},
            pseudo=pseudo,
            resource_refs=refs,
            resource_attributes=attributes,
            forced_conditions=forced_conditions,
        )

    def _placeholder_references(
        self, region: str, account: str, stack: str
    ) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        # What !Ref / !GetAtt of each resource would give in a real stack, shaped alike; the stack
        # replaces the ones it really creates (table, secret) with the local resources' names.
        refs: dict[str, str] = {}
        attributes: dict[tuple[str, str], str] = {}
        for logical_id, resource in self.resources.items():
            kind = str(resource.get("Type", ""))
            service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
            arn = f"arn:aws:{service}:{region}:{account}:{logical_id}"
            if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                name = self._function_name(logical_id, stack)
                refs[logical_id] = name
                arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            elif kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
                refs[logical_id] = f"arn:aws:lambda:{region}:{account}:layer:{logical_id}:1"
            elif kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
                refs[logical_id] = f"{stack}-{logical_id}"
                arn = f"arn:aws:dynamodb:{region}:{account}:table/{stack}-{logical_id}"
            elif kind == "AWS::SecretsManager::Secret":
                arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{stack}/{logical_id}"
                refs[logical_id] = arn
            else:
                refs[logical_id] = logical_id
            attributes[(logical_id, "Arn")] = arn
        return refs, attributes

    def _function_name(self, logical_id: str, stack: str) -> str:
        name = (self.resources[logical_id].get("Properties") or {}).get("FunctionName")
        return name if isinstance(name, str) else f"{stack}-{logical_id}"

    def _included(self, logical_id: str, resolver: Resolver) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or resolver.condition(str(condition))

    def _of_type(self, *kinds: str) -> list[str]:
        return [logical_id for logical_id, r in self.resources.items() if r.get("Type") in kinds]

    # -- functions and routes ----------------------------------------------------------------

    def _function_properties(self, logical_id: str) -> dict[str, Any]:
        """The function's properties merged over Globals.Function the way SAM merges them."""
        globals_function = dict(((self.document.get("Globals") or {}).get("Function")) or {})
        own = dict(self.resources[logical_id].get("Properties") or {})
        merged = {**globals_function, **own}
        global_vars = ((globals_function.get("Environment") or {}).get("Variables")) or {}
        own_vars = ((own.get("Environment") or {}).get("Variables")) or {}
        merged["Environment"] = {"Variables": {**global_vars, **own_vars}}
        # SAM appends a function's Layers to the global ones instead of replacing them.
        merged["Layers"] = list(globals_function.get("Layers") or []) + list(own.get("Layers") or [])
        return merged

    def function_ids(self) -> list[str]:
        return self._of_type("AWS::Serverless::Function")

    def functions(self, resolver: Resolver) -> dict[str, FunctionSpec]:
        specs: dict[str, FunctionSpec] = {}
        for logical_id in self.function_ids():
            if self._included(logical_id, resolver):
                specs[logical_id] = self._function_spec(logical_id, resolver)
        return specs

    def _function_spec(self, logical_id: str, resolver: Resolver) -> FunctionSpec:
        props = self._function_properties(logical_id)
        code_uri = resolver.resolve(props.get("CodeUri"))
        code_dir = (self.base_dir / code_uri).resolve() if isinstance(code_uri, str) else None
        handler = resolver.resolve_string(props.get("Handler", ""))
        if not handler or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must be 'module.function', got {handler!r}")
        variables = resolver.resolve(props["Environment"]["Variables"])
        environment = {str(k): to_text(v) for k, v in dict(variables).items()}
        name = resolver.resolve(props.get("FunctionName"))
        logging_config = resolver.resolve(props.get("LoggingConfig") or {})
        level = logging_config.get("ApplicationLogLevel")
        return FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dir,
            handler=handler,
            runtime=resolver.resolve_string(props.get("Runtime", "")),
            timeout_seconds=int(resolver.resolve_string(props.get("Timeout", _DEFAULT_TIMEOUT_SECONDS))),
            memory_mb=int(resolver.resolve_string(props.get("MemorySize", _DEFAULT_MEMORY_MB))),
            function_name=name if isinstance(name, str) else None,
            layer_dirs=self._layer_dirs(props["Layers"], resolver),
            environment=environment,
            log_format=to_text(logging_config.get("LogFormat", "Text")),
            application_log_level=None if level is None else to_text(level),
        )

    def _layer_dirs(self, layers: Sequence[Any], resolver: Resolver) -> tuple[Path, ...]:
        # Only layers defined in this template have local content; a layer ARN from elsewhere does not.
        dirs: list[Path] = []
        for layer in layers:
            if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
                continue
            resource = self.resources.get(str(layer["Ref"]))
            if resource is None or resource.get("Type") not in (
                "AWS::Serverless::LayerVersion",
                "AWS::Lambda::LayerVersion",
            ):
                continue
            props = resource.get("Properties") or {}
            content = resolver.resolve(props.get("ContentUri", props.get("Content")))
            if not isinstance(content, str):
                continue
            root = (self.base_dir / content).resolve()
            # Lambda mounts layers at /opt and puts /opt/python on sys.path. A layer that SAM builds
            # (Metadata.BuildMethod) is its own import root; a prebuilt one keeps code under python/.
            built = (resource.get("Metadata") or {}).get("BuildMethod") is not None
            dirs.append(root if built or not (root / "python").is_dir() else root / "python")
        return tuple(dirs)

    def routes(self, resolver: Resolver) -> list[Route]:
        routes: list[Route] = []
        for logical_id in self.function_ids():
            if not self._included(logical_id, resolver):
                continue
            events = (self.resources[logical_id].get("Properties") or {}).get("Events") or {}
            for event_name, event in events.items():
                route = self._route(logical_id, event_name, event, resolver)
                if route is not None:
                    routes.append(route)
        return routes

    def _route(self, logical_id: str, event_name: str, event: Any, resolver: Resolver) -> Route | None:
        kind = event.get("Type") if isinstance(event, dict) else None
        if kind not in ("HttpApi", "Api"):
            return None
        props = resolver.resolve(event.get("Properties") or {})
        path = props.get("Path")
        method = props.get("Method")
        if kind == "HttpApi" and path is None and method is None:
            path, method = "$default", "ANY"  # SAM maps a bare HttpApi event to the $default route
        if not isinstance(path, str) or not isinstance(method, str):
            raise TemplateError(f"{logical_id}.{event_name}: an {kind} event needs Path and Method")
        method = method.upper()
        if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
            method = "ANY"
        default_version = "2.0" if kind == "HttpApi" else "1.0"
        version = to_text(props.get("PayloadFormatVersion", default_version))
        if version not in ("1.0", "2.0"):
            raise TemplateError(f"{logical_id}.{event_name}: PayloadFormatVersion {version!r} is unknown")
        auth = props.get("Auth") or {}
        authorizer = auth.get("Authorizer") if isinstance(auth, dict) else None
        return Route(
            method=method,
            path=path,
            function_id=logical_id,
            event_name=event_name,
            api_type="HttpApi" if kind == "HttpApi" else "Api",
            payload_version="2.0" if version == "2.0" else "1.0",
            authorizer="NONE" if authorizer == "NONE" else None,
        )

    # -- tables and secrets ------------------------------------------------------------------

    def conditions_of(self, *kinds: str) -> frozenset[str]:
        """The Condition names that gate resources of these types (forced true: they exist locally)."""
        return frozenset(
            str(self.resources[logical_id]["Condition"])
            for logical_id in self._of_type(*kinds)
            if self.resources[logical_id].get("Condition") is not None
        )

    def tables(self, resolver: Resolver) -> list[TableSpec]:
        tables: list[TableSpec] = []
        for logical_id in self._of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            if not self._included(logical_id, resolver):
                continue
            resource = self.resources[logical_id]
            props = resolver.resolve(resource.get("Properties") or {})
            if resource["Type"] == "AWS::Serverless::SimpleTable":
                tables.append(_simple_table(logical_id, props))
            else:
                tables.append(_table(logical_id, props))
        return tables

    def secrets(self, resolver: Resolver) -> list[SecretSpec]:
        secrets: list[SecretSpec] = []
        for logical_id in self._of_type("AWS::SecretsManager::Secret"):
            if not self._included(logical_id, resolver):
                continue
            props = resolver.resolve(self.resources[logical_id].get("Properties") or {})
            generate = props.get("GenerateSecretString") or {}
            name = props.get("Name")
            secrets.append(
                SecretSpec(
                    logical_id=logical_id,
                    name=name if isinstance(name, str) else None,
                    secret_string=_optional_text(props.get("SecretString")),
                    secret_string_template=_optional_text(generate.get("SecretStringTemplate")),
                    generate_string_key=_optional_text(generate.get("GenerateStringKey")),
                    password_length=int(to_text(generate.get("PasswordLength", 32))),
                    exclude_characters=to_text(generate.get("ExcludeCharacters", "")),
                    exclude_punctuation=to_text(generate.get("ExcludePunctuation", False)) == "true",
                )
            )
        return secrets

    # -- state machines ----------------------------------------------------------------------

    def state_machines(self, resolver: Resolver) -> list[StateMachineSpec]:
        """The state machines the template deploys (their Conditions evaluated), definitions read from
        DefinitionUri files or inline; a definition that only exists in S3 cannot run locally."""
        machines: list[StateMachineSpec] = []
        for logical_id in self._of_type("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            if not self._included(logical_id, resolver):
                continue
            resource = self.resources[logical_id]
            props = resource.get("Properties") or {}
            serverless = resource["Type"] == "AWS::Serverless::StateMachine"
            definition = self._definition(logical_id, props, resolver, serverless=serverless)
            substitutions = resolver.resolve(props.get("DefinitionSubstitutions") or {})
            name = resolver.resolve(props.get("Name" if serverless else "StateMachineName"))
            kind = resolver.resolve(props.get("Type" if serverless else "StateMachineType", "STANDARD"))
            machines.append(
                StateMachineSpec(
                    logical_id=logical_id,
                    name=name if isinstance(name, str) else None,
                    definition=definition,
                    substitutions={str(k): to_text(v) for k, v in dict(substitutions).items()},
                    machine_type=to_text(kind).upper(),
                )
            )
        return machines

    def _definition(
        self, logical_id: str, props: Mapping[str, Any], resolver: Resolver, *, serverless: bool
    ) -> str:
        uri = resolver.resolve(props.get("DefinitionUri")) if serverless else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            try:
                return (self.base_dir / uri).read_text(encoding="utf-8")
            except OSError as error:
                raise TemplateError(f"{logical_id}: cannot read DefinitionUri {uri}: {error}") from error
        if props.get("Definition") is not None:
            return json.dumps(resolver.resolve(props["Definition"]))
        if not serverless and props.get("DefinitionString") is not None:
            return resolver.resolve_string(props["DefinitionString"])
        raise TemplateError(f"{logical_id}: the definition is not local (S3); the local stack cannot run it")


def _optional_text(value: Any) -> str | None:
    return None if value is None else to_text(value)


def _table(logical_id: str, props: Mapping[str, Any]) -> TableSpec:
    key_schema = props.get("KeySchema")
    if not isinstance(key_schema, list) or not key_schema:
        raise TemplateError(f"{logical_id}: KeySchema is required")
    ttl = props.get("TimeToLiveSpecification") or {}
    ttl_enabled = to_text(ttl.get("Enabled", False)) == "true"
    billing_mode = to_text(props.get("BillingMode", "PROVISIONED"))
    throughput = props.get("ProvisionedThroughput")
    name = props.get("TableName")
    return TableSpec(
        logical_id=logical_id,
        table_name=name if isinstance(name, str) else None,
        key_schema=[_texts(item) for item in key_schema],
        attribute_definitions=[_texts(item) for item in props.get("AttributeDefinitions") or []],
        billing_mode=billing_mode,
        ttl_attribute=to_text(ttl["AttributeName"]) if ttl_enabled and "AttributeName" in ttl else None,
        provisioned_throughput=_throughput(throughput) if billing_mode == "PROVISIONED" else None,
        global_secondary_indexes=list(props.get("GlobalSecondaryIndexes") or []),
        local_secondary_indexes=list(props.get("LocalSecondaryIndexes") or []),
    )


def _simple_table(logical_id: str, props: Mapping[str, Any]) -> TableSpec:
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    kinds = {"String": "S", "Number": "N", "Binary": "B"}
    name = props.get("TableName")
    return TableSpec(
        logical_id=logical_id,
        table_name=name if isinstance(name, str) else None,
        key_schema=[{"AttributeName": to_text(key["Name"]), "KeyType": "HASH"}],
        attribute_definitions=[
            {"AttributeName": to_text(key["Name"]), "AttributeType": kinds.get(to_text(key["Type"]), "S")}
        ],
        billing_mode="PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
        ttl_attribute=None,
        provisioned_throughput=_throughput(props.get("ProvisionedThroughput")),
    )


def _texts(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        raise TemplateError(f"expected a mapping, got {item!r}")
    return {str(k): to_text(v) for k, v in item.items()}


def _throughput(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): int(to_text(v)) for k, v in value.items()}
