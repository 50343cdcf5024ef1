"""``python -m sinch_check``: does your Sinch account honour a code the product chooses?

The product sends its own SMS code as ``smsOptions.code`` (SmsCodeSource=service) and checks reports
itself. Sinch does not document that option, and an account may ignore it: Sinch then sends a code of its
own, and no user can ever verify. Nothing in Sinch's answers says which, so this asks the phone: it starts
one SMS verification to a test number of yours with a code it chose, you type what the phone got, and it
tells you which setting your deployment needs (README, "Sinch account modes"). Against ``make run``
(``--local``) it reads the sandbox's phone itself.
"""

from __future__ import annotations

import sys

from sinch_check.check import main

if __name__ == "__main__":
    sys.exit(main())
