"""Pure parts of conversations: quoted text, staff commands, Authentication-Results."""

from __future__ import annotations

import pytest

from mailbot.core.authres import sender_authenticated
from mailbot.core.commands import Command, parse_reply, work_minutes
from mailbot.core.mail import InboundMail
from mailbot.core.quoting import NOTIFICATION_MARKER, strip_quoted
from mailbot.usecases.followup import is_status_query

NEW = "Proszę zrestartować serwer.\nPozdrawiam, Anna"

QUOTING_STYLES = {
    "gmail": f"{NEW}\n\nOn Mon, 2 Nov 2026 at 10:00, Jan Kowalski <jan@acme.pl> wrote:\n> Serwer stoi.\n",
    "gmail_wrapped": f"{NEW}\n\nOn Mon, 2 Nov 2026 at 10:00, Jan Kowalski\n<jan@acme.pl> wrote:\n> x\n",
    "thunderbird_pl": f"{NEW}\n\nW dniu 02.11.2026 o 10:00, Jan Kowalski pisze:\n> Serwer stoi.\n",
    "gmail_pl": f"{NEW}\n\nW dniu pon., 2 lis 2026 o 10:00 Jan Kowalski <jan@acme.pl> napisał(a):\n> x\n",
    "onet_wp": f"{NEW}\n\nDnia 2 listopada 2026 10:00 Jan Kowalski <jan@acme.pl> napisał(a):\n> x\n",
    "apple_mail": f"{NEW}\n\n> On 2 Nov 2026, at 10:00, Jan Kowalski <jan@acme.pl> wrote:\n> \n> x\n",
    "outlook_en": f"{NEW}\n\n-----Original Message-----\nFrom: Jan\nSent: Monday\nSubject: x\n\nSerwer stoi.\n",
    "outlook_pl": f"{NEW}\n\n-----Wiadomość oryginalna-----\nOd: Jan\nWysłano: poniedziałek\n\nSerwer stoi.\n",
    "outlook_block": f"{NEW}\n\n________________________________\nFrom: Jan Kowalski <jan@acme.pl>\nSent: Monday, November 2, 2026 10:00\nTo: support\n\nx\n",
    "outlook_block_pl": f"{NEW}\n\nOd: Jan Kowalski <jan@acme.pl>\nWysłano: poniedziałek, 2 listopada 2026 10:00\nDo: pomoc\n\nx\n",
    "german": f"{NEW}\n\nAm 02.11.2026 um 10:00 schrieb Jan Kowalski <jan@acme.pl>:\n> x\n",
    "bottom_quote": f"{NEW}\n\n> Serwer stoi.\n> Od rana.\n",
    "signature": f"{NEW}\n-- \n",
    "notification": f"{NEW}\n\n{NOTIFICATION_MARKER}\n[SOL-1] VIP, reakcja do ...\n",
}


@pytest.mark.parametrize("style", sorted(QUOTING_STYLES))
def test_strip_quoted_keeps_only_the_new_text(style: str) -> None:
    assert strip_quoted(QUOTING_STYLES[style]) == NEW


def test_inline_answers_are_kept() -> None:
    text = "> Czy serwer działa?\nNie, stoi.\n> Od kiedy?\nOd rana."
    assert strip_quoted(text) == text


def test_a_line_mentioning_from_is_not_a_header_block() -> None:
    text = "From: the logs it seems the disk is full.\nI will clean it."
    assert strip_quoted(text) == text


@pytest.mark.parametrize(
    ("text", "commands", "errors", "body"),
    [
        (
            "#status waiting\nCzy może Pan podać numer seryjny?",
            [Command("status", "waiting")],
            [],
            "Czy może Pan podać numer seryjny?",
        ),
        (
            "#time 1h30m\n#status resolved\n\nGotowe.",
            [Command("time", "1h30m"), Command("status", "resolved")],
            [],
            "Gotowe.",
        ),
        (
            "#internal\nKlient dzwonił, obiecałem oddzwonić.",
            [Command("internal")],
            [],
            "Klient dzwonił, obiecałem oddzwonić.",
        ),
        (
            "#assign Anna@Serwis.pl\n#tier VIP\n#express\n#unjustified",
            [
                Command("assign", "anna@serwis.pl"),
                Command("tier", "vip"),
                Command("express"),
                Command("unjustified"),
            ],
            [],
            "",
        ),
        (
            "#status done\n#sleep 5\nTekst",
            [],
            ["#status: expected one of", "#sleep: unknown command"],
            "Tekst",
        ),
        (
            "#time soon\n#express now\n",
            [],
            ["#time: expected a duration", "#express takes no argument"],
            "",
        ),
        ("Tekst bez poleceń.\n#status resolved", [], [], "Tekst bez poleceń.\n#status resolved"),
    ],
)
def test_parse_reply(text: str, commands: list[Command], errors: list[str], body: str) -> None:
    parsed = parse_reply(text)
    assert list(parsed.commands) == commands
    assert len(parsed.errors) == len(errors)
    for got, expected in zip(parsed.errors, errors, strict=True):
        assert got.startswith(expected)
    assert parsed.body == body


@pytest.mark.parametrize(
    ("arg", "minutes"), [("1h30m", 90), ("90m", 90), ("1.5h", 90), ("2h", 120), ("45min", 45)]
)
def test_work_minutes(arg: str, minutes: int) -> None:
    assert work_minutes(arg) == minutes


MX = "mx.serwis.pl"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            f"{MX}; dkim=pass header.d=serwis.pl header.s=s1; spf=pass; dmarc=pass header.from=serwis.pl",
            True,
        ),
        (f"{MX}; dmarc=pass (p=reject) header.from=serwis.pl", True),
        (f"{MX}; dkim=pass header.d=mail.serwis.pl", True),  # relaxed alignment
        (f"{MX} 1; dkim=pass (good signature) header.d=serwis.pl", True),
        (f"{MX}; dkim=pass header.d=gmail.com; dmarc=fail header.from=serwis.pl", False),
        (f"{MX}; dkim=fail header.d=serwis.pl; spf=pass smtp.mailfrom=serwis.pl", False),
        (f"{MX}; dkim=pass header.d=pl", False),
        ("evil.example; dmarc=pass header.from=serwis.pl", False),  # not our server
        (f"{MX}; none", False),
        (f"{MX}; dmarc=pass", False),  # a pass that names no domain vouches for none
        (f"{MX}; dmarc=pass header.from=evil.example", False),
        # A quoted value our server copied from the sender is not a result of its own...
        (
            f'{MX}; spf=pass smtp.mailfrom="a;dmarc=pass header.from=serwis.pl x"@evil.example',
            False,
        ),
        # ...and our server's DMARC fail for the From domain outweighs any pass beside it.
        (f"{MX}; dkim=pass header.d=serwis.pl; dmarc=fail header.from=serwis.pl", False),
        (f"{MX}; dkim=pass header.d=serwis.pl (a (nested) comment); dmarc=none", True),
    ],
)
def test_sender_authenticated(header: str, expected: bool) -> None:
    assert sender_authenticated([header], authserv_id=MX, from_address="anna@serwis.pl") is expected


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Re: [SOL-1] Serwer", "status", True),
        ("Re: [SOL-1] Serwer", "Status?", True),
        ("STATUS [SOL-1]", "", True),
        ("Odp: status [SOL-12]", "", True),
        ("Status of my printer [SOL-1]", "It prints blank pages.", False),
        ("Re: [SOL-1] Serwer", "status: still broken", False),
        ("STATUS [SOL-1]", "To HP LaserJet 1020.", False),  # an answer, whatever the subject
    ],
)
def test_status_questions(subject: str, text: str, expected: bool) -> None:
    mail = InboundMail(
        message_id=None, from_address="jan@acme.pl", from_name="", subject=subject, date=None
    )
    assert is_status_query(mail, text) is expected


def test_only_our_topmost_authentication_results_count() -> None:
    ours = f"{MX}; dmarc=fail header.from=serwis.pl; dkim=none"
    forged = f"{MX}; dmarc=pass header.from=serwis.pl"  # written by the sender, below ours
    assert not sender_authenticated([ours, forged], authserv_id=MX, from_address="anna@serwis.pl")
    assert sender_authenticated([forged, ours], authserv_id=MX, from_address="anna@serwis.pl")
