"""``python -m guard_admin``: the fraud guard's operators' command (``guard_admin/cli.py``)."""

from __future__ import annotations

import sys

from guard_admin.cli import main

if __name__ == "__main__":
    sys.exit(main())
