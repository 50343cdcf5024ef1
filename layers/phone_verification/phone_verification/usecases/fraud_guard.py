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
from phone_verification.fraud import REASON, RULE, prefix_of
from phone_verification.model import VerificationRecord
from phone_verification.phone import PhoneNumber

from .shared import Context

logger = logging.getLogger(__name__)

SUSPECTED_FRAUD = "Verifications to this number range are paused: too few of them were completed."


class FraudGuard:
    def __init__(self, context: Context) -> None:
        self._context = context

    def check(self, number: PhoneNumber, hasher: codes.Hasher, method: str, now: int) -> str | None:
        """Let a send to ``number`` through, or refuse it. The prefix's hash when the send took a token
        (its conversion is credited, its failure refunded), else None."""
        policy = self._context.settings.guard_policy
        country = number.country or "ZZ"
        if not policy.on or country in policy.safe_countries:
            return None
        prefix_hash = hasher.prefix(prefix_of(number.e164, number.country_code))
        verdict = self._context.store.guard_take(
            prefix_hash, country=country, number_hash=hasher.number(number.e164), now=now, policy=policy
        )
        if verdict.allowed:
            return prefix_hash if verdict.counted else None
        enforced = policy.mode == "enforce"
        self._context.outcomes.record(
            "guard_refused" if enforced else "guard_would_refuse", method, RULE, country=country
        )
        logger.warning(
            "the fraud guard refused a send" if enforced else "the fraud guard would refuse a send",
            extra={"country": country, "rule": RULE, "prefix_id": prefix_hash[:12], "mode": policy.mode},
        )
        if enforced:
            raise DestinationDenied(SUSPECTED_FRAUD, reason=REASON)
        return None

    def refund(self, prefix_hash: str | None, now: int) -> None:
        """A counted send went nowhere: its token back."""
        if prefix_hash is not None:
            self._context.store.guard_refund(prefix_hash, now=now)

    def converted(self, record: VerificationRecord, now: int) -> None:
        """The verification succeeded: credit its prefix (one write, none for a send it did not count)."""
        if record.guard_prefix is not None:
            self._context.store.guard_credit(
                record.guard_prefix, now=now, policy=self._context.settings.guard_policy
            )
