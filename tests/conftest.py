"""Shared fixtures: one Sinch sandbox per test session, reset before every test that uses it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from sinch_sandbox import SandboxConfig, SandboxServer


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox with no verifications, messages, logged requests, faults or time offset,
    and with its default configuration (reset() alone keeps runtime config changes)."""
    sandbox_server.reset()
    sandbox_server.configure(**dataclasses.asdict(SandboxConfig()))
    return sandbox_server
