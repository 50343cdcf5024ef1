"""A fix for the emulator, applied inside the benchmark's own process only.

moto 5.x backs every ``TransactWriteItems`` up by deep-copying each whole table it touches (once per
item of the transaction) so that it can roll back. With thousands of verifications in the table that is
tens of milliseconds and megabytes per transaction, growing with every start: a 2000-start run spends
minutes inside moto and the server grows by gigabytes. Here the backup covers only the items the
transaction touches, and a failed transaction puts exactly those back; what the handlers see (results,
errors, cancellation reasons) does not change. The local stack's moto server runs in this process, so
patching its backend class here is enough; nothing outside the benchmark is affected.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()


def _key(backend: Any, table_name: str, op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    table = backend.tables.get(table_name)
    if table is None:
        return None
    if op_type != "Put":
        key: dict[str, Any] = op.get("Key") or {}
        return key
    attrs = op.get("Item") or {}
    key = {table.hash_key_attr: attrs.get(table.hash_key_attr)}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs.get(table.range_key_attr)
    return key


@contextmanager
def _tables_copied_by_reference(table_class: Any) -> Iterator[None]:
    table_class.__deepcopy__ = lambda self, memo: self
    try:
        yield
    finally:
        del table_class.__deepcopy__


def patch_moto_transactions() -> str | None:
    """Install the item-level backup; a note for the report, or None when moto is not as expected."""
    try:
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table
    except ImportError:
        return None
    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_bench_patched", False):
        return _NOTE
    if "__deepcopy__" in vars(Table):
        return None

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            if len(entry) != 1:
                continue  # moto itself refuses it, before writing anything
            op_type, op = next(iter(entry.items()))
            table_name = op.get("TableName")
            key = _key(self, table_name, op_type, op) if table_name else None
            if key is None or any(value is None for value in key.values()):
                continue
            try:
                item = self.get_item(table_name, key)
            except Exception:  # noqa: S112 - a key moto cannot read: moto's own error comes next
                continue
            backups.append((table_name, key, copy.deepcopy(item.to_json()["Attributes"]) if item else None))
        with _LOCK, _tables_copied_by_reference(Table):
            try:
                original(self, transact_items)
            except Exception:
                for table_name, key, attributes in reversed(backups):
                    if attributes is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, attributes)
                raise

    transact_write_items._bench_patched = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return _NOTE


_NOTE = (
    "The emulator's TransactWriteItems is patched in the benchmark's process to back up only the items "
    "a transaction touches (moto deep-copies whole tables per transaction: slower with every start)."
)
