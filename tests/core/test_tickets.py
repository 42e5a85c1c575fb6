"""Ticket numbers and subject tags."""

import pytest

from mailbot.core.tickets import find_ticket_number, subject_with_tag, ticket_number


def test_ticket_number() -> None:
    assert ticket_number("SOL", 1) == "SOL-1"
    assert ticket_number("HD", 12345) == "HD-12345"
    with pytest.raises(ValueError, match="start at 1"):
        ticket_number("SOL", 0)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[SOL-123] Drukarka", "SOL-123"),
        ("Re: [SOL-123] Drukarka", "SOL-123"),
        ("Odp: AW: Fwd: PD: [SOL-7] x", "SOL-7"),
        ("Drukarka nadal nie działa [sol-42]", "SOL-42"),
        ("RE: [ SOL - 9 ] spaces", "SOL-9"),
        ("SOL-123 without brackets", None),
        ("[SOL-0] zero is never a ticket", None),
        ("[SOLX-1] another prefix", None),
        ("[HD-5] another desk", None),
        ("", None),
    ],
)
def test_find_ticket_number(subject: str, expected: str | None) -> None:
    assert find_ticket_number(subject, "SOL") == expected


def test_subject_with_tag_adds_the_tag_once() -> None:
    assert subject_with_tag("SOL-5", "Drukarka") == "[SOL-5] Drukarka"
    assert subject_with_tag("SOL-5", "Re: [SOL-5] Drukarka") == "Re: [SOL-5] Drukarka"
    assert subject_with_tag("SOL-5", "  ") == "[SOL-5] (no subject)"
