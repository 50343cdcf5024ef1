"""The operators' command for the fraud guard, Given/When/Then over moto's in-process DynamoDB, Secrets
Manager and CloudFormation: the admin operations on the guard's items (``store_guard.GuardAdmin``) as the
send path then sees them, and the command (``guard_admin``) that names numbers, prefixes and prefix ids,
prints the prefixes, and never prints more of a number than the operator typed."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from guard_admin import main
from guard_admin.deployment import DEFAULT_BUDGET, Deployment, DeploymentError, _local_table, resolve
from guard_admin.destinations import DestinationError, parse_destination
from phone_verification.codes import Hasher
from phone_verification.fraud import DAY, GuardPolicy, PrefixState, decide
from phone_verification.ports import GuardAsk
from phone_verification.store import VerificationStore
from phone_verification.store_guard import KEEP_FOREVER, KEEP_SECONDS, GuardTable, guard_key
from phone_verification.store_guard_admin import GuardAdmin, tokens_now
from tests.fakes import TABLE, make_table

REGION = "eu-west-1"
HASH_KEY = "0123456789abcdef0123456789abcdef"
SECRET = {"applicationKey": "app-key", "applicationSecret": "app-secret", "hashKey": HASH_KEY}
BUDGET = 3
POLICY = GuardPolicy(budget=BUDGET)
NUMBER = "+46700000101"
NEIGHBOUR = "+46700000102"  # the same block of 10,000
PREFIX = "+4670000"
OTHER_NUMBER = "+14155550123"
OTHER_PREFIX = "+1415555"
HASHER = Hasher(HASH_KEY.encode())
PREFIX_HASH = HASHER.prefix(PREFIX)
OTHER_HASH = HASHER.prefix(OTHER_PREFIX)


@dataclass
class Aws:
    dynamodb: Any
    secret_arn: str

    @property
    def admin(self) -> GuardAdmin:
        return GuardAdmin(TABLE, self.dynamodb)

    def environment(self) -> GuardTable:
        """The send path as a fresh Lambda environment sees it (no refusal remembered)."""
        return GuardTable(TABLE, self.dynamodb)

    def send(self, number: str, now: int, prefix_hash: str = PREFIX_HASH) -> tuple[bool, bool]:
        """A send from a fresh Lambda environment (no refusal remembered)."""
        ask = GuardAsk(prefix_hash, "SE", HASHER.number(number), POLICY)
        verdict = VerificationStore(TABLE, self.dynamodb).reserve_send(ask, (), now=now).verdict
        assert verdict is not None
        return verdict.allowed, verdict.counted

    def pump(self, now: int, prefix_hash: str = PREFIX_HASH) -> None:
        """The prefix's whole budget spent on numbers that never convert: its next send is refused."""
        for ending in range(BUDGET):
            assert self.send(f"+467000009{ending:02d}", now, prefix_hash) == (True, True)
        assert self.send(NEIGHBOUR, now, prefix_hash) == (False, False)

    def item(self, prefix_hash: str = PREFIX_HASH) -> dict[str, Any]:
        found = self.dynamodb.get_item(TableName=TABLE, Key=guard_key(prefix_hash), ConsistentRead=True)
        item: dict[str, Any] = found.get("Item", {})
        return item

    def put(self, prefix_hash: str, **attributes: Any) -> None:
        self.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"guard#{prefix_hash}"}, **attributes})


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb = make_table()
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn = secrets.create_secret(Name="pv/sinch", SecretString=json.dumps(SECRET))["ARN"]
        yield Aws(dynamodb, arn)


def now() -> int:
    """The command works on the real clock, so the tests' prefixes change on it too."""
    return int(time.time())


def run(
    aws: Aws, capsys: pytest.CaptureFixture[str], *args: str, secret: bool = True
) -> tuple[int, str, str]:
    """The command against moto's table (options after the subcommand, as an operator may write them)."""
    options = ["--table", TABLE, "--region", REGION, "--budget", str(BUDGET)]
    if secret:
        options += ["--secret-arn", aws.secret_arn]
    status = main([*args, *options], environ={})
    out, err = capsys.readouterr()
    return status, out, err


def assert_private(text: str, *typed: str) -> None:
    """No number or prefix of the tests in ``text`` (not even its digits) but those the operator typed."""
    rest = text
    for value in typed:
        rest = rest.replace(value, "")
    for value in (NUMBER, NEIGHBOUR, PREFIX, OTHER_NUMBER, OTHER_PREFIX):
        assert value.removeprefix("+") not in rest, value


# ------------------------------------------------------------------------------------------ the store


class TestGuardAdmin:
    def test_the_prefixes_are_the_guards_items_only(self, aws: Aws) -> None:
        # Given two prefixes the guard counted sends to, and a verification in the same table
        aws.send(NUMBER, now())
        aws.send(OTHER_NUMBER, now(), OTHER_HASH)
        aws.send(NEIGHBOUR, now())
        aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "verification#v1"}, "id": {"S": "v1"}})

        # When an operator lists the prefixes
        prefixes = {prefix.prefix_hash: prefix for prefix in aws.admin.prefixes()}

        # Then both prefixes are there with their sends, and nothing else
        assert set(prefixes) == {PREFIX_HASH, OTHER_HASH}
        assert (prefixes[PREFIX_HASH].state.sends, prefixes[OTHER_HASH].state.sends) == (2, 1)
        assert prefixes[PREFIX_HASH].country == "SE"
        assert prefixes[PREFIX_HASH].prefix_id == PREFIX_HASH[:12]

    def test_an_unblocked_prefix_gets_its_budget_back_and_sends_pass_again(self, aws: Aws) -> None:
        # Given a prefix whose whole budget went to sends that never converted
        aws.pump(now())
        version = int(aws.item()["version"]["N"])

        # When an operator unblocks it
        changed = aws.admin.unblock(PREFIX_HASH, policy=POLICY, now=now())

        # Then it has its budget again, its counts are kept, and the next send takes a token
        assert changed is not None
        before, after = changed
        assert (before.state.tokens, after.state.tokens) == (0, BUDGET)
        item = aws.item()
        assert (float(item["tokens"]["N"]), int(item["sends"]["N"])) == (BUDGET, BUDGET)
        assert int(item["version"]["N"]) == version + 1
        assert aws.send(NEIGHBOUR, now()) == (True, True)

    def test_unblocking_keeps_a_bucket_larger_than_the_budget(self, aws: Aws) -> None:
        # Given a prefix that earned more than the budget
        aws.put(
            PREFIX_HASH,
            tokens={"N": "50"},
            updated={"N": str(now())},
            conversions={"N": "20"},
            version={"N": "9"},
        )

        # When it is unblocked
        aws.admin.unblock(PREFIX_HASH, policy=POLICY, now=now())

        # Then it keeps what it earned
        assert float(aws.item()["tokens"]["N"]) == 50

    def test_unblocking_a_prefix_the_guard_does_not_hold_creates_nothing(self, aws: Aws) -> None:
        # When an operator unblocks a prefix nobody has sent to
        changed = aws.admin.unblock(PREFIX_HASH, policy=POLICY, now=now())

        # Then nothing was blocked and nothing is written
        assert changed is None
        assert aws.item() == {}

    def test_an_unblock_decides_again_when_a_send_changed_the_prefix_after_it_read_it(
        self, aws: Aws, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a paused prefix, and a send refunded just after the operator's command read it
        aws.pump(now())
        admin = aws.admin
        read = admin.prefix
        reads: list[float] = []

        def read_then_refund(prefix_hash: str) -> Any:
            found = read(prefix_hash)
            reads.append(found.state.tokens if found else -1)
            if len(reads) == 1:
                aws.environment().refund(prefix_hash, now=now())
            return found

        monkeypatch.setattr(admin, "prefix", read_then_refund)

        # When the operator unblocks it
        changed = admin.unblock(PREFIX_HASH, policy=POLICY, now=now())

        # Then the write over the stale read did not apply: the prefix was read again and unblocked
        assert changed is not None
        assert reads == [0, 1]
        assert changed[0].state.tokens == 1
        assert float(aws.item()["tokens"]["N"]) == BUDGET

    def test_a_safe_listed_number_passes_a_paused_prefix_without_a_token_and_its_neighbours_do_not(
        self, aws: Aws
    ) -> None:
        # Given a paused prefix
        aws.pump(now())

        # When an operator safe-lists one number of it
        changed = aws.admin.safelist_number(
            PREFIX_HASH, HASHER.number(NUMBER), safe=True, country="SE", policy=POLICY, now=now()
        )

        # Then that number's sends pass without taking a token, and its neighbours' are still refused
        assert changed
        assert aws.send(NUMBER, now()) == (True, False)
        assert aws.send(NEIGHBOUR, now()) == (False, False)
        # The operator's word does not expire with the month of trust
        assert int(aws.item()["ttl"]["N"]) == KEEP_FOREVER

    def test_a_safe_listing_outlasts_the_neighbours_sends(self, aws: Aws) -> None:
        # Given a safe-listed number in a prefix that still has tokens
        aws.admin.safelist_number(
            PREFIX_HASH, HASHER.number(NUMBER), safe=True, country="SE", policy=POLICY, now=now()
        )
        # When a neighbour's send takes a token (and with it sets the prefix's expiry)
        assert aws.send(NEIGHBOUR, now()) == (True, True)
        # Then the prefix, and the safe-listing with it, is still kept
        assert int(aws.item()["ttl"]["N"]) == KEEP_FOREVER

    def test_safe_listing_a_number_of_a_new_prefix_creates_it_as_the_first_send_would(self, aws: Aws) -> None:
        # When an operator safe-lists a number of a prefix nobody has sent to
        aws.admin.safelist_number(
            PREFIX_HASH, HASHER.number(NUMBER), safe=True, country="SE", policy=POLICY, now=now()
        )

        # Then the prefix has the budget, no sends, its country and the number
        item = aws.item()
        assert (float(item["tokens"]["N"]), int(item["sends"]["N"]), item["country"]["S"]) == (
            BUDGET,
            0,
            "SE",
        )
        assert item["safeNumbers"]["SS"] == [HASHER.number(NUMBER)]
        # and its other numbers' sends take tokens from it as usual
        assert aws.send(NEIGHBOUR, now()) == (True, True)
        assert float(aws.item()["tokens"]["N"]) == BUDGET - 1

    def test_safe_listing_leaves_an_empty_buckets_clock_alone(self, aws: Aws) -> None:
        # Given a prefix emptied a day ago: the budget has come back since
        a_day_ago = now() - DAY
        aws.put(
            PREFIX_HASH,
            tokens={"N": "0"},
            updated={"N": str(a_day_ago)},
            sends={"N": "3"},
            version={"N": "4"},
        )

        # When a number of it is safe-listed
        aws.admin.safelist_number(
            PREFIX_HASH, HASHER.number(NUMBER), safe=True, country="SE", policy=POLICY, now=now()
        )

        # Then what came back is still there for the other numbers
        assert int(aws.item()["updated"]["N"]) == a_day_ago
        assert aws.send(NEIGHBOUR, now()) == (True, True)

    def test_a_number_taken_off_the_safe_list_is_guarded_again_and_its_prefix_expires_again(
        self, aws: Aws
    ) -> None:
        # Given a safe-listed number of a paused prefix
        aws.pump(now())
        number_hash = HASHER.number(NUMBER)
        aws.admin.safelist_number(PREFIX_HASH, number_hash, safe=True, country="SE", policy=POLICY, now=now())

        # When the operator takes it back, twice
        first = aws.admin.safelist_number(
            PREFIX_HASH, number_hash, safe=False, country="SE", policy=POLICY, now=now()
        )
        second = aws.admin.safelist_number(
            PREFIX_HASH, number_hash, safe=False, country="SE", policy=POLICY, now=now()
        )

        # Then the first changed it and the second found nothing to change; the number is refused again
        assert (first, second) == (True, False)
        assert aws.send(NUMBER, now()) == (False, False)
        item = aws.item()
        assert "safeNumbers" not in item
        assert int(item["ttl"]["N"]) >= now() + KEEP_SECONDS - 5

    def test_a_safe_listed_prefix_passes_every_send_and_taking_it_back_restores_the_one_write_path(
        self, aws: Aws
    ) -> None:
        # Given a paused prefix that an operator safe-lists
        aws.pump(now())
        assert aws.admin.safelist_prefix(PREFIX_HASH, safe=True, country="SE", policy=POLICY, now=now())

        # Then every number of it passes without a token
        assert aws.send(NUMBER, now()) == (True, False)
        assert aws.send(NEIGHBOUR, now()) == (True, False)

        # When the operator takes it back and unblocks it
        assert aws.admin.safelist_prefix(PREFIX_HASH, safe=False, country="SE", policy=POLICY, now=now())
        aws.admin.unblock(PREFIX_HASH, policy=POLICY, now=now())

        # Then the attribute is gone (the send path's single conditional write needs it absent), sends
        # take tokens again and the prefix expires like any other
        item = aws.item()
        assert "safe" not in item
        assert "ttl" in item
        assert aws.send(NUMBER, now()) == (True, True)

    def test_taking_back_what_was_never_safe_listed_changes_nothing(self, aws: Aws) -> None:
        # When an operator takes back a prefix and a number the guard does not hold
        prefix = aws.admin.safelist_prefix(PREFIX_HASH, safe=False, country="SE", policy=POLICY, now=now())
        number = aws.admin.safelist_number(
            PREFIX_HASH, HASHER.number(NUMBER), safe=False, country="SE", policy=POLICY, now=now()
        )

        # Then nothing changed and nothing was created
        assert (prefix, number) == (False, False)
        assert aws.item() == {}


@pytest.mark.parametrize(
    ("tokens", "age"),
    [
        (5.0, 0),
        (1.0, 0),
        (0.99, 0),
        (0.0, 0),
        (0.0, DAY // 3 - 60),
        (0.0, DAY // 3 + 60),
        (0.5, DAY),
        (0.0, 10 * DAY),
    ],
)
def test_the_tokens_now_are_what_the_rules_decide_on(tokens: float, age: int) -> None:
    # Given a prefix's bucket as stored some time ago
    at = 1_790_000_000
    state = PrefixState(tokens=tokens, updated=at - age)

    # When the next send is decided now
    verdict = decide(POLICY, state, at, "a-number")

    # Then the tokens the operators see now say the same
    assert (tokens_now(POLICY, state, at) >= 1) == verdict.allowed
    assert tokens_now(POLICY, state, at) <= max(tokens, BUDGET)


# ------------------------------------------------------------------------------------------ the command


class TestList:
    def test_each_prefix_shows_its_state_counts_and_id_but_no_number(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given a paused prefix, a trusted one, a learning one and a safe-listed one
        at = now()
        aws.pump(at)
        aws.send(OTHER_NUMBER, at, OTHER_HASH)
        aws.environment().credit(OTHER_HASH, now=at, policy=POLICY)
        aws.send(NUMBER, at, "a" * 64)
        aws.admin.safelist_prefix("b" * 64, safe=True, country="NO", policy=POLICY, now=at)
        aws.admin.safelist_number(
            PREFIX_HASH, HASHER.number(NUMBER), safe=True, country="SE", policy=POLICY, now=at
        )

        # When an operator lists them
        status, out, _ = run(aws, capsys, "list")

        # Then each is a row: id, country, state, tokens now, sends, conversions, safe numbers, last change
        assert status == 0
        rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
        assert rows[PREFIX_HASH[:12]][1:8] == [
            "SE",
            "paused",
            "0.0",
            "3",
            "0",
            "1",
            time.strftime("%Y-%m-%d", time.gmtime(at)),
        ]
        assert rows[OTHER_HASH[:12]][1:7] == ["SE", "trusted", "5.0", "1", "1", "0"]
        assert rows["a" * 12][1:7] == ["SE", "learning", "2.0", "1", "0", "0"]
        assert rows["b" * 12][1:7] == ["NO", "safe", "3.0", "0", "0", "0"]
        # paused first
        assert out.splitlines()[2].startswith(PREFIX_HASH[:12])
        assert out.splitlines()[0].startswith("4 guarded prefixes in verifications")
        assert_private(out)

    def test_a_paused_prefix_is_shown_as_the_rules_see_it_now(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given a prefix emptied a day ago (its budget has come back since) and one emptied just now
        aws.put(
            PREFIX_HASH,
            tokens={"N": "0"},
            updated={"N": str(now() - DAY)},
            sends={"N": "3"},
            version={"N": "3"},
        )
        aws.put(
            OTHER_HASH, tokens={"N": "0"}, updated={"N": str(now())}, sends={"N": "3"}, version={"N": "3"}
        )

        # When an operator lists them
        _, out, _ = run(aws, capsys, "list")

        # Then the first is learning again, with its budget, and only the second is paused
        rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
        assert rows[PREFIX_HASH[:12]][2:4] == ["learning", f"{BUDGET:.1f}"]
        assert rows[OTHER_HASH[:12]][2:4] == ["paused", "0.0"]

    def test_the_list_can_be_narrowed_to_a_state_and_a_country(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given a paused Swedish prefix, a learning one, and a paused Norwegian one
        aws.pump(now())
        aws.send(NUMBER, now(), "a" * 64)
        aws.put(
            "c" * 64, tokens={"N": "0"}, updated={"N": str(now())}, country={"S": "NO"}, version={"N": "1"}
        )

        # When an operator lists the paused ones of Sweden
        _, out, _ = run(aws, capsys, "list", "--state", "paused", "--country", "se")

        # Then only that one is shown
        assert out.splitlines()[0].startswith("1 guarded prefix in")
        assert [line.split()[0] for line in out.splitlines()[2:]] == [PREFIX_HASH[:12]]

    def test_an_empty_guard_says_so(self, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
        status, out, _ = run(aws, capsys, "list", secret=False)
        assert status == 0
        assert out.startswith("0 guarded prefixes in verifications")
        assert len(out.splitlines()) == 1


class TestUnblock:
    @pytest.mark.parametrize("named", ["number", "prefix", "id"])
    def test_an_operator_unblocks_a_prefix_by_a_number_the_prefix_or_its_id(
        self, aws: Aws, capsys: pytest.CaptureFixture[str], named: str
    ) -> None:
        # Given a paused prefix
        aws.pump(now())
        typed = {"number": NEIGHBOUR, "prefix": PREFIX, "id": PREFIX_HASH[:8]}[named]

        # When an operator unblocks it, naming it one way or another
        status, out, err = run(aws, capsys, "unblock", typed, secret=named != "id")

        # Then it has its budget again, and the message names it only as typed
        assert (status, err) == (0, "")
        assert float(aws.item()["tokens"]["N"]) == BUDGET
        assert f"({PREFIX_HASH[:12]}, SE): 3 tokens, had 0" in out
        assert_private(out, typed)

    def test_a_prefix_the_guard_does_not_hold_is_not_blocked(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, _, err = run(aws, capsys, "unblock", NUMBER)
        assert status == 1
        assert "the guard holds nothing for the prefix of +46700000101" in err
        assert aws.item() == {}

    def test_an_id_must_start_exactly_one_listed_prefix(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given two prefixes whose ids start alike
        for prefix_hash in ("abcdef01" + "1" * 56, "abcdef01" + "2" * 56):
            aws.put(prefix_hash, tokens={"N": "0"}, updated={"N": str(now())}, version={"N": "1"})

        # When an operator gives too little of an id, or one of no prefix
        ambiguous = run(aws, capsys, "unblock", "abcdef01", secret=False)
        unknown = run(aws, capsys, "unblock", "deadbeef", secret=False)
        enough = run(aws, capsys, "unblock", "abcdef012", secret=False)

        # Then only an id that names one prefix unblocks it
        assert ambiguous[0] == 1
        assert "starts 2 prefix ids: give more of it" in ambiguous[2]
        assert unknown[0] == 1
        assert "no guarded prefix has an id starting deadbeef" in unknown[2]
        assert enough[0] == 0
        assert float(aws.item("abcdef01" + "2" * 56)["tokens"]["N"]) == BUDGET
        assert float(aws.item("abcdef01" + "1" * 56)["tokens"]["N"]) == 0


class TestSafelist:
    def test_an_operator_safe_lists_a_number_and_takes_it_back(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given a paused prefix
        aws.pump(now())

        # When an operator safe-lists a number of it, twice, then takes it back
        listed = run(aws, capsys, "safelist", NUMBER)
        again = run(aws, capsys, "safelist", NUMBER)
        sent = aws.send(NUMBER, now())
        removed = run(aws, capsys, "safelist", "--remove", NUMBER)

        # Then the number passed while listed, and each message says what changed, in the operator's words
        assert sent == (True, False)
        assert listed[1].startswith(f"safe-listed {NUMBER} (prefix {PREFIX_HASH[:12]}, SE): its sends pass")
        assert again[1].startswith(f"already safe-listed: {NUMBER}")
        assert removed[1].strip() == f"{NUMBER} (prefix {PREFIX_HASH[:12]}, SE) is no longer safe-listed"
        assert aws.send(NUMBER, now()) == (False, False)
        for _, out, _ in (listed, again, removed):
            assert_private(out, NUMBER)

    @pytest.mark.parametrize("typed", [[PREFIX], ["--prefix", NUMBER], ["PREFIX_ID"]])
    def test_an_operator_safe_lists_a_whole_prefix(
        self, aws: Aws, capsys: pytest.CaptureFixture[str], typed: list[str]
    ) -> None:
        # Given a paused prefix
        aws.pump(now())
        args = [PREFIX_HASH[:10] if value == "PREFIX_ID" else value for value in typed]

        # When an operator safe-lists the prefix: by itself, as a number's, or by its id
        status, out, _ = run(aws, capsys, "safelist", *args)

        # Then every number of it passes
        assert status == 0
        assert out.startswith("safe-listed the prefix")
        assert aws.item()["safe"] == {"BOOL": True}
        assert aws.send(NEIGHBOUR, now()) == (True, False)
        assert_private(out, args[-1])


class TestNaming:
    @pytest.mark.parametrize(
        ("typed", "error"),
        [
            ("+467000", "neither a valid phone number nor the prefix of a block of 10,000 numbers"),
            ("+46700000", "neither a valid phone number nor the prefix"),
            ("46700000101x", "not a number or a prefix (those are E.164, with '+')"),
            ("abc", "nor a prefix id (at least 8 hex digits"),
            ("+18005550123", "never sends to"),  # toll free
        ],
    )
    def test_what_names_no_number_prefix_or_id_is_refused_with_what_would(
        self, aws: Aws, capsys: pytest.CaptureFixture[str], typed: str, error: str
    ) -> None:
        status, out, err = run(aws, capsys, "unblock", typed)
        assert (status, out) == (2, "")
        assert error in err

    def test_a_prefix_is_where_the_guard_cuts_its_numbers(self) -> None:
        assert parse_destination(PREFIX).prefix == PREFIX
        assert parse_destination(NUMBER).prefix == PREFIX
        assert parse_destination(NUMBER).number == NUMBER
        assert parse_destination(NUMBER, whole_prefix=True).number is None
        assert parse_destination(OTHER_PREFIX).country == "US"
        assert parse_destination(" ABCDEF0123 ").prefix_id == "abcdef0123"
        with pytest.raises(DestinationError):
            parse_destination("+46700001")  # a number of the block without its last three digits

    def test_numbers_and_prefixes_need_the_secret_and_ids_do_not(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given a paused prefix
        aws.pump(now())

        # When an operator names it by a number without the secret, then by its id
        by_number = run(aws, capsys, "unblock", NUMBER, secret=False)
        by_id = run(aws, capsys, "unblock", PREFIX_HASH[:12], secret=False)

        # Then the number needs the key its hash was made with; the id does not
        assert by_number[0] == 2
        assert "--secret-arn" in by_number[2]
        assert by_id[0] == 0

    def test_an_aws_refusal_is_reported_in_awss_words(
        self, aws: Aws, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, _, err = run(
            aws,
            capsys,
            "unblock",
            NUMBER,
            "--secret-arn",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope",
            secret=False,
        )
        assert status == 1
        assert "ResourceNotFoundException" in err


# ------------------------------------------------------------------------------------------ deployments


def options(**given: Any) -> argparse.Namespace:
    values: dict[str, Any] = dict.fromkeys(
        ("stack", "table", "secret_arn", "region", "profile", "endpoint_url", "budget")
    )
    return argparse.Namespace(**{**values, "local": False, **given})


class TestDeployments:
    def test_local_names_make_runs_emulator_secret_and_budget(self) -> None:
        # When an operator points the command at the local stack, with make run's variables set
        environ = {
            "AWS_EMULATOR_PORT": "4566",
            "FRAUD_GUARD_PREFIX_BUDGET": "7",
            "AWS_DEFAULT_REGION": "eu-north-1",
        }
        deployment = resolve(options(local=True, table="t"), environ)

        # Then it uses the emulator's port, region and dummy credentials, the secret's name and the budget
        assert (deployment.endpoint_url, deployment.session.region_name) == (
            "http://127.0.0.1:4566",
            "eu-north-1",
        )
        assert (deployment.secret_id, deployment.budget, deployment.table) == (
            "phone-verification/sinch",
            7,
            "t",
        )
        credentials = deployment.session.get_credentials()
        assert credentials is not None
        assert credentials.access_key == "testing"

    def test_local_finds_the_stacks_table_by_its_name(self) -> None:
        with mock_aws():
            # Given the local stack's table among others
            make_table()
            deployment = Deployment("", None, BUDGET, boto3.Session(region_name=REGION))
            dynamodb = deployment.dynamodb()
            with pytest.raises(DeploymentError, match="expected one table named phone-verification-"):
                _local_table(deployment, "phone-verification-")
            dynamodb.create_table(
                TableName="phone-verification-VerificationTable",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )

            # Then it is the one found
            assert _local_table(deployment, "phone-verification-") == "phone-verification-VerificationTable"

    def test_a_stack_gives_its_table_secret_and_budget_and_options_win(self) -> None:
        with mock_aws():
            # Given a deployed stack with the template's outputs and budget parameter
            template = {
                "Parameters": {"FraudGuardPrefixBudget": {"Type": "Number", "Default": 20}},
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"TableName": {"Value": "pv-table"}, "SecretArn": {"Value": "arn:secret"}},
            }
            boto3.client("cloudformation", region_name=REGION).create_stack(
                StackName="pv",
                TemplateBody=json.dumps(template),
                Parameters=[{"ParameterKey": "FraudGuardPrefixBudget", "ParameterValue": "7"}],
            )

            # When the command is pointed at it, with and without options of its own
            from_stack = resolve(options(stack="pv", region=REGION), {})
            overridden = resolve(options(stack="pv", region=REGION, table="other", budget=2), {})

            # Then the stack's outputs and parameter are used unless the options say otherwise
            assert (from_stack.table, from_stack.secret_id, from_stack.budget) == (
                "pv-table",
                "arn:secret",
                7,
            )
            assert (overridden.table, overridden.secret_id, overridden.budget) == ("other", "arn:secret", 2)

    def test_without_a_table_the_command_says_how_to_name_one(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["list"], environ={}) == 2
        assert "--table (the stack's TableName output), --stack NAME, or --local" in capsys.readouterr().err

    def test_the_endpoint_defaults_to_aws_endpoint_url(self) -> None:
        deployment = resolve(options(table="t", region=REGION), {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert deployment.endpoint_url == "http://127.0.0.1:9"
        assert deployment.budget == DEFAULT_BUDGET == 20
