"""Fixtures of the unit tests (no sockets: the store is in memory or moto's in-process mock, Sinch a
scripted double under the real Sinch adapter)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from phone_verification.ports import Store
from phone_verification.store import VerificationStore
from tests.fakes import TABLE, World, make_table, make_world
from tests.memory_store import InMemoryStore


@pytest.fixture
def world() -> World:
    """The use cases over in-memory ports."""
    return make_world()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """moto's DynamoDB client with the verification table."""
    with mock_aws():
        yield make_table()


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    """The store port's contract runs against both: the in-memory fake and the DynamoDB store."""
    if request.param == "memory":
        return InMemoryStore()
    return VerificationStore(TABLE, request.getfixturevalue("dynamodb"))
