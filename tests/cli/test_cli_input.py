"""Bad input at the command line (issue 13, items 2, 7 and 8): one line naming the argument
and exit code 2, never a traceback; with a contracts file, the file is the only place to
change contracts.

Most tests call ``mailbot.cli.main`` in the test's process (a SQLite database, a Maildir
and a pickup directory in tmp_path: no servers), so a property test can run hundreds of
command lines in seconds; two run ``python -m mailbot`` to see what a shell sees.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.cli import main
from tests.cli.test_cli import mailbot

CONTRACTS = """\
[[contract]]
id = "acme-vip"
customer = "ACME Sp. z o.o."
tier = "vip"
addresses = ["jan@acme.pl"]
valid_from = 2025-01-01
"""


def write_config(directory: Path, *, contracts_file: bool) -> Path:
    (directory / "contracts.toml").write_text(CONTRACTS, encoding="utf-8")
    config = directory / "config.toml"
    config.write_text(
        f"""
[general]
state_dir = "state"
[imap]
url = "maildir:Maildir"
[smtp]
url = "dir:sent"
[support]
address = "pomoc@serwis.example.pl"
staff_addresses = ["szef@example.com"]
staff_domains = ["serwis.example.pl"]
{'contracts_file = "contracts.toml"' if contracts_file else ""}
""",
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


class Desk:
    """A configured mailbot whose command line runs in this process."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = config
        self.capsys = capsys

    def __call__(self, *args: str) -> Done:
        self.capsys.readouterr()
        try:
            code = main(["--config", str(self.config), *args])
        except SystemExit as exc:  # argparse: usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return Done(code, out, err)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.code == 0, done.err
        return done.out


def start(directory: Path, capsys: pytest.CaptureFixture[str], *, contracts_file: bool) -> Desk:
    desk = Desk(write_config(directory, contracts_file=contracts_file), capsys)
    desk.ok("contracts", "import", str(directory / "contracts.toml"))
    number = desk.ok("tickets", "open", "--contract", "acme-vip", "--subject", "S", "--body", "B")
    assert number.strip() == "SOL-1"
    return desk


@pytest.fixture
def desk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Desk:
    return start(tmp_path, capsys, contracts_file=False)


def refused(done: Done) -> str:
    """The one line of a refusal (exit 2)."""
    assert done.code == 2, (done.code, done.out, done.err)
    assert "Traceback" not in done.err
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done.err
    return lines[0]


NINES = "9" * 400


@pytest.mark.parametrize(
    ("args", "named", "expected"),
    [
        (("time", "add", "SOL-1", NINES + "h"), "argument DURATION", "more than 24 h"),
        (("time", "add", "SOL-1", "0h"), "argument DURATION", "at least a minute"),
        (("time", "add", "SOL-1", "1h", "--at", "9999-12-31T23:00"), "argument --at", "9000"),
        (("time", "list", "--month", "0000-01"), "argument --month", "1970-01 to 9000-12"),
        (("report", "billing", "--month", "0000-01"), "argument --month", "1970-01 to 9000-12"),
        (("report", "billing", "--month", "9999-12"), "argument --month", "1970-01 to 9000-12"),
        (("report", "billing", "--month", "2026-13"), "argument --month", "like 2026-11"),
        (("report", "sla", "--month", "9999-12"), "argument --month", "1970-01 to 9000-12"),
        (("tickets", "list", "--limit", "9" * 23), "argument --limit", "from 1 to 100000"),
        (("tickets", "list", "--limit=-1"), "argument --limit", "from 1 to 100000"),
        (("tickets", "list", "--limit", "0"), "argument --limit", "from 1 to 100000"),
        (("tickets", "list", "--limit", "ten"), "argument --limit", "from 1 to 100000"),
        (("tickets", "list", "--due-within", "99999999999d"), "argument --due-within", "365"),
        (("tickets", "list", "--due-within=-2h"), "argument --due-within", "bad duration"),
        (
            ("tickets", "open", "--contract", "acme-vip", "--subject", "s", "--body", "b",
             "--received", "9999-12-31T23:00"),
            "argument --received",
            "from 1970-01-01 to 9000-12-31",
        ),
        (
            ("tickets", "open", "--contract", "acme-vip", "--subject", "s", "--body", "b",
             "--from", "not an address"),
            "argument --from",
            "expected an e-mail address",
        ),
        (
            ("sla", "explain", "--tier", "vip", "--received", "9999-12-31T12:00"),
            "argument --received",
            "from 1970-01-01 to 9000-12-31",
        ),
        (
            ("sla", "explain", "--tier", "warranty", "--received", "0001-01-01T00:00"),
            "argument --received",
            "from 1970-01-01 to 9000-12-31",
        ),
        (
            ("sla", "explain", "--tier", "vip", "--received", "1969-12-31T23:59+00:00"),
            "argument --received",
            "from 1970-01-01",
        ),
        (("sla", "explain", "--tier", "vip", "--received", "soon"), "argument --received", "ISO"),
        (("contracts", "add-address", "acme-vip", "%"), "argument ADDRESS", "a domain like"),
        (("contracts", "add-address", "acme-vip", "jan@%"), "argument ADDRESS", "e-mail address"),
        (("contracts", "add-address", "acme-vip", "a b.pl"), "argument ADDRESS", "a domain like"),
    ],
)  # fmt: skip
def test_bad_arguments_get_one_line_naming_them_and_exit_2(
    desk: Desk, args: tuple[str, ...], named: str, expected: str
) -> None:
    line = refused(desk(*args))
    assert named in line and expected in line, line
    assert line.startswith(f"mailbot {args[0]} {args[1]}: error: ")


def test_the_edges_of_the_ranges_are_accepted(desk: Desk) -> None:
    for received in ("1970-01-01T00:00", "9000-12-31T12:00"):
        shown = json.loads(
            desk.ok("sla", "explain", "--tier", "warranty", "--received", received, "--json")
        )
        assert shown["received_at"].startswith(received)
    assert desk.ok("report", "billing", "--month", "9000-12")
    assert desk.ok("report", "billing", "--month", "1970-01")
    assert desk.ok("tickets", "list", "--limit", "100000", "--due-within", "365d")
    assert desk.ok("time", "add", "SOL-1", "24h", "--at", "1970-01-01")


@pytest.mark.parametrize("bad", ["a\0b", "\udcff"])
def test_an_argument_with_a_nul_byte_or_not_utf8_is_refused(desk: Desk, bad: str) -> None:
    line = refused(
        desk("tickets", "open", "--contract", "acme-vip", "--subject", bad, "--body", "b")
    )
    assert line.startswith("mailbot: error: argument ")
    assert "SOL-2" not in desk.ok("tickets", "list")


# --- tickets set N assignee: staff only (item 2) ------------------------------------------


@pytest.mark.parametrize(
    "value", ["not an address", "spy@attacker.test", "jan@acme.pl", "szef@example.com.evil", "%"]
)
def test_an_assignee_must_be_on_the_staff(desk: Desk, value: str) -> None:
    line = refused(desk("tickets", "set", "SOL-1", "assignee", value))
    assert "assignee" in line and "is not a staff address" in line
    assert json.loads(desk.ok("tickets", "show", "SOL-1", "--json"))["assignee"] in ("", None)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("szef@example.com", "szef@example.com"),
        ("Anna@Serwis.example.pl", "anna@serwis.example.pl"),
        ("", "(staff list)"),
    ],
)
def test_a_staff_assignee_is_taken(desk: Desk, value: str, stored: str) -> None:
    assert desk.ok("tickets", "set", "SOL-1", "assignee", value) == f"SOL-1: assignee -> {stored}\n"


# --- the contracts file is the source of truth (item 7) -----------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("contracts", "set", "acme-vip", "valid_until", "2026-01-31"),
        ("contracts", "add-address", "acme-vip", "ola@acme.pl"),
        ("contracts", "import", "other.toml"),
    ],
)
def test_with_a_contracts_file_the_contract_commands_say_where_to_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    desk = start(tmp_path, capsys, contracts_file=True)
    (tmp_path / "other.toml").write_text(CONTRACTS.replace("acme-vip", "other"), "utf-8")
    before = desk.ok("contracts", "show", "acme-vip", "--json")
    line = refused(desk(*(str(tmp_path / a) if a == "other.toml" else a for a in args)))
    assert f"contracts come from {tmp_path / 'contracts.toml'} ([support] contracts_file)" in line
    assert line.endswith("then run systemctl reload mailbot")
    assert desk.ok("contracts", "show", "acme-vip", "--json") == before
    assert "other" not in desk.ok("contracts", "list")


def test_with_a_contracts_file_that_file_itself_may_be_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = start(tmp_path, capsys, contracts_file=True)
    assert "unchanged: 1" in desk.ok("contracts", "import", str(tmp_path / "contracts.toml"))
    assert desk.ok("contracts", "show", "acme-vip")  # reading is never refused


def test_without_a_contracts_file_the_contract_commands_change_the_database(desk: Desk) -> None:
    assert desk.ok("contracts", "set", "acme-vip", "valid_until", "2026-01-31")
    assert desk.ok("contracts", "add-address", "acme-vip", "Ola@ACME.pl") == (
        "acme-vip: added ola@acme.pl\n"
    )
    shown = json.loads(desk.ok("contracts", "show", "acme-vip", "--json"))
    assert (shown["valid_until"], shown["addresses"]) == (
        "2026-01-31",
        ["jan@acme.pl", "ola@acme.pl"],
    )


@pytest.mark.parametrize(
    ("content", "problem"), [(b"", "the file is empty"), (b"id,customer\nx,A\0B\n", "NUL byte")]
)
def test_a_bad_contracts_csv_is_refused(
    desk: Desk, tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "new.csv"
    path.write_bytes(content)
    line = refused(desk("contracts", "import", str(path)))
    assert str(path) in line and problem in line


# --- what a shell sees ---------------------------------------------------------------------


def test_a_huge_poll_interval_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, contracts_file=False)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[smtp]", "poll_interval = 99999999999999999999\n[smtp]"))
    done = mailbot("--config", str(config), "check-config", "--offline")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"mailbot: configuration error: {config}: imap.poll_interval: bad duration: at most 365"
        " days, got 99999999999999999999"
    ]


def test_a_time_entry_of_400_nines_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, contracts_file=False)
    done = mailbot("--config", str(config), "time", "add", "SOL-1", NINES + "h")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("mailbot time add: error: argument DURATION: ")


# --- the property: whatever the arguments, no traceback --------------------------------------

EXIT_CODES = {0, 1, 2}  # success, runtime failure (no such ticket/contract), usage error


def numbers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.integers(min_value=0, max_value=10**6).map(str),
        st.sampled_from(["0", "-0", "1e9", "9" * 400, "0x10", "1_000", "٣", ""]),
    )


def durations() -> st.SearchStrategy[str]:
    unit = st.sampled_from(["", "d", "h", "m", "s", "min", "w", ".5h", ",5h"])
    return st.one_of(st.tuples(numbers(), unit).map("".join), st.text(max_size=12))


def moments() -> st.SearchStrategy[str]:
    offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
        lambda m: timezone(timedelta(minutes=m))
    )
    naive = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
    return st.one_of(
        naive.map(lambda d: d.isoformat(timespec="minutes")),
        st.tuples(naive, offsets).map(lambda p: p[0].replace(tzinfo=p[1]).isoformat()),
        st.dates().map(str),
        st.text(max_size=20),
    )


def months() -> st.SearchStrategy[str]:
    year, month = st.integers(min_value=0, max_value=99999), st.integers(min_value=-1, max_value=99)
    return st.one_of(
        st.tuples(year, month).map(lambda p: f"{p[0]:04d}-{p[1]:02d}"), st.text(max_size=9)
    )


def addresses() -> st.SearchStrategy[str]:
    return st.one_of(
        st.emails().map(str),
        st.sampled_from(["%", "", "szef@example.com", "a@serwis.example.pl", "acme.pl", "@", "a@"]),
        st.text(max_size=30),
    )


TEXT = st.text(max_size=40)  # any code point but surrogates, NUL and control characters included


def maybe(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """``[option, value]`` or nothing: an optional argument, given or not."""
    return st.one_of(st.just([]), values.map(lambda value: [option, value]))


def command_lines() -> st.SearchStrategy[list[str]]:
    ticket = st.one_of(st.just("SOL-1"), TEXT)
    field = st.sampled_from(["status", "tier", "assignee", "express", "unjustified", "warranty"])
    key = st.one_of(
        st.sampled_from(["valid_until", "valid_from", "monthly_fee", "free_unjustified",
                         "hourly_rate", "package_hours", "addresses", "domains", "customer",
                         "tier", "language", "require_authentication", "billing_email"]),
        TEXT,
    )  # fmt: skip
    value = st.one_of(numbers(), moments(), addresses(), TEXT)
    optional = st.one_of(st.just([]), st.lists(st.sampled_from(["--json"]), max_size=1))
    return st.one_of(
        st.tuples(numbers()).map(lambda a: ["tickets", "list", "--limit", *a]),
        st.tuples(durations()).map(lambda a: ["tickets", "list", "--due-within", *a]),
        st.tuples(maybe("--received", moments()), maybe("--from", addresses()), TEXT).map(
            lambda a: ["tickets", "open", "--contract", "acme-vip", "--subject", a[2], "--body",
                       "b", *a[0], *a[1]]
        ),
        st.tuples(st.sampled_from(["vip", "warranty", "post_warranty"]), moments()).map(
            lambda a: ["sla", "explain", "--tier", a[0], "--received", a[1]]
        ),
        st.tuples(ticket, durations(), maybe("--at", moments())).map(
            lambda a: ["time", "add", a[0], a[1], *a[2]]
        ),
        st.tuples(months()).map(lambda a: ["time", "list", "--month", *a]),
        st.tuples(months(), st.sampled_from(["table", "csv", "json"])).map(
            lambda a: ["report", "billing", "--month", a[0], "--format", a[1]]
        ),
        st.tuples(months()).map(lambda a: ["report", "sla", "--month", *a]),
        st.tuples(ticket, field, value).map(lambda a: ["tickets", "set", *a]),
        st.tuples(key, value).map(lambda a: ["contracts", "set", "acme-vip", *a]),
        st.tuples(addresses()).map(lambda a: ["contracts", "add-address", "acme-vip", *a]),
        st.tuples(ticket, optional).map(lambda a: ["tickets", "show", a[0], *a[1]]),
        st.tuples(TEXT, optional).map(lambda a: ["contracts", "show", a[0], *a[1]]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def fuzzed_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("fuzz")
    config = write_config(directory, contracts_file=False)
    contracts = str(directory / "contracts.toml")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--config", str(config), "contracts", "import", contracts]) == 0
    yield config


FIGURES: dict[str, float] = {"examples": 0, "ok": 0, "refused": 0, "failed": 0, "seconds": 0.0}


@settings(
    # About 15 s; MAILBOT_CLI_EXAMPLES=20000 for a longer hunt.
    max_examples=int(os.environ.get("MAILBOT_CLI_EXAMPLES", "1200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_no_command_line_ends_in_a_traceback(
    fuzzed_desk: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    started = time.monotonic()
    done = Desk(fuzzed_desk, capsys)(*argv)  # an exception escaping main fails the test
    FIGURES["seconds"] += time.monotonic() - started
    FIGURES["examples"] += 1
    assert done.code in EXIT_CODES, (argv, done)
    assert "Traceback" not in done.err, (argv, done.err)
    if done.code == 0:
        FIGURES["ok"] += 1
        return
    # The answer is one line from mailbot (log lines, e.g. of the outbox, may come before it).
    last = done.err.strip().splitlines()[-1]
    assert last.startswith("mailbot"), (argv, done.err)
    # Unchecked input reaching the database would show as a database error.
    assert "database error" not in done.err, (argv, done.err)
    FIGURES["refused" if done.code == 2 else "failed"] += 1


# --- the same for the configuration: a bad value is one line naming its key, exit 2 -----------


def toml_value() -> st.SearchStrategy[str]:
    """A TOML value as written in the file: a string, an integer (any size), a list of them."""
    text = st.one_of(durations(), numbers(), st.sampled_from(["25MB", "1GB", "2GB", "08:00-16:00"]))
    scalar = st.one_of(text.map(json.dumps), st.integers(-(10**25), 10**25).map(str))
    return st.one_of(scalar, st.lists(scalar, max_size=3).map(lambda v: f"[{', '.join(v)}]"))


SETTINGS = (
    "imap.poll_interval", "imap.timeout", "imap.max_backoff", "smtp.connections",
    "ingest.batch_size", "ingest.batch_bytes", "ingest.parse_workers", "limits.max_mail_size",
    "limits.auto_replies_per_hour", "support.reopen_days", "billing.hourly_rate",
    "health.poll_warning", "tiers.vip.reaction", "tiers.vip.reaction_reminders",
    "tiers.warranty.resolution", "tiers.warranty.resolution_reminders",
    "calendars.business.hours",
)  # fmt: skip


@settings(
    max_examples=int(os.environ.get("MAILBOT_CONFIG_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.dictionaries(st.sampled_from(SETTINGS), toml_value(), min_size=1, max_size=3))
def test_no_setting_ends_in_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], values: dict[str, str]
) -> None:
    config = write_config(tmp_path, contracts_file=False)
    tables: dict[str, list[str]] = {}
    for path, value in values.items():
        table, _, key = path.rpartition(".")
        tables.setdefault(table, []).append(f"{key} = {value}")
    text = config.read_text(encoding="utf-8")
    for table, lines in tables.items():
        header = f"[{table}]"
        body = "\n".join(lines)
        text = (
            text.replace(header, f"{header}\n{body}")
            if header in text
            else f"{text}\n{header}\n{body}\n"
        )
    config.write_text(text, encoding="utf-8")
    done = Desk(config, capsys)("check-config", "--offline")
    assert done.code in (0, 2), (values, done)
    assert "Traceback" not in done.err, (values, done.err)
    if done.code == 2:
        line = refused(done)
        tiers = {path.split(".")[1] for path in values if path.startswith("tiers.")}
        named = [
            *values,
            *(
                f"tiers.{tier}.{kind}_reminders"
                for tier in tiers
                for kind in ("reaction", "resolution")
            ),
        ]
        assert any(path in line for path in named) or "not valid TOML" in line, (values, line)


def test_the_property_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Print what the property test ran (pytest -s shows it), e.g. for the issue's closing note."""
    if FIGURES["examples"]:
        with capsys.disabled():
            print(
                f"\nCLI property test: {FIGURES['examples']:.0f} command lines in"
                f" {FIGURES['seconds']:.1f} s: {FIGURES['ok']:.0f} done (exit 0),"
                f" {FIGURES['refused']:.0f} refused (exit 2),"
                f" {FIGURES['failed']:.0f} exit 1, no traceback"
            )
