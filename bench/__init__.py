"""The performance benchmark of the phone-verification handlers (``make bench``; see README.md)."""
