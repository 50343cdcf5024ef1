"""Fixtures of the unit tests (no sockets: AWS is moto's in-process mock, Sinch a scripted double)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.fakes import World, make_world


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield make_world()
