"""``python -m local_stack.events`` (``make events``): print the lifecycle events of a running ``make run``.

Start the local stack with events on (``EVENT_BUS_NAME=default make run``), then run this in another
terminal. On the stack's AWS emulator it creates an SQS queue and a rule on the bus (EVENT_BUS_NAME, else
``default``) that sends the queue every event of source ``phone-verification``, which is how a consumer
in AWS would receive them too. It prints each event as it arrives, its detail-type and then its detail as
JSON, one line each, and removes the rule and the queue when it stops: Ctrl-C, SIGTERM, or
``--stop-after SECONDS``. Only events put after it started are seen.

The emulator is found at 127.0.0.1:AWS_EMULATOR_PORT (3002) in AWS_DEFAULT_REGION (eu-west-1), or at
``--endpoint-url``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local_stack.emulator import AwsEmulator
from sinch_sandbox.stopping import Interrupted, Signals

SOURCE = "phone-verification"
DEFAULT_PORT = 3002
DEFAULT_REGION = "eu-west-1"
_POLL_SECONDS = 0.1
# Removing the rule and queue when it stops takes milliseconds; an emulator that hangs gets this long.
CLOSE_GRACE = 10.0


class EventTail:
    """A rule on ``bus`` matching the product's events, delivering them to a queue of its own; ``receive``
    returns what arrived (EventBridge's envelope: ``detail-type``, ``detail``, ``time``...) and ``close``
    removes rule and queue. Also what the integration tests watch the bus with."""

    def __init__(self, events: Any, sqs: Any, bus: str = "default", *, source: str = SOURCE) -> None:
        self._events = events
        self._sqs = sqs
        self.bus = bus
        self._source = source
        self.name = f"phone-verification-tail-{secrets.token_hex(4)}"
        self._queue_url: str | None = None
        self._rule_created = False

    def __enter__(self) -> EventTail:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> EventTail:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> None:
        self._queue_url = self._sqs.create_queue(QueueName=self.name)["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        rule_arn = self._events.put_rule(
            Name=self.name,
            EventBusName=self.bus,
            EventPattern=json.dumps({"source": [self._source]}),
            Description="python -m local_stack.events: the product's lifecycle events to a queue",
        )["RuleArn"]
        self._rule_created = True
        # What AWS needs before the rule may send to the queue (the emulator does not check it).
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        self._sqs.set_queue_attributes(QueueUrl=self._queue_url, Attributes={"Policy": json.dumps(policy)})
        self._events.put_targets(
            Rule=self.name, EventBusName=self.bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )

    def receive(self, wait_seconds: float = 1) -> list[dict[str, Any]]:
        """The events that arrived, waiting up to ``wait_seconds`` for the first; each is removed from the
        queue. Polls instead of SQS's long polling: the emulator serves one request at a time (as DynamoDB
        applies writes), so a held receive would stall the product's own calls."""
        if self._queue_url is None:
            raise RuntimeError("the tail is not open")
        deadline = time.monotonic() + wait_seconds
        while True:
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            if messages or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
        events = []
        for message in messages:
            events.append(json.loads(message["Body"]))
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return events

    def close(self) -> None:
        # Best effort: the emulator may be gone already (make run stopped first).
        if self._rule_created:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._events.remove_targets(Rule=self.name, EventBusName=self.bus, Ids=["queue"])
            with contextlib.suppress(ClientError, BotoCoreError):
                self._events.delete_rule(Name=self.name, EventBusName=self.bus)
            self._rule_created = False
        if self._queue_url is not None:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._sqs.delete_queue(QueueUrl=self._queue_url)
            self._queue_url = None


def line(event: dict[str, Any]) -> str:
    """One event as printed: its detail-type, then its detail as JSON."""
    return f"{event.get('detail-type')}  {json.dumps(event.get('detail'), separators=(', ', ': '))}"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    port = os.environ.get("AWS_EMULATOR_PORT") or str(DEFAULT_PORT)
    parser = argparse.ArgumentParser(prog="python -m local_stack.events", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bus",
        default=os.environ.get("EVENT_BUS_NAME") or "default",
        help="the event bus make run puts events on (EVENT_BUS_NAME, else default)",
    )
    parser.add_argument(
        "--endpoint-url", default=f"http://127.0.0.1:{port}", help="the AWS emulator of make run"
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    parser.add_argument("--stop-after", type=float, metavar="SECONDS", help="stop by itself after SECONDS")
    return parser.parse_args(argv)


def _watch(tail: EventTail, deadline: float | None) -> None:
    while deadline is None or time.monotonic() < deadline:
        for event in tail.receive(wait_seconds=1):
            print(line(event), flush=True)


def main(argv: list[str] | None = None) -> int:
    signals = Signals("local-stack events", unfinished="stopped without removing the rule and queue")
    signals.install()
    try:
        args = _arguments(argv)
        emulator = AwsEmulator(external_url=args.endpoint_url, region=args.region)
        deadline = None if args.stop_after is None else time.monotonic() + args.stop_after
        tail = EventTail(emulator.client("events"), emulator.client("sqs"), args.bus)
        try:
            tail.open()  # closed again if it fails, or a signal interrupts it
            print(
                f"watching event bus {args.bus!r} on {args.endpoint_url} (rule and queue {tail.name}); "
                "Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            _watch(tail, deadline)
        except Interrupted:
            pass
        finally:
            # From here a signal, or a hanging close, ends the process.
            watchdog = signals.begin_stop(CLOSE_GRACE)
            try:
                tail.close()
            finally:
                watchdog.cancel()
    except Interrupted:
        pass  # before the tail existed
    except BotoCoreError as error:
        print(
            f"local-stack events: no AWS emulator at {args.endpoint_url} ({error}); is make run running?",
            file=sys.stderr,
        )
        return 1
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            print(
                f"local-stack events: no event bus {args.bus!r} on the emulator; start the stack with "
                f"EVENT_BUS_NAME={args.bus} make run",
                file=sys.stderr,
            )
            return 2
        print(f"local-stack events: the emulator refused: {code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
