"""``mailbot inspect``: several files, a Maildir or an mbox in, one JSON object per mail out."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

from tests.cli.test_cli import mailbot
from tests.core.test_mail_corpus import corpus_dir
from tests.factories import customer_mail

KEYS = {"file", "is_auto_reply", "is_bounce", "automated_reason", "charset_problems",
        "authenticated", "message_id", "from_address", "subject"}  # fmt: skip


def lines(stdout: str) -> list[dict[str, object]]:
    # JSON Lines end at "\n" only: str.splitlines() would also cut at a U+2028 inside a value.
    return [json.loads(line) for line in stdout.split("\n") if line]


def test_inspect_reads_files_an_mbox_and_a_maildir(tmp_path: Path) -> None:
    person = tmp_path / "person.eml"
    person.write_bytes(customer_mail("jan@acme.pl", "Drukarka"))
    box = mailbox.mbox(tmp_path / "box.mbox")
    box.add(customer_mail("ktos@firma.pl", "Urlop", X_Autoreply="yes"))
    box.add(customer_mail("MAILER-DAEMON@mx.pl", "Undelivered", Return_Path="<>"))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(customer_mail("anna@klos.pl", "Ciasto", Auto_Submitted="auto-generated"))

    done = mailbot(
        "inspect", str(person), str(tmp_path / "box.mbox"), str(tmp_path / "Maildir"), "--json"
    )

    assert done.returncode == 0, done.stderr
    found = lines(done.stdout)
    assert all(set(entry) >= KEYS for entry in found)
    assert [(e["from_address"], e["is_auto_reply"], e["is_bounce"]) for e in found] == [
        ("jan@acme.pl", False, False),
        ("ktos@firma.pl", True, False),
        ("mailer-daemon@mx.pl", True, True),
        ("anna@klos.pl", True, False),
    ]
    assert found[1]["automated_reason"] == "x-autoreply header"
    assert found[0]["authenticated"] is None  # no authserv_id to trust
    assert found[0]["charset_problems"] == []


def test_inspect_reads_every_corpus_mail() -> None:
    # All 166 mails, the Outlook .msg (no RFC 822 mail at all) included: never a crash.
    files = sorted(
        path
        for path in corpus_dir().rglob("*")
        if path.is_file() and path.suffix != ".json" and path.name != "README.md"
    )
    assert len(files) >= 166
    done = mailbot("inspect", "--json", *map(str, files))
    assert done.returncode == 0, done.stderr
    found = lines(done.stdout)
    # A corpus file that begins with "From " is read as an mbox: its mails are FILE#1, FILE#2...
    assert {str(entry["file"]).partition("#")[0] for entry in found} == {str(p) for p in files}
    assert any(entry["is_bounce"] for entry in found)
    assert any(entry["charset_problems"] for entry in found)


def test_inspect_shows_a_sender_read_leniently_and_a_bare_mailer_daemon(tmp_path: Path) -> None:
    lenient = tmp_path / "lenient.eml"
    lenient.write_bytes(b"From: anna.nowak@example.pl.\r\nSubject: x\r\n\r\nhi\r\n")
    robot = tmp_path / "robot.eml"
    robot.write_bytes(b"From: MAILER-DAEMON\r\nReturn-Path: <>\r\nSubject: failure\r\n\r\nx\r\n")

    done = mailbot("inspect", str(lenient), str(robot), "--json")

    assert done.returncode == 0, done.stderr
    first, second = lines(done.stdout)
    assert first["from_address"] == "anna.nowak@example.pl"
    assert first["sender_read_leniently"] == "anna.nowak@example.pl."
    assert (second["from_address"], second["robot_sender"]) == (None, "mailer-daemon")
    assert second["is_bounce"] is True


def test_inspect_shows_the_language_and_why(tmp_path: Path) -> None:
    mails = {
        "english.eml": customer_mail("john@example.com", "Printer", "Hello, it is not working."),
        "polish.eml": customer_mail("jan@example.pl", "Drukarka", "Dzień dobry, nie działa."),
        "header.eml": customer_mail("ann@example.co.uk", "VPN", "Down.", Content_Language="en-GB"),
        "short.eml": customer_mail("x@example.com", "?", "Down."),
    }
    for name, raw in mails.items():
        (tmp_path / name).write_bytes(raw)

    done = mailbot("inspect", "--json", *(str(tmp_path / name) for name in mails))

    assert done.returncode == 0, done.stderr
    assert [(e["language"], e["language_reason"]) for e in lines(done.stdout)] == [
        ("en", "text: 3 English words, 0 Polish words, 0 with Polish letters"),
        ("pl", "text: 0 English words, 3 Polish words, 1 with Polish letters"),
        ("en", "Content-Language en-GB"),
        (
            "pl",
            "default: too little text to tell (0 English words, 0 Polish words, 0 with"
            " Polish letters)",
        ),
    ]
