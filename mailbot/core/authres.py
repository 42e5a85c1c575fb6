"""Is a staff member's mail really from them? Read Authentication-Results (RFC 8601).

A From header is easy to forge; the receiving mail server's verdict is not,
if we trust that server. So a staff reply counts only when an
Authentication-Results header written by the configured ``authserv_id`` says
DMARC passed for the From domain, or DKIM passed with a signing domain
aligned with it (the same domain, or one a subdomain of the other: relaxed
alignment, RFC 7489 section 3.1.1). Headers from any other authserv-id are
ignored: anyone can write one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_COMMENT = re.compile(r"\([^()]*\)")
# RFC 8601 values may be quoted strings ("a;dmarc=pass ..."@evil): what a server copied
# from the sender must not be read as results of its own.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class AuthResult:
    method: str  # dkim, dmarc, spf...
    result: str  # pass, fail, none...
    properties: dict[str, str]  # "header.d" -> "firma.pl"


def parse_authentication_results(value: str) -> tuple[str, list[AuthResult]]:
    """The authserv-id and the results of one Authentication-Results header value."""
    text = _QUOTED.sub('""', value)
    while (uncommented := _COMMENT.sub(" ", text)) != text:  # nested comments, innermost first
        text = uncommented
    parts = [p.strip() for p in text.split(";")]
    authserv_id = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    results = []
    for part in parts[1:]:
        words = part.split()
        if not words or "=" not in words[0]:
            continue  # "none": no results
        method, _, result = words[0].partition("=")
        props = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        results.append(
            AuthResult(
                method.lower(), result.lower(), {k.lower(): v.lower() for k, v in props.items()}
            )
        )
    return authserv_id, results


def _aligned(signer: str, author: str) -> bool:
    if "." not in signer:  # a bare TLD ("pl") aligns with nothing
        return False
    return signer == author or author.endswith("." + signer) or signer.endswith("." + author)


def our_results(headers: Iterable[str], *, authserv_id: str) -> list[AuthResult]:
    """The results of the topmost header written by ``authserv_id``, the only one we trust.

    Our server adds its header above everything the mail brought along; a
    header lower down that claims to be ours was written by the sender
    (RFC 8601 section 5 asks servers to remove those, and not all do).
    """
    for value in headers:
        server, results = parse_authentication_results(value)
        if server == authserv_id.lower():
            return results
    return []


def sender_authenticated(headers: Iterable[str], *, authserv_id: str, from_address: str) -> bool:
    """True when ``authserv_id`` vouches for the From domain by DMARC or aligned DKIM."""
    domain = from_address.rpartition("@")[2].lower()
    results = our_results(headers, authserv_id=authserv_id)
    if any(
        found.method == "dmarc" and found.result == "fail"
        and found.properties.get("header.from") == domain
        for found in results
    ):  # fmt: skip
        return False  # our server's own word against this From: no pass elsewhere outweighs it
    for found in results:
        if found.result != "pass":
            continue
        # A DMARC pass is about the domain it names in header.from (RFC 8601 section 2.7.1
        # recommends it; RFC 7489 section 11.2 defines it): one that names no domain, or
        # another one, says nothing about this From.
        if found.method == "dmarc" and found.properties.get("header.from") == domain:
            return True
        if found.method == "dkim" and _aligned(found.properties.get("header.d", ""), domain):
            return True
    return False


def sender_verified(headers: Iterable[str], *, authserv_id: str, from_address: str) -> bool:
    """True when ``authserv_id`` shows DMARC passing, or DKIM or SPF passing for the From domain.

    Looser than ``sender_authenticated`` on purpose (issue 5, contracts): SPF
    counts when the envelope sender's domain (``smtp.mailfrom``) is the From
    domain or aligned with it.
    """
    if sender_authenticated(headers, authserv_id=authserv_id, from_address=from_address):
        return True
    domain = from_address.rpartition("@")[2].lower()
    for found in our_results(headers, authserv_id=authserv_id):
        mailfrom = found.properties.get("smtp.mailfrom", "").rpartition("@")[2]
        if found.method == "spf" and found.result == "pass" and _aligned(mailfrom, domain):
            return True
    return False
