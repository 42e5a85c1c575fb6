"""Render every template once with sample data, so a broken one stops mailbot at start.

Without this, a typo in a custom template would surface only when the first
mail that needs it arrives, and that mail would end in quarantine. The samples
are made from the notice types themselves (``mailbot.core.notices``), so a
template is checked with exactly the variables mailbot gives it: once with every
field filled, once with every field empty, to walk both sides of its ``if``s.
"""

from __future__ import annotations

import types
from dataclasses import fields, is_dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import jinja2

from mailbot.adapters.db import TicketRow
from mailbot.adapters.templates import LANGUAGES
from mailbot.core.notices import every_notice
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import base_context

T = TypeVar("T")

_FILLED: dict[type, Any] = {str: "Tekst", int: 10, bool: True, Decimal: Decimal("120")}


def check_templates(desk: Desk) -> int:
    """Render each template in each language; how many. ConfigError on the first failure."""
    now = desk.clock()
    ticket = TicketRow(
        number=f"{desk.settings.support.ticket_prefix}-1", seq=1, tier=Tier.VIP.value, status="new",
        subject="Przykładowe zgłoszenie", customer_address="jan@example.com", customer_name="Jan",
        received_at=now, reaction_due=now + timedelta(hours=1),
        resolution_due=now + timedelta(days=2), updated_at=now,
    )  # fmt: skip
    common = base_context(desk, ticket)
    for language in LANGUAGES:
        for kind in every_notice():
            for filled in (True, False):
                try:
                    desk.renderer.render(sample(kind, filled=filled), language, common)
                except (jinja2.TemplateError, ValueError, OSError) as exc:
                    where = desk.renderer.directory / language / f"{kind.template}.txt.j2"
                    raise ConfigError(f"template {where}: {type(exc).__name__}: {exc}") from exc
    return len(every_notice()) * len(LANGUAGES)


def sample(kind: type[T], *, filled: bool) -> T:
    """A ``kind`` (a notice or a label) with every field filled, or every field empty."""
    assert is_dataclass(kind)
    hints = get_type_hints(kind)
    return kind(**{f.name: _sample_value(hints[f.name], filled) for f in fields(kind)})


def _sample_value(hint: Any, filled: bool) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        hint = get_args(hint)[0]  # the first of the kinds a field may hold
    if get_origin(hint) is tuple:
        return (_sample_value(get_args(hint)[0], filled),) if filled else ()
    if isinstance(hint, type) and is_dataclass(hint):
        return sample(hint, filled=filled)
    return _FILLED[hint] if filled else hint()
