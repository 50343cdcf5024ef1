"""Operators' check of a Sinch account's undocumented behaviour (``python -m sinch_check``)."""
