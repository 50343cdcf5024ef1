"""Idempotent starts through Powertools' idempotency utility: the ``Replays`` port.

One record per (caller, key) in the verification table, keyed by a hash and holding the first answer
(which has no code and no number). The record lives as long as the verification, so a retry after expiry
starts a new one. A reused key with a different request is refused, and a retry while the first is
still running is told to come back in a second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import Conflict, RateLimited, ServiceUnavailable
from .model import Started, Verification
from .responses import verification_body, verification_from_body

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = logging.getLogger(__name__)


class PowertoolsReplays:
    """The ``Replays`` port for one invocation: ``context`` lets Powertools expire an in-progress record
    when the invocation that holds it times out, instead of after ``expires_after_seconds``."""

    def __init__(
        self,
        persistence: Callable[[], DynamoDBPersistenceLayer],
        *,
        expires_after_seconds: int,
        context: LambdaContext | None,
    ) -> None:
        self._persistence = persistence
        self._expires_after = expires_after_seconds
        self._context = context

    def once(
        self,
        *,
        owner_hash: str,
        key: str,
        fingerprint: Mapping[str, object],
        first: Callable[[], Verification],
    ) -> Started:
        # Imported on the first keyed start: the utility and boto3 are not needed by any other request.
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        config = IdempotencyConfig(
            event_key_jmespath="[owner, key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self._expires_after,
        )
        if self._context is not None:
            config.register_lambda_context(self._context)

        made: list[Verification] = []

        def first_start(request: dict[str, Any]) -> dict[str, Any]:
            made.append(first())
            return verification_body(made[0])

        run = idempotent_function(
            data_keyword_argument="request", persistence_store=self._persistence(), config=config
        )(first_start)
        try:
            answer: dict[str, Any] = run(
                request={"owner": owner_hash, "key": key, "request": dict(fingerprint)}
            )
        except IdempotencyValidationError:
            raise Conflict("This Idempotency-Key was already used with a different request.") from None
        except IdempotencyAlreadyInProgressError:
            raise RateLimited(
                "The first request with this Idempotency-Key is still running.", retry_after=1
            ) from None
        except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as exc:
            # The idempotency records' table is throttled or unreachable: as for the verifications' own
            # writes, the caller may try again shortly (a workflow retries ServiceUnavailable).
            logger.warning("the idempotency store failed", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(retry_after=1) from exc
        # The first answer ran ``first`` here; a replay is the stored answer, read back.
        return Started(made[0]) if made else Started(verification_from_body(answer), replayed=True)
