"""The desk: what every use case works with, built once by the CLI (``bootstrap.build_desk``).

It holds the engine, the settings, the template renderer, the attachment store and
the clock, and derives from them what decisions need (``policy``, the SLA of each
tier) and the key that signs our Message-IDs. It lives apart from the use cases so
that each of them, and the modules they call, can import it without a cycle.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from mailbot.adapters import db as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import Engine, Session
from mailbot.adapters.oauth2 import TokenSource
from mailbot.adapters.oauth2_providers import token_source
from mailbot.adapters.templates import Renderer
from mailbot.config import Settings
from mailbot.core.decide import DeskPolicy
from mailbot.core.limits import SizeLimits
from mailbot.core.sla import TierPolicy
from mailbot.core.tiers import Tier

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Desk:
    """What the use cases work with; built once by the CLI."""

    engine: Engine
    settings: Settings
    renderer: Renderer
    store: AttachmentStore
    clock: Clock

    @cached_property
    def policy(self) -> DeskPolicy:
        s = self.settings
        return DeskPolicy(
            ticket_prefix=s.support.ticket_prefix,
            own_addresses=frozenset({s.support.address.lower(), s.smtp.from_address.lower()}),
            staff_addresses=frozenset(s.support.staff_addresses),
            staff_domains=frozenset(s.support.staff_domains),
            tiers=tier_policies(s),
            tz=self.tz,
            reopen_window=timedelta(days=s.support.reopen_days),
            authserv_id=s.support.authserv_id,
            vip_requires_authentication=s.support.vip_requires_authentication,
        )

    @cached_property
    def oauth2_tokens(self) -> TokenSource | None:
        """The OAuth2 access tokens of the IMAP and SMTP logins, None when both use passwords:
        one source per desk, shared by the IDLE thread, the poll and the SMTP pool
        (``build_desk`` makes it before any thread can)."""
        return token_source(self.settings)

    @cached_property
    def token_key(self) -> bytes:
        """The key that signs our Message-IDs (``mailbot.core.tokens``), made at first start.

        ``build_desk`` reads it once, before any transaction: creating it inside one
        would hold SQLite's write lock from a second connection.
        """
        with Session(self.engine) as session:
            value = repo.secret("token", candidate=secrets.token_hex(32), session=session)
            session.commit()
        return bytes.fromhex(value)

    @cached_property
    def size_limits(self) -> SizeLimits:
        limits = self.settings.limits
        return SizeLimits(limits.max_mail_size, limits.max_attachment_size)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.support.timezone)

    def local_time(self, moment: datetime) -> str:
        """A moment as the company's clock shows it, e.g. 2026-11-25 11:30 CET."""
        return _shown(moment, self.tz)


@lru_cache(maxsize=1024)
def _shown(moment: datetime, tz: ZoneInfo) -> str:
    # Kept: a new ticket shows its deadlines in its acknowledgement, its staff notice and
    # its history, and strftime with a zone name costs more than a dictionary lookup.
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def tier_policies(settings: Settings) -> dict[Tier, TierPolicy]:
    """Each tier's SLA: its windows (express too, post-warranty only) and reminders on the
    calendar it names."""
    return {
        tier: TierPolicy(
            calendar=settings.calendars[t.calendar],
            reaction=t.reaction,
            resolution=t.resolution,
            reaction_reminders=t.reaction_reminders,
            resolution_reminders=t.resolution_reminders,
            express_resolution=t.express_resolution,
        )
        for tier, t in settings.tiers.items()
    }
