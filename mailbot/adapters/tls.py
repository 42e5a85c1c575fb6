"""The TLS context both mail adapters use."""

from __future__ import annotations

import ssl
from pathlib import Path


def tls_context(*, verify: bool, ca_file: Path | None = None) -> ssl.SSLContext:
    """Certificates and host names checked, unless ``verify`` is off.

    Off is for self-signed test and lab servers only; the configuration has
    to say so explicitly (``verify_tls = false``). With ``ca_file`` only the
    CAs in that PEM file are trusted (a private CA, or pinning the server's).
    """
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
