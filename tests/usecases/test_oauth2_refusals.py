"""The record of the OAuth2 token endpoint's refusals for good (usecases.oauth2_refusals), on
the test's database: one ERROR and one staff mail per episode, however the provider words the
same refusal again (Microsoft adds a new trace id each time); a new cause is logged; a
renewal ends the episode, and the next refusal starts a new one."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import Session, select

from mailbot.adapters.db import OutboxRow
from mailbot.errors import OAuth2Error
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import Level, judge, summary, take_snapshot
from mailbot.usecases.oauth2_refusals import TokenRefusals

KIND = "staff_oauth2_refused"


def aadsts(number: int, trace: str) -> OAuth2Error:
    reason = (
        f"invalid_grant: AADSTS{number}: The user or administrator has not consented. Trace ID:"
        f" {trace} Correlation ID: {trace[::-1]} Timestamp: 2026-11-18 09:30:0{len(trace) % 10}Z"
        " (HTTP 400)"
    )
    return OAuth2Error("gave no token: " + reason, code="invalid_grant", permanent=True,
                       reason=reason)  # fmt: skip


def staff_notices(desk: Desk) -> int:
    with Session(desk.engine) as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.kind == KIND)).all()
        return len(rows)


def level(desk: Desk) -> tuple[Level, tuple[str, ...]]:
    snapshot = take_snapshot(desk.engine, now=desk.clock(), tz=desk.tz)
    verdict = judge(snapshot, desk.settings.health)
    return verdict.level, verdict.problems


def test_one_error_and_one_mail_per_episode_a_new_cause_logged_a_renewal_ends_it(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbot")
    watch = TokenRefusals(desk)
    errors = lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]  # noqa: E731

    watch.renewed()  # a healthy start: nothing to end
    assert errors() == [] and staff_notices(desk) == 0

    watch.refused(aadsts(65001, "aaaa-1111"))
    watch.refused(aadsts(65001, "bbbb-2222"))  # the same refusal, another trace id
    assert len(errors()) == 1 and "AADSTS65001" in errors()[0]
    assert "aaaa-1111" in errors()[0]  # the provider's own words, trace id included
    assert staff_notices(desk) == 1
    found, problems = level(desk)
    assert found is Level.CRITICAL
    assert problems[0].startswith("OAuth2 token refresh refused: invalid_grant: AADSTS65001")
    snapshot = take_snapshot(desk.engine, now=desk.clock(), tz=desk.tz)
    assert "OAuth2 token refused (see mailbot status)" in summary(snapshot)  # systemd's STATUS

    watch.refused(aadsts(50173, "cccc-3333"))  # another cause: logged, still one episode
    assert len(errors()) == 2 and "AADSTS50173" in errors()[1]
    assert staff_notices(desk) == 1

    watch.renewed()
    watch.renewed()
    assert [r.getMessage() for r in caplog.records].count(
        "OAuth2 token obtained again: the refusal is over"
    ) == 1
    assert not any("OAuth2" in problem for problem in level(desk)[1])

    watch.refused(aadsts(65001, "dddd-4444"))  # a new episode
    assert len(errors()) == 3 and staff_notices(desk) == 2


def test_a_restarted_daemon_does_not_report_a_refusal_already_recorded(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    TokenRefusals(desk).refused(aadsts(65001, "aaaa-1111"))
    caplog.clear()

    TokenRefusals(desk).refused(aadsts(65001, "bbbb-2222"))  # the next process

    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert staff_notices(desk) == 1
