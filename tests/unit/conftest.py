"""Fixtures of the unit tests (no sockets: the store is in memory or moto's in-process mock, Sinch a
scripted double under the real Sinch adapter)."""

from __future__ import annotations

import pytest

from tests.fakes import World, make_world


@pytest.fixture
def world() -> World:
    """The use cases over in-memory ports."""
    return make_world()
