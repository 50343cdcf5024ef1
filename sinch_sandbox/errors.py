"""Sinch's error shape: five-digit ``errorCode`` whose first three digits are the HTTP status."""

from __future__ import annotations

import uuid
from typing import Any

NOT_FOUND_MESSAGE = "Requested resource was not found."


class SinchError(Exception):
    def __init__(self, error_code: int, message: str) -> None:
        if not 10000 <= error_code <= 59999:
            raise ValueError(f"errorCode must have five digits, got {error_code}")
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def status(self) -> int:
        return self.error_code // 100

    def body(self) -> dict[str, Any]:
        # Sinch returns a fresh reference per error for support tickets; a uuid4 looks the same to clients.
        return {"errorCode": self.error_code, "message": self.message, "reference": str(uuid.uuid4())}


def not_found() -> SinchError:
    return SinchError(40400, NOT_FOUND_MESSAGE)


def invalid_request(detail: str) -> SinchError:
    return SinchError(40003, f"Invalid request. {detail}")


def missing_parameter(name: str) -> SinchError:
    return SinchError(40002, f"Missing parameter: {name}")


def invalid_parameter(name: str, problem: str) -> SinchError:
    return SinchError(40001, f"Invalid parameter: {name} {problem}.")
