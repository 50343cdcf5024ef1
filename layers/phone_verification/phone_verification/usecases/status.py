"""Reading a verification's state: only its owner may, and anyone else learns nothing (not found).

A cancelled verification answers ``cancelled`` (410), as its reports do: cancelling is
``DELETE /verifications/{id}``, after which the resource is gone for HTTP, not shown as a 200.
"""

from __future__ import annotations

from phone_verification.errors import VerificationCancelled, VerificationExpired, VerificationNotFound
from phone_verification.model import Status, Verification, owned_by, view

from .lifecycle import Lifecycle
from .shared import Context


class ReadVerification:
    def __init__(self, context: Context) -> None:
        self._context = context
        self._lifecycle = Lifecycle(context)

    def __call__(self, verification_id: str, owner: str) -> Verification:
        context = self._context
        # The owner's hash first: without the deployment's key nothing can be answered, not even "not found".
        owner_hash = context.hashing().caller(owner)
        record = context.store.get(verification_id)
        if record is None or not owned_by(record, owner_hash):
            raise VerificationNotFound()
        if record.status is Status.CANCELLED:
            raise VerificationCancelled()
        now = context.now()
        if record.status is Status.PENDING and now >= record.expires_at:
            self._lifecycle.touched(record, VerificationExpired(), now)
        return view(record, now)
