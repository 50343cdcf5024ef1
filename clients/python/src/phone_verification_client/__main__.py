"""``python -m phone_verification_client``: the ``phone-verification`` command."""

import sys

from phone_verification_client.cli import main

sys.exit(main())
