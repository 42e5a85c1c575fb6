"""``/healthz`` and ``/metrics`` (issue 15): for the proxy's own network or a bearer token.

``/healthz`` gives ``mailbot status --json``'s report (mailbot.usecases.health):
HTTP 200 when the verdict is OK or WARNING, 503 when CRITICAL. ``/metrics`` is the
Prometheus text format from a registry of our own, filled at scrape time from the
database (mailbot.usecases.web_metrics), so every web process tells the same. Anyone
else gets 403 (``security.monitoring_allowed``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mailbot.usecases.desk import Desk
from mailbot.usecases.health import Level, judge, report, take_snapshot
from mailbot.usecases.web_metrics import RESPONSE_BOUNDS, DeskFigures, desk_figures
from mailbot.web.context import web_context
from mailbot.web.security import monitoring_allowed

# Always shown, 0 when there are none, so that a rate or an alert has a series to read.
OUTBOX_STATUSES = ("queued", "held", "sending", "sent", "failed")


def healthz(request: Request) -> Response:
    if not monitoring_allowed(request):
        raise HTTPException(403)
    desk = web_context(request).desk
    snapshot = take_snapshot(desk.engine, now=desk.clock(), tz=desk.tz)
    verdict = judge(snapshot, desk.settings.health)
    status = 503 if verdict.level is Level.CRITICAL else 200
    return JSONResponse(report(snapshot, verdict), status_code=status)


def metrics(request: Request) -> Response:
    if not monitoring_allowed(request):
        raise HTTPException(403)
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class DeskCollector(Collector):
    """The desk's figures as Prometheus metrics, read from the database on each collect."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def collect(self) -> Iterator[Metric]:
        figures = desk_figures(self.desk)
        yield from _ticket_metrics(figures)
        yield from _outbox_metrics(figures)
        if figures.last_poll_age is not None:  # no series before the first successful poll
            yield GaugeMetricFamily(
                "mailbot_last_poll_age_seconds",
                "Seconds since the daemon's last successful poll of the mailbox",
                value=figures.last_poll_age,
            )
        taken = CounterMetricFamily(
            "mailbot_mails_taken", "Mails taken from the mailbox, by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(figures.mails_taken.items()):
            taken.add_metric([outcome], count)
        yield taken


def _ticket_metrics(figures: DeskFigures) -> Iterator[Metric]:
    tickets = GaugeMetricFamily(
        "mailbot_tickets", "Tickets by tier and status", labels=["tier", "status"]
    )
    for (tier, status), count in sorted(figures.tickets.items()):
        tickets.add_metric([tier, status], count)
    yield tickets
    yield GaugeMetricFamily(
        "mailbot_tickets_overdue",
        "Open tickets past a deadline they have not met",
        value=figures.overdue_tickets,
    )
    times = figures.first_response
    buckets = [
        (str(bound), count) for bound, count in zip(RESPONSE_BOUNDS, times.within, strict=True)
    ]
    yield HistogramMetricFamily(
        "mailbot_first_response_seconds",
        "Time from a ticket's receipt to its first staff response",
        buckets=[*buckets, ("+Inf", times.count)],
        sum_value=times.total_seconds,
    )


def _outbox_metrics(figures: DeskFigures) -> Iterator[Metric]:
    outbox = GaugeMetricFamily(
        "mailbot_outbox_mails", "Mails in the outbox by status", labels=["status"]
    )
    for status in sorted({*OUTBOX_STATUSES, *figures.outbox}):
        outbox.add_metric([status], figures.outbox.get(status, 0))
    yield outbox
    yield GaugeMetricFamily(
        "mailbot_outbox_oldest_unsent_age_seconds",
        "Age of the oldest queued or sending mail in the outbox (0 when none waits)",
        value=figures.oldest_unsent_age or 0.0,
    )


def metrics_registry(desk: Desk) -> CollectorRegistry:
    """A registry of our own: the desk's figures only, none of the process's defaults."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(desk))
    return registry


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
