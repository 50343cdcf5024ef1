"""Resuming the Step Functions executions that wait for a verification (the callback pattern).

A state machine starts a verification with ``arn:aws:states:::lambda:invoke.waitForTaskToken`` and passes
``$$.Task.Token`` as ``taskToken``; the service keeps the token with the verification and, when the
verification ends, hands it here once: ``SendTaskSuccess`` with the verification (as the report answers
it) as the task's output, or ``SendTaskFailure`` with the error name a ``Catch`` matches and the error's
fixed sentence as the cause. This is the only module that talks to Step Functions.

The user's answer stands whatever became of the workflow: a token Step Functions no longer accepts (the
task timed out, the execution was stopped, the token was used) is logged and ignored, and any other
failure is logged as an error; nothing here raises. The token itself is never logged: whoever holds it
can resume the execution.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import VerificationError
from .model import Verification
from .responses import verification_body

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger(__name__)

# Step Functions' answers for a token whose task no longer waits: it timed out (TimeoutSeconds,
# HeartbeatSeconds), its execution ended or was stopped, or the token was already used.
GONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class TaskCallbacks:
    """The ``WorkflowNotifier`` port: SendTaskSuccess / SendTaskFailure. The client is created on first
    use, so the functions of a deployment that uses no workflow never build one."""

    def __init__(self, client: Callable[[], SFNClient]) -> None:
        self._client_factory = client
        self._client: SFNClient | None = None

    def _sfn(self) -> SFNClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def succeeded(self, token: str, verification: Verification) -> bool:
        """Resume the task with the verification (as the report answers it) as its output; True if Step
        Functions took it."""
        output = json.dumps(verification_body(verification), separators=(",", ":"))
        return self._send(
            "SendTaskSuccess",
            verification.id,
            None,
            lambda sfn: sfn.send_task_success(taskToken=token, output=output),
        )

    def failed(self, token: str, error: VerificationError, *, verification_id: str) -> bool:
        """Fail the task with the error's name (as a direct invocation would raise it) and fixed cause."""
        name = type(error).__name__
        return self._send(
            "SendTaskFailure",
            verification_id,
            name,
            lambda sfn: sfn.send_task_failure(taskToken=token, error=name, cause=error.detail),
        )

    def _send(
        self, action: str, verification_id: str, error: str | None, call: Callable[[SFNClient], Any]
    ) -> bool:
        details: dict[str, Any] = {"verification_id": verification_id, "action": action}
        if error is not None:
            details["workflow_error"] = error
        try:
            call(self._sfn())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in GONE:
                logger.info(
                    "the workflow no longer waits for this verification", extra={**details, "aws_error": code}
                )
            else:
                logger.error("could not resume the workflow", extra={**details, "aws_error": code})
            return False
        except BotoCoreError as exc:
            logger.error("could not resume the workflow", extra={**details, "aws_error": type(exc).__name__})
            return False
        logger.info("workflow resumed", extra=details)
        return True
