"""``next``: send a verification's next channel under the same id (SMS not answered, so call instead).

The verification keeps its id, attempts and expiry; the channel it leaves stops working (its code is
retired: reported now, it is a wrong code the service recognises without asking Sinch). The send is a
send like a start's: the fraud guard and the send limits are asked first, and a send that went nowhere
gives back what it took. The number comes from Sinch (the service keeps only a hash of it).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from phone_verification import codes, phone
from phone_verification.commands import NextCommand
from phone_verification.errors import Conflict, InternalError, NoChannelLeft
from phone_verification.model import (
    ChannelSwitch,
    Method,
    SendRequest,
    Sent,
    Started,
    Verification,
    VerificationRecord,
    refusal,
    view,
)
from phone_verification.ports import ConditionFailed, Replays

from .fraud_guard import FraudGuard
from .lifecycle import Lifecycle
from .resume import Resumer
from .send import Sender, sinch_reference
from .send_limits import SendLimits
from .shared import Context

logger = logging.getLogger(__name__)


class NextChannel:
    def __init__(self, context: Context, resumer: Resumer) -> None:
        self._context = context
        self._resumer = resumer
        self._guard = FraudGuard(context)
        self._limits = SendLimits(context, self._guard)
        self._sender = Sender(context, self._limits, self._guard)
        self._lifecycle = Lifecycle(context)

    def __call__(self, command: NextCommand) -> Verification:
        context = self._context
        hasher, now = context.hashing(), context.now()
        owner_hash = hasher.caller(command.owner)
        record = context.store.get(command.verification_id)
        problem = refusal(record, owner_hash, now)
        if problem is not None:
            self._lifecycle.touched(record, problem, now)
            self._resumer.refused(record, problem, now)
            raise problem
        assert record is not None  # refusal() is NotFound for a missing record
        channel, method = _next_channel(record, command.method)
        number = self._number_of(record, method, hasher)
        taken = self._limits.take(
            command,
            hasher,
            number,
            number_hash=record.number_hash,
            owner_hash=owner_hash,
            method=method.value,
            now=now,
            latest=False,
        )
        code = None
        if method is Method.SMS and context.settings.sms_code_source == "service":
            code = codes.generate(context.settings.code_length)
        request = SendRequest(
            method=method,
            number=number.e164,
            reference=sinch_reference(record.id, channel),
            expiry_seconds=max(1, record.expires_at - now),  # the verification's own expiry carries on
            locale=command.locale,
            code=code,
        )
        sent = self._sender.send(request, taken.reservations, taken.guarded, now)
        change = self._change(record, channel, sent, code=code, guarded=taken.guarded, now=now)
        switched = self._switch(record, command, change, now)
        context.outcomes.record("next", method.value, country=record.country)
        logger.info(
            "next channel sent",
            extra={"verification_id": record.id, "method": method.value, "channel": channel},
        )
        self._lifecycle.changed("Started", switched, now)
        return view(switched, now, hints=sent.hints)

    def once(self, command: NextCommand, replays: Replays) -> Started:
        """``next`` at most once per ``Idempotency-Key``: a retry gets the first answer and sends nothing."""
        if command.idempotency_key is None:
            return Started(self(command))
        hasher = self._context.hashing()
        fingerprint: dict[str, Any] = {
            "action": "next",
            "owner": hasher.caller(command.owner),
            "id": command.verification_id,
            "method": command.method.value if command.method else None,
            "locale": command.locale,
        }
        started = replays.once(
            owner_hash=fingerprint["owner"],
            key=command.idempotency_key,
            fingerprint=fingerprint,
            first=lambda: self(command),
        )
        if started.replayed and command.task_token is not None:
            self._resumer.adopt(started.verification.id, command.task_token)
        return started

    def _number_of(
        self, record: VerificationRecord, method: Method, hasher: codes.Hasher
    ) -> phone.PhoneNumber:
        """The number, from Sinch, checked against the hash the verification was started with."""
        number = phone.parse(
            self._context.sinch.number_of(record.at_sinch),
            allowed_countries=self._context.settings.allowed_countries,
            sms=method is Method.SMS,
        )
        if hasher.number(number.e164) != record.number_hash:
            logger.error("Sinch's number for a verification is not the one it was started for")
            raise InternalError()
        return number

    def _change(
        self,
        record: VerificationRecord,
        channel: int,
        sent: Sent,
        *,
        code: str | None,
        guarded: str | None,
        now: int,
    ) -> ChannelSwitch:
        hasher = self._context.hashing()
        secret_hash: str | None = None
        if code is not None:
            secret_hash = hasher.code(record.id, code)
        elif sent.cli:
            secret_hash = hasher.cli(record.id, sent.cli)
        expires_at = record.expires_at
        if sent.report_within:
            expires_at = min(expires_at, now + sent.report_within)
        return ChannelSwitch(
            previous=record.channel,
            channel=channel,
            method=sent.method,
            sinch_id=sent.id,
            checked_by="service" if secret_hash else "sinch",
            secret_hash=secret_hash,
            retire=record.secret_hash,
            expires_at=expires_at,
            guard_prefix=guarded,
        )

    def _switch(
        self, record: VerificationRecord, command: NextCommand, switch: ChannelSwitch, now: int
    ) -> VerificationRecord:
        owner_hash = self._context.hashing().caller(command.owner)
        if command.task_token is not None:
            switch = replace(switch, task_token=command.task_token)
        try:
            return self._context.store.advance(record.id, switch, owner_hash=owner_hash, now=now)
        except ConditionFailed as failed:
            # It ended, or another ``next`` switched it first, while this channel was being sent.
            problem = refusal(failed.record, owner_hash, now)
            raise problem or Conflict("Another request sent the next channel first.") from None


def _next_channel(record: VerificationRecord, wanted: Method | None) -> tuple[int, Method]:
    """The channel after the current one, or the later one the caller named."""
    channels = record.channel_list
    later = range(record.channel + 1, len(channels))
    if wanted is None:
        if not later:
            raise NoChannelLeft()
        return later[0], channels[later[0]]
    for index in later:
        if channels[index] is wanted:
            return index, wanted
    if wanted in channels:
        raise NoChannelLeft(f"{wanted.value} was already sent for this verification; start a new one.")
    raise Conflict(f"{wanted.value} is not one of this verification's channels.")
