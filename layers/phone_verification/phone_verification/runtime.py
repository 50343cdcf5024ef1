"""Wiring: settings, AWS clients, the Sinch client and the service, built once per execution environment.

Nothing is created at import time. The first invocation builds everything (that is the cold start's
share of the work) and warm invocations reuse it, including the Sinch client's HTTP connection pool and
the cached secret. Tests and the local stack replace the pieces through ``configure``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from .ports import Events, Replays
    from .service import VerificationService
    from .sinch_secret import SecretsManagerCredentials


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    service: VerificationService
    credentials: SecretsManagerCredentials | None
    # Built on the first start that carries an Idempotency-Key: Powertools' persistence layer imports
    # boto3, which nothing else here needs.
    idempotency: Callable[[], DynamoDBPersistenceLayer]

    def replays(self, context: LambdaContext | None) -> Replays:
        """Idempotent starts for one invocation (its context bounds how long a start holds its key)."""
        from .idempotency import PowertoolsReplays

        return PowertoolsReplays(
            self.idempotency,
            expires_after_seconds=self.settings.verification_ttl_seconds,
            context=context,
        )


_lock = threading.Lock()
_current: Dependencies | None = None


@cache
def _aws_session() -> Any:
    # botocore's own session, not boto3's: the clients are the same objects, without the ~50 ms of
    # importing boto3's resource layer on every cold start. Region, credentials and AWS_ENDPOINT_URL*
    # come from the environment as they would through boto3.
    import botocore.session

    return botocore.session.get_session()


def _aws_client(service: str, *, retries: int = 3, read_timeout: int = 5) -> Any:
    from botocore.config import Config

    # Short timeouts and the standard retry mode: DynamoDB and Secrets Manager answer in milliseconds,
    # and a stuck call must fail well inside API Gateway's 30 s. (botocore's max_attempts counts the
    # retries, not the first attempt.)
    config = Config(
        connect_timeout=2, read_timeout=read_timeout, retries={"mode": "standard", "max_attempts": retries}
    )
    return _aws_session().create_client(service, config=config)


def persistence_layer(table_name: str, dynamodb: Any) -> Callable[[], DynamoDBPersistenceLayer]:
    """Powertools' idempotency store over ``dynamodb``, created on first use and then reused."""

    @cache
    def layer() -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=table_name, key_attr="pk", expiry_attr="ttl", boto3_client=dynamodb
        )

    return layer


def _events(settings: Settings) -> Events | None:
    """EventBridge when a bus is configured (its module and client only then; the client on the first
    change to publish), else none."""
    if not settings.event_bus_name:
        return None
    from .events import EventBridgeEvents

    # An event is at most once and never worth the user's wait: one retry, and a short read timeout.
    return EventBridgeEvents(
        settings.event_bus_name, lambda: _aws_client("events", retries=1, read_timeout=2)
    )


def build(settings: Settings | None = None) -> Dependencies:
    from .observability import MetricOutcomes, record_sinch_call
    from .service import VerificationService
    from .sinch import SinchClient
    from .sinch.adapter import SinchAdapter
    from .sinch_secret import SecretsManagerCredentials
    from .store import VerificationStore
    from .workflow import TaskCallbacks

    settings = settings or Settings.from_env()
    dynamodb = _aws_client("dynamodb")
    credentials = SecretsManagerCredentials(
        settings.sinch_secret_arn,
        client=_aws_client("secretsmanager"),
        max_age=settings.secret_max_age_seconds,
    )
    sinch = SinchClient(
        credentials,
        base_url=settings.sinch_base_url,
        auth_scheme=settings.sinch_auth_scheme,
        connect_timeout=settings.sinch_connect_timeout_seconds,
        read_timeout=settings.sinch_read_timeout_seconds,
        on_call=record_sinch_call,
    )
    service = VerificationService(
        settings=settings,
        store=VerificationStore(settings.table_name, dynamodb),
        sinch=SinchAdapter(sinch),
        keys=credentials,
        outcomes=MetricOutcomes(),
        # Step Functions' client only once a verification started by a workflow ends.
        workflows=TaskCallbacks(lambda: _aws_client("stepfunctions")),
        events=_events(settings),
    )
    return Dependencies(
        settings=settings,
        service=service,
        credentials=credentials,
        idempotency=persistence_layer(settings.table_name, dynamodb),
    )


def current() -> Dependencies:
    """The dependencies of this execution environment, built on first use."""
    global _current  # noqa: PLW0603 - one set of clients per execution environment is the point
    if _current is None:
        with _lock:
            if _current is None:
                _current = build()
    return _current


def configure(factory: Callable[[], Dependencies] | None) -> None:
    """Replace (or with None, forget) the dependencies; for tests and the local stack."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = factory() if factory is not None else None
