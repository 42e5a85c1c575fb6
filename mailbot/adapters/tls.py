"""The TLS context both mail adapters use."""

from __future__ import annotations

import ssl


def tls_context(*, verify: bool) -> ssl.SSLContext:
    """Certificates and host names checked, unless ``verify`` is off.

    Off is for self-signed test and lab servers only; the configuration has
    to say so explicitly (``verify_tls = false``).
    """
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
