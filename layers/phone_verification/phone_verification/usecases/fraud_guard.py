"""The fraud guard in front of every send (``fraud.py`` has the rules, the store each prefix's state).

``enforce`` refuses a send to a prefix without a token (``403 destination_denied``, reason
``suspected_fraud``) before anything else is spent; ``monitor`` logs and counts the same refusals and
sends anyway, without taking a token (so its log is what ``enforce`` would refuse); ``off`` asks nothing.
Logs and metrics name the country and the rule, never the number or the prefix beyond its country code.
"""

from __future__ import annotations

import logging

from phone_verification import codes
from phone_verification.errors import DestinationDenied
from phone_verification.fraud import REASON, RULE, Verdict, prefix_of
from phone_verification.model import VerificationRecord
from phone_verification.phone import PhoneNumber
from phone_verification.ports import GuardAsk

from .shared import Context

logger = logging.getLogger(__name__)

SUSPECTED_FRAUD = "Verifications to this number range are paused: too few of them were completed."


class FraudGuard:
    def __init__(self, context: Context) -> None:
        self._context = context

    def ask(self, number: PhoneNumber, hasher: codes.Hasher) -> GuardAsk | None:
        """What the store must decide for a send to ``number``; None when the guard does not look at it
        (off, or a safe-listed country)."""
        policy = self._context.settings.guard_policy
        country = number.country or "ZZ"
        if not policy.on or country in policy.safe_countries:
            return None
        prefix_hash = hasher.prefix(prefix_of(number.e164, number.country_code))
        return GuardAsk(prefix_hash, country, hasher.number(number.e164), policy)

    def judge(
        self, ask: GuardAsk | None, verdict: Verdict | None, method: str, guarded: str | None = None
    ) -> str | None:
        """Let the send through, or refuse it (the store took nothing then). ``guarded`` (the store's
        item the token came from) when the send took a token (its conversion is credited there, its
        failure refunded), else None."""
        if ask is None or verdict is None:
            return None
        if verdict.allowed:
            return guarded if verdict.counted else None
        enforced = ask.policy.mode == "enforce"
        self._context.outcomes.record(
            "guard_refused" if enforced else "guard_would_refuse", method, RULE, country=ask.country
        )
        logger.warning(
            "the fraud guard refused a send" if enforced else "the fraud guard would refuse a send",
            extra={
                "country": ask.country,
                "rule": RULE,
                "prefix_id": ask.prefix_hash[:12],
                "mode": ask.policy.mode,
            },
        )
        if enforced:
            raise DestinationDenied(SUSPECTED_FRAUD, reason=REASON)
        return None

    def refund(self, guarded: str | None, now: int) -> None:
        """A counted send went nowhere: its token back."""
        if guarded is not None:
            self._context.store.guard_refund(guarded, now=now)

    def converted(self, record: VerificationRecord, now: int) -> None:
        """The verification succeeded: credit its prefix (one write, none for a send it did not count)."""
        if record.guard_prefix is not None:
            self._context.store.guard_credit(
                record.guard_prefix, now=now, policy=self._context.settings.guard_policy
            )
