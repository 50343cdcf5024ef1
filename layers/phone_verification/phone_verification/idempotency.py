"""Idempotent starts: a retried start with the same key returns the first result and sends nothing.

Powertools' idempotency utility keeps one record per (caller, key) in the verification table, keyed by
a hash, holding the first response (which has no code and no number). The record lives as long as the
verification, so a retry after expiry starts a new one. A reused key with a different request is
refused, and a retry while the first is still running is told to come back in a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .commands import StartCommand
from .errors import InvalidRequest, RateLimited

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from .runtime import Dependencies

REPLAYED = "_replayed"


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, REPLAYED: True} if isinstance(response, dict) else response


def start(deps: Dependencies, command: StartCommand, context: LambdaContext | None) -> dict[str, Any]:
    """The start response as JSON; with ``REPLAYED`` set when it is a stored first result."""
    if command.idempotency_key is None:
        return deps.service.start(command).to_json()

    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[owner, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=deps.settings.verification_ttl_seconds,
        response_hook=_mark_replayed,
    )
    if context is not None:
        config.register_lambda_context(context)

    def first_start(request: dict[str, Any]) -> dict[str, Any]:
        return deps.service.start(command).to_json()

    once = idempotent_function(
        data_keyword_argument="request", persistence_store=deps.idempotency(), config=config
    )(first_start)
    fingerprint = deps.service.fingerprint(command)
    try:
        result: dict[str, Any] = once(
            request={"owner": fingerprint["owner"], "key": command.idempotency_key, "request": fingerprint}
        )
    except IdempotencyValidationError:
        raise InvalidRequest(
            "This Idempotency-Key was already used with a different request.", http_status=422
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise RateLimited(
            "The first request with this Idempotency-Key is still running.", retry_after=1
        ) from None
    return result
