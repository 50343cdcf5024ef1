"""How one start plays out for its method: the code or CLI, what reaches the phone, the response section
and the verification's lifetime."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sinch_sandbox import bodies
from sinch_sandbox.config import SandboxConfig
from sinch_sandbox.errors import SinchError, invalid_parameter

_CODE_ALPHABETS = {
    "Numeric": "0123456789",
    "Alpha": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "Alphanumeric": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
}
CODE_LENGTH = 4
CUSTOM_CODE = re.compile(r"^[A-Za-z0-9-]{1,10}$")
CUSTOM_CODE_MESSAGE = "The SMS code is not valid. Maximum 10 characters. Valid characters: A-Z, a-z, 0-9, '-'"

# Language -> (Content-Language when the client asked only for the bare language, template).
TEMPLATES = {
    "en": ("en-US", "Your verification code is {{CODE}}."),
    "sv": ("sv-SE", "Din verifieringskod är {{CODE}}."),
    "es": ("es-ES", "Tu código de verificación es {{CODE}}."),
    "fr": ("fr-FR", "Votre code de vérification est {{CODE}}."),
    "de": ("de-DE", "Ihr Bestätigungscode lautet {{CODE}}."),
}
DEFAULT_LANGUAGE = "en"

# (fixed prefix, cliFilter): the prefix contains the filter's digits, so every CLI drawn matches its filter.
CLI_POOL = (
    ("+1815654", "(.*)8156(.*)", 4),
    ("+4420795312", "(.*)5312(.*)", 2),
    ("+4685566", "(.*)5566(.*)", 4),
)
FLASHCALL_INTERCEPTION_TIMEOUT = 45
SMS_INTERCEPTION_TIMEOUT = 300


@dataclass
class Plan:
    secret: str
    lifetime: int
    delivery: dict[str, Any]
    section: tuple[str, dict[str, Any]] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def choose_language(accept_language: str | None) -> tuple[str, str]:
    """Pick (Content-Language, template) from an Accept-Language header, falling back to English."""
    candidates: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and quality > 0:
            candidates.append((-quality, index, tag.strip()))
    for _, _, tag in sorted(candidates):
        language = tag.split("-", 1)[0].lower()
        if language in TEMPLATES:
            # Echo the caller's own tag when it names a region, as Sinch echoes e.g. "es-ES".
            return (tag if "-" in tag else TEMPLATES[language][0], TEMPLATES[language][1])
    return TEMPLATES[DEFAULT_LANGUAGE]


def generate_code(code_type: str, avoid: str | None = None) -> str:
    """A fresh code; never ``avoid`` (case-insensitively), so an ignored custom code is always wrong."""
    alphabet = _CODE_ALPHABETS[code_type]
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(CODE_LENGTH))
        if avoid is None or code.casefold() != avoid.casefold():
            return code


def draw_cli() -> tuple[str, str]:
    prefix, cli_filter, free_digits = secrets.choice(CLI_POOL)
    suffix = "".join(secrets.choice("0123456789") for _ in range(free_digits))
    return prefix + suffix, cli_filter


def infer_code_type(code: str) -> str:
    if code.isdigit():
        return "Numeric"
    return "Alpha" if code.isalpha() else "Alphanumeric"


def plan_sms(body: dict[str, Any], headers: Mapping[str, str], config: SandboxConfig, _id: str) -> Plan:
    options = bodies.options(body, "smsOptions")
    lifetime = bodies.expiry(options, config.expiry_seconds)
    language, template = choose_language(headers.get("accept-language"))
    custom_template = options.get("template")
    if custom_template is not None:
        if not isinstance(custom_template, str) or "{{CODE}}" not in custom_template:
            raise invalid_parameter("smsOptions.template", "must be a string containing {{CODE}}")
        template = custom_template
    code_type = bodies.code_type(options, "smsOptions")
    custom_code = options.get("code")
    if custom_code is not None and (not isinstance(custom_code, str) or not CUSTOM_CODE.match(custom_code)):
        raise SinchError(40001, CUSTOM_CODE_MESSAGE)
    if custom_code is not None and config.honour_custom_code:
        code = custom_code
    else:
        # An account that ignores smsOptions.code sends a code of its own choosing.
        code = generate_code(code_type or "Numeric", avoid=custom_code)
    section = {
        "template": template,
        "interceptionTimeout": min(SMS_INTERCEPTION_TIMEOUT, lifetime),
        "codeType": code_type or infer_code_type(code),
    }
    return Plan(
        secret=code,
        lifetime=lifetime,
        delivery={"text": template.replace("{{CODE}}", code), "code": code},
        section=("sms", section),
        headers=[("Content-Language", language)],
    )


def plan_whatsapp(body: dict[str, Any], headers: Mapping[str, str], config: SandboxConfig, _id: str) -> Plan:
    options = bodies.options(body, "whatsappOptions")
    code_type = bodies.code_type(options, "whatsappOptions") or "Numeric"
    _, template = choose_language(headers.get("accept-language"))
    code = generate_code(code_type)
    return Plan(
        secret=code,
        lifetime=config.expiry_seconds,
        delivery={"text": template.replace("{{CODE}}", code), "code": code},
        section=("whatsapp", {"codeType": code_type}),
    )


def plan_flashcall(
    body: dict[str, Any], headers: Mapping[str, str], config: SandboxConfig, verification_id: str
) -> Plan:
    options = bodies.options(body, "flashCallOptions")
    bodies.timeout(options, "dialTimeout")
    interception = bodies.timeout(options, "interceptionTimeout") or FLASHCALL_INTERCEPTION_TIMEOUT
    # Sinch: reportTimeout is the "time in seconds allowed for reporting the code after which the
    # verification will expire", so it is the flashcall's lifetime too.
    lifetime = config.flashcall_report_timeout
    cli, cli_filter = draw_cli()
    section: dict[str, Any] = {
        "cliFilter": cli_filter,
        "interceptionTimeout": min(interception, lifetime),
        "reportTimeout": lifetime,
        "denyCallAfter": 0,
        # Not in Sinch's OpenAPI models, but present in real and mock responses.
        "callId": verification_id,
    }
    if config.flashcall_returns_cli:
        section["cli"] = cli
    return Plan(secret=cli, lifetime=lifetime, delivery={"cli": cli}, section=("flashCall", section))


def plan_callout(body: dict[str, Any], headers: Mapping[str, str], config: SandboxConfig, _id: str) -> Plan:
    options = bodies.options(body, "calloutOptions")
    locale = bodies.speech_locale(options)
    code = generate_code("Numeric")
    delivery: dict[str, Any] = {"code": code}
    if locale is not None:
        delivery["locale"] = locale
    return Plan(secret=code, lifetime=config.expiry_seconds, delivery=delivery)


PLANNERS: dict[str, Callable[[dict[str, Any], Mapping[str, str], SandboxConfig, str], Plan]] = {
    "sms": plan_sms,
    "whatsapp": plan_whatsapp,
    "flashcall": plan_flashcall,
    "callout": plan_callout,
}
