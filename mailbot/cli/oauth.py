"""The ``oauth`` commands: ``oauth login``, a user's sign-in once for a refresh token
(issue 16; mailbot.usecases.oauth2_login)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from mailbot.bootstrap import system_clock
from mailbot.cli.common import EXIT_OK, add_command, load


def cmd_oauth_login(args: argparse.Namespace) -> int:
    from mailbot.usecases.oauth2_login import login  # noqa: PLC0415 - msal only here

    settings = load(args)
    path = login(
        settings,
        say=lambda text: print(text, flush=True),
        pasted=sys.stdin,
        clock=system_clock,
        sleep=time.sleep,
    )
    print(
        f"Signed in. The refresh token is stored in {path} (mode 0600). mailbot uses it from"
        " its next login to the mailbox: a running daemon at its next attempt, or at once"
        " after systemctl reload mailbot."
    )
    return EXIT_OK


def register(sub: Any) -> None:
    oauth = sub.add_parser(
        "oauth",
        help="OAuth2 sign-in for the mailbox ([oauth2])",
        description="OAuth2 sign-in for the mailbox ([oauth2])",
    )
    osub = oauth.add_subparsers(dest="oauth_command", required=True, metavar="ACTION")
    add_command(
        osub,
        "login",
        cmd_oauth_login,
        "sign in once as the mailbox's user and store the refresh token in the state directory"
        ' (mode 0600), for [oauth2] flow = "device_code" (microsoft: prints an address and a'
        ' code to enter on any device) or "refresh_token" (generic: the same by RFC 8628 at'
        " device_authorization_url; google: prints an address to open, then takes the"
        " browser's redirect to http://127.0.0.1:PORT/ or the redirected address pasted"
        " here); run it as the daemon's user or as root (the file goes to the state"
        " directory's owner); never prints the token",
    )
