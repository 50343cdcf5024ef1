"""``python -m sinch_check``: the operators' way to learn, before users do, whether their Sinch account
honours the code the product chooses, over the local stack with the sandbox playing either account."""

from __future__ import annotations

import io

import pytest

from sinch_check.check import FAILED, HONOURED, IGNORED, main
from tests.integration.conftest import Product

NUMBER = "+46700000451"


@pytest.mark.parametrize(
    ("honour", "status", "advice"), [(True, HONOURED, "keep"), (False, IGNORED, "SmsCodeSource=sinch")]
)
def test_the_check_tells_which_code_source_the_account_needs(
    product: Product, honour: bool, status: int, advice: str
) -> None:
    # Given an account that does (or does not) honour smsOptions.code
    product.sandbox.configure(honour_custom_code=honour)
    stack, out = product.stack, io.StringIO()
    argv = ["--number", NUMBER, "--local", "--endpoint-url", stack.aws_endpoint_url]
    argv += ["--sinch-base-url", str(stack.sinch_base_url), "--secret-arn", stack.secret_id]

    # When the operator runs the check (against make run it reads the sandbox's phone itself)
    exit_status = main(argv, out=out)

    # Then it says what the phone got means, with the setting to use, and shows no full number
    assert exit_status == status
    assert f"SmsCodeSource={'service' if honour else 'sinch'}" in out.getvalue()
    assert advice in out.getvalue()
    assert NUMBER not in out.getvalue()
    assert len(product.sinch_requests("start")) == 1


def test_without_a_phone_to_read_it_asks_the_operator(
    product: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's own AWS credentials (the emulator takes any)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
    stack, out = product.stack, io.StringIO()
    argv = ["--number", NUMBER, "--secret-arn", stack.secret_id, "--endpoint-url", stack.aws_endpoint_url]
    argv += ["--sinch-base-url", str(stack.sinch_base_url), "--region", stack.region]
    asked: list[str] = []

    def typed(prompt: str) -> str:
        asked.append(prompt)
        return product.code(NUMBER) + "\n"  # what the operator reads off the phone

    assert main(argv, read=typed, out=out) == HONOURED
    assert len(asked) == 1
    assert "code" in asked[0]


def test_no_code_arriving_is_no_verdict(product: Product, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator")
    stack, out = product.stack, io.StringIO()
    argv = ["--number", NUMBER, "--secret-arn", stack.secret_id, "--endpoint-url", stack.aws_endpoint_url]
    argv += ["--sinch-base-url", str(stack.sinch_base_url), "--region", stack.region]

    assert main(argv, read=lambda _prompt: "\n", out=out) == FAILED
    assert "cannot tell" in out.getvalue()
    assert "SmsCodeSource=sinch" not in out.getvalue()
