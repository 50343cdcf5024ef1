"""Run the product's real Lambda handlers locally: no AWS account, no Docker.

``LocalStack`` starts an AWS emulator (moto server) with the template's table and secret, the Sinch
sandbox, and a local API Gateway that turns HTTP requests into real Lambda events for the handlers
named in ``template.yaml``. ``python -m local_stack`` (``make run``) is the command-line form.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_stack.auth import LOCAL_ACCOUNT_ID, LOCAL_DEVELOPER_ARN, PRINCIPAL_HEADER
    from local_stack.runtime import HandlerLoadError, LambdaContext, MarshalError
    from local_stack.stack import DEFAULT_TEMPLATE, LocalStack, LocalStackError
    from local_stack.template import Route, Template, TemplateError

# Imported on first use (PEP 562): `python -m local_stack` installs its signal handlers before the AWS SDK
# and moto are imported, so Ctrl-C at any moment of a start-up stops it cleanly.
_HOMES = {
    "LOCAL_ACCOUNT_ID": "auth",
    "LOCAL_DEVELOPER_ARN": "auth",
    "PRINCIPAL_HEADER": "auth",
    "HandlerLoadError": "runtime",
    "LambdaContext": "runtime",
    "MarshalError": "runtime",
    "DEFAULT_TEMPLATE": "stack",
    "LocalStack": "stack",
    "LocalStackError": "stack",
    "Route": "template",
    "Template": "template",
    "TemplateError": "template",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'local_stack' has no attribute {name!r}")
    return getattr(importlib.import_module(f"local_stack.{home}"), name)


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
