"""The tables where the file names things: ``[calendars.NAME]`` and ``[tiers.NAME]``.

Rule 5 of mailbot.config: every NAME under [calendars] (or in a
``MAILBOT_CALENDARS__NAME__KEY`` variable) is a business calendar, and
``business`` and ``always`` exist without being named; each tier's windows and
reminders run on the calendar it names. A [tiers.NAME] table changes only the
keys it sets; the rest are the service terms'. Only ``[tiers.post_warranty]``
has ``express_resolution``: express is a post-warranty service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import model_validator
from pydantic.dataclasses import dataclass as section

from mailbot.config_sources import Load
from mailbot.config_values import (
    TABLE,
    Bool,
    Country,
    DaysOff,
    Hours,
    OptionalTimezone,
    OptionalWorking,
    Reminders,
    Text,
    Workdays,
    Working,
    describe_value,
)
from mailbot.core.calendar import (
    ALWAYS,
    EVERY_DAY,
    MONDAY_TO_FRIDAY,
    Calendar,
    WorkingDuration,
    business_calendar,
    parse_working_duration,
    working_length,
)
from mailbot.core.tiers import Tier


@section(frozen=True, config=TABLE)
class TierSettings:
    """A tier's windows and reminders, on the calendar named ``calendar``.

    The reminders are working time before each deadline, on that calendar too.
    ``express_resolution`` is the resolution window of an express ticket (post-warranty
    only; None for the other tiers).
    """

    reaction: Working
    resolution: Working
    calendar: Text = "business"
    reaction_reminders: Reminders = ()
    resolution_reminders: Reminders = ()
    express_resolution: OptionalWorking = None


def tier_keys(tier: Tier) -> tuple[str, ...]:
    """The keys a ``[tiers.NAME]`` table may have: express_resolution only for post-warranty."""
    names = (item.name for item in fields(TierSettings))
    return tuple(
        name for name in names if name != "express_resolution" or tier is Tier.POST_WARRANTY
    )


def default_calendars() -> dict[str, Calendar]:
    """The two calendars that exist without configuration: ``business`` and ``always``."""
    return {"business": business_calendar(), "always": ALWAYS}


@section(frozen=True, config=TABLE)
class CalendarTable:
    # Not set: the support desk's time zone.
    timezone: OptionalTimezone = None
    workdays: Workdays = MONDAY_TO_FRIDAY
    hours: Hours = None  # the whole day
    country: Country = "PL"  # "": no public holidays
    days_off: DaysOff = frozenset()
    always: Bool = False  # not set: True for the calendar named "always"


_CALENDAR_KEYS = tuple(item.name for item in fields(CalendarTable))


def _tier(
    reaction: str,
    resolution: str,
    calendar: str,
    before: list[str],
    before_end: list[str],
    *,
    express: str | None = None,
) -> dict[str, Any]:
    """A tier's defaults as the table the file would write (typed values pass as they are)."""
    return {
        "reaction": parse_working_duration(reaction),
        "resolution": parse_working_duration(resolution),
        "calendar": calendar,
        "reaction_reminders": tuple(map(parse_working_duration, before)),
        "resolution_reminders": tuple(map(parse_working_duration, before_end)),
        "express_resolution": parse_working_duration(express) if express else None,
    }


# The service terms' windows and reminders; a [tiers.NAME] table changes only what it sets.
_TIER_DEFAULTS = {
    Tier.WARRANTY.value: _tier("24h", "5d", "business", ["4h"], ["1d", "2h"]),
    Tier.VIP.value: _tier("1h", "2d", "always", ["30m", "10m"], ["4h", "1h"]),
    Tier.POST_WARRANTY.value: _tier("24h", "14d", "business", ["4h"], ["1d", "2h"], express="2d"),
}


@section(frozen=True, config=TABLE)
class TiersTable:
    warranty: TierSettings = TierSettings(**_TIER_DEFAULTS["warranty"])
    vip: TierSettings = TierSettings(**_TIER_DEFAULTS["vip"])
    post_warranty: TierSettings = TierSettings(**_TIER_DEFAULTS["post_warranty"])

    @model_validator(mode="before")
    @classmethod
    def _over_the_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            name: {**_TIER_DEFAULTS[name], **table}
            if name in _TIER_DEFAULTS and isinstance(table, dict)
            else table
            for name, table in data.items()
        }


def _calendar(load: Load, name: str, table: CalendarTable, *, timezone: str) -> Calendar:
    prefix = f"calendars.{name}."
    if not (table.always if load.given(prefix + "always") else name == "always"):
        tz = ZoneInfo(table.timezone or timezone)
        country = table.country or None
        return Calendar(name, tz, table.workdays, table.hours, country, table.days_off)
    for key in _CALENDAR_KEYS:
        if key != "always" and load.given(prefix + key):
            raise load.fail(
                load.where(prefix + key),
                "not allowed with always = true (a 24/7 calendar has no working days,"
                " hours or days off)",
            )
    return Calendar(name, ZoneInfo(timezone), EVERY_DAY, None, None, frozenset(), always=True)


def build_calendars(
    load: Load, tables: Mapping[str, CalendarTable], *, timezone: str
) -> dict[str, Calendar]:
    return {
        name: _calendar(load, name, tables.get(name, CalendarTable()), timezone=timezone)
        for name in sorted({"business", "always", *tables})
    }


def build_tiers(
    load: Load, table: TiersTable, calendars: Mapping[str, Calendar]
) -> dict[Tier, TierSettings]:
    tiers: dict[Tier, TierSettings] = {tier: getattr(table, tier.value) for tier in Tier}
    for tier, settings in tiers.items():
        if settings.express_resolution is not None and tier is not Tier.POST_WARRANTY:
            raise load.fail(
                load.where(f"tiers.{tier.value}.express_resolution"),
                "unknown key: express is a post-warranty service; set it in [tiers.post_warranty]",
            )
        if settings.calendar not in calendars:
            raise load.fail(
                load.where(f"tiers.{tier.value}.calendar"),
                f"unknown calendar {describe_value(settings.calendar)}; defined: "
                + ", ".join(sorted(calendars)),
            )
    for tier, settings in tiers.items():
        _check_reminders_fit(load, tier, settings, calendars[settings.calendar])
    return tiers


def _check_reminders_fit(
    load: Load, tier: Tier, settings: TierSettings, calendar: Calendar
) -> None:
    """A reminder longer than its window would fall before the ticket was received."""
    # Not the express window: an express ticket has the tier's resolution reminders, and
    # those longer than its window are left out (core.sla.planned_alerts), so that a file
    # written before express_resolution existed still loads.
    for kind in ("reaction", "resolution"):
        window: WorkingDuration = getattr(settings, kind)
        path = f"tiers.{tier.value}.{kind}_reminders"
        for reminder in getattr(settings, f"{kind}_reminders"):
            if working_length(calendar, reminder) > working_length(calendar, window):
                default = "" if load.given(path) else " (the default)"
                raise load.fail(
                    load.where(path),
                    f"{reminder}{default} is longer than the {kind} window {window}"
                    f" on calendar {calendar.name!r}; a reminder goes out that long before"
                    " the deadline",
                )
