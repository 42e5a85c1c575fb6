"""The start page ``/``: the three offers as the company's support page shows them
(/work/shared/seed, SERVICE_TERMS.md), each with a link to its form (mailbot.web.submit);
the prices come from ``[billing]``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailbot.config import BillingSettings
from mailbot.web.context import web_context
from mailbot.web.rendering import render


def start_page(request: Request) -> Response:
    return render(request, "start", prices(request))


def prices(request: Request) -> dict[str, Any]:
    """The price list's numbers as the pages print them."""
    return price_list(web_context(request).desk.settings.billing)


def price_list(billing: BillingSettings) -> dict[str, Any]:
    """``[billing]``'s numbers as the start page and the forms print them."""
    rate = billing.hourly_rate
    return {
        "hourly_rate": _amount(rate),
        "express_rate": _amount(rate * billing.express_multiplier),
        "express_percent": _amount((billing.express_multiplier - 1) * 100),
        "vat_percent": _amount(billing.vat_percent),
        "vip_fee": _amount(billing.vip_monthly_fee),
    }


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"


def routes() -> list[BaseRoute]:
    return [Route("/", start_page, methods=["GET"], name="start")]
