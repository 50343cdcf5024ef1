"""What the use cases leave in DynamoDB: the real store over moto's in-process DynamoDB, a scripted Sinch
behind the real Sinch adapter. (The rules themselves are in test_service.py, over in-memory ports.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto import mock_aws

from phone_verification.sinch import Method, SinchUnavailable
from tests.fakes import FLASH_CLI, NUMBER, OTHER_NUMBER, World, make_world
from tests.unit.test_service import report, start


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield make_world(dynamodb=True)


class TestAtRest:
    def test_no_code_cli_or_number_is_stored(self, world: World) -> None:
        sms = start(world)
        code = world.sent_code()
        report(world, sms, code="999999" if code != "999999" else "888888")
        world.clock.now += 31
        start(world, OTHER_NUMBER, method=Method.FLASHCALL)
        dump = json.dumps(world.items())
        for secret in (code, NUMBER, OTHER_NUMBER, FLASH_CLI, NUMBER[1:], FLASH_CLI[1:]):
            assert secret not in dump
        assert "+46*******01" in dump


def test_failed_report_to_sinch_after_local_success_still_succeeds(world: World) -> None:
    verification = start(world)
    world.sinch.verdicts = [
        SinchUnavailable("503", http_status=503),
        SinchUnavailable("503", http_status=503),
    ]
    assert report(world, verification, code=world.sent_code()).status == "SUCCESSFUL"
    assert len(world.sinch.reports) == 2
    item = next(i for i in world.items() if i["pk"]["S"] == f"verification#{verification}")
    assert item["sinchReportPending"] == {"BOOL": True}
