"""start-verification: ``POST /verifications`` and direct invocation (Step Functions, lambda:Invoke)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phone_verification import api, runtime
from phone_verification.commands import direct_owner, start_command
from phone_verification.responses import verification_body

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

router = api.Router()


@router.post("/verifications")
def start_http(request: api.Request) -> api.Response:
    command = start_command(
        api.read_json(request),
        owner=api.caller(request),
        rate_key=api.rate_key(request),
        idempotency_key_value=request.headers.get("idempotency-key"),
    )
    deps = runtime.current()
    started = deps.service.start_once(command, deps.replays(request.context))
    headers = {"Location": f"/verifications/{started.verification.id}"}
    if started.replayed:
        headers["Idempotent-Replayed"] = "true"
    return api.json_response(201, verification_body(started.verification), headers)


def start_direct(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A direct caller is trusted by IAM (lambda:InvokeFunction) and may name who can report later.
    # A Step Functions task (lambda:invoke.waitForTaskToken) passes $$.Task.Token as taskToken: the
    # verification resumes it when it ends.
    fields = event if isinstance(event, Mapping) else {}
    command = start_command(
        event,
        owner=direct_owner(fields.get("owner")),
        idempotency_key_value=fields.get("idempotencyKey"),
        task_token=fields.get("taskToken"),
        direct=True,
    )
    deps = runtime.current()
    return verification_body(deps.service.start_once(command, deps.replays(context)).verification)


lambda_handler = api.entrypoint(router, start_direct)
