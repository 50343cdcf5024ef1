"""Local stand-in for Sinch's Verification API, for development and tests (never deployed).

``SandboxServer`` serves the real API paths with Sinch's auth, bodies and errors, and lets tests read
"the phone" (SMS codes, flashcall CLIs), inject faults and move the clock. See README.md.
"""

from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer"]
