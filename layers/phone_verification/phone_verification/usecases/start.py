"""Starting a verification: check the number, take the send budgets, send through Sinch, keep the state.

The fraud guard's token and the send budgets (the caller's, the rate key's, the number's) are taken together
before anything is sent and given back when Sinch certainly sent nothing; when it may have sent something,
they stay taken, so a retry cannot send twice.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from phone_verification import codes, phone
from phone_verification.commands import StartCommand
from phone_verification.model import (
    Method,
    SendRequest,
    Sent,
    Started,
    Status,
    Verification,
    VerificationRecord,
    view,
)
from phone_verification.phone import PhoneNumber
from phone_verification.ports import Replays

from .fraud_guard import FraudGuard
from .lifecycle import Lifecycle
from .resume import Resumer
from .send import Sender, sinch_reference
from .send_limits import SendLimits
from .shared import Context

logger = logging.getLogger(__name__)


class StartVerification:
    def __init__(self, context: Context, resumer: Resumer) -> None:
        self._context = context
        self._resumer = resumer
        self._guard = FraudGuard(context)
        self._limits = SendLimits(context, self._guard)
        self._sender = Sender(context, self._limits, self._guard)
        self._lifecycle = Lifecycle(context)

    def __call__(self, command: StartCommand) -> Verification:
        context, settings = self._context, self._context.settings
        method = command.method
        number = phone.parse(
            command.phone_number, allowed_countries=settings.allowed_countries, sms=method is Method.SMS
        )
        hasher, now = context.hashing(), context.now()
        owner_hash, number_hash = hasher.caller(command.owner), hasher.number(number.e164)
        # The guard's token and every budget's slot at once, with the owner's latest verification for the
        # number (the one this start supersedes).
        taken = self._limits.take(
            command,
            hasher,
            number,
            number_hash=number_hash,
            owner_hash=owner_hash,
            method=method.value,
            now=now,
            latest=True,
        )
        code = command.code
        if method is Method.SMS and code is None and settings.sms_code_source == "service":
            code = codes.generate(settings.code_length)
        # The verification's id is the service's own: it outlives the channel Sinch sends first.
        verification_id = str(uuid.uuid4())
        request = SendRequest(
            method=method,
            number=number.e164,
            # Never the caller's reference: a reference Sinch refuses as reused would tell one caller that
            # another used it, and the service's own finds a start whose answer was lost without doubt.
            reference=sinch_reference(verification_id, 0),
            expiry_seconds=settings.verification_ttl_seconds,
            locale=command.locale,
            code=code,
        )
        sent = self._sender.send(request, taken.reservations, taken.guarded, now)
        record = self._record(
            command,
            verification_id=verification_id,
            sent=sent,
            code=code,
            hasher=hasher,
            number=number,
            guarded=taken.guarded,
            number_hash=number_hash,
            now=now,
        )
        replaced = context.store.create(record, replaces=taken.latest)
        if replaced is not None and replaced.has_task_token:
            self._resumer.superseded(replaced.id)
        context.outcomes.record("started", method.value, country=number.country)
        logger.info(
            "verification started",
            extra={"verification_id": record.id, "method": method.value, "phone": number.masked},
        )
        self._lifecycle.changed("Started", record, now)
        return view(record, now, hints=sent.hints)

    def once(self, command: StartCommand, replays: Replays) -> Started:
        """The start, made idempotent by ``command.idempotency_key``: a retry gets the first answer and
        sends nothing. A retried workflow task waits on the retry's token from then on."""
        if command.idempotency_key is None:
            return Started(self(command))
        started = replays.once(
            owner_hash=self._context.hashing().caller(command.owner),
            key=command.idempotency_key,
            fingerprint=self.fingerprint(command),
            first=lambda: self(command),
        )
        if started.replayed and command.task_token is not None:
            self._resumer.adopt(started.verification.id, command.task_token)
        return started

    def fingerprint(self, command: StartCommand) -> dict[str, Any]:
        """What makes two starts "the same request" for idempotency, as keyed hashes: the idempotency
        store keeps an unkeyed hash of it, which must not let anyone recover the number or a chosen code."""
        hasher = self._context.hashing()
        fingerprint: dict[str, Any] = {
            "owner": hasher.caller(command.owner),
            "number": hasher.number(command.phone_number.strip()),
            "method": command.method.value,
            "reference": command.reference,
            "locale": command.locale,
            "code": hasher.code("idempotency", command.code) if command.code is not None else None,
        }
        if command.channels:
            fingerprint["channels"] = [channel.value for channel in command.channels]
        return fingerprint

    def _record(
        self,
        command: StartCommand,
        *,
        verification_id: str,
        sent: Sent,
        code: str | None,
        hasher: codes.Hasher,
        number: PhoneNumber,
        guarded: str | None,
        number_hash: str,
        now: int,
    ) -> VerificationRecord:
        """The new verification's state: a keyed hash of the code (or CLI) the service checks itself."""
        settings = self._context.settings
        secret_hash: str | None = None
        if code is not None:
            secret_hash = hasher.code(verification_id, code)
        elif command.method is Method.FLASHCALL and sent.cli:
            secret_hash = hasher.cli(verification_id, sent.cli)
        return VerificationRecord(
            id=verification_id,
            sinch_id=sent.id,
            channels=command.channels,
            method=command.method,
            status=Status.PENDING,
            attempts=0,
            max_attempts=settings.max_report_attempts,
            created_at=now,
            expires_at=now
            + min(settings.verification_ttl_seconds, sent.report_within or settings.verification_ttl_seconds),
            masked_number=number.masked,
            number_hash=number_hash,
            owner_hash=hasher.caller(command.owner),
            checked_by="service" if secret_hash else "sinch",
            secret_hash=secret_hash,
            reference=command.reference,
            task_token=command.task_token,
            guard_prefix=guarded,
            country=number.country,
        )
