"""report-verification: report a code or CLI, by id or by number, read a verification's state, cancel it.

Routes ``PUT /verifications/{id}``, ``PUT /verifications/number/{phoneNumber}``, ``GET /verifications/{id}``,
``DELETE /verifications/{id}``; a direct invocation with ``code`` or ``cli`` reports, one with
``"action": "cancel"`` cancels, one with only ``id`` reads the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phone_verification import api, runtime
from phone_verification.commands import InvalidRequest, direct_owner, report_command, verification_id
from phone_verification.responses import verification_body

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

router = api.Router()


@router.put("/verifications/{id}")
def report_by_id(request: api.Request) -> api.Response:
    command = report_command(
        api.read_json(request), owner=api.caller(request), verification=api.path_parameter(request, "id")
    )
    return api.json_response(200, verification_body(runtime.current().service.report(command)))


@router.put("/verifications/number/{phoneNumber}")
def report_by_number(request: api.Request) -> api.Response:
    command = report_command(
        api.read_json(request),
        owner=api.caller(request),
        phone_number=api.path_parameter(request, "phoneNumber"),
    )
    return api.json_response(200, verification_body(runtime.current().service.report(command)))


@router.get("/verifications/{id}")
def status(request: api.Request) -> api.Response:
    verification = verification_id(api.path_parameter(request, "id"))
    return api.json_response(
        200, verification_body(runtime.current().service.status(verification, api.caller(request)))
    )


@router.delete("/verifications/{id}")
def cancel(request: api.Request) -> api.Response:
    verification = verification_id(api.path_parameter(request, "id"))
    return api.json_response(
        200, verification_body(runtime.current().service.cancel(verification, api.caller(request)))
    )


def report_direct(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidRequest("The input must be a JSON object.", unreadable=True)
    owner = direct_owner(event.get("owner"))
    service = runtime.current().service
    action = event.get("action")
    if action == "cancel":
        return verification_body(service.cancel(verification_id(event.get("id")), owner))
    if action is not None:
        raise InvalidRequest("action must be cancel (next is the start function's).")
    if "code" not in event and "cli" not in event:
        return verification_body(service.status(verification_id(event.get("id")), owner))
    command = report_command(
        event, owner=owner, verification=event.get("id"), phone_number=event.get("phoneNumber")
    )
    return verification_body(service.report(command))


lambda_handler = api.entrypoint(router, report_direct)
