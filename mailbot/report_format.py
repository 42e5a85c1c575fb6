"""The month's reports as text: a terminal table, CSV for spreadsheets, JSON.

Amounts are written as plain decimal text with a dot and two places
(``295.20``), never through floats. The CSV is UTF-8 with a byte-order mark,
so spreadsheet programs read Polish names correctly; one row per invoice line
(``row`` = ``line``), then per customer (``subtotal``) and the ``total``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from mailbot.core.billing import Invoice, InvoiceLine, Subtotal, money
from mailbot.core.humanize import human_duration
from mailbot.core.sla_report import Outcome, TierSla

CSV_COLUMNS = (
    "row",
    "customer",
    "customer_name",
    "ticket",
    "tier",
    "kind",
    "hours_recorded",
    "hours_billed",
    "rate",
    "multiplier",
    "net",
    "vat",
    "gross",
)


def amount(value: Decimal | None) -> str | None:
    """``Decimal("295.2")`` -> ``"295.20"``; None stays None."""
    return None if value is None else f"{money(value):f}"


def factor(value: Decimal) -> str:
    """A multiplier without needless zeros: 2, 1.5."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def line_json(line: InvoiceLine) -> dict[str, Any]:
    return {
        "customer": line.customer,
        "ticket": line.ticket,
        "kind": line.kind.value,
        "hours_recorded": amount(line.hours_recorded),
        "hours_billed": amount(line.hours_billed),
        "rate": amount(line.rate),
        "multiplier": factor(line.multiplier),
        "net": amount(line.net),
    }


def subtotal_json(subtotal: Subtotal) -> dict[str, Any]:
    return {
        "customer": subtotal.customer,
        "net": amount(subtotal.net),
        "vat": amount(subtotal.vat),
        "gross": amount(subtotal.gross),
    }


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    """The issue's shape: lines, customers (net, vat, gross) and the total."""
    total = subtotal_json(invoice.total)
    del total["customer"]
    return {
        "lines": [line_json(line) for line in invoice.lines],
        "customers": [subtotal_json(c) for c in invoice.customers],
        "total": total,
    }


def invoice_csv(invoice: Invoice, names: Mapping[str, str]) -> str:
    """CSV text; write it with ``encoding="utf-8-sig"`` (or prefix the BOM) for spreadsheets."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for line in invoice.lines:
        row = line_json(line)
        writer.writerow(
            {
                **row,
                "row": "line",
                "tier": line.tier.value,
                "customer_name": names.get(line.customer, ""),
            }
        )
    for subtotal in invoice.customers:
        row = subtotal_json(subtotal)
        writer.writerow(
            {**row, "row": "subtotal", "customer_name": names.get(subtotal.customer, "")}
        )
    writer.writerow({**subtotal_json(invoice.total), "row": "total"})
    return out.getvalue()


_TABLE = (
    ("TICKET", "<"),
    ("TIER", "<"),
    ("KIND", "<"),
    ("RECORDED H", ">"),
    ("BILLED H", ">"),
    ("RATE", ">"),
    ("MULT", ">"),
    ("NET", ">"),
)


def _cells(line: InvoiceLine) -> list[str]:
    data = line_json(line)
    return [
        line.ticket or "-",
        line.tier.value,
        line.kind.value,
        data["hours_recorded"] or "-",
        data["hours_billed"] or "-",
        data["rate"],
        data["multiplier"],
        data["net"],
    ]


def _render(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> list[str]:
    return [
        "  ".join(
            cell.ljust(width) if align == "<" else cell.rjust(width)
            for cell, width, (_name, align) in zip(row, widths, _TABLE, strict=True)
        ).rstrip()
        for row in rows
    ]


def invoice_table(invoice: Invoice, names: Mapping[str, str], vat_percent: Decimal) -> str:
    """The invoice for a person at a terminal: per customer its lines and subtotal."""
    header = [name for name, _align in _TABLE]
    cells = {id(line): _cells(line) for line in invoice.lines}
    widths = [max(len(r[i]) for r in [header, *cells.values()]) for i in range(len(header))]
    out = [f"Billing {invoice.month} (PLN net; VAT {factor(vat_percent)} %)", ""]
    if not invoice.lines:
        out.append("(no billable work this month)")
    for subtotal in invoice.customers:
        name = names.get(subtotal.customer)
        out.append(f"{subtotal.customer}" + (f" - {name}" if name else ""))
        out += _render([header], widths)
        own = [cells[id(line)] for line in invoice.lines if line.customer == subtotal.customer]
        out += _render(own, widths)
        out.append(_sums("subtotal", subtotal))
        out.append("")
    out.append(_sums("TOTAL", invoice.total))
    return "\n".join(out)


def _sums(label: str, subtotal: Subtotal) -> str:
    return (
        f"  {label}: net {amount(subtotal.net)}  VAT {amount(subtotal.vat)}"
        f"  gross {amount(subtotal.gross)}"
    )


# --- SLA ------------------------------------------------------------------------------


def _duration(length: timedelta | None) -> str | None:
    return None if length is None else human_duration(length, "en")


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    percent = outcome.percent_met
    return {
        "met": outcome.met,
        "missed": outcome.missed,
        "open": outcome.open,
        "percent_met": None if percent is None else f"{percent:f}",
    }


def sla_json(month: str, rows: Sequence[TierSla]) -> dict[str, Any]:
    return {
        "month": month,
        "tiers": [
            {
                "tier": row.tier.value,
                "opened": row.opened,
                "reaction": _outcome_json(row.reaction),
                "resolution": _outcome_json(row.resolution),
                "median_reaction_seconds": _seconds(row.median_reaction),
                "worst_reaction_seconds": _seconds(row.worst_reaction),
            }
            for row in rows
        ],
    }


def _seconds(length: timedelta | None) -> int | None:
    return None if length is None else int(length.total_seconds())


def _outcome_text(outcome: Outcome) -> str:
    percent = outcome.percent_met
    share = "-" if percent is None else f"{percent:f} %"
    extra = f", {outcome.open} open" if outcome.open else ""
    return f"{outcome.met} met / {outcome.missed} missed ({share}{extra})"


def sla_table(month: str, rows: Sequence[TierSla]) -> str:
    header = ("TIER", "OPENED", "REACTION", "RESOLUTION", "MEDIAN REACTION", "WORST REACTION")
    body = [
        (
            row.tier.value,
            str(row.opened),
            _outcome_text(row.reaction),
            _outcome_text(row.resolution),
            _duration(row.median_reaction) or "-",
            _duration(row.worst_reaction) or "-",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [f"SLA {month} (tickets received that month)", ""]
    for row in [header, *body]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
