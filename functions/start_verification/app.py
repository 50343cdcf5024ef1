"""start-verification: every send. ``POST /verifications`` starts a verification, ``POST
/verifications/{id}/next`` sends its next channel; direct invocation (Step Functions, lambda:Invoke) does
either (``"action": "next"`` with ``id``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phone_verification import api, runtime
from phone_verification.commands import InvalidRequest, direct_owner, next_command, start_command
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


@router.post("/verifications/{id}/next")
def next_http(request: api.Request) -> api.Response:
    command = next_command(
        api.read_json(request) if request.event.get("body") else None,
        verification=api.path_parameter(request, "id"),
        owner=api.caller(request),
        rate_key=api.rate_key(request),
        idempotency_key_value=request.headers.get("idempotency-key"),
    )
    deps = runtime.current()
    sent = deps.service.next_channel_once(command, deps.replays(request.context))
    headers = {"Idempotent-Replayed": "true"} if sent.replayed else {}
    return api.json_response(200, verification_body(sent.verification), headers)


def start_direct(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A direct caller is trusted by IAM (lambda:InvokeFunction) and may name who can report later.
    # A Step Functions task (lambda:invoke.waitForTaskToken) passes $$.Task.Token as taskToken: the
    # verification resumes it when it ends.
    fields = event if isinstance(event, Mapping) else {}
    if fields.get("action") == "next":
        return _next_direct(fields, context)
    if fields.get("action") is not None:
        raise InvalidRequest("action must be next (cancel is the report function's).")
    command = start_command(
        event,
        owner=direct_owner(fields.get("owner")),
        idempotency_key_value=fields.get("idempotencyKey"),
        task_token=fields.get("taskToken"),
        direct=True,
    )
    deps = runtime.current()
    return verification_body(deps.service.start_once(command, deps.replays(context)).verification)


def _next_direct(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    command = next_command(
        event,
        verification=event.get("id"),
        owner=direct_owner(event.get("owner")),
        idempotency_key_value=event.get("idempotencyKey"),
        task_token=event.get("taskToken"),
        direct=True,
    )
    deps = runtime.current()
    return verification_body(deps.service.next_channel_once(command, deps.replays(context)).verification)


lambda_handler = api.entrypoint(router, start_direct)
