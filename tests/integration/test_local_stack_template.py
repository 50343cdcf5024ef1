"""The local stack's template reader: short tags, intrinsic functions, routes, table and secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from local_stack.emulator import secret_value
from local_stack.template import NO_VALUE, Resolver, Template, TemplateError, load_document

FIXTURES = Path(__file__).parent / "local_stack_fixtures"
TEMPLATE = FIXTURES / "template.yaml"


def _template(text: str, tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return Template.load(path)


def _resolver(template: Template, **overrides: str) -> Resolver:
    return template.resolver(
        parameter_overrides=overrides, region="eu-west-1", account_id="000000000000", stack_name="s"
    )


def test_short_tags_become_long_forms() -> None:
    document = load_document(TEMPLATE)
    variables = document["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": "VerificationTable"}
    assert variables["TABLE_ARN"] == {"Fn::GetAtt": ["VerificationTable", "Arn"]}
    assert variables["SINCH_SECRET_ARN"] == {
        "Fn::If": ["CreateSecret", {"Ref": "SinchSecret"}, {"Ref": "ExistingSinchSecretArn"}]
    }
    assert document["Conditions"]["DevAndSecret"]["Fn::And"][0] == {"Condition": "CreateSecret"}
    assert document["AWSTemplateFormatVersion"] == "2010-09-09"  # a string, not a date


def test_not_a_template_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("just: text\n")
    with pytest.raises(TemplateError, match="no Resources"):
        Template.load(tmp_path / "bad.yaml")
    with pytest.raises(TemplateError, match="cannot read"):
        Template.load(tmp_path / "missing.yaml")


def test_routes_come_from_function_events() -> None:
    template = Template.load(TEMPLATE)
    routes = {(r.method, r.path): r for r in template.routes(_resolver(template))}
    assert set(routes) == {
        ("POST", "/verifications"),
        ("PUT", "/verifications/{id}"),
        ("PUT", "/verifications/number/{phoneNumber}"),
        ("GET", "/verifications/{id}"),
        ("GET", "/health"),
        ("GET", "/legacy/{id}"),
    }
    assert routes[("POST", "/verifications")].function_id == "StartVerificationFunction"
    assert routes[("PUT", "/verifications/{id}")].route_key == "PUT /verifications/{id}"
    assert routes[("PUT", "/verifications/{id}")].payload_version == "2.0"
    assert routes[("GET", "/health")].authorizer == "NONE"
    assert routes[("GET", "/legacy/{id}")].api_type == "Api"
    assert routes[("GET", "/legacy/{id}")].payload_version == "1.0"


def test_functions_merge_globals() -> None:
    template = Template.load(TEMPLATE)
    functions = template.functions(_resolver(template))
    start = functions["StartVerificationFunction"]
    report = functions["ReportVerificationFunction"]
    assert start.handler == "app.lambda_handler"
    assert start.code_dir == (FIXTURES / "functions" / "start").resolve()
    assert (start.timeout_seconds, report.timeout_seconds) == (10, 5)
    assert start.memory_mb == 256
    assert start.runtime == "python3.11"
    assert start.layer_dirs == ((FIXTURES / "layer").resolve(),)
    assert start.environment["POWERTOOLS_SERVICE_NAME"] == "start-verification"
    assert start.environment["TABLE_NAME"] == "s-VerificationTable"  # the placeholder before creation


def test_parameters_defaults_overrides_and_allowed_values() -> None:
    template = Template.load(TEMPLATE)
    values = template.parameter_values({"VerificationTtlSeconds": "120"})
    assert values["VerificationTtlSeconds"] == "120"
    assert values["AllowedCountries"] == ["SE", "NO"]
    assert values["ExistingSinchSecretArn"] == ""
    with pytest.raises(TemplateError, match="must be one of IAM, JWT, NONE"):
        template.parameter_values({"ApiAuth": "OPEN"})
    with pytest.raises(TemplateError, match="unknown template parameter"):
        template.parameter_values({"Typo": "1"})


def test_conditions_follow_parameters_and_can_be_forced() -> None:
    template = Template.load(TEMPLATE)
    assert _resolver(template).condition("CreateSecret") is True
    existing = _resolver(template, ExistingSinchSecretArn="arn:aws:secretsmanager:x")
    assert existing.condition("CreateSecret") is False
    assert template.secrets(existing) == []
    env = template.functions(existing)["StartVerificationFunction"].environment
    assert env["SINCH_SECRET_ARN"] == "arn:aws:secretsmanager:x"
    forced = template.resolver(
        parameter_overrides={"ExistingSinchSecretArn": "arn:aws:secretsmanager:x"},
        region="eu-west-1",
        account_id="000000000000",
        stack_name="s",
        forced_conditions=template.conditions_of("AWS::SecretsManager::Secret"),
    )
    assert forced.condition("CreateSecret") is True
    assert template.conditions_of("AWS::SecretsManager::Secret") == frozenset({"CreateSecret"})
    assert _resolver(template, ApiAuth="NONE").condition("HasAuthorizer") is False


def test_intrinsic_functions(tmp_path: Path) -> None:
    template = _template(
        """
Parameters:
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
  Env: {Type: String, Default: prod}
Mappings:
  Sizes: {prod: {Memory: 512}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  Either: !Or [!Condition IsProd, !Equals [x, y]]
Resources:
  Thing: {Type: AWS::SQS::Queue}
""",
        tmp_path,
    )
    resolver = _resolver(template)
    resolve = resolver.resolve
    assert resolve({"Fn::Join": ["-", {"Ref": "Names"}]}) == "a-b-c"
    assert resolve({"Fn::Select": [2, {"Ref": "Names"}]}) == "c"
    assert resolve({"Fn::Split": [",", "x,y"]}) == ["x", "y"]
    assert resolve({"Fn::Sub": "${AWS::Region}:${AWS::AccountId}:${Env}:${!Keep}"}) == (
        "eu-west-1:000000000000:prod:${Keep}"
    )
    assert resolve({"Fn::Sub": ["${A}/${Thing}", {"A": {"Ref": "Env"}}]}) == "prod/Thing"
    assert resolve({"Fn::Sub": "${Thing.Arn}"}) == resolve({"Fn::GetAtt": ["Thing", "Arn"]})
    assert resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}) == 512
    assert resolve({"Fn::If": ["IsProd", "big", "small"]}) == "big"
    assert resolver.condition("Either") is True
    assert resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    assert resolve({"k": {"Ref": "AWS::NoValue"}, "j": 1}) == {"j": 1}
    assert resolve([1, {"Ref": "AWS::NoValue"}]) == [1]
    assert resolve({"Fn::Base64": "hi"}) == "aGk="
    assert resolve({"Fn::ToJsonString": {"a": 1}}) == '{"a":1}'
    with pytest.raises(TemplateError, match="no such parameter or resource"):
        resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match="not supported"):
        resolve({"Fn::Cidr": ["10.0.0.0/16", 1, 8]})


def test_table_definition_is_read_as_written() -> None:
    template = Template.load(TEMPLATE)
    (table,) = template.tables(_resolver(template))
    assert table.logical_id == "VerificationTable"
    assert table.key_schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table.attribute_definitions == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table.billing_mode == "PAY_PER_REQUEST"
    assert table.ttl_attribute == "ttl"
    assert table.provisioned_throughput is None


def test_secret_definition_and_its_local_value() -> None:
    template = Template.load(TEMPLATE)
    (secret,) = template.secrets(_resolver(template))
    assert secret.secret_string_template == '{"applicationKey":"REPLACE_ME","applicationSecret":"REPLACE_ME"}'
    assert secret.generate_string_key == "hashKey"
    assert secret.password_length == 48
    assert secret.exclude_punctuation is True
    value = yaml.safe_load(secret_value(secret, credentials=("k", "s")))
    assert value["applicationKey"] == "k"
    assert value["applicationSecret"] == "s"
    assert len(value["hashKey"]) == 48
    assert value["hashKey"].isalnum()


def test_simple_table_and_unconditional_resources(tmp_path: Path) -> None:
    template = _template(
        """
Resources:
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: id, Type: Number}
""",
        tmp_path,
    )
    (table,) = template.tables(_resolver(template))
    assert table.key_schema == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table.attribute_definitions == [{"AttributeName": "id", "AttributeType": "N"}]
    assert table.billing_mode == "PAY_PER_REQUEST"


def test_bare_http_api_event_is_the_default_route(tmp_path: Path) -> None:
    template = _template(
        """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: pkg.mod.handler
      Events:
        All: {Type: HttpApi}
        Old:
          Type: HttpApi
          Properties: {Path: /v1, Method: any, PayloadFormatVersion: "1.0"}
        Queue: {Type: SQS, Properties: {Queue: arn}}
""",
        tmp_path,
    )
    routes: dict[str, Any] = {r.event_name: r for r in template.routes(_resolver(template))}
    assert set(routes) == {"All", "Old"}
    assert routes["All"].route_key == "$default"
    assert routes["Old"].method == "ANY"
    assert routes["Old"].payload_version == "1.0"
    spec = template.functions(_resolver(template))["Fn"]
    assert spec.handler == "pkg.mod.handler"
    assert (spec.timeout_seconds, spec.memory_mb) == (3, 128)  # Lambda's defaults
