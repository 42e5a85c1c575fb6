"""The ``mailbot`` command as an admin uses it: real processes, real files, real servers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mailbot.config import ImapSettings
from tests.conftest import ImapPeer, SmtpSink, free_port
from tests.factories import customer_mail

CORPUS_MAIL = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "mail-corpus"
    / "rt"
    / "rfc2231-attachment-filename-continuations"
)


def mailbot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mailbot`` as a separate process, the way cron or systemd would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def write_config(
    tmp_path: Path,
    imap: ImapSettings,
    smtp: SmtpSink,
    database_url: str,
    *,
    contracts_file: bool = True,
) -> Path:
    """A configuration for the test's servers; with ``contracts_file`` (the default), the
    contracts come from contracts.toml beside it, and no other contracts file may be imported."""
    config = tmp_path / "config.toml"
    config.write_text(f"""
[general]
state_dir = "state"

[imap]
host = "{imap.host}"
port = {imap.port}
username = "{imap.username}"
tls = "none"
poll_interval = "5s"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
tls = "none"

[database]
url = "{database_url}"

[support]
address = "support@desk.example.pl"
{'contracts_file = "contracts.toml"' if contracts_file else ""}
""")
    (tmp_path / "contracts.toml").write_text("""
[[contract]]
id = "acme-vip"
customer = "ACME Sp. z o.o."
tier = "vip"
addresses = ["jan@acme.pl"]
valid_from = 2025-01-01
""")
    # The password comes from the .env beside the config file, as the README advises.
    (tmp_path / ".env").write_text(f"MAILBOT_IMAP__PASSWORD={imap.password}\n")
    return config


def test_help_lists_every_command_with_its_help() -> None:
    out = mailbot("--help").stdout
    for command in ("run", "demo", "check-config", "inspect", "contracts", "tickets"):
        assert command in out
    assert "import" in mailbot("contracts", "--help").stdout
    assert "show" in mailbot("tickets", "--help").stdout
    assert "--once" in mailbot("run", "--help").stdout


def test_config_error_names_the_key_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[support]\naddress = "s@x.pl"\n[imap]\nhost = "h"\nusername = "u"\nport = "abc"\n'
    )
    done = mailbot("--config", str(config), "check-config", env={"MAILBOT_IMAP__PASSWORD": "x"})
    assert done.returncode == 2
    assert "imap.port" in done.stderr and str(config) in done.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    done = mailbot("--config", str(tmp_path / "nope.toml"), "check-config")
    assert done.returncode == 2
    assert "nope.toml" in done.stderr


def test_inspect_prints_the_parsed_mail_as_json() -> None:
    done = mailbot("inspect", str(CORPUS_MAIL), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for key in (
        "message_id",
        "from_address",
        "from_name",
        "subject",
        "date",
        "body_text",
        "attachments",
        "ticket_tag",
        "in_reply_to",
        "references",
    ):
        assert key in data
    assert data["message_id"] == "<somemsgid@lucky.nifty.jp>"
    assert data["from_address"] == "root@localhost"
    assert data["attachments"] == [
        {"filename": "新しいテキスト ドキュメント.txt", "content_type": "text/plain", "size": 141}
    ]
    assert "tier" not in data  # no configuration given


def test_inspect_with_a_config_adds_tier_and_contract(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, imap_settings, smtp_sink, f"sqlite:///{tmp_path / 'db.sqlite'}")
    mail = tmp_path / "mail.eml"
    mail.write_bytes(customer_mail("jan@acme.pl", "Re: [SOL-12] Drukarka"))
    done = mailbot("--config", str(config), "inspect", str(mail), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["tier"], data["contract"], data["ticket_tag"]) == ("vip", "acme-vip", "SOL-12")
    assert data["attachments"] == []


def test_run_once_against_real_servers_then_list_and_show(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    config = write_config(tmp_path, imap_settings, smtp_sink, database_url)
    imap_client.append(customer_mail("jan@acme.pl", "Serwer nie działa"))
    imap_client.append(customer_mail("obcy@example.com", "Pytanie"))

    first = mailbot("--config", str(config), "run", "--once")
    second = mailbot("--config", str(config), "run", "--once")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "SOL-1" in first.stderr and "vip" in first.stderr  # one log line per mail
    assert len(smtp_sink.messages) == 2
    listed = json.loads(mailbot("--config", str(config), "tickets", "list", "--json").stdout)
    assert sorted((t["number"], t["tier"], t["contract"]) for t in listed) == [
        ("SOL-1", "vip", "acme-vip"),
        ("SOL-2", "post_warranty", None),
    ]
    shown = json.loads(
        mailbot("--config", str(config), "tickets", "show", "SOL-1", "--json").stdout
    )
    for key in (
        "number",
        "tier",
        "status",
        "customer",
        "contract",
        "subject",
        "received_at",
        "reaction_due",
        "resolution_due",
        "messages",
    ):
        assert key in shown
    assert [m["direction"] for m in shown["messages"]] == ["in", "out"]
    missing = mailbot("--config", str(config), "tickets", "show", "SOL-99")
    assert missing.returncode == 1 and "SOL-99" in missing.stderr


def test_contracts_import_is_idempotent(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, imap_settings, smtp_sink, database, contracts_file=False)
    contracts = tmp_path / "more.csv"
    contracts.write_text(
        "id,customer,tier,addresses,domains,valid_from,valid_until,language\n"
        "klos,Piekarnia Kłos,warranty,,klos.pl zloty.pl,2025-01-01,2027-01-01,pl\n"
    )
    first = mailbot("--config", str(config), "contracts", "import", str(contracts))
    second = mailbot("--config", str(config), "contracts", "import", str(contracts))
    assert first.returncode == 0, first.stderr
    assert "added: 1" in first.stdout
    assert (
        "added: 0" in second.stdout
        and "updated: 0" in second.stdout
        and "unchanged: 1" in second.stdout
    )
    listed = json.loads(mailbot("--config", str(config), "contracts", "list", "--json").stdout)
    assert [(c["id"], c["domains"]) for c in listed] == [("klos", ["klos.pl", "zloty.pl"])]


def test_contracts_list_shows_who_requires_authentication(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, imap_settings, smtp_sink, database, contracts_file=False)
    contracts = tmp_path / "auth.csv"
    contracts.write_text(
        "id,customer,tier,domains,valid_from,require_authentication\n"
        "a-vip,A,vip,a.pl,2025-01-01,\n"
        "b-vip,B,vip,b.pl,2025-01-01,false\n"
        "c-gw,C,warranty,c.pl,2025-01-01,true\n"
        "d-gw,D,warranty,d.pl,2025-01-01,\n"
    )
    assert mailbot("--config", str(config), "contracts", "import", str(contracts)).returncode == 0
    trusted = {"MAILBOT_SUPPORT__AUTHSERV_ID": "mx.desk.example.pl"}

    listed = mailbot("--config", str(config), "contracts", "list", "--json", env=trusted)
    shown = [
        (c["id"], c["require_authentication"], c["require_authentication_default"])
        for c in json.loads(listed.stdout)
    ]
    assert shown == [
        ("a-vip", True, True),
        ("b-vip", False, False),
        ("c-gw", True, False),
        ("d-gw", False, True),
    ]
    table = mailbot("--config", str(config), "contracts", "list", env=trusted)
    auth = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert "required (default)" in auth["a-vip"] and "not required" in auth["b-vip"]
    assert "  required  " in auth["c-gw"] and "not required (default)" in auth["d-gw"]
    assert table.stderr == ""

    # The VIP default follows [support] vip_requires_authentication; without authserv_id
    # nothing can be verified, and the list says so.
    lenient = {"MAILBOT_SUPPORT__VIP_REQUIRES_AUTHENTICATION": "false"}
    listed = mailbot("--config", str(config), "contracts", "list", "--json", env=lenient)
    required = {c["id"] for c in json.loads(listed.stdout) if c["require_authentication"]}
    assert required == {"c-gw"}
    table = mailbot("--config", str(config), "contracts", "list", env=lenient)
    assert "authserv_id is not set" in table.stderr


def test_contracts_import_of_a_bad_file_names_row_and_field(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, imap_settings, smtp_sink, database, contracts_file=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,customer,tier,valid_from\nx,X,platinum,2025-01-01\n")
    done = mailbot("--config", str(config), "contracts", "import", str(bad))
    assert done.returncode == 2
    assert "row 2" in done.stderr and "tier" in done.stderr


def test_demo_runs_with_no_servers(tmp_path: Path) -> None:
    done = mailbot("demo", "--dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    assert "SOL-1" in done.stdout and "vip" in done.stdout and "post_warranty" in done.stdout
    sent = [p.read_bytes() for p in sorted((tmp_path / "demo" / "sent").glob("*.eml"))]
    acks = [m for m in sent if b"X-Mailbot-Kind: ack" in m]
    assert len(acks) == 4  # four people wrote; the out-of-office reply gets no answer
    [relay] = [m for m in sent if b"X-Mailbot-Kind: relay" in m]
    assert b"To: jan.kowalski@acme.pl" in relay and b"#status" not in relay
    listed = mailbot(
        "--config", str(tmp_path / "demo" / "config.toml"), "tickets", "list", "--json"
    )
    assert len(json.loads(listed.stdout)) == 5
    again = mailbot("demo", "--dir", str(tmp_path / "demo"))
    assert again.returncode == 0, "the demo can be run again in the same folder"


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = mailbot("demo", "--dir", str(tmp_path))
    assert done.returncode != 0
    assert (tmp_path / "precious.txt").exists()


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_daemon_stops_cleanly_on_signal(
    signal_name: str,
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
) -> None:
    config = write_config(tmp_path, imap_settings, smtp_sink, f"sqlite:///{tmp_path / 'db.sqlite'}")
    imap_client.append(customer_mail("jan@acme.pl", "Daemon"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
    )
    try:
        smtp_sink.wait_for(1, timeout=30)  # the first poll runs at start
        process.send_signal(getattr(signal, signal_name))
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "mailbot stopped" in stderr
    assert imap_client.messages("INBOX") == []


def test_run_once_exits_1_when_the_mailbox_is_unreachable(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    closed = replace(imap_settings, port=free_port())
    config = write_config(tmp_path, closed, smtp_sink, f"sqlite:///{tmp_path / 'db.sqlite'}")
    done = mailbot("--config", str(config), "run", "--once")
    assert done.returncode == 1
    assert "connection refused" in done.stderr


def test_a_broken_custom_template_stops_mailbot_at_start(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates", templates)
    (templates / "en" / "reminder.txt.j2").write_text(
        "Subject: {{ tag }} {{ no_such_value }}\n\nx\n"
    )
    config = write_config(tmp_path, imap_settings, smtp_sink, f"sqlite:///{tmp_path / 'db.sqlite'}")
    config.write_text(
        config.read_text().replace("[general]\n", f'[general]\ntemplates_dir = "{templates}"\n')
    )

    for command in (("check-config",), ("run", "--once")):
        done = mailbot("--config", str(config), *command)
        assert done.returncode == 2, done.stderr
        assert "en/reminder.txt.j2" in done.stderr and "no_such_value" in done.stderr
