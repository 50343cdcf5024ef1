"""template.yaml and events/: routes, least privilege, state, secret, auth, configuration, alarms.

The template is read with PyYAML and a loader for CloudFormation's short tags; conditions are
evaluated here for each ApiAuth value, so no AWS account, SAM CLI or network is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from phone_verification.settings import ConfigurationError, Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
EVENTS_DIR = ROOT / "events"

# The design's HTTP API: (method, path) -> the function that serves it.
ROUTES = {
    ("POST", "/verifications"): "StartVerificationFunction",
    ("PUT", "/verifications/{id}"): "ReportVerificationFunction",
    ("PUT", "/verifications/number/{phoneNumber}"): "ReportVerificationFunction",
    ("GET", "/verifications/{id}"): "ReportVerificationFunction",
    ("DELETE", "/verifications/{id}"): "ReportVerificationFunction",
    ("POST", "/verifications/{id}/next"): "StartVerificationFunction",
}
# Function -> its folder under functions/.
FUNCTIONS = {
    "StartVerificationFunction": "start_verification",
    "ReportVerificationFunction": "report_verification",
}

# Environment variable -> template parameter it comes from.
PARAMETER_VARIABLES = {
    "SINCH_BASE_URL": "SinchBaseUrl",
    "SINCH_AUTH_SCHEME": "SinchAuthScheme",
    "SINCH_CONNECT_TIMEOUT_SECONDS": "SinchConnectTimeoutSeconds",
    "SINCH_READ_TIMEOUT_SECONDS": "SinchReadTimeoutSeconds",
    "SINCH_FAIL_ENDS_VERIFICATION": "SinchFailEndsVerification",
    "VERIFICATION_TTL_SECONDS": "VerificationTtlSeconds",
    "MAX_REPORT_ATTEMPTS": "MaxReportAttempts",
    "CODE_LENGTH": "CodeLength",
    "SMS_CODE_SOURCE": "SmsCodeSource",
    "MAX_STARTS_PER_NUMBER": "MaxStartsPerNumber",
    "START_WINDOW_SECONDS": "StartWindowSeconds",
    "MIN_SECONDS_BETWEEN_STARTS": "MinSecondsBetweenStarts",
    "ALLOWED_COUNTRIES": "AllowedCountries",
    "MAX_STARTS_PER_RATE_KEY": "MaxStartsPerRateKey",
    "FRAUD_GUARD": "FraudGuard",
    "FRAUD_GUARD_PREFIX_BUDGET": "FraudGuardPrefixBudget",
    "FRAUD_GUARD_SAFE_COUNTRIES": "FraudGuardSafeCountries",
    "SECRET_MAX_AGE_SECONDS": "SecretMaxAgeSeconds",
    "POWERTOOLS_LOG_LEVEL": "LogLevel",
}
FIXED_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME": "phone-verification",
    "POWERTOOLS_METRICS_NAMESPACE": "PhoneVerification",
}
NO_VALUE = {"Ref": "AWS::NoValue"}
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}
SAM_SUPPLIED = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"}
SECRET_ARN = {"Fn::If": ["CreateSinchSecret", {"Ref": "SinchSecret"}, {"Ref": "SinchSecretArn"}]}
TABLE_ARN = {"Fn::GetAtt": ["VerificationTable", "Arn"]}


# ------------------------------------------------------------------------------------------- loading


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref x`` into ``{"Ref": "x"}`` and ``!Sub s`` into ``{"Fn::Sub": s}``."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise TypeError(node)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _short_tag)


def _load_template() -> dict[str, Any]:
    loaded = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    assert isinstance(loaded, dict)
    return loaded


TEMPLATE = _load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE["Globals"]["Function"]
GLOBAL_ENV: dict[str, Any] = GLOBAL_FUNCTION["Environment"]["Variables"]


def _defaults() -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in PARAMETERS.items()}


def _condition(name: str, params: Mapping[str, str]) -> bool:
    return _evaluate(TEMPLATE["Conditions"][name], params)


def _evaluate(expression: Any, params: Mapping[str, str]) -> bool:
    (function, args), *rest = expression.items()
    assert not rest, expression
    if function == "Fn::Equals":
        left, right = (_value(arg, params) for arg in args)
        return bool(left == right)
    if function == "Fn::Not":
        return not _evaluate(args[0], params)
    if function == "Fn::And":
        return all(_evaluate(arg, params) for arg in args)
    if function == "Fn::Or":
        return any(_evaluate(arg, params) for arg in args)
    if function == "Condition":
        return _condition(args, params)
    raise AssertionError(f"unsupported condition function {function}")


def _value(arg: Any, params: Mapping[str, str]) -> Any:
    if isinstance(arg, dict) and set(arg) == {"Ref"}:
        return params[arg["Ref"]]
    if isinstance(arg, dict) and set(arg) == {"Fn::Join"}:  # of a CommaDelimitedList parameter
        delimiter, items = arg["Fn::Join"]
        values = _value(items, params)
        return delimiter.join(values.split(",") if isinstance(values, str) else values)
    return arg


def _resolve(node: Any, params: Mapping[str, str]) -> Any:
    """``node`` with every Fn::If decided and every AWS::NoValue dropped (Refs are left alone)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return _resolve(when_true if _condition(name, params) else when_false, params)
        resolved = {key: _resolve(value, params) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [_resolve(item, params) for item in node if _resolve(item, params) != NO_VALUE]
    return node


def _of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in RESOURCES.items() if spec["Type"] == resource_type}


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _template_routes() -> dict[tuple[str, str], str]:
    routes: dict[tuple[str, str], str] = {}
    for name, spec in _of_type("AWS::Serverless::Function").items():
        for event in spec["Properties"].get("Events", {}).values():
            assert event["Type"] == "HttpApi"
            properties = event["Properties"]
            assert properties["ApiId"] == {"Ref": "VerificationApi"}
            key = (properties["Method"].upper(), properties["Path"])
            assert key not in routes, f"route {key} is served twice"
            routes[key] = name
    return routes


def _settings_env(**overrides: str) -> dict[str, str]:
    params = _defaults() | overrides
    env = {"TABLE_NAME": "table", "SINCH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:s"}
    env |= {variable: params[parameter] for variable, parameter in PARAMETER_VARIABLES.items()}
    return env


# ------------------------------------------------------------------------------------------- API


def test_each_design_route_is_served_by_its_function() -> None:
    assert _template_routes() == ROUTES


@pytest.mark.parametrize(
    ("api_auth", "expected_security", "expected_scheme"),
    [
        ("IAM", [{"AWS_IAM": []}], "AWS_IAM"),
        ("JWT", [{"JwtAuthorizer": []}], "JwtAuthorizer"),
        ("NONE", None, None),
    ],
)
def test_api_auth_parameter_decides_every_routes_authorizer(
    api_auth: str, expected_security: list[dict[str, list[str]]] | None, expected_scheme: str | None
) -> None:
    params = _defaults() | {"ApiAuth": api_auth, "JwtIssuer": "https://issuer.example", "JwtAudience": "a"}
    api = RESOURCES["VerificationApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert "Auth" not in api["Properties"], "SAM's Auth cannot follow a Condition; the body sets it"
    body = _resolve(api["Properties"]["DefinitionBody"], params)
    documented = {(method.upper(), path) for path, item in body["paths"].items() for method in item}
    assert documented == set(ROUTES), "every route needs its security in the OpenAPI body"
    for method, path in ROUTES:
        assert body["paths"][path][method.lower()].get("security") == expected_security, (method, path)
    schemes = body.get("components", {}).get("securitySchemes")
    if expected_scheme is None:
        assert not schemes
    else:
        assert set(schemes) == {expected_scheme}
    if api_auth == "IAM":
        assert schemes["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    if api_auth == "JWT":
        authorizer = schemes["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
        assert authorizer["type"] == "jwt"
        assert authorizer["jwtConfiguration"] == {
            "issuer": {"Ref": "JwtIssuer"},
            "audience": {"Ref": "JwtAudience"},
        }


def test_api_is_iam_protected_unless_told_otherwise() -> None:
    api_auth = PARAMETERS["ApiAuth"]
    assert api_auth["Default"] == "IAM"
    assert sorted(api_auth["AllowedValues"]) == ["IAM", "JWT", "NONE"]
    assert PARAMETERS["JwtAudience"]["Type"] == "CommaDelimitedList"
    assert "local or development" in api_auth["Description"]
    rule = TEMPLATE["Rules"]["JwtAuthNeedsIssuerAndAudience"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "JWT"]}
    asserted = json.dumps(rule["Assertions"])
    assert '"JwtIssuer"' in asserted
    assert '"JwtAudience"' in asserted


def test_api_throttles_every_route_and_logs_access_without_payloads() -> None:
    properties = RESOURCES["VerificationApi"]["Properties"]
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    assert PARAMETERS["ThrottlingBurstLimit"]["Default"] == 50
    assert PARAMETERS["ThrottlingRateLimit"]["Default"] == 20
    access = properties["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])
    assert set(fields) == {"requestId", "ip", "routeKey", "status", "latency", "integrationError"}
    for forbidden in ("body", "querystring", "path", "header", "authorizer"):
        assert forbidden not in access["Format"].replace("routeKey", "").lower()


# ------------------------------------------------------------------------------------------- IAM


def _statements(function: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The function's policy statements as deployed with ``params`` (conditional ones decided)."""
    policies = RESOURCES[function]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = []
    for policy in policies:
        assert isinstance(policy, dict), f"{function}: use explicit statements, not {policy!r}"
        assert set(policy) <= {"Version", "Statement"}, f"{function}: no SAM policy templates"
        for written in policy["Statement"]:
            statement = written
            if set(written) == {"Fn::If"}:  # a statement only some deployments have
                name, when_true, when_false = written["Fn::If"]
                statement = when_true if _condition(name, params or _defaults()) else when_false
            if statement != NO_VALUE:
                statements.append(statement)
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    ("function", "table_actions"),
    [
        ("StartVerificationFunction", {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"}),
        ("ReportVerificationFunction", {"GetItem", "UpdateItem"}),
    ],
)
@pytest.mark.parametrize(
    "workflows",
    [
        {},
        {"DeployExampleWorkflow": "true"},
        {"WorkflowStateMachineArns": "arn:aws:states:eu-west-1:123456789012:stateMachine:signup"},
        {
            "DeployExampleWorkflow": "true",
            "WorkflowStateMachineArns": "arn:aws:states:eu-west-1:1:stateMachine:a",
        },
    ],
    ids=["no-workflows", "example-workflow", "own-workflows", "both"],
)
def test_function_permissions_are_least_privilege(
    function: str, table_actions: set[str], workflows: dict[str, str]
) -> None:
    granted: dict[str, list[Any]] = {}
    for statement in _statements(function, _defaults() | workflows):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        resources = _as_list(statement["Resource"])
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{function}: wildcard action {action}"
            granted.setdefault(action, []).extend(resources)
        for resource in resources:
            assert "*" not in json.dumps(resource), f"{function}: wildcard resource {resource}"
    expected = {f"dynamodb:{action}" for action in table_actions} | {"secretsmanager:GetSecretValue"}
    resumable = _resumable_workflows(workflows)
    if resumable:
        expected |= set(WORKFLOW_CALLBACKS)
    assert set(granted) == expected
    for action, resources in granted.items():
        if action in WORKFLOW_CALLBACKS:
            assert resources == resumable, action
        else:
            assert resources == [SECRET_ARN if action.startswith("secretsmanager:") else TABLE_ARN], action


# SendTaskSuccess/SendTaskFailure: the service authorization reference lists no resource type for them,
# yet Step Functions checks them against the ARN of the state machine the task token belongs to (SAM's
# StepFunctionsCallbackPolicy scopes them so). The template therefore names the workflows: the example's
# ARN (built from its Name, see below) and the WorkflowStateMachineArns parameter, never "*".
WORKFLOW_CALLBACKS = ("states:SendTaskSuccess", "states:SendTaskFailure")
EXAMPLE_WORKFLOW_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
    "${AWS::StackName}-phone-verification"
}


def _resumable_workflows(workflows: Mapping[str, str]) -> list[Any]:
    resumable: list[Any] = []
    if workflows.get("DeployExampleWorkflow") == "true":
        resumable.append(EXAMPLE_WORKFLOW_ARN)
    if workflows.get("WorkflowStateMachineArns"):
        resumable.append({"Ref": "WorkflowStateMachineArns"})
    return resumable


def test_only_the_functions_own_log_groups_and_tracing_add_managed_permissions() -> None:
    for function in FUNCTIONS:
        properties = RESOURCES[function]["Properties"]
        assert "Role" not in properties
        assert GLOBAL_FUNCTION["Tracing"] == "Active"
        for key, _ in _walk(properties.get("Policies")):
            assert not key.endswith("Policy"), f"{function}: SAM policy template {key}"


# ------------------------------------------------------------------------------------------- state


def test_table_is_on_demand_encrypted_recoverable_and_expires_items() -> None:
    table = RESOURCES["VerificationTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_secret_is_generated_or_referenced_never_written_in_the_template() -> None:
    assert all(key != "SecretString" for key, _ in _walk(TEMPLATE))
    secret = RESOURCES["SinchSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Condition"] == "CreateSinchSecret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {
        "applicationKey": "REPLACE_WITH_SINCH_APPLICATION_KEY",
        "applicationSecret": "REPLACE_WITH_SINCH_APPLICATION_SECRET",
    }
    assert generated["GenerateStringKey"] == "hashKey"
    assert generated["PasswordLength"] == 48
    assert generated["ExcludePunctuation"] is True
    assert PARAMETERS["SinchSecretArn"]["Default"] == ""
    assert _condition("CreateSinchSecret", _defaults())
    assert not _condition("CreateSinchSecret", _defaults() | {"SinchSecretArn": "arn:aws:x"})
    assert GLOBAL_ENV["SINCH_SECRET_ARN"] == SECRET_ARN
    assert TEMPLATE["Outputs"]["SecretArn"]["Value"] == SECRET_ARN
    pattern = PARAMETERS["SinchSecretArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sinch/app-AbC123")
    assert not re.fullmatch(pattern, "sinch/app")


# ------------------------------------------------------------------------------------------- code


def test_layer_and_functions_share_runtime_architecture_and_limits() -> None:
    layer = RESOURCES["VerificationLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    # The layer's own Makefile installs for arm64/CPython 3.13 (see layers/phone_verification/Makefile).
    # BuildArchitecture: what sam build builds the layer for (without it x86_64, with a warning on every
    # build that the layer's CompatibleArchitectures does not list it).
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleArchitectures"] == GLOBAL_FUNCTION["Architectures"] == ["arm64"]
    makefile = (ROOT / "layers" / "phone_verification" / "Makefile").read_text()
    assert "--platform manylinux2014_aarch64" in makefile
    assert "--python-version 3.13" in makefile
    assert layer["Properties"]["ContentUri"] == "layers/phone_verification"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert (ROOT / "layers/phone_verification/requirements.txt").is_file()
    assert (ROOT / "layers/phone_verification/phone_verification/__init__.py").is_file()
    assert GLOBAL_FUNCTION["Runtime"] == "python3.13"
    assert GLOBAL_FUNCTION["Architectures"] == ["arm64"]
    assert GLOBAL_FUNCTION["Handler"] == "app.lambda_handler"
    assert GLOBAL_FUNCTION["Layers"] == [{"Ref": "VerificationLayer"}]
    assert GLOBAL_FUNCTION["MemorySize"] == 256
    for function, code in FUNCTIONS.items():
        assert RESOURCES[function]["Properties"]["CodeUri"] == f"functions/{code}/"


def test_function_timeout_outlasts_the_slowest_sinch_call_the_parameters_allow() -> None:
    timeout = GLOBAL_FUNCTION["Timeout"]
    assert timeout == 20
    connect, read = PARAMETERS["SinchConnectTimeoutSeconds"], PARAMETERS["SinchReadTimeoutSeconds"]
    slowest = connect["MaxValue"] + read["MaxValue"]
    assert slowest < timeout < 29


def test_every_function_logs_to_its_own_log_group_with_retention() -> None:
    assert GLOBAL_FUNCTION["LoggingConfig"]["LogFormat"] == "JSON"
    for function, suffix in (
        ("StartVerificationFunction", "start-verification"),
        ("ReportVerificationFunction", "report-verification"),
    ):
        properties = RESOURCES[function]["Properties"]
        assert properties["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
        group_ref = properties["LoggingConfig"]["LogGroup"]["Ref"]
        group = RESOURCES[group_ref]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{suffix}"}
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    access = RESOURCES["ApiAccessLogGroup"]["Properties"]
    assert access["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    retention = PARAMETERS["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]
    assert {1, 7, 30, 365, 3653} <= set(retention["AllowedValues"])


# ------------------------------------------------------------------------------------------- config


def test_every_setting_reaches_the_functions_environment() -> None:
    assert GLOBAL_ENV["TABLE_NAME"] == {"Ref": "VerificationTable"}
    for variable, parameter in PARAMETER_VARIABLES.items():
        assert GLOBAL_ENV[variable] == {"Ref": parameter}, variable
        assert parameter in PARAMETERS, parameter
    for variable, value in FIXED_VARIABLES.items():
        assert GLOBAL_ENV[variable] == value
    assert GLOBAL_ENV["AWS_ENDPOINT_URL"] == "", "only sam local's env.json may point it elsewhere"
    for function in FUNCTIONS:
        assert "Environment" not in RESOURCES[function]["Properties"], "one environment, in Globals"
    used = {value for key, value in _walk(TEMPLATE) if key == "Ref"}
    assert set(PARAMETERS) <= used, "every parameter is used"


def test_parameter_defaults_are_the_codes_defaults_and_valid() -> None:
    settings = Settings.from_env(_settings_env())
    assert settings == Settings(table_name="table", sinch_secret_arn=settings.sinch_secret_arn)
    assert PARAMETERS["LogLevel"]["Default"] == "INFO"


def _bounded_parameters() -> Iterator[tuple[str, str]]:
    for parameter in PARAMETER_VARIABLES.values():
        spec = PARAMETERS[parameter]
        for key in ("MinValue", "MaxValue"):
            if key in spec:
                yield parameter, str(spec[key])
        for allowed in spec.get("AllowedValues", []):
            yield parameter, str(allowed)


@pytest.mark.parametrize(("parameter", "value"), list(_bounded_parameters()))
def test_every_value_the_template_admits_passes_settings(parameter: str, value: str) -> None:
    Settings.from_env(_settings_env(**{parameter: value}))


def test_the_largest_timeouts_the_template_admits_pass_settings_together() -> None:
    Settings.from_env(
        _settings_env(
            SinchConnectTimeoutSeconds=str(PARAMETERS["SinchConnectTimeoutSeconds"]["MaxValue"]),
            SinchReadTimeoutSeconds=str(PARAMETERS["SinchReadTimeoutSeconds"]["MaxValue"]),
        )
    )


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("AllowedCountries", "SE", True),
        ("AllowedCountries", "SE,no, DK", True),
        ("AllowedCountries", "SWE", False),
        ("AllowedCountries", "SE,", False),
        ("SinchBaseUrl", "https://verification.api.sinch.com", True),
        ("SinchBaseUrl", "http://127.0.0.1:3001", True),
        ("SinchBaseUrl", "ftp://verification.api.sinch.com", False),
        ("SinchBaseUrl", "verification.api.sinch.com", False),
    ],
)
def test_patterns_admit_only_what_settings_accepts(parameter: str, value: str, accepted: bool) -> None:
    pattern = PARAMETERS[parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted
    if accepted:
        Settings.from_env(_settings_env(**{parameter: value}))
    elif value != "SE,":  # settings skips empty entries; the template is stricter
        with pytest.raises(ConfigurationError):
            Settings.from_env(_settings_env(**{parameter: value}))


# ------------------------------------------------------------------------------------------- alarms


def _alarms() -> dict[str, dict[str, Any]]:
    return {name: spec["Properties"] for name, spec in _of_type("AWS::CloudWatch::Alarm").items()}


def test_alarms_cover_function_errors_throttles_and_api_5xx() -> None:
    watched = {
        (alarm.get("Namespace"), alarm.get("MetricName"), json.dumps(alarm.get("Dimensions")))
        for alarm in _alarms().values()
    }
    for function in FUNCTIONS:
        dimensions = json.dumps([{"Name": "FunctionName", "Value": {"Ref": function}}])
        assert ("AWS/Lambda", "Errors", dimensions) in watched
        assert ("AWS/Lambda", "Throttles", dimensions) in watched
    api = json.dumps([{"Name": "ApiId", "Value": {"Ref": "VerificationApi"}}])
    assert ("AWS/ApiGateway", "5xx", api) in watched
    for name, alarm in _alarms().items():
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmActions"] == ALARM_ACTIONS, name
        if "MetricName" in alarm:
            assert (alarm["Period"], alarm["Statistic"], alarm["Threshold"]) == (300, "Sum", 0), name
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name


def test_sinch_failure_rate_alarm_divides_the_emitted_metrics() -> None:
    alarm = _alarms()["SinchFailureRateAlarm"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    metrics = {
        query["MetricStat"]["Metric"]["MetricName"]: query
        for query in queries.values()
        if "MetricStat" in query
    }
    assert set(metrics) == {"ProviderFailure", "SinchRequests"}
    for query in metrics.values():
        stat = query["MetricStat"]
        assert stat["Metric"]["Namespace"] == FIXED_VARIABLES["POWERTOOLS_METRICS_NAMESPACE"]
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "service", "Value": FIXED_VARIABLES["POWERTOOLS_SERVICE_NAME"]}
        ]
        assert (stat["Period"], stat["Stat"]) == (300, "Sum")
        assert query["ReturnData"] is False
    (expression,) = [query for query in queries.values() if "Expression" in query]
    failures, requests = metrics["ProviderFailure"]["Id"], metrics["SinchRequests"]["Id"]
    assert re.fullmatch(rf"(FILL\({failures}, *0\)|{failures}) */ *{requests}", expression["Expression"])
    assert expression["ReturnData"] is True
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0.2, "GreaterThanThreshold")


def test_the_conversion_alarm_divides_the_sms_metrics_the_functions_emit() -> None:
    """SMS pumping that gets past the guard shows as starts that do not convert: the alarm watches the
    SMS conversion rate over an hour, once enough starts make it mean something."""
    alarm = _alarms()["ConversionRateAlarm"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    metrics = {
        query["MetricStat"]["Metric"]["MetricName"]: query
        for query in queries.values()
        if "MetricStat" in query
    }
    assert set(metrics) == {"VerificationStarted", "VerificationSucceeded"}
    for query in metrics.values():
        stat = query["MetricStat"]
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "method", "Value": "sms"},
            {"Name": "service", "Value": FIXED_VARIABLES["POWERTOOLS_SERVICE_NAME"]},
        ]
        assert (stat["Period"], stat["Stat"], query["ReturnData"]) == (3600, "Sum", False)
    (expression,) = [query for query in queries.values() if "Expression" in query]
    started, succeeded = metrics["VerificationStarted"]["Id"], metrics["VerificationSucceeded"]["Id"]
    assert expression["Expression"] == f"IF({started} >= 50, FILL({succeeded}, 0) / {started}, 1)"
    assert alarm["Threshold"] == {"Ref": "ConversionAlarmThreshold"}
    assert alarm["ComparisonOperator"] == "LessThanThreshold"


def test_outputs() -> None:
    assert set(TEMPLATE["Outputs"]) == {
        "ApiUrl",
        "TableName",
        "SecretArn",
        "StartFunctionArn",
        "ReportFunctionArn",
        "LayerArn",
        "DashboardUrl",
        "ExampleWorkflowArn",
    }
    example = TEMPLATE["Outputs"]["ExampleWorkflowArn"]
    assert example["Condition"] == "CreateExampleWorkflow"
    assert example["Value"] == {"Ref": "ExampleVerificationWorkflow"}


# ------------------------------------------------------------------------------------ example workflow

WORKFLOW_DEFINITION = ROOT / "statemachines" / "phone_verification" / "definition.asl.json"


def test_the_example_workflow_is_deployed_only_when_asked_for() -> None:
    assert PARAMETERS["DeployExampleWorkflow"]["Default"] == "false"
    assert not _condition("CreateExampleWorkflow", _defaults())
    assert _condition("CreateExampleWorkflow", _defaults() | {"DeployExampleWorkflow": "true"})
    for name in ("ExampleVerificationWorkflow", "ExampleWorkflowRole", "ExampleWorkflowLogGroup"):
        assert RESOURCES[name]["Condition"] == "CreateExampleWorkflow", name
    assert not _condition("HasWorkflowArns", _defaults())
    pattern = PARAMETERS["WorkflowStateMachineArns"]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:states:eu-west-1:123456789012:stateMachine:signup-flow")
    assert not re.fullmatch(pattern, "arn:aws:states:eu-west-1:123456789012:stateMachine:*")
    assert not re.fullmatch(pattern, "*")


def test_the_example_workflow_runs_the_definition_file_with_its_substitutions() -> None:
    workflow = RESOURCES["ExampleVerificationWorkflow"]
    assert workflow["Type"] == "AWS::Serverless::StateMachine"
    properties = workflow["Properties"]
    assert properties["Type"] == "STANDARD"  # .waitForTaskToken needs a standard workflow
    assert ROOT / properties["DefinitionUri"] == WORKFLOW_DEFINITION
    # The functions' grant names the state machine by the ARN its Name gives.
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}-phone-verification"}
    assert EXAMPLE_WORKFLOW_ARN["Fn::Sub"].endswith(":stateMachine:" + properties["Name"]["Fn::Sub"])
    text = WORKFLOW_DEFINITION.read_text(encoding="utf-8")
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    substitutions = properties["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)
    assert substitutions["StartVerificationFunctionArn"] == {
        "Fn::GetAtt": ["StartVerificationFunction", "Arn"]
    }
    assert substitutions["VerificationTtlSeconds"] == {"Ref": "VerificationTtlSeconds"}
    assert int(substitutions["WaitMarginSeconds"]) > 0
    assert properties["Role"] == {"Fn::GetAtt": ["ExampleWorkflowRole", "Arn"]}
    logging = properties["Logging"]
    assert logging["IncludeExecutionData"] is False, "execution data holds the phone number"
    assert logging["Destinations"] == [
        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["ExampleWorkflowLogGroup", "Arn"]}}}
    ]
    group = RESOURCES["ExampleWorkflowLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_example_workflows_role_invokes_only_the_start_function() -> None:
    role = RESOURCES["ExampleWorkflowRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    by_action = {action: s["Resource"] for s in statements for action in _as_list(s["Action"])}
    assert by_action.pop("lambda:InvokeFunction") == {"Fn::GetAtt": ["StartVerificationFunction", "Arn"]}
    # What is left is CloudWatch Logs' log delivery, which takes no resource ARN (Step Functions'
    # logging guide grants it on "*"): it sets up delivery to the Logging destination, it reads no log.
    assert set(by_action) == {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
    assert set(by_action.values()) == {"*"}


def test_the_definition_starts_waits_retries_and_fails_with_the_reason() -> None:
    definition = json.loads(WORKFLOW_DEFINITION.read_text(encoding="utf-8"))
    states = definition["States"]
    task = states["StartVerification"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    payload = task["Parameters"]["Payload"]
    assert payload == {
        "phoneNumber.$": "$.phoneNumber",
        "owner.$": "$.owner",
        "idempotencyKey.$": "$$.Execution.Id",
        "taskToken.$": "$$.Task.Token",
    }
    assert task["TimeoutSecondsPath"] == "$.workflow.waitSeconds"
    (retry,) = task["Retry"]
    assert {"ProviderUnavailable", "ServiceUnavailable", "Lambda.ServiceException"} <= set(
        retry["ErrorEquals"]
    )
    caught = {error: catch["Next"] for catch in task["Catch"] for error in catch["ErrorEquals"]}
    assert caught == {
        "States.Timeout": "NoCode",
        "TooManyAttempts": "NotVerified",
        "VerificationExpired": "NotVerified",
        "DestinationDenied": "NotVerified",
        "InvalidRequest": "NotVerified",
        "RateLimited": "NotVerified",
    }
    assert states[task["Next"]]["Type"] == "Succeed"
    assert states["NotVerified"]["Type"] == states["NoCode"]["Type"] == "Fail"
    assert states["NoCode"]["Error"] == "VerificationExpired"


def test_an_open_api_must_be_asked_for_twice() -> None:
    # Given ApiAuth=NONE, When AllowUnauthenticatedApi is not "true", Then CloudFormation refuses the stack.
    assert PARAMETERS["AllowUnauthenticatedApi"]["Default"] == "false"
    rule = TEMPLATE["Rules"]["OpenApiMustBeConfirmed"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "NONE"]}
    [assertion] = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AllowUnauthenticatedApi"}, "true"]}
    assert "anyone" in assertion["AssertDescription"]


def test_parameters_are_grouped_for_the_console() -> None:
    groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [parameter for group in groups for parameter in group["Parameters"]]
    assert sorted(grouped) == sorted(PARAMETERS)


# ------------------------------------------------------------------------------------------- events


def _events() -> dict[str, Any]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(EVENTS_DIR.glob("*.json"))
        if path.name != "env.json"
    }


EVENTS = _events()


def _route_pattern(path: str) -> str:
    return "^" + re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(path)) + "$"


def test_every_event_file_is_json_and_the_design_flows_are_there() -> None:
    expected = {
        "start-sms.json",
        "start-flashcall.json",
        "start-sms-custom-code.json",
        "start-callout.json",
        "start-whatsapp.json",
        "start-with-idempotency-key.json",
        "start-sms-rest-v1.json",
        "start-direct.json",
        "report-by-id.json",
        "report-by-number.json",
        "report-flashcall.json",
        "report-direct.json",
        "status.json",
    }
    assert expected <= set(EVENTS)


@pytest.mark.parametrize("name", [name for name, event in EVENTS.items() if event.get("version") == "2.0"])
def test_http_api_events_match_a_template_route(name: str) -> None:
    event = EVENTS[name]
    method, path = event["routeKey"].split(" ", 1)
    assert (method, path) in ROUTES
    context = event["requestContext"]
    assert context["routeKey"] == event["routeKey"]
    assert context["http"]["method"] == method
    assert context["stage"] == "$default"
    assert set(context["authorizer"]["iam"]) >= {"accessKey", "accountId", "callerId", "userArn", "userId"}
    assert re.match(_route_pattern(path), event["rawPath"])
    assert set(event.get("pathParameters", {})) == set(re.findall(r"\{([A-Za-z]+)\}", path))
    assert event["isBase64Encoded"] is False
    if method not in ("GET", "DELETE"):  # a cancel has no body
        assert event["headers"]["content-type"] == "application/json"
        assert isinstance(json.loads(event["body"]), dict)


def test_rest_api_event_matches_a_template_route() -> None:
    event = EVENTS["start-sms-rest-v1.json"]
    assert (event["httpMethod"], event["resource"]) in ROUTES
    assert event["requestContext"]["identity"]["userArn"].startswith("arn:aws:iam::")
    assert isinstance(json.loads(event["body"]), dict)


def test_direct_events_are_plain_requests() -> None:
    assert set(EVENTS["start-direct.json"]) == {"phoneNumber", "method", "channels"}
    assert set(EVENTS["report-direct.json"]) == {"id", "code"}


def test_each_start_event_uses_its_own_number() -> None:
    numbers = []
    for name, event in EVENTS.items():
        if not name.startswith("start-"):
            continue
        request = json.loads(event["body"]) if "body" in event else event
        numbers.append(request["phoneNumber"])
    assert len(numbers) == len(set(numbers)), "rate limits allow one start per number every 30 s"


def test_env_json_points_sam_local_at_the_local_stack() -> None:
    env = json.loads((EVENTS_DIR / "env.json").read_text(encoding="utf-8"))
    assert set(env) == set(FUNCTIONS)
    declared = set(GLOBAL_ENV)
    for function, variables in env.items():
        assert variables["SINCH_BASE_URL"].endswith(":3001"), function
        assert variables["AWS_ENDPOINT_URL"].endswith(":3002"), function
        assert variables["TABLE_NAME"]
        assert variables["SINCH_SECRET_ARN"]
        # SAM CLI overrides only variables the template declares; it sets AWS_* credentials itself.
        undeclared = {name for name in variables if name not in declared}
        assert undeclared <= SAM_SUPPLIED
