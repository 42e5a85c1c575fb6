"""What the command modules share: the exit codes, loading the settings, adding a command,
printing rows as a table or JSON."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from mailbot.config import Settings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("mailbot")


def load(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def add_command(
    sub: Any, name: str, handler: Callable[[argparse.Namespace], int], help_text: str
) -> Any:
    command = sub.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


def print_rows(rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        print("(none)")
        return
    widths = [max(len(c), *(len(str(r[c] or "")) for r in rows)) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print(
            "  ".join(
                str(row[c] or "").ljust(w) for c, w in zip(columns, widths, strict=True)
            ).rstrip()
        )
