"""The ``[web]`` table of the settings: the web side (``mailbot web``, issue 15).

Where it listens, the public address put in links, whose ``X-Forwarded-For`` is
believed, the submission limits, the request size and the staff session. The
bearer token of ``/healthz`` and ``/metrics`` is a secret like the passwords: it
comes from ``MAILBOT_WEB__METRICS_TOKEN`` (environment or ``.env``) or the systemd
credential ``web_metrics_token``, and the file may not hold it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pydantic.dataclasses import dataclass as section

from mailbot import config_values as kind
from mailbot.config_sources import Load
from mailbot.config_values import TABLE

_TOKEN = "web.metrics_token"
_CREDENTIAL = "web_metrics_token"


@section(frozen=True, config=TABLE)
class WebSettings:
    # host:port to listen on; an IPv6 address in brackets ("[::1]:8080").
    bind: kind.Bind = "127.0.0.1:8080"
    # The public http(s) address used in links, without a final "/"; "" puts no links in mails.
    base_url: kind.BaseUrl = ""
    # Networks whose X-Forwarded-For is believed (the reverse proxy); nobody else's.
    trusted_proxies: kind.Networks = ()
    submissions_per_ip_hour: kind.PerHour = 5
    submissions_per_ip_day: kind.PerDay = 20
    # All addresses together.
    submissions_per_hour: kind.PerHour = 200
    # The largest request body taken (a form with its attachments); bigger ones get 413.
    max_request_size: kind.Size = 30 * 1024 * 1024
    # How long a staff sign-in lasts.
    staff_session: kind.Duration = timedelta(hours=8)
    # The bearer token for /healthz and /metrics; "" lets only trusted_proxies ask.
    metrics_token: kind.Text = ""

    @property
    def listen(self) -> tuple[str, int]:
        """``bind`` as host and port, an IPv6 host without its brackets."""
        host, _, port = self.bind.rpartition(":")
        return host.removeprefix("[").removesuffix("]"), int(port)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are sent over https only when the public address is https."""
        return self.base_url.lower().startswith("https://")


def web_settings(load: Load, web: WebSettings) -> WebSettings:
    """The table as read, the metrics token from a variable or the systemd credential;
    a token in the file is refused, saying where it belongs."""
    table = load.toml.get("web")
    if isinstance(table, dict) and "metrics_token" in table:
        raise load.fail(
            _TOKEN,
            f"a secret does not belong in the file; {load.secret_home(_TOKEN, _CREDENTIAL)}",
        )
    return replace(web, metrics_token=web.metrics_token or load.credential(_CREDENTIAL))
