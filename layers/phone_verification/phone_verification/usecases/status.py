"""Reading a verification's state: only its owner may, and anyone else learns nothing (not found)."""

from __future__ import annotations

from phone_verification.errors import VerificationExpired, VerificationNotFound
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
        now = context.now()
        if record.status is Status.PENDING and now >= record.expires_at:
            self._lifecycle.touched(record, VerificationExpired(), now)
        return view(record, now)
