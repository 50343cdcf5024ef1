"""start-verification: ``POST /verifications`` and direct invocation (Step Functions, lambda:Invoke)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phone_verification import api, idempotency, runtime
from phone_verification.commands import ANONYMOUS, start_command

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
    result = idempotency.start(runtime.current(), command, request.context)
    headers = {"Location": f"/verifications/{result['id']}"}
    if result.pop(idempotency.REPLAYED, False):
        headers["Idempotent-Replayed"] = "true"
    return api.json_response(201, result, headers)


def start_direct(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A direct caller is trusted by IAM (lambda:InvokeFunction) and may name who can report later.
    # A Step Functions task (lambda:invoke.waitForTaskToken) passes $$.Task.Token as taskToken: the
    # verification resumes it when it ends.
    fields = event if isinstance(event, Mapping) else {}
    owner = fields.get("owner")
    command = start_command(
        event,
        owner=owner if isinstance(owner, str) and owner else ANONYMOUS,
        idempotency_key_value=fields.get("idempotencyKey"),
        task_token=fields.get("taskToken"),
    )
    deps = runtime.current()
    result = idempotency.start(deps, command, context)
    if result.pop(idempotency.REPLAYED, False) and command.task_token is not None:
        # A retry of the task: the workflow now waits on the retry's token, not the first attempt's.
        deps.service.attach_task_token(result["id"], command.task_token)
    return result


lambda_handler = api.entrypoint(router, start_direct)
