"""The operators' command for the fraud guard (``python -m guard_admin``, ``make guard``): list the number
prefixes the guard holds, unblock one, safe-list a prefix or a number, against a deployed table with the
operator's own AWS credentials or against the local stack (``make run``)."""

from guard_admin.cli import main

__all__ = ["main"]
