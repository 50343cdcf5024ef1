"""Run the product's real Lambda handlers locally: no AWS account, no Docker.

``LocalStack`` starts an AWS emulator (moto server) with the template's table and secret, the Sinch
sandbox, and a local API Gateway that turns HTTP requests into real Lambda events for the handlers
named in ``template.yaml``. ``python -m local_stack`` (``make run``) is the command-line form.
"""

from local_stack.auth import LOCAL_ACCOUNT_ID, LOCAL_DEVELOPER_ARN, PRINCIPAL_HEADER
from local_stack.runtime import HandlerLoadError, LambdaContext, MarshalError
from local_stack.stack import DEFAULT_TEMPLATE, LocalStack, LocalStackError
from local_stack.template import Route, Template, TemplateError

__all__ = [
    "DEFAULT_TEMPLATE",
    "LOCAL_ACCOUNT_ID",
    "LOCAL_DEVELOPER_ARN",
    "PRINCIPAL_HEADER",
    "HandlerLoadError",
    "LambdaContext",
    "LocalStack",
    "LocalStackError",
    "MarshalError",
    "Route",
    "Template",
    "TemplateError",
]
